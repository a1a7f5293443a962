//! cfn-lint and checkov over `stacks/`, through `scripts/lint-stacks` (the
//! pinned versions). A missing linter fails the test with the way to install
//! it; any error, warning or failed check fails it with the linter's report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lint_stacks(tool: &str, dir: Option<&Path>) -> Output {
    let mut command = Command::new(repo_root().join("scripts/lint-stacks"));
    command.args(["--no-install", tool]);
    if let Some(dir) = dir {
        command.arg("--").arg(dir);
    }
    command.output().expect("scripts/lint-stacks runs")
}

fn report(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Lints `dir` (the bundled `stacks/` when `None`) and returns whether it
/// was clean, failing the test outright when the linter is not installed.
fn clean(tool: &str, dir: Option<&Path>) -> (bool, String) {
    let output = lint_stacks(tool, dir);
    let text = report(&output);
    match output.status.code() {
        Some(0) => (true, text),
        Some(1) => (false, text),
        Some(3) => panic!("{tool} is missing, so stacks/ cannot be linted:\n{text}"),
        other => panic!("scripts/lint-stacks {tool} ended with {other:?}:\n{text}"),
    }
}

fn bad_template_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

#[test]
fn cfn_lint_reports_no_error_and_no_warning() {
    let (ok, text) = clean("cfn-lint", None);
    assert!(ok, "cfn-lint found problems in stacks/:\n{text}");
}

#[test]
fn cfn_lint_would_catch_a_bad_template() {
    let (ok, text) = clean("cfn-lint", Some(&bad_template_dir()));
    assert!(
        !ok && text.contains("E3002"),
        "cfn-lint passed a template with an unknown property:\n{text}"
    );
}

#[test]
fn checkov_reports_no_failed_check() {
    let (ok, text) = clean("checkov", None);
    assert!(ok, "checkov found problems in stacks/:\n{text}");
}

#[test]
fn checkov_would_catch_a_bad_template() {
    let (ok, text) = clean("checkov", Some(&bad_template_dir()));
    assert!(
        !ok && text.contains("CKV_AWS_24"),
        "checkov passed SSH open to the world:\n{text}"
    );
}
