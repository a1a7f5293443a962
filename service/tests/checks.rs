//! `isokit-service check` against real sockets on loopback: a DNS server
//! the service is pointed at, TLS stand-ins signed by a CA made here, and
//! servers that refuse, stall or never finish TLS. Each test has its own
//! 127.0.x.y addresses so the tests run in parallel.

mod support;

use std::time::{Duration, Instant};

use isokit_endpoints::FARGATE_ENDPOINTS;
use isokit_report::{EgressOutcome, EndpointCheck, Report, Status, Step};
use support::{
    Answer, DnsServer, FullBacklog, Standin, TestCa, addr, check, host, silent_tcp, task_env,
};

fn endpoint<'a>(report: &'a Report, service: &str) -> &'a EndpointCheck {
    report
        .endpoints
        .iter()
        .find(|check| check.service == service)
        .unwrap_or_else(|| panic!("{service} is in the report: {report:#?}"))
}

/// The check's verdict for a task with its one endpoint reachable and a way
/// out: exit 1, not isolated, not healthy.
fn assert_not_isolated(output: &std::process::Output, report: &Report) {
    assert_eq!(output.status.code(), Some(1), "{report:#?}");
    assert!(
        report.reachable && !report.isolated && !report.healthy,
        "{report:#?}"
    );
}

/// `isokit-service check` with the text report of a task with its one
/// endpoint reachable and a way out; that report.
fn not_isolated_in_text(env: &[(String, String)]) -> String {
    let output = std::process::Command::new(support::BIN)
        .arg("check")
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("run check");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.starts_with("UNHEALTHY: all 1 endpoints reachable, NOT ISOLATED"),
        "{text}"
    );
    text
}

/// The single endpoint of a one-endpoint check failed at `step`; returns the cause.
fn failed_at(report: &Report, service: &str, step: Step) -> String {
    let check = endpoint(report, service);
    assert!(!check.ok, "{service} should fail: {check:#?}");
    let failure = check.failure.as_ref().expect("a failure");
    assert_eq!(failure.step, step, "{check:#?}");
    assert!(!failure.fix.is_empty());
    let last = check.steps.last().expect("the failed step is recorded");
    assert_eq!((last.step, last.status), (step, Status::Failed));
    assert!(!report.healthy && !report.reachable);
    failure.cause.clone()
}

#[test]
fn every_fargate_endpoint_reachable_and_isolated() {
    let ca = TestCa::new("isokit test CA");
    let names: Vec<String> = FARGATE_ENDPOINTS
        .iter()
        .map(|service| host(service))
        .collect();
    let standin = Standin::start(addr("127.0.20.1", 443), &ca.leaf(&names));
    let ip = [127, 0, 20, 1].into();
    let dns = DnsServer::start(names.iter().map(|name| (name.clone(), Answer::A(vec![ip]))));
    // Blocked, each its own way: a target that never answers (its SYNs are
    // dropped), one with no route (Linux sends no TCP to a multicast
    // address: the connect fails before any packet leaves), and a name that
    // does not resolve.
    let black_hole = FullBacklog::start(addr("127.0.20.2", 443));
    let probes = format!("{},224.0.0.1:443,internet.test:443", black_hole.addr);
    let env = task_env(&dns, &ca, &[("ISOKIT_EGRESS_PROBES", &probes)]);

    let (output, report) = check(&env);

    assert!(
        output.status.success(),
        "exit {:?}: {report:#?}",
        output.status
    );
    assert!(
        report.healthy && report.reachable && report.isolated,
        "{report:#?}"
    );
    let services: Vec<&str> = report
        .endpoints
        .iter()
        .map(|check| check.service.as_str())
        .collect();
    assert_eq!(services, FARGATE_ENDPOINTS);
    for check in &report.endpoints {
        let steps: Vec<(Step, Status)> = check
            .steps
            .iter()
            .map(|step| (step.step, step.status))
            .collect();
        assert_eq!(
            steps,
            [
                (Step::Dns, Status::Ok),
                (Step::Tcp, Status::Ok),
                (Step::Tls, Status::Ok)
            ],
            "{check:#?}"
        );
        assert_eq!(check.addresses, [standin.addr.ip()]);
        assert!(check.failure.is_none());
    }
    assert_eq!(
        endpoint(&report, "s3").kind,
        isokit_report::EndpointKind::Gateway
    );
    let outcomes: Vec<EgressOutcome> = report.egress.iter().map(|probe| probe.outcome).collect();
    assert_eq!(
        outcomes,
        [
            EgressOutcome::Timeout,
            EgressOutcome::Unreachable,
            EgressOutcome::Unresolved
        ],
        "{report:#?}"
    );
    assert!(report.egress.iter().all(|probe| !probe.reachable));
}

#[test]
fn a_target_is_judged_by_every_address_it_resolves_to() {
    let ca = TestCa::new("isokit test CA");
    // The first address never answers; the second refuses, which proves a
    // route. Tried one after the other, the first would use up the timeout.
    let _black_hole = FullBacklog::start(addr("127.0.34.1", 443));
    let dns = DnsServer::start([(
        "internet.test".to_owned(),
        Answer::A(vec![[127, 0, 34, 1].into(), [127, 0, 34, 2].into()]),
    )]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "logs")]);

    let (_, report) = check(&env);

    let probe = &report.egress[0];
    assert_eq!(probe.outcome, EgressOutcome::Refused, "{probe:#?}");
    assert!(probe.reachable && !report.isolated, "{report:#?}");
    assert!(
        probe.detail.starts_with("127.0.34.2:443"),
        "{}",
        probe.detail
    );
}

#[test]
fn a_refused_probe_means_not_isolated() {
    let ca = TestCa::new("isokit test CA");
    let _endpoint = Standin::start(addr("127.0.33.1", 443), &ca.leaf(&[host("logs")]));
    let dns = DnsServer::start([(host("logs"), Answer::A(vec![[127, 0, 33, 1].into()]))]);
    // Nothing listens on 127.0.33.2:443: loopback answers with a reset, as a
    // host on a route out would. The name beside it is blocked.
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "logs"),
            ("ISOKIT_EGRESS_PROBES", "127.0.33.2:443,internet.test:443"),
        ],
    );

    let (output, report) = check(&env);

    assert_not_isolated(&output, &report);
    let refused = &report.egress[0];
    assert_eq!(refused.outcome, EgressOutcome::Refused, "{refused:#?}");
    assert!(refused.reachable, "{refused:#?}");
    assert!(
        refused
            .detail
            .starts_with("127.0.33.2:443 refused the connection")
            && refused
                .detail
                .contains("a host answered, so the task has a route to it"),
        "{}",
        refused.detail
    );
    assert!(!report.egress[1].reachable, "{report:#?}");

    let text = not_isolated_in_text(&env);
    assert!(text.contains("REACHABLE 127.0.33.2:443"), "{text}");
}

#[test]
fn no_such_name() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "logs")]);

    let (output, report) = check(&env);

    assert_eq!(output.status.code(), Some(1));
    let cause = failed_at(&report, "logs", Step::Dns);
    assert!(
        cause.contains("no such name") && cause.contains(&host("logs")),
        "{cause}"
    );
    let fix = &endpoint(&report, "logs")
        .failure
        .as_ref()
        .expect("failure")
        .fix;
    assert!(fix.contains("com.amazonaws.eu-west-1.logs"), "{fix}");
}

#[test]
fn public_answer_for_an_interface_endpoint_fails_at_dns_without_connecting() {
    let ca = TestCa::new("isokit test CA");
    // A documentation-range address: public by class, and never connected to.
    let dns = DnsServer::start([(host("ecr.dkr"), Answer::A(vec![[203, 0, 113, 10].into()]))]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "ecr.dkr")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "ecr.dkr", Step::Dns);
    assert!(
        cause.starts_with("DNS answered a public address (203.0.113.10)")
            && cause.ends_with(
                "for ecr.dkr: the interface endpoint is missing or its private DNS is off"
            ),
        "{cause}"
    );
    let check = endpoint(&report, "ecr.dkr");
    assert_eq!(check.steps.len(), 1, "no TCP step may follow: {check:#?}");
    assert_eq!(check.addresses, [std::net::IpAddr::from([203, 0, 113, 10])]);
}

#[test]
fn an_answer_outside_the_vpc_cidr_fails_at_dns() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([(host("ssm"), Answer::A(vec![[127, 0, 29, 1].into()]))]);
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "ssm"),
            ("ISOKIT_VPC_CIDR", "127.0.30.0/24"),
        ],
    );

    let (_, report) = check(&env);

    let cause = failed_at(&report, "ssm", Step::Dns);
    assert!(
        cause.contains("outside the VPC CIDR 127.0.30.0/24"),
        "{cause}"
    );
}

#[test]
fn dns_that_never_answers_times_out() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([(host("kms"), Answer::Silent)]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "kms")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "kms", Step::Dns);
    assert!(cause.contains("no DNS answer"), "{cause}");
}

#[test]
fn connection_refused() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([(host("ssm"), Answer::A(vec![[127, 0, 21, 1].into()]))]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "ssm")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "ssm", Step::Tcp);
    assert_eq!(cause, "connection to 127.0.21.1:443 refused");
}

#[test]
fn a_refused_address_falls_through_to_the_next_one() {
    let ca = TestCa::new("isokit test CA");
    // Nothing listens on 127.0.32.1; the stand-in answers on 127.0.32.2.
    let _standin = Standin::start(addr("127.0.32.2", 443), &ca.leaf(&[host("ecs")]));
    let dns = DnsServer::start([(
        host("ecs"),
        Answer::A(vec![[127, 0, 32, 1].into(), [127, 0, 32, 2].into()]),
    )]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "ecs")]);

    let (_, report) = check(&env);

    let check = endpoint(&report, "ecs");
    assert!(check.ok, "{check:#?}");
    let tcp = check
        .steps
        .iter()
        .find(|step| step.step == Step::Tcp)
        .expect("a TCP step");
    assert_eq!(tcp.detail, "connected to 127.0.32.2:443", "{check:#?}");
}

#[test]
fn connection_timeout() {
    let ca = TestCa::new("isokit test CA");
    let backlog = FullBacklog::start(addr("127.0.22.1", 443));
    let dns = DnsServer::start([(
        host("secretsmanager"),
        Answer::A(vec![[127, 0, 22, 1].into()]),
    )]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "secretsmanager")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "secretsmanager", Step::Tcp);
    assert_eq!(cause, format!("no answer from {} within 1s", backlog.addr));
    let fix = &endpoint(&report, "secretsmanager")
        .failure
        .as_ref()
        .expect("failure")
        .fix;
    assert!(fix.contains("security group"), "{fix}");
    // It waited out the timeout rather than failing fast; how promptly it
    // gives up is measured by the benchmark, not asserted here.
    let check = endpoint(&report, "secretsmanager");
    assert!(check.duration_ms >= 1000.0, "{check:#?}");
}

#[test]
fn a_server_that_never_completes_tls_times_out_at_tls() {
    let ca = TestCa::new("isokit test CA");
    silent_tcp(addr("127.0.23.1", 443));
    let dns = DnsServer::start([(host("ssmmessages"), Answer::A(vec![[127, 0, 23, 1].into()]))]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "ssmmessages")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "ssmmessages", Step::Tls);
    assert!(cause.contains("did not finish within 1s"), "{cause}");
}

#[test]
fn tls_name_mismatch() {
    let ca = TestCa::new("isokit test CA");
    let _standin = Standin::start(
        addr("127.0.24.1", 443),
        &ca.leaf(&["other.example.test".to_owned()]),
    );
    let dns = DnsServer::start([(host("ecr.api"), Answer::A(vec![[127, 0, 24, 1].into()]))]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "ecr.api")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "ecr.api", Step::Tls);
    assert_eq!(
        cause,
        "the certificate at 127.0.24.1:443 is not valid for api.ecr.eu-west-1.amazonaws.com (name mismatch)"
    );
}

#[test]
fn unknown_ca() {
    let trusted = TestCa::new("isokit test CA");
    let intercepting = TestCa::new("some proxy's CA");
    let _standin = Standin::start(addr("127.0.25.1", 443), &intercepting.leaf(&[host("sts")]));
    let dns = DnsServer::start([(host("sts"), Answer::A(vec![[127, 0, 25, 1].into()]))]);
    let env = task_env(&dns, &trusted, &[("ISOKIT_ENDPOINTS", "sts")]);

    let (_, report) = check(&env);

    let cause = failed_at(&report, "sts", Step::Tls);
    assert!(cause.contains("signed by an unknown CA"), "{cause}");
    let fix = &endpoint(&report, "sts")
        .failure
        .as_ref()
        .expect("failure")
        .fix;
    assert!(fix.contains("ISOKIT_CA_FILE or ISOKIT_CA_PEM"), "{fix}");

    // Trusting that CA (as a file this time) makes the same endpoint pass.
    let ca_file = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(ca_file.path(), intercepting.pem()).expect("write the CA");
    let ca_path = ca_file.path().to_str().expect("UTF-8 path").to_owned();
    let mut env = env;
    env.push(("ISOKIT_CA_FILE".to_owned(), ca_path));
    let (output, report) = check(&env);
    assert!(output.status.success(), "{report:#?}");
}

#[test]
fn an_egress_target_that_answers_means_not_isolated() {
    let ca = TestCa::new("isokit test CA");
    let _endpoint = Standin::start(addr("127.0.26.1", 443), &ca.leaf(&[host("logs")]));
    let internet = Standin::start(
        addr("127.0.26.2", 443),
        &ca.leaf(&["internet.test".to_owned()]),
    );
    let dns = DnsServer::start([
        (host("logs"), Answer::A(vec![[127, 0, 26, 1].into()])),
        (
            "internet.test".to_owned(),
            Answer::A(vec![[127, 0, 26, 2].into()]),
        ),
    ]);
    let env = task_env(
        &dns,
        &ca,
        &[
            ("ISOKIT_ENDPOINTS", "logs"),
            ("ISOKIT_EGRESS_PROBES", "internet.test:443,127.0.26.3:443"),
        ],
    );

    let (output, report) = check(&env);

    assert_not_isolated(&output, &report);
    let probe = &report.egress[0];
    assert!(probe.reachable);
    assert_eq!(probe.outcome, EgressOutcome::Connected);
    assert!(
        probe
            .detail
            .starts_with(&format!("connected to {}", internet.addr)),
        "{}",
        probe.detail
    );
    assert_eq!(report.egress[1].outcome, EgressOutcome::Refused);
    assert!(report.egress[1].reachable, "{report:#?}");

    // The text report says so too.
    let text = not_isolated_in_text(&env);
    assert!(text.contains("REACHABLE internet.test:443"), "{text}");
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    let output = std::process::Command::new(support::BIN)
        .arg("check")
        .env_clear()
        .env("ISOKIT_REGION", "eu-west-1")
        .env("ISOKIT_ACCOUNT", "123456789012")
        .env("ISOKIT_TIMEOUT", "3 fortnights")
        .output()
        .expect("run check");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "isokit-service: error: ISOKIT_TIMEOUT: `3 fortnights` is not a duration (unknown time \
         unit \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, \
         months, years (and few variations))\n  help: expected a duration such as 500ms, 3s or \
         1m 30s, at most 5m"
    );
}

/// Runs the binary; fails the test when it is still running after `within`.
fn run_briefly(command: &mut std::process::Command, within: Duration) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start isokit-service");
    let pid = child.id();
    let started = Instant::now();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(within) {
        Ok(output) => output.expect("collect the output"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "isokit-service was still running after {:?}: the setting was not refused",
                started.elapsed()
            );
        }
    }
}

#[test]
fn durations_that_would_overflow_are_refused_at_start_up() {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([]);
    let cases = [
        ("ISOKIT_TIMEOUT", "18446744073709551615s", "at most 5m"),
        ("ISOKIT_TIMEOUT", "18446744073709551615ms", "at most 5m"),
        ("ISOKIT_TIMEOUT", "18446744073709551616ms", "at most 5m"),
        ("ISOKIT_TIMEOUT", "301s", "at most 5m"),
        ("ISOKIT_INTERVAL", "18446744073709551615h", "at most 24h"),
        ("ISOKIT_INTERVAL", "18446744073709551615s", "at most 24h"),
        ("ISOKIT_INTERVAL", "25h", "at most 24h"),
    ];
    for (variable, value, bound) in cases {
        let env = task_env(
            &dns,
            &ca,
            &[("ISOKIT_ENDPOINTS", "logs"), (variable, value)],
        );
        for command in ["check", "serve"] {
            let output = run_briefly(
                std::process::Command::new(support::BIN)
                    .arg(command)
                    .env_clear()
                    .envs(env.iter().map(|(name, value)| (name, value)))
                    .env("RUST_BACKTRACE", "1"),
                Duration::from_secs(10),
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} with {variable}={value}: {stderr}"
            );
            assert!(output.stdout.is_empty(), "{command} {variable}={value}");
            assert_eq!(
                stderr.trim(),
                format!(
                    "isokit-service: error: {variable}: `{value}` is too long\n  help: expected \
                     a duration such as 500ms, {}, {bound}",
                    if variable == "ISOKIT_TIMEOUT" {
                        "3s or 1m 30s"
                    } else {
                        "30s or 1h 30m"
                    }
                ),
                "{command} with {variable}={value}"
            );
        }
    }
}
