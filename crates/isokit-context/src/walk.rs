//! The directory walk that lists, in archive order, every entry a build
//! context sends.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::ContextError;
use crate::context::{Entry, EntryKind, SkippedEntry, SpecialFile};
use crate::listed::ListedFile;
use crate::pattern::{MatchInfo, PatternMatcher};

/// The directory walk, following BuildKit's filter: children of an excluded
/// directory are visited only when an exception might re-include one of
/// them, and an excluded directory is written after all when one is.
pub(crate) struct Walker<'a> {
    pub(crate) matcher: &'a PatternMatcher,
    /// Whether every exception is a plain path (perhaps ending in `/*` or
    /// `/**`), so that whether it can reach inside a directory is a prefix test.
    pub(crate) only_prefix_exceptions: bool,
    pub(crate) entries: Vec<Entry>,
    pub(crate) skipped: Vec<SkippedEntry>,
    /// Excluded directories being walked, not yet written.
    pub(crate) pending_dirs: Vec<Entry>,
    /// First path seen for each (device, inode) with more than one link.
    pub(crate) linked: HashMap<(u64, u64), Vec<u8>>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(matcher: &'a PatternMatcher) -> Walker<'a> {
        let only_prefix_exceptions = !matcher.patterns().iter().any(|pattern| {
            pattern.is_exclusion() && without_trailing_glob(pattern.text()).contains(GLOB_CHARS)
        });
        Walker {
            matcher,
            only_prefix_exceptions,
            entries: Vec::new(),
            skipped: Vec::new(),
            pending_dirs: Vec::new(),
            linked: HashMap::new(),
        }
    }

    pub(crate) fn visit_dir(
        &mut self,
        dir: &Path,
        dir_path: &[u8],
        dir_info: Option<&MatchInfo>,
        dir_excluded: bool,
    ) -> Result<(), ContextError> {
        let unreadable = |source: io::Error| ContextError::Unreadable {
            path: dir.to_path_buf(),
            source,
        };
        let listing = match fs::read_dir(dir) {
            Ok(listing) => listing,
            // BuildKit tolerates what it cannot list when nothing in it is wanted.
            Err(error) if dir_excluded && error.kind() == io::ErrorKind::PermissionDenied => {
                return Ok(());
            }
            Err(error) => return Err(unreadable(error)),
        };
        let mut names = Vec::new();
        for item in listing {
            names.push(item.map_err(unreadable)?.file_name().into_vec());
        }
        names.sort_unstable();

        for name in names {
            let mut path = dir_path.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let absolute = dir.join(std::ffi::OsStr::from_bytes(&name));
            let meta =
                fs::symlink_metadata(&absolute).map_err(|source| ContextError::Unreadable {
                    path: absolute.clone(),
                    source,
                })?;
            let (excluded, info) = self
                .matcher
                .matches_using_parent_results(&String::from_utf8_lossy(&path), dir_info);

            if excluded {
                if meta.is_dir() && self.may_reinclude_inside(&path) {
                    self.pending_dirs.push(directory_entry(path.clone(), &meta));
                    self.visit_dir(&absolute, &path, Some(&info), true)?;
                    if self
                        .pending_dirs
                        .last()
                        .is_some_and(|pending| pending.path == path)
                    {
                        self.pending_dirs.pop();
                    }
                }
                continue;
            }

            let file_type = meta.file_type();
            let special = if file_type.is_socket() {
                Some(SpecialFile::Socket)
            } else if file_type.is_fifo() {
                Some(SpecialFile::Fifo)
            } else if file_type.is_block_device() || file_type.is_char_device() {
                Some(SpecialFile::Device)
            } else {
                None
            };
            if let Some(kind) = special {
                self.skipped.push(SkippedEntry {
                    path: absolute,
                    kind,
                });
                continue;
            }

            self.entries.append(&mut self.pending_dirs);
            if meta.is_dir() {
                self.entries.push(directory_entry(path.clone(), &meta));
                self.visit_dir(&absolute, &path, Some(&info), false)?;
                continue;
            }
            let kind = self.non_directory_kind(&absolute, &path, &meta)?;
            self.entries.push(Entry {
                path,
                kind,
                mode: meta.mode() & 0o7777,
                mtime: meta.mtime(),
                mtime_nsec: meta.mtime_nsec() as u32,
            });
        }
        Ok(())
    }

    /// Whether an excluded directory must still be walked because an
    /// exception could match something inside it.
    fn may_reinclude_inside(&self, dir_path: &[u8]) -> bool {
        if !self.only_prefix_exceptions {
            return true;
        }
        if !self.matcher.has_exclusions() {
            return false;
        }
        let mut dir_slash = String::from_utf8_lossy(dir_path).into_owned();
        dir_slash.push('/');
        self.matcher
            .patterns()
            .iter()
            .filter(|pattern| pattern.is_exclusion())
            .any(|pattern| {
                format!("{}/", without_trailing_glob(pattern.text())).starts_with(&dir_slash)
            })
    }

    fn non_directory_kind(
        &mut self,
        absolute: &Path,
        path: &[u8],
        meta: &Metadata,
    ) -> Result<EntryKind, ContextError> {
        let unreadable = |source: io::Error| ContextError::Unreadable {
            path: absolute.to_path_buf(),
            source,
        };
        if meta.nlink() > 1 {
            match self.linked.get(&(meta.dev(), meta.ino())) {
                Some(first) => {
                    return Ok(EntryKind::HardLink {
                        target: first.clone(),
                    });
                }
                None => {
                    self.linked.insert((meta.dev(), meta.ino()), path.to_vec());
                }
            }
        }
        if meta.file_type().is_symlink() {
            let target = fs::read_link(absolute).map_err(unreadable)?;
            return Ok(EntryKind::Symlink {
                target: target.into_os_string().into_vec(),
            });
        }
        Ok(EntryKind::File(ListedFile::list(absolute, meta)?))
    }
}

/// Characters that make an exception a wildcard rather than a plain path.
const GLOB_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// A pattern without a final `/**` or `/*`, as BuildKit compares exceptions.
fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

fn directory_entry(path: Vec<u8>, meta: &Metadata) -> Entry {
    Entry {
        path,
        kind: EntryKind::Directory,
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec() as u32,
    }
}
