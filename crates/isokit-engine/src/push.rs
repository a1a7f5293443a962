//! Pushing an image: per-layer progress, the digest from the final status
//! line, bounded retries of transient failures, and a plain refusal when
//! the registry turns the credentials down or denies their identity the push.

use std::collections::BTreeMap;
use std::time::Duration;

use isokit_ui::{Task, Ui};
use serde::Deserialize;

use crate::credentials::Redactor;
use crate::raw::{self, Answer};
use crate::{Engine, EngineError, RegistryCredentials};

/// What to push, and with which credentials.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The repository, registry host included (`registry/name`).
    pub repository: String,
    pub tag: String,
    pub credentials: RegistryCredentials,
    pub retry: RetryPolicy,
}

/// How often, and how patiently, a push that failed for a passing reason
/// (a reset connection, a timeout, a 5xx from the registry) is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; each further wait doubles it.
    pub first_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts.
    fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The manifest digest the registry now serves for the tag (`sha256:…`).
    pub digest: String,
    /// Layers uploaded by this push.
    pub layers_pushed: usize,
    /// Layers the registry already held (or mounted from another repository).
    pub layers_skipped: usize,
}

/// What became of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerFate {
    Pending,
    Pushed,
    AlreadyThere,
}

/// How one push attempt failed.
enum AttemptError {
    /// The registry refused the credentials: trying again cannot help.
    Refused(String),
    /// The registry took the credentials, but their identity may not push
    /// here: trying again cannot help either.
    Denied(String),
    /// Worth another try.
    Transient(String),
    /// Anything else the daemon reported.
    Failed(String),
    Engine(EngineError),
}

/// One line of the daemon's push stream.
#[derive(Debug, Default, Deserialize)]
struct PushMessage {
    status: Option<String>,
    id: Option<String>,
    #[serde(rename = "progressDetail")]
    progress: Option<Progress>,
    error: Option<String>,
    #[serde(rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    aux: Option<PushResult>,
}

#[derive(Debug, Default, Deserialize)]
struct Progress {
    current: Option<u64>,
    total: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

/// The aux record older daemons send at the end of a push.
#[derive(Debug, Default, Deserialize)]
struct PushResult {
    #[serde(rename = "Digest")]
    digest: Option<String>,
}

impl Engine {
    /// Pushes `repository:tag`, retrying transient failures as `retry`
    /// allows. The registry only moves the tag once every layer is in, so a
    /// failed push never leaves the tag on a partial image.
    pub async fn push(&self, options: &PushOptions, ui: &Ui) -> Result<PushOutcome, EngineError> {
        self.host.check_carries_credentials()?;
        let reference = format!("{}:{}", options.repository, options.tag);
        let redactor = Redactor::new(Some(&options.credentials));
        let mut layers = BTreeMap::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let message = match self.push_once(options, &redactor, &mut layers, ui).await {
                Ok(outcome) => return Ok(outcome),
                Err(AttemptError::Transient(message)) if attempt < options.retry.attempts => {
                    message
                }
                Err(failure) => {
                    return Err(give_up(
                        failure,
                        &reference,
                        attempt,
                        &options.credentials,
                        &redactor,
                    ));
                }
            };
            let delay = options.retry.delay(attempt);
            ui.warn(format!(
                "pushing {reference} failed ({}); trying again in {} s (attempt {} of {})",
                redactor.clean(&message),
                delay.as_secs_f32(),
                attempt + 1,
                options.retry.attempts
            ));
            tokio::time::sleep(delay).await;
        }
    }

    async fn push_once(
        &self,
        options: &PushOptions,
        redactor: &Redactor,
        layers: &mut BTreeMap<String, LayerFate>,
        ui: &Ui,
    ) -> Result<PushOutcome, AttemptError> {
        let reference = format!("{}:{}", options.repository, options.tag);
        let path = format!("/images/{}/push?tag={}", options.repository, options.tag);
        let auth = options.credentials.header_value();
        let mut lines =
            match raw::post_for_lines(&self.host, &path, &[("X-Registry-Auth", &auth)]).await {
                Ok(Answer::Lines(lines)) => lines,
                Ok(Answer::Status { status: 404, .. }) => {
                    return Err(AttemptError::Engine(EngineError::ImageNotFound {
                        reference,
                    }));
                }
                Ok(Answer::Status { message, .. }) => return Err(classify(message)),
                // The daemon out of reach for a moment (restarting, say): worth another try.
                Err(error @ EngineError::Unreachable { .. }) => {
                    return Err(AttemptError::Transient(with_cause(&error)));
                }
                Err(error) => return Err(AttemptError::Engine(error)),
            };

        let mut tasks: BTreeMap<String, Task> = BTreeMap::new();
        let mut digest = None;
        while let Some(line) = lines.next_line().await {
            let line = line.map_err(|error| AttemptError::Transient(error.to_string()))?;
            let message: PushMessage = match serde_json::from_slice(&line) {
                Ok(message) => message,
                Err(error) => {
                    let line = redactor.clean(&String::from_utf8_lossy(&line));
                    tracing::debug!(%error, %line, "unreadable push message");
                    continue;
                }
            };
            if let Some(error) = message
                .error_detail
                .and_then(|detail| detail.message)
                .or(message.error)
            {
                for task in tasks.values() {
                    task.finish("stopped");
                }
                if error.contains("does not exist locally") {
                    return Err(AttemptError::Engine(EngineError::ImageNotFound {
                        reference,
                    }));
                }
                return Err(classify(error));
            }
            if let Some(PushResult {
                digest: Some(found),
            }) = message.aux
            {
                digest = Some(found);
            }
            let Some(status) = message.status else {
                continue;
            };
            match message.id {
                Some(id) if !status.contains(": digest: ") => {
                    let task = tasks
                        .entry(id.clone())
                        .or_insert_with(|| ui.task(format!("layer {id}"), None));
                    let fate = layers.entry(id).or_insert(LayerFate::Pending);
                    let status = redactor.clean(&status);
                    follow_layer(task, fate, &status, message.progress.as_ref());
                }
                _ => match parse_digest_line(&status) {
                    Some(found) => digest = Some(found),
                    None => ui.status(redactor.clean(&status)),
                },
            }
        }

        let digest = digest.ok_or(AttemptError::Engine(EngineError::NoDigest { reference }))?;
        let count = |wanted: LayerFate| layers.values().filter(|&&fate| fate == wanted).count();
        Ok(PushOutcome {
            digest,
            layers_pushed: count(LayerFate::Pushed),
            layers_skipped: count(LayerFate::AlreadyThere),
        })
    }
}

/// Moves a layer's bar along, and records what became of the layer. A layer
/// pushed by an earlier attempt stays counted as pushed.
fn follow_layer(task: &Task, fate: &mut LayerFate, status: &str, progress: Option<&Progress>) {
    match status {
        "Pushed" => {
            *fate = LayerFate::Pushed;
            task.finish("pushed");
        }
        "Layer already exists" => {
            if *fate == LayerFate::Pending {
                *fate = LayerFate::AlreadyThere;
            }
            task.finish("already in the registry");
        }
        mounted if mounted.starts_with("Mounted from") => {
            if *fate == LayerFate::Pending {
                *fate = LayerFate::AlreadyThere;
            }
            task.finish(mounted.to_lowercase());
        }
        other => {
            if let Some(Progress {
                current: Some(current),
                total: Some(total),
            }) = progress
                && *total > 0
            {
                task.set_total(*total);
                task.set_position(*current);
            }
            task.set_message(other.to_lowercase());
        }
    }
}

/// Reads the digest from `<tag>: digest: sha256:… size: N`, the line every
/// daemon ends a successful push with. (The size there is the manifest's,
/// a few hundred bytes, not the image's.)
fn parse_digest_line(status: &str) -> Option<String> {
    let (_, rest) = status.split_once(": digest: ")?;
    let (digest, size) = rest.split_once(" size: ")?;
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() != 64 || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return None;
    }
    size.trim().parse::<u64>().ok()?;
    Some(digest.to_string())
}

/// `error`, followed by what caused it.
fn with_cause(error: &EngineError) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error} ({cause})"),
        None => error.to_string(),
    }
}

/// The error that ends a push after `attempts` attempts, its message
/// cleared of the credentials should the registry or daemon echo them.
fn give_up(
    failure: AttemptError,
    reference: &str,
    attempts: u32,
    credentials: &RegistryCredentials,
    redactor: &Redactor,
) -> EngineError {
    match failure {
        AttemptError::Engine(error) => error,
        AttemptError::Refused(message) => EngineError::RegistryRefused {
            registry: credentials.server_address.clone(),
            message: redactor.clean(&message),
        },
        AttemptError::Denied(message) => {
            let message = redactor.clean(&message);
            EngineError::AccessDenied {
                reference: reference.to_string(),
                action: denied_action(&message),
                message,
            }
        }
        AttemptError::Transient(message) | AttemptError::Failed(message) => {
            EngineError::PushFailed {
                reference: reference.to_string(),
                attempts,
                message: redactor.clean(&message),
            }
        }
    }
}

/// The action an IAM denial names: `ecr:PutImage` in `… is not authorized
/// to perform: ecr:PutImage on resource: …`.
fn denied_action(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("not authorized to perform: ")?;
    let action = rest
        .split_whitespace()
        .next()?
        .trim_end_matches([',', '.', ';']);
    let (service, name) = action.split_once(':')?;
    let word = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    };
    (word(service) && word(name)).then(|| action.to_string())
}

/// Sorts a failure message into refused, denied, transient or other.
fn classify(message: String) -> AttemptError {
    let lower = message.to_lowercase();
    // The token itself is bad: missing, wrong, or expired (ECR says the last
    // with a `denied:` of its own).
    const REFUSED: [&str; 6] = [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "incorrect username or password",
        "authorization token has expired",
        "401 unauthorized",
    ];
    // The token is good but its identity may not push here: a registry's
    // plain `denied:` or 403.
    const DENIED: [&str; 3] = ["denied:", "access denied", "403 forbidden"];
    const TRANSIENT: [&str; 17] = [
        "connection reset",
        "connection refused",
        "broken pipe",
        "timeout",
        "timed out",
        "eof",
        "received unexpected http status: 5",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "too many requests",
        "toomanyrequests",
        "no route to host",
    ];
    // An IAM denial (`denied: User: arn:… is not authorized to perform:
    // ecr:…`) comes first, as its resource ARN may hold any of the signs
    // below (a repository called `unauthorized-app`).
    if lower.contains("not authorized to perform") {
        AttemptError::Denied(message)
    } else if REFUSED.iter().any(|sign| lower.contains(sign)) {
        AttemptError::Refused(message)
    } else if DENIED.iter().any(|sign| lower.contains(sign)) {
        AttemptError::Denied(message)
    } else if TRANSIENT.iter().any(|sign| lower.contains(sign)) {
        AttemptError::Transient(message)
    } else {
        AttemptError::Failed(message)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_digest_comes_from_the_final_status_line() {
        let digest = format!("sha256:{}", "ab12".repeat(16));
        assert_eq!(
            parse_digest_line(&format!("v1: digest: {digest} size: 528")),
            Some(digest.clone())
        );
        assert_eq!(
            parse_digest_line("latest: digest: sha256:short size: 1"),
            None
        );
        assert_eq!(parse_digest_line("Pushed"), None);
        assert_eq!(
            parse_digest_line(&format!("v1: digest: {digest} size: lots")),
            None
        );
    }

    #[test]
    fn failures_sort_into_refused_denied_transient_and_other() {
        let kind = |message: &str| match classify(message.to_string()) {
            AttemptError::Refused(_) => "refused",
            AttemptError::Denied(_) => "denied",
            AttemptError::Transient(_) => "transient",
            AttemptError::Failed(_) => "failed",
            AttemptError::Engine(_) => "engine",
        };
        assert_eq!(kind("unauthorized: authentication required"), "refused");
        assert_eq!(kind("no basic auth credentials"), "refused");
        assert_eq!(
            kind("denied: Your authorization token has expired. Reauthenticate and try again."),
            "refused"
        );
        assert_eq!(
            kind(&format!(
                "denied: User: {ROLE} is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:eu-west-1:123456789012:repository/unauthorized-app because no identity-based policy allows the ecr:InitiateLayerUpload action"
            )),
            "denied"
        );
        assert_eq!(
            kind("denied: requested access to the resource is denied"),
            "denied"
        );
        assert_eq!(
            kind(
                "Get \"https://r/v2/\": read tcp 1.2.3.4:5->6.7.8.9:443: read: connection reset by peer"
            ),
            "transient"
        );
        assert_eq!(
            kind("received unexpected HTTP status: 502 Bad Gateway"),
            "transient"
        );
        assert_eq!(kind("net/http: TLS handshake timeout"), "transient");
        assert_eq!(
            kind("dial tcp 127.0.0.1:5000: connect: connection refused"),
            "transient"
        );
        assert_eq!(kind("manifest invalid: manifest invalid"), "failed");
    }

    const ROLE: &str = "arn:aws:sts::123456789012:assumed-role/ci-deployer/build-42";
    const PASSWORD: &str = "eyJwYXlsb2FkIjoic2VjcmV0LXRva2VuIn0";

    fn credentials() -> RegistryCredentials {
        RegistryCredentials::new(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "AWS",
            PASSWORD.to_string().into(),
        )
    }

    /// The error a single failure with this message ends the push with.
    fn ended_by(message: &str) -> EngineError {
        give_up(
            classify(message.to_string()),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
            1,
            &credentials(),
            &Redactor::new(Some(&credentials())),
        )
    }

    #[test]
    fn an_iam_denial_names_the_action_and_what_to_grant() {
        let error = ended_by(&format!(
            "denied: User: {ROLE} is not authorized to perform: ecr:InitiateLayerUpload on \
             resource: arn:aws:ecr:eu-west-1:123456789012:repository/app because no \
             identity-based policy allows the ecr:InitiateLayerUpload action"
        ));
        let EngineError::AccessDenied { action, .. } = &error else {
            panic!("not an access denial: {error:?}");
        };
        assert_eq!(action.as_deref(), Some("ecr:InitiateLayerUpload"));
        let shown = error.to_string();
        assert!(
            shown.starts_with(
                "the registry denied pushing 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1: \
                 denied: User: arn:aws:sts::123456789012:assumed-role/ci-deployer/build-42 is not \
                 authorized"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("permission for ecr:InitiateLayerUpload on the repository")
                && shown.contains("repository policy"),
            "{shown}"
        );
        assert!(!shown.contains("refused the token"), "{shown}");

        // An explicit deny reads the same way.
        let explicit = ended_by(&format!(
            "denied: User: {ROLE} is not authorized to perform: ecr:PutImage on resource: \
             arn:aws:ecr:eu-west-1:123456789012:repository/app with an explicit deny in a \
             resource-based policy"
        ));
        assert!(
            matches!(&explicit, EngineError::AccessDenied { action: Some(action), .. } if action == "ecr:PutImage"),
            "{explicit:?}"
        );
    }

    #[test]
    fn a_denial_without_an_action_says_which_permissions_a_push_needs() {
        let error = ended_by("denied: requested access to the resource is denied");
        assert!(
            matches!(error, EngineError::AccessDenied { action: None, .. }),
            "{error:?}"
        );
        let shown = error.to_string();
        assert!(
            shown.contains("ecr:InitiateLayerUpload") && shown.contains("ecr:PutImage"),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_or_expired_token_is_a_refused_token() {
        for message in [
            "unauthorized: authentication required",
            "denied: Your authorization token has expired. Reauthenticate and try again.",
            "Get \"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/\": no basic auth credentials",
        ] {
            let error = ended_by(message);
            assert!(
                matches!(error, EngineError::RegistryRefused { .. }),
                "{message}: {error:?}"
            );
            assert!(
                error.to_string().starts_with(
                    "the registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com refused the token: "
                ),
                "{error}"
            );
        }
    }

    #[test]
    fn no_ending_error_shows_the_token_in_any_form() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{PASSWORD}"));
        let header = credentials().header_value();
        for secret in [PASSWORD, token.as_str(), header.expose_secret()] {
            for message in [
                format!("unauthorized: bad credentials {secret}"),
                format!(
                    "denied: User: {ROLE} is not authorized to perform: {secret} on resource: x"
                ),
                format!("denied: {secret}"),
                format!("connection reset by peer {secret}"),
                format!("manifest invalid {secret}"),
            ] {
                let error = ended_by(&message);
                let shown = format!("{error} {error:?}");
                assert!(!shown.contains(secret), "the token leaked: {shown}");
                assert!(shown.contains("[redacted]"), "{shown}");
            }
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=5)
            .map(|failures| policy.delay(failures).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 8]);
    }

    #[test]
    fn layer_fates_follow_the_statuses() {
        let ui = Ui::quiet();
        let task = ui.task("layer", None);
        let mut fate = LayerFate::Pending;
        follow_layer(&task, &mut fate, "Preparing", None);
        follow_layer(
            &task,
            &mut fate,
            "Pushing",
            Some(&Progress {
                current: Some(10),
                total: Some(20),
            }),
        );
        assert_eq!(fate, LayerFate::Pending);
        follow_layer(&task, &mut fate, "Pushed", None);
        assert_eq!(fate, LayerFate::Pushed);
        // Pushed by an earlier attempt, found by the retry: still pushed.
        follow_layer(&task, &mut fate, "Layer already exists", None);
        assert_eq!(fate, LayerFate::Pushed);
        let mut other = LayerFate::Pending;
        follow_layer(&task, &mut other, "Mounted from library/base", None);
        assert_eq!(other, LayerFate::AlreadyThere);
    }
}
