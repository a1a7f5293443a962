//! That the service checks the endpoints the VPC has, and that the tasks
//! find the endpoints they need.

use isokit_endpoints::Endpoint;

use super::needs::task_needs;
use super::values::{Source, TemplateSet};
use super::{Judge, Rule};
use crate::endpoints::{check_endpoints_output, endpoints_of_vpc_template};
use crate::template::{Node, Resource, Template};

/// The environment variable the service reads its endpoint list from.
const ENDPOINTS_VARIABLE: &str = isokit_report::variables::ENDPOINTS;

/// A task definition's wiring: its endpoint list and what it needs.
pub(super) fn check<'a>(judge: &mut Judge<'a>, template: &'a Template, resource: &Resource<'a>) {
    if resource.kind != "AWS::ECS::TaskDefinition" {
        return;
    }
    check_endpoint_wiring(judge, template, resource);
    for (endpoint, message) in missing_task_endpoints(&judge.set, template, resource) {
        judge
            .find(Rule::TaskEndpointMissing, template, resource, message)
            .endpoint = Some(endpoint);
    }
}

/// The endpoints a task definition needs ([`task_needs`]) that the VPC the
/// set creates does not create, or creates only under a condition that does
/// not hold (or cannot be known) with the values the set gives. Checked only
/// for a set that creates its VPC: the endpoints of a VPC made elsewhere
/// cannot be known here.
fn missing_task_endpoints<'a>(
    set: &TemplateSet<'a>,
    template: &'a Template,
    resource: &Resource<'a>,
) -> Vec<(Endpoint, String)> {
    let creates_vpc = set
        .0
        .iter()
        .any(|template| template.resources().any(|r| r.kind == "AWS::EC2::VPC"));
    if !creates_vpc {
        return Vec::new();
    }
    let created: Vec<_> = set
        .0
        .iter()
        .filter_map(|template| {
            endpoints_of_vpc_template(template)
                .ok()
                .map(|found| found.into_iter().map(move |e| (template, e)))
        })
        .flatten()
        .collect();
    task_needs(set, template, resource)
        .into_iter()
        .filter_map(|need| {
            let lack = match created.iter().find(|(_, c)| c.endpoint == need.endpoint) {
                None => "which no template in the set creates".to_owned(),
                Some((vpc, found)) => match &found.condition {
                    None => return None,
                    Some(condition) => match set.condition(vpc, condition) {
                        Ok(true) => return None,
                        Ok(false) => format!(
                            "which {} creates only when {condition}, and that does not hold with \
                             the values the set gives",
                            found.resource
                        ),
                        Err(why) => format!(
                            "which {} creates only when {condition}, which cannot be known before \
                             deployment: {why}",
                            found.resource
                        ),
                    },
                },
            };
            let message = format!(
                "{} needs the {} endpoint ({}), {lack}",
                need.by, need.endpoint, need.why
            );
            Some((need.endpoint, message))
        })
        .collect()
}

/// Every endpoint the service checks must be one the VPC stack creates: the
/// list reaches the container through parameters and outputs that end at the
/// VPC template's endpoint list, which must match its resources.
fn check_endpoint_wiring<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    resource: &Resource<'a>,
) {
    let containers = resource
        .property("ContainerDefinitions")
        .and_then(Node::as_list)
        .unwrap_or_default();
    for environment in containers
        .iter()
        .filter_map(|c| c.get("Environment"))
        .filter_map(Node::as_list)
    {
        if let Some(value) = environment
            .iter()
            .find(|variable| {
                variable.get("Name").and_then(Node::as_str) == Some(ENDPOINTS_VARIABLE)
            })
            .and_then(|variable| variable.get("Value"))
        {
            check_endpoints_value(judge, template, resource, value);
        }
    }
}

/// One container's `ISOKIT_ENDPOINTS` value, followed to where it is made.
fn check_endpoints_value<'a>(
    judge: &mut Judge<'a>,
    template: &'a Template,
    resource: &Resource<'a>,
    value: &Node,
) {
    let cold = |judge: &mut Judge<'a>, why: String| {
        judge.find(
            Rule::EndpointNotCreated,
            template,
            resource,
            format!("{ENDPOINTS_VARIABLE} cannot be traced to the VPC stack's endpoints: {why}"),
        );
    };
    let source = match (value.as_text(), value.as_ref_target()) {
        (Some(text), _) => Source::Literal(text),
        (None, Some(parameter)) if template.parameter(parameter).is_some() => {
            match judge.set.source_of(template, parameter) {
                Ok(source) => source,
                Err(why) => return cold(judge, why),
            }
        }
        _ => {
            return cold(
                judge,
                format!("it is set to {value}, neither a list nor a parameter"),
            );
        }
    };
    match source {
        Source::Literal(text) => check_literal_endpoints(judge, &text, template, resource),
        Source::Output {
            template: vpc,
            output,
        } => match check_endpoints_output(vpc, output) {
            Ok(mismatches) => {
                for mismatch in mismatches {
                    judge.find(
                        Rule::EndpointNotCreated,
                        template,
                        resource,
                        format!(
                            "{ENDPOINTS_VARIABLE} comes from {} output {output}, and{mismatch}",
                            vpc.name()
                        ),
                    );
                }
            }
            Err(error) => cold(judge, error.to_string()),
        },
    }
}

/// A list written into the template: each endpoint must be created, and
/// created unconditionally, by some template in the set.
fn check_literal_endpoints(
    judge: &mut Judge<'_>,
    text: &str,
    template: &Template,
    resource: &Resource<'_>,
) {
    let listed = match isokit_endpoints::parse_list(text) {
        Ok(listed) => listed,
        Err(error) => {
            judge.find(
                Rule::EndpointNotCreated,
                template,
                resource,
                format!("{ENDPOINTS_VARIABLE}: {error}"),
            );
            return;
        }
    };
    let created: Vec<_> = judge
        .set
        .0
        .iter()
        .filter_map(|t| endpoints_of_vpc_template(t).ok())
        .flatten()
        .collect();
    for endpoint in listed {
        let message = match created.iter().find(|c| c.endpoint == endpoint) {
            None => format!("{ENDPOINTS_VARIABLE} lists {endpoint}, which no template creates"),
            Some(found) => match &found.condition {
                Some(condition) => format!(
                    "{ENDPOINTS_VARIABLE} lists {endpoint}, which {} creates only when {condition}",
                    found.resource
                ),
                None => continue,
            },
        };
        judge.find(Rule::EndpointNotCreated, template, resource, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::audit;

    /// A VPC creating `endpoints` (the conditional ones under `Wanted`), and
    /// a task whose container runs `image` and logs through `driver`.
    fn set(endpoints: &[(&str, bool)], image: &str, driver: &str) -> Vec<Template> {
        let mut vpc = String::from(
            "Conditions:\n  Wanted: !Equals [a, b]\nResources:\n  VPC:\n    Type: AWS::EC2::VPC\n",
        );
        for (index, (endpoint, conditional)) in endpoints.iter().enumerate() {
            vpc.push_str(&format!(
                "  Endpoint{index}:\n    Type: AWS::EC2::VPCEndpoint\n{}    Properties:\n      \
                 VpcEndpointType: Gateway\n      ServiceName: !Sub com.amazonaws.${{AWS::Region}}.{endpoint}\n",
                if *conditional { "    Condition: Wanted\n" } else { "" }
            ));
        }
        let service = format!(
            "Resources:\n  TaskDefinition:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      \
             ContainerDefinitions:\n        - Name: app\n          Image: {image}\n          \
             LogConfiguration:\n            LogDriver: {driver}\n"
        );
        vec![
            Template::parse("vpc.yml", &vpc).expect("YAML"),
            Template::parse("service.yml", &service).expect("YAML"),
        ]
    }

    fn missing(templates: &[Template]) -> Vec<(String, String)> {
        audit(templates)
            .findings
            .into_iter()
            .filter(|finding| finding.rule == Rule::TaskEndpointMissing)
            .map(|finding| {
                let endpoint = finding.endpoint.map(|e| e.service().to_owned());
                (endpoint.unwrap_or_default(), finding.message)
            })
            .collect()
    }

    const ALL: [(&str, bool); 4] = [
        ("ecr.api", false),
        ("ecr.dkr", false),
        ("s3", false),
        ("logs", false),
    ];

    #[test]
    fn a_task_from_ecr_logging_to_cloudwatch_needs_four_endpoints() {
        assert!(missing(&set(&ALL, "!Ref ImageUri", "awslogs")).is_empty());
        let found = missing(&set(&ALL[..1], "!Ref ImageUri", "awslogs"));
        let endpoints: Vec<&str> = found.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(endpoints, ["ecr.dkr", "s3", "logs"]);
        assert_eq!(
            found[0].1,
            "container app needs the ecr.dkr endpoint (the image's manifest; without it ECS stops \
             the task with CannotPullContainerError), which no template in the set creates"
        );
    }

    #[test]
    fn an_endpoint_created_under_a_condition_is_named_with_it() {
        let endpoints = [
            ("ecr.api", false),
            ("ecr.dkr", true),
            ("s3", false),
            ("logs", false),
        ];
        let found = missing(&set(&endpoints, "!Ref ImageUri", "awslogs"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].1.ends_with(
                "which Endpoint1 creates only when Wanted, and that does not hold with the \
                     values the set gives"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn only_what_the_task_uses_is_needed() {
        // An image from another registry, and another log driver: neither
        // ECR's endpoints nor CloudWatch Logs are needed to start.
        assert!(missing(&set(&[], "public.example/app:1", "json-file")).is_empty());
        let found = missing(&set(
            &ALL[..3],
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1",
            "awslogs",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "logs");
        // A set that does not create its VPC: its endpoints are not known.
        let service_only = set(&[], "!Ref ImageUri", "awslogs").split_off(1);
        assert!(missing(&service_only).is_empty());
    }
}
