//! Networks and containers, thin and labelled, for rehearsing a deployment
//! locally: everything created carries labels, so that everything can be
//! found and removed afterwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, EndpointSettings, HostConfig, Ipam, IpamConfig, Network,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, InspectNetworkOptions, ListContainersOptions,
    ListNetworksOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures_util::{Stream, StreamExt};
use ipnet::Ipv4Net;

use crate::error::is_not_found;
use crate::{Engine, EngineError, to_hash_map};

/// A bridge network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkOptions {
    pub name: String,
    /// Its containers reach each other and nothing else: no route out
    /// (`docker network create --internal`), and no address of the host
    /// either. An internal bridge alone still holds the gateway address on
    /// the host, where every server the host runs on 0.0.0.0 (a proxy, say)
    /// answers; so the bridge gets no IPv4 address at all.
    pub isolated: bool,
    /// The network's address range, such as `10.0.128.0/18`.
    pub subnet: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A container to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    pub name: String,
    pub image: String,
    /// Replaces the image's command.
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// The network to join instead of the default bridge.
    pub network: Option<String>,
    /// Names the container answers to on that network (the engine's DNS
    /// resolves them to its address).
    pub network_aliases: Vec<String>,
    /// `uid[:gid]` or a user name.
    pub user: Option<String>,
    pub read_only_rootfs: bool,
    /// Paths that get an empty, writable, in-memory folder.
    pub tmpfs: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// DNS servers the engine's resolver forwards unknown names to
    /// (`docker run --dns`); empty keeps the engine's default.
    pub dns: Vec<String>,
    /// `host:address` lines for the container's `/etc/hosts`
    /// (`docker run --add-host`).
    pub extra_hosts: Vec<String>,
    /// What the container may do beyond its own processes and files.
    pub confinement: Confinement,
}

/// The privileges a container runs with. The default is the engine's own
/// (`docker run` with no flags); [`Confinement::strict`] grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// Capabilities dropped before `cap_add` is applied (`ALL` for all).
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    /// Neither setuid programs nor file capabilities can raise privileges.
    pub no_new_privileges: bool,
    /// CPU time, in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// Memory, in bytes; the container gets no swap beyond it.
    pub memory_bytes: Option<i64>,
}

impl Confinement {
    /// No capabilities and no way to gain privileges.
    pub fn strict() -> Confinement {
        Confinement {
            cap_drop: vec!["ALL".to_owned()],
            no_new_privileges: true,
            ..Confinement::default()
        }
    }
}

/// Which stream a piece of container output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
}

/// A piece of container output as the engine delivered it (one write;
/// not necessarily one whole line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: LogSource,
    pub text: String,
}

impl Engine {
    /// Creates a network; returns its ID.
    pub async fn create_network(&self, options: &NetworkOptions) -> Result<String, EngineError> {
        let ipam = options.subnet.as_ref().map(|subnet| Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let driver_options = options.isolated.then(|| {
            HashMap::from([(
                "com.docker.network.bridge.inhibit_ipv4".to_owned(),
                "true".to_owned(),
            )])
        });
        let request = NetworkCreateRequest {
            name: options.name.clone(),
            driver: Some("bridge".to_string()),
            internal: Some(options.isolated),
            ipam,
            options: driver_options,
            labels: Some(to_hash_map(&options.labels)),
            ..Default::default()
        };
        let created = self.docker.create_network(request).await.map_err(|error| {
            EngineError::daemon(format!("create network {}", options.name), error)
        })?;
        Ok(created.id)
    }

    /// Removes a network; returns whether there was one to remove.
    pub async fn remove_network(&self, network: &str) -> Result<bool, EngineError> {
        match self.docker.remove_network(network).await {
            Ok(()) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(EngineError::daemon(
                format!("remove network {network}"),
                error,
            )),
        }
    }

    /// The gateway address of a network's IPv4 range, as the engine's
    /// address management records it: on a bridge, the host's own address on
    /// that network, unless the bridge was made without one. `None` when
    /// there is no such network, or it has no IPv4 gateway.
    pub async fn network_gateway(&self, network: &str) -> Result<Option<String>, EngineError> {
        let inspected = match self
            .docker
            .inspect_network(network, None::<InspectNetworkOptions>)
            .await
        {
            Ok(inspected) => inspected,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => {
                return Err(EngineError::daemon(
                    format!("inspect network {network}"),
                    error,
                ));
            }
        };
        Ok(inspected
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|config| {
                config
                    .gateway
                    .filter(|gateway| !gateway.is_empty())
                    .or_else(|| config.subnet.as_deref().and_then(first_host_address))
            })
            .find(|gateway| gateway.parse::<Ipv4Addr>().is_ok()))
    }

    /// Names of the networks carrying `label` (`key` or `key=value`).
    pub async fn networks_labelled(&self, label: &str) -> Result<Vec<String>, EngineError> {
        Ok(self
            .list_networks_labelled(label)
            .await?
            .into_iter()
            .filter_map(|network| network.name)
            .collect())
    }

    async fn list_networks_labelled(&self, label: &str) -> Result<Vec<Network>, EngineError> {
        let options = ListNetworksOptions {
            filters: Some(label_filter(label)),
        };
        self.docker
            .list_networks(Some(options))
            .await
            .map_err(|error| EngineError::daemon(format!("list networks labelled {label}"), error))
    }

    /// Creates (without starting) a container; returns its ID.
    pub async fn create_container(
        &self,
        options: &ContainerOptions,
    ) -> Result<String, EngineError> {
        let confinement = &options.confinement;
        let host_config = HostConfig {
            network_mode: options.network.clone(),
            readonly_rootfs: Some(options.read_only_rootfs),
            tmpfs: (!options.tmpfs.is_empty()).then(|| {
                options
                    .tmpfs
                    .iter()
                    .map(|path| (path.clone(), String::new()))
                    .collect()
            }),
            dns: (!options.dns.is_empty()).then(|| options.dns.clone()),
            extra_hosts: (!options.extra_hosts.is_empty()).then(|| options.extra_hosts.clone()),
            privileged: Some(false),
            cap_drop: non_empty(&confinement.cap_drop),
            cap_add: non_empty(&confinement.cap_add),
            security_opt: confinement
                .no_new_privileges
                .then(|| vec!["no-new-privileges:true".to_owned()]),
            nano_cpus: confinement.nano_cpus,
            memory: confinement.memory_bytes,
            // Equal to the memory limit: no swap, as on Fargate.
            memory_swap: confinement.memory_bytes,
            ..Default::default()
        };
        let networking_config = options.network.as_ref().map(|network| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.clone(),
                EndpointSettings {
                    aliases: Some(options.network_aliases.clone()),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(options.image.clone()),
            cmd: options.command.clone(),
            env: Some(
                options
                    .env
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect(),
            ),
            user: options.user.clone(),
            labels: Some(to_hash_map(&options.labels)),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let create = CreateContainerOptions {
            name: Some(options.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(create), body)
            .await
            .map_err(|error| {
                if is_not_found(&error) {
                    EngineError::ImageNotFound {
                        reference: options.image.clone(),
                    }
                } else {
                    EngineError::daemon(format!("create container {}", options.name), error)
                }
            })?;
        Ok(created.id)
    }

    /// The container's IPv4 address on `network`.
    pub async fn container_address(
        &self,
        container: &str,
        network: &str,
    ) -> Result<String, EngineError> {
        let inspected = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|error| {
                EngineError::daemon(format!("inspect container {container}"), error)
            })?;
        inspected
            .network_settings
            .and_then(|settings| settings.networks)
            .and_then(|networks| {
                networks
                    .get(network)
                    .and_then(|endpoint| endpoint.ip_address.clone())
            })
            .filter(|address| !address.is_empty())
            .ok_or_else(|| EngineError::Daemon {
                action: format!("find the address of container {container} on network {network}"),
                message: "it has none (is it running and attached?)".to_owned(),
            })
    }

    pub async fn start_container(&self, container: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(container, None)
            .await
            .map_err(|error| EngineError::daemon(format!("start container {container}"), error))
    }

    /// The container's output so far and, with `follow`, as it comes until
    /// the container stops.
    pub fn container_logs<'a>(
        &'a self,
        container: &'a str,
        follow: bool,
    ) -> impl Stream<Item = Result<LogLine, EngineError>> + 'a {
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: "all".to_string(),
            ..Default::default()
        };
        self.docker
            .logs(container, Some(options))
            .filter_map(move |item| async move {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        Some(Ok(LogLine {
                            source: LogSource::Stdout,
                            text: String::from_utf8_lossy(&message).into_owned(),
                        }))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok(LogLine {
                        source: LogSource::Stderr,
                        text: String::from_utf8_lossy(&message).into_owned(),
                    })),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(error) => Some(Err(EngineError::daemon(
                        format!("read the logs of {container}"),
                        error,
                    ))),
                }
            })
    }

    /// Waits for the container to stop; returns its exit code.
    pub async fn wait_container(&self, container: &str) -> Result<i64, EngineError> {
        let mut waiting = self
            .docker
            .wait_container(container, None::<WaitContainerOptions>);
        match waiting.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            Some(Err(BollardError::DockerContainerWaitError { error, code }))
                if error.is_empty() =>
            {
                Ok(code)
            }
            Some(Err(error)) => Err(EngineError::daemon(
                format!("wait for container {container}"),
                error,
            )),
            None => Err(EngineError::Daemon {
                action: format!("wait for container {container}"),
                message: "the daemon closed the wait without an exit code".to_string(),
            }),
        }
    }

    /// Stops the container, killing it after `grace` if it has not exited.
    pub async fn stop_container(
        &self,
        container: &str,
        grace: Duration,
    ) -> Result<(), EngineError> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(seconds),
            ..Default::default()
        };
        self.docker
            .stop_container(container, Some(options))
            .await
            .map_err(|error| EngineError::daemon(format!("stop container {container}"), error))
    }

    /// Removes the container, running or not, with its anonymous volumes;
    /// returns whether there was one to remove.
    pub async fn remove_container(&self, container: &str) -> Result<bool, EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(EngineError::daemon(
                format!("remove container {container}"),
                error,
            )),
        }
    }

    /// IDs of the containers, running or not, carrying `label` (`key` or `key=value`).
    pub async fn containers_labelled(&self, label: &str) -> Result<Vec<String>, EngineError> {
        Ok(self
            .list_containers_labelled(label)
            .await?
            .into_iter()
            .filter_map(|container| container.id)
            .collect())
    }

    async fn list_containers_labelled(
        &self,
        label: &str,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filter(label)),
            ..Default::default()
        };
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|error| {
                EngineError::daemon(format!("list containers labelled {label}"), error)
            })
    }

    /// The values label `key` has on the containers, running or not, and
    /// the networks that carry it.
    pub async fn label_values(&self, key: &str) -> Result<BTreeSet<String>, EngineError> {
        let containers = self.list_containers_labelled(key).await?;
        let networks = self.list_networks_labelled(key).await?;
        Ok(containers
            .into_iter()
            .filter_map(|container| container.labels)
            .chain(networks.into_iter().filter_map(|network| network.labels))
            .filter_map(|mut labels| labels.remove(key))
            .collect())
    }

    /// Removes every container, then every network, carrying `label`;
    /// returns how many of each went.
    pub async fn remove_labelled(&self, label: &str) -> Result<(usize, usize), EngineError> {
        let mut containers = 0;
        for container in self.containers_labelled(label).await? {
            containers += usize::from(self.remove_container(&container).await?);
        }
        let mut networks = 0;
        for network in self.networks_labelled(label).await? {
            networks += usize::from(self.remove_network(&network).await?);
        }
        Ok((containers, networks))
    }
}

/// The address the engine gives a network's gateway when its range was
/// chosen without naming one (and then does not report): the range's first
/// host address.
fn first_host_address(subnet: &str) -> Option<String> {
    let network: Ipv4Net = subnet
        .parse()
        .ok()
        .filter(|n: &Ipv4Net| n.prefix_len() <= 30)?;
    network.hosts().next().map(|address| address.to_string())
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn label_filter(label: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![label.to_string()])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_gateway_is_the_first_host_address() {
        assert_eq!(
            first_host_address("10.0.128.0/18").as_deref(),
            Some("10.0.128.1")
        );
        assert_eq!(
            first_host_address("10.213.7.77/24").as_deref(),
            Some("10.213.7.1")
        );
        for bad in ["10.0.0.0", "10.0.0.0/31", "fd00::/64", "x/24"] {
            assert_eq!(first_host_address(bad), None, "{bad}");
        }
    }
}
