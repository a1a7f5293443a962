//! No log, at any level and however it is asked for, shows an AWS secret:
//! the secret key, the session token, the ECR token (as ECR hands it out,
//! its password, the decoded `AWS:password`), or the `X-Registry-Auth`
//! header that carries it to the engine.
//!
//! The real binary runs against the local AWS with canary credentials
//! (moto takes any key unless it enforces IAM), through pushes that succeed
//! and pushes that fail, with every log filter a user might try. Its stdout
//! and stderr are searched for each secret as it is, and inside every word
//! that decodes as base64 or base64url, which is how the token and the
//! header travel.

use std::path::{Path, PathBuf};
use std::process::Command;

use isokit_testkit::{
    Isokit, LocalAws, Run, StrictAws, building, context_repo_tag, path_text, remove_local_images,
    unique_name,
};

const ISOKIT: &str = env!("CARGO_BIN_EXE_isokit");

/// The filter of a user trying to see everything: trace opened by name for
/// every crate that handles the credentials.
const OPEN_EVERYTHING: &str = "trace,aws_smithy_runtime=trace,aws_smithy_runtime_api=trace,\
    aws_smithy_http_client=trace,aws_sigv4=trace,aws_config=trace,aws_sdk_ecr=trace,\
    hyper=trace,hyper_util=trace,bollard=trace,rustls=trace,h2=trace";

/// Distinctive AWS credentials, made for one test.
struct Canaries {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

impl Canaries {
    fn new() -> Canaries {
        let unique = unique_name("c").replace('-', "");
        Canaries {
            access_key_id: format!("AKIAISOKITCANARY{unique}"),
            secret_access_key: format!("isokitCanarySecretAccessKey{unique}"),
            session_token: format!("isokitCanarySessionToken{unique}"),
        }
    }

    /// `isokit` with these credentials and nothing else to find others with.
    fn apply(&self, isokit: Isokit) -> Isokit {
        isokit
            .env("AWS_ACCESS_KEY_ID", self.access_key_id.clone())
            .env("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone())
            .env("AWS_SESSION_TOKEN", self.session_token.clone())
            .env_remove("AWS_PROFILE")
    }
}

/// One test's runs: the secrets to look for, and what to clean up.
struct Watch {
    local: LocalAws,
    secrets: Vec<(&'static str, String)>,
    repositories: Vec<String>,
}

impl Watch {
    fn new(canaries: &Canaries) -> Watch {
        let local = LocalAws::require();
        let password = local.token_password();
        let secrets = vec![
            ("the AWS access key ID", canaries.access_key_id.clone()),
            (
                "the AWS secret access key",
                canaries.secret_access_key.clone(),
            ),
            ("the AWS session token", canaries.session_token.clone()),
            ("the ECR token", local.token()),
            ("the decoded ECR token", format!("AWS:{password}")),
            ("the ECR token's password", password),
        ];
        Watch {
            local,
            secrets,
            repositories: Vec::new(),
        }
    }

    fn repository(&mut self, what: &str) -> String {
        let name = unique_name(&format!("isokit-secrets-{what}"));
        self.repositories.push(name.clone());
        name
    }

    /// Runs `isokit push` with `args`, and checks that no secret shows in
    /// what it printed.
    fn push(&self, isokit: &Isokit, args: &[&str]) -> Run {
        let build = building();
        let run = isokit.run(std::iter::once("push").chain(args.iter().copied()));
        drop(build);
        self.assert_no_secret(&run);
        run
    }

    fn assert_no_secret(&self, run: &Run) {
        let mut leaks = Vec::new();
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            for (name, secret) in &self.secrets {
                let secret = secret.as_str();
                if let Some(line) = text.lines().find(|line| line.contains(secret)) {
                    leaks.push(format!("{name} in {stream}: {line}"));
                }
                for word in base64_words(text) {
                    let decoded = decode_base64(word);
                    if decoded.contains(secret) {
                        leaks.push(format!(
                            "{name}, base64-encoded, in {stream}: {word} decodes to {decoded:?}"
                        ));
                    }
                }
            }
        }
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for repository in &self.repositories {
            let image = format!("{}/{repository}", self.local.registry());
            remove_local_images(&[&image]);
            let _ = Command::new("aws")
                .args(["ecr", "delete-repository", "--force", "--repository-name"])
                .arg(repository)
                .output();
        }
    }
}

/// The words of `text` that could be base64 or base64url: runs of their
/// characters long enough to hide a secret.
fn base64_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_=".contains(c)))
        .map(|word| word.trim_end_matches('='))
        .filter(|word| word.len() >= 16)
}

/// `word` decoded as base64 or base64url (both alphabets at once), from
/// each of the four offsets a secret inside a longer encoding could start
/// at; characters of neither alphabet end it.
fn decode_base64(word: &str) -> String {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut decoded = String::new();
    for offset in 0..4.min(word.len()) {
        let mut bytes = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0);
        for value in word.bytes().skip(offset).map_while(sextet) {
            buffer = (buffer << 6) | u32::from(value);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        decoded.push_str(&String::from_utf8_lossy(&bytes));
        decoded.push('\n');
    }
    decoded
}

/// A context of its own, so that its layer is really pushed.
fn fresh_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary context");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /app/\n",
    )
    .expect("write Dockerfile");
    std::fs::write(dir.path().join("run-id"), unique_name("run")).expect("write run-id");
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/push")
        .join(name)
}

/// A push that gets the ECR token, creates the repository and sends the
/// token to the engine, under each way of asking for every log line.
#[test]
fn no_log_of_a_push_shows_a_secret() {
    let canaries = Canaries::new();
    let mut watch = Watch::new(&canaries);
    let repository = watch.repository("push");
    let context = fresh_context();
    let ways: [(&str, Option<&str>, &[&str]); 3] = [
        ("ISOKIT_LOG=trace", Some("trace"), &[]),
        ("-vv", None, &["-vv"]),
        ("every crate at trace", Some(OPEN_EVERYTHING), &["-v"]),
    ];
    for (index, (way, filter, flags)) in ways.into_iter().enumerate() {
        let mut isokit = canaries.apply(Isokit::new(ISOKIT));
        if let Some(filter) = filter {
            isokit = isokit.env("ISOKIT_LOG", filter);
        }
        let tag = format!("way-{index}");
        let args = [
            &context_repo_tag(context.path(), &repository, &tag)[..],
            flags,
        ]
        .concat();
        let run = watch.push(&isokit, &args);
        run.assert_success();
        assert!(
            run.stderr.contains("DEBUG"),
            "{way}: the logs were asked for and must be there: {run:#?}"
        );
        // With -v the targets show: what isokit lets through from others
        // was there, and searched.
        assert!(
            flags.is_empty() || run.stderr.contains("hyper_util"),
            "{way}: no line from hyper_util: {run:#?}"
        );
    }
}

/// A push that fails after the token was fetched and the repository made:
/// the build fails, and the repository is removed again.
#[test]
fn no_log_of_a_failing_push_shows_a_secret() {
    let canaries = Canaries::new();
    let mut watch = Watch::new(&canaries);
    let repository = watch.repository("failing");
    let isokit = canaries
        .apply(Isokit::new(ISOKIT))
        .env("ISOKIT_LOG", OPEN_EVERYTHING);
    let run = watch.push(
        &isokit,
        &[
            "--context",
            path_text(&fixture("failing-step")),
            "--repo",
            &repository,
            "-v",
        ],
    );
    run.assert_error("the build failed at [1/1] RUN echo hello");
    assert!(
        run.stderr.contains("removed ECR repository"),
        "the failure came after the repository was made: {run:#?}"
    );
}

/// AWS turning the canary credentials down: the signed request carried the
/// session token, and the SDK logs the refusal.
#[test]
fn no_log_of_refused_aws_credentials_shows_a_secret() {
    let canaries = Canaries::new();
    let mut watch = Watch::new(&canaries);
    let strict = StrictAws::start(&watch.local);
    let repository = watch.repository("refused");
    // The strict moto's endpoint, the canaries' keys.
    let isokit = canaries
        .apply(strict.as_nobody(Isokit::new(ISOKIT)))
        .env("ISOKIT_LOG", OPEN_EVERYTHING);
    let context = fixture("hello");
    for flags in [&["-v"][..], &["-vv"]] {
        let args = [
            &["--context", path_text(&context), "--repo", &repository][..],
            flags,
        ]
        .concat();
        let run = watch.push(&isokit, &args);
        run.assert_error("AWS does not recognise the credentials");
        assert!(
            run.stderr.contains("hyper_util"),
            "the logs were there, and searched: {run:#?}"
        );
    }
}

#[test]
fn base64_words_are_decoded_at_every_offset() {
    // base64url of {"password":"hunter2-isokit"}, inside a sentence.
    let text = "header eyJwYXNzd29yZCI6Imh1bnRlcjItaXNva2l0In0= sent";
    let word = base64_words(text).next().expect("one word");
    assert!(decode_base64(word).contains("hunter2-isokit"));
    // The same, a secret starting mid-group in a longer encoding.
    let shifted = "xeyJwYXNzd29yZCI6Imh1bnRlcjItaXNva2l0In0";
    assert!(decode_base64(shifted).contains("hunter2-isokit"));
}
