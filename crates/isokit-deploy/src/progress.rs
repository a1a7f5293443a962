//! A SAM run followed through CloudFormation's stack events: one line per
//! resource event, nested stacks included, while SAM deploys or deletes.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, SystemTime};

use isokit_aws::{FirstFailure, ResourceEvent, StackFollower};
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
    /// When CloudFormation stamped the operation's first event.
    started: Option<SystemTime>,
    /// The ECS service, once an event names it.
    service: Option<ServiceName>,
}

/// An ECS service by its cluster and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceName {
    pub(crate) cluster: String,
    pub(crate) service: String,
}

impl ServiceName {
    /// From a service's ARN, `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`
    /// (the physical ID CloudFormation gives an `AWS::ECS::Service`);
    /// `None` for the old format, which does not name the cluster.
    pub(crate) fn from_arn(arn: &str) -> Option<ServiceName> {
        let path = arn.split_once(":service/")?.1;
        let (cluster, service) = path.split_once('/')?;
        (!cluster.is_empty() && !service.is_empty() && !service.contains('/')).then(|| {
            ServiceName {
                cluster: cluster.to_owned(),
                service: service.to_owned(),
            }
        })
    }
}

impl<'a> Progress<'a> {
    pub(crate) fn new(ui: &'a Ui, follower: StackFollower, label: String) -> Progress<'a> {
        let task = (ui.style() == Style::Bars).then(|| ui.task(label, None));
        Progress {
            ui,
            follower,
            task,
            lost: false,
            started: None,
            service: None,
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

    /// Reads and prints the events written since the last call.
    pub(crate) async fn poll(&mut self) {
        if self.lost {
            return;
        }
        match self.follower.poll().await {
            Ok(events) => {
                for event in events {
                    self.note(&event);
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

    /// What the deploy watch needs from an event: when the operation
    /// began, by CloudFormation's clock (which ECS shares), and the service
    /// once CloudFormation has created it (its ARN is the resource's
    /// physical ID from "Resource creation Initiated" on, while
    /// CloudFormation still waits for the service to be stable).
    fn note(&mut self, resource: &ResourceEvent) {
        let event = &resource.event;
        self.started.get_or_insert(event.timestamp);
        if event.resource_type == "AWS::ECS::Service"
            && !event.is_failure()
            && !event.status.starts_with("DELETE")
            && let Some(service) = event.physical_id.as_deref().and_then(ServiceName::from_arn)
        {
            self.service = Some(service);
        }
    }

    /// When CloudFormation began this operation, if an event has said.
    pub(crate) fn started(&self) -> Option<SystemTime> {
        self.started
    }

    /// The service the stack operation created or updated, if an event has
    /// named it.
    pub(crate) fn service(&self) -> Option<&ServiceName> {
        self.service.as_ref()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_arn_names_its_cluster_and_itself() {
        assert_eq!(
            ServiceName::from_arn(
                "arn:aws:ecs:eu-west-1:123456789012:service/isokit-Cluster-1X2Y/isokit-service"
            ),
            Some(ServiceName {
                cluster: "isokit-Cluster-1X2Y".to_owned(),
                service: "isokit-service".to_owned(),
            })
        );
        // The old format does not name the cluster.
        assert_eq!(
            ServiceName::from_arn("arn:aws:ecs:eu-west-1:123456789012:service/isokit-service"),
            None
        );
        assert_eq!(ServiceName::from_arn("isokit-service"), None);
    }
}
