//! What a stack keeps when it goes: its log groups carry `DeletionPolicy:
//! Retain`, so that the logs explaining a failed first deployment survive
//! its rollback. A teardown finds them before the stack goes and removes
//! them after, unless asked to keep them; likewise the log group Container
//! Insights makes for the cluster, which no stack owns.

use isokit_aws::Aws;
use isokit_ui::Ui;
use serde::Serialize;

use crate::{Error, Removal};

const LOG_GROUP: &str = "AWS::Logs::LogGroup";

/// What became of one of the stack's log groups.
#[derive(Debug, Clone, Serialize)]
pub struct LogGroupRemoval {
    pub name: String,
    pub outcome: Removal,
}

/// The log groups of the stack and its nested stacks, by the stack's ID
/// (which still reads a stack whose creation was rolled back).
pub(crate) async fn log_groups(aws: &Aws, stack_id: &str) -> Result<Vec<String>, Error> {
    Ok(aws.stacks().physical_ids(stack_id, LOG_GROUP).await?)
}

/// The log group ECS makes for a cluster's Container Insights metrics
/// (the bundled cluster turns them on), outside the stack.
pub(crate) fn insights_group(cluster: &str) -> String {
    format!("/aws/ecs/containerinsights/{cluster}/performance")
}

/// Deletes the log groups the stack kept, or says they stay; and the
/// cluster's Container Insights group, said only when it was there (it
/// exists only once ECS has written metrics).
pub(crate) async fn remove_log_groups(
    aws: &Aws,
    groups: Vec<String>,
    insights: Option<String>,
    keep: bool,
    ui: &Ui,
) -> Result<Vec<LogGroupRemoval>, Error> {
    let logs = aws.logs();
    let mut removals = Vec::new();
    for name in groups {
        let outcome = if keep {
            ui.status(format!("kept log group {name} (--keep-logs)"));
            Removal::Kept
        } else if logs.delete_group(&name).await? {
            ui.status(format!("deleted log group {name}"));
            Removal::Deleted
        } else {
            Removal::NothingToDelete
        };
        removals.push(LogGroupRemoval { name, outcome });
    }
    if let Some(name) = insights.filter(|_| !keep)
        && logs.delete_group(&name).await?
    {
        ui.status(format!("deleted log group {name} (Container Insights)"));
        removals.push(LogGroupRemoval {
            name,
            outcome: Removal::Deleted,
        });
    }
    Ok(removals)
}
