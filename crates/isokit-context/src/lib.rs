//! The Docker build context: `.dockerignore` matching exactly as Docker does, and the tar stream sent to the engine.
//!
//! [`BuildContext::prepare`] finds the Dockerfile and the ignore file that
//! applies, walks the context and checks every file can be read;
//! [`BuildContext::into_stream`] then writes the archive on a thread, as a
//! stream of chunks for the engine's build request, holding only a few
//! chunks in memory at a time. A file is sent only while it is still the
//! regular file listed, and, once [`BuildContext::fingerprint`] has read
//! it, only with the bytes it read; anything else stops the stream with an
//! error naming the file.

mod archive;
mod context;
mod dockerfile;
mod engine_ignore;
mod error;
mod fingerprint;
mod ignore;
mod listed;
mod pattern;
mod stream;
mod synced;
mod walk;

pub use context::{BuildContext, ContextOptions, SkippedEntry, SpecialFile};
pub use error::ContextError;
pub use ignore::{IgnoreLine, parse_ignore_text};
pub use stream::{Compression, ContextStream, SendMonitor};
pub use synced::{SyncedEntry, SyncedKind};
