//! A SAM run followed through CloudFormation's stack events: one line per
//! resource event, nested stacks included, while SAM deploys or deletes.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use isokit_aws::{FirstFailure, StackFollower};
use isokit_ui::{Style, Task, Ui};

/// How often the events are read while SAM runs. A resource takes seconds
/// to minutes, so a line within two seconds of its event reads as live;
/// each read costs one DescribeStackEvents call per stack still changing
/// (four at most for the bundled stacks), which, beside SAM's own calls
/// every five seconds, stays far below the rates at which CloudFormation
/// throttles an account's describe calls. Throttled calls wait longer.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The events of one operation, shown as they come.
pub(crate) struct Progress<'a> {
    ui: &'a Ui,
    follower: StackFollower,
    /// The spinner on a terminal, with the latest event beside it.
    task: Option<Task>,
    /// Reading the events failed: the operation goes on without them.
    lost: bool,
}

impl<'a> Progress<'a> {
    pub(crate) fn new(ui: &'a Ui, follower: StackFollower, label: String) -> Progress<'a> {
        let task = (ui.style() == Style::Bars).then(|| ui.task(label, None));
        Progress {
            ui,
            follower,
            task,
            lost: false,
        }
    }

    /// Runs `work` (SAM) while following the events, then reads the last
    /// of them. Reading them never fails the work: a throttled read waits
    /// and tries again, any other failure is a warning and the lines stop.
    pub(crate) async fn follow<T>(&mut self, work: impl Future<Output = T>) -> T {
        let outcome = tokio::select! {
            outcome = work => outcome,
            never = self.poll_forever() => match never {},
        };
        self.poll().await;
        outcome
    }

    async fn poll_forever(&mut self) -> Infallible {
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            self.poll().await;
        }
    }

    async fn poll(&mut self) {
        if self.lost {
            return;
        }
        match self.follower.poll().await {
            Ok(events) => {
                for event in events {
                    let line = event.to_string();
                    if let Some(task) = &self.task {
                        task.set_message(line.clone());
                    }
                    self.ui.status(line);
                }
            }
            Err(err) => {
                self.lost = true;
                self.ui.warn(format!(
                    "cannot read the stack's events any more, so progress stops here; SAM carries on: {err}"
                ));
            }
        }
    }

    /// Closes the spinner with `word`.
    pub(crate) fn finish(&self, word: &str) {
        if let Some(task) = &self.task {
            task.finish(word);
        }
    }

    /// The failure that explains the operation, if the events name one.
    pub(crate) fn first_failure(&self) -> Option<FirstFailure> {
        self.follower.first_failure()
    }

    /// Whether the stack changed: true when the events could not tell.
    pub(crate) fn changed(&self) -> bool {
        self.lost || self.follower.changed()
    }
}
