//! How each command's result reads on stdout as text; JSON comes from serde.

use std::fmt::Write as _;
use std::path::PathBuf;

use isokit_deploy::{Deployment, Preview, Removal, Teardown, WatchedService};
use isokit_push::Pushed;
use isokit_rehearse::{PlanSource, Rehearsal, TaskOutcome};
use isokit_stacks::{AuditReport, Finding, SarifLog};
use serde::Serialize;

use crate::output::Render;

/// Lines of `name  value`, names padded to one column.
fn table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let rows: Vec<_> = rows.into_iter().collect();
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (name, value) in rows {
        let _ = writeln!(text, "{name:<width$}  {value}");
    }
    text
}

impl Render for Deployment {
    fn text(&self) -> String {
        let change = if self.changed {
            "deployed"
        } else {
            "no change: the stack already runs this"
        };
        let cost = self.endpoints.cost.to_string();
        let mut rows = vec![
            ("Stack", self.stack_name.as_str()),
            ("Status", self.status.as_str()),
            ("Image", self.image.as_str()),
            ("EndpointCost", cost.as_str()),
        ];
        rows.extend(
            self.outputs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let change = match self.service.as_ref().and_then(|s| s.failure.as_ref()) {
            Some(failure) => format!("FAILED: {}", failure.failure.summary),
            None => change.to_owned(),
        };
        let mut text = format!("{change}\n{}", table(rows));
        if let Some(service) = &self.service {
            text.push('\n');
            text.push_str(&watched_service(service));
        }
        text
    }
}

impl Render for Preview {
    fn text(&self) -> String {
        let mut text = format!(
            "dry run: nothing was changed; a deploy of stack {} would {}\n",
            self.stack_name,
            if self.stack_exists {
                "update it"
            } else {
                "create it"
            }
        );
        let _ = writeln!(
            text,
            "image {}, subnets in {}\nendpoints {}: {}",
            self.image,
            self.availability_zones.join(" and "),
            self.endpoints.created.join(", "),
            self.endpoints.cost
        );
        if self.changes.is_empty() {
            text.push_str("resources: no change\n");
        } else {
            text.push_str("resources:\n");
        }
        for change in &self.changes {
            let mark = match change.action.as_str() {
                "Add" => "+",
                "Remove" => "-",
                _ => "~",
            };
            let mut path = change.nested_in.clone();
            path.push(change.logical_id.clone());
            let _ = write!(
                text,
                "  {mark} {} ({}) {}",
                path.join("/"),
                change.resource_type,
                change.action.to_lowercase()
            );
            match change.replacement.as_deref() {
                Some("True") => text.push_str(", replaced"),
                Some("Conditional") => text.push_str(", maybe replaced"),
                _ => {}
            }
            text.push('\n');
        }
        if self.parameters.is_empty() {
            text.push_str("parameters: no change\n");
        } else {
            text.push_str("parameters:\n");
        }
        for parameter in &self.parameters {
            let _ = writeln!(
                text,
                "  {}: {} -> {}",
                parameter.name,
                parameter.deployed.as_deref().unwrap_or("(none)"),
                parameter.proposed.as_deref().unwrap_or("(none)")
            );
        }
        text
    }
}

/// The service as the deploy watched it: each task with its report, or
/// the diagnosis of the failure and where the stack is.
fn watched_service(service: &WatchedService) -> String {
    let mut text = String::new();
    let deployment = service.deployment.as_deref().unwrap_or("(none found)");
    match &service.failure {
        None => {
            let _ = writeln!(
                text,
                "service {}: deployment {deployment} completed, {} task(s) running",
                service.name,
                service.tasks.len()
            );
            for task in &service.tasks {
                let _ = write!(text, "\n{task}");
            }
        }
        Some(failure) => {
            let _ = writeln!(
                text,
                "service {}: deployment {deployment} failed [{}]",
                service.name,
                serde_json::to_value(failure.failure.rule)
                    .ok()
                    .and_then(|rule| rule.as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
            if let Some(stopped) = &failure.failure.stopped {
                let _ = write!(text, "\n{stopped}");
            }
            for task in service.tasks.iter().filter(|task| task.report_fails()) {
                let _ = write!(text, "\n{task}");
            }
            let _ = write!(text, "\nstack: {}", failure.stack.next);
        }
    }
    text
}

impl Render for isokit_watch::Status {
    fn text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "stack {}: {}", self.stack_name, self.stack_status);
        match &self.service {
            None => {
                let _ = writeln!(text, "service: none in cluster {}", self.cluster);
            }
            Some(service) => {
                let _ = writeln!(
                    text,
                    "service {} in cluster {}: {}, {} desired, {} running, {} pending",
                    service.name,
                    self.cluster,
                    service.status,
                    service.desired,
                    service.running,
                    service.pending
                );
                for deployment in &service.deployments {
                    let _ = write!(
                        text,
                        "deployment {} {} {}: {} of {} running",
                        deployment.id,
                        deployment.status,
                        deployment.rollout_state.as_deref().unwrap_or("-"),
                        deployment.running,
                        deployment.desired
                    );
                    if deployment.failed_tasks > 0 {
                        let _ = write!(text, ", {} failed", deployment.failed_tasks);
                    }
                    if let Some(reason) = &deployment.rollout_state_reason {
                        let _ = write!(text, " ({reason})");
                    }
                    text.push('\n');
                }
                if !service.events.is_empty() {
                    let _ = writeln!(text, "latest events:");
                    for event in &service.events {
                        let at = event.at.map_or_else(
                            || "-".to_owned(),
                            |time| {
                                isokit_watch::Rfc3339 {
                                    time,
                                    millis: false,
                                }
                                .to_string()
                            },
                        );
                        let _ = writeln!(text, "  {at} {}", event.message);
                    }
                }
            }
        }
        for task in &self.tasks {
            let _ = write!(text, "\n{task}");
        }
        for stopped in &self.stopped {
            let _ = write!(text, "\n{stopped}");
        }
        if self.healthy() {
            let _ = write!(text, "\nHEALTHY");
        } else {
            let _ = writeln!(text, "\nUNHEALTHY:");
            for problem in &self.problems {
                let _ = writeln!(text, "  - {problem}");
            }
        }
        text
    }
}

fn removal(what: &str, removal: Removal) -> String {
    match removal {
        Removal::Deleted => format!("{what}: deleted"),
        Removal::NothingToDelete => format!("{what}: nothing to delete"),
        Removal::Kept => format!("{what}: kept"),
    }
}

impl Render for Teardown {
    fn text(&self) -> String {
        let mut text = removal(&format!("stack {}", self.stack_name), self.stack);
        for group in &self.log_groups {
            text.push('\n');
            text.push_str(&removal(
                &format!("log group {}", group.name),
                group.outcome,
            ));
        }
        if let Some(repository) = &self.repository {
            text.push('\n');
            text.push_str(&removal(
                &format!("ECR repository {}", repository.name),
                repository.outcome,
            ));
        }
        for left in &self.remaining {
            let what = match left.kind {
                "ecr_repository" => "ECR repository",
                "s3_bucket" => "S3 bucket",
                other => other,
            };
            let _ = write!(text, "\n{what} {}: remains ({})", left.name, left.note);
        }
        text
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Exported {
    pub(crate) dir: PathBuf,
    pub(crate) files: Vec<PathBuf>,
}

impl Render for Exported {
    fn text(&self) -> String {
        let mut text: String = self
            .files
            .iter()
            .map(|file| format!("{}\n", file.display()))
            .collect();
        let _ = write!(
            text,
            "deploy them with: isokit deploy --stacks-dir {} --image <URI>",
            self.dir.display()
        );
        text
    }
}

/// The audit's result: the report, and whether it passes as asked.
#[derive(Debug, Serialize)]
pub(crate) struct AuditResult {
    /// `None`: the bundled templates.
    pub(crate) stacks_dir: Option<PathBuf>,
    pub(crate) strict: bool,
    /// No error: no way out found, no endpoint missing.
    pub(crate) isolated: bool,
    /// What the exit code says: no error, and with --strict no warning.
    pub(crate) passed: bool,
    #[serde(flatten)]
    pub(crate) report: AuditReport,
}

impl AuditResult {
    pub(crate) fn new(
        stacks_dir: Option<PathBuf>,
        strict: bool,
        report: AuditReport,
    ) -> AuditResult {
        AuditResult {
            stacks_dir,
            strict,
            isolated: report.passes(false),
            passed: report.passes(strict),
            report,
        }
    }
}

/// `1 error`, `2 warnings`.
fn count(number: usize, what: &str) -> String {
    let plural = if number == 1 { "" } else { "s" };
    format!("{number} {what}{plural}")
}

/// A finding as a block: severity, where, what, and what it affects.
fn finding_lines(text: &mut String, label: &str, finding: &Finding) {
    let _ = writeln!(
        text,
        "{label:<8} {}: {} [{}]",
        finding.location(),
        finding.message,
        finding.rule
    );
    if !finding.affects.is_empty() {
        let affected: Vec<String> = finding
            .affects
            .iter()
            .map(|affected| {
                if affected.template == finding.template {
                    affected.resource.clone()
                } else {
                    format!("{} ({})", affected.resource, affected.template)
                }
            })
            .collect();
        let _ = writeln!(
            text,
            "{:<8} affects {}: {}",
            "",
            count(affected.len(), "resource"),
            affected.join(", ")
        );
    }
}

impl Render for AuditResult {
    fn text(&self) -> String {
        let which = match &self.stacks_dir {
            Some(dir) => format!("the templates in {}", dir.display()),
            None => "the bundled templates".to_owned(),
        };
        let report = &self.report;
        let (errors, warnings) = (report.errors().count(), report.warnings().count());
        let mut tally = vec![count(errors, "error"), count(warnings, "warning")];
        if !report.accepted.is_empty() {
            tally.push(format!(
                "{} accepted in the templates",
                report.accepted.len()
            ));
        }
        if !report.not_judged.is_empty() {
            tally.push(format!("{} not judged", report.not_judged.len()));
        }
        let verdict = match (self.isolated, self.passed) {
            (true, true) => "passes, no way out of the VPC found",
            (true, false) => "FAILS --strict on its warnings, no way out of the VPC found",
            (false, _) => "FAILS",
        };
        let mut text = format!("{which}: {verdict} ({})\n", tally.join(", "));
        for finding in &report.findings {
            finding_lines(&mut text, finding.severity.as_str(), finding);
        }
        for accepted in &report.accepted {
            finding_lines(&mut text, "accepted", &accepted.finding);
            let _ = writeln!(text, "{:<8} because {}", "", accepted.reason);
        }
        if !report.not_judged.is_empty() {
            let _ = writeln!(
                text,
                "not judged (the audit cannot see these before deployment; check them yourself):"
            );
            for unjudged in &report.not_judged {
                let _ = writeln!(text, "  {unjudged}");
            }
        }
        text
    }

    fn sarif(&self) -> Option<SarifLog> {
        Some(self.report.sarif(self.stacks_dir.as_deref()))
    }
}

impl Render for Pushed {
    /// The pinned reference first, so that `isokit push | head -1` is what
    /// `isokit deploy --image` takes; the tagged one second.
    fn text(&self) -> String {
        format!("{}\n{}", self.image_uri, self.tagged_uri)
    }
}

/// The stderr line that closes a push.
pub(crate) fn push_summary(pushed: &Pushed) -> String {
    if pushed.already_present {
        return format!(
            "{} was already in ECR ({:.1} s)",
            pushed.tagged_uri, pushed.duration_seconds
        );
    }
    let size = pushed
        .size
        .map(|bytes| format!(", {}", isokit_ui::HumanBytes(bytes)))
        .unwrap_or_default();
    format!(
        "pushed {}: {} layer(s) uploaded, {} already there{size}, in {:.1} s",
        pushed.tagged_uri, pushed.layers_pushed, pushed.layers_skipped, pushed.duration_seconds
    )
}

/// One line per event; `isokit_watch::LogEvent`'s `Display` makes the
/// service's JSON lines readable.
impl Render for isokit_watch::LogEvent {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl Render for Rehearsal {
    fn text(&self) -> String {
        let mut text = String::new();
        let source = match &self.plan.source {
            PlanSource::Stack { name } => format!("deployed stack {name}"),
            PlanSource::Bundled => "the bundled templates".to_owned(),
        };
        let _ = writeln!(text, "rehearsal of {}", self.image);
        let _ = writeln!(
            text,
            "network {} (internal), endpoints from {source}: {}",
            self.plan.subnet,
            self.plan.endpoints.join(", ")
        );
        if !self.without.is_empty() {
            let _ = writeln!(text, "left out on request: {}", self.without.join(", "));
        }
        match (&self.report, &self.task) {
            (Some(report), _) => {
                let _ = write!(text, "\n{report}");
            }
            (None, TaskOutcome::Exited { code, last_output }) => {
                let _ = writeln!(
                    text,
                    "\nthe task exited with code {code} before it reported; its last output:"
                );
                for line in last_output {
                    let _ = writeln!(text, "  | {line}");
                }
            }
            (
                None,
                TaskOutcome::Silent {
                    seconds,
                    last_output,
                },
            ) => {
                let _ = writeln!(
                    text,
                    "\nthe task ran for {seconds} s but wrote no isokit report (is it an isokit-service image?); its last output:"
                );
                for line in last_output {
                    let _ = writeln!(text, "  | {line}");
                }
            }
            (None, TaskOutcome::Reported) => {}
        }
        let verdict = if self.passed() {
            "PASSED: every endpoint reachable over private addresses, the internet unreachable"
        } else {
            "FAILED: see above"
        };
        let _ = write!(text, "\n{verdict}");
        text
    }
}
