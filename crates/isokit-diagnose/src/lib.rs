//! Why an ECS task stopped: the catalogue of the messages AWS writes for a
//! stopped task (each with its cited source), the diagnosis built from them
//! (the cause, what is missing, the fix, the endpoint and the host concerned),
//! and the README's troubleshooting table rendered from that same catalogue.
//!
//! Pure logic: the caller maps ECS's `DescribeTasks` answer into a
//! [`StoppedTask`] and calls [`diagnose`]. A service event's message ("was
//! unable to place a task. Reason: ...") can stand in for a stopped reason.
//!
//! ```
//! use isokit_diagnose::{Cause, CpuArchitecture, StoppedTask, diagnose};
//!
//! // As published in https://github.com/aws/copilot-cli/issues/5927
//! let task = StoppedTask {
//!     stopped_reason: Some(r#"ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR. Check your task network configuration. RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 172.40.1.94:443: i/o timeout"#.to_owned()),
//!     stop_code: Some("TaskFailedToStart".to_owned()),
//!     cpu_architecture: CpuArchitecture::from_ecs("X86_64"),
//!     region: Some("us-east-1".to_owned()),
//!     ..StoppedTask::default()
//! };
//! let diagnosis = diagnose(&task);
//! assert_eq!(diagnosis.cause, Cause::EcrAuthUnreachable);
//! assert!(diagnosis.is_start_failure());
//! assert_eq!(diagnosis.host.as_deref(), Some("api.ecr.us-east-1.amazonaws.com"));
//! assert_eq!(
//!     diagnosis.headline,
//!     "ECS cannot reach the ECR API (ecr.api) for the registry auth token: \
//!      `api.ecr.us-east-1.amazonaws.com` timed out"
//! );
//! assert!(diagnosis.fix.contains("`com.amazonaws.us-east-1.ecr.api`"));
//! ```

mod catalogue;
mod diagnosis;
mod task;
mod text;
mod troubleshooting;

pub use catalogue::{CATALOGUE, Cause, Entry, Where};
pub use diagnosis::{Diagnosis, NetworkFailure, diagnose};
pub use task::{CpuArchitecture, StoppedContainer, StoppedTask};
pub use troubleshooting::{
    MarkersMissing, TABLE_BEGIN, TABLE_END, splice_troubleshooting_table, troubleshooting_table,
    troubleshooting_table_in,
};
