//! Test support shared by the integration tests: finding the local AWS that
//! `scripts/local-aws` runs, and naming things so that tests running at the
//! same time never collide. Never a dependency of the product.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const HOW_TO_START: &str = "the local AWS is not in this environment: start it with \
    `scripts/local-aws up && eval \"$(scripts/local-aws env)\"`, or run the whole suite with `scripts/test`";

/// The local AWS as `scripts/local-aws env` describes it.
#[derive(Debug, Clone)]
pub struct LocalAws {
    pub endpoint_url: String,
    pub ca_bundle: PathBuf,
    pub region: String,
    pub account: String,
    /// The folder `scripts/local-aws` keeps its state in.
    pub state_dir: PathBuf,
}

impl LocalAws {
    /// The local AWS this test runs against. Panics with instructions when
    /// the environment does not describe one: such a test must fail, never
    /// pass silently.
    pub fn require() -> LocalAws {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("{HOW_TO_START} ({name} is not set)"))
        };
        let local = LocalAws {
            endpoint_url: var("AWS_ENDPOINT_URL"),
            ca_bundle: PathBuf::from(var("AWS_CA_BUNDLE")),
            region: var("AWS_REGION"),
            account: var("ISOKIT_LOCAL_AWS_ACCOUNT"),
            state_dir: PathBuf::from(var("ISOKIT_LOCAL_AWS")),
        };
        assert!(
            local.ca_bundle.is_file(),
            "{HOW_TO_START} (no CA bundle at {})",
            local.ca_bundle.display()
        );
        local
    }

    /// The host name the local registry answers as, like ECR's.
    pub fn registry(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com", self.account, self.region)
    }

    /// The registry password the emulated ECR token carries.
    pub fn token_password(&self) -> String {
        format!("{}-auth-token", self.account)
    }
}

/// A name no other test, in this process or another, is using right now:
/// `<prefix>-<pid>-<counter><time>`, lower-case so that it is a valid
/// repository, container or network name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{count}{:x}",
        std::process::id(),
        nanos % 0x1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_stay_lower_case() {
        let a = unique_name("it");
        let b = unique_name("it");
        assert_ne!(a, b);
        assert_eq!(a, a.to_ascii_lowercase());
        assert!(a.starts_with("it-"));
    }
}
