//! Where the Docker daemon listens, as `DOCKER_HOST` says.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use isokit_context::Compression;

use crate::EngineError;

/// The daemon's socket when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// An address of the Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// `unix:///path/to/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP).
    Tcp { host: String, port: u16 },
}

impl DockerHost {
    /// `DOCKER_HOST`, or the default socket when it is unset or empty.
    pub fn from_env() -> Result<DockerHost, EngineError> {
        match std::env::var("DOCKER_HOST") {
            Ok(value) if !value.trim().is_empty() => {
                if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|verify| !verify.is_empty()) {
                    return Err(EngineError::TlsUnsupported { host: value });
                }
                DockerHost::parse(value.trim())
            }
            _ => Ok(DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET))),
        }
    }

    /// Parses a `DOCKER_HOST` value: `unix://PATH` or `tcp://HOST[:PORT]`
    /// (`http://` is accepted as a synonym of `tcp://`).
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
        let address = value
            .strip_prefix("tcp://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(unsupported)?
            .trim_end_matches('/');
        let (host, port) = match address.rsplit_once(':') {
            // A bare IPv6 address has colons but no port.
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| unsupported())?)
            }
            _ => (address, 2375),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(unsupported());
        }
        Ok(DockerHost::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// Whether the daemon runs on this machine, so that sending it bytes
    /// costs no network bandwidth.
    pub fn is_local(&self) -> bool {
        match self {
            DockerHost::Unix(_) => true,
            DockerHost::Tcp { host, .. } => {
                host == "localhost"
                    || host
                        .parse::<IpAddr>()
                        .is_ok_and(|address| address.is_loopback())
            }
        }
    }

    /// Refuses a daemon that registry credentials would reach in clear:
    /// plain TCP to another machine. A Unix socket, or TCP on loopback,
    /// never leaves this machine.
    pub fn check_carries_credentials(&self) -> Result<(), EngineError> {
        match self {
            DockerHost::Tcp { .. } if !self.is_local() => Err(EngineError::CredentialsInClear {
                host: self.to_string(),
            }),
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

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            DockerHost::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
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
        ];
        for (value, want) in cases {
            assert_eq!(DockerHost::parse(value).expect(value), want, "{value}");
        }
        for bad in [
            "ssh://user@host",
            "npipe:////./pipe/docker_engine",
            "unix://",
            "tcp://host:port",
            "/var/run/docker.sock",
        ] {
            let error = DockerHost::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(bad) && error.contains("unix://"), "{error}");
        }
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
            refusal.contains("tcp://build-host.example:2375") && refusal.contains("ssh -nNT -L"),
            "{refusal}"
        );
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
