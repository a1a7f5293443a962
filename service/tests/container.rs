//! The image on an isolated network, through the real Docker Engine: the
//! service container on a `docker network create --internal` network beside
//! stand-in endpoint containers (the same image in `standin` mode) whose
//! network aliases are the endpoint host names, and an "internet" stand-in
//! on another network that it must not reach. Before that, the image's own
//! promises: a non-root user, no shell; and its HEALTHCHECK follows /health.
//!
//! Uses the image named by `ISOKIT_SERVICE_IMAGE` when set (scripts/test
//! builds it first), else builds one with scripts/build-service-image.
//! Every container, network and image it makes carries a unique prefix and
//! is removed when the test ends, whether it passes or not.

#[path = "support/identity.rs"]
mod identity;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use identity::{ACCOUNT, REGION, TestCa, host};
use isokit_endpoints::FARGATE_ENDPOINTS;
use isokit_report::{EgressOutcome, LogLine, Report};

/// What the test made, removed on drop (also when an assertion fails).
struct Sandbox {
    prefix: String,
    containers: Vec<String>,
    networks: Vec<String>,
    built_image: Option<String>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = docker(&["rm", "--force", "--volumes", container]);
        }
        for network in &self.networks {
            let _ = docker(&["network", "rm", network]);
        }
        if let Some(image) = &self.built_image {
            let _ = docker(&["rmi", image]);
        }
    }
}

fn docker(args: &[&str]) -> Output {
    docker_with_env(args, &[])
}

/// Runs the docker client; `env` reaches it (and `-e NAME` passes it on)
/// without the values, such as keys, showing in the argument list.
fn docker_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("docker")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the docker client (is it installed?)")
}

fn docker_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = docker_with_env(args, env);
    assert!(
        output.status.success(),
        "docker {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn require_engine() {
    let output = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        output.status.success(),
        "this test needs a running Docker Engine, and `docker info` failed: {}\n\
         start one (as root: `dockerd >/var/log/dockerd.log 2>&1 &`, or `scripts/local-aws up`) \
         or set DOCKER_HOST",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

impl Sandbox {
    fn new() -> Sandbox {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        Sandbox {
            prefix: format!("isokit-svc-test-{}-{nanos:x}", std::process::id()),
            containers: Vec::new(),
            networks: Vec::new(),
            built_image: None,
        }
    }

    fn image(&mut self) -> String {
        if let Ok(image) = std::env::var("ISOKIT_SERVICE_IMAGE") {
            return image;
        }
        let tag = format!("isokit-service:{}", self.prefix);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-service-image");
        let output = Command::new(script)
            .arg(&tag)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run scripts/build-service-image");
        assert!(
            output.status.success(),
            "scripts/build-service-image failed (its stderr is above)"
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            tag,
            "the script prints the tag"
        );
        self.built_image = Some(tag.clone());
        tag
    }

    /// An internal network: no route out, like a VPC with no gateway.
    fn network(&mut self, name: &str) -> String {
        let network = format!("{}-{name}", self.prefix);
        docker_ok(&["network", "create", "--internal", &network], &[]);
        self.networks.push(network.clone());
        network
    }

    fn container_name(&mut self, name: &str) -> String {
        let container = format!("{}-{name}", self.prefix);
        self.containers.push(container.clone());
        container
    }

    /// A stand-in endpoint answering TLS for `alias` on `network`.
    fn standin(
        &mut self,
        image: &str,
        name: &str,
        network: &str,
        alias: &str,
        ca: &TestCa,
    ) -> String {
        let container = self.container_name(name);
        let leaf = ca.leaf(&[alias.to_owned()]);
        docker_ok(
            &[
                "run",
                "--detach",
                "--name",
                &container,
                "--network",
                network,
                "--network-alias",
                alias,
                // Names the engine's DNS does not know go to this address,
                // inside the container: nothing leaves the machine.
                "--dns",
                "127.0.0.1",
                "--read-only",
                "--env",
                "ISOKIT_STANDIN_CERT_PEM",
                "--env",
                "ISOKIT_STANDIN_KEY_PEM",
                image,
                "standin",
            ],
            &[
                ("ISOKIT_STANDIN_CERT_PEM", &leaf.cert_pem),
                ("ISOKIT_STANDIN_KEY_PEM", &leaf.key_pem),
            ],
        );
        container
    }
}

/// The round lines the container has logged so far.
fn rounds(container: &str) -> Vec<Report> {
    let logs = docker_ok(&["logs", container], &[]);
    logs.lines()
        .filter_map(|line| serde_json::from_str::<LogLine>(line).ok())
        .filter_map(LogLine::into_round)
        .collect()
}

fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `healthcheck` inside the container (the image has no shell, but it has the binary).
fn healthcheck(container: &str) -> (Option<i32>, String) {
    let output = docker(&["exec", container, "/isokit-service", "healthcheck"]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The `USER` the Dockerfile sets, which must be a numeric non-root uid:gid
/// (scratch has no passwd file to look a name up in).
fn dockerfile_user() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile");
    let dockerfile = std::fs::read_to_string(&path).expect("read the top-level Dockerfile");
    let user = dockerfile
        .lines()
        .find_map(|line| line.trim().strip_prefix("USER "))
        .expect("the Dockerfile sets a USER")
        .trim()
        .to_owned();
    let ids: Vec<u32> = user
        .split(':')
        .map(|id| id.parse().expect("USER is numeric uid:gid"))
        .collect();
    assert!(
        ids.len() == 2 && ids.iter().all(|id| *id != 0),
        "USER {user} is not a non-root uid:gid"
    );
    user
}

fn assert_runs_as_non_root(image: &str) {
    let user = docker_ok(
        &["image", "inspect", "--format", "{{.Config.User}}", image],
        &[],
    );
    assert_eq!(user, dockerfile_user(), "the image's user");
}

/// Overriding the entrypoint works for the binary, and fails for a shell,
/// as the image holds none.
fn assert_has_no_shell(sandbox: &mut Sandbox, image: &str) {
    let control = sandbox.container_name("entrypoint");
    let output = docker(&[
        "run",
        "--name",
        &control,
        "--network",
        "none",
        "--entrypoint",
        "/isokit-service",
        image,
        "--version",
    ]);
    assert!(
        output.status.success(),
        "an entrypoint override of the image's own binary failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (index, shell) in ["/bin/sh", "sh"].into_iter().enumerate() {
        let container = sandbox.container_name(&format!("shell-{index}"));
        let output = docker(&[
            "run",
            "--name",
            &container,
            "--network",
            "none",
            "--entrypoint",
            shell,
            image,
            "-c",
            "true",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // 127: the command cannot be found, as opposed to the engine failing (125).
        assert_eq!(
            output.status.code(),
            Some(127),
            "`{shell}` should not exist in the image: {stderr}"
        );
        assert!(stderr.contains(shell), "{stderr}");
    }
}

/// Waits for the engine to report `wanted` from the image's HEALTHCHECK;
/// returns the container's health record.
fn wait_for_health(container: &str, wanted: &str) -> serde_json::Value {
    let within = Duration::from_secs(60);
    let deadline = Instant::now() + within;
    loop {
        let raw = docker_ok(
            &["inspect", "--format", "{{json .State.Health}}", container],
            &[],
        );
        let health: serde_json::Value = serde_json::from_str(&raw).expect("health JSON");
        if health["Status"] == wanted {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "the HEALTHCHECK did not report {wanted} within {within:?}: {raw}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn isolated_network_with_stand_in_endpoints() {
    require_engine();
    let mut sandbox = Sandbox::new();
    let image = sandbox.image();
    assert_runs_as_non_root(&image);
    assert_has_no_shell(&mut sandbox, &image);

    let vpc = sandbox.network("vpc");
    let outside = sandbox.network("outside");
    let subnet = docker_ok(
        &[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Subnet}}",
            &vpc,
        ],
        &[],
    );
    let ca = TestCa::new("isokit container test CA");

    for service in FARGATE_ENDPOINTS {
        sandbox.standin(&image, service, &vpc, &host(service), &ca);
    }
    let internet = sandbox.standin(&image, "internet", &outside, "internet.test", &ca);
    let internet_ip = docker_ok(
        &[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &internet,
        ],
        &[],
    );
    let probes = format!("internet.test:443,{internet_ip}:443");
    let ca_pem = ca.pem();
    let service = sandbox.container_name("service");
    docker_ok(
        &[
            "run",
            "--detach",
            "--name",
            &service,
            "--network",
            &vpc,
            "--dns",
            "127.0.0.1",
            "--read-only",
            // The Dockerfile's HEALTHCHECK, polled every second; failures
            // count only once it has passed, so the start period can be long.
            "--health-interval",
            "1s",
            "--health-start-period",
            "60s",
            "--env",
            &format!("ISOKIT_REGION={REGION}"),
            "--env",
            &format!("ISOKIT_ACCOUNT={ACCOUNT}"),
            "--env",
            &format!("ISOKIT_EGRESS_PROBES={probes}"),
            "--env",
            &format!("ISOKIT_VPC_CIDR={subnet}"),
            "--env",
            "ISOKIT_INTERVAL=1s",
            "--env",
            "ISOKIT_TIMEOUT=2s",
            "--env",
            "ISOKIT_CA_PEM",
            &image,
        ],
        &[("ISOKIT_CA_PEM", &ca_pem)],
    );

    // Every endpoint reachable through its alias, and no way out.
    let first = wait_for("the first round", Duration::from_secs(30), || {
        rounds(&service).into_iter().next()
    });
    assert!(
        first.healthy && first.reachable && first.isolated,
        "{first}"
    );
    assert_eq!(first.endpoints.len(), FARGATE_ENDPOINTS.len());
    for check in &first.endpoints {
        assert!(
            check
                .addresses
                .iter()
                .all(|ip| subnet_contains(&subnet, *ip)),
            "{check:#?}"
        );
    }
    assert_eq!(first.egress.len(), 2);
    // The name resolves nowhere on this network; the address has no route
    // (the engine drops the packets, as a VPC without a gateway does).
    assert_eq!(
        first.egress[0].outcome,
        EgressOutcome::Unresolved,
        "{first}"
    );
    assert!(
        matches!(
            first.egress[1].outcome,
            EgressOutcome::Timeout | EgressOutcome::Unreachable
        ),
        "{first}"
    );
    let (code, body) = healthcheck(&service);
    assert_eq!(code, Some(0), "{body}");
    assert!(body.contains("\"status\":\"healthy\""), "{body}");
    wait_for_health(&service, "healthy");

    // One endpoint goes away: /health turns 503 and the report names it.
    let logs_standin = format!("{}-logs", sandbox.prefix);
    docker_ok(&["rm", "--force", &logs_standin], &[]);
    let body = wait_for("/health to fail", Duration::from_secs(30), || {
        let (code, body) = healthcheck(&service);
        (code == Some(1)).then_some(body)
    });
    let health: isokit_report::Health = serde_json::from_str(body.trim()).expect("health JSON");
    assert_eq!(health.status, "unhealthy");
    assert_eq!(health.failing, ["logs"]);
    let record = wait_for_health(&service, "unhealthy");
    let last_probe = record["Log"]
        .as_array()
        .and_then(|log| log.last())
        .expect("the engine logs each probe");
    assert_eq!(last_probe["ExitCode"], 1, "{record}");
    assert!(
        last_probe["Output"]
            .as_str()
            .is_some_and(|output| output.contains("\"failing\":[\"logs\"]")),
        "{record}"
    );
    let last = rounds(&service).pop().expect("rounds were logged");
    let failing: Vec<&str> = last.failing().map(|check| check.service.as_str()).collect();
    assert_eq!(failing, ["logs"], "{last}");
    let logs_check = last.failing().next().expect("logs failed");
    assert!(
        logs_check
            .failure
            .as_ref()
            .is_some_and(|failure| failure.cause.contains(&host("logs"))),
        "{last}"
    );

    // An "internet" that is reachable from the VPC network: NOT ISOLATED,
    // on the port it serves and on one it refuses alike.
    sandbox.standin(&image, "leak", &vpc, "internet.test", &ca);
    let check = sandbox.container_name("check");
    let output = docker_with_env(
        &[
            "run",
            "--name",
            &check,
            "--network",
            &vpc,
            "--dns",
            "127.0.0.1",
            "--read-only",
            "--env",
            &format!("ISOKIT_REGION={REGION}"),
            "--env",
            &format!("ISOKIT_ACCOUNT={ACCOUNT}"),
            "--env",
            "ISOKIT_ENDPOINTS=ecr.api,s3",
            "--env",
            "ISOKIT_EGRESS_PROBES=internet.test:443,internet.test:80",
            "--env",
            &format!("ISOKIT_VPC_CIDR={subnet}"),
            "--env",
            "ISOKIT_TIMEOUT=2s",
            "--env",
            "ISOKIT_CA_PEM",
            &image,
            "check",
            "--output",
            "json",
        ],
        &[("ISOKIT_CA_PEM", &ca_pem)],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: LogLine = serde_json::from_slice(&output.stdout).expect("check prints a round line");
    let report = line.into_round().expect("a round");
    assert!(
        report.reachable && !report.isolated && !report.healthy,
        "{report}"
    );
    assert_eq!(
        report.egress[0].outcome,
        EgressOutcome::Connected,
        "{report}"
    );
    assert_eq!(report.egress[1].outcome, EgressOutcome::Refused, "{report}");
    assert!(report.egress[1].reachable, "{report}");
    assert_eq!(report.health().breaches.len(), 2, "{report}");
}

fn subnet_contains(subnet: &str, ip: std::net::IpAddr) -> bool {
    isokit_service::address::parse_cidr(subnet)
        .expect("the engine reports a CIDR")
        .contains(&ip)
}
