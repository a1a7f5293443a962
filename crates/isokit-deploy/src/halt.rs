//! Stopping a deployment isokit found failing, as far as CloudFormation
//! allows for the state the stack is in, and saying where that leaves it.
//!
//! What AWS documents, and what isokit therefore does:
//! - A stack being updated (UPDATE_IN_PROGRESS) can be cancelled:
//!   CancelUpdateStack "cancels an update on the specified stack. If the
//!   call completes successfully, the stack rolls back the update and
//!   reverts to the previous stack configuration. You can cancel only
//!   stacks that are in the UPDATE_IN_PROGRESS state"
//!   (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CancelUpdateStack.html);
//!   "the stack proceeds to the UPDATE_ROLLBACK_IN_PROGRESS state. After
//!   the update cancellation is complete, the stack is set to
//!   UPDATE_ROLLBACK_COMPLETE"
//!   (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn--stack-update-cancel.html).
//!   isokit cancels it.
//! - A stack being created (CREATE_IN_PROGRESS) has no cancel call.
//!   DeleteStack documents only that "once the call completes
//!   successfully, stack deletion starts"
//!   (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStack.html),
//!   nothing of what it does to a creation still running, and deleting
//!   would take with it the stack's events and resources that explain the
//!   failure; AWS's advice for a stack stuck in progress is that "in most
//!   situations, you must wait for your CloudFormation stack to time out"
//!   (https://repost.aws/knowledge-center/cloudformation-stack-stuck-progress).
//!   isokit leaves it: the bundled service's deployment circuit breaker
//!   fails the ECS deployment, and CloudFormation then rolls the creation
//!   back (ROLLBACK_COMPLETE), after which `isokit teardown` removes it.
//! - ECS's StopServiceDeployment "rolls back the service deployment to the
//!   previous service revision"
//!   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html):
//!   a service being created has no previous revision, and for one being
//!   updated it would change, behind CloudFormation's back, a service
//!   CloudFormation is still updating. isokit does not call it: cancelling
//!   the stack's update rolls the service back through CloudFormation.
//! - A stack whose operation has finished (CREATE_COMPLETE, UPDATE_COMPLETE:
//!   always so with the local AWS, whose CloudFormation does not wait for
//!   the service) has nothing to cancel: the service keeps replacing its
//!   failing tasks until it is fixed or torn down.

use isokit_aws::{Aws, StackStatus};
use serde::Serialize;

use crate::Error;

/// What isokit did to the stack of a deployment it found failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackAction {
    /// CancelUpdateStack: CloudFormation rolls the update back.
    CancelledUpdate,
    /// A creation cannot be cancelled; it rolls back once ECS fails the
    /// deployment.
    CreationNotCancellable,
    /// The stack operation had finished, or was already rolling back.
    NothingToCancel,
}

/// Where a failed deployment left the stack, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackLeft {
    pub action: StackAction,
    /// The stack's status once isokit acted.
    #[serde(serialize_with = "isokit_aws::serialize_stack_status")]
    pub status: StackStatus,
    /// What that status means, and the next command.
    pub next: String,
}

/// Cancels the stack's update if it is being updated, and says where the
/// stack is.
pub(crate) async fn halt(aws: &Aws, stack_name: &str) -> Result<StackLeft, Error> {
    let status = current_status(aws, stack_name).await?;
    let action = if status == StackStatus::UpdateInProgress
        && aws.stacks().cancel_update(stack_name).await?
    {
        StackAction::CancelledUpdate
    } else if status == StackStatus::CreateInProgress {
        StackAction::CreationNotCancellable
    } else {
        StackAction::NothingToCancel
    };
    let status = match action {
        StackAction::CancelledUpdate => current_status(aws, stack_name).await?,
        _ => status,
    };
    Ok(StackLeft {
        next: next_step(stack_name, action, &status),
        action,
        status,
    })
}

async fn current_status(aws: &Aws, stack_name: &str) -> Result<StackStatus, Error> {
    Ok(aws
        .stacks()
        .describe(stack_name)
        .await?
        .map_or(StackStatus::DeleteComplete, |stack| stack.status))
}

/// What the stack's state means for the user, and the command to run next.
pub(crate) fn next_step(stack: &str, action: StackAction, status: &StackStatus) -> String {
    let status_command = format!("`isokit status --stack-name {stack}`");
    let teardown = format!("`isokit teardown --stack-name {stack}`");
    match action {
        StackAction::CancelledUpdate => format!(
            "isokit cancelled the stack's update: CloudFormation is rolling stack {stack} back to \
             what it ran before ({status}, then UPDATE_ROLLBACK_COMPLETE); {status_command} \
             shows the service meanwhile; fix the cause, then deploy again"
        ),
        StackAction::CreationNotCancellable => format!(
            "stack {stack} is still being created ({status}), and CloudFormation cannot cancel a \
             creation: it rolls it back on its own once ECS's deployment circuit breaker fails \
             the service's deployment (ROLLBACK_COMPLETE); watch it with {status_command}, then \
             remove it with {teardown}"
        ),
        StackAction::NothingToCancel => match status {
            StackStatus::CreateComplete => format!(
                "stack {stack} had finished being created (CREATE_COMPLETE), so there is nothing \
                 to cancel: the service keeps replacing its failing tasks; fix the cause and \
                 deploy again, or remove it with {teardown}"
            ),
            StackStatus::UpdateComplete | StackStatus::UpdateCompleteCleanupInProgress => format!(
                "stack {stack} had finished its update ({status}), so there is nothing to \
                 cancel: the service keeps replacing its failing tasks; deploy a fixed image (or \
                 the previous one) again, or remove it with {teardown}"
            ),
            StackStatus::RollbackInProgress | StackStatus::UpdateRollbackInProgress => format!(
                "CloudFormation is already rolling stack {stack} back ({status}); watch it with \
                 {status_command}"
            ),
            StackStatus::DeleteComplete => format!("stack {stack} no longer exists"),
            other => format!("stack {stack} is {other}; {status_command} shows its service"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_cancelled_rolls_back_to_what_ran_before() {
        let next = next_step(
            "web",
            StackAction::CancelledUpdate,
            &StackStatus::from("UPDATE_ROLLBACK_IN_PROGRESS"),
        );
        assert!(
            next.contains("rolling stack web back")
                && next.contains("UPDATE_ROLLBACK_IN_PROGRESS")
                && next.contains("`isokit status --stack-name web`"),
            "{next}"
        );
    }

    #[test]
    fn a_creation_cannot_be_cancelled_and_rolls_back_on_its_own() {
        let next = next_step(
            "web",
            StackAction::CreationNotCancellable,
            &StackStatus::from("CREATE_IN_PROGRESS"),
        );
        assert!(
            next.contains("cannot cancel a creation")
                && next.contains("ROLLBACK_COMPLETE")
                && next.contains("`isokit teardown --stack-name web`"),
            "{next}"
        );
    }

    #[test]
    fn a_finished_operation_has_nothing_to_cancel() {
        let next = next_step(
            "web",
            StackAction::NothingToCancel,
            &StackStatus::from("CREATE_COMPLETE"),
        );
        assert!(
            next.contains("nothing to cancel")
                && next.contains("`isokit teardown --stack-name web`"),
            "{next}"
        );
        let next = next_step(
            "web",
            StackAction::NothingToCancel,
            &StackStatus::from("UPDATE_COMPLETE"),
        );
        assert!(
            next.contains("deploy a fixed image (or the previous one)"),
            "{next}"
        );
        let next = next_step(
            "web",
            StackAction::NothingToCancel,
            &StackStatus::from("UPDATE_ROLLBACK_IN_PROGRESS"),
        );
        assert!(next.contains("already rolling stack web back"), "{next}");
    }
}
