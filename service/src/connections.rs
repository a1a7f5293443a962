//! Serving HTTP/1 with bounded resources, for `/health` and `/checks` and
//! for the stand-in endpoint alike: a cap on open connections, a time limit
//! on a TLS handshake and on reading each request's head, and a small
//! buffer per connection, so that clients that connect and then stall
//! cannot exhaust the task's file descriptors or memory.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Connections served at once. `/health` is asked by the container's health
/// check, a load balancer's few nodes and now and then a person, a handful at
/// a time; 256 leaves room for bursts while bounding what stalled clients can
/// hold to 256 descriptors and 256 × [`MAX_BUFFER`] (4 MiB). Connections
/// beyond it are not accepted until a slot frees: they wait in the kernel's
/// accept queue, which costs the process nothing, and are served in turn,
/// whereas closing them would fail a health check that merely arrived during
/// a burst. A stalled connection frees its slot within
/// [`HANDSHAKE_TIMEOUT`] + [`HEADER_READ_TIMEOUT`].
pub const MAX_CONNECTIONS: usize = 256;

/// A client must send a request's whole head within this, counted from
/// when the connection is served or the previous response was sent: health
/// checkers send theirs in one packet, so 5 s is generous. It also closes a
/// keep-alive connection left idle that long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS client must finish its handshake within this; the stand-in's
/// clients are checks that give up after their own few seconds.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a connection buffers. A GET's head is well under 1 KiB and a
/// response a few KiB; hyper's default is about 400 KiB, its floor 8 KiB.
const MAX_BUFFER: usize = 16 * 1024;

/// After a stop, requests in flight get this long: the task must be gone
/// within one second of SIGTERM, whatever connections clients keep open.
const DRAIN: Duration = Duration::from_millis(500);

/// What a new connection speaks HTTP over.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(TlsAcceptor),
}

/// Serves `router` on `listener` until `stop` resolves, then lets requests
/// in flight finish for at most [`DRAIN`]. Failures of single connections
/// (a client that stalls, resets or speaks no HTTP) end that connection
/// only, and a failure to accept (out of file descriptors) is waited out,
/// so serving never stops by itself.
pub(crate) async fn serve_until(
    listener: TcpListener,
    transport: Transport,
    router: Router,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUFFER);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        // A slot first, then accept, so that the cap holds at the kernel's queue.
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = Arc::clone(&slots).acquire_owned() => {
                slot.expect("the semaphore is never closed")
            }
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (http, router, transport, watcher) = (
            http.clone(),
            router.clone(),
            transport.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            match transport {
                Transport::Plain => serve_connection(&http, stream, router, watcher).await,
                Transport::Tls(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        serve_connection(&http, tls, router, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

async fn serve_connection<I>(http: &http1::Builder, io: I, router: Router, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    // How a connection ended concerns its client only: a header-read
    // timeout or a reset is the expected end of a stalled or gone client.
    let _ = watcher.watch(connection).await;
}
