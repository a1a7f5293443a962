//! A stack's status: the SDK's own enum (every documented status, and any
//! added later as CloudFormation spells it), with what each status allows.

pub use aws_sdk_cloudformation::types::StackStatus;
use serde::Serializer;

/// What a stack in a status may do next, said once for every caller.
pub trait StackStatusExt {
    /// An operation is under way; the stack cannot be changed until it ends.
    fn is_in_progress(&self) -> bool;
    /// The last operation failed, or is being (or was) rolled back.
    fn is_failed_or_rolled_back(&self) -> bool;
    /// The stack's first creation failed: it can only be deleted.
    fn is_failed_creation(&self) -> bool;
    /// Only a deletion can follow: a failed first creation, rolled back or
    /// not, or a deletion that failed part-way.
    fn only_deletable(&self) -> bool;
}

impl StackStatusExt for StackStatus {
    fn is_in_progress(&self) -> bool {
        self.as_str().ends_with("_IN_PROGRESS")
    }

    fn is_failed_or_rolled_back(&self) -> bool {
        self.as_str().ends_with("_FAILED") || self.as_str().contains("ROLLBACK")
    }

    fn is_failed_creation(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackInProgress
                | StackStatus::RollbackComplete
                | StackStatus::RollbackFailed
                | StackStatus::CreateFailed
        )
    }

    fn only_deletable(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::DeleteFailed
        )
    }
}

/// For `#[serde(serialize_with)]`: a status as CloudFormation's name.
pub fn serialize_stack_status<S: Serializer>(
    status: &StackStatus,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_added_after_the_sdk_is_judged_by_its_name() {
        let new = StackStatus::from("SOME_NEW_STATUS_IN_PROGRESS");
        assert_eq!(new.to_string(), "SOME_NEW_STATUS_IN_PROGRESS");
        assert!(new.is_in_progress() && !new.is_failed_or_rolled_back());
        assert!(StackStatus::from("SOME_NEW_ROLLBACK_FAILED").is_failed_or_rolled_back());
    }

    #[test]
    fn what_each_status_allows() {
        assert!(StackStatus::UpdateRollbackComplete.is_failed_or_rolled_back());
        assert!(!StackStatus::UpdateComplete.is_failed_or_rolled_back());
        assert!(StackStatus::RollbackComplete.only_deletable());
        assert!(!StackStatus::UpdateRollbackComplete.only_deletable());
        assert!(StackStatus::CreateFailed.is_failed_creation());
        assert!(!StackStatus::UpdateRollbackFailed.is_failed_creation());
    }
}
