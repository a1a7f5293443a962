//! `isokit logs`: the service's log events since a moment, and with
//! `follow`, new ones as they come until a stop signal.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use isokit_aws::{Aws, Logs, StreamSelection, task_id};
use isokit_ui::{StopSignals, Ui};

use crate::error::Error;
use crate::event::LogEvent;
use crate::service::ServiceLogs;

/// How often a follow asks CloudWatch for new events. The awslogs driver
/// sends a task's lines every 5 seconds, so asking more often finds nothing.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How far before the newest event seen each poll of a follow reads again.
/// Tasks' batches arrive out of step: an event stamped before the newest one
/// seen may be stored after it was read. Events older than this when they
/// arrive are not shown.
const LATE_ARRIVALS: Duration = Duration::from_secs(30);

/// What `isokit logs` reads.
#[derive(Debug, Clone)]
pub struct LogsOptions {
    pub stack_name: String,
    /// Show events from this long ago on.
    pub since: Duration,
    /// Only this task's streams: its ID, a prefix of it, or its ARN.
    pub task: Option<String>,
    /// Keep reading new events until SIGINT, SIGTERM or SIGHUP.
    pub follow: bool,
}

/// Reads the service's log events and hands each to `sink` as it comes,
/// oldest first. Progress goes to `ui`.
///
/// The sink writes the results. When it fails because its reader has gone
/// (`BrokenPipe`: `isokit logs | head`), reading ends quietly: the reader
/// has what it wanted. With `follow`, reading ends on SIGINT, SIGTERM or
/// SIGHUP, as without it when one arrives first; either way that is a
/// normal end.
pub async fn logs(
    aws: &Aws,
    options: &LogsOptions,
    ui: &Ui,
    sink: &mut dyn FnMut(&LogEvent) -> io::Result<()>,
) -> Result<(), Error> {
    let mut stop = StopSignals::listen().map_err(Error::Signals)?;
    // Reading only reads: dropping it part-way through leaves nothing behind.
    tokio::select! {
        read = read(aws, options, ui, sink) => read,
        signal = stop.recv() => {
            ui.status(format!("stopped on {signal}"));
            Ok(())
        }
    }
}

async fn read(
    aws: &Aws,
    options: &LogsOptions,
    ui: &Ui,
    sink: &mut dyn FnMut(&LogEvent) -> io::Result<()>,
) -> Result<(), Error> {
    let stack = ServiceLogs::read(aws, &options.stack_name).await?;
    let logs = aws.logs();
    let prefix = stack.stream_prefix();
    let since = SystemTime::now()
        .checked_sub(options.since)
        .unwrap_or(UNIX_EPOCH);
    let task_streams = match &options.task {
        Some(task) => Some(task_streams(&logs, &stack, task_id(task), options.follow, ui).await?),
        None => None,
    };
    let (selection, which) = match &task_streams {
        Some(names) => (StreamSelection::Named(names), names.join(", ")),
        None => (StreamSelection::Prefix(&prefix), format!("{prefix}*")),
    };
    ui.status(format!(
        "log group {}, streams {which}, since {} ago",
        stack.log_group,
        Ago(options.since)
    ));
    let mut seen = Seen::default();
    let mut from = since;
    let mut following = false;
    loop {
        let mut pages = logs.events(&stack.log_group, selection, from);
        while let Some(page) = pages.next_page().await? {
            for event in page {
                if !seen.first_time(&event) {
                    continue;
                }
                match sink(&LogEvent::new(event)) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                        tracing::debug!("the reader of stdout has gone: stopping");
                        return Ok(());
                    }
                    Err(err) => return Err(Error::Output(err)),
                }
            }
            seen.forget_older_than(LATE_ARRIVALS);
        }
        if !options.follow {
            if seen.count == 0 {
                say_why_nothing(&logs, &stack, &prefix, options, ui).await?;
            }
            return Ok(());
        }
        if !following {
            ui.status("following: new events are printed as they arrive (Ctrl-C stops)");
            following = true;
        }
        from = seen
            .newest()
            .and_then(|newest| newest.checked_sub(LATE_ARRIVALS))
            .map_or(since, |late| late.max(since));
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The streams of one task (or of every task whose ID starts with `task`,
/// as the short IDs printed do): found by listing the service's streams,
/// since the container's name (the middle part) is the task definition's to
/// choose. With `follow`, waits for the first to appear.
async fn task_streams(
    logs: &Logs,
    stack: &ServiceLogs,
    task: &str,
    follow: bool,
    ui: &Ui,
) -> Result<Vec<String>, Error> {
    let prefix = stack.stream_prefix();
    let mut said = false;
    loop {
        let names: Vec<String> = logs
            .streams(&stack.log_group, &prefix)
            .await?
            .into_iter()
            .filter(|stream| {
                stream
                    .name
                    .rsplit('/')
                    .next()
                    .is_some_and(|id| id.starts_with(task))
            })
            .map(|stream| stream.name)
            .collect();
        if !names.is_empty() {
            return Ok(names);
        }
        if !follow {
            return Err(Error::NoTaskStream {
                task: task.to_owned(),
                group: stack.log_group.clone(),
                service: stack.service.clone(),
            });
        }
        if !said {
            ui.status(format!(
                "task {task} has no log stream in {} yet: waiting for its first lines (Ctrl-C stops)",
                stack.log_group
            ));
            said = true;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Nothing to show is a result, but an empty screen explains nothing: say
/// whether the service has written at all.
async fn say_why_nothing(
    logs: &Logs,
    stack: &ServiceLogs,
    prefix: &str,
    options: &LogsOptions,
    ui: &Ui,
) -> Result<(), Error> {
    let ago = Ago(options.since);
    if let Some(task) = &options.task {
        ui.status(format!(
            "task {} wrote nothing in the last {ago}: --since 60m reads further back",
            task_id(task)
        ));
        return Ok(());
    }
    let streams = logs.streams(&stack.log_group, prefix).await?;
    if streams.is_empty() {
        ui.status(format!(
            "service {} has no log stream in {} yet: none of its tasks has written anything \
             (isokit logs --follow waits for them)",
            stack.service, stack.log_group
        ));
    } else {
        ui.status(format!(
            "nothing in the last {ago} in the {} log stream(s) of service {}: --since 60m reads \
             further back",
            streams.len(),
            stack.service
        ));
    }
    Ok(())
}

/// The events already shown that a later poll may read again: those within
/// [`LATE_ARRIVALS`] of the newest, by ID.
#[derive(Debug, Default)]
struct Seen {
    by_time: BTreeMap<SystemTime, HashSet<String>>,
    count: u64,
}

impl Seen {
    /// Whether this event is new, remembering it.
    fn first_time(&mut self, event: &isokit_aws::LogEvent) -> bool {
        let new = self
            .by_time
            .entry(event.timestamp)
            .or_default()
            .insert(event.id.clone());
        self.count += u64::from(new);
        new
    }

    fn newest(&self) -> Option<SystemTime> {
        self.by_time.keys().next_back().copied()
    }

    fn forget_older_than(&mut self, window: Duration) {
        if let Some(cutoff) = self.newest().and_then(|newest| newest.checked_sub(window)) {
            self.by_time = self.by_time.split_off(&cutoff);
        }
    }
}

/// `10m`, `90s`, `2h 5m`: a duration as the user would type it.
struct Ago(Duration);

impl std::fmt::Display for Ago {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.0.as_secs();
        let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
        let parts: Vec<String> = [(hours, "h"), (minutes, "m"), (seconds, "s")]
            .into_iter()
            .filter(|(amount, _)| *amount > 0)
            .map(|(amount, unit)| format!("{amount}{unit}"))
            .collect();
        if parts.is_empty() {
            write!(f, "{} ms", self.0.as_millis())
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, second: u64) -> isokit_aws::LogEvent {
        isokit_aws::LogEvent {
            id: id.to_owned(),
            stream: "s/s/t".to_owned(),
            timestamp: UNIX_EPOCH + Duration::from_secs(second),
            message: String::new(),
        }
    }

    #[test]
    fn an_event_read_again_is_shown_once() {
        let mut seen = Seen::default();
        assert!(seen.first_time(&event("a", 100)));
        assert!(seen.first_time(&event("b", 100)), "same time, other event");
        assert!(!seen.first_time(&event("a", 100)));
        assert!(seen.first_time(&event("c", 140)));
        assert_eq!(seen.count, 3);
        assert_eq!(seen.newest(), Some(UNIX_EPOCH + Duration::from_secs(140)));
    }

    #[test]
    fn only_the_late_arrival_window_is_remembered() {
        let mut seen = Seen::default();
        for (id, second) in [("old", 100), ("edge", 110), ("new", 140)] {
            seen.first_time(&event(id, second));
        }
        seen.forget_older_than(Duration::from_secs(30));
        let kept: Vec<u64> = seen
            .by_time
            .keys()
            .map(|time| {
                time.duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            })
            .collect();
        assert_eq!(kept, [110, 140]);
        assert!(!seen.first_time(&event("edge", 110)), "still remembered");
    }

    #[test]
    fn durations_read_as_typed() {
        assert_eq!(Ago(Duration::from_secs(600)).to_string(), "10m");
        assert_eq!(Ago(Duration::from_secs(7_500)).to_string(), "2h 5m");
        assert_eq!(Ago(Duration::from_secs(90)).to_string(), "1m 30s");
        assert_eq!(Ago(Duration::from_millis(500)).to_string(), "500 ms");
    }
}
