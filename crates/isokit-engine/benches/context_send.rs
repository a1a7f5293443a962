//! The build-context benchmark's isokit side, driven by `scripts/bench-context`.
//!
//! ```text
//! context_send generate DIR INCLUDED_MIB IGNORED_MIB
//!     Writes a context: many source-like files, and an ignored target/.
//! context_send send DIR TAG
//!     Builds DIR through the engine as a user would; prints seconds and peak RSS.
//! context_send proxy
//!     Serves the engine's socket on a loopback TCP port (printed first),
//!     taking whatever clients send as fast as they send it; for each
//!     connection, prints how many bytes came and when the last one did.
//! context_send compression DIR TAG RATE_MBIT
//!     Sends DIR plain and gzipped over the local socket, and over loopback
//!     TCP unthrottled and throttled to RATE_MBIT; prints each time.
//! ```

#![allow(
    clippy::print_stdout,
    reason = "the figures on stdout are what the script reads"
)]

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use isokit_engine::{BuildContext, BuildOptions, Compression, ContextOptions, DockerHost, Engine};
use isokit_ui::Ui;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate", dir, included, ignored] => {
            generate(Path::new(dir), parse(included), parse(ignored))
                .map_err(|error| error.to_string())
        }
        ["send", dir, tag] => runtime.block_on(send(Path::new(dir), tag)),
        ["proxy"] => runtime.block_on(measuring_proxy()),
        ["compression", dir, tag, rate] => {
            runtime.block_on(compression(Path::new(dir), tag, parse(rate)))
        }
        _ => Err(
            "usage: context_send generate|send|compression … (see scripts/bench-context)"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("context_send: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(number: &str) -> u64 {
    number
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {number}"))
}

/// A small deterministic generator, so every run sends the same bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: [&str; 16] = [
    "let", "match", "self", "impl", "return", "value", "buffer", "context", "engine", "error",
    "layer", "stream", "fn", "struct", "pub", "async",
];

/// Source-like text (it compresses about as well as code does) under
/// `src/`, and incompressible build output under the ignored `target/`.
fn generate(dir: &Path, included_mib: u64, ignored_mib: u64) -> io::Result<()> {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nLABEL isokit.bench=context\n",
    )?;
    fs::write(
        dir.join(".dockerignore"),
        "# build output never goes to the engine\ntarget\n**/*.tmp\n",
    )?;

    let mut written = 0u64;
    let mut index = 0u64;
    while written < included_mib << 20 {
        let path = dir.join(format!("src/module{:03}/file{index:05}.rs", index % 256));
        fs::create_dir_all(path.parent().unwrap_or(dir))?;
        let size = 1024 + random.next() % (63 * 1024);
        let mut text = String::with_capacity(size as usize + 64);
        while (text.len() as u64) < size {
            for _ in 0..8 {
                text.push_str(WORDS[(random.next() % WORDS.len() as u64) as usize]);
                text.push(' ');
            }
            text.push_str(&format!("{};\n", random.next() % 1000));
        }
        fs::write(&path, &text)?;
        written += text.len() as u64;
        index += 1;
    }

    let target = dir.join("target/release/deps");
    fs::create_dir_all(&target)?;
    let mut block = vec![0u8; 1 << 20];
    let big_files = ignored_mib / 64;
    for file in 0..big_files {
        let mut out =
            io::BufWriter::new(fs::File::create(target.join(format!("libbig{file}.rlib")))?);
        for _ in 0..64 {
            for chunk in block.chunks_mut(8) {
                chunk.copy_from_slice(&random.next().to_le_bytes());
            }
            out.write_all(&block)?;
        }
        out.flush()?;
    }
    for file in 0..2000 {
        fs::write(
            target.join(format!("dep{file}.d")),
            format!("target/release/deps/dep{file}: src/lib.rs\n"),
        )?;
    }
    println!(
        "files={index} included_bytes={written} ignored_bytes={}",
        big_files * (64 << 20)
    );
    Ok(())
}

fn options(tag: &str, compression: Option<Compression>) -> BuildOptions {
    BuildOptions {
        tags: vec![tag.to_string()],
        compression,
        ..Default::default()
    }
}

fn prepare(dir: &Path) -> Result<BuildContext, String> {
    BuildContext::prepare(&ContextOptions::new(dir)).map_err(|error| error.to_string())
}

/// One build, exactly as `isokit push` starts one: the context prepared
/// once, then sent.
async fn send(dir: &Path, tag: &str) -> Result<(), String> {
    let started = Instant::now();
    let context = prepare(dir)?;
    let engine = Engine::connect().await.map_err(|error| error.to_string())?;
    engine
        .build(context, &options(tag, None), &Ui::quiet())
        .await
        .map_err(|error| error.to_string())?;
    println!(
        "seconds={:.3} peak_rss_kib={}",
        started.elapsed().as_secs_f64(),
        peak_rss_kib()
    );
    Ok(())
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

async fn compression(dir: &Path, tag: &str, rate_mbit: u64) -> Result<(), String> {
    let local = Engine::connect().await.map_err(|error| error.to_string())?;
    let DockerHost::Unix(socket) = local.host().clone() else {
        return Err("the compression benchmark needs the engine on a Unix socket".to_string());
    };
    let links = [
        ("unix socket", None),
        (
            "loopback TCP",
            Some(start_proxy(socket.clone(), None).await?),
        ),
        (
            "TCP at {rate} Mbit/s",
            Some(start_proxy(socket, Some(rate_mbit * 1_000_000 / 8)).await?),
        ),
    ];
    for (name, port) in links {
        let engine = match port {
            None => local.clone(),
            Some(port) => Engine::connect_to(DockerHost::Tcp {
                host: "127.0.0.1".to_string(),
                port,
            })
            .await
            .map_err(|error| error.to_string())?,
        };
        let link = name.replace("{rate}", &rate_mbit.to_string());
        // Alternating, twice each, best kept: the engine's speed drifts.
        let mut best = [f64::MAX; 2];
        for (index, compression) in [Compression::None, Compression::Gzip]
            .repeat(2)
            .into_iter()
            .enumerate()
        {
            let _ = std::process::Command::new("sync").status();
            let started = Instant::now();
            let context = prepare(dir)?;
            engine
                .build(context, &options(tag, Some(compression)), &Ui::quiet())
                .await
                .map_err(|error| error.to_string())?;
            best[index % 2] = best[index % 2].min(started.elapsed().as_secs_f64());
        }
        for (label, seconds) in ["plain", "gzip"].into_iter().zip(best) {
            println!("link={link:?} encoding={label} seconds={seconds:.3}");
        }
    }
    Ok(())
}

/// Like [`start_proxy`], but never making a client wait for the engine:
/// what a client sends is taken at once and queued for the engine, so the
/// time a client takes to send its context is its own, whatever the engine
/// is busy with. Reports each connection when it ends.
async fn measuring_proxy() -> Result<(), String> {
    let (listener, port) = loopback_listener().await?;
    println!("port={port}");
    io::stdout().flush().map_err(|error| error.to_string())?;
    let socket = PathBuf::from(isokit_engine::DEFAULT_SOCKET);
    relay_each_connection(listener, socket, |client, engine| async move {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut engine_read, mut engine_write) = engine.into_split();
        let (queue, mut queued) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let receive = async move {
            let (mut bytes, mut last) = (0u64, 0u128);
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                match client_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        last = unix_nanos();
                        bytes += read as u64;
                        if queue.send(buffer[..read].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
            (bytes, last)
        };
        let forward = async move {
            while let Some(chunk) = queued.recv().await {
                if engine_write.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = engine_write.shutdown().await;
        };
        let respond = async move {
            let _ = tokio::io::copy(&mut engine_read, &mut client_write).await;
            let _ = client_write.shutdown().await;
        };
        let ((bytes, last), _, _) = tokio::join!(receive, forward, respond);
        println!("upstream_bytes={bytes} last_byte_ns={last}");
        let _ = io::stdout().flush();
    })
    .await;
    Ok(())
}

/// A listener on a free port of 127.0.0.1, and the port.
async fn loopback_listener() -> Result<(TcpListener, u16), String> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|error| error.to_string())?;
    let port = listener
        .local_addr()
        .map_err(|error| error.to_string())?
        .port();
    Ok((listener, port))
}

/// Connects each client the listener accepts to the engine's socket and
/// hands both to `relay`, on a task of its own, until accepting fails.
async fn relay_each_connection<F, R>(listener: TcpListener, socket: PathBuf, relay: F)
where
    F: Fn(TcpStream, UnixStream) -> R,
    R: Future<Output = ()> + Send + 'static,
{
    while let Ok((client, _)) = listener.accept().await {
        if let Ok(engine) = UnixStream::connect(&socket).await {
            tokio::spawn(relay(client, engine));
        }
    }
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// A TCP front for the engine's socket on 127.0.0.1, optionally limiting
/// what clients send to `rate` bytes per second, as a network link would.
async fn start_proxy(socket: PathBuf, rate: Option<u64>) -> Result<u16, String> {
    let (listener, port) = loopback_listener().await?;
    tokio::spawn(relay_each_connection(
        listener,
        socket,
        move |client, engine| async move {
            let (mut client_read, mut client_write) = client.into_split();
            let (mut engine_read, mut engine_write) = engine.into_split();
            let upstream = async {
                let mut buffer = vec![0u8; 64 * 1024];
                let started = Instant::now();
                let mut sent = 0u64;
                loop {
                    let read = match client_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => read,
                    };
                    if engine_write.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                    sent += read as u64;
                    if let Some(rate) = rate {
                        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
                let _ = engine_write.shutdown().await;
            };
            let downstream = async {
                let _ = tokio::io::copy(&mut engine_read, &mut client_write).await;
                let _ = client_write.shutdown().await;
            };
            tokio::join!(upstream, downstream);
        },
    ));
    Ok(port)
}
