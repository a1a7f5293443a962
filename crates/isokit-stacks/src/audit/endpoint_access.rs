//! What the VPC's endpoints let through: their security groups must admit
//! HTTPS and nothing else, and their policies must keep the VPC to its own
//! account's resources, S3's above all, the way data leaves an isolated VPC.

use super::{Judge, Location, Rule, name_of};
use crate::endpoints::service_suffix;
use crate::template::{Node, Resource, Template, parse_json};

/// The condition keys that keep requests to the account's (or
/// organization's) own resources.
const RESOURCE_ACCOUNT_KEYS: [&str; 3] = [
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
];
/// The condition keys that keep the endpoint to the account's (or
/// organization's) own principals.
const PRINCIPAL_ACCOUNT_KEYS: [&str; 3] = [
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
];

/// A security group in the set: its template and logical ID.
type Group<'a> = (&'a Template, &'a str);

/// Every endpoint of the set: its policy, and the security groups of the
/// interface ones, each group judged once for all the endpoints it guards.
pub(super) fn check<'a>(judge: &mut Judge<'a>) {
    let mut guarded: Vec<(Group<'a>, Vec<Location>)> = Vec::new();
    for template in judge.set.0 {
        for endpoint in template
            .resources()
            .filter(|resource| resource.kind == "AWS::EC2::VPCEndpoint")
        {
            let kind = endpoint_kind(judge, template, &endpoint);
            check_policy(judge, template, &endpoint, kind.as_deref());
            if kind.as_deref() != Some("interface") {
                continue;
            }
            for group in endpoint_groups(judge, template, &endpoint) {
                let at = Location::of(template, &endpoint);
                match guarded
                    .iter_mut()
                    .find(|(known, _)| same_group(*known, group))
                {
                    Some((_, endpoints)) => endpoints.push(at),
                    None => guarded.push((group, vec![at])),
                }
            }
        }
    }
    for (group, endpoints) in guarded {
        check_group(judge, group, &endpoints);
    }
}

fn same_group(one: Group<'_>, other: Group<'_>) -> bool {
    one.0.name() == other.0.name() && one.1 == other.1
}

/// `interface`, `gateway` or `gatewayloadbalancer`; `None` when it cannot be
/// read before deployment.
fn endpoint_kind<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    endpoint: &Resource<'a>,
) -> Option<String> {
    let Some(node) = endpoint.property("VpcEndpointType") else {
        // CloudFormation's default.
        return Some("gateway".into());
    };
    let (_, kind) = judge.value(template, endpoint, "VpcEndpointType", node)?;
    Some(kind.as_text()?.to_ascii_lowercase())
}

/// The security groups an interface endpoint's network interfaces get.
fn endpoint_groups<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    endpoint: &Resource<'a>,
) -> Vec<Group<'a>> {
    let no_group = |judge: &mut Judge<'a>| {
        judge.find(
            Rule::EndpointPorts,
            template,
            endpoint,
            "has no SecurityGroupIds, so it gets the VPC's default security group, which admits \
             all traffic from itself",
        );
    };
    let Some(node) = endpoint.property("SecurityGroupIds") else {
        no_group(judge);
        return Vec::new();
    };
    let Some((written_in, list)) = judge.value(template, endpoint, "SecurityGroupIds", node) else {
        return Vec::new();
    };
    let Some(items) = list.as_list() else {
        judge.cannot_judge(
            template,
            Some(endpoint),
            format!("SecurityGroupIds is {list}, not a list of groups the audit can follow"),
        );
        return Vec::new();
    };
    if items.is_empty() {
        no_group(judge);
    }
    let mut groups = Vec::new();
    for item in items {
        match judge.set.security_group(written_in, item) {
            Ok(group) => groups.push(group),
            Err(why) => judge.cannot_judge(
                template,
                Some(endpoint),
                format!("its security group {item}: {why}, so the group's rules are not judged"),
            ),
        }
    }
    groups
}

/// Each rule of `group` that admits more than TCP 443, inline or a
/// separate ingress resource anywhere in the set: one finding, listing the
/// endpoints it opens.
fn check_group<'a>(judge: &mut Judge<'a>, (template, group): Group<'a>, endpoints: &[Location]) {
    let Some(resource) = template.resource(group) else {
        return;
    };
    let inline = resource
        .property("SecurityGroupIngress")
        .and_then(Node::as_list)
        .unwrap_or_default();
    for rule in inline {
        if let Some(admitted) = beyond_https(judge, template, rule) {
            judge
                .find(
                    Rule::EndpointPorts,
                    template,
                    &resource,
                    format!(
                        "admits {admitted} to the endpoints it guards; endpoints need TCP 443 only"
                    ),
                )
                .affects = endpoints.to_vec();
        }
    }
    for other in judge.set.0 {
        for ingress in other
            .resources()
            .filter(|r| r.kind == "AWS::EC2::SecurityGroupIngress")
        {
            let opens_group = ingress
                .property("GroupId")
                .and_then(|reference| judge.set.security_group(other, reference).ok())
                .is_some_and(|target| same_group(target, (template, group)));
            if !opens_group {
                continue;
            }
            if let Some(admitted) = beyond_https(judge, other, ingress.properties) {
                judge
                    .find(
                        Rule::EndpointPorts,
                        other,
                        &ingress,
                        format!(
                            "opens security group {group} of {} to {admitted}; endpoints need \
                             TCP 443 only",
                            template.name()
                        ),
                    )
                    .affects = endpoints.to_vec();
            }
        }
    }
}

/// What an ingress rule admits beyond TCP 443, in words, if anything.
fn beyond_https(judge: &Judge<'_>, template: &Template, rule: &Node) -> Option<String> {
    let text = |key| {
        let node = rule.get(key)?;
        Some(match judge.set.resolve(template, node) {
            Ok((_, value)) => name_of(value),
            Err(_) => name_of(node),
        })
    };
    let protocol = text("IpProtocol").map(|protocol| protocol.to_ascii_lowercase());
    let (from, to) = (text("FromPort"), text("ToPort"));
    let tcp = matches!(protocol.as_deref(), Some("tcp" | "6"));
    if tcp && from.as_deref() == Some("443") && to.as_deref() == Some("443") {
        return None;
    }
    let ports = match (from.as_deref(), to.as_deref()) {
        (Some("0"), Some("65535")) | (Some("-1"), _) => "all ports".to_owned(),
        (Some(from), Some(to)) if from == to => format!("port {from}"),
        (Some(from), Some(to)) => format!("ports {from}-{to}"),
        _ => "any port".to_owned(),
    };
    let what = match protocol.as_deref() {
        Some("-1") => "all protocols and ports".to_owned(),
        _ if tcp => format!("TCP {ports}"),
        Some("udp" | "17") => format!("UDP {ports}"),
        Some("icmp" | "1") => "ICMP".to_owned(),
        Some("icmpv6" | "58") => "ICMPv6".to_owned(),
        Some(other) => format!("IP protocol {other}"),
        None => "an unreadable protocol".to_owned(),
    };
    let source = [
        "CidrIp",
        "CidrIpv6",
        "SourceSecurityGroupId",
        "SourcePrefixListId",
    ]
    .into_iter()
    .find_map(text)
    .map(|source| format!(" from {source}"))
    .unwrap_or_default();
    Some(format!("{what}{source}"))
}

/// An endpoint's policy must not let the VPC reach other accounts'
/// resources: S3's endpoint needs one (without, every bucket of every
/// account is reachable: an error); any other endpoint without one is a
/// gap in the data perimeter (a warning).
fn check_policy<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    endpoint: &Resource<'a>,
    kind: Option<&str>,
) {
    // A Gateway Load Balancer endpoint leads to an appliance, not a service.
    if kind == Some("gatewayloadbalancer") {
        return;
    }
    let service_name = endpoint
        .property("ServiceName")
        .and_then(|node| judge.value(template, endpoint, "ServiceName", node))
        .map(|(_, name)| name);
    // Endpoint services other than AWS's accept only the full-access policy.
    let text = service_name.and_then(|name| match name.intrinsic() {
        Some(("Fn::Sub", Node::String(text))) => Some(text.clone()),
        _ => name.as_text(),
    });
    if text.is_some_and(|text| text.starts_with("com.amazonaws.vpce.")) {
        return;
    }
    let service = service_name.and_then(service_suffix);
    let s3 = service == Some("s3");
    let Some(node) = endpoint.property("PolicyDocument") else {
        let (rule, message) = if s3 {
            (
                Rule::EndpointPolicyOpen,
                "has no PolicyDocument, so the default policy lets anything in the VPC read and \
                 write every bucket of every account: S3 is how data leaves an isolated VPC; \
                 allow the account's own buckets (aws:ResourceAccount) and those the tasks need \
                 (ECR's image layers are in prod-<region>-starport-layer-bucket)"
                    .to_owned(),
            )
        } else {
            (
                Rule::EndpointPolicyMissing,
                format!(
                    "has no PolicyDocument, so the default policy lets any principal in the VPC \
                     use {} with any account's resources; scope it to the account \
                     (aws:PrincipalAccount or aws:ResourceAccount)",
                    service.unwrap_or("its service")
                ),
            )
        };
        judge.find(rule, template, endpoint, message);
        return;
    };
    let Some((_, written)) = judge.value(template, endpoint, "PolicyDocument", node) else {
        return;
    };
    let parsed;
    let policy = match written {
        Node::String(text) => match parse_json(text) {
            Ok(policy) => {
                parsed = policy;
                &parsed
            }
            Err(error) => {
                judge.cannot_judge(
                    template,
                    Some(endpoint),
                    format!("PolicyDocument is text that is not a JSON policy ({error})"),
                );
                return;
            }
        },
        written => written,
    };
    let statements: Vec<&Node> = match policy.get("Statement") {
        Some(Node::List(statements)) => statements.iter().collect(),
        Some(statement) => vec![statement],
        None => Vec::new(),
    };
    if statements
        .iter()
        .any(|statement| denies_other_accounts(statement, s3))
    {
        return;
    }
    let open: Vec<String> = statements
        .iter()
        .enumerate()
        .filter(|(_, statement)| allows_other_accounts(statement, s3))
        .map(|(index, statement)| {
            statement
                .get("Sid")
                .and_then(Node::as_text)
                .unwrap_or_else(|| format!("#{}", index + 1))
        })
        .collect();
    if open.is_empty() {
        return;
    }
    let keys = if s3 {
        "aws:ResourceAccount, aws:ResourceOrgID or aws:ResourceOrgPaths"
    } else {
        "aws:PrincipalAccount, aws:ResourceAccount or their organization forms"
    };
    judge.find(
        Rule::EndpointPolicyOpen,
        template,
        endpoint,
        format!(
            "its policy lets any principal reach any resource with no account condition \
             (statement {}): the VPC can reach other accounts' resources through it; add a \
             condition on {keys}",
            open.join(", ")
        ),
    );
}

/// An Allow for any principal on any resource that no account condition
/// bounds. For S3 only a condition on the resource's account counts: a
/// principal of the account can still write to another account's bucket.
fn allows_other_accounts(statement: &Node, s3: bool) -> bool {
    statement.get("Effect").and_then(Node::as_str) == Some("Allow")
        && any_principal(statement)
        && any_resource(statement)
        && !statement.get("Condition").is_some_and(|condition| {
            condition.entries().iter().any(|(operator, keys)| {
                let operator = operator.to_ascii_lowercase();
                keys.entries().iter().any(|(key, value)| {
                    let key = key.to_ascii_lowercase();
                    let matching = !operator.contains("not")
                        && (operator.contains("stringequals") || operator.contains("stringlike"));
                    let service = operator.starts_with("bool")
                        && key == "aws:principalisawsservice"
                        && value.as_text().as_deref() == Some("true");
                    let account = RESOURCE_ACCOUNT_KEYS.contains(&key.as_str())
                        || (!s3 && PRINCIPAL_ACCOUNT_KEYS.contains(&key.as_str()));
                    service || (matching && account && value.as_str() != Some("*"))
                })
            })
        })
}

/// A Deny for any principal on any resource outside the account (the data
/// perimeter's usual guard), which bounds whatever the Allows say.
fn denies_other_accounts(statement: &Node, s3: bool) -> bool {
    statement.get("Effect").and_then(Node::as_str) == Some("Deny")
        && any_principal(statement)
        && any_resource(statement)
        && statement.get("Condition").is_some_and(|condition| {
            condition.entries().iter().any(|(operator, keys)| {
                let operator = operator.to_ascii_lowercase();
                operator.contains("not")
                    && keys.entries().iter().any(|(key, _)| {
                        let key = key.to_ascii_lowercase();
                        RESOURCE_ACCOUNT_KEYS.contains(&key.as_str())
                            || (!s3 && PRINCIPAL_ACCOUNT_KEYS.contains(&key.as_str()))
                    })
            })
        })
}

fn any_principal(statement: &Node) -> bool {
    if statement.get("NotPrincipal").is_some() {
        return true;
    }
    let star = |node: &Node| match node {
        Node::List(items) => items.iter().any(|item| item.as_str() == Some("*")),
        other => other.as_str() == Some("*"),
    };
    match statement.get("Principal") {
        Some(principal @ Node::Map(_)) => principal.get("AWS").is_some_and(star),
        Some(principal) => star(principal),
        None => false,
    }
}

/// `*`, or an ARN pattern for any account's anything (`arn:aws:s3:::*`).
fn any_resource(statement: &Node) -> bool {
    if statement.get("NotResource").is_some() {
        return true;
    }
    let any = |node: &Node| {
        let text = match node.intrinsic() {
            Some(("Fn::Sub", Node::String(text))) => text.clone(),
            _ => node.as_text().unwrap_or_default(),
        };
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        text == "*"
            || matches!(parts.as_slice(), ["arn", _, _, _, account, resource]
                if matches!(*account, "" | "*") && resource.starts_with('*'))
    };
    match statement.get("Resource") {
        Some(Node::List(resources)) => resources.iter().any(any),
        Some(resource) => any(resource),
        None => false,
    }
}
