//! `isokit rehearse` through the binary, on the real engine: the service
//! image pulled from the local ECR with an SDK token, run on an internal
//! network beside TLS stand-ins for its endpoints, its report read back;
//! left-out endpoints, images that exit or stay silent, bad input, Ctrl-C.

use isokit_endpoints::DEFAULT_ENDPOINTS;
use std::path::Path;
use std::process::Command;

use isokit_testkit::{
    Isokit, LocalAws, Run, assert_answers_inside, repository_root, service_image, unique_name,
};

const LABEL: &str = "dev.isokit.rehearsal";

/// An ECR repository made for one test, deleted afterwards.
struct Repository<'a> {
    isokit: &'a Isokit,
    name: String,
}

impl Drop for Repository<'_> {
    fn drop(&mut self) {
        let _ = self.isokit.run([
            "teardown",
            "--stack-name",
            &unique_name("none"),
            "--delete-repo",
            &self.name,
            "--yes",
        ]);
    }
}

impl<'a> Repository<'a> {
    fn new(isokit: &'a Isokit) -> Repository<'a> {
        Repository {
            isokit,
            name: unique_name("isokit-rehearse"),
        }
    }

    /// Pushes the image of `context` (the repository root: the service) and
    /// returns its pinned URI.
    fn push(&self, context: &Path) -> String {
        let run = self.isokit.run([
            "push".as_ref(),
            "--context".as_ref(),
            context.as_os_str(),
            "--repo".as_ref(),
            self.name.as_ref(),
            "--output".as_ref(),
            "json".as_ref(),
        ]);
        run.assert_success();
        run.json()["image_uri"]
            .as_str()
            .expect("image_uri")
            .to_owned()
    }
}

fn rehearse(isokit: &Isokit, image: &str, extra: &[&str]) -> Run {
    let standin = service_image();
    let mut args = vec![
        "rehearse",
        "--image",
        image,
        "--standin-image",
        &standin,
        "--output",
        "json",
    ];
    // A stack that does not exist: the plan comes from the bundled templates.
    let stack = unique_name("no-such-stack");
    args.extend(["--stack-name", &stack]);
    args.extend(extra);
    isokit.run(args)
}

/// Containers and networks still labelled with this rehearsal's ID. A
/// docker that fails to list fails the test: it is not "nothing left".
fn leftovers(id: &str) -> Vec<String> {
    let filter = format!("label={LABEL}={id}");
    let mut found = Vec::new();
    for listing in [
        vec!["ps", "-aq", "--filter", &filter],
        vec!["network", "ls", "-q", "--filter", &filter],
    ] {
        let output = Command::new("docker")
            .args(&listing)
            .output()
            .expect("docker lists");
        assert!(
            output.status.success(),
            "docker {listing:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        found.extend(
            String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
    }
    found
}

/// Panics unless every container and network of the rehearsal is gone.
fn assert_nothing_left(rehearsal: &serde_json::Value) {
    let id = rehearsal["id"].as_str().expect("the rehearsal's id");
    assert_eq!(
        leftovers(id),
        Vec::<String>::new(),
        "rehearsal {id} left these behind"
    );
}

/// A build context with a static busybox as its only program, started as
/// `busybox <args>`: an image that is not isokit-service.
fn busybox_context(args: &[&str]) -> tempfile::TempDir {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "these tests need a static busybox: apt-get install busybox-static (scripts/test does)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(busybox, dir.path().join("busybox")).expect("copy busybox");
    let entrypoint: Vec<String> = std::iter::once("/busybox")
        .chain(args.iter().copied())
        .map(|a| format!("{a:?}"))
        .collect();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /busybox\nENTRYPOINT [{}]\n",
            entrypoint.join(", ")
        ),
    )
    .expect("write Dockerfile");
    dir
}

/// The host's own address on the engine's default bridge (`docker0`), as
/// the host's network stack holds it.
fn host_bridge_gateway() -> Option<String> {
    let output = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .expect("ip lists the bridge's addresses");
    assert!(
        output.status.success(),
        "ip addr show docker0: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // `4: docker0    inet 172.17.0.1/16 brd … scope global docker0`
    let listing = String::from_utf8_lossy(&output.stdout);
    let mut words = listing.split_whitespace();
    words.find(|word| *word == "inet")?;
    words.next()?.split('/').next().map(str::to_owned)
}

/// The last output lines of a rehearsal's task that exited.
fn task_output(rehearsal: &serde_json::Value) -> Vec<String> {
    let task = &rehearsal["task"];
    assert_eq!(task["state"], "exited", "{task:#}");
    task["last_output"]
        .as_array()
        .expect("last_output")
        .iter()
        .filter_map(|line| line.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_service_rehearses_green_on_the_bundled_plan_and_leaves_nothing() {
    let local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let image = repository.push(&repository_root());

    let run = rehearse(&isokit, &image, &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let rehearsal = run.json();
    assert_eq!(rehearsal["plan"]["source"]["kind"], "bundled");
    assert_eq!(rehearsal["plan"]["subnet"], "10.0.128.0/18");
    assert_eq!(
        rehearsal["environment"]["ISOKIT_ENDPOINTS"],
        DEFAULT_ENDPOINTS.join(",")
    );
    assert_eq!(
        rehearsal["environment"]["ISOKIT_ACCOUNT"],
        local.account.as_str()
    );
    let report = &rehearsal["report"];
    assert_eq!(
        (&report["healthy"], &report["isolated"]),
        (&true.into(), &true.into()),
        "{report:#}"
    );
    for endpoint in report["endpoints"].as_array().expect("endpoints") {
        let steps: Vec<&str> = endpoint["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["step"].as_str())
            .collect();
        assert_eq!(
            steps,
            ["dns", "tcp", "tls"],
            "every step ran for {}",
            endpoint["service"]
        );
        assert_answers_inside(endpoint, "10.0.128.0/18");
    }
    let egress = report["egress"].as_array().expect("egress");
    assert!(
        !egress.is_empty() && egress.iter().all(|probe| probe["reachable"] == false),
        "{report:#}"
    );
    // The host, at the gateway of the task's network and at the engine's
    // bridge, is among what the task tried and failed to reach.
    let targets: Vec<&str> = egress.iter().filter_map(|p| p["target"].as_str()).collect();
    let mut host_addresses = vec!["10.0.128.1:443".to_owned()];
    host_addresses.extend(host_bridge_gateway().map(|gateway| format!("{gateway}:443")));
    for address in &host_addresses {
        assert!(
            targets.contains(&address.as_str()),
            "{address} probed: {targets:?}"
        );
    }
    assert_nothing_left(&rehearsal);
    local.assert_no_token("stderr", &run.stderr);
    local.assert_home_holds_only_the_layer_cache(&isokit, &run);
}

#[test]
fn left_out_endpoints_fail_as_they_would_in_a_vpc_without_them() {
    let _local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let image = repository.push(&repository_root());

    let run = rehearse(
        &isokit,
        &image,
        &["--without", "ecr.dkr", "--without", "s3"],
    );
    assert_eq!(
        run.code,
        Some(3),
        "a rehearsal that finds problems exits 3: {run:#?}"
    );
    let rehearsal = run.json();
    let report = &rehearsal["report"];
    let failure = |service: &str| {
        report["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .find(|e| e["service"] == service)
            .map(|e| e["failure"].clone())
            .expect("the endpoint is reported")
    };
    let ecr = failure("ecr.dkr");
    assert_eq!(ecr["step"], "dns");
    assert!(
        ecr["cause"].as_str().is_some_and(
            |c| c.contains("public address") && c.contains("interface endpoint is missing")
        ),
        "{ecr:#}"
    );
    let s3 = failure("s3");
    assert_eq!(s3["step"], "tcp");
    assert!(
        s3["fix"]
            .as_str()
            .is_some_and(|f| f.contains("gateway endpoint")),
        "{s3:#}"
    );
    let failing = report["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["ok"] == false)
        .count();
    assert_eq!(failing, 2, "only the left-out endpoints fail: {report:#}");
    assert!(
        run.stderr.contains("leaving out the ecr.dkr stand-in"),
        "{run:#?}"
    );
    assert_nothing_left(&rehearsal);
}

/// The task runs as the task definition runs it on ECS: as its user, on a
/// read-only root filesystem, with its volumes (`/tmp`) writable.
#[test]
fn the_task_runs_as_its_task_definition_says() {
    let _local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let script = "/busybox id -u; /busybox id -g; \
                  /busybox touch /tmp/probe && echo tmp-writable; \
                  /busybox touch /probe 2>/dev/null || echo root-read-only; \
                  /busybox grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; \
                  /busybox cat /sys/fs/cgroup/memory.max 2>/dev/null || \
                  /busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  /busybox cat /sys/fs/cgroup/cpu.max 2>/dev/null || \
                  echo \"$(/busybox cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(/busybox cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)\"; \
                  exit 7";
    let probe = busybox_context(&["sh", "-c", script]);
    let image = repository.push(probe.path());
    let run = rehearse(&isokit, &image, &[]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let rehearsal = run.json();
    let container = &rehearsal["plan"]["container"];
    assert_eq!(container["user"], "65532:65532", "{container:#}");
    let task = &rehearsal["task"];
    assert_eq!(
        (&task["state"], &task["code"]),
        (&"exited".into(), &7.into()),
        "{task:#}"
    );
    let output: Vec<&str> = task["last_output"]
        .as_array()
        .expect("last_output")
        .iter()
        .filter_map(|line| line.as_str())
        .collect();
    // As Fargate confines it, and no looser: the task definition drops
    // every capability, nothing can gain one, and the task's 256 CPU units
    // and 512 MiB are hard limits.
    assert_eq!(
        output,
        [
            "65532",
            "65532",
            "tmp-writable",
            "root-read-only",
            "CapEff:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "NoNewPrivs:\t1",
            "536870912",
            "25000 100000",
        ],
        "{task:#}"
    );
    assert_eq!(
        (&container["cpu_units"], &container["memory_mib"]),
        (&256.into(), &512.into())
    );
    assert_nothing_left(&rehearsal);
}

/// An internal network alone leaves the host reachable at its gateway
/// address, where whatever the host serves on every address (a proxy, say)
/// answers: a way out. The rehearsal's networks give the host no address.
#[test]
fn the_task_cannot_reach_the_host_that_serves_on_every_address() {
    let _local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let server = std::net::TcpListener::bind("0.0.0.0:0").expect("listen on every address");
    server.set_nonblocking(true).expect("non-blocking");
    let port = server.local_addr().expect("address").port();
    let mut hosts = vec!["$(/busybox ip route | /busybox awk '/^default/ {print $3}')".to_owned()];
    hosts.extend(host_bridge_gateway());
    let script: String = hosts
        .iter()
        .map(|host| {
            format!(
                "h={host}; if /busybox nc -w 3 $h {port} -e /busybox true; then echo reached $h; \
                 else echo blocked $h; fi; "
            )
        })
        .collect();
    let probe = busybox_context(&["sh", "-c", &format!("{script}exit 9")]);
    let image = repository.push(probe.path());
    let run = rehearse(&isokit, &image, &[]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let rehearsal = run.json();
    let output = task_output(&rehearsal);
    let verdicts: Vec<&String> = output
        .iter()
        .filter(|line| line.starts_with("blocked ") || line.starts_with("reached "))
        .collect();
    assert_eq!(verdicts.len(), hosts.len(), "{output:?}");
    assert!(
        verdicts.iter().all(|line| line.starts_with("blocked ")),
        "the task reached the host: {output:?}"
    );
    assert!(
        output.iter().any(|line| line == "blocked 10.0.128.1"),
        "the gateway of the task's network was tried: {output:?}"
    );
    assert!(
        matches!(server.accept(), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the host's server accepted a connection from the task"
    );
    assert_nothing_left(&rehearsal);
}

#[test]
fn images_that_exit_or_never_report_are_described() {
    let _local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);

    let exits = busybox_context(&["false"]);
    let image = repository.push(exits.path());
    let run = rehearse(&isokit, &image, &[]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let task = &run.json()["task"];
    assert_eq!(
        (&task["state"], &task["code"]),
        (&"exited".into(), &1.into()),
        "{task:#}"
    );

    let silent = busybox_context(&["sleep", "600"]);
    let image = repository.push(silent.path());
    let run = rehearse(&isokit, &image, &["--timeout", "3s"]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let rehearsal = run.json();
    assert_eq!(rehearsal["task"]["state"], "silent");
    assert_nothing_left(&rehearsal);
}

/// Starts a rehearsal of a task that never reports, and reads its stderr
/// up to the first line that is `ready`; returns it running, with the
/// rehearsal's ID.
fn start_rehearsal(
    isokit: &Isokit,
    image: &str,
    ready: impl Fn(&str) -> bool,
) -> (isokit_testkit::Running, String) {
    let standin = service_image();
    let no_such_stack = unique_name("no-such-stack");
    let mut running = isokit.spawn([
        "rehearse",
        "--image",
        image,
        "--standin-image",
        &standin,
        "--timeout",
        "300s",
        "--stack-name",
        &no_such_stack,
    ]);
    let seen = running.stderr_until(|line| line.starts_with("creating network "));
    let id = seen
        .lines()
        .find_map(|line| line.strip_prefix("creating network "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|vpc| vpc.strip_suffix("-vpc"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no network was announced:\n{seen}"));
    if !ready(&seen) {
        let more = running.stderr_until(&ready);
        assert!(ready(&more), "never ready:\n{seen}{more}");
    }
    (running, id)
}

/// SIGINT, SIGTERM and SIGHUP alike, whether they come while the networks
/// and stand-ins are being made or while the task runs: everything the
/// rehearsal made is removed, and it says so.
#[test]
fn every_stop_signal_removes_everything_the_rehearsal_made() {
    let local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let silent = busybox_context(&["sleep", "600"]);
    let image = repository.push(silent.path());

    // Each signal, either while the networks and stand-ins are being made
    // (right after "creating network") or once the task runs.
    let cases = [
        ("TERM", false),
        ("INT", false),
        ("HUP", true),
        ("INT", true),
    ];
    for (signal, once_the_task_runs) in cases {
        let (running, id) = start_rehearsal(&isokit, &image, |line| {
            !once_the_task_runs || line.contains("starting the task")
        });
        let (status, rest) = running.signal(signal);
        assert!(
            !status.success(),
            "an interrupted rehearsal fails ({signal})"
        );
        assert!(
            rest.contains(&format!("interrupted by SIG{signal}")) && rest.contains("were removed"),
            "SIG{signal}: {rest}"
        );
        assert_eq!(
            leftovers(&id),
            Vec::<String>::new(),
            "SIG{signal}: everything is removed"
        );
        local.assert_no_token("stderr", &rest);
    }
}

/// A rehearsal killed outright (SIGKILL: nothing can clean up) leaves its
/// containers and networks; the next rehearsal removes them, so that the
/// subnet they hold never makes it wait and fail.
#[test]
fn the_next_rehearsal_removes_what_a_killed_one_left() {
    let _local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let silent = busybox_context(&["sleep", "600"]);
    let image = repository.push(silent.path());

    let (running, killed) =
        start_rehearsal(&isokit, &image, |line| line.contains("starting the task"));
    let pid = running.id();
    let (status, _) = running.signal("KILL");
    assert!(!status.success());
    assert!(
        !leftovers(&killed).is_empty(),
        "a killed rehearsal leaves its work"
    );

    let run = rehearse(&isokit, &image, &["--timeout", "2s"]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "left by a rehearsal whose process ({pid}) is gone"
        )),
        "{run:#?}"
    );
    assert_eq!(leftovers(&killed), Vec::<String>::new());
    assert_nothing_left(&run.json());
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let local = LocalAws::require();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let repository = Repository::new(&isokit);
    let image = repository.push(&repository_root());

    rehearse(&isokit, &image, &["--without", "ecr.dkrr"])
        .assert_error("it has: ecr.api, ecr.dkr, s3");
    // Malformed values are usage errors, refused by the argument parser.
    let malformed = rehearse(&isokit, &image, &["--without", "Not An Endpoint"]);
    malformed.assert_error("is not an endpoint service name");
    assert_eq!(malformed.code, Some(2), "{malformed:#?}");
    let malformed = rehearse(&isokit, &image, &["--timeout", "soon"]);
    malformed.assert_error("`soon` is not a duration");
    assert_eq!(malformed.code, Some(2), "{malformed:#?}");
    for subnet in ["10.0.0.0/31", "fd00::/64", "ten"] {
        let malformed = rehearse(&isokit, &image, &["--subnet", subnet]);
        malformed.assert_error(&format!(
            "the subnet {subnet} is not an IPv4 CIDR with room for containers"
        ));
        assert_eq!(malformed.code, Some(2), "{malformed:#?}");
    }
    rehearse(&isokit, "docker.io/library/busybox:1", &[])
        .assert_error("is not an ECR image reference");
    // The image's region is the one the task would run in, as deploy checks.
    let elsewhere = if local.region == "eu-west-1" {
        "us-west-2"
    } else {
        "eu-west-1"
    };
    rehearse(&isokit, &image, &["--region", elsewhere]).assert_error(&format!(
        "the image is in ECR in {}, but the task would run in {elsewhere}",
        local.region
    ));
    let missing = image
        .split('@')
        .next()
        .map(|repo| format!("{repo}:no-such-tag"))
        .expect("uri");
    rehearse(&isokit, &missing, &[]).assert_error("not in ECR repository");
    let run = isokit.run([
        "rehearse",
        "--image",
        &image,
        "--standin-image",
        "isokit-missing:0",
        "--stack-name",
        &unique_name("none"),
    ]);
    run.assert_error("the stand-in image isokit-missing:0 is not in the Docker engine");
}
