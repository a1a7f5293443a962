//! EC2: the region's Availability Zones and where each VPC endpoint
//! service is offered, which decide the zones a deployment's subnets go in.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ServiceType;
use aws_types::SdkConfig;

use crate::error::{CallError, Error, Problem};
use crate::throttle::patiently;

/// An Availability Zone as DescribeAvailabilityZones reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityZone {
    /// The account's name for it, such as `us-east-1a`: names map to
    /// different zones in different accounts.
    pub name: String,
    /// The zone's ID, such as `use1-az6`: the same zone in every account.
    pub id: String,
    /// `available`, `information`, `impaired` or `unavailable`.
    pub state: String,
    /// `availability-zone`, `local-zone` or `wavelength-zone`.
    pub zone_type: String,
}

/// Where one VPC endpoint service offers interface endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointServiceZones {
    /// `com.amazonaws.<region>.<service>`.
    pub service_name: String,
    /// The zone names, `None` when the region does not offer the service
    /// for interface endpoints at all.
    pub zones: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    pub(crate) fn new(config: &SdkConfig) -> Ec2 {
        Ec2 {
            client: Client::new(config),
        }
    }

    /// The region's Availability Zones that the account may use (AWS leaves
    /// out those of opt-in groups the account has not joined).
    pub async fn availability_zones(&self) -> Result<Vec<AvailabilityZone>, Error> {
        let output = patiently(|| async {
            self.client
                .describe_availability_zones()
                .send()
                .await
                .map_err(|err| CallError::from_sdk("EC2 DescribeAvailabilityZones", &err))
        })
        .await?;
        Ok(output
            .availability_zones()
            .iter()
            .map(|zone| AvailabilityZone {
                name: zone.zone_name().unwrap_or_default().to_owned(),
                id: zone.zone_id().unwrap_or_default().to_owned(),
                state: zone
                    .state()
                    .map(|state| state.as_str().to_owned())
                    .unwrap_or_default(),
                zone_type: zone.zone_type().unwrap_or("availability-zone").to_owned(),
            })
            .collect())
    }

    /// The zones in which each named service offers interface endpoints,
    /// asked one service at a time: AWS refuses a whole request when one
    /// of its names is not offered in the region (`InvalidServiceName`),
    /// and that is an answer about that service alone.
    pub async fn interface_endpoint_zones(
        &self,
        service_names: &[String],
    ) -> Result<Vec<EndpointServiceZones>, Error> {
        let mut found = Vec::with_capacity(service_names.len());
        for service_name in service_names {
            let answer = patiently(|| async {
                self.client
                    .describe_vpc_endpoint_services()
                    .service_names(service_name)
                    .send()
                    .await
                    .map_err(|err| CallError::from_sdk("EC2 DescribeVpcEndpointServices", &err))
            })
            .await;
            let zones = match answer {
                Ok(output) => output
                    .service_details()
                    .iter()
                    .find(|detail| {
                        detail.service_name() == Some(service_name.as_str())
                            && detail
                                .service_type()
                                .iter()
                                .any(|kind| kind.service_type() == Some(&ServiceType::Interface))
                    })
                    .map(|detail| detail.availability_zones().to_vec()),
                Err(error) if not_offered(&error) => None,
                Err(error) => return Err(error.into()),
            };
            found.push(EndpointServiceZones {
                service_name: service_name.clone(),
                zones,
            });
        }
        Ok(found)
    }
}

fn not_offered(error: &CallError) -> bool {
    matches!(&error.problem, Problem::Service { code } if code == "InvalidServiceName")
}
