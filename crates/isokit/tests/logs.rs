//! `isokit logs` through the real binary, against the local AWS of
//! `scripts/local-aws` (moto). A deployment is stood in for by a small stack
//! made with the AWS CLI: a log group, and the outputs isokit's parent stack
//! gives (fixtures/logs/service-stack.yml). The service's lines are written
//! with the AWS CLI into streams named as the awslogs driver names them,
//! `<service>/<container>/<task ID>`: isokit-service's recorded start and
//! round lines (fixtures/logs/service.jsonl), and lines that are not JSON.
//! Each test works under names of its own and removes what it made.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isokit_testkit::{Isokit, LocalAws, Run, unique_name};

/// isokit-service's start line, a round with ecr.dkr failing at DNS, and a
/// healthy round, as it writes them.
const SERVICE_LINES: &str = include_str!("fixtures/logs/service.jsonl");

/// What isokit-service writes on stderr, which the awslogs driver sends
/// along with its JSON lines.
const PLAIN_LINE: &str =
    "isokit-service: warning: no task context: ECS_CONTAINER_METADATA_URI_V4 is not set";

const TASK_A: &str = "0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b";
const TASK_B: &str = "9c2d7e41b5a64f0c8d1e2f3a4b5c6d7e";
const TASK_C: &str = "5e6f7a8b9c0d4e1f8a2b3c4d5e6f7a8b";

/// How long a test waits for something `isokit logs --follow` should print.
const PATIENCE: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
        .to_str()
        .expect("the fixture path is text")
        .to_owned()
}

fn service_line(index: usize) -> &'static str {
    SERVICE_LINES.lines().nth(index).expect("fixture line")
}

/// Milliseconds since the epoch, `ago` before now: CloudWatch's time.
fn millis_ago(ago: Duration) -> i64 {
    let at = SystemTime::now() - ago;
    i64::try_from(
        at.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// A stack standing in for a deployment of service `name`, with its log
/// group; both removed when dropped.
struct Deployment {
    local: LocalAws,
    isokit: Isokit,
    name: String,
    log_group: String,
    streams: RefCell<HashSet<String>>,
    scratch: tempfile::TempDir,
}

impl Deployment {
    fn new(prefix: &str) -> Deployment {
        Deployment::from_template(prefix, "service-stack.yml")
    }

    fn from_template(prefix: &str, template: &str) -> Deployment {
        let local = LocalAws::require();
        let name = unique_name(prefix);
        local.aws(&[
            "cloudformation",
            "create-stack",
            "--stack-name",
            &name,
            "--template-body",
            &format!("file://{}", fixture(template)),
            "--parameters",
            &format!("ParameterKey=ServiceName,ParameterValue={name}"),
        ]);
        Deployment {
            isokit: Isokit::new(env!("CARGO_BIN_EXE_isokit")),
            log_group: format!("/isokit-test/{name}"),
            local,
            name,
            streams: RefCell::new(HashSet::new()),
            scratch: tempfile::tempdir().expect("scratch folder"),
        }
    }

    /// The stream the awslogs driver writes a task's container into.
    fn stream(&self, task: &str) -> String {
        format!("{0}/{0}/{task}", self.name)
    }

    /// Writes `lines` into `task`'s stream, each `ago` before now.
    fn write(&self, task: &str, lines: &[(Duration, &str)]) {
        self.write_stream(&self.stream(task), lines);
    }

    fn write_stream(&self, stream: &str, lines: &[(Duration, &str)]) {
        let stream = stream.to_owned();
        if self.streams.borrow_mut().insert(stream.clone()) {
            self.local.aws(&[
                "logs",
                "create-log-stream",
                "--log-group-name",
                &self.log_group,
                "--log-stream-name",
                &stream,
            ]);
        }
        let events: Vec<serde_json::Value> = lines
            .iter()
            .map(|(ago, message)| {
                serde_json::json!({"timestamp": millis_ago(*ago), "message": message})
            })
            .collect();
        let file = self.scratch.path().join(unique_name("events"));
        std::fs::write(&file, serde_json::to_vec(&events).expect("JSON")).expect("write events");
        self.local.aws(&[
            "logs",
            "put-log-events",
            "--log-group-name",
            &self.log_group,
            "--log-stream-name",
            &stream,
            "--log-events",
            &format!("file://{}", file.display()),
        ]);
    }

    /// `isokit logs --stack-name <this> <args>`.
    fn logs(&self, args: &[&str]) -> Run {
        let mut all = vec!["logs", "--stack-name", &self.name];
        all.extend_from_slice(args);
        self.isokit.run(all)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = Command::new("aws")
            .args(["cloudformation", "delete-stack", "--stack-name", &self.name])
            .output();
        // moto removes the group with the stack; this is for when it does not.
        let _ = Command::new("aws")
            .args([
                "logs",
                "delete-log-group",
                "--log-group-name",
                &self.log_group,
            ])
            .output();
    }
}

/// The lines of stdout, each without the time and task columns when it
/// came from `task`.
fn from_task<'a>(stdout: &'a str, task: &str) -> Vec<&'a str> {
    let column = format!(" {} ", &task[..8]);
    stdout
        .lines()
        .filter_map(|line| line.split_once(&column).map(|(_, rest)| rest))
        .collect()
}

#[test]
fn the_service_s_lines_read_as_one_line_each() {
    let deployment = Deployment::new("isokit-logs-text");
    deployment.write(
        TASK_A,
        &[
            (Duration::from_secs(180), service_line(0)),
            (Duration::from_secs(170), PLAIN_LINE),
            (Duration::from_secs(150), service_line(1)),
            (Duration::from_secs(120), service_line(2)),
        ],
    );
    let run = deployment.logs(&[]);
    run.assert_success();
    assert_eq!(
        from_task(&run.stdout, TASK_A),
        [
            "start isokit-service 0.1.0 on 0.0.0.0:8080: 3 endpoints and 2 egress probes every \
             30 s, 123456789012 in eu-west-1",
            PLAIN_LINE,
            "round 1 UNHEALTHY: 1 of 3 endpoints failing: ecr.dkr (dns); isolated",
            "round 2 HEALTHY: all 3 endpoints reachable; isolated",
        ],
        "{run:#?}"
    );
    for line in run.stdout.lines() {
        let (time, _) = line.split_once(' ').expect("a time column");
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "not an RFC 3339 UTC time: {line}"
        );
    }
    assert!(
        run.stderr.contains(&deployment.log_group),
        "progress names the group: {run:#?}"
    );
}

#[test]
fn json_output_is_one_object_per_event_with_the_message_parsed() {
    let deployment = Deployment::new("isokit-logs-json");
    deployment.write(
        TASK_A,
        &[
            (Duration::from_secs(60), PLAIN_LINE),
            (Duration::from_secs(30), service_line(1)),
        ],
    );
    let run = deployment.logs(&["--output", "json"]);
    run.assert_success();
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    assert_eq!(events.len(), 2, "{run:#?}");
    let stream = deployment.stream(TASK_A);
    for event in &events {
        assert_eq!(event["stream"], stream.as_str());
        assert_eq!(event["task"], TASK_A);
        let timestamp = event["timestamp"].as_str().expect("a timestamp");
        assert!(
            timestamp.len() == 24 && timestamp.ends_with('Z'),
            "RFC 3339 UTC with milliseconds: {timestamp}"
        );
    }
    assert_eq!(events[0]["message"], PLAIN_LINE, "text stays text");
    let round = &events[1]["message"];
    assert_eq!(round["event"], "round");
    assert_eq!(round["healthy"], false);
    assert_eq!(round["endpoints"][1]["failure"]["step"], "dns");
}

#[test]
fn since_and_task_choose_the_events() {
    let deployment = Deployment::new("isokit-logs-pick");
    deployment.write(
        TASK_A,
        &[
            (Duration::from_secs(30 * 60), "a: half an hour ago"),
            (Duration::from_secs(60), "a: a minute ago"),
        ],
    );
    deployment.write(TASK_B, &[(Duration::from_secs(50), "b: a minute ago")]);
    // Not the service's: another writer's stream in the same group.
    deployment.write_stream(
        &format!("other/{}/{TASK_C}", deployment.name),
        &[(Duration::from_secs(40), "c: someone else's")],
    );

    let recent = deployment.logs(&[]);
    recent.assert_success();
    assert_eq!(
        recent.stdout.lines().count(),
        2,
        "the service's only: {recent:#?}"
    );
    assert_eq!(
        from_task(&recent.stdout, TASK_A),
        ["a: a minute ago"],
        "{recent:#?}"
    );
    assert_eq!(
        from_task(&recent.stdout, TASK_B),
        ["b: a minute ago"],
        "{recent:#?}"
    );

    let hour = deployment.logs(&["--since", "60m"]);
    hour.assert_success();
    assert_eq!(
        from_task(&hour.stdout, TASK_A),
        ["a: half an hour ago", "a: a minute ago"],
        "{hour:#?}"
    );

    let task_a = deployment.logs(&["--since", "60m", "--task", TASK_A]);
    task_a.assert_success();
    assert_eq!(
        task_a.stdout.lines().count(),
        2,
        "only task A's events: {task_a:#?}"
    );
    assert!(from_task(&task_a.stdout, TASK_B).is_empty(), "{task_a:#?}");

    // The short ID printed in the second column, and the ARN, work too.
    let short_b = deployment.logs(&["--task", &TASK_B[..8]]);
    short_b.assert_success();
    assert_eq!(
        from_task(&short_b.stdout, TASK_B),
        ["b: a minute ago"],
        "{short_b:#?}"
    );
    assert!(
        from_task(&short_b.stdout, TASK_A).is_empty(),
        "{short_b:#?}"
    );
    let arn = format!(
        "arn:aws:ecs:{}:{}:task/{}-cluster/{TASK_B}",
        deployment.local.region, deployment.local.account, deployment.name
    );
    let by_arn = deployment.logs(&["--task", &arn]);
    by_arn.assert_success();
    assert_eq!(
        from_task(&by_arn.stdout, TASK_B),
        ["b: a minute ago"],
        "{by_arn:#?}"
    );

    let quiet_task = deployment.logs(&["--since", "10s", "--task", TASK_A]);
    quiet_task.assert_success();
    assert!(quiet_task.stdout.is_empty(), "{quiet_task:#?}");
    assert!(
        quiet_task.stderr.contains("wrote nothing in the last 10s"),
        "{quiet_task:#?}"
    );
}

#[test]
fn a_task_without_a_stream_is_named() {
    let deployment = Deployment::new("isokit-logs-nostream");
    let run = deployment.logs(&[]);
    run.assert_success();
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr.contains("has no log stream") && run.stderr.contains("--follow"),
        "says why nothing was printed: {run:#?}"
    );

    deployment.write(TASK_A, &[(Duration::from_secs(5), "a")]);
    let run = deployment.logs(&["--task", TASK_C]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    run.assert_error(&format!(
        "task {TASK_C} has no log stream in {}",
        deployment.log_group
    ));
    assert!(
        run.stderr.contains("isokit logs --follow --task"),
        "says how to wait for it: {run:#?}"
    );
}

#[test]
fn a_missing_stack_is_named_with_how_to_list_stacks() {
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let name = unique_name("isokit-logs-missing");
    let run = isokit.run(["logs", "--stack-name", &name]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    run.assert_error(&format!("there is no stack {name}"));
    assert!(
        run.stderr.contains("aws cloudformation describe-stacks"),
        "says how to list the stacks: {run:#?}"
    );
}

#[test]
fn a_stack_that_is_not_isokit_s_says_which_outputs_it_lacks() {
    let deployment = Deployment::from_template("isokit-logs-foreign", "foreign-stack.yml");
    let run = deployment.logs(&[]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    run.assert_error("has no output ClusterName, ServiceName");
    assert!(run.stderr.contains("--stack-name"), "{run:#?}");
}

#[test]
fn a_reader_that_goes_away_ends_it_quietly() {
    let deployment = Deployment::new("isokit-logs-pipe");
    // Far more than a pipe holds, so that writing must meet the closed pipe.
    let line = format!("{PLAIN_LINE} {}", "x".repeat(200));
    let lines: Vec<(Duration, &str)> = (0..3000u64)
        .map(|i| (Duration::from_millis(120_000 - i * 10), line.as_str()))
        .collect();
    deployment.write(TASK_A, &lines);
    let output = Command::new("bash")
        .args([
            "-c",
            r#"set -o pipefail; "$0" logs --stack-name "$1" | head -1"#,
            env!("CARGO_BIN_EXE_isokit"),
            &deployment.name,
        ])
        .env("HOME", deployment.isokit.home())
        .output()
        .expect("run bash");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "isokit logs | head -1 failed: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    assert!(!stderr.contains("error"), "{stderr}");
}

/// `isokit logs --follow`, with stdout and stderr read as they come.
struct Following {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    printed: Vec<String>,
    said: Vec<String>,
}

impl Following {
    fn start(deployment: &Deployment, args: &[&str]) -> Following {
        let mut all = vec!["logs", "--stack-name", &deployment.name, "--follow"];
        all.extend_from_slice(args);
        let mut child = deployment
            .isokit
            .command(all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start isokit logs --follow");
        let lines = |pipe: Box<dyn std::io::Read + Send>| {
            let (sender, receiver) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
            receiver
        };
        let stdout = lines(Box::new(child.stdout.take().expect("stdout")));
        let stderr = lines(Box::new(child.stderr.take().expect("stderr")));
        Following {
            child,
            stdout,
            stderr,
            printed: Vec::new(),
            said: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle`.
    fn prints(&mut self, needle: &str) {
        Following::wait(&self.stdout, &mut self.printed, needle, "stdout");
    }

    /// Waits for a stderr line containing `needle`.
    fn says(&mut self, needle: &str) {
        Following::wait(&self.stderr, &mut self.said, needle, "stderr");
    }

    fn wait(lines: &Receiver<String>, seen: &mut Vec<String>, needle: &str, what: &str) {
        if seen.iter().any(|line| line.contains(needle)) {
            return;
        }
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = lines.recv_timeout(left) else {
                break;
            };
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
        panic!("no {needle:?} on {what} within {PATIENCE:?}; it had: {seen:#?}");
    }

    /// Sends SIGTERM, waits for the exit; returns the exit code.
    fn terminate(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().expect("isokit stops");
        self.printed.extend(self.stdout.iter());
        self.said.extend(self.stderr.iter());
        (status.code(), self.printed.clone(), self.said.clone())
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn follow_prints_new_events_and_new_streams_until_sigterm() {
    let deployment = Deployment::new("isokit-logs-follow");
    deployment.write(TASK_A, &[(Duration::from_secs(20), service_line(1))]);
    let mut following = Following::start(&deployment, &[]);
    following.prints("round 1 UNHEALTHY");
    following.says("following");

    deployment.write(TASK_A, &[(Duration::ZERO, service_line(2))]);
    following.prints("round 2 HEALTHY");
    // Tasks' batches arrive out of step: this one is stamped before the
    // newest event already printed, and stored after it.
    deployment.write(TASK_B, &[(Duration::from_secs(10), "b: arrived late")]);
    following.prints("b: arrived late");
    // A task started after the follow began writes to a new stream.
    deployment.write(TASK_C, &[(Duration::ZERO, "c: started later")]);
    following.prints("c: started later");

    let (code, printed, said) = following.terminate();
    assert_eq!(
        code,
        Some(0),
        "stopping a follow is a normal end: {said:#?}"
    );
    assert_eq!(
        printed
            .iter()
            .filter(|line| line.contains("round "))
            .count(),
        2,
        "each event once, though polls read the recent ones again: {printed:#?}"
    );
    assert!(
        said.iter().any(|line| line.contains("stopped on SIGTERM")),
        "{said:#?}"
    );
    assert!(!said.iter().any(|line| line.contains("error")), "{said:#?}");
}

#[test]
fn follow_waits_for_a_task_s_first_lines() {
    let deployment = Deployment::new("isokit-logs-wait");
    deployment.write(TASK_A, &[(Duration::from_secs(5), "a: not this task")]);
    let mut following = Following::start(&deployment, &["--task", TASK_B]);
    following.says(&format!("task {TASK_B} has no log stream"));

    deployment.write(TASK_B, &[(Duration::ZERO, "b: first line")]);
    following.prints("b: first line");
    following.says("following");

    let (code, printed, said) = following.terminate();
    assert_eq!(code, Some(0), "{said:#?}");
    assert!(
        !printed.iter().any(|line| line.contains("not this task")),
        "{printed:#?}"
    );
}
