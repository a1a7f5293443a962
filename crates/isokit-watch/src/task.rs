//! One task read back: where its containers write, its last log lines, its
//! latest in-task report, and, once it has stopped, why.

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use isokit_aws::{Aws, EcsTask, EcsTaskDefinition, Logs};
use isokit_diagnose::{CpuArchitecture, Diagnosis, StoppedContainer, StoppedTask, diagnose};
use isokit_report::{LogLine, Report};
use serde::Serialize;

use crate::clock::{Ago, Rfc3339, age, serialize_millis, serialize_optional_millis};
use crate::error::Error;
use crate::event::RoundLine;

/// How many of a container's last lines explain how it ended.
const LOG_TAIL_LINES: u16 = 10;

/// How many of a stream's last events are searched for the latest round:
/// isokit-service writes its start line, then one round line per interval
/// and next to nothing else.
const REPORT_SEARCH_EVENTS: u16 = 50;

/// Where one container of a task writes through the awslogs driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogStreamName {
    pub group: String,
    pub stream: String,
}

impl LogStreamName {
    /// The awslogs driver names a container's stream
    /// `<awslogs-stream-prefix>/<container>/<task ID>`; Fargate requires the
    /// prefix. `None` for a container that does not log through awslogs.
    pub fn of(definition: &EcsTaskDefinition, container: &str, task_id: &str) -> Option<Self> {
        let container = definition
            .containers
            .iter()
            .find(|candidate| candidate.name == container)?;
        if container.log_driver.as_deref() != Some("awslogs") {
            return None;
        }
        let option = |key: &str| container.log_options.get(key).filter(|v| !v.is_empty());
        Some(LogStreamName {
            group: option("awslogs-group")?.clone(),
            stream: format!(
                "{}/{}/{task_id}",
                option("awslogs-stream-prefix")?,
                container.name
            ),
        })
    }

    /// The stream of the task's first essential container that logs
    /// through awslogs: where isokit-service writes its reports.
    pub fn main(definition: &EcsTaskDefinition, task_id: &str) -> Option<Self> {
        definition
            .containers
            .iter()
            .filter(|container| container.essential)
            .find_map(|container| Self::of(definition, &container.name, task_id))
    }
}

impl fmt::Display for LogStreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.stream, self.group)
    }
}

/// The task definitions met so far, each read once: what a task's
/// containers are called, which are essential, where they log, and the CPU
/// architecture the task runs on.
#[derive(Debug, Default)]
pub struct TaskDefinitions {
    known: HashMap<String, EcsTaskDefinition>,
}

impl TaskDefinitions {
    /// The task's definition; `None` when it cannot be read (the task is
    /// then explained from ECS's words alone, and a later call tries again).
    pub async fn of(&mut self, aws: &Aws, task: &EcsTask) -> Option<&EcsTaskDefinition> {
        let arn = task.task_definition_arn.as_deref()?;
        if !self.known.contains_key(arn) {
            match aws.ecs().describe_task_definition(arn).await {
                Ok(definition) => {
                    self.known.insert(arn.to_owned(), definition);
                }
                Err(err) => {
                    tracing::warn!("cannot read task definition {arn}: {err}");
                    return None;
                }
            }
        }
        self.known.get(arn)
    }
}

/// An in-task report read back from a task's log stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadReport {
    /// When the task wrote it (the log event's time).
    #[serde(serialize_with = "serialize_millis")]
    pub written_at: SystemTime,
    /// How long ago that was when it was read, in seconds.
    pub age_seconds: u64,
    /// [`Report::passes`]: every endpoint reachable and isolation proven
    /// by the egress probes' outcomes (not the report's own `healthy`).
    pub passes: bool,
    pub report: Report,
}

impl ReadReport {
    pub fn new(report: Report, written_at: SystemTime, now: SystemTime) -> ReadReport {
        ReadReport {
            written_at,
            age_seconds: age(written_at, now).as_secs(),
            passes: report.passes(),
            report,
        }
    }
}

/// The latest `round` report in a stream; `None` while there is none (the
/// stream does not exist yet, or the task is not isokit-service).
pub async fn latest_report(
    logs: &Logs,
    stream: &LogStreamName,
) -> Result<Option<ReadReport>, Error> {
    let Some(events) = logs
        .tail(&stream.group, &stream.stream, REPORT_SEARCH_EVENTS)
        .await?
    else {
        return Ok(None);
    };
    let now = SystemTime::now();
    Ok(events.into_iter().rev().find_map(|event| {
        serde_json::from_str::<LogLine>(&event.message)
            .ok()
            .and_then(LogLine::into_round)
            .map(|report| ReadReport::new(report, event.timestamp, now))
    }))
}

/// The last [`LOG_TAIL_LINES`] lines of a stream, oldest first (none while
/// it does not exist).
pub async fn log_tail(logs: &Logs, stream: &LogStreamName) -> Result<Vec<String>, Error> {
    Ok(logs
        .tail(&stream.group, &stream.stream, LOG_TAIL_LINES)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|event| event.message)
        .collect())
}

/// What the classifier reads of a task: ECS's words, the containers' exit
/// codes, the definition's CPU architecture when it sets one, and the
/// containers' last log lines (by container name) where they were read.
pub fn stopped_task(
    task: &EcsTask,
    definition: Option<&EcsTaskDefinition>,
    region: &str,
    log_tails: &HashMap<String, Vec<String>>,
) -> StoppedTask {
    StoppedTask {
        stopped_reason: task.stopped_reason.clone(),
        stop_code: task.stop_code.clone(),
        containers: task
            .containers
            .iter()
            .map(|container| StoppedContainer {
                name: container.name.clone(),
                reason: container.reason.clone(),
                exit_code: container.exit_code,
                last_status: container.last_status.clone(),
                health_status: container.health_status.clone(),
                log_tail: log_tails.get(&container.name).cloned().unwrap_or_default(),
            })
            .collect(),
        cpu_architecture: definition
            .and_then(|definition| definition.cpu_architecture.as_deref())
            .and_then(CpuArchitecture::from_ecs),
        region: Some(region.to_owned()),
    }
}

/// A stopped task, explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stopped {
    pub task_id: String,
    /// The deployment that started it (`ecs-svc/…`).
    pub deployment: Option<String>,
    #[serde(serialize_with = "serialize_optional_millis")]
    pub stopped_at: Option<SystemTime>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub diagnosis: Diagnosis,
    /// The stream of the container concerned, when it logs through awslogs.
    pub log_stream: Option<LogStreamName>,
    /// Its last lines, oldest first (empty when it wrote none, or never ran).
    pub log_tail: Vec<String>,
    /// For a failed health check: the task's last in-task report.
    pub last_report: Option<ReadReport>,
}

impl Stopped {
    /// Whether the task failed, rather than being stopped on purpose: ECS
    /// stopping it to scale in or replace it, a user's StopTask, Spot
    /// capacity reclaimed. A failed health check is stopped by the
    /// scheduler too, but the diagnosis names it.
    pub fn is_failure(&self) -> bool {
        let diagnosis = &self.diagnosis;
        if diagnosis.cause != isokit_diagnose::Cause::Unknown || diagnosis.is_start_failure() {
            return true;
        }
        match self.stop_code.as_deref() {
            Some("EssentialContainerExited" | "TaskFailedToStart") => true,
            Some(
                "UserInitiated"
                | "ServiceSchedulerInitiated"
                | "SpotInterruption"
                | "TerminationNotice",
            ) => false,
            // No code, or one ECS adds later: a non-zero exit says it failed.
            _ => diagnosis.exit_code.is_some_and(|code| code != 0),
        }
    }
}

/// Names why `task` stopped: reads its definition, the last log lines of
/// its essential containers when it ran, and for failed health checks its
/// last in-task report. Never fails: what cannot be read is left out (with
/// a warning), and ECS's own words still explain the task.
pub async fn explain_stopped(
    aws: &Aws,
    definitions: &mut TaskDefinitions,
    task: &EcsTask,
) -> Stopped {
    let definition = definitions.of(aws, task).await.cloned();
    let logs = aws.logs();
    let mut tails = HashMap::new();
    // A task that never started its containers wrote nothing.
    let ran = task.started_at.is_some() || task.containers.iter().any(|c| c.exit_code.is_some());
    if let (true, Some(definition)) = (ran, &definition) {
        for container in definition.containers.iter().filter(|c| c.essential) {
            let Some(stream) = LogStreamName::of(definition, &container.name, &task.id) else {
                continue;
            };
            match log_tail(&logs, &stream).await {
                Ok(tail) => {
                    tails.insert(container.name.clone(), tail);
                }
                Err(err) => tracing::warn!("cannot read {stream}: {err}"),
            }
        }
    }
    let diagnosis = diagnose(&stopped_task(
        task,
        definition.as_ref(),
        aws.region(),
        &tails,
    ));
    let concerned = diagnosis.container.clone().or_else(|| {
        definition
            .as_ref()
            .and_then(|d| d.containers.iter().find(|c| c.essential))
            .map(|c| c.name.clone())
    });
    let log_stream = concerned.as_deref().filter(|_| ran).and_then(|container| {
        definition
            .as_ref()
            .and_then(|d| LogStreamName::of(d, container, &task.id))
    });
    let log_tail = concerned
        .and_then(|container| tails.remove(&container))
        .unwrap_or_default();
    let last_report = match (&diagnosis.cause, &log_stream) {
        (isokit_diagnose::Cause::HealthCheckFailed, Some(stream)) => {
            latest_report(&logs, stream).await.unwrap_or_else(|err| {
                tracing::warn!("cannot read {stream}: {err}");
                None
            })
        }
        _ => None,
    };
    Stopped {
        task_id: task.id.clone(),
        deployment: task.started_by.clone(),
        stopped_at: task.stopped_at,
        stop_code: task.stop_code.clone(),
        stopped_reason: task.stopped_reason.clone(),
        diagnosis,
        log_stream,
        log_tail,
        last_report,
    }
}

/// A task's ID as isokit prints it: its first 8 characters, as unique
/// among a service's tasks as a short commit hash.
pub fn short_id(task_id: &str) -> &str {
    task_id.get(..8).unwrap_or(task_id)
}

/// The diagnosis for a person: the headline, the fix, AWS's own words, the
/// container's last log lines and, for a failed health check, the last
/// in-task report.
impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diagnosis = &self.diagnosis;
        write!(f, "task {} stopped", short_id(&self.task_id))?;
        if let Some(at) = self.stopped_at {
            write!(
                f,
                " at {}",
                Rfc3339 {
                    time: at,
                    millis: false
                }
            )?;
        }
        writeln!(f, ": {}", diagnosis.headline)?;
        writeln!(f, "  help: {}", diagnosis.fix)?;
        if !diagnosis.aws_message.is_empty() {
            write!(f, "  ECS said: {}", diagnosis.aws_message)?;
            match &self.stop_code {
                Some(code) => writeln!(f, " ({code})")?,
                None => writeln!(f)?,
            }
        }
        if let Some(stream) = &self.log_stream {
            if self.log_tail.is_empty() {
                writeln!(f, "  its log stream {stream} holds nothing")?;
            } else {
                writeln!(f, "  its last log lines ({stream}):")?;
                for line in &self.log_tail {
                    writeln!(f, "    | {line}")?;
                }
            }
        }
        if let Some(read) = &self.last_report {
            writeln!(
                f,
                "  its last in-task report ({} before it stopped): {}",
                Ago(self
                    .stopped_at
                    .map(|at| age(read.written_at, at))
                    .unwrap_or_default()),
                RoundLine(&read.report)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    use isokit_aws::{ContainerDefinition, TaskContainer};

    use super::*;

    const SERVICE_LINES: &str = include_str!("../tests/fixtures/service.jsonl");

    fn definition() -> EcsTaskDefinition {
        let awslogs = |prefix: &str| {
            BTreeMap::from([
                ("awslogs-group".to_owned(), "/ecs/web".to_owned()),
                ("awslogs-stream-prefix".to_owned(), prefix.to_owned()),
            ])
        };
        EcsTaskDefinition {
            arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3".to_owned(),
            cpu_architecture: Some("ARM64".to_owned()),
            containers: vec![
                ContainerDefinition {
                    name: "sidecar".to_owned(),
                    image: None,
                    essential: false,
                    log_driver: Some("awslogs".to_owned()),
                    log_options: awslogs("web"),
                },
                ContainerDefinition {
                    name: "app".to_owned(),
                    image: None,
                    essential: true,
                    log_driver: Some("awslogs".to_owned()),
                    log_options: awslogs("web"),
                },
            ],
        }
    }

    /// A task ECS stopped for failed health checks, as DescribeTasks reports
    /// it (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
    fn unhealthy() -> EcsTask {
        EcsTask {
            arn: "arn:aws:ecs:eu-west-1:123456789012:task/web/0f3e6b1a2c4d4e5f".to_owned(),
            id: "0f3e6b1a2c4d4e5f".to_owned(),
            task_definition_arn: None,
            last_status: "STOPPED".to_owned(),
            desired_status: "STOPPED".to_owned(),
            health_status: Some("UNHEALTHY".to_owned()),
            stopped_reason: Some("Task failed container health checks".to_owned()),
            stop_code: Some("ServiceSchedulerInitiated".to_owned()),
            group: None,
            started_by: Some("ecs-svc/1".to_owned()),
            launch_type: None,
            availability_zone: None,
            created_at: None,
            started_at: Some(UNIX_EPOCH + Duration::from_secs(1_778_188_160)),
            stopped_at: Some(UNIX_EPOCH + Duration::from_secs(1_778_188_235)),
            containers: vec![TaskContainer {
                name: "app".to_owned(),
                image: None,
                last_status: Some("STOPPED".to_owned()),
                exit_code: Some(143),
                reason: None,
                health_status: Some("UNHEALTHY".to_owned()),
            }],
            attachments: Vec::new(),
        }
    }

    #[test]
    fn the_essential_containers_stream_is_where_awslogs_writes() {
        let definition = definition();
        assert_eq!(
            LogStreamName::main(&definition, "0f3e6b1a"),
            Some(LogStreamName {
                group: "/ecs/web".to_owned(),
                stream: "web/app/0f3e6b1a".to_owned(),
            })
        );
        let mut without = definition.clone();
        without.containers[1].log_driver = Some("awsfirelens".to_owned());
        assert_eq!(LogStreamName::main(&without, "0f3e6b1a"), None);
    }

    #[test]
    fn a_stopped_task_reaches_the_classifier_with_its_architecture_and_last_lines() {
        let tails = HashMap::from([(
            "app".to_owned(),
            vec!["exec /app: exec format error".to_owned()],
        )]);
        let task = stopped_task(&unhealthy(), Some(&definition()), "eu-west-1", &tails);
        assert_eq!(task.cpu_architecture, Some(CpuArchitecture::Arm64));
        assert_eq!(task.region.as_deref(), Some("eu-west-1"));
        assert_eq!(task.containers[0].exit_code, Some(143));
        assert_eq!(task.containers[0].log_tail, tails["app"]);
        assert_eq!(
            stopped_task(&unhealthy(), None, "eu-west-1", &HashMap::new()).cpu_architecture,
            None
        );
    }

    #[test]
    fn a_failed_health_check_is_shown_with_the_last_in_task_report() {
        let task = unhealthy();
        let report =
            serde_json::from_str::<LogLine>(SERVICE_LINES.lines().nth(1).expect("a round"))
                .expect("a log line")
                .into_round()
                .expect("a round");
        let stopped = Stopped {
            task_id: task.id.clone(),
            deployment: task.started_by.clone(),
            stopped_at: task.stopped_at,
            stop_code: task.stop_code.clone(),
            stopped_reason: task.stopped_reason.clone(),
            diagnosis: diagnose(&stopped_task(
                &task,
                Some(&definition()),
                "eu-west-1",
                &HashMap::new(),
            )),
            log_stream: LogStreamName::main(&definition(), &task.id),
            log_tail: vec!["listening on 0.0.0.0:8080".to_owned()],
            last_report: Some(ReadReport::new(
                report,
                UNIX_EPOCH + Duration::from_secs(1_778_188_205),
                UNIX_EPOCH + Duration::from_secs(1_778_188_240),
            )),
        };
        assert!(stopped.is_failure());
        assert_eq!(
            stopped.to_string(),
            "task 0f3e6b1a stopped at 2026-05-07T21:10:35Z: container `app` failed its health checks\n  \
             help: Read the task's last in-task report: the check fails while the service inside is \
             unhealthy or still starting; check the health check command and its `startPeriod`.\n  \
             ECS said: Task failed container health checks (ServiceSchedulerInitiated)\n  \
             its last log lines (web/app/0f3e6b1a2c4d4e5f in /ecs/web):\n    \
             | listening on 0.0.0.0:8080\n  \
             its last in-task report (30 s before it stopped): round 1 UNHEALTHY: 1 of 3 endpoints \
             failing: ecr.dkr (dns); isolated\n"
        );
    }
}
