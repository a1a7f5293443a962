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

    /// The resolver is built with no encrypted transport to set up, so no
    /// setting can make this fail.
    #[error(
        "cannot build the DNS resolver: {0}; this is a fault in this build of \
         isokit-service, not in its settings: report it with this message"
    )]
    Resolver(#[source] hickory_resolver::net::NetError),

    /// Choosing the protocol versions of the built-in crypto provider: no
    /// setting can make this fail.
    #[error(
        "cannot set up TLS with the built-in crypto provider: {0}; this is a fault in \
         this build of isokit-service, not in its settings: report it with this message"
    )]
    Tls(#[source] rustls::Error),

    #[error(
        "the stand-in's private key cannot serve its certificate: {0}; give \
         ISOKIT_STANDIN_KEY_PEM (or --key-file) the private key of the first certificate \
         in ISOKIT_STANDIN_CERT_PEM (or --cert-file)"
    )]
    StandinKey(#[source] rustls::Error),

    #[error("cannot listen on {addr}: {source}; choose another address with {setting}")]
    Listen {
        addr: SocketAddr,
        setting: &'static str,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot install the SIGTERM handler: {0}; without it a stop would kill the service \
         mid-round: check the container's open-files limit and that its seccomp profile \
         allows sigaction"
    )]
    Signal(#[source] io::Error),

    #[error(
        "cannot start the async runtime: {0}; the process is short of a system resource: \
         raise the container's limits on open files, processes (threads) or memory"
    )]
    Runtime(#[source] io::Error),

    #[error(
        "cannot write to stdout: {0}; the report and the JSON log lines go there: keep stdout \
         open (in ECS, the awslogs driver reads it)"
    )]
    Stdout(#[source] io::Error),

    /// `fix` depends on what was asked for, which only the caller knows.
    #[error("GET {url} failed: {problem}; {fix}")]
    Http {
        url: String,
        problem: String,
        fix: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
