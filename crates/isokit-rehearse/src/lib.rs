//! `isokit rehearse`: run a task image on the local Docker Engine inside a
//! network built like the isolated VPC, and read back what the task reports.
//!
//! The emulated AWS runs no tasks, and a user wants to know before deploying
//! whether the image starts and works with no internet. A rehearsal builds
//! the VPC in miniature: an internal network whose subnet mirrors the private
//! subnet, a stand-in for each endpoint the VPC stack creates answering TLS
//! on 443 under the endpoint's host name (with a certificate from a CA made
//! for this rehearsal, handed to the task so that its TLS checks really run),
//! and an "internet" stand-in on a network the task has no route to. Neither
//! network gives the host an address, so the task cannot reach the host
//! either, and the task must fail to reach the "internet", the networks'
//! gateway addresses and the host's own bridge address: a verdict of
//! "isolated" means it tried them all. The task runs as its task definition
//! runs it on Fargate, and no looser: its environment, its user, a read-only
//! root filesystem with its volumes writable, Fargate's capabilities, no way
//! to gain privileges, its CPU and memory as limits.
//!
//! Everything created carries the rehearsal's label and its owner's, and is
//! removed afterwards, also on failure and on SIGINT, SIGTERM or SIGHUP; a
//! rehearsal whose process was killed before it could do so is cleaned up by
//! the next one.

mod confine;
mod owner;
mod plan;
mod tls;

use isokit_report::variables;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::StreamExt;
use isokit_aws::{Aws, ImageUri};
use isokit_endpoints::{Endpoint, EndpointKind};
use isokit_engine::{
    Confinement, ContainerOptions, Engine, LogSource, NetworkOptions, RegistryCredentials,
};
use isokit_report::{LogLine, Report};
use isokit_ui::{StopSignal, StopSignals, Ui};
use serde::Serialize;

use crate::owner::Owner;
pub use ipnet::Ipv4Net;
pub use plan::{Plan, PlanSource};

/// The label every container and network of one rehearsal carries.
pub const LABEL: &str = "dev.isokit.rehearsal";
/// The label naming the process that made them (machine, process ID and
/// start time), for cleaning up after a rehearsal that was killed.
pub const OWNER_LABEL: &str = "dev.isokit.rehearsal.owner";
/// The default bridge network, whose gateway is the host's address for
/// containers.
const HOST_BRIDGE: &str = "bridge";
/// The port the task probes the host's addresses on. Any answer, a refused
/// connection included, proves a way to the host.
const HOST_PROBE_PORT: u16 = 443;
/// How long the engine may take to finish a request that an interruption
/// abandoned, before what it made is looked for once more.
const ABANDONED_REQUESTS: Duration = Duration::from_millis(500);
/// The subnet rehearsals use when no deployed stack says otherwise.
pub const DEFAULT_SUBNET: &str = "10.0.128.0/18";
/// How long a stand-in may take to start listening.
const STANDIN_START: Duration = Duration::from_secs(20);
/// How long a rehearsal waits for another one to free its subnet.
const SUBNET_WAIT: Duration = Duration::from_secs(180);
/// Output lines kept to explain a task that failed or stayed silent.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] isokit_aws::Error),

    #[error(transparent)]
    Engine(#[from] isokit_engine::EngineError),

    #[error(transparent)]
    Stacks(#[from] isokit_stacks::Error),

    #[error("cannot make the rehearsal's certificates: {0}")]
    Certificates(String),

    #[error(
        "the stand-in image {image} is not in the Docker engine: build it from an isokit checkout \
         with `scripts/build-service-image`, or name an isokit-service image with --standin-image"
    )]
    StandinImageMissing { image: String },

    #[error("the stand-in for {endpoint} did not start listening within {seconds} s:\n{tail}")]
    StandinSilent {
        endpoint: String,
        seconds: u64,
        tail: String,
    },

    #[error("--without {0}: the rehearsal has no such endpoint (it has: {1})")]
    UnknownEndpoint(String, String),

    #[error("the deployed stack's {output} output `{value}` cannot be read: {reason}")]
    BadStackOutput {
        output: &'static str,
        value: String,
        reason: String,
    },

    #[error("the subnet {0} is not an IPv4 CIDR with room for containers (such as 10.0.128.0/18)")]
    BadSubnet(String),

    #[error(
        "the subnet {subnet} stayed taken by another network on this engine for {seconds} s: pass \
         --subnet, or remove the network that holds it (`docker network ls`; rehearsals label theirs \
         {LABEL})"
    )]
    SubnetTaken { subnet: String, seconds: u64 },

    #[error("the task cannot run on Fargate as defined: {0}")]
    NotOnFargate(String),

    #[error("cannot listen for SIGINT, SIGTERM and SIGHUP, so a rehearsal could not clean up")]
    Signals(#[source] std::io::Error),

    #[error("{}", interrupted(*signal, *cleaned))]
    Interrupted { signal: StopSignal, cleaned: bool },
}

fn interrupted(signal: StopSignal, cleaned: bool) -> String {
    if cleaned {
        format!("interrupted by {signal}: the rehearsal's containers and networks were removed")
    } else {
        format!(
            "interrupted by {signal}: some of the rehearsal's containers or networks could not be \
             removed (see the warning above); the next rehearsal removes them"
        )
    }
}

/// What to rehearse.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// An ECR image URI, by tag or digest.
    pub image: String,
    /// Endpoints whose stand-ins are left out.
    pub without: Vec<Endpoint>,
    /// A deployed stack to mirror, when it exists.
    pub stack_name: String,
    /// Overrides the subnet of the plan ([`parse_subnet`]).
    pub subnet: Option<Ipv4Net>,
    /// `None`: `isokit-service:<version>`.
    pub standin_image: Option<String>,
    /// How long to wait for the task's first report.
    pub timeout: Duration,
}

/// What a rehearsal found.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// The label value every container and network of this rehearsal
    /// carried (`dev.isokit.rehearsal=<id>`).
    pub id: String,
    /// The image that ran, pinned by digest.
    pub image: String,
    pub plan: Plan,
    /// Endpoints whose stand-ins were left out on request.
    pub without: Vec<String>,
    /// The environment the task ran with (the CA, being long, is left out).
    pub environment: BTreeMap<String, String>,
    pub task: TaskOutcome,
    /// The task's first report, when it wrote one.
    pub report: Option<Report>,
}

/// How the task container fared.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskOutcome {
    /// It wrote a report and was still running.
    Reported,
    /// It exited before writing a report.
    Exited { code: i64, last_output: Vec<String> },
    /// It ran, but wrote no report in time (not an isokit-service image?).
    Silent {
        seconds: u64,
        last_output: Vec<String>,
    },
}

impl Rehearsal {
    /// Every endpoint reachable over private addresses and isolation
    /// proven, as the task itself saw it, judged by this isokit's rule
    /// (whatever rule the task's own isokit-service applied).
    pub fn passed(&self) -> bool {
        self.report.as_ref().is_some_and(Report::passes)
    }
}

/// Runs the rehearsal and removes what it created, whatever happens: an
/// error, or SIGINT, SIGTERM or SIGHUP at any point.
pub async fn rehearse(aws: &Aws, options: &RehearseOptions, ui: &Ui) -> Result<Rehearsal, Error> {
    let mut stop = StopSignals::listen().map_err(Error::Signals)?;
    let ready = tokio::select! {
        ready = prepare(aws, options, ui) => ready?,
        signal = stop.recv() => return Err(Error::Interrupted { signal, cleaned: true }),
    };
    sweep_abandoned(&ready.engine, ui).await;

    let id = rehearsal_id();
    let owner = Owner::current().to_string();
    let stage = Stage {
        engine: &ready.engine,
        id: &id,
        owner: &owner,
        ui,
    };
    let run = stage.run(&ready, options);
    let outcome = tokio::select! {
        outcome = run => outcome,
        signal = stop.recv() => Err(Error::Interrupted { signal, cleaned: false }),
    };
    let mut cleaned = stage.clear().await;
    if let Err(Error::Interrupted { .. }) = outcome {
        // An engine request under way when the signal came (a container or
        // a network being made) may still finish after it was abandoned.
        tokio::time::sleep(ABANDONED_REQUESTS).await;
        cleaned &= stage.clear().await;
    }
    match outcome {
        Err(Error::Interrupted { signal, .. }) => Err(Error::Interrupted { signal, cleaned }),
        other => other,
    }
}

/// What is known and pulled before anything is created.
struct Ready {
    engine: Engine,
    plan: Plan,
    /// The task's image, pinned by digest.
    image: String,
    standin_image: String,
    confinement: Confinement,
}

/// Checks the options, mirrors the plan and pulls the image: everything
/// that creates nothing on the engine.
async fn prepare(aws: &Aws, options: &RehearseOptions, ui: &Ui) -> Result<Ready, Error> {
    let uri = ImageUri::parse(&options.image)?;
    uri.require_region(aws.region())?;
    let engine = Engine::connect_for_registry().await?;
    let plan = Plan::resolve(aws, &uri, options).await?;
    let known: Vec<&str> = plan.endpoints.iter().map(String::as_str).collect();
    for endpoint in &options.without {
        if !known.contains(&endpoint.service()) {
            return Err(Error::UnknownEndpoint(
                endpoint.to_string(),
                known.join(", "),
            ));
        }
    }
    let confinement = confine::task_confinement(&plan.container)?;

    let ecr = aws.ecr();
    let image = ecr.resolve(&uri).await?;
    let pinned = uri.pinned(&image.digest);
    let auth = ecr.authorization().await?;
    let credentials = RegistryCredentials::new(uri.registry.clone(), auth.username, auth.password);
    ui.status(format!("pulling {pinned}"));
    engine.pull(&pinned, Some(&credentials), ui).await?;
    let standin_image = options
        .standin_image
        .clone()
        .unwrap_or_else(|| format!("isokit-service:{}", env!("CARGO_PKG_VERSION")));
    if !engine.image_exists(&standin_image).await? {
        return Err(Error::StandinImageMissing {
            image: standin_image,
        });
    }
    Ok(Ready {
        engine,
        plan,
        image: pinned,
        standin_image,
        confinement,
    })
}

/// Removes what rehearsals whose process is gone left behind (killed before
/// they could clean up), so that their networks never hold the subnet this
/// one needs. Rehearsals still running, and those of other machines sharing
/// the engine, are left alone. A failure here is only a warning: the
/// rehearsal can still run.
async fn sweep_abandoned(engine: &Engine, ui: &Ui) {
    let owners = match engine.label_values(OWNER_LABEL).await {
        Ok(owners) => owners,
        Err(error) => {
            ui.warn(format!(
                "could not look for what killed rehearsals left behind: {error}"
            ));
            return;
        }
    };
    for value in owners {
        let Some(owner) = Owner::parse(&value).filter(Owner::is_gone) else {
            continue;
        };
        match engine
            .remove_labelled(&format!("{OWNER_LABEL}={value}"))
            .await
        {
            Ok((containers, networks)) => ui.status(format!(
                "removed {containers} container(s) and {networks} network(s) left by a rehearsal \
                 whose process ({}) is gone",
                owner.pid()
            )),
            Err(error) => ui.warn(format!(
                "could not remove what a killed rehearsal (process {}) left behind: {error}",
                owner.pid()
            )),
        }
    }
}

/// What a left-out endpoint's host name resolves to inside the rehearsal,
/// as it would in a VPC without that endpoint. An interface endpoint's name
/// then answers the service's public address: a documentation address
/// (TEST-NET-3) stands in, which the task never connects to, since a public
/// answer fails the check at DNS. A gateway endpoint's name answers as
/// always, but nothing routes the traffic: an address of the rehearsal's own
/// subnet that no container holds stands in, so the connection times out
/// without leaving the rehearsal.
fn missing_endpoint_address(endpoint: &Endpoint, subnet: Ipv4Net) -> String {
    match endpoint.kind() {
        EndpointKind::Interface => "203.0.113.10".to_owned(),
        EndpointKind::Gateway => last_host_address(subnet).to_string(),
    }
}

/// A rehearsal subnet: an IPv4 CIDR with room for containers (a /30 or
/// wider), host bits dropped. The `--subnet` flag and the deployed stack's
/// subnets are read with it.
pub fn parse_subnet(cidr: &str) -> Result<Ipv4Net, Error> {
    cidr.trim()
        .parse::<Ipv4Net>()
        .ok()
        .filter(|network| network.prefix_len() <= 30)
        .map(|network| network.trunc())
        .ok_or_else(|| Error::BadSubnet(cidr.to_owned()))
}

/// The highest host address of a subnet: the engine hands addresses out
/// from the bottom, so this one stays free.
fn last_host_address(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
}

/// A name unique on this engine: the process and the time.
fn rehearsal_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    format!(
        "isokit-rehearsal-{}-{:x}",
        std::process::id(),
        nanos % 0xff_ffff
    )
}

/// One rehearsal's containers and networks, all labelled with its ID and
/// its owner.
struct Stage<'a> {
    engine: &'a Engine,
    id: &'a str,
    owner: &'a str,
    ui: &'a Ui,
}

impl Stage<'_> {
    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL.to_owned(), self.id.to_owned()),
            (OWNER_LABEL.to_owned(), self.owner.to_owned()),
        ])
    }

    async fn run(&self, ready: &Ready, options: &RehearseOptions) -> Result<Rehearsal, Error> {
        let Ready {
            plan,
            image,
            standin_image,
            confinement,
            ..
        } = ready;
        let ca = tls::RehearsalCa::new()?;
        let vpc = format!("{}-vpc", self.id);
        let internet = format!("{}-internet", self.id);
        self.ui.status(format!(
            "creating network {vpc} ({}, internal) and the endpoint stand-ins",
            plan.subnet
        ));
        self.network(&vpc, Some(plan.subnet.to_string())).await?;
        self.network(&internet, None).await?;

        // The "internet": a server that answers, on a network the task has
        // no route to. Reaching it would mean the isolation leaks.
        let internet_host = "internet.isokit.invalid";
        let internet_standin = self
            .standin(standin_image, &internet, "internet", internet_host, &ca)
            .await?;
        let mut standins = vec![("internet".to_owned(), internet_standin.clone())];
        let mut missing_hosts = Vec::new();
        for (endpoint, host) in plan.hosts() {
            if options.without.contains(&endpoint) {
                let address = missing_endpoint_address(&endpoint, plan.subnet);
                self.ui.status(format!("leaving out the {endpoint} stand-in: {host} answers {address}, as without the endpoint"));
                missing_hosts.push(format!("{host}:{address}"));
                continue;
            }
            let service = endpoint.to_string();
            let container = self
                .standin(standin_image, &vpc, &service, &host, &ca)
                .await?;
            standins.push((service, container));
        }
        for (service, container) in &standins {
            self.wait_listening(service, container).await?;
        }
        let internet_address = self
            .engine
            .container_address(&internet_standin, &internet)
            .await?;
        let mut probes = vec![
            format!("{internet_address}:443"),
            format!("{internet_host}:443"),
        ];
        for address in self.host_addresses(&[&vpc, &internet]).await? {
            probes.push(format!("{address}:{HOST_PROBE_PORT}"));
        }

        let mut environment: BTreeMap<String, String> =
            plan.container.environment.iter().cloned().collect();
        environment.insert(variables::EGRESS_PROBES.to_owned(), probes.join(","));
        let mut task_env = environment.clone();
        task_env.insert(variables::CA_PEM.to_owned(), ca.pem());
        let task = self
            .create(ContainerOptions {
                name: format!("{}-task", self.id),
                image: image.to_owned(),
                env: task_env,
                network: Some(vpc.clone()),
                // As the task definition runs it on ECS.
                user: plan.container.user.clone(),
                read_only_rootfs: plan.container.read_only_root_filesystem,
                tmpfs: plan.container.volume_paths.clone(),
                extra_hosts: missing_hosts,
                confinement: confinement.clone(),
                ..self.container_defaults()
            })
            .await?;
        self.ui.status(format!("starting the task on {vpc}"));
        self.engine.start_container(&task).await?;
        let (task_outcome, report) = self.await_report(&task, options.timeout).await?;
        Ok(Rehearsal {
            id: self.id.to_owned(),
            image: image.clone(),
            plan: plan.clone(),
            without: options.without.iter().map(ToString::to_string).collect(),
            environment,
            task: task_outcome,
            report,
        })
    }

    /// The host's addresses as containers see them: the gateways of the
    /// rehearsal's networks (which hold no address on the host unless the
    /// engine ignored being told so) and of the engine's default bridge.
    async fn host_addresses(&self, networks: &[&str]) -> Result<Vec<String>, Error> {
        let mut addresses = Vec::new();
        for network in networks.iter().copied().chain([HOST_BRIDGE]) {
            if let Some(gateway) = self.engine.network_gateway(network).await?
                && !addresses.contains(&gateway)
            {
                addresses.push(gateway);
            }
        }
        Ok(addresses)
    }

    fn container_defaults(&self) -> ContainerOptions {
        ContainerOptions {
            labels: self.labels(),
            // Nothing of the rehearsal's own needs a privilege.
            confinement: Confinement::strict(),
            // The engine's DNS answers the stand-ins' aliases itself and
            // forwards every other name to these servers: loopback inside
            // the container, where nothing listens, so no lookup leaves the
            // rehearsal, as no lookup leaves the isolated VPC.
            dns: vec!["127.0.0.1".to_owned()],
            ..ContainerOptions::default()
        }
    }

    /// Creates an internal network. Two rehearsals mirroring the same subnet
    /// cannot run side by side on one engine, so a rehearsal whose subnet
    /// is taken waits for it, as in a queue.
    async fn network(&self, name: &str, subnet: Option<String>) -> Result<(), Error> {
        let options = NetworkOptions {
            name: name.to_owned(),
            isolated: true,
            subnet,
            labels: self.labels(),
        };
        let deadline = tokio::time::Instant::now() + SUBNET_WAIT;
        let mut announced = false;
        loop {
            match self.engine.create_network(&options).await {
                Ok(_) => return Ok(()),
                Err(isokit_engine::EngineError::Daemon { message, .. })
                    if message.contains("overlaps") =>
                {
                    let subnet = options.subnet.as_deref().unwrap_or("its subnet");
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::SubnetTaken {
                            subnet: subnet.to_owned(),
                            seconds: SUBNET_WAIT.as_secs(),
                        });
                    }
                    if !announced {
                        self.ui.status(format!(
                            "waiting: another network on this engine uses {subnet} (another rehearsal?)"
                        ));
                        announced = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn create(&self, options: ContainerOptions) -> Result<String, Error> {
        Ok(self.engine.create_container(&options).await?)
    }

    /// A stand-in endpoint: the isokit-service image in `standin` mode,
    /// answering TLS on 443 as `host`.
    async fn standin(
        &self,
        image: &str,
        network: &str,
        service: &str,
        host: &str,
        ca: &tls::RehearsalCa,
    ) -> Result<String, Error> {
        let leaf = ca.leaf(host)?;
        let container = self
            .create(ContainerOptions {
                name: format!("{}-{}", self.id, service.replace('.', "-")),
                image: image.to_owned(),
                command: Some(vec!["standin".to_owned()]),
                env: BTreeMap::from([
                    (variables::STANDIN_CERT_PEM.to_owned(), leaf.cert_pem),
                    (variables::STANDIN_KEY_PEM.to_owned(), leaf.key_pem),
                ]),
                network: Some(network.to_owned()),
                network_aliases: vec![host.to_owned()],
                read_only_rootfs: true,
                ..self.container_defaults()
            })
            .await?;
        self.engine.start_container(&container).await?;
        Ok(container)
    }

    /// Waits for the stand-in's "listening" line, so that the task's first
    /// round never races a stand-in still starting.
    async fn wait_listening(&self, service: &str, container: &str) -> Result<(), Error> {
        let mut seen = Vec::new();
        let listening = async {
            let mut logs = std::pin::pin!(self.engine.container_logs(container, true));
            while let Some(piece) = logs.next().await {
                let piece = piece?;
                if piece.text.contains("listening on") {
                    return Ok(true);
                }
                seen.push(piece.text);
            }
            Ok::<bool, Error>(false)
        };
        match tokio::time::timeout(STANDIN_START, listening).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Err(error)) => Err(error),
            Ok(Ok(false)) | Err(_) => Err(Error::StandinSilent {
                endpoint: service.to_owned(),
                seconds: STANDIN_START.as_secs(),
                tail: seen.concat(),
            }),
        }
    }

    /// Reads the task's output until its first round report, its exit, or
    /// the time limit.
    async fn await_report(
        &self,
        task: &str,
        limit: Duration,
    ) -> Result<(TaskOutcome, Option<Report>), Error> {
        let mut tail = Tail::default();
        let reading = async {
            let mut logs = std::pin::pin!(self.engine.container_logs(task, true));
            let mut pending = String::new();
            while let Some(piece) = logs.next().await {
                let piece = piece?;
                pending.push_str(&piece.text);
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    let line = line.trim_end();
                    if piece.source == LogSource::Stdout
                        && let Ok(parsed) = serde_json::from_str::<LogLine>(line)
                        && let Some(report) = parsed.into_round()
                    {
                        return Ok(Some(report));
                    }
                    tail.push(line);
                }
            }
            Ok::<_, Error>(None)
        };
        match tokio::time::timeout(limit, reading).await {
            Ok(Ok(Some(report))) => Ok((TaskOutcome::Reported, Some(report))),
            Ok(Ok(None)) => {
                let code = self.engine.wait_container(task).await?;
                Ok((
                    TaskOutcome::Exited {
                        code,
                        last_output: tail.lines,
                    },
                    None,
                ))
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Ok((
                TaskOutcome::Silent {
                    seconds: limit.as_secs(),
                    last_output: tail.lines,
                },
                None,
            )),
        }
    }

    /// Removes every container and network of this rehearsal (and with the
    /// stand-ins, their keys); returns whether it could.
    async fn clear(&self) -> bool {
        match self
            .engine
            .remove_labelled(&format!("{LABEL}={}", self.id))
            .await
        {
            Ok((containers, networks)) => {
                tracing::debug!(containers, networks, "removed the rehearsal");
                true
            }
            Err(error) => {
                self.ui.warn(format!(
                "could not remove everything rehearsal {} created ({error}); remove what is left with \
                 `docker rm -f $(docker ps -aq --filter label={LABEL}={id})` and \
                 `docker network prune --filter label={LABEL}={id}`",
                self.id,
                id = self.id
            ));
                false
            }
        }
    }
}

/// The last lines of output, for explaining a failure.
#[derive(Debug, Default)]
struct Tail {
    lines: Vec<String>,
}

impl Tail {
    fn push(&mut self, line: &str) {
        if self.lines.len() == TAIL_LINES {
            self.lines.remove(0);
        }
        self.lines.push(line.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str) -> Endpoint {
        name.parse().expect("endpoint name")
    }

    #[test]
    fn the_last_host_address_is_below_the_broadcast_address() {
        let subnet = |cidr| parse_subnet(cidr).expect("a subnet");
        assert_eq!(
            last_host_address(subnet("10.0.128.0/18")).to_string(),
            "10.0.191.254"
        );
        assert_eq!(subnet("192.168.1.77/24").to_string(), "192.168.1.0/24");
        assert_eq!(
            last_host_address(subnet("192.168.1.77/24")).to_string(),
            "192.168.1.254"
        );
        for bad in ["10.0.0.0", "10.0.0.0/31", "10.0.0.0/x", "fd00::/64"] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_interface_endpoints_answer_public_and_gateways_answer_unrouted() {
        let subnet = parse_subnet("10.0.128.0/18").expect("a subnet");
        let public = missing_endpoint_address(&endpoint("ecr.dkr"), subnet);
        assert_eq!(public, "203.0.113.10");
        let unrouted = missing_endpoint_address(&endpoint("s3"), subnet);
        assert_eq!(unrouted, "10.0.191.254");
    }
}
