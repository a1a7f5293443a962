//! A running task and its latest in-task report, and the per-task table
//! that shows what the report found: each endpoint's DNS answer, TCP and
//! TLS, and the isolation verdict.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use isokit_aws::{Aws, EcsTask};
use isokit_report::{EndpointCheck, Evidence, Isolation, Report, Status, Step};
use serde::Serialize;

use crate::clock::{Ago, Rfc3339, serialize_optional_millis};
use crate::event::RoundLine;
use crate::task::{LogStreamName, ReadReport, TaskDefinitions, latest_report, short_id};

/// A task ECS runs (or is starting), with its latest in-task report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningTask {
    pub task_id: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, ...
    pub last_status: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN, from its containers' health checks.
    pub health: Option<String>,
    /// The deployment that started it (`ecs-svc/…`).
    pub deployment: Option<String>,
    #[serde(serialize_with = "serialize_optional_millis")]
    pub started_at: Option<SystemTime>,
    /// Where its reports are read from.
    pub log_stream: Option<LogStreamName>,
    /// Its latest in-task report, when it has written one.
    pub report: Option<ReadReport>,
}

impl RunningTask {
    /// The task as ECS reports it, without a report yet.
    pub fn new(task: &EcsTask, log_stream: Option<LogStreamName>) -> RunningTask {
        RunningTask {
            task_id: task.id.clone(),
            last_status: task.last_status.clone(),
            health: task.health_status.clone(),
            deployment: task.started_by.clone(),
            started_at: task.started_at,
            log_stream,
            report: None,
        }
    }

    /// The task with its latest report read from its log stream (none when
    /// it has written none, or it cannot be read: that is warned about).
    pub async fn read(aws: &Aws, definitions: &mut TaskDefinitions, task: &EcsTask) -> RunningTask {
        let stream = definitions
            .of(aws, task)
            .await
            .and_then(|definition| LogStreamName::main(definition, &task.id));
        let mut running = RunningTask::new(task, stream);
        running.read_report(aws).await;
        running
    }

    /// Reads the latest report again.
    pub async fn read_report(&mut self, aws: &Aws) {
        let Some(stream) = &self.log_stream else {
            return;
        };
        match latest_report(&aws.logs(), stream).await {
            Ok(Some(report)) => self.report = Some(report),
            Ok(None) => {}
            Err(err) => tracing::warn!("cannot read {stream}: {err}"),
        }
    }

    /// Its latest report passes, or it has none (which proves nothing
    /// either way).
    pub fn report_fails(&self) -> bool {
        self.report.as_ref().is_some_and(|read| !read.passes)
    }
}

/// `task 75b02fed RUNNING, HEALTHY, started …`, the latest report's
/// verdict, then the report's table.
impl fmt::Display for RunningTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} {}", short_id(&self.task_id), self.last_status)?;
        if let Some(health) = &self.health {
            write!(f, ", health {health}")?;
        }
        if let Some(started) = self.started_at {
            write!(
                f,
                ", started {}",
                Rfc3339 {
                    time: started,
                    millis: false
                }
            )?;
        }
        writeln!(f)?;
        match &self.report {
            None => writeln!(f, "  no in-task report yet"),
            Some(read) => {
                writeln!(
                    f,
                    "  report of {} ago: {}",
                    Ago(std::time::Duration::from_secs(read.age_seconds)),
                    RoundLine(&read.report)
                )?;
                f.write_str(&table(&read.report))
            }
        }
    }
}

/// One row per endpoint (its DNS answer, then TCP and TLS: `ok`, `failed`,
/// or `-` for a step that did not run after an earlier one failed, with
/// the failure's cause at the end), then the isolation verdict with each
/// egress probe's outcome. Indented by two spaces.
pub(crate) fn table(report: &Report) -> String {
    let header = ["endpoint", "DNS answer", "TCP", "TLS"];
    let rows: Vec<[String; 4]> = report.endpoints.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: [&str; 4], note: Option<String>| {
        let mut out = String::from(" ");
        for (cell, width) in cells.iter().zip(widths) {
            let _ = write!(out, " {cell:<width$} ");
        }
        if let Some(note) = note {
            let _ = write!(out, "  {note}");
        }
        let _ = writeln!(text, "{}", out.trim_end());
    };
    line(header, None);
    for (check, cells) in report.endpoints.iter().zip(&rows) {
        let note = check
            .failure
            .as_ref()
            .map(|failure| format!("{} failed: {}", failure.step, failure.cause));
        line([&cells[0], &cells[1], &cells[2], &cells[3]], note);
    }
    let outcomes: Vec<String> = report
        .egress
        .iter()
        .map(|check| format!("{} {}", check.target, check.outcome))
        .collect();
    let verdict = match report.isolation() {
        Isolation::Isolated => "isolated".to_owned(),
        Isolation::RouteOut => {
            let breaches: Vec<&str> = report
                .egress
                .iter()
                .filter(|check| check.evidence() == Evidence::RouteOut)
                .map(|check| check.target.as_str())
                .collect();
            format!("NOT ISOLATED: {} answered", breaches.join(", "))
        }
        Isolation::Unproven => "NOT PROVEN".to_owned(),
    };
    if outcomes.is_empty() {
        let _ = writeln!(text, "  isolation: {verdict} (no egress probe)");
    } else {
        let _ = writeln!(text, "  isolation: {verdict} ({})", outcomes.join(", "));
    }
    text
}

fn row(check: &EndpointCheck) -> [String; 4] {
    let step = |wanted: Step| {
        check
            .steps
            .iter()
            .find(|result| result.step == wanted)
            .map_or("-", |result| match result.status {
                Status::Ok => "ok",
                Status::Failed => "failed",
            })
            .to_owned()
    };
    // The answer as given, marked when the check failed it (a public
    // address for an interface endpoint, say).
    let addresses = check
        .addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let answer = match (step(Step::Dns).as_str(), addresses.is_empty()) {
        ("failed", true) => "failed".to_owned(),
        ("failed", false) => format!("{addresses} (failed)"),
        (_, true) => "-".to_owned(),
        (_, false) => addresses,
    };
    [
        check.service.clone(),
        answer,
        step(Step::Tcp),
        step(Step::Tls),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use isokit_report::LogLine;

    use super::*;

    /// isokit-service's start line, then a round with ecr.dkr failing, then
    /// a healthy round, as it writes them.
    const SERVICE_LINES: &str = include_str!("../tests/fixtures/service.jsonl");

    fn round(index: usize) -> Report {
        let line = SERVICE_LINES.lines().nth(index).expect("fixture line");
        serde_json::from_str::<LogLine>(line)
            .expect("a log line")
            .into_round()
            .expect("a round")
    }

    #[test]
    fn a_healthy_round_is_a_row_per_endpoint_and_the_isolation_verdict() {
        assert_eq!(
            table(&round(2)),
            "  endpoint  DNS answer              TCP  TLS\n\
            \x20 ecr.api   10.0.130.5, 10.0.131.9  ok   ok\n\
            \x20 ecr.dkr   10.0.130.7, 10.0.131.4  ok   ok\n\
            \x20 s3        52.218.1.2              ok   ok\n\
            \x20 isolation: isolated (checkip.amazonaws.com:443 timeout, 1.1.1.1:443 timeout)\n"
        );
    }

    #[test]
    fn a_failing_endpoint_shows_where_it_stopped_and_why() {
        let mut report = round(1);
        // s3 answered and connected, but its TLS handshake failed.
        report.endpoints[2].ok = false;
        report.endpoints[2].steps[2].status = Status::Failed;
        report.endpoints[2].failure = Some(isokit_report::Failure {
            step: Step::Tls,
            cause: "certificate not trusted".to_owned(),
            fix: "check the CA".to_owned(),
        });
        let text = table(&report);
        let rows: Vec<&str> = text.lines().skip(1).take(3).collect();
        assert_eq!(rows[0], "  ecr.api   10.0.130.5, 10.0.131.9  ok   ok");
        assert_eq!(
            rows[1],
            "  ecr.dkr   52.94.1.10 (failed)     -    -        dns failed: DNS answered a public \
             address (52.94.1.10) for ecr.dkr: the interface endpoint is missing or its private \
             DNS is off"
        );
        assert_eq!(
            rows[2],
            "  s3        52.218.1.2              ok   failed   tls failed: certificate not trusted"
        );
    }

    #[test]
    fn a_route_out_is_named() {
        let mut report = round(2);
        report.egress[1].outcome = isokit_report::EgressOutcome::Refused;
        let text = table(&report);
        assert!(
            text.ends_with(
                "  isolation: NOT ISOLATED: 1.1.1.1:443 answered (checkip.amazonaws.com:443 \
                 timeout, 1.1.1.1:443 refused)\n"
            ),
            "{text}"
        );
        report.egress.clear();
        assert!(
            table(&report).ends_with("  isolation: NOT PROVEN (no egress probe)\n"),
            "{}",
            table(&report)
        );
    }

    #[test]
    fn a_task_reads_as_its_state_then_its_report() {
        let written = UNIX_EPOCH + Duration::from_millis(1_778_188_205_874);
        let task = RunningTask {
            task_id: "0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b".to_owned(),
            last_status: "RUNNING".to_owned(),
            health: Some("HEALTHY".to_owned()),
            deployment: None,
            started_at: Some(UNIX_EPOCH + Duration::from_secs(1_778_188_170)),
            log_stream: None,
            report: Some(ReadReport::new(
                round(2),
                written,
                written + Duration::from_secs(12),
            )),
        };
        let text = task.to_string();
        assert!(
            text.starts_with(
                "task 0f3e6b1a RUNNING, health HEALTHY, started 2026-05-07T21:09:30Z\n  report \
                 of 12 s ago: round 2 HEALTHY: all 3 endpoints reachable; isolated\n  endpoint"
            ),
            "{text}"
        );
        let waiting = RunningTask {
            report: None,
            health: None,
            started_at: None,
            last_status: "PENDING".to_owned(),
            ..task
        };
        assert_eq!(
            waiting.to_string(),
            "task 0f3e6b1a PENDING\n  no in-task report yet\n"
        );
    }
}
