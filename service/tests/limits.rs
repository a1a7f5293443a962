//! Both HTTP servers of the real binary against clients that stall: the
//! service's `/health` and the TLS stand-in. A connection that never
//! finishes its request head is closed after the header-read timeout (a TLS
//! one that never finishes its handshake, after the handshake timeout), and
//! past the connection cap new connections wait until stalled ones go.

#[allow(
    dead_code,
    unused_imports,
    reason = "these tests need no DNS answer and no endpoint host name from the support"
)]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isokit_report::LogLine;
use isokit_service::connections::{HANDSHAKE_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use support::{DnsServer, Service, Standin, TestCa, addr, task_env};

/// A request head cut off before its final blank line.
const HALF_A_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: isokit.test\r\n";
const WHOLE_REQUEST: &[u8] =
    b"GET /health HTTP/1.1\r\nHost: isokit.test\r\nConnection: close\r\n\r\n";

/// How much later than its timeout a close may come, on a busy machine.
const SLACK: Duration = Duration::from_secs(3);

/// `isokit-service serve` on a free port; its checks fail (nothing answers
/// for the endpoint), which changes nothing for its HTTP server.
fn service() -> (Service, SocketAddr) {
    let ca = TestCa::new("isokit test CA");
    let dns = DnsServer::start([]);
    let env = task_env(&dns, &ca, &[("ISOKIT_ENDPOINTS", "logs")]);
    let mut service = Service::start(&env);
    let LogLine::Start(start) = service.next_line() else {
        panic!("the first line is the start line");
    };
    let port = start
        .listen
        .parse::<SocketAddr>()
        .expect("the start line names the listen address")
        .port();
    (service, addr("127.0.0.1", port))
}

/// A client connection, plain or TLS, and the socket under it.
trait Client: Read {
    fn socket(&self) -> &TcpStream;
}

impl Client for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Client for StreamOwned<ClientConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// Reads until the server ends the connection; returns what it sent and
/// how long after `since` it ended, or fails when it is still open after
/// waiting `within`.
fn read_until_closed(
    client: &mut impl Client,
    since: Instant,
    within: Duration,
) -> (Vec<u8>, Duration) {
    client
        .socket()
        .set_read_timeout(Some(within))
        .expect("read timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match client.read(&mut buffer) {
            Ok(0) => return (received, since.elapsed()),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            // A reset, or TLS ending without its close_notify: closed all the same.
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                return (received, since.elapsed());
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the server kept the connection open: nothing ended it within {within:?} (received {:?})",
                    String::from_utf8_lossy(&received)
                );
            }
            Err(err) => panic!("reading failed: {err}"),
        }
    }
}

fn assert_closed_at_the_timeout(took: Duration, timeout: Duration, what: &str) {
    assert!(
        took + Duration::from_millis(250) >= timeout,
        "{what}: closed after {took:?}, before the {timeout:?} timeout"
    );
    assert!(
        took <= timeout + SLACK,
        "{what}: closed after {took:?}, long past the {timeout:?} timeout"
    );
}

/// Opens `MAX_CONNECTIONS` connections that each send `first` and then stall.
fn stall_every_slot(server: SocketAddr, first: &[u8]) -> Vec<TcpStream> {
    (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut stream = TcpStream::connect(server).expect("connect a stalling client");
            stream.write_all(first).expect("send the first bytes");
            stream
        })
        .collect()
}

fn nothing_within(stream: &mut TcpStream, wait: Duration) {
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut buffer = [0u8; 1];
    match stream.read(&mut buffer) {
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("served past the connection cap: {other:?}"),
    }
}

#[test]
fn the_service_closes_a_connection_whose_request_head_never_ends() {
    let (_service, server) = service();
    let since = Instant::now();
    let mut stalled = TcpStream::connect(server).expect("connect");
    stalled.write_all(HALF_A_HEAD).expect("send half a head");
    // An idle keep-alive connection goes the same way, after its answer.
    let mut idle = TcpStream::connect(server).expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: isokit.test\r\n\r\n")
        .expect("send a request");

    let (_, took) = read_until_closed(&mut stalled, since, HEADER_READ_TIMEOUT + SLACK);
    assert_closed_at_the_timeout(took, HEADER_READ_TIMEOUT, "a half-sent head");
    let (answer, took) = read_until_closed(&mut idle, since, HEADER_READ_TIMEOUT + SLACK);
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_closed_at_the_timeout(took, HEADER_READ_TIMEOUT, "an idle keep-alive connection");
}

#[test]
fn the_service_serves_past_the_cap_once_stalled_connections_go() {
    let (_service, server) = service();
    let stalled = stall_every_slot(server, HALF_A_HEAD);

    let mut waiting = TcpStream::connect(server).expect("the kernel queues the connection");
    waiting.write_all(WHOLE_REQUEST).expect("send a request");
    nothing_within(&mut waiting, Duration::from_secs(1));

    drop(stalled);
    // Well before the stalled ones' own timeout: their going freed the slots.
    let (answer, _) = read_until_closed(&mut waiting, Instant::now(), HEADER_READ_TIMEOUT / 2);
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

fn tls_client(ca: &TestCa) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in
        isokit_service::config::parse_certificates("the test CA", ca.pem().as_bytes())
            .expect("the test CA")
    {
        roots.add(certificate).expect("a trust anchor");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

const STANDIN_NAME: &str = "standin.isokit.test";

fn connect_tls(
    client: &Arc<ClientConfig>,
    server: SocketAddr,
) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from(STANDIN_NAME).expect("server name");
    let connection = ClientConnection::new(Arc::clone(client), name).expect("a TLS client");
    let socket = TcpStream::connect(server).expect("connect to the stand-in");
    // No read may hang the test: a handshake the stand-in never answers fails it.
    socket
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT + SLACK))
        .expect("read timeout");
    StreamOwned::new(connection, socket)
}

#[test]
fn the_standin_closes_a_silent_handshake_and_a_head_that_never_ends() {
    let ca = TestCa::new("isokit test CA");
    let standin = Standin::start(
        addr("127.0.50.1", 443),
        &ca.leaf(&[STANDIN_NAME.to_owned()]),
    );
    let since = Instant::now();
    let mut silent = TcpStream::connect(standin.addr).expect("connect");
    let mut stalled = connect_tls(&tls_client(&ca), standin.addr);
    stalled
        .write_all(HALF_A_HEAD)
        .expect("handshake, then half a head");

    let (_, took) = read_until_closed(&mut silent, since, HANDSHAKE_TIMEOUT + SLACK);
    assert_closed_at_the_timeout(took, HANDSHAKE_TIMEOUT, "a handshake that never starts");
    let (_, took) = read_until_closed(&mut stalled, since, HEADER_READ_TIMEOUT + SLACK);
    assert_closed_at_the_timeout(took, HEADER_READ_TIMEOUT, "a half-sent head over TLS");
}

#[test]
fn the_standin_serves_past_the_cap_once_stalled_connections_go() {
    let ca = TestCa::new("isokit test CA");
    let standin = Standin::start(
        addr("127.0.50.2", 443),
        &ca.leaf(&[STANDIN_NAME.to_owned()]),
    );
    // Connections that never start their handshake hold every slot.
    let stalled = stall_every_slot(standin.addr, b"");

    let mut waiting = connect_tls(&tls_client(&ca), standin.addr);
    // The client's hello is sent; no server hello comes while the cap is full.
    waiting
        .conn
        .write_tls(&mut waiting.sock)
        .expect("send the client hello");
    nothing_within(&mut waiting.sock, Duration::from_secs(1));

    drop(stalled);
    waiting
        .sock
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT / 2))
        .expect("read timeout");
    waiting
        .write_all(WHOLE_REQUEST)
        .expect("finish the handshake and send a request");
    let (answer, _) = read_until_closed(&mut waiting, Instant::now(), HANDSHAKE_TIMEOUT / 2);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""standin":"isokit-service""#), "{answer}");
}
