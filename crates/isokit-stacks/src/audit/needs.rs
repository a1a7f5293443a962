//! The endpoints a task definition needs, read from what it asks of ECS:
//! where its image comes from, its log driver, the secrets it injects (and
//! whether a customer managed key encrypts them), ECS Exec on its service,
//! and the EC2 launch type. Both the audit (a task needing an endpoint the
//! VPC lacks) and `isokit deploy` (which endpoints to create) read it here.

use isokit_endpoints::Endpoint;

use super::values::TemplateSet;
use crate::template::{Node, Resource, Template};

/// One endpoint a task needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointNeed {
    pub endpoint: Endpoint,
    /// What the task does through it, and how ECS fails without it.
    pub why: &'static str,
    /// Who needs it: `container app`, or `the task`.
    pub by: String,
}

/// What a task pulls, writes and opens through each endpoint in an isolated
/// VPC, and the error ECS stops the task with without it
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html).
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
const SECRETS_MANAGER: (&str, &str) = (
    "secretsmanager",
    "the Secrets Manager secrets it injects; without it ECS stops the task with \
     ResourceInitializationError",
);
const SSM_PARAMETERS: (&str, &str) = (
    "ssm",
    "the Systems Manager parameters it injects; without it ECS stops the task with \
     ResourceInitializationError",
);
const KMS: (&str, &str) = (
    "kms",
    "decrypting the secrets it injects with the customer managed key the set grants kms:Decrypt \
     on; without it ECS stops the task with ResourceInitializationError",
);
const EXEC: (&str, &str) = (
    "ssmmessages",
    "the ECS Exec sessions its service enables; without it sessions fail with \
     TargetNotConnectedException",
);
const EC2_AGENT: [(&str, &str); 3] = [
    (
        "ecs",
        "the ECS agent's API calls on the EC2 instances it is placed on; without it they never \
         register",
    ),
    (
        "ecs-agent",
        "the ECS agent's connection on the EC2 instances it is placed on; without it they never \
         register",
    ),
    (
        "ecs-telemetry",
        "the ECS agent's metrics on the EC2 instances it is placed on",
    ),
];

/// The endpoints `task` (an `AWS::ECS::TaskDefinition` of `template`)
/// needs, each once, in the order above. An image given through a
/// parameter counts as ECR's, since isokit deploys only ECR images.
pub(super) fn task_needs<'a>(
    set: &TemplateSet<'a>,
    template: &'a Template,
    task: &Resource<'a>,
) -> Vec<EndpointNeed> {
    let mut needs: Vec<EndpointNeed> = Vec::new();
    let mut need = |(endpoint, why): (&str, &'static str), by: &str| {
        let Ok(endpoint) = endpoint.parse::<Endpoint>() else {
            return;
        };
        if !needs.iter().any(|known| known.endpoint == endpoint) {
            needs.push(EndpointNeed {
                endpoint,
                why,
                by: by.to_owned(),
            });
        }
    };
    let containers = task
        .property("ContainerDefinitions")
        .and_then(Node::as_list)
        .unwrap_or_default();
    let mut injects_secrets = false;
    for container in containers {
        // A name given through a parameter is not known here.
        let by = container.get("Name").and_then(Node::as_text).map_or_else(
            || "its container".to_owned(),
            |name| format!("container {name}"),
        );
        let from_ecr = container.get("Image").is_some_and(|image| {
            image
                .as_text()
                .is_none_or(|literal| literal.contains(".dkr.ecr."))
        });
        if from_ecr {
            for pull in ECR_PULL {
                need(pull, &by);
            }
        }
        let log = container.get("LogConfiguration");
        if log
            .and_then(|log| log.get("LogDriver"))
            .and_then(Node::as_str)
            == Some("awslogs")
        {
            need(AWSLOGS, &by);
        }
        let secrets = [
            container.get("Secrets"),
            log.and_then(|log| log.get("SecretOptions")),
        ];
        let sources = secrets
            .into_iter()
            .flatten()
            .filter_map(Node::as_list)
            .flatten()
            .filter_map(|secret| secret.get("ValueFrom"))
            // Private registry credentials are a Secrets Manager secret too.
            .chain(
                container
                    .get("RepositoryCredentials")
                    .and_then(|credentials| credentials.get("CredentialsParameter")),
            );
        for source in sources {
            injects_secrets = true;
            match secret_store(set, template, source) {
                Some(Store::SecretsManager) => need(SECRETS_MANAGER, &by),
                Some(Store::Parameters) => need(SSM_PARAMETERS, &by),
                None => {}
            }
        }
    }
    if injects_secrets && grants_kms_decrypt(set) {
        need(KMS, "the task");
    }
    let services: Vec<Resource<'a>> = template
        .resources()
        .filter(|resource| resource.kind == "AWS::ECS::Service")
        .filter(|service| {
            service
                .property("TaskDefinition")
                .and_then(Node::as_ref_target)
                == Some(task.name)
        })
        .collect();
    let enabled = |service: &Resource<'a>, property: &str, value: &str| {
        service
            .property(property)
            .and_then(|node| set.evaluate(template, node).ok())
            .is_some_and(|text| text.eq_ignore_ascii_case(value))
    };
    if services
        .iter()
        .any(|service| enabled(service, "EnableExecuteCommand", "true"))
    {
        need(EXEC, "its service");
    }
    let on_ec2 = task
        .property("RequiresCompatibilities")
        .and_then(Node::as_list)
        .unwrap_or_default()
        .iter()
        .any(|compatibility| compatibility.as_str() == Some("EC2"))
        || services
            .iter()
            .any(|service| enabled(service, "LaunchType", "EC2"));
    if on_ec2 {
        for agent in EC2_AGENT {
            need(agent, "the task");
        }
    }
    needs
}

/// Where an injected secret is kept.
enum Store {
    SecretsManager,
    Parameters,
}

/// The store a `ValueFrom` names: a Secrets Manager ARN, or a Systems
/// Manager parameter's ARN or name; or a secret or parameter the set
/// creates. `None` when it cannot be told before deployment.
fn secret_store<'a>(
    set: &TemplateSet<'a>,
    template: &'a Template,
    source: &'a Node,
) -> Option<Store> {
    let (template, node) = set.resolve(template, source).ok()?;
    let text = match node.intrinsic() {
        Some(("Fn::Sub", Node::String(text))) => Some(text.clone()),
        Some(("Fn::Sub", Node::List(items))) => items.first().and_then(Node::as_text),
        Some(("Ref", Node::String(target))) => {
            return match template.resource(target)?.kind {
                "AWS::SecretsManager::Secret" => Some(Store::SecretsManager),
                "AWS::SSM::Parameter" => Some(Store::Parameters),
                _ => None,
            };
        }
        Some(_) => None,
        None => node.as_text(),
    }?;
    if text.contains(":secretsmanager:") {
        Some(Store::SecretsManager)
    } else if text.contains(":ssm:") || !text.starts_with("arn:") {
        Some(Store::Parameters)
    } else {
        None
    }
}

/// Whether an IAM policy in the set allows `kms:Decrypt`: what ECS documents
/// adding to the execution role when a customer managed key, rather than the
/// AWS managed one, encrypts the secrets a task injects
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html).
fn grants_kms_decrypt(set: &TemplateSet<'_>) -> bool {
    set.0.iter().flat_map(Template::resources).any(|resource| {
        matches!(
            resource.kind,
            "AWS::IAM::Role" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy"
        ) && resource.properties.walk().into_iter().any(|node| {
            node.as_str()
                .is_some_and(|action| matches!(action, "kms:Decrypt" | "kms:*"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::values::Given;
    use crate::eval::ParameterValues;

    /// The endpoints a one-template set's task definition needs, with `given`
    /// values for its parameters.
    fn needs(text: &str, given: &[(&str, &str)]) -> Vec<String> {
        let templates = [Template::parse("t.yml", text).expect("valid template")];
        let given = Given::new(&given.iter().copied().collect::<ParameterValues>());
        let set = TemplateSet(&templates, &given);
        let task = templates[0].resource("Task").expect("Task");
        task_needs(&set, &templates[0], &task)
            .into_iter()
            .map(|need| need.endpoint.to_string())
            .collect()
    }

    const TASK: &str = "Parameters:\n  Exec: {Type: String, Default: 'false'}\n\
        Conditions:\n  On: !Equals [!Ref Exec, 'true']\nResources:\n  \
        Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      \
        ContainerDefinitions:\n        - Name: app\n          Image: public.example/app:1\n";

    #[test]
    fn secrets_need_their_store_and_a_granted_key_kms() {
        let parameter =
            format!("{TASK}          Secrets:\n            - {{Name: A, ValueFrom: /app/token}}\n");
        assert_eq!(needs(&parameter, &[]), ["ssm"]);
        let both = format!(
            "{TASK}          Secrets:\n            - {{Name: A, ValueFrom: \
             'arn:aws:ssm:eu-west-1:1:parameter/a'}}\n            - {{Name: B, ValueFrom: \
             !Sub 'arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:1:secret:b'}}\n  \
             Role:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies:\n        - \
             PolicyDocument: {{Statement: [{{Effect: Allow, Action: [kms:Decrypt], Resource: '*'}}]}}\n"
        );
        assert_eq!(needs(&both, &[]), ["ssm", "secretsmanager", "kms"]);
    }

    #[test]
    fn exec_and_the_ec2_launch_type_need_their_endpoints_as_deployed() {
        let service = format!(
            "{TASK}  Service:\n    Type: AWS::ECS::Service\n    Properties:\n      \
             TaskDefinition: !Ref Task\n      LaunchType: EC2\n      \
             EnableExecuteCommand: !If [On, true, false]\n"
        );
        assert_eq!(needs(&service, &[]), ["ecs", "ecs-agent", "ecs-telemetry"]);
        assert_eq!(
            needs(&service, &[("Exec", "true")]),
            ["ssmmessages", "ecs", "ecs-agent", "ecs-telemetry"]
        );
        // An image from another registry with no log driver needs nothing.
        assert!(needs(TASK, &[]).is_empty());
    }
}
