//! A service as ECS reports it at one moment: the service with its
//! deployments and events, and every task ECS still knows of it.

use std::time::SystemTime;

use isokit_aws::{Aws, EcsDeployment, EcsService, EcsTask};

use crate::error::Error;

/// One reading of a service and its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    pub cluster: String,
    pub service: EcsService,
    /// Running (pending included) and stopped, the most recently created
    /// first. ECS forgets stopped tasks about an hour after they stop.
    pub tasks: Vec<EcsTask>,
    /// When it was read.
    pub read_at: SystemTime,
}

impl ServiceSnapshot {
    /// Reads the service and its tasks; `None` when the cluster holds no
    /// such service (not yet created, or deleted).
    pub async fn read(
        aws: &Aws,
        cluster: &str,
        service: &str,
    ) -> Result<Option<ServiceSnapshot>, Error> {
        let ecs = aws.ecs();
        let Some(described) = ecs.describe_service(cluster, service).await? else {
            return Ok(None);
        };
        let tasks = ecs.service_tasks(cluster, service).await?;
        Ok(Some(ServiceSnapshot {
            cluster: cluster.to_owned(),
            service: described,
            tasks,
            read_at: SystemTime::now(),
        }))
    }

    /// The deployment being rolled out, or rolled out last.
    pub fn primary(&self) -> Option<&EcsDeployment> {
        self.service
            .deployments
            .iter()
            .find(|deployment| deployment.status == "PRIMARY")
    }

    /// The tasks a deployment started.
    pub fn tasks_of<'a>(
        &'a self,
        deployment: &'a EcsDeployment,
    ) -> impl Iterator<Item = &'a EcsTask> + 'a {
        self.tasks
            .iter()
            .filter(move |task| task.started_by.as_deref() == Some(deployment.id.as_str()))
    }

    /// The tasks ECS keeps running (pending ones included).
    pub fn live_tasks(&self) -> impl Iterator<Item = &EcsTask> {
        self.tasks.iter().filter(|task| is_live(task))
    }

    /// The tasks that have stopped, the most recently created first.
    pub fn stopped_tasks(&self) -> impl Iterator<Item = &EcsTask> {
        self.tasks
            .iter()
            .filter(|task| task.last_status == "STOPPED")
    }
}

/// A task ECS has not stopped and does not mean to.
pub fn is_live(task: &EcsTask) -> bool {
    task.last_status != "STOPPED" && task.desired_status != "STOPPED"
}
