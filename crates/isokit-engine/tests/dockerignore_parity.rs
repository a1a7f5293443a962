//! The files that reach an image through isokit are the files that reach it
//! through the docker CLI, for contexts with tricky `.dockerignore` files.
//!
//! Each fixture under `tests/fixtures/dockerignore/` is built with `COPY .
//! /ctx/` four times: through `Engine::build` and through `docker build`,
//! each with the classic builder and with BuildKit (`DOCKER_BUILDKIT=1` and
//! the 20.10 CLI, which is a BuildKit client of its own). The images are
//! exported and their `/ctx` trees compared, path and type.
//!
//! isokit follows today's Docker. Where a peer here differs, the case says
//! so and the test checks that this is the only difference:
//! - the classic CLI is given a Dockerfile-specific ignore file as its
//!   `.dockerignore` (which is what BuildKit's precedence amounts to);
//! - the paths only today's BuildKit walk re-includes (wildcard exceptions
//!   inside an excluded directory) are listed; neither CLI here sends them;
//! - the paths the 20.10 BuildKit CLI's older pattern matcher lets through
//!   are listed.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::{Images, engine, fixtures, prepared};
use isokit_engine::{BuildContext, BuildOptions, ContextOptions};
use isokit_testkit::{CliBuilder, exported_paths, unique_name};
use isokit_ui::Ui;

struct Case {
    name: &'static str,
    /// The Dockerfile's path in the fixture.
    dockerfile: &'static str,
    /// The ignore file the CLI must use to match BuildKit's precedence.
    cli_ignore_file: Option<&'static str>,
    /// Paths today's BuildKit walk sends (it follows wildcard exceptions
    /// into excluded directories) and neither the classic CLI nor the 20.10
    /// BuildKit CLI's older walk does.
    buildkit_only: &'static [(&'static str, char)],
    /// Paths the 20.10 BuildKit CLI's older pattern matcher lets through,
    /// which today's Docker (and its classic CLI here) excludes.
    older_matcher_only: &'static [(&'static str, char)],
    /// A few paths that must arrive, so that two empty trees cannot agree.
    must_include: &'static [&'static str],
    /// A few paths that must not.
    must_exclude: &'static [&'static str],
}

const DOCKERFILE: &str = "Dockerfile";

async fn check(case: Case) {
    compare(&case, CliBuilder::Classic).await;
    compare(&case, CliBuilder::BuildKit).await;
}

/// Builds the case through isokit and through the docker CLI with the
/// same builder, and compares what reached each image. BuildKit's CLI is
/// given the fixture as it is: isokit's BuildKit path must match it exactly.
async fn compare(case: &Case, builder: CliBuilder) {
    let engine = engine().await;
    let mut images = Images::default();
    let fixture = fixtures().join("dockerignore").join(case.name);
    let context = copy_fixture(&fixture);
    let name = |side: &str| {
        format!(
            "{}:{side}",
            unique_name(&format!("isokit-engine-parity-{}", case.name))
        )
    };

    let isokit_tag = images.track(name("isokit"));
    let options = BuildOptions {
        tags: vec![isokit_tag.clone()],
        ..Default::default()
    };
    let context_options =
        ContextOptions::new(context.path()).with_dockerfile(context.path().join(case.dockerfile));
    let isokit_context = match builder {
        CliBuilder::Classic => prepared(context_options),
        CliBuilder::BuildKit => BuildContext::prepare_for_session(&context_options)
            .expect("prepare the context for BuildKit"),
    };
    engine
        .build(isokit_context, &options, &Ui::quiet())
        .await
        .expect("isokit build");

    let peer = copy_fixture(&fixture);
    let classic = builder == CliBuilder::Classic;
    if let Some(ignore_file) = case.cli_ignore_file.filter(|_| classic) {
        std::fs::copy(
            peer.path().join(ignore_file),
            peer.path().join(".dockerignore"),
        )
        .expect("swap ignore file");
    }
    let cli_tag = images.track(name("cli"));
    isokit_testkit::docker_cli_build(
        builder,
        &peer.path().join(case.dockerfile),
        peer.path(),
        &cli_tag,
    );

    let ours = exported_paths(&isokit_tag, "ctx");
    let mut theirs = exported_paths(&cli_tag, "ctx");
    for extra in case.buildkit_only {
        let extra = (extra.0.to_string(), extra.1);
        assert!(
            !theirs.contains(&extra),
            "{} ({builder:?}): the CLI sent {extra:?} too; it is not BuildKit-only",
            case.name
        );
        theirs.push(extra);
    }
    for older in case.older_matcher_only.iter().filter(|_| !classic) {
        let older = (older.0.to_string(), older.1);
        let before = theirs.len();
        theirs.retain(|sent| *sent != older);
        assert_eq!(
            theirs.len() + 1,
            before,
            "{}: the 20.10 BuildKit CLI did not send {older:?}; the older matcher is not the difference",
            case.name
        );
    }
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "{} ({builder:?}): isokit (left) and the docker CLI (right) sent different files",
        case.name
    );
    for path in case.must_include {
        assert!(
            ours.iter().any(|(sent, _)| sent == path),
            "{} ({builder:?}): {path} must be sent: {ours:?}",
            case.name
        );
    }
    for path in case.must_exclude {
        assert!(
            !ours.iter().any(|(sent, _)| sent == path),
            "{} ({builder:?}): {path} must stay out: {ours:?}",
            case.name
        );
    }
}

/// A copy of the fixture, plus a hard link (git cannot hold one) that both
/// sides must store as such.
fn copy_fixture(fixture: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("context copy");
    copy_tree(fixture, copy.path());
    std::fs::hard_link(
        copy.path().join(".dockerignore"),
        copy.path().join("hard-linked-ignore-file"),
    )
    .expect("hard link");
    copy
}

/// Copies a directory tree, keeping symbolic links as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read fixture directory") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            symlink(
                std::fs::read_link(entry.path()).expect("read link"),
                &target,
            )
            .expect("copy link");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn case(name: &'static str) -> Case {
    Case {
        name,
        dockerfile: DOCKERFILE,
        cli_ignore_file: None,
        buildkit_only: &[],
        older_matcher_only: &[],
        must_include: &[],
        must_exclude: &[],
    }
}

#[tokio::test]
async fn negations() {
    check(Case {
        must_include: &[
            "README.md",
            "docs/keep/c.txt",
            "docs/keep/d.md",
            "src/main.rs",
        ],
        must_exclude: &[
            "CHANGES.md",
            "README-old.md",
            "docs/a.txt",
            "docs/sub/b.txt",
        ],
        ..case("negations")
    })
    .await;
}

#[tokio::test]
async fn double_star() {
    check(Case {
        must_include: &[
            "src/ok.rs",
            "build/keep/k.txt",
            "notes/tmpfile",
            "other.txt",
        ],
        must_exclude: &["a.log", "x/y/z.log", "build/out.o", "tmp", "x/tmp"],
        ..case("double-star")
    })
    .await;
}

#[tokio::test]
async fn parent_exclusion_with_child_exception() {
    check(Case {
        must_include: &["target/release/app", "vendor/keep/y", "main.rs"],
        must_exclude: &[
            "target/debug/x",
            "target/release/other",
            "vendor/a/x",
            "vendor/top.txt",
            "cache",
        ],
        ..case("parent-exception")
    })
    .await;
}

#[tokio::test]
async fn wildcard_exceptions_under_excluded_directories() {
    check(Case {
        buildkit_only: &[("dir", 'd'), ("dir/sub", 'd'), ("dir/sub/keep.txt", 'f')],
        must_include: &["logs/a.keep", "lib/sub/keep.txt"],
        must_exclude: &["dir/other", "dir/sub/drop.txt", "logs/b.log"],
        ..case("wildcard-exception")
    })
    .await;
}

#[tokio::test]
async fn escaped_characters() {
    check(Case {
        must_include: &[
            "axb.txt",
            "qx.txt",
            "br1.txt",
            "backslash.txt",
            "rooted/x.txt",
        ],
        must_exclude: &[
            "a*b.txt",
            "q?.txt",
            "br[1].txt",
            "back\\slash.txt",
            "spaced.txt",
            "rooted/y.txt",
        ],
        ..case("escapes")
    })
    .await;
}

#[tokio::test]
async fn docker_quirks() {
    check(Case {
        must_include: &["*", "axb", "foox", "filed", "b", "a^bc"],
        // `**foo`: the older matcher wants a `/` (or nothing) before `foo`.
        older_matcher_only: &[("barfoo", 'f')],
        must_exclude: &["]", "ab", "ax/b", "barfoo", "x/foo", "file7", "!", "a"],
        ..case("quirks")
    })
    .await;
}

#[tokio::test]
async fn a_dockerfile_specific_ignore_file() {
    check(Case {
        cli_ignore_file: Some("Dockerfile.dockerignore"),
        must_include: &["public.txt", "other.txt", "Dockerfile"],
        must_exclude: &["secret.txt", ".dockerignore", "Dockerfile.dockerignore"],
        ..case("dockerfile-specific")
    })
    .await;
}

#[tokio::test]
async fn symbolic_links() {
    check(Case {
        must_include: &[
            "link-to-file",
            "link-to-dir",
            "dangling",
            "dir/up",
            "dir/inner.txt",
            "hard-linked-ignore-file",
        ],
        must_exclude: &["skip-link", "skipped.txt"],
        ..case("symlinks")
    })
    .await;
}

#[tokio::test]
async fn excluded_build_files_are_read_then_dropped() {
    check(Case {
        must_include: &["src/a.rs"],
        must_exclude: &["Dockerfile", ".dockerignore", "other.txt"],
        ..case("build-files-excluded")
    })
    .await;
}

#[tokio::test]
async fn a_dockerfile_in_an_excluded_directory() {
    check(Case {
        dockerfile: "docker/Dockerfile",
        must_include: &["app.py", "docker/assets/logo.svg"],
        must_exclude: &["docker/notes.txt", "docker/Dockerfile"],
        ..case("nested-dockerfile")
    })
    .await;
}
