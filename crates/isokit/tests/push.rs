//! `isokit push` through the binary, against the real Docker Engine, the
//! local registry that answers as ECR, and moto as the ECR API.
//!
//! Every run goes through [`Pusher::run`], which checks what must hold for
//! any push, good or bad: the ECR token, in either form, appears nowhere in
//! stdout or stderr, and nothing was written under the run's empty HOME.
//! Each test removes the repositories it made and the images tagged for
//! them, also when it fails.
//!
//! What the tests ask the AWS CLI either succeeds, or fails with the one
//! error that answers the question (no such repository, no such image):
//! any other failure fails the test, so that a CLI that cannot reach the
//! local AWS never reads as "no repository".

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::RwLockReadGuard;

use isokit_testkit::{
    Isokit, LocalAws, Run, Running, StrictAws, aws_finds, building, busybox_context_of,
    context_repo_tag, docker, path_text, remove_local_images, removing_images, unique_name,
};

const ISOKIT: &str = env!("CARGO_BIN_EXE_isokit");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/push")
        .join(name)
}

/// The `.dockerignore` fixtures the engine's own parity test uses.
fn dockerignore_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../isokit-engine/tests/fixtures/dockerignore")
        .join(name)
}

/// Runs the binary for one test and cleans up after it.
struct Pusher {
    local: LocalAws,
    isokit: Isokit,
    /// Arguments put before `push`: the binary itself when `isokit` is a wrapper.
    prefix: Vec<String>,
    repositories: Vec<String>,
}

impl Pusher {
    fn new() -> Pusher {
        Pusher::with(Isokit::new(ISOKIT))
    }

    /// With the environment `isokit` sets.
    fn with(isokit: Isokit) -> Pusher {
        Pusher::wrapped(isokit, &[])
    }

    /// `isokit` runs another program, which runs the binary with `prefix` first.
    fn wrapped(isokit: Isokit, prefix: &[&str]) -> Pusher {
        Pusher {
            local: LocalAws::require(),
            isokit,
            prefix: prefix.iter().map(ToString::to_string).collect(),
            repositories: Vec::new(),
        }
    }

    /// A repository name of this test's own, removed (with what it holds,
    /// in ECR and in the engine) when the test ends.
    fn repository(&mut self, what: &str) -> String {
        let name = unique_name(&format!("isokit-push-{what}"));
        self.repositories.push(name.clone());
        name
    }

    /// Pushes `context` into a new repository; returns the repository and the run.
    fn push_context(&mut self, what: &str, context: &Path) -> (String, Run) {
        let repository = self.repository(what);
        let run = self.run(&["--context", path_text(context), "--repo", &repository]);
        (repository, run)
    }

    /// A successful `push --output json` of `context` to `repository`.
    fn pushed_json(&self, context: &Path, repository: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "--context",
            path_text(context),
            "--repo",
            repository,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        run.assert_success();
        run
    }

    /// Pushes `context` to a new repository and checks that the push was
    /// refused with `needle`, leaving nothing behind; the run.
    fn refuses_context(
        &mut self,
        what: &str,
        context: &Path,
        needle: &str,
        build_started: bool,
    ) -> Run {
        let (repository, run) = self.push_context(what, context);
        self.assert_refused(&run, needle, &repository, build_started);
        run
    }

    fn run(&self, args: &[&str]) -> Run {
        let build = building();
        let run = self.run_building(args, &build);
        drop(build);
        run
    }

    /// [`Pusher::run`] for a test that already holds the builders' lock:
    /// taking it twice could wait forever behind a test waiting to remove
    /// images.
    fn run_building(&self, args: &[&str], _building: &RwLockReadGuard<'static, ()>) -> Run {
        let run = self.isokit.run(self.push_args(args));
        self.local.assert_no_token("stdout", &run.stdout);
        self.local.assert_no_token("stderr", &run.stderr);
        self.local
            .assert_home_holds_only_the_layer_cache(&self.isokit, &run);
        run
    }

    /// Pushes `context` to `repository:tag` with a JSON result, `extra` last.
    fn push_tagged(&self, context: &Path, repository: &str, tag: &str, extra: &[&str]) -> Run {
        let words = context_repo_tag(context, repository, tag);
        self.run(&[&words[..], &["--output", "json"], extra].concat())
    }

    /// `push` and `args`, after the prefix.
    fn push_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        self.prefix
            .iter()
            .map(String::as_str)
            .chain(std::iter::once("push"))
            .chain(args.iter().copied())
            .collect()
    }

    /// Starts a push to watch and interrupt; the caller holds the builders' lock.
    fn spawn(&self, args: &[&str], _building: &RwLockReadGuard<'static, ()>) -> Running {
        self.isokit.spawn(self.push_args(args))
    }

    /// `<registry>/<repository>`
    fn image_name(&self, repository: &str) -> String {
        format!("{}/{repository}", self.local.registry())
    }

    /// Whether ECR has the repository.
    fn repository_exists(&self, repository: &str) -> bool {
        aws_finds(
            "RepositoryNotFoundException",
            &[
                "ecr",
                "describe-repositories",
                "--repository-names",
                repository,
            ],
        )
    }

    /// The tags of the images ECR lists in the repository.
    fn tags_in_ecr(&self, repository: &str) -> Vec<String> {
        let listed = self
            .local
            .aws(&["ecr", "list-images", "--repository-name", repository]);
        let mut tags: Vec<String> = listed["imageIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| id["imageTag"].as_str().map(str::to_owned))
            .collect();
        tags.sort();
        tags
    }

    /// The engine's images named `<registry>/<repository>`, as `name:tag`.
    fn local_images(&self, repository: &str) -> Vec<String> {
        let listed = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .arg(self.image_name(repository))
            .output()
            .expect("run docker images");
        assert!(listed.status.success(), "docker images failed");
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Checks that a bad input was refused with `needle`, and that nothing
    /// was left half-done: no repository in ECR, no image in the engine and,
    /// when the check comes before building, no build started.
    fn assert_refused(&self, run: &Run, needle: &str, repository: &str, build_started: bool) {
        run.assert_error(needle);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            !self.repository_exists(repository),
            "a failed push created ECR repository {repository}: {run:#?}"
        );
        assert_eq!(
            self.local_images(repository),
            Vec::<String>::new(),
            "a failed push left an image: {run:#?}"
        );
        if !build_started {
            assert!(
                !run.stderr.contains("sending build context")
                    && !run.stderr.contains("Step 1/")
                    && !run.stderr.contains("load build definition"),
                "the check should come before the build: {run:#?}"
            );
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        for repository in &self.repositories {
            remove_local_images(&[&self.image_name(repository)]);
            // A test that failed already says why; a cleanup that fails
            // after a test that passed fails it.
            let removal = std::panic::catch_unwind(|| {
                aws_finds(
                    "RepositoryNotFoundException",
                    &[
                        "ecr",
                        "delete-repository",
                        "--force",
                        "--repository-name",
                        repository,
                    ],
                )
            });
            if let Err(panic) = removal
                && !std::thread::panicking()
            {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// A helper that asks ECR must not read a failed question as "no".
#[test]
#[should_panic(expected = "aws ecr describe-repositories --repository-names a failed")]
fn a_failing_aws_cli_call_fails_the_test_rather_than_meaning_no_repository() {
    // ECR names have two characters at least: the CLI refuses before asking.
    Pusher::new().repository_exists("a");
}

/// A copy of the `hello` fixture with a file no other run has, so that its
/// layer is new to the registry and really uploaded.
fn fresh_hello_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary context");
    for file in ["Dockerfile", "hello.txt"] {
        std::fs::copy(fixture("hello").join(file), dir.path().join(file)).expect("copy fixture");
    }
    std::fs::write(dir.path().join("run-id"), unique_name("run")).expect("write run-id");
    dir
}

fn str_field<'a>(json: &'a serde_json::Value, name: &str) -> &'a str {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{name}` in {json:#}"))
}

fn u64_field(json: &serde_json::Value, name: &str) -> u64 {
    json[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no number `{name}` in {json:#}"))
}

#[test]
fn a_push_lands_in_the_registry_under_the_printed_tag_and_digest() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("e2e");
    let context = fresh_hello_context();
    let run = pusher.pushed_json(context.path(), &repository, &[]);
    let pushed = run.json();

    assert_eq!(str_field(&pushed, "repository"), repository);
    let tag = str_field(&pushed, "tag");
    assert!(
        tag.starts_with("ctx-") && tag.len() == 16,
        "a content tag: {pushed:#}"
    );
    let digest = str_field(&pushed, "digest");
    assert_eq!(
        pusher.local.registry_digest(&repository, tag).as_deref(),
        Some(digest),
        "the registry serves the printed digest under the printed tag"
    );
    let image = pusher.image_name(&repository);
    assert_eq!(str_field(&pushed, "image_uri"), format!("{image}@{digest}"));
    assert_eq!(str_field(&pushed, "tagged_uri"), format!("{image}:{tag}"));
    assert!(u64_field(&pushed, "size") > 0, "{pushed:#}");
    assert_eq!(
        u64_field(&pushed, "layers_pushed"),
        1,
        "one new layer: {pushed:#}"
    );
    assert_eq!(u64_field(&pushed, "layers_skipped"), 0, "{pushed:#}");
    assert!(
        pushed["duration_seconds"].as_f64().is_some_and(|s| s > 0.0),
        "{pushed:#}"
    );
    assert_eq!(pushed["already_present"], false);
    assert_eq!(pushed["repository_created"], true);

    let described = pusher.local.aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &repository,
    ]);
    let created = &described["repositories"][0];
    assert_eq!(created["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(
        created["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );
    assert_eq!(created["imageTagMutability"], "MUTABLE");

    // The same image under a tag of the user's, in text, with isokit's
    // debug lines and then everyone's: the token stays out of all of it.
    for (verbosity, explicit) in [("-v", "release-v"), ("-vv", "release-vv")] {
        let run = pusher.run(&[
            "--context",
            path_text(context.path()),
            "--repo",
            &repository,
            "--tag",
            explicit,
            verbosity,
        ]);
        run.assert_success();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines,
            [format!("{image}@{digest}"), format!("{image}:{explicit}")],
            "the pinned reference first, then the tagged one: {run:#?}"
        );
        assert!(run.stderr.contains("DEBUG"), "{verbosity} logs: {run:#?}");
        assert_eq!(
            pusher
                .local
                .registry_digest(&repository, explicit)
                .as_deref(),
            Some(digest)
        );
    }
}

/// A repository created with immutable tags keeps them: the same tag for
/// another image is refused before anything is pushed, and the tag still
/// names the first image.
#[test]
fn an_immutable_tag_is_never_moved() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("immutable");
    let push = |context: &Path, extra: &[&str]| {
        let common = [
            "--context",
            path_text(context),
            "--repo",
            &repository,
            "--tag",
            "v1",
        ];
        pusher.run(&[&common[..], extra].concat())
    };
    let first_context = fresh_hello_context();
    let first = push(
        first_context.path(),
        &["--immutable-tags", "--output", "json"],
    );
    first.assert_success();
    let digest = str_field(&first.json(), "digest").to_owned();
    let settings = pusher.local.aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &repository,
    ]);
    assert_eq!(
        settings["repositories"][0]["imageTagMutability"], "IMMUTABLE",
        "{settings:#}"
    );
    pusher.local.await_listed(&repository, "v1");

    let second_context = fresh_hello_context();
    let refused = push(second_context.path(), &[]);
    refused.assert_error(&format!(
        "tag v1 already names another image in ECR repository {repository}, whose tags are \
         immutable: push under another --tag"
    ));
    assert!(!refused.stderr.contains("push refers"), "{refused:#?}");
    assert_eq!(
        pusher.local.registry_digest(&repository, "v1").as_deref(),
        Some(digest.as_str()),
        "the tag still names the first image"
    );
}

#[test]
fn pushing_the_same_image_again_does_no_work() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("again");
    let context = fresh_hello_context();
    let push = |extra: &[&str]| pusher.pushed_json(context.path(), &repository, extra);

    let first = push(&[]).json();
    let tag = str_field(&first, "tag");
    pusher.local.await_listed(&repository, tag);
    let again = push(&[]);
    let second = again.json();
    assert_eq!(second["already_present"], true, "{again:#?}");
    assert_eq!(second["tag"], first["tag"]);
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(second["image_uri"], first["image_uri"]);
    assert_eq!(u64_field(&second, "layers_pushed"), 0);
    assert!(
        !again.stderr.contains("sending build context") && !again.stderr.contains("push refers"),
        "a content tag ECR holds needs neither a build nor a push: {again:#?}"
    );

    let explicit = push(&["--tag", "stable"]).json();
    assert_eq!(explicit["already_present"], false);
    assert_eq!(explicit["digest"], first["digest"]);
    pusher.local.await_listed(&repository, "stable");
    let again = push(&["--tag", "stable"]);
    let repeated = again.json();
    assert_eq!(repeated["already_present"], true, "{again:#?}");
    assert_eq!(repeated["digest"], first["digest"]);
    assert_eq!(u64_field(&repeated, "layers_pushed"), 0);
    assert!(
        !again.stderr.contains("push refers"),
        "an image ECR holds under this tag is not pushed again: {again:#?}"
    );
}

/// A context whose build sleeps for `seconds` in a `RUN` step, long enough
/// to be interrupted or raced: a static busybox in a scratch image, so
/// nothing is pulled; and a file of its own, so no step comes from cache.
/// The step first prints [`SLEEPING`], which a push run with `-v` shows.
fn sleeping_context(seconds: u32) -> tempfile::TempDir {
    let dir = busybox_context_of(&format!(
        "FROM scratch\nCOPY busybox /busybox\nCOPY run-id /run-id\n\
         RUN [\"/busybox\", \"sh\", \"-c\", \"echo {SLEEPING}; exec /busybox sleep {seconds}\"]\n"
    ));
    std::fs::write(dir.path().join("run-id"), unique_name("run")).expect("write run-id");
    dir
}

/// What the sleeping step prints before it sleeps.
const SLEEPING: &str = "isokit-test-step-sleeps";

/// Reads a running push's stderr until the push has created `repository`
/// (when `created`) and its build runs the sleeping step; returns what it read.
fn until_sleeping(running: &mut Running, repository: &str, created: bool) -> String {
    let creation = format!("created ECR repository {repository} ");
    let seen = Cell::new((!created, false));
    let read = running.stderr_until(|line| {
        let (made, sleeping) = seen.get();
        seen.set((
            made || line.starts_with(&creation),
            sleeping || line.contains(SLEEPING),
        ));
        seen.get() == (true, true)
    });
    assert_eq!(
        seen.get(),
        (true, true),
        "the push ended before its build slept:\n{read}"
    );
    read
}

/// Stopped while building, by any of the three signals, a push removes
/// the repository it created, says so, and stops the build.
#[test]
fn an_interrupted_push_removes_the_repository_it_created() {
    for signal in ["INT", "TERM", "HUP"] {
        let mut pusher = Pusher::new();
        let repository = pusher.repository(&format!("stopped-{}", signal.to_lowercase()));
        let context = sleeping_context(300);
        let build = building();
        // -v: the sleeping step's own output says when it sleeps.
        let mut running = pusher.spawn(
            &[
                "-v",
                "--context",
                path_text(context.path()),
                "--repo",
                &repository,
            ],
            &build,
        );
        let before = until_sleeping(&mut running, &repository, true);
        assert!(pusher.repository_exists(&repository), "{before}");
        let (status, rest) = running.signal(signal);
        drop(build);
        pusher.local.assert_no_token("stderr", &rest);
        assert_eq!(status.code(), Some(1), "SIG{signal}: {before}{rest}");
        assert!(
            rest.contains(&format!(
                "error: interrupted by SIG{signal}: removed ECR repository {repository}, which \
                 this push had created"
            )),
            "SIG{signal}: {before}{rest}"
        );
        assert!(
            !pusher.repository_exists(&repository),
            "SIG{signal} left the repository: {before}{rest}"
        );
        assert_eq!(
            pusher.local_images(&repository),
            Vec::<String>::new(),
            "SIG{signal}: the build went on to make an image: {before}{rest}"
        );
    }
}

/// The repository an interrupted push created is removed only while it is
/// empty: once another push has put an image in it, it stays, with that image.
#[test]
fn an_interrupted_push_keeps_its_repository_once_another_push_put_an_image_in_it() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("stopped-shared");
    let slow = sleeping_context(300);
    let build = building();
    let mut running = pusher.spawn(
        &[
            "-v",
            "--context",
            path_text(slow.path()),
            "--repo",
            &repository,
        ],
        &build,
    );
    let before = until_sleeping(&mut running, &repository, true);

    let other = fresh_hello_context();
    let second = pusher.run_building(
        &[
            "--context",
            path_text(other.path()),
            "--repo",
            &repository,
            "--tag",
            "other",
        ],
        &build,
    );
    second.assert_success();
    assert!(
        !second.stderr.contains("created ECR repository"),
        "the first push created it: {second:#?}"
    );
    pusher.local.await_listed(&repository, "other");

    let (status, rest) = running.signal("TERM");
    drop(build);
    assert_eq!(status.code(), Some(1), "{before}{rest}");
    assert!(
        rest.contains(&format!(
            "error: interrupted by SIGTERM: kept ECR repository {repository}, which this push \
             had created: an image was pushed to it meanwhile"
        )),
        "{before}{rest}"
    );
    assert_eq!(pusher.tags_in_ecr(&repository), ["other"]);
}

/// Pushes of different images into one new repository, started at once:
/// each may find it missing and try to create it. All succeed, and one
/// alone says it created it. Whether the pushes really collide is up to the
/// scheduler, so three race, three times over.
#[test]
fn pushes_racing_to_create_a_repository_all_succeed() {
    let mut pusher = Pusher::new();
    for round in 0..3 {
        let repository = pusher.repository(&format!("race-{round}"));
        let contexts = [
            fresh_hello_context(),
            fresh_hello_context(),
            fresh_hello_context(),
        ];
        let tags: Vec<String> = (0..contexts.len())
            .map(|racer| format!("racer-{racer}"))
            .collect();
        let build = building();
        let children: Vec<_> = contexts
            .iter()
            .zip(&tags)
            .map(|(context, tag)| {
                let args = context_repo_tag(context.path(), &repository, tag);
                pusher
                    .isokit
                    .command(pusher.push_args(&args))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start isokit")
            })
            .collect();
        let runs: Vec<_> = children
            .into_iter()
            .map(|child| {
                let output = child.wait_with_output().expect("isokit finishes");
                Run {
                    code: output.status.code(),
                    stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                }
            })
            .collect();
        drop(build);
        for run in &runs {
            pusher.local.assert_no_token("stderr", &run.stderr);
            run.assert_success();
        }
        let creators = runs
            .iter()
            .filter(|run| run.stderr.contains("created ECR repository"))
            .count();
        assert_eq!(creators, 1, "one push created it: {runs:#?}");
        for tag in &tags {
            pusher.local.await_listed(&repository, tag);
        }
    }
}

/// A push into a repository it did not create, which is deleted while the
/// image builds (as a racing push that created it and then failed would
/// do), creates it again rather than push into nothing.
#[test]
fn a_repository_deleted_during_the_build_is_created_again_before_the_push() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("deleted");
    pusher
        .local
        .aws(&["ecr", "create-repository", "--repository-name", &repository]);
    let context = sleeping_context(5);
    let args = [
        "-v",
        "--context",
        path_text(context.path()),
        "--repo",
        &repository,
    ];
    let build = building();
    let mut child = pusher
        .isokit
        .command(pusher.push_args(&args))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isokit");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    while !seen.contains(SLEEPING) {
        let read = stderr.read_line(&mut seen).expect("read stderr");
        assert!(read > 0, "the push ended before its build slept:\n{seen}");
    }
    pusher
        .local
        .aws(&["ecr", "delete-repository", "--repository-name", &repository]);
    stderr.read_to_string(&mut seen).expect("read stderr");
    let output = child.wait_with_output().expect("isokit finishes");
    drop(build);
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: seen,
    };
    pusher.local.assert_no_token("stderr", &run.stderr);
    run.assert_success();
    assert!(
        run.stderr.contains(&format!(
            "ECR repository {repository} was deleted while the image was built"
        )),
        "{run:#?}"
    );
    let tag = run
        .stdout
        .lines()
        .nth(1)
        .and_then(|tagged| tagged.rsplit_once(':'))
        .map(|(_, tag)| tag.to_owned())
        .unwrap_or_else(|| panic!("no tagged reference printed: {run:#?}"));
    pusher.local.await_listed(&repository, &tag);
}

#[test]
fn a_socket_in_the_context_is_left_out_with_one_warning() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("socket");
    let context = fresh_hello_context();
    let socket = context.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind a socket");
    let run = pusher.run(&[
        "--context",
        path_text(context.path()),
        "--repo",
        &repository,
    ]);
    run.assert_success();
    let warning = format!(
        "warning: {} is a socket, which a build context cannot hold: left out",
        socket.display()
    );
    assert_eq!(
        run.stderr.matches(&warning).count(),
        1,
        "one warning: {run:#?}"
    );
}

/// Bad input found before anything is pushed: each named with what to do,
/// and nothing left behind (no repository, no image).
#[test]
fn bad_build_input_is_refused_and_leaves_nothing() {
    let missing = fixture("no-such-context");
    let file = fixture("hello").join("hello.txt");
    let no_dockerfile = fixture("no-dockerfile");
    let bad_ignore = fixture("bad-ignore");
    let cases = [
        (
            "no-context",
            missing.clone(),
            format!("the build context {} does not exist", missing.display()),
            false,
        ),
        (
            "file-context",
            file.clone(),
            format!("the build context {} is not a directory", file.display()),
            false,
        ),
        (
            "no-dockerfile",
            no_dockerfile.clone(),
            format!(
                "the Dockerfile {} does not exist: pass its path, or put a Dockerfile in the context",
                no_dockerfile.join("Dockerfile").display()
            ),
            false,
        ),
        (
            "bad-ignore",
            bad_ignore.clone(),
            format!(
                "{}, line 3: invalid pattern `[`",
                bad_ignore.join(".dockerignore").display()
            ),
            false,
        ),
        // The engine's own parse error, by line: the build had started.
        (
            "syntax",
            fixture("syntax-error"),
            "the Dockerfile is invalid: dockerfile parse error line 3: unknown instruction: RUNN"
                .to_owned(),
            true,
        ),
        (
            "secret-not-given",
            fixture("secret-not-given"),
            "it mounts secret npmrc, which was not given: pass it with --secret id=npmrc,src=PATH"
                .to_owned(),
            true,
        ),
        (
            "unpullable-syntax",
            fixture("unpullable-syntax"),
            "the Dockerfile's `# syntax=127.0.0.1:9/isokit/frontend:1` directive names a frontend \
             image the engine cannot pull"
                .to_owned(),
            true,
        ),
    ];
    let mut pusher = Pusher::new();
    for (what, context, needle, build_started) in cases {
        pusher.refuses_context(what, &context, &needle, build_started);
    }
}

/// What a BuildKit step reads from its secret; the test checks it reaches
/// nothing else.
const FILE_SECRET: &str = "file-secret-canary-93c2e1";
const ENV_SECRET: &str = "env-secret-canary-5b7a04";

/// A Dockerfile of today: stages built in parallel, a cache mount, and two
/// secrets (one from a file, one from a variable) that a step reads and only
/// counts.
const BUILDKIT_DOCKERFILE: &str = r#"FROM scratch AS tools
COPY busybox /bin/busybox
FROM tools AS cached
RUN --mount=type=cache,target=/cache ["/bin/busybox", "sh", "-c", "echo run >> /cache/runs && /bin/busybox cp /cache/runs /runs"]
FROM tools
COPY --from=cached /runs /runs
COPY run-id /run-id
RUN --mount=type=secret,id=token --mount=type=secret,id=npm ["/bin/busybox", "sh", "-c", "/bin/busybox cat /run/secrets/token /run/secrets/npm | /bin/busybox wc -c > /secret-bytes"]
"#;

#[test]
fn a_dockerfile_with_cache_and_secret_mounts_pushes_and_its_secrets_go_nowhere_else() {
    let mut pusher = Pusher::with(Isokit::new(ISOKIT).env("ISOKIT_TEST_NPM_TOKEN", ENV_SECRET));
    let repository = pusher.repository("buildkit");
    let context = busybox_context_of(BUILDKIT_DOCKERFILE);
    // So that the secret's step runs, rather than come from the cache.
    std::fs::write(context.path().join("run-id"), unique_name("run")).expect("write run-id");
    let secrets = tempfile::tempdir().expect("secrets folder");
    let token = secrets.path().join("token");
    std::fs::write(&token, FILE_SECRET).expect("write the secret");
    let file_secret = format!("id=token,src={}", path_text(&token));
    let run = pusher.pushed_json(
        context.path(),
        &repository,
        &[
            "-vv",
            "--secret",
            &file_secret,
            "--secret",
            "id=npm,env=ISOKIT_TEST_NPM_TOKEN",
        ],
    );
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for secret in [FILE_SECRET, ENV_SECRET] {
            assert!(!text.contains(secret), "a secret in {stream}: {run:#?}");
        }
    }
    // BuildKit's steps were shown, each once it finished.
    assert!(
        run.stderr
            .lines()
            .any(|line| line.contains("] RUN --mount=type=secret") && line.contains(": done in ")),
        "{run:#?}"
    );
    let pushed = str_field(&run.json(), "tagged_uri").to_owned();
    let read = |path: &str| isokit_testkit::busybox_cat(&pushed, path);
    assert_eq!(
        read("/secret-bytes").trim(),
        (FILE_SECRET.len() + ENV_SECRET.len()).to_string(),
        "the step read both secrets"
    );
    // The cache mount is the engine's, kept across builds: each run added a line.
    let runs = read("/runs");
    assert!(
        runs.lines().count() >= 1 && runs.lines().all(|line| line == "run"),
        "{runs:?}"
    );
    isokit_testkit::assert_image_holds_none_of(&pushed, &[FILE_SECRET, ENV_SECRET]);
}

#[test]
fn the_classic_builder_builds_when_asked() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("classic");
    let context = fresh_hello_context();
    let run = pusher.pushed_json(context.path(), &repository, &["--builder", "classic"]);
    assert!(run.stderr.contains("Step 1/"), "{run:#?}");
}

/// Secrets and builders the command line refuses: usage errors (exit 2),
/// before anything is built or created.
#[test]
fn bad_secrets_and_builders_are_usage_errors() {
    let mut pusher = Pusher::new();
    let context = fresh_hello_context();
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "missing-file",
            &["--secret", "id=npm,src=/nonexistent/isokit/npmrc"],
            "cannot read secret npm from /nonexistent/isokit/npmrc",
        ),
        (
            "unset-variable",
            &["--secret", "id=npm,env=ISOKIT_TEST_NO_SUCH_VARIABLE"],
            "secret npm comes from the environment variable ISOKIT_TEST_NO_SUCH_VARIABLE, which is not set",
        ),
        (
            "no-id",
            &["--secret", "src=/etc/hostname"],
            "a secret needs an id",
        ),
        (
            "classic",
            &[
                "--builder",
                "classic",
                "--secret",
                "id=host,src=/etc/hostname",
            ],
            "--secret needs BuildKit: the classic builder cannot mount secrets",
        ),
        (
            "unknown-builder",
            &["--builder", "kaniko"],
            "invalid value 'kaniko' for '--builder",
        ),
        (
            "unknown-field",
            &["--secret", "id=a,mode=0400"],
            "`mode` is not a secret field",
        ),
    ];
    for (what, extra, needle) in cases {
        let repository = pusher.repository(what);
        let run = pusher.run(
            &[
                &[
                    "--context",
                    path_text(context.path()),
                    "--repo",
                    &repository,
                ][..],
                extra,
            ]
            .concat(),
        );
        assert_eq!(run.code, Some(2), "{what}: {run:#?}");
        assert!(run.stderr.contains(needle), "{what}: {run:#?}");
        assert!(!pusher.repository_exists(&repository), "{what}: {run:#?}");
    }
}

#[test]
fn a_failing_step_is_reported_with_its_instruction_and_output() {
    let mut pusher = Pusher::new();
    let run = pusher.refuses_context(
        "failing-step",
        &fixture("failing-step"),
        "the build failed at [1/1] RUN echo hello: ",
        true,
    );
    let error = &run.stderr[run.stderr.find("error: ").expect("an error line")..];
    assert!(
        error.contains("executor failed running [/bin/sh -c echo hello]"),
        "the engine's reason: {run:#?}"
    );
    assert!(
        error.contains("\n  last output of the step:\n")
            && error.contains("/bin/sh: no such file or directory"),
        "the step's last output follows: {run:#?}"
    );
}

/// Root reads anything, so the binary runs without the two capabilities
/// that let it: as any user meeting a file they may not read.
#[test]
fn an_unreadable_file_in_the_context_is_refused_before_the_build() {
    let context = fresh_hello_context();
    let locked = context.path().join("locked.key");
    std::fs::write(&locked, "not for the image").expect("write locked file");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod 000");
    let caps = "-dac_override,-dac_read_search";
    let mut pusher = Pusher::wrapped(
        Isokit::new("setpriv"),
        &[
            &format!("--inh-caps={caps}"),
            &format!("--bounding-set={caps}"),
            "--",
            ISOKIT,
        ],
    );
    let repository = pusher.repository("unreadable");
    let run = pusher.run(&[
        "--context",
        path_text(context.path()),
        "--repo",
        &repository,
    ]);
    pusher.assert_refused(
        &run,
        &format!(
            "cannot read {} in the build context: fix its permissions, or exclude it in .dockerignore",
            locked.display()
        ),
        &repository,
        false,
    );
    assert!(run.stderr.contains("Permission denied"), "{run:#?}");
}

#[test]
fn a_repository_name_ecr_rejects_is_refused_before_the_build() {
    let pusher = Pusher::new();
    let name = format!("Upper_{}", unique_name("case"));
    let run = pusher.run(&["--context", path_text(&fixture("hello")), "--repo", &name]);
    run.assert_error(&format!(
        "the repository name `{name}` is not valid in ECR: only lower-case letters"
    ));
    assert!(!run.stderr.contains("sending build context"), "{run:#?}");
    assert!(
        !pusher.repository_exists(&name.to_lowercase()),
        "nothing was created under a similar name"
    );
}

#[test]
fn a_tag_ecr_rejects_is_refused_before_the_build() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("bad-tag");
    let run = pusher.run(&[
        "--context",
        path_text(&fixture("hello")),
        "--repo",
        &repository,
        "--tag",
        "release/1",
    ]);
    pusher.assert_refused(
        &run,
        "the tag `release/1` is not valid: only letters, digits, '_', '.' and '-' are allowed",
        &repository,
        false,
    );
}

#[test]
fn an_unreachable_docker_daemon_is_named_with_what_to_do() {
    let mut pusher =
        Pusher::with(Isokit::new(ISOKIT).env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    pusher.refuses_context(
        "no-daemon",
        &fixture("hello"),
        "cannot reach the Docker daemon at unix:///nonexistent/docker.sock: is it running? \
         (set DOCKER_HOST to use another)",
        false,
    );
}

/// A daemon on another machine over plain TCP would read the ECR token in
/// clear: refused before isokit connects to it (the address, a
/// documentation one, is never contacted).
#[test]
fn a_daemon_the_token_would_reach_in_clear_is_refused_before_connecting() {
    let mut pusher = Pusher::with(Isokit::new(ISOKIT).env("DOCKER_HOST", "tcp://203.0.113.7:2375"));
    let run = pusher.refuses_context(
        "clear-tcp",
        &fixture("hello"),
        "refusing to hand the ECR token to the Docker daemon at tcp://203.0.113.7:2375: plain \
         TCP to another machine carries it in clear",
        false,
    );
    assert!(
        run.stderr.contains("DOCKER_TLS_VERIFY=1")
            && run.stderr.contains("DOCKER_CERT_PATH")
            && run.stderr.contains("DOCKER_HOST=ssh://USER@HOST"),
        "{run:#?}"
    );
}

/// An empty file for AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, so
/// that no profile on this machine can help.
fn empty_aws_file() -> tempfile::NamedTempFile {
    tempfile::NamedTempFile::new().expect("empty AWS file")
}

#[test]
fn no_aws_credentials_are_refused_with_where_to_set_them() {
    let empty = empty_aws_file();
    // AWS_EC2_METADATA_DISABLED stays set: the SDK must never try the
    // instance metadata address from here.
    let mut pusher = Pusher::with(
        Isokit::new(ISOKIT)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", path_text(empty.path()))
            .env("AWS_SHARED_CREDENTIALS_FILE", path_text(empty.path())),
    );
    let run = pusher.refuses_context(
        "no-credentials",
        &fixture("hello"),
        "ECR GetAuthorizationToken failed: no AWS credentials found",
        false,
    );
    assert!(
        run.stderr
            .contains("set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        "{run:#?}"
    );
}

/// moto enforcing IAM, as AWS does: a user with no ECR permission.
#[test]
fn ecr_access_denied_is_refused_before_the_build() {
    let strict = StrictAws::start(&LocalAws::require());
    let mut pusher = Pusher::with(strict.as_nobody(Isokit::new(ISOKIT)));
    let run = pusher.refuses_context(
        "access-denied",
        &fixture("hello"),
        "failed: access denied (",
        false,
    );
    assert!(
        run.stderr
            .contains("user/isokit-nobody is not authorized to perform: ecr:")
            && run.stderr.contains("needs permission for this call"),
        "{run:#?}"
    );
}

/// An access key AWS has never issued, as after a key is deleted.
#[test]
fn credentials_aws_does_not_recognise_are_refused_before_the_build() {
    let strict = StrictAws::start(&LocalAws::require());
    let mut pusher = Pusher::with(
        strict
            .as_nobody(Isokit::new(ISOKIT))
            .env("AWS_ACCESS_KEY_ID", "AKIAISOKITNOSUCHKEY0"),
    );
    pusher.refuses_context(
        "unrecognised-key",
        &fixture("hello"),
        "failed: AWS does not recognise the credentials",
        false,
    );
}

#[test]
fn no_region_is_refused_with_where_to_set_it() {
    let empty = empty_aws_file();
    let mut pusher = Pusher::with(
        Isokit::new(ISOKIT)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", path_text(empty.path()))
            .env("AWS_SHARED_CREDENTIALS_FILE", path_text(empty.path())),
    );
    pusher.refuses_context(
        "no-region",
        &fixture("hello"),
        "no AWS region is set: pass --region, set AWS_REGION, or set `region` in your AWS profile",
        false,
    );
}

/// One `.dockerignore` case: the files that reach the image through
/// `isokit push` (BuildKit) against those that reach it through
/// `DOCKER_BUILDKIT=1 docker build` with the 20.10 CLI. isokit follows
/// today's Docker; where the older CLI differs, the case lists it (the
/// engine's parity tests say more).
struct Parity {
    fixture: &'static str,
    dockerfile: &'static str,
    /// Paths under `/ctx` that only today's BuildKit walk sends, with their type.
    buildkit_only: &'static [(&'static str, char)],
    /// Paths the 20.10 CLI's older pattern matcher lets through.
    older_matcher_only: &'static [(&'static str, char)],
    /// One path that must arrive and one that must not, so that two empty
    /// trees cannot agree.
    sent: &'static str,
    kept_out: &'static str,
}

const PARITY: Parity = Parity {
    fixture: "",
    dockerfile: "Dockerfile",
    buildkit_only: &[],
    older_matcher_only: &[],
    sent: "",
    kept_out: "",
};

fn check_parity(case: Parity) {
    let mut pusher = Pusher::new();
    let repository = pusher.repository(&format!("parity-{}", case.fixture));
    let ours = copy_with_hard_link(&dockerignore_fixture(case.fixture));
    let theirs = copy_with_hard_link(&dockerignore_fixture(case.fixture));

    let run = pusher.run(&[
        "--context",
        path_text(ours.path()),
        "--file",
        path_text(&ours.path().join(case.dockerfile)),
        "--repo",
        &repository,
        "--output",
        "json",
    ]);
    run.assert_success();
    let pushed = str_field(&run.json(), "tagged_uri").to_owned();

    let cli_image = format!("{}:cli", pusher.image_name(&repository));
    let build = building();
    isokit_testkit::docker_cli_build(
        isokit_testkit::CliBuilder::BuildKit,
        &theirs.path().join(case.dockerfile),
        theirs.path(),
        &cli_image,
    );
    drop(build);

    let sent_by_isokit = isokit_testkit::exported_paths(&pushed, "ctx");
    let mut sent_by_cli = isokit_testkit::exported_paths(&cli_image, "ctx");
    for &(extra, kind) in case.buildkit_only {
        assert!(
            !sent_by_cli.iter().any(|(path, _)| path == extra),
            "{}: the CLI sent {extra} too; it is not BuildKit-only",
            case.fixture
        );
        sent_by_cli.push((extra.to_owned(), kind));
    }
    for &(older, kind) in case.older_matcher_only {
        let before = sent_by_cli.len();
        sent_by_cli.retain(|sent| *sent != (older.to_owned(), kind));
        assert_eq!(
            sent_by_cli.len() + 1,
            before,
            "{}: {older} was not sent by the CLI",
            case.fixture
        );
    }
    sent_by_cli.sort();
    assert_eq!(
        sent_by_isokit, sent_by_cli,
        "{}: isokit push (left) and docker build (right) sent different files",
        case.fixture
    );
    let has = |path: &str| sent_by_isokit.iter().any(|(sent, _)| sent == path);
    assert!(
        has(case.sent),
        "{}: {} must arrive",
        case.fixture,
        case.sent
    );
    assert!(
        !has(case.kept_out),
        "{}: {} must stay out",
        case.fixture,
        case.kept_out
    );
}

/// A copy of a fixture, plus a hard link, which git cannot hold.
fn copy_with_hard_link(fixture: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("context copy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(fixture.join("."))
        .arg(copy.path())
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy {}", fixture.display());
    std::fs::hard_link(
        copy.path().join(".dockerignore"),
        copy.path().join("hard-linked-ignore-file"),
    )
    .expect("hard link");
    copy
}

#[test]
fn parity_negations() {
    check_parity(Parity {
        fixture: "negations",
        sent: "docs/keep/c.txt",
        kept_out: "README-old.md",
        ..PARITY
    });
}

#[test]
fn parity_double_star() {
    check_parity(Parity {
        fixture: "double-star",
        sent: "build/keep/k.txt",
        kept_out: "x/y/z.log",
        ..PARITY
    });
}

#[test]
fn parity_parent_exclusion_with_child_exception() {
    check_parity(Parity {
        fixture: "parent-exception",
        sent: "target/release/app",
        kept_out: "target/release/other",
        ..PARITY
    });
}

#[test]
fn parity_wildcard_exceptions_under_excluded_directories() {
    check_parity(Parity {
        fixture: "wildcard-exception",
        buildkit_only: &[("dir", 'd'), ("dir/sub", 'd'), ("dir/sub/keep.txt", 'f')],
        sent: "lib/sub/keep.txt",
        kept_out: "dir/sub/drop.txt",
        ..PARITY
    });
}

#[test]
fn parity_escaped_characters() {
    check_parity(Parity {
        fixture: "escapes",
        sent: "rooted/x.txt",
        kept_out: "rooted/y.txt",
        ..PARITY
    });
}

#[test]
fn parity_docker_quirks() {
    check_parity(Parity {
        fixture: "quirks",
        older_matcher_only: &[("barfoo", 'f')],
        sent: "a^bc",
        kept_out: "x/foo",
        ..PARITY
    });
}

#[test]
fn parity_a_dockerfile_specific_ignore_file() {
    check_parity(Parity {
        fixture: "dockerfile-specific",
        sent: "public.txt",
        kept_out: "secret.txt",
        ..PARITY
    });
}

#[test]
fn parity_symbolic_and_hard_links() {
    check_parity(Parity {
        fixture: "symlinks",
        sent: "hard-linked-ignore-file",
        kept_out: "skipped.txt",
        ..PARITY
    });
}

#[test]
fn parity_excluded_build_files() {
    check_parity(Parity {
        fixture: "build-files-excluded",
        sent: "src/a.rs",
        kept_out: "Dockerfile",
        ..PARITY
    });
}

#[test]
fn parity_a_dockerfile_in_an_excluded_directory() {
    check_parity(Parity {
        fixture: "nested-dockerfile",
        dockerfile: "docker/Dockerfile",
        sent: "docker/assets/logo.svg",
        kept_out: "docker/Dockerfile",
        ..PARITY
    });
}

/// A context of a static busybox and `noise` bytes no other run has (which
/// do not compress: more than one upload chunk), whose image prints a line
/// and the noise's checksum.
fn direct_upload_context(noise: usize) -> tempfile::TempDir {
    let dockerfile = tempfile::NamedTempFile::new().expect("a Dockerfile");
    std::fs::write(
        dockerfile.path(),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY noise /noise\n\
         CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo uploaded-directly; /bin/busybox md5sum /noise\"]\n",
    )
    .expect("write the Dockerfile");
    let context = isokit_testkit::busybox_context(dockerfile.path());
    std::fs::write(context.path().join("noise"), noise_bytes(noise)).expect("write the noise");
    context
}

/// Bytes that differ from run to run and do not compress.
fn noise_bytes(size: usize) -> Vec<u8> {
    let seed = unique_name("noise");
    let mut state = seed.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |state, byte| {
        (state ^ u64::from(byte)).wrapping_mul(0x1000_0000_01b3)
    }) | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Pulls `image` from the local ECR with the docker CLI, logged in through a
/// throwaway config folder so that nothing lands in `~/.docker`.
fn docker_pull(local: &LocalAws, image: &str) {
    let config = tempfile::tempdir().expect("a docker config folder");
    let config_dir = path_text(config.path());
    let mut login = Command::new("docker")
        .args([
            "--config",
            config_dir,
            "login",
            "--username",
            "AWS",
            "--password-stdin",
        ])
        .arg(local.registry())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run docker login");
    {
        use std::io::Write;
        let mut stdin = login.stdin.take().expect("stdin");
        stdin
            .write_all(local.token_password().as_bytes())
            .expect("write the password");
    }
    assert!(
        login.wait().expect("docker login").success(),
        "docker login failed"
    );
    docker(&["--config", config_dir, "pull", image]);
}

/// (layers pushed, layers skipped) of a push's JSON result.
fn layer_counts(pushed: &serde_json::Value) -> (u64, u64) {
    (
        u64_field(pushed, "layers_pushed"),
        u64_field(pushed, "layers_skipped"),
    )
}

/// Removes `image` from the engine and pulls it back from the local ECR.
fn pull_back(local: &LocalAws, image: &str) {
    let _removing = removing_images();
    docker(&["rmi", image]);
    docker_pull(local, image);
}

/// A layer cache that cannot be written costs a warning, never the push.
#[test]
fn a_layer_cache_that_cannot_be_written_costs_a_warning_not_the_push() {
    // A folder inside /dev/null cannot be made, by root or anyone.
    let mut pusher =
        Pusher::with(Isokit::new(ISOKIT).env("XDG_CACHE_HOME", "/dev/null/isokit-cache"));
    let repository = pusher.repository("uncached");
    let context = fresh_hello_context();
    let run = pusher.pushed_json(context.path(), &repository, &[]);
    assert!(
        run.stderr
            .contains("warning: the layer cache could not be written ("),
        "{run:#?}"
    );
    assert!(u64_field(&run.json(), "layers_pushed") >= 1, "{run:#?}");
}

/// The direct upload: the image pulls back from the registry into an engine
/// that no longer has it, with the engine's own image ID (the config blob
/// is the engine's, byte for byte), and runs; a push of it under another tag
/// uploads nothing; an image built on it uploads only its own layer; the
/// same image in another repository of the registry is lent its layers.
#[test]
fn a_direct_push_pulls_back_as_the_same_image_and_uploads_each_layer_once() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("direct");
    let context = direct_upload_context(12 << 20);
    let push = |context: &Path, tag: &str| {
        let run = pusher.push_tagged(context, &repository, tag, &[]);
        run.assert_success();
        run
    };
    let first = push(context.path(), "v1");
    let pushed = first.json();
    assert_eq!(layer_counts(&pushed), (2, 0), "{first:#?}");
    assert!(first.stderr.contains("uploaded"), "{first:#?}");
    let tagged = str_field(&pushed, "tagged_uri").to_owned();
    let digest = str_field(&pushed, "digest").to_owned();
    assert_eq!(
        pusher.local.registry_digest(&repository, "v1").as_deref(),
        Some(digest.as_str())
    );
    let built_id = docker(&["image", "inspect", "--format", "{{.Id}}", &tagged]);
    let cache = pusher.isokit.home().join(format!(
        ".cache/isokit/layers/{}.json",
        pusher.local.registry()
    ));
    assert!(cache.is_file(), "the layer cache is written: {first:#?}");

    pull_back(&pusher.local, &tagged);
    assert_eq!(
        docker(&["image", "inspect", "--format", "{{.Id}}", &tagged]),
        built_id,
        "the pulled image is the engine's own: its config is unchanged"
    );
    let ran = docker(&["run", "--rm", &tagged]);
    let noise_sum = Command::new("md5sum")
        .arg(context.path().join("noise"))
        .output()
        .expect("md5sum");
    let noise_sum = String::from_utf8_lossy(&noise_sum.stdout);
    let noise_sum = noise_sum.split_whitespace().next().expect("a checksum");
    assert_eq!(ran, format!("uploaded-directly\n{noise_sum}  /noise"));

    // The same context under another tag (rebuilt: the pulled image carries
    // no build cache, so its config is new, its layers are not): the cache
    // and the registry's answers spare every layer.
    let again = push(context.path(), "v2");
    let repeated = again.json();
    assert!(!again.stderr.contains("compressed to"), "{again:#?}");
    assert_eq!(layer_counts(&repeated), (0, 2), "{again:#?}");

    // An image on top of it: only its own layer goes up.
    let derived = tempfile::tempdir().expect("a context");
    std::fs::write(
        derived.path().join("Dockerfile"),
        format!("FROM {tagged}\nCOPY extra /extra\n"),
    )
    .expect("write the Dockerfile");
    std::fs::write(derived.path().join("extra"), unique_name("extra")).expect("write extra");
    let on_top = push(derived.path(), "v3");
    let layered = on_top.json();
    assert_eq!(layer_counts(&layered), (1, 2), "{on_top:#?}");
    let tagged_on_top = str_field(&layered, "tagged_uri").to_owned();
    pull_back(&pusher.local, &tagged_on_top);
    assert_eq!(
        docker(&[
            "run",
            "--rm",
            &tagged_on_top,
            "/bin/busybox",
            "cat",
            "/extra"
        ]),
        std::fs::read_to_string(derived.path().join("extra")).expect("extra")
    );

    // The same image into another repository: the registry lends it every
    // layer (a cross-repository mount); nothing is compressed or uploaded.
    let elsewhere = pusher.repository("direct-elsewhere");
    let mounted = pusher.push_tagged(context.path(), &elsewhere, "v1", &[]);
    mounted.assert_success();
    assert!(!mounted.stderr.contains("compressed to"), "{mounted:#?}");
    assert_eq!(layer_counts(&mounted.json()), (0, 2), "{mounted:#?}");
    let tagged_elsewhere = str_field(&mounted.json(), "tagged_uri").to_owned();
    pull_back(&pusher.local, &tagged_elsewhere);
    assert!(docker(&["run", "--rm", &tagged_elsewhere]).starts_with("uploaded-directly\n"));
}

/// The engine's push is still there, and gives the same image.
#[test]
fn push_via_engine_pushes_the_same_image() {
    let mut pusher = Pusher::new();
    let repository = pusher.repository("via-engine");
    let context = direct_upload_context(1 << 20);
    let run = pusher.push_tagged(context.path(), &repository, "v1", &["--push-via", "engine"]);
    run.assert_success();
    let pushed = run.json();
    assert!(
        run.stderr.contains("The push refers to") && !run.stderr.contains("compressed to"),
        "the engine pushed, not isokit: {run:#?}"
    );
    // The busybox layer may be mounted from another test's repository.
    assert_eq!(
        u64_field(&pushed, "layers_pushed") + u64_field(&pushed, "layers_skipped"),
        2,
        "{run:#?}"
    );
    let config = pusher.local.aws(&[
        "ecr",
        "batch-get-image",
        "--repository-name",
        &repository,
        "--image-ids",
        "imageTag=v1",
    ]);
    let manifest: serde_json::Value = serde_json::from_str(
        config["images"][0]["imageManifest"]
            .as_str()
            .expect("a manifest"),
    )
    .expect("JSON");
    let tagged = str_field(&pushed, "tagged_uri");
    assert_eq!(
        manifest["config"]["digest"].as_str(),
        Some(docker(&["image", "inspect", "--format", "{{.Id}}", tagged]).as_str())
    );
}

/// A loopback HTTPS proxy (`CONNECT`) that cuts the first tunnel up which
/// more than `cut_after` bytes have gone: a connection to the registry
/// dropped in the middle of a blob. It tunnels only to loopback addresses.
struct CuttingProxy {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What [`CuttingProxy`] does to the first tunnel that carries its quota.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Closes it.
    Cut,
    /// Holds it open and stops passing bytes on, as a stalled network does.
    Stall,
}

impl CuttingProxy {
    fn start(cut_after: u64, fault: Fault) -> CuttingProxy {
        use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let (counter, cut_flag) = (connections.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let cut_flag = cut_flag.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let addresses: Vec<_> = target
                        .to_socket_addrs()
                        .map(Iterator::collect)
                        .unwrap_or_default();
                    use std::io::Write;
                    if addresses.is_empty()
                        || !addresses
                            .iter()
                            .all(|a: &std::net::SocketAddr| a.ip().is_loopback())
                    {
                        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                        return;
                    }
                    let Ok(upstream) = TcpStream::connect(&addresses[..]) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut up_reader, mut up_writer) = (
                        client.try_clone().expect("clone"),
                        upstream.try_clone().expect("clone"),
                    );
                    let (mut down_reader, mut down_writer) = (upstream, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut down_reader, &mut down_writer);
                        let _ = down_writer.shutdown(Shutdown::Both);
                    });
                    let mut sent = 0u64;
                    let mut buffer = vec![0u8; 64 << 10];
                    loop {
                        let n = match up_reader.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        sent += n as u64;
                        // Only the first tunnel to carry that much is cut.
                        if sent > cut_after
                            && cut_flag
                                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                                .is_ok()
                        {
                            if fault == Fault::Stall {
                                std::thread::sleep(std::time::Duration::from_secs(300));
                            }
                            break;
                        }
                        if up_writer.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = up_writer.shutdown(Shutdown::Both);
                    let _ = up_reader.shutdown(Shutdown::Both);
                });
            }
        });
        CuttingProxy {
            port,
            connections,
            cut,
        }
    }
}

/// Stopped in the middle of an upload, a push leaves nothing under the tag
/// and removes the repository it created, as when stopped in the build.
#[test]
fn a_push_interrupted_mid_upload_leaves_no_tag_and_removes_its_repository() {
    use std::sync::atomic::Ordering;
    let proxy = CuttingProxy::start(3 << 20, Fault::Stall);
    let isokit = Isokit::new(ISOKIT)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port))
        .env("NO_PROXY", "s3.localhost,localhost,127.0.0.1");
    let mut pusher = Pusher::with(isokit);
    let repository = pusher.repository("stopped-upload");
    let context = direct_upload_context(12 << 20);
    let build = building();
    let running = pusher.spawn(
        &[
            "--context",
            path_text(context.path()),
            "--repo",
            &repository,
            "--tag",
            "v1",
        ],
        &build,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !proxy.cut.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached the proxy's quota"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, rest) = running.signal("INT");
    drop(build);
    pusher.local.assert_no_token("stderr", &rest);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains(&format!(
            "error: interrupted by SIGINT: removed ECR repository {repository}, which this push \
             had created"
        )),
        "{rest}"
    );
    assert!(!pusher.repository_exists(&repository), "{rest}");
    assert_eq!(
        pusher.local.registry_digest(&repository, "v1"),
        None,
        "{rest}"
    );
}

/// A registry connection dropped in the middle of a blob costs a retry,
/// not the push. The proxy is reached through the standard `HTTPS_PROXY`
/// (the AWS API, on `s3.localhost`, is left out by `NO_PROXY`).
#[test]
fn a_connection_dropped_mid_blob_is_retried_and_the_push_completes() {
    use std::sync::atomic::Ordering;
    let proxy = CuttingProxy::start(3 << 20, Fault::Cut);
    let isokit = Isokit::new(ISOKIT)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port))
        .env("NO_PROXY", "s3.localhost,localhost,127.0.0.1");
    let mut pusher = Pusher::with(isokit);
    let repository = pusher.repository("dropped");
    let context = direct_upload_context(12 << 20);
    let run = pusher.push_tagged(context.path(), &repository, "v1", &[]);
    run.assert_success();
    assert!(
        proxy.cut.load(Ordering::SeqCst),
        "the upload went through the proxy, which cut it: {run:#?}"
    );
    assert!(proxy.connections.load(Ordering::SeqCst) >= 2, "{run:#?}");
    let pushed = run.json();
    assert_eq!(
        pusher.local.registry_digest(&repository, "v1").as_deref(),
        Some(str_field(&pushed, "digest"))
    );
    let tagged = str_field(&pushed, "tagged_uri").to_owned();
    pull_back(&pusher.local, &tagged);
    assert!(docker(&["run", "--rm", &tagged]).starts_with("uploaded-directly\n"));
}
