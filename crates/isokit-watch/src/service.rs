//! The names of what an isokit stack runs, read from its outputs.

use std::collections::BTreeMap;

use isokit_aws::{Aws, StackStatus, StackStatusExt};

use crate::error::Error;

use isokit_stacks::outputs::{
    CLUSTER_NAME as CLUSTER_OUTPUT, LOG_GROUP_NAME as LOG_GROUP_OUTPUT,
    SERVICE_NAME as SERVICE_OUTPUT,
};

/// The cluster, service and log group of a deployed isokit stack: the
/// outputs of the parent template (`stacks/parent.yml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStack {
    pub stack_name: String,
    pub status: StackStatus,
    pub cluster: String,
    pub service: String,
    pub log_group: String,
}

impl ServiceStack {
    pub async fn read(aws: &Aws, stack_name: &str) -> Result<ServiceStack, Error> {
        match aws.stacks().describe(stack_name).await? {
            Some(stack) => ServiceStack::from_outputs(stack.name, stack.status, stack.outputs),
            None => Err(Error::StackNotFound {
                stack: stack_name.to_owned(),
                region: aws.region().to_owned(),
            }),
        }
    }

    fn from_outputs(
        stack_name: String,
        status: StackStatus,
        mut outputs: BTreeMap<String, String>,
    ) -> Result<ServiceStack, Error> {
        let missing: Vec<&str> = [CLUSTER_OUTPUT, SERVICE_OUTPUT, LOG_GROUP_OUTPUT]
            .into_iter()
            .filter(|name| outputs.get(*name).is_none_or(String::is_empty))
            .collect();
        if !missing.is_empty() {
            // Outputs appear once a create or update completes.
            if outputs.is_empty() && status.is_in_progress() {
                return Err(Error::StackNotReady {
                    stack: stack_name,
                    status,
                });
            }
            return Err(Error::MissingOutputs {
                stack: stack_name,
                status,
                missing: missing.join(", "),
            });
        }
        let mut output = |name: &str| outputs.remove(name).unwrap_or_default();
        let (cluster, service, log_group) = (
            output(CLUSTER_OUTPUT),
            output(SERVICE_OUTPUT),
            output(LOG_GROUP_OUTPUT),
        );
        Ok(ServiceStack {
            stack_name,
            status,
            cluster,
            service,
            log_group,
        })
    }

    /// Where the service's logs are.
    pub fn logs(&self) -> ServiceLogs {
        ServiceLogs {
            stack_name: self.stack_name.clone(),
            service: self.service.clone(),
            log_group: self.log_group.clone(),
        }
    }
}

/// Where an isokit stack's service writes its logs: a log group, and the
/// stream names' prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLogs {
    pub stack_name: String,
    pub service: String,
    pub log_group: String,
}

impl ServiceLogs {
    /// From the stack's outputs; for a stack whose first deployment failed
    /// and was rolled back (it has no outputs then), from the log group the
    /// stack kept (its `DeletionPolicy` is `Retain`, so that these logs,
    /// which explain the failure, survive) and its `ServiceName` parameter.
    pub async fn read(aws: &Aws, stack_name: &str) -> Result<ServiceLogs, Error> {
        let Some(stack) = aws.stacks().describe(stack_name).await? else {
            return Err(Error::StackNotFound {
                stack: stack_name.to_owned(),
                region: aws.region().to_owned(),
            });
        };
        let rolled_back = stack.outputs.is_empty() && stack.status.is_failed_creation();
        let service = stack.parameters.get(SERVICE_PARAMETER).cloned();
        if let (true, Some(service)) = (rolled_back, service) {
            let groups = aws.stacks().physical_ids(&stack.id, LOG_GROUP).await?;
            if let [log_group] = groups.as_slice() {
                return Ok(ServiceLogs {
                    stack_name: stack.name,
                    service,
                    log_group: log_group.clone(),
                });
            }
        }
        ServiceStack::from_outputs(stack.name, stack.status, stack.outputs)
            .map(|stack| stack.logs())
    }

    /// What every one of the service's log stream names starts with: the
    /// task definition's `awslogs-stream-prefix`, which isokit's service
    /// template sets to the service's name.
    pub fn stream_prefix(&self) -> String {
        format!("{}/", self.service)
    }
}

/// The parent template's parameter naming the service (and its streams).
const SERVICE_PARAMETER: &str = "ServiceName";
const LOG_GROUP: &str = "AWS::Logs::LogGroup";

#[cfg(test)]
mod tests {
    use super::*;

    fn from_outputs(status: &str, outputs: &[(&str, &str)]) -> Result<ServiceStack, Error> {
        ServiceStack::from_outputs(
            "isolated-vpc-environment".to_owned(),
            StackStatus::from(status),
            outputs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn reads_the_names_from_the_outputs() {
        let read = from_outputs(
            "UPDATE_COMPLETE",
            &[
                ("ClusterName", "isokit-cluster"),
                ("ServiceName", "isokit-service"),
                ("LogGroupName", "/ecs/isokit-service"),
                ("VpcId", "vpc-1"),
            ],
        )
        .expect("an isokit stack");
        assert_eq!(read.cluster, "isokit-cluster");
        assert_eq!(read.service, "isokit-service");
        assert_eq!(read.log_group, "/ecs/isokit-service");
        assert_eq!(read.logs().stream_prefix(), "isokit-service/");
    }

    #[test]
    fn names_every_missing_output() {
        let err = from_outputs(
            "CREATE_COMPLETE",
            &[("ServiceName", "web"), ("LogGroupName", "")],
        )
        .expect_err("not isokit's");
        let text = err.to_string();
        assert!(
            text.contains("(CREATE_COMPLETE) has no output ClusterName, LogGroupName"),
            "{text}"
        );
        assert!(text.contains("--stack-name"), "{text}");
    }

    #[test]
    fn a_stack_being_created_has_no_outputs_yet() {
        let err = from_outputs("CREATE_IN_PROGRESS", &[]).expect_err("no outputs yet");
        assert!(matches!(err, Error::StackNotReady { .. }), "{err}");
        let err = from_outputs("ROLLBACK_COMPLETE", &[]).expect_err("no outputs");
        assert!(matches!(err, Error::MissingOutputs { .. }), "{err}");
    }
}
