//! The SAM runner driving the real SAM CLI: its output kept, its exit
//! status deciding, a missing stack no failure to delete, parameter values
//! reaching CloudFormation exactly as given, and SAM's process group gone
//! with the call that started it. SAM comes from the local AWS
//! (`scripts/local-aws`), whose environment also keeps SAM's telemetry and
//! version check from leaving the machine; what SAM deployed is read back
//! with the AWS CLI, a standard client.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use isokit_aws::{Aws, AwsSettings};
use isokit_deploy::Error;
use isokit_deploy::sam::{Artifacts, DeleteOptions, DeployOptions, Sam};
use isokit_stacks::ParameterValues;
use isokit_testkit::processes;
use isokit_ui::{StopSignals, Ui};

/// The SAM CLI of the local AWS and its region (the rest of the settings
/// come from the environment), or a failure that says how to get them.
async fn local_sam() -> (Sam, Aws) {
    if std::env::var_os("ISOKIT_LOCAL_AWS").is_none() {
        panic!(
            "these tests run the SAM CLI of the local AWS: start it with `scripts/local-aws up`, then \
             `eval \"$(scripts/local-aws env)\"` in the shell that runs cargo test"
        );
    }
    let region = std::env::var("AWS_REGION").expect("scripts/local-aws env sets AWS_REGION");
    (
        Sam::locate(None).expect("scripts/local-aws env puts sam on PATH"),
        in_region(&region).await,
    )
}

/// isokit's settings with only a region given: the rest comes from the
/// environment, as for a user.
async fn in_region(region: &str) -> Aws {
    Aws::load(&AwsSettings {
        region: Some(region.to_owned()),
        ..AwsSettings::default()
    })
    .await
    .expect("settings with a region")
}

fn listen() -> StopSignals {
    StopSignals::listen().expect("listen for stop signals")
}

#[tokio::test]
async fn a_failing_sam_fails_the_run_and_keeps_its_last_lines() {
    let (sam, target) = local_sam().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = DeployOptions {
        template_file: dir.path().join("parent.yml"),
        stack_name: "isokit-stacks-runner-test".into(),
        parameters: ParameterValues::new().with("ImageUri", "unused"),
        artifacts: Artifacts::Bucket("unused".into()),
        execute: true,
        aws: target,
    };
    let error = sam
        .run(&options, &Ui::quiet(), &mut listen())
        .await
        .expect_err("there is no template to deploy");
    let Error::SamFailed {
        command,
        status,
        error_line,
        tail,
    } = &error
    else {
        panic!("expected SamFailed, got {error:?}");
    };
    assert_eq!((*command, status.as_str()), ("deploy", "exit status 1"));
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
    let (sam, target) = local_sam().await;
    let options = DeleteOptions {
        stack_name: format!("isokit-stacks-absent-{}", std::process::id()),
        aws: target,
    };
    sam.run(&options, &Ui::quiet(), &mut listen())
        .await
        .expect("sam delete succeeds: isokit's teardown relies on it when the stack goes first");
}

/// Runs the AWS CLI of the local AWS; its JSON answer.
fn aws(args: &[&str]) -> serde_json::Value {
    let output = Command::new("aws")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run the AWS CLI");
    assert!(
        output.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// A stack and its artifacts bucket, named after the test and the process,
/// removed when dropped (best effort, so that it never hides a failure).
struct Sandbox {
    stack: String,
    bucket: String,
    template: tempfile::TempDir,
}

impl Sandbox {
    /// A template with String `parameters` and one resource that creates
    /// nothing.
    fn new(prefix: &str, parameters: &[String]) -> Sandbox {
        let stack = format!("isokit-stacks-{prefix}-{}", std::process::id());
        let bucket = format!("{stack}-artifacts");
        aws(&["s3api", "create-bucket", "--bucket", &bucket]);
        let template = tempfile::tempdir().expect("template folder");
        let mut text = String::from("Parameters:\n");
        for name in parameters {
            text.push_str(&format!("  {name}: {{Type: String}}\n"));
        }
        text.push_str("Resources:\n  Nothing: {Type: AWS::CloudFormation::WaitConditionHandle}\n");
        std::fs::write(template.path().join("template.yml"), text).expect("write template");
        Sandbox {
            stack,
            bucket,
            template,
        }
    }

    fn options(&self, target: Aws, parameters: ParameterValues) -> DeployOptions {
        DeployOptions {
            template_file: self.template.path().join("template.yml"),
            stack_name: self.stack.clone(),
            parameters,
            artifacts: Artifacts::Bucket(self.bucket.clone()),
            execute: true,
            aws: target,
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let quietly = |args: &[&str]| Command::new("aws").args(args).output();
        let _ = quietly(&[
            "cloudformation",
            "delete-stack",
            "--stack-name",
            &self.stack,
        ]);
        let _ = quietly(&["s3", "rb", &format!("s3://{}", self.bucket), "--force"]);
    }
}

/// Values SAM's own parser would read differently if passed as they are:
/// quotes, backslashes (before quotes, spaces, the end), spaces at the
/// ends, `=` and commas, one that looks like a second parameter, TOML's
/// own syntax, a line break.
const AWKWARD_VALUES: [&str; 20] = [
    "plain",
    "two words",
    "  padded  ",
    r#"say "hi""#,
    "it's",
    r"C:\dir\file",
    r#"a\"b"#,
    r"odd\'single",
    r"even\\'single",
    r"a\ b",
    r"trailing\\",
    "a=b,c=d",
    "x ParameterKey=Other,ParameterValue=hijack",
    "Other=hijack",
    "# no comment ] [table]",
    "line one\nline two",
    "tab\there",
    "ünïcødé ✓",
    "$HOME `id` ${X} %s",
    "",
];

#[tokio::test]
async fn parameter_values_reach_cloudformation_exactly_as_given() {
    let (sam, target) = local_sam().await;
    let names: Vec<String> = (0..AWKWARD_VALUES.len())
        .map(|index| format!("Value{index}"))
        .chain(["Other".to_owned()])
        .collect();
    let sandbox = Sandbox::new("values", &names);
    let mut parameters: ParameterValues = names
        .iter()
        .zip(AWKWARD_VALUES)
        .map(|(name, value)| (name.clone(), value))
        .collect();
    parameters.set("Other", "unchanged");
    sam.run(
        &sandbox.options(target, parameters.clone()),
        &Ui::quiet(),
        &mut listen(),
    )
    .await
    .expect("sam deploy succeeds");

    let described = aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &sandbox.stack,
    ]);
    let deployed: BTreeMap<String, String> = described["Stacks"][0]["Parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("no parameters: {described}"))
        .iter()
        .map(|parameter| {
            let text = |field: &str| parameter[field].as_str().expect(field).to_owned();
            (text("ParameterKey"), text("ParameterValue"))
        })
        .collect();
    let expected: BTreeMap<String, String> = parameters
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    assert_eq!(deployed, expected);
}

/// A SAM whose deployment is abandoned (its future dropped, as when an
/// error elsewhere ends the task) is killed with its whole process group,
/// helpers included, and the file holding the parameter values is removed.
/// The real SAM dies of a closed pipe the next time it writes, so this
/// stand-in, which starts a helper and then stays silent, is what shows
/// that isokit kills the group rather than waiting for that.
#[tokio::test]
async fn dropping_a_running_deploy_kills_sams_whole_process_group() {
    let folder = tempfile::tempdir().expect("stand-in folder");
    let program = folder.path().join("silent-sam");
    std::fs::write(&program, "#!/bin/sh\nsleep 300 &\nsleep 300\n").expect("write stand-in");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sam = Sam::locate(Some(&program)).expect("the stand-in is executable");
    let options = DeployOptions {
        template_file: folder.path().join("parent.yml"),
        stack_name: "isokit-stacks-abandoned".into(),
        parameters: ParameterValues::new().with("Token", "canary"),
        artifacts: Artifacts::ResolveS3,
        execute: true,
        aws: in_region("us-east-1").await,
    };
    let ui = Ui::quiet();
    let mut signals = listen();
    let mut deploy = Box::pin(sam.run(&options, &ui, &mut signals));
    let started = std::time::Instant::now();
    let (leader, helpers) = loop {
        tokio::select! {
            finished = &mut deploy => panic!("the deploy ended before it could be abandoned: {finished:?}"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let all = processes::processes();
        let leader = all.iter().find(|process| {
            i32::try_from(std::process::id()) == Ok(process.parent)
                && process.pid == process.group
                && process
                    .command_line
                    .iter()
                    .any(|argument| Path::new(argument) == program)
        });
        if let Some(leader) = leader {
            let helpers = all
                .iter()
                .filter(|process| process.group == leader.group && process.pid != leader.pid)
                .count();
            if helpers > 0 {
                break (leader.clone(), helpers);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stand-in never started its helper"
        );
    };
    let config = leader
        .command_line
        .iter()
        .skip_while(|argument| *argument != "--config-file")
        .nth(1)
        .expect("the config file's path")
        .clone();
    assert!(Path::new(&config).is_file(), "{leader:?}");

    drop(deploy);
    let left = processes::wait_until_gone(leader.group, Duration::from_secs(5));
    assert!(
        left.is_empty(),
        "SAM or its {helpers} helper(s) outlived the deploy: {left:?}"
    );
    assert!(
        !Path::new(&config).exists(),
        "the config file holding the values outlived the deploy"
    );
}
