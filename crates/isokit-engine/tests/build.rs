//! Builds against the real engine: a `FROM scratch` image from a fixture
//! context, and the failures a user meets.

mod common;

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;

use common::{
    Images, assert_tagged_and_labelled, busybox_image, data_txt_changed, engine, fixtures,
    prepared, write_files,
};
use isokit_engine::{BuildContext, BuildOptions, ContextOptions, DockerHost, Engine, EngineError};
use isokit_testkit::{exported_paths, unique_name};
use isokit_ui::Ui;

fn tagged(tag: &str) -> BuildOptions {
    BuildOptions {
        tags: vec![tag.to_string()],
        ..Default::default()
    }
}

/// The hello fixture, as a context to prepare.
fn hello() -> ContextOptions {
    ContextOptions::new(fixtures().join("hello"))
}

/// The hello fixture's context with another Dockerfile from the fixtures.
fn hello_with(dockerfile: &str) -> BuildContext {
    prepared(hello().with_dockerfile(fixtures().join(dockerfile)))
}

#[tokio::test]
async fn a_scratch_image_gets_a_file_from_the_context() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-engine-test-hello")));
    let second = images.track(format!("{}:also", unique_name("isokit-engine-test-hello")));
    let mut options = tagged(&tag);
    options.tags.push(second.clone());
    options.build_args = BTreeMap::from([("GREETING".to_string(), "bonjour".to_string())]);
    options.labels = BTreeMap::from([("isokit.test".to_string(), "build".to_string())]);

    let built = engine
        .build(prepared(hello()), &options, &Ui::quiet())
        .await
        .expect("build");
    assert!(built.id.starts_with("sha256:"), "{}", built.id);

    assert_tagged_and_labelled(
        &engine,
        &built,
        &[("greeting", "bonjour"), ("isokit.test", "build")],
    )
    .await;
    assert_eq!(
        exported_paths(&tag, "srv"),
        [("hello.txt".to_string(), 'f')]
    );
}

#[tokio::test]
async fn a_dockerfile_outside_the_context_builds() {
    let engine = engine().await;
    let mut images = Images::default();
    let tag = images.track(format!("{}:v1", unique_name("isokit-engine-test-outside")));
    let elsewhere = tempfile::tempdir().expect("Dockerfile directory");
    write_files(
        elsewhere.path(),
        &[("Containerfile", "FROM scratch\nCOPY . /ctx/\n")],
    );
    let context = prepared(hello().with_dockerfile(elsewhere.path().join("Containerfile")));
    engine
        .build(context, &tagged(&tag), &Ui::quiet())
        .await
        .expect("build");
    // The generated Dockerfile is read, then dropped from the context.
    assert_eq!(
        exported_paths(&tag, "ctx"),
        [
            ("Dockerfile".to_string(), 'f'),
            ("hello.txt".to_string(), 'f')
        ]
    );
}

#[tokio::test]
async fn an_unknown_instruction_is_reported_as_an_invalid_dockerfile() {
    let engine = engine().await;
    let options = tagged(&format!("{}:v1", unique_name("isokit-engine-test-bad")));
    let error = engine
        .build(
            hello_with("bad-instruction.Dockerfile"),
            &options,
            &Ui::quiet(),
        )
        .await
        .expect_err("the build must fail");
    assert!(
        matches!(error, EngineError::DockerfileInvalid { .. }),
        "{error:?}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("line 3") && shown.contains("FOOBAR"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_run_step_in_scratch_fails_with_its_instruction() {
    let engine = engine().await;
    let options = tagged(&format!("{}:v1", unique_name("isokit-engine-test-noshell")));
    let error = engine
        .build(
            hello_with("run-without-shell.Dockerfile"),
            &options,
            &Ui::quiet(),
        )
        .await
        .expect_err("the build must fail");
    match &error {
        EngineError::StepFailed {
            step,
            message,
            tail,
        } => {
            assert_eq!(step, "Step 2/2 : RUN echo this image has no shell");
            assert!(message.contains("/bin/sh"), "{message}");
            assert!(
                tail.iter().any(|line| line.contains("Running in")),
                "{tail:?}"
            );
        }
        other => panic!("expected a failed step, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("the build failed at Step 2/2 : RUN echo"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_command_shows_the_end_of_its_output() {
    let engine = engine().await;
    let mut images = Images::default();
    let base = busybox_image(&engine, &mut images).await;
    let context = tempfile::tempdir().expect("context");
    let script = (1..=30)
        .map(|line| format!("echo compiling unit {line}"))
        .collect::<Vec<_>>()
        .join("; ");
    // No step may succeed before the failing one: its image would outlive
    // the test. Everything goes to standard output, whose order is kept.
    let dockerfile = format!("FROM {base}\nRUN {script}; echo 'error: linker failed'; exit 3\n");
    write_files(context.path(), &[("Dockerfile", &dockerfile)]);
    let options = tagged(&images.track(format!("{}:v1", unique_name("isokit-engine-test-fails"))));
    let error = engine
        .build(
            prepared(ContextOptions::new(context.path())),
            &options,
            &Ui::quiet(),
        )
        .await
        .expect_err("the build must fail");
    let EngineError::StepFailed {
        step,
        message,
        tail,
    } = &error
    else {
        panic!("expected a failed step: {error:?}")
    };
    assert!(
        step.starts_with("Step 2/2 : RUN echo compiling unit 1;"),
        "{step}"
    );
    assert!(message.contains("non-zero code: 3"), "{message}");
    assert!(
        tail.iter().any(|line| line == "error: linker failed"),
        "{tail:?}"
    );
    assert!(
        tail.iter().any(|line| line == "compiling unit 30"),
        "{tail:?}"
    );
    assert!(
        !tail.iter().any(|line| line == "compiling unit 1"),
        "only the end is kept: {tail:?}"
    );
}

#[tokio::test]
async fn a_dockerfile_without_from_is_reported_as_an_invalid_dockerfile() {
    let engine = engine().await;
    let options = tagged(&format!("{}:v1", unique_name("isokit-engine-test-nofrom")));
    let error = engine
        .build(hello_with("no-from.Dockerfile"), &options, &Ui::quiet())
        .await
        .expect_err("the build must fail");
    assert!(
        matches!(error, EngineError::DockerfileInvalid { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the Dockerfile is invalid: no build stage in current context"
    );
}

#[tokio::test]
async fn a_file_that_changes_after_the_context_was_prepared_fails_the_build_with_its_name() {
    let engine = engine().await;
    let context = tempfile::tempdir().expect("context");
    let data = "x".repeat(100_000);
    write_files(
        context.path(),
        &[
            ("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
            ("data.txt", &data),
        ],
    );
    let listed = prepared(ContextOptions::new(context.path()));
    write_files(context.path(), &[("data.txt", "shorter now")]);
    let options = tagged(&format!("{}:v1", unique_name("isokit-engine-test-changed")));
    let error = engine
        .build(listed, &options, &Ui::quiet())
        .await
        .expect_err("a file changed under the build");
    let chain = data_txt_changed(&error, "");
    assert!(
        chain.starts_with("sending the build context failed: ") && chain.contains("data.txt"),
        "{chain}"
    );
}

/// How a test replaces a listed file before the build sends it.
#[derive(Debug, Clone, Copy)]
enum Replacement {
    /// A symbolic link to a file of the same size outside the context.
    SymlinkOutside,
    Fifo,
    /// Other bytes of the same size, with the listed modification time.
    SameSizeSameTime,
}

/// A context listed and fingerprinted (as `isokit push` does for its
/// content tag), then one file replaced: the build fails naming it, and never
/// waits on a FIFO.
#[tokio::test]
async fn a_file_replaced_after_the_fingerprint_fails_the_build_with_its_name() {
    let engine = engine().await;
    let outside = tempfile::tempdir().expect("outside the context");
    let listed = "listed bytes, 28 bytes long\n";
    let other = "other bytes, just as long!!\n";
    assert_eq!(listed.len(), other.len());
    write_files(outside.path(), &[("secret", other)]);
    for replacement in [
        Replacement::SymlinkOutside,
        Replacement::Fifo,
        Replacement::SameSizeSameTime,
    ] {
        let mut images = Images::default();
        let context = tempfile::tempdir().expect("context");
        write_files(
            context.path(),
            &[
                ("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
                ("data.txt", listed),
            ],
        );
        let prepared_context = prepared(ContextOptions::new(context.path()));
        prepared_context.fingerprint().expect("fingerprint");
        let data = context.path().join("data.txt");
        let listed_time = std::fs::metadata(&data)
            .and_then(|meta| meta.modified())
            .expect("modification time");
        match replacement {
            Replacement::SymlinkOutside => {
                std::fs::remove_file(&data).expect("remove");
                std::os::unix::fs::symlink(outside.path().join("secret"), &data).expect("symlink");
            }
            Replacement::Fifo => {
                std::fs::remove_file(&data).expect("remove");
                let made = std::process::Command::new("mkfifo")
                    .arg(&data)
                    .status()
                    .expect("run mkfifo");
                assert!(made.success());
            }
            Replacement::SameSizeSameTime => {
                std::fs::write(&data, other).expect("rewrite");
                std::fs::File::options()
                    .write(true)
                    .open(&data)
                    .and_then(|file| file.set_modified(listed_time))
                    .expect("restore the modification time");
            }
        }
        let options =
            tagged(&images.track(format!("{}:v1", unique_name("isokit-engine-test-replaced"))));
        let error = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            engine.build(prepared_context, &options, &Ui::quiet()),
        )
        .await
        .unwrap_or_else(|_| panic!("{replacement:?}: the build blocked"))
        .expect_err("a replaced file must fail the build");
        let chain = data_txt_changed(&error, &format!("{replacement:?}"));
        assert!(
            chain.contains("data.txt") && chain.contains("leave it out with .dockerignore"),
            "{replacement:?}: {chain}"
        );
    }
}

/// `Docker\xfffile`: a name the engine's build request cannot carry as it is.
fn non_utf8(name: &[u8]) -> std::path::PathBuf {
    std::ffi::OsStr::from_bytes(name).into()
}

#[tokio::test]
async fn a_dockerfile_whose_name_is_not_utf8_builds() {
    let engine = engine().await;
    let mut images = Images::default();
    let context = tempfile::tempdir().expect("context");
    write_files(context.path(), &[("hello.txt", "hello\n")]);
    let dockerfile = context.path().join(non_utf8(b"Docker\xfffile"));
    std::fs::write(&dockerfile, "FROM scratch\nCOPY hello.txt /srv/\n").expect("Dockerfile");
    hello_lands_in(
        &engine,
        &mut images,
        ContextOptions::new(context.path()).with_dockerfile(&dockerfile),
        "srv",
    )
    .await;

    // The same outside the context, and a context whose own path is not UTF-8.
    let elsewhere = tempfile::tempdir().expect("Dockerfile directory");
    let outside = elsewhere.path().join(non_utf8(b"Build\xfe.Dockerfile"));
    std::fs::write(&outside, "FROM scratch\nCOPY hello.txt /out/\n").expect("Dockerfile");
    hello_lands_in(
        &engine,
        &mut images,
        ContextOptions::new(context.path()).with_dockerfile(&outside),
        "out",
    )
    .await;

    let parent = tempfile::tempdir().expect("parent");
    let odd_context = parent.path().join(non_utf8(b"ctx\xff"));
    std::fs::create_dir(&odd_context).expect("context directory");
    write_files(
        &odd_context,
        &[
            ("Dockerfile", "FROM scratch\nCOPY hello.txt /ctx/\n"),
            ("hello.txt", "hello\n"),
        ],
    );
    hello_lands_in(
        &engine,
        &mut images,
        ContextOptions::new(&odd_context),
        "ctx",
    )
    .await;
}

/// Builds `context`, whose Dockerfile copies hello.txt into `/<folder>/`,
/// and checks that the image holds that one file there.
async fn hello_lands_in(
    engine: &Engine,
    images: &mut Images,
    context: ContextOptions,
    folder: &str,
) {
    let tag = images.track(format!("{}:v1", unique_name("isokit-engine-test-nonutf8")));
    engine
        .build(prepared(context), &tagged(&tag), &Ui::quiet())
        .await
        .unwrap_or_else(|error| panic!("build into /{folder}: {error}"));
    assert_eq!(
        exported_paths(&tag, folder),
        [("hello.txt".to_string(), 'f')]
    );
}

/// Where the unreachable-daemon test points `DOCKER_HOST`, in the copy of
/// the test binary it starts with that setting.
const MISSING_SOCKET: &str = "/nonexistent/isokit-engine-test/docker.sock";

#[tokio::test]
async fn an_unreachable_daemon_says_where_it_looked_and_what_to_do() {
    let expected = format!(
        "cannot reach the Docker daemon at unix://{MISSING_SOCKET}: is it running? (set DOCKER_HOST to use another)"
    );
    if std::env::var("DOCKER_HOST").ok().as_deref() != Some(&format!("unix://{MISSING_SOCKET}")) {
        // Set as a user sets it: in the environment of a fresh process.
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "an_unreachable_daemon_says_where_it_looked_and_what_to_do",
            ])
            .env("DOCKER_HOST", format!("unix://{MISSING_SOCKET}"))
            .status()
            .expect("run the test with DOCKER_HOST set");
        assert!(status.success(), "the check failed with DOCKER_HOST set");

        let host =
            DockerHost::parse(&format!("unix://{MISSING_SOCKET}")).expect("DOCKER_HOST value");
        let error = Engine::connect_to(host).await.expect_err("no daemon there");
        assert_eq!(error.to_string(), expected);
        return;
    }
    let error = Engine::connect().await.expect_err("no daemon there");
    assert_eq!(error.to_string(), expected);
}
