use std::io;
use std::path::PathBuf;

/// Everything that can go wrong preparing or sending a build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the build context {path} does not exist: pass an existing directory")]
    ContextMissing { path: PathBuf },

    #[error(
        "the build context {path} is not a directory: pass the directory that holds the files to build"
    )]
    ContextNotDirectory { path: PathBuf },

    #[error("cannot open the build context {path}")]
    ContextUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "the Dockerfile {path} does not exist: pass its path, or put a Dockerfile in the context"
    )]
    DockerfileMissing { path: PathBuf },

    #[error("the Dockerfile {path} is not a regular file")]
    DockerfileNotFile { path: PathBuf },

    #[error("cannot read the Dockerfile {path}")]
    DockerfileUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read the ignore file {path}")]
    IgnoreFileUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("the ignore file {path} is not UTF-8 text")]
    IgnoreFileNotUtf8 { path: PathBuf },

    #[error("{}: invalid pattern `{pattern}`: {reason}", location(path, *line))]
    InvalidPattern {
        path: PathBuf,
        line: Option<usize>,
        pattern: String,
        reason: String,
    },

    #[error(
        "cannot read {path} in the build context: fix its permissions, or exclude it in .dockerignore"
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{path} changed while isokit was reading the build context ({detail}): stop whatever \
         writes to it, or leave it out with .dockerignore"
    )]
    FileChanged { path: PathBuf, detail: String },

    #[error("cannot start the thread that writes the build context")]
    WriterThread(#[source] io::Error),

    #[error("writing the build context archive failed")]
    Archive(#[source] io::Error),
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}, line {line}", path.display()),
        None => path.display().to_string(),
    }
}
