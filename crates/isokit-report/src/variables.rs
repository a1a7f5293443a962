//! The environment variables isokit-service reads: isokit sets them (the
//! task definition in `stacks/private-service.yml`, `isokit rehearse`)
//! and the service parses them, so both name them from here.

pub const REGION: &str = "ISOKIT_REGION";
pub const ACCOUNT: &str = "ISOKIT_ACCOUNT";
/// Comma-separated endpoint service names (`ecr.api,ecr.dkr,s3`).
pub const ENDPOINTS: &str = "ISOKIT_ENDPOINTS";
/// Comma-separated `host:port` targets that must not be reachable.
pub const EGRESS_PROBES: &str = "ISOKIT_EGRESS_PROBES";
pub const INTERVAL: &str = "ISOKIT_INTERVAL";
pub const TIMEOUT: &str = "ISOKIT_TIMEOUT";
pub const PORT: &str = "ISOKIT_PORT";
/// A PEM file of extra trusted CAs.
pub const CA_FILE: &str = "ISOKIT_CA_FILE";
/// Extra trusted CAs as PEM text.
pub const CA_PEM: &str = "ISOKIT_CA_PEM";
pub const DNS_SERVERS: &str = "ISOKIT_DNS_SERVERS";
pub const VPC_CIDR: &str = "ISOKIT_VPC_CIDR";
/// The stand-in endpoint's listen address, certificate chain and key.
pub const STANDIN_LISTEN: &str = "ISOKIT_STANDIN_LISTEN";
pub const STANDIN_CERT_PEM: &str = "ISOKIT_STANDIN_CERT_PEM";
pub const STANDIN_KEY_PEM: &str = "ISOKIT_STANDIN_KEY_PEM";
