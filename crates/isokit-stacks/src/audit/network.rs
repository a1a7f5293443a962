//! Every way out of the VPC the network itself offers: gateways and their
//! attachments, connections to other networks, routes to any of them,
//! public addresses, internet-facing load balancers.

use super::{Judge, Location, Rule, name_of};
use crate::template::{Node, Resource, Template};

/// One resource's ways out.
pub(super) fn check<'a>(judge: &mut Judge<'a>, template: &'a Template, resource: &Resource<'a>) {
    let created = |rule, what: &str| Some((rule, what.to_owned()));
    let way_out = match resource.kind {
        "AWS::EC2::InternetGateway" => created(
            Rule::InternetGateway,
            "creates an internet gateway; an isolated VPC has no way to the internet",
        ),
        "AWS::EC2::EgressOnlyInternetGateway" => created(
            Rule::InternetGateway,
            "creates an egress-only internet gateway: IPv6 traffic leaves the VPC through it",
        ),
        "AWS::EC2::CarrierGateway" => created(
            Rule::InternetGateway,
            "creates a carrier gateway: traffic leaves the VPC through a carrier's network",
        ),
        "AWS::EC2::VPCGatewayAttachment" => gateway_attachment(resource),
        "AWS::EC2::NatGateway" => created(
            Rule::NatGateway,
            "creates a NAT gateway; an isolated VPC has no way to the internet",
        ),
        "AWS::EC2::EIP" | "AWS::EC2::EIPAssociation" => created(
            Rule::ElasticIp,
            "creates an Elastic IP; an isolated VPC has no way to the internet",
        ),
        "AWS::EC2::TransitGatewayAttachment" | "AWS::EC2::TransitGatewayVpcAttachment" => created(
            Rule::TransitGateway,
            "attaches the VPC to a transit gateway, which routes to other networks",
        ),
        "AWS::EC2::VPCPeeringConnection" => created(
            Rule::VpcPeering,
            "peers the VPC with another VPC, whose own ways out its routes may reach",
        ),
        "AWS::EC2::VPNGatewayRoutePropagation" => created(
            Rule::VpnGateway,
            "propagates a virtual private gateway's routes to other networks into the VPC's \
             route tables",
        ),
        "AWS::EC2::ClientVpnTargetNetworkAssociation" => created(
            Rule::ClientVpn,
            "associates a Client VPN endpoint with a subnet: remote clients connect into the \
             VPC, and through it reach what the endpoint's routes allow",
        ),
        "AWS::EC2::Route" => {
            check_route(judge, template, resource);
            None
        }
        "AWS::EC2::Subnet" => {
            check_subnet(judge, template, resource);
            None
        }
        "AWS::ElasticLoadBalancingV2::LoadBalancer" | "AWS::ElasticLoadBalancing::LoadBalancer" => {
            check_load_balancer(judge, template, resource);
            None
        }
        _ => None,
    };
    if let Some((rule, message)) = way_out {
        judge.find(rule, template, resource, message);
    }
    check_public_addresses(judge, template, resource);
}

fn gateway_attachment(resource: &Resource<'_>) -> Option<(Rule, String)> {
    if resource.property("InternetGatewayId").is_some() {
        Some((
            Rule::InternetGateway,
            "attaches an internet gateway to the VPC; an isolated VPC has no way to the internet"
                .into(),
        ))
    } else if resource.property("VpnGatewayId").is_some() {
        Some((
            Rule::VpnGateway,
            "attaches a virtual private gateway to the VPC, the way to other networks over VPN \
             or Direct Connect"
                .into(),
        ))
    } else {
        None
    }
}

/// What a route's target property leads to, but for `GatewayId`, whose
/// value decides.
const ROUTE_TARGETS: [(&str, Rule, &str); 10] = [
    ("TransitGatewayId", Rule::TransitGateway, "transit gateway"),
    (
        "CoreNetworkArn",
        Rule::TransitGateway,
        "Cloud WAN core network",
    ),
    (
        "VpcPeeringConnectionId",
        Rule::VpcPeering,
        "VPC peering connection",
    ),
    (
        "NetworkInterfaceId",
        Rule::NetworkInterfaceRoute,
        "network interface",
    ),
    ("InstanceId", Rule::NetworkInterfaceRoute, "instance"),
    (
        "VpcEndpointId",
        Rule::NetworkInterfaceRoute,
        "Gateway Load Balancer endpoint",
    ),
    ("NatGatewayId", Rule::NatGateway, "NAT gateway"),
    (
        "EgressOnlyInternetGatewayId",
        Rule::InternetGateway,
        "egress-only internet gateway",
    ),
    ("CarrierGatewayId", Rule::InternetGateway, "carrier gateway"),
    (
        "LocalGatewayId",
        Rule::VpnGateway,
        "Outposts local gateway (an on-premises network)",
    ),
];

/// Every route leads out of the VPC but one that targets `local`: a route
/// to 0.0.0.0/0 or `::/0` is a default route whatever its target, any
/// other is judged by where it leads.
fn check_route<'a>(judge: &mut Judge<'a>, template: &'a Template, route: &Resource<'a>) {
    let Some((target_rule, target)) = route_target(judge, template, route) else {
        return;
    };
    let (destination, everything) = route_destination(judge, template, route);
    let rule = if everything {
        Rule::DefaultRoute
    } else {
        target_rule
    };
    let affects = subnets_routed_by(template, route);
    judge
        .find(
            rule,
            template,
            route,
            format!("routes {destination} to {target}"),
        )
        .affects = affects;
}

/// The route's destination in words, and whether it is every address.
fn route_destination<'a>(
    judge: &Judge<'a>,
    template: &'a Template,
    route: &Resource<'a>,
) -> (String, bool) {
    for (property, everything, words) in [
        ("DestinationCidrBlock", "0.0.0.0/0", "every IPv4 address"),
        ("DestinationIpv6CidrBlock", "::/0", "every IPv6 address"),
    ] {
        let Some(node) = route.property(property) else {
            continue;
        };
        // Where it cannot be known, the route still leads out: its target says
        // which way.
        return match judge
            .set
            .resolve(template, node)
            .map(|(_, value)| value.as_text())
        {
            Ok(Some(range)) if range == everything => (format!("{range} ({words})"), true),
            Ok(Some(range)) => (range, false),
            _ => (format!("{node} (a range known only once deployed)"), false),
        };
    }
    match route.property("DestinationPrefixListId") {
        Some(list) => (format!("prefix list {}", name_of(list)), false),
        None => ("no readable destination".into(), false),
    }
}

/// The rule a route's target falls under and the target in words; `None`
/// for a route to `local`, or one without a target.
fn route_target<'a>(
    judge: &Judge<'a>,
    template: &'a Template,
    route: &Resource<'a>,
) -> Option<(Rule, String)> {
    for (property, rule, what) in ROUTE_TARGETS {
        if let Some(node) = route.property(property) {
            return Some((rule, format!("{what} {}", name_of(node))));
        }
    }
    let reference = route.property("GatewayId")?;
    let internet = |name: &str| (Rule::InternetGateway, format!("internet gateway {name}"));
    let private = |name: &str| {
        (
            Rule::VpnGateway,
            format!("virtual private gateway {name} (other networks over VPN or Direct Connect)"),
        )
    };
    let (found_in, value) = match judge.set.resolve(template, reference) {
        Ok(found) => found,
        Err(why) => {
            return Some((
                Rule::InternetGateway,
                format!(
                    "gateway {}, an internet or a virtual private gateway, both ways out ({why})",
                    name_of(reference)
                ),
            ));
        }
    };
    let kind = value
        .as_ref_target()
        .and_then(|name| found_in.resource(name))
        .map(|resource| resource.kind);
    let literal = value.as_str().unwrap_or_default();
    Some(match kind {
        _ if literal == "local" => return None,
        Some("AWS::EC2::InternetGateway") => internet(&name_of(value)),
        Some("AWS::EC2::VPNGateway") => private(&name_of(value)),
        _ if literal.starts_with("igw-") => internet(literal),
        _ if literal.starts_with("vgw-") => private(literal),
        _ => (
            Rule::InternetGateway,
            format!(
                "gateway {}, an internet or a virtual private gateway, both ways out",
                name_of(value)
            ),
        ),
    })
}

/// The subnets whose route table holds `route`.
fn subnets_routed_by(template: &Template, route: &Resource<'_>) -> Vec<Location> {
    let Some(table) = route.property("RouteTableId").and_then(Node::as_ref_target) else {
        return Vec::new();
    };
    template
        .resources()
        .filter(|association| {
            association.kind == "AWS::EC2::SubnetRouteTableAssociation"
                && association
                    .property("RouteTableId")
                    .and_then(Node::as_ref_target)
                    == Some(table)
        })
        .filter_map(|association| association.property("SubnetId")?.as_ref_target())
        .filter_map(|subnet| template.resource(subnet))
        .map(|subnet| Location::of(template, &subnet))
        .collect()
}

fn check_subnet<'a>(judge: &mut Judge<'a>, template: &'a Template, subnet: &Resource<'a>) {
    for (property, consequence) in [
        (
            "MapPublicIpOnLaunch",
            "what launches in it gets a public IPv4 address; it must be false",
        ),
        (
            "AssignIpv6AddressOnCreation",
            "every network interface in it gets an IPv6 address, which is public: one IPv6 \
             route out and it reaches the internet; it must be false",
        ),
    ] {
        if let Some(node) = subnet.property(property)
            && let Some((_, value)) = judge.value(template, subnet, property, node)
            && !is_false(value)
        {
            judge.find(
                Rule::PublicSubnet,
                template,
                subnet,
                format!("sets {property} to {value}: {consequence}"),
            );
        }
    }
}

fn check_load_balancer<'a>(judge: &mut Judge<'a>, template: &'a Template, balancer: &Resource<'a>) {
    // A Gateway Load Balancer has no scheme: it is reached through its
    // endpoints, which the route rules judge.
    if let Some(node) = balancer.property("Type")
        && let Some((_, kind)) = judge.value(template, balancer, "Type", node)
        && kind.as_str() == Some("gateway")
    {
        return;
    }
    let message = match balancer.property("Scheme") {
        None => "has no Scheme, and a load balancer is internet-facing unless it says internal: \
                 its nodes get public addresses and take connections from the internet"
            .to_owned(),
        Some(node) => match judge.value(template, balancer, "Scheme", node) {
            None => return,
            Some((_, scheme)) if scheme.as_str() == Some("internal") => return,
            Some((_, scheme)) => format!(
                "sets Scheme to {scheme}: its nodes get public addresses and take connections \
                 from the internet; it must be internal"
            ),
        },
    };
    judge.find(
        Rule::InternetFacingLoadBalancer,
        template,
        balancer,
        message,
    );
}

/// Wherever they sit (ECS services, task sets, scheduled tasks, launch
/// templates), these settings hand out public addresses.
fn check_public_addresses<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    resource: &Resource<'a>,
) {
    for node in resource.properties.walk() {
        for (key, value) in node.entries() {
            if !matches!(key.as_str(), "AssignPublicIp" | "AssociatePublicIpAddress") {
                continue;
            }
            let Some((_, value)) = judge.value(template, resource, key, value) else {
                continue;
            };
            let public = match key.as_str() {
                "AssignPublicIp" => value.as_str() != Some("DISABLED"),
                _ => !is_false(value),
            };
            if public {
                judge.find(
                    Rule::PublicIp,
                    template,
                    resource,
                    format!("sets {key} to {value}; tasks must get private addresses only"),
                );
            }
        }
    }
}

fn is_false(value: &Node) -> bool {
    matches!(value, Node::Bool(false)) || value.as_str() == Some("false")
}
