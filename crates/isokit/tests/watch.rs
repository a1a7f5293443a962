//! `isokit deploy` watching the service it deploys, through the real binary
//! against the local AWS, whose local ECS (scripts/local-ecs.py) runs the
//! tasks: a healthy service's tasks are seen starting and their in-task
//! reports read back; an image whose process exits, and a VPC without the
//! ecr.dkr endpoint, fail the deploy (exit 3) with the stopped task's
//! diagnosis. Each test deploys under names of its own and removes what it
//! made, also when an assertion fails.
//!
//! The local AWS's CloudFormation finishes creating a stack without waiting
//! for its service to be stable (AWS's waits), so here SAM returns before
//! the tasks run and the watch goes on after it; a creation is then never
//! in progress when a task fails, and the deploy says there is nothing to
//! cancel. The cancelling of an update is proven by isokit-deploy's and
//! isokit-aws's unit tests (moto has no CancelUpdateStack).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use isokit_testkit::{Isokit, Stage, aws_finds, repository_root, service_image};

/// What the bundled VPC stack creates, which each task's report checks.
use isokit_endpoints::DEFAULT_ENDPOINTS as ENDPOINTS;

/// The line the exiting fixture writes before it exits 1.
const LAST_WORDS: &str = "local-ecs-test: about to exit 1";

/// A stage of this test binary's.
fn stage(prefix: &str) -> Stage {
    Stage::new(prefix, Isokit::new(env!("CARGO_BIN_EXE_isokit")))
}

/// An image whose process writes [`LAST_WORDS`] and exits 1.
fn push_exiting(stage: &Stage) -> String {
    stage.push_busybox(&fixture("local-ecs/exits-1/Dockerfile"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The bundled templates, exported, with the VPC stack's ecr.dkr endpoint
/// taken out (its resource and its name in the `Endpoints` output), as a
/// user trimming endpoints would.
fn stacks_without_ecr_dkr(isokit: &Isokit) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("stacks folder");
    isokit
        .run([
            "stacks".as_ref(),
            "export".as_ref(),
            dir.path().as_os_str(),
            "--force".as_ref(),
        ])
        .assert_success();
    let path = dir.path().join("isolated-vpc.yml");
    let template = std::fs::read_to_string(&path).expect("the VPC template");
    let mut lines = template.lines().peekable();
    let mut kept = Vec::new();
    let mut removed = 0;
    while let Some(line) = lines.next() {
        if line == "  EcrDkrEndpoint:" {
            removed += 1;
            // Its body: every line until the next resource or comment.
            while lines
                .peek()
                .is_some_and(|next| next.is_empty() || next.starts_with("    "))
            {
                lines.next();
            }
            continue;
        }
        kept.push(line);
    }
    let trimmed = kept.join("\n").replace("ecr.api,ecr.dkr,s3", "ecr.api,s3");
    assert!(
        removed == 1 && !trimmed.contains("ecr.dkr"),
        "the bundled VPC template changed shape: update this test's edit of it"
    );
    std::fs::write(&path, trimmed + "\n").expect("write the VPC template");
    dir
}

#[test]
fn a_healthy_deploy_shows_its_tasks_start_and_reads_back_each_tasks_report() {
    let _standins = service_image();
    let stage = stage("watch-healthy");
    let image = stage.push(&repository_root());
    let run = stage.deploy(&image, &[]);
    run.assert_success();

    // The tasks as they start, on stderr.
    assert!(
        run.stderr
            .contains(&format!("watching service {} in cluster ", stage.name)),
        "{run:#?}"
    );
    // A task is seen pending first (`PENDING → RUNNING`) or, when it started
    // between two looks (every 2 s), first seen running (`RUNNING`).
    let started = run
        .stderr
        .lines()
        .filter(|line| {
            line.starts_with("task ")
                && (line.ends_with("→ RUNNING") || line.split(' ').nth(2) == Some("RUNNING"))
        })
        .count();
    assert_eq!(started, 2, "two tasks seen starting: {run:#?}");
    assert!(
        run.stderr.contains("COMPLETED: 2 of 2 tasks running"),
        "{run:#?}"
    );

    // Each task's report, as a table: every endpoint reached, isolated.
    assert!(
        run.stdout
            .contains(&format!("service {}: deployment ecs-svc/", stage.name))
            && run.stdout.contains("completed, 2 task(s) running"),
        "{run:#?}"
    );
    assert_eq!(
        run.stdout.matches("  isolation: isolated (").count(),
        2,
        "{run:#?}"
    );
    for endpoint in ENDPOINTS {
        let rows: Vec<&str> = run
            .stdout
            .lines()
            .filter(|line| line.split_whitespace().next() == Some(endpoint))
            .collect();
        assert_eq!(rows.len(), 2, "one {endpoint} row per task: {run:#?}");
        for row in rows {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells[cells.len() - 2..], ["ok", "ok"], "{row}");
        }
    }

    // The same again, for scripts: nothing changes, and the service's tasks
    // and reports are read from the stack's outputs (no event names the
    // service of a stack that did not change).
    let again = stage.deploy(&image, &["--output", "json"]);
    again.assert_success();
    let result = again.json();
    assert_eq!(result["changed"], false, "{result:#}");
    let vpc = result["outputs"]["VpcCidr"].as_str().expect("VpcCidr");
    let tasks = result["service"]["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "{result:#}");
    for task in tasks {
        assert_eq!(task["last_status"], "RUNNING", "{task:#}");
        assert_eq!(task["report"]["passes"], true, "{task:#}");
        let endpoints = task["report"]["report"]["endpoints"]
            .as_array()
            .expect("endpoints");
        assert_eq!(endpoints.len(), ENDPOINTS.len(), "{task:#}");
        for endpoint in endpoints {
            assert_eq!(endpoint["ok"], true, "{endpoint:#}");
            isokit_testkit::assert_answers_inside(endpoint, vpc);
        }
    }
    assert!(result["service"]["failure"].is_null(), "{result:#}");
}

#[test]
fn an_image_whose_process_exits_fails_the_deploy_naming_its_exit_code_and_last_lines() {
    let _standins = service_image();
    let stage = stage("watch-exits");
    let image = push_exiting(&stage);
    let started = Instant::now();
    let run = stage.deploy(&image, &[]);
    let took = started.elapsed();
    assert_eq!(run.code, Some(3), "a failing deployment exits 3: {run:#?}");
    assert!(
        took < Duration::from_secs(120),
        "the failure took {} s",
        took.as_secs()
    );

    // At once, on stderr: each stop as it happens, then the diagnosis.
    let headline = format!("essential container `{}` exited with code 1", stage.name);
    // (A task that starts and exits between two looks is first seen stopped.)
    let stops = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("task ") && line.ends_with(&format!("STOPPED: {headline}")))
        .count();
    assert!(stops >= 2, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "deployment failing: 2 tasks of the deployment stopped: {headline}"
        )),
        "{run:#?}"
    );
    // The result: the diagnosis in isokit's words and ECS's, the task's last
    // lines from its log stream, and where the stack is.
    for expected in [
        format!("FAILED: 2 tasks of the deployment stopped: {headline}"),
        "  help: Read the container's last log lines".to_owned(),
        "  ECS said: Essential container in task exited (EssentialContainerExited)".to_owned(),
        format!("    | {LAST_WORDS}"),
        format!(
            "stack: stack {0} had finished being created (CREATE_COMPLETE), so there is nothing \
             to cancel",
            stage.name
        ),
        format!("`isokit teardown --stack-name {}`", stage.name),
    ] {
        assert!(run.stdout.contains(&expected), "{expected:?}: {run:#?}");
    }
}

#[test]
fn without_fail_fast_the_deploy_waits_for_ecs_circuit_breaker() {
    let _standins = service_image();
    let stage = stage("watch-breaker");
    let image = push_exiting(&stage);
    let run = stage.deploy(&image, &["--no-fail-fast", "--output", "json"]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let failure = &run.json()["service"]["failure"];
    assert_eq!(failure["rule"], "circuit-breaker", "{failure:#}");
    assert!(
        failure["summary"]
            .as_str()
            .is_some_and(|summary| summary.contains("circuit breaker")),
        "{failure:#}"
    );
    assert_eq!(
        failure["stopped"]["diagnosis"]["cause"], "essential-container-exited",
        "{failure:#}"
    );
    assert_eq!(failure["stopped"]["log_tail"][0], LAST_WORDS, "{failure:#}");
    assert_eq!(
        failure["stack"]["action"], "nothing-to-cancel",
        "{failure:#}"
    );
    // The rule would have failed it at the second stop; ECS's waits for 3.
    let stops = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("task ") && line.contains("STOPPED: essential"))
        .count();
    assert!(stops >= 3, "{stops} stops: {run:#?}");
}

#[test]
fn a_vpc_without_ecr_dkr_is_refused_unless_accepted_and_then_fails_naming_the_endpoint() {
    let _standins = service_image();
    let stage = stage("watch-no-dkr");
    let image = stage.push(&repository_root());
    let stacks = stacks_without_ecr_dkr(&stage.isokit);
    let stacks_dir = stacks.path().to_str().expect("a text path");

    // The audit refuses it, and says how to deploy it anyway.
    let refused = stage.deploy(&image, &["--stacks-dir", stacks_dir]);
    refused.assert_error("needs the ecr.dkr endpoint (the image's manifest");
    refused.assert_error("--accept-missing-endpoint ecr.dkr");
    assert!(
        !aws_finds(
            "ValidationError",
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &stage.name
            ]
        ),
        "nothing was deployed: {refused:#?}"
    );

    // Accepted by name, it deploys; its tasks cannot pull the image.
    let run = stage.deploy(
        &image,
        &[
            "--stacks-dir",
            stacks_dir,
            "--accept-missing-endpoint",
            "ecr.dkr",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(
        run.stderr.contains("warning: accepted on request: "),
        "{run:#?}"
    );
    let failure = &run.json()["service"]["failure"];
    assert_eq!(failure["rule"], "start-failure", "{failure:#}");
    let diagnosis = &failure["stopped"]["diagnosis"];
    // In isokit's words: the endpoint, and the one to create.
    assert_eq!(diagnosis["endpoint"], "ecr.dkr", "{diagnosis:#}");
    assert!(
        diagnosis["headline"]
            .as_str()
            .is_some_and(|headline| headline.contains("(ecr.dkr)")),
        "{diagnosis:#}"
    );
    let region = stage
        .local
        .registry()
        .split('.')
        .nth(3)
        .expect("<account>.dkr.ecr.<region>.amazonaws.com")
        .to_owned();
    assert!(
        diagnosis["fix"]
            .as_str()
            .is_some_and(|fix| fix.contains(&format!("com.amazonaws.{region}.ecr.dkr"))),
        "{diagnosis:#}"
    );
    // In ECS's words: the registry the pull could not reach.
    let words = diagnosis["aws_message"].as_str().expect("ECS's words");
    assert!(
        words.starts_with("CannotPullContainerError: ")
            && words.contains(&format!("https://{}/v2/", stage.local.registry()))
            && words.ends_with("i/o timeout"),
        "{words}"
    );
    assert_eq!(
        failure["stopped"]["stop_code"], "TaskFailedToStart",
        "{failure:#}"
    );
}
