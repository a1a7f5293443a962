//! Where the task runs, from the ECS task metadata endpoint v4.

use std::time::Duration;

use isokit_report::TaskContext;
use serde::Deserialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http;

#[derive(Debug, Deserialize)]
struct TaskMetadata {
    #[serde(rename = "Cluster")]
    cluster: Option<String>,
    #[serde(rename = "TaskARN")]
    task_arn: Option<String>,
    #[serde(rename = "AvailabilityZone")]
    availability_zone: Option<String>,
    #[serde(rename = "Containers", default)]
    containers: Vec<ContainerMetadata>,
}

#[derive(Debug, Deserialize)]
struct ContainerMetadata {
    #[serde(rename = "Networks", default)]
    networks: Vec<NetworkMetadata>,
}

#[derive(Debug, Deserialize)]
struct NetworkMetadata {
    #[serde(rename = "IPv4Addresses", default)]
    ipv4_addresses: Vec<String>,
    #[serde(rename = "IPv4SubnetCIDRBlock")]
    ipv4_subnet_cidr_block: Option<String>,
}

/// The task context when running on ECS. A metadata endpoint that does not
/// answer is worth a warning on stderr, not a failed check.
pub async fn task_context_or_warn(config: &Config) -> Option<TaskContext> {
    let uri = config.metadata_uri.as_deref()?;
    match task_context(uri, config.timeout).await {
        Ok(context) => Some(context),
        Err(err) => {
            eprintln!(
                "isokit-service: warning: no task context: {}",
                err.explained()
            );
            None
        }
    }
}

/// The variable is ECS's to set, so a value that does not answer was most
/// likely set by hand.
const METADATA_FIX: &str =
    "unset ECS_CONTAINER_METADATA_URI_V4 if you set it yourself: ECS sets it in every task";

/// GETs `<uri>/task` (the URI from `ECS_CONTAINER_METADATA_URI_V4`).
pub async fn task_context(uri: &str, timeout: Duration) -> Result<TaskContext> {
    let url = format!("{}/task", uri.trim_end_matches('/'));
    let response = http::get(&url, timeout, METADATA_FIX).await?;
    if response.status != 200 {
        return Err(Error::Http {
            url,
            problem: format!("status {}", response.status),
            fix: METADATA_FIX,
        });
    }
    parse_task_metadata(&response.body).map_err(|err| Error::Http {
        url,
        problem: format!("the task metadata cannot be read: {err}"),
        fix: METADATA_FIX,
    })
}

/// The task's own network is the same in every container, so the first
/// container that reports one speaks for the task.
pub fn parse_task_metadata(json: &str) -> Result<TaskContext, serde_json::Error> {
    let metadata: TaskMetadata = serde_json::from_str(json)?;
    let network = metadata
        .containers
        .iter()
        .flat_map(|container| &container.networks)
        .find(|network| !network.ipv4_addresses.is_empty());
    Ok(TaskContext {
        task_arn: metadata.task_arn,
        cluster: metadata.cluster,
        availability_zone: metadata.availability_zone,
        private_address: network.and_then(|network| network.ipv4_addresses.first().cloned()),
        subnet_cidr: network.and_then(|network| network.ipv4_subnet_cidr_block.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fargate_task_fixture() {
        let json = include_str!("../tests/fixtures/task-metadata.json");
        let context = parse_task_metadata(json).expect("fixture parses");
        assert_eq!(
            context,
            TaskContext {
                task_arn: Some("arn:aws:ecs:eu-west-1:123456789012:task/isokit/0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b".to_owned()),
                cluster: Some("arn:aws:ecs:eu-west-1:123456789012:cluster/isokit".to_owned()),
                availability_zone: Some("eu-west-1b".to_owned()),
                private_address: Some("10.0.129.14".to_owned()),
                subnet_cidr: Some("10.0.128.0/20".to_owned()),
            }
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_names_the_variable() {
        // Port 1 on loopback: nothing of ours, nor anyone's, listens there.
        let err = task_context("http://127.0.0.1:1/v4/abc", Duration::from_secs(2))
            .await
            .expect_err("nothing answers")
            .explained();
        assert!(
            err.starts_with("GET http://127.0.0.1:1/v4/abc/task failed:"),
            "{err}"
        );
        assert!(err.ends_with(METADATA_FIX), "{err}");
    }

    #[test]
    fn missing_fields_stay_unknown() {
        let context =
            parse_task_metadata(r#"{"Cluster":"default","Containers":[{"Networks":[]}]}"#)
                .expect("sparse metadata parses");
        assert_eq!(context.cluster.as_deref(), Some("default"));
        assert_eq!(context.private_address, None);
        assert!(parse_task_metadata("not json").is_err());
    }
}
