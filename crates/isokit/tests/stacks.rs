//! `isokit stacks`: the bundled templates written out and audited, through
//! the binary. No AWS needed.

use isokit_testkit::Isokit;

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

    let run = isokit.run([
        std::ffi::OsStr::new("stacks"),
        "export".as_ref(),
        target.as_os_str(),
    ]);
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
    let again = isokit.run([
        std::ffi::OsStr::new("stacks"),
        "export".as_ref(),
        target.as_os_str(),
    ]);
    again.assert_error("parent.yml");
    let forced = isokit.run([
        std::ffi::OsStr::new("stacks"),
        "export".as_ref(),
        target.as_os_str(),
        "--force".as_ref(),
    ]);
    forced.assert_success();
}

#[test]
fn the_bundled_templates_audit_clean_and_a_broken_copy_does_not() {
    let isokit = isokit();
    let clean = isokit.run(["stacks", "audit", "--output", "json"]);
    clean.assert_success();
    assert_eq!(clean.json()["isolated"], true);

    let dir = tempfile::tempdir().expect("temp dir");
    isokit
        .run([
            std::ffi::OsStr::new("stacks"),
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

    let run = isokit.run([
        std::ffi::OsStr::new("stacks"),
        "audit".as_ref(),
        "--stacks-dir".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_eq!(run.code, Some(3), "findings exit 3: {run:#?}");
    assert!(run.stdout.contains("Door"), "{run:#?}");
}

#[test]
fn a_stacks_dir_missing_a_template_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = isokit().run([
        std::ffi::OsStr::new("stacks"),
        "audit".as_ref(),
        "--stacks-dir".as_ref(),
        dir.path().as_os_str(),
    ]);
    run.assert_error("parent.yml");
    run.assert_error("isokit stacks export");
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
