//! Pushes and pulls against a throwaway registry of our own: TLS from a CA
//! made here, htpasswd authentication, on a free loopback port.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Images, TestRegistry, build_for, engine, push_options};
use isokit_engine::{EngineError, PushOptions, RegistryCredentials, RetryPolicy};
use isokit_testkit::unique_name;
use isokit_ui::{Style, Ui};
use secrecy::SecretString;

#[tokio::test]
async fn a_push_reports_the_digest_the_registry_serves_and_a_second_push_skips_every_layer() {
    let registry = TestRegistry::start();
    let engine = engine().await;
    let mut images = Images::default();
    let repository = format!("isokit/{}", unique_name("push"));
    build_for(&engine, &mut images, &registry, &repository, "v1").await;
    let options = push_options(&registry, &repository, "v1");

    let first = engine
        .push(&options, &Ui::quiet())
        .await
        .expect("first push");
    assert!(
        first.digest.starts_with("sha256:") && first.digest.len() == 71,
        "{first:?}"
    );
    assert!(first.layers_pushed >= 1, "{first:?}");
    assert_eq!(first.layers_skipped, 0, "{first:?}");
    assert_eq!(
        registry.manifest_digest(&repository, "v1").await,
        first.digest
    );

    let second = engine
        .push(&options, &Ui::quiet())
        .await
        .expect("second push");
    assert_eq!(second.digest, first.digest);
    assert_eq!(second.layers_pushed, 0, "{second:?}");
    assert_eq!(second.layers_skipped, first.layers_pushed, "{second:?}");

    // Pulled back by digest, with the same credentials, it is the same image.
    let by_digest = format!("{}/{repository}@{}", registry.host(), first.digest);
    let local_id = engine
        .image_inspect(&format!("{}/{repository}:v1", registry.host()))
        .await
        .expect("inspect")
        .id;
    for tag in [format!("{}/{repository}:v1", registry.host())] {
        engine
            .remove_image(&tag, true)
            .await
            .expect("remove the local tag");
    }
    let pulled = engine
        .pull(&by_digest, Some(&registry.credentials()), &Ui::quiet())
        .await
        .expect("pull by digest");
    images.track(by_digest.clone());
    assert_eq!(pulled, local_id);
    assert!(engine.image_exists(&by_digest).await.expect("exists"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_never_shown() {
    let registry = TestRegistry::start();
    let engine = engine().await;
    let mut images = Images::default();
    let repository = format!("isokit/{}", unique_name("refused"));
    build_for(&engine, &mut images, &registry, &repository, "v1").await;
    let wrong_password = format!("wrong-{}", unique_name("password"));
    let options = PushOptions {
        credentials: registry.credentials_with_password(&wrong_password),
        retry: RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
        ..push_options(&registry, &repository, "v1")
    };

    let error = engine
        .push(&options, &Ui::quiet())
        .await
        .expect_err("the registry must refuse");
    assert!(
        matches!(error, EngineError::RegistryRefused { .. }),
        "{error:?}"
    );
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!(
            "the registry {} refused the token: ",
            registry.host()
        )),
        "{shown}"
    );
    for rendering in [shown, format!("{error:?}"), format!("{options:?}")] {
        assert!(
            !rendering.contains(&wrong_password),
            "the password leaked: {rendering}"
        );
    }

    let pull = engine
        .pull(
            &format!("{}/{repository}:v1", registry.host()),
            Some(&options.credentials),
            &Ui::quiet(),
        )
        .await
        .expect_err("nothing to pull, and no access");
    assert!(
        !format!("{pull} {pull:?}").contains(&wrong_password),
        "the password leaked: {pull:?}"
    );
}

#[tokio::test]
async fn a_registry_that_is_not_up_yet_is_retried_until_it_is() {
    let registry = TestRegistry::prepare();
    let engine = engine().await;
    let mut images = Images::default();
    let repository = format!("isokit/{}", unique_name("late"));
    build_for(&engine, &mut images, &registry, &repository, "v1").await;
    let options = PushOptions {
        retry: RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(2),
        },
        ..push_options(&registry, &repository, "v1")
    };

    // The registry starts while the first attempts are failing.
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        registry.launch()
    });
    let outcome = engine
        .push(&options, &Ui::quiet())
        .await
        .expect("the push succeeds once the registry is up");
    let registry = starter.join().expect("registry thread");
    assert_eq!(
        registry.manifest_digest(&repository, "v1").await,
        outcome.digest
    );
}

#[tokio::test]
async fn pushing_an_image_that_does_not_exist_says_so() {
    let registry = TestRegistry::start();
    let engine = engine().await;
    let options = push_options(
        &registry,
        &format!("isokit/{}", unique_name("absent")),
        "v1",
    );
    let error = engine
        .push(&options, &Ui::quiet())
        .await
        .expect_err("nothing to push");
    assert!(
        matches!(error, EngineError::ImageNotFound { .. }),
        "{error:?}"
    );
}

/// The daemon echoes the repository in a pull's status lines ("Pulling from
/// …", "Status: Downloaded newer image for …"): a repository named after
/// the password stands in for a registry or daemon that echoes it. Status
/// lines go to stderr, so the pull runs in a child process whose stderr is
/// read here.
#[tokio::test]
async fn a_pull_s_status_lines_never_show_the_password() {
    let registry = TestRegistry::start();
    let engine = engine().await;
    let mut images = Images::default();
    let repository = format!("isokit/{}", registry.password);
    build_for(&engine, &mut images, &registry, &repository, "v1").await;
    engine
        .push(&push_options(&registry, &repository, "v1"), &Ui::quiet())
        .await
        .expect("push the image to pull");
    let reference = format!("{}/{repository}:v1", registry.host());
    engine
        .remove_image(&reference, true)
        .await
        .expect("remove the local image, so that the pull pulls");

    let pulled = Command::new(std::env::current_exe().expect("this test's binary"))
        .args([PULL_IN_A_CHILD, "--exact", "--ignored", "--nocapture"])
        .env("ISOKIT_TEST_PULL_REFERENCE", &reference)
        .env("ISOKIT_TEST_PULL_USERNAME", &registry.username)
        .env("ISOKIT_TEST_PULL_PASSWORD", &registry.password)
        .output()
        .expect("run the pull in a child process");
    let stderr = String::from_utf8_lossy(&pulled.stderr);
    assert!(pulled.status.success(), "the pull failed: {stderr}");
    assert!(
        stderr.contains("Pulling from isokit/[redacted]"),
        "the status lines were shown, redacted: {stderr}"
    );
    assert!(
        !stderr.contains(&registry.password),
        "the password leaked: {stderr}"
    );
}

const PULL_IN_A_CHILD: &str = "pull_with_plain_status_lines_in_a_child_process";

/// Half of [`a_pull_s_status_lines_never_show_the_password`]: the pull,
/// with status lines printed plainly on stderr.
#[tokio::test]
#[ignore = "run by a_pull_s_status_lines_never_show_the_password, which reads its stderr"]
async fn pull_with_plain_status_lines_in_a_child_process() {
    let setting = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is unset: a_pull_s_status_lines_never_show_the_password runs this")
        })
    };
    let reference = setting("ISOKIT_TEST_PULL_REFERENCE");
    let (host, _) = reference.split_once('/').expect("a registry host");
    let credentials = RegistryCredentials::new(
        host,
        setting("ISOKIT_TEST_PULL_USERNAME"),
        SecretString::from(setting("ISOKIT_TEST_PULL_PASSWORD")),
    );
    engine()
        .await
        .pull(&reference, Some(&credentials), &Ui::new(Style::Plain))
        .await
        .expect("pull");
}
