//! The SAM runner driving the real SAM CLI: its output streamed and kept,
//! its exit status deciding, and a missing stack read as such. SAM comes from
//! the local AWS (`scripts/local-aws`), whose environment also keeps SAM's
//! telemetry and version check from leaving the machine.

use isokit_stacks::{
    Artifacts, AwsTarget, DeleteOptions, DeleteOutcome, DeployOptions, Error, ParameterValues, Sam,
};
use isokit_ui::Ui;

/// The SAM CLI of the local AWS and its region (the rest of the settings
/// come from the environment), or a failure that says how to get them.
fn local_sam() -> (Sam, AwsTarget) {
    if std::env::var_os("ISOKIT_LOCAL_AWS").is_none() {
        panic!(
            "these tests run the SAM CLI of the local AWS: start it with `scripts/local-aws up`, then \
             `eval \"$(scripts/local-aws env)\"` in the shell that runs cargo test"
        );
    }
    let region = std::env::var("AWS_REGION").expect("scripts/local-aws env sets AWS_REGION");
    (
        Sam::locate(None).expect("scripts/local-aws env puts sam on PATH"),
        AwsTarget {
            region,
            profile: None,
            endpoint_url: None,
            ca_bundle: None,
        },
    )
}

#[tokio::test]
async fn a_failing_sam_fails_the_run_and_keeps_its_last_lines() {
    let (sam, target) = local_sam();
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = DeployOptions {
        template_file: dir.path().join("parent.yml"),
        stack_name: "isokit-stacks-runner-test".into(),
        parameters: ParameterValues::new().with("ImageUri", "unused"),
        artifacts: Artifacts::Bucket("unused".into()),
        target,
    };
    let error = sam
        .deploy(&options, &Ui::quiet())
        .await
        .expect_err("there is no template to deploy");
    let Error::SamFailed {
        command,
        status,
        failure,
        error_line,
        tail,
    } = &error
    else {
        panic!("expected SamFailed, got {error:?}");
    };
    assert_eq!((*command, status.as_str()), ("deploy", "exit status 1"));
    assert!(
        failure.is_none(),
        "no stack event can have failed: {failure:?}"
    );
    assert!(
        tail.0
            .iter()
            .any(|line| line.contains("Template file not found")),
        "{tail}"
    );
    assert!(
        error_line
            .as_deref()
            .is_some_and(|line| line.contains("Template file not found")),
        "SAM's error line heads the message: {error}"
    );
}

#[tokio::test]
async fn deleting_a_stack_that_does_not_exist_is_not_an_error() {
    let (sam, target) = local_sam();
    let options = DeleteOptions {
        stack_name: format!("isokit-stacks-absent-{}", std::process::id()),
        target,
    };
    let outcome = sam
        .delete(&options, &Ui::quiet())
        .await
        .expect("sam delete succeeds");
    assert_eq!(outcome, DeleteOutcome::NotFound);
}
