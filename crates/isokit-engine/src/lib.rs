//! The Docker Engine, through its API: connecting, building, pushing and pulling images, and running containers on private networks.
//!
//! Everything goes through one [`Engine`], connected with
//! [`Engine::connect`] to the daemon the docker CLI would use (`DOCKER_HOST`,
//! TLS and SSH included, or the current Docker context). Builds take a
//! [`BuildContext`] prepared by `isokit-context`: BuildKit reads it through
//! a session isokit serves (as `DOCKER_BUILDKIT=1 docker build` does), the
//! classic builder as a streamed archive; pushes and pulls carry registry credentials in the
//! request itself, so nothing is ever written to `~/.docker`. Progress goes
//! to the [`isokit_ui::Ui`] given.

mod build;
mod buildkit;
mod context;
mod credentials;
mod dial;
mod error;
mod host;
mod image;
mod push;
mod raw;
mod run;
mod session;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use build::{BuildOptions, BuiltImage};
pub use buildkit::{BuildSecret, SecretSource};
pub use credentials::RegistryCredentials;
pub use error::EngineError;
pub use host::{DEFAULT_SOCKET, DockerHost, SshDestination, TlsFiles};
pub use image::ImageDetails;
pub use isokit_context::{BuildContext, Compression, ContextError, ContextOptions};
pub use push::{PushOptions, PushOutcome, RetryPolicy};
pub use run::{Confinement, ContainerOptions, LogLine, LogSource, NetworkOptions};

/// How long a request may wait for the daemon's first answer. Builds and
/// pushes answer once they start; the daemon is only silent this long when
/// it is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long the first contact may take before the daemon counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one Docker daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    host: DockerHost,
}

impl Engine {
    /// Connects to the daemon the docker CLI would use: `DOCKER_HOST`, else
    /// `DOCKER_CONTEXT`, else the current context, else the default socket.
    pub async fn connect() -> Result<Engine, EngineError> {
        Engine::connect_to(DockerHost::from_env()?).await
    }

    /// Connects to the daemon [`Engine::connect`] would, to hand it registry
    /// credentials (a push, a pull from ECR): a daemon they would reach
    /// readable by others is refused before anything is sent to it.
    pub async fn connect_for_registry() -> Result<Engine, EngineError> {
        let host = DockerHost::from_env()?;
        host.check_carries_credentials()?;
        Engine::connect_to(host).await
    }

    /// Connects to the daemon at `host`, checks that it answers, and settles
    /// on the API version both sides speak.
    pub async fn connect_to(host: DockerHost) -> Result<Engine, EngineError> {
        let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| match &host {
            DockerHost::Ssh(destination) => EngineError::SshUnreachable {
                host: host.to_string(),
                check: destination.check_command(),
                source,
            },
            DockerHost::Tls { .. } if is_tls_failure(source.as_ref()) => {
                EngineError::TlsHandshake {
                    host: host.to_string(),
                    source,
                }
            }
            _ => EngineError::Unreachable {
                host: host.to_string(),
                source,
            },
        };
        // One pooled client over the connection isokit dials itself, the
        // same for every kind of address.
        let client =
            Client::builder(TokioExecutor::new()).build(dial::Dialer::new(&host)?.connector());
        let transport = move |request: BollardRequest| {
            let client = client.clone();
            async move { Ok(client.request(request).await?) }
        };
        let docker = Docker::connect_with_custom_transport(
            transport,
            // Only the Host header and the pool's key: the connector
            // decides where requests go.
            Some("http://docker"),
            REQUEST_TIMEOUT.as_secs(),
            API_DEFAULT_VERSION,
        )
        .map_err(|error| unreachable(error.into()))?;
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(unreachable(error.into())),
            Err(_) => {
                return Err(unreachable(
                    format!("no answer within {} s", PING_TIMEOUT.as_secs()).into(),
                ));
            }
        }
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|error| unreachable(error.into()))?;
        let version = docker.client_version();
        let api_version = format!("{}.{}", version.major_version, version.minor_version);
        tracing::debug!(%host, %api_version, "connected to the Docker daemon");
        Ok(Engine { docker, host })
    }

    /// Where the daemon listens.
    pub fn host(&self) -> &DockerHost {
        &self.host
    }
}

/// Whether a TLS failure (a certificate refused on either side) is among
/// the causes.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.downcast_ref::<rustls::Error>().is_some()
            || current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// bollard wants `HashMap`s; options keep `BTreeMap`s for a stable order.
fn to_hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}
