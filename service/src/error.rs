use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop isokit-service. Failed checks are not errors:
/// they are findings, and go into the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{variable}: {problem}; expected {expected}")]
    Config {
        variable: &'static str,
        problem: String,
        expected: &'static str,
    },

    #[error("{variable}: cannot read {path}: {source}")]
    ReadFile {
        variable: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot read the system DNS configuration (/etc/resolv.conf): {0}; \
         set ISOKIT_DNS_SERVERS to the servers to use"
    )]
    SystemDns(#[source] hickory_resolver::net::NetError),

    #[error("cannot build the DNS resolver: {0}")]
    Resolver(#[source] hickory_resolver::net::NetError),

    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[source] rustls::Error),

    #[error("cannot listen on {addr}: {source}; choose another address with {setting}")]
    Listen {
        addr: SocketAddr,
        setting: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("the HTTP server on {addr} stopped: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },

    #[error("cannot install the SIGTERM handler: {0}")]
    Signal(#[source] io::Error),

    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),

    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] io::Error),

    #[error("GET {url} failed: {problem}")]
    Http { url: String, problem: String },

    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
