//! The catalogue: each cause isokit names, how its messages are recognised,
//! one message AWS wrote for it (with where it was published), what is
//! missing and the fix. The classifier and the README's troubleshooting
//! table both read this list, so they cannot disagree.

use std::fmt;

use crate::text;

/// Why a task stopped. Closed: a message the catalogue does not recognise
/// is [`Cause::Unknown`], which keeps AWS's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// ResourceInitializationError: the ECR API (ecr.api) did not answer
    /// the registry auth token request.
    EcrAuthUnreachable,
    /// ResourceInitializationError: Secrets Manager did not answer.
    SecretsManagerUnreachable,
    /// ResourceInitializationError: Systems Manager (SSM parameters) did
    /// not answer.
    SsmParametersUnreachable,
    /// ResourceInitializationError: CloudWatch Logs did not answer when the
    /// log driver set up the task's log stream.
    LogsUnreachable,
    /// CannotPullContainerError: the registry (ecr.dkr) did not answer.
    RegistryUnreachable,
    /// CannotPullContainerError: the image layers, on ECR's S3 bucket, could
    /// not be downloaded (no S3 gateway route, or no egress to it).
    ImageLayersUnreachable,
    /// CannotPullContainerError: the repository, image or tag does not exist.
    ImageNotFound,
    /// CannotPullContainerError: the image has no variant for the task's
    /// platform.
    ImagePlatformMissing,
    /// The image's binaries are for another CPU architecture than the task's.
    ExecFormatError,
    /// An essential container exited.
    EssentialContainerExited,
    /// A container failed its health check.
    HealthCheckFailed,
    /// A container was killed for exceeding its memory.
    OutOfMemory,
    /// A VPC endpoint policy (or the S3 gateway endpoint's policy) denied.
    EndpointPolicyDenied,
    /// The task execution role's own policies do not allow the call.
    ExecutionRoleDenied,
    /// AWS denied, without saying which policy.
    AccessDenied,
    /// None of the above: AWS's message is all there is.
    Unknown,
}

impl Cause {
    /// A stable, kebab-case name (also its JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::EcrAuthUnreachable => "ecr-auth-unreachable",
            Cause::SecretsManagerUnreachable => "secrets-manager-unreachable",
            Cause::SsmParametersUnreachable => "ssm-parameters-unreachable",
            Cause::LogsUnreachable => "logs-unreachable",
            Cause::RegistryUnreachable => "registry-unreachable",
            Cause::ImageLayersUnreachable => "image-layers-unreachable",
            Cause::ImageNotFound => "image-not-found",
            Cause::ImagePlatformMissing => "image-platform-missing",
            Cause::ExecFormatError => "exec-format-error",
            Cause::EssentialContainerExited => "essential-container-exited",
            Cause::HealthCheckFailed => "health-check-failed",
            Cause::OutOfMemory => "out-of-memory",
            Cause::EndpointPolicyDenied => "endpoint-policy-denied",
            Cause::ExecutionRoleDenied => "execution-role-denied",
            Cause::AccessDenied => "access-denied",
            Cause::Unknown => "unknown",
        }
    }

    /// What went wrong, in a few words, for people.
    pub fn title(self) -> &'static str {
        match self {
            Cause::EcrAuthUnreachable => "ECR API unreachable (registry auth)",
            Cause::SecretsManagerUnreachable => "Secrets Manager unreachable",
            Cause::SsmParametersUnreachable => "SSM parameters unreachable",
            Cause::LogsUnreachable => "CloudWatch Logs unreachable",
            Cause::RegistryUnreachable => "ECR registry unreachable",
            Cause::ImageLayersUnreachable => "image layers unreachable (S3)",
            Cause::ImageNotFound => "image or tag not found",
            Cause::ImagePlatformMissing => "no image for the task's platform",
            Cause::ExecFormatError => "exec format error",
            Cause::EssentialContainerExited => "essential container exited",
            Cause::HealthCheckFailed => "container health check failed",
            Cause::OutOfMemory => "out of memory",
            Cause::EndpointPolicyDenied => "denied by an endpoint policy",
            Cause::ExecutionRoleDenied => "denied by the execution role's policies",
            Cause::AccessDenied => "access denied",
            Cause::Unknown => "unrecognised",
        }
    }

    /// The task never got to run its workload, and every task of this
    /// deployment will stop the same way: a deploy can fail at once.
    /// `Unknown` is decided per task (see [`crate::Diagnosis::is_start_failure`]).
    pub fn is_start_failure(self) -> bool {
        !matches!(
            self,
            Cause::EssentialContainerExited
                | Cause::HealthCheckFailed
                | Cause::OutOfMemory
                | Cause::Unknown
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where ECS (or the task) writes the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// The task's `stoppedReason` (also a service event's "Reason:").
    StoppedReason,
    /// A container's `reason`.
    ContainerReason,
    /// The container's own output, in its log stream.
    ContainerLog,
}

impl Where {
    pub fn describe(self) -> &'static str {
        match self {
            Where::StoppedReason => "stopped reason",
            Where::ContainerReason => "container reason",
            Where::ContainerLog => "container log",
        }
    }
}

/// One cause: how to recognise it, one message AWS wrote for it, what is
/// missing and the fix.
///
/// `fix` may hold placeholders the diagnosis fills in: `{service}` (the
/// endpoint service name), `{region}`, `{platform}` and `{cpu}`.
#[derive(Debug)]
pub struct Entry {
    pub cause: Cause,
    /// The endpoint the cause is about; `None` when it depends on the message.
    pub endpoint: Option<&'static str>,
    pub appears_in: Where,
    /// A message AWS wrote, verbatim.
    pub example: &'static str,
    /// Where that message was published.
    pub source: &'static str,
    pub missing: &'static str,
    pub fix: &'static str,
    matches: fn(&str) -> bool,
}

impl Entry {
    /// Whether `message` (one stopped reason, container reason or log line)
    /// says this cause.
    pub fn matches(&self, message: &str) -> bool {
        (self.matches)(message)
    }
}

const INTERFACE_ENDPOINT_FIX: &str = "Create the interface endpoint {service} with private DNS \
     enabled in the task's subnets; its security group must admit TCP 443 from the tasks.";

/// The catalogue, in the order the classifier tries it: what a message
/// says most precisely first (a policy named, a platform), a bare network
/// failure later, and what a running task says last.
pub static CATALOGUE: [Entry; 15] = [
    Entry {
        cause: Cause::EndpointPolicyDenied,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "Fetching secret data from SSM Parameter Store in us-west-2: AccessDeniedException: User: arn:aws:sts::8XXXXXXXXX0:assumed-role/PLM-ECS-PLMECSTaskExecutionRole-1ELKRFLI7MRK8/ab31f3f626f2442da9bfb200c618e393 is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-west-2:8XXXXXXXXX0:parameter/CFN-PLMSecretParameter-BlcjtHm1Fj7R because no VPC endpoint policy allows the ssm:GetParameters action status code: 400, request id: xx-214b-4704-ad1e-xx",
        source: "https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme",
        missing: "an Allow in the endpoint's policy for the task execution role's call (for the S3 gateway: ECR's layer bucket)",
        fix: "Let the policy of {service} allow the action the message names for the task execution role (the S3 gateway's: `s3:GetObject` on `arn:aws:s3:::prod-{region}-starport-layer-bucket/*`, where ECR keeps image layers).",
        matches: matches_endpoint_policy_denied,
    },
    Entry {
        cause: Cause::ExecutionRoleDenied,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "Fetching secret data from SSM Parameter Store in us-west-2: AccessDeniedException: User: arn:aws:sts::8xxxxxxxxxx0:assumed-role/PLM-ECS-PLMECSTaskExecutionAndTaskRole-1I2VC5SGVU8Y1/5c0a28eeb5fc45828b57e982c940d1ea is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-west-2:8xxxxxxxxxx0:parameter/PLMSecretParameter because no identity-based policy allows the ssm:GetParameters action status code: 400, request id: f2a5572f-3f7a-4cf1-8fdf-be6439d78e97",
        source: "https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme",
        missing: "the permission in the task execution role's IAM policies",
        fix: "Grant the task execution role the action the message names: `AmazonECSTaskExecutionRolePolicy` covers ECR and CloudWatch Logs; secrets need `secretsmanager:GetSecretValue`, parameters `ssm:GetParameters` (and `kms:Decrypt` for a customer key).",
        matches: matches_execution_role_denied,
    },
    Entry {
        cause: Cause::AccessDenied,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: ....",
        source: "https://github.com/aws/copilot-cli/issues/3104",
        missing: "an Allow for the call, in the endpoint's policy or the task execution role's (AWS does not say which)",
        fix: "Check the policy of {service} and the task execution role's IAM policies for the action the message names; CloudTrail's event for the denied call says which policy denied it.",
        matches: matches_access_denied,
    },
    Entry {
        cause: Cause::ImagePlatformMissing,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "CannotPullContainerError: failed to find a descriptor for platform {linux/amd64}",
        source: "https://github.com/aws/containers-roadmap/issues/1120",
        missing: "an image (or manifest list entry) built for the task's platform",
        fix: "Build and push the image for {platform} (`docker buildx build --platform`), or set the task definition's `runtimePlatform.cpuArchitecture` to the image's architecture.",
        matches: matches_image_platform_missing,
    },
    Entry {
        cause: Cause::ImageNotFound,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "CannotPullContainerError: API error (404): repository 111122223333.dkr.ecr.us-east-1.amazonaws.com/<repo>/<image> not found",
        source: "https://github.com/awsdocs/amazon-ecs-developer-guide/blob/master/doc_source/task_cannot_pull_image.md",
        missing: "the repository, or the image's tag or digest, in the registry the task definition names",
        fix: "Check the image URI (account, region, repository, tag or digest) with `aws ecr describe-images`; push the image and deploy the URI `isokit push` printed.",
        matches: matches_image_not_found,
    },
    Entry {
        cause: Cause::ImageLayersUnreachable,
        endpoint: Some("s3"),
        appears_in: Where::StoppedReason,
        // The page's typography turned the quote before the URL into “.
        example: "CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get “https://prod-eu-west-2-starport-layer-bucket.s3.eu-west-2.amazonaws.com/",
        source: "https://eddgrant.com/blog/2023/05/12/aws-connecting-to-a-private-ecr-repository-using-vpc-endpoints.html",
        missing: "the S3 gateway endpoint on the task subnets' route table, or TCP 443 from the tasks to its prefix list",
        fix: "Add the gateway endpoint {service} to the route table of the task's subnets and let the tasks' security group send TCP 443 to its prefix list; its policy must allow `s3:GetObject` on `arn:aws:s3:::prod-{region}-starport-layer-bucket/*`.",
        matches: matches_image_layers_unreachable,
    },
    Entry {
        cause: Cause::RegistryUnreachable,
        endpoint: Some("ecr.dkr"),
        appears_in: Where::StoppedReason,
        example: "CannotPullContainerError: Error response from daemon: Get https://XXXXXXXXXXX.dkr.ecr.eu-west-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)",
        source: "https://github.com/aws/amazon-ecs-agent/issues/2235",
        missing: "the ecr.dkr interface endpoint, its private DNS, or TCP 443 to it from the tasks",
        fix: INTERFACE_ENDPOINT_FIX,
        matches: matches_registry_unreachable,
    },
    Entry {
        cause: Cause::EcrAuthUnreachable,
        endpoint: Some("ecr.api"),
        appears_in: Where::StoppedReason,
        example: "ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR. Check your task network configuration. RequestError: send request failed caused by: Post \"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp 172.40.1.94:443: i/o timeout",
        source: "https://github.com/aws/copilot-cli/issues/5927",
        missing: "the ecr.api interface endpoint, its private DNS, or TCP 443 to it from the tasks",
        fix: INTERFACE_ENDPOINT_FIX,
        matches: matches_ecr_auth_unreachable,
    },
    Entry {
        cause: Cause::SecretsManagerUnreachable,
        endpoint: Some("secretsmanager"),
        appears_in: Where::StoppedReason,
        example: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret arn:aws:secretsmanager:us-west-2:*:secret:DBPasswordSecret-* from secrets manager: RequestCanceled: request context canceled caused by: context deadline exceeded. Please check your task network configuration.",
        source: "https://github.com/Releem/releem-agent/issues/195",
        missing: "the secretsmanager interface endpoint, its private DNS, or TCP 443 to it from the tasks",
        fix: "Create the interface endpoint {service} with private DNS enabled in the task's subnets (isokit's VPC stack: `CreateSecretsManagerEndpoint=true`, which `isokit deploy` sets when the task definition injects Secrets Manager secrets); its security group must admit TCP 443 from the tasks.",
        matches: matches_secrets_manager_unreachable,
    },
    Entry {
        cause: Cause::SsmParametersUnreachable,
        endpoint: Some("ssm"),
        appears_in: Where::StoppedReason,
        example: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 5 time(s): RequestCanceled: request context canceled caused by: context deadli...",
        source: "https://github.com/umotif-public/terraform-aws-ecs-fargate/issues/50",
        missing: "the ssm interface endpoint, its private DNS, or TCP 443 to it from the tasks",
        fix: "Create the interface endpoint {service} with private DNS enabled in the task's subnets (isokit's VPC stack: `CreateSsmEndpoint=true`, which `isokit deploy` sets when the task definition injects SSM parameters); its security group must admit TCP 443 from the tasks.",
        matches: matches_ssm_unreachable,
    },
    Entry {
        cause: Cause::LogsUnreachable,
        endpoint: Some("logs"),
        appears_in: Where::StoppedReason,
        example: "ResourceInitializationError: failed to validate logger args: The task cannot find the Amazon CloudWatch log group defined in the task definition. There is a connection issue between the task and Amazon CloudWatch. Check your network configuration. : signal: killed",
        source: "https://github.com/civiform/civiform/issues/7648",
        missing: "the logs interface endpoint, its private DNS, or TCP 443 to it from the tasks",
        fix: INTERFACE_ENDPOINT_FIX,
        matches: matches_logs_unreachable,
    },
    Entry {
        cause: Cause::OutOfMemory,
        endpoint: None,
        appears_in: Where::ContainerReason,
        example: "OutOfMemoryError: Container killed due to memory usage",
        source: "https://github.com/aws/amazon-ecs-agent/issues/1187",
        missing: "memory: the container used more than its limit (exit code 137, SIGKILL)",
        fix: "Raise the task's or the container's `memory` in the task definition, or make the process use less.",
        matches: text::out_of_memory,
    },
    Entry {
        cause: Cause::ExecFormatError,
        endpoint: None,
        appears_in: Where::ContainerLog,
        example: "exec /usr/local/bin/streamlit: exec format error",
        source: "https://github.com/aws-samples/amazon-bedrock-serverless-prompt-chaining/issues/213",
        missing: "an image built for {cpu}",
        fix: "Rebuild the image for {platform} (`docker buildx build --platform`), or set the task definition's `runtimePlatform.cpuArchitecture` to the image's architecture.",
        matches: text::exec_format_error,
    },
    Entry {
        cause: Cause::HealthCheckFailed,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "Task failed container health checks",
        source: "https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme",
        missing: "a healthy answer to the container's health check command",
        fix: "Read the task's last in-task report: the check fails while the service inside is unhealthy or still starting; check the health check command and its `startPeriod`.",
        matches: text::failed_health_checks,
    },
    Entry {
        cause: Cause::EssentialContainerExited,
        endpoint: None,
        appears_in: Where::StoppedReason,
        example: "Essential container in task exited",
        source: "https://repost.aws/knowledge-center/ecs-task-stopped",
        missing: "a process that keeps running: the container's command exited",
        fix: "Read the container's last log lines for why its command exited; `isokit rehearse` runs the same image locally.",
        matches: text::essential_container_exited,
    },
];

/// The endpoint a message is about, for the causes whose endpoint depends
/// on the message (a denial names the call that was denied). Layers first:
/// their URLs also name a region's S3 host, and their messages name the
/// registry too.
pub(crate) fn endpoint_named_by(message: &str) -> Option<&'static str> {
    if text::about_layers(message) {
        Some("s3")
    } else if text::about_ecr_auth(message) {
        Some("ecr.api")
    } else if text::about_pull(message) || text::names_registry_host(message) {
        Some("ecr.dkr")
    } else if text::about_secrets_manager(message) {
        Some("secretsmanager")
    } else if text::about_ssm(message) {
        Some("ssm")
    } else if text::about_logs(message) {
        Some("logs")
    } else {
        None
    }
}

fn matches_endpoint_policy_denied(message: &str) -> bool {
    // S3 answers a presigned layer URL with a bare 403 only when something
    // between the task and the bucket refused it: in a VPC without internet,
    // the gateway endpoint's policy.
    text::endpoint_policy_denied(message) || (text::about_layers(message) && text::denied(message))
}

fn matches_execution_role_denied(message: &str) -> bool {
    text::identity_policy_denied(message)
}

fn matches_access_denied(message: &str) -> bool {
    text::denied(message)
}

fn matches_image_platform_missing(message: &str) -> bool {
    text::platform_missing(message)
}

fn matches_image_not_found(message: &str) -> bool {
    text::about_pull(message) && text::image_not_found(message)
}

fn matches_image_layers_unreachable(message: &str) -> bool {
    // ECS cuts long reasons short, often inside the presigned URL, before
    // the network error: naming the layer bucket is enough.
    text::about_layers(message)
        && (text::network_failed(message) || text::names_layer_bucket(message))
}

fn matches_registry_unreachable(message: &str) -> bool {
    text::about_pull(message) && text::names_registry_host(message) && text::network_failed(message)
}

fn matches_ecr_auth_unreachable(message: &str) -> bool {
    text::about_ecr_auth(message) && text::network_failed(message)
}

fn matches_secrets_manager_unreachable(message: &str) -> bool {
    text::about_secrets_manager(message) && text::network_failed(message)
}

fn matches_ssm_unreachable(message: &str) -> bool {
    text::about_ssm(message) && text::network_failed(message)
}

fn matches_logs_unreachable(message: &str) -> bool {
    text::about_logs(message) && text::network_failed(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StoppedContainer, StoppedTask, diagnose};

    /// ECS's stopped reason when an essential container stops, whatever
    /// stopped it. Source: https://repost.aws/knowledge-center/ecs-task-stopped
    const ESSENTIAL_EXITED: &str = "Essential container in task exited";

    /// A task reporting `message` where ECS (or the container) writes it.
    fn task_reporting(entry: &Entry) -> StoppedTask {
        let container = |reason: Option<&str>, log_tail: Vec<String>| StoppedContainer {
            name: "app".to_owned(),
            reason: reason.map(str::to_owned),
            log_tail,
            ..StoppedContainer::default()
        };
        let (stopped_reason, container) = match entry.appears_in {
            Where::StoppedReason => (entry.example, container(None, Vec::new())),
            Where::ContainerReason => {
                (ESSENTIAL_EXITED, container(Some(entry.example), Vec::new()))
            }
            Where::ContainerLog => (
                ESSENTIAL_EXITED,
                container(None, vec![entry.example.to_owned()]),
            ),
        };
        StoppedTask {
            stopped_reason: Some(stopped_reason.to_owned()),
            containers: vec![container],
            ..StoppedTask::default()
        }
    }

    #[test]
    fn every_example_is_diagnosed_as_its_own_cause() {
        for entry in &CATALOGUE {
            let diagnosis = diagnose(&task_reporting(entry));
            assert_eq!(diagnosis.cause, entry.cause, "{}", entry.example);
            assert_eq!(diagnosis.aws_message, entry.example);
            assert_eq!(
                diagnosis.is_start_failure(),
                entry.cause.is_start_failure(),
                "{}",
                entry.example
            );
        }
    }

    #[test]
    fn every_cause_but_unknown_has_one_entry() {
        let causes = [
            Cause::EcrAuthUnreachable,
            Cause::SecretsManagerUnreachable,
            Cause::SsmParametersUnreachable,
            Cause::LogsUnreachable,
            Cause::RegistryUnreachable,
            Cause::ImageLayersUnreachable,
            Cause::ImageNotFound,
            Cause::ImagePlatformMissing,
            Cause::ExecFormatError,
            Cause::EssentialContainerExited,
            Cause::HealthCheckFailed,
            Cause::OutOfMemory,
            Cause::EndpointPolicyDenied,
            Cause::ExecutionRoleDenied,
            Cause::AccessDenied,
        ];
        for cause in causes {
            let entries = CATALOGUE
                .iter()
                .filter(|entry| entry.cause == cause)
                .count();
            assert_eq!(entries, 1, "{cause}");
        }
        assert_eq!(CATALOGUE.len(), causes.len());
        assert!(CATALOGUE.iter().all(|entry| entry.cause != Cause::Unknown));
    }

    #[test]
    fn every_entry_cites_a_source_and_says_what_to_do() {
        for entry in &CATALOGUE {
            assert!(entry.source.starts_with("https://"), "{}", entry.cause);
            assert!(
                !entry.missing.is_empty() && !entry.fix.is_empty(),
                "{}",
                entry.cause
            );
            if let Some(endpoint) = entry.endpoint {
                assert!(endpoint.parse::<isokit_endpoints::Endpoint>().is_ok());
            }
        }
    }

    #[test]
    fn the_endpoint_of_a_message_follows_what_it_is_about() {
        // https://github.com/aws/copilot-cli/issues/3104
        let ssm = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: ....";
        assert_eq!(endpoint_named_by(ssm), Some("ssm"));
        // https://github.com/aws/aws-cdk/issues/14457
        let registry = r#"CannotPullContainerError: inspect image has been retried 1 time(s): failed to resolve ref "xxxxx.xxx": unexpected status code [manifests 6981141]: 403 Forbidden"#;
        assert_eq!(endpoint_named_by(registry), Some("ecr.dkr"));
        // https://zenn.dev/carenet/articles/5db608fea5ca51
        let layers = "CannotPullContainerError: failed to copy: httpReadSeeker: failed open: unexpected status code 403 Forbidden";
        assert_eq!(endpoint_named_by(layers), Some("s3"));
        assert_eq!(endpoint_named_by(ESSENTIAL_EXITED), None);
    }
}
