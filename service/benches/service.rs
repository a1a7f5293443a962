//! Benchmarks of isokit-service on loopback, each printed beside a peer
//! measured in the same run: start-up to listening and idle memory against
//! busybox httpd, a round of 7 overlapping checks against its slowest single
//! check, a black-holed round against the timeout, and /health throughput
//! under wrk against busybox httpd serving the same body as a file.
//!
//! Run through scripts/bench-service, which builds the static binary and
//! passes it in ISOKIT_BENCH_BIN (default: the binary cargo built for this bench).

#![allow(
    clippy::print_stdout,
    reason = "the figures are what a benchmark prints"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isokit_endpoints::{Endpoint, FARGATE_ENDPOINTS};
use isokit_service::{Checker, Config};
use support::{Answer, DnsServer, FullBacklog, Service, Standin, TestCa, addr, host, task_env};

const RUNS: usize = 15;

fn main() {
    let binary = std::env::var("ISOKIT_BENCH_BIN").unwrap_or_else(|_| support::BIN.to_owned());
    let busybox =
        which("busybox").expect("busybox is needed as the peer (apt-get install busybox-static)");
    let wrk = which("wrk").expect("wrk is needed for the throughput figure (apt-get install wrk)");
    println!("isokit-service benchmarks ({binary})");
    println!("peer: {busybox} httpd\n");

    let ca = TestCa::new("isokit bench CA");
    let names: Vec<String> = FARGATE_ENDPOINTS
        .iter()
        .map(|service| host(service))
        .collect();
    let _standin = Standin::start(addr("127.0.40.1", 443), &ca.leaf(&names));
    let dns = DnsServer::start(
        names
            .iter()
            .map(|name| (name.clone(), Answer::A(vec![[127, 0, 40, 1].into()]))),
    );
    let peer_root = tempfile::tempdir().expect("a folder for the peer's files");
    std::fs::write(
        peer_root.path().join("health"),
        r#"{"status":"healthy","round":1,"reachable":true,"isolated":true,"failing":[],"breaches":[],"inconclusive":[]}"#,
    )
    .expect("write the peer's file");

    // Listening after exec.
    let ours = median(
        (0..RUNS)
            .map(|_| {
                let port = free_port();
                let env = service_env(&dns, &ca, port);
                time_to_listen(port, || spawn_service(&binary, &env))
            })
            .collect(),
    );
    let peer = median(
        (0..RUNS)
            .map(|_| {
                let port = free_port();
                time_to_listen(port, || spawn_httpd(&busybox, port, peer_root.path()))
            })
            .collect(),
    );
    print_figure(
        "listening after exec (median of 15 runs)",
        ms(ours),
        "busybox httpd",
        ms(peer),
        "ms",
    );
    println!("    target <= 20 ms: {}", verdict(ms(ours) <= 20.0));

    // Idle memory, after the first round (ours) or the first request (peer).
    let port = free_port();
    let mut service = Service::start_with(&binary, &service_env(&dns, &ca, port));
    let _start = service.next_line();
    let first = service.next_round();
    assert!(
        first.healthy,
        "the benchmark service should be healthy: {first}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let ours_rss = rss_kib(service.pid());
    let peer_port = free_port();
    let mut httpd = spawn_httpd(&busybox, peer_port, peer_root.path());
    wait_listening(peer_port);
    let _ = support::http_get(addr("127.0.0.1", peer_port), "/health");
    std::thread::sleep(Duration::from_millis(500));
    let peer_rss = rss_kib(httpd.id());
    let ours_mib = ours_rss as f64 / 1024.0;
    print_figure(
        "idle RSS",
        ours_mib,
        "busybox httpd",
        peer_rss as f64 / 1024.0,
        "MiB",
    );
    println!("    target <= 4 MiB: {}", verdict(ours_mib <= 4.0));

    // /health under wrk, ours then the peer's static file, same settings.
    let ours_rps = wrk_rps(&wrk, &format!("http://127.0.0.1:{port}/health"));
    let peer_rps = wrk_rps(&wrk, &format!("http://127.0.0.1:{peer_port}/health"));
    print_figure(
        "/health throughput (wrk -t2 -c32 -d5s)",
        ours_rps,
        "busybox httpd (static file)",
        peer_rps,
        "req/s",
    );
    drop(service);
    let _ = httpd.kill();
    let _ = httpd.wait();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("bench runtime");
    runtime.block_on(rounds(&ca));
}

/// A round against its slowest single check, and a black-holed round
/// against the timeout, in process through the library.
async fn rounds(ca: &TestCa) {
    // Each endpoint's DNS answer comes after its own pause (5 to 35 ms), so
    // the checks have distinct lengths and a sequential round would add them up.
    let names: Vec<String> = FARGATE_ENDPOINTS
        .iter()
        .map(|service| host(service))
        .collect();
    let _standin = Standin::start(addr("127.0.41.1", 443), &ca.leaf(&names));
    let dns = DnsServer::start(names.iter().enumerate().map(|(index, name)| {
        let pause = Duration::from_millis(5 * (index as u64 + 1));
        (
            name.clone(),
            Answer::Delayed(pause, vec![[127, 0, 41, 1].into()]),
        )
    }));
    let checker = checker_for(
        &dns,
        ca,
        &[
            ("ISOKIT_EGRESS_PROBES", "internet.test:443"),
            ("ISOKIT_TIMEOUT", "3s"),
        ],
    );
    let _ = checker.round(0, None).await;

    let mut slowest = Duration::ZERO;
    let mut sum = Duration::ZERO;
    for service in FARGATE_ENDPOINTS {
        let endpoint: Endpoint = service.parse().expect("endpoint");
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            let check = checker.check_endpoint(&endpoint).await;
            runs.push(started.elapsed());
            assert!(check.ok, "{check:#?}");
        }
        let typical = median(runs);
        slowest = slowest.max(typical);
        sum += typical;
    }
    let mut runs = Vec::new();
    for number in 0..RUNS {
        let started = Instant::now();
        let report = checker.round(number as u64, None).await;
        runs.push(started.elapsed());
        assert!(report.healthy, "{report}");
    }
    let round = median(runs);
    print_figure(
        "round of 7 endpoints (median of 15)",
        ms(round),
        "slowest single check",
        ms(slowest),
        "ms",
    );
    println!(
        "    target round <= 1.2 x slowest: {} (one after another would take {:.1} ms)",
        verdict(ms(round) <= 1.2 * ms(slowest)),
        ms(sum)
    );

    // Every endpoint and probe black-holed: a full accept queue drops SYNs.
    let hole = FullBacklog::start(addr("127.0.42.1", 443));
    let dns = DnsServer::start(
        names
            .iter()
            .map(|name| (name.clone(), Answer::A(vec![[127, 0, 42, 1].into()]))),
    );
    let timeout = Duration::from_secs(1);
    let hole_target = hole.addr.to_string();
    let checker = checker_for(
        &dns,
        ca,
        &[
            ("ISOKIT_EGRESS_PROBES", hole_target.as_str()),
            ("ISOKIT_TIMEOUT", "1s"),
        ],
    );
    let started = Instant::now();
    let report = checker.round(1, None).await;
    let black_holed = started.elapsed();
    assert!(
        report.failing().count() == FARGATE_ENDPOINTS.len(),
        "{report}"
    );
    print_figure(
        "round with every TCP connect black-holed",
        ms(black_holed),
        "timeout",
        ms(timeout),
        "ms",
    );
    println!(
        "    target <= timeout + 10%: {}",
        verdict(black_holed <= timeout.mul_f64(1.1))
    );

    // The same with the DNS server silent.
    let dns = DnsServer::start(names.iter().map(|name| (name.clone(), Answer::Silent)));
    let checker = checker_for(
        &dns,
        ca,
        &[
            ("ISOKIT_EGRESS_PROBES", "internet.test:443"),
            ("ISOKIT_TIMEOUT", "1s"),
        ],
    );
    let started = Instant::now();
    let _ = checker.round(1, None).await;
    let silent = started.elapsed();
    print_figure(
        "round with DNS black-holed",
        ms(silent),
        "timeout",
        ms(timeout),
        "ms",
    );
    println!(
        "    target <= timeout + 10%: {}",
        verdict(silent <= timeout.mul_f64(1.1))
    );
}

fn checker_for(dns: &DnsServer, ca: &TestCa, extra: &[(&str, &str)]) -> Checker {
    let env = task_env(dns, ca, extra);
    let config = Config::from_lookup(|name| {
        env.iter()
            .find(|(variable, _)| variable == name)
            .map(|(_, value)| value.clone())
    })
    .expect("bench configuration");
    Checker::new(config).expect("checker")
}

fn service_env(dns: &DnsServer, ca: &TestCa, port: u16) -> Vec<(String, String)> {
    task_env(
        dns,
        ca,
        &[
            ("ISOKIT_PORT", &port.to_string()),
            ("ISOKIT_EGRESS_PROBES", "internet.test:443"),
        ],
    )
}

fn spawn_service(binary: &str, env: &[(String, String)]) -> Child {
    Command::new(binary)
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::null())
        .spawn()
        .expect("start the service")
}

fn spawn_httpd(busybox: &str, port: u16, root: &std::path::Path) -> Child {
    Command::new(busybox)
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(root)
        .spawn()
        .expect("start busybox httpd")
}

/// From spawn to the first accepted connection, then the process is ended.
fn time_to_listen(port: u16, spawn: impl FnOnce() -> Child) -> Duration {
    let started = Instant::now();
    let mut child = spawn();
    wait_listening(port);
    let took = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn wait_listening(port: u16) {
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(target).is_err() {
        assert!(Instant::now() < deadline, "nothing listened on {target}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

fn wrk_rps(wrk: &str, url: &str) -> f64 {
    let output = Command::new(wrk)
        .args(["-t2", "-c32", "-d5s", url])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw errors from {url}: {text}"
    );
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate for {url}: {text}"))
}

fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
            .map(|found| found.display().to_string())
    })
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn verdict(within: bool) -> &'static str {
    if within { "ok" } else { "OVER TARGET" }
}

/// One figure beside its peer, and the ratio between them.
fn print_figure(what: &str, ours: f64, peer_name: &str, peer: f64, unit: &str) {
    println!("{what}");
    println!(
        "    isokit-service {ours:.2} {unit} | {peer_name} {peer:.2} {unit} | ratio {:.2}",
        ours / peer
    );
}
