//! The audit as SARIF: valid against the SARIF 2.1.0 schema (a copy from a
//! published package, see fixtures/sarif-schema-2.1.0.README), each result
//! at the line its resource is written on, accepted warnings suppressed in
//! the source, and what was not judged told as the run's notifications.

use std::fs;
use std::path::Path;

use isokit_stacks::{AuditReport, StackSet, audit_dir};
use serde_json::Value;

/// Integration tests run in the package's folder, so fixture paths given
/// relative to it name the files as a user's relative `--stacks-dir` would.
const FIXTURES: &str = "tests/fixtures/audit";

/// The `language` pattern as published in the 2.1.0 schema, whose stray
/// `]` (OASIS sarif-spec issue 488, corrected in errata 01) a strict regex
/// parser refuses, so the schema would not compile.
const UNBALANCED_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
/// The same, balanced. The audit writes no `language`, so this pattern
/// checks nothing of its output either way.
const LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$";

fn validator() -> jsonschema::Validator {
    let text = fs::read_to_string("tests/fixtures/sarif-schema-2.1.0.json").expect("the schema");
    assert_eq!(text.matches(UNBALANCED_LANGUAGE_PATTERN).count(), 2);
    let schema: Value =
        serde_json::from_str(&text.replace(UNBALANCED_LANGUAGE_PATTERN, LANGUAGE_PATTERN))
            .expect("the schema is JSON");
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
    validator
        .iter_errors(log)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

fn sarif(report: &AuditReport, folder: Option<&Path>) -> Value {
    serde_json::to_value(report.sarif(folder)).expect("SARIF serializes")
}

#[test]
fn the_audit_writes_valid_sarif_2_1_0_located_at_each_resources_line() {
    let validator = validator();
    for name in [
        "isolated-pattern",
        "private-with-nat.yml",
        "unseen.yml",
        "endpoint-ports.yml",
    ] {
        let path = Path::new(FIXTURES).join(name);
        let (report, folder) = if path.is_dir() {
            (audit_dir(&path).expect("fixture folder"), path)
        } else {
            let folder = Path::new(FIXTURES);
            let template = isokit_stacks::Template::parse(
                name,
                &fs::read_to_string(&path).expect("fixture text"),
            )
            .expect("fixture parses");
            (isokit_stacks::audit(&[template]), folder.to_owned())
        };
        let log = sarif(&report, Some(&folder));
        assert_eq!(
            schema_errors(&validator, &log),
            Vec::<String>::new(),
            "{name}: {log:#}"
        );
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), report.findings.len(), "{name}");
        for (result, finding) in results.iter().zip(&report.findings) {
            assert_eq!(result["ruleId"], finding.rule.as_str());
            assert_eq!(
                rules[result["ruleIndex"].as_u64().expect("index") as usize]["id"],
                result["ruleId"]
            );
            assert_eq!(result["level"], finding.severity.as_str());
            assert_eq!(result["message"]["text"], finding.message.as_str());
            let located = &result["locations"][0];
            assert_eq!(
                located["logicalLocations"][0]["name"],
                finding.resource.as_str()
            );
            let uri = located["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .expect("uri");
            assert!(uri.starts_with(FIXTURES), "{uri}");
            let line = located["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .expect("startLine") as usize;
            let text = fs::read_to_string(uri).expect("the uri names the file");
            let written = text.lines().nth(line - 1).expect("the line").trim_start();
            assert!(
                written.starts_with(&finding.resource)
                    || written.starts_with(&format!("\"{}\"", finding.resource)),
                "{name}: {} is not at {uri}:{line} ({written:?})",
                finding.resource
            );
            assert_eq!(
                result["relatedLocations"].as_array().map_or(0, Vec::len),
                finding.affects.len()
            );
        }
        let notifications = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(notifications, report.not_judged.len(), "{name}");
    }
}

#[test]
fn accepted_warnings_are_suppressed_in_the_source_and_every_rule_is_declared() {
    let report = StackSet::bundled().audit().expect("bundled templates");
    let log = sarif(&report, None);
    assert_eq!(schema_errors(&validator(), &log), Vec::<String>::new());
    let run = &log["runs"][0];
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), report.accepted.len());
    assert!(!results.is_empty());
    for (result, accepted) in results.iter().zip(&report.accepted) {
        assert_eq!(result["suppressions"][0]["kind"], "inSource");
        assert_eq!(
            result["suppressions"][0]["justification"],
            accepted.reason.as_str()
        );
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "isolated-vpc.yml"
        );
    }
    let declared: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|rule| rule["id"].as_str())
        .collect();
    assert_eq!(
        declared,
        isokit_stacks::Rule::ALL.map(isokit_stacks::Rule::as_str)
    );
}

/// The schema check can fail: a log without its version, or with a result
/// that has no message, is refused.
#[test]
fn the_schema_check_refuses_what_is_not_sarif() {
    let validator = validator();
    let report = audit_dir(&Path::new(FIXTURES).join("isolated-pattern")).expect("fixture");
    let mut log = sarif(&report, None);
    log.as_object_mut().expect("an object").remove("version");
    assert!(!schema_errors(&validator, &log).is_empty());
    let mut log = sarif(&report, None);
    log["runs"][0]["results"][0]
        .as_object_mut()
        .expect("a result")
        .remove("message");
    assert!(!schema_errors(&validator, &log).is_empty());
}
