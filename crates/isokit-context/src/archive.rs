//! Writing a prepared context as a tar archive with the entries the docker
//! CLI writes: relative `/`-separated names (directories ending in `/`),
//! owner and group 0 with no names, permission bits and whole-second
//! modification times kept, symbolic links stored as links, later names of a
//! hard-linked file stored as hard links to the first. Names that do not fit
//! a USTAR header get a PAX record, as Go's archive writer gives them.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::{EntryType, Header};

use crate::ContextError;
use crate::context::{BuildContext, Entry, EntryKind};
use crate::listed::ListedFile;

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
const BLOCK: usize = 512;
/// File contents are copied through one buffer of this size.
const COPY_BUFFER: usize = 256 * 1024;
/// The largest modification time a USTAR header holds (eleven octal digits).
const USTAR_MAX_TIME: i64 = 0o77777777777;

impl BuildContext {
    /// Writes the whole context as an uncompressed tar archive to `out`.
    pub fn write_archive<W: Write>(&self, out: W) -> Result<W, ContextError> {
        let mut builder = tar::Builder::new(Fuse {
            inner: out,
            blown: false,
        });
        let mut buffer = vec![0; COPY_BUFFER];
        for entry in &self.entries {
            if let Err(error) = write_entry(&mut builder, &self.root, entry, &mut buffer) {
                // The builder closes the archive when dropped; a failed
                // archive must stay visibly truncated instead.
                builder.get_mut().blown = true;
                return Err(error);
            }
        }
        builder
            .into_inner()
            .map(|fuse| fuse.inner)
            .map_err(ContextError::Archive)
    }
}

/// Passes writes through until blown, then refuses them.
struct Fuse<W> {
    inner: W,
    blown: bool,
}

impl<W: Write> Write for Fuse<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.blown {
            return Err(io::Error::other("the archive was abandoned"));
        }
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    entry: &Entry,
    buffer: &mut [u8],
) -> Result<(), ContextError> {
    let mut header = Header::new_ustar();
    let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut name = entry.path.clone();
    if matches!(entry.kind, EntryKind::Directory) {
        name.push(b'/');
    }
    set_name(&mut header, &name, &mut pax);
    header.set_mode(entry.mode);
    header.set_uid(0);
    header.set_gid(0);
    if (0..=USTAR_MAX_TIME).contains(&entry.mtime) {
        header.set_mtime(entry.mtime as u64);
    } else {
        header.set_mtime(0);
        pax.push(("mtime", entry.mtime.to_string().into_bytes()));
    }
    let (entry_type, size) = match &entry.kind {
        EntryKind::Directory => (EntryType::Directory, 0),
        EntryKind::File(listed) => (EntryType::Regular, listed.size),
        EntryKind::Generated { content } => (EntryType::Regular, content.len() as u64),
        EntryKind::Symlink { target } => {
            set_link_name(&mut header, target, &mut pax);
            (EntryType::Symlink, 0)
        }
        EntryKind::HardLink { target } => {
            set_link_name(&mut header, target, &mut pax);
            (EntryType::Link, 0)
        }
    };
    header.set_entry_type(entry_type);
    header.set_size(size);
    header.set_cksum();

    if !pax.is_empty() {
        builder
            .append_pax_extensions(pax.iter().map(|(key, value)| (*key, value.as_slice())))
            .map_err(ContextError::Archive)?;
    }
    match &entry.kind {
        EntryKind::File(listed) => {
            let path = root.join(std::ffi::OsStr::from_bytes(&entry.path));
            append_file(builder.get_mut(), &header, &path, listed, buffer)
        }
        EntryKind::Generated { content } => builder
            .append(&header, &content[..])
            .map_err(ContextError::Archive),
        _ => builder
            .append(&header, io::empty())
            .map_err(ContextError::Archive),
    }
}

/// Writes a file's header and exactly the bytes its header promises, from
/// the file that was listed (see [`ListedFile`]): a file replaced, grown,
/// shrunk or rewritten since is an error naming it, never a corrupt archive
/// or bytes other than those fingerprinted.
fn append_file<W: Write>(
    out: &mut W,
    header: &Header,
    path: &Path,
    listed: &ListedFile,
    buffer: &mut [u8],
) -> Result<(), ContextError> {
    // Opened before the header goes out, so that most changes fail the
    // send between entries.
    let file = listed.open(path)?;
    out.write_all(header.as_bytes())
        .map_err(ContextError::Archive)?;
    file.copy_checked(buffer, |piece| {
        out.write_all(piece).map_err(ContextError::Archive)
    })?;
    let padding = (BLOCK - (listed.size % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&[0; BLOCK][..padding])
        .map_err(ContextError::Archive)
}

fn set_name(header: &mut Header, name: &[u8], pax: &mut Vec<(&str, Vec<u8>)>) {
    let Some(ustar) = header.as_ustar_mut() else {
        return;
    };
    if name.is_ascii() && name.len() <= NAME_LEN {
        ustar.name[..name.len()].copy_from_slice(name);
    } else if let Some((prefix, rest)) = split_ustar_path(name) {
        ustar.prefix[..prefix.len()].copy_from_slice(prefix);
        ustar.name[..rest.len()].copy_from_slice(rest);
    } else {
        let shown = ascii_prefix(name, NAME_LEN);
        ustar.name[..shown.len()].copy_from_slice(&shown);
        pax.push(("path", name.to_vec()));
    }
}

fn set_link_name(header: &mut Header, target: &[u8], pax: &mut Vec<(&str, Vec<u8>)>) {
    let Some(ustar) = header.as_ustar_mut() else {
        return;
    };
    if target.is_ascii() && target.len() <= NAME_LEN {
        ustar.linkname[..target.len()].copy_from_slice(target);
    } else {
        let shown = ascii_prefix(target, NAME_LEN);
        ustar.linkname[..shown.len()].copy_from_slice(&shown);
        pax.push(("linkpath", target.to_vec()));
    }
}

/// Splits a long ASCII name between the USTAR prefix and name fields at a
/// `/`, as Go's archive writer does.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= NAME_LEN || !name.is_ascii() {
        return None;
    }
    let mut length = name.len();
    if length > PREFIX_LEN + 1 {
        length = PREFIX_LEN + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let slash = name[..length].iter().rposition(|&byte| byte == b'/')?;
    let rest_len = name.len() - slash - 1;
    if slash == 0 || rest_len == 0 || rest_len > NAME_LEN || slash > PREFIX_LEN {
        return None;
    }
    Some((&name[..slash], &name[slash + 1..]))
}

/// The ASCII characters of `bytes`, at most `limit` of them: what a plain
/// header field shows when the real value is in a PAX record.
fn ascii_prefix(bytes: &[u8], limit: usize) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(u8::is_ascii)
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::ContextOptions;

    struct Seen {
        name: String,
        entry_type: EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        owner_names: (Vec<u8>, Vec<u8>),
        mtime: u64,
        size: u64,
        link: Option<String>,
    }

    fn read_back(bytes: &[u8]) -> Vec<Seen> {
        let mut archive = tar::Archive::new(bytes);
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let header = entry.header();
            seen.push(Seen {
                name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                entry_type: header.entry_type(),
                mode: header.mode().expect("mode"),
                uid: header.uid().expect("uid"),
                gid: header.gid().expect("gid"),
                owner_names: (
                    header.username_bytes().unwrap_or_default().to_vec(),
                    header.groupname_bytes().unwrap_or_default().to_vec(),
                ),
                mtime: header.mtime().expect("mtime"),
                size: header.size().expect("size"),
                link: entry
                    .link_name_bytes()
                    .map(|link| String::from_utf8_lossy(&link).into_owned()),
            });
        }
        seen
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn headers_are_written_as_the_docker_cli_writes_them() {
        let dir = tempfile::tempdir().expect("context");
        let root = dir.path();
        fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        fs::create_dir(root.join("bin")).expect("dir");
        fs::write(root.join("bin/tool"), "#!/bin/sh\n").expect("tool");
        set_mode(&root.join("bin/tool"), 0o4755);
        set_mode(&root.join("bin"), 0o750);
        fs::write(root.join("data.txt"), "twelve bytes").expect("data");
        set_mode(&root.join("data.txt"), 0o640);
        let stamp = UNIX_EPOCH + Duration::new(1_700_000_000, 987_654_321);
        fs::File::options()
            .write(true)
            .open(root.join("data.txt"))
            .expect("open")
            .set_modified(stamp)
            .expect("mtime");
        fs::hard_link(root.join("data.txt"), root.join("data.link")).expect("hard link");
        symlink("data.txt", root.join("latest")).expect("symlink");
        symlink("/nowhere/at/all", root.join("dangling")).expect("dangling symlink");

        let context = BuildContext::prepare(&ContextOptions::new(root)).expect("prepare");
        let bytes = context.write_archive(Vec::new()).expect("archive");
        let seen = read_back(&bytes);

        let names: Vec<&str> = seen.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "bin/",
                "bin/tool",
                "dangling",
                "data.link",
                "data.txt",
                "latest"
            ]
        );
        for entry in &seen {
            assert_eq!((entry.uid, entry.gid), (0, 0), "{}", entry.name);
            assert_eq!(
                entry.owner_names,
                (Vec::new(), Vec::new()),
                "{}",
                entry.name
            );
        }
        let by_name = |name: &str| seen.iter().find(|entry| entry.name == name).expect("entry");

        let bin = by_name("bin/");
        assert_eq!((bin.entry_type, bin.mode), (EntryType::Directory, 0o750));
        assert_eq!(by_name("bin/tool").mode, 0o4755);

        // The first name of a hard-linked file carries the content; the
        // second links to it.
        let first = by_name("data.link");
        assert_eq!(
            (first.entry_type, first.mode, first.size),
            (EntryType::Regular, 0o640, 12)
        );
        assert_eq!(first.mtime, 1_700_000_000);
        let second = by_name("data.txt");
        assert_eq!((second.entry_type, second.size), (EntryType::Link, 0));
        assert_eq!(second.link.as_deref(), Some("data.link"));

        let latest = by_name("latest");
        assert_eq!(
            (latest.entry_type, latest.link.as_deref()),
            (EntryType::Symlink, Some("data.txt"))
        );
        assert_eq!(by_name("dangling").link.as_deref(), Some("/nowhere/at/all"));

        // Same context, same bytes.
        assert_eq!(
            context.write_archive(Vec::new()).expect("second archive"),
            bytes
        );
        assert!(context.archive_len_hint() >= bytes.len() as u64 - 1024);
    }

    #[test]
    fn long_and_non_ascii_names_survive() {
        let dir = tempfile::tempdir().expect("context");
        let root = dir.path();
        fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        let nested = format!("{}/{}", "d".repeat(60), "e".repeat(60));
        fs::create_dir_all(root.join(&nested)).expect("nested dirs");
        fs::write(root.join(&nested).join("file.txt"), "x").expect("nested file");
        let long_leaf = "f".repeat(140);
        fs::write(root.join(&long_leaf), "y").expect("long name");
        fs::write(root.join("résumé.txt"), "z").expect("accented name");
        symlink("t".repeat(120), root.join("far")).expect("long symlink");

        let context = BuildContext::prepare(&ContextOptions::new(root)).expect("prepare");
        let seen = read_back(&context.write_archive(Vec::new()).expect("archive"));
        let names: Vec<&str> = seen.iter().map(|entry| entry.name.as_str()).collect();
        assert!(
            names.contains(&format!("{nested}/file.txt").as_str()),
            "{names:?}"
        );
        assert!(names.contains(&long_leaf.as_str()), "{names:?}");
        assert!(names.contains(&"résumé.txt"), "{names:?}");
        let far = seen
            .iter()
            .find(|entry| entry.name == "far")
            .expect("symlink entry");
        assert_eq!(far.link.as_deref(), Some("t".repeat(120).as_str()));
    }

    #[test]
    fn ustar_paths_split_where_go_splits_them() {
        let short = "a/b".as_bytes();
        assert_eq!(split_ustar_path(short), None);
        let name = format!("{}/{}", "p".repeat(80), "n".repeat(80));
        assert_eq!(
            split_ustar_path(name.as_bytes()),
            Some(("p".repeat(80).as_bytes(), "n".repeat(80).as_bytes()))
        );
        let leaf_too_long = format!("p/{}", "n".repeat(101));
        assert_eq!(split_ustar_path(leaf_too_long.as_bytes()), None);
        let directory = format!("{}/{}/", "p".repeat(80), "n".repeat(40));
        assert_eq!(
            split_ustar_path(directory.as_bytes()),
            Some((
                "p".repeat(80).as_bytes(),
                format!("{}/", "n".repeat(40)).as_bytes()
            ))
        );
    }
}
