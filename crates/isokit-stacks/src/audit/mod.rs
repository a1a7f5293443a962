//! The static isolation audit: what in a set of templates would open a path
//! between the VPC and the internet, or leave the service checking endpoints
//! that were never created.

use std::fmt;

use isokit_endpoints::{Endpoint, EndpointKind};
use serde::{Serialize, Serializer};

use crate::endpoints::{check_endpoints_output, endpoints_of_vpc_template};
use crate::template::{Node, Resource, Template};

/// The environment variable the service reads its endpoint list from.
pub const ENDPOINTS_VARIABLE: &str = "ISOKIT_ENDPOINTS";

/// What a finding breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// An internet gateway (or egress-only one) or its attachment.
    InternetGateway,
    NatGateway,
    ElasticIp,
    /// A subnet that gives instances public addresses.
    PublicSubnet,
    /// A route to `0.0.0.0/0` or `::/0`.
    DefaultRoute,
    /// A task or instance given a public address.
    PublicIp,
    /// The service checks an endpoint the VPC stack does not create (or the
    /// list it checks cannot be traced to the VPC stack).
    EndpointNotCreated,
    /// An endpoint security group admits more than TCP 443.
    EndpointPorts,
    /// A task needs an endpoint to start (its image's registry and layers,
    /// its log driver) that the VPC the set creates lacks.
    TaskEndpointMissing,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::InternetGateway => "internet-gateway",
            Rule::NatGateway => "nat-gateway",
            Rule::ElasticIp => "elastic-ip",
            Rule::PublicSubnet => "public-subnet",
            Rule::DefaultRoute => "default-route",
            Rule::PublicIp => "public-ip",
            Rule::EndpointNotCreated => "endpoint-not-created",
            Rule::EndpointPorts => "endpoint-ports",
            Rule::TaskEndpointMissing => "task-endpoint-missing",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the audit objects to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// The template's file name.
    pub template: String,
    /// The logical ID of the resource at fault.
    pub resource: String,
    pub message: String,
    /// The endpoint missing, for [`Rule::TaskEndpointMissing`]: what a user
    /// who knows better names to deploy anyway.
    #[serde(serialize_with = "serialize_endpoint")]
    pub endpoint: Option<Endpoint>,
}

fn serialize_endpoint<S: Serializer>(
    endpoint: &Option<Endpoint>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match endpoint {
        Some(endpoint) => serializer.serialize_some(endpoint.service()),
        None => serializer.serialize_none(),
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} [{}]",
            self.template, self.resource, self.message, self.rule
        )
    }
}

/// Audits a set of templates (a parent and the children it nests, or any
/// other set): an empty result means none of the rules is broken.
pub fn audit(templates: &[Template]) -> Vec<Finding> {
    let set = TemplateSet(templates);
    let mut findings = Vec::new();
    for template in templates {
        let mut report = |rule, resource: &str, message: String| {
            findings.push(Finding {
                rule,
                template: template.name().to_owned(),
                resource: resource.to_owned(),
                message,
                endpoint: None,
            })
        };
        for resource in template.resources() {
            check_ways_out(&resource, &mut report);
            check_public_addresses(&resource, &mut report);
            if resource.kind == "AWS::EC2::VPCEndpoint" {
                check_endpoint_ports(&set, template, &resource, &mut report);
            }
            if resource.kind == "AWS::ECS::TaskDefinition" {
                check_endpoint_wiring(&set, template, &resource, &mut report);
            }
        }
        for resource in template
            .resources()
            .filter(|resource| resource.kind == "AWS::ECS::TaskDefinition")
        {
            for (endpoint, message) in missing_task_endpoints(&set, &resource) {
                findings.push(Finding {
                    rule: Rule::TaskEndpointMissing,
                    template: template.name().to_owned(),
                    resource: resource.name.to_owned(),
                    message,
                    endpoint: Some(endpoint),
                });
            }
        }
    }
    findings
}

/// What a task pulls and writes through before its containers run, each
/// with the endpoint that carries it in an isolated VPC and the error ECS
/// stops the task with without it
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html).
const ECR_PULL: [(&str, &str); 3] = [
    (
        "ecr.api",
        "the registry auth token; without it ECS stops the task with ResourceInitializationError",
    ),
    (
        "ecr.dkr",
        "the image's manifest; without it ECS stops the task with CannotPullContainerError",
    ),
    (
        "s3",
        "the image's layers, which ECR keeps in S3; without the gateway endpoint ECS stops the \
         task with CannotPullContainerError",
    ),
];
const AWSLOGS: (&str, &str) = (
    "logs",
    "the awslogs driver's log stream; without it ECS stops the task with \
     ResourceInitializationError",
);

/// The endpoints a task definition needs to start that the VPC the set
/// creates does not create (or creates only under a condition): an image
/// from ECR needs ecr.api, ecr.dkr and s3; the awslogs driver needs logs.
/// An image given through a parameter counts as ECR's, since isokit deploys
/// only ECR images. Checked only for a set that creates its VPC: the
/// endpoints of a VPC made elsewhere cannot be known here.
fn missing_task_endpoints(
    set: &TemplateSet<'_>,
    resource: &Resource<'_>,
) -> Vec<(Endpoint, String)> {
    let creates_vpc = set
        .0
        .iter()
        .any(|template| template.resources().any(|r| r.kind == "AWS::EC2::VPC"));
    if !creates_vpc {
        return Vec::new();
    }
    let created: Vec<_> = set
        .0
        .iter()
        .filter_map(|template| endpoints_of_vpc_template(template).ok())
        .flatten()
        .collect();
    let containers = resource
        .property("ContainerDefinitions")
        .and_then(Node::as_list)
        .unwrap_or_default();
    let mut needed: Vec<(&str, &str, String)> = Vec::new();
    let mut need = |(endpoint, why): (&'static str, &'static str), container: String| {
        if !needed.iter().any(|(known, _, _)| *known == endpoint) {
            needed.push((endpoint, why, container));
        }
    };
    for container in containers {
        // A name given through a parameter is not known here.
        let name = container.get("Name").and_then(Node::as_text).map_or_else(
            || "its container".to_owned(),
            |name| format!("container {name}"),
        );
        let from_ecr = match container.get("Image") {
            Some(image) => image
                .as_text()
                .is_none_or(|literal| literal.contains(".dkr.ecr.")),
            None => false,
        };
        if from_ecr {
            for pull in ECR_PULL {
                need(pull, name.clone());
            }
        }
        let driver = container
            .get("LogConfiguration")
            .and_then(|log| log.get("LogDriver"))
            .and_then(Node::as_str);
        if driver == Some("awslogs") {
            need(AWSLOGS, name);
        }
    }
    needed
        .into_iter()
        .filter_map(|(endpoint, why, container)| {
            let endpoint: Endpoint = endpoint.parse().ok()?;
            let lack = match created.iter().find(|c| c.endpoint == endpoint) {
                None => "which no template in the set creates".to_owned(),
                Some(found) => match &found.condition {
                    Some(condition) => {
                        format!("which {} creates only when {condition}", found.resource)
                    }
                    None => return None,
                },
            };
            let message =
                format!("{container} needs the {endpoint} endpoint to start ({why}), {lack}");
            Some((endpoint, message))
        })
        .collect()
}

type Report<'r> = dyn FnMut(Rule, &str, String) + 'r;

fn check_ways_out(resource: &Resource<'_>, report: &mut Report<'_>) {
    let (rule, what) = match resource.kind {
        "AWS::EC2::InternetGateway" => (Rule::InternetGateway, "an internet gateway"),
        "AWS::EC2::EgressOnlyInternetGateway" => {
            (Rule::InternetGateway, "an egress-only internet gateway")
        }
        "AWS::EC2::VPCGatewayAttachment" if resource.property("InternetGatewayId").is_some() => {
            (Rule::InternetGateway, "an internet gateway attachment")
        }
        "AWS::EC2::NatGateway" => (Rule::NatGateway, "a NAT gateway"),
        "AWS::EC2::EIP" | "AWS::EC2::EIPAssociation" => (Rule::ElasticIp, "an Elastic IP"),
        "AWS::EC2::Route" => {
            for (key, default) in [
                ("DestinationCidrBlock", "0.0.0.0/0"),
                ("DestinationIpv6CidrBlock", "::/0"),
            ] {
                if resource.property(key).and_then(Node::as_str) == Some(default) {
                    report(
                        Rule::DefaultRoute,
                        resource.name,
                        format!("routes {default} out of the VPC"),
                    );
                }
            }
            return;
        }
        _ => return,
    };
    report(
        rule,
        resource.name,
        format!("creates {what}; an isolated VPC has no way to the internet"),
    );
}

fn check_public_addresses(resource: &Resource<'_>, report: &mut Report<'_>) {
    if resource.kind == "AWS::EC2::Subnet"
        && let Some(value) = resource.property("MapPublicIpOnLaunch")
        && !is_false(value)
    {
        report(
            Rule::PublicSubnet,
            resource.name,
            format!("sets MapPublicIpOnLaunch to {value}; it must be false"),
        );
    }
    // Wherever they sit (ECS services, task sets, scheduled tasks, launch
    // templates), these settings hand out public addresses.
    for node in resource.properties.walk() {
        for (key, value) in node.entries() {
            let public = match key.as_str() {
                "AssignPublicIp" => value.as_str() != Some("DISABLED"),
                "AssociatePublicIpAddress" => !is_false(value),
                _ => continue,
            };
            if public {
                report(
                    Rule::PublicIp,
                    resource.name,
                    format!("sets {key} to {value}; tasks must get private addresses only"),
                );
            }
        }
    }
}

fn is_false(value: &Node) -> bool {
    matches!(value, Node::Bool(false)) || value.as_str() == Some("false")
}

/// The templates audited together, so that a parameter can be followed to
/// the parent that passes it and the child output it comes from.
#[derive(Clone, Copy)]
struct TemplateSet<'a>(&'a [Template]);

/// Where a child template's parameter comes from.
enum Source<'a> {
    /// Another template's output, through `!GetAtt Stack.Outputs.Name`.
    Output {
        template: &'a Template,
        output: &'a str,
    },
    /// A literal value.
    Literal(String),
}

impl<'a> TemplateSet<'a> {
    fn named(&self, file_name: &str) -> Option<&'a Template> {
        let file_name = file_name.rsplit('/').next().unwrap_or(file_name);
        self.0.iter().find(|template| template.name() == file_name)
    }

    /// Follows `parameter` of `child` to what a parent in the set passes it.
    /// Each error says where the trail went cold.
    fn source_of(&self, child: &Template, parameter: &str) -> Result<Source<'a>, String> {
        for parent in self.0 {
            for stack in parent
                .resources()
                .filter(|r| r.kind == "AWS::CloudFormation::Stack")
            {
                let nests_child = stack
                    .property("TemplateURL")
                    .and_then(Node::as_str)
                    .and_then(|url| self.named(url))
                    .is_some_and(|nested| nested.name() == child.name());
                if !nests_child {
                    continue;
                }
                let Some(passed) = stack.property("Parameters").and_then(|p| p.get(parameter))
                else {
                    return Err(format!(
                        "{} does not pass {parameter} to {}",
                        parent.name(),
                        stack.name
                    ));
                };
                if let Some(text) = passed.as_text() {
                    return Ok(Source::Literal(text));
                }
                let Some(("Fn::GetAtt", Node::List(path))) = passed.intrinsic() else {
                    return Err(format!(
                        "{} passes {parameter} as {passed}, which is not a stack output",
                        parent.name()
                    ));
                };
                let (Some(sibling), Some(output)) = (
                    path.first().and_then(Node::as_str),
                    path.get(1)
                        .and_then(Node::as_str)
                        .and_then(|attribute| attribute.strip_prefix("Outputs.")),
                ) else {
                    return Err(format!(
                        "{} passes {parameter} as {passed}, which is not a stack output",
                        parent.name()
                    ));
                };
                let template = parent
                    .resource(sibling)
                    .and_then(|r| r.property("TemplateURL"))
                    .and_then(Node::as_str)
                    .and_then(|url| self.named(url))
                    .ok_or_else(|| {
                        format!(
                            "{} takes {parameter} from {sibling}, whose template is not in the set",
                            parent.name()
                        )
                    })?;
                return Ok(Source::Output { template, output });
            }
        }
        Err(format!(
            "no parent in the set passes {parameter} to {}",
            child.name()
        ))
    }

    /// The security group resource a `SecurityGroupIds` or `GroupId` item
    /// names, following parameters through parents and outputs.
    fn security_group(
        &self,
        template: &'a Template,
        reference: &'a Node,
    ) -> Option<(&'a Template, &'a str)> {
        let target = match reference.intrinsic() {
            Some(("Ref", Node::String(target))) => target.as_str(),
            Some(("Fn::GetAtt", Node::List(path))) => path.first().and_then(Node::as_str)?,
            _ => return None,
        };
        if template
            .resource(target)
            .is_some_and(|r| r.kind == "AWS::EC2::SecurityGroup")
        {
            return Some((template, target));
        }
        template.parameter(target)?;
        match self.source_of(template, target).ok()? {
            Source::Output { template, output } => {
                self.security_group(template, template.output(output)?)
            }
            Source::Literal(_) => None,
        }
    }
}

/// Every endpoint the service checks must be one the VPC stack creates: the
/// list reaches the container through parameters and outputs that end at the
/// VPC template's endpoint list, which must match its resources.
fn check_endpoint_wiring(
    set: &TemplateSet<'_>,
    template: &Template,
    resource: &Resource<'_>,
    report: &mut Report<'_>,
) {
    let containers = resource
        .property("ContainerDefinitions")
        .and_then(Node::as_list)
        .unwrap_or_default();
    for environment in containers
        .iter()
        .filter_map(|c| c.get("Environment"))
        .filter_map(Node::as_list)
    {
        if let Some(value) = environment
            .iter()
            .find(|variable| {
                variable.get("Name").and_then(Node::as_str) == Some(ENDPOINTS_VARIABLE)
            })
            .and_then(|variable| variable.get("Value"))
        {
            check_endpoints_value(set, template, resource, value, report);
        }
    }
}

/// One container's `ISOKIT_ENDPOINTS` value, followed to where it is made.
fn check_endpoints_value(
    set: &TemplateSet<'_>,
    template: &Template,
    resource: &Resource<'_>,
    value: &Node,
    report: &mut Report<'_>,
) {
    let mut cold = |why: String| {
        report(
            Rule::EndpointNotCreated,
            resource.name,
            format!("{ENDPOINTS_VARIABLE} cannot be traced to the VPC stack's endpoints: {why}"),
        )
    };
    let source = match (value.as_text(), value.as_ref_target()) {
        (Some(text), _) => Source::Literal(text),
        (None, Some(parameter)) if template.parameter(parameter).is_some() => {
            match set.source_of(template, parameter) {
                Ok(source) => source,
                Err(why) => return cold(why),
            }
        }
        _ => {
            return cold(format!(
                "it is set to {value}, neither a list nor a parameter"
            ));
        }
    };
    match source {
        Source::Literal(text) => check_literal_endpoints(set, &text, resource, report),
        Source::Output {
            template: vpc,
            output,
        } => match check_endpoints_output(vpc, output) {
            Ok(mismatches) => {
                for mismatch in mismatches {
                    report(
                        Rule::EndpointNotCreated,
                        resource.name,
                        format!(
                            "{ENDPOINTS_VARIABLE} comes from {} output {output}, and{mismatch}",
                            vpc.name()
                        ),
                    );
                }
            }
            Err(error) => cold(error.to_string()),
        },
    }
}

/// A list written into the template: each endpoint must be created, and
/// created unconditionally, by some template in the set.
fn check_literal_endpoints(
    set: &TemplateSet<'_>,
    text: &str,
    resource: &Resource<'_>,
    report: &mut Report<'_>,
) {
    let listed = match isokit_endpoints::parse_list(text) {
        Ok(listed) => listed,
        Err(error) => {
            return report(
                Rule::EndpointNotCreated,
                resource.name,
                format!("{ENDPOINTS_VARIABLE}: {error}"),
            );
        }
    };
    let created: Vec<_> = set
        .0
        .iter()
        .filter_map(|t| endpoints_of_vpc_template(t).ok())
        .flatten()
        .collect();
    for endpoint in listed {
        let message = match created.iter().find(|c| c.endpoint == endpoint) {
            None => format!("{ENDPOINTS_VARIABLE} lists {endpoint}, which no template creates"),
            Some(found) => match &found.condition {
                Some(condition) => format!(
                    "{ENDPOINTS_VARIABLE} lists {endpoint}, which {} creates only when {condition}",
                    found.resource
                ),
                None => continue,
            },
        };
        report(Rule::EndpointNotCreated, resource.name, message);
    }
}

/// An interface endpoint's security groups must admit TCP 443 and nothing
/// else, whether the rules are inline or separate ingress resources anywhere
/// in the set.
fn check_endpoint_ports(
    set: &TemplateSet<'_>,
    template: &Template,
    endpoint: &Resource<'_>,
    report: &mut Report<'_>,
) {
    let is_interface = match endpoint.property("VpcEndpointType").and_then(Node::as_str) {
        Some(kind) => kind.eq_ignore_ascii_case(EndpointKind::Interface.as_str()),
        // CloudFormation's default type is Gateway.
        None => false,
    };
    if !is_interface {
        return;
    }
    let groups = endpoint
        .property("SecurityGroupIds")
        .and_then(Node::as_list)
        .unwrap_or_default();
    if groups.is_empty() {
        return report(
            Rule::EndpointPorts,
            endpoint.name,
            "has no SecurityGroupIds, so it gets the VPC's default security group, which admits all traffic from itself".into(),
        );
    }
    for reference in groups {
        let Some((group_template, group)) = set.security_group(template, reference) else {
            report(
                Rule::EndpointPorts,
                endpoint.name,
                format!(
                    "its security group {reference} cannot be traced to a security group resource"
                ),
            );
            continue;
        };
        let inline = group_template
            .resource(group)
            .and_then(|r| r.property("SecurityGroupIngress"))
            .and_then(Node::as_list)
            .unwrap_or_default();
        for rule in inline {
            if let Some(problem) = not_https_only(rule) {
                report(
                    Rule::EndpointPorts,
                    endpoint.name,
                    format!(
                        "security group {group} in {} {problem}",
                        group_template.name()
                    ),
                );
            }
        }
        for other in set.0 {
            for ingress in other
                .resources()
                .filter(|r| r.kind == "AWS::EC2::SecurityGroupIngress")
            {
                let targets_group = ingress
                    .property("GroupId")
                    .and_then(|reference| set.security_group(other, reference))
                    .is_some_and(|(t, g)| t.name() == group_template.name() && g == group);
                if targets_group && let Some(problem) = not_https_only(ingress.properties) {
                    report(
                        Rule::EndpointPorts,
                        endpoint.name,
                        format!(
                            "security group {group} in {}, through {} in {}, {problem}",
                            group_template.name(),
                            ingress.name,
                            other.name()
                        ),
                    );
                }
            }
        }
    }
}

/// Why an ingress rule is more than TCP 443, if it is.
fn not_https_only(rule: &Node) -> Option<String> {
    let text = |key| rule.get(key).and_then(Node::as_text);
    let protocol = text("IpProtocol");
    let tcp = matches!(protocol.as_deref(), Some("tcp" | "6"));
    let https =
        text("FromPort").as_deref() == Some("443") && text("ToPort").as_deref() == Some("443");
    (!(tcp && https)).then(|| {
        format!(
            "admits protocol {} ports {}-{}; endpoints need TCP 443 only",
            protocol.as_deref().unwrap_or("?"),
            text("FromPort").as_deref().unwrap_or("?"),
            text("ToPort").as_deref().unwrap_or("?"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VPC creating `endpoints` (the conditional ones under `Wanted`), and
    /// a task whose container runs `image` and logs through `driver`.
    fn set(endpoints: &[(&str, bool)], image: &str, driver: &str) -> Vec<Template> {
        let mut vpc = String::from(
            "Conditions:\n  Wanted: !Equals [a, b]\nResources:\n  VPC:\n    Type: AWS::EC2::VPC\n",
        );
        for (index, (endpoint, conditional)) in endpoints.iter().enumerate() {
            vpc.push_str(&format!(
                "  Endpoint{index}:\n    Type: AWS::EC2::VPCEndpoint\n{}    Properties:\n      \
                 VpcEndpointType: Gateway\n      ServiceName: !Sub com.amazonaws.${{AWS::Region}}.{endpoint}\n",
                if *conditional { "    Condition: Wanted\n" } else { "" }
            ));
        }
        let service = format!(
            "Resources:\n  TaskDefinition:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      \
             ContainerDefinitions:\n        - Name: app\n          Image: {image}\n          \
             LogConfiguration:\n            LogDriver: {driver}\n"
        );
        vec![
            Template::parse("vpc.yml", &vpc).expect("YAML"),
            Template::parse("service.yml", &service).expect("YAML"),
        ]
    }

    fn missing(templates: &[Template]) -> Vec<(String, String)> {
        audit(templates)
            .into_iter()
            .filter(|finding| finding.rule == Rule::TaskEndpointMissing)
            .map(|finding| {
                let endpoint = finding.endpoint.map(|e| e.service().to_owned());
                (endpoint.unwrap_or_default(), finding.message)
            })
            .collect()
    }

    const ALL: [(&str, bool); 4] = [
        ("ecr.api", false),
        ("ecr.dkr", false),
        ("s3", false),
        ("logs", false),
    ];

    #[test]
    fn a_task_from_ecr_logging_to_cloudwatch_needs_four_endpoints() {
        assert!(missing(&set(&ALL, "!Ref ImageUri", "awslogs")).is_empty());
        let found = missing(&set(&ALL[..1], "!Ref ImageUri", "awslogs"));
        let endpoints: Vec<&str> = found.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(endpoints, ["ecr.dkr", "s3", "logs"]);
        assert_eq!(
            found[0].1,
            "container app needs the ecr.dkr endpoint to start (the image's manifest; without it \
             ECS stops the task with CannotPullContainerError), which no template in the set creates"
        );
    }

    #[test]
    fn an_endpoint_created_under_a_condition_is_named_with_it() {
        let endpoints = [
            ("ecr.api", false),
            ("ecr.dkr", true),
            ("s3", false),
            ("logs", false),
        ];
        let found = missing(&set(&endpoints, "!Ref ImageUri", "awslogs"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .ends_with("which Endpoint1 creates only when Wanted"),
            "{found:?}"
        );
    }

    #[test]
    fn only_what_the_task_uses_is_needed() {
        // An image from another registry, and another log driver: neither
        // ECR's endpoints nor CloudWatch Logs are needed to start.
        assert!(missing(&set(&[], "public.example/app:1", "json-file")).is_empty());
        let found = missing(&set(
            &ALL[..3],
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1",
            "awslogs",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "logs");
        // A set that does not create its VPC: its endpoints are not known.
        let service_only = set(&[], "!Ref ImageUri", "awslogs").split_off(1);
        assert!(missing(&service_only).is_empty());
    }
}
