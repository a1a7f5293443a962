use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop isokit-service. Failed checks are not errors:
/// they are findings, and go into the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{variable}: {problem}")]
    Config {
        variable: &'static str,
        problem: String,
        expected: &'static str,
    },

    #[error("{variable}: cannot read {}", path.display())]
    ReadFile {
        variable: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read the system DNS configuration (/etc/resolv.conf)")]
    SystemDns(#[source] hickory_resolver::net::NetError),

    /// The resolver is built with no encrypted transport to set up, so no
    /// setting can make this fail.
    #[error("cannot build the DNS resolver")]
    Resolver(#[source] hickory_resolver::net::NetError),

    /// Choosing the protocol versions of the built-in crypto provider: no
    /// setting can make this fail.
    #[error("cannot set up TLS with the built-in crypto provider")]
    Tls(#[source] rustls::Error),

    #[error("the stand-in's private key cannot serve its certificate")]
    StandinKey(#[source] rustls::Error),

    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        setting: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("cannot install the SIGTERM handler")]
    Signal(#[source] io::Error),

    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),

    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),

    /// `fix` depends on what was asked for, which only the caller knows.
    #[error("GET {url} failed: {problem}")]
    Http {
        url: String,
        problem: String,
        fix: &'static str,
    },
}

impl Error {
    /// The message, each cause on a line of its own, then what to do: how
    /// the service prints an error on stderr.
    pub fn explained(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(&format!("\n  caused by: {cause}"));
            source = cause.source();
        }
        text.push_str(&format!("\n  help: {}", self.help()));
        text
    }

    /// What to do about it, printed after the message and its causes.
    pub fn help(&self) -> String {
        /// For what no setting can cause.
        const REPORT: &str =
            "this is a fault in this build of isokit-service, not in its settings: report it";
        match self {
            Error::Config { expected, .. } => format!("expected {expected}"),
            Error::ReadFile { variable, .. } => {
                format!("give {variable} a file this user can read")
            }
            Error::SystemDns(_) => "set ISOKIT_DNS_SERVERS to the servers to use".to_owned(),
            Error::Resolver(_) | Error::Tls(_) => REPORT.to_owned(),
            Error::StandinKey(_) => "give ISOKIT_STANDIN_KEY_PEM (or --key-file) the private key of \
                                     the first certificate in ISOKIT_STANDIN_CERT_PEM (or --cert-file)"
                .to_owned(),
            Error::Listen { setting, .. } => format!("choose another address with {setting}"),
            Error::Signal(_) => "without the handler a stop would kill the service mid-round: \
                                 check the container's open-files limit and that its seccomp \
                                 profile allows sigaction"
                .to_owned(),
            Error::Runtime(_) => "the process is short of a system resource: raise the \
                                  container's limits on open files, processes (threads) or memory"
                .to_owned(),
            Error::Stdout(_) => "the report and the JSON log lines go to stdout: keep it open \
                                 (in ECS, the awslogs driver reads it)"
                .to_owned(),
            Error::Http { fix, .. } => (*fix).to_owned(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
