//! Reading the files a listing found, and only those.
//!
//! A context file is opened without following a symbolic link and without
//! waiting on a FIFO, whatever has taken its name since it was listed, and
//! checked against the listing (a regular file, the same inode, size and
//! modification time) before its bytes are read and again after. Once the
//! fingerprint has read a file, every later read must also hash to what the
//! fingerprint read, so that an image named by the fingerprint is built
//! from exactly the bytes the name was computed from.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::ContextError;

/// The SHA-256 of a file's bytes.
pub(crate) type FileDigest = [u8; 32];

/// A regular file as the listing saw it.
#[derive(Debug, Clone)]
pub(crate) struct ListedFile {
    pub(crate) size: u64,
    device: u64,
    inode: u64,
    /// Seconds and nanoseconds.
    modified: (i64, i64),
    /// Set by the first fingerprint that reads the file.
    digest: OnceLock<FileDigest>,
}

impl ListedFile {
    /// Records the file `meta` describes (from `symlink_metadata`) and opens
    /// it once, so that an unreadable file is named before anything is sent.
    pub(crate) fn list(path: &Path, meta: &Metadata) -> Result<ListedFile, ContextError> {
        let listed = ListedFile {
            size: meta.len(),
            device: meta.dev(),
            inode: meta.ino(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            digest: OnceLock::new(),
        };
        listed.open(path)?;
        Ok(listed)
    }

    /// Opens the file listed at `path`, refusing whatever else now has its name.
    pub(crate) fn open<'a>(&'a self, path: &'a Path) -> Result<OpenedFile<'a>, ContextError> {
        let file =
            open_without_waiting(path, false).map_err(|source| self.open_failure(path, source))?;
        let meta = file.metadata().map_err(|source| ContextError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        self.check(path, &meta)?;
        Ok(OpenedFile {
            listed: self,
            path,
            file,
        })
    }

    /// Hashes the file's bytes for the fingerprint, and keeps the digest
    /// for every later read to be checked against.
    pub(crate) fn fingerprint(
        &self,
        path: &Path,
        buffer: &mut [u8],
    ) -> Result<FileDigest, ContextError> {
        let mut hasher = Sha256::new();
        self.open(path)?.copy_checked(buffer, |piece| {
            hasher.update(piece);
            Ok(())
        })?;
        let digest = FileDigest::from(hasher.finalize());
        // An earlier fingerprint's digest, if any, was just found equal.
        let _ = self.digest.set(digest);
        Ok(digest)
    }

    /// Why `path` could not be opened: what replaced the file, if anything did.
    fn open_failure(&self, path: &Path, source: io::Error) -> ContextError {
        let changed = |detail: String| ContextError::FileChanged {
            path: path.to_path_buf(),
            detail,
        };
        match std::fs::symlink_metadata(path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                changed("it was removed".to_string())
            }
            Ok(now) if !now.is_file() => changed(format!("it is now {}", kind_of(&now))),
            _ => ContextError::Unreadable {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// Whether `meta` (of an open handle) is still the file listed.
    fn check(&self, path: &Path, meta: &Metadata) -> Result<(), ContextError> {
        let detail = if !meta.is_file() {
            format!("it is now {}", kind_of(meta))
        } else if (meta.dev(), meta.ino()) != (self.device, self.inode) {
            "it was replaced by another file".to_string()
        } else if meta.len() != self.size {
            format!("its size went from {} to {} bytes", self.size, meta.len())
        } else if (meta.mtime(), meta.mtime_nsec()) != self.modified {
            "it was modified".to_string()
        } else {
            return Ok(());
        };
        Err(ContextError::FileChanged {
            path: path.to_path_buf(),
            detail,
        })
    }
}

/// A listed file, opened and found to be the one listed.
#[derive(Debug)]
pub(crate) struct OpenedFile<'a> {
    listed: &'a ListedFile,
    path: &'a Path,
    file: File,
}

impl OpenedFile<'_> {
    /// Hands exactly the listed number of bytes to `out`, through
    /// `buffer`. The last piece is handed over only once the whole file has
    /// passed its checks (no shorter or longer than listed, unchanged while
    /// read, and the bytes the fingerprint read, when one did), so that a
    /// failed check leaves the archive cut inside the entry, where any
    /// reader sees that it is incomplete.
    pub(crate) fn copy_checked(
        mut self,
        buffer: &mut [u8],
        mut out: impl FnMut(&[u8]) -> Result<(), ContextError>,
    ) -> Result<(), ContextError> {
        let size = self.listed.size;
        // Hashing costs time only where there is a digest to compare with.
        let recorded = self.listed.digest.get();
        let mut hasher = recorded.map(|_| Sha256::new());
        let mut remaining = size;
        loop {
            let want = buffer
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let read = if want == 0 {
                0
            } else {
                match self.file.read(&mut buffer[..want]) {
                    Ok(0) => {
                        return Err(self.changed(format!(
                            "it shrank from {size} bytes to {} bytes",
                            size - remaining
                        )));
                    }
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(self.unreadable(source)),
                }
            };
            let piece = &buffer[..read];
            if let Some(hasher) = &mut hasher {
                hasher.update(piece);
            }
            remaining -= read as u64;
            if remaining > 0 {
                out(piece)?;
                continue;
            }
            self.check_complete()?;
            if let (Some(recorded), Some(hasher)) = (recorded, hasher)
                && *recorded != FileDigest::from(hasher.finalize())
            {
                return Err(self.changed(
                    "its content differs from what the content tag was computed from".to_string(),
                ));
            }
            return out(piece);
        }
    }

    /// After the listed size was read: nothing more to read, and the file
    /// not written to meanwhile.
    fn check_complete(&mut self) -> Result<(), ContextError> {
        let mut probe = [0; 1];
        loop {
            match self.file.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(self.changed(format!("it grew past {} bytes", self.listed.size)));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.unreadable(source)),
            }
        }
        let meta = self
            .file
            .metadata()
            .map_err(|source| self.unreadable(source))?;
        self.listed.check(self.path, &meta)
    }

    fn changed(&self, detail: String) -> ContextError {
        ContextError::FileChanged {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    fn unreadable(&self, source: io::Error) -> ContextError {
        ContextError::Unreadable {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

/// Reads a small file isokit needs whole (a Dockerfile, an ignore file),
/// following symbolic links as the docker CLI does, but refusing at once
/// anything that is not a regular file rather than waiting on a FIFO.
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)?;
    Ok(content)
}

/// Opens a file isokit reads whole, as [`read_regular`] does.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let file = open_without_waiting(path, true)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", kind_of(&meta)),
        ));
    }
    Ok(file)
}

/// Opens `path` for reading in a way that returns at once whatever it
/// names: a FIFO opens without waiting for a writer, a terminal does not
/// become isokit's, and a symbolic link is refused unless `follow`.
/// Reading a regular file is unaffected.
fn open_without_waiting(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

/// What kind of file `meta` describes, for messages.
fn kind_of(meta: &Metadata) -> &'static str {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "a regular file"
    }
}
