//! `isokit-service serve` as a process: its log lines, /health and /checks
//! over a real socket, the `healthcheck` subcommand, the ECS task metadata,
//! and a clean stop on SIGTERM.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use isokit_report::{LogLine, Report};
use support::{
    Answer, DnsServer, Service, Standin, TestCa, addr, host, http_fixture, http_get, task_env,
};

fn listen_port(service: &mut Service) -> u16 {
    match service.next_line() {
        LogLine::Start(start) => start
            .listen
            .parse::<SocketAddr>()
            .expect("the start line names the listen address")
            .port(),
        other => panic!("the first line is the start line, not {other:?}"),
    }
}

fn healthcheck(port: u16) -> (Option<i32>, String) {
    let output = Command::new(support::BIN)
        .arg("healthcheck")
        .env_clear()
        .env("ISOKIT_PORT", port.to_string())
        .output()
        .expect("run healthcheck");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Sends SIGTERM and returns how long the service took to exit, and how.
fn terminate(service: &mut Service) -> (Duration, std::process::ExitStatus) {
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &service.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    loop {
        if let Some(exit) = service.child.try_wait().expect("poll the service") {
            return (sent.elapsed(), exit);
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the service ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn serves_health_and_checks_logs_rounds_and_stops_on_sigterm() {
    let ca = TestCa::new("isokit test CA");
    let services = ["ecr.api", "logs", "s3"];
    let names: Vec<String> = services.iter().map(|service| host(service)).collect();
    let _standin = Standin::start(addr("127.0.27.1", 443), &ca.leaf(&names));
    let dns = DnsServer::start(
        names
            .iter()
            .map(|name| (name.clone(), Answer::A(vec![[127, 0, 27, 1].into()]))),
    );
    let metadata = http_fixture(include_str!("fixtures/task-metadata.json"));
    let metadata_uri = format!("http://{metadata}/v4/0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b-1527056345");
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "ecr.api,logs,s3"),
            ("ISOKIT_INTERVAL", "200ms"),
            ("ECS_CONTAINER_METADATA_URI_V4", &metadata_uri),
        ],
    );
    let mut service = Service::start(&env);
    let port = listen_port(&mut service);
    let local = addr("127.0.0.1", port);

    let first = service.next_round();
    assert_eq!(first.round, 1);
    assert!(first.healthy, "{first:#?}");
    let task = first
        .task
        .as_ref()
        .expect("task context from the metadata endpoint");
    assert_eq!(task.availability_zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(task.subnet_cidr.as_deref(), Some("10.0.128.0/20"));
    assert_eq!(
        service.next_round().round,
        2,
        "rounds repeat every interval"
    );

    let (status, body) = http_get(local, "/health");
    assert_eq!(status, 200, "{body}");
    let health: isokit_report::Health = serde_json::from_str(&body).expect("health JSON");
    assert_eq!(health.status, "healthy");
    assert!(health.round >= 2);

    let (status, body) = http_get(local, "/checks");
    assert_eq!(status, 200);
    let checks: Report = serde_json::from_str(&body).expect("/checks is a report");
    let served: Vec<&str> = checks
        .endpoints
        .iter()
        .map(|check| check.service.as_str())
        .collect();
    assert_eq!(served, services);

    assert_eq!(healthcheck(port).0, Some(0));

    let (took, exit) = terminate(&mut service);
    assert!(exit.success(), "{exit}");
    // Issue 3's stated limit: "Stops cleanly on SIGTERM within one second".
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
}

#[test]
fn health_turns_503_when_an_endpoint_goes_away() {
    let ca = TestCa::new("isokit test CA");
    let names = [host("ecr.dkr"), host("ssm")];
    let _standin = Standin::start(addr("127.0.28.1", 443), &ca.leaf(&names));
    let dns = DnsServer::start(
        names
            .iter()
            .map(|name| (name.clone(), Answer::A(vec![[127, 0, 28, 1].into()]))),
    );
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "ecr.dkr,ssm"),
            ("ISOKIT_INTERVAL", "100ms"),
        ],
    );
    let mut service = Service::start(&env);
    let port = listen_port(&mut service);
    assert!(service.next_round().healthy);
    assert_eq!(http_get(addr("127.0.0.1", port), "/health").0, 200);

    dns.set(&host("ssm"), Answer::NxDomain);
    let deadline = Instant::now() + Duration::from_secs(5);
    let report = loop {
        let report = service.next_round();
        if !report.healthy {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "the removed endpoint never showed"
        );
    };
    let failing: Vec<&str> = report
        .failing()
        .map(|check| check.service.as_str())
        .collect();
    assert_eq!(failing, ["ssm"]);

    let (status, body) = http_get(addr("127.0.0.1", port), "/health");
    assert_eq!(status, 503, "{body}");
    let health: isokit_report::Health = serde_json::from_str(&body).expect("health JSON");
    assert_eq!(health.failing, ["ssm"]);
    let (code, body) = healthcheck(port);
    assert_eq!(code, Some(1), "{body}");
    assert!(body.contains("\"failing\":[\"ssm\"]"), "{body}");
}

/// Connected or refused: either way something answered, so the task has a route out.
#[test]
fn an_answering_egress_target_turns_health_503() {
    let ca = TestCa::new("isokit test CA");
    let _endpoint = Standin::start(addr("127.0.31.1", 443), &ca.leaf(&[host("logs")]));
    let _internet = Standin::start(
        addr("127.0.31.2", 443),
        &ca.leaf(&["internet.test".to_owned()]),
    );
    let dns = DnsServer::start([(host("logs"), Answer::A(vec![[127, 0, 31, 1].into()]))]);
    // Nothing listens on 127.0.31.3:443, so it refuses.
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "logs"),
            (
                "ISOKIT_EGRESS_PROBES",
                "127.0.31.2:443,127.0.31.3:443,internet.test:443",
            ),
        ],
    );
    let mut service = Service::start(&env);
    let port = listen_port(&mut service);
    let report = service.next_round();
    assert!(report.reachable && !report.isolated, "{report:#?}");

    let (status, body) = http_get(addr("127.0.0.1", port), "/health");
    assert_eq!(status, 503);
    let health: isokit_report::Health = serde_json::from_str(&body).expect("health JSON");
    assert!(!health.isolated);
    assert_eq!(health.breaches, ["127.0.31.2:443", "127.0.31.3:443"]);
    assert!(health.inconclusive.is_empty());
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    // Port 1 on loopback: nothing of ours, nor anyone's, listens there.
    let output = Command::new(support::BIN)
        .arg("healthcheck")
        .env_clear()
        .env("ISOKIT_PORT", "1")
        .output()
        .expect("run healthcheck");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("isokit-service: GET http://127.0.0.1:1/health failed:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`isokit-service serve` is running") && stderr.contains("ISOKIT_PORT"),
        "the message says what to check: {stderr}"
    );
}

#[test]
fn a_busy_port_stops_start_up_with_a_message() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("take a port");
    let port = taken.local_addr().expect("address").port();
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([]);
    let env = task_env(&dns, &ca, &[("ISOKIT_PORT", &port.to_string())]);
    let output = Command::new(support::BIN)
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("run serve");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: cannot listen on 0.0.0.0:{port}\n  caused by: "
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("help: choose another address with ISOKIT_PORT"),
        "the cause is told once, before what to do: {stderr}"
    );
}

#[test]
fn the_longest_interval_and_timeout_it_accepts_run_rounds() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([]);
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "logs"),
            ("ISOKIT_INTERVAL", "24h"),
            ("ISOKIT_TIMEOUT", "5m"),
        ],
    );
    let mut service = Service::start(&env);
    let LogLine::Start(start) = service.next_line() else {
        panic!("the first line is the start line");
    };
    assert_eq!((start.interval_ms, start.timeout_ms), (86_400_000, 300_000));
    let port = start
        .listen
        .parse::<SocketAddr>()
        .expect("listen address")
        .port();
    // Every deadline of the first round is computed from the timeout.
    let first = service.next_round();
    assert_eq!(first.round, 1);
    assert_eq!(http_get(addr("127.0.0.1", port), "/health").0, 503);
}
