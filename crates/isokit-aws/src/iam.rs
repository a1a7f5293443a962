//! IAM: the service-linked role that ECS needs in an account before a
//! cluster can be created, looked up and, when missing, created.

use aws_sdk_iam::Client;
use aws_types::SdkConfig;

use crate::error::{CallError, Problem};
use crate::throttle::patiently;

/// What IAM says of a service-linked role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleLookup {
    Present,
    Missing,
}

/// What a request to create a service-linked role came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleCreation {
    Created,
    /// Someone else created it first (IAM refuses a second one).
    AlreadyThere,
}

#[derive(Debug, Clone)]
pub struct Iam {
    client: Client,
}

impl Iam {
    pub(crate) fn new(config: &SdkConfig) -> Iam {
        Iam {
            client: Client::new(config),
        }
    }

    /// GetRole: whether the role exists. A denial is the caller's to judge,
    /// as a [`CallError`] with [`Problem::AccessDenied`].
    pub async fn role(&self, name: &str) -> Result<RoleLookup, CallError> {
        patiently(|| async {
            match self.client.get_role().role_name(name).send().await {
                Ok(_) => Ok(RoleLookup::Present),
                Err(err) => {
                    let error = CallError::from_sdk("IAM GetRole", &err);
                    match &error.problem {
                        Problem::Service { code } if code == "NoSuchEntity" => {
                            Ok(RoleLookup::Missing)
                        }
                        _ => Err(error),
                    }
                }
            }
        })
        .await
    }

    /// CreateServiceLinkedRole for `service` (such as `ecs.amazonaws.com`).
    pub async fn create_service_linked_role(
        &self,
        service: &str,
    ) -> Result<RoleCreation, CallError> {
        patiently(|| async {
            match self
                .client
                .create_service_linked_role()
                .aws_service_name(service)
                .send()
                .await
            {
                Ok(_) => Ok(RoleCreation::Created),
                Err(err) => {
                    let error = CallError::from_sdk("IAM CreateServiceLinkedRole", &err);
                    if already_there(&error) {
                        Ok(RoleCreation::AlreadyThere)
                    } else {
                        Err(error)
                    }
                }
            }
        })
        .await
    }
}

/// IAM answers a second creation of a service-linked role with
/// `InvalidInput` ("Service role name … has been taken in this account"),
/// or, for a role name taken otherwise, `EntityAlreadyExists`.
fn already_there(error: &CallError) -> bool {
    match &error.problem {
        Problem::Service { code } if code == "EntityAlreadyExists" => true,
        Problem::Service { code } if code == "InvalidInput" => {
            error.detail.contains("has been taken")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: &str, detail: &str) -> CallError {
        CallError {
            action: "IAM CreateServiceLinkedRole",
            problem: Problem::Service {
                code: code.to_owned(),
            },
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn a_role_created_meanwhile_is_no_failure_and_other_invalid_input_is() {
        // IAM's words for a second creation of the same role.
        assert!(already_there(&failure(
            "InvalidInput",
            "Service role name AWSServiceRoleForECS has been taken in this account, please try \
             a different suffix."
        )));
        assert!(already_there(&failure(
            "EntityAlreadyExists",
            "Role with name AWSServiceRoleForECS already exists."
        )));
        assert!(!already_there(&failure(
            "InvalidInput",
            "Invalid service name: ecs.example.com"
        )));
        assert!(!already_there(&CallError {
            action: "IAM CreateServiceLinkedRole",
            problem: Problem::AccessDenied,
            detail: "not authorized to perform: iam:CreateServiceLinkedRole".to_owned(),
        }));
    }
}
