//! Files replaced between listing and sending, on the real file system: the
//! archive is never written from anything but the file that was listed (and,
//! once fingerprinted, the bytes that were fingerprinted), a FIFO never
//! blocks, and the error names the file and says what to do.

use std::fs::{self, File};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use isokit_context::{BuildContext, ContextError, ContextOptions};

/// The listed file's content, and a replacement of the same size.
const LISTED: &str = "listed content, 32 bytes long..\n";
const SAME_SIZE: &str = "other content, the same length!\n";

/// Longer than any send of these few bytes takes, short enough that a
/// blocked send fails the test rather than hanging it.
const SEND_LIMIT: Duration = Duration::from_secs(20);

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").expect("Dockerfile");
    fs::write(dir.path().join("data.txt"), LISTED).expect("data.txt");
    dir
}

fn prepare(dir: &Path) -> BuildContext {
    BuildContext::prepare(&ContextOptions::new(dir)).expect("prepare the context")
}

fn fingerprinted(dir: &Path) -> BuildContext {
    let context = prepare(dir);
    context.fingerprint().expect("fingerprint");
    context
}

/// Both ways a context is sent: with the fingerprint of a content tag, and
/// without (`--tag`).
fn prepared(dir: &Path, fingerprint: bool) -> BuildContext {
    if fingerprint {
        fingerprinted(dir)
    } else {
        prepare(dir)
    }
}

fn set_modified(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
        .expect("set the modification time");
}

/// Runs `work` on its own thread; a thread still blocked after
/// [`SEND_LIMIT`] fails the test (and is left behind).
fn bounded<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    outcome
        .recv_timeout(SEND_LIMIT)
        .unwrap_or_else(|_| panic!("{what} blocked for {SEND_LIMIT:?}"))
}

/// Writes the archive as a send does, bounded in time.
fn send(context: BuildContext) -> Result<Vec<u8>, ContextError> {
    bounded("sending the context", move || {
        context.write_archive(Vec::new())
    })
}

/// The error that must stop the send of `context`.
fn send_failure(context: BuildContext, case: &str) -> ContextError {
    match send(context) {
        Ok(archive) => panic!(
            "{case}: the whole archive was written ({} bytes)",
            archive.len()
        ),
        Err(error) => error,
    }
}

/// The error must name `data.txt`, say what happened, and what to do.
fn assert_names_the_change(error: &ContextError, detail: &str) {
    assert!(
        matches!(error, ContextError::FileChanged { path, .. } if path.ends_with("data.txt")),
        "{error:?}"
    );
    let shown = error.to_string();
    for expected in ["data.txt", detail, "leave it out with .dockerignore"] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from: {shown}"
        );
    }
}

fn replace_by_fifo(path: &Path) {
    if path.exists() {
        fs::remove_file(path).expect("remove the listed file");
    }
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// Rewrites `path` in place with `content`, then gives it back the
/// modification time it had: only its bytes tell it apart.
fn rewrite_keeping_the_time(path: &Path, content: &str) {
    let listed_time = fs::metadata(path)
        .and_then(|meta| meta.modified())
        .expect("modification time");
    fs::write(path, content).expect("rewrite");
    set_modified(path, listed_time);
}

#[test]
fn untouched_files_are_sent_as_they_were_fingerprinted() {
    let dir = context();
    let context = fingerprinted(dir.path());
    let archive = send(context).expect("send");
    let mut found = false;
    for entry in tar::Archive::new(&archive[..]).entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path_bytes().as_ref() == b"data.txt" {
            let mut content = String::new();
            std::io::Read::read_to_string(&mut entry, &mut content).expect("content");
            assert_eq!(content, LISTED);
            found = true;
        }
    }
    assert!(found, "data.txt was not sent");
}

#[test]
fn a_file_replaced_by_a_symlink_to_a_same_size_file_is_not_followed() {
    // What the link points at must never reach the engine: it may lie
    // outside the context.
    let outside = tempfile::tempdir().expect("outside");
    let secret = outside.path().join("secret");
    fs::write(&secret, SAME_SIZE).expect("secret");
    for fingerprint in [true, false] {
        let dir = context();
        let context = prepared(dir.path(), fingerprint);
        let data = dir.path().join("data.txt");
        fs::remove_file(&data).expect("remove");
        symlink(&secret, &data).expect("symlink");
        let error = send_failure(context, "a listed file that became a symlink");
        assert_names_the_change(&error, "it is now a symbolic link");
    }
}

#[test]
fn a_file_replaced_by_a_fifo_fails_at_once() {
    for fingerprint in [true, false] {
        let dir = context();
        let context = prepared(dir.path(), fingerprint);
        replace_by_fifo(&dir.path().join("data.txt"));
        let error = send_failure(context, "a listed file that became a FIFO");
        assert_names_the_change(&error, "it is now a FIFO");
    }

    // Nor does the fingerprint wait on one.
    let dir = context();
    let context = prepare(dir.path());
    replace_by_fifo(&dir.path().join("data.txt"));
    let error = bounded("fingerprinting", move || context.fingerprint())
        .expect_err("fingerprinting a FIFO");
    assert_names_the_change(&error, "it is now a FIFO");
}

#[test]
fn a_same_size_rewrite_after_the_fingerprint_fails_even_with_its_time_restored() {
    let dir = context();
    let context = fingerprinted(dir.path());
    rewrite_keeping_the_time(&dir.path().join("data.txt"), SAME_SIZE);
    let error = send_failure(context, "bytes other than the fingerprinted ones");
    assert_names_the_change(
        &error,
        "differs from what the content tag was computed from",
    );
}

#[test]
fn a_same_size_rewrite_fails_without_a_fingerprint() {
    // What `--tag` sends: no digest to compare, but the file is no longer
    // the one listed.
    let dir = context();
    let context = prepare(dir.path());
    let data = dir.path().join("data.txt");
    fs::write(&data, SAME_SIZE).expect("rewrite");
    // The clock may not have ticked since the listing: move it surely.
    set_modified(&data, SystemTime::now() + Duration::from_secs(60));
    let error = send_failure(context, "a rewritten file");
    assert_names_the_change(&error, "it was modified");

    // The fingerprint, taken after such a rewrite, refuses it likewise.
    let context = prepare(dir.path());
    fs::write(&data, LISTED).expect("rewrite");
    set_modified(&data, SystemTime::now() + Duration::from_secs(120));
    let error = context
        .fingerprint()
        .expect_err("fingerprinting a rewritten file");
    assert_names_the_change(&error, "it was modified");
}

#[test]
fn a_file_renamed_over_the_listed_one_fails() {
    let dir = context();
    let context = prepare(dir.path());
    let data = dir.path().join("data.txt");
    let staged = dir.path().join("staged");
    fs::write(&staged, SAME_SIZE).expect("staged");
    set_modified(
        &staged,
        fs::metadata(&data)
            .and_then(|meta| meta.modified())
            .expect("the listed time"),
    );
    fs::rename(&staged, &data).expect("rename over");
    let error = send_failure(context, "another file under the listed name");
    assert_names_the_change(&error, "it was replaced by another file");
}

#[test]
fn a_removed_file_is_named_as_changed() {
    let dir = context();
    let context = prepare(dir.path());
    fs::remove_file(dir.path().join("data.txt")).expect("remove");
    let error = send_failure(context, "a listed file that is gone");
    assert_names_the_change(&error, "it was removed");
}

#[test]
fn a_fifo_in_place_of_the_ignore_file_is_refused_at_once() {
    let dir = context();
    replace_by_fifo(&dir.path().join(".dockerignore"));
    let root = dir.path().to_path_buf();
    let error = bounded("preparing the context", move || {
        BuildContext::prepare(&ContextOptions::new(root))
    })
    .expect_err("a FIFO is no ignore file");
    assert!(
        matches!(&error, ContextError::IgnoreFileUnreadable { path, .. } if path.ends_with(".dockerignore")),
        "{error:?}"
    );
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("it is a FIFO, not a regular file"),
        "{error}"
    );
}
