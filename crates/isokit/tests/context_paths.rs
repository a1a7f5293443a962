//! `isokit push` with Dockerfile paths out of the ordinary, through the
//! binary against the real Docker Engine and the local AWS: a Dockerfile
//! from outside the context, and one whose name is not UTF-8, build, push,
//! and get the same content tag on every run, as any other inputs do.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use isokit_testkit::{Isokit, LocalAws, Run, building, remove_local_images, unique_name};

const ISOKIT: &str = env!("CARGO_BIN_EXE_isokit");

/// A repository of the test's own, removed with its images when dropped.
struct Repository {
    name: String,
    image_name: String,
}

impl Repository {
    fn new(local: &LocalAws, what: &str) -> Repository {
        let name = unique_name(&format!("isokit-paths-{what}"));
        Repository {
            image_name: format!("{}/{name}", local.registry()),
            name,
        }
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        remove_local_images(&[&self.image_name]);
        let _ = Command::new("aws")
            .args(["ecr", "delete-repository", "--force", "--repository-name"])
            .arg(&self.name)
            .output();
    }
}

/// `isokit push --context CONTEXT --file DOCKERFILE --repo REPOSITORY --output json`.
fn push(local: &LocalAws, context: &Path, dockerfile: &Path, repository: &Repository) -> Run {
    let args: [&OsStr; 8] = [
        "push".as_ref(),
        "--context".as_ref(),
        context.as_os_str(),
        "--file".as_ref(),
        dockerfile.as_os_str(),
        "--repo".as_ref(),
        repository.name.as_ref(),
        "--output".as_ref(),
    ];
    let build = building();
    let run = Isokit::new(ISOKIT).run(args.into_iter().chain(["json".as_ref()]));
    drop(build);
    local.assert_no_token("stdout", &run.stdout);
    local.assert_no_token("stderr", &run.stderr);
    run
}

fn field(run: &Run, name: &str) -> serde_json::Value {
    run.json()[name].clone()
}

fn context_with_hello() -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("context");
    std::fs::write(context.path().join("hello.txt"), "hello\n").expect("hello.txt");
    context
}

#[test]
fn a_dockerfile_outside_the_context_gets_the_same_content_tag_every_run() {
    let local = LocalAws::require();
    let repository = Repository::new(&local, "outside");
    let context = context_with_hello();
    let elsewhere = tempfile::tempdir().expect("Dockerfile directory");
    let dockerfile = elsewhere.path().join("Containerfile");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY hello.txt /srv/\n").expect("Dockerfile");

    let first = push(&local, context.path(), &dockerfile, &repository);
    first.assert_success();
    let tag = field(&first, "tag");
    local.await_listed(&repository.name, tag.as_str().expect("a tag"));
    let again = push(&local, context.path(), &dockerfile, &repository);
    again.assert_success();
    assert_eq!(
        field(&again, "tagged_uri"),
        field(&first, "tagged_uri"),
        "the same inputs must get the same tag:\n{first:#?}\n{again:#?}"
    );
    assert_eq!(
        field(&again, "already_present"),
        serde_json::Value::Bool(true),
        "{again:#?}"
    );
}

#[test]
fn a_dockerfile_whose_name_is_not_utf8_is_built_and_pushed() {
    let local = LocalAws::require();
    let repository = Repository::new(&local, "nonutf8");
    let context = context_with_hello();
    let mut name = OsString::from("Docker");
    name.push(OsStr::from_bytes(b"\xff"));
    name.push("file");
    let dockerfile = context.path().join(name);
    std::fs::write(&dockerfile, "FROM scratch\nCOPY hello.txt /srv/\n").expect("Dockerfile");

    let first = push(&local, context.path(), &dockerfile, &repository);
    first.assert_success();
    let tagged = field(&first, "tagged_uri");
    assert!(
        tagged
            .as_str()
            .is_some_and(|uri| uri.contains(&format!("/{}:ctx-", repository.name))),
        "{first:#?}"
    );
    let again = push(&local, context.path(), &dockerfile, &repository);
    again.assert_success();
    assert_eq!(field(&again, "tagged_uri"), tagged, "{again:#?}");
}
