//! `isokit deploy` and `isokit teardown` through the real binary, against the
//! local AWS of `scripts/local-aws`: moto behind the real SAM CLI, and the
//! registry that mirrors pushes into moto's ECR. What a deployment created is
//! read back with the AWS CLI, a standard client. Each test works under names
//! of its own and removes what it made, also when an assertion fails.
//!
//! Progress and failures come from CloudFormation's stack events, which the
//! local AWS's moto writes for each resource, nested stacks included, and a
//! failed creation rolls back as CloudFormation's does (ROLLBACK_COMPLETE).
//! Update rollbacks and throttling are proven by isokit-aws's unit tests.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// What the VPC stack must create, in the order of its `Endpoints` output:
// the endpoints crate's lists, which the service checks by default.
use isokit_endpoints::{DEFAULT_ENDPOINTS, EC2_ENDPOINTS};
use isokit_testkit::{
    Isokit, LocalAws, Run, Stage, StrictAws, building, key_value_pairs, processes,
    remove_local_images, unique_name,
};

/// The tag every test pushes and deploys.
const TAG: &str = "v1";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deploy")
        .join(name)
        .to_str()
        .expect("the fixture path is text")
        .to_owned()
}

/// Runs isokit and checks what every run must keep: the ECR token out of
/// its output, and nothing written to HOME but a push's layer cache.
fn checked_run<I, S>(local: &LocalAws, isokit: &Isokit, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let run = isokit.run(args);
    local.assert_no_token("isokit's stdout", &run.stdout);
    local.assert_no_token("isokit's stderr", &run.stderr);
    local.assert_home_holds_only_the_layer_cache(isokit, &run);
    run
}

/// The testkit's stage (stack, service, repository and bucket under one
/// name), with this file's pushes of tagged, labelled fixtures, whose local
/// images go too when it is dropped, and stacks that go even where a failed
/// deployment left them unremovable by a teardown.
struct Sandbox {
    stage: Stage,
}

impl std::ops::Deref for Sandbox {
    type Target = Stage;

    fn deref(&self) -> &Stage {
        &self.stage
    }
}

impl Sandbox {
    fn new(prefix: &str) -> Sandbox {
        Sandbox {
            stage: Stage::new(prefix, Isokit::new(env!("CARGO_BIN_EXE_isokit"))),
        }
    }

    fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        checked_run(&self.local, &self.isokit, args)
    }

    fn tagged_image(&self) -> String {
        format!("{}/{}:{TAG}", self.local.registry(), self.name)
    }

    /// Builds and pushes a fixture under the sandbox's tag; returns the
    /// pinned URI `isokit push` printed first.
    fn push(&self, fixture_name: &str) -> String {
        let label = format!("isokit.test={}", self.name);
        let context = fixture(fixture_name);
        let _build = building();
        let run = self.run([
            "push",
            "--context",
            &context,
            "--repo",
            &self.name,
            "--tag",
            TAG,
            "--label",
            &label,
        ]);
        run.assert_success();
        let pinned = run.stdout.lines().next().expect("a pinned URI").to_owned();
        assert!(
            pinned.starts_with(&format!("{}/{}@sha256:", self.local.registry(), self.name)),
            "{run:#?}"
        );
        self.local.await_pinned(&pinned);
        pinned
    }

    /// `isokit deploy` of `image` as this sandbox's stack and service.
    fn deploy(&self, image: &str, extra: &[&str]) -> Run {
        self.run(self.deploy_args(image, extra))
    }

    /// The stacks are what these tests check; the fixtures' images do not
    /// run (watch.rs proves the watch of a service's tasks).
    fn deploy_args<'a>(&'a self, image: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = self.stage.deploy_args(image, &["--no-watch"]);
        args.extend_from_slice(extra);
        args
    }

    fn teardown(&self, extra: &[&str]) -> Run {
        let mut args = vec!["teardown", "--stack-name", &self.name];
        args.extend_from_slice(extra);
        self.run(args)
    }

    /// The parameters of the sandbox's stack, as DescribeStacks reports them.
    fn stack_parameters(&self) -> BTreeMap<String, String> {
        self.local.stack_values(&self.name, "Parameters")
    }

    /// The digest ECR holds under the sandbox's tag.
    fn ecr_digest(&self) -> String {
        let tag = format!("imageTag={TAG}");
        let images = self.local.aws(&[
            "ecr",
            "describe-images",
            "--repository-name",
            &self.name,
            "--image-ids",
            &tag,
        ]);
        images["imageDetails"][0]["imageDigest"]
            .as_str()
            .unwrap_or_else(|| panic!("no digest for {TAG}: {images}"))
            .to_owned()
    }

    /// Every stack of this sandbox CloudFormation lists, deleted ones too:
    /// `(name, status)`. Nested stacks are named `<parent>-<logical id>-…`.
    fn stacks(&self) -> Vec<(String, String)> {
        let listed = self.local.aws(&["cloudformation", "list-stacks"]);
        let nested = format!("{}-", self.name);
        listed["StackSummaries"]
            .as_array()
            .expect("StackSummaries")
            .iter()
            .filter_map(|stack| {
                let name = stack["StackName"].as_str()?;
                (name == self.name || name.starts_with(&nested)).then(|| {
                    (
                        name.to_owned(),
                        stack["StackStatus"].as_str().unwrap_or_default().to_owned(),
                    )
                })
            })
            .collect()
    }

    fn assert_no_stack(&self, after: &Run) {
        assert_eq!(
            self.stacks(),
            Vec::<(String, String)>::new(),
            "a stack was created: {after:#?}"
        );
    }

    fn stack_status(&self, name_or_id: &str) -> String {
        let described = self.local.aws(&[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            name_or_id,
        ]);
        described["Stacks"][0]["StackStatus"]
            .as_str()
            .unwrap_or_else(|| panic!("no status: {described}"))
            .to_owned()
    }

    /// The log group of the stack's service, found among the nested
    /// stacks' resources (by the stack's ID, which reads deleted stacks too).
    fn log_group_of(&self, stack_id: &str) -> String {
        let parent = self.local.aws(&[
            "cloudformation",
            "list-stack-resources",
            "--stack-name",
            stack_id,
        ]);
        let service_stack = parent["StackResourceSummaries"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|resource| resource["LogicalResourceId"] == "ServiceStack")
            .and_then(|resource| resource["PhysicalResourceId"].as_str())
            .expect("the service's nested stack")
            .to_owned();
        let nested = self.local.aws(&[
            "cloudformation",
            "list-stack-resources",
            "--stack-name",
            &service_stack,
        ]);
        nested["StackResourceSummaries"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|resource| resource["ResourceType"] == "AWS::Logs::LogGroup")
            .and_then(|resource| resource["PhysicalResourceId"].as_str())
            .expect("the service's log group")
            .to_owned()
    }

    fn log_group_exists(&self, name: &str) -> bool {
        let found = self.local.aws(&[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            name,
        ]);
        found["logGroups"]
            .as_array()
            .expect("log groups")
            .iter()
            .any(|group| group["logGroupName"] == name)
    }

    fn repository_exists(&self) -> bool {
        let listed = self.local.aws(&["ecr", "describe-repositories"]);
        listed["repositories"]
            .as_array()
            .expect("repositories")
            .iter()
            .any(|repository| repository["repositoryName"] == self.name.as_str())
    }

    /// The image the deployed service's task definition runs.
    fn service_image(&self, outputs: &BTreeMap<String, String>) -> String {
        let service = self.local.service(outputs);
        let task_definition = service["taskDefinition"]
            .as_str()
            .unwrap_or_else(|| panic!("no task definition: {service}"))
            .to_owned();
        let described = self.local.aws(&[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &task_definition,
        ]);
        described["taskDefinition"]["containerDefinitions"][0]["image"]
            .as_str()
            .expect("image")
            .to_owned()
    }
}

impl Drop for Sandbox {
    /// Best effort and silent, so that it never hides the test's own failure.
    fn drop(&mut self) {
        let listed = quietly(
            "aws",
            &[
                "cloudformation",
                "list-stacks",
                "--query",
                "StackSummaries[?StackStatus!='DELETE_COMPLETE'].[StackName,StackId]",
                "--output",
                "text",
            ],
        )
        .unwrap_or_default();
        let nested = format!("{}-", self.name);
        let mut stacks: Vec<(&str, &str)> = listed
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(name, _)| *name == self.name || name.starts_with(&nested))
            .collect();
        // The parent first, which takes its nested stacks with it; then any
        // nested stack a failed execution left behind (moto does not roll back).
        stacks.sort_by_key(|(name, _)| name.len());
        for (_, id) in stacks {
            quietly(
                "aws",
                &["cloudformation", "delete-stack", "--stack-name", id],
            );
        }
        // The stage's own drop, after this one, deletes the repository and
        // the bucket.
        let label = format!("label=isokit.test={}", self.name);
        remove_local_images(&["--filter", &label]);
    }
}

/// The bundled templates exported into a new folder, with the parameter
/// declarations of `fixtures/deploy/parameters/<name>` added to parent.yml's.
fn stacks_with_parameters(name: &str) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("stacks folder");
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"));
    let path = folder.path().to_str().expect("the path is text");
    isokit
        .run(["stacks", "export", path, "--force"])
        .assert_success();
    let parent = folder.path().join("parent.yml");
    let text = std::fs::read_to_string(&parent).expect("read parent.yml");
    let extra = std::fs::read_to_string(fixture(&format!("parameters/{name}")))
        .expect("read the parameters fixture");
    let extended = text.replacen("\nConditions:\n", &format!("{extra}\nConditions:\n"), 1);
    assert_ne!(
        extended, text,
        "parent.yml has a Conditions section after its parameters"
    );
    std::fs::write(&parent, extended).expect("write parent.yml");
    folder
}

/// The SAM that isokit (process `isokit`) started: the leader of a process
/// group of its own. Waits for it to appear.
fn sam_started_by(isokit: u32) -> processes::Process {
    let isokit = i32::try_from(isokit).expect("a process ID");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = processes::processes()
            .into_iter()
            .find(|process| process.parent == isokit && process.pid == process.group);
        if let Some(sam) = started {
            return sam;
        }
        assert!(Instant::now() < deadline, "isokit started no SAM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that nothing of SAM's process group runs any more, within
/// `grace`; kills what does (the test started it), then fails.
fn assert_group_gone(sam: &processes::Process, grace: Duration, context: &str) {
    let left = processes::wait_until_gone(sam.group, grace);
    for process in &left {
        quietly("kill", &["-KILL", &process.pid.to_string()]);
    }
    assert!(
        left.is_empty(),
        "SAM's process group outlived isokit: {left:?}\n{context}"
    );
}

/// Runs a command; its stdout when it succeeded.
fn quietly(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Each of `expected` starts a line of the run's stderr, in this order.
fn assert_progress_lines(run: &Run, expected: &[String]) {
    let mut lines = run.stderr.lines();
    for line in expected {
        assert!(
            lines.any(|seen| seen.starts_with(line.as_str())),
            "no progress line {line:?} (in this order): {run:#?}"
        );
    }
}

/// The `outputs` of a `--output json` deployment.
fn outputs(run: &Run) -> BTreeMap<String, String> {
    let result = run.json();
    result["outputs"]
        .as_object()
        .unwrap_or_else(|| panic!("no outputs: {run:#?}"))
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                value.as_str().expect("outputs are text").to_owned(),
            )
        })
        .collect()
}

/// A map from AWS's list-of-pairs shape, such as a container's
/// `[{"name", "value"}]` environment or a stack's `[{"OutputKey",
/// "OutputValue"}]` outputs.
fn texts(list: &[impl AsRef<str>]) -> Vec<String> {
    list.iter().map(|item| item.as_ref().to_owned()).collect()
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

/// The VPC the outputs name: 10.0.0.0/16, two private subnets in the two
/// `zones`, no internet gateway, no NAT gateway, no route out; the endpoint
/// security group admits TCP 443 from the VPC only.
fn assert_isolated_vpc(local: &LocalAws, outputs: &BTreeMap<String, String>, zones: [&str; 2]) {
    let vpc = outputs["VpcId"].as_str();
    let vpc_filter = format!("Name=vpc-id,Values={vpc}");
    let vpcs = local.aws(&["ec2", "describe-vpcs", "--vpc-ids", vpc]);
    assert_eq!(vpcs["Vpcs"][0]["CidrBlock"], "10.0.0.0/16", "{vpcs}");
    assert_eq!(outputs["VpcCidr"], "10.0.0.0/16");

    let attachment = format!("Name=attachment.vpc-id,Values={vpc}");
    let gateways = local.aws(&[
        "ec2",
        "describe-internet-gateways",
        "--filters",
        &attachment,
    ]);
    assert_eq!(
        gateways["InternetGateways"].as_array().map(Vec::len),
        Some(0),
        "an internet gateway is attached: {gateways}"
    );
    let nat = local.aws(&["ec2", "describe-nat-gateways", "--filter", &vpc_filter]);
    assert_eq!(
        nat["NatGateways"].as_array().map(Vec::len),
        Some(0),
        "a NAT gateway exists: {nat}"
    );

    let subnets = local.aws(&["ec2", "describe-subnets", "--filters", &vpc_filter]);
    let subnets = subnets["Subnets"].as_array().expect("Subnets");
    let field = |name: &str| -> Vec<String> {
        sorted(
            subnets
                .iter()
                .map(|subnet| subnet[name].as_str().expect(name).to_owned())
                .collect(),
        )
    };
    assert_eq!(field("CidrBlock"), ["10.0.128.0/18", "10.0.192.0/18"]);
    assert_eq!(
        field("SubnetId"),
        sorted(texts(
            &outputs["PrivateSubnetIds"].split(',').collect::<Vec<_>>()
        ))
    );
    assert_eq!(field("AvailabilityZone"), sorted(texts(&zones)));
    assert!(
        subnets
            .iter()
            .all(|subnet| subnet["MapPublicIpOnLaunch"] == false),
        "a subnet gives out public addresses: {subnets:?}"
    );

    let tables = local.aws(&["ec2", "describe-route-tables", "--filters", &vpc_filter]);
    for table in tables["RouteTables"].as_array().expect("RouteTables") {
        for route in table["Routes"].as_array().expect("Routes") {
            let gateway = route["GatewayId"].as_str().unwrap_or_default();
            assert!(
                route["DestinationCidrBlock"] != "0.0.0.0/0"
                    && route.get("NatGatewayId").is_none()
                    && !gateway.starts_with("igw-"),
                "a route leads out of the VPC: {route}"
            );
        }
    }

    let groups = local.aws(&[
        "ec2",
        "describe-security-groups",
        "--group-ids",
        &outputs["EndpointSecurityGroupId"],
    ]);
    let ingress = &groups["SecurityGroups"][0]["IpPermissions"];
    assert_eq!(ingress.as_array().map(Vec::len), Some(1), "{groups}");
    assert_eq!(ingress[0]["IpProtocol"], "tcp");
    assert_eq!(ingress[0]["FromPort"], 443);
    assert_eq!(ingress[0]["ToPort"], 443);
    assert_eq!(ingress[0]["IpRanges"][0]["CidrIp"], "10.0.0.0/16");
}

/// The region's first two Availability Zones as EC2 lists them: (name, ID).
fn first_zones(local: &LocalAws) -> Vec<(String, String)> {
    let listed = local.aws(&["ec2", "describe-availability-zones"]);
    listed["AvailabilityZones"]
        .as_array()
        .expect("AvailabilityZones")
        .iter()
        .take(2)
        .map(|zone| {
            let text = |key: &str| zone[key].as_str().expect(key).to_owned();
            (text("ZoneName"), text("ZoneId"))
        })
        .collect()
}

/// The stack's `Endpoints` output is `expected`, and the VPC holds exactly
/// those endpoints: interface ones with private DNS in both private subnets
/// behind the endpoint security group, and the S3 gateway on the route table.
fn assert_endpoints(local: &LocalAws, outputs: &BTreeMap<String, String>, expected: &[&str]) {
    let listed: Vec<String> = outputs["Endpoints"].split(',').map(str::to_owned).collect();
    assert_eq!(listed, texts(expected), "the Endpoints output");

    let vpc_filter = format!("Name=vpc-id,Values={}", outputs["VpcId"]);
    let described = local.aws(&["ec2", "describe-vpc-endpoints", "--filters", &vpc_filter]);
    let endpoints = described["VpcEndpoints"].as_array().expect("VpcEndpoints");
    let prefix = format!("com.amazonaws.{}.", local.region);
    let created: Vec<String> = endpoints
        .iter()
        .map(|endpoint| {
            let service = endpoint["ServiceName"].as_str().expect("ServiceName");
            service
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{service} is not a service of {}", local.region))
                .to_owned()
        })
        .collect();
    assert_eq!(
        sorted(created),
        sorted(listed),
        "the VPC holds exactly the endpoints its stack lists"
    );

    let subnets = sorted(texts(
        &outputs["PrivateSubnetIds"].split(',').collect::<Vec<_>>(),
    ));
    for endpoint in endpoints {
        let service = endpoint["ServiceName"].as_str().expect("ServiceName");
        if service.ends_with(".s3") {
            assert_eq!(endpoint["VpcEndpointType"], "Gateway", "{endpoint}");
            let table = endpoint["RouteTableIds"][0]
                .as_str()
                .expect("a route table");
            assert_eq!(endpoint["RouteTableIds"].as_array().map(Vec::len), Some(1));
            let tables = local.aws(&["ec2", "describe-route-tables", "--route-table-ids", table]);
            let routes = tables["RouteTables"][0]["Routes"]
                .as_array()
                .expect("Routes");
            assert!(
                routes
                    .iter()
                    .any(|route| route["GatewayId"] == endpoint["VpcEndpointId"]
                        && route["DestinationPrefixListId"].is_string()),
                "no S3 prefix-list route through the gateway endpoint: {tables}"
            );
        } else {
            assert_eq!(endpoint["VpcEndpointType"], "Interface", "{endpoint}");
            assert_eq!(endpoint["PrivateDnsEnabled"], true, "{endpoint}");
            let endpoint_subnets: Vec<String> = endpoint["SubnetIds"]
                .as_array()
                .expect("SubnetIds")
                .iter()
                .map(|id| id.as_str().expect("subnet id").to_owned())
                .collect();
            assert_eq!(sorted(endpoint_subnets), subnets, "{endpoint}");
            let groups: Vec<&str> = endpoint["Groups"]
                .as_array()
                .expect("Groups")
                .iter()
                .filter_map(|group| group["GroupId"].as_str())
                .collect();
            assert_eq!(groups, [outputs["EndpointSecurityGroupId"].as_str()]);
        }
        assert_endpoint_policy(local, endpoint);
    }
}

/// The services whose interface endpoints are limited to the account's own
/// principals; the others accept no endpoint policy and keep the default.
const ACCOUNT_ONLY_ENDPOINTS: [&str; 6] =
    ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm", "kms"];

/// S3's gateway reaches only ECR's layer bucket and the account's buckets;
/// the interface endpoints that take a policy serve the account's principals.
fn assert_endpoint_policy(local: &LocalAws, endpoint: &serde_json::Value) {
    let service = endpoint["ServiceName"]
        .as_str()
        .and_then(|name| name.rsplit_once(&format!("{}.", local.region)))
        .map(|(_, service)| service)
        .expect("a regional service name");
    // moto answers with Python's repr of the document (single quotes) where
    // AWS sends JSON; these policies hold no quote of their own.
    let policy: serde_json::Value = endpoint["PolicyDocument"]
        .as_str()
        .map(|text| {
            serde_json::from_str(text)
                .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
                .unwrap_or_else(|err| panic!("the policy is not JSON ({err}): {text}"))
        })
        .unwrap_or_default();
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let conditioned = |key: &str| {
        statements
            .iter()
            .any(|statement| statement["Condition"]["StringEquals"][key] == local.account.as_str())
    };
    let open = statements
        .iter()
        .any(|statement| statement["Condition"].is_null() && statement["Resource"] == "*");
    if service == "s3" {
        let layers = format!("arn:aws:s3:::prod-{}-starport-layer-bucket/*", local.region);
        assert!(
            statements
                .iter()
                .any(|statement| statement["Resource"] == layers.as_str()),
            "no statement for ECR's layer bucket: {policy:#}"
        );
        assert!(conditioned("aws:ResourceAccount"), "{policy:#}");
        assert!(!open, "the S3 gateway reaches any bucket: {policy:#}");
    } else if ACCOUNT_ONLY_ENDPOINTS.contains(&service) {
        assert!(conditioned("aws:PrincipalAccount"), "{service}: {policy:#}");
        assert!(!open, "{service} serves any principal: {policy:#}");
    }
}

/// The cluster, the service, and the task definition it runs: the image as
/// `pinned`, the in-task checks told exactly the endpoints the VPC has, the
/// container locked down, its logs kept for 30 days.
fn assert_service(local: &LocalAws, outputs: &BTreeMap<String, String>, pinned: &str) {
    let clusters = local.aws(&[
        "ecs",
        "describe-clusters",
        "--clusters",
        &outputs["ClusterName"],
    ]);
    assert_eq!(clusters["clusters"][0]["status"], "ACTIVE", "{clusters}");

    let service = local.service(outputs);
    assert_eq!(service["status"], "ACTIVE", "{service}");
    assert_eq!(service["desiredCount"], 2);
    assert_eq!(
        service["taskDefinition"],
        outputs["TaskDefinitionArn"].as_str()
    );

    let described = local.aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &outputs["TaskDefinitionArn"],
    ]);
    let container = &described["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(
        container["image"], pinned,
        "the task definition pins the digest"
    );
    let environment = key_value_pairs(&container["environment"], "name", "value");
    assert_eq!(environment["ISOKIT_ENDPOINTS"], outputs["Endpoints"]);
    assert_eq!(environment["ISOKIT_REGION"], local.region);
    assert_eq!(environment["ISOKIT_ACCOUNT"], local.account);
    assert_eq!(environment["ISOKIT_VPC_CIDR"], "10.0.0.0/16");
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(container["user"], "65532:65532");
    assert_eq!(
        container["healthCheck"]["command"],
        serde_json::json!(["CMD", "/isokit-service", "healthcheck"]),
        "{container}"
    );
    let logging = &container["logConfiguration"];
    assert_eq!(logging["logDriver"], "awslogs");
    assert_eq!(logging["options"]["mode"], "non-blocking");
    assert_eq!(
        logging["options"]["awslogs-group"],
        outputs["LogGroupName"].as_str()
    );

    let groups = local.aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &outputs["LogGroupName"],
    ]);
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30, "{groups}");
}

#[test]
fn deploy_creates_the_isolated_vpc_its_endpoints_the_cluster_and_a_service_pinned_by_digest() {
    let sandbox = Sandbox::new("deploy-create");
    let pinned = sandbox.push("first");
    let digest = sandbox.ecr_digest();
    assert_eq!(
        pinned,
        format!("{}/{}@{digest}", sandbox.local.registry(), sandbox.name),
        "push printed the digest ECR holds"
    );

    let run = sandbox.deploy(&sandbox.tagged_image(), &["--output", "json"]);
    run.assert_success();
    assert_progress_lines(
        &run,
        &[
            format!(
                "{} (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS: User Initiated",
                sandbox.name
            ),
            "VpcStack (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS".into(),
            "VpcStack/PrivateSubnetOne (AWS::EC2::Subnet) CREATE_COMPLETE".into(),
            "VpcStack/EcrDkrEndpoint (AWS::EC2::VPCEndpoint) CREATE_COMPLETE".into(),
            "VpcStack (AWS::CloudFormation::Stack) CREATE_COMPLETE".into(),
            "ClusterStack/Cluster (AWS::ECS::Cluster) CREATE_COMPLETE".into(),
            "ServiceStack/Service (AWS::ECS::Service) CREATE_COMPLETE".into(),
            format!(
                "{} (AWS::CloudFormation::Stack) CREATE_COMPLETE",
                sandbox.name
            ),
        ],
    );
    assert!(
        !run.stderr.contains("Deploying with")
            && !run.stderr.contains("CloudFormation events from"),
        "SAM's own output is shown only with -v: {run:#?}"
    );
    let result = run.json();
    assert_eq!(result["stack_name"], sandbox.name.as_str());
    assert_eq!(result["status"], "CREATE_COMPLETE");
    assert_eq!(result["changed"], true);
    assert_eq!(
        result["image"],
        pinned.as_str(),
        "the tag resolved to its digest"
    );
    assert_eq!(sandbox.stack_status(&sandbox.name), "CREATE_COMPLETE");

    let outputs = outputs(&run);
    let stack_outputs = sandbox.local.stack_values(&sandbox.name, "Outputs");
    assert_eq!(outputs, stack_outputs, "isokit prints the stack's outputs");
    assert_eq!(
        outputs.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "ClusterName",
            "EndpointSecurityGroupId",
            "Endpoints",
            "LogGroupName",
            "PrivateSubnetCidrs",
            "PrivateSubnetIds",
            "ServiceName",
            "TaskDefinitionArn",
            "VpcCidr",
            "VpcId"
        ]
    );
    assert_eq!(outputs["ServiceName"], sandbox.name);
    assert_eq!(outputs["PrivateSubnetCidrs"], "10.0.128.0/18,10.0.192.0/18");

    // Every zone of the local AWS offers every endpoint service (and the
    // region has no Fargate zone list): the first two, in EC2's order.
    let zones = first_zones(&sandbox.local);
    assert!(
        run.stderr.contains(&format!(
            "subnets in {} ({}) and {} ({}), chosen: each offers every interface endpoint the \
             VPC creates\n",
            zones[0].0, zones[0].1, zones[1].0, zones[1].1
        )),
        "{run:#?}"
    );
    assert_isolated_vpc(&sandbox.local, &outputs, [&zones[0].0, &zones[1].0]);
    // Only what the bundled task needs: its image from ECR, its awslogs.
    assert_endpoints(&sandbox.local, &outputs, &DEFAULT_ENDPOINTS);
    assert_eq!(
        result["endpoints"]["created"],
        serde_json::json!(DEFAULT_ENDPOINTS)
    );
    // Three interface endpoints (S3's gateway is free) in two zones.
    let cost = &result["endpoints"]["cost"];
    assert_eq!(cost["interface_endpoints"], 3, "{cost}");
    assert_eq!(cost["availability_zones"], 2, "{cost}");
    assert!(
        run.stderr.contains(
            "the VPC stack creates ecr.api, ecr.dkr, s3, logs: 3 interface endpoints in 2 \
             Availability Zones: $0.06 an hour, $43.80 a month"
        ),
        "{run:#?}"
    );
    assert_service(&sandbox.local, &outputs, &pinned);
}

#[test]
fn deploying_to_ec2_with_more_endpoints_creates_them_in_the_zones_asked_for_and_lists_exactly_what_was_created()
 {
    let sandbox = Sandbox::new("deploy-ec2");
    let pinned = sandbox.push("first");
    let zones = format!("{0}d,{0}b", sandbox.local.region);
    let run = sandbox.deploy(
        &sandbox.tagged_image(),
        &[
            "--ec2",
            "--endpoints",
            "kms,secretsmanager",
            "--cpu-architecture",
            "arm64",
            "--availability-zones",
            &zones,
            "--output",
            "json",
        ],
    );
    run.assert_success();
    let outputs = outputs(&run);
    let (one, two) = zones.split_once(',').expect("two zones");
    assert_isolated_vpc(&sandbox.local, &outputs, [one, two]);
    let expected: Vec<&str> = DEFAULT_ENDPOINTS
        .iter()
        .chain(&["secretsmanager", "kms"])
        .chain(EC2_ENDPOINTS.iter())
        .copied()
        .collect();
    assert_endpoints(&sandbox.local, &outputs, &expected);
    assert_service(&sandbox.local, &outputs, &pinned);
    // moto keeps no runtimePlatform in the task definition; the parameter
    // that sets it is read back from the stack.
    let parameters = sandbox.stack_parameters();
    assert_eq!(parameters["CpuArchitecture"], "ARM64", "{parameters:?}");
    for (switch, value) in [
        ("DeployingToEC2", "true"),
        ("CreateSecretsManagerEndpoint", "true"),
        ("CreateKmsEndpoint", "true"),
        ("CreateSsmEndpoint", "false"),
        ("CreateSsmMessagesEndpoint", "false"),
    ] {
        assert_eq!(parameters[switch], value, "{switch}: {parameters:?}");
    }
}

#[test]
fn enabling_exec_creates_its_channel_and_meets_its_prerequisites() {
    let sandbox = Sandbox::new("deploy-exec");
    sandbox.push("first");
    let run = sandbox.deploy(
        &sandbox.tagged_image(),
        &["--enable-exec", "--output", "json"],
    );
    run.assert_success();
    let outputs = outputs(&run);
    let expected: Vec<&str> = DEFAULT_ENDPOINTS
        .iter()
        .chain(&["ssmmessages"])
        .copied()
        .collect();
    assert_endpoints(&sandbox.local, &outputs, &expected);
    let parameters = sandbox.stack_parameters();
    assert_eq!(parameters["EnableExecuteCommand"], "true", "{parameters:?}");
    assert_eq!(
        parameters["CreateSsmMessagesEndpoint"], "true",
        "the task's need sets the switch: {parameters:?}"
    );
    let service = sandbox.local.service(&outputs);
    assert_eq!(service["enableExecuteCommand"], true, "{service}");
    let task = sandbox.local.aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &outputs["TaskDefinitionArn"],
    ]);
    let container = &task["taskDefinition"]["containerDefinitions"][0];
    // Exec is documented as unsupported on a read-only root filesystem.
    assert_eq!(container["readonlyRootFilesystem"], false, "{container}");
    assert_eq!(
        container["linuxParameters"]["initProcessEnabled"], true,
        "{container}"
    );
}

#[test]
fn the_same_image_again_changes_nothing_and_a_repushed_tag_redeploys() {
    let sandbox = Sandbox::new("deploy-again");
    let first = sandbox.push("first");
    let created = sandbox.deploy(&sandbox.tagged_image(), &[]);
    created.assert_success();
    assert!(created.stdout.starts_with("deployed\n"), "{created:#?}");

    let again = sandbox.deploy(&sandbox.tagged_image(), &[]);
    again.assert_success();
    assert!(
        again
            .stdout
            .starts_with("no change: the stack already runs this\n"),
        "{again:#?}"
    );
    let row = |run: &Run, name: &str| -> String {
        run.stdout
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} row: {run:#?}"))
    };
    assert_eq!(row(&again, "Stack"), sandbox.name);
    assert_eq!(row(&again, "Status"), "CREATE_COMPLETE");
    assert_eq!(row(&again, "Image"), first);
    assert_eq!(row(&again, "Endpoints"), DEFAULT_ENDPOINTS.join(","));
    assert!(row(&again, "VpcId").starts_with("vpc-"));
    let unchanged = sandbox.deploy(&sandbox.tagged_image(), &["--output", "json"]);
    unchanged.assert_success();
    assert_eq!(unchanged.json()["changed"], false, "{unchanged:#?}");
    assert!(
        !unchanged.stderr.contains("(AWS::CloudFormation::Stack)"),
        "an unchanged stack writes no event: {unchanged:#?}"
    );
    assert_eq!(unchanged.json()["status"], "CREATE_COMPLETE");
    assert_eq!(sandbox.stack_status(&sandbox.name), "CREATE_COMPLETE");

    let second = sandbox.push("second");
    assert_ne!(second, first, "new content, new digest");
    assert_eq!(
        second,
        format!(
            "{}/{}@{}",
            sandbox.local.registry(),
            sandbox.name,
            sandbox.ecr_digest()
        )
    );
    let updated = sandbox.deploy(&sandbox.tagged_image(), &["--output", "json"]);
    updated.assert_success();
    assert_progress_lines(
        &updated,
        &[
            format!(
                "{} (AWS::CloudFormation::Stack) UPDATE_IN_PROGRESS",
                sandbox.name
            ),
            format!(
                "{} (AWS::CloudFormation::Stack) UPDATE_COMPLETE",
                sandbox.name
            ),
        ],
    );
    let result = updated.json();
    assert_eq!(result["changed"], true, "{updated:#?}");
    assert_eq!(result["status"], "UPDATE_COMPLETE");
    assert_eq!(result["image"], second.as_str());
    assert_eq!(sandbox.service_image(&outputs(&updated)), second);
}

/// The change sets of the sandbox's stack (by its ID) that wait to be
/// executed: a dry run leaves none.
fn pending_change_sets(sandbox: &Sandbox, stack_id: &str) -> Vec<serde_json::Value> {
    let listed = sandbox.local.aws(&[
        "cloudformation",
        "list-change-sets",
        "--stack-name",
        stack_id,
    ]);
    listed["Summaries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|summary| {
            summary["StackId"] == stack_id && summary["ExecutionStatus"] == "AVAILABLE"
        })
        .collect()
}

/// `--dry-run` of a new stack, then of a change to a deployed one: the
/// resources the change set holds and the parameters that differ, read
/// from the change set SAM made, which is gone afterwards, and nothing
/// executed.
#[test]
fn a_dry_run_shows_the_change_set_and_the_parameters_and_executes_nothing() {
    let sandbox = Sandbox::new("deploy-dry-run");
    let pinned = sandbox.push("first");
    let run = sandbox.deploy(&sandbox.tagged_image(), &["--dry-run", "--output", "json"]);
    run.assert_success();
    let preview = run.json();
    assert_eq!(preview["stack_exists"], false, "{run:#?}");
    assert_eq!(preview["image"], pinned.as_str());
    let added: Vec<(&str, &str, &str)> = preview["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            (
                change["action"].as_str().unwrap_or_default(),
                change["logical_id"].as_str().unwrap_or_default(),
                change["resource_type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        sorted(
            added
                .iter()
                .map(|(a, l, t)| format!("{a} {l} {t}"))
                .collect()
        ),
        [
            "Add ClusterStack AWS::CloudFormation::Stack",
            "Add ServiceStack AWS::CloudFormation::Stack",
            "Add VpcStack AWS::CloudFormation::Stack",
        ],
        "{run:#?}"
    );
    let desired = preview["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|parameter| parameter["name"] == "DesiredCount")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&desired["deployed"], &desired["proposed"]),
        (&serde_json::Value::Null, &serde_json::json!("2")),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("(not executed)") && run.stderr.contains("nothing was executed"),
        "{run:#?}"
    );
    assert!(
        sandbox
            .stacks()
            .iter()
            .all(|(_, status)| status == "DELETE_COMPLETE"),
        "the dry run left a stack: {:?}",
        sandbox.stacks()
    );

    sandbox
        .deploy(&sandbox.tagged_image(), &["--output", "json"])
        .assert_success();
    let run = sandbox.deploy(
        &sandbox.tagged_image(),
        &["--dry-run", "--desired-count", "3"],
    );
    run.assert_success();
    assert!(
        run.stdout.starts_with(&format!(
            "dry run: nothing was changed; a deploy of stack {} would update it\n",
            sandbox.name
        )) && run.stdout.contains("parameters:\n  DesiredCount: 2 -> 3\n"),
        "{run:#?}"
    );
    assert_eq!(sandbox.stack_status(&sandbox.name), "CREATE_COMPLETE");
    let parameters = sandbox.stack_parameters();
    let described = sandbox.local.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &sandbox.name,
    ]);
    assert_eq!(parameters["DesiredCount"], "2", "nothing was executed");
    let stack_id = described["Stacks"][0]["StackId"].as_str().expect("StackId");
    assert_eq!(
        pending_change_sets(&sandbox, stack_id),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn teardown_deletes_the_stack_and_the_repository_only_when_told_to() {
    let sandbox = Sandbox::new("teardown");
    sandbox.push("first");
    sandbox
        .deploy(&sandbox.tagged_image(), &["--output", "json"])
        .assert_success();
    let described = sandbox.local.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &sandbox.name,
    ]);
    let stack_id = described["Stacks"][0]["StackId"]
        .as_str()
        .expect("StackId")
        .to_owned();
    // The group ECS makes for the cluster's Container Insights metrics, as
    // ECS would once the cluster reports them: outside the stack.
    let cluster = sandbox.local.stack_values(&sandbox.name, "Outputs")["ClusterName"].clone();
    let insights = format!("/aws/ecs/containerinsights/{cluster}/performance");
    sandbox
        .local
        .aws(&["logs", "create-log-group", "--log-group-name", &insights]);

    // No terminal to ask on and no --yes: refused before anything is deleted.
    let refused = sandbox.teardown(&["--delete-repo", &sandbox.name]);
    refused.assert_error(&format!(
        "not deleting ECR repository {} without confirmation: pass --yes",
        sandbox.name
    ));
    assert_eq!(sandbox.stack_status(&stack_id), "CREATE_COMPLETE");
    assert!(sandbox.repository_exists());

    // SAM must act with the AWS settings isokit was given as flags: here the
    // environment names a closed port and a missing CA bundle, so a SAM
    // that read those instead would fail.
    let workdir = tempfile::tempdir().expect("working directory");
    let flags_only = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(workdir.path())
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1")
        .env("AWS_CA_BUNDLE", "/nonexistent/ca.pem");
    let ca_bundle = sandbox.local.ca_bundle.to_str().expect("a text path");
    let removed = checked_run(
        &sandbox.local,
        &flags_only,
        [
            "--endpoint-url",
            &sandbox.local.endpoint_url,
            "--ca-bundle",
            ca_bundle,
            "teardown",
            "--stack-name",
            &sandbox.name,
        ],
    );
    removed.assert_success();
    let log_group = sandbox.log_group_of(&stack_id);
    assert_eq!(
        removed.stdout.trim(),
        format!(
            "stack {0}: deleted\nlog group {log_group}: deleted\nlog group {insights}: deleted\n\
             ECR repository {0}: remains (its images stay, and are billed for storage; `isokit \
             teardown --delete-repo {0}` removes it with them)\nS3 bucket {1}: remains (SAM \
             uploaded the nested templates here, and may share it with other deployments (its \
             managed bucket does): empty and delete it only if nothing else uses it)",
            sandbox.name, sandbox.bucket
        )
    );
    assert!(
        !sandbox.log_group_exists(&log_group),
        "the log group the stack kept is deleted with it"
    );
    assert!(
        !sandbox.log_group_exists(&insights),
        "the cluster's Container Insights group is deleted"
    );
    assert_progress_lines(
        &removed,
        &[
            format!(
                "{} (AWS::CloudFormation::Stack) DELETE_IN_PROGRESS: User Initiated",
                sandbox.name
            ),
            format!(
                "{} (AWS::CloudFormation::Stack) DELETE_COMPLETE",
                sandbox.name
            ),
        ],
    );
    assert_eq!(sandbox.stack_status(&stack_id), "DELETE_COMPLETE");
    let left: Vec<(String, String)> = sandbox
        .stacks()
        .into_iter()
        .filter(|(_, status)| status != "DELETE_COMPLETE")
        .collect();
    assert_eq!(
        left,
        Vec::<(String, String)>::new(),
        "nested stacks left behind"
    );
    assert!(
        sandbox.repository_exists(),
        "only asked to remove the stack"
    );

    let again = sandbox.teardown(&["--output", "json"]);
    again.assert_success();
    let result = again.json();
    assert_eq!(result["stack"], "nothing_to_delete", "{again:#?}");
    assert!(result["repository"].is_null());
    assert!(
        again.stderr.contains("does not exist: nothing to delete"),
        "{again:#?}"
    );

    let with_repository = sandbox.teardown(&["--delete-repo", &sandbox.name, "--yes"]);
    with_repository.assert_success();
    assert_eq!(
        with_repository.stdout.trim(),
        format!(
            "stack {0}: nothing to delete\nECR repository {0}: deleted",
            sandbox.name
        )
    );
    assert!(!sandbox.repository_exists());
    let once_more = sandbox.teardown(&["--delete-repo", &sandbox.name, "--yes"]);
    once_more.assert_success();
    assert!(
        once_more.stdout.contains(&format!(
            "ECR repository {}: nothing to delete",
            sandbox.name
        )),
        "{once_more:#?}"
    );
}

/// Every check isokit can make on its own comes before any AWS call: the
/// runs here send AWS calls to a closed loopback port, so an error from
/// anything but the check under test would be a connection error.
#[test]
fn local_mistakes_are_refused_before_anything_reaches_aws() {
    let local = LocalAws::require();
    let workdir = tempfile::tempdir().expect("working directory");
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(workdir.path())
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1");
    let stack = unique_name("deploy-refused");
    let image = format!("{}/{stack}:{TAG}", local.registry());
    // With -v, SAM's output would show if it ran.
    let deploy = |image: &str, extra: &[&str]| -> Run {
        let mut args = vec!["deploy", "-v", "--image", image, "--stack-name", &stack];
        args.extend_from_slice(extra);
        checked_run(&local, &isokit, args)
    };
    let refused = |run: Run, needle: &str| {
        run.assert_error(needle);
        assert!(
            !run.stderr.contains("127.0.0.1:1") && !run.stderr.contains("Deploying with"),
            "something was attempted: {run:#?}"
        );
    };

    refused(
        deploy("docker.io/library/alpine:3.20", &[]),
        "`docker.io/library/alpine:3.20` is not an ECR image reference: the registry must be <account>.dkr.ecr.<region>.amazonaws.com",
    );
    refused(
        deploy(&format!("{}/{stack}", local.registry()), &[]),
        "isokit never assumes `latest`",
    );
    refused(
        deploy(&image, &["--region", "eu-west-1"]),
        &format!(
            "the image is in ECR in {0}, but the task would run in eu-west-1: a task in an isolated VPC \
             reaches only its own region's ECR through the endpoints; push the image to eu-west-1 \
             (isokit push --region eu-west-1) or pass --region {0}",
            local.region
        ),
    );
    refused(
        deploy(&image, &["--cpu", "256", "--memory", "4096"]),
        "Fargate has no task size of 256 CPU units with 4096 MiB: with 256 CPU units, memory must be one of 512, 1024, 2048 MiB",
    );
    refused(
        deploy(&image, &["--cpu", "300"]),
        "Fargate has no 300 CPU unit size: use one of 256, 512, 1024",
    );
    refused(
        deploy(&image, &["--desired-count", "0"]),
        "a desired count of 0 tasks is out of range",
    );
    let malformed = deploy(&image, &["--parameter", "NoValue"]);
    assert_eq!(malformed.code, Some(2), "a usage error: {malformed:#?}");
    refused(
        malformed,
        "invalid value 'NoValue' for '--parameter <KEY=VALUE>': expected KEY=VALUE",
    );
    refused(
        deploy(&image, &["--sam", "/nonexistent/sam"]),
        "/nonexistent/sam (from the path given) is not an executable SAM CLI: install it with `pip install aws-sam-cli`",
    );
    let no_sam_on_path = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(workdir.path())
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1")
        .env_remove("ISOKIT_SAM")
        .env("PATH", "");
    refused(
        checked_run(
            &local,
            &no_sam_on_path,
            ["deploy", "--image", &image, "--stack-name", &stack],
        ),
        "cannot find the SAM CLI (`sam`) on PATH: install it with `pip install aws-sam-cli`",
    );
    refused(
        checked_run(
            &local,
            &no_sam_on_path,
            ["teardown", "--stack-name", &stack],
        ),
        "or set ISOKIT_SAM to its path",
    );
    let named_sam = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(workdir.path())
        .env("AWS_ENDPOINT_URL", "https://127.0.0.1:1")
        .env("ISOKIT_SAM", "/nonexistent/sam");
    refused(
        checked_run(
            &local,
            &named_sam,
            ["deploy", "--image", &image, "--stack-name", &stack],
        ),
        "/nonexistent/sam (from ISOKIT_SAM) is not an executable SAM CLI",
    );

    let stacks = tempfile::tempdir().expect("stacks folder");
    let stacks_dir = stacks.path().to_str().expect("path is text").to_owned();
    checked_run(&local, &isokit, ["stacks", "export", &stacks_dir]).assert_success();
    std::fs::remove_file(stacks.path().join("cluster.yml")).expect("remove a template");
    refused(
        deploy(&image, &["--stacks-dir", &stacks_dir]),
        &format!(
            "{stacks_dir} has no cluster.yml: a stacks directory needs parent.yml, isolated-vpc.yml, \
             cluster.yml and private-service.yml (`isokit stacks export DIR` writes the bundled ones to start from)"
        ),
    );
    checked_run(
        &local,
        &isokit,
        ["stacks", "export", &stacks_dir, "--force"],
    )
    .assert_success();
    let vpc = stacks.path().join("isolated-vpc.yml");
    let text = std::fs::read_to_string(&vpc).expect("read template");
    let opened = text.replace(
        "Resources:\n",
        "Resources:\n  Door:\n    Type: AWS::EC2::InternetGateway\n",
    );
    assert_ne!(opened, text, "the template has a Resources section");
    std::fs::write(&vpc, opened).expect("write template");
    // The finding names the line Door is written on: the one after Resources.
    let door = text[..text.find("Resources:\n").expect("Resources")]
        .lines()
        .count()
        + 2;
    refused(
        deploy(&image, &["--stacks-dir", &stacks_dir]),
        &format!(
            "the templates would break the VPC's isolation:\nisolated-vpc.yml:{door}: Door: creates \
             an internet gateway"
        ),
    );

    // Nothing was created under the real endpoint either.
    let listed = local.aws(&["cloudformation", "list-stacks"]);
    assert!(
        !listed.to_string().contains(&format!("\"{stack}\"")),
        "a stack was created"
    );
}

#[test]
fn an_image_missing_from_ecr_fails_before_sam_runs() {
    let sandbox = Sandbox::new("deploy-missing");
    sandbox.push("first");
    let registry = sandbox.local.registry();
    let absent_digest = format!("sha256:{}", "0".repeat(64));
    for (image, needle) in [
        (
            format!("{registry}/{}:absent", sandbox.name),
            format!(
                "the image tag absent is not in ECR repository {}: push it first (isokit push)",
                sandbox.name
            ),
        ),
        (
            format!("{registry}/{}@{absent_digest}", sandbox.name),
            format!(
                "the image {absent_digest} is not in ECR repository {}: push it first",
                sandbox.name
            ),
        ),
        (
            format!("{registry}/{}-absent:{TAG}", sandbox.name),
            format!(
                "ECR repository {}-absent does not exist: push an image to it first (isokit push creates it)",
                sandbox.name
            ),
        ),
    ] {
        // With -v, SAM's output would show if it ran.
        let run = sandbox.deploy(&image, &["-v"]);
        run.assert_error(&needle);
        assert!(!run.stderr.contains("Deploying with"), "SAM ran: {run:#?}");
        sandbox.assert_no_stack(&run);
    }
}

/// Zones asked for that the region does not have are refused before SAM
/// runs, with every zone of the region and what rules each out; so is a
/// deploy into a region where fewer than two zones qualify.
#[test]
fn availability_zones_that_do_not_qualify_are_refused_with_the_region_s_zones() {
    let sandbox = Sandbox::new("deploy-zones");
    let region = &sandbox.local.region;
    let zones = first_zones(&sandbox.local);
    let asked = format!("{},{region}-nowhere", zones[0].0);
    let run = sandbox.deploy(
        &sandbox.tagged_image(),
        &["-v", "--availability-zones", &asked],
    );
    run.assert_error(&format!(
        "--availability-zones names {region}-nowhere, which is not an Availability Zone of \
         {region} that this account can use; the Availability Zones of {region}:\n  {} ({}): \
         usable\n  {} ({}): usable\n",
        zones[0].0, zones[0].1, zones[1].0, zones[1].1
    ));
    assert!(
        run.stderr
            .contains("name two usable zones from this list, or leave the flag out"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("Deploying with"), "SAM ran: {run:#?}");
    sandbox.assert_no_stack(&run);
}

/// An account that never used ECS lacks its service-linked role, and
/// creating the cluster would fail: isokit creates it and says so, before
/// anything else it needs (here, EC2, which this user may not call).
#[test]
fn a_missing_ecs_service_linked_role_is_created_and_said_so() {
    let local = LocalAws::require();
    let strict = StrictAws::start_allowing(
        &local,
        &[
            "cloudformation:DescribeStacks",
            "iam:GetRole",
            "iam:CreateServiceLinkedRole",
        ],
    );
    let isokit = strict.as_nobody(Isokit::new(env!("CARGO_BIN_EXE_isokit")));
    let image = format!("{}/slr:{TAG}", local.registry());
    let deploy = ["deploy", "--no-watch", "--image", &image];
    let run = isokit.run(deploy);
    assert!(
        run.stderr.contains(
            "created the ECS service-linked role AWSServiceRoleForECS, which this account \
             lacked: ECS needs it to create the cluster"
        ),
        "{run:#?}"
    );
    run.assert_error("EC2 DescribeAvailabilityZones failed: access denied");
    let role = strict_aws(
        &strict,
        &["iam", "get-role", "--role-name", "AWSServiceRoleForECS"],
    );
    assert_eq!(
        role["Role"]["Path"], "/aws-service-role/ecs.amazonaws.com/",
        "{role}"
    );
    // Once there, it is left alone.
    let again = isokit.run(deploy);
    again.assert_error("EC2 DescribeAvailabilityZones failed: access denied");
    assert!(!again.stderr.contains("service-linked role"), "{again:#?}");
}

/// An identity that may not create the role stops the deploy, before SAM
/// runs, with the command an administrator runs once.
#[test]
fn a_missing_ecs_service_linked_role_that_may_not_be_created_stops_with_the_command() {
    let local = LocalAws::require();
    let strict =
        StrictAws::start_allowing(&local, &["cloudformation:DescribeStacks", "iam:GetRole"]);
    let isokit = strict.as_nobody(Isokit::new(env!("CARGO_BIN_EXE_isokit")));
    let image = format!("{}/slr:{TAG}", local.registry());
    let run = isokit.run(["deploy", "--no-watch", "--image", &image]);
    run.assert_error(
        "this account has no ECS service-linked role (AWSServiceRoleForECS), without which ECS \
         cannot create the cluster, and the identity in use may not create it: IAM \
         CreateServiceLinkedRole failed: access denied (",
    );
    assert!(
        run.stderr.contains(
            "have an administrator run `aws iam create-service-linked-role --aws-service-name \
             ecs.amazonaws.com` once, then deploy again"
        ),
        "{run:#?}"
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        strict_aws_fails(
            &strict,
            &["iam", "get-role", "--role-name", "AWSServiceRoleForECS"]
        )
        .contains("NoSuchEntity"),
        "the role was created"
    );
}

/// The AWS CLI against a strict moto, as its user: its JSON answer.
fn strict_aws(strict: &StrictAws, args: &[&str]) -> serde_json::Value {
    let output = strict_aws_command(strict, args)
        .output()
        .expect("run the AWS CLI");
    assert!(
        output.status.success(),
        "aws {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The error the AWS CLI prints when the call fails.
fn strict_aws_fails(strict: &StrictAws, args: &[&str]) -> String {
    let output = strict_aws_command(strict, args)
        .output()
        .expect("run the AWS CLI");
    assert!(!output.status.success(), "aws {} succeeded", args.join(" "));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn strict_aws_command(strict: &StrictAws, args: &[&str]) -> Command {
    let mut command = Command::new("aws");
    command
        .args(args)
        .args(["--output", "json", "--endpoint-url", &strict.endpoint_url])
        .env("AWS_ACCESS_KEY_ID", &strict.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &strict.secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    command
}

/// Each stop signal sent to isokit alone (as `kill` does; a terminal would
/// signal the whole group, a service manager isokit alone) reaches SAM's
/// whole process group, which stops before executing its change set;
/// isokit exits when SAM has, saying what state the stack may be in and
/// what to run next.
#[test]
fn each_stop_signal_reaches_sams_process_group_and_isokit_says_what_the_stack_may_be_in() {
    let sandbox = Sandbox::new("deploy-signals");
    sandbox.push("first");
    let image = sandbox.tagged_image();
    for (signal, named) in [
        ("INT", "SIGINT (Ctrl-C)"),
        ("TERM", "SIGTERM"),
        ("HUP", "SIGHUP"),
    ] {
        // A stack for each: the one an interrupted deployment leaves holds
        // a change set never executed, which the next deploy refuses.
        let stack = format!("{}-{}", sandbox.name, signal.to_lowercase());
        // -v shows SAM's output, which says when it waits for its change set.
        let mut running = sandbox.isokit.spawn([
            "deploy",
            "-v",
            "--image",
            &image,
            "--stack-name",
            &stack,
            "--service-name",
            &sandbox.name,
            "--s3-bucket",
            &sandbox.bucket,
        ]);
        // SAM then waits for CloudFormation to create the change set.
        let seen =
            running.stderr_until(|line| line.contains("Waiting for changeset to be created"));
        assert!(
            seen.contains("Waiting for changeset to be created"),
            "SAM never got to its change set:\n{seen}"
        );
        let sam = sam_started_by(running.id());
        let (status, rest) = running.signal(signal);
        let output = format!("{seen}{rest}");
        assert!(!status.success(), "a stopped deployment fails:\n{output}");
        assert!(
            rest.contains(&format!(
                "warning: {named} received: waiting for sam deploy to stop"
            )),
            "{output}"
        );
        assert!(
            rest.contains(&format!(
                "error: sam deploy was stopped by {named}: stack {stack} may be part-way through a change"
            )) && rest.contains(&format!(
                "then run the same `isokit deploy` again once it has settled: it says whether stack \
                 {stack} needs `isokit teardown --stack-name {stack}` first"
            )),
            "{output}"
        );
        assert!(
            !rest.contains("Successfully created/updated stack"),
            "SAM went on to deploy: {output}"
        );
        assert_group_gone(&sam, Duration::from_secs(2), &output);
        assert_ne!(
            sandbox.stack_status(&stack),
            "CREATE_COMPLETE",
            "the change set was executed"
        );
        sandbox.local.assert_no_token("stderr", &rest);
    }
}

/// A stop signal before SAM runs ends the deployment there, saying that
/// nothing was deployed. isokit waits on an AWS endpoint that accepts the
/// connection and never answers, so the signal arrives mid-call.
#[test]
fn a_stop_signal_before_sam_runs_says_nothing_was_deployed() {
    let local = LocalAws::require();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let endpoint = format!(
        "https://127.0.0.1:{}",
        silent.local_addr().expect("an address").port()
    );
    let workdir = tempfile::tempdir().expect("working directory");
    let isokit = Isokit::new(env!("CARGO_BIN_EXE_isokit"))
        .current_dir(workdir.path())
        .env("AWS_ENDPOINT_URL", endpoint);
    let stack = unique_name("deploy-stopped");
    let image = format!("{}/{stack}:{TAG}", local.registry());
    let running = isokit.spawn(["deploy", "--image", &image, "--stack-name", &stack]);
    let (_connection, _) = silent.accept().expect("isokit calls AWS");
    let (status, rest) = running.signal("TERM");
    assert!(!status.success(), "{rest}");
    assert!(
        rest.contains(&format!(
            "error: isokit deploy was stopped by SIGTERM: nothing was deployed; stack {stack} is as it was"
        )),
        "{rest}"
    );
}

/// A SIGKILL leaves isokit no chance to stop SAM: the kernel does it. The
/// real SAM would also die of the closed pipe the next time it writes, so
/// a stand-in that stays silent (and runs as SAM's process itself) is what
/// shows that the kernel, not that write, ends it.
#[test]
fn sam_dies_with_isokit_even_when_isokit_is_killed() {
    let sandbox = Sandbox::new("deploy-killed");
    sandbox.push("first");
    let folder = tempfile::tempdir().expect("stand-in folder");
    let stand_in = folder.path().join("silent-sam");
    std::fs::write(&stand_in, "#!/bin/sh\nexec sleep 300\n").expect("write stand-in");
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let stand_in = stand_in.to_str().expect("the path is text");
    let image = sandbox.tagged_image();
    let mut running = sandbox
        .isokit
        .spawn(sandbox.deploy_args(&image, &["--sam", stand_in]));
    let seen = running.stderr_until(|line| line.starts_with("deploying "));
    let sam = sam_started_by(running.id());
    assert_eq!(
        sam.command_line.first().map(String::as_str),
        Some("sleep"),
        "{sam:?}"
    );
    let (status, rest) = running.signal("KILL");
    assert!(!status.success());
    assert_group_gone(&sam, Duration::from_secs(5), &format!("{seen}{rest}"));
}

/// Every constraint CloudFormation applies to a parameter, and its rule for
/// stack names, refuses a bad value before SAM runs: no stack, nothing in
/// the artifacts bucket, no SAM output. A NoEcho value is never shown.
#[test]
fn every_parameter_rule_and_the_stack_name_are_checked_before_sam_runs() {
    let sandbox = Sandbox::new("deploy-rules");
    let stacks = stacks_with_parameters("constrained.yml");
    let stacks_dir = stacks.path().to_str().expect("the path is text");
    // Never pushed: every check here comes before the image is looked up.
    let image = sandbox.tagged_image();
    let refused = |run: &Run, needle: &str| {
        run.assert_error(needle);
        assert!(!run.stderr.contains("Deploying with"), "SAM ran: {run:#?}");
    };
    for (extra, needle) in [
        (
            ["--parameter", "Team=platform ops"],
            "error: parameter Team cannot be \"platform ops\": parent.yml requires the whole value to \
             match the pattern [a-z]+ (lower-case letters only)",
        ),
        (
            ["--parameter", "Code=a"],
            "error: parameter Code cannot be \"a\": parent.yml allows 2 to 4 characters",
        ),
        (
            ["--parameter", "Code=abcde"],
            "error: parameter Code cannot be \"abcde\": parent.yml allows 2 to 4 characters",
        ),
        (
            ["--parameter", "Zones=a,c"],
            "error: parameter Zones cannot hold the item \"c\": parent.yml allows one of a, b",
        ),
        (
            ["--parameter", "Ports=443,https"],
            "error: parameter Ports cannot hold the item \"https\": parent.yml allows only numbers",
        ),
        (
            ["--parameter", "Replicas=4"],
            "error: parameter Replicas cannot be \"4\": parent.yml allows a number from 1 to 3",
        ),
        (
            ["--parameter", "Replicas=two"],
            "error: parameter Replicas cannot be \"two\": parent.yml allows a number from 1 to 3",
        ),
        (
            ["--parameter", "Token=s3cr3t!"],
            "error: parameter Token cannot be the value given (not shown: NoEcho): parent.yml allows \
             at least 8 characters",
        ),
        (
            ["--parameter", "Note=C:\\dir\\"],
            "error: the value of parameter Note cannot reach CloudFormation intact through SAM",
        ),
        (
            ["--parameter", "CreateSsmEndpoint=true"],
            "error: --parameter CreateSsmEndpoint=… would override what isokit sets and checks \
             itself: use --endpoints instead",
        ),
        (
            ["--endpoints", "sts"],
            "error: isolated-vpc.yml creates no sts endpoint; it can create ecr.api, ecr.dkr, s3, \
             logs, secretsmanager, ssm, ssmmessages, kms, ecs, ecs-agent, ecs-telemetry",
        ),
        (
            ["--service-name", "web api"],
            "error: parameter ServiceName cannot be \"web api\": parent.yml requires the whole value \
             to match the pattern ^[A-Za-z][A-Za-z0-9_-]{0,254}$",
        ),
    ] {
        // With -v, SAM's output would show if it ran.
        let mut args = vec![
            "deploy",
            "-v",
            "--image",
            &image,
            "--stack-name",
            &sandbox.name,
            "--s3-bucket",
            &sandbox.bucket,
            "--stacks-dir",
            stacks_dir,
        ];
        args.extend(extra);
        let run = sandbox.run(args);
        refused(&run, needle);
        assert!(
            !run.stderr.contains("s3cr3t!"),
            "a NoEcho value was shown: {run:#?}"
        );
    }
    // With every value allowed, the pattern isokit cannot read is refused,
    // not skipped.
    let last = sandbox.deploy(&image, &["--stacks-dir", stacks_dir, "-v"]);
    refused(
        &last,
        "error: parent.yml declares AllowedPattern `(?=a)ab` for parameter Ahead, which isokit cannot \
         check before deploying",
    );
    let too_long = format!("a{}", "-".repeat(128));
    for (bad, problem) in [
        ("my_stack", "it holds '_'"),
        ("9lives", "it does not start with a letter"),
        (too_long.as_str(), "it is 129 characters long"),
    ] {
        let needle = format!(
            "error: {bad:?} is not a CloudFormation stack name ({problem}): a stack name starts with a \
             letter and holds only letters, digits and hyphens, at most 128 characters"
        );
        let deploy = [
            "deploy",
            "-v",
            "--image",
            &image,
            "--stack-name",
            bad,
            "--s3-bucket",
            &sandbox.bucket,
        ];
        refused(&sandbox.run(deploy), &needle);
        refused(
            &sandbox.run(["teardown", "-v", "--stack-name", bad]),
            &needle,
        );
    }
    sandbox.assert_no_stack(&last);
    let objects = sandbox
        .local
        .aws(&["s3api", "list-objects-v2", "--bucket", &sandbox.bucket]);
    assert!(
        objects["Contents"].as_array().is_none_or(Vec::is_empty),
        "SAM uploaded: {objects}"
    );
}

/// Values SAM's own parser would read differently if passed as they are
/// (quotes of both kinds, backslashes before quotes and spaces, `=`, commas,
/// text that looks like another parameter) reach the stack exactly; no
/// value is on SAM's command line, where `ps` shows it to every user; and a
/// NoEcho value is shown by neither isokit nor SAM, also with `-v`.
#[test]
fn parameter_values_reach_the_stack_exactly_and_never_sams_command_line() {
    let sandbox = Sandbox::new("deploy-values");
    sandbox.push("first");
    let stacks = stacks_with_parameters("free.yml");
    let stacks_dir = stacks.path().to_str().expect("the path is text");
    let note = r#"it's "quoted", C:\dir\ x=1,y\'z ParameterKey=Token,ParameterValue=hijack"#;
    let token = format!("canary-{}", sandbox.name);
    let note_parameter = format!("Note={note}");
    let token_parameter = format!("Token={token}");
    let image = sandbox.tagged_image();
    let args = sandbox.deploy_args(
        &image,
        &[
            "--stacks-dir",
            stacks_dir,
            "--parameter",
            &note_parameter,
            "--parameter",
            &token_parameter,
            "--output",
            "json",
            "-v",
        ],
    );
    let mut isokit = sandbox
        .isokit
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isokit");
    let mut stderr = BufReader::new(isokit.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0 {
        seen.push_str(&line);
        if line.contains("Waiting for changeset to be created") {
            break;
        }
        line.clear();
    }
    let sam = sam_started_by(isokit.id());
    let command_line = sam.command_line.join(" ");
    for secret in [token.as_str(), "quoted", "hijack"] {
        assert!(
            !command_line.contains(secret),
            "a parameter value is on SAM's command line: {command_line}"
        );
    }
    assert!(command_line.contains("--config-file"), "{command_line}");
    stderr.read_to_string(&mut seen).expect("read stderr");
    let status = isokit.wait().expect("isokit ends");
    let mut stdout = String::new();
    isokit
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    assert!(status.success(), "{seen}");
    assert!(
        !seen.contains(&token) && !stdout.contains(&token),
        "the NoEcho value was shown:\n{seen}{stdout}"
    );
    assert!(
        seen.contains("\"Token\": \"*****\""),
        "SAM hides it: {seen}"
    );

    let parameters = sandbox.stack_parameters();
    assert_eq!(parameters["Note"], note, "{parameters:?}");
    assert_eq!(parameters["Token"], token, "as moto keeps it");
}

#[test]
fn sam_failing_before_any_change_set_shows_why_and_creates_no_stack() {
    let sandbox = Sandbox::new("deploy-nobucket");
    sandbox.push("first");
    let absent = format!("{}-absent", sandbox.bucket);
    let run = sandbox.run([
        "deploy",
        "--image",
        &sandbox.tagged_image(),
        "--stack-name",
        &sandbox.name,
        "--s3-bucket",
        &absent,
        "--quiet",
    ]);
    run.assert_error(
        "sam deploy failed (exit status 1): Unable to upload artifact isolated-vpc.yml referenced by \
         TemplateURL parameter of VpcStack resource.",
    );
    // Quiet, SAM's output was not shown: the error carries its last lines.
    run.assert_error("last lines of its output:\n");
    run.assert_error("  | S3 Bucket does not exist.");
    sandbox.assert_no_stack(&run);
}

/// A customised template AWS rejects: a subnet outside the VPC's range,
/// which fails inside the nested VPC stack. The failed resource's reason,
/// followed into that nested stack, heads the error, above SAM's last
/// lines; the stack rolls back (ROLLBACK_COMPLETE), so the next deployment
/// is told to tear it down first, and after a teardown it deploys.
#[test]
fn a_nested_resource_that_fails_heads_the_error_and_teardown_recovers() {
    let sandbox = Sandbox::new("deploy-rejected");
    let pinned = sandbox.push("first");
    let stacks = tempfile::tempdir().expect("stacks folder");
    let stacks_dir = stacks.path().to_str().expect("path is text").to_owned();
    sandbox
        .run(["stacks", "export", &stacks_dir, "--force"])
        .assert_success();
    let vpc = stacks.path().join("isolated-vpc.yml");
    let text = std::fs::read_to_string(&vpc).expect("read template");
    let outside = text.replace("CIDR: 10.0.192.0/18", "CIDR: 10.1.192.0/18");
    assert_ne!(outside, text, "the template has the second subnet's range");
    std::fs::write(&vpc, outside).expect("write template");

    let failed = sandbox.deploy(&sandbox.tagged_image(), &["--stacks-dir", &stacks_dir]);
    failed.assert_error(&format!(
        "error: deploy of stack {0} failed: VpcStack › PrivateSubnetTwo (AWS::EC2::Subnet) \
         CREATE_FAILED: The CIDR '10.1.192.0/18' is invalid.\n  caused by: sam deploy failed \
         (exit status 1)",
        sandbox.name
    ));
    assert_progress_lines(
        &failed,
        &[
            "VpcStack/PrivateSubnetOne (AWS::EC2::Subnet) CREATE_COMPLETE".into(),
            "VpcStack/PrivateSubnetTwo (AWS::EC2::Subnet) CREATE_FAILED: The CIDR '10.1.192.0/18' is invalid.".into(),
            format!("{} (AWS::CloudFormation::Stack) ROLLBACK_COMPLETE", sandbox.name),
        ],
    );
    failed.assert_error(&format!(
        "  help: stack {0} is ROLLBACK_COMPLETE (its first creation failed and was rolled back) \
         and cannot be updated: tear it down first (`isokit teardown --stack-name {0}`), then \
         deploy again",
        sandbox.name
    ));
    // SAM's output was not shown as it ran: its last lines are in the error.
    failed.assert_error("last lines of its output:\n");
    assert!(
        failed
            .stderr
            .contains("  | Error: Failed to create/update the stack"),
        "{failed:#?}"
    );
    assert_eq!(sandbox.stack_status(&sandbox.name), "ROLLBACK_COMPLETE");

    let blocked = sandbox.deploy(&sandbox.tagged_image(), &["-v"]);
    blocked.assert_error(&format!(
        "stack {0} is ROLLBACK_COMPLETE (its first creation failed and was rolled back) and cannot \
         be updated: tear it down first (`isokit teardown --stack-name {0}`), then deploy again",
        sandbox.name
    ));
    assert!(
        !blocked.stderr.contains("Deploying with"),
        "SAM ran: {blocked:#?}"
    );

    sandbox.teardown(&[]).assert_success();
    let recovered = sandbox.deploy(&sandbox.tagged_image(), &["--output", "json"]);
    recovered.assert_success();
    assert_eq!(recovered.json()["status"], "CREATE_COMPLETE");
    assert_eq!(recovered.json()["image"], pinned.as_str());
}

/// The logs that explain a failed first deployment survive its rollback
/// (the service's log group is kept, `DeletionPolicy: Retain`): `isokit
/// logs` still finds them, and `isokit teardown` removes them unless told
/// `--keep-logs`.
#[test]
fn the_logs_of_a_rolled_back_first_deployment_survive_until_teardown() {
    let sandbox = Sandbox::new("deploy-kept-logs");
    sandbox.push("first");
    let stacks = tempfile::tempdir().expect("stacks folder");
    let stacks_dir = stacks.path().to_str().expect("path is text").to_owned();
    sandbox
        .run(["stacks", "export", &stacks_dir, "--force"])
        .assert_success();
    // The service, created after its log group, names a cluster that does
    // not exist: its creation fails and the stack rolls back.
    let service = stacks.path().join("private-service.yml");
    let text = std::fs::read_to_string(&service).expect("read template");
    let broken = text.replace(
        "      Cluster: !Ref ClusterName\n",
        "      Cluster: no-such-cluster\n",
    );
    assert_ne!(broken, text, "the template names the service's cluster");
    std::fs::write(&service, broken).expect("write template");

    let failed = sandbox.deploy(&sandbox.tagged_image(), &["--stacks-dir", &stacks_dir]);
    failed.assert_error("ServiceStack › Service (AWS::ECS::Service) CREATE_FAILED");
    assert_eq!(sandbox.stack_status(&sandbox.name), "ROLLBACK_COMPLETE");
    let stack_id = sandbox.local.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        &sandbox.name,
    ])["Stacks"][0]["StackId"]
        .as_str()
        .expect("StackId")
        .to_owned();
    let log_group = sandbox.log_group_of(&stack_id);
    assert!(
        sandbox.log_group_exists(&log_group),
        "kept through the rollback"
    );

    // What a task wrote before the rollback, as awslogs names its stream.
    let stream = format!("{0}/{0}/0123456789abcdef0123456789abcdef", sandbox.name);
    sandbox.local.aws(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        &log_group,
        "--log-stream-name",
        &stream,
    ]);
    let now_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        .to_string();
    sandbox.local.aws(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        &log_group,
        "--log-stream-name",
        &stream,
        "--log-events",
        &format!(
            r#"[{{"timestamp": {now_millis}, "message": "the last words before the rollback"}}]"#
        ),
    ]);
    let logs = sandbox.run(["logs", "--stack-name", &sandbox.name]);
    logs.assert_success();
    assert!(
        logs.stdout.contains("the last words before the rollback"),
        "{logs:#?}"
    );

    let kept = sandbox.teardown(&["--keep-logs"]);
    kept.assert_success();
    assert!(
        kept.stdout.starts_with(&format!(
            "stack {0}: deleted\nlog group {log_group}: kept\nECR repository {0}: remains (",
            sandbox.name
        )),
        "{kept:#?}"
    );
    assert!(sandbox.log_group_exists(&log_group), "--keep-logs keeps it");
    sandbox
        .local
        .aws(&["logs", "delete-log-group", "--log-group-name", &log_group]);
}
