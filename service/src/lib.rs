//! isokit-service: the sample workload that checks, from inside the task, every endpoint it needs and that the internet is unreachable.
//!
//! Each round resolves every endpoint's host name, connects to it on 443
//! and verifies its certificate, and tries to connect to targets that must
//! stay unreachable; the result is an [`isokit_report::Report`], served on
//! `/checks`, summarised on `/health` and logged as one JSON line on stdout.
//! The same binary also runs as a stand-in endpoint ([`standin`]) so that a
//! rehearsal can run with no AWS at all.
//!
//! Settings come from the environment; see [`Config::from_lookup`] and
//! the variables it reads: `ISOKIT_REGION` (or `AWS_REGION`,
//! `AWS_DEFAULT_REGION`), `ISOKIT_ACCOUNT`, `ISOKIT_ENDPOINTS`,
//! `ISOKIT_EGRESS_PROBES`, `ISOKIT_INTERVAL`, `ISOKIT_TIMEOUT`, `ISOKIT_PORT`,
//! `ISOKIT_CA_FILE`, `ISOKIT_CA_PEM`, `ISOKIT_DNS_SERVERS`, `ISOKIT_VPC_CIDR`
//! and `ECS_CONTAINER_METADATA_URI_V4`.

pub mod address;
pub mod checks;
pub mod config;
pub mod connections;
mod error;
pub mod http;
pub mod metadata;
pub mod server;
pub mod standin;
mod time;

use std::time::Duration;

pub use checks::Checker;
pub use config::{Config, ProbeTarget};
pub use error::{Error, Result};
use isokit_report::Report;
pub use server::{AppState, app, serve};
pub use standin::{StandinOptions, standin};

/// One round, for the `check` subcommand.
pub async fn check(config: Config) -> Result<Report> {
    let checker = Checker::new(config)?;
    let task = metadata::task_context_or_warn(checker.config()).await;
    Ok(checker.round(1, task).await)
}

/// Asks the local /health, for the container HEALTHCHECK.
pub async fn healthcheck(port: u16) -> Result<http::Response> {
    http::get(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(2),
        "check that `isokit-service serve` is running in this container and listening on \
         the port in ISOKIT_PORT (8080 when unset)",
    )
    .await
}
