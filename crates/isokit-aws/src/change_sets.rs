//! CloudFormation change sets: what an update would do, resource by
//! resource, read without executing it, and removed afterwards; and the
//! template a stack was deployed with.

use std::time::SystemTime;

use aws_sdk_cloudformation::error::SdkError;
use aws_sdk_cloudformation::operation::list_change_sets::ListChangeSetsOutput;

use crate::cloudformation::{Stacks, is_missing_stack, list_stack_pages};
use crate::error::{CallError, Error};
use crate::throttle::patiently;

/// A change set of a stack, as ListChangeSets lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetSummary {
    pub id: String,
    pub name: String,
    /// CREATE_COMPLETE, FAILED, …
    pub status: String,
    pub status_reason: Option<String>,
    pub created: Option<SystemTime>,
}

/// One resource a change set would add, modify or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import` or `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For a modification: `True`, `False` or `Conditional` (whether the
    /// resource is replaced, which for most types means a new physical ID).
    pub replacement: Option<String>,
    /// The nested stacks this resource is in, outermost first (empty for
    /// the stack's own resources).
    pub nested_in: Vec<String>,
}

impl Stacks {
    /// The change sets of `stack` (its name or ID); none when there is no
    /// such stack. Only those the summaries say are the stack's own count:
    /// a change set of another stack is never taken for this one's.
    pub async fn change_sets(&self, stack: &str) -> Result<Vec<ChangeSetSummary>, Error> {
        list_stack_pages(
            "CloudFormation ListChangeSets",
            |token| {
                self.client
                    .list_change_sets()
                    .stack_name(stack)
                    .set_next_token(token)
                    .send()
            },
            |output: &ListChangeSetsOutput| {
                let own = output
                    .summaries()
                    .iter()
                    .filter(|summary| {
                        summary.stack_name() == Some(stack) || summary.stack_id() == Some(stack)
                    })
                    .map(|summary| ChangeSetSummary {
                        id: summary.change_set_id().unwrap_or_default().to_owned(),
                        name: summary.change_set_name().unwrap_or_default().to_owned(),
                        status: summary
                            .status()
                            .map(|status| status.as_str().to_owned())
                            .unwrap_or_default(),
                        status_reason: summary.status_reason().map(ToOwned::to_owned),
                        created: summary
                            .creation_time()
                            .and_then(|time| SystemTime::try_from(*time).ok()),
                    })
                    .collect();
                (own, output.next_token().map(ToOwned::to_owned))
            },
        )
        .await
    }

    /// Every resource change of a change set (its ID), all pages, and of
    /// the nested stacks' change sets CloudFormation made with it (only
    /// when it was created to include nested stacks), each under the path
    /// of nested stacks it is in.
    pub async fn resource_changes(&self, change_set: &str) -> Result<Vec<ResourceChange>, Error> {
        const ACTION: &str = "CloudFormation DescribeChangeSet";
        let mut changes = Vec::new();
        let mut pending = vec![(change_set.to_owned(), Vec::<String>::new())];
        while let Some((id, nested_in)) = pending.pop() {
            let mut next_token: Option<String> = None;
            loop {
                let output = patiently(|| async {
                    self.client
                        .describe_change_set()
                        .change_set_name(&id)
                        .set_next_token(next_token.clone())
                        .send()
                        .await
                        .map_err(|err| CallError::from_sdk(ACTION, &err))
                })
                .await?;
                for change in output.changes() {
                    let Some(resource) = change.resource_change() else {
                        continue;
                    };
                    let logical_id = resource.logical_resource_id().unwrap_or_default();
                    if let Some(nested) = resource.change_set_id() {
                        let mut path = nested_in.clone();
                        path.push(logical_id.to_owned());
                        pending.push((nested.to_owned(), path));
                    }
                    changes.push(ResourceChange {
                        action: resource
                            .action()
                            .map(|action| action.as_str().to_owned())
                            .unwrap_or_default(),
                        logical_id: logical_id.to_owned(),
                        resource_type: resource.resource_type().unwrap_or_default().to_owned(),
                        replacement: resource
                            .replacement()
                            .map(|replacement| replacement.as_str().to_owned()),
                        nested_in: nested_in.clone(),
                    });
                }
                next_token = output.next_token().map(ToOwned::to_owned);
                if next_token.is_none() {
                    break;
                }
            }
        }
        Ok(changes)
    }

    /// DeleteChangeSet, by its ID.
    pub async fn delete_change_set(&self, change_set: &str) -> Result<(), Error> {
        patiently(|| async {
            self.client
                .delete_change_set()
                .change_set_name(change_set)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| CallError::from_sdk("CloudFormation DeleteChangeSet", &err))
        })
        .await?;
        Ok(())
    }

    /// GetTemplate: the template the stack was last deployed with, as
    /// submitted (after SAM's packaging: nested templates as S3 URLs);
    /// `None` when there is no such stack.
    pub async fn template(&self, stack: &str) -> Result<Option<String>, Error> {
        let answer = patiently(|| async {
            match self.client.get_template().stack_name(stack).send().await {
                Ok(output) => Ok(Some(output.template_body().unwrap_or_default().to_owned())),
                Err(SdkError::ServiceError(service)) if is_missing_stack(service.err()) => Ok(None),
                Err(err) => Err(CallError::from_sdk("CloudFormation GetTemplate", &err)),
            }
        })
        .await?;
        Ok(answer)
    }

    /// DeleteStack: for a stack that exists only as the change set of its
    /// creation (REVIEW_IN_PROGRESS), which deleting the change set leaves.
    pub async fn delete_stack(&self, stack: &str) -> Result<(), Error> {
        patiently(|| async {
            self.client
                .delete_stack()
                .stack_name(stack)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| CallError::from_sdk("CloudFormation DeleteStack", &err))
        })
        .await?;
        Ok(())
    }
}
