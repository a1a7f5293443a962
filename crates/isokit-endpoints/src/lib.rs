//! The AWS endpoints an isolated VPC needs: how each is named, what kind of
//! VPC endpoint serves it, and the host name a task resolves to reach it.
//!
//! Which endpoints a deployment has is decided by the VPC stack (see
//! `isokit-stacks`); this crate only knows how to name and reach them, so the
//! service, the audit and the rehearsal all agree on host names.

use std::fmt;
use std::str::FromStr;

/// The endpoints a Fargate task in an isolated VPC needs to start, log, read
/// secrets and parameters, and accept ECS Exec sessions.
pub const FARGATE_ENDPOINTS: [&str; 7] = [
    "ecr.api",
    "ecr.dkr",
    "s3",
    "logs",
    "secretsmanager",
    "ssm",
    "ssmmessages",
];

/// The endpoints the ECS agent on EC2 container instances needs in addition.
pub const EC2_ENDPOINTS: [&str; 3] = ["ecs", "ecs-agent", "ecs-telemetry"];

/// How a VPC reaches a service privately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// Elastic network interfaces in the subnets; private DNS answers with
    /// their private addresses.
    Interface,
    /// A route-table entry to the service's prefix list; DNS keeps answering
    /// the service's public addresses, which the route keeps inside AWS.
    Gateway,
}

impl EndpointKind {
    /// The lower-case name CloudFormation uses for `VpcEndpointType`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Interface => "interface",
            EndpointKind::Gateway => "gateway",
        }
    }
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service reachable through a VPC endpoint, named by the suffix of its
/// endpoint service name: `ecr.dkr` for `com.amazonaws.<region>.ecr.dkr`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint(String);

/// A string that cannot name an endpoint service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEndpoint(String);

impl fmt::Display for InvalidEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an endpoint service name: expected lower-case letters, digits, \
             '.' and '-', such as `ecr.dkr` or `secretsmanager`",
            self.0
        )
    }
}

impl std::error::Error for InvalidEndpoint {}

impl FromStr for Endpoint {
    type Err = InvalidEndpoint;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let name = raw.trim();
        let valid_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
        let well_formed = !name.is_empty()
            && name.chars().all(valid_char)
            && name
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if well_formed {
            Ok(Endpoint(name.to_owned()))
        } else {
            Err(InvalidEndpoint(raw.to_owned()))
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// As its service name, the way reports and JSON output name it.
impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Endpoint {
    /// The service suffix, as written in an endpoint service name.
    pub fn service(&self) -> &str {
        &self.0
    }

    /// Gateway for the two services that offer gateway endpoints (S3 and
    /// DynamoDB), interface for everything else.
    pub fn kind(&self) -> EndpointKind {
        match self.0.as_str() {
            "s3" | "dynamodb" => EndpointKind::Gateway,
            _ => EndpointKind::Interface,
        }
    }

    /// `com.amazonaws.<region>.<service>`, the `ServiceName` of the VPC endpoint.
    pub fn vpc_service_name(&self, region: &str) -> String {
        format!("com.amazonaws.{region}.{}", self.0)
    }

    /// The host name a task in `region` and `account` connects to for this
    /// service, which the endpoint's private DNS (or, for a gateway, public
    /// DNS plus the route) must make reachable.
    pub fn hostname(&self, region: &str, account: &str) -> String {
        let domain = dns_suffix(region);
        match self.0.as_str() {
            // The registry host carries the account; the endpoint's private
            // DNS zone is `*.dkr.ecr.<region>.amazonaws.com`.
            "ecr.dkr" => format!("{account}.dkr.ecr.{region}.{domain}"),
            "ecr.api" => format!("api.ecr.{region}.{domain}"),
            // The agent and telemetry endpoints answer numbered host names
            // (`ecs-a-1`, `ecs-t-1`, ...); the first is as good a probe as any.
            "ecs-agent" => format!("ecs-a-1.{region}.{domain}"),
            "ecs-telemetry" => format!("ecs-t-1.{region}.{domain}"),
            service => format!("{service}.{region}.{domain}"),
        }
    }
}

/// The DNS suffix of AWS service host names in a region's partition.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Parses a comma- or whitespace-separated list of endpoint names, keeping
/// the first occurrence of each.
pub fn parse_list(raw: &str) -> Result<Vec<Endpoint>, InvalidEndpoint> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for item in raw.split(|c: char| c == ',' || c.is_whitespace()) {
        if item.is_empty() {
            continue;
        }
        let endpoint: Endpoint = item.parse()?;
        if !endpoints.contains(&endpoint) {
            endpoints.push(endpoint);
        }
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str) -> Endpoint {
        name.parse().expect("valid endpoint name")
    }

    #[test]
    fn host_names_follow_each_service_rule() {
        let cases = [
            ("ecr.dkr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            ("ecr.api", "api.ecr.eu-west-1.amazonaws.com"),
            ("s3", "s3.eu-west-1.amazonaws.com"),
            ("logs", "logs.eu-west-1.amazonaws.com"),
            ("ssmmessages", "ssmmessages.eu-west-1.amazonaws.com"),
            ("ecs-agent", "ecs-a-1.eu-west-1.amazonaws.com"),
            ("ecs-telemetry", "ecs-t-1.eu-west-1.amazonaws.com"),
            ("sts", "sts.eu-west-1.amazonaws.com"),
        ];
        for (name, host) in cases {
            assert_eq!(
                endpoint(name).hostname("eu-west-1", "123456789012"),
                host,
                "{name}"
            );
        }
    }

    #[test]
    fn china_regions_use_their_own_suffix() {
        assert_eq!(
            endpoint("logs").hostname("cn-north-1", "1"),
            "logs.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn only_s3_and_dynamodb_are_gateways() {
        assert_eq!(endpoint("s3").kind(), EndpointKind::Gateway);
        assert_eq!(endpoint("dynamodb").kind(), EndpointKind::Gateway);
        assert_eq!(endpoint("ecr.dkr").kind(), EndpointKind::Interface);
        assert_eq!(endpoint("kms").kind(), EndpointKind::Interface);
    }

    #[test]
    fn vpc_service_names_carry_the_region() {
        assert_eq!(
            endpoint("ecr.api").vpc_service_name("us-east-1"),
            "com.amazonaws.us-east-1.ecr.api"
        );
    }

    #[test]
    fn rejects_names_that_are_not_service_suffixes() {
        for bad in [
            "",
            "ECR.dkr",
            "ecr..dkr",
            "ecr.dkr.",
            "-ecr",
            "ecr/dkr",
            "ecr dkr x?",
        ] {
            assert!(
                bad.parse::<Endpoint>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn lists_split_on_commas_and_spaces_and_drop_repeats() {
        let list = parse_list("ecr.api, ecr.dkr,s3  logs,ecr.api").expect("valid list");
        let names: Vec<&str> = list.iter().map(Endpoint::service).collect();
        assert_eq!(names, ["ecr.api", "ecr.dkr", "s3", "logs"]);
        assert!(parse_list("ecr.api,Bad!").is_err());
    }
}
