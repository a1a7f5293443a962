//! How each command's result reads on stdout as text; JSON comes from serde.

use std::fmt::Write as _;
use std::path::PathBuf;

use isokit_deploy::{Deployment, Removal, Teardown};
use isokit_push::Pushed;
use isokit_rehearse::{PlanSource, Rehearsal, TaskOutcome};
use isokit_stacks::Finding;
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
        let mut rows = vec![
            ("Stack", self.stack_name.as_str()),
            ("Status", self.status.as_str()),
            ("Image", self.image.as_str()),
        ];
        rows.extend(
            self.outputs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        format!("{change}\n{}", table(rows))
    }
}

fn removal(what: &str, removal: Removal) -> String {
    match removal {
        Removal::Deleted => format!("{what}: deleted"),
        Removal::NothingToDelete => format!("{what}: nothing to delete"),
    }
}

impl Render for Teardown {
    fn text(&self) -> String {
        let mut text = removal(&format!("stack {}", self.stack_name), self.stack);
        if let Some(repository) = &self.repository {
            text.push('\n');
            text.push_str(&removal(
                &format!("ECR repository {}", repository.name),
                repository.outcome,
            ));
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

#[derive(Debug, Serialize)]
pub(crate) struct AuditResult {
    /// `None`: the bundled templates.
    pub(crate) stacks_dir: Option<PathBuf>,
    pub(crate) isolated: bool,
    pub(crate) findings: Vec<AuditFinding>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AuditFinding {
    pub(crate) rule: String,
    pub(crate) template: String,
    pub(crate) resource: String,
    pub(crate) message: String,
}

impl AuditResult {
    pub(crate) fn new(stacks_dir: Option<PathBuf>, findings: Vec<Finding>) -> AuditResult {
        let findings: Vec<AuditFinding> = findings
            .into_iter()
            .map(|finding| AuditFinding {
                rule: finding.rule.as_str().to_owned(),
                template: finding.template,
                resource: finding.resource,
                message: finding.message,
            })
            .collect();
        AuditResult {
            stacks_dir,
            isolated: findings.is_empty(),
            findings,
        }
    }
}

impl Render for AuditResult {
    fn text(&self) -> String {
        let which = match &self.stacks_dir {
            Some(dir) => format!("the templates in {}", dir.display()),
            None => "the bundled templates".to_owned(),
        };
        if self.findings.is_empty() {
            return format!(
                "{which}: isolated (no internet or NAT gateway, no public address or route, every endpoint the service checks exists)"
            );
        }
        let mut text = format!("{which}: {} finding(s)\n", self.findings.len());
        for finding in &self.findings {
            let _ = writeln!(
                text,
                "{}: {}: {} [{}]",
                finding.template, finding.resource, finding.message, finding.rule
            );
        }
        text
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
        .map(|bytes| format!(", {}", isokit_ui::human_bytes(bytes)))
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
