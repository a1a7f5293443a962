//! One round of checks: every endpoint (DNS, TCP, TLS) and every egress
//! probe, all at once, each bounded by the per-check timeout.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use isokit_endpoints::{Endpoint, EndpointKind};
use isokit_report::{
    EgressCheck, EgressOutcome, EndpointCheck, Evidence, Failure, Isolation, Report, Status, Step,
    StepResult, TaskContext,
};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::address::interface_answer_problem;
use crate::config::{Config, ProbeTarget};
use crate::error::{Error, Result};
use crate::time::{millis, rfc3339};

/// Every endpoint is reached on HTTPS.
const HTTPS: u16 = 443;

/// Runs checks with one resolver and one TLS configuration, built once.
#[derive(Clone)]
pub struct Checker {
    config: Arc<Config>,
    resolver: TokioResolver,
    tls: TlsConnector,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Checker {
    pub fn new(config: Config) -> Result<Checker> {
        let resolver = resolver(&config)?;
        let tls = tls_connector(&config)?;
        Ok(Checker {
            config: Arc::new(config),
            resolver,
            tls,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks every endpoint and probes every egress target concurrently, so
    /// a round lasts about as long as its slowest check.
    pub async fn round(&self, number: u64, task: Option<TaskContext>) -> Report {
        let time = rfc3339(SystemTime::now());
        let started = Instant::now();
        let (endpoints, egress) = tokio::join!(
            join_all(
                self.config
                    .endpoints
                    .iter()
                    .map(|endpoint| self.check_endpoint(endpoint))
            ),
            join_all(
                self.config
                    .egress_probes
                    .iter()
                    .map(|target| self.probe_egress(target))
            ),
        );
        let reachable = endpoints.iter().all(|check| check.ok);
        let isolated = Isolation::of(&egress) == Isolation::Isolated;
        Report {
            time,
            round: number,
            healthy: reachable && isolated,
            reachable,
            isolated,
            duration_ms: millis(started.elapsed()),
            region: self.config.region.clone(),
            account: self.config.account.clone(),
            task,
            endpoints,
            egress,
        }
    }

    /// Resolves, connects and shakes hands with one endpoint, stopping at
    /// the first step that fails.
    pub async fn check_endpoint(&self, endpoint: &Endpoint) -> EndpointCheck {
        let host = endpoint.hostname(&self.config.region, &self.config.account);
        let started = Instant::now();
        let mut attempt = Attempt {
            endpoint,
            host: &host,
            region: &self.config.region,
            steps: Vec::new(),
            addresses: Vec::new(),
        };
        let failure = self
            .reach(&mut attempt, started + self.config.timeout)
            .await
            .err();
        EndpointCheck {
            service: endpoint.service().to_owned(),
            host: host.clone(),
            kind: endpoint.kind(),
            ok: failure.is_none(),
            duration_ms: millis(started.elapsed()),
            addresses: attempt.addresses,
            steps: attempt.steps,
            failure,
        }
    }

    async fn reach(&self, attempt: &mut Attempt<'_>, deadline: Instant) -> Result<(), Failure> {
        let timeout = self.config.timeout;
        let service = attempt.endpoint.service();
        let host = attempt.host;

        let step = Instant::now();
        let answer = timeout_at(deadline, self.resolver.lookup_ip(format!("{host}."))).await;
        let addresses: Vec<IpAddr> = match answer {
            Err(_) => {
                return Err(attempt.failed(
                    Step::Dns,
                    step,
                    format!("no DNS answer for {host} within {timeout:?}"),
                    "check that the task's DNS servers answer: in a VPC, enableDnsSupport must be on \
                     (the resolver at the VPC base address +2); outside one, /etc/resolv.conf or \
                     ISOKIT_DNS_SERVERS"
                        .to_owned(),
                ));
            }
            Ok(Err(err)) => {
                let (cause, fix) = attempt.dns_failure(&err);
                return Err(attempt.failed(Step::Dns, step, cause, fix));
            }
            Ok(Ok(lookup)) => lookup.iter().collect(),
        };
        attempt.addresses.clone_from(&addresses);
        let Some((&first, others)) = addresses.split_first() else {
            return Err(attempt.failed(
                Step::Dns,
                step,
                format!("DNS answered no IPv4 address for {host}"),
                attempt.create_interface_endpoint(),
            ));
        };
        if attempt.endpoint.kind() == EndpointKind::Interface {
            let problem = addresses
                .iter()
                .find_map(|ip| interface_answer_problem(*ip, self.config.vpc_cidr.as_ref()));
            if let Some(problem) = problem {
                return Err(attempt.failed(
                    Step::Dns,
                    step,
                    format!(
                        "DNS answered {problem} for {service}: the interface endpoint is missing or \
                         its private DNS is off"
                    ),
                    attempt.create_interface_endpoint(),
                ));
            }
        }
        attempt.ok(Step::Dns, step, format!("{} address(es)", addresses.len()));

        // The addresses in the order DNS gave them: the first that accepts is
        // used; when every one fails, the last failure is reported.
        let step = Instant::now();
        let mut address = SocketAddr::new(first, HTTPS);
        let mut untried = others.iter();
        let stream = loop {
            match timeout_at(deadline, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => break stream,
                Ok(Err(err)) => match untried.next() {
                    Some(ip) => address = SocketAddr::new(*ip, HTTPS),
                    None => {
                        let (cause, fix) = attempt.tcp_failure(address, &err);
                        return Err(attempt.failed(Step::Tcp, step, cause, fix));
                    }
                },
                Err(_) => {
                    let (cause, fix) = attempt.tcp_timeout(address, timeout);
                    return Err(attempt.failed(Step::Tcp, step, cause, fix));
                }
            }
        };
        attempt.ok(Step::Tcp, step, format!("connected to {address}"));

        let step = Instant::now();
        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(err) => {
                return Err(attempt.failed(
                    Step::Tls,
                    step,
                    format!("{host} cannot be a TLS server name: {err}"),
                    "check ISOKIT_REGION and ISOKIT_ACCOUNT, which the host name is built from"
                        .to_owned(),
                ));
            }
        };
        match timeout_at(deadline, self.tls.connect(server_name, stream)).await {
            Ok(Ok(tls)) => {
                let (_, session) = tls.get_ref();
                let version = session
                    .protocol_version()
                    .map(|version| format!("{version:?}"))
                    .unwrap_or_default();
                let suite = session
                    .negotiated_cipher_suite()
                    .map(|suite| format!("{:?}", suite.suite()))
                    .unwrap_or_default();
                attempt.ok(
                    Step::Tls,
                    step,
                    format!("verified {host}, {version} {suite}"),
                );
                Ok(())
            }
            Ok(Err(err)) => {
                let (cause, fix) = attempt.tls_failure(address, &err);
                Err(attempt.failed(Step::Tls, step, cause, fix))
            }
            Err(_) => Err(attempt.failed(
                Step::Tls,
                step,
                format!("the TLS handshake with {address} did not finish within {timeout:?}"),
                format!(
                    "something accepts TCP on {address} but does not answer TLS: check that {host} \
                     resolves to the {service} endpoint and not to another host or a proxy"
                ),
            )),
        }
    }

    /// Tries to open a TCP connection to a target that must stay unreachable.
    pub async fn probe_egress(&self, target: &ProbeTarget) -> EgressCheck {
        let started = Instant::now();
        let deadline = started + self.config.timeout;
        let (outcome, detail) = self.try_egress(target, deadline).await;
        EgressCheck::new(
            target.to_string(),
            outcome,
            detail,
            millis(started.elapsed()),
        )
    }

    async fn try_egress(&self, target: &ProbeTarget, deadline: Instant) -> (EgressOutcome, String) {
        let timeout = self.config.timeout;
        let addresses: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match timeout_at(
                deadline,
                self.resolver.lookup_ip(format!("{}.", target.host)),
            )
            .await
            {
                Ok(Ok(lookup)) => lookup.iter().collect(),
                Ok(Err(err)) => {
                    return (
                        EgressOutcome::Unresolved,
                        format!("{} does not resolve: {err}", target.host),
                    );
                }
                Err(_) => {
                    return (
                        EgressOutcome::Unresolved,
                        format!("no DNS answer for {} within {timeout:?}", target.host),
                    );
                }
            },
        };
        // Every address at once, each until the deadline: one that answers
        // must not go untried behind one that stays silent.
        let attempts = join_all(addresses.into_iter().map(|ip| {
            let address = SocketAddr::new(ip, target.port);
            async move {
                match timeout_at(deadline, TcpStream::connect(address)).await {
                    Ok(Ok(_)) => (
                        EgressOutcome::Connected,
                        format!(
                            "connected to {address}: the task has a route out (internet or NAT \
                             gateway, peering, transit gateway or proxy); remove it to isolate the VPC"
                        ),
                    ),
                    Ok(Err(err)) => egress_failure(address, &err),
                    Err(_) => (
                        EgressOutcome::Timeout,
                        format!("no answer from {address} within {timeout:?}"),
                    ),
                }
            }
        }))
        .await;
        // The strongest evidence speaks for the target (a route out, then an
        // inconclusive attempt, then a blocked one); among equals, the first
        // address DNS gave.
        attempts
            .into_iter()
            .min_by_key(|(outcome, _)| match outcome.evidence() {
                Evidence::RouteOut => 0,
                Evidence::Inconclusive => 1,
                Evidence::Blocked => 2,
            })
            .unwrap_or_else(|| {
                (
                    EgressOutcome::Unresolved,
                    format!("{} has no IPv4 address", target.host),
                )
            })
    }
}

/// What a failed connection attempt to an egress target proves, in words.
fn egress_failure(address: SocketAddr, err: &io::Error) -> (EgressOutcome, String) {
    let answered = |what: &str| {
        (
            EgressOutcome::Refused,
            format!(
                "{address} {what} the connection ({err}): a host answered, so the task has a route \
                 to it (internet or NAT gateway, peering, transit gateway, proxy, or a host on the \
                 task's own network); remove that route to isolate the VPC (security groups and \
                 network ACLs drop traffic, they never answer it)"
            ),
        )
    };
    match err.kind() {
        io::ErrorKind::ConnectionRefused => answered("refused"),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => answered("reset"),
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => (
            EgressOutcome::Unreachable,
            format!("no route to {address} ({err})"),
        ),
        // The system's own connect timeout, shorter than ISOKIT_TIMEOUT.
        io::ErrorKind::TimedOut => (
            EgressOutcome::Timeout,
            format!("no answer from {address} ({err})"),
        ),
        _ => (
            EgressOutcome::Error,
            format!(
                "the probe of {address} was inconclusive ({err}): it failed before anything could \
                 answer, so it proves neither a route out nor its absence, and the task is not \
                 called isolated; give ISOKIT_EGRESS_PROBES a target the task may try to reach, and \
                 remove what stops the attempt inside the task (a firewall rule in its network \
                 namespace, a security profile) so that the VPC's isolation is what gets tested"
            ),
        ),
    }
}

/// The steps recorded so far for one endpoint, and the wording of its failures.
struct Attempt<'a> {
    endpoint: &'a Endpoint,
    host: &'a str,
    region: &'a str,
    steps: Vec<StepResult>,
    addresses: Vec<IpAddr>,
}

impl Attempt<'_> {
    fn ok(&mut self, step: Step, started: Instant, detail: String) {
        self.steps.push(StepResult {
            step,
            status: Status::Ok,
            duration_ms: millis(started.elapsed()),
            detail,
        });
    }

    fn failed(&mut self, step: Step, started: Instant, cause: String, fix: String) -> Failure {
        self.steps.push(StepResult {
            step,
            status: Status::Failed,
            duration_ms: millis(started.elapsed()),
            detail: cause.clone(),
        });
        Failure { step, cause, fix }
    }

    fn is_gateway(&self) -> bool {
        self.endpoint.kind() == EndpointKind::Gateway
    }

    fn create_interface_endpoint(&self) -> String {
        if self.is_gateway() {
            return format!(
                "{} host names are public: the VPC's resolver must answer them (enableDnsSupport on)",
                self.endpoint.service()
            );
        }
        format!(
            "create the interface endpoint {} in the task's VPC with private DNS enabled \
             (PrivateDnsEnabled: true), on a VPC with enableDnsSupport and enableDnsHostnames on",
            self.endpoint.vpc_service_name(self.region)
        )
    }

    fn gateway_route(&self) -> String {
        format!(
            "associate the gateway endpoint {} with the route table of the task's subnet, and allow \
             outbound TCP 443 to its prefix list in the task's security group",
            self.endpoint.vpc_service_name(self.region)
        )
    }

    fn dns_failure(&self, err: &NetError) -> (String, String) {
        let host = self.host;
        match err {
            NetError::Dns(DnsError::NoRecordsFound(records)) if records.response_code == ResponseCode::NXDomain => (
                format!("no such name: {host} does not exist (NXDOMAIN)"),
                self.create_interface_endpoint(),
            ),
            NetError::Dns(DnsError::NoRecordsFound(_)) => {
                (format!("{host} has no IPv4 address (no A record)"), self.create_interface_endpoint())
            }
            NetError::Dns(DnsError::ResponseCode(code)) => (
                format!("the DNS server answered {code} for {host}"),
                "check the task's DNS servers: the VPC resolver (enableDnsSupport), or those in \
                 /etc/resolv.conf or ISOKIT_DNS_SERVERS"
                    .to_owned(),
            ),
            NetError::Timeout => (
                format!("no DNS answer for {host}"),
                "check that the task's DNS servers are reachable: in a VPC, enableDnsSupport must be on"
                    .to_owned(),
            ),
            other => (
                format!("the DNS lookup of {host} failed: {other}"),
                "check that the task's DNS servers are reachable: in a VPC, enableDnsSupport must be on"
                    .to_owned(),
            ),
        }
    }

    fn tcp_timeout(&self, address: SocketAddr, timeout: Duration) -> (String, String) {
        let cause = format!("no answer from {address} within {timeout:?}");
        let fix = if self.is_gateway() {
            self.gateway_route()
        } else {
            format!(
                "allow inbound TCP 443 from the task (its security group or subnet) in the security \
                 group of the {} endpoint, and check the subnets' network ACLs",
                self.endpoint.service()
            )
        };
        (cause, fix)
    }

    fn tcp_failure(&self, address: SocketAddr, err: &io::Error) -> (String, String) {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => (
                format!("connection to {address} refused"),
                format!(
                    "nothing accepts HTTPS at {address}: check that {} resolves to the {} endpoint's \
                     network interfaces (a private hosted zone may override it)",
                    self.host,
                    self.endpoint.service()
                ),
            ),
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable
                if self.is_gateway() =>
            {
                (format!("no route to {address}"), self.gateway_route())
            }
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => (
                format!("no route to {address}"),
                format!(
                    "the {} endpoint's address is not in a network the task can reach: check that the \
                     endpoint's subnets are in the task's VPC",
                    self.endpoint.service()
                ),
            ),
            _ => (
                format!("cannot connect to {address}: {err}"),
                "check the security groups and network ACLs between the task and the endpoint"
                    .to_owned(),
            ),
        }
    }

    fn tls_failure(&self, address: SocketAddr, err: &io::Error) -> (String, String) {
        let host = self.host;
        let intercepted = "a proxy or firewall that intercepts TLS presents its own certificate: trust its \
                           CA with ISOKIT_CA_FILE or ISOKIT_CA_PEM, or let traffic to the endpoint pass \
                           untouched";
        let certificate = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(|tls| match tls {
                rustls::Error::InvalidCertificate(certificate) => Some(certificate),
                _ => None,
            });
        match certificate {
            Some(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => (
                format!("the certificate at {address} is not valid for {host} (name mismatch)"),
                format!(
                    "{host} resolves to a host that is not the {} endpoint: check private hosted zones \
                     and DNS overrides for that name; if a proxy intercepts TLS, {intercepted}",
                    self.endpoint.service()
                ),
            ),
            Some(CertificateError::UnknownIssuer) => (
                format!("the certificate at {address} for {host} is signed by an unknown CA"),
                intercepted.to_owned(),
            ),
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => (
                format!("the certificate at {address} for {host} has expired"),
                "check the task's clock, then what answers at that address".to_owned(),
            ),
            Some(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => (
                format!("the certificate at {address} for {host} is not valid yet"),
                "check the task's clock, then what answers at that address".to_owned(),
            ),
            Some(other) => (
                format!("the certificate at {address} for {host} is invalid: {other:?}"),
                intercepted.to_owned(),
            ),
            None => (
                format!("the TLS handshake with {address} failed: {err}"),
                format!(
                    "check that {host} resolves to the {} endpoint and that nothing between the task \
                     and it tampers with TLS",
                    self.endpoint.service()
                ),
            ),
        }
    }
}

/// A resolver that asks the configured servers (or /etc/resolv.conf) every
/// round: nothing is cached, so a removed endpoint shows in the next round.
fn resolver(config: &Config) -> Result<TokioResolver> {
    let mut builder = if config.dns_servers.is_empty() {
        TokioResolver::builder_tokio().map_err(Error::SystemDns)?
    } else {
        let servers = config
            .dns_servers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        );
        // Named servers are the whole truth: /etc/hosts must not answer for them.
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        builder
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4Only;
    // Two tries inside the check's budget, so one lost UDP datagram is not a failure.
    options.timeout = config.timeout / 2;
    options.attempts = 1;
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    builder.build().map_err(Error::Resolver)
}

fn tls_connector(config: &Config) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in &config.extra_cas {
        roots
            .add(certificate.clone())
            .map_err(|err| Error::Config {
                variable: "ISOKIT_CA_FILE or ISOKIT_CA_PEM",
                problem: format!("a certificate cannot be a trust anchor ({err})"),
                expected: "CA certificates in PEM",
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Linux reports for each failure (errno numbers as on x86_64 and arm64).
    #[test]
    fn a_refusal_or_reset_is_a_route_out_and_only_no_answer_or_no_route_is_blocked() {
        let address: SocketAddr = "192.0.2.7:443".parse().expect("address");
        let cases = [
            (111, EgressOutcome::Refused, "refused the connection"), // ECONNREFUSED
            (104, EgressOutcome::Refused, "reset the connection"),   // ECONNRESET
            (103, EgressOutcome::Refused, "reset the connection"),   // ECONNABORTED
            (101, EgressOutcome::Unreachable, "no route to"),        // ENETUNREACH
            (113, EgressOutcome::Unreachable, "no route to"),        // EHOSTUNREACH
            (110, EgressOutcome::Timeout, "no answer from"),         // ETIMEDOUT
            (13, EgressOutcome::Error, "inconclusive"),              // EACCES
            (1, EgressOutcome::Error, "inconclusive"),               // EPERM
            (99, EgressOutcome::Error, "inconclusive"),              // EADDRNOTAVAIL
        ];
        for (errno, outcome, words) in cases {
            let (got, detail) = egress_failure(address, &io::Error::from_raw_os_error(errno));
            assert_eq!(got, outcome, "errno {errno}: {detail}");
            assert!(detail.contains(words), "errno {errno}: {detail}");
            assert!(detail.contains("192.0.2.7:443"), "{detail}");
        }
        let (_, refused) = egress_failure(address, &io::Error::from_raw_os_error(111));
        assert!(
            refused.contains("a host answered, so the task has a route to it")
                && refused.contains("remove that route"),
            "{refused}"
        );
        let (_, inconclusive) = egress_failure(address, &io::Error::from_raw_os_error(13));
        assert!(
            inconclusive.contains("the task is not called isolated")
                && inconclusive.contains("ISOKIT_EGRESS_PROBES"),
            "{inconclusive}"
        );
    }
}
