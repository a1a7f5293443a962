//! The isolation audit over the bundled templates (clean), over fixtures
//! that each break one rule, and over template sets shaped like public AWS
//! patterns that were never meant to pass it: every break found, each once,
//! nothing else, and what cannot be judged said.

use std::fs;
use std::path::{Path, PathBuf};

use isokit_stacks::{AuditReport, Finding, Rule, Severity, StackSet, Template, audit, audit_dir};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

/// A fixture file, or a fixture folder read as a user's folder is.
fn audit_fixture(name: &str) -> AuditReport {
    let path = fixture(name);
    if path.is_dir() {
        return audit_dir(&path).expect("fixture folder reads");
    }
    let text = fs::read_to_string(&path).expect("fixture text");
    audit(&[Template::parse(name, &text).expect("fixture parses")])
}

type Expected<'a> = (Rule, &'a str, &'a str);

/// (rule, template, resource) of each finding, sorted.
fn summary(findings: &[Finding]) -> Vec<(Rule, String, String)> {
    let mut summary: Vec<_> = findings
        .iter()
        .map(|f| (f.rule, f.template.clone(), f.resource.clone()))
        .collect();
    summary.sort();
    summary
}

/// Asserts the exact findings of a fixture, and that everything it could
/// read was judged.
fn expect(name: &str, expected: &[Expected<'_>]) -> AuditReport {
    let report = expect_with_unjudged(name, expected);
    assert_eq!(report.not_judged, [], "{name}");
    report
}

fn expect_with_unjudged(name: &str, expected: &[Expected<'_>]) -> AuditReport {
    let report = audit_fixture(name);
    let mut expected: Vec<(Rule, String, String)> = expected
        .iter()
        .map(|(rule, template, resource)| (*rule, template.to_string(), resource.to_string()))
        .collect();
    expected.sort();
    assert_eq!(summary(&report.findings), expected, "{name}: {report:#?}");
    report
}

fn finding<'a>(report: &'a AuditReport, rule: Rule, resource: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.rule == rule && f.resource == resource)
        .unwrap_or_else(|| panic!("no {rule} finding on {resource}: {report:#?}"))
}

fn affected(finding: &Finding) -> Vec<&str> {
    finding
        .affects
        .iter()
        .map(|a| a.resource.as_str())
        .collect()
}

/// The endpoints in the bundled VPC template that keep the default policy,
/// each accepted in its Metadata with the reason.
const POLICYLESS_BUNDLED_ENDPOINTS: [&str; 4] = [
    "SsmMessagesEndpoint",
    "EcsEndpoint",
    "EcsAgentEndpoint",
    "EcsTelemetryEndpoint",
];

#[test]
fn the_bundled_templates_pass_strictly_with_nothing_left_unjudged() {
    let report = StackSet::bundled()
        .audit()
        .expect("bundled templates parse");
    assert_eq!(report.findings, [], "{report:#?}");
    assert_eq!(report.not_judged, [], "{report:#?}");
    assert!(report.passes(true));
    let accepted: Vec<(Rule, &str)> = report
        .accepted
        .iter()
        .map(|a| (a.finding.rule, a.finding.resource.as_str()))
        .collect();
    assert_eq!(
        accepted,
        POLICYLESS_BUNDLED_ENDPOINTS.map(|endpoint| (Rule::EndpointPolicyMissing, endpoint))
    );
    // stacks/ read as any user's folder is judged the same.
    let folder = audit_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks"))
        .expect("stacks/ reads");
    assert_eq!(
        (folder.findings, folder.accepted, folder.not_judged),
        (report.findings, report.accepted, report.not_judged)
    );
}

#[test]
fn an_isolated_pattern_with_an_all_traffic_endpoint_group_and_an_open_s3_gateway() {
    let vpc = "network/vpc.json";
    let interface_endpoints = [
        "EcrApiEndpoint",
        "EcrDkrEndpoint",
        "LogsEndpoint",
        "EcsEndpoint",
        "EcsAgentEndpoint",
        "EcsTelemetryEndpoint",
        "SsmEndpoint",
        "SsmMessagesEndpoint",
        "SecretsManagerEndpoint",
    ];
    let mut expected: Vec<Expected<'_>> = vec![
        (Rule::EndpointPorts, vpc, "EndpointSecurityGroup"),
        (Rule::EndpointPolicyOpen, vpc, "S3GatewayEndpoint"),
    ];
    expected.extend(
        interface_endpoints
            .iter()
            .map(|endpoint| (Rule::EndpointPolicyMissing, vpc, *endpoint)),
    );
    let report = expect_with_unjudged("isolated-pattern", &expected);
    assert_eq!(
        report.templates,
        [
            "cluster.yaml",
            "parent.yaml",
            "service.yaml",
            "network/vpc.json"
        ]
    );

    // One security-group rule that opens nine endpoints is one finding
    // that names the nine, in words, at the group's line in the JSON file.
    let group = finding(&report, Rule::EndpointPorts, "EndpointSecurityGroup");
    assert_eq!(
        group.message,
        "admits all protocols and ports from VPC.CidrBlock to the endpoints it guards; endpoints need TCP \
         443 only"
    );
    assert_eq!(affected(group), interface_endpoints);
    assert_eq!(group.severity, Severity::Error);
    assert_eq!(group.line, Some(77));
    assert!(
        group
            .affects
            .iter()
            .all(|a| a.template == vpc && a.line.is_some())
    );

    let bucket = finding(&report, Rule::EndpointPolicyOpen, "S3GatewayEndpoint");
    assert!(
        bucket.message.starts_with(
            "has no PolicyDocument, so the default policy lets anything in the VPC read and write \
             every bucket of every account"
        ),
        "{bucket:?}"
    );
    assert_eq!(bucket.severity, Severity::Error);
    let logs = finding(&report, Rule::EndpointPolicyMissing, "LogsEndpoint");
    assert_eq!(logs.severity, Severity::Warning);
    assert!(
        logs.message
            .contains("use logs with any account's resources"),
        "{logs:?}"
    );

    // The application from the Serverless Application Repository is named
    // as unread; everything local was read.
    let unjudged: Vec<String> = report.not_judged.iter().map(ToString::to_string).collect();
    assert_eq!(
        unjudged,
        [
            "parent.yaml:27: Dashboards: nests a template from the Serverless Application \
          Repository (ApplicationId \"arn:aws:serverlessrepo:us-east-1:123456789012:applications/\
          ecs-dashboards\", SemanticVersion \"2.1.0\"), which the audit does not fetch: audit it \
          on its own"
        ]
    );
    assert!(!report.passes(false));
}

#[test]
fn a_private_vpc_with_a_nat_gateway() {
    let file = "private-with-nat.yml";
    let report = expect(
        file,
        &[
            (Rule::PublicSubnet, file, "PublicSubnetOne"),
            (Rule::PublicSubnet, file, "PublicSubnetTwo"),
            (Rule::InternetGateway, file, "InternetGateway"),
            (Rule::InternetGateway, file, "GatewayAttachment"),
            (Rule::DefaultRoute, file, "PublicRoute"),
            (Rule::ElasticIp, file, "NatGatewayAttachment"),
            (Rule::NatGateway, file, "NatGateway"),
            (Rule::DefaultRoute, file, "PrivateRoute"),
        ],
    );
    let private = finding(&report, Rule::DefaultRoute, "PrivateRoute");
    assert_eq!(
        private.message,
        "routes 0.0.0.0/0 (every IPv4 address) to NAT gateway NatGateway"
    );
    assert_eq!(affected(private), ["PrivateSubnetOne", "PrivateSubnetTwo"]);
    let public = finding(&report, Rule::DefaultRoute, "PublicRoute");
    assert_eq!(
        public.message,
        "routes 0.0.0.0/0 (every IPv4 address) to internet gateway InternetGateway"
    );
    assert_eq!(affected(public), ["PublicSubnetOne", "PublicSubnetTwo"]);
    // In file order.
    let lines: Vec<Option<usize>> = report.findings.iter().map(|f| f.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn a_vpc_with_an_egress_only_internet_gateway() {
    let file = "egress-only-ipv6.yml";
    let report = expect(
        file,
        &[
            (Rule::PublicSubnet, file, "Subnet"),
            (Rule::InternetGateway, file, "EgressOnlyGateway"),
            (Rule::DefaultRoute, file, "Ipv6DefaultRoute"),
        ],
    );
    assert_eq!(
        finding(&report, Rule::DefaultRoute, "Ipv6DefaultRoute").message,
        "routes ::/0 (every IPv6 address) to egress-only internet gateway EgressOnlyGateway"
    );
    assert!(
        finding(&report, Rule::PublicSubnet, "Subnet")
            .message
            .starts_with("sets AssignIpv6AddressOnCreation to true: every network interface")
    );
}

#[test]
fn a_vpc_routing_everything_to_a_transit_gateway() {
    let file = "transit-gateway.yml";
    let report = expect(
        file,
        &[
            (Rule::TransitGateway, file, "TransitGatewayAttachment"),
            (Rule::DefaultRoute, file, "DefaultRoute"),
            (Rule::TransitGateway, file, "CorporateRoute"),
        ],
    );
    assert_eq!(
        finding(&report, Rule::DefaultRoute, "DefaultRoute").message,
        "routes 0.0.0.0/0 (every IPv4 address) to transit gateway TransitGatewayId"
    );
    let corporate = finding(&report, Rule::TransitGateway, "CorporateRoute");
    assert_eq!(
        corporate.message,
        "routes 172.16.0.0/12 to transit gateway TransitGatewayId"
    );
    assert_eq!(affected(corporate), ["SubnetA", "SubnetB"]);
}

#[test]
fn a_vpc_peered_with_another() {
    let file = "peering.yml";
    let report = expect(
        file,
        &[
            (Rule::VpcPeering, file, "Peering"),
            (Rule::VpcPeering, file, "SharedServicesRoute"),
        ],
    );
    // The destination comes from a parameter's default.
    assert_eq!(
        finding(&report, Rule::VpcPeering, "SharedServicesRoute").message,
        "routes 10.100.0.0/16 to VPC peering connection Peering"
    );
}

#[test]
fn ways_to_other_networks_and_internet_facing_load_balancers() {
    let file = "other-networks.yml";
    let report = expect(
        file,
        &[
            (Rule::VpnGateway, file, "VpnGatewayAttachment"),
            (Rule::VpnGateway, file, "Propagation"),
            (Rule::VpnGateway, file, "OfficeRoute"),
            (Rule::ClientVpn, file, "ClientVpnAssociation"),
            (Rule::NetworkInterfaceRoute, file, "ApplianceRoute"),
            (Rule::InternetFacingLoadBalancer, file, "PublicBalancer"),
            (Rule::InternetFacingLoadBalancer, file, "DefaultBalancer"),
        ],
    );
    assert!(
        finding(&report, Rule::VpnGateway, "OfficeRoute")
            .message
            .starts_with("routes 192.168.0.0/16 to virtual private gateway VpnGateway")
    );
    assert!(
        finding(&report, Rule::InternetFacingLoadBalancer, "DefaultBalancer")
            .message
            .starts_with("has no Scheme, and a load balancer is internet-facing")
    );
}

#[test]
fn endpoint_policies_must_keep_the_vpc_to_its_account() {
    let file = "endpoint-policies.yml";
    let report = expect(
        file,
        &[
            (Rule::EndpointPolicyOpen, file, "OpenBucket"),
            (Rule::EndpointPolicyOpen, file, "PrincipalBoundBucket"),
            (Rule::EndpointPolicyOpen, file, "Ssm"),
            (Rule::EndpointPolicyMissing, file, "Table"),
        ],
    );
    let open = finding(&report, Rule::EndpointPolicyOpen, "OpenBucket");
    assert!(
        open.message.contains("(statement Everything)")
            && open.message.contains("aws:ResourceAccount"),
        "{open:?}"
    );
    // A principal of the account can still write to another account's bucket.
    assert!(
        finding(&report, Rule::EndpointPolicyOpen, "PrincipalBoundBucket")
            .message
            .contains("(statement #1)")
    );
    assert!(
        finding(&report, Rule::EndpointPolicyMissing, "Table")
            .message
            .contains("use dynamodb with any account's resources")
    );
}

#[test]
fn what_cannot_be_known_before_deployment_is_listed_not_passed() {
    let file = "unseen.yml";
    let report = expect_with_unjudged(file, &[(Rule::InternetGateway, file, "SharedRoute")]);
    // A route leads out whatever gateway it names.
    assert!(
        finding(&report, Rule::InternetGateway, "SharedRoute")
            .message
            .starts_with(
                "routes 10.9.0.0/16 to gateway {Fn::ImportValue: \"network-GatewayId\"}, an \
                 internet or a virtual private gateway, both ways out (it is imported from \
                 another stack's export \"network-GatewayId\""
            )
    );
    let unjudged: Vec<String> = report.not_judged.iter().map(ToString::to_string).collect();
    assert_eq!(
        unjudged,
        [
            "unseen.yml:10: Subnet: MapPublicIpOnLaunch: it is parameter PublicSubnets, which has \
             no default, and no template in the set passes it a value",
            "unseen.yml:16: Balancer: Scheme: it is parameter BalancerScheme of type \
             AWS::SSM::Parameter::Value<String>, whose value Systems Manager Parameter Store \
             gives when the stack is deployed",
            "unseen.yml:27: Logs: PolicyDocument: it is parameter BucketPolicy, which has no \
             default, and no template in the set passes it a value",
            "unseen.yml:27: Logs: its security group {Fn::ImportValue: \
             \"network-EndpointSecurityGroupId\"}: it is imported from another stack's export \
             \"network-EndpointSecurityGroupId\", which only exists once deployed, so the group's \
             rules are not judged",
            "unseen.yml:35: Monitoring: nests a template from \
             https://example-bucket.s3.amazonaws.com/monitoring.yaml, which the audit does not \
             fetch: audit it on its own",
        ]
    );
}

#[test]
fn internet_gateways_are_found() {
    let file = "internet-gateway.yml";
    expect(
        file,
        &[
            (Rule::InternetGateway, file, "Gateway"),
            (Rule::InternetGateway, file, "Attachment"),
            (Rule::InternetGateway, file, "Ipv6Out"),
        ],
    );
}

#[test]
fn nat_gateways_are_found() {
    expect(
        "nat-gateway.yml",
        &[(Rule::NatGateway, "nat-gateway.yml", "Nat")],
    );
}

#[test]
fn elastic_ips_are_found() {
    let file = "elastic-ip.yml";
    expect(
        file,
        &[
            (Rule::ElasticIp, file, "Address"),
            (Rule::ElasticIp, file, "Association"),
        ],
    );
}

#[test]
fn public_subnets_are_found() {
    let file = "public-subnet.yml";
    expect(
        file,
        &[
            (Rule::PublicSubnet, file, "Public"),
            (Rule::PublicSubnet, file, "AlsoPublic"),
        ],
    );
}

#[test]
fn routes_are_judged_by_destination_then_target() {
    let file = "default-route.yml";
    let report = expect(
        file,
        &[
            (Rule::DefaultRoute, file, "Everything"),
            (Rule::DefaultRoute, file, "EverythingIpv6"),
            (Rule::VpcPeering, file, "Peer"),
        ],
    );
    assert_eq!(
        finding(&report, Rule::DefaultRoute, "EverythingIpv6").message,
        "routes ::/0 (every IPv6 address) to VPC peering connection PeeringId"
    );
}

#[test]
fn public_addresses_are_found() {
    let file = "public-ip.yml";
    let report = expect(
        file,
        &[
            (Rule::PublicIp, file, "Service"),
            (Rule::PublicIp, file, "Launch"),
        ],
    );
    assert!(
        finding(&report, Rule::PublicIp, "Service")
            .message
            .contains("AssignPublicIp to \"ENABLED\""),
        "{report:#?}"
    );
}

#[test]
fn each_endpoint_group_rule_beyond_https_is_one_finding_naming_the_endpoints_it_opens() {
    let file = "endpoint-ports.yml";
    let report = expect(
        file,
        &[
            (Rule::EndpointPorts, file, "EndpointGroup"),
            (Rule::EndpointPorts, file, "AllTcp"),
            (Rule::EndpointPorts, file, "Ssm"),
        ],
    );
    let inline = finding(&report, Rule::EndpointPorts, "EndpointGroup");
    assert_eq!(
        inline.message,
        "admits all protocols and ports from 10.0.0.0/16 to the endpoints it guards; endpoints \
         need TCP 443 only"
    );
    assert_eq!(affected(inline), ["Logs", "EcrApi"]);
    let separate = finding(&report, Rule::EndpointPorts, "AllTcp");
    assert_eq!(
        separate.message,
        "opens security group EndpointGroup of endpoint-ports.yml to TCP all ports from \
         10.0.0.0/16; endpoints need TCP 443 only"
    );
    assert_eq!(affected(separate), ["Logs", "EcrApi"]);
    assert!(
        finding(&report, Rule::EndpointPorts, "Ssm")
            .message
            .contains("default security group")
    );
}

#[test]
fn hand_written_endpoint_lists_must_name_created_endpoints() {
    let file = "literal-endpoints.yml";
    let report = expect(
        file,
        &[
            (Rule::EndpointNotCreated, file, "Task"),
            (Rule::EndpointNotCreated, file, "Task"),
        ],
    );
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("lists kms, which no template creates")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("lists ssm, which Ssm creates only when ExecOn")),
        "{messages:?}"
    );
}

#[test]
fn a_stale_endpoints_output_and_a_cross_stack_ingress_are_found() {
    let report = expect(
        "stale-endpoints-output",
        &[
            (Rule::EndpointNotCreated, "service.yml", "Task"),
            (Rule::EndpointPorts, "service.yml", "EndpointsFromService"),
        ],
    );
    assert_eq!(
        finding(&report, Rule::EndpointNotCreated, "Task").message,
        "ISOKIT_ENDPOINTS comes from vpc.yml output Endpoints, and with DeployingToEC2=false it \
         lists [ecr.api,ecs] but creates [ecr.api]"
    );
    let ingress = finding(&report, Rule::EndpointPorts, "EndpointsFromService");
    assert_eq!(
        ingress.message,
        "opens security group EndpointGroup of vpc.yml to all protocols and ports from \
         ServiceGroup; endpoints need TCP 443 only"
    );
    assert_eq!(affected(ingress), ["EcrApi", "Ecs"]);
    assert!(ingress.affects.iter().all(|a| a.template == "vpc.yml"));
}

#[test]
fn endpoint_lists_that_cannot_be_traced_are_found() {
    let report = expect(
        "untraced-endpoints",
        &[
            (Rule::EndpointNotCreated, "service.yml", "Task"),
            (Rule::EndpointNotCreated, "service.yml", "Task"),
        ],
    );
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("parent.yml does not pass Orphan to App")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("passes Endpoints as") && m.contains("not a stack output")),
        "{messages:?}"
    );
}

#[test]
fn findings_read_as_file_line_resource_message_rule() {
    let report = audit_fixture("nat-gateway.yml");
    assert_eq!(
        report.findings[0].to_string(),
        "nat-gateway.yml:6: Nat: creates a NAT gateway; an isolated VPC has no way to the \
         internet [nat-gateway]"
    );
    let report = audit_fixture("transit-gateway.yml");
    assert_eq!(
        finding(&report, Rule::TransitGateway, "CorporateRoute").to_string(),
        "transit-gateway.yml:51: CorporateRoute: routes 172.16.0.0/12 to transit gateway \
         TransitGatewayId (affects SubnetA, SubnetB) [transit-gateway]"
    );
}

/// Each finding's line is the line its resource's logical ID is written
/// on, in YAML and in JSON alike.
#[test]
fn every_finding_points_at_its_resources_line() {
    for name in [
        "isolated-pattern",
        "private-with-nat.yml",
        "other-networks.yml",
        "endpoint-policies.yml",
        "stale-endpoints-output",
    ] {
        let report = audit_fixture(name);
        let folder = if fixture(name).is_dir() {
            fixture(name)
        } else {
            fixture("")
        };
        for located in report
            .findings
            .iter()
            .map(Finding::location)
            .chain(report.findings.iter().flat_map(|f| f.affects.clone()))
        {
            let text = fs::read_to_string(folder.join(&located.template)).expect("template text");
            let line = located.line.expect("a line");
            let written = text
                .lines()
                .nth(line - 1)
                .expect("the line exists")
                .trim_start();
            assert!(
                written.starts_with(&located.resource)
                    || written.starts_with(&format!("\"{}\"", located.resource)),
                "{name}: {located} is at {written:?}"
            );
        }
    }
}

/// A task that injects a Secrets Manager secret needs the secretsmanager
/// endpoint, which this VPC stack does not create: one error, on the task
/// definition's line, naming the endpoint; nothing else.
#[test]
fn a_task_injecting_a_secret_needs_the_secretsmanager_endpoint_the_vpc_lacks() {
    let report = expect(
        "task-secret-without-endpoint",
        &[(Rule::TaskEndpointMissing, "service.yml", "TaskDefinition")],
    );
    let found = &report.findings[0];
    assert_eq!(found.severity, Severity::Error);
    assert_eq!(
        found.endpoint.as_ref().map(ToString::to_string).as_deref(),
        Some("secretsmanager")
    );
    assert_eq!(
        found.to_string(),
        "service.yml:12: TaskDefinition: container app needs the secretsmanager endpoint (the \
         Secrets Manager secrets it injects; without it ECS stops the task with \
         ResourceInitializationError), which no template in the set creates \
         [task-endpoint-missing]"
    );
    assert!(!report.passes(false));
}
