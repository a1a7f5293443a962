//! The ECS and CloudWatch Logs calls against the local AWS (moto), on what
//! the AWS CLI creates: what they read back, and how a missing cluster,
//! service or log group is reported.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use isokit_aws::{Aws, AwsSettings, Error, StreamSelection, TaskState};
use isokit_testkit::{LocalAws, unique_name};

async fn aws(local: &LocalAws) -> Aws {
    Aws::load(&AwsSettings {
        region: Some(local.region.clone()),
        profile: None,
        endpoint_url: None,
        ca_bundle: Some(local.ca_bundle.clone()),
    })
    .await
    .expect("config loads")
}

/// A cluster with one service of no tasks, removed when dropped.
struct Service {
    cluster: String,
    name: String,
    family: String,
}

impl Service {
    fn create(local: &LocalAws) -> Service {
        let service = Service {
            cluster: unique_name("isokit-aws-cluster"),
            name: unique_name("isokit-aws-service"),
            family: unique_name("isokit-aws-family"),
        };
        local.aws(&["ecs", "create-cluster", "--cluster-name", &service.cluster]);
        local.aws(&[
            "ecs",
            "register-task-definition",
            "--family",
            &service.family,
            "--requires-compatibilities",
            "EC2",
            "--container-definitions",
            r#"[{"name":"app","image":"app","memory":64,"essential":true}]"#,
        ]);
        // No tasks, and not Fargate: nothing for the local ECS to run.
        local.aws(&[
            "ecs",
            "create-service",
            "--cluster",
            &service.cluster,
            "--service-name",
            &service.name,
            "--task-definition",
            &service.family,
            "--desired-count",
            "0",
            "--launch-type",
            "EC2",
        ]);
        service
    }

    fn delete(&self) {
        let _ = std::process::Command::new("aws")
            .args([
                "ecs",
                "delete-service",
                "--force",
                "--cluster",
                &self.cluster,
            ])
            .args(["--service", &self.name])
            .output();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.delete();
        let _ = std::process::Command::new("aws")
            .args(["ecs", "delete-cluster", "--cluster", &self.cluster])
            .output();
        let _ = std::process::Command::new("aws")
            .args(["ecs", "deregister-task-definition", "--task-definition"])
            .arg(format!("{}:1", self.family))
            .output();
    }
}

#[tokio::test]
async fn a_service_reads_back_with_its_deployment() {
    let local = LocalAws::require();
    let ecs = aws(&local).await.ecs();
    let service = Service::create(&local);

    let read = ecs
        .describe_service(&service.cluster, &service.name)
        .await
        .expect("DescribeServices")
        .expect("the service exists");
    assert_eq!(read.name, service.name);
    assert_eq!(read.status, "ACTIVE");
    assert_eq!((read.desired_count, read.running_count), (0, 0));
    let primary = read.deployments.first().expect("a deployment");
    assert_eq!(primary.status, "PRIMARY");
    assert_eq!(primary.rollout_state.as_deref(), Some("COMPLETED"));
    assert!(
        primary
            .task_definition
            .as_deref()
            .is_some_and(|arn| arn.contains(&service.family)),
        "{primary:?}"
    );
    assert!(primary.created_at.is_some(), "{primary:?}");

    for state in [TaskState::Running, TaskState::Stopped] {
        let arns = ecs
            .list_tasks(&service.cluster, &service.name, state)
            .await
            .expect("ListTasks");
        assert!(arns.is_empty(), "{state:?}: {arns:?}");
    }
    let tasks = ecs
        .service_tasks(&service.cluster, &service.name)
        .await
        .expect("the service's tasks");
    assert!(tasks.is_empty(), "{tasks:?}");

    let absent = ecs
        .describe_service(&service.cluster, "no-such-service")
        .await
        .expect("a missing service is not an error");
    assert_eq!(absent, None);
    service.delete();
    let deleted = ecs
        .describe_service(&service.cluster, &service.name)
        .await
        .expect("DescribeServices");
    assert_eq!(deleted, None, "a deleted service is INACTIVE, not there");
}

#[tokio::test]
async fn a_missing_cluster_is_named() {
    let local = LocalAws::require();
    let ecs = aws(&local).await.ecs();
    let cluster = unique_name("isokit-aws-nocluster");
    let err = ecs
        .list_tasks(&cluster, "web", TaskState::Running)
        .await
        .expect_err("no such cluster");
    assert!(
        matches!(&err, Error::ClusterNotFound { cluster: named } if *named == cluster),
        "{err}"
    );
    assert!(err.to_string().contains("check the region"), "{err}");
}

/// A log group, removed when dropped (unless the test removed it).
struct LogGroup(String);

impl Drop for LogGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("aws")
            .args(["logs", "delete-log-group", "--log-group-name", &self.0])
            .output();
    }
}

fn millis(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        .to_string()
}

#[tokio::test]
async fn streams_come_newest_first_and_events_oldest_first() {
    let local = LocalAws::require();
    let logs = aws(&local).await.logs();
    let group = format!("/isokit-aws-test/{}", unique_name("group"));
    local.aws(&["logs", "create-log-group", "--log-group-name", &group]);
    let _removed_at_the_end = LogGroup(group.clone());
    let now = SystemTime::now();
    // Stream `web/app/a` last wrote 100 s ago, `web/app/b` 60 s ago: name and time disagree.
    let create_stream = |stream: &str| {
        local.aws(&[
            "logs",
            "create-log-stream",
            "--log-group-name",
            &group,
            "--log-stream-name",
            stream,
        ])
    };
    for (stream, ago) in [("web/app/b", [90, 60]), ("web/app/a", [100, 120])] {
        create_stream(stream);
        for seconds in ago.into_iter().rev() {
            let at = millis(now - Duration::from_secs(seconds));
            local.aws(&[
                "logs",
                "put-log-events",
                "--log-group-name",
                &group,
                "--log-stream-name",
                stream,
                "--log-events",
                &format!("timestamp={at},message={stream} {seconds}s ago"),
            ]);
        }
    }
    create_stream("other/app/x");

    let streams = logs
        .streams(&group, "web/")
        .await
        .expect("DescribeLogStreams");
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web/app/b", "web/app/a"]);

    let mut pages = logs.events(
        &group,
        StreamSelection::Prefix("web/"),
        now - Duration::from_secs(110),
    );
    let mut messages = Vec::new();
    while let Some(page) = pages.next_page().await.expect("FilterLogEvents") {
        messages.extend(page.into_iter().map(|event| event.message));
    }
    assert_eq!(
        messages,
        [
            "web/app/a 100s ago",
            "web/app/b 90s ago",
            "web/app/b 60s ago"
        ],
        "since 110 s ago, interleaved by time"
    );

    let only_old = ["web/app/a".to_owned()];
    let mut pages = logs.events(
        &group,
        StreamSelection::Named(&only_old),
        now - Duration::from_secs(600),
    );
    let page = pages.next_page().await.expect("FilterLogEvents");
    let streams: Vec<String> = page
        .into_iter()
        .flatten()
        .map(|event| event.stream)
        .collect();
    assert_eq!(streams, ["web/app/a", "web/app/a"]);

    let mut none = logs.events(&group, StreamSelection::Named(&[]), UNIX_EPOCH);
    assert_eq!(
        none.next_page().await.expect("no call"),
        None,
        "no stream named, no event (not every stream)"
    );

    local.aws(&["logs", "delete-log-group", "--log-group-name", &group]);
    let err = logs.streams(&group, "web/").await.expect_err("no group");
    assert!(
        matches!(&err, Error::LogGroupNotFound { group: named } if *named == group),
        "{err}"
    );
    let err = logs
        .events(&group, StreamSelection::Prefix("web/"), UNIX_EPOCH)
        .next_page()
        .await
        .expect_err("no group");
    assert!(matches!(&err, Error::LogGroupNotFound { .. }), "{err}");
}
