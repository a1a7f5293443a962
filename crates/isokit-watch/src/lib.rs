//! What runs: the service's tasks, their logs and in-task reports, read back
//! through the ECS and CloudWatch Logs APIs.
//!
//! Everything starts from the deployed stack: its outputs name the cluster,
//! the service and the log group ([`ServiceStack`]). The service's containers
//! write through the awslogs driver, one stream per container of each task,
//! named `<prefix>/<container>/<task ID>` where the prefix is the service's
//! name (the task definition's `awslogs-stream-prefix`).
//!
//! [`logs`] prints the service's log events as they come, each a
//! [`LogEvent`]: isokit-service's JSON lines (its `start` line and the
//! `round` report of each round of checks) are rendered for a person by its
//! `Display`, and serialize for scripts with the message parsed.

mod clock;
mod error;
mod event;
mod logs;
mod running;
mod service;
mod snapshot;
mod status;
mod task;

pub use clock::{Ago, Rfc3339};
pub use error::Error;
pub use event::{LogEvent, Message};
pub use logs::{LogsOptions, logs};
pub use running::RunningTask;
pub use service::{ServiceLogs, ServiceStack};
pub use snapshot::{ServiceSnapshot, is_live};
pub use status::{DeploymentState, EventLine, ServiceState, Status, StatusOptions, status};
pub use task::{
    LogStreamName, ReadReport, Stopped, TaskDefinitions, explain_stopped, latest_report, log_tail,
    short_id, stopped_task,
};
