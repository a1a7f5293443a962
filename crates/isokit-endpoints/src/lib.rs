//! The AWS endpoints an isolated VPC needs: how each is named, what kind of
//! VPC endpoint serves it, and the host name a task resolves to reach it.
//!
//! Which endpoints a deployment has is decided by the VPC stack (see
//! `isokit-stacks`); this crate only knows how to name and reach them, so the
//! service, the audit and the rehearsal all agree on host names.

use std::fmt;
use std::str::FromStr;

/// Every endpoint a Fargate task in an isolated VPC may need: to pull its
/// image, log, read secrets and parameters (and decrypt those a customer
/// managed key encrypts), and accept ECS Exec sessions. The VPC template can
/// create each; the service checks them all when not told which exist.
pub const FARGATE_ENDPOINTS: [&str; 8] = [
    "ecr.api",
    "ecr.dkr",
    "s3",
    "logs",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "kms",
];

/// What the bundled service's task needs to start (its image from ECR, its
/// awslogs log stream), and so what the VPC stack creates by default; the
/// others are created when the task needs them or when asked.
pub const DEFAULT_ENDPOINTS: [&str; 4] = ["ecr.api", "ecr.dkr", "s3", "logs"];

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

    /// The `ServiceName` of the VPC endpoint in `region`:
    /// `<prefix>.<region>.<service>`, the prefix being the partition's
    /// ([`Partition::service_name_prefix`]).
    pub fn vpc_service_name(&self, region: &str) -> String {
        let prefix = Partition::of_region(region).service_name_prefix(self);
        format!("{prefix}.{region}.{}", self.0)
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
    Partition::of_region(region).dns_suffix()
}

/// An AWS partition: a group of regions with its own ARNs (`arn:<name>:`),
/// host names and endpoint service names. This is the one place isokit
/// knows how they differ; the VPC template's `EndpointServicePrefix`
/// mapping is checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    /// The China regions (cn-north-1, cn-northwest-1).
    AwsCn,
    /// AWS GovCloud (US) (us-gov-west-1, us-gov-east-1).
    AwsUsGov,
}

impl Partition {
    pub const ALL: [Partition; 3] = [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov];

    /// The partition a region belongs to, from the prefix of its name.
    pub fn of_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }

    /// The name `AWS::Partition` gives, and ARNs carry.
    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// A region of the partition, for tests and examples.
    pub fn example_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::AwsCn => "cn-north-1",
            Partition::AwsUsGov => "us-gov-west-1",
        }
    }

    /// The DNS suffix of the partition's service host names
    /// (https://docs.amazonaws.cn/en_us/general/latest/gr/endpoints-arns.html
    /// for China; GovCloud keeps `amazonaws.com`).
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }

    /// What comes before `.<region>.<service>` in the endpoint service name.
    ///
    /// Everywhere but China it is `com.amazonaws`: AWS's list names every
    /// service `com.amazonaws.<region>.<service>`
    /// (https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html),
    /// and GovCloud differs in ARNs and host names but not in these names
    /// (https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud.html).
    /// In the China regions some services take `cn.com.amazonaws`, ECR's two
    /// among them, while CloudWatch Logs, KMS, ECS, Secrets Manager and
    /// Systems Manager keep `com.amazonaws`, and so does the S3 gateway
    /// endpoint (S3's interface endpoint is the `cn.` one): AWS's China
    /// PrivateLink list (https://docs.amazonaws.cn/en_us/vpc/latest/privatelink/aws-services-privatelink-support.html,
    /// https://docs.amazonaws.cn/vpc/latest/privatelink/aws-services-cross-region-privatelink-support.html)
    /// and `aws ec2 describe-vpc-endpoint-services` in cn-north-1. Only the
    /// services isokit creates endpoints for are listed; another one in
    /// China needs checking there before it is added.
    pub fn service_name_prefix(self, endpoint: &Endpoint) -> &'static str {
        match (self, endpoint.service()) {
            (Partition::AwsCn, "ecr.api" | "ecr.dkr") => "cn.com.amazonaws",
            _ => "com.amazonaws",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hours in a month, as AWS's pricing pages count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// What AWS charges for one interface endpoint in one Availability Zone for
/// an hour, in US dollars: the AWS PrivateLink pricing page
/// (https://aws.amazon.com/privatelink/pricing/, read 2026-12-02) bills each
/// endpoint for every hour it is provisioned in each zone, at $0.01 in US
/// East (N. Virginia). Gateway endpoints (S3, DynamoDB) cost nothing. This
/// is the standard price; regions that charge more are listed on that page
/// by region, and isokit has no verified figure for any of them yet, so it
/// uses this one everywhere and says so. Data processed is billed on top,
/// per GB.
pub const STANDARD_HOURLY_USD: f64 = 0.01;

/// The hourly and monthly cost of a deployment's interface endpoints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EndpointCost {
    pub interface_endpoints: usize,
    pub availability_zones: usize,
    /// Per endpoint per zone per hour.
    pub price_per_hour_usd: f64,
    pub hourly_usd: f64,
    pub monthly_usd: f64,
    /// Where the price comes from, and how far it holds for the region.
    pub basis: String,
}

impl EndpointCost {
    /// The cost of `endpoints` (gateway endpoints are free) each in
    /// `availability_zones` zones of `region`.
    pub fn of(endpoints: &[Endpoint], availability_zones: usize, region: &str) -> EndpointCost {
        let interface_endpoints = endpoints
            .iter()
            .filter(|endpoint| endpoint.kind() == EndpointKind::Interface)
            .count();
        let hourly_usd = STANDARD_HOURLY_USD * (interface_endpoints * availability_zones) as f64;
        let basis = match Partition::of_region(region) {
            Partition::Aws => format!(
                "AWS PrivateLink's standard price, ${STANDARD_HOURLY_USD} per endpoint per zone \
                 per hour (US East, N. Virginia); {region} may charge more: \
                 https://aws.amazon.com/privatelink/pricing/"
            ),
            partition => format!(
                "AWS PrivateLink's standard price, ${STANDARD_HOURLY_USD} per endpoint per zone \
                 per hour (US East, N. Virginia); the {partition} partition prices its endpoints \
                 apart, so this is only an estimate"
            ),
        };
        EndpointCost {
            interface_endpoints,
            availability_zones,
            price_per_hour_usd: STANDARD_HOURLY_USD,
            hourly_usd,
            monthly_usd: hourly_usd * HOURS_PER_MONTH,
            basis,
        }
    }
}

impl fmt::Display for EndpointCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} interface endpoints in {} Availability Zones: ${:.2} an hour, ${:.2} a month \
             ({}; gateway endpoints are free, data processed is extra)",
            self.interface_endpoints,
            self.availability_zones,
            self.hourly_usd,
            self.monthly_usd,
            self.basis
        )
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
    fn each_partition_names_endpoint_services_its_own_way() {
        let cases = [
            (
                "ecr.dkr",
                "cn-north-1",
                "cn.com.amazonaws.cn-north-1.ecr.dkr",
            ),
            (
                "ecr.api",
                "cn-northwest-1",
                "cn.com.amazonaws.cn-northwest-1.ecr.api",
            ),
            ("s3", "cn-north-1", "com.amazonaws.cn-north-1.s3"),
            ("logs", "cn-north-1", "com.amazonaws.cn-north-1.logs"),
            (
                "ecr.dkr",
                "us-gov-west-1",
                "com.amazonaws.us-gov-west-1.ecr.dkr",
            ),
            (
                "ssmmessages",
                "eu-west-1",
                "com.amazonaws.eu-west-1.ssmmessages",
            ),
        ];
        for (name, region, service_name) in cases {
            assert_eq!(endpoint(name).vpc_service_name(region), service_name);
        }
        assert_eq!(Partition::of_region("us-gov-east-1"), Partition::AwsUsGov);
        assert_eq!(Partition::of_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::of_region("cn-northwest-1").name(), "aws-cn");
        for partition in Partition::ALL {
            assert_eq!(Partition::of_region(partition.example_region()), partition);
        }
    }

    #[test]
    fn interface_endpoints_cost_per_zone_and_gateways_nothing() {
        let endpoints = parse_list("ecr.api,ecr.dkr,s3,logs").expect("valid list");
        let cost = EndpointCost::of(&endpoints, 2, "eu-west-1");
        assert_eq!(cost.interface_endpoints, 3);
        // 3 endpoints in 2 zones at $0.01: $0.06 an hour, 730 hours a month.
        assert!((cost.hourly_usd - 0.06).abs() < 1e-9, "{cost:?}");
        assert!((cost.monthly_usd - 43.8).abs() < 1e-9, "{cost:?}");
        let text = cost.to_string();
        assert!(
            text.starts_with(
                "3 interface endpoints in 2 Availability Zones: $0.06 an hour, $43.80 a month"
            ),
            "{text}"
        );
        assert!(text.contains("eu-west-1 may charge more"), "{text}");
        let china = EndpointCost::of(&endpoints, 2, "cn-north-1").to_string();
        assert!(
            china.contains("the aws-cn partition prices its endpoints apart"),
            "{china}"
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
