//! `isokit deploy --dry-run`: what a deploy would change, read from the
//! change set SAM creates and leaves unexecuted, which is then removed.
//!
//! SAM makes the change set (`sam deploy --no-execute-changeset`) rather
//! than isokit calling CreateChangeSet itself: the templates are packaged
//! and uploaded, and the parameters passed, exactly as the deploy will do
//! it, so the change set is the one the deploy would execute.

use std::collections::{BTreeMap, BTreeSet};

use isokit_aws::{Aws, ResourceChange};
use isokit_stacks::StackSet;
use isokit_ui::Ui;
use serde::Serialize;

use crate::sam;
use crate::{DeployOptions, EndpointPlan, Error, artifacts, prepare, until_stopped};

/// CloudFormation's status reason for a change set that changes nothing.
const NO_CHANGES: &str = "didn't contain changes";

/// What a deploy would do, found without doing it.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub stack_name: String,
    /// False: the deploy would create the stack.
    pub stack_exists: bool,
    /// The image the deploy would pin.
    pub image: String,
    /// The two zones the subnets would be in.
    pub availability_zones: [String; 2],
    /// The endpoints the VPC stack would create, and their cost.
    pub endpoints: EndpointPlan,
    /// Each resource added, modified (and whether replaced) or removed.
    pub changes: Vec<PreviewChange>,
    /// Each parameter whose value would differ from the deployed stack's.
    pub parameters: Vec<ParameterChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewChange {
    /// `Add`, `Modify`, `Remove`, …
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For a modification: `True`, `False` or `Conditional`.
    pub replacement: Option<String>,
    /// The nested stacks it is in, outermost first, where CloudFormation
    /// reports nested stacks' changes.
    pub nested_in: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterChange {
    pub name: String,
    /// `None`: the deployed stack has no such parameter (or no stack).
    pub deployed: Option<String>,
    /// `None`: the templates no longer declare it.
    pub proposed: Option<String>,
}

/// Runs every check of a deploy, has SAM create the change set without
/// executing it, reads it, and removes it (with the stack it made, when
/// there was none).
pub async fn preview(aws: &Aws, options: &DeployOptions, ui: &Ui) -> Result<Preview, Error> {
    let mut prepared = prepare(aws, options, ui, true).await?;
    let signals = &mut prepared.signals;
    let name = options.stack_name.as_str();
    let untouched = || format!("nothing was executed; stack {name} is as it was");
    let before: BTreeSet<String> =
        until_stopped(signals, "deploy", untouched, aws.stacks().change_sets(name))
            .await?
            .into_iter()
            .map(|summary| summary.id)
            .collect();
    ui.status(format!(
        "creating the change set for stack {name} (not executed)"
    ));
    let sam_options = sam::DeployOptions {
        template_file: prepared.folder.parent_template(),
        stack_name: name.to_owned(),
        parameters: prepared.parameters.clone(),
        artifacts: artifacts(options),
        execute: false,
        aws: aws.clone(),
    };
    let created = prepared.sam.run(&sam_options, ui, signals).await;
    let leftover = || {
        format!(
            "the change set SAM made may remain on stack {name}, never executed: `aws \
             cloudformation list-change-sets --stack-name {name}` lists it"
        )
    };
    let made = until_stopped(signals, "deploy", leftover, aws.stacks().change_sets(name))
        .await?
        .into_iter()
        .filter(|summary| !before.contains(&summary.id))
        .max_by_key(|summary| summary.created);
    let read = match &made {
        Some(made) if made.status == "FAILED" => made
            .status_reason
            .as_deref()
            .filter(|reason| reason.contains(NO_CHANGES))
            .map(|_| Vec::new())
            .ok_or_else(|| Error::ChangeSetFailed {
                stack: name.to_owned(),
                reason: made.status_reason.clone().unwrap_or_default(),
            }),
        Some(made) => {
            until_stopped(
                signals,
                "deploy",
                leftover,
                aws.stacks().resource_changes(&made.id),
            )
            .await
        }
        None => Ok(Vec::new()),
    };
    // Removed whatever happened, before SAM's or the reading's failure is
    // reported: a preview leaves nothing behind.
    if let Some(made) = &made {
        let removal = if prepared.existing.is_some() {
            aws.stacks().delete_change_set(&made.id).await
        } else {
            // The stack exists only to hold the change set
            // (REVIEW_IN_PROGRESS); deleting it takes the change set too.
            aws.stacks().delete_stack(name).await
        };
        removal?;
        ui.status(format!(
            "removed change set {}: nothing was executed",
            made.name
        ));
    }
    created?;
    let changes = read?;
    let deployed = prepared
        .existing
        .as_ref()
        .map(|stack| stack.parameters.clone())
        .unwrap_or_default();
    Ok(Preview {
        stack_name: name.to_owned(),
        stack_exists: prepared.existing.is_some(),
        image: prepared.pinned,
        availability_zones: prepared.zones,
        endpoints: prepared.endpoints,
        changes: changes.into_iter().map(PreviewChange::from).collect(),
        parameters: parameter_changes(&prepared.stacks, &prepared.parameters, &deployed)?,
    })
}

impl From<ResourceChange> for PreviewChange {
    fn from(change: ResourceChange) -> PreviewChange {
        PreviewChange {
            action: change.action,
            logical_id: change.logical_id,
            resource_type: change.resource_type,
            replacement: change.replacement,
            nested_in: change.nested_in,
        }
    }
}

/// The parent's parameters whose values the deploy would change: the
/// value passed or the default, against what DescribeStacks reports. A
/// NoEcho value is never shown by CloudFormation, so it is not compared.
fn parameter_changes(
    stacks: &StackSet,
    values: &isokit_stacks::ParameterValues,
    deployed: &BTreeMap<String, String>,
) -> Result<Vec<ParameterChange>, Error> {
    let declared = stacks.parent_parameters(values)?;
    let mut changes: Vec<ParameterChange> = declared
        .iter()
        .filter(|parameter| !parameter.no_echo)
        .filter(|parameter| deployed.get(&parameter.name) != parameter.value.as_ref())
        .map(|parameter| ParameterChange {
            name: parameter.name.clone(),
            deployed: deployed.get(&parameter.name).cloned(),
            proposed: parameter.value.clone(),
        })
        .collect();
    changes.extend(
        deployed
            .iter()
            .filter(|(name, _)| !declared.iter().any(|parameter| &parameter.name == *name))
            .map(|(name, value)| ParameterChange {
                name: name.clone(),
                deployed: Some(value.clone()),
                proposed: None,
            }),
    );
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_differ_from_the_deployed_stack_by_value_default_or_declaration() {
        let stacks = StackSet::bundled();
        let values = isokit_stacks::ParameterValues::new()
            .with("ImageUri", "new")
            .with("DesiredCount", "3");
        let mut deployed: BTreeMap<String, String> = stacks
            .parent_parameters(&values)
            .expect("parameters")
            .into_iter()
            .filter_map(|parameter| Some((parameter.name, parameter.value?)))
            .collect();
        assert_eq!(
            parameter_changes(&stacks, &values, &deployed).expect("compared"),
            [],
            "the same values change nothing"
        );
        deployed.insert("ImageUri".into(), "old".into());
        deployed.remove("DesiredCount");
        deployed.insert("Retired".into(), "x".into());
        let change = |name: &str, deployed: Option<&str>, proposed: Option<&str>| ParameterChange {
            name: name.to_owned(),
            deployed: deployed.map(str::to_owned),
            proposed: proposed.map(str::to_owned),
        };
        assert_eq!(
            parameter_changes(&stacks, &values, &deployed).expect("compared"),
            [
                change("ImageUri", Some("old"), Some("new")),
                change("DesiredCount", None, Some("3")),
                change("Retired", Some("x"), None),
            ]
        );
    }
}
