//! A stack's status, as CloudFormation's DescribeStacks reports it.

use std::fmt;

use serde::{Serialize, Serializer};

/// Every status CloudFormation documents for a stack, and [`Other`] for
/// one added after this list was written, kept as CloudFormation spelt it.
///
/// [`Other`]: StackStatus::Other
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    RollbackInProgress,
    RollbackFailed,
    RollbackComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    UpdateInProgress,
    UpdateCompleteCleanupInProgress,
    UpdateComplete,
    UpdateFailed,
    UpdateRollbackInProgress,
    UpdateRollbackFailed,
    UpdateRollbackCompleteCleanupInProgress,
    UpdateRollbackComplete,
    ReviewInProgress,
    ImportInProgress,
    ImportComplete,
    ImportRollbackInProgress,
    ImportRollbackFailed,
    ImportRollbackComplete,
    Other(String),
}

/// The documented statuses and their names, in one table both ways read.
const NAMED: [(StackStatus, &str); 23] = [
    (StackStatus::CreateInProgress, "CREATE_IN_PROGRESS"),
    (StackStatus::CreateFailed, "CREATE_FAILED"),
    (StackStatus::CreateComplete, "CREATE_COMPLETE"),
    (StackStatus::RollbackInProgress, "ROLLBACK_IN_PROGRESS"),
    (StackStatus::RollbackFailed, "ROLLBACK_FAILED"),
    (StackStatus::RollbackComplete, "ROLLBACK_COMPLETE"),
    (StackStatus::DeleteInProgress, "DELETE_IN_PROGRESS"),
    (StackStatus::DeleteFailed, "DELETE_FAILED"),
    (StackStatus::DeleteComplete, "DELETE_COMPLETE"),
    (StackStatus::UpdateInProgress, "UPDATE_IN_PROGRESS"),
    (
        StackStatus::UpdateCompleteCleanupInProgress,
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    (StackStatus::UpdateComplete, "UPDATE_COMPLETE"),
    (StackStatus::UpdateFailed, "UPDATE_FAILED"),
    (
        StackStatus::UpdateRollbackInProgress,
        "UPDATE_ROLLBACK_IN_PROGRESS",
    ),
    (StackStatus::UpdateRollbackFailed, "UPDATE_ROLLBACK_FAILED"),
    (
        StackStatus::UpdateRollbackCompleteCleanupInProgress,
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    (
        StackStatus::UpdateRollbackComplete,
        "UPDATE_ROLLBACK_COMPLETE",
    ),
    (StackStatus::ReviewInProgress, "REVIEW_IN_PROGRESS"),
    (StackStatus::ImportInProgress, "IMPORT_IN_PROGRESS"),
    (StackStatus::ImportComplete, "IMPORT_COMPLETE"),
    (
        StackStatus::ImportRollbackInProgress,
        "IMPORT_ROLLBACK_IN_PROGRESS",
    ),
    (StackStatus::ImportRollbackFailed, "IMPORT_ROLLBACK_FAILED"),
    (
        StackStatus::ImportRollbackComplete,
        "IMPORT_ROLLBACK_COMPLETE",
    ),
];

impl StackStatus {
    pub fn parse(name: &str) -> StackStatus {
        NAMED.iter().find(|(_, known)| *known == name).map_or_else(
            || StackStatus::Other(name.to_owned()),
            |(status, _)| status.clone(),
        )
    }

    /// CloudFormation's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            StackStatus::Other(name) => name,
            known => NAMED
                .iter()
                .find(|(status, _)| status == known)
                .map_or("", |(_, name)| name),
        }
    }

    /// An operation is under way; the stack cannot be changed until it ends.
    pub fn is_in_progress(&self) -> bool {
        self.as_str().ends_with("_IN_PROGRESS")
    }

    /// The last operation failed, or is being (or was) rolled back.
    pub fn is_failed_or_rolled_back(&self) -> bool {
        self.as_str().ends_with("_FAILED") || self.as_str().contains("ROLLBACK")
    }

    /// The stack's first creation failed: it can only be deleted.
    pub fn is_failed_creation(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackInProgress
                | StackStatus::RollbackComplete
                | StackStatus::RollbackFailed
                | StackStatus::CreateFailed
        )
    }

    /// Only a deletion can follow: a failed first creation, rolled back or
    /// not, or a deletion that failed part-way.
    pub fn only_deletable(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::DeleteFailed
        )
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StackStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_name_reads_back_as_itself() {
        for (status, name) in &NAMED {
            assert_eq!(&StackStatus::parse(name), status);
            assert_eq!(status.as_str(), *name);
        }
        let new = StackStatus::parse("SOME_NEW_STATUS_IN_PROGRESS");
        assert_eq!(
            new,
            StackStatus::Other("SOME_NEW_STATUS_IN_PROGRESS".into())
        );
        assert_eq!(new.to_string(), "SOME_NEW_STATUS_IN_PROGRESS");
        assert!(new.is_in_progress());
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
