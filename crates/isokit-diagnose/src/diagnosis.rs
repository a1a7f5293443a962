//! The classifier: a stopped task in, a [`Diagnosis`] out.

use isokit_endpoints::{Endpoint, EndpointKind};

use crate::catalogue::{self, CATALOGUE, Cause, Entry, Where};
use crate::task::{StoppedContainer, StoppedTask};
use crate::text;

/// What stopped a task, what is missing, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    pub cause: Cause,
    /// One line naming what is wrong (no trailing period).
    pub headline: String,
    /// What the task lacked.
    pub missing: String,
    /// What to do: the CLI prints it as a `help:` line.
    pub fix: String,
    /// The endpoint concerned, when there is one.
    pub endpoint: Option<Endpoint>,
    /// The host the task failed to reach, exactly as AWS wrote it.
    pub host: Option<String>,
    /// How the network failed, when it did.
    pub network_failure: Option<NetworkFailure>,
    /// The container concerned, when there is one.
    pub container: Option<String>,
    /// That container's exit code, when it has one.
    pub exit_code: Option<i32>,
    /// AWS's own words: the message the diagnosis was read from.
    pub aws_message: String,
    start_failure: bool,
}

impl Diagnosis {
    /// The task never started its workload, and the tasks after it will stop
    /// the same way: a deploy can fail at once. `false` for a task that ran
    /// and then failed (it exited, ran out of memory, failed its health
    /// check), and for an unrecognised reason unless ECS said the task
    /// failed to start.
    pub fn is_start_failure(&self) -> bool {
        self.start_failure
    }
}

/// How a request from the task failed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkFailure {
    /// No answer in time.
    TimedOut,
    /// The name did not resolve: no private DNS for it in the VPC.
    NoSuchHost,
    /// Something answered and refused or reset the connection.
    Refused,
    /// AWS says the connection failed, without saying how.
    Unreachable,
}

/// One message of a stopped task, and the container that wrote it.
struct Message<'a> {
    text: &'a str,
    container: Option<&'a StoppedContainer>,
    from_log: bool,
}

/// Names the cause of a stopped task from what ECS reported.
///
/// The catalogue is tried in order against the stopped reason, then each
/// container's reason; only the `exec format error` entry reads the
/// containers' log lines, which are the workload's words, not AWS's.
pub fn diagnose(task: &StoppedTask) -> Diagnosis {
    let messages = messages(task);
    CATALOGUE
        .iter()
        .find_map(|entry| {
            messages
                .iter()
                .filter(|message| !message.from_log || entry.appears_in == Where::ContainerLog)
                .find(|message| entry.matches(message.text))
                .map(|message| recognised(entry, message, task))
        })
        .unwrap_or_else(|| unrecognised(task, &messages))
}

fn messages(task: &StoppedTask) -> Vec<Message<'_>> {
    let stopped_reason = task.stopped_reason.as_deref().map(|text| Message {
        text,
        container: None,
        from_log: false,
    });
    let reasons = task.containers.iter().filter_map(|container| {
        container.reason.as_deref().map(|text| Message {
            text,
            container: Some(container),
            from_log: false,
        })
    });
    let log_lines = task.containers.iter().flat_map(|container| {
        container.log_tail.iter().map(move |line| Message {
            text: line,
            container: Some(container),
            from_log: true,
        })
    });
    stopped_reason
        .into_iter()
        .chain(reasons)
        .chain(log_lines)
        .filter(|message| !message.text.trim().is_empty())
        .collect()
}

fn recognised(entry: &Entry, message: &Message<'_>, task: &StoppedTask) -> Diagnosis {
    let container = message
        .container
        .or_else(|| container_concerned(entry, task));
    let endpoint = entry
        .endpoint
        .or_else(|| catalogue::endpoint_named_by(message.text))
        .and_then(|name| name.parse::<Endpoint>().ok());
    let network = Network::read(message.text);
    let context = Context {
        task,
        endpoint: endpoint.as_ref(),
        container,
        platform: text::platform(message.text),
    };
    let mut fix = context.fill(entry.fix);
    if let Some(note) = foreign_host_note(&context, network.host) {
        fix.push(' ');
        fix.push_str(&note);
    }
    Diagnosis {
        cause: entry.cause,
        headline: format!("{}{}", context.headline(entry.cause), network.suffix()),
        missing: context.fill(entry.missing),
        fix,
        endpoint,
        host: network.host.map(str::to_owned),
        network_failure: network.failure,
        container: container.map(|container| container.name.clone()),
        exit_code: container.and_then(|container| container.exit_code),
        aws_message: message.text.to_owned(),
        start_failure: entry.cause.is_start_failure(),
    }
}

/// The container a task-level message is about: the one whose own reason
/// says the same, else the one that exited with an error or is unhealthy.
fn container_concerned<'a>(entry: &Entry, task: &'a StoppedTask) -> Option<&'a StoppedContainer> {
    let containers = &task.containers;
    let same_reason = || {
        containers.iter().find(|container| {
            container
                .reason
                .as_deref()
                .is_some_and(|reason| entry.matches(reason))
        })
    };
    let exited_with_error = || {
        containers
            .iter()
            .find(|container| container.exit_code.is_some_and(|code| code != 0))
            .or_else(|| {
                containers
                    .iter()
                    .find(|container| container.exit_code.is_some())
            })
    };
    let unhealthy = || {
        containers.iter().find(|container| {
            container
                .health_status
                .as_deref()
                .is_some_and(|status| status.eq_ignore_ascii_case("UNHEALTHY"))
        })
    };
    match entry.cause {
        Cause::EssentialContainerExited => same_reason().or_else(exited_with_error),
        Cause::HealthCheckFailed => same_reason().or_else(unhealthy),
        _ => same_reason(),
    }
}

fn unrecognised(task: &StoppedTask, messages: &[Message<'_>]) -> Diagnosis {
    let message = messages.iter().find(|message| !message.from_log);
    let text = message.map_or("", |message| message.text);
    let network = Network::read(text);
    let headline = if text.is_empty() {
        "ECS stopped the task without saying why".to_owned()
    } else {
        format!(
            "ECS stopped the task for a reason isokit does not recognise{}",
            network.suffix()
        )
    };
    Diagnosis {
        cause: Cause::Unknown,
        headline,
        missing: "unknown: AWS's message is all there is".to_owned(),
        fix: "Read AWS's message; `isokit rehearse` runs the task locally in a network built \
              like the isolated VPC."
            .to_owned(),
        endpoint: catalogue::endpoint_named_by(text).and_then(|name| name.parse().ok()),
        host: network.host.map(str::to_owned),
        network_failure: network.failure,
        container: message
            .and_then(|message| message.container)
            .map(|container| container.name.clone()),
        exit_code: message
            .and_then(|message| message.container)
            .and_then(|container| container.exit_code),
        aws_message: text.to_owned(),
        start_failure: task.failed_to_start() || names_a_start_error(text),
    }
}

/// The errors ECS reports for a task that did not get to run its containers.
fn names_a_start_error(text: &str) -> bool {
    const START_ERRORS: [&str; 6] = [
        "CannotPullContainerError",
        "CannotPullECRContainerError",
        "ResourceInitializationError",
        "CannotCreateContainerError",
        "CannotStartContainerError",
        "TaskFailedToStart",
    ];
    START_ERRORS.iter().any(|error| text.contains(error))
}

/// What a message says about the network.
struct Network<'a> {
    failure: Option<NetworkFailure>,
    host: Option<&'a str>,
}

impl<'a> Network<'a> {
    fn read(message: &'a str) -> Self {
        if !text::network_failed(message) {
            return Network {
                failure: None,
                host: None,
            };
        }
        let failure = if text::no_such_host(message) {
            NetworkFailure::NoSuchHost
        } else if text::timed_out(message) {
            NetworkFailure::TimedOut
        } else if text::refused(message) {
            NetworkFailure::Refused
        } else {
            NetworkFailure::Unreachable
        };
        Network {
            failure: Some(failure),
            host: text::host(message),
        }
    }

    fn suffix(&self) -> String {
        let Some(host) = self.host else {
            return String::new();
        };
        match self.failure {
            Some(NetworkFailure::TimedOut) => format!(": `{host}` timed out"),
            Some(NetworkFailure::NoSuchHost) => format!(": `{host}` has no DNS answer"),
            Some(NetworkFailure::Refused) => format!(": `{host}` refused the connection"),
            _ => format!(": `{host}` did not answer"),
        }
    }
}

/// What a diagnosis's words are filled in with.
struct Context<'a> {
    task: &'a StoppedTask,
    endpoint: Option<&'a Endpoint>,
    container: Option<&'a StoppedContainer>,
    /// The platform the message names, which beats the one the task's
    /// architecture implies (the message says what was looked for).
    platform: Option<&'a str>,
}

impl Context<'_> {
    fn region(&self) -> &str {
        self.task.region.as_deref().unwrap_or("<region>")
    }

    fn endpoint_name(&self) -> &str {
        self.endpoint.map_or("an endpoint", Endpoint::service)
    }

    /// "container `name`" (after `kind`), or "a container" when no
    /// container is known.
    fn container(&self, kind: &str) -> String {
        match self.container {
            Some(container) => format!("{kind}container `{}`", container.name),
            None if kind.is_empty() => "a container".to_owned(),
            None => format!("an {kind}container"),
        }
    }

    fn platform(&self) -> Option<&str> {
        self.platform.or_else(|| {
            self.task
                .cpu_architecture
                .map(|architecture| architecture.platform())
        })
    }

    fn headline(&self, cause: Cause) -> String {
        let endpoint = self.endpoint_name();
        match cause {
            Cause::EcrAuthUnreachable => {
                "ECS cannot reach the ECR API (ecr.api) for the registry auth token".to_owned()
            }
            Cause::SecretsManagerUnreachable => {
                "ECS cannot reach Secrets Manager (secretsmanager) for the task's secrets"
                    .to_owned()
            }
            Cause::SsmParametersUnreachable => {
                "ECS cannot reach Systems Manager (ssm) for the task's parameters".to_owned()
            }
            Cause::LogsUnreachable => {
                "ECS cannot reach CloudWatch Logs (logs) to set up the task's log stream".to_owned()
            }
            Cause::RegistryUnreachable => {
                "ECS cannot reach the ECR registry (ecr.dkr) to pull the image".to_owned()
            }
            Cause::ImageLayersUnreachable => {
                "ECS cannot download the image layers from ECR's S3 bucket (s3 gateway endpoint)"
                    .to_owned()
            }
            Cause::ImageNotFound => {
                "the image's repository, tag or digest does not exist".to_owned()
            }
            Cause::ImagePlatformMissing => match self.platform() {
                Some(platform) => format!("the image has no variant for {platform}"),
                None => "the image has no variant for the task's platform".to_owned(),
            },
            Cause::ExecFormatError => match self.task.cpu_architecture {
                Some(architecture) => format!(
                    "the image is not built for the task's CPU architecture, {architecture} ({})",
                    architecture.platform()
                ),
                None => "the image is not built for the task's CPU architecture".to_owned(),
            },
            Cause::EssentialContainerExited => match self.container.and_then(|c| c.exit_code) {
                Some(code) => format!("{} exited with code {code}", self.container("essential ")),
                None => format!("{} exited", self.container("essential ")),
            },
            Cause::HealthCheckFailed => format!("{} failed its health checks", self.container("")),
            Cause::OutOfMemory => {
                format!(
                    "{} was killed for using more memory than its limit",
                    self.container("")
                )
            }
            Cause::EndpointPolicyDenied => {
                format!("the {endpoint} VPC endpoint's policy denied the task's request")
            }
            Cause::ExecutionRoleDenied => {
                format!("the task execution role is not allowed the call to {endpoint}")
            }
            Cause::AccessDenied => format!(
                "AWS denied the task's request to {endpoint} (without saying which policy denied it)"
            ),
            Cause::Unknown => {
                "ECS stopped the task for a reason isokit does not recognise".to_owned()
            }
        }
    }

    /// Fills a catalogue text's placeholders.
    fn fill(&self, template: &str) -> String {
        let service = self.endpoint.map_or_else(
            || "the endpoint concerned".to_owned(),
            |endpoint| format!("`{}`", endpoint.vpc_service_name(self.region())),
        );
        let platform = self.platform().map_or_else(
            || "the task's platform".to_owned(),
            |platform| format!("`{platform}`"),
        );
        let cpu = self.task.cpu_architecture.map_or_else(
            || "the task's CPU architecture".to_owned(),
            |architecture| format!("`{architecture}`"),
        );
        template
            .replace("{service}", &service)
            .replace("{region}", self.region())
            .replace("{platform}", &platform)
            .replace("{cpu}", &cpu)
    }
}

/// Fills a catalogue text's placeholders for `task`, outside a diagnosis.
pub(crate) fn fill(template: &str, task: &StoppedTask, endpoint: Option<&str>) -> String {
    let endpoint = endpoint.and_then(|name| name.parse::<Endpoint>().ok());
    Context {
        task,
        endpoint: endpoint.as_ref(),
        container: None,
        platform: None,
    }
    .fill(template)
}

/// An interface endpoint answers only its own region's host names; a host
/// from another region (an image URI or `awslogs-region` naming another
/// region) is never served by this VPC's endpoints.
fn foreign_host_note(context: &Context<'_>, host: Option<&str>) -> Option<String> {
    let region = context.task.region.as_deref()?;
    let endpoint = context.endpoint?;
    let host = host?;
    if endpoint.kind() != EndpointKind::Interface {
        return None;
    }
    // With an empty account, the registry's name is `.dkr.ecr.<region>...`:
    // the suffix every account's registry host ends with.
    let expected = endpoint.hostname(region, "");
    let in_region = host == expected || host.ends_with(&expected);
    (!in_region).then(|| {
        format!(
            "The message names `{host}`, which is not {region}'s {} host name \
             (`{expected}`): check the region and account the task definition points at.",
            endpoint.service()
        )
    })
}

#[cfg(test)]
mod tests {
    //! Every message fed to the classifier here was written by AWS (ECS, its
    //! agent, or the kernel inside a task) and published where the comment
    //! beside it says; variations (accounts, IPs, redactions, truncation by
    //! ECS or by the person who posted it) are kept as published.

    use super::*;
    use crate::CpuArchitecture;

    fn stopped_with(reason: &str) -> StoppedTask {
        StoppedTask {
            stopped_reason: Some(reason.to_owned()),
            ..StoppedTask::default()
        }
    }

    fn in_region(reason: &str, region: &str) -> StoppedTask {
        StoppedTask {
            region: Some(region.to_owned()),
            ..stopped_with(reason)
        }
    }

    fn container(name: &str) -> StoppedContainer {
        StoppedContainer {
            name: name.to_owned(),
            ..StoppedContainer::default()
        }
    }

    /// Source: https://repost.aws/knowledge-center/ecs-task-stopped
    const ESSENTIAL_EXITED: &str = "Essential container in task exited";

    #[track_caller]
    fn assert_cause(reason: &str, cause: Cause) -> Diagnosis {
        let diagnosis = diagnose(&stopped_with(reason));
        assert_eq!(diagnosis.cause, cause, "{reason}");
        diagnosis
    }

    #[test]
    fn ecr_auth_timeouts_name_ecr_api_in_every_wording() {
        // The wording before 2024, its IP hidden by the poster.
        // https://github.com/doctorray117/minecraft-ondemand/issues/74
        let diagnosis = assert_cause(
            r#"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post "https://api.ecr.us-east-2.amazonaws.com/": dial tcp [ANIPADDRESSIDONTWANTTOSHARE]: i/o timeout. Please check your task network configuration."#,
            Cause::EcrAuthUnreachable,
        );
        assert_eq!(
            diagnosis.host.as_deref(),
            Some("api.ecr.us-east-2.amazonaws.com")
        );
        assert_eq!(diagnosis.network_failure, Some(NetworkFailure::TimedOut));
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ecr.api")
        );
        assert!(diagnosis.is_start_failure());
        assert!(
            diagnosis
                .headline
                .ends_with(": `api.ecr.us-east-2.amazonaws.com` timed out")
        );

        // Cut short by the console: the host is not quoted half.
        // https://github.com/aws/aws-app-mesh-examples/issues/413
        let diagnosis = assert_cause(
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 5 time(s): RequestError: send request failed caused by: Post https://api.ecr....",
            Cause::EcrAuthUnreachable,
        );
        assert_eq!(diagnosis.host, None);

        // The ECS agent on EC2 container instances.
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let diagnosis = assert_cause(
            r#"CannotPullECRContainerError: RequestError: send request failed caused by: Post "https://api.ecr.us-west-2.amazonaws.com/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"#,
            Cause::EcrAuthUnreachable,
        );
        assert_eq!(
            diagnosis.host.as_deref(),
            Some("api.ecr.us-west-2.amazonaws.com")
        );
    }

    #[test]
    fn the_fix_names_the_endpoint_service_of_the_task_region() {
        // https://github.com/aws/copilot-cli/issues/5927
        let reason = r#"ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR. Check your task network configuration. RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 172.40.1.94:443: i/o timeout"#;
        let diagnosis = diagnose(&in_region(reason, "us-east-1"));
        assert!(
            diagnosis.fix.contains("`com.amazonaws.us-east-1.ecr.api`"),
            "{}",
            diagnosis.fix
        );
        assert!(
            !diagnosis.fix.contains("not us-east-1's"),
            "{}",
            diagnosis.fix
        );

        // The same message seen from a task in another region: no endpoint
        // of this VPC serves that host.
        let diagnosis = diagnose(&in_region(reason, "eu-west-1"));
        assert!(
            diagnosis.fix.contains(
                "`api.ecr.us-east-1.amazonaws.com`, which is not eu-west-1's ecr.api host name"
            ),
            "{}",
            diagnosis.fix
        );
    }

    #[test]
    fn registry_failures_name_ecr_dkr_and_quote_the_host_as_written() {
        // https://github.com/awsdocs/amazon-ecs-developer-guide/blob/master/doc_source/task_cannot_pull_image.md
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: API error (500): Get https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection""#,
            Cause::RegistryUnreachable,
        );
        assert_eq!(
            diagnosis.host.as_deref(),
            Some("111122223333.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ecr.dkr")
        );

        // A misspelt registry host, quoted as AWS wrote it, and flagged as
        // no host the region's endpoint serves.
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let reason = r#"CannotPullContainerError: Error response from daemon: Get "https://8xxxxxxxxxx0.dkr.ecr.us-west-2.amazonawss.com/v2/": dial tcp 3.33.139.32:443: i/o timeout"#;
        let diagnosis = diagnose(&in_region(reason, "us-west-2"));
        assert_eq!(diagnosis.cause, Cause::RegistryUnreachable);
        assert_eq!(
            diagnosis.host.as_deref(),
            Some("8xxxxxxxxxx0.dkr.ecr.us-west-2.amazonawss.com")
        );
        assert!(
            diagnosis.fix.contains("not us-west-2's ecr.dkr host name"),
            "{}",
            diagnosis.fix
        );

        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: Error response from daemon: Get "https://8xxxxxxxxxx0.dkr.ecr.us-west-2.amazonaws.commmmm/v2/": dial tcp: lookup 8xxxxxxxxxx0.dkr.ecr.us-west-2.amazonaws.commmmm on 10.0.0.2:53: no such host"#,
            Cause::RegistryUnreachable,
        );
        assert_eq!(diagnosis.network_failure, Some(NetworkFailure::NoSuchHost));
        assert!(
            diagnosis.headline.ends_with("has no DNS answer"),
            "{}",
            diagnosis.headline
        );
    }

    #[test]
    fn registries_outside_aws_are_not_blamed_on_ecr_dkr() {
        // https://github.com/deepfence/terraform-aws-cloud-scanner/issues/13
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref quay.io/deepfenceio/cloud-scanner:latest: failed to do request: Head "https://quay.io/v2/deepfenceio/cloud-scanner/manifests/latest": dial tcp 3.210.148.47:443: i/o timeout"#,
            Cause::Unknown,
        );
        assert_eq!(diagnosis.host.as_deref(), Some("quay.io"));
        assert!(diagnosis.is_start_failure());

        // https://github.com/ActionIQ/terraform-aws-retool-ecs-fargate/issues/20
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/tryretool/backend:2.110.5: failed to do request: Head "https://registry-1.docker.io/v2/tryretool/backend/manifests/2.110.5": dial tcp 34.205.13.154:443: i/o timeout"#,
            Cause::Unknown,
        );
        assert_eq!(diagnosis.host.as_deref(), Some("registry-1.docker.io"));
    }

    #[test]
    fn layer_downloads_are_the_s3_gateway_not_the_registry() {
        // https://eddgrant.com/blog/2023/05/12/aws-connecting-to-a-private-ecr-repository-using-vpc-endpoints.html
        let diagnosis = assert_cause(
            "CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get “https://prod-eu-west-2-starport-layer-bucket.s3.eu-west-2.amazonaws.com/",
            Cause::ImageLayersUnreachable,
        );
        assert_eq!(
            diagnosis.host.as_deref(),
            Some("prod-eu-west-2-starport-layer-bucket.s3.eu-west-2.amazonaws.com")
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("s3")
        );

        // A failed copy that names neither a status, a host nor a network
        // failure is not guessed at.
        // https://github.com/awsdocs/amazon-ecs-developer-guide/blob/master/doc_source/task_cannot_pull_image.md
        assert_cause(
            "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReaderSeeker: failed open: unexpected status code",
            Cause::Unknown,
        );
    }

    #[test]
    fn a_refused_layer_download_is_the_s3_gateway_policy() {
        // https://zenn.dev/carenet/articles/5db608fea5ca51
        let diagnosis = assert_cause(
            "CannotPullContainerError: failed to copy: httpReadSeeker: failed open: unexpected status code 403 Forbidden",
            Cause::EndpointPolicyDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("s3")
        );
        assert!(
            diagnosis.fix.contains("starport-layer-bucket"),
            "{}",
            diagnosis.fix
        );

        // Docker's wording (Fargate platform 1.3), S3's XML answer quoted.
        // https://qiita.com/wildeagle/items/72dab00a16f11f9671d5
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: error pulling image configuration: error parsing HTTP 403 response body: invalid character '<' looking for beginning of value: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>....."#,
            Cause::EndpointPolicyDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("s3")
        );
    }

    #[test]
    fn denials_say_which_policy_denied_when_aws_does() {
        // The agent's log shows the reason with its line break and tab
        // escaped; the reason itself holds them.
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let diagnosis = assert_cause(
            "CannotPullECRContainerError: AccessDeniedException: User: arn:aws:sts::8xxxxxxxxxx0:assumed-role/PLM-ECS-PLMECSTaskExecutionAndTaskRole-1I2VC5SGVU8Y1/8ff4fbc265ee40bba57f8f709c43fef3 is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no VPC endpoint policy allows the ecr:GetAuthorizationToken action\n\tstatus code: 400, request id: 3d181671-2223-4f93-914b-92c606357e06",
            Cause::EndpointPolicyDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ecr.api")
        );
        assert!(diagnosis.is_start_failure());

        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let diagnosis = assert_cause(
            "CannotPullECRContainerError: AccessDeniedException: User: arn:aws:sts::8xxxxxxxxxx0:assumed-role/PLM-ECS-PLMECSTaskExecutionAndTaskRole-1I2VC5SGVU8Y1/0565d0c4e65d46b6be9a2f5fdcdc0a9f is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allowsthe ecr:GetAuthorizationToken action\n\tstatus code: 400, request id: 5f798344-1a05-44bc-ba39-41629df40791",
            Cause::ExecutionRoleDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ecr.api")
        );

        // A denial that names no policy is not pinned on the endpoint.
        // https://github.com/doctorray117/minecraft-ondemand/issues/12
        let diagnosis = assert_cause(
            "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: AccessDeniedException: User: arn:aws:sts::zzzzzzzzzzzz:assumed-role/ecs.task.minecraft-server/123456a999ee4b919...",
            Cause::AccessDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("logs")
        );

        // https://github.com/aws/aws-cdk/issues/14457
        let diagnosis = assert_cause(
            r#"CannotPullContainerError: inspect image has been retried 1 time(s): failed to resolve ref "xxxxx.xxx": unexpected status code [manifests 6981141]: 403 Forbidden"#,
            Cause::AccessDenied,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ecr.dkr")
        );
    }

    #[test]
    fn secrets_and_parameters_name_their_endpoint_only_when_the_network_failed() {
        // https://github.com/aws/copilot-cli/issues/4834
        let diagnosis = assert_cause(
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 5 time(s): RequestCanceled: request context canceled caused by: context deadline exceeded. Please check your task network configuration.",
            Cause::SsmParametersUnreachable,
        );
        assert_eq!(diagnosis.network_failure, Some(NetworkFailure::TimedOut));
        assert_eq!(diagnosis.host, None);

        // A parameter that does not exist is not a missing endpoint.
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let diagnosis = assert_cause(
            "Fetching secret data from SSM Parameter Store in us-west-2: invalid parameters: /PLMSecretParameter",
            Cause::Unknown,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("ssm")
        );

        // A secret that is not JSON is not a missing endpoint either.
        // https://github.com/rileydakota/valheim-ecs-fargate-cdk/issues/9
        assert_cause(
            r"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): invalid character '\'' looking for beginning of value",
            Cause::Unknown,
        );

        // Private registry credentials come from Secrets Manager, not ECR;
        // cut short before the reason, so nothing is guessed.
        // https://github.com/aws-samples/keycloak-on-aws/issues/222
        let diagnosis = assert_cause(
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to get registry auth from asm: service call has been retried 5 time(s): asm fetching secret from the service for ...",
            Cause::Unknown,
        );
        assert_eq!(
            diagnosis.endpoint.as_ref().map(Endpoint::service),
            Some("secretsmanager")
        );
        assert!(diagnosis.is_start_failure());
    }

    #[test]
    fn log_driver_failures_name_the_logs_endpoint_only_when_the_network_failed() {
        // https://gist.github.com/bradleybeddoes
        assert_cause(
            "ResourceInitializationError: failed to validate logger args: : signal: killed",
            Cause::LogsUnreachable,
        );
        // A log group that does not exist is not a missing endpoint.
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        assert_cause(
            "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.",
            Cause::Unknown,
        );
        // Nor is a misconfigured awslogs-region.
        // https://github.com/TechToSpeech/terraform-aws-serverless-static-wordpress/issues/74
        assert_cause(
            "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: MissingEndpoint: 'Endpoint' configuration is required for t",
            Cause::Unknown,
        );
    }

    #[test]
    fn platforms_are_named_from_the_message_or_the_task() {
        // As a service event.
        // https://github.com/aviswerdlow/relay/issues/71
        let diagnosis = assert_cause(
            "(service relay-temporal-worker) was unable to place a task. Reason: CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform 'linux/amd64'.",
            Cause::ImagePlatformMissing,
        );
        assert!(
            diagnosis.headline.contains("linux/amd64"),
            "{}",
            diagnosis.headline
        );

        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        assert_cause(
            "CannotPullContainerError: no matching manifest for linux/amd64 in the manifest list entries",
            Cause::ImagePlatformMissing,
        );

        // The platform printed as a Go pointer: the task's architecture says it.
        // https://github.com/hashicorp/consul-ecs/issues/64
        let task = StoppedTask {
            cpu_architecture: Some(CpuArchitecture::Arm64),
            ..stopped_with(
                "CannotPullContainerError failed to find a descriptor for platform 0xc0004d52c0 0xc0004d5320",
            )
        };
        let diagnosis = diagnose(&task);
        assert_eq!(diagnosis.cause, Cause::ImagePlatformMissing);
        assert!(
            diagnosis.headline.ends_with("linux/arm64"),
            "{}",
            diagnosis.headline
        );
        assert!(diagnosis.fix.contains("`linux/arm64`"), "{}", diagnosis.fix);
    }

    #[test]
    fn missing_images_and_tags_are_named() {
        // https://github.com/aws/containers-roadmap/issues/2687
        assert_cause(
            "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 12345678-eu-west-1.amazonaws.com/example-service:example-image:image-tag@sha256:sha digest: not found",
            Cause::ImageNotFound,
        );
        // https://github.com/CircleCI-Public/circleci-demo-aws-ecs-ecr/issues/4
        assert_cause(
            "CannotPullContainerError: Error response from daemon: manifest for nginx:0f6b3cdf5e24f0da3dd932acd84fd90e9786a522 not found",
            Cause::ImageNotFound,
        );
    }

    #[test]
    fn out_of_memory_beats_the_exit_it_caused_whatever_the_exit_code() {
        // Reason: https://github.com/aws/amazon-ecs-agent/issues/1187 (exit
        // code 137); exit code 0 with the same reason:
        // https://github.com/aws/amazon-ecs-agent/issues/2467
        for exit_code in [137, 0] {
            let task = StoppedTask {
                stopped_reason: Some(ESSENTIAL_EXITED.to_owned()),
                stop_code: Some("EssentialContainerExited".to_owned()),
                containers: vec![
                    StoppedContainer {
                        exit_code: Some(0),
                        ..container("sidecar")
                    },
                    StoppedContainer {
                        reason: Some(
                            "OutOfMemoryError: Container killed due to memory usage".to_owned(),
                        ),
                        exit_code: Some(exit_code),
                        ..container("app")
                    },
                ],
                ..StoppedTask::default()
            };
            let diagnosis = diagnose(&task);
            assert_eq!(diagnosis.cause, Cause::OutOfMemory);
            assert_eq!(diagnosis.container.as_deref(), Some("app"));
            assert_eq!(diagnosis.exit_code, Some(exit_code));
            assert!(!diagnosis.is_start_failure());
        }
    }

    #[test]
    fn exec_format_errors_are_read_from_the_log_and_name_the_architecture() {
        // https://github.com/aws/copilot-cli/issues/6095
        // https://github.com/runatlantis/atlantis/issues/2001
        for line in [
            "exec /docker-entrypoint.sh: exec format error",
            "standard_init_linux.go:228: exec user process caused: exec format error",
        ] {
            let task = StoppedTask {
                stopped_reason: Some(ESSENTIAL_EXITED.to_owned()),
                cpu_architecture: Some(CpuArchitecture::Arm64),
                containers: vec![StoppedContainer {
                    exit_code: Some(1),
                    log_tail: vec![line.to_owned()],
                    ..container("app")
                }],
                ..StoppedTask::default()
            };
            let diagnosis = diagnose(&task);
            assert_eq!(diagnosis.cause, Cause::ExecFormatError, "{line}");
            assert!(
                diagnosis.headline.contains("ARM64 (linux/arm64)"),
                "{}",
                diagnosis.headline
            );
            assert!(
                diagnosis.missing.contains("`ARM64`"),
                "{}",
                diagnosis.missing
            );
            assert_eq!(diagnosis.exit_code, Some(1));
            assert!(diagnosis.is_start_failure());
        }
    }

    #[test]
    fn log_lines_are_read_for_exec_format_errors_only() {
        // AWS's words, but written by the workload into its own log: they
        // say nothing about why ECS stopped the task.
        // https://github.com/aws/copilot-cli/issues/3104
        let task = StoppedTask {
            stopped_reason: Some(ESSENTIAL_EXITED.to_owned()),
            containers: vec![StoppedContainer {
                exit_code: Some(2),
                log_tail: vec!["ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: ....".to_owned()],
                ..container("app")
            }],
            ..StoppedTask::default()
        };
        let diagnosis = diagnose(&task);
        assert_eq!(diagnosis.cause, Cause::EssentialContainerExited);
        assert_eq!(
            diagnosis.headline,
            "essential container `app` exited with code 2"
        );
        assert!(!diagnosis.is_start_failure());
    }

    #[test]
    fn health_check_failures_name_the_unhealthy_container() {
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let task = StoppedTask {
            stopped_reason: Some("Task failed container health checks".to_owned()),
            containers: vec![
                StoppedContainer {
                    health_status: Some("HEALTHY".to_owned()),
                    ..container("sidecar")
                },
                StoppedContainer {
                    health_status: Some("UNHEALTHY".to_owned()),
                    ..container("service")
                },
            ],
            ..StoppedTask::default()
        };
        let diagnosis = diagnose(&task);
        assert_eq!(diagnosis.cause, Cause::HealthCheckFailed);
        assert_eq!(diagnosis.container.as_deref(), Some("service"));
        assert_eq!(
            diagnosis.headline,
            "container `service` failed its health checks"
        );
        assert!(!diagnosis.is_start_failure());

        // Without the task's containers, no container is named.
        let diagnosis = assert_cause(
            "Task failed container health checks",
            Cause::HealthCheckFailed,
        );
        assert_eq!(diagnosis.headline, "a container failed its health checks");
        let diagnosis = assert_cause(ESSENTIAL_EXITED, Cause::EssentialContainerExited);
        assert_eq!(diagnosis.headline, "an essential container exited");
    }

    #[test]
    fn unrecognised_reasons_fail_fast_only_when_the_task_never_started() {
        // https://github.com/dushyant8858/Troubleshoot-ECS-Task-Stopped#readme
        let reason = "Fetching secret data from SSM Parameter Store in us-west-2: invalid parameters: /PLMSecretParameter";
        let diagnosis = diagnose(&stopped_with(reason));
        assert_eq!(diagnosis.cause, Cause::Unknown);
        assert_eq!(diagnosis.aws_message, reason);
        assert!(!diagnosis.is_start_failure());

        let diagnosis = diagnose(&StoppedTask {
            stop_code: Some("TaskFailedToStart".to_owned()),
            ..stopped_with(reason)
        });
        assert!(diagnosis.is_start_failure());

        // Start errors are recognised by name whatever their stop code.
        // https://github.com/docker-archive/compose-cli/issues/1510
        let diagnosis = assert_cause(
            "TaskFailedToStart: ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:eu-west-1:123456789...",
            Cause::Unknown,
        );
        assert!(diagnosis.is_start_failure());

        let silent = diagnose(&StoppedTask::default());
        assert_eq!(silent.cause, Cause::Unknown);
        assert_eq!(silent.headline, "ECS stopped the task without saying why");
    }

    #[test]
    fn diagnoses_serialise_for_scripts() {
        // https://github.com/aws/copilot-cli/issues/5927
        let diagnosis = diagnose(&in_region(
            r#"ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR. Check your task network configuration. RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 172.40.1.94:443: i/o timeout"#,
            "us-east-1",
        ));
        let json = serde_json::to_value(&diagnosis).expect("a diagnosis serialises");
        assert_eq!(json["cause"], "ecr-auth-unreachable");
        assert_eq!(json["endpoint"], "ecr.api");
        assert_eq!(json["host"], "api.ecr.us-east-1.amazonaws.com");
        assert_eq!(json["network_failure"], "timed-out");
        assert_eq!(json["start_failure"], true);
    }
}
