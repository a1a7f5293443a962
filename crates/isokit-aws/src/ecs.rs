//! ECS: a service's deployments and events, and its tasks with why each
//! stopped, read into plain types so that the crates reading them need no
//! SDK.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, Task};
use aws_smithy_types::DateTime;
use aws_types::SdkConfig;

use crate::error::{CallError, Error, Problem};
use crate::throttle::patiently;

/// DescribeTasks takes at most this many tasks.
const TASKS_PER_CALL: usize = 100;

/// A service as DescribeServices reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsService {
    pub name: String,
    pub arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    pub task_definition: Option<String>,
    /// The PRIMARY deployment (the one being rolled out) first.
    pub deployments: Vec<EcsDeployment>,
    /// ECS's own account of the service, newest first (at most 100).
    pub events: Vec<ServiceEvent>,
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsDeployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: Option<String>,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    /// Tasks of this deployment that failed to reach RUNNING (what the
    /// circuit breaker counts).
    pub failed_tasks: u32,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub created_at: Option<SystemTime>,
    pub updated_at: Option<SystemTime>,
}

/// A line of a service's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: Option<SystemTime>,
    pub message: String,
}

/// A task as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTask {
    pub arn: String,
    /// The ARN's last part, which the awslogs driver puts in stream names.
    pub id: String,
    pub task_definition_arn: Option<String>,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING,
    /// DEPROVISIONING or STOPPED.
    pub last_status: String,
    pub desired_status: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN, from the containers' health checks.
    pub health_status: Option<String>,
    /// Why it stopped, in ECS's words (`ResourceInitializationError: …`).
    pub stopped_reason: Option<String>,
    /// TaskFailedToStart, EssentialContainerExited, UserInitiated,
    /// ServiceSchedulerInitiated, …
    pub stop_code: Option<String>,
    /// `service:<name>` for a service's tasks.
    pub group: Option<String>,
    /// `ecs-svc/<deployment>` for a service's tasks.
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub availability_zone: Option<String>,
    pub created_at: Option<SystemTime>,
    pub started_at: Option<SystemTime>,
    pub stopped_at: Option<SystemTime>,
    pub containers: Vec<TaskContainer>,
    pub attachments: Vec<TaskAttachment>,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainer {
    pub name: String,
    pub image: Option<String>,
    pub last_status: Option<String>,
    pub exit_code: Option<i32>,
    /// Why it stopped or could not start (`CannotPullContainerError: …`).
    pub reason: Option<String>,
    pub health_status: Option<String>,
}

/// What a task has attached, such as its network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAttachment {
    /// `ElasticNetworkInterface` for a Fargate task's network interface.
    pub kind: String,
    pub status: Option<String>,
    /// For a network interface: `subnetId`, `networkInterfaceId`,
    /// `macAddress`, `privateIPv4Address`, ….
    pub details: BTreeMap<String, String>,
}

/// A task definition, as much of it as explains its tasks: where each
/// container writes its log (awslogs), which containers are essential, and
/// the CPU architecture the tasks run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTaskDefinition {
    pub arn: String,
    /// `runtimePlatform.cpuArchitecture` (`X86_64`, `ARM64`), when set.
    pub cpu_architecture: Option<String>,
    pub containers: Vec<ContainerDefinition>,
}

/// One container of a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: Option<String>,
    /// ECS stops the task when an essential container stops; a container
    /// is essential unless its definition says otherwise.
    pub essential: bool,
    /// `awslogs`, `awsfirelens`, ...; `None` without a log configuration.
    pub log_driver: Option<String>,
    /// The log driver's options (`awslogs-group`, `awslogs-stream-prefix`, ...).
    pub log_options: BTreeMap<String, String>,
}

/// Which tasks ListTasks returns: those ECS keeps running (pending ones
/// included), or those it stopped (kept about an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Stopped,
}

/// ECS calls isokit makes, on one shared configuration.
#[derive(Debug, Clone)]
pub struct Ecs {
    client: Client,
}

impl Ecs {
    pub(crate) fn new(config: &SdkConfig) -> Ecs {
        Ecs {
            client: Client::new(config),
        }
    }

    /// The service, or `None` when the cluster holds no service of that name.
    pub async fn describe_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<EcsService>, Error> {
        const ACTION: &str = "ECS DescribeServices";
        let output = patiently(|| async {
            self.client
                .describe_services()
                .cluster(cluster)
                .services(service)
                .send()
                .await
                .map_err(|err| CallError::from_sdk(ACTION, &err))
        })
        .await
        .map_err(|err| not_found(err, cluster, None))?;
        // A missing service is a `failures` entry (reason MISSING), not an error.
        let Some(found) = output.services().first() else {
            return Ok(None);
        };
        if found.status() == Some("INACTIVE") {
            // Deleted: ECS lists it as INACTIVE for a while.
            return Ok(None);
        }
        let deployments = found
            .deployments()
            .iter()
            .map(|deployment| EcsDeployment {
                id: deployment.id().unwrap_or_default().to_owned(),
                status: deployment.status().unwrap_or_default().to_owned(),
                task_definition: deployment.task_definition().map(ToOwned::to_owned),
                desired_count: count(deployment.desired_count()),
                running_count: count(deployment.running_count()),
                pending_count: count(deployment.pending_count()),
                failed_tasks: count(deployment.failed_tasks()),
                rollout_state: deployment
                    .rollout_state()
                    .map(|state| state.as_str().to_owned()),
                rollout_state_reason: deployment.rollout_state_reason().map(ToOwned::to_owned),
                created_at: system_time(deployment.created_at()),
                updated_at: system_time(deployment.updated_at()),
            })
            .collect();
        let events = found
            .events()
            .iter()
            .map(|event| ServiceEvent {
                id: event.id().unwrap_or_default().to_owned(),
                created_at: system_time(event.created_at()),
                message: event.message().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Some(EcsService {
            name: found.service_name().unwrap_or(service).to_owned(),
            arn: found.service_arn().unwrap_or_default().to_owned(),
            status: found.status().unwrap_or_default().to_owned(),
            desired_count: count(found.desired_count()),
            running_count: count(found.running_count()),
            pending_count: count(found.pending_count()),
            task_definition: found.task_definition().map(ToOwned::to_owned),
            deployments,
            events,
        }))
    }

    /// The ARNs of the service's tasks in `state`, every page.
    pub async fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
        state: TaskState,
    ) -> Result<Vec<String>, Error> {
        const ACTION: &str = "ECS ListTasks";
        let desired = match state {
            TaskState::Running => DesiredStatus::Running,
            TaskState::Stopped => DesiredStatus::Stopped,
        };
        let mut arns = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = patiently(|| async {
                self.client
                    .list_tasks()
                    .cluster(cluster)
                    .service_name(service)
                    .desired_status(desired.clone())
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(|err| CallError::from_sdk(ACTION, &err))
            })
            .await
            .map_err(|err| not_found(err, cluster, Some(service)))?;
            arns.extend(output.task_arns().iter().cloned());
            match output.next_token() {
                Some(token) if next_token.as_deref() != Some(token) => {
                    next_token = Some(token.to_owned());
                }
                _ => return Ok(arns),
            }
        }
    }

    /// A task definition by ARN (or `family:revision`).
    pub async fn describe_task_definition(&self, arn: &str) -> Result<EcsTaskDefinition, Error> {
        const ACTION: &str = "ECS DescribeTaskDefinition";
        let output = patiently(|| async {
            self.client
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|err| CallError::from_sdk(ACTION, &err))
        })
        .await?;
        let definition = output.task_definition();
        Ok(EcsTaskDefinition {
            arn: definition
                .and_then(|d| d.task_definition_arn())
                .unwrap_or(arn)
                .to_owned(),
            cpu_architecture: definition
                .and_then(|d| d.runtime_platform())
                .and_then(|platform| platform.cpu_architecture())
                .map(|architecture| architecture.as_str().to_owned()),
            containers: definition
                .map(|d| d.container_definitions())
                .unwrap_or_default()
                .iter()
                .map(|container| {
                    let log = container.log_configuration();
                    ContainerDefinition {
                        name: container.name().unwrap_or_default().to_owned(),
                        image: container.image().map(ToOwned::to_owned),
                        essential: container.essential().unwrap_or(true),
                        log_driver: log.map(|log| log.log_driver().as_str().to_owned()),
                        log_options: log
                            .and_then(|log| log.options())
                            .map(|options| {
                                options
                                    .iter()
                                    .map(|(key, value)| (key.clone(), value.clone()))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect(),
        })
    }

    /// The tasks, described [`TASKS_PER_CALL`] at a time. Tasks ECS no
    /// longer knows (stopped more than about an hour ago) are left out.
    pub async fn describe_tasks(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<EcsTask>, Error> {
        const ACTION: &str = "ECS DescribeTasks";
        let mut tasks = Vec::with_capacity(arns.len());
        for batch in arns.chunks(TASKS_PER_CALL) {
            let output = patiently(|| async {
                self.client
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(|err| CallError::from_sdk(ACTION, &err))
            })
            .await
            .map_err(|err| not_found(err, cluster, None))?;
            tasks.extend(output.tasks().iter().map(task));
        }
        Ok(tasks)
    }

    /// Every task of the service ECS still knows, running and stopped, the
    /// most recently created first.
    pub async fn service_tasks(&self, cluster: &str, service: &str) -> Result<Vec<EcsTask>, Error> {
        let mut arns = self
            .list_tasks(cluster, service, TaskState::Running)
            .await?;
        arns.extend(
            self.list_tasks(cluster, service, TaskState::Stopped)
                .await?,
        );
        arns.sort();
        arns.dedup();
        let group = format!("service:{service}");
        let mut tasks: Vec<EcsTask> = self
            .describe_tasks(cluster, &arns)
            .await?
            .into_iter()
            // ListTasks already selects the service's tasks; the group, which
            // ECS sets to the service, keeps the answer right where a
            // stand-in ECS ignores the filter (moto does).
            .filter(|task| task.group.as_deref().is_none_or(|g| g == group))
            .collect();
        tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
        Ok(tasks)
    }
}

fn task(task: &Task) -> EcsTask {
    let arn = task.task_arn().unwrap_or_default().to_owned();
    EcsTask {
        id: task_id(&arn).to_owned(),
        task_definition_arn: task.task_definition_arn().map(ToOwned::to_owned),
        last_status: task.last_status().unwrap_or_default().to_owned(),
        desired_status: task.desired_status().unwrap_or_default().to_owned(),
        health_status: task.health_status().map(|h| h.as_str().to_owned()),
        stopped_reason: task.stopped_reason().map(ToOwned::to_owned),
        stop_code: task.stop_code().map(|code| code.as_str().to_owned()),
        group: task.group().map(ToOwned::to_owned),
        started_by: task.started_by().map(ToOwned::to_owned),
        launch_type: task.launch_type().map(|l| l.as_str().to_owned()),
        availability_zone: task.availability_zone().map(ToOwned::to_owned),
        created_at: system_time(task.created_at()),
        started_at: system_time(task.started_at()),
        stopped_at: system_time(task.stopped_at()),
        containers: task
            .containers()
            .iter()
            .map(|container| TaskContainer {
                name: container.name().unwrap_or_default().to_owned(),
                image: container.image().map(ToOwned::to_owned),
                last_status: container.last_status().map(ToOwned::to_owned),
                exit_code: container.exit_code(),
                reason: container.reason().map(ToOwned::to_owned),
                health_status: container.health_status().map(|h| h.as_str().to_owned()),
            })
            .collect(),
        attachments: task
            .attachments()
            .iter()
            .map(|attachment| TaskAttachment {
                kind: attachment.r#type().unwrap_or_default().to_owned(),
                status: attachment.status().map(ToOwned::to_owned),
                details: attachment
                    .details()
                    .iter()
                    .filter_map(|pair| Some((pair.name()?.to_owned(), pair.value()?.to_owned())))
                    .collect(),
            })
            .collect(),
        arn,
    }
}

/// A task's ID: the last part of its ARN (`…:task/<cluster>/<id>`, or
/// `…:task/<id>` in the old format); an ID given as is stays as it is.
pub fn task_id(arn_or_id: &str) -> &str {
    arn_or_id.rsplit('/').next().unwrap_or(arn_or_id)
}

/// A missing cluster or service says which, and what to do.
fn not_found(err: CallError, cluster: &str, service: Option<&str>) -> Error {
    match (&err.problem, service) {
        (Problem::Service { code }, _) if code == "ClusterNotFoundException" => {
            Error::ClusterNotFound {
                cluster: cluster.to_owned(),
            }
        }
        (Problem::Service { code }, Some(service)) if code == "ServiceNotFoundException" => {
            Error::ServiceNotFound {
                cluster: cluster.to_owned(),
                service: service.to_owned(),
            }
        }
        _ => err.into(),
    }
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn system_time(time: Option<&DateTime>) -> Option<SystemTime> {
    time.and_then(|time| SystemTime::try_from(*time).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_come_from_either_arn_format() {
        assert_eq!(
            task_id(
                "arn:aws:ecs:eu-west-1:123456789012:task/isokit/0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b"
            ),
            "0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b"
        );
        assert_eq!(
            task_id("arn:aws:ecs:eu-west-1:123456789012:task/0f3e6b1a"),
            "0f3e6b1a"
        );
        assert_eq!(task_id("0f3e6b1a"), "0f3e6b1a");
    }

    #[test]
    fn missing_clusters_and_services_are_named() {
        let failure = |code: &str| CallError {
            action: "ECS ListTasks",
            problem: Problem::Service {
                code: code.to_owned(),
            },
            detail: "not found".to_owned(),
        };
        let text =
            not_found(failure("ClusterNotFoundException"), "isokit", Some("web")).to_string();
        assert!(
            text.starts_with("ECS cluster isokit does not exist"),
            "{text}"
        );
        let text =
            not_found(failure("ServiceNotFoundException"), "isokit", Some("web")).to_string();
        assert!(
            text.starts_with("ECS service web does not exist in cluster isokit"),
            "{text}"
        );
        let text = not_found(failure("InvalidParameterException"), "isokit", None).to_string();
        assert!(
            text.starts_with("ECS ListTasks failed: InvalidParameterException"),
            "{text}"
        );
    }
}
