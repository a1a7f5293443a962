//! The contract between isokit and isokit-service: the report the service writes after each round of checks (which `isokit rehearse` and `isokit status` read back), and the environment variables it reads ([`variables`]).
//!
//! # The log lines
//!
//! isokit-service writes one JSON object per line on stdout: a [`LogLine`].
//! Its `"event"` field tells the kinds apart, and every other field sits
//! beside it at the top level, so CloudWatch Logs Insights discovers them
//! without parsing (`filter event = "round" and not healthy`).
//!
//! `"event": "start"`, once, when the service listens ([`Start`]):
//! `time`, `version`, `listen`, `region`, `account`, `endpoints` (service
//! names), `egress_probes` (`host:port`), `interval_ms`, `timeout_ms`,
//! `vpc_cidr` (or null), `dns_servers` (empty: the system resolver).
//!
//! `"event": "round"`, after every round of checks: the whole [`Report`].
//!
//! | field | meaning |
//! | --- | --- |
//! | `time` | when the round started, RFC 3339 UTC |
//! | `round` | 1 for the first round since start-up |
//! | `healthy` | `reachable` and `isolated` |
//! | `reachable` | every endpoint passed every step |
//! | `isolated` | every egress probe was blocked (see [`EgressOutcome::evidence`]) |
//! | `duration_ms` | how long the whole round took |
//! | `region`, `account` | what the endpoint host names were built from |
//! | `task` | [`TaskContext`] from the ECS task metadata endpoint, or null outside ECS |
//! | `endpoints[]` | one [`EndpointCheck`] per endpoint, in configured order |
//! | `egress[]` | one [`EgressCheck`] per probe target, in configured order |
//!
//! `endpoints[]`: `service` (`ecr.dkr`), `host`, `kind` (`interface` or
//! `gateway`), `ok`, `duration_ms`, `addresses` (the DNS answer), `steps[]`
//! (each `step` = `dns`, `tcp` or `tls`, `status` = `ok` or `failed`,
//! `duration_ms`, `detail`; only the steps that ran), and `failure` (null,
//! or `step`, `cause` and `fix`).
//!
//! `egress[]`: `target` (`host:port`), `reachable` (the outcome proves a
//! route out), `outcome` (`connected`, `refused`, `timeout`, `unreachable`,
//! `unresolved` or `error`), `detail`, `duration_ms`.
//!
//! The isolation verdict: a probe is blocked (evidence of isolation) only
//! when nothing answered in time, the network had no route, or the name did
//! not resolve. A connection or a refusal (a TCP reset, an ICMP port
//! unreachable) means something beyond the task answered, so a route out
//! exists. Any other failure (`error`) proves neither, and the round is not
//! called isolated. [`Isolation::of`] is that rule, and every producer and
//! rendering uses it.
//!
//! Reading the first round back from a container's logs:
//!
//! ```
//! use isokit_report::LogLine;
//!
//! let logs = concat!(
//!     "not JSON: anything else the container wrote\n",
//!     r#"{"event":"round","time":"2026-05-07T21:09:35.871Z","round":1,"healthy":true,"#,
//!     r#""reachable":true,"isolated":true,"duration_ms":8.2,"region":"eu-west-1","#,
//!     r#""account":"123456789012","task":null,"endpoints":[],"egress":[]}"#,
//! );
//! let report = logs
//!     .lines()
//!     .filter_map(|line| serde_json::from_str::<LogLine>(line).ok())
//!     .find_map(LogLine::into_round)
//!     .expect("a round line");
//! assert!(report.healthy);
//! ```

pub mod variables;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use isokit_endpoints::EndpointKind;

/// One line of isokit-service's stdout, told apart by its `"event"` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LogLine {
    /// Written once, when the service listens.
    Start(Start),
    /// Written after every round of checks.
    Round(Report),
}

impl LogLine {
    /// The report, if this is a round line.
    pub fn into_round(self) -> Option<Report> {
        match self {
            LogLine::Round(report) => Some(report),
            LogLine::Start(_) => None,
        }
    }
}

/// What the service was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub time: String,
    pub version: String,
    /// The address /health and /checks are served on.
    pub listen: String,
    pub region: String,
    pub account: String,
    pub endpoints: Vec<String>,
    pub egress_probes: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub vpc_cidr: Option<String>,
    /// Empty when the system resolver configuration is used.
    pub dns_servers: Vec<String>,
}

/// One round of checks: every endpoint and every egress probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub time: String,
    pub round: u64,
    pub healthy: bool,
    pub reachable: bool,
    pub isolated: bool,
    pub duration_ms: f64,
    pub region: String,
    pub account: String,
    pub task: Option<TaskContext>,
    pub endpoints: Vec<EndpointCheck>,
    pub egress: Vec<EgressCheck>,
}

/// Where the task runs, from the ECS task metadata endpoint v4. Each field is
/// null when the metadata does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    pub task_arn: Option<String>,
    pub cluster: Option<String>,
    pub availability_zone: Option<String>,
    pub private_address: Option<String>,
    pub subnet_cidr: Option<String>,
}

/// One endpoint's checks: DNS, then TCP, then TLS, stopping at the first failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCheck {
    pub service: String,
    pub host: String,
    pub kind: EndpointKind,
    pub ok: bool,
    pub duration_ms: f64,
    pub addresses: Vec<IpAddr>,
    pub steps: Vec<StepResult>,
    pub failure: Option<Failure>,
}

/// The three steps of reaching an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Dns,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub step: Step,
    pub status: Status,
    pub duration_ms: f64,
    pub detail: String,
}

/// Why an endpoint failed, at which step, and what usually fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub step: Step,
    pub cause: String,
    pub fix: String,
}

/// What happened when the service tried to reach a target that must stay unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EgressOutcome {
    /// A TCP connection completed: the task can reach it.
    Connected,
    /// Something answered with a refusal: a TCP reset (also one that aborts
    /// the connection being opened), or an ICMP port unreachable.
    Refused,
    /// Nothing answered within the timeout.
    Timeout,
    /// No route to it: the task's network stack has none, or a router said so.
    Unreachable,
    /// Its name did not resolve.
    Unresolved,
    /// Any other failure to connect, which happened before anything could
    /// answer or not (a local firewall, a forbidden address).
    Error,
}

/// What one probe's outcome proves about the task's way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Something beyond the task answered: there is a route out.
    RouteOut,
    /// Nothing could be reached: evidence of isolation.
    Blocked,
    /// Neither: the probe failed in a way that says nothing about routes.
    Inconclusive,
}

impl EgressOutcome {
    /// The rule behind every isolation verdict. A refusal counts as a route
    /// out: a reset or a port unreachable is an answer from a host the
    /// packets reached (security groups and network ACLs drop, they never
    /// answer). Only silence, no route and no name are evidence of isolation.
    pub fn evidence(self) -> Evidence {
        match self {
            EgressOutcome::Connected | EgressOutcome::Refused => Evidence::RouteOut,
            EgressOutcome::Timeout | EgressOutcome::Unreachable | EgressOutcome::Unresolved => {
                Evidence::Blocked
            }
            EgressOutcome::Error => Evidence::Inconclusive,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EgressCheck {
    pub target: String,
    /// The outcome proves a route out.
    pub reachable: bool,
    pub outcome: EgressOutcome,
    pub detail: String,
    pub duration_ms: f64,
}

impl EgressCheck {
    /// `reachable` follows from the outcome, by [`EgressOutcome::evidence`].
    pub fn new(target: String, outcome: EgressOutcome, detail: String, duration_ms: f64) -> Self {
        EgressCheck {
            target,
            reachable: outcome.evidence() == Evidence::RouteOut,
            outcome,
            detail,
            duration_ms,
        }
    }

    pub fn evidence(&self) -> Evidence {
        self.outcome.evidence()
    }
}

/// What a round's egress probes prove, all together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// There were probes, and every one was blocked.
    Isolated,
    /// At least one probe reached something.
    RouteOut,
    /// No probe got through, but at least one proved nothing (or nothing
    /// was probed): isolation is not claimed without proof.
    Unproven,
}

impl Isolation {
    /// The verdict of a set of probes: the one rule the service uses to set
    /// a report's `isolated`, and every rendering uses to read it.
    pub fn of(egress: &[EgressCheck]) -> Isolation {
        if egress
            .iter()
            .any(|check| check.evidence() == Evidence::RouteOut)
        {
            Isolation::RouteOut
        } else if egress.is_empty()
            || egress
                .iter()
                .any(|check| check.evidence() == Evidence::Inconclusive)
        {
            Isolation::Unproven
        } else {
            Isolation::Isolated
        }
    }
}

/// The short body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `healthy`, `unhealthy`, or `starting` before the first round ends.
    pub status: String,
    pub round: u64,
    pub reachable: bool,
    pub isolated: bool,
    /// Service names of the endpoints that failed.
    pub failing: Vec<String>,
    /// Egress targets that answered: routes out.
    pub breaches: Vec<String>,
    /// Egress targets whose probe proved nothing either way.
    #[serde(default)]
    pub inconclusive: Vec<String>,
}

impl Health {
    /// Before the first round has finished nothing is known, so nothing passes.
    pub fn starting() -> Self {
        Health {
            status: "starting".to_owned(),
            round: 0,
            reachable: false,
            isolated: false,
            failing: Vec::new(),
            breaches: Vec::new(),
            inconclusive: Vec::new(),
        }
    }
}

impl Report {
    /// What the egress probes prove, judged from their outcomes rather than
    /// read from `isolated`: a report from an isokit-service that judged by
    /// a looser rule (older ones counted a refusal as blocked) is read by
    /// this one.
    pub fn isolation(&self) -> Isolation {
        Isolation::of(&self.egress)
    }

    /// Every endpoint reachable and isolation proven: what `healthy` means.
    pub fn passes(&self) -> bool {
        self.reachable && self.isolation() == Isolation::Isolated
    }

    /// The summary `/health` answers with.
    pub fn health(&self) -> Health {
        let targets = |evidence: Evidence| {
            self.egress
                .iter()
                .filter(move |check| check.evidence() == evidence)
                .map(|check| check.target.clone())
                .collect()
        };
        Health {
            status: if self.passes() {
                "healthy"
            } else {
                "unhealthy"
            }
            .to_owned(),
            round: self.round,
            reachable: self.reachable,
            isolated: self.isolation() == Isolation::Isolated,
            failing: self.failing().map(|check| check.service.clone()).collect(),
            breaches: targets(Evidence::RouteOut),
            inconclusive: targets(Evidence::Inconclusive),
        }
    }

    /// The endpoints that did not pass.
    pub fn failing(&self) -> impl Iterator<Item = &EndpointCheck> {
        self.endpoints.iter().filter(|check| !check.ok)
    }

    /// The egress probes that prove a route out.
    pub fn breaches(&self) -> impl Iterator<Item = &EgressCheck> {
        self.egress
            .iter()
            .filter(|check| check.evidence() == Evidence::RouteOut)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Dns => "dns",
            Step::Tcp => "tcp",
            Step::Tls => "tls",
        })
    }
}

impl fmt::Display for EgressOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EgressOutcome::Connected => "connected",
            EgressOutcome::Refused => "refused",
            EgressOutcome::Timeout => "timeout",
            EgressOutcome::Unreachable => "unreachable",
            EgressOutcome::Unresolved => "unresolved",
            EgressOutcome::Error => "error",
        })
    }
}

/// The report for a person: a verdict line, then one line per endpoint and
/// per egress probe, with the cause and fix under each failure.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failing = self.failing().count();
        let reachability = if failing == 0 {
            format!("all {} endpoints reachable", self.endpoints.len())
        } else {
            format!("{failing} of {} endpoints failing", self.endpoints.len())
        };
        let isolation = match self.isolation() {
            Isolation::Isolated => "isolated",
            Isolation::RouteOut => "NOT ISOLATED",
            Isolation::Unproven => "ISOLATION NOT PROVEN",
        };
        let verdict = if self.passes() {
            "HEALTHY"
        } else {
            "UNHEALTHY"
        };
        writeln!(
            f,
            "{verdict}: {reachability}, {isolation} (round {} at {}, {}, {} in {})",
            self.round,
            self.time,
            Millis(self.duration_ms),
            self.account,
            self.region
        )?;
        if let Some(task) = &self.task {
            let fields = [
                ("task", &task.task_arn),
                ("cluster", &task.cluster),
                ("zone", &task.availability_zone),
                ("address", &task.private_address),
                ("subnet", &task.subnet_cidr),
            ];
            let known: Vec<String> = fields
                .iter()
                .filter_map(|(label, value)| value.as_ref().map(|value| format!("{label} {value}")))
                .collect();
            if !known.is_empty() {
                writeln!(f, "{}", known.join(", "))?;
            }
        }
        let service_width = self
            .endpoints
            .iter()
            .map(|c| c.service.len())
            .max()
            .unwrap_or(0);
        let host_width = self
            .endpoints
            .iter()
            .map(|c| c.host.len())
            .max()
            .unwrap_or(0);
        for check in &self.endpoints {
            let mark = if check.ok { "ok  " } else { "FAIL" };
            let steps: Vec<String> = check
                .steps
                .iter()
                .map(|step| match step.status {
                    Status::Ok => format!("{} {}", step.step, Millis(step.duration_ms)),
                    Status::Failed => {
                        format!("{} FAILED after {}", step.step, Millis(step.duration_ms))
                    }
                })
                .collect();
            let addresses: Vec<String> = check.addresses.iter().map(IpAddr::to_string).collect();
            let addresses = if addresses.is_empty() {
                String::new()
            } else {
                format!("  [{}]", addresses.join(" "))
            };
            writeln!(
                f,
                "{mark} {:service_width$}  {:host_width$}  {:9}  {}{addresses}",
                check.service,
                check.host,
                check.kind.to_string(),
                steps.join(", "),
            )?;
            if let Some(failure) = &check.failure {
                writeln!(f, "     {} failed: {}", failure.step, failure.cause)?;
                writeln!(f, "     fix: {}", failure.fix)?;
            }
        }
        if !self.egress.is_empty() {
            writeln!(
                f,
                "egress (each must be blocked: no answer, no route or no such name):"
            )?;
            let target_width = self
                .egress
                .iter()
                .map(|c| c.target.len())
                .max()
                .unwrap_or(0);
            for check in &self.egress {
                let mark = match check.evidence() {
                    Evidence::RouteOut => "REACHABLE",
                    Evidence::Blocked => "blocked  ",
                    Evidence::Inconclusive => "UNPROVEN ",
                };
                writeln!(
                    f,
                    "{mark} {:target_width$}  {} in {}: {}",
                    check.target,
                    check.outcome,
                    Millis(check.duration_ms),
                    check.detail
                )?;
            }
        }
        Ok(())
    }
}

/// Milliseconds as a person reads them: `0.4ms`, `12ms`, `3.00s`.
struct Millis(f64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms >= 1000.0 {
            write!(f, "{:.2}s", ms / 1000.0)
        } else if ms >= 10.0 {
            write!(f, "{ms:.0}ms")
        } else {
            write!(f, "{ms:.1}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = include_str!("../tests/fixtures/round.jsonl");

    fn lines() -> Vec<LogLine> {
        LOG.lines()
            .map(|line| serde_json::from_str(line).expect("every fixture line is a LogLine"))
            .collect()
    }

    fn round() -> Report {
        lines()
            .into_iter()
            .find_map(LogLine::into_round)
            .expect("the fixture has a round line")
    }

    #[test]
    fn reads_the_start_and_round_lines() {
        let lines = lines();
        let LogLine::Start(start) = &lines[0] else {
            panic!("the first line is the start line: {:?}", lines[0]);
        };
        assert_eq!(start.listen, "0.0.0.0:8080");
        assert_eq!(start.vpc_cidr.as_deref(), Some("10.0.0.0/16"));
        let report = round();
        assert_eq!(report.round, 1);
        assert!(!report.healthy && !report.reachable && report.isolated);
        assert_eq!(report.endpoints[0].kind, EndpointKind::Interface);
        assert_eq!(report.endpoints[0].steps[2].step, Step::Tls);
        assert_eq!(report.endpoints[2].kind, EndpointKind::Gateway);
        let failure = report.endpoints[1]
            .failure
            .as_ref()
            .expect("ecr.dkr failed");
        assert_eq!(failure.step, Step::Dns);
        assert_eq!(report.egress[1].outcome, EgressOutcome::Timeout);
        let task = report.task.as_ref().expect("task context");
        assert_eq!(task.availability_zone.as_deref(), Some("eu-west-1b"));
    }

    #[test]
    fn writes_the_field_names_it_documents() {
        for (raw, line) in LOG.lines().zip(lines()) {
            let written = serde_json::to_value(&line).expect("serializes");
            let original: serde_json::Value = serde_json::from_str(raw).expect("fixture is JSON");
            assert_eq!(written, original);
        }
    }

    #[test]
    fn a_report_alone_reads_a_round_line_too() {
        let raw = LOG.lines().nth(1).expect("round line");
        let report: Report = serde_json::from_str(raw).expect("the event field is ignored");
        assert_eq!(report, round());
    }

    #[test]
    fn health_names_failures_and_breaches() {
        let mut report = round();
        assert_eq!(
            report.health(),
            Health {
                status: "unhealthy".to_owned(),
                round: 1,
                reachable: false,
                isolated: true,
                failing: vec!["ecr.dkr".to_owned()],
                breaches: Vec::new(),
                inconclusive: Vec::new(),
            }
        );
        report.egress[0].outcome = EgressOutcome::Connected;
        report.egress[1].outcome = EgressOutcome::Error;
        let health = report.health();
        assert_eq!(health.breaches, ["checkip.amazonaws.com:443"]);
        assert_eq!(health.inconclusive, ["1.1.1.1:443"]);
        assert!(!health.isolated);
        assert_eq!(Health::starting().status, "starting");
    }

    #[test]
    fn only_silence_no_route_or_no_name_is_evidence_of_isolation() {
        let expected = [
            (EgressOutcome::Connected, Evidence::RouteOut),
            (EgressOutcome::Refused, Evidence::RouteOut),
            (EgressOutcome::Timeout, Evidence::Blocked),
            (EgressOutcome::Unreachable, Evidence::Blocked),
            (EgressOutcome::Unresolved, Evidence::Blocked),
            (EgressOutcome::Error, Evidence::Inconclusive),
        ];
        for (outcome, evidence) in expected {
            assert_eq!(outcome.evidence(), evidence, "{outcome}");
            let check = EgressCheck::new("t:1".to_owned(), outcome, String::new(), 1.0);
            assert_eq!(check.reachable, evidence == Evidence::RouteOut, "{outcome}");
        }
    }

    #[test]
    fn isolation_needs_every_probe_blocked() {
        let probes = |outcomes: &[EgressOutcome]| -> Vec<EgressCheck> {
            outcomes
                .iter()
                .map(|outcome| EgressCheck::new("t:1".to_owned(), *outcome, String::new(), 1.0))
                .collect()
        };
        use EgressOutcome::{Connected, Error, Refused, Timeout, Unreachable, Unresolved};
        assert_eq!(
            Isolation::of(&probes(&[Timeout, Unreachable, Unresolved])),
            Isolation::Isolated
        );
        assert_eq!(
            Isolation::of(&probes(&[Timeout, Refused])),
            Isolation::RouteOut
        );
        assert_eq!(
            Isolation::of(&probes(&[Error, Connected])),
            Isolation::RouteOut,
            "a route out outweighs an inconclusive probe"
        );
        assert_eq!(
            Isolation::of(&probes(&[Timeout, Error])),
            Isolation::Unproven
        );
        assert_eq!(
            Isolation::of(&[]),
            Isolation::Unproven,
            "nothing probed proves nothing"
        );
    }

    #[test]
    fn a_refusal_in_an_older_report_is_read_as_a_route_out() {
        // Older isokit-service versions wrote a refusal as blocked and isolated.
        let mut report = round();
        report.endpoints.remove(1);
        (report.reachable, report.healthy) = (true, true);
        report.egress[0].outcome = EgressOutcome::Refused;
        assert!(report.isolated && !report.egress[0].reachable);
        assert_eq!(report.isolation(), Isolation::RouteOut);
        assert!(!report.passes());
        let health = report.health();
        assert_eq!(
            (health.status.as_str(), health.isolated),
            ("unhealthy", false)
        );
        assert_eq!(health.breaches, ["checkip.amazonaws.com:443"]);
        let text = report.to_string();
        assert!(
            text.starts_with("UNHEALTHY: all 2 endpoints reachable, NOT ISOLATED"),
            "{text}"
        );
        assert!(
            text.contains("REACHABLE checkip.amazonaws.com:443"),
            "{text}"
        );
    }

    #[test]
    fn renders_for_a_person() {
        let expected = "\
UNHEALTHY: 1 of 3 endpoints failing, isolated (round 1 at 2026-05-07T21:09:35.871Z, 3.00s, 123456789012 in eu-west-1)
task arn:aws:ecs:eu-west-1:123456789012:task/isokit/0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b, cluster arn:aws:ecs:eu-west-1:123456789012:cluster/isokit, zone eu-west-1b, address 10.0.129.14, subnet 10.0.128.0/20
ok   ecr.api  api.ecr.eu-west-1.amazonaws.com               interface  dns 1.2ms, tcp 0.5ms, tls 5.7ms  [10.0.130.5 10.0.131.9]
FAIL ecr.dkr  123456789012.dkr.ecr.eu-west-1.amazonaws.com  interface  dns FAILED after 1.1ms  [52.94.1.10]
     dns failed: DNS answered a public address (52.94.1.10) for ecr.dkr: the interface endpoint is missing or its private DNS is off
     fix: create the interface endpoint com.amazonaws.eu-west-1.ecr.dkr in the task's VPC with private DNS enabled
ok   s3       s3.eu-west-1.amazonaws.com                    gateway    dns 1.0ms, tcp 2.1ms, tls 6.8ms  [52.218.1.2]
egress (each must be blocked: no answer, no route or no such name):
blocked   checkip.amazonaws.com:443  timeout in 3.00s: no answer from 3.1.2.3:443 within 3s
blocked   1.1.1.1:443                timeout in 3.00s: no answer from 1.1.1.1:443 within 3s
";
        assert_eq!(round().to_string(), expected);
    }

    #[test]
    fn renders_the_verdicts() {
        let mut report = round();
        report.endpoints.remove(1);
        report.reachable = true;
        report.healthy = true;
        report.task = None;
        report.endpoints[0].addresses.clear();
        let text = report.to_string();
        assert!(
            text.contains("tls 5.7ms\n"),
            "no empty address list: {text}"
        );
        assert!(
            text.starts_with("HEALTHY: all 2 endpoints reachable, isolated"),
            "{text}"
        );
        assert!(!text.contains("task "), "{text}");

        report.egress[1].reachable = true;
        report.egress[1].outcome = EgressOutcome::Connected;
        report.isolated = false;
        report.healthy = false;
        let text = report.to_string();
        assert!(
            text.starts_with("UNHEALTHY: all 2 endpoints reachable, NOT ISOLATED"),
            "{text}"
        );
        assert!(text.contains("REACHABLE 1.1.1.1:443"), "{text}");

        report.egress[1].reachable = false;
        report.egress[1].outcome = EgressOutcome::Error;
        let text = report.to_string();
        assert!(
            text.starts_with("UNHEALTHY: all 2 endpoints reachable, ISOLATION NOT PROVEN"),
            "{text}"
        );
        assert!(text.contains("UNPROVEN  1.1.1.1:443"), "{text}");
    }
}
