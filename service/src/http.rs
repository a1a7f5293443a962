//! A minimal HTTP/1.0 GET, enough for the local /health and the ECS task
//! metadata endpoint; both are plain HTTP on an IP address, so no client
//! library (and no getaddrinfo) is needed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Responses larger than this are cut off: neither peer sends more than a few KiB.
const MAX_RESPONSE: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// GETs `url` (`http://IP[:PORT]/PATH`), all within `timeout`. A failure
/// carries `fix`: what to do about it depends on what was asked for.
pub async fn get(url: &str, timeout: Duration, fix: &'static str) -> Result<Response> {
    let fail = |problem: String| Error::Http {
        url: url.to_owned(),
        problem,
        fix,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("expected an http://IP[:PORT]/PATH address".to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let address = authority
        .parse::<SocketAddr>()
        .or_else(|_| {
            authority
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, 80))
        })
        .map_err(|_| {
            fail(format!(
                "`{authority}` is not an IP address with an optional port"
            ))
        })?;
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\
             User-Agent: isokit-service/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| fail(format!("no response within {timeout:?}")))?
        .map_err(|err| fail(err.to_string()))?;
    parse_response(&raw).ok_or_else(|| fail("the response is not HTTP".to_owned()))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(Response {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let response = parse_response(
            b"HTTP/1.0 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{\"a\":1}",
        )
        .expect("an HTTP response");
        assert_eq!(response.status, 503);
        assert_eq!(response.body, "{\"a\":1}");
        assert_eq!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[tokio::test]
    async fn refuses_urls_it_cannot_reach_without_a_resolver() {
        for url in [
            "https://127.0.0.1/",
            "http://metadata.local/v4",
            "127.0.0.1:80/health",
        ] {
            let err = get(url, Duration::from_secs(1), "do this next")
                .await
                .expect_err("refused")
                .explained();
            assert!(err.starts_with(&format!("GET {url} failed:")), "{err}");
            assert!(err.ends_with("\n  help: do this next"), "{err}");
        }
    }
}
