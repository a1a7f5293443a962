//! `isokit status` through the real binary against the local AWS, whose
//! local ECS (scripts/local-ecs.py) runs the deployed services' tasks: a
//! healthy service with each task's in-task report (exit 0), a service whose
//! tasks keep exiting with their diagnosis (exit 3), a stack that does not
//! exist (exit 1) and one that is not isokit's. Each test deploys under
//! names of its own and removes what it made, also when an assertion fails.

use std::path::Path;
use std::process::Command;

use isokit_testkit::{
    Isokit, LocalAws, Run, Stage, busybox_context, repository_root, service_image, unique_name,
};

/// The line the exiting fixture writes before it exits 1.
const LAST_WORDS: &str = "local-ecs-test: about to exit 1";

/// Pushes `context` and deploys it on a stage of its own; the stage and the
/// deploy's run, whatever its outcome.
fn deployed(prefix: &str, context: &Path) -> (Stage, Run) {
    let stage = Stage::new(prefix, Isokit::new(env!("CARGO_BIN_EXE_isokit")));
    let image = stage.push(context);
    let run = stage.deploy(&image, &[]);
    (stage, run)
}

fn status(stage: &Stage, extra: &[&str]) -> Run {
    let mut args = vec!["status", "--stack-name", &stage.name];
    args.extend_from_slice(extra);
    stage.isokit.run(args)
}

#[test]
fn a_healthy_service_shows_each_task_with_its_latest_report() {
    let _standins = service_image();
    let (deployed, deploy) = deployed("status-healthy", &repository_root());
    deploy.assert_success();

    let run = status(&deployed, &[]);
    run.assert_success();
    for expected in [
        format!("stack {}: CREATE_COMPLETE", deployed.name),
        format!("service {} in cluster ", deployed.name),
        "ACTIVE, 2 desired, 2 running, 0 pending".to_owned(),
        " PRIMARY COMPLETED: 2 of 2 running".to_owned(),
        "has reached a steady state.".to_owned(),
    ] {
        assert!(run.stdout.contains(&expected), "{expected:?}: {run:#?}");
    }
    let tasks = run
        .stdout
        .lines()
        .filter(|line| {
            line.starts_with("task ") && line.contains(" RUNNING, health HEALTHY, started ")
        })
        .count();
    assert_eq!(tasks, 2, "{run:#?}");
    assert_eq!(
        run.stdout.matches("  isolation: isolated (").count(),
        2,
        "{run:#?}"
    );
    assert!(run.stdout.trim_end().ends_with("\nHEALTHY"), "{run:#?}");

    let run = status(&deployed, &["--output", "json"]);
    run.assert_success();
    let status = run.json();
    assert_eq!(status["problems"], serde_json::json!([]), "{status:#}");
    assert_eq!(status["service"]["desired"], 2, "{status:#}");
    let tasks = status["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "{status:#}");
    for task in tasks {
        assert_eq!(task["health"], "HEALTHY", "{task:#}");
        assert_eq!(task["report"]["passes"], true, "{task:#}");
        assert!(task["report"]["age_seconds"].is_u64(), "{task:#}");
        assert!(
            task["report"]["report"]["round"].as_u64() >= Some(1),
            "{task:#}"
        );
    }
}

#[test]
fn a_service_whose_tasks_exit_is_unhealthy_with_their_diagnosis() {
    let _standins = service_image();
    let context = busybox_context(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/local-ecs/exits-1/Dockerfile"),
    );
    let (deployed, deploy) = deployed("status-exits", context.path());
    assert_eq!(deploy.code, Some(3), "the deploy fails: {deploy:#?}");

    let run = status(&deployed, &[]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let headline = format!("essential container `{}` exited with code 1", deployed.name);
    for expected in [
        "stopped at ".to_owned(),
        format!(": {headline}"),
        format!("    | {LAST_WORDS}"),
        "\nUNHEALTHY:\n".to_owned(),
        format!("stopped: {headline}"),
    ] {
        assert!(run.stdout.contains(&expected), "{expected:?}: {run:#?}");
    }

    let run = status(&deployed, &["--output", "json"]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let status = run.json();
    let stopped = status["stopped"].as_array().expect("stopped tasks");
    assert!(!stopped.is_empty(), "{status:#}");
    for task in stopped {
        assert_eq!(
            task["diagnosis"]["cause"], "essential-container-exited",
            "{task:#}"
        );
        assert_eq!(task["diagnosis"]["exit_code"], 1, "{task:#}");
        assert_eq!(task["log_tail"][0], LAST_WORDS, "{task:#}");
    }
    assert!(
        status["problems"]
            .as_array()
            .is_some_and(|problems| !problems.is_empty()),
        "{status:#}"
    );
}

#[test]
fn a_missing_stack_and_a_stack_not_isokits_are_named() {
    let local = LocalAws::require();
    let workdir = tempfile::tempdir().expect("working directory");
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit")).current_dir(workdir.path());

    let missing = unique_name("status-missing");
    let run = isokit.run(["status", "--stack-name", &missing]);
    run.assert_error(&format!("there is no stack {missing}"));
    assert_eq!(run.code, Some(1), "{run:#?}");

    // A stack of someone else's: a log group and no cluster or service.
    let foreign = unique_name("status-foreign");
    let template = format!(
        "file://{}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/logs/foreign-stack.yml")
            .display()
    );
    struct Remove<'a>(&'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = Command::new("aws")
                .args(["cloudformation", "delete-stack", "--stack-name", self.0])
                .output();
        }
    }
    let _remove = Remove(&foreign);
    local.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &foreign,
        "--template-body",
        &template,
        "--parameters",
        &format!("ParameterKey=ServiceName,ParameterValue={foreign}"),
    ]);
    let run = isokit.run(["status", "--stack-name", &foreign]);
    run.assert_error("has no output ClusterName, ServiceName");
    assert_eq!(run.code, Some(1), "{run:#?}");
}
