//! A digest of what a build context holds, for naming images by their inputs.

use std::os::unix::ffi::OsStrExt;

use sha2::{Digest, Sha256};

use crate::ContextError;
use crate::context::{BuildContext, EntryKind};

/// File contents are read through one buffer of this size.
const READ_BUFFER: usize = 256 * 1024;

impl BuildContext {
    /// SHA-256 over every entry's name, type, permission bits, and content
    /// or link target, in archive order. Modification times are left out, so
    /// a fresh checkout of the same files has the same fingerprint. Reads
    /// every file once, and remembers each file's digest: sending the
    /// context afterwards fails, naming the file, if any file's bytes differ
    /// from those fingerprinted, so that a name computed from the
    /// fingerprint names exactly what is sent.
    pub fn fingerprint(&self) -> Result<[u8; 32], ContextError> {
        let mut buffer = vec![0; READ_BUFFER];
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed, so that no two different contexts hash alike.
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        for entry in &self.entries {
            field(&entry.path);
            field(&entry.mode.to_le_bytes());
            match &entry.kind {
                EntryKind::Directory => field(b"dir"),
                EntryKind::Symlink { target } => {
                    field(b"symlink");
                    field(target);
                }
                EntryKind::HardLink { target } => {
                    field(b"hardlink");
                    field(target);
                }
                EntryKind::Generated { content } => {
                    field(b"file");
                    field(content);
                }
                EntryKind::File(listed) => {
                    let path = self.root.join(std::ffi::OsStr::from_bytes(&entry.path));
                    let digest = listed.fingerprint(&path, &mut buffer)?;
                    field(b"file");
                    field(&digest);
                }
            }
        }
        // Served apart from the context, so not among its entries.
        if let Some(content) = &self.session_dockerfile {
            field(b"session dockerfile");
            field(content);
        }
        Ok(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::ContextOptions;

    fn fingerprint(dir: &std::path::Path) -> [u8; 32] {
        BuildContext::prepare(&ContextOptions::new(dir))
            .expect("context")
            .fingerprint()
            .expect("fingerprint")
    }

    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").expect("write");
        fs::create_dir(dir.path().join("src")).expect("mkdir");
        fs::write(dir.path().join("src/main.txt"), "hello").expect("write");
        fs::write(dir.path().join(".dockerignore"), "ignored\n").expect("write");
        dir
    }

    #[test]
    fn times_do_not_count_but_contents_names_and_modes_do() {
        let dir = context();
        let first = fingerprint(dir.path());
        let file = dir.path().join("src/main.txt");
        File::open(&file)
            .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(3600)))
            .expect("set mtime");
        assert_eq!(
            fingerprint(dir.path()),
            first,
            "a touched file is the same input"
        );

        fs::write(dir.path().join("ignored"), "anything").expect("write");
        assert_eq!(
            fingerprint(dir.path()),
            first,
            "an ignored file is no input"
        );

        fs::write(&file, "hello!").expect("write");
        let changed = fingerprint(dir.path());
        assert_ne!(changed, first, "new content");

        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_ne!(fingerprint(dir.path()), changed, "new mode");

        fs::rename(&file, dir.path().join("src/other.txt")).expect("rename");
        assert_ne!(fingerprint(dir.path()), changed, "new name");
    }

    #[test]
    fn a_dockerfile_outside_the_context_hashes_and_is_named_the_same_every_run() {
        let dir = context();
        let outside = tempfile::tempdir().expect("temp dir");
        let dockerfile = outside.path().join("Build.Dockerfile");
        fs::write(&dockerfile, "FROM scratch\n").expect("write");
        let options = ContextOptions::new(dir.path()).with_dockerfile(&dockerfile);
        // The fingerprint, and the name the build request carries: a
        // content tag covers both.
        let inputs = || {
            let context = BuildContext::prepare(&options).expect("context");
            let fingerprint = context.fingerprint().expect("fingerprint");
            (fingerprint, context.dockerfile_in_archive().to_string())
        };
        let once = inputs();
        assert_eq!(inputs(), once);
        fs::write(&dockerfile, "FROM scratch\nLABEL a=b\n").expect("write");
        let edited = inputs();
        assert_ne!(edited.0, once.0);
        assert_ne!(edited.1, once.1);
    }
}
