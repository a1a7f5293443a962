//! `isokit stacks`: the bundled templates written out and audited, through
//! the binary. No AWS needed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use isokit_testkit::{Isokit, Run};

fn isokit() -> Isokit {
    Isokit::new(env!("CARGO_BIN_EXE_isokit"))
}

#[test]
fn export_writes_the_four_templates_and_refuses_to_overwrite_them() {
    let isokit = isokit();
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("stacks");
    let run = isokit.run(["stacks", "export"]);
    assert!(!run.success(), "a folder is required");

    let run = isokit.run([OsStr::new("stacks"), "export".as_ref(), target.as_os_str()]);
    run.assert_success();
    for file in [
        "parent.yml",
        "isolated-vpc.yml",
        "cluster.yml",
        "private-service.yml",
    ] {
        assert!(target.join(file).is_file(), "{file} missing");
        assert!(run.stdout.contains(file), "{file} not listed: {run:#?}");
    }
    let again = isokit.run([OsStr::new("stacks"), "export".as_ref(), target.as_os_str()]);
    again.assert_error("parent.yml");
    let forced = isokit.run([
        OsStr::new("stacks"),
        "export".as_ref(),
        target.as_os_str(),
        "--force".as_ref(),
    ]);
    forced.assert_success();
}

/// A fixture the library's audit tests use: a template set shaped like a
/// public isolated-VPC pattern.
fn pattern_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../isokit-stacks/tests/fixtures/audit")
        .join(name)
}

fn audit(isokit: &Isokit, dir: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        "stacks".as_ref(),
        "audit".as_ref(),
        "--stacks-dir".as_ref(),
        dir.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    isokit.run(args)
}

#[test]
fn the_bundled_templates_audit_clean_and_a_broken_copy_does_not() {
    let isokit = isokit();
    let clean = isokit.run(["stacks", "audit", "--strict", "--output", "json"]);
    clean.assert_success();
    let json = clean.json();
    assert_eq!(json["isolated"], true);
    assert_eq!(json["passed"], true);
    assert_eq!(json["findings"], serde_json::json!([]));
    assert_eq!(json["not_judged"], serde_json::json!([]));
    // The endpoints whose services take no policy say so in the template.
    assert_eq!(
        json["accepted"].as_array().map(Vec::len),
        Some(4),
        "{json:#}"
    );
    let text = isokit.run(["stacks", "audit"]);
    text.assert_success();
    assert!(
        text.stdout.starts_with(
            "the bundled templates: passes, no way out of the VPC found (0 errors, 0 warnings, \
             4 accepted in the templates)"
        ),
        "{text:#?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    isokit
        .run([
            OsStr::new("stacks"),
            "export".as_ref(),
            dir.path().as_os_str(),
        ])
        .assert_success();
    let vpc = dir.path().join("isolated-vpc.yml");
    let text = std::fs::read_to_string(&vpc).expect("read template");
    let broken = text.replace(
        "Resources:\n",
        "Resources:\n  Door:\n    Type: AWS::EC2::InternetGateway\n",
    );
    assert_ne!(broken, text, "the template has a Resources section");
    std::fs::write(&vpc, broken).expect("write template");
    let line = text[..text.find("Resources:\n").expect("Resources")]
        .lines()
        .count()
        + 2;

    let run = audit(&isokit, dir.path(), &[]);
    assert_eq!(run.code, Some(3), "findings exit 3: {run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "error    isolated-vpc.yml:{line}: Door: creates an internet gateway"
        )),
        "{run:#?}"
    );
}

#[test]
fn a_pattern_set_brought_by_a_user_is_judged_in_text_json_and_sarif() {
    let isokit = isokit();
    let dir = pattern_fixture("isolated-pattern");
    let text = audit(&isokit, &dir, &[]);
    assert_eq!(text.code, Some(3), "{text:#?}");
    assert!(
        text.stdout
            .contains(": FAILS (2 errors, 9 warnings, 1 not judged)"),
        "{text:#?}"
    );
    // The all-traffic security group rule: one finding, nine endpoints.
    assert_eq!(
        text.stdout.matches("[endpoint-ports]").count(),
        1,
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "error    network/vpc.json:77: EndpointSecurityGroup: admits all protocols and ports"
        ) && text
            .stdout
            .contains("affects 9 resources: EcrApiEndpoint, EcrDkrEndpoint,"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("not judged (")
            && text
                .stdout
                .contains("parent.yaml:27: Dashboards: nests a template from the Serverless"),
        "{}",
        text.stdout
    );

    let json = audit(&isokit, &dir, &["--output", "json"]);
    assert_eq!(json.code, Some(3));
    let json = json.json();
    assert_eq!(json["isolated"], false);
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 11);
    let group = &findings[findings
        .iter()
        .position(|f| f["rule"] == "endpoint-ports")
        .expect("an endpoint-ports finding")];
    assert_eq!(group["severity"], "error");
    assert_eq!(group["template"], "network/vpc.json");
    assert_eq!(group["line"], 77);
    assert_eq!(group["affects"].as_array().map(Vec::len), Some(9));
    assert_eq!(json["not_judged"][0]["resource"], "Dashboards");

    let sarif = audit(&isokit, &dir, &["--output", "sarif"]);
    assert_eq!(sarif.code, Some(3));
    let sarif = sarif.json();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 11);
    let located = |results: &[serde_json::Value]| {
        results
            .iter()
            .find(|r| r["ruleId"] == "endpoint-ports")
            .expect("endpoint-ports")["locations"][0]["physicalLocation"]
            .clone()
    };
    // Given an absolute folder, a file URI to the template itself.
    let absolute = located(results);
    let uri = absolute["artifactLocation"]["uri"].as_str().expect("uri");
    let path = uri.strip_prefix("file://").expect("a file URI");
    assert!(
        path.ends_with("/isokit-stacks/tests/fixtures/audit/isolated-pattern/network/vpc.json")
            && Path::new(path).is_file(),
        "{uri}"
    );
    assert_eq!(absolute["region"]["startLine"], 77);
    // Given a relative one, as a checkout's CI gives it, the path from there.
    let relative = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(pattern_fixture(""))
        .run([
            "stacks",
            "audit",
            "--stacks-dir",
            "isolated-pattern",
            "--output",
            "sarif",
        ]);
    let results = relative.json()["runs"][0]["results"].clone();
    let relative = located(results.as_array().expect("results"));
    assert_eq!(
        relative["artifactLocation"]["uri"],
        "isolated-pattern/network/vpc.json"
    );
    assert_eq!(relative["region"]["startLine"], 77);
}

#[test]
fn warnings_fail_only_a_strict_audit() {
    let isokit = isokit();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("logs.json"),
        "{\"Resources\": {\"Logs\": {\"Type\": \"AWS::EC2::VPCEndpoint\", \"Properties\": \
         {\"ServiceName\": \"com.amazonaws.eu-west-1.logs\"}}}}",
    )
    .expect("write template");
    let lenient = audit(&isokit, dir.path(), &[]);
    lenient.assert_success();
    assert!(
        lenient
            .stdout
            .contains(": passes, no way out of the VPC found (0 errors, 1 warning)")
            && lenient
                .stdout
                .contains("warning  logs.json:1: Logs: has no PolicyDocument"),
        "{lenient:#?}"
    );
    let strict = audit(&isokit, dir.path(), &["--strict"]);
    assert_eq!(strict.code, Some(3), "{strict:#?}");
    assert!(
        strict.stdout.contains(
            "FAILS --strict on its warnings, no way out of the VPC found (0 errors, 1 warning)"
        ),
        "{strict:#?}"
    );
    let json = audit(&isokit, dir.path(), &["--strict", "--output", "json"]).json();
    assert_eq!(
        (&json["isolated"], &json["passed"]),
        (&true.into(), &false.into())
    );
}

#[test]
fn sarif_is_for_the_audit_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("stacks");
    let run = isokit().run([
        OsStr::new("stacks"),
        "export".as_ref(),
        target.as_os_str(),
        "--output".as_ref(),
        "sarif".as_ref(),
    ]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("isokit stacks audit"), "{run:#?}");
    assert!(!target.exists(), "nothing was written");
}
#[test]
fn help_teaches_the_commands() {
    let run = isokit().run(["--help"]);
    run.assert_success();
    for command in [
        "push",
        "deploy",
        "rehearse",
        "teardown",
        "stacks",
        "AWS_CA_BUNDLE",
        "DOCKER_HOST",
    ] {
        assert!(
            run.stdout.contains(command),
            "--help does not mention {command}"
        );
    }
}
