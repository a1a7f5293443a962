//! Where the Docker daemon listens and how it is reached: a Unix socket,
//! TCP (plain or TLS) or SSH, as `DOCKER_HOST` or a Docker context says.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use isokit_context::Compression;

use crate::EngineError;

/// The daemon's socket when neither `DOCKER_HOST` nor a context names another.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// An address of the Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// `unix:///path/to/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP).
    Tcp { host: String, port: u16 },
    /// `tcp://host:port` with TLS (`DOCKER_TLS_VERIFY`, or a context's TLS
    /// material).
    Tls {
        host: String,
        port: u16,
        tls: TlsFiles,
    },
    /// `ssh://[user@]host[:port]`: the system `ssh` runs
    /// `docker system dial-stdio` on the host, as the docker CLI does.
    Ssh(SshDestination),
}

/// The PEM files a TLS connection to the daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA the daemon's certificate must chain to; the web's public
    /// CAs when absent (a context may hold no `ca.pem`).
    pub ca: Option<PathBuf>,
    /// The client certificate and its key, shown to a daemon that asks.
    pub client: Option<(PathBuf, PathBuf)>,
    /// Whether the daemon's certificate is checked at all (a context's
    /// `SkipTLSVerify` turns it off).
    pub verify_server: bool,
}

/// Where `ssh` logs in to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshDestination {
    /// `[user@]host`, as `ssh` takes it.
    pub fn login(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// The `ssh` command line that checks this host by hand.
    pub fn check_command(&self) -> String {
        match self.port {
            Some(port) => format!("ssh -p {port} {} docker version", self.login()),
            None => format!("ssh {} docker version", self.login()),
        }
    }
}

impl DockerHost {
    /// Where the docker CLI would connect: `DOCKER_HOST` (with
    /// `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`,
    /// else the current context of `$DOCKER_CONFIG/config.json`, else the
    /// default socket.
    pub fn from_env() -> Result<DockerHost, EngineError> {
        crate::context::resolve(&|name| std::env::var(name).ok())
    }

    /// Parses a `DOCKER_HOST` value: `unix://PATH`, `tcp://HOST[:PORT]`
    /// (`http://` is accepted as a synonym of `tcp://`) or
    /// `ssh://[USER@]HOST[:PORT]`. TLS is not part of the value: see
    /// [`DockerHost::from_env`].
    pub fn parse(value: &str) -> Result<DockerHost, EngineError> {
        let unsupported = || EngineError::UnsupportedHost {
            value: value.to_string(),
        };
        if let Some(path) = value.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(unsupported());
            }
            return Ok(DockerHost::Unix(PathBuf::from(path)));
        }
        if let Some(destination) = value.strip_prefix("ssh://") {
            let destination = destination.trim_end_matches('/');
            let (user, address) = match destination.rsplit_once('@') {
                Some((user, address)) if !user.is_empty() => (Some(user.to_string()), address),
                Some(_) => return Err(unsupported()),
                None => (None, destination),
            };
            let (host, port) = split_port(address).ok_or_else(unsupported)?;
            return Ok(DockerHost::Ssh(SshDestination { user, host, port }));
        }
        let address = value
            .strip_prefix("tcp://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(unsupported)?
            .trim_end_matches('/');
        let (host, port) = split_port(address).ok_or_else(unsupported)?;
        Ok(DockerHost::Tcp {
            host,
            port: port.unwrap_or(2375),
        })
    }

    /// This plain TCP address with TLS; any other address as it is (the
    /// docker CLI uses TLS settings for TCP only).
    pub(crate) fn with_tls(self, tls: TlsFiles) -> DockerHost {
        match self {
            DockerHost::Tcp { host, port } => DockerHost::Tls { host, port, tls },
            other => other,
        }
    }

    /// Whether the daemon runs on this machine, so that sending it bytes
    /// costs no network bandwidth.
    pub fn is_local(&self) -> bool {
        match self {
            DockerHost::Unix(_) => true,
            DockerHost::Tcp { host, .. } | DockerHost::Tls { host, .. } => is_loopback(host),
            DockerHost::Ssh(destination) => is_loopback(&destination.host),
        }
    }

    /// Refuses a daemon that registry credentials would reach readable by
    /// others: plain TCP to another machine, or TLS to another machine
    /// without checking who answers. A Unix socket and loopback never
    /// leave this machine; checked TLS and SSH are encrypted to the host
    /// they name.
    pub fn check_carries_credentials(&self) -> Result<(), EngineError> {
        if self.is_local() {
            return Ok(());
        }
        match self {
            DockerHost::Tcp { .. } => Err(EngineError::CredentialsInClear {
                host: self.to_string(),
            }),
            DockerHost::Tls { tls, .. } if !tls.verify_server => {
                Err(EngineError::CredentialsToUncheckedServer {
                    host: self.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// How to encode a build context for this daemon: plain over a local
    /// link, where gzip only costs time (see `scripts/bench-context`),
    /// gzip over a network, where bytes are what costs time.
    pub fn context_compression(&self) -> Compression {
        if self.is_local() {
            Compression::None
        } else {
            Compression::Gzip
        }
    }
}

/// `HOST[:PORT]`, the host without the brackets of an IPv6 address; `None`
/// for an empty host or a port that is not a number.
fn split_port(address: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = match address.rsplit_once(':') {
        // A bare IPv6 address has colons but no port.
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
            (host, Some(port.parse::<u16>().ok()?))
        }
        _ => (address, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), port))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// `host:port`, in brackets when the host is an IPv6 address.
struct HostPort<'a>(&'a str, u16);

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort(host, port) if host.contains(':') => write!(f, "[{host}]:{port}"),
            HostPort(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp { host, port } => write!(f, "tcp://{}", HostPort(host, *port)),
            DockerHost::Tls { host, port, .. } => {
                write!(f, "tcp://{} (TLS)", HostPort(host, *port))
            }
            DockerHost::Ssh(destination) => {
                write!(f, "ssh://")?;
                if let Some(user) = &destination.user {
                    write!(f, "{user}@")?;
                }
                match destination.port {
                    Some(port) => write!(f, "{}", HostPort(&destination.host, port)),
                    None if destination.host.contains(':') => write!(f, "[{}]", destination.host),
                    None => write!(f, "{}", destination.host),
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_values_parse_as_the_docker_cli_reads_them() {
        let cases = [
            (
                "unix:///var/run/docker.sock",
                DockerHost::Unix("/var/run/docker.sock".into()),
            ),
            (
                "tcp://10.0.0.5:2376",
                DockerHost::Tcp {
                    host: "10.0.0.5".into(),
                    port: 2376,
                },
            ),
            (
                "tcp://builder.internal",
                DockerHost::Tcp {
                    host: "builder.internal".into(),
                    port: 2375,
                },
            ),
            (
                "http://127.0.0.1:2375/",
                DockerHost::Tcp {
                    host: "127.0.0.1".into(),
                    port: 2375,
                },
            ),
            (
                "tcp://[::1]:2375",
                DockerHost::Tcp {
                    host: "::1".into(),
                    port: 2375,
                },
            ),
            (
                "ssh://deploy@build-host.example:2222",
                DockerHost::Ssh(SshDestination {
                    user: Some("deploy".into()),
                    host: "build-host.example".into(),
                    port: Some(2222),
                }),
            ),
            (
                "ssh://build-host.example",
                DockerHost::Ssh(SshDestination {
                    user: None,
                    host: "build-host.example".into(),
                    port: None,
                }),
            ),
        ];
        for (value, want) in cases {
            let parsed = DockerHost::parse(value).expect(value);
            assert_eq!(parsed, want, "{value}");
        }
        for bad in [
            "npipe:////./pipe/docker_engine",
            "unix://",
            "tcp://host:port",
            "ssh://@host",
            "ssh://user@host:port",
            "/var/run/docker.sock",
        ] {
            let error = DockerHost::parse(bad).expect_err(bad).to_string();
            assert!(
                error.contains(bad) && error.contains("unix://") && error.contains("ssh://"),
                "{error}"
            );
        }
    }

    #[test]
    fn addresses_print_as_docker_host_values() {
        for value in [
            "unix:///run/docker.sock",
            "tcp://10.0.0.5:2376",
            "tcp://[::1]:2375",
            "ssh://deploy@build-host.example:2222",
            "ssh://build-host.example",
            "ssh://[::1]",
        ] {
            assert_eq!(DockerHost::parse(value).expect(value).to_string(), value);
        }
        let destination = DockerHost::parse("ssh://deploy@build-host.example:2222");
        let Ok(DockerHost::Ssh(destination)) = destination else {
            panic!("an SSH destination: {destination:?}");
        };
        assert_eq!(
            destination.check_command(),
            "ssh -p 2222 deploy@build-host.example docker version"
        );
    }

    #[test]
    fn credentials_never_go_in_clear_to_another_machine() {
        for local in [
            "unix:///run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
        ] {
            let host = DockerHost::parse(local).expect(local);
            assert!(host.check_carries_credentials().is_ok(), "{local}");
        }
        let remote = DockerHost::parse("tcp://build-host.example:2375").expect("remote host");
        let refusal = remote
            .check_carries_credentials()
            .expect_err("plain TCP elsewhere")
            .to_string();
        assert!(
            refusal.contains("tcp://build-host.example:2375")
                && refusal.contains("DOCKER_TLS_VERIFY=1")
                && refusal.contains("DOCKER_CERT_PATH")
                && refusal.contains("DOCKER_HOST=ssh://"),
            "{refusal}"
        );
        let files = |verify_server| TlsFiles {
            ca: Some("ca.pem".into()),
            client: Some(("cert.pem".into(), "key.pem".into())),
            verify_server,
        };
        let checked = remote.clone().with_tls(files(true));
        assert!(checked.check_carries_credentials().is_ok(), "{checked}");
        let unchecked = remote.with_tls(files(false));
        let refusal = unchecked
            .check_carries_credentials()
            .expect_err("TLS that checks no certificate")
            .to_string();
        assert!(refusal.contains("SkipTLSVerify"), "{refusal}");
        let ssh = DockerHost::parse("ssh://deploy@build-host.example").expect("SSH host");
        assert!(ssh.check_carries_credentials().is_ok(), "{ssh}");
    }

    #[test]
    fn only_a_remote_daemon_gets_a_gzipped_context() {
        let local = [
            "unix:///run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
        ];
        for value in local {
            assert_eq!(
                DockerHost::parse(value).expect(value).context_compression(),
                Compression::None,
                "{value}"
            );
        }
        let remote = DockerHost::parse("tcp://build-host.example:2375").expect("remote host");
        assert_eq!(remote.context_compression(), Compression::Gzip);
        assert_eq!(remote.to_string(), "tcp://build-host.example:2375");
    }
}
