//! The whole of isokit, as a user runs it against AWS, against the local
//! AWS: push the service image, deploy it, rehearse the task (all green),
//! rehearse without ecr.dkr (named, with the fix), tear it all down. Every
//! step is read from `--output json`.

use isokit_endpoints::DEFAULT_ENDPOINTS;
use isokit_testkit::{
    Isokit, LocalAws, Run, assert_answers_inside, repository_root, service_image, unique_name,
};

/// Removes what the flow made, also when an assertion fails midway.
struct Cleanup<'a> {
    isokit: &'a Isokit,
    stack: String,
    bucket: String,
    repository: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        // Already gone is the normal case when the test passed.
        let _ = self.isokit.run([
            "teardown",
            "--stack-name",
            &self.stack,
            "--delete-repo",
            &self.repository,
            "--yes",
        ]);
        let _ = std::process::Command::new("aws")
            .args(["s3", "rb", &format!("s3://{}", self.bucket), "--force"])
            .output();
    }
}

#[test]
fn push_deploy_rehearse_and_teardown_from_one_image() {
    let local = LocalAws::require();
    let standin_image = service_image();
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let cleanup = Cleanup {
        isokit: &isokit,
        stack: unique_name("isokit-e2e"),
        bucket: unique_name("isokit-e2e-artifacts"),
        repository: unique_name("isokit-e2e"),
    };
    let mut outputs: Vec<Run> = Vec::new();
    let mut step = |args: &[&str]| -> Run {
        let run = isokit.run(args.iter().copied().chain(["--output", "json"]));
        outputs.push(Run {
            code: run.code,
            stdout: run.stdout.clone(),
            stderr: run.stderr.clone(),
        });
        run
    };

    // Push the service image built from the repository's own Dockerfile.
    let root = repository_root();
    let context = root.to_string_lossy();
    let pushed = step(&["push", "--context", &context, "--repo", &cleanup.repository]);
    pushed.assert_success();
    let pushed = pushed.json();
    let digest = pushed["digest"].as_str().expect("digest").to_owned();
    let tag = pushed["tag"].as_str().expect("tag");
    assert_eq!(
        local.registry_digest(&cleanup.repository, tag).as_deref(),
        Some(digest.as_str()),
        "the registry serves the pushed digest under the tag"
    );
    let image = pushed["image_uri"].as_str().expect("image_uri").to_owned();
    local.await_pinned(&image);
    assert_eq!(
        image,
        format!("{}/{}@{digest}", local.registry(), cleanup.repository)
    );

    // Deploy it.
    local.aws(&["s3api", "create-bucket", "--bucket", &cleanup.bucket]);
    let deployed = step(&[
        "deploy",
        "--image",
        &image,
        "--stack-name",
        &cleanup.stack,
        "--s3-bucket",
        &cleanup.bucket,
    ]);
    deployed.assert_success();
    let deployed = deployed.json();
    assert_eq!(deployed["status"], "CREATE_COMPLETE");
    assert_eq!(deployed["image"], image.as_str());
    for output in [
        "VpcId",
        "PrivateSubnetIds",
        "ClusterName",
        "ServiceName",
        "LogGroupName",
        "EndpointSecurityGroupId",
    ] {
        let value = deployed["outputs"][output].as_str().unwrap_or_default();
        assert!(
            !value.is_empty(),
            "stack output {output} is missing: {deployed:#}"
        );
    }

    // Rehearse the task against the deployed stack's endpoints: all green.
    let rehearse_args = |extra: &[&'static str]| {
        let mut args = vec![
            "rehearse",
            "--image",
            image.as_str(),
            "--stack-name",
            cleanup.stack.as_str(),
        ];
        args.extend(["--standin-image", standin_image.as_str()]);
        args.extend_from_slice(extra);
        args
    };
    let rehearsal = step(&rehearse_args(&[]));
    assert_eq!(
        rehearsal.code,
        Some(0),
        "the rehearsal passes: {rehearsal:#?}"
    );
    let rehearsal = rehearsal.json();
    assert_eq!(rehearsal["plan"]["source"]["kind"], "stack");
    let report = &rehearsal["report"];
    assert_eq!(report["healthy"], true, "{report:#}");
    assert_eq!(report["isolated"], true, "{report:#}");
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), DEFAULT_ENDPOINTS.len(), "{report:#}");
    let subnet = rehearsal["plan"]["subnet"]
        .as_str()
        .expect("the plan's subnet");
    assert_eq!(
        subnet, "10.0.128.0/18",
        "the deployed stack's first private subnet"
    );
    for endpoint in endpoints {
        assert_answers_inside(endpoint, subnet);
    }

    // Without ecr.dkr, the report names it and says what to create.
    let without = step(&rehearse_args(&["--without", "ecr.dkr"]));
    assert_eq!(
        without.code,
        Some(3),
        "a failing rehearsal exits 3: {without:#?}"
    );
    let report = &without.json()["report"];
    assert_eq!(report["healthy"], false);
    let failing: Vec<&serde_json::Value> = report["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["ok"] == false)
        .collect();
    assert_eq!(failing.len(), 1, "{report:#}");
    assert_eq!(failing[0]["service"], "ecr.dkr");
    let fix = failing[0]["failure"]["fix"].as_str().expect("a fix");
    assert!(
        fix.contains("com.amazonaws.") && fix.contains(".ecr.dkr"),
        "{fix}"
    );

    // Tear it all down.
    let stack_id = local.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &cleanup.stack,
    ])["Stacks"][0]["StackId"]
        .as_str()
        .expect("stack id")
        .to_owned();
    let teardown = step(&[
        "teardown",
        "--stack-name",
        &cleanup.stack,
        "--delete-repo",
        &cleanup.repository,
        "--yes",
    ]);
    teardown.assert_success();
    let teardown = teardown.json();
    assert_eq!(teardown["stack"], "deleted");
    assert_eq!(teardown["repository"]["outcome"], "deleted");
    let status = local.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &stack_id,
    ]);
    assert_eq!(status["Stacks"][0]["StackStatus"], "DELETE_COMPLETE");

    // Nothing written to HOME but the push's layer cache, the token in no
    // output.
    local.assert_home_holds_only_the_layer_cache(&isokit, &"the end-to-end run");
    for (index, run) in outputs.iter().enumerate() {
        local.assert_no_token(&format!("the stdout of step {index}"), &run.stdout);
        local.assert_no_token(&format!("the stderr of step {index}"), &run.stderr);
    }
}
