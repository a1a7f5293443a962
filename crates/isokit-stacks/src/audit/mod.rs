//! The static isolation audit of a set of templates: every way the VPC it
//! makes could reach the internet or another network (errors), endpoints
//! that leave the data perimeter open (warnings), and the wiring that makes
//! the service check the endpoints the VPC has. What the audit cannot see
//! before deployment (values from other stacks or given at deploy time,
//! remote nested templates, macros) is listed, not passed silently.

mod endpoint_access;
mod needs;
mod network;
mod sarif;
mod values;
mod wiring;

use std::fmt;
use std::path::Path;

use isokit_endpoints::Endpoint;
use serde::Serialize;

use crate::Error;
use crate::eval::ParameterValues;
use crate::nested::{NestedTemplate, nested_template};
use crate::template::{Node, Resource, Template};
use crate::template_dir::read_template_dir;
use values::{Given, TemplateSet};

pub use needs::EndpointNeed;
pub use sarif::SarifLog;

/// What a finding breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    InternetGateway,
    NatGateway,
    ElasticIp,
    PublicSubnet,
    DefaultRoute,
    PublicIp,
    TransitGateway,
    VpcPeering,
    VpnGateway,
    ClientVpn,
    NetworkInterfaceRoute,
    InternetFacingLoadBalancer,
    EndpointPolicyOpen,
    EndpointPolicyMissing,
    EndpointPorts,
    EndpointNotCreated,
    TaskEndpointMissing,
}

impl Rule {
    pub const ALL: [Rule; 17] = [
        Rule::InternetGateway,
        Rule::NatGateway,
        Rule::ElasticIp,
        Rule::PublicSubnet,
        Rule::DefaultRoute,
        Rule::PublicIp,
        Rule::TransitGateway,
        Rule::VpcPeering,
        Rule::VpnGateway,
        Rule::ClientVpn,
        Rule::NetworkInterfaceRoute,
        Rule::InternetFacingLoadBalancer,
        Rule::EndpointPolicyOpen,
        Rule::EndpointPolicyMissing,
        Rule::EndpointPorts,
        Rule::EndpointNotCreated,
        Rule::TaskEndpointMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::InternetGateway => "internet-gateway",
            Rule::NatGateway => "nat-gateway",
            Rule::ElasticIp => "elastic-ip",
            Rule::PublicSubnet => "public-subnet",
            Rule::DefaultRoute => "default-route",
            Rule::PublicIp => "public-ip",
            Rule::TransitGateway => "transit-gateway",
            Rule::VpcPeering => "vpc-peering",
            Rule::VpnGateway => "vpn-gateway",
            Rule::ClientVpn => "client-vpn",
            Rule::NetworkInterfaceRoute => "network-interface-route",
            Rule::InternetFacingLoadBalancer => "internet-facing-load-balancer",
            Rule::EndpointPolicyOpen => "endpoint-policy-open",
            Rule::EndpointPolicyMissing => "endpoint-policy-missing",
            Rule::EndpointPorts => "endpoint-ports",
            Rule::EndpointNotCreated => "endpoint-not-created",
            Rule::TaskEndpointMissing => "task-endpoint-missing",
        }
    }

    /// A way out, or a deployment that cannot work, is an error; a gap in
    /// the data perimeter is a warning.
    pub fn severity(self) -> Severity {
        match self {
            Rule::EndpointPolicyMissing => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// What the rule finds, in one sentence.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::InternetGateway => {
                "An internet, egress-only internet or carrier gateway, its attachment, or a route \
                 through one"
            }
            Rule::NatGateway => "A NAT gateway, or a route through one",
            Rule::ElasticIp => "An Elastic IP or its association",
            Rule::PublicSubnet => {
                "A subnet that gives what launches in it a public IPv4 address \
                 (MapPublicIpOnLaunch) or an IPv6 address (AssignIpv6AddressOnCreation)"
            }
            Rule::DefaultRoute => "A route to 0.0.0.0/0 or ::/0, whatever its target",
            Rule::PublicIp => {
                "AssignPublicIp or AssociatePublicIpAddress enabled anywhere (services, task \
                 sets, scheduled tasks, launch templates)"
            }
            Rule::TransitGateway => {
                "A transit gateway attachment, or a route to a transit gateway or Cloud WAN core \
                 network"
            }
            Rule::VpcPeering => "A VPC peering connection, or a route to one",
            Rule::VpnGateway => {
                "A virtual private gateway's attachment or route propagation, or a route to a \
                 virtual private gateway or an Outposts local gateway"
            }
            Rule::ClientVpn => "A Client VPN endpoint associated with a subnet",
            Rule::NetworkInterfaceRoute => {
                "A route to a network interface, an instance or a Gateway Load Balancer endpoint, \
                 which can forward anywhere"
            }
            Rule::InternetFacingLoadBalancer => {
                "A load balancer with Scheme internet-facing, or with no Scheme (internet-facing \
                 by default)"
            }
            Rule::EndpointPolicyOpen => {
                "An S3 endpoint without a policy, or an endpoint policy that allows any resource \
                 to any principal with no account condition"
            }
            Rule::EndpointPolicyMissing => {
                "An endpoint without a policy: the default one lets any principal use the \
                 service with any account's resources"
            }
            Rule::EndpointPorts => {
                "An interface endpoint's security group rule that admits more than TCP 443 (one \
                 finding per rule, listing the endpoints it opens), or an endpoint with no \
                 security group"
            }
            Rule::EndpointNotCreated => {
                "The service checks an endpoint the VPC stack does not create, or its endpoint \
                 list cannot be traced to the VPC stack"
            }
            Rule::TaskEndpointMissing => {
                "A task needs an endpoint (its image's registry and layers, its log driver, the \
                 secrets it injects and their customer managed key, ECS Exec, the EC2 agent) \
                 that the VPC the set creates lacks"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource in a template of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The template's path within the set.
    pub template: String,
    /// The logical ID.
    pub resource: String,
    /// The line the logical ID is written on.
    pub line: Option<usize>,
}

impl Location {
    fn of(template: &Template, resource: &Resource<'_>) -> Location {
        Location {
            template: template.name().to_owned(),
            resource: resource.name.to_owned(),
            line: resource.line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.resource)
    }
}

/// One thing the audit objects to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// The template's path within the set.
    pub template: String,
    /// The logical ID of the resource at fault.
    pub resource: String,
    /// The line its logical ID is written on.
    pub line: Option<usize>,
    pub message: String,
    /// Other resources the fault reaches: the endpoints a security group
    /// rule opens, the subnets a route sends out.
    pub affects: Vec<Location>,
    /// The endpoint missing, for [`Rule::TaskEndpointMissing`]: what a user
    /// who knows better names to deploy anyway.
    pub endpoint: Option<Endpoint>,
}

impl Finding {
    pub fn location(&self) -> Location {
        Location {
            template: self.template.clone(),
            resource: self.resource.clone(),
            line: self.line,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if !self.affects.is_empty() {
            let names: Vec<&str> = self.affects.iter().map(|a| a.resource.as_str()).collect();
            write!(f, " (affects {})", names.join(", "))?;
        }
        write!(f, " [{}]", self.rule)
    }
}

/// A warning the resource's own `Metadata` accepts, with its reason:
///
/// ```yaml
/// Metadata:
///   isokit:
///     accept:
///       - rule: endpoint-policy-missing
///         reason: why this gap is known and kept
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
}

/// Something the audit could not judge, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotJudged {
    pub template: String,
    /// The resource concerned, when it is one rather than the template.
    pub resource: Option<String>,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for NotJudged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(resource) = &self.resource {
            write!(f, ": {resource}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The audit of a set of templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The templates read, by their paths within the set.
    pub templates: Vec<String>,
    /// In template order, then by line.
    pub findings: Vec<Finding>,
    pub accepted: Vec<AcceptedFinding>,
    pub not_judged: Vec<NotJudged>,
}

impl AuditReport {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.with_severity(Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.with_severity(Severity::Warning)
    }

    fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |finding| finding.severity == severity)
    }

    /// No error; with `strict`, no warning either.
    pub fn passes(&self, strict: bool) -> bool {
        self.errors().next().is_none() && !(strict && self.warnings().next().is_some())
    }

    /// The report as SARIF 2.1.0, for code-scanning tools. `folder` is
    /// where the templates were read from (as given, relative or absolute),
    /// `None` for the bundled ones.
    pub fn sarif(&self, folder: Option<&Path>) -> SarifLog {
        sarif::log(self, folder)
    }
}

/// Audits a set of templates (a parent and the children it nests, or any
/// other set).
pub fn audit(templates: &[Template]) -> AuditReport {
    audit_with(templates, &ParameterValues::new())
}

/// Audits a set of templates as deployed with `given` values for the
/// parameters of its top templates (those no other template nests), which
/// win over their defaults: what a deployment will create and run.
pub fn audit_with(templates: &[Template], given: &ParameterValues) -> AuditReport {
    let given = Given::new(given);
    let mut judge = Judge {
        set: TemplateSet(templates, &given),
        findings: Vec::new(),
        not_judged: Vec::new(),
    };
    for template in templates {
        judge.unread_parts(template);
        for resource in template.resources() {
            network::check(&mut judge, template, &resource);
            wiring::check(&mut judge, template, &resource);
        }
    }
    endpoint_access::check(&mut judge);
    judge.report()
}

/// The endpoints the set's task definitions need, as deployed with `given`
/// values for its top templates' parameters: each endpoint once, with the
/// first task (and container) that needs it.
pub fn endpoint_needs(templates: &[Template], given: &ParameterValues) -> Vec<EndpointNeed> {
    let given = Given::new(given);
    let set = TemplateSet(templates, &given);
    let mut needs: Vec<EndpointNeed> = Vec::new();
    for template in templates {
        for task in template
            .resources()
            .filter(|resource| resource.kind == "AWS::ECS::TaskDefinition")
        {
            for need in needs::task_needs(&set, template, &task) {
                if !needs.iter().any(|known| known.endpoint == need.endpoint) {
                    needs.push(need);
                }
            }
        }
    }
    needs
}

/// Audits the templates in a folder ([`read_template_dir`]); files there
/// that are not templates are listed as not judged.
pub fn audit_dir(dir: &Path) -> Result<AuditReport, Error> {
    let read = read_template_dir(dir)?;
    let mut report = audit(&read.templates);
    report
        .not_judged
        .extend(read.not_templates.into_iter().map(|file| NotJudged {
            template: file,
            resource: None,
            line: None,
            reason: "not a CloudFormation template (it has no Resources section)".into(),
        }));
    Ok(report)
}

/// The audit under way: what it found, and what it could not judge.
struct Judge<'a> {
    set: TemplateSet<'a>,
    findings: Vec<Finding>,
    not_judged: Vec<NotJudged>,
}

impl<'a> Judge<'a> {
    /// Records a finding; the caller may add what it affects.
    fn find(
        &mut self,
        rule: Rule,
        template: &Template,
        resource: &Resource<'_>,
        message: impl Into<String>,
    ) -> &mut Finding {
        let index = self.findings.len();
        self.findings.push(Finding {
            rule,
            severity: rule.severity(),
            template: template.name().to_owned(),
            resource: resource.name.to_owned(),
            line: resource.line,
            message: message.into(),
            affects: Vec::new(),
            endpoint: None,
        });
        &mut self.findings[index]
    }

    fn cannot_judge(
        &mut self,
        template: &Template,
        resource: Option<&Resource<'_>>,
        reason: String,
    ) {
        self.not_judged.push(NotJudged {
            template: template.name().to_owned(),
            resource: resource.map(|resource| resource.name.to_owned()),
            line: resource.and_then(|resource| resource.line),
            reason,
        });
    }

    /// `property` of `resource` once parameters are filled in; `None`, and
    /// recorded as not judged, when it is only known once deployed.
    fn value(
        &mut self,
        template: &'a Template,
        resource: &Resource<'_>,
        property: &str,
        node: &'a Node,
    ) -> Option<(&'a Template, &'a Node)> {
        match self.set.resolve(template, node) {
            Ok(found) => Some(found),
            Err(why) => {
                self.cannot_judge(template, Some(resource), format!("{property}: {why}"));
                None
            }
        }
    }

    /// What of `template` the audit does not read: templates it nests from
    /// elsewhere, macros that rewrite it, resources made by loops.
    fn unread_parts(&mut self, template: &'a Template) {
        let transforms = match template.body().get("Transform") {
            Some(Node::List(items)) => items.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        for transform in transforms {
            let name = transform
                .as_str()
                .or_else(|| transform.get("Name").and_then(Node::as_str))
                .unwrap_or_default();
            // SAM's resources and the language extensions' functions are read
            // as written; the loops these extensions allow are listed below.
            if !matches!(
                name,
                "AWS::Serverless-2016-10-31" | "AWS::LanguageExtensions"
            ) {
                self.cannot_judge(
                    template,
                    None,
                    format!(
                        "Transform {transform}: a macro rewrites the template when it is \
                         deployed, and the audit judged it as written"
                    ),
                );
            }
        }
        for resource in template.resources() {
            if resource.name.starts_with("Fn::ForEach::") {
                self.cannot_judge(
                    template,
                    Some(&resource),
                    "the resources this Fn::ForEach loop makes are not judged".into(),
                );
                continue;
            }
            match nested_template(template.name(), &resource) {
                Some(NestedTemplate::Remote(from)) => self.cannot_judge(
                    template,
                    Some(&resource),
                    format!("nests a template from {from}, which the audit does not fetch: audit it on its own"),
                ),
                Some(NestedTemplate::Local(name)) if self.set.named(&name).is_none() => self
                    .cannot_judge(
                        template,
                        Some(&resource),
                        format!("nests {name}, which does not exist"),
                    ),
                _ => {}
            }
            let included = resource.properties.walk().into_iter().find_map(|node| {
                node.entries()
                    .iter()
                    .find(|(key, _)| key == "Fn::Transform")
                    .map(|(_, transform)| transform)
            });
            if let Some(transform) = included {
                self.cannot_judge(
                    template,
                    Some(&resource),
                    format!(
                        "part of its properties comes from Fn::Transform {transform} (a macro or \
                         AWS::Include), which the audit does not read"
                    ),
                );
            }
        }
    }

    /// The findings and what was not judged in template order, then by
    /// line, with the warnings the resources' Metadata accepts set apart.
    fn report(self) -> AuditReport {
        let Judge {
            set,
            mut findings,
            mut not_judged,
        } = self;
        let template_index = |name: &str| set.0.iter().position(|t| t.name() == name);
        findings.sort_by_key(|finding| {
            (
                template_index(&finding.template),
                finding.line,
                finding.rule,
            )
        });
        not_judged.sort_by_key(|unjudged| (template_index(&unjudged.template), unjudged.line));
        let mut report = AuditReport {
            templates: set.0.iter().map(|t| t.name().to_owned()).collect(),
            findings: Vec::new(),
            accepted: Vec::new(),
            not_judged,
        };
        for mut finding in findings {
            let reason = set
                .named(&finding.template)
                .and_then(|template| template.resource(&finding.resource))
                .and_then(|resource| acceptance(&resource, finding.rule));
            match reason {
                Some(reason) if finding.severity == Severity::Warning => {
                    report.accepted.push(AcceptedFinding { finding, reason });
                }
                Some(_) => {
                    finding.message.push_str(
                        " (its Metadata accepts this, but only a warning can be accepted there)",
                    );
                    report.findings.push(finding);
                }
                None => report.findings.push(finding),
            }
        }
        report
    }
}

/// The reason `resource`'s Metadata gives for accepting `rule`'s finding.
fn acceptance(resource: &Resource<'_>, rule: Rule) -> Option<String> {
    resource
        .metadata
        .get("isokit")?
        .get("accept")?
        .as_list()?
        .iter()
        .find(|entry| entry.get("rule").and_then(Node::as_str) == Some(rule.as_str()))?
        .get("reason")?
        .as_text()
        .filter(|reason| !reason.trim().is_empty())
}

/// How a reference reads in a message: the logical ID it names, or the
/// value as written.
fn name_of(node: &Node) -> String {
    match node.intrinsic() {
        Some(("Ref", Node::String(name))) => name.clone(),
        Some(("Fn::GetAtt", Node::List(path))) => {
            let parts: Vec<&str> = path.iter().filter_map(Node::as_str).collect();
            parts.join(".")
        }
        _ => node.as_text().unwrap_or_else(|| node.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> AuditReport {
        audit(&[Template::parse("t.yml", text).expect("valid template")])
    }

    const ENDPOINTS: &str = "Resources:\n  Vpc: {Type: AWS::EC2::VPC}\n  \
        Messages:\n    Type: AWS::EC2::VPCEndpoint\n    Metadata:\n      isokit:\n        accept:\n          \
        - {rule: endpoint-policy-missing, reason: the service takes no endpoint policy}\n          \
        - {rule: endpoint-policy-open, reason: not an error to accept}\n    \
        Properties: {ServiceName: !Sub 'com.amazonaws.${AWS::Region}.ssmmessages', VpcEndpointType: Gateway}\n  \
        Bucket:\n    Type: AWS::EC2::VPCEndpoint\n    Metadata:\n      isokit:\n        accept:\n          \
        - {rule: endpoint-policy-open, reason: an error cannot be accepted}\n    \
        Properties: {ServiceName: com.amazonaws.eu-west-1.s3}\n  \
        Unexplained:\n    Type: AWS::EC2::VPCEndpoint\n    Metadata: {isokit: {accept: [{rule: endpoint-policy-missing}]}}\n    \
        Properties: {ServiceName: com.amazonaws.eu-west-1.logs}\n";

    #[test]
    fn a_resources_metadata_accepts_its_warnings_with_a_reason_and_no_error() {
        let report = report(ENDPOINTS);
        let accepted: Vec<(&str, &str)> = report
            .accepted
            .iter()
            .map(|a| (a.finding.resource.as_str(), a.reason.as_str()))
            .collect();
        assert_eq!(
            accepted,
            [("Messages", "the service takes no endpoint policy")]
        );
        let found: Vec<(Rule, &str)> = report
            .findings
            .iter()
            .map(|f| (f.rule, f.resource.as_str()))
            .collect();
        // An acceptance without a reason accepts nothing.
        assert_eq!(
            found,
            [
                (Rule::EndpointPolicyOpen, "Bucket"),
                (Rule::EndpointPolicyMissing, "Unexplained"),
            ]
        );
        assert!(
            report.findings[0]
                .message
                .ends_with("(its Metadata accepts this, but only a warning can be accepted there)"),
            "{:?}",
            report.findings[0]
        );
        assert!(!report.passes(false));
    }

    #[test]
    fn warnings_fail_only_a_strict_audit() {
        let report = report(
            "Resources:\n  Logs: {Type: AWS::EC2::VPCEndpoint, Properties: \
             {ServiceName: com.amazonaws.eu-west-1.logs}}\n",
        );
        assert_eq!(report.warnings().count(), 1);
        assert_eq!(report.errors().count(), 0);
        assert!(report.passes(false));
        assert!(!report.passes(true));
    }

    #[test]
    fn what_the_audit_does_not_read_is_listed() {
        let report = report(
            "Transform: [AWS::Serverless-2016-10-31, MyCompanyMacro]\nResources:\n  \
             Fn::ForEach::Subnets: [Name, [A, B], {'Subnet${Name}': {Type: AWS::EC2::Subnet}}]\n  \
             Included:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      \
             Fn::Transform: {Name: AWS::Include, Parameters: {Location: s3://b/sg.yml}}\n  \
             Missing: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: gone.yml}}\n",
        );
        let listed: Vec<String> = report.not_judged.iter().map(ToString::to_string).collect();
        assert_eq!(
            listed,
            [
                "t.yml: Transform \"MyCompanyMacro\": a macro rewrites the template when it is \
                 deployed, and the audit judged it as written",
                "t.yml:3: Fn::ForEach::Subnets: the resources this Fn::ForEach loop makes are not \
                 judged",
                "t.yml:4: Included: part of its properties comes from Fn::Transform {Name: \
                 \"AWS::Include\", Parameters: {Location: \"s3://b/sg.yml\"}} (a macro or \
                 AWS::Include), which the audit does not read",
                "t.yml:8: Missing: nests gone.yml, which does not exist",
            ]
        );
    }
}
