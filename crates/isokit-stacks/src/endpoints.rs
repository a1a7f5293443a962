//! The endpoint list, read from the VPC template itself: each
//! `AWS::EC2::VPCEndpoint` resource names its service in `ServiceName` and
//! may be created only under a condition. The template's `Endpoints` output
//! must say the same, which [`check_endpoints_output`] proves for every
//! parameter combination.

use isokit_endpoints::Endpoint;

use crate::Error;
use crate::eval::{ParameterValues, Scope, Value, assignments, parameters_of};
use crate::template::{Node, Template};

/// The output a VPC template lists its endpoints in.
pub const ENDPOINTS_OUTPUT: &str = "Endpoints";

/// One `AWS::EC2::VPCEndpoint` resource of a VPC template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcEndpoint {
    pub endpoint: Endpoint,
    /// The logical ID, such as `EcrDkrEndpoint`.
    pub resource: String,
    /// The condition it is created under, such as `EcsOnEc2` (which holds
    /// when `DeployingToEC2` is `true`); `None` when always created.
    pub condition: Option<String>,
}

/// Every VPC endpoint the template declares, in template order.
pub fn endpoints_of_vpc_template(template: &Template) -> Result<Vec<VpcEndpoint>, Error> {
    template
        .resources()
        .filter(|resource| resource.kind == "AWS::EC2::VPCEndpoint")
        .map(|resource| {
            let endpoint = resource
                .property("ServiceName")
                .and_then(service_suffix)
                .and_then(|suffix| suffix.parse::<Endpoint>().ok())
                .ok_or_else(|| Error::Template {
                    template: template.name().to_owned(),
                    problem: format!(
                        "resource {}: cannot read its endpoint service from ServiceName; \
                         write it as !Sub com.amazonaws.${{AWS::Region}}.<service>, or as \
                         !Sub ['${{Prefix}}.${{AWS::Region}}.<service>', {{Prefix: ...}}]",
                        resource.name
                    ),
                })?;
            Ok(VpcEndpoint {
                endpoint,
                resource: resource.name.to_owned(),
                condition: resource.condition.map(str::to_owned),
            })
        })
        .collect()
}

/// The service suffix of a `ServiceName`: `ecr.dkr` in
/// `!Sub com.amazonaws.${AWS::Region}.ecr.dkr`, in
/// `!Sub ['${Prefix}.${AWS::Region}.ecr.dkr', {Prefix: ...}]` (the bundled
/// template's form, its prefix by partition), or in a literal name with its
/// region written out.
pub(crate) fn service_suffix(service_name: &Node) -> Option<&str> {
    let text = match service_name.intrinsic() {
        Some(("Fn::Sub", Node::String(text))) => text.as_str(),
        Some(("Fn::Sub", Node::List(items))) => items.first()?.as_str()?,
        Some(_) => return None,
        None => service_name.as_str()?,
    };
    let rest = match text.split_once("${AWS::Region}.") {
        Some((_, rest)) => rest,
        None => {
            let rest = ["com.amazonaws.", "cn.com.amazonaws."]
                .iter()
                .find_map(|prefix| text.strip_prefix(prefix))?;
            rest.split_once('.')?.1
        }
    };
    (!rest.contains("${")).then_some(rest)
}

/// The endpoints the VPC template creates under the given parameter values.
pub fn active_endpoints(
    template: &Template,
    values: &ParameterValues,
) -> Result<Vec<Endpoint>, Error> {
    let scope = Scope::new(template, values);
    let mut active = Vec::new();
    for vpc_endpoint in endpoints_of_vpc_template(template)? {
        let created = match &vpc_endpoint.condition {
            Some(condition) => scope.condition(condition)?,
            None => true,
        };
        if created {
            active.push(vpc_endpoint.endpoint);
        }
    }
    Ok(active)
}

/// The endpoints an output lists under the given parameter values.
pub fn listed_endpoints(
    template: &Template,
    output: &str,
    values: &ParameterValues,
) -> Result<Vec<Endpoint>, Error> {
    let expression = template.output(output).ok_or_else(|| Error::Template {
        template: template.name().to_owned(),
        problem: format!("has no {output} output"),
    })?;
    let text = match Scope::new(template, values).value(expression)? {
        Value::Text(text) => text,
        other => {
            return Err(Error::Evaluate {
                template: template.name().to_owned(),
                reason: format!("output {output} is not text but {other:?}"),
            });
        }
    };
    isokit_endpoints::parse_list(&text).map_err(|source| Error::Evaluate {
        template: template.name().to_owned(),
        reason: format!("output {output} is not an endpoint list: {source}"),
    })
}

/// Where an output and the endpoint resources disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointsMismatch {
    /// The parameter values it happens under.
    pub values: ParameterValues,
    pub listed: Vec<Endpoint>,
    pub created: Vec<Endpoint>,
}

impl std::fmt::Display for EndpointsMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |list: &[Endpoint]| {
            list.iter()
                .map(Endpoint::service)
                .collect::<Vec<_>>()
                .join(",")
        };
        let values = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let when = if values.is_empty() {
            String::new()
        } else {
            format!(" with {values}")
        };
        write!(
            f,
            "{when} it lists [{}] but creates [{}]",
            names(&self.listed),
            names(&self.created)
        )
    }
}

/// Checks that `output` lists exactly the endpoints the template creates, in
/// the same order, for every combination of the parameters either depends on.
pub fn check_endpoints_output(
    template: &Template,
    output: &str,
) -> Result<Vec<EndpointsMismatch>, Error> {
    let expression = template.output(output).ok_or_else(|| Error::Template {
        template: template.name().to_owned(),
        problem: format!("has no {output} output"),
    })?;
    let mut parameters = Vec::new();
    parameters_of(template, expression, &mut parameters);
    for vpc_endpoint in endpoints_of_vpc_template(template)? {
        if let Some(condition) = vpc_endpoint
            .condition
            .as_deref()
            .and_then(|name| template.condition(name))
        {
            parameters_of(template, condition, &mut parameters);
        }
    }
    parameters.sort();
    let mut mismatches = Vec::new();
    for values in assignments(template, &parameters)? {
        let listed = listed_endpoints(template, output, &values)?;
        let created = active_endpoints(template, &values)?;
        if listed != created {
            mismatches.push(EndpointsMismatch {
                values,
                listed,
                created,
            });
        }
    }
    Ok(mismatches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Endpoint]) -> Vec<&str> {
        list.iter().map(Endpoint::service).collect()
    }

    const VPC: &str = "
Parameters:
  DeployingToEC2: {Type: String, Default: 'false', AllowedValues: ['true', 'false']}
Conditions:
  Ec2: !Equals [!Ref DeployingToEC2, 'true']
Resources:
  Api: {Type: AWS::EC2::VPCEndpoint, Properties: {ServiceName: !Sub 'com.amazonaws.${AWS::Region}.ecr.api'}}
  Bucket: {Type: AWS::EC2::VPCEndpoint, Properties: {ServiceName: com.amazonaws.eu-west-1.s3}}
  Registry:
    Type: AWS::EC2::VPCEndpoint
    Properties:
      ServiceName: !Sub ['${Prefix}.${AWS::Region}.ecr.dkr', {Prefix: !FindInMap [P, !Ref 'AWS::Partition', Ecr]}]
  Agent:
    Type: AWS::EC2::VPCEndpoint
    Condition: Ec2
    Properties: {ServiceName: {'Fn::Sub': 'com.amazonaws.${AWS::Region}.ecs-agent'}}
  Other: {Type: AWS::EC2::Subnet}
Outputs:
  Good: {Value: !Join ['', ['ecr.api,s3,ecr.dkr', !If [Ec2, ',ecs-agent', '']]]}
  Stale: {Value: 'ecr.api,s3,ecr.dkr,ecs-agent'}
";

    fn template() -> Template {
        Template::parse("vpc.yml", VPC).expect("valid template")
    }

    #[test]
    fn reads_each_endpoint_with_its_condition() {
        let found = endpoints_of_vpc_template(&template()).expect("endpoints");
        let summary: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|e| {
                (
                    e.endpoint.service(),
                    e.resource.as_str(),
                    e.condition.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("ecr.api", "Api", None),
                ("s3", "Bucket", None),
                ("ecr.dkr", "Registry", None),
                ("ecs-agent", "Agent", Some("Ec2"))
            ]
        );
    }

    #[test]
    fn conditions_decide_which_are_created() {
        let template = template();
        let fargate = active_endpoints(&template, &ParameterValues::new()).expect("default");
        assert_eq!(names(&fargate), ["ecr.api", "s3", "ecr.dkr"]);
        let ec2 = active_endpoints(
            &template,
            &ParameterValues::new().with("DeployingToEC2", "true"),
        )
        .expect("ec2");
        assert_eq!(names(&ec2), ["ecr.api", "s3", "ecr.dkr", "ecs-agent"]);
    }

    #[test]
    fn an_output_that_follows_the_resources_agrees_and_a_fixed_one_does_not() {
        let template = template();
        assert_eq!(
            check_endpoints_output(&template, "Good").expect("check"),
            []
        );
        let mismatches = check_endpoints_output(&template, "Stale").expect("check");
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert_eq!(mismatches[0].values.get("DeployingToEC2"), Some("false"));
        assert_eq!(
            mismatches[0].to_string(),
            " with DeployingToEC2=false it lists [ecr.api,s3,ecr.dkr,ecs-agent] but creates \
             [ecr.api,s3,ecr.dkr]"
        );
    }

    #[test]
    fn an_unreadable_service_name_is_an_error_naming_the_resource() {
        let template = Template::parse(
            "vpc.yml",
            "Resources:\n  Odd: {Type: AWS::EC2::VPCEndpoint, Properties: {ServiceName: !Ref Name}}\n",
        )
        .expect("valid template");
        let error = endpoints_of_vpc_template(&template)
            .expect_err("unreadable")
            .to_string();
        assert!(
            error.contains("vpc.yml") && error.contains("resource Odd"),
            "{error}"
        );
    }
}
