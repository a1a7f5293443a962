//! The static isolation audit: what in a set of templates would open a path
//! between the VPC and the internet, or leave the service checking endpoints
//! that were never created.

use std::fmt;

use isokit_endpoints::EndpointKind;
use serde::Serialize;

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
    }
    findings
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
