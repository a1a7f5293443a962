//! Where the Dockerfile is, and the name a copy of it travels under.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ContextError;
use crate::listed::open_regular;

/// Where the Dockerfile is.
#[derive(Debug)]
pub(crate) struct Dockerfile {
    /// As named (the ignore file beside it takes its name from this).
    pub(crate) named: PathBuf,
    /// With symbolic links resolved.
    pub(crate) resolved: PathBuf,
    /// Its `/`-separated path in the context, when inside it and the build
    /// request can name it. Otherwise the archive carries a copy under a
    /// generated name, which the engine drops after reading it.
    pub(crate) inside_path: Option<String>,
}

impl Dockerfile {
    pub(crate) fn locate(root: &Path, given: Option<&Path>) -> Result<Dockerfile, ContextError> {
        let named = match given {
            Some(path) => {
                std::path::absolute(path).map_err(|source| ContextError::DockerfileUnreadable {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            None => {
                let default = root.join("Dockerfile");
                let lowercase = root.join("dockerfile");
                let default_missing = fs::symlink_metadata(&default)
                    .is_err_and(|e| e.kind() == io::ErrorKind::NotFound);
                if default_missing && fs::symlink_metadata(&lowercase).is_ok() {
                    lowercase
                } else {
                    default
                }
            }
        };
        let resolved = fs::canonicalize(&named).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ContextError::DockerfileMissing {
                path: named.clone(),
            },
            _ => ContextError::DockerfileUnreadable {
                path: named.clone(),
                source,
            },
        })?;
        if !fs::metadata(&resolved).is_ok_and(|meta| meta.is_file()) {
            return Err(ContextError::DockerfileNotFile { path: named });
        }
        open_regular(&resolved).map_err(|source| ContextError::DockerfileUnreadable {
            path: resolved.clone(),
            source,
        })?;
        // The build request names the Dockerfile in a text query parameter:
        // a path that is not UTF-8 cannot be named there, so such a
        // Dockerfile travels as a copy, as one from outside the context does.
        let inside_path = resolved
            .strip_prefix(root)
            .ok()
            .and_then(Path::to_str)
            .map(str::to_string);
        Ok(Dockerfile {
            named,
            resolved,
            inside_path,
        })
    }
}

/// `.dockerfile.` and twenty hex digits, as the docker CLI names a
/// Dockerfile it adds to the archive; but where the CLI draws the digits at
/// random, they are here the start of the content's SHA-256. The name is
/// part of the build request, and so of the content tag: the same
/// Dockerfile must get the same name on every run.
pub(crate) fn copied_dockerfile_name(content: &[u8]) -> String {
    let digits: String = Sha256::digest(content)
        .iter()
        .take(10)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(".dockerfile.{digits}")
}
