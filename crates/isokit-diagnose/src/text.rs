//! What AWS's messages say, read with regular expressions compiled once: the
//! service a message is about, whether the network failed, whether a policy
//! denied, and the host it names. Every pattern keys on words AWS keeps
//! across its variants (retry counts, IPs, URLs, regions and the 2024
//! rewording of ResourceInitializationError all vary around them).

use std::sync::LazyLock;

use regex::Regex;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the pattern is a valid regular expression")
}

/// The request never got an answer: timeouts, DNS failures, refused or
/// cancelled connections. ECS adds "check your task network configuration"
/// when it thinks so too, and its 2024 wording says "connection issue".
static NETWORK: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)i/o timeout|deadline exceeded|RequestCanceled|request canceled|send request failed|request send failed|failed to do request|dial tcp|no such host|connection refused|connection reset|handshake timeout|Client\.Timeout|StatusCode: 0,|signal: killed|connection issue between the task and|check your task network configuration",
    )
});
static TIMEOUT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)i/o timeout|deadline exceeded|RequestCanceled|request canceled|handshake timeout|Client\.Timeout|signal: killed",
    )
});
static NO_SUCH_HOST: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)no such host"));
static REFUSED: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)connection refused|connection reset"));

/// IAM names the policy that denied since 2021; older messages and S3's XML
/// answers only say AccessDenied or 403.
static ENDPOINT_POLICY: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)VPC endpoint policy"));
static IDENTITY_POLICY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)identity-based policy|permissions boundary"));
static DENIED: LazyLock<Regex> =
    LazyLock::new(|| regex(r"AccessDenied|is not authorized to perform|\b403\b|Forbidden"));

/// ECR's registry auth token (GetAuthorizationToken on api.ecr). Not
/// "registry auth" alone: every secrets message starts "unable to pull
/// secrets or registry auth".
static ECR_AUTH: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)ecr registry auth|registry auth from Amazon ECR|CannotPullECRContainerError|GetAuthorizationToken|https?://api\.ecr\.",
    )
});
/// Pulling the image: the registry (manifests) and then the layers.
static PULL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)CannotPullContainer|pull image|ref pull|failed to resolve ref|inspect image|pull access denied|error pulling image|ecr:BatchGetImage|ecr:GetDownloadUrlForLayer",
    )
});
/// The registry host ECR serves images from (`<account>.dkr.ecr.<region>...`).
static REGISTRY_HOST: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\.dkr\.ecr\."));
/// Image layers: ECR hands out presigned URLs on its S3 bucket; Docker says
/// "error pulling image configuration", containerd says "failed to copy".
static LAYERS: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)starport-layer-bucket|error pulling image configuration|failed to copy")
});
static LAYER_BUCKET: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)starport-layer-bucket"));
static SECRETS_MANAGER: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)from asm|secrets ?manager|https?://secretsmanager\."));
static SSM: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)from ssm|ssm parameter store|systems manager|ssm:GetParameter|https?://ssm\.")
});
static LOGS: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)logger args|log stream|log group|logging driver|Amazon CloudWatch|logs:Create|https?://logs\.",
    )
});

static IMAGE_NOT_FOUND: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)not found|manifest unknown|repository does not exist|name unknown")
});
static PLATFORM_MISSING: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)descriptor matching platform|descriptor for platform|no matching manifest for|no match for platform",
    )
});
static PLATFORM: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\blinux/(?:amd64|arm64(?:/v8)?|arm(?:/v[5-7])?|386|ppc64le|s390x)\b"));

static EXEC_FORMAT: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)exec format error"));
static OUT_OF_MEMORY: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)OutOfMemory"));
static HEALTH_CHECKS: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)failed container health checks"));
static ESSENTIAL_EXITED: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)essential container in task exited"));

/// A host in a URL, or in Go's "lookup <host>": only whole names, so a name
/// ECS cut short ("https://api.ecr....") is not quoted as if it were one.
static URL_HOST: LazyLock<Regex> =
    LazyLock::new(|| regex(r"https?://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"));
static LOOKUP_HOST: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\blookup ([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"));

pub(crate) fn network_failed(message: &str) -> bool {
    NETWORK.is_match(message)
}

pub(crate) fn timed_out(message: &str) -> bool {
    TIMEOUT.is_match(message)
}

pub(crate) fn no_such_host(message: &str) -> bool {
    NO_SUCH_HOST.is_match(message)
}

pub(crate) fn refused(message: &str) -> bool {
    REFUSED.is_match(message)
}

pub(crate) fn endpoint_policy_denied(message: &str) -> bool {
    ENDPOINT_POLICY.is_match(message)
}

pub(crate) fn identity_policy_denied(message: &str) -> bool {
    IDENTITY_POLICY.is_match(message)
}

pub(crate) fn denied(message: &str) -> bool {
    DENIED.is_match(message)
}

pub(crate) fn about_ecr_auth(message: &str) -> bool {
    ECR_AUTH.is_match(message)
}

pub(crate) fn about_pull(message: &str) -> bool {
    PULL.is_match(message)
}

pub(crate) fn names_registry_host(message: &str) -> bool {
    REGISTRY_HOST.is_match(message)
}

pub(crate) fn about_layers(message: &str) -> bool {
    LAYERS.is_match(message)
}

pub(crate) fn names_layer_bucket(message: &str) -> bool {
    LAYER_BUCKET.is_match(message)
}

pub(crate) fn about_secrets_manager(message: &str) -> bool {
    SECRETS_MANAGER.is_match(message)
}

pub(crate) fn about_ssm(message: &str) -> bool {
    SSM.is_match(message)
}

pub(crate) fn about_logs(message: &str) -> bool {
    LOGS.is_match(message)
}

pub(crate) fn image_not_found(message: &str) -> bool {
    IMAGE_NOT_FOUND.is_match(message)
}

pub(crate) fn platform_missing(message: &str) -> bool {
    PLATFORM_MISSING.is_match(message)
}

/// The platform a message names (`linux/amd64`), as written.
pub(crate) fn platform(message: &str) -> Option<&str> {
    PLATFORM.find(message).map(|found| found.as_str())
}

pub(crate) fn exec_format_error(message: &str) -> bool {
    EXEC_FORMAT.is_match(message)
}

pub(crate) fn out_of_memory(message: &str) -> bool {
    OUT_OF_MEMORY.is_match(message)
}

pub(crate) fn failed_health_checks(message: &str) -> bool {
    HEALTH_CHECKS.is_match(message)
}

pub(crate) fn essential_container_exited(message: &str) -> bool {
    ESSENTIAL_EXITED.is_match(message)
}

/// The host a message failed to reach, exactly as AWS wrote it: the first
/// complete host of a URL, else the host of a failed DNS lookup.
pub(crate) fn host(message: &str) -> Option<&str> {
    whole_host(message, &URL_HOST).or_else(|| whole_host(message, &LOOKUP_HOST))
}

fn whole_host<'a>(message: &'a str, pattern: &Regex) -> Option<&'a str> {
    pattern.captures_iter(message).find_map(|captures| {
        let name = captures.get(1)?;
        // A dot right after the name means ECS cut the name short.
        let cut_short = message[name.end()..].starts_with('.');
        (!cut_short).then_some(name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_quoted_whole_or_not_at_all() {
        assert_eq!(
            host(r#"Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 10.0.0.1:443"#),
            Some("api.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(host("caused by: Post https://api.ecr...."), None);
        assert_eq!(
            host("dial tcp: lookup logs.eu-west-1.amazonaws.com on 10.0.0.2:53: no such host"),
            Some("logs.eu-west-1.amazonaws.com")
        );
        assert_eq!(host("context deadline exceeded"), None);
    }

    #[test]
    fn platforms_are_read_as_written() {
        assert_eq!(
            platform("descriptor matching platform 'linux/amd64'"),
            Some("linux/amd64")
        );
        assert_eq!(
            platform("for platform {linux/arm64/v8}"),
            Some("linux/arm64/v8")
        );
        assert_eq!(platform("0xc0004d52c0 0xc0004d5320"), None);
    }
}
