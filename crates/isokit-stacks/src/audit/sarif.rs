//! The audit as a SARIF 2.1.0 log, the format code-scanning tools read:
//! each finding a result located at the line of its resource in its file,
//! the resources it affects as related locations, the warnings a template
//! accepts as results suppressed in the source, and what the audit could
//! not judge as notifications of the run.

use std::path::Path;

use serde::Serialize;

use super::{AuditReport, Finding, Location, NotJudged, Rule, Severity};
use crate::nested::relative_to;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

#[derive(Debug, Clone, Serialize)]
pub struct SarifLog {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Debug, Clone, Serialize)]
struct Run {
    tool: Tool,
    invocations: [Invocation; 1],
    results: Vec<SarifResult>,
}

#[derive(Debug, Clone, Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Debug, Clone, Serialize)]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<RuleDescriptor>,
}

/// Every rule, those that found nothing too: a tool tells a rule that ran
/// and found nothing from one it does not know, and closes fixed alerts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor {
    id: &'static str,
    short_description: Text,
    default_configuration: Configuration,
}

#[derive(Debug, Clone, Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Text {
    text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Debug, Clone, Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
    locations: Vec<SarifLocation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [SarifLocation; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<SarifLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
}

#[derive(Debug, Clone, Serialize)]
struct Suppression {
    kind: &'static str,
    justification: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Debug, Clone, Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Debug, Clone, Serialize)]
struct LogicalLocation {
    name: String,
    kind: &'static str,
}

pub(super) fn log(report: &AuditReport, folder: Option<&Path>) -> SarifLog {
    let located = |template: &str, resource: Option<&str>, line: Option<usize>| SarifLocation {
        id: None,
        physical_location: PhysicalLocation {
            artifact_location: ArtifactLocation {
                uri: uri(folder, template),
            },
            region: line.map(|start_line| Region { start_line }),
        },
        logical_locations: resource
            .map(|name| LogicalLocation {
                name: name.to_owned(),
                kind: "resource",
            })
            .into_iter()
            .collect(),
        message: None,
    };
    let result = |finding: &Finding, suppressions: Vec<Suppression>| SarifResult {
        rule_id: finding.rule.as_str(),
        rule_index: Rule::ALL
            .iter()
            .position(|rule| *rule == finding.rule)
            .unwrap_or_default(),
        level: level(finding.severity),
        message: Text {
            text: finding.message.clone(),
        },
        locations: [located(
            &finding.template,
            Some(&finding.resource),
            finding.line,
        )],
        related_locations: finding
            .affects
            .iter()
            .enumerate()
            .map(
                |(
                    id,
                    Location {
                        template,
                        resource,
                        line,
                    },
                )| SarifLocation {
                    id: Some(id),
                    message: Some(Text {
                        text: format!("affected: {resource}"),
                    }),
                    ..located(template, Some(resource), *line)
                },
            )
            .collect(),
        suppressions,
    };
    let notification = |unjudged: &NotJudged| Notification {
        level: "note",
        message: Text {
            text: format!("not judged: {}", unjudged.reason),
        },
        locations: vec![located(
            &unjudged.template,
            unjudged.resource.as_deref(),
            unjudged.line,
        )],
    };
    let results = report
        .findings
        .iter()
        .map(|finding| result(finding, Vec::new()))
        .chain(report.accepted.iter().map(|accepted| {
            result(
                &accepted.finding,
                vec![Suppression {
                    kind: "inSource",
                    justification: accepted.reason.clone(),
                }],
            )
        }))
        .collect();
    SarifLog {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "isokit",
                    version: env!("CARGO_PKG_VERSION"),
                    rules: Rule::ALL
                        .iter()
                        .map(|rule| RuleDescriptor {
                            id: rule.as_str(),
                            short_description: Text {
                                text: rule.summary().to_owned(),
                            },
                            default_configuration: Configuration {
                                level: level(rule.severity()),
                            },
                        })
                        .collect(),
                },
            },
            invocations: [Invocation {
                execution_successful: true,
                tool_execution_notifications: report.not_judged.iter().map(notification).collect(),
            }],
            results,
        }],
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The template's file as a URI reference: relative to where the audit ran
/// when the folder was given that way (how code-scanning tools want paths
/// from the checkout's root), a `file` URI when it was absolute.
fn uri(folder: Option<&Path>, template: &str) -> String {
    let path = match folder {
        Some(folder) => {
            let folder = folder.to_string_lossy().replace('\\', "/");
            relative_to(&format!("{}/", folder.trim_end_matches('/')), template)
        }
        None => template.to_owned(),
    };
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut encoded = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_from_where_the_audit_ran() {
        assert_eq!(uri(None, "parent.yml"), "parent.yml");
        assert_eq!(uri(Some(Path::new("stacks")), "vpc.yml"), "stacks/vpc.yml");
        assert_eq!(
            uri(Some(Path::new("./stacks/")), "nested/a.json"),
            "stacks/nested/a.json"
        );
        assert_eq!(uri(Some(Path::new(".")), "vpc.yml"), "vpc.yml");
        assert_eq!(
            uri(Some(Path::new("infra/set")), "../shared/app.yml"),
            "infra/shared/app.yml"
        );
        assert_eq!(
            uri(Some(Path::new("/tmp/my stacks")), "vpc #1.yml"),
            "file:///tmp/my%20stacks/vpc%20%231.yml"
        );
    }
}
