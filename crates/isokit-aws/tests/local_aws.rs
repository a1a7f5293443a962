//! The shared AWS configuration against the local AWS (scripts/local-aws):
//! TLS to an endpoint signed by a private CA works exactly when that CA is in
//! the bundle, and ECR calls behave as isokit relies on.

use isokit_aws::{Aws, AwsSettings, Error, ImageReference, Removal, RepositorySettings};
use isokit_testkit::{LocalAws, unique_name};
use secrecy::ExposeSecret;

/// The endpoint is left to the standard chain: aws-config reads
/// `AWS_ENDPOINT_URL` from the local AWS's environment, as it would for a
/// user. (`--endpoint-url` is proven through the binary, in its deploy tests.)
fn settings(local: &LocalAws, ca_bundle: Option<std::path::PathBuf>) -> AwsSettings {
    AwsSettings {
        region: Some(local.region.clone()),
        profile: None,
        endpoint_url: None,
        ca_bundle,
    }
}

#[tokio::test]
async fn a_client_with_the_ca_bundle_talks_to_the_local_aws_over_tls() {
    let local = LocalAws::require();
    let aws = Aws::load(&settings(&local, Some(local.ca_bundle.clone())))
        .await
        .expect("config loads");
    let auth = aws
        .ecr()
        .authorization()
        .await
        .expect("GetAuthorizationToken over TLS");
    assert_eq!(auth.registry, local.registry());
    assert_eq!(auth.username, "AWS");
    assert_eq!(auth.password.expose_secret(), local.token_password());
}

#[tokio::test]
async fn without_the_bundle_the_same_call_names_the_certificate_problem() {
    let local = LocalAws::require();
    let aws = Aws::load(&settings(&local, None))
        .await
        .expect("config loads");
    let err = aws
        .ecr()
        .authorization()
        .await
        .expect_err("the test CA is not trusted");
    let message = err.to_string();
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("AWS_CA_BUNDLE"), "{message}");
}

#[tokio::test]
async fn repositories_are_created_once_and_deleted() {
    let local = LocalAws::require();
    let aws = Aws::load(&settings(&local, Some(local.ca_bundle.clone())))
        .await
        .expect("config loads");
    let ecr = aws.ecr();
    let name = unique_name("isokit-aws-test");
    let repo = ecr
        .create_repository(&name, RepositorySettings::default())
        .await
        .expect("create")
        .expect("created by this call");
    assert_eq!(repo.uri, format!("{}/{name}", local.registry()));
    let again = ecr
        .create_repository(&name, RepositorySettings::default())
        .await
        .expect("already exists is not an error");
    assert_eq!(
        again, None,
        "made by another call: not this one's to remove"
    );

    let missing = ecr
        .find_image(&name, &ImageReference::Tag("nope".into()))
        .await
        .expect("describe");
    assert_eq!(missing, None);

    assert_eq!(
        ecr.delete_empty_repository(&name)
            .await
            .expect("delete the empty repository"),
        Removal::Removed
    );
    assert_eq!(
        ecr.delete_empty_repository(&name)
            .await
            .expect("delete again"),
        Removal::Missing
    );
    assert!(
        !ecr.delete_repository(&name)
            .await
            .expect("forced, already gone")
    );
    let err = ecr
        .find_image(&name, &ImageReference::Tag("v1".into()))
        .await
        .expect_err("gone");
    assert!(matches!(err, Error::RepositoryNotFound(_)), "{err}");
}

#[tokio::test]
async fn a_missing_stack_reads_as_none() {
    let local = LocalAws::require();
    let aws = Aws::load(&settings(&local, Some(local.ca_bundle.clone())))
        .await
        .expect("config loads");
    let stack = aws
        .stacks()
        .describe(&unique_name("no-such-stack"))
        .await
        .expect("describe");
    assert_eq!(stack, None);
}

#[tokio::test]
async fn no_region_is_an_error_that_says_how_to_set_one() {
    let local = LocalAws::require();
    // An empty profile file and no region variables leave the chain empty.
    let empty = std::env::temp_dir().join(unique_name("isokit-empty-aws-config"));
    std::fs::write(&empty, "").expect("write empty config");
    // The probe runs in a child process, so that removing the region
    // variables cannot affect the other tests of this process.
    let result = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "region_probe", "--ignored", "--nocapture"])
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("AWS_CONFIG_FILE", &empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
            .env("ISOKIT_REGION_PROBE_ENDPOINT", local.endpoint_url)
            .output()
            .expect("run probe")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "probe failed: {stdout}");
    assert!(
        stdout.contains("PROBE: no AWS region is set: pass --region"),
        "{stdout}"
    );
}

/// Runs in a child process with the region variables removed (see above).
#[tokio::test]
#[ignore = "run by no_region_is_an_error_that_says_how_to_set_one in a clean environment"]
#[expect(
    clippy::print_stdout,
    reason = "the parent test reads the probe's stdout"
)]
async fn region_probe() {
    let endpoint = std::env::var("ISOKIT_REGION_PROBE_ENDPOINT").expect("run by the parent test");
    let settings = AwsSettings {
        endpoint_url: Some(endpoint),
        ..AwsSettings::default()
    };
    let err = Aws::load(&settings).await.expect_err("no region anywhere");
    println!("PROBE: {err}");
}
