//! `isokit completions` and `isokit man`: generated from the argument
//! definitions, so they know every command and flag; checked by the shells'
//! own parsers where the machine has them. Needs neither AWS nor Docker.

use std::process::Command;

use isokit_testkit::Isokit;

fn isokit() -> Isokit {
    Isokit::new(env!("CARGO_BIN_EXE_isokit"))
}

const COMMANDS: [&str; 7] = [
    "push", "deploy", "teardown", "rehearse", "status", "logs", "stacks",
];

#[test]
fn completion_scripts_know_every_command_and_parse_in_their_shell() {
    let bash = isokit().run(["completions", "bash"]);
    bash.assert_success();
    for command in COMMANDS {
        assert!(bash.stdout.contains(command), "bash script lacks {command}");
    }
    assert!(
        bash.stdout.contains("--stack-name") && bash.stdout.contains("--accept-missing-endpoint")
    );
    let script = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(script.path(), &bash.stdout).expect("write the script");
    let checked = Command::new("bash")
        .arg("-n")
        .arg(script.path())
        .output()
        .expect("run bash");
    assert!(
        checked.status.success(),
        "bash -n refuses the script: {}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let zsh = isokit().run(["completions", "zsh"]);
    zsh.assert_success();
    assert!(zsh.stdout.starts_with("#compdef isokit"), "{}", zsh.stdout);
    let fish = isokit().run(["completions", "fish"]);
    fish.assert_success();
    assert!(
        fish.stdout.contains("complete -c isokit"),
        "{}",
        fish.stdout
    );

    let unknown = isokit().run(["completions", "tcsh"]);
    unknown.assert_error("invalid value 'tcsh'");
    assert_eq!(unknown.code, Some(2), "{unknown:#?}");
}

#[test]
fn the_manual_pages_cover_isokit_and_each_command() {
    let top = isokit().run(["man"]);
    top.assert_success();
    assert!(top.stdout.contains(".TH isokit 1"), "{}", top.stdout);
    for command in COMMANDS {
        assert!(
            top.stdout.contains(&format!("isokit\\-{command}(1)")),
            "isokit(1) does not list {command}"
        );
    }
    let deploy = isokit().run(["man", "deploy"]);
    deploy.assert_success();
    assert!(
        deploy.stdout.contains(".TH isokit-deploy 1")
            && deploy.stdout.contains("\\-\\-accept\\-missing\\-endpoint"),
        "{}",
        deploy.stdout
    );
    let unknown = isokit().run(["man", "nope"]);
    unknown
        .assert_error("isokit has no command `nope`: its pages are isokit's own and push, deploy");
    assert_eq!(unknown.code, Some(2), "{unknown:#?}");
}
