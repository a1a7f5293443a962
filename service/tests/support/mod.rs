//! Real local stand-ins for what a task meets in a VPC: a CA made at test
//! time, a DNS server the service is pointed at, TLS endpoints (the real
//! binary in `standin` mode), and TCP servers that refuse, stall or never
//! speak TLS. Everything listens on loopback only.
//!
//! Compiled into several test binaries and the bench, each of which uses its
//! own part: items that some of them leave unused say so with an `allow`.

mod identity;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use isokit_report::{LogLine, Report};

pub(crate) use identity::{ACCOUNT, REGION, TestCa, host};
use isokit_testkit::Leaf;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_isokit-service");

/// How the test DNS server answers one name.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// NOERROR with these A records.
    A(Vec<Ipv4Addr>),
    /// The same, after a pause, to give checks known, distinct durations.
    #[allow(dead_code, reason = "only the bench gives checks set durations")]
    Delayed(Duration, Vec<Ipv4Addr>),
    /// NXDOMAIN, also what any name not in the table gets.
    NxDomain,
    /// No reply at all: a black hole.
    #[allow(dead_code, reason = "the serve tests black-hole nothing")]
    Silent,
}

/// An authoritative-only DNS server on 127.0.0.1 (UDP), answering A
/// queries from a table that tests may change while it runs.
pub(crate) struct DnsServer {
    pub(crate) addr: SocketAddr,
    #[allow(dead_code, reason = "read by `set`, which only the serve tests call")]
    records: Arc<Mutex<HashMap<String, Answer>>>,
}

impl DnsServer {
    pub(crate) fn start(records: impl IntoIterator<Item = (String, Answer)>) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the test DNS server");
        let addr = socket.local_addr().expect("DNS server address");
        let records: HashMap<String, Answer> = records
            .into_iter()
            .map(|(name, answer)| (normalise(&name), answer))
            .collect();
        let records = Arc::new(Mutex::new(records));
        let table = Arc::clone(&records);
        thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let Some(query) = Query::parse(&buffer[..length]) else {
                    continue;
                };
                let answer = table
                    .lock()
                    .expect("DNS table lock")
                    .get(&query.name)
                    .cloned()
                    .unwrap_or(Answer::NxDomain);
                let reply =
                    |addresses: &[Ipv4Addr], nxdomain: bool| query.reply(addresses, nxdomain);
                match answer {
                    Answer::A(addresses) => {
                        let _ = socket.send_to(&reply(&addresses, false), peer);
                    }
                    Answer::NxDomain => {
                        let _ = socket.send_to(&reply(&[], true), peer);
                    }
                    Answer::Silent => {}
                    Answer::Delayed(pause, addresses) => {
                        let reply = reply(&addresses, false);
                        let socket = socket.try_clone().expect("clone the DNS socket");
                        thread::spawn(move || {
                            thread::sleep(pause);
                            let _ = socket.send_to(&reply, peer);
                        });
                    }
                }
            }
        });
        DnsServer { addr, records }
    }

    #[allow(dead_code, reason = "only the serve tests change answers")]
    pub(crate) fn set(&self, name: &str, answer: Answer) {
        self.records
            .lock()
            .expect("DNS table lock")
            .insert(normalise(name), answer);
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The parts of a DNS query needed to answer it.
struct Query {
    id: [u8; 2],
    recursion_desired: bool,
    name: String,
    question: Vec<u8>,
    is_a: bool,
}

impl Query {
    fn parse(packet: &[u8]) -> Option<Query> {
        if packet.len() < 12
            || packet[2] & 0x80 != 0
            || u16::from_be_bytes([packet[4], packet[5]]) != 1
        {
            return None;
        }
        let mut labels = Vec::new();
        let mut at = 12;
        loop {
            let length = usize::from(*packet.get(at)?);
            at += 1;
            if length == 0 {
                break;
            }
            if length > 63 {
                return None;
            }
            labels.push(String::from_utf8_lossy(packet.get(at..at + length)?).to_ascii_lowercase());
            at += length;
        }
        let record_type = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
        let question = packet.get(12..at + 4)?.to_vec();
        Some(Query {
            id: [packet[0], packet[1]],
            recursion_desired: packet[2] & 0x01 != 0,
            name: labels.join("."),
            question,
            is_a: record_type == 1,
        })
    }

    fn reply(&self, addresses: &[Ipv4Addr], nxdomain: bool) -> Vec<u8> {
        let answers: &[Ipv4Addr] = if self.is_a { addresses } else { &[] };
        let mut packet = Vec::with_capacity(512);
        packet.extend_from_slice(&self.id);
        // QR, AA, RD as asked; RA; rcode NOERROR (0) or NXDOMAIN (3).
        packet.push(0x84 | u8::from(self.recursion_desired));
        packet.push(0x80 | if nxdomain { 3 } else { 0 });
        packet.extend_from_slice(&1u16.to_be_bytes());
        packet.extend_from_slice(
            &u16::try_from(answers.len())
                .expect("few answers")
                .to_be_bytes(),
        );
        packet.extend_from_slice(&[0, 0, 0, 0]);
        packet.extend_from_slice(&self.question);
        for address in answers {
            // A pointer to the name in the question, type A, class IN, TTL 5 s.
            packet.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
            packet.extend_from_slice(&address.octets());
        }
        packet
    }
}

/// The real binary in `standin` mode: a TLS endpoint presenting `leaf`.
pub(crate) struct Standin {
    #[allow(
        dead_code,
        reason = "only the checks tests name where a stand-in listens"
    )]
    pub(crate) addr: SocketAddr,
    child: Child,
}

impl Standin {
    pub(crate) fn start(addr: SocketAddr, leaf: &Leaf) -> Standin {
        let child = Command::new(BIN)
            .arg("standin")
            .env_clear()
            .env("ISOKIT_STANDIN_LISTEN", addr.to_string())
            .env("ISOKIT_STANDIN_CERT_PEM", &leaf.cert_pem)
            .env("ISOKIT_STANDIN_KEY_PEM", &leaf.key_pem)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stand-in");
        let mut standin = Standin { addr, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = standin.child.try_wait() {
                panic!("the stand-in on {addr} exited with {status} (is the address in use?)");
            }
            assert!(
                Instant::now() < deadline,
                "the stand-in on {addr} never listened"
            );
            thread::sleep(Duration::from_millis(20));
        }
        standin
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Accepts TCP connections and then says nothing, so a TLS handshake never ends.
#[allow(dead_code, reason = "only the checks tests stall a handshake")]
pub(crate) fn silent_tcp(addr: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind(addr).expect("bind the silent server");
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A listener whose accept queue is full, so the kernel drops new SYNs and
/// a connect attempt hangs until it times out.
#[allow(dead_code, reason = "the serve tests need no connect timeout")]
pub(crate) struct FullBacklog {
    pub(crate) addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _queued: Vec<TcpStream>,
}

#[allow(dead_code, reason = "the serve tests need no connect timeout")]
impl FullBacklog {
    pub(crate) fn start(addr: SocketAddr) -> FullBacklog {
        let _runtime = runtime().enter();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(addr).expect("bind the full-backlog listener");
        let listener = socket.listen(0).expect("listen with no backlog");
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => {
                    queued.push(stream);
                    // Let the final ACK land, so the queue really holds it.
                    thread::sleep(Duration::from_millis(50));
                }
                Err(_) => break,
            }
            assert!(queued.len() < 8, "the accept queue of {addr} never filled");
        }
        FullBacklog {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}

#[allow(dead_code, reason = "only `FullBacklog` needs it")]
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("support runtime")
    })
}

/// Serves one fixed body on every GET, like the ECS task metadata endpoint.
#[allow(dead_code, reason = "only the serve tests read task metadata")]
pub(crate) fn http_fixture(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metadata stand-in");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    addr
}

/// A GET over a plain socket, independent of the service's own client.
#[allow(dead_code, reason = "the checks tests run no server")]
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect to the service");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

/// The environment a test task gets: test region and account, the test
/// DNS server, loopback counted as the VPC, an egress probe of a name that
/// server never answers (so that no test task probes the public addresses
/// of the service's default), any free port, and the given extras, which
/// replace these.
pub(crate) fn task_env(
    dns: &DnsServer,
    ca: &TestCa,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("ISOKIT_REGION", REGION.to_owned()),
        ("ISOKIT_ACCOUNT", ACCOUNT.to_owned()),
        ("ISOKIT_DNS_SERVERS", dns.addr.to_string()),
        ("ISOKIT_VPC_CIDR", "127.0.0.0/8".to_owned()),
        ("ISOKIT_CA_PEM", ca.pem()),
        ("ISOKIT_TIMEOUT", "1s".to_owned()),
        ("ISOKIT_EGRESS_PROBES", "internet.test:443".to_owned()),
        // Any free port: tests run side by side.
        ("ISOKIT_PORT", "0".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for (name, value) in extra {
        env.retain(|(existing, _)| existing != name);
        env.push(((*name).to_owned(), (*value).to_owned()));
    }
    env
}

/// Runs `isokit-service check --output json` with exactly `env`.
#[allow(dead_code, reason = "only the checks tests run `check`")]
pub(crate) fn check(env: &[(String, String)]) -> (Output, Report) {
    let output = Command::new(BIN)
        .args(["check", "--output", "json"])
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("run isokit-service check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: LogLine = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "check did not print a round line ({err}): stdout {stdout:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report = line.into_round().expect("check prints a round line");
    (output, report)
}

/// `isokit-service serve`, with its stdout read line by line.
#[allow(dead_code, reason = "the checks tests run no server")]
pub(crate) struct Service {
    pub(crate) child: Child,
    lines: BufReader<ChildStdout>,
}

#[allow(dead_code, reason = "the checks tests run no server")]
impl Service {
    pub(crate) fn start(env: &[(String, String)]) -> Service {
        Service::start_with(BIN, env)
    }

    pub(crate) fn start_with(binary: &str, env: &[(String, String)]) -> Service {
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start isokit-service serve");
        let stdout = child.stdout.take().expect("piped stdout");
        Service {
            child,
            lines: BufReader::new(stdout),
        }
    }

    /// The next line the service logs, parsed.
    pub(crate) fn next_line(&mut self) -> LogLine {
        let mut line = String::new();
        let read = self
            .lines
            .read_line(&mut line)
            .expect("read the service's stdout");
        assert!(read > 0, "the service closed stdout before the next line");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("not a log line ({err}): {line}"))
    }

    pub(crate) fn next_round(&mut self) -> Report {
        match self.next_line() {
            LogLine::Round(report) => report,
            other => panic!("expected a round line, got {other:?}"),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("test address"), port)
}
