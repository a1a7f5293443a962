//! The local ECS (scripts/local-ecs.py) runs the tasks of the Fargate
//! services moto holds, as ECS's data plane would: these tests deploy
//! services (with the real `isokit` binary, or with the AWS CLI where
//! isokit's audit would refuse the stack) and read back, through the ECS and
//! CloudWatch Logs APIs and the Docker Engine, that the tasks run as ECS
//! would run them, stop with ECS's words when they cannot run, and go with
//! their service.

use isokit_endpoints::DEFAULT_ENDPOINTS;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isokit_testkit::{Isokit, docker, repository_root, service_image};
use serde_json::Value;

/// The label the local ECS puts on every container and network it makes.
const LABEL: &str = "dev.isokit.local-ecs";
/// The address a missing endpoint's host name stands for in ECS's messages.
const PUBLIC_ADDRESS: &str = "203.0.113.10";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/local-ecs")
        .join(name)
}

/// Asks every second until `check` answers, or panics after `limit` with
/// what it last said.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {} s; last: {last}", limit.as_secs())
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// The containers the local ECS runs for one task (its ID as label value).
fn task_containers(task_id: &str) -> Vec<String> {
    let label = format!("label={LABEL}={task_id}");
    docker(&["ps", "-aq", "--filter", &label])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn task_id(task: &Value) -> String {
    task["taskArn"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_else(|| panic!("no task ARN: {task:#}"))
        .to_owned()
}

/// Whether an IPv4 address lies in a CIDR.
fn inside(address: &str, cidr: &str) -> bool {
    let parse = |text: &str| text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    let Some((network, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Some(address), Some(network), Ok(prefix)) =
        (parse(address), parse(network), prefix.parse::<u32>())
    else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    address & mask == network & mask
}

/// One test's stage (repository, stack, service and artifacts bucket), and
/// the stacks it creates with the AWS CLI past isokit's audit; all removed
/// when it is dropped, also when an assertion fails.
struct Stage {
    stage: isokit_testkit::Stage,
    cli_stacks: std::cell::RefCell<Vec<String>>,
}

impl std::ops::Deref for Stage {
    type Target = isokit_testkit::Stage;

    fn deref(&self) -> &isokit_testkit::Stage {
        &self.stage
    }
}

impl Stage {
    fn new(prefix: &str) -> Stage {
        Stage {
            stage: isokit_testkit::Stage::new(prefix, Isokit::new(env!("CARGO_BIN_EXE_isokit"))),
            cli_stacks: Default::default(),
        }
    }

    /// An image whose process writes a line and exits 1.
    fn push_exiting(&self) -> String {
        self.push_busybox(&fixture("exits-1/Dockerfile"))
    }

    /// `isokit deploy` as a user runs it; the stack's outputs.
    fn deploy(&self, image: &str) -> BTreeMap<String, String> {
        let run = self.stage.deploy(image, &["--output", "json"]);
        run.assert_success();
        serde_json::from_value(run.json()["outputs"].clone()).expect("the stack's outputs")
    }

    /// The fixture stack (one subnet, ecr.dkr when asked), created with the
    /// AWS CLI; its outputs.
    fn create_stack(
        &self,
        image: &str,
        with_ecr_dkr: bool,
        subnet: &str,
    ) -> BTreeMap<String, String> {
        let template = format!("file://{}", fixture("service.yml").display());
        self.cli_stacks.borrow_mut().push(self.name.clone());
        self.local.aws(&[
            "cloudformation",
            "create-stack",
            "--stack-name",
            &self.name,
            "--template-body",
            &template,
            "--parameters",
            &format!("ParameterKey=ImageUri,ParameterValue={image}"),
            &format!("ParameterKey=CreateEcrDkrEndpoint,ParameterValue={with_ecr_dkr}"),
            &format!("ParameterKey=SubnetCidr,ParameterValue={subnet}"),
        ]);
        self.local.stack_values(&self.name, "Outputs")
    }

    /// The service's tasks ECS lists with this desired status, described.
    fn tasks(&self, outputs: &BTreeMap<String, String>, desired: &str) -> Vec<Value> {
        let cluster = &outputs["ClusterName"];
        let listed = self.local.aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            cluster,
            "--service-name",
            &outputs["ServiceName"],
            "--desired-status",
            desired,
        ]);
        let arns: Vec<&str> = listed["taskArns"]
            .as_array()
            .expect("taskArns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if arns.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["ecs", "describe-tasks", "--cluster", cluster, "--tasks"];
        args.extend(arns);
        self.local.aws(&args)["tasks"]
            .as_array()
            .expect("tasks")
            .clone()
    }

    fn events(&self, outputs: &BTreeMap<String, String>) -> Vec<String> {
        self.local.service(outputs)["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| event["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// The messages of a log stream, oldest first (empty while it does not exist).
    fn log_messages(&self, group: &str, stream: &str) -> Vec<String> {
        let output = Command::new("aws")
            .args([
                "logs",
                "get-log-events",
                "--log-group-name",
                group,
                "--log-stream-name",
                stream,
                "--start-from-head",
                "--output",
                "json",
            ])
            .output()
            .expect("run the AWS CLI");
        if !output.status.success() {
            return Vec::new();
        }
        let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        answer["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| event["message"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Stage {
    /// Best effort and silent, so that it never hides the test's own failure.
    fn drop(&mut self) {
        let quietly = |program: &str, args: &[&str]| {
            let _ = Command::new(program).args(args).output();
        };
        for stack in self.cli_stacks.borrow().iter() {
            // moto cannot delete this flat stack's VPC (it reports a
            // dependency violation), so its service is deleted first, as
            // CloudFormation would delete it, which stops its tasks.
            let service = format!("{stack}-service");
            if let Ok(output) = Command::new("aws")
                .args([
                    "cloudformation",
                    "describe-stack-resource",
                    "--stack-name",
                    stack,
                ])
                .args(["--logical-resource-id", "Cluster", "--output", "json"])
                .output()
                && let Ok(answer) = serde_json::from_slice::<Value>(&output.stdout)
                && let Some(cluster) = answer["StackResourceDetail"]["PhysicalResourceId"].as_str()
            {
                quietly(
                    "aws",
                    &[
                        "ecs",
                        "delete-service",
                        "--cluster",
                        cluster,
                        "--service",
                        &service,
                        "--force",
                    ],
                );
            }
            quietly(
                "aws",
                &["cloudformation", "delete-stack", "--stack-name", stack],
            );
        }
    }
}

#[test]
fn a_deployed_services_tasks_run_report_healthy_and_isolated_and_go_with_the_stack() {
    let _standins = service_image();
    let stage = Stage::new("local-ecs-runs");
    let image = stage.push(&repository_root());
    let outputs = stage.deploy(&image);
    let service_name = &outputs["ServiceName"];
    let subnets: Vec<&str> = outputs["PrivateSubnetIds"].split(',').collect();
    let cidrs: Vec<&str> = outputs["PrivateSubnetCidrs"].split(',').collect();

    // The desired count of tasks, RUNNING, recorded as ECS records them.
    let tasks = wait_for("two RUNNING tasks", Duration::from_secs(120), || {
        let tasks = stage.tasks(&outputs, "RUNNING");
        let running = tasks
            .iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .count();
        if running == 2 {
            Ok(tasks)
        } else {
            Err(format!("{running} running: {tasks:#?}"))
        }
    });
    let service = stage.local.service(&outputs);
    assert_eq!(service["desiredCount"], 2);
    assert_eq!(service["runningCount"], 2, "{service:#}");
    let deployment = service["deployments"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["status"] == "PRIMARY"))
        .unwrap_or_else(|| panic!("no primary deployment: {service:#}"))
        .clone();
    for task in &tasks {
        assert_eq!(task["group"], format!("service:{service_name}"), "{task:#}");
        assert_eq!(task["startedBy"], deployment["id"], "{task:#}");
        assert!(
            deployment["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("ecs-svc/")
        );
        assert_eq!(task["launchType"], "FARGATE", "{task:#}");
        assert_eq!(task["desiredStatus"], "RUNNING", "{task:#}");
        assert_eq!(
            task["taskDefinitionArn"], service["taskDefinition"],
            "{task:#}"
        );
        assert!(
            task["startedAt"].is_number() && task["pullStoppedAt"].is_number(),
            "{task:#}"
        );
        let attachment = &task["attachments"][0];
        assert_eq!(attachment["type"], "ElasticNetworkInterface", "{task:#}");
        assert_eq!(attachment["status"], "ATTACHED", "{task:#}");
        let detail = |name: &str| {
            attachment["details"]
                .as_array()
                .and_then(|details| details.iter().find(|d| d["name"] == name))
                .and_then(|d| d["value"].as_str())
                .unwrap_or_else(|| panic!("no {name}: {task:#}"))
                .to_owned()
        };
        let subnet = subnets
            .iter()
            .position(|id| *id == detail("subnetId"))
            .unwrap_or_else(|| panic!("the task is not in the service's subnets: {task:#}"));
        let address = detail("privateIPv4Address");
        assert!(
            inside(&address, cidrs[subnet]),
            "{address} is outside {}",
            cidrs[subnet]
        );
        let container = &task["containers"][0];
        assert_eq!(container["name"], service_name.as_str());
        assert_eq!(container["lastStatus"], "RUNNING", "{task:#}");
        assert_eq!(
            container["networkInterfaces"][0]["privateIpv4Address"],
            address.as_str()
        );

        // On the engine, confined as the task definition and Fargate say.
        let containers = task_containers(&task_id(task));
        assert_eq!(
            containers.len(),
            1,
            "one container per task: {containers:?}"
        );
        let inspected: Value =
            serde_json::from_str(&docker(&["inspect", &containers[0]])).expect("inspect");
        let host = &inspected[0]["HostConfig"];
        assert_eq!(host["ReadonlyRootfs"], true);
        assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
        assert!(host["CapAdd"].is_null(), "{host:#}");
        assert_eq!(
            host["SecurityOpt"],
            serde_json::json!(["no-new-privileges:true"])
        );
        assert_eq!(host["Memory"], 512 * 1024 * 1024);
        assert_eq!(host["NanoCpus"], 250_000_000);
        assert_eq!(host["Dns"], serde_json::json!(["127.0.0.1"]));
        assert!(host["Tmpfs"]["/tmp"].is_string(), "{host:#}");
        assert_eq!(inspected[0]["Config"]["User"], "65532:65532");
        assert!(inspected[0]["Config"]["Healthcheck"]["Test"].is_array());
        let network = host["NetworkMode"].as_str().expect("network").to_owned();
        let network: Value =
            serde_json::from_str(&docker(&["network", "inspect", &network])).expect("inspect");
        assert_eq!(network[0]["Internal"], true);
        assert_eq!(
            network[0]["Options"]["com.docker.network.bridge.inhibit_ipv4"],
            "true"
        );
    }
    let events = stage.events(&outputs);
    for task in &tasks {
        let started = format!(
            "(service {service_name}) has started 1 tasks: (task {}).",
            task_id(task)
        );
        assert!(events.contains(&started), "{started}: {events:#?}");
    }

    // Their output in CloudWatch Logs, as the awslogs driver writes it: the
    // service's rounds, healthy, and isolated.
    let group = &outputs["LogGroupName"];
    for task in &tasks {
        let stream = format!("{service_name}/{service_name}/{}", task_id(task));
        let round = wait_for(
            "a round in the task's log stream",
            Duration::from_secs(60),
            || {
                let messages = stage.log_messages(group, &stream);
                messages
                    .iter()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .find(|line| line["event"] == "round")
                    .ok_or_else(|| format!("{messages:#?}"))
            },
        );
        assert_eq!(round["healthy"], true, "{round:#}");
        assert_eq!(round["isolated"], true, "{round:#}");
        let endpoints = round["endpoints"].as_array().expect("endpoints");
        assert_eq!(endpoints.len(), DEFAULT_ENDPOINTS.len(), "{round:#}");
        for endpoint in endpoints {
            for address in endpoint["addresses"].as_array().expect("addresses") {
                let address = address.as_str().expect("an address");
                assert!(inside(address, &outputs["VpcCidr"]), "{endpoint:#}");
            }
        }
    }

    // Healthy by their health check, and the deployment done.
    wait_for(
        "healthy tasks and a steady state",
        Duration::from_secs(90),
        || {
            let tasks = stage.tasks(&outputs, "RUNNING");
            let service = stage.local.service(&outputs);
            let healthy = tasks.iter().all(|t| t["healthStatus"] == "HEALTHY") && tasks.len() == 2;
            let steady = stage.events(&outputs).contains(&format!(
                "(service {service_name}) has reached a steady state."
            ));
            let completed = service["deployments"][0]["rolloutState"] == "COMPLETED";
            (healthy && steady && completed)
                .then_some(())
                .ok_or_else(|| format!("{tasks:#?} {service:#}"))
        },
    );

    // Tearing the stack down stops the tasks and removes their containers and network.
    let teardown = stage
        .isokit
        .run(["teardown", "--stack-name", &stage.name, "--yes"]);
    teardown.assert_success();
    let network_label = format!(
        "label={LABEL}=isokit-local-ecs-{}",
        subnets[subnets.len() - 1]
    );
    wait_for(
        "the tasks stopped and removed",
        Duration::from_secs(90),
        || {
            let stopped = stage.tasks(&outputs, "STOPPED");
            let gone = tasks.iter().all(|task| {
                stopped.iter().any(|s| {
                    s["taskArn"] == task["taskArn"]
                        && s["lastStatus"] == "STOPPED"
                        && s["stopCode"] == "ServiceSchedulerInitiated"
                }) && task_containers(&task_id(task)).is_empty()
            });
            let networks = docker(&["network", "ls", "-q", "--filter", &network_label]);
            (gone && networks.is_empty())
                .then_some(())
                .ok_or_else(|| format!("networks: {networks:?}, stopped: {stopped:#?}"))
        },
    );
    let events = stage.events(&outputs);
    for task in &tasks {
        let stopped = format!(
            "(service {service_name}) has stopped 1 running tasks: (task {}).",
            task_id(task)
        );
        assert!(events.contains(&stopped), "{stopped}: {events:#?}");
    }
}

#[test]
fn a_task_whose_container_exits_stops_as_ecs_says_and_is_replaced() {
    let _standins = service_image();
    let stage = Stage::new("local-ecs-exits");
    let image = stage.push_exiting();
    let outputs = stage.create_stack(&image, true, "10.20.16.0/20");
    let service_name = &outputs["ServiceName"];

    let stopped = wait_for("a stopped task", Duration::from_secs(90), || {
        let tasks = stage.tasks(&outputs, "STOPPED");
        tasks
            .into_iter()
            .find(|t| t["lastStatus"] == "STOPPED")
            .ok_or_else(|| "none yet".to_owned())
    });
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
    assert_eq!(
        stopped["stopCode"], "EssentialContainerExited",
        "{stopped:#}"
    );
    assert_eq!(
        stopped["stoppedReason"], "Essential container in task exited",
        "{stopped:#}"
    );
    assert_eq!(stopped["containers"][0]["exitCode"], 1, "{stopped:#}");
    assert_eq!(
        stopped["containers"][0]["lastStatus"], "STOPPED",
        "{stopped:#}"
    );
    assert!(stopped["startedAt"].is_number() && stopped["stoppedAt"].is_number());
    // What it wrote reached its log stream before it read as stopped.
    let stream = format!("app/app/{}", task_id(&stopped));
    let messages = stage.log_messages(&outputs["LogGroupName"], &stream);
    assert_eq!(messages, ["local-ecs-test: about to exit 1"], "{stream}");
    assert!(task_containers(&task_id(&stopped)).is_empty());

    // The service starts another, and ECS's circuit breaker fails the
    // deployment once enough have failed.
    wait_for(
        "replacements and a failed deployment",
        Duration::from_secs(90),
        || {
            let events = stage.events(&outputs);
            let started = events
                .iter()
                .filter(|e| {
                    e.starts_with(&format!(
                        "(service {service_name}) has started 1 tasks: (task "
                    ))
                })
                .count();
            let service = stage.local.service(&outputs);
            let deployment = &service["deployments"][0];
            let failed = deployment["rolloutState"] == "FAILED"
                && deployment["rolloutStateReason"]
                    == "ECS deployment circuit breaker: tasks failed to start."
                && events
                    .iter()
                    .any(|e| e.ends_with("deployment failed: tasks failed to start."));
            (started >= 3 && failed)
                .then_some(())
                .ok_or_else(|| format!("{events:#?} {deployment:#}"))
        },
    );
}

#[test]
fn without_the_ecr_dkr_endpoint_tasks_stop_with_ecs_pull_error() {
    let _standins = service_image();
    let stage = Stage::new("local-ecs-no-dkr");
    let image = stage.push(&repository_root());
    let outputs = stage.create_stack(&image, false, "10.20.32.0/20");

    let stopped = wait_for(
        "a task that could not start",
        Duration::from_secs(60),
        || {
            let tasks = stage.tasks(&outputs, "STOPPED");
            tasks
                .into_iter()
                .find(|t| t["lastStatus"] == "STOPPED")
                .ok_or_else(|| "none yet".to_owned())
        },
    );
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html
    let (repository, digest) = image
        .split_once('@')
        .map(|(name, digest)| (name.split_once('/').expect("registry/repository").1, digest))
        .expect("a pinned image");
    let registry = stage.local.registry();
    let expected = format!(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to \
         resolve ref {image}: failed to do request: Head \
         \"https://{registry}/v2/{repository}/manifests/{digest}\": dial tcp {PUBLIC_ADDRESS}:443: \
         i/o timeout"
    );
    assert_eq!(stopped["stopCode"], "TaskFailedToStart", "{stopped:#}");
    assert_eq!(stopped["stoppedReason"], expected.as_str(), "{stopped:#}");
    assert_eq!(
        stopped["containers"][0]["reason"],
        expected.as_str(),
        "{stopped:#}"
    );
    assert!(stopped["startedAt"].is_null(), "it never ran: {stopped:#}");
    assert!(task_containers(&task_id(&stopped)).is_empty());
}
