//! Preparing a build context: the list, in archive order, of every entry
//! that will be sent, put together from where the Dockerfile is
//! (dockerfile.rs), the ignore file that applies, the directory walk
//! (walk.rs) and the ignore file the engine must read (engine_ignore.rs).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ContextError;
use crate::dockerfile::{Dockerfile, copied_dockerfile_name};
use crate::engine_ignore::{engine_ignore_content, escape_glob};
use crate::ignore::IgnoreFile;
use crate::listed::{ListedFile, read_regular};
use crate::pattern::PatternMatcher;
use crate::walk::Walker;

/// Where the build context comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextOptions {
    /// The directory sent as the build context.
    pub context_dir: PathBuf,
    /// The Dockerfile. `None` means `Dockerfile` in the context (or
    /// `dockerfile` when only that exists). A relative path is taken from the
    /// current directory, as `docker build --file` takes it. It may lie
    /// outside the context, and its name need not be UTF-8.
    pub dockerfile: Option<PathBuf>,
}

impl ContextOptions {
    pub fn new(context_dir: impl Into<PathBuf>) -> ContextOptions {
        ContextOptions {
            context_dir: context_dir.into(),
            dockerfile: None,
        }
    }

    pub fn with_dockerfile(mut self, dockerfile: impl Into<PathBuf>) -> ContextOptions {
        self.dockerfile = Some(dockerfile.into());
        self
    }
}

/// What an archive entry holds.
#[derive(Debug, Clone)]
pub(crate) enum EntryKind {
    Directory,
    /// A regular file of the context, read when the archive is written.
    File(ListedFile),
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link to an entry written earlier in the archive.
    HardLink {
        target: Vec<u8>,
    },
    /// Content produced by isokit: the Dockerfile taken from outside the
    /// context, or the `.dockerignore` the engine reads.
    Generated {
        content: Arc<[u8]>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Relative, `/`-separated, without a trailing slash.
    pub(crate) path: Vec<u8>,
    pub(crate) kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky.
    pub(crate) mode: u32,
    /// Whole seconds, and the nanoseconds a file-sync session also sends.
    pub(crate) mtime: i64,
    pub(crate) mtime_nsec: u32,
}

/// How the context reaches the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// A tar archive in the build request (the classic builder).
    Archive,
    /// Files served on request through a BuildKit session.
    Session,
}

/// A file that cannot go into a build context, left out with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    pub path: PathBuf,
    pub kind: SpecialFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFile {
    Socket,
    Fifo,
    Device,
}

impl fmt::Display for SkippedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SpecialFile::Socket => "a socket",
            SpecialFile::Fifo => "a FIFO",
            SpecialFile::Device => "a device",
        };
        write!(
            f,
            "{} is {kind}, which a build context cannot hold: left out",
            self.path.display()
        )
    }
}

/// A build context, checked and listed, ready to be written as a tar archive.
///
/// Preparing it reads no file contents (beyond the Dockerfile and ignore
/// files) but opens every regular file once, so that an unreadable file is
/// reported before anything reaches the engine.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub(crate) root: PathBuf,
    pub(crate) entries: Vec<Entry>,
    /// The Dockerfile's name in the archive, or, for a session, its file name.
    dockerfile_in_archive: String,
    /// Set for a context prepared for a session.
    pub(crate) session_dockerfile: Option<Arc<[u8]>>,
    ignore_file: Option<PathBuf>,
    skipped: Vec<SkippedEntry>,
}

impl BuildContext {
    /// Prepares the context to be sent as a tar archive (the classic
    /// builder): the Dockerfile and `.dockerignore` travel in it even when
    /// excluded, because the engine reads them from the archive.
    pub fn prepare(options: &ContextOptions) -> Result<BuildContext, ContextError> {
        BuildContext::prepare_for(options, Transfer::Archive)
    }

    /// Prepares the context to be sent through a BuildKit session, as
    /// `DOCKER_BUILDKIT=1 docker build` sends it: exactly the files the
    /// ignore file lets through, with the Dockerfile served on its own (see
    /// [`BuildContext::session_dockerfile`]), so that an excluded Dockerfile
    /// or `.dockerignore` never reaches the image.
    pub fn prepare_for_session(options: &ContextOptions) -> Result<BuildContext, ContextError> {
        BuildContext::prepare_for(options, Transfer::Session)
    }

    fn prepare_for(
        options: &ContextOptions,
        transfer: Transfer,
    ) -> Result<BuildContext, ContextError> {
        let root = resolve_context_dir(&options.context_dir)?;
        let dockerfile = Dockerfile::locate(&root, options.dockerfile.as_deref())?;
        let ignore = IgnoreFile::find(&root, &dockerfile.named)?;
        let own_matcher = match &ignore {
            Some(ignore) => ignore.matcher(&[])?,
            None => PatternMatcher::default(),
        };
        let read_dockerfile = || {
            read_regular(&dockerfile.resolved).map_err(|source| {
                ContextError::DockerfileUnreadable {
                    path: dockerfile.resolved.clone(),
                    source,
                }
            })
        };

        if transfer == Transfer::Session {
            let mut walker = Walker::new(&own_matcher);
            walker.visit_dir(&root, &[], None, false)?;
            let name = dockerfile
                .named
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".to_string());
            return Ok(BuildContext {
                root,
                entries: walker.entries,
                dockerfile_in_archive: name,
                session_dockerfile: Some(read_dockerfile()?.into()),
                ignore_file: ignore.map(|ignore| ignore.path),
                skipped: walker.skipped,
            });
        }

        // The engine reads the Dockerfile and `.dockerignore` from the
        // archive, so they are sent even when excluded, as the docker CLI
        // sends them; the engine drops excluded ones after reading them.
        let mut forced = Vec::new();
        if own_matcher.matches_with_single_parent(".dockerignore") {
            forced.push("!.dockerignore".to_string());
        }
        if let Some(inside) = &dockerfile.inside_path
            && own_matcher.matches_with_single_parent(inside)
        {
            forced.push(format!("!{}", escape_glob(inside)));
        }
        let matcher = match &ignore {
            Some(ignore) => ignore.matcher(&forced)?,
            // Without patterns nothing is excluded, so nothing needs forcing back in.
            None => PatternMatcher::default(),
        };

        let mut walker = Walker::new(&matcher);
        walker.visit_dir(&root, &[], None, false)?;
        let Walker {
            mut entries,
            skipped,
            ..
        } = walker;

        let dockerfile_in_archive = match &dockerfile.inside_path {
            Some(inside) => inside.clone(),
            None => {
                let content = read_dockerfile()?;
                let name = copied_dockerfile_name(&content);
                entries.push(Entry {
                    path: name.clone().into_bytes(),
                    kind: EntryKind::Generated {
                        content: content.into(),
                    },
                    mode: 0o600,
                    mtime: now_seconds(),
                    mtime_nsec: 0,
                });
                name
            }
        };

        let outside_name = dockerfile
            .inside_path
            .is_none()
            .then_some(dockerfile_in_archive.as_str());
        if let Some(content) = engine_ignore_content(
            &root,
            ignore.as_ref(),
            &own_matcher,
            &dockerfile_in_archive,
            outside_name,
        ) {
            let content: Arc<[u8]> = content.into_bytes().into();
            match entries
                .iter_mut()
                .find(|entry| entry.path == b".dockerignore")
            {
                Some(existing) => existing.kind = EntryKind::Generated { content },
                None => entries.push(Entry {
                    path: b".dockerignore".to_vec(),
                    kind: EntryKind::Generated { content },
                    mode: 0o600,
                    mtime: now_seconds(),
                    mtime_nsec: 0,
                }),
            }
        }

        Ok(BuildContext {
            root,
            entries,
            dockerfile_in_archive,
            session_dockerfile: None,
            ignore_file: ignore.map(|ignore| ignore.path),
            skipped,
        })
    }

    /// For a context prepared for a session: the Dockerfile's bytes, which
    /// the session serves under [`BuildContext::dockerfile_in_archive`]'s
    /// name.
    pub fn session_dockerfile(&self) -> Option<&[u8]> {
        self.session_dockerfile.as_deref()
    }

    /// The Dockerfile's name inside the archive: what the build request
    /// names as its `dockerfile`.
    pub fn dockerfile_in_archive(&self) -> &str {
        &self.dockerfile_in_archive
    }

    /// The context's folder, resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore file that applied, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// Sockets, FIFOs and devices that were left out.
    pub fn skipped(&self) -> &[SkippedEntry] {
        &self.skipped
    }

    /// Archive entry names in archive order, directories ending in `/`.
    pub fn entry_names(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.iter().map(|entry| {
            let name = String::from_utf8_lossy(&entry.path);
            match entry.kind {
                EntryKind::Directory => format!("{name}/"),
                _ => name.into_owned(),
            }
        })
    }

    /// The uncompressed archive size, to within the rare extended headers
    /// that very long names need; for progress bars.
    pub fn archive_len_hint(&self) -> u64 {
        let blocks = |bytes: u64| bytes.div_ceil(512) * 512;
        let entries: u64 = self
            .entries
            .iter()
            .map(|entry| {
                512 + match &entry.kind {
                    EntryKind::File(listed) => blocks(listed.size),
                    EntryKind::Generated { content } => blocks(content.len() as u64),
                    _ => 0,
                }
            })
            .sum();
        entries + 1024
    }
}

fn resolve_context_dir(dir: &Path) -> Result<PathBuf, ContextError> {
    let root = fs::canonicalize(dir).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ContextError::ContextMissing {
            path: dir.to_path_buf(),
        },
        io::ErrorKind::NotADirectory => ContextError::ContextNotDirectory {
            path: dir.to_path_buf(),
        },
        _ => ContextError::ContextUnreadable {
            path: dir.to_path_buf(),
            source,
        },
    })?;
    if !root.is_dir() {
        return Err(ContextError::ContextNotDirectory {
            path: dir.to_path_buf(),
        });
    }
    Ok(root)
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    use super::*;

    fn write(path: &Path, content: &str) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(path, content).expect("write fixture file");
    }

    fn context_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary context");
        for (path, content) in files {
            write(&dir.path().join(path), content);
        }
        dir
    }

    fn prepare(options: &ContextOptions) -> BuildContext {
        BuildContext::prepare(options).unwrap_or_else(|error| panic!("prepare failed: {error}"))
    }

    fn names(context: &BuildContext) -> Vec<String> {
        context.entry_names().collect()
    }

    /// The content of one archive entry, read back from the written archive.
    fn archived_content(context: &BuildContext, name: &str) -> Option<String> {
        let bytes = context.write_archive(Vec::new()).expect("write archive");
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive.entries().expect("read archive") {
            let mut entry = entry.expect("archive entry");
            if entry.path().expect("entry path").to_string_lossy() == name {
                let mut content = String::new();
                entry.read_to_string(&mut content).expect("entry content");
                return Some(content);
            }
        }
        None
    }

    #[test]
    fn entries_come_in_walk_order_and_ignored_ones_stay_out() {
        let dir = context_with(&[
            ("Dockerfile", "FROM scratch\n"),
            (
                ".dockerignore",
                "# build output\n/target\n*.log\n!keep.log\n",
            ),
            ("a.txt", "a"),
            ("a/b.txt", "b"),
            ("target/debug/big", "x"),
            ("debug.log", "x"),
            ("keep.log", "x"),
        ]);
        let context = prepare(&ContextOptions::new(dir.path()));
        assert_eq!(
            names(&context),
            [
                ".dockerignore",
                "Dockerfile",
                "a/",
                "a/b.txt",
                "a.txt",
                "keep.log"
            ]
        );
        assert_eq!(context.dockerfile_in_archive(), "Dockerfile");
        assert_eq!(
            context.ignore_file(),
            Some(
                dir.path()
                    .canonicalize()
                    .expect("root")
                    .join(".dockerignore")
                    .as_path()
            )
        );
    }

    #[test]
    fn the_dockerfile_and_dockerignore_are_sent_even_when_excluded() {
        let dir = context_with(&[
            ("build/Dockerfile", "FROM scratch\n"),
            ("build/other", "x"),
            (".dockerignore", "build\n.dockerignore\n"),
            ("src/main.rs", ""),
        ]);
        let options =
            ContextOptions::new(dir.path()).with_dockerfile(dir.path().join("build/Dockerfile"));
        let context = prepare(&options);
        assert_eq!(
            names(&context),
            [
                ".dockerignore",
                "build/",
                "build/Dockerfile",
                "src/",
                "src/main.rs"
            ]
        );
        assert_eq!(context.dockerfile_in_archive(), "build/Dockerfile");
        // The context's own .dockerignore serves: the engine reads it as is.
        assert_eq!(
            archived_content(&context, ".dockerignore").as_deref(),
            Some("build\n.dockerignore\n")
        );
    }

    #[test]
    fn a_lowercase_dockerfile_is_found_when_it_is_the_only_one() {
        let dir = context_with(&[("dockerfile", "FROM scratch\n")]);
        assert_eq!(
            prepare(&ContextOptions::new(dir.path())).dockerfile_in_archive(),
            "dockerfile"
        );
    }

    #[test]
    fn wildcard_exceptions_reach_into_excluded_directories_as_in_buildkit() {
        let files = [
            ("Dockerfile", ""),
            ("dir/sub/keep.txt", ""),
            ("dir/sub/drop.txt", ""),
            ("dir/other", ""),
            ("lib/sub/keep.txt", ""),
        ];
        let dir = context_with(&files);
        write(
            &dir.path().join(".dockerignore"),
            "dir\n!*/sub/keep.txt\n.dockerignore\n",
        );
        assert_eq!(
            names(&prepare(&ContextOptions::new(dir.path()))),
            [
                ".dockerignore",
                "Dockerfile",
                "dir/",
                "dir/sub/",
                "dir/sub/keep.txt",
                "lib/",
                "lib/sub/",
                "lib/sub/keep.txt"
            ]
        );

        // A plain exception is found by prefix; one that cannot reach inside
        // leaves the directory out entirely.
        write(
            &dir.path().join(".dockerignore"),
            "dir\n!dir/sub/keep.txt\n",
        );
        let plain = names(&prepare(&ContextOptions::new(dir.path())));
        assert!(plain.contains(&"dir/sub/keep.txt".to_string()), "{plain:?}");
        assert!(!plain.contains(&"dir/other".to_string()), "{plain:?}");
        write(&dir.path().join(".dockerignore"), "dir\n!lib/sub\n");
        let unrelated = names(&prepare(&ContextOptions::new(dir.path())));
        assert!(
            !unrelated.iter().any(|name| name.starts_with("dir")),
            "{unrelated:?}"
        );
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_added_under_a_generated_name() {
        let outside = context_with(&[("app.Dockerfile", "FROM scratch\nCOPY . /ctx/\n")]);
        let dir = context_with(&[("src/lib.rs", ""), (".dockerignore", "*.tmp")]);
        let options =
            ContextOptions::new(dir.path()).with_dockerfile(outside.path().join("app.Dockerfile"));
        let context = prepare(&options);

        let name = context.dockerfile_in_archive().to_string();
        let suffix = name.strip_prefix(".dockerfile.").expect("generated name");
        assert_eq!(suffix.len(), 20);
        assert!(suffix.chars().all(|ch| ch.is_ascii_hexdigit()), "{name}");
        assert_eq!(
            archived_content(&context, &name).as_deref(),
            Some("FROM scratch\nCOPY . /ctx/\n")
        );
        // As the docker CLI does, the generated name is appended to the
        // .dockerignore the engine reads, so the engine drops it after reading.
        assert_eq!(
            archived_content(&context, ".dockerignore"),
            Some(format!("*.tmp\n{name}\n"))
        );

        let bytes = context.write_archive(Vec::new()).expect("write archive");
        let mut archive = tar::Archive::new(&bytes[..]);
        let generated = archive
            .entries()
            .expect("entries")
            .filter_map(Result::ok)
            .find(|entry| {
                entry
                    .path()
                    .is_ok_and(|path| path.to_string_lossy() == name)
            })
            .expect("generated Dockerfile entry");
        assert_eq!(generated.header().mode().expect("mode"), 0o600);
    }

    #[test]
    fn a_dockerfile_whose_path_is_not_utf8_is_sent_as_a_copy_under_a_generated_name() {
        let dir = context_with(&[("hello.txt", "hello")]);
        let dockerfile = dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"Docker\xfffile"));
        fs::write(&dockerfile, "FROM scratch\n").expect("write the Dockerfile");
        let context = prepare(&ContextOptions::new(dir.path()).with_dockerfile(&dockerfile));

        // The request names the copy; the original is sent as any file is.
        let name = context.dockerfile_in_archive().to_string();
        assert!(name.starts_with(".dockerfile."), "{name}");
        assert_eq!(
            names(&context),
            [
                "Docker\u{fffd}file".to_string(),
                "hello.txt".to_string(),
                name.clone(),
                ".dockerignore".to_string()
            ]
        );
        assert_eq!(
            archived_content(&context, &name).as_deref(),
            Some("FROM scratch\n")
        );
        assert_eq!(
            archived_content(&context, ".dockerignore"),
            Some(format!(".dockerignore\n{name}\n"))
        );
    }

    #[test]
    fn without_any_ignore_file_the_engine_gets_one_naming_the_outside_dockerfile() {
        let outside = context_with(&[("Dockerfile", "FROM scratch\n")]);
        let dir = context_with(&[("file", "")]);
        let options =
            ContextOptions::new(dir.path()).with_dockerfile(outside.path().join("Dockerfile"));
        let context = prepare(&options);
        let name = context.dockerfile_in_archive().to_string();
        assert_eq!(
            names(&context),
            [
                "file".to_string(),
                name.clone(),
                ".dockerignore".to_string()
            ]
        );
        assert_eq!(
            archived_content(&context, ".dockerignore"),
            Some(format!(".dockerignore\n{name}\n"))
        );
    }

    #[test]
    fn a_dockerfile_specific_ignore_file_takes_precedence() {
        let dir = context_with(&[
            ("Dockerfile", "FROM scratch\n"),
            ("Dockerfile.dockerignore", "secret\nDockerfile*\n"),
            (".dockerignore", "public\n"),
            ("secret", ""),
            ("public", ""),
        ]);
        let context = prepare(&ContextOptions::new(dir.path()));
        assert_eq!(names(&context), [".dockerignore", "Dockerfile", "public"]);
        assert_eq!(
            context.ignore_file().and_then(Path::file_name),
            Some("Dockerfile.dockerignore".as_ref())
        );
        // The engine must apply the Dockerfile's patterns, not the context's.
        assert_eq!(
            archived_content(&context, ".dockerignore").as_deref(),
            Some("secret\nDockerfile*\n")
        );

        // Patterns that lead the engine to the same decisions: the context's
        // own file is sent as it is, so an image that copies it gets it.
        fs::write(dir.path().join("Dockerfile.dockerignore"), "secret\n").expect("write");
        let context = prepare(&ContextOptions::new(dir.path()));
        assert_eq!(
            archived_content(&context, ".dockerignore").as_deref(),
            Some("public\n")
        );

        fs::write(
            dir.path().join("Dockerfile.dockerignore"),
            "secret\nDockerfile*\n",
        )
        .expect("write");
        fs::remove_file(dir.path().join(".dockerignore")).expect("remove .dockerignore");
        let context = prepare(&ContextOptions::new(dir.path()));
        assert_eq!(names(&context), ["Dockerfile", "public", ".dockerignore"]);
        assert_eq!(
            archived_content(&context, ".dockerignore").as_deref(),
            Some("secret\nDockerfile*\n\n.dockerignore\n")
        );
    }

    #[test]
    fn bad_input_gives_clear_errors() {
        let dir = context_with(&[("file", ""), ("Dockerfile", "FROM scratch\n")]);
        let message = |options: ContextOptions| match BuildContext::prepare(&options) {
            Ok(_) => panic!("{options:?} should fail"),
            Err(error) => error.to_string(),
        };

        let missing = dir.path().join("nope");
        assert!(message(ContextOptions::new(&missing)).contains("does not exist"));
        assert!(
            message(ContextOptions::new(dir.path().join("file"))).contains("is not a directory")
        );
        let no_dockerfile =
            message(ContextOptions::new(dir.path()).with_dockerfile(dir.path().join("Missing")));
        assert!(
            no_dockerfile.contains("Dockerfile") && no_dockerfile.contains("Missing"),
            "{no_dockerfile}"
        );
        let empty = tempfile::tempdir().expect("empty context");
        assert!(message(ContextOptions::new(empty.path())).contains("does not exist"));

        write(&dir.path().join(".dockerignore"), "# comment\nok\n  [a-\n");
        let bad = message(ContextOptions::new(dir.path()));
        assert!(bad.contains(".dockerignore, line 3"), "{bad}");
        assert!(bad.contains("`[a-`"), "{bad}");
        assert!(bad.contains("unterminated character class"), "{bad}");
    }

    #[test]
    fn an_unreadable_file_is_named_before_anything_is_sent() {
        // Root reads everything, so the check runs again as `nobody`.
        let uid = fs::metadata("/proc/self").expect("own process").uid();
        if uid == 0 {
            let test_binary = std::env::current_exe().expect("test binary path");
            let status = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(test_binary)
                .args([
                    "--exact",
                    "context::tests::an_unreadable_file_is_named_before_anything_is_sent",
                ])
                .status()
                .expect("run the test as nobody (needs setpriv from util-linux)");
            assert!(status.success(), "the test failed when run as nobody");
            return;
        }
        let dir = context_with(&[
            ("Dockerfile", "FROM scratch\n"),
            ("ok", ""),
            ("sub/locked", "secret"),
        ]);
        let locked = dir.path().join("sub/locked");
        fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .expect("chmod");
        let error =
            BuildContext::prepare(&ContextOptions::new(dir.path())).expect_err("unreadable file");
        assert!(
            matches!(&error, ContextError::Unreadable { path, .. } if path.ends_with("sub/locked")),
            "{error:?}"
        );
        assert!(error.to_string().contains("sub/locked"), "{error}");

        // Excluding it makes the context fine again.
        write(&dir.path().join(".dockerignore"), "sub/locked\n");
        prepare(&ContextOptions::new(dir.path()));
    }

    #[test]
    fn sockets_and_fifos_are_left_out_and_reported() {
        let dir = context_with(&[("Dockerfile", "FROM scratch\n")]);
        let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("app.sock"))
            .expect("bind socket");
        let fifo = Command::new("mkfifo")
            .arg(dir.path().join("pipe"))
            .status()
            .expect("run mkfifo");
        assert!(fifo.success());
        let context = prepare(&ContextOptions::new(dir.path()));
        assert_eq!(names(&context), ["Dockerfile"]);
        let skipped: Vec<(String, SpecialFile)> = context
            .skipped()
            .iter()
            .map(|entry| {
                (
                    entry
                        .path
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned(),
                    entry.kind,
                )
            })
            .collect();
        assert_eq!(
            skipped,
            [
                ("app.sock".to_string(), SpecialFile::Socket),
                ("pipe".to_string(), SpecialFile::Fifo)
            ]
        );
        assert!(context.skipped()[0].to_string().contains("a socket"));
    }
}
