//! One streamed request to the daemon, answered with JSON lines, made
//! without bollard: bollard's push model keeps only `status`, dropping the
//! layer `id` and the `aux` record the push needs.

use crate::dial::Dialer;
use crate::{DockerHost, EngineError};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite};

/// How the daemon answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// With success: the response body, line by line.
    Lines(JsonLines),
    /// With an error status and this message.
    Status { status: u16, message: String },
}

/// POSTs to `path_and_query` with the given secret headers (credentials),
/// which are marked sensitive so that no `Debug` of the request shows them.
/// A daemon that cannot be reached, or that drops the connection, is
/// [`EngineError::Unreachable`].
pub(crate) async fn post_for_lines(
    host: &DockerHost,
    path_and_query: &str,
    secret_headers: &[(&str, &SecretString)],
) -> Result<Answer, EngineError> {
    let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| EngineError::Unreachable {
        host: host.to_string(),
        source,
    };
    let mut request = Request::post(path_and_query).header(hyper::header::HOST, "docker");
    for (name, value) in secret_headers {
        // An error names the header, never its value.
        let mut value =
            HeaderValue::from_str(value.expose_secret()).map_err(|_| EngineError::Daemon {
                action: format!("take the request POST {path_and_query}"),
                message: format!("the {name} header holds characters HTTP does not allow"),
            })?;
        value.set_sensitive(true);
        request = request.header(*name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|error| EngineError::Daemon {
            action: format!("take the request POST {path_and_query}"),
            message: error.to_string(),
        })?;
    let stream = Dialer::new(host)?
        .dial()
        .await
        .map_err(|error| unreachable(error.into()))?;
    let response = send(stream, request)
        .await
        .map_err(|error| unreachable(error.into()))?;
    let status = response.status();
    let mut lines = JsonLines {
        body: response.into_body(),
        pending: BytesMut::new(),
    };
    if status.is_success() {
        return Ok(Answer::Lines(lines));
    }
    let mut text = Vec::new();
    while let Some(line) = lines.next_line().await {
        text.extend_from_slice(&line.map_err(|error| unreachable(error.into()))?);
    }
    let message = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .and_then(|message| message.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&text).trim().to_string());
    Ok(Answer::Status {
        status: status.as_u16(),
        message,
    })
}

/// Asks the daemon to take over a fresh connection for another protocol
/// (`Upgrade: proto`), as the docker CLI's `DialHijack` does, and returns the
/// connection once the daemon has switched.
pub(crate) async fn upgrade(
    host: &DockerHost,
    path: &str,
    proto: &str,
    headers: &[(&str, String)],
) -> Result<hyper::upgrade::Upgraded, EngineError> {
    let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| EngineError::Unreachable {
        host: host.to_string(),
        source,
    };
    let refused = |message: String| EngineError::Daemon {
        action: format!("open POST {path}"),
        message,
    };
    let mut request = Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, proto);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|error| refused(error.to_string()))?;
    let stream = Dialer::new(host)?
        .dial()
        .await
        .map_err(|error| unreachable(error.into()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| unreachable(error.into()))?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upgraded connection to the Docker daemon ended");
        }
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| unreachable(error.into()))?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|body| String::from_utf8_lossy(&body.to_bytes()).trim().to_string())
            .unwrap_or_default();
        return Err(refused(format!("{status}: {body}")));
    }
    hyper::upgrade::on(response)
        .await
        .map_err(|error| unreachable(error.into()))
}

async fn send<T>(io: T, request: Request<Empty<Bytes>>) -> Result<Response<Incoming>, hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection to the Docker daemon ended");
        }
    });
    sender.send_request(request).await
}

/// A response body cut into non-empty lines.
#[derive(Debug)]
pub(crate) struct JsonLines {
    body: Incoming,
    pending: BytesMut,
}

impl JsonLines {
    pub(crate) async fn next_line(&mut self) -> Option<Result<Bytes, hyper::Error>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
                let line = self.pending.split_to(end + 1).freeze();
                let line = line.slice(..end);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(Ok(line));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => return Some(Err(error)),
                None if self.pending.iter().all(u8::is_ascii_whitespace) => return None,
                None => return Some(Ok(self.pending.split().freeze())),
            }
        }
    }
}
