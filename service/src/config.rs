//! The service's settings, read from the environment the task definition sets.

use isokit_report::variables;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use isokit_endpoints::{Endpoint, FARGATE_ENDPOINTS};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::address::parse_cidr;
use crate::error::{Error, Result};

/// Probed when `ISOKIT_EGRESS_PROBES` is unset: an AWS public service that no
/// VPC endpoint serves, and two well-known anycast resolvers by address, so
/// that both a DNS-resolved path and a raw route out are tried.
pub const DEFAULT_EGRESS_PROBES: &str = "checkip.amazonaws.com:443,1.1.1.1:443,8.8.8.8:53";

/// A duration setting, with the longest value that still makes sense. The
/// bounds also keep every sum of an instant and a setting (deadlines,
/// timers, the resolver's timeout) far from overflowing, so a typo such as
/// 18446744073709551615s is refused at start-up instead of panicking later.
#[derive(Debug, Clone, Copy)]
pub struct DurationSetting {
    pub variable: &'static str,
    pub max: Duration,
    /// The message's "expected ...", naming the bound.
    expected: &'static str,
}

/// Each check and probe, and the healthcheck's metadata call. Five minutes
/// is well past what Linux waits for an unanswered connection (about two
/// minutes), so a longer timeout would wait on nothing.
pub const TIMEOUT: DurationSetting = DurationSetting {
    variable: variables::TIMEOUT,
    max: Duration::from_secs(5 * 60),
    expected: "a duration such as 500ms, 3s or 1m 30s, at most 5m",
};

/// Between rounds. A day: beyond that /health would vouch for a network
/// nobody looked at for longer than any deployment waits.
pub const INTERVAL: DurationSetting = DurationSetting {
    variable: variables::INTERVAL,
    max: Duration::from_secs(24 * 60 * 60),
    expected: "a duration such as 500ms, 30s or 1h 30m, at most 24h",
};

/// Everything `serve` and `check` need; built from the environment by
/// [`Config::from_env`], or directly by a caller.
#[derive(Debug, Clone)]
pub struct Config {
    pub region: String,
    pub account: String,
    pub endpoints: Vec<Endpoint>,
    pub egress_probes: Vec<ProbeTarget>,
    /// At most [`INTERVAL`]`.max`, as [`Config::from_lookup`] ensures.
    pub interval: Duration,
    /// Bounds each endpoint check and each egress probe as a whole. At most
    /// [`TIMEOUT`]`.max`: deadlines are computed from it.
    pub timeout: Duration,
    /// 0 takes any free port (the start line says which).
    pub port: u16,
    /// Trusted in addition to the built-in web PKI roots.
    pub extra_cas: Vec<CertificateDer<'static>>,
    /// Empty: use /etc/resolv.conf.
    pub dns_servers: Vec<SocketAddr>,
    pub vpc_cidr: Option<IpNet>,
    /// `ECS_CONTAINER_METADATA_URI_V4`, set by ECS.
    pub metadata_uri: Option<String>,
}

/// A `host:port` that must stay unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, which answers a variable's value.
    /// An empty value counts as unset, as CloudFormation passes empty
    /// parameters through.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let region = [variables::REGION, "AWS_REGION", "AWS_DEFAULT_REGION"]
            .into_iter()
            .find_map(|name| get(name).map(|value| (name, value)));
        let region = match region {
            Some((name, value)) => parse_region(name, &value)?,
            None => {
                return Err(Error::Config {
                    variable: variables::REGION,
                    problem: "not set (nor AWS_REGION, nor AWS_DEFAULT_REGION)".to_owned(),
                    expected: "a region such as eu-west-1",
                });
            }
        };
        let account = parse_account(get(variables::ACCOUNT))?;
        let endpoints = match get(variables::ENDPOINTS) {
            Some(raw) => parse_endpoints(&raw)?,
            None => FARGATE_ENDPOINTS
                .iter()
                .map(|name| name.parse().expect("FARGATE_ENDPOINTS are valid names"))
                .collect(),
        };
        let egress_probes = parse_probe_targets(
            &get(variables::EGRESS_PROBES).unwrap_or_else(|| DEFAULT_EGRESS_PROBES.to_owned()),
        )?;
        let interval = match get(INTERVAL.variable) {
            Some(raw) => parse_duration(INTERVAL, &raw)?,
            None => Duration::from_secs(30),
        };
        let timeout = match get(TIMEOUT.variable) {
            Some(raw) => parse_duration(TIMEOUT, &raw)?,
            None => Duration::from_secs(3),
        };
        let port = match get(variables::PORT) {
            Some(raw) => parse_port(&raw)?,
            None => 8080,
        };
        let mut extra_cas = Vec::new();
        if let Some(path) = get(variables::CA_FILE) {
            let path = PathBuf::from(path);
            let pem = std::fs::read(&path).map_err(|source| Error::ReadFile {
                variable: variables::CA_FILE,
                path: path.clone(),
                source,
            })?;
            extra_cas.extend(parse_certificates(variables::CA_FILE, &pem)?);
        }
        if let Some(pem) = get(variables::CA_PEM) {
            extra_cas.extend(parse_certificates(variables::CA_PEM, pem.as_bytes())?);
        }
        let dns_servers = match get(variables::DNS_SERVERS) {
            Some(raw) => parse_dns_servers(&raw)?,
            None => Vec::new(),
        };
        let vpc_cidr = get(variables::VPC_CIDR)
            .map(|raw| {
                parse_cidr(&raw).map_err(|_| Error::Config {
                    variable: variables::VPC_CIDR,
                    problem: format!("`{raw}` is not CIDR notation"),
                    expected: "a network such as 10.0.0.0/16",
                })
            })
            .transpose()?;
        let metadata_uri = get("ECS_CONTAINER_METADATA_URI_V4");

        Ok(Config {
            region,
            account,
            endpoints,
            egress_probes,
            interval,
            timeout,
            port,
            extra_cas,
            dns_servers,
            vpc_cidr,
            metadata_uri,
        })
    }
}

/// The port `healthcheck` asks, which needs no other setting.
pub fn port_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<u16> {
    match lookup(variables::PORT).filter(|value| !value.trim().is_empty()) {
        Some(raw) => parse_port(&raw),
        None => Ok(8080),
    }
}

fn parse_region(variable: &'static str, raw: &str) -> Result<String> {
    let region = raw.trim();
    // `eu-west-1`, `us-gov-west-1`, `ap-southeast-5`: letters then digits,
    // at least three dash-separated parts.
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if well_formed {
        Ok(region.to_owned())
    } else {
        Err(Error::Config {
            variable,
            problem: format!("`{raw}` is not a region name"),
            expected: "a region such as eu-west-1",
        })
    }
}

fn parse_account(raw: Option<String>) -> Result<String> {
    let expected = "the 12-digit AWS account id (it is part of the ecr.dkr host name)";
    let Some(raw) = raw else {
        return Err(Error::Config {
            variable: variables::ACCOUNT,
            problem: "not set".to_owned(),
            expected,
        });
    };
    let account = raw.trim();
    if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) {
        Ok(account.to_owned())
    } else {
        Err(Error::Config {
            variable: variables::ACCOUNT,
            problem: format!("`{raw}` is not an account id"),
            expected,
        })
    }
}

fn parse_endpoints(raw: &str) -> Result<Vec<Endpoint>> {
    let expected = "a comma-separated list of endpoint service names such as ecr.api,ecr.dkr,s3";
    let endpoints = isokit_endpoints::parse_list(raw).map_err(|invalid| Error::Config {
        variable: variables::ENDPOINTS,
        problem: invalid.to_string(),
        expected,
    })?;
    if endpoints.is_empty() {
        return Err(Error::Config {
            variable: variables::ENDPOINTS,
            problem: format!("`{raw}` names no endpoint"),
            expected,
        });
    }
    Ok(endpoints)
}

fn parse_probe_targets(raw: &str) -> Result<Vec<ProbeTarget>> {
    let bad = |problem: String| Error::Config {
        variable: variables::EGRESS_PROBES,
        problem,
        expected: "a comma-separated list of host:port, such as checkip.amazonaws.com:443,1.1.1.1:443",
    };
    let mut targets = Vec::new();
    for item in raw
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (host, port) = if let Some(bracketed) = item.strip_prefix('[') {
            bracketed
                .split_once("]:")
                .ok_or_else(|| bad(format!("`{item}` has no port")))?
        } else {
            item.rsplit_once(':')
                .ok_or_else(|| bad(format!("`{item}` has no port")))?
        };
        let port = match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(bad(format!("`{item}` has no valid port"))),
        };
        let valid_host = host.parse::<IpAddr>().is_ok()
            || (!host.is_empty()
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }));
        if !valid_host {
            return Err(bad(format!("`{item}` has no valid host")));
        }
        let target = ProbeTarget {
            host: host.to_owned(),
            port,
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    // With nothing to probe, isolation would hold by default and /health
    // would vouch for a VPC that was never tested.
    if targets.is_empty() {
        return Err(bad(format!("`{raw}` names no probe target")));
    }
    Ok(targets)
}

/// A positive duration as people write it (`500ms`, `3s`, `1m`, `1h 30m`:
/// humantime's format, which the CLI's flags share), no longer than the
/// setting's bound.
pub fn parse_duration(setting: DurationSetting, raw: &str) -> Result<Duration> {
    let refuse = |problem: String| Error::Config {
        variable: setting.variable,
        problem,
        expected: setting.expected,
    };
    match humantime::parse_duration(raw.trim()) {
        Ok(Duration::ZERO) => Err(refuse(format!("`{raw}` is zero"))),
        Ok(duration) if duration <= setting.max => Ok(duration),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => {
            Err(refuse(format!("`{raw}` is too long")))
        }
        Err(error) => Err(refuse(format!("`{raw}` is not a duration ({error})"))),
    }
}

fn parse_port(raw: &str) -> Result<u16> {
    raw.trim().parse().map_err(|_| Error::Config {
        variable: variables::PORT,
        problem: format!("`{raw}` is not a port"),
        expected: "a TCP port from 0 to 65535 (0: any free port)",
    })
}

/// Certificates from PEM text; anything else in it (keys, text) is ignored.
pub fn parse_certificates(
    variable: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>> {
    let expected = "PEM text with one or more -----BEGIN CERTIFICATE----- blocks";
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Error::Config {
            variable,
            problem: format!("the PEM cannot be read ({err})"),
            expected,
        })?;
    if certificates.is_empty() {
        return Err(Error::Config {
            variable,
            problem: "holds no certificate".to_owned(),
            expected,
        });
    }
    Ok(certificates)
}

fn parse_dns_servers(raw: &str) -> Result<Vec<SocketAddr>> {
    let bad = |problem: String| Error::Config {
        variable: variables::DNS_SERVERS,
        problem,
        expected: "a comma-separated list of ip[:port], such as 10.0.0.2 or 127.0.0.1:5353 or [::1]:53 \
                   (unset it to use /etc/resolv.conf)",
    };
    let mut servers = Vec::new();
    for item in raw
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let server = item
            .parse::<SocketAddr>()
            .or_else(|_| item.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| bad(format!("`{item}` is not an address")))?;
        servers.push(server);
    }
    // A list that names nothing is a mistake, not a request for the
    // system's resolver: that is what leaving the variable unset means.
    if servers.is_empty() {
        return Err(bad(format!("`{raw}` names no server")));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn test_ca_pem() -> String {
        rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()])
            .expect("rcgen makes a certificate")
            .cert
            .pem()
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("ISOKIT_REGION", "eu-west-1"),
            ("ISOKIT_ACCOUNT", "123456789012"),
        ]);
        env.extend(vars.iter().copied());
        Config::from_lookup(|name| env.get(name).map(|value| (*value).to_owned()))
    }

    /// The message and what to do, as the binary prints them.
    fn error(vars: &[(&str, &str)]) -> String {
        config(vars)
            .expect_err("configuration should be refused")
            .explained()
    }

    #[test]
    fn defaults_cover_a_fargate_task() {
        let config = config(&[]).expect("minimal configuration");
        let names: Vec<&str> = config.endpoints.iter().map(Endpoint::service).collect();
        assert_eq!(names, FARGATE_ENDPOINTS);
        assert_eq!(config.interval, Duration::from_secs(30));
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.port, 8080);
        assert_eq!(config.egress_probes.len(), 3);
        assert_eq!(config.egress_probes[1].to_string(), "1.1.1.1:443");
        assert!(config.extra_cas.is_empty());
        assert!(config.dns_servers.is_empty());
        assert_eq!(config.vpc_cidr, None);
        assert_eq!(config.metadata_uri, None);
    }

    #[test]
    fn region_falls_back_to_the_aws_variables() {
        let env = HashMap::from([
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("ISOKIT_ACCOUNT", "123456789012"),
        ]);
        let config =
            Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).expect("valid");
        assert_eq!(config.region, "us-east-2");

        let env = HashMap::from([
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_REGION", "us-gov-west-1"),
            ("ISOKIT_ACCOUNT", "123456789012"),
        ]);
        let config =
            Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).expect("valid");
        assert_eq!(config.region, "us-gov-west-1");

        let env = HashMap::from([("ISOKIT_ACCOUNT", "123456789012")]);
        let err = Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned()))
            .expect_err("region is required")
            .to_string();
        assert!(err.starts_with("ISOKIT_REGION: not set"), "{err}");
    }

    #[test]
    fn bad_regions_are_named() {
        for bad in [
            "Eu-West-1",
            "euwest1",
            "eu-west",
            "eu-west-x",
            "e-west-1",
            "eu--1",
        ] {
            let err = error(&[("ISOKIT_REGION", bad)]);
            assert!(err.starts_with("ISOKIT_REGION:"), "{err}");
            assert!(err.contains("expected a region such as eu-west-1"), "{err}");
        }
        let env = HashMap::from([
            ("AWS_REGION", "nowhere"),
            ("ISOKIT_ACCOUNT", "123456789012"),
        ]);
        let err = Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned()))
            .expect_err("bad fallback region")
            .to_string();
        assert!(
            err.starts_with("AWS_REGION:"),
            "the variable that was read is named: {err}"
        );
    }

    #[test]
    fn account_must_be_twelve_digits() {
        assert!(error(&[("ISOKIT_ACCOUNT", "")]).starts_with("ISOKIT_ACCOUNT: not set"));
        for bad in ["12345678901", "1234567890123", "12345678901a"] {
            let err = error(&[("ISOKIT_ACCOUNT", bad)]);
            assert!(err.starts_with("ISOKIT_ACCOUNT:"), "{err}");
            assert!(err.contains("12-digit"), "{err}");
        }
    }

    #[test]
    fn endpoints_accept_any_service_name() {
        let config =
            config(&[("ISOKIT_ENDPOINTS", "ecr.api, ecs-agent,kms,sts,ecr.api")]).expect("valid");
        let names: Vec<&str> = config.endpoints.iter().map(Endpoint::service).collect();
        assert_eq!(names, ["ecr.api", "ecs-agent", "kms", "sts"]);
        let err = error(&[("ISOKIT_ENDPOINTS", "ecr.api,ECR")]);
        assert!(err.starts_with("ISOKIT_ENDPOINTS:"), "{err}");
        assert!(error(&[("ISOKIT_ENDPOINTS", ",,")]).contains("names no endpoint"));
    }

    #[test]
    fn egress_probes_are_host_and_port() {
        let config = config(&[(
            "ISOKIT_EGRESS_PROBES",
            "internet.test:443, 127.0.0.9:80,[::1]:8443",
        )])
        .expect("valid");
        let targets: Vec<String> = config
            .egress_probes
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(targets, ["internet.test:443", "127.0.0.9:80", "[::1]:8443"]);
        for bad in [
            "internet.test",
            "host:0",
            "host:99999",
            ":443",
            "bad_host:443",
            "[::1]443",
        ] {
            let err = error(&[("ISOKIT_EGRESS_PROBES", bad)]);
            assert!(err.starts_with("ISOKIT_EGRESS_PROBES:"), "{err}");
            assert!(err.contains("host:port"), "{err}");
        }
        for empty in [",", " , ,"] {
            let err = error(&[("ISOKIT_EGRESS_PROBES", empty)]);
            assert!(
                err.starts_with(&format!(
                    "ISOKIT_EGRESS_PROBES: `{empty}` names no probe target"
                )),
                "{err}"
            );
            assert!(
                err.contains("expected a comma-separated list of host:port"),
                "{err}"
            );
        }
    }

    #[test]
    fn durations_are_written_as_people_write_them_with_a_unit() {
        let config =
            config(&[("ISOKIT_INTERVAL", "1m"), ("ISOKIT_TIMEOUT", "500ms")]).expect("valid");
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(config.timeout, Duration::from_millis(500));
        assert_eq!(
            parse_duration(TIMEOUT, "3s").expect("valid"),
            Duration::from_secs(3)
        );
        assert_eq!(
            parse_duration(INTERVAL, "2h").expect("valid"),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration(INTERVAL, "1h 30m").expect("valid"),
            Duration::from_secs(5400)
        );
        for bad in [
            "3",
            "s",
            "-1s",
            "1.5",
            "0s",
            "0ms",
            "3 fortnights",
            "abc",
            "",
        ] {
            let err = parse_duration(TIMEOUT, bad)
                .expect_err("refused")
                .explained();
            assert!(err.starts_with("ISOKIT_TIMEOUT:"), "{bad}: {err}");
            assert!(
                err.contains("expected a duration such as 500ms, 3s or 1m 30s, at most 5m"),
                "{err}"
            );
        }
        assert!(error(&[("ISOKIT_INTERVAL", "soon")]).starts_with("ISOKIT_INTERVAL:"));
    }

    #[test]
    fn durations_are_bounded_so_no_deadline_can_overflow() {
        assert_eq!(
            parse_duration(TIMEOUT, "5m").expect("the bound itself"),
            TIMEOUT.max
        );
        assert_eq!(
            parse_duration(INTERVAL, "24h").expect("the bound itself"),
            INTERVAL.max
        );
        for (setting, too_long) in [
            (TIMEOUT, "301s"),
            (TIMEOUT, "300001ms"),
            (INTERVAL, "25h"),
            (INTERVAL, "1441m"),
            // u64::MAX in each unit, and one more than fits in a u64.
            (TIMEOUT, "18446744073709551615ms"),
            (TIMEOUT, "18446744073709551615s"),
            (INTERVAL, "18446744073709551615m"),
            (INTERVAL, "18446744073709551615h"),
            (TIMEOUT, "18446744073709551616s"),
            (INTERVAL, "99999999999999999999999999h"),
        ] {
            let err = parse_duration(setting, too_long)
                .expect_err("too long")
                .explained();
            assert!(
                err.starts_with(&format!(
                    "{}: `{too_long}` is too long\n  help: expected a duration such as",
                    setting.variable
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn port_is_a_number() {
        assert_eq!(
            config(&[("ISOKIT_PORT", "9000")]).expect("valid").port,
            9000
        );
        assert_eq!(config(&[("ISOKIT_PORT", "0")]).expect("valid").port, 0);
        for bad in ["http", "65536", "-1"] {
            assert!(error(&[("ISOKIT_PORT", bad)]).starts_with("ISOKIT_PORT:"));
        }
        assert_eq!(port_from_lookup(|_| None).expect("default"), 8080);
        assert!(port_from_lookup(|_| Some("x".to_owned())).is_err());
    }

    #[test]
    fn extra_cas_come_from_a_file_or_inline() {
        let ca = test_ca_pem();
        let inline = config(&[("ISOKIT_CA_PEM", &ca)]).expect("valid");
        assert_eq!(inline.extra_cas.len(), 1);

        let file = tempfile::NamedTempFile::new().expect("temporary file");
        std::fs::write(file.path(), format!("{ca}{}", test_ca_pem())).expect("write the CA file");
        let path = file.path().to_str().expect("UTF-8 temporary path");
        let both = config(&[("ISOKIT_CA_FILE", path), ("ISOKIT_CA_PEM", &ca)]).expect("valid");
        assert_eq!(both.extra_cas.len(), 3);

        let missing = error(&[("ISOKIT_CA_FILE", "/nonexistent/ca.pem")]);
        assert!(
            missing.starts_with("ISOKIT_CA_FILE: cannot read /nonexistent/ca.pem"),
            "{missing}"
        );

        let empty = error(&[("ISOKIT_CA_PEM", "not a certificate")]);
        assert!(
            empty.starts_with("ISOKIT_CA_PEM: holds no certificate"),
            "{empty}"
        );
        let broken = error(&[(
            "ISOKIT_CA_PEM",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )]);
        assert!(
            broken.starts_with("ISOKIT_CA_PEM: the PEM cannot be read"),
            "{broken}"
        );
    }

    #[test]
    fn dns_servers_default_to_port_53() {
        let config = config(&[(
            "ISOKIT_DNS_SERVERS",
            "10.0.0.2, 127.0.0.1:5353,[::1]:53,::1",
        )])
        .expect("valid");
        let servers: Vec<String> = config.dns_servers.iter().map(ToString::to_string).collect();
        assert_eq!(
            servers,
            ["10.0.0.2:53", "127.0.0.1:5353", "[::1]:53", "[::1]:53"]
        );
        let err = error(&[("ISOKIT_DNS_SERVERS", "dns.local")]);
        assert!(
            err.starts_with("ISOKIT_DNS_SERVERS: `dns.local` is not an address"),
            "{err}"
        );
        let err = error(&[("ISOKIT_DNS_SERVERS", " , ")]);
        assert!(
            err.starts_with("ISOKIT_DNS_SERVERS: ` , ` names no server")
                && err.contains("unset it to use /etc/resolv.conf"),
            "{err}"
        );
    }

    #[test]
    fn vpc_cidr_and_metadata() {
        let config = config(&[
            ("ISOKIT_VPC_CIDR", "10.0.0.0/16"),
            (
                "ECS_CONTAINER_METADATA_URI_V4",
                "http://169.254.170.2/v4/abc",
            ),
        ])
        .expect("valid");
        assert_eq!(
            config.vpc_cidr.map(|c| c.to_string()).as_deref(),
            Some("10.0.0.0/16")
        );
        assert_eq!(
            config.metadata_uri.as_deref(),
            Some("http://169.254.170.2/v4/abc")
        );
        let err = error(&[("ISOKIT_VPC_CIDR", "10.0.0.0")]);
        assert!(err.starts_with("ISOKIT_VPC_CIDR:"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = config(&[("ISOKIT_PORT", ""), ("ISOKIT_TIMEOUT", " ")]).expect("valid");
        assert_eq!(config.port, 8080);
        assert_eq!(config.timeout, Duration::from_secs(3));
    }
}
