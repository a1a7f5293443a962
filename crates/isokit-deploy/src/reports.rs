//! The in-task reports of a deployment's tasks, read back from their log
//! streams once the service is steady.

use std::time::{Duration, Instant};

use isokit_aws::Aws;
use isokit_ui::Ui;
use isokit_watch::{RunningTask, ServiceSnapshot, TaskDefinitions, short_id};

/// How often the streams are read for a report still missing: the awslogs
/// driver ships a task's lines every 5 seconds.
const READ_INTERVAL: Duration = Duration::from_secs(2);

/// Each running task of `deployment`, with its latest report: waits up to
/// `timeout` for the tasks that have not written one yet. A task that
/// writes none in time is warned about and kept without one (an image of
/// the user's own may write no isokit report).
pub(crate) async fn read_reports(
    aws: &Aws,
    ui: &Ui,
    snapshot: &ServiceSnapshot,
    deployment: &str,
    timeout: Duration,
) -> Vec<RunningTask> {
    let mut definitions = TaskDefinitions::default();
    let mut tasks = Vec::new();
    let deployment = snapshot
        .service
        .deployments
        .iter()
        .find(|candidate| candidate.id == deployment);
    for task in deployment
        .into_iter()
        .flat_map(|deployment| snapshot.tasks_of(deployment))
        .filter(|task| isokit_watch::is_live(task))
    {
        tasks.push(RunningTask::read(aws, &mut definitions, task).await);
    }
    let deadline = Instant::now() + timeout;
    let waiting = |tasks: &[RunningTask]| {
        tasks
            .iter()
            .filter(|task| task.report.is_none() && task.log_stream.is_some())
            .count()
    };
    if waiting(&tasks) > 0 {
        ui.status(format!(
            "waiting up to {} s for the first in-task report of {} task(s)",
            timeout.as_secs(),
            waiting(&tasks)
        ));
    }
    while waiting(&tasks) > 0 && Instant::now() < deadline {
        tokio::time::sleep(READ_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
        for task in tasks.iter_mut().filter(|task| task.report.is_none()) {
            task.read_report(aws).await;
        }
    }
    for task in &tasks {
        match (&task.report, &task.log_stream) {
            (Some(_), _) => {}
            (None, Some(stream)) => ui.warn(format!(
                "task {} wrote no in-task report within {} s to {stream} (is its image \
                 isokit-service? `isokit logs --task {}` shows what it wrote)",
                short_id(&task.task_id),
                timeout.as_secs(),
                short_id(&task.task_id)
            )),
            (None, None) => ui.warn(format!(
                "task {} logs through no awslogs stream isokit can read, so its in-task report \
                 cannot be read back",
                short_id(&task.task_id)
            )),
        }
    }
    tasks
}
