//! What a rehearsal mirrors: the endpoints, the subnet and the task's
//! environment, read back from the deployed stack when there is one, and
//! otherwise taken from the bundled templates: the same single source of
//! truth either way, never a list of our own.

use ipnet::Ipv4Net;
use isokit_aws::{Aws, ImageUri};
use isokit_endpoints::Endpoint;
use isokit_stacks::{Node, ParameterValues, StackSet, TaskContainer, TemplateFile, outputs};
use serde::Serialize;

use crate::{DEFAULT_SUBNET, Error, RehearseOptions, parse_subnet};

fn as_text<S: serde::Serializer>(subnet: &Ipv4Net, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(subnet)
}

/// The parent stack's parameters that size the task.
const TASK_SIZE_PARAMETERS: [&str; 2] = ["ContainerCpu", "ContainerMemory"];

/// Where the plan came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanSource {
    /// The outputs of this deployed stack.
    Stack { name: String },
    /// The templates bundled in isokit, with their default parameters.
    Bundled,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: PlanSource,
    pub region: String,
    pub account: String,
    /// The rehearsal network's subnet: the first private subnet.
    #[serde(serialize_with = "as_text")]
    pub subnet: Ipv4Net,
    pub vpc_cidr: String,
    /// Endpoint service names, as the VPC stack creates them.
    pub endpoints: Vec<String>,
    /// The task definition's container, its environment filled in.
    pub container: TaskContainer,
}

impl Plan {
    pub(crate) async fn resolve(
        aws: &Aws,
        uri: &ImageUri,
        options: &RehearseOptions,
    ) -> Result<Plan, Error> {
        let stacks = StackSet::bundled();
        let deployed = aws.stacks().describe(&options.stack_name).await?;
        let from_stack = deployed.as_ref().and_then(|stack| {
            let output = |name: &str| stack.outputs.get(name).cloned();
            Some((
                output(outputs::ENDPOINTS)?,
                output(outputs::VPC_CIDR)?,
                output(outputs::PRIVATE_SUBNET_CIDRS)?,
            ))
        });
        let (source, endpoints, vpc_cidr, subnet) = match from_stack {
            Some((endpoints, vpc_cidr, subnets)) => {
                let subnet = subnets
                    .split(',')
                    .map(str::trim)
                    .find(|s| !s.is_empty())
                    .ok_or_else(|| "it names no subnet".to_owned())
                    .and_then(|first| parse_subnet(first).map_err(|err| err.to_string()))
                    .map_err(|reason| Error::BadStackOutput {
                        output: outputs::PRIVATE_SUBNET_CIDRS,
                        value: subnets.clone(),
                        reason,
                    })?;
                let endpoints = isokit_endpoints::parse_list(&endpoints).map_err(|err| {
                    Error::BadStackOutput {
                        output: outputs::ENDPOINTS,
                        value: endpoints.clone(),
                        reason: err.to_string(),
                    }
                })?;
                (
                    PlanSource::Stack {
                        name: options.stack_name.clone(),
                    },
                    endpoints,
                    vpc_cidr,
                    subnet,
                )
            }
            None => {
                let network = stacks.network_plan()?;
                let subnet = parse_subnet(
                    network
                        .private_subnets
                        .first()
                        .map_or(DEFAULT_SUBNET, String::as_str),
                )?;
                (
                    PlanSource::Bundled,
                    stacks.endpoints(&ParameterValues::new())?,
                    network.vpc_cidr,
                    subnet,
                )
            }
        };
        // A subnet of the user's choosing is the whole of the miniature VPC.
        let (subnet, vpc_cidr) = match options.subnet {
            Some(subnet) => (subnet, subnet.to_string()),
            None => (subnet, vpc_cidr),
        };
        let names: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
        let mut values = ParameterValues::new()
            .with("AWS::Region", aws.region())
            .with("AWS::AccountId", uri.account.clone())
            .with("Endpoints", names.join(","))
            .with("VpcCidr", vpc_cidr.clone());
        // The task's size, as deployed or as the bundled stacks would deploy it.
        let parent = stacks.template(TemplateFile::Parent)?;
        for parameter in TASK_SIZE_PARAMETERS {
            let deployed_value = deployed
                .as_ref()
                .and_then(|stack| stack.parameters.get(parameter).cloned());
            let default = || {
                parent
                    .parameter(parameter)
                    .and_then(|declared| declared.get("Default"))
                    .and_then(Node::as_text)
            };
            if let Some(value) = deployed_value.or_else(default) {
                values.set(parameter, value);
            }
        }
        Ok(Plan {
            source,
            region: aws.region().to_owned(),
            account: uri.account.clone(),
            subnet,
            vpc_cidr,
            endpoints: names,
            container: stacks.task_container(&values)?,
        })
    }

    /// Each endpoint with the host name the task resolves for it.
    pub fn hosts(&self) -> Vec<(Endpoint, String)> {
        self.endpoints
            .iter()
            .filter_map(|name| name.parse::<Endpoint>().ok())
            .map(|endpoint| {
                let host = endpoint.hostname(&self.region, &self.account);
                (endpoint, host)
            })
            .collect()
    }
}
