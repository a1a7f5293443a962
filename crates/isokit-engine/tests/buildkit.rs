//! BuildKit builds against the real engine, through the session isokit
//! serves: cache and secret mounts, parallel stages, and the failures a user
//! meets.

mod common;

use std::path::Path;

use common::{Images, assert_tagged_and_labelled, data_txt_changed, engine};
use isokit_engine::{
    BuildContext, BuildOptions, BuildSecret, ContextOptions, EngineError, SecretSource,
};
use isokit_testkit::{busybox_cat, busybox_context_of, exported_paths, unique_name};
use isokit_ui::Ui;

/// A context prepared as `isokit push` prepares it for BuildKit.
fn for_session(dir: &Path) -> BuildContext {
    BuildContext::prepare_for_session(&ContextOptions::new(dir))
        .unwrap_or_else(|error| panic!("preparing {} failed: {error}", dir.display()))
}

const SECRET_VALUE: &str = "s3cret-canary-7d41";

/// Two stages built in parallel (one with a cache mount), joined by a
/// third that reads a secret.
const MULTI_STAGE: &str = r#"FROM scratch AS tools
COPY busybox /bin/busybox
FROM tools AS left
RUN ["/bin/busybox", "sh", "-c", "echo left > /left"]
FROM tools AS right
COPY stamp /stamp
RUN --mount=type=cache,target=/cache ["/bin/busybox", "sh", "-c", "echo run >> /cache/runs; /bin/busybox wc -l < /cache/runs > /right"]
FROM tools
COPY --from=left /left /left
COPY --from=right /right /right
RUN --mount=type=secret,id=token ["/bin/busybox", "sh", "-c", "/bin/busybox wc -c < /run/secrets/token > /secret-seen"]
"#;

fn secret_file(dir: &Path) -> BuildSecret {
    let path = dir.join("token.txt");
    std::fs::write(&path, SECRET_VALUE).expect("write the secret");
    BuildSecret {
        id: "token".into(),
        source: SecretSource::File(path),
    }
}

#[tokio::test]
async fn stages_cache_mounts_and_secrets_build_and_the_secret_stays_out_of_the_image() {
    let engine = engine().await;
    assert!(
        engine.has_buildkit(),
        "the local engine (20.10) has BuildKit"
    );
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-buildkit-stages")));
    let context = busybox_context_of(MULTI_STAGE);
    std::fs::write(context.path().join("stamp"), "first").expect("write the stamp");
    let secrets = tempfile::tempdir().expect("secret dir");
    let options = BuildOptions {
        tags: vec![tag.clone()],
        secrets: vec![secret_file(secrets.path())],
        ..Default::default()
    };

    let built = engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect("BuildKit build");
    assert!(built.id.starts_with("sha256:"), "{}", built.id);
    let paths = exported_paths(&tag, "");
    assert_eq!(
        busybox_cat(&tag, "/secret-seen").trim(),
        SECRET_VALUE.len().to_string(),
        "the step read the secret"
    );
    for expected in ["left", "right", "bin/busybox"] {
        assert!(
            paths.iter().any(|(path, _)| path == expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(
        !paths
            .iter()
            .any(|(path, _)| path.starts_with("run/secrets/token")),
        "the secret's mount point stayed: {paths:?}"
    );

    isokit_testkit::assert_image_holds_none_of(&tag, &[SECRET_VALUE]);

    // The cache mount outlives the build: the step, run again for a changed
    // input, finds the first run's line in it.
    std::fs::write(context.path().join("stamp"), "second").expect("write the stamp");
    engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect("rebuild");
    let right = busybox_cat(&tag, "/right");
    let runs: u32 = right.trim().parse().expect("a count");
    assert!(runs >= 2, "the cache mount was not kept: {right:?}");
}

#[tokio::test]
async fn a_secret_the_dockerfile_mounts_but_nobody_gave_is_named_with_its_step() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-buildkit-nosecret")));
    let context = busybox_context_of(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=secret,id=npmrc,required=true [\"/bin/busybox\", \"cat\", \"/run/secrets/npmrc\"]\n",
    );
    let options = BuildOptions {
        tags: vec![tag.clone()],
        ..Default::default()
    };
    let error = engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect_err("a missing secret fails the build");
    let shown = error.to_string();
    assert!(
        matches!(&error, EngineError::SecretNotGiven { id, .. } if id == "npmrc"),
        "{error:?}"
    );
    assert!(shown.contains("--secret id=npmrc"), "{shown}");
}

#[tokio::test]
async fn a_failed_step_is_quoted_with_its_last_output() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-buildkit-fails")));
    let context = busybox_context_of(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo compiling; echo 'error: the linker gave up' >&2; exit 3\"]\n",
    );
    let options = BuildOptions {
        tags: vec![tag],
        ..Default::default()
    };
    let error = engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect_err("the step fails");
    let shown = error.to_string();
    assert!(matches!(error, EngineError::StepFailed { .. }), "{error:?}");
    assert!(shown.contains("RUN [\"/bin/busybox\""), "{shown}");
    assert!(shown.contains("error: the linker gave up"), "{shown}");
}

#[tokio::test]
async fn a_syntax_directive_whose_frontend_cannot_be_pulled_is_named() {
    let engine = engine().await;
    let context = busybox_context_of("# syntax=127.0.0.1:9/isokit/frontend:1\nFROM scratch\n");
    let error = engine
        .build(
            for_session(context.path()),
            &BuildOptions::default(),
            &Ui::quiet(),
        )
        .await
        .expect_err("the frontend cannot be pulled");
    assert!(
        matches!(&error, EngineError::SyntaxFrontendUnavailable { image, .. } if image == "127.0.0.1:9/isokit/frontend:1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("# syntax="), "{error}");
}

#[tokio::test]
async fn a_changed_file_is_refused_by_name() {
    let engine = engine().await;
    let context = busybox_context_of("FROM scratch\nCOPY . /ctx/\n");
    std::fs::write(context.path().join("data.txt"), "before").expect("write");
    let prepared = for_session(context.path());
    prepared.fingerprint().expect("fingerprint");
    std::fs::write(context.path().join("data.txt"), "after, and longer").expect("write");
    let error = engine
        .build(prepared, &BuildOptions::default(), &Ui::quiet())
        .await
        .expect_err("a changed file is refused");
    let chain = data_txt_changed(&error, "BuildKit");
    assert!(
        chain.starts_with("sending the build context failed: "),
        "{chain}"
    );
}

#[tokio::test]
async fn target_build_arguments_labels_and_platform_reach_buildkit() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-buildkit-options")));
    let second = images.track(format!("{}:also", unique_name("isokit-buildkit-options")));
    let context = busybox_context_of(
        "FROM scratch AS base\nCOPY busybox /bin/busybox\nARG GREETING=hello\n\
         RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /greeting\"]\n\
         FROM base AS never\nRUN [\"/bin/busybox\", \"false\"]\n",
    );
    let options = BuildOptions {
        tags: vec![tag.clone(), second.clone()],
        target: Some("base".into()),
        build_args: [("GREETING".to_string(), "bonjour".to_string())].into(),
        labels: [("dev.isokit.test".to_string(), "buildkit".to_string())].into(),
        platform: Some("linux/amd64".into()),
        ..Default::default()
    };
    let built = engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect("the base stage builds; the failing one is never reached");
    assert_tagged_and_labelled(&engine, &built, &[("dev.isokit.test", "buildkit")]).await;
    assert_eq!(busybox_cat(&tag, "/greeting").trim(), "bonjour");
}

/// The daemon asks for files while their list is still being sent: with
/// thousands of files, requests left unread would make HTTP/2 close the
/// session (too many small frames held).
#[tokio::test]
async fn a_context_of_thousands_of_files_arrives_whole() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-buildkit-many")));
    let context = busybox_context_of("FROM scratch\nCOPY . /ctx/\n");
    let files = context.path().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    for index in 0..4000 {
        std::fs::write(files.join(format!("{index:04}.txt")), index.to_string()).expect("write");
    }
    let options = BuildOptions {
        tags: vec![tag.clone()],
        ..Default::default()
    };
    engine
        .build(for_session(context.path()), &options, &Ui::quiet())
        .await
        .expect("build");
    let sent = exported_paths(&tag, "ctx/files");
    assert_eq!(sent.len(), 4000, "{:?}", &sent[..sent.len().min(5)]);
}
