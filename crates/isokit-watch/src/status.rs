//! `isokit status`: the stack, its service, each task with its latest
//! in-task report, and why recently stopped tasks stopped; and whether any
//! of it is unhealthy.

use std::time::{Duration, SystemTime};

use isokit_aws::{Aws, EcsDeployment, ServiceEvent, StackStatus, StackStatusExt};
use serde::Serialize;

use crate::clock::{Ago, age, serialize_optional_millis};
use crate::error::Error;
use crate::running::RunningTask;
use crate::service::ServiceStack;
use crate::snapshot::ServiceSnapshot;
use crate::task::{Stopped, TaskDefinitions, explain_stopped, short_id};

/// A stopped task counts as recent, and is explained, for this long after
/// it stopped: longer than a deployment that fails takes to give up, short
/// of the hour ECS keeps stopped tasks.
pub(crate) const RECENT: Duration = Duration::from_secs(15 * 60);

/// At most this many recently stopped tasks are explained (each costs a
/// few calls); the newest first.
const STOPPED_SHOWN: usize = 5;

/// Fewer tasks running than desired is a problem once the deployment has
/// had this long: a Fargate task starts within a few minutes, and ECS's
/// circuit breaker gives up on one that cannot start within about ten.
pub(crate) const STARTING_GRACE: Duration = Duration::from_secs(10 * 60);

/// How many of the service's events are shown, newest first.
const EVENTS_SHOWN: usize = 5;

/// Which stack `isokit status` reads.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub stack_name: String,
}

/// What `isokit status` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub stack_name: String,
    #[serde(serialize_with = "isokit_aws::serialize_stack_status")]
    pub stack_status: StackStatus,
    pub cluster: String,
    /// `None` when the cluster holds no such service any more.
    pub service: Option<ServiceState>,
    /// The tasks ECS runs or is starting, each with its latest report.
    pub tasks: Vec<RunningTask>,
    /// Tasks stopped within [`RECENT`], explained, the newest first.
    pub stopped: Vec<Stopped>,
    /// What is unhealthy, one sentence each: empty when all is well.
    pub problems: Vec<String>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The service as ECS reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceState {
    pub name: String,
    pub status: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// The PRIMARY one (being rolled out, or rolled out last) first.
    pub deployments: Vec<DeploymentState>,
    /// ECS's latest events, newest first.
    pub events: Vec<EventLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentState {
    pub id: String,
    pub status: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub failed_tasks: u32,
    #[serde(serialize_with = "serialize_optional_millis")]
    pub created_at: Option<SystemTime>,
}

impl From<&EcsDeployment> for DeploymentState {
    fn from(deployment: &EcsDeployment) -> DeploymentState {
        DeploymentState {
            id: deployment.id.clone(),
            status: deployment.status.clone(),
            rollout_state: deployment.rollout_state.clone(),
            rollout_state_reason: deployment.rollout_state_reason.clone(),
            desired: deployment.desired_count,
            running: deployment.running_count,
            pending: deployment.pending_count,
            failed_tasks: deployment.failed_tasks,
            created_at: deployment.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventLine {
    #[serde(serialize_with = "serialize_optional_millis")]
    pub at: Option<SystemTime>,
    pub message: String,
}

impl From<&ServiceEvent> for EventLine {
    fn from(event: &ServiceEvent) -> EventLine {
        EventLine {
            at: event.created_at,
            message: event.message.clone(),
        }
    }
}

/// Reads the stack's outputs for its service, then the service, its tasks
/// and their reports, and explains the tasks that stopped recently.
pub async fn status(aws: &Aws, options: &StatusOptions) -> Result<Status, Error> {
    let stack = ServiceStack::read(aws, &options.stack_name).await?;
    let snapshot = match ServiceSnapshot::read(aws, &stack.cluster, &stack.service).await {
        Ok(snapshot) => snapshot,
        // The cluster went with a rolled-back or half-deleted stack.
        Err(Error::Aws(isokit_aws::Error::ClusterNotFound { .. })) => None,
        Err(err) => return Err(err),
    };
    let mut definitions = TaskDefinitions::default();
    let mut tasks = Vec::new();
    let mut stopped = Vec::new();
    if let Some(snapshot) = &snapshot {
        for task in snapshot.live_tasks() {
            tasks.push(RunningTask::read(aws, &mut definitions, task).await);
        }
        let recent = snapshot
            .stopped_tasks()
            .filter(|task| {
                task.stopped_at
                    .is_some_and(|at| age(at, snapshot.read_at) <= RECENT)
            })
            .take(STOPPED_SHOWN);
        for task in recent.collect::<Vec<_>>() {
            stopped.push(explain_stopped(aws, &mut definitions, task).await);
        }
    }
    let service = snapshot.as_ref().map(|snapshot| ServiceState {
        name: snapshot.service.name.clone(),
        status: snapshot.service.status.clone(),
        desired: snapshot.service.desired_count,
        running: snapshot.service.running_count,
        pending: snapshot.service.pending_count,
        deployments: snapshot
            .service
            .deployments
            .iter()
            .map(DeploymentState::from)
            .collect(),
        events: snapshot
            .service
            .events
            .iter()
            .take(EVENTS_SHOWN)
            .map(EventLine::from)
            .collect(),
    });
    let mut status = Status {
        stack_name: stack.stack_name,
        stack_status: stack.status,
        cluster: stack.cluster,
        service,
        tasks,
        stopped,
        problems: Vec::new(),
    };
    status.problems = problems(&status, &stack.service, SystemTime::now());
    Ok(status)
}

/// What makes a status unhealthy: a stack that failed, a service gone, a
/// failed rollout, fewer tasks running than desired for longer than
/// [`STARTING_GRACE`], a task unhealthy by its health check or by its
/// latest report, a task of the current deployment that failed (could not
/// start, exited, failed its health check, ran out of memory) within
/// [`RECENT`].
pub(crate) fn problems(status: &Status, service_name: &str, now: SystemTime) -> Vec<String> {
    let mut problems = Vec::new();
    let stack = &status.stack_status;
    // An update rolled back runs what it ran before: not a problem now.
    if stack.is_failed_or_rolled_back() && *stack != StackStatus::UpdateRollbackComplete {
        problems.push(format!("stack {} is {stack}", status.stack_name));
    }
    let Some(service) = &status.service else {
        problems.push(format!(
            "service {service_name} does not exist in cluster {}",
            status.cluster
        ));
        return problems;
    };
    if let Some(primary) = service.deployments.iter().find(|d| d.status == "PRIMARY") {
        if primary.rollout_state.as_deref() == Some("FAILED") {
            problems.push(format!(
                "deployment {} failed: {}",
                primary.id,
                primary
                    .rollout_state_reason
                    .as_deref()
                    .unwrap_or("ECS gives no reason")
            ));
        }
        let waited = primary.created_at.map(|at| age(at, now));
        if service.running < service.desired && waited.is_some_and(|waited| waited > STARTING_GRACE)
        {
            problems.push(format!(
                "only {} of {} tasks have been running for {} since deployment {} began",
                service.running,
                service.desired,
                Ago(waited.unwrap_or_default()),
                primary.id
            ));
        }
    }
    for task in &status.tasks {
        if task.health.as_deref() == Some("UNHEALTHY") {
            problems.push(format!(
                "task {} fails its container health check",
                short_id(&task.task_id)
            ));
        }
        if let Some(read) = task.report.as_ref().filter(|read| !read.passes) {
            problems.push(format!(
                "task {}'s latest report (round {}) does not pass",
                short_id(&task.task_id),
                read.report.round
            ));
        }
    }
    // Failures of earlier deployments are history (a rollback replaced
    // them): shown, but only the current deployment's count.
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .map(|d| d.id.as_str());
    for stopped in status
        .stopped
        .iter()
        .filter(|stopped| stopped.is_failure() && stopped.deployment.as_deref() == primary)
    {
        let what = if stopped.diagnosis.is_start_failure() {
            "could not start"
        } else {
            "stopped"
        };
        problems.push(format!(
            "task {} {what}: {}",
            short_id(&stopped.task_id),
            stopped.diagnosis.headline
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use isokit_diagnose::{StoppedTask, diagnose};
    use isokit_report::LogLine;

    use super::*;
    use crate::task::ReadReport;

    const SERVICE_LINES: &str = include_str!("../tests/fixtures/service.jsonl");

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_778_190_000)
    }

    fn report(index: usize) -> ReadReport {
        let line = SERVICE_LINES.lines().nth(index).expect("fixture line");
        let report = serde_json::from_str::<LogLine>(line)
            .expect("a log line")
            .into_round()
            .expect("a round");
        ReadReport::new(report, now(), now())
    }

    fn task(id: &str, report: Option<ReadReport>) -> RunningTask {
        RunningTask {
            task_id: id.to_owned(),
            last_status: "RUNNING".to_owned(),
            health: Some("HEALTHY".to_owned()),
            deployment: Some("ecs-svc/1".to_owned()),
            started_at: Some(now()),
            log_stream: None,
            report,
        }
    }

    fn healthy() -> Status {
        Status {
            stack_name: "isolated-vpc-environment".to_owned(),
            stack_status: StackStatus::CreateComplete,
            cluster: "cluster".to_owned(),
            service: Some(ServiceState {
                name: "isokit-service".to_owned(),
                status: "ACTIVE".to_owned(),
                desired: 2,
                running: 2,
                pending: 0,
                deployments: vec![DeploymentState {
                    id: "ecs-svc/1".to_owned(),
                    status: "PRIMARY".to_owned(),
                    rollout_state: Some("COMPLETED".to_owned()),
                    rollout_state_reason: None,
                    desired: 2,
                    running: 2,
                    pending: 0,
                    failed_tasks: 0,
                    created_at: Some(now() - Duration::from_secs(3600)),
                }],
                events: Vec::new(),
            }),
            tasks: vec![
                task("0f3e6b1a2c4d", Some(report(2))),
                task("9c2d7e41aa00", None),
            ],
            stopped: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_steady_service_with_passing_reports_is_healthy() {
        assert_eq!(
            problems(&healthy(), "isokit-service", now()),
            Vec::<String>::new()
        );
        let mut rolled_back = healthy();
        rolled_back.stack_status = StackStatus::UpdateRollbackComplete;
        assert!(problems(&rolled_back, "isokit-service", now()).is_empty());
    }

    #[test]
    fn a_failing_report_or_health_check_is_a_problem() {
        let mut status = healthy();
        status.tasks[0].report = Some(report(1));
        status.tasks[1].health = Some("UNHEALTHY".to_owned());
        assert_eq!(
            problems(&status, "isokit-service", now()),
            [
                "task 0f3e6b1a's latest report (round 1) does not pass",
                "task 9c2d7e41 fails its container health check"
            ]
        );
    }

    #[test]
    fn a_failed_rollout_and_a_start_failure_are_problems() {
        let mut status = healthy();
        let service = status.service.as_mut().expect("a service");
        service.deployments[0].rollout_state = Some("FAILED".to_owned());
        service.deployments[0].rollout_state_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".to_owned());
        // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html
        let diagnosis = diagnose(&StoppedTask {
            stopped_reason: Some(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): \
                 failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1: \
                 failed to do request: Head \"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/manifests/v1\": \
                 dial tcp 52.94.1.10:443: i/o timeout"
                    .to_owned(),
            ),
            stop_code: Some("TaskFailedToStart".to_owned()),
            region: Some("us-east-1".to_owned()),
            ..StoppedTask::default()
        });
        status.stopped.push(Stopped {
            task_id: "3f2a1b4c5d6e".to_owned(),
            deployment: Some("ecs-svc/1".to_owned()),
            stopped_at: Some(now()),
            stop_code: Some("TaskFailedToStart".to_owned()),
            stopped_reason: None,
            diagnosis,
            log_stream: None,
            log_tail: Vec::new(),
            last_report: None,
        });
        let found = problems(&status, "isokit-service", now());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(
            found[0],
            "deployment ecs-svc/1 failed: ECS deployment circuit breaker: tasks failed to start."
        );
        assert!(
            found[1].starts_with(
                "task 3f2a1b4c could not start: ECS cannot reach the ECR registry (ecr.dkr)"
            ),
            "{}",
            found[1]
        );
    }

    fn exited(task_id: &str, deployment: &str, code: &str, reason: &str, exit: i32) -> Stopped {
        let diagnosis = diagnose(&StoppedTask {
            stopped_reason: Some(reason.to_owned()),
            stop_code: Some(code.to_owned()),
            containers: vec![isokit_diagnose::StoppedContainer {
                name: "app".to_owned(),
                exit_code: Some(exit),
                ..isokit_diagnose::StoppedContainer::default()
            }],
            ..StoppedTask::default()
        });
        Stopped {
            task_id: task_id.to_owned(),
            deployment: Some(deployment.to_owned()),
            stopped_at: Some(now()),
            stop_code: Some(code.to_owned()),
            stopped_reason: Some(reason.to_owned()),
            diagnosis,
            log_stream: None,
            log_tail: vec!["panic: no config".to_owned()],
            last_report: None,
        }
    }

    #[test]
    fn only_the_current_deployments_failures_count() {
        // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
        let mut status = healthy();
        status.stopped = vec![
            exited(
                "aaaa1111",
                "ecs-svc/1",
                "EssentialContainerExited",
                "Essential container in task exited",
                1,
            ),
            // A failure of an earlier deployment: history.
            exited(
                "bbbb2222",
                "ecs-svc/0",
                "EssentialContainerExited",
                "Essential container in task exited",
                1,
            ),
            // Scaled in on purpose.
            exited(
                "cccc3333",
                "ecs-svc/1",
                "ServiceSchedulerInitiated",
                "Scaling activity initiated by (deployment ecs-svc/1)",
                0,
            ),
        ];
        assert_eq!(
            problems(&status, "isokit-service", now()),
            ["task aaaa1111 stopped: essential container `app` exited with code 1"]
        );
    }

    #[test]
    fn too_few_tasks_are_a_problem_only_after_the_grace() {
        let mut status = healthy();
        let service = status.service.as_mut().expect("a service");
        service.running = 1;
        service.deployments[0].created_at = Some(now() - STARTING_GRACE / 2);
        assert!(problems(&status, "isokit-service", now()).is_empty());
        let service = status.service.as_mut().expect("a service");
        service.deployments[0].created_at = Some(now() - STARTING_GRACE * 2);
        assert_eq!(
            problems(&status, "isokit-service", now()),
            ["only 1 of 2 tasks have been running for 20 min since deployment ecs-svc/1 began"]
        );
    }

    #[test]
    fn a_failed_stack_or_a_missing_service_is_a_problem() {
        let mut status = healthy();
        status.stack_status = StackStatus::RollbackComplete;
        status.service = None;
        status.tasks.clear();
        assert_eq!(
            problems(&status, "isokit-service", now()),
            [
                "stack isolated-vpc-environment is ROLLBACK_COMPLETE",
                "service isokit-service does not exist in cluster cluster"
            ]
        );
    }
}
