//! That the service checks the endpoints the VPC has, and that the tasks
//! find the endpoints they need to start.

use isokit_endpoints::Endpoint;

use super::values::{Source, TemplateSet};
use super::{Judge, Rule};
use crate::endpoints::{check_endpoints_output, endpoints_of_vpc_template};
use crate::template::{Node, Resource, Template};

/// The environment variable the service reads its endpoint list from.
const ENDPOINTS_VARIABLE: &str = isokit_report::variables::ENDPOINTS;

/// A task definition's wiring: its endpoint list and what it needs to start.
pub(super) fn check<'a>(judge: &mut Judge<'a>, template: &'a Template, resource: &Resource<'a>) {
    if resource.kind != "AWS::ECS::TaskDefinition" {
        return;
    }
    check_endpoint_wiring(judge, template, resource);
    for (endpoint, message) in missing_task_endpoints(&judge.set, resource) {
        judge
            .find(Rule::TaskEndpointMissing, template, resource, message)
            .endpoint = Some(endpoint);
    }
}

/// What a task pulls and writes through before its containers run, each
/// with the endpoint that carries it in an isolated VPC and the error ECS
/// stops the task with without it
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html).
const ECR_PULL: [(&str, &str); 3] = [
    (
        "ecr.api",
        "the registry auth token; without it ECS stops the task with ResourceInitializationError",
    ),
    (
        "ecr.dkr",
        "the image's manifest; without it ECS stops the task with CannotPullContainerError",
    ),
    (
        "s3",
        "the image's layers, which ECR keeps in S3; without the gateway endpoint ECS stops the \
         task with CannotPullContainerError",
    ),
];
const AWSLOGS: (&str, &str) = (
    "logs",
    "the awslogs driver's log stream; without it ECS stops the task with \
     ResourceInitializationError",
);

/// The endpoints a task definition needs to start that the VPC the set
/// creates does not create (or creates only under a condition): an image
/// from ECR needs ecr.api, ecr.dkr and s3; the awslogs driver needs logs.
/// An image given through a parameter counts as ECR's, since isokit deploys
/// only ECR images. Checked only for a set that creates its VPC: the
/// endpoints of a VPC made elsewhere cannot be known here.
fn missing_task_endpoints(
    set: &TemplateSet<'_>,
    resource: &Resource<'_>,
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
        .filter_map(|template| endpoints_of_vpc_template(template).ok())
        .flatten()
        .collect();
    let containers = resource
        .property("ContainerDefinitions")
        .and_then(Node::as_list)
        .unwrap_or_default();
    let mut needed: Vec<(&str, &str, String)> = Vec::new();
    let mut need = |(endpoint, why): (&'static str, &'static str), container: String| {
        if !needed.iter().any(|(known, _, _)| *known == endpoint) {
            needed.push((endpoint, why, container));
        }
    };
    for container in containers {
        // A name given through a parameter is not known here.
        let name = container.get("Name").and_then(Node::as_text).map_or_else(
            || "its container".to_owned(),
            |name| format!("container {name}"),
        );
        let from_ecr = match container.get("Image") {
            Some(image) => image
                .as_text()
                .is_none_or(|literal| literal.contains(".dkr.ecr.")),
            None => false,
        };
        if from_ecr {
            for pull in ECR_PULL {
                need(pull, name.clone());
            }
        }
        let driver = container
            .get("LogConfiguration")
            .and_then(|log| log.get("LogDriver"))
            .and_then(Node::as_str);
        if driver == Some("awslogs") {
            need(AWSLOGS, name);
        }
    }
    needed
        .into_iter()
        .filter_map(|(endpoint, why, container)| {
            let endpoint: Endpoint = endpoint.parse().ok()?;
            let lack = match created.iter().find(|c| c.endpoint == endpoint) {
                None => "which no template in the set creates".to_owned(),
                Some(found) => match &found.condition {
                    Some(condition) => {
                        format!("which {} creates only when {condition}", found.resource)
                    }
                    None => return None,
                },
            };
            let message =
                format!("{container} needs the {endpoint} endpoint to start ({why}), {lack}");
            Some((endpoint, message))
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
            "container app needs the ecr.dkr endpoint to start (the image's manifest; without it \
             ECS stops the task with CannotPullContainerError), which no template in the set creates"
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
            found[0]
                .1
                .ends_with("which Endpoint1 creates only when Wanted"),
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
