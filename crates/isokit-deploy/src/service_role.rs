//! The service-linked role ECS acts through in an account
//! (`AWSServiceRoleForECS`). An account that has never used ECS lacks it,
//! and creating the cluster then fails with "Unable to assume the service
//! linked role"; so it is checked, and created, before SAM runs.

use isokit_aws::{Aws, CallError, Problem, RoleCreation, RoleLookup};
use isokit_ui::Ui;

use crate::Error;

/// The role's name, which IAM derives from the service.
pub(crate) const ROLE_NAME: &str = "AWSServiceRoleForECS";

/// The service principal the role is linked to.
pub(crate) const SERVICE: &str = "ecs.amazonaws.com";

/// The command an administrator runs to create the role.
pub(crate) const CREATE_COMMAND: &str =
    "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com";

/// Makes sure the role exists, creating it when IAM says it does not; a
/// preview only says what the deploy would do.
pub(crate) async fn ensure(aws: &Aws, ui: &Ui, preview: bool) -> Result<(), Error> {
    let iam = aws.iam();
    let lookup = iam.role(ROLE_NAME).await;
    if matches!(lookup, Ok(RoleLookup::Present)) {
        return Ok(());
    }
    if preview {
        ui.status(match lookup {
            Ok(_) => format!(
                "the ECS service-linked role {ROLE_NAME} is missing: the deploy will create it \
                 (or, where it may not, stop with `{CREATE_COMMAND}`)"
            ),
            Err(error) => format!(
                "cannot tell whether the ECS service-linked role {ROLE_NAME} exists ({error}): \
                 the deploy will try to create it"
            ),
        });
        return Ok(());
    }
    // Missing, or not known: only an attempt to create it tells.
    let creation = iam.create_service_linked_role(SERVICE).await;
    settle(lookup, creation, ui)
}

/// What the lookup and the creation came to, said on stderr or as the
/// error that stops the deploy.
fn settle(
    lookup: Result<RoleLookup, CallError>,
    creation: Result<RoleCreation, CallError>,
    ui: &Ui,
) -> Result<(), Error> {
    match (lookup, creation) {
        (_, Ok(RoleCreation::Created)) => {
            ui.status(format!(
                "created the ECS service-linked role {ROLE_NAME}, which this account lacked: \
                 ECS needs it to create the cluster"
            ));
            Ok(())
        }
        (_, Ok(RoleCreation::AlreadyThere)) => Ok(()),
        // Known missing, and not ours to create: the cluster would fail.
        (Ok(_), Err(denied)) if denied.problem == Problem::AccessDenied => {
            Err(Error::ServiceLinkedRoleMissing { denied })
        }
        // Neither readable nor creatable: it may well exist, as it does in
        // every account that has used ECS, so a denial here is no reason to
        // stop; the user is told what to run if the cluster then fails.
        (Err(unreadable), Err(denied))
            if unreadable.problem == Problem::AccessDenied
                && denied.problem == Problem::AccessDenied =>
        {
            ui.warn(format!(
                "cannot tell whether the ECS service-linked role {ROLE_NAME} exists (IAM GetRole \
                 and CreateServiceLinkedRole are denied); if the cluster fails with \"Unable to \
                 assume the service linked role\", have an administrator run `{CREATE_COMMAND}`"
            ));
            Ok(())
        }
        (_, Err(other)) => Err(Error::Aws(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(action: &'static str) -> CallError {
        CallError {
            action,
            problem: Problem::AccessDenied,
            // IAM's words, as AWS answers a user without the permission.
            detail: format!(
                "User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: \
                 iam:{} on resource: arn:aws:iam::123456789012:role/aws-service-role/\
                 ecs.amazonaws.com/AWSServiceRoleForECS",
                action.trim_start_matches("IAM ")
            ),
        }
    }

    #[test]
    fn a_missing_role_that_may_not_be_created_stops_the_deploy_with_the_command() {
        let error = settle(
            Ok(RoleLookup::Missing),
            Err(denied("IAM CreateServiceLinkedRole")),
            &Ui::quiet(),
        )
        .expect_err("stops")
        .to_string();
        assert!(
            error.contains("AWSServiceRoleForECS")
                && error.contains(
                    "`aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com`"
                )
                && error.contains("not authorized to perform: iam:CreateServiceLinkedRole"),
            "{error}"
        );
    }

    #[test]
    fn a_role_that_cannot_be_looked_up_or_created_is_warned_about_not_refused() {
        settle(
            Err(denied("IAM GetRole")),
            Err(denied("IAM CreateServiceLinkedRole")),
            &Ui::quiet(),
        )
        .expect("the role may exist: no reason to stop");
    }

    #[test]
    fn any_other_failure_of_the_creation_is_an_error() {
        let throttled = CallError {
            action: "IAM CreateServiceLinkedRole",
            problem: Problem::Service {
                code: "ServiceFailure".to_owned(),
            },
            detail: "internal error".to_owned(),
        };
        let error = settle(Ok(RoleLookup::Missing), Err(throttled), &Ui::quiet())
            .expect_err("an error")
            .to_string();
        assert!(error.contains("ServiceFailure"), "{error}");
        settle(
            Ok(RoleLookup::Missing),
            Ok(RoleCreation::AlreadyThere),
            &Ui::quiet(),
        )
        .expect("created meanwhile");
    }
}
