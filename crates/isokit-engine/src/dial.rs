//! One byte stream to the daemon, whichever way it is reached: a Unix
//! socket, TCP, TLS over TCP, or `ssh HOST docker system dial-stdio` (as
//! the docker CLI does). bollard's requests and the push's own stream both
//! go through it, so that every request reaches the daemon the same way.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::host::{DockerHost, SshDestination};
use crate::{EngineError, tls};

/// How long `ssh` may take to reach the host, as the docker CLI allows.
const SSH_CONNECT_TIMEOUT_SECS: u32 = 30;
/// How many of `ssh`'s last lines of complaint an error quotes.
const SSH_ERROR_LINES: usize = 5;

/// Opens streams to one daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    host: DockerHost,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Dialer {
    /// Reads the TLS material now, so that a bad file fails before any
    /// connection is tried.
    pub(crate) fn new(host: &DockerHost) -> Result<Dialer, EngineError> {
        let tls = match host {
            DockerHost::Tls { host, tls, .. } => {
                Some((tls::client_config(tls)?, tls::server_name(host)?))
            }
            _ => None,
        };
        Ok(Dialer {
            host: host.clone(),
            tls,
        })
    }

    pub(crate) async fn dial(&self) -> io::Result<DaemonStream> {
        match (&self.host, &self.tls) {
            (DockerHost::Unix(path), _) => Ok(DaemonStream::Unix(UnixStream::connect(path).await?)),
            (DockerHost::Tcp { host, port }, _) => Ok(DaemonStream::Tcp(
                TcpStream::connect((host.as_str(), *port)).await?,
            )),
            (DockerHost::Tls { host, port, .. }, Some((config, name))) => {
                let tcp = TcpStream::connect((host.as_str(), *port)).await?;
                let stream = TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await?;
                Ok(DaemonStream::Tls(Box::new(stream)))
            }
            (DockerHost::Tls { .. }, None) => Err(io::Error::other("TLS was not set up")),
            (DockerHost::Ssh(destination), _) => Ok(DaemonStream::Ssh(Box::new(ssh(destination)?))),
        }
    }

    /// The stream as a connector for hyper's pooled client.
    pub(crate) fn connector(&self) -> Connector {
        Connector(self.clone())
    }
}

/// A stream to the daemon.
#[derive(Debug)]
pub(crate) enum DaemonStream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Ssh(Box<SshStream>),
}

/// `docker system dial-stdio` on the far side of `ssh`: the daemon's
/// socket, spliced onto the process's stdin and stdout.
#[derive(Debug)]
pub(crate) struct SshStream {
    /// Killed when the stream is dropped.
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// What `ssh` (and the far side) said on stderr, once it ends.
    complaint: Option<JoinHandle<String>>,
    /// Whether the daemon sent anything: an end before that is a failure.
    answered: bool,
}

fn ssh(destination: &SshDestination) -> io::Result<SshStream> {
    let mut command = tokio::process::Command::new("ssh");
    if let Some(user) = &destination.user {
        command.arg("-l").arg(user);
    }
    if let Some(port) = destination.port {
        command.arg("-p").arg(port.to_string());
    }
    command
        // isokit opens several connections and may draw progress on the
        // terminal: ssh must log in without asking.
        .args(["-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS}"))
        .arg("-T")
        .arg("--")
        .arg(&destination.host)
        .args(["docker", "system", "dial-stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Ctrl-C is for isokit, which still needs the connection to clean up.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|error| io::Error::new(error.kind(), format!("cannot run ssh: {error}")))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other("ssh started without its pipes"));
    };
    let complaint = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    Ok(SshStream {
        _child: child,
        stdin,
        stdout,
        complaint: Some(complaint),
        answered: false,
    })
}

impl SshStream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stdout).poll_read(cx, buf))?;
        if buf.filled().len() > before || self.answered {
            self.answered = true;
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(Err(ready!(self.poll_failure(cx))))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match ready!(Pin::new(&mut self.stdin).poll_write(cx, buf)) {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe && !self.answered => {
                Poll::Ready(Err(ready!(self.poll_failure(cx))))
            }
            written => Poll::Ready(written),
        }
    }

    /// ssh ended before the daemon said a word: what it said on stderr,
    /// once it has said all of it, is why.
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let text = match self.complaint.as_mut() {
            Some(complaint) => ready!(Pin::new(complaint).poll(cx)).unwrap_or_default(),
            None => String::new(),
        };
        self.complaint = None;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        let last = &lines[lines.len().saturating_sub(SSH_ERROR_LINES)..];
        let message = if last.is_empty() {
            "ssh ended before the daemon answered".to_string()
        } else {
            format!("ssh ended before the daemon answered: {}", last.join("; "))
        };
        Poll::Ready(io::Error::new(io::ErrorKind::ConnectionAborted, message))
    }
}

impl AsyncRead for DaemonStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DaemonStream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
            DaemonStream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            DaemonStream::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
            DaemonStream::Ssh(stream) => stream.poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DaemonStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DaemonStream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
            DaemonStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            DaemonStream::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
            DaemonStream::Ssh(stream) => stream.poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DaemonStream::Unix(stream) => Pin::new(stream).poll_flush(cx),
            DaemonStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            DaemonStream::Tls(stream) => Pin::new(stream).poll_flush(cx),
            DaemonStream::Ssh(stream) => Pin::new(&mut stream.stdin).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DaemonStream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
            DaemonStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            DaemonStream::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
            DaemonStream::Ssh(stream) => Pin::new(&mut stream.stdin).poll_shutdown(cx),
        }
    }
}

/// [`Dialer`] as hyper's pooled client takes it: the request's URI is
/// ignored, every connection goes to the one daemon.
#[derive(Debug, Clone)]
pub(crate) struct Connector(Dialer);

impl tower::Service<Uri> for Connector {
    type Response = DaemonIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<DaemonIo>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let dialer = self.0.clone();
        Box::pin(async move { Ok(DaemonIo(TokioIo::new(dialer.dial().await?))) })
    }
}

/// A [`DaemonStream`] as hyper reads and writes it.
#[derive(Debug)]
pub(crate) struct DaemonIo(TokioIo<DaemonStream>);

impl Connection for DaemonIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for DaemonIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for DaemonIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
