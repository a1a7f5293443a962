//! A prepared context as a BuildKit file-sync session serves it: the
//! entries the engine asks for (its include patterns), in walk order, and
//! each file's bytes on request, read with the same checks as the archive.

use std::os::unix::ffi::OsStrExt;

use crate::ContextError;
use crate::context::{BuildContext, EntryKind};
use crate::pattern::PatternMatcher;

/// One entry of a context, as a session describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedEntry<'a> {
    /// Identifies the entry for [`BuildContext::read_synced`].
    pub index: usize,
    /// Relative, `/`-separated.
    pub path: &'a [u8],
    pub kind: SyncedKind<'a>,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub mtime_seconds: i64,
    pub mtime_nanos: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncedKind<'a> {
    Directory,
    File {
        size: u64,
    },
    Symlink {
        target: &'a [u8],
    },
    /// A later name of a file sent earlier under `target`.
    HardLink {
        target: &'a [u8],
    },
}

impl BuildContext {
    /// The entries a session sends when the engine asks with `include`
    /// patterns (none: every entry): those a pattern matches, what lies in a
    /// matched directory, and the directories above them, in walk order. A
    /// hard link whose first name is left out is left out with it.
    pub fn synced_entries(&self, include: &[String]) -> Result<Vec<SyncedEntry<'_>>, ContextError> {
        let matcher = include_matcher(include)?;
        let wanted: Vec<bool> = if include.is_empty() {
            vec![true; self.entries.len()]
        } else {
            let mut wanted: Vec<bool> = self
                .entries
                .iter()
                .map(|entry| {
                    matcher.matches_or_parent_matches(&String::from_utf8_lossy(&entry.path))
                })
                .collect();
            // The directories above a wanted entry come first in walk order.
            let mut below: Vec<&[u8]> = Vec::new();
            for (index, entry) in self.entries.iter().enumerate().rev() {
                if wanted[index] {
                    below.push(&entry.path);
                } else if matches!(entry.kind, EntryKind::Directory)
                    && below.iter().any(|path| is_inside(path, &entry.path))
                {
                    wanted[index] = true;
                    below.push(&entry.path);
                }
            }
            wanted
        };
        let mut sent: Vec<&[u8]> = Vec::new();
        let mut synced = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if !wanted[index] {
                continue;
            }
            let kind = match &entry.kind {
                EntryKind::Directory => SyncedKind::Directory,
                EntryKind::File(listed) => SyncedKind::File { size: listed.size },
                EntryKind::Generated { content } => SyncedKind::File {
                    size: content.len() as u64,
                },
                EntryKind::Symlink { target } => SyncedKind::Symlink { target },
                EntryKind::HardLink { target } => {
                    if !sent.contains(&target.as_slice()) {
                        continue;
                    }
                    SyncedKind::HardLink { target }
                }
            };
            sent.push(&entry.path);
            synced.push(SyncedEntry {
                index,
                path: &entry.path,
                kind,
                mode: entry.mode,
                mtime_seconds: entry.mtime,
                mtime_nanos: entry.mtime_nsec,
            });
        }
        Ok(synced)
    }

    /// Whether the engine's `include` patterns (none: everything) take the
    /// Dockerfile a session serves alone in its folder, under
    /// [`BuildContext::dockerfile_in_archive`]'s name.
    pub fn dockerfile_wanted(&self, include: &[String]) -> Result<bool, ContextError> {
        Ok(include.is_empty()
            || include_matcher(include)?.matches_or_parent_matches(self.dockerfile_in_archive()))
    }

    /// Reads the file [`SyncedEntry::index`] names, piece by piece into
    /// `out`, refusing a file that changed since it was listed (or since the
    /// fingerprint read it).
    pub fn read_synced(
        &self,
        index: usize,
        buffer: &mut [u8],
        mut out: impl FnMut(&[u8]) -> Result<(), ContextError>,
    ) -> Result<(), ContextError> {
        let Some(entry) = self.entries.get(index) else {
            return Ok(());
        };
        match &entry.kind {
            EntryKind::File(listed) => {
                let path = self.root.join(std::ffi::OsStr::from_bytes(&entry.path));
                listed.open(&path)?.copy_checked(buffer, out)
            }
            EntryKind::Generated { content } => out(content),
            _ => Ok(()),
        }
    }
}

/// The engine's include patterns, read as Docker reads patterns.
fn include_matcher(include: &[String]) -> Result<PatternMatcher, ContextError> {
    PatternMatcher::new(include).map_err(|error| ContextError::InvalidPattern {
        path: "the engine's include patterns".into(),
        line: None,
        pattern: error.pattern,
        reason: error.reason,
    })
}

/// Whether `path` lies inside the directory `dir`.
fn is_inside(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::ContextOptions;

    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").expect("write");
        fs::write(
            dir.path().join(".dockerignore"),
            "Dockerfile\n.dockerignore\nsecret*\n",
        )
        .expect("write");
        fs::create_dir_all(dir.path().join("src/deep")).expect("mkdir");
        fs::write(dir.path().join("src/deep/main.txt"), "hello").expect("write");
        fs::write(dir.path().join("src/other.txt"), "other").expect("write");
        fs::write(dir.path().join("secret.txt"), "no").expect("write");
        fs::hard_link(
            dir.path().join("src/other.txt"),
            dir.path().join("twin.txt"),
        )
        .expect("link");
        dir
    }

    fn paths(entries: &[SyncedEntry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|entry| String::from_utf8_lossy(entry.path).into_owned())
            .collect()
    }

    #[test]
    fn a_session_sends_only_what_the_ignore_file_lets_through() {
        let dir = context();
        let context =
            BuildContext::prepare_for_session(&ContextOptions::new(dir.path())).expect("prepare");
        let entries = context.synced_entries(&[]).expect("entries");
        assert_eq!(
            paths(&entries),
            [
                "src",
                "src/deep",
                "src/deep/main.txt",
                "src/other.txt",
                "twin.txt"
            ]
        );
        assert_eq!(
            entries[4].kind,
            SyncedKind::HardLink {
                target: b"src/other.txt"
            }
        );
        assert_eq!(context.dockerfile_in_archive(), "Dockerfile");
        for (include, wanted) in [
            (&[][..], true),
            (&["Dockerfile".to_string()][..], true),
            (&["Docker*".to_string()][..], true),
            (&["Dockerfile.dockerignore".to_string()][..], false),
        ] {
            assert_eq!(
                context.dockerfile_wanted(include).ok(),
                Some(wanted),
                "{include:?}"
            );
        }
        assert_eq!(
            context.session_dockerfile(),
            Some(&b"FROM scratch\nCOPY . /\n"[..])
        );
        // The archive for the classic builder still carries both files.
        let archive = BuildContext::prepare(&ContextOptions::new(dir.path())).expect("prepare");
        let names: Vec<String> = archive.entry_names().collect();
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&".dockerignore".to_string()), "{names:?}");
    }

    #[test]
    fn include_patterns_bring_their_directories_and_drop_orphaned_links() {
        let dir = context();
        let context =
            BuildContext::prepare_for_session(&ContextOptions::new(dir.path())).expect("prepare");
        let deep = context
            .synced_entries(&["src/deep/*.txt".to_string()])
            .expect("entries");
        assert_eq!(paths(&deep), ["src", "src/deep", "src/deep/main.txt"]);
        // twin.txt is a second name of src/other.txt, which is not sent.
        let twin = context
            .synced_entries(&["twin.txt".to_string()])
            .expect("entries");
        assert!(twin.is_empty(), "{:?}", paths(&twin));
        let whole_dir = context
            .synced_entries(&["src".to_string()])
            .expect("entries");
        assert_eq!(
            paths(&whole_dir),
            ["src", "src/deep", "src/deep/main.txt", "src/other.txt"]
        );
    }

    #[test]
    fn a_synced_file_is_read_whole_and_a_changed_one_refused() {
        let dir = context();
        let context =
            BuildContext::prepare_for_session(&ContextOptions::new(dir.path())).expect("prepare");
        let entries = context.synced_entries(&[]).expect("entries");
        let main = entries
            .iter()
            .find(|entry| entry.path == b"src/deep/main.txt")
            .expect("listed");
        let mut read = Vec::new();
        let mut buffer = [0; 2];
        context
            .read_synced(main.index, &mut buffer, |piece| {
                read.extend_from_slice(piece);
                Ok(())
            })
            .expect("read");
        assert_eq!(read, b"hello");
        fs::write(dir.path().join("src/deep/main.txt"), "changed!").expect("write");
        let refused = context.read_synced(main.index, &mut buffer, |_| Ok(()));
        assert!(refused.is_err(), "{refused:?}");
    }
}
