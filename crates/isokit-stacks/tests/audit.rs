//! The isolation audit over the bundled templates (clean) and over fixture
//! templates that each break a rule (every break found, nothing else).

use std::fs;
use std::path::{Path, PathBuf};

use isokit_stacks::{Finding, Rule, StackSet, Template, audit};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

/// A fixture file, or every template in a fixture directory.
fn load(name: &str) -> Vec<Template> {
    let path = fixture(name);
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(&path)
            .expect("fixture directory")
            .map(|entry| entry.expect("entry").path())
            .collect();
        files.sort();
        files
    } else {
        vec![path]
    };
    files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            Template::parse(name, &fs::read_to_string(file).expect("fixture text"))
                .expect("fixture parses")
        })
        .collect()
}

/// (rule, template, resource) of each finding, sorted.
fn summary(findings: &[Finding]) -> Vec<(Rule, String, String)> {
    let mut summary: Vec<_> = findings
        .iter()
        .map(|f| (f.rule, f.template.clone(), f.resource.clone()))
        .collect();
    summary.sort();
    summary
}

fn expect(name: &str, expected: &[(Rule, &str, &str)]) -> Vec<Finding> {
    let findings = audit(&load(name));
    let mut expected: Vec<(Rule, String, String)> = expected
        .iter()
        .map(|(rule, template, resource)| (*rule, template.to_string(), resource.to_string()))
        .collect();
    expected.sort();
    assert_eq!(summary(&findings), expected, "{name}: {findings:#?}");
    findings
}

fn message<'a>(findings: &'a [Finding], resource: &str) -> Vec<&'a str> {
    findings
        .iter()
        .filter(|f| f.resource == resource)
        .map(|f| f.message.as_str())
        .collect()
}

#[test]
fn the_bundled_templates_pass() {
    let findings = StackSet::bundled()
        .audit()
        .expect("bundled templates parse");
    assert!(findings.is_empty(), "{findings:#?}");
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
fn default_routes_are_found() {
    let file = "default-route.yml";
    let findings = expect(
        file,
        &[
            (Rule::DefaultRoute, file, "Everything"),
            (Rule::DefaultRoute, file, "EverythingIpv6"),
        ],
    );
    assert_eq!(
        message(&findings, "EverythingIpv6"),
        ["routes ::/0 out of the VPC"]
    );
}

#[test]
fn public_addresses_are_found() {
    let file = "public-ip.yml";
    let findings = expect(
        file,
        &[
            (Rule::PublicIp, file, "Service"),
            (Rule::PublicIp, file, "Launch"),
        ],
    );
    assert!(
        message(&findings, "Service")[0].contains("AssignPublicIp to \"ENABLED\""),
        "{findings:#?}"
    );
}

#[test]
fn endpoint_groups_admitting_more_than_https_are_found() {
    let file = "endpoint-ports.yml";
    let findings = expect(
        file,
        &[
            (Rule::EndpointPorts, file, "Logs"),
            (Rule::EndpointPorts, file, "Logs"),
            (Rule::EndpointPorts, file, "Ssm"),
        ],
    );
    let logs = message(&findings, "Logs");
    assert!(
        logs.iter().any(|m| m.contains("admits protocol -1")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|m| m.contains("through AllTcp") && m.contains("ports 0-65535")),
        "{logs:?}"
    );
    assert!(
        message(&findings, "Ssm")[0].contains("default security group"),
        "{findings:#?}"
    );
}

#[test]
fn hand_written_endpoint_lists_must_name_created_endpoints() {
    let file = "literal-endpoints.yml";
    let findings = expect(
        file,
        &[
            (Rule::EndpointNotCreated, file, "Task"),
            (Rule::EndpointNotCreated, file, "Task"),
        ],
    );
    let messages = message(&findings, "Task");
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
    let findings = expect(
        "stale-endpoints-output",
        &[
            (Rule::EndpointNotCreated, "service.yml", "Task"),
            (Rule::EndpointPorts, "vpc.yml", "EcrApi"),
            (Rule::EndpointPorts, "vpc.yml", "Ecs"),
        ],
    );
    assert_eq!(
        message(&findings, "Task"),
        [
            "ISOKIT_ENDPOINTS comes from vpc.yml output Endpoints, and with DeployingToEC2=false it lists [ecr.api,ecs] but creates [ecr.api]"
        ]
    );
    assert!(
        message(&findings, "EcrApi")[0].contains("through EndpointsFromService in service.yml"),
        "{findings:#?}"
    );
}

#[test]
fn endpoint_lists_that_cannot_be_traced_are_found() {
    let findings = expect(
        "untraced-endpoints",
        &[
            (Rule::EndpointNotCreated, "service.yml", "Task"),
            (Rule::EndpointNotCreated, "service.yml", "Task"),
        ],
    );
    let messages = message(&findings, "Task");
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
fn findings_read_as_template_resource_message_rule() {
    let findings = audit(&load("nat-gateway.yml"));
    assert_eq!(
        findings[0].to_string(),
        "nat-gateway.yml: Nat: creates a NAT gateway; an isolated VPC has no way to the internet [nat-gateway]"
    );
}
