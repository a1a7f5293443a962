//! The two Availability Zones the VPC's subnets go in, chosen where every
//! interface endpoint the VPC creates is offered and Fargate runs, instead
//! of the region's first two, where either may be missing.

use isokit_aws::{AvailabilityZone, Aws, EndpointServiceZones};
use isokit_endpoints::{Endpoint, EndpointKind};
use isokit_ui::Ui;

use crate::Error;

/// One zone of the region, and why it cannot hold a subnet (nothing when it
/// can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneVerdict {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) rejected: Vec<String>,
}

impl std::fmt::Display for ZoneVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "  {} ({}): ", self.name, self.id)?;
        if self.rejected.is_empty() {
            f.write_str("usable")
        } else {
            write!(f, "rejected: {}", self.rejected.join("; "))
        }
    }
}

/// Asks EC2 which zones the account has and where each interface endpoint
/// is offered, and picks two zones that have them all and Fargate; or
/// checks the two the user named. Gateway endpoints (S3) belong to route
/// tables, not zones, so they never rule a zone out.
pub(crate) async fn choose(
    aws: &Aws,
    endpoints: &[Endpoint],
    requested: Option<&[String; 2]>,
    ui: &Ui,
) -> Result<[String; 2], Error> {
    let region = aws.region();
    let ec2 = aws.ec2();
    let zones = ec2.availability_zones().await?;
    let service_names: Vec<String> = endpoints
        .iter()
        .filter(|endpoint| endpoint.kind() == EndpointKind::Interface)
        .map(|endpoint| endpoint.vpc_service_name(region))
        .collect();
    let services = ec2.interface_endpoint_zones(&service_names).await?;
    let verdicts = judge(&zones, &services, isokit_stacks::fargate_zone_ids(region));
    let chosen = pick(region, &verdicts, requested)?;
    let described: Vec<String> = chosen
        .iter()
        .filter_map(|name| verdicts.iter().find(|verdict| &verdict.name == name))
        .map(|verdict| format!("{} ({})", verdict.name, verdict.id))
        .collect();
    ui.status(format!(
        "subnets in {}, {}: each offers every interface endpoint the VPC creates{}",
        described.join(" and "),
        if requested.is_some() {
            "as asked"
        } else {
            "chosen"
        },
        if isokit_stacks::fargate_zone_ids(region).is_some() {
            ", and Fargate runs in each"
        } else {
            ""
        }
    ));
    Ok(chosen)
}

/// Every zone of the region with what rules it out: not available, not an
/// Availability Zone (a Local or Wavelength Zone), outside the zones AWS
/// documents Fargate in, or lacking an interface endpoint service.
pub(crate) fn judge(
    zones: &[AvailabilityZone],
    services: &[EndpointServiceZones],
    fargate_zone_ids: Option<&[&str]>,
) -> Vec<ZoneVerdict> {
    zones
        .iter()
        .map(|zone| {
            let mut rejected = Vec::new();
            if zone.state != "available" {
                rejected.push(format!("its state is {}", zone.state));
            }
            if zone.zone_type != "availability-zone" {
                rejected.push(format!(
                    "it is a {}, not an Availability Zone",
                    zone.zone_type
                ));
            }
            if let Some(ids) = fargate_zone_ids
                && !ids.contains(&zone.id.as_str())
            {
                rejected.push(format!(
                    "Fargate does not run there (AWS documents it in this region only in {})",
                    ids.join(", ")
                ));
            }
            let missing: Vec<&str> = services
                .iter()
                .filter(|service| {
                    service
                        .zones
                        .as_ref()
                        .is_none_or(|names| !names.contains(&zone.name))
                })
                .map(|service| service.service_name.as_str())
                .collect();
            if !missing.is_empty() {
                rejected.push(format!("no interface endpoint for {}", missing.join(", ")));
            }
            ZoneVerdict {
                name: zone.name.clone(),
                id: zone.id.clone(),
                rejected,
            }
        })
        .collect()
}

/// The first two usable zones, in the order EC2 lists them; or the two
/// requested, when both are usable.
pub(crate) fn pick(
    region: &str,
    verdicts: &[ZoneVerdict],
    requested: Option<&[String; 2]>,
) -> Result<[String; 2], Error> {
    let refuse = |problem: String, next: &str| Error::UnsuitableZones {
        region: region.to_owned(),
        problem,
        zones: verdicts.iter().map(ToString::to_string).collect(),
        next: next.to_owned(),
    };
    if let Some(requested) = requested {
        for name in requested {
            match verdicts.iter().find(|verdict| &verdict.name == name) {
                None => {
                    return Err(refuse(
                        format!(
                            "--availability-zones names {name}, which is not an Availability \
                             Zone of {region} that this account can use"
                        ),
                        "name two usable zones from this list, or leave the flag out to let \
                         isokit choose",
                    ));
                }
                Some(verdict) if !verdict.rejected.is_empty() => {
                    return Err(refuse(
                        format!("--availability-zones names {name}, which cannot hold a subnet"),
                        "name two usable zones from this list, or leave the flag out to let \
                         isokit choose",
                    ));
                }
                Some(_) => {}
            }
        }
        return Ok(requested.clone());
    }
    let mut usable = verdicts
        .iter()
        .filter(|verdict| verdict.rejected.is_empty());
    match (usable.next(), usable.next()) {
        (Some(one), Some(two)) => Ok([one.name.clone(), two.name.clone()]),
        _ => Err(refuse(
            format!(
                "fewer than two Availability Zones of {region} offer every interface endpoint \
                 the VPC creates and run Fargate, and the VPC's two subnets need two"
            ),
            "deploy in another region, or without the endpoints those zones lack (a \
             customised copy of the templates: isokit stacks export DIR)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, id: &str) -> AvailabilityZone {
        AvailabilityZone {
            name: name.to_owned(),
            id: id.to_owned(),
            state: "available".to_owned(),
            zone_type: "availability-zone".to_owned(),
        }
    }

    fn offered(service: &str, zones: &[&str]) -> EndpointServiceZones {
        EndpointServiceZones {
            service_name: format!("com.amazonaws.ap-northeast-1.{service}"),
            zones: Some(zones.iter().map(|zone| (*zone).to_owned()).collect()),
        }
    }

    /// DescribeAvailabilityZones in ap-northeast-1 for an account that
    /// still has the zone Fargate does not run in (apne1-az3), whose name
    /// comes first; every endpoint service is offered in all four.
    fn tokyo() -> Vec<AvailabilityZone> {
        vec![
            zone("ap-northeast-1a", "apne1-az3"),
            zone("ap-northeast-1b", "apne1-az4"),
            zone("ap-northeast-1c", "apne1-az1"),
            zone("ap-northeast-1d", "apne1-az2"),
        ]
    }

    const TOKYO_ZONES: [&str; 4] = [
        "ap-northeast-1a",
        "ap-northeast-1b",
        "ap-northeast-1c",
        "ap-northeast-1d",
    ];

    #[test]
    fn the_zone_fargate_does_not_run_in_is_passed_over_by_its_id() {
        let services = [
            offered("ecr.api", &TOKYO_ZONES),
            offered("logs", &TOKYO_ZONES),
        ];
        let verdicts = judge(
            &tokyo(),
            &services,
            isokit_stacks::fargate_zone_ids("ap-northeast-1"),
        );
        assert_eq!(
            verdicts[0].to_string(),
            "  ap-northeast-1a (apne1-az3): rejected: Fargate does not run there (AWS documents \
             it in this region only in apne1-az1, apne1-az2, apne1-az4)"
        );
        assert_eq!(
            pick("ap-northeast-1", &verdicts, None).expect("two usable"),
            ["ap-northeast-1b".to_owned(), "ap-northeast-1c".to_owned()]
        );
        // Where AWS documents no list, every zone runs Fargate.
        let everywhere = judge(&tokyo(), &services, None);
        assert!(everywhere.iter().all(|verdict| verdict.rejected.is_empty()));
    }

    #[test]
    fn a_zone_without_an_endpoint_service_is_passed_over_and_fewer_than_two_fail_listing_all() {
        let services = [
            offered("ecr.api", &TOKYO_ZONES),
            offered("ssmmessages", &["ap-northeast-1a", "ap-northeast-1c"]),
            EndpointServiceZones {
                service_name: "com.amazonaws.ap-northeast-1.ecs-agent".to_owned(),
                zones: None,
            },
        ];
        let verdicts = judge(&tokyo(), &services[..2], None);
        assert_eq!(
            pick("ap-northeast-1", &verdicts, None).expect("two usable"),
            ["ap-northeast-1a".to_owned(), "ap-northeast-1c".to_owned()]
        );
        let fargate = isokit_stacks::fargate_zone_ids("ap-northeast-1");
        let error = pick(
            "ap-northeast-1",
            &judge(&tokyo(), &services[..2], fargate),
            None,
        )
        .expect_err("only ap-northeast-1c has both")
        .to_string();
        assert!(
            error.starts_with("fewer than two Availability Zones of ap-northeast-1")
                && error.contains(
                    "\n  ap-northeast-1b (apne1-az4): rejected: no interface endpoint for \
                     com.amazonaws.ap-northeast-1.ssmmessages\n"
                )
                && error.contains("\n  ap-northeast-1c (apne1-az1): usable\n")
                && error.contains("ap-northeast-1a (apne1-az3): rejected: Fargate does not run"),
            "{error}"
        );
        // A service the region does not offer at all rules out every zone.
        let verdicts = judge(&tokyo(), &services, None);
        assert!(
            verdicts.iter().all(|verdict| verdict
                .rejected
                .iter()
                .any(|reason| reason.contains("ecs-agent"))),
            "{verdicts:?}"
        );
    }

    #[test]
    fn unavailable_zones_and_local_zones_never_hold_a_subnet() {
        let mut zones = tokyo();
        zones[1].state = "impaired".to_owned();
        zones[2].zone_type = "local-zone".to_owned();
        let verdicts = judge(&zones, &[], None);
        assert_eq!(
            verdicts[1].rejected,
            ["its state is impaired".to_owned()],
            "{verdicts:?}"
        );
        assert_eq!(
            verdicts[2].rejected,
            ["it is a local-zone, not an Availability Zone".to_owned()]
        );
        assert_eq!(
            pick("ap-northeast-1", &verdicts, None).expect("two usable"),
            ["ap-northeast-1a".to_owned(), "ap-northeast-1d".to_owned()]
        );
    }

    #[test]
    fn requested_zones_must_exist_and_be_usable() {
        let fargate = isokit_stacks::fargate_zone_ids("ap-northeast-1");
        let verdicts = judge(&tokyo(), &[], fargate);
        let asked = |one: &str, two: &str| [one.to_owned(), two.to_owned()];
        assert_eq!(
            pick(
                "ap-northeast-1",
                &verdicts,
                Some(&asked("ap-northeast-1d", "ap-northeast-1b"))
            )
            .expect("both usable"),
            asked("ap-northeast-1d", "ap-northeast-1b")
        );
        let error = pick(
            "ap-northeast-1",
            &verdicts,
            Some(&asked("ap-northeast-1a", "ap-northeast-1b")),
        )
        .expect_err("Fargate does not run in 1a")
        .to_string();
        assert!(
            error.starts_with(
                "--availability-zones names ap-northeast-1a, which cannot hold a subnet"
            ),
            "{error}"
        );
        let error = pick(
            "ap-northeast-1",
            &verdicts,
            Some(&asked("ap-northeast-1b", "ap-northeast-1z")),
        )
        .expect_err("no such zone")
        .to_string();
        assert!(
            error.contains("names ap-northeast-1z, which is not an Availability Zone"),
            "{error}"
        );
    }
}
