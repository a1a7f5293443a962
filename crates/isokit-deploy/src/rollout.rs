//! The service's rollout, watched through ECS while SAM deploys and after:
//! task transitions and ECS's events as they happen, each stopped task of
//! the deployment explained, and the verdict: completed, or failed by
//! isokit's fail-fast rule or by ECS's own circuit breaker.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use isokit_aws::{Aws, EcsDeployment, EcsTask};
use isokit_diagnose::Cause;
use isokit_ui::Ui;
use isokit_watch::{Ago, ServiceSnapshot, Stopped, TaskDefinitions, explain_stopped, short_id};
use serde::Serialize;

use crate::progress::ServiceName;

/// How many tasks of one deployment must stop for the same cause before a
/// failure of a running task (not a start failure) fails the deploy. One
/// task that exits or fails its health check may have met a passing
/// condition (a dependency restarting, a node reclaimed); two of the new
/// deployment stopping alike is the image or its configuration. ECS's
/// circuit breaker waits for at least 3 (half the desired count, at least
/// 3, at most 200), so this is never later than it, and for two tasks
/// started together it is as soon as both have stopped.
pub(crate) const SAME_CAUSE_LIMIT: usize = 2;

/// Why isokit calls a deployment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureRule {
    /// A task of the deployment could not start: every task after it would
    /// stop the same way, so the first one decides.
    StartFailure,
    /// [`SAME_CAUSE_LIMIT`] tasks of the deployment ran and stopped for the
    /// same cause.
    SameCause,
    /// ECS's deployment circuit breaker marked the deployment FAILED.
    CircuitBreaker,
    /// The service was not steady within the watch's time limit.
    TimedOut,
    /// A task's in-task report does not pass.
    ReportFails,
}

/// A deployment found failing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub rule: FailureRule,
    /// One line saying what failed.
    pub summary: String,
    /// The ECS deployment (`ecs-svc/…`), when known.
    pub deployment: Option<String>,
    /// The stopped task that explains it, with its diagnosis.
    pub stopped: Option<Stopped>,
}

/// What one look at the service concluded.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Nothing to conclude yet.
    Watching,
    /// The deployment is COMPLETED: the service is steady.
    Completed {
        snapshot: Box<ServiceSnapshot>,
        deployment: String,
    },
    Failed(Box<Failure>),
}

/// isokit's fail-fast rule over the stopped tasks of one deployment: fail
/// at the first start failure, or at the [`SAME_CAUSE_LIMIT`]th task that
/// ran and stopped for the same cause. Stops that are no failure (scaling
/// in, a user's StopTask, Spot reclaiming capacity) do not count. Off
/// (`--no-fail-fast`), nothing fails before ECS's circuit breaker.
#[derive(Debug)]
pub(crate) struct FailFast {
    enabled: bool,
    /// The tasks that failed so far, by cause.
    failed: HashMap<FailureKey, Vec<String>>,
}

/// Causes told apart: an unrecognised one by AWS's own words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Known(Cause),
    Unrecognised(String),
}

impl FailFast {
    pub(crate) fn new(enabled: bool) -> FailFast {
        FailFast {
            enabled,
            failed: HashMap::new(),
        }
    }

    /// Takes in one stopped task of the deployment; the rule that fails the
    /// deploy now, if one does.
    pub(crate) fn judge(&mut self, stopped: &Stopped) -> Option<FailureRule> {
        if !stopped.is_failure() {
            return None;
        }
        let diagnosis = &stopped.diagnosis;
        let key = match diagnosis.cause {
            Cause::Unknown => FailureKey::Unrecognised(diagnosis.aws_message.clone()),
            known => FailureKey::Known(known),
        };
        let tasks = self.failed.entry(key).or_default();
        if !tasks.contains(&stopped.task_id) {
            tasks.push(stopped.task_id.clone());
        }
        if !self.enabled {
            None
        } else if diagnosis.is_start_failure() {
            Some(FailureRule::StartFailure)
        } else if tasks.len() >= SAME_CAUSE_LIMIT {
            Some(FailureRule::SameCause)
        } else {
            None
        }
    }

    /// How many tasks failed for the same cause as `stopped`.
    pub(crate) fn count_like(&self, stopped: &Stopped) -> usize {
        self.failed
            .iter()
            .find(|(_, tasks)| tasks.contains(&stopped.task_id))
            .map_or(0, |(_, tasks)| tasks.len())
    }
}

/// Watches one service's rollout.
pub(crate) struct Rollout<'a> {
    aws: &'a Aws,
    ui: &'a Ui,
    service: Option<ServiceName>,
    /// When the stack operation began: deployments and tasks from before
    /// are not this operation's.
    since: SystemTime,
    fail_fast: FailFast,
    definitions: TaskDefinitions,
    /// The last status printed of each task seen.
    statuses: HashMap<String, String>,
    /// Stopped tasks already explained.
    explained: HashSet<String>,
    /// The latest task of the deployment explained, for a circuit breaker
    /// failure.
    latest_stop: Option<Stopped>,
    events: HashSet<String>,
    /// The deployment and rollout state last printed.
    rollout: Option<(String, Option<String>)>,
    /// The deployment as last read.
    deployment: Option<EcsDeployment>,
    /// Reading the service failed: the deployment goes on without the watch.
    lost: bool,
}

impl<'a> Rollout<'a> {
    pub(crate) fn new(aws: &'a Aws, ui: &'a Ui, fail_fast: bool, since: SystemTime) -> Self {
        Rollout {
            aws,
            ui,
            service: None,
            since,
            fail_fast: FailFast::new(fail_fast),
            definitions: TaskDefinitions::default(),
            statuses: HashMap::new(),
            explained: HashSet::new(),
            latest_stop: None,
            events: HashSet::new(),
            rollout: None,
            deployment: None,
            lost: false,
        }
    }

    /// Starts watching `service`, once known.
    pub(crate) fn watch(&mut self, service: &ServiceName) {
        if self.service.is_none() {
            self.ui.status(format!(
                "watching service {} in cluster {}",
                service.service, service.cluster
            ));
            self.service = Some(service.clone());
        }
    }

    pub(crate) fn service(&self) -> Option<&ServiceName> {
        self.service.as_ref()
    }

    /// CloudFormation's own time for the operation's start, once an event
    /// has given it (it shares ECS's clock, which isokit's may not).
    pub(crate) fn began(&mut self, at: SystemTime) {
        self.since = at;
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost
    }

    /// One look at the service: prints what changed, explains the tasks of
    /// the deployment that stopped, and concludes. While SAM runs, only a
    /// deployment begun by this operation counts; once it has finished, a
    /// stack operation that began none leaves the current one to judge.
    pub(crate) async fn poll(&mut self, sam_finished: bool) -> Verdict {
        let (Some(service), false) = (self.service.clone(), self.lost) else {
            return Verdict::Watching;
        };
        let snapshot = match ServiceSnapshot::read(self.aws, &service.cluster, &service.service)
            .await
        {
            Ok(Some(snapshot)) => snapshot,
            // Not created yet.
            Ok(None) | Err(isokit_watch::Error::Aws(isokit_aws::Error::ClusterNotFound { .. })) => {
                return Verdict::Watching;
            }
            Err(err) => {
                self.lost = true;
                self.ui.warn(format!(
                    "cannot read service {} any more, so its tasks are not watched; the \
                         deployment carries on: {err}",
                    service.service
                ));
                return Verdict::Watching;
            }
        };
        self.print_events(&snapshot);
        let deployment = snapshot
            .primary()
            .filter(|primary| sam_finished || primary.created_at.is_some_and(|at| at >= self.since))
            .cloned();
        self.print_rollout(deployment.as_ref());
        if deployment.is_some() {
            self.deployment.clone_from(&deployment);
        }
        let mut stopped_now = Vec::new();
        for task in snapshot.tasks.iter().rev() {
            let ours = deployment
                .as_ref()
                .is_some_and(|d| task.started_by.as_deref() == Some(d.id.as_str()));
            if ours && task.last_status == "STOPPED" && !self.explained.contains(&task.id) {
                stopped_now.push(task.clone());
            } else {
                self.print_transition(task, None);
            }
        }
        for task in stopped_now {
            self.explained.insert(task.id.clone());
            let stopped = explain_stopped(self.aws, &mut self.definitions, &task).await;
            let rule = self.fail_fast.judge(&stopped);
            self.print_transition(&task, Some(&stopped));
            if stopped.is_failure() {
                self.latest_stop = Some(stopped.clone());
            }
            if let Some(rule) = rule {
                let summary = match rule {
                    FailureRule::SameCause => format!(
                        "{} tasks of the deployment stopped: {}",
                        self.fail_fast.count_like(&stopped),
                        stopped.diagnosis.headline
                    ),
                    _ => format!(
                        "task {} could not start: {}",
                        short_id(&stopped.task_id),
                        stopped.diagnosis.headline
                    ),
                };
                return Verdict::Failed(Box::new(Failure {
                    rule,
                    summary,
                    deployment: deployment.map(|d| d.id),
                    stopped: Some(stopped),
                }));
            }
        }
        let Some(deployment) = deployment else {
            return Verdict::Watching;
        };
        match deployment.rollout_state.as_deref() {
            Some("FAILED") => Verdict::Failed(Box::new(Failure {
                rule: FailureRule::CircuitBreaker,
                summary: format!(
                    "ECS failed deployment {}: {}",
                    deployment.id,
                    deployment
                        .rollout_state_reason
                        .as_deref()
                        .unwrap_or("its circuit breaker tripped")
                ),
                deployment: Some(deployment.id.clone()),
                stopped: self.latest_stop.clone(),
            })),
            Some("COMPLETED") if sam_finished => Verdict::Completed {
                deployment: deployment.id.clone(),
                snapshot: Box::new(snapshot),
            },
            _ => Verdict::Watching,
        }
    }

    /// The failure of a deployment that was not steady within `limit`:
    /// how far it got, and the latest task of it that failed, if one did.
    pub(crate) fn timed_out(&self, limit: Duration) -> Failure {
        let progress = match &self.deployment {
            Some(deployment) => format!(
                ": {} of {} tasks running, deployment {} {}",
                deployment.running_count,
                deployment.desired_count,
                deployment.id,
                deployment.rollout_state.as_deref().unwrap_or("IN_PROGRESS")
            ),
            None if self.service.is_some() => ": no deployment of it began".to_owned(),
            None => ": no event named it".to_owned(),
        };
        let service = self
            .service
            .as_ref()
            .map_or("the service", |service| service.service.as_str());
        Failure {
            rule: FailureRule::TimedOut,
            summary: format!(
                "{service} was not steady within {} (--watch-timeout){progress}",
                Ago(limit)
            ),
            deployment: self.deployment.as_ref().map(|d| d.id.clone()),
            stopped: self.latest_stop.clone(),
        }
    }

    /// ECS's own account, from this operation on.
    fn print_events(&mut self, snapshot: &ServiceSnapshot) {
        for event in snapshot.service.events.iter().rev() {
            let new = self.events.insert(event.id.clone());
            if new && event.created_at.is_some_and(|at| at >= self.since) {
                self.ui.status(format!("ECS: {}", event.message));
            }
        }
    }

    fn print_rollout(&mut self, deployment: Option<&EcsDeployment>) {
        let Some(deployment) = deployment else {
            return;
        };
        let now = (deployment.id.clone(), deployment.rollout_state.clone());
        if self.rollout.as_ref() == Some(&now) {
            return;
        }
        self.rollout = Some(now);
        let state = deployment.rollout_state.as_deref().unwrap_or("started");
        self.ui.status(format!(
            "deployment {} {state}: {} of {} tasks running",
            deployment.id, deployment.running_count, deployment.desired_count
        ));
    }

    /// `task 3f2a1b4c PROVISIONING → RUNNING`, and for a task of the
    /// deployment that stopped, why: `… → STOPPED: <headline>`. Tasks from
    /// before this operation are printed only once they change.
    fn print_transition(&mut self, task: &EcsTask, stopped: Option<&Stopped>) {
        let previous = self.statuses.get(&task.id).cloned();
        if previous.as_deref() == Some(task.last_status.as_str()) {
            return;
        }
        self.statuses
            .insert(task.id.clone(), task.last_status.clone());
        let new = task.created_at.is_some_and(|at| at >= self.since);
        if previous.is_none() && !new {
            return;
        }
        let change = match &previous {
            Some(previous) => format!("{previous} → {}", task.last_status),
            None => task.last_status.clone(),
        };
        let why = match stopped {
            Some(stopped) if stopped.is_failure() => format!(": {}", stopped.diagnosis.headline),
            _ if task.last_status == "STOPPED" => match (&task.stop_code, &task.stopped_reason) {
                (Some(code), Some(reason)) => format!(" ({code}: {reason})"),
                (None, Some(reason)) => format!(" ({reason})"),
                (Some(code), None) => format!(" ({code})"),
                (None, None) => String::new(),
            },
            _ => String::new(),
        };
        self.ui
            .status(format!("task {} {change}{why}", short_id(&task.id)));
    }
}

#[cfg(test)]
mod tests {
    use isokit_diagnose::{StoppedContainer, StoppedTask, diagnose};

    use super::*;

    /// A stopped task as ECS reports it, explained.
    fn stopped(id: &str, code: &str, reason: &str, exit_code: Option<i32>) -> Stopped {
        let task = StoppedTask {
            stopped_reason: Some(reason.to_owned()),
            stop_code: Some(code.to_owned()),
            containers: vec![StoppedContainer {
                name: "app".to_owned(),
                exit_code,
                last_status: Some("STOPPED".to_owned()),
                ..StoppedContainer::default()
            }],
            region: Some("us-east-1".to_owned()),
            ..StoppedTask::default()
        };
        Stopped {
            task_id: id.to_owned(),
            deployment: Some("ecs-svc/1".to_owned()),
            stopped_at: None,
            stop_code: Some(code.to_owned()),
            stopped_reason: Some(reason.to_owned()),
            diagnosis: diagnose(&task),
            log_stream: None,
            log_tail: Vec::new(),
            last_report: None,
        }
    }

    // Stopped reasons and codes as ECS writes them:
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
    const EXITED: &str = "Essential container in task exited";
    const HEALTH: &str = "Task failed container health checks";
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html
    const PULL_TIMEOUT: &str = "CannotPullContainerError: pull image manifest has been retried 5 \
        time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1: \
        failed to do request: Head \"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/manifests/v1\": \
        dial tcp 52.94.1.10:443: i/o timeout";
    // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html (stopCode)
    const SCALING: &str = "Scaling activity initiated by (deployment ecs-svc/1)";

    #[test]
    fn the_first_start_failure_fails_the_deploy() {
        let mut rule = FailFast::new(true);
        assert_eq!(
            rule.judge(&stopped("a1", "TaskFailedToStart", PULL_TIMEOUT, None)),
            Some(FailureRule::StartFailure)
        );
    }

    #[test]
    fn a_running_task_failing_fails_the_deploy_the_second_time_alike() {
        let mut rule = FailFast::new(true);
        let first = stopped("a1", "EssentialContainerExited", EXITED, Some(1));
        assert_eq!(rule.judge(&first), None, "one exit may be passing");
        // The same task read twice is still one.
        assert_eq!(rule.judge(&first), None);
        // Another cause is another count.
        assert_eq!(
            rule.judge(&stopped("b2", "ServiceSchedulerInitiated", HEALTH, None)),
            None
        );
        let second = stopped("c3", "EssentialContainerExited", EXITED, Some(1));
        assert_eq!(rule.judge(&second), Some(FailureRule::SameCause));
        assert_eq!(rule.count_like(&second), 2);
        assert_eq!(
            rule.judge(&stopped("d4", "ServiceSchedulerInitiated", HEALTH, None)),
            Some(FailureRule::SameCause)
        );
    }

    #[test]
    fn stops_on_purpose_are_no_failures() {
        let mut rule = FailFast::new(true);
        for id in ["a1", "b2", "c3"] {
            assert_eq!(
                rule.judge(&stopped(id, "ServiceSchedulerInitiated", SCALING, Some(0))),
                None
            );
            assert_eq!(
                rule.judge(&stopped(
                    id,
                    "UserInitiated",
                    "Task stopped by user",
                    Some(143)
                )),
                None
            );
        }
        assert_eq!(rule.count_like(&stopped("a1", "x", "y", None)), 0);
    }

    #[test]
    fn without_fail_fast_only_the_circuit_breaker_decides() {
        let mut rule = FailFast::new(false);
        assert_eq!(
            rule.judge(&stopped("a1", "TaskFailedToStart", PULL_TIMEOUT, None)),
            None
        );
        for id in ["b2", "c3", "d4"] {
            assert_eq!(
                rule.judge(&stopped(id, "EssentialContainerExited", EXITED, Some(1))),
                None
            );
        }
        assert_eq!(
            rule.count_like(&stopped("d4", "EssentialContainerExited", EXITED, Some(1))),
            3
        );
    }
}
