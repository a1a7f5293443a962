//! The archive as an asynchronous stream of chunks: a thread walks the
//! context and writes the tar archive (optionally gzipped) into a bounded
//! channel, so that at most a few chunks are in memory whatever the
//! context's size, and the walk waits whenever the engine reads slowly.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::{BuildContext, ContextError};

/// Chunks are handed over once they reach this size.
const CHUNK: usize = 256 * 1024;
/// Chunks written ahead of the reader, at most.
const CHUNKS_AHEAD: usize = 8;

/// How the archive is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain tar: the fastest over a local socket, where bandwidth is free
    /// and compressing only costs CPU time.
    #[default]
    None,
    /// gzip at its fastest level: pays over a network link slower than the
    /// compressor.
    Gzip,
}

/// The archive, chunk by chunk, for an HTTP request body.
#[derive(Debug)]
pub struct ContextStream {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
}

impl Stream for ContextStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().receiver.poll_recv(cx)
    }
}

/// Watches a [`ContextStream`] being produced: how far it got, and why it
/// stopped if it failed (the stream itself can only carry an `io::Error`).
#[derive(Debug, Clone, Default)]
pub struct SendMonitor {
    archived: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<ContextError>>>,
}

impl SendMonitor {
    /// Uncompressed archive bytes produced so far.
    pub fn archived_bytes(&self) -> u64 {
        self.archived.load(Ordering::Relaxed)
    }

    /// The error that cut the stream short, if one did (taken once).
    pub fn take_failure(&self) -> Option<ContextError> {
        self.failure
            .lock()
            .ok()
            .and_then(|mut failure| failure.take())
    }

    fn record(&self, error: ContextError) {
        if let Ok(mut failure) = self.failure.lock() {
            *failure = Some(error);
        }
    }
}

impl BuildContext {
    /// Starts writing the archive on its own thread and returns it as a
    /// stream. Dropping the stream stops the thread.
    pub fn into_stream(
        self,
        compression: Compression,
    ) -> Result<(ContextStream, SendMonitor), ContextError> {
        let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
        let monitor = SendMonitor::default();
        let thread_monitor = monitor.clone();
        std::thread::Builder::new()
            .name("isokit-context".to_string())
            .spawn(move || {
                let chunks = ChunkSender {
                    sender: sender.clone(),
                    pending: BytesMut::with_capacity(CHUNK),
                };
                let archived = thread_monitor.archived.clone();
                if let Err(error) = self.write_encoded(chunks, compression, archived) {
                    // When the reader went away, its side has the story to tell.
                    if sender.is_closed() {
                        return;
                    }
                    let message = error.to_string();
                    thread_monitor.record(error);
                    let _ = sender.blocking_send(Err(io::Error::other(message)));
                }
            })
            .map_err(ContextError::WriterThread)?;
        Ok((ContextStream { receiver }, monitor))
    }

    fn write_encoded(
        &self,
        chunks: ChunkSender,
        compression: Compression,
        archived: Arc<AtomicU64>,
    ) -> Result<(), ContextError> {
        let mut chunks = match compression {
            Compression::None => {
                self.write_archive(Counting {
                    inner: chunks,
                    archived,
                })?
                .inner
            }
            Compression::Gzip => {
                let encoder = GzEncoder::new(chunks, flate2::Compression::fast());
                let encoder = self
                    .write_archive(Counting {
                        inner: encoder,
                        archived,
                    })?
                    .inner;
                encoder.finish().map_err(ContextError::Archive)?
            }
        };
        chunks.flush().map_err(ContextError::Archive)
    }
}

/// Counts the uncompressed bytes going through it.
struct Counting<W> {
    inner: W,
    archived: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.archived.fetch_add(written as u64, Ordering::Relaxed);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Gathers writes into chunks and hands each to the channel, blocking while
/// the channel is full.
struct ChunkSender {
    sender: mpsc::Sender<io::Result<Bytes>>,
    pending: BytesMut,
}

impl ChunkSender {
    fn send_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = self.pending.split().freeze();
        self.pending.reserve(CHUNK);
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the build context is no longer being read",
            )
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= CHUNK {
            self.send_pending()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;

    use futures_util::StreamExt;

    use super::*;
    use crate::ContextOptions;

    fn sample_context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("context");
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        for index in 0..40 {
            let content = format!("line {index}\n").repeat(20_000);
            fs::write(dir.path().join(format!("file-{index:02}.txt")), content).expect("file");
        }
        dir
    }

    async fn collect(stream: ContextStream) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut stream = stream;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            assert!(chunk.len() <= 2 * CHUNK, "chunks stay small");
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    #[tokio::test]
    async fn the_stream_carries_the_archive_plain_or_gzipped() {
        let dir = sample_context();
        let context = BuildContext::prepare(&ContextOptions::new(dir.path())).expect("prepare");
        let expected = context.write_archive(Vec::new()).expect("archive");

        let (stream, monitor) = context
            .clone()
            .into_stream(Compression::None)
            .expect("stream");
        assert_eq!(collect(stream).await.expect("plain stream"), expected);
        assert_eq!(monitor.archived_bytes(), expected.len() as u64);
        assert!(monitor.take_failure().is_none());

        let (stream, _) = context.into_stream(Compression::Gzip).expect("stream");
        let compressed = collect(stream).await.expect("gzip stream");
        assert!(
            compressed.len() * 10 < expected.len(),
            "repetitive text compresses well"
        );
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut unpacked)
            .expect("gunzip");
        assert_eq!(unpacked, expected);
    }

    #[tokio::test]
    async fn a_file_that_changes_after_listing_stops_the_stream_with_its_name() {
        let dir = sample_context();
        let context = BuildContext::prepare(&ContextOptions::new(dir.path())).expect("prepare");
        fs::write(dir.path().join("file-07.txt"), "short now").expect("shrink file");

        let (stream, monitor) = context.into_stream(Compression::None).expect("stream");
        let error = collect(stream).await.expect_err("the stream must fail");
        assert!(error.to_string().contains("file-07.txt"), "{error}");
        match monitor.take_failure() {
            Some(ContextError::FileChanged { path, .. }) => {
                assert!(path.ends_with("file-07.txt"))
            }
            other => panic!("expected a changed-file failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_writer() {
        let dir = sample_context();
        let context = BuildContext::prepare(&ContextOptions::new(dir.path())).expect("prepare");
        let (mut stream, monitor) = context.into_stream(Compression::None).expect("stream");
        stream.next().await.expect("first chunk").expect("chunk");
        drop(stream);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let stalled_at = monitor.archived_bytes();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(monitor.archived_bytes(), stalled_at);
        assert!(
            monitor.take_failure().is_none(),
            "a reader going away is not a context failure"
        );
    }
}
