//! `isokit deploy` and `isokit teardown`: the bundled stacks deployed and
//! removed through the SAM CLI, with the checks that make a bad deployment
//! fail in seconds instead of at a stack timeout, and the operation followed
//! through CloudFormation's stack events, which also say what failed.

mod dependencies;
mod halt;
mod preview;
mod progress;
mod remains;
mod reports;
mod retained;
mod rollout;
pub mod sam;
mod service_role;
mod template_folder;
mod zones;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use isokit_aws::{Aws, FirstFailure, ImageUri, Stack, StackStatus, StackStatusExt};
use isokit_endpoints::{Endpoint, EndpointCost};
use isokit_stacks::{AuditReport, Finding, ParameterValues, Rule, Severity, StackSet};
use isokit_ui::{StopSignal, StopSignals, Ui};
use isokit_watch::{RunningTask, ServiceStack};
use serde::Serialize;

pub use isokit_diagnose::CpuArchitecture;

pub use crate::halt::{StackAction, StackLeft};
pub use crate::preview::{ParameterChange, Preview, PreviewChange, preview};
use crate::progress::Progress;
pub use crate::remains::Remaining;
pub use crate::retained::LogGroupRemoval;
pub use crate::rollout::{Failure, FailureRule};
use crate::rollout::{Rollout, Verdict};
use crate::sam::{Artifacts, SAM_INSTALL_HINT, SAM_VARIABLE, Sam, SamStop};
use crate::template_folder::TemplateFolder;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] isokit_aws::Error),

    #[error(transparent)]
    Stacks(#[from] isokit_stacks::Error),

    #[error(transparent)]
    Watch(#[from] isokit_watch::Error),

    #[error("{heading}:\n{}", findings.join("\n"))]
    AuditFailed {
        /// What the findings amount to.
        heading: &'static str,
        findings: Vec<String>,
        /// How to deploy anyway, for what may be deployed anyway.
        hint: Option<String>,
    },

    #[error(
        "stack {stack} exists only as a change set that was never executed (REVIEW_IN_PROGRESS), \
         left by a deployment that failed or was stopped before executing it; unless another \
         deployment of it is running right now, remove it with `isokit teardown --stack-name {stack}`, then \
         deploy again"
    )]
    StackNeverExecuted { stack: String },

    #[error(
        "stack {stack} is UPDATE_ROLLBACK_FAILED: finish its rollback with `aws cloudformation \
         continue-update-rollback --stack-name {stack}`, then deploy again"
    )]
    StackRollbackStuck { stack: String },

    #[error("stack {stack} is busy ({status}); wait for that operation to finish, then try again")]
    StackBusy { stack: String, status: StackStatus },

    #[error(
        "--parameter {name}=… would override what isokit sets and checks itself: use {flag} instead"
    )]
    ParameterHasFlag { name: String, flag: &'static str },

    #[error(
        "this account has no ECS service-linked role ({}), without which ECS cannot create the \
         cluster, and the identity in use may not create it: {denied}\nhave an administrator run \
         `{}` once, then deploy again",
        service_role::ROLE_NAME,
        service_role::CREATE_COMMAND
    )]
    ServiceLinkedRoleMissing { denied: isokit_aws::CallError },

    #[error("{problem}; the Availability Zones of {region}:\n{}\n{next}", zones.join("\n"))]
    UnsuitableZones {
        region: String,
        /// What is wrong with the zones.
        problem: String,
        /// Each zone of the region, and what rules it out.
        zones: Vec<String>,
        next: String,
    },

    #[error(
        "CloudFormation could not create the change set of stack {stack}: {reason}; nothing was \
         executed"
    )]
    ChangeSetFailed { stack: String, reason: String },

    #[error("the deployment finished, but stack {0} cannot be read back")]
    StackVanished(String),

    #[error("cannot listen for Ctrl-C, SIGTERM and SIGHUP, which isokit passes on to SAM")]
    Signals(#[source] std::io::Error),

    #[error("{command} of stack {stack} failed: {headline}")]
    StackFailed {
        command: &'static str,
        stack: String,
        /// The first failed resource, followed into the nested stack it
        /// was; else the stack's status and reason.
        headline: String,
        /// Where the stack is now, and what to do.
        next: String,
        /// SAM's failure, when SAM failed too.
        #[source]
        sam: Option<Box<Error>>,
    },

    #[error(
        "the value of parameter {name} cannot reach CloudFormation intact through SAM, whose parser \
         cannot read an odd number of backslashes at the end of a value or before a line break, nor \
         in one value both before a single quote and before a double quote: change the value"
    )]
    ParameterUnpassable { name: String },

    #[error(
        "cannot find the SAM CLI (`sam`) on PATH: {SAM_INSTALL_HINT}, or set {SAM_VARIABLE} to its path"
    )]
    SamNotFound,

    #[error("{} (from {origin}) is not an executable SAM CLI: {SAM_INSTALL_HINT}", program.display())]
    SamNotExecutable {
        program: PathBuf,
        origin: &'static str,
    },

    #[error("cannot start the SAM CLI at {}", program.display())]
    SamStart {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error("lost track of the SAM CLI while waiting for it to finish")]
    SamWait { source: std::io::Error },

    #[error(
        "sam {command} failed ({status}){}{tail}",
        error_line.as_deref().map(|line| format!(": {line}")).unwrap_or_default()
    )]
    SamFailed {
        command: &'static str,
        status: String,
        /// SAM's last `Error: ` line, without that prefix.
        error_line: Option<String>,
        /// Its last lines, unless they were shown as it ran.
        tail: sam::OutputTail,
    },

    #[error(
        "sam {command} was stopped by {}: stack {stack} {}; see where it is with `aws cloudformation \
         describe-stacks --stack-name {stack} --region {region}`, then {}",
        sam::signal_name(*signal),
        sam::interrupted_state(command),
        sam::interrupted_next_step(command, stack)
    )]
    SamInterrupted {
        command: &'static str,
        /// The signal passed on to SAM.
        signal: isokit_ui::StopSignal,
        stack: String,
        region: String,
    },

    /// isokit stopped SAM on purpose ([`SamStop`]); the caller says why.
    #[error("sam {command} was stopped by isokit")]
    SamStopped { command: &'static str },

    #[error(
        "stack {stack} is {status} ({}) and cannot be updated: tear it down first (`isokit teardown \
         --stack-name {stack}`), then deploy again{}",
        why_only_deletable(status),
        reason.as_deref().map(|reason| format!("\nit failed: {reason}")).unwrap_or_default()
    )]
    StackNeedsTeardown {
        stack: String,
        status: StackStatus,
        /// CloudFormation's status reason, when known.
        reason: Option<String>,
    },

    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("isokit {command} was stopped by {signal}: {state}")]
    Stopped {
        command: &'static str,
        signal: StopSignal,
        /// What was done, and what to do next.
        state: String,
    },
}

impl Error {
    /// What to do, where the error keeps it apart from what failed; the
    /// binary prints it as a `help:` line after the causes.
    pub fn help(&self) -> Option<&str> {
        match self {
            Error::AuditFailed { hint, .. } => hint.as_deref(),
            Error::StackFailed { next, .. } => Some(next),
            _ => None,
        }
    }
}

/// What `isokit deploy` deploys; defaults as in `isokit deploy --help`.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// An ECR image URI, by tag or digest.
    pub image: String,
    pub stack_name: String,
    pub service_name: String,
    pub desired_count: u32,
    pub cpu: u32,
    pub memory_mib: u32,
    /// The image's architecture.
    pub cpu_architecture: CpuArchitecture,
    pub ec2_endpoints: bool,
    pub enable_exec: bool,
    pub log_retention_days: u32,
    /// `None`: SAM's managed bucket (`--resolve-s3`).
    pub s3_bucket: Option<String>,
    /// `None`: the bundled templates.
    pub stacks_dir: Option<PathBuf>,
    /// Further `KEY=VALUE` template parameters: ones no flag sets.
    pub extra_parameters: Vec<(String, String)>,
    pub sam: Option<PathBuf>,
    /// Show SAM's own output as it runs (it is in the error when SAM fails).
    pub show_sam_output: bool,
    /// Endpoints the user knows the tasks can do without (or reach another
    /// way): the audit's findings that a task lacks one of these are shown
    /// as warnings instead of refusing the deployment.
    pub accept_missing_endpoints: Vec<Endpoint>,
    /// Endpoints to create besides those the task definitions need.
    pub extra_endpoints: Vec<Endpoint>,
    /// The two Availability Zones for the subnets; `None`: isokit chooses
    /// two where every interface endpoint is offered and Fargate runs.
    pub availability_zones: Option<[String; 2]>,
    pub watch: WatchOptions,
}

/// How `isokit deploy` watches the service it deploys.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Watch the service's tasks until its deployment is steady or fails,
    /// and read their in-task reports; `false`: finish with the stack
    /// operation, as `sam deploy` does.
    pub enabled: bool,
    /// Fail at the first task that cannot start, or the second that stops
    /// for the same cause; `false`: wait for ECS's circuit breaker.
    pub fail_fast: bool,
    /// The longest the whole deploy waits for the service to be steady.
    pub timeout: Duration,
    /// The longest it then waits for each task's first in-task report.
    pub report_timeout: Duration,
}

/// How often the stack's events and the service are read while the
/// deployment runs: each read is one DescribeStackEvents call per stack
/// still changing and, for the service, DescribeServices, two ListTasks
/// and one DescribeTasks, plus a DescribeTaskDefinition and a GetLogEvents
/// or two per task that stops; a few calls a second at most, far below the
/// rates at which CloudFormation and ECS throttle an account's describe
/// calls (throttled calls wait and try again). Two seconds puts a task's
/// stop on the screen, explained, well within the 15 s isokit promises.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The parent template's parameters that isokit sets from its own flags
/// (and checks, or derives, as `ImageUri` is pinned by digest), so
/// `--parameter` must not set them behind the checks' backs.
const PARAMETERS_SET_BY_FLAGS: [(&str, &str); 15] = [
    ("ImageUri", "--image"),
    ("ServiceName", "--service-name"),
    ("DesiredCount", "--desired-count"),
    ("ContainerCpu", "--cpu"),
    ("ContainerMemory", "--memory"),
    ("CpuArchitecture", "--cpu-architecture"),
    ("DeployingToEC2", "--ec2"),
    ("EnableExecuteCommand", "--enable-exec"),
    ("LogRetentionInDays", "--log-retention-days"),
    ("CreateSecretsManagerEndpoint", "--endpoints"),
    ("CreateSsmEndpoint", "--endpoints"),
    ("CreateSsmMessagesEndpoint", "--endpoints"),
    ("CreateKmsEndpoint", "--endpoints"),
    ("AvailabilityZoneOne", "--availability-zones"),
    ("AvailabilityZoneTwo", "--availability-zones"),
];

/// A finished deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub stack_name: String,
    #[serde(serialize_with = "isokit_aws::serialize_stack_status")]
    pub status: StackStatus,
    /// The image the task definition runs, pinned by digest.
    pub image: String,
    /// False when the stack already ran exactly this.
    pub changed: bool,
    pub endpoints: EndpointPlan,
    pub outputs: BTreeMap<String, String>,
    /// The service as watched; `None` when it was not (`--no-watch`, or
    /// it could not be read).
    pub service: Option<WatchedService>,
}

impl Deployment {
    /// Nothing was found failing.
    pub fn passed(&self) -> bool {
        self.service
            .as_ref()
            .is_none_or(|service| service.failure.is_none())
    }
}

/// The endpoints the VPC stack creates, and what the interface ones cost.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointPlan {
    pub created: Vec<String>,
    pub cost: EndpointCost,
}

/// The service the deployment rolled out, as watched.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedService {
    pub cluster: String,
    pub name: String,
    /// The ECS deployment (`ecs-svc/…`), when known.
    pub deployment: Option<String>,
    /// The deployment's running tasks, each with its in-task report.
    pub tasks: Vec<RunningTask>,
    /// Why the deployment failed, and where that left the stack.
    pub failure: Option<DeploymentFailure>,
}

impl WatchedService {
    /// A service whose deployment failed, leaving the stack as `stack` says.
    fn failed(
        service: progress::ServiceName,
        failure: Failure,
        stack: StackLeft,
    ) -> WatchedService {
        WatchedService {
            cluster: service.cluster,
            name: service.service,
            deployment: failure.deployment.clone(),
            tasks: Vec::new(),
            failure: Some(DeploymentFailure { failure, stack }),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentFailure {
    #[serde(flatten)]
    pub failure: Failure,
    pub stack: StackLeft,
}

/// A deployment checked and ready for SAM: everything isokit checks and
/// works out before `sam deploy` runs.
struct Prepared {
    sam: Sam,
    /// The image, pinned by digest.
    pinned: String,
    /// Every parameter value isokit passes, checked.
    parameters: ParameterValues,
    stacks: StackSet,
    /// The stack as it is, when it exists.
    existing: Option<Stack>,
    folder: TemplateFolder,
    zones: [String; 2],
    endpoints: EndpointPlan,
    /// Listening from the first AWS call on.
    signals: StopSignals,
}

/// Checks everything that can be checked locally, then what AWS must have
/// (a stack SAM can update, the ECS service-linked role, zones for the
/// subnets, the image), and works out every parameter value. A preview
/// creates nothing: the role it would create is only said.
async fn prepare(
    aws: &Aws,
    options: &DeployOptions,
    ui: &Ui,
    preview: bool,
) -> Result<Prepared, Error> {
    // Local checks first: nothing reaches AWS or SAM if these fail.
    isokit_stacks::validate_stack_name(&options.stack_name)?;
    isokit_stacks::validate_task_size(options.cpu, options.memory_mib)?;
    isokit_stacks::validate_desired_count(options.desired_count)?;
    let uri = ImageUri::parse(&options.image)?;
    uri.require_region(aws.region())?;
    let sam = Sam::locate(options.sam.as_deref())?.show_output(options.show_sam_output);
    let stacks = match &options.stacks_dir {
        Some(dir) => StackSet::from_dir(dir)?,
        None => StackSet::bundled(),
    };
    // Every value but the image's digest and the zones is known now: the
    // URI is checked in the shape it will have, pinned by a digest, and
    // again once pinned; the zones' type is checked by CloudFormation
    // against the account, so any name stands in for them until chosen.
    let placeholder_digest = format!("sha256:{}", "0".repeat(64));
    let [zone_one, zone_two] = options.availability_zones.clone().unwrap_or_else(|| {
        [
            "chosen-before-deploying".to_owned(),
            "chosen-before-deploying".to_owned(),
        ]
    });
    let mut parameters = ParameterValues::new()
        .with("ImageUri", uri.pinned(&placeholder_digest))
        .with("ServiceName", options.service_name.clone())
        .with("DesiredCount", options.desired_count.to_string())
        .with("ContainerCpu", options.cpu.to_string())
        .with("ContainerMemory", options.memory_mib.to_string())
        .with("CpuArchitecture", options.cpu_architecture.as_ecs())
        .with("DeployingToEC2", options.ec2_endpoints.to_string())
        .with("EnableExecuteCommand", options.enable_exec.to_string())
        .with("LogRetentionInDays", options.log_retention_days.to_string())
        .with("AvailabilityZoneOne", zone_one)
        .with("AvailabilityZoneTwo", zone_two);
    for (name, value) in &options.extra_parameters {
        refuse_parameter_with_flag(name)?;
        parameters.set(name.clone(), value.clone());
    }
    let created = plan_endpoints(&stacks, &mut parameters, options)?;
    let endpoints = EndpointPlan {
        cost: EndpointCost::of(
            &created,
            stacks.network_plan()?.private_subnets.len(),
            aws.region(),
        ),
        created: created.iter().map(ToString::to_string).collect(),
    };
    check_parameters(&stacks, &parameters)?;
    check_audit(
        stacks.audit_deployed(&parameters)?,
        &options.accept_missing_endpoints,
        ui,
    )?;
    ui.status(format!(
        "the VPC stack creates {}: {}",
        endpoints.created.join(", "),
        endpoints.cost
    ));

    // From here on a stop signal ends the work (and reaches SAM while it
    // runs) instead of ending isokit where it stands.
    let mut signals = StopSignals::listen().map_err(Error::Signals)?;
    let unchanged = || {
        format!(
            "nothing was deployed; stack {} is as it was",
            options.stack_name
        )
    };
    let existing = until_stopped(
        &mut signals,
        "deploy",
        unchanged,
        aws.stacks().describe(&options.stack_name),
    )
    .await?;
    if let Some(existing) = &existing {
        check_deployable(existing.clone())?;
    }
    until_stopped(
        &mut signals,
        "deploy",
        unchanged,
        service_role::ensure(aws, ui, preview),
    )
    .await?;
    let zones = until_stopped(
        &mut signals,
        "deploy",
        unchanged,
        zones::choose(aws, &created, options.availability_zones.as_ref(), ui),
    )
    .await?;
    parameters.set("AvailabilityZoneOne", zones[0].clone());
    parameters.set("AvailabilityZoneTwo", zones[1].clone());

    ui.status(format!("resolving {uri}"));
    let image = until_stopped(&mut signals, "deploy", unchanged, aws.ecr().resolve(&uri)).await?;
    let pinned = uri.pinned(&image.digest);
    parameters.set("ImageUri", pinned.clone());
    check_parameters(&stacks, &parameters)?;
    let folder = match &options.stacks_dir {
        Some(dir) => TemplateFolder::User(dir.clone()),
        None => TemplateFolder::temporary(&stacks)?,
    };
    Ok(Prepared {
        sam,
        pinned,
        parameters,
        stacks,
        existing,
        folder,
        zones,
        endpoints,
        signals,
    })
}

/// Validates everything that can be checked locally, resolves the image to
/// its digest, runs `sam deploy`, and reads the stack's outputs back.
pub async fn deploy(aws: &Aws, options: &DeployOptions, ui: &Ui) -> Result<Deployment, Error> {
    let Prepared {
        sam,
        pinned,
        parameters,
        folder,
        endpoints,
        mut signals,
        ..
    } = prepare(aws, options, ui, false).await?;
    ui.status(format!(
        "deploying {pinned} as stack {} in {}",
        options.stack_name,
        aws.region()
    ));
    let unchanged = || {
        format!(
            "nothing was deployed; stack {} is as it was",
            options.stack_name
        )
    };
    let follower = until_stopped(
        &mut signals,
        "deploy",
        unchanged,
        aws.stacks().follow(&options.stack_name),
    )
    .await?;
    let mut progress = Progress::new(ui, follower, format!("deploying {}", options.stack_name));
    let sam_stop = SamStop::default();
    let sam = sam.stopped_by(sam_stop.clone());
    let started = Instant::now();
    let mut rollout = Rollout::new(aws, ui, options.watch.fail_fast, SystemTime::now());
    let mut failure: Option<Failure> = None;
    let sam_options = sam::DeployOptions {
        template_file: folder.parent_template(),
        stack_name: options.stack_name.clone(),
        parameters,
        artifacts: artifacts(options),
        execute: true,
        aws: aws.clone(),
    };
    let sam_outcome = {
        let run = sam.run(&sam_options, ui, &mut signals);
        tokio::pin!(run);
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                _ = tick.tick() => {
                    progress.poll().await;
                    if !options.watch.enabled || failure.is_some() {
                        continue;
                    }
                    if let Some(at) = progress.started() {
                        rollout.began(at);
                    }
                    if let Some(service) = progress.service() {
                        rollout.watch(service);
                    }
                    let found = match rollout.poll(false).await {
                        Verdict::Failed(found) => Some(*found),
                        _ if started.elapsed() > options.watch.timeout => {
                            Some(rollout.timed_out(options.watch.timeout))
                        }
                        _ => None,
                    };
                    if let Some(found) = found {
                        // Said at once; the stack is dealt with once SAM has stopped.
                        announce(ui, &found);
                        failure = Some(found);
                        sam_stop.stop();
                    }
                }
            }
        }
    };
    progress.poll().await;
    if let Err(interrupted @ Error::SamInterrupted { .. }) = sam_outcome {
        progress.finish("stopped");
        return Err(interrupted);
    }
    // SAM may fail because ECS did (the circuit breaker failing the
    // service, CloudFormation rolling back) before a look saw it: one more
    // look names the tasks' failure rather than the stack's.
    let failure = match failure {
        // Only a deployment this operation began counts (`false`): SAM may
        // have failed for reasons of its own before reaching the service.
        None if sam_outcome.is_err() && options.watch.enabled => match rollout.poll(false).await {
            Verdict::Failed(found) => {
                announce(ui, &found);
                Some(*found)
            }
            _ => None,
        },
        found => found,
    };
    if let Some(failure) = failure {
        progress.finish("failed");
        return failed_deployment(
            aws,
            options,
            &pinned,
            endpoints,
            &rollout,
            failure,
            &mut signals,
        )
        .await;
    }

    let stack = until_stopped(
        &mut signals,
        "deploy",
        || {
            format!(
                "sam deploy had finished; `aws cloudformation describe-stacks --stack-name {}` \
                 shows where the stack is",
                options.stack_name
            )
        },
        aws.stacks().describe(&options.stack_name),
    )
    .await?;
    let failed = check_outcome(
        "deploy",
        &options.stack_name,
        sam_outcome.err(),
        stack.as_ref(),
        progress.first_failure(),
    );
    progress.finish(if failed.is_some() { "failed" } else { "done" });
    if let Some(failure) = failed {
        return Err(failure);
    }
    let stack = stack.ok_or_else(|| Error::StackVanished(options.stack_name.clone()))?;
    let changed = progress.changed();
    let service = if options.watch.enabled {
        watch_after_sam(aws, ui, options, &stack, rollout, started, &mut signals).await?
    } else {
        None
    };
    Ok(Deployment {
        stack_name: stack.name,
        status: stack.status,
        image: pinned,
        changed,
        endpoints,
        outputs: stack.outputs,
        service,
    })
}

/// Sets the parameters that make the VPC stack create exactly the endpoints
/// the task definitions need (as deployed with `parameters`) and those
/// `--endpoints` adds, and returns what it will create. A needed endpoint
/// the user accepts as missing, or that the VPC template cannot create, is
/// left to the audit, which says so.
fn plan_endpoints(
    stacks: &StackSet,
    parameters: &mut ParameterValues,
    options: &DeployOptions,
) -> Result<Vec<Endpoint>, Error> {
    let offered = stacks.offered_endpoints()?;
    let mut wanted: Vec<Endpoint> = stacks
        .endpoint_needs(parameters)?
        .into_iter()
        .map(|need| need.endpoint)
        .filter(|endpoint| {
            offered.contains(endpoint) && !options.accept_missing_endpoints.contains(endpoint)
        })
        .collect();
    for extra in &options.extra_endpoints {
        if !wanted.contains(extra) {
            wanted.push(extra.clone());
        }
    }
    stacks.set_endpoint_switches(parameters, &wanted)?;
    Ok(stacks.endpoints(parameters)?)
}

/// Refuses templates in which the audit finds an error (a way out, or a
/// task that cannot start), but for the endpoints the user named as known to
/// be missing, which are warned about. The audit's warnings (gaps in the
/// data perimeter) and what it could not judge are shown, not refused:
/// neither is a way out it found.
fn check_audit(report: AuditReport, accepted: &[Endpoint], ui: &Ui) -> Result<(), Error> {
    for warning in report.warnings() {
        ui.warn(format!("the audit warns: {warning}"));
    }
    for unjudged in &report.not_judged {
        ui.warn(format!("the audit could not judge {unjudged}"));
    }
    let findings: Vec<Finding> = report
        .findings
        .into_iter()
        .filter(|finding| finding.severity == Severity::Error)
        .collect();
    let accepts = |finding: &Finding| {
        finding.rule == Rule::TaskEndpointMissing
            && finding
                .endpoint
                .as_ref()
                .is_some_and(|endpoint| accepted.contains(endpoint))
    };
    for endpoint in accepted {
        if !findings
            .iter()
            .any(|f| accepts(f) && f.endpoint.as_ref() == Some(endpoint))
        {
            ui.warn(format!(
                "--accept-missing-endpoint {endpoint}: no task of the templates lacks it, so \
                 there is nothing to accept"
            ));
        }
    }
    let (accepted, refused): (Vec<Finding>, Vec<Finding>) = findings.into_iter().partition(accepts);
    for finding in &accepted {
        ui.warn(format!("accepted on request: {finding}"));
    }
    if refused.is_empty() {
        return Ok(());
    }
    let mut missing: Vec<&str> = refused
        .iter()
        .filter(|finding| finding.rule == Rule::TaskEndpointMissing)
        .filter_map(|finding| finding.endpoint.as_ref().map(Endpoint::service))
        .collect();
    missing.dedup();
    let hint = if missing.is_empty() {
        None
    } else {
        Some(format!(
            "to deploy anyway (the tasks will not start unless they reach {} another way), \
             name each endpoint you accept: {}",
            missing.join(", "),
            missing
                .iter()
                .map(|endpoint| format!("--accept-missing-endpoint {endpoint}"))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    };
    let heading = if refused
        .iter()
        .all(|finding| finding.rule == Rule::TaskEndpointMissing)
    {
        "the tasks could not start in the VPC the templates create"
    } else {
        "the templates would break the VPC's isolation"
    };
    Err(Error::AuditFailed {
        heading,
        findings: refused.iter().map(ToString::to_string).collect(),
        hint,
    })
}

/// The failure, the moment it is found: the deployment's verdict, and the
/// stopped task's diagnosis (headline, fix, AWS's words, its last lines).
fn announce(ui: &Ui, failure: &Failure) {
    ui.status(format!("deployment failing: {}", failure.summary));
    if let Some(stopped) = &failure.stopped {
        ui.status(stopped.to_string().trim_end());
    }
}

/// A deployment found failing: the stack's update cancelled where
/// CloudFormation allows it, and the result saying where the stack is.
async fn failed_deployment(
    aws: &Aws,
    options: &DeployOptions,
    pinned: &str,
    endpoints: EndpointPlan,
    rollout: &Rollout<'_>,
    failure: Failure,
    signals: &mut StopSignals,
) -> Result<Deployment, Error> {
    let next = || {
        format!(
            "the deployment was failing; `aws cloudformation describe-stacks --stack-name {}` \
             shows where the stack is",
            options.stack_name
        )
    };
    let left = until_stopped(
        signals,
        "deploy",
        next,
        halt::halt(aws, &options.stack_name),
    )
    .await?;
    let stack = until_stopped(
        signals,
        "deploy",
        next,
        aws.stacks().describe(&options.stack_name),
    )
    .await?;
    let service = rollout_service(rollout, options);
    Ok(Deployment {
        stack_name: options.stack_name.clone(),
        status: left.status.clone(),
        image: pinned.to_owned(),
        changed: true,
        endpoints,
        outputs: stack.map(|stack| stack.outputs).unwrap_or_default(),
        service: Some(WatchedService::failed(service, failure, left)),
    })
}

/// The service the rollout watches; before any event named it, the one the
/// options name, in a cluster not yet known.
fn rollout_service(rollout: &Rollout<'_>, options: &DeployOptions) -> progress::ServiceName {
    rollout
        .service()
        .cloned()
        .unwrap_or_else(|| progress::ServiceName {
            cluster: String::new(),
            service: options.service_name.clone(),
        })
}

/// Once SAM has finished: watches the service until its deployment is
/// steady or fails (on AWS, CloudFormation has waited for it already; the
/// local AWS's does not), then reads each task's first in-task report.
/// `None` when the service cannot be found or read (said as a warning).
async fn watch_after_sam(
    aws: &Aws,
    ui: &Ui,
    options: &DeployOptions,
    stack: &Stack,
    mut rollout: Rollout<'_>,
    started: Instant,
    signals: &mut StopSignals,
) -> Result<Option<WatchedService>, Error> {
    let stopped_watching = || {
        format!(
            "stack {0} is deployed ({1}); the watch of its service was stopped: `isokit status \
             --stack-name {0}` shows its tasks",
            stack.name, stack.status
        )
    };
    if rollout.service().is_none() {
        // No event named the service (an unchanged stack writes none): the
        // stack's outputs do.
        match until_stopped(
            signals,
            "deploy",
            stopped_watching,
            ServiceStack::read(aws, &stack.name),
        )
        .await
        {
            Ok(found) => rollout.watch(&progress::ServiceName {
                cluster: found.cluster,
                service: found.service,
            }),
            Err(Error::Watch(err)) => {
                ui.warn(format!("cannot watch the service: {err}"));
                return Ok(None);
            }
            Err(other) => return Err(other),
        }
    }
    let verdict = loop {
        let verdict = until_stopped(signals, "deploy", stopped_watching, async {
            Ok::<_, Error>(rollout.poll(true).await)
        })
        .await?;
        match verdict {
            Verdict::Watching if rollout.is_lost() => return Ok(None),
            Verdict::Watching if started.elapsed() > options.watch.timeout => {
                break Err(rollout.timed_out(options.watch.timeout));
            }
            Verdict::Watching => {
                until_stopped(signals, "deploy", stopped_watching, async {
                    tokio::time::sleep(POLL_INTERVAL).await;
                    Ok::<_, Error>(())
                })
                .await?;
            }
            Verdict::Completed {
                snapshot,
                deployment,
            } => break Ok((snapshot, deployment)),
            Verdict::Failed(failure) => break Err(*failure),
        }
    };
    let service = rollout_service(&rollout, options);
    let (snapshot, deployment) = match verdict {
        Ok(completed) => completed,
        Err(failure) => {
            announce(ui, &failure);
            let left = until_stopped(
                signals,
                "deploy",
                stopped_watching,
                halt::halt(aws, &stack.name),
            )
            .await?;
            return Ok(Some(WatchedService::failed(service, failure, left)));
        }
    };
    ui.status(format!(
        "service {} is steady: deployment {deployment} completed",
        service.service
    ));
    let tasks = until_stopped(signals, "deploy", stopped_watching, async {
        Ok::<_, Error>(
            reports::read_reports(
                aws,
                ui,
                &snapshot,
                &deployment,
                options.watch.report_timeout,
            )
            .await,
        )
    })
    .await?;
    let failing: Vec<&RunningTask> = tasks.iter().filter(|task| task.report_fails()).collect();
    let failure = (!failing.is_empty()).then(|| {
        let names: Vec<&str> = failing
            .iter()
            .map(|task| isokit_watch::short_id(&task.task_id))
            .collect();
        DeploymentFailure {
            failure: Failure {
                rule: FailureRule::ReportFails,
                summary: format!(
                    "the in-task report of task(s) {} does not pass: endpoints unreachable, or \
                     isolation not proven",
                    names.join(", ")
                ),
                deployment: Some(deployment.clone()),
                stopped: None,
            },
            stack: StackLeft {
                action: StackAction::NothingToCancel,
                status: stack.status.clone(),
                next: format!(
                    "stack {0} is deployed ({1}) and its tasks run, but what they report from \
                     inside fails (see each task's table): fix the VPC's endpoints and deploy \
                     again, or remove it with `isokit teardown --stack-name {0}`",
                    stack.name, stack.status
                ),
            },
        }
    });
    if let Some(failure) = &failure {
        ui.status(format!("deployment failing: {}", failure.failure.summary));
    }
    Ok(Some(WatchedService {
        cluster: service.cluster,
        name: service.service,
        deployment: Some(deployment),
        tasks,
        failure,
    }))
}

/// `sam delete` of the stack, followed through its events; a deletion that
/// fails because network interfaces are still being released
/// (DependencyViolation) is tried again, a few times, after a pause.
async fn delete_stack(
    aws: &Aws,
    options: &TeardownOptions,
    sam: &Sam,
    existing: &Stack,
    ui: &Ui,
    signals: &mut StopSignals,
) -> Result<(), Error> {
    let mut pauses = dependencies::PAUSES.iter();
    loop {
        let untouched = || format!("nothing was deleted; stack {} is as it was", existing.name);
        let follower = until_stopped(
            signals,
            "teardown",
            untouched,
            aws.stacks().follow(&existing.id),
        )
        .await?;
        let mut progress = Progress::new(ui, follower, format!("deleting {}", options.stack_name));
        let sam_outcome = progress
            .follow(sam.run(
                &sam::DeleteOptions {
                    stack_name: options.stack_name.clone(),
                    aws: aws.clone(),
                },
                ui,
                signals,
            ))
            .await;
        if let Err(interrupted @ Error::SamInterrupted { .. }) = sam_outcome {
            progress.finish("stopped");
            return Err(interrupted);
        }
        let again = || {
            format!(
                "sam delete had finished; run `isokit teardown --stack-name {}` again to see \
                 whether the stack is gone",
                options.stack_name
            )
        };
        // By ID: the name no longer finds a deleted stack.
        let left = until_stopped(
            signals,
            "teardown",
            again,
            aws.stacks().describe(&existing.id),
        )
        .await?;
        let first_failure = progress.first_failure();
        let Some(failure) = check_outcome(
            "teardown",
            &options.stack_name,
            sam_outcome.err(),
            left.as_ref(),
            first_failure.clone(),
        ) else {
            progress.finish("done");
            return Ok(());
        };
        let pause = match pauses.next() {
            Some(pause) if dependencies::blocked_by_dependencies(first_failure.as_ref()) => *pause,
            _ => {
                progress.finish("failed");
                return Err(failure);
            }
        };
        progress.finish("waiting");
        ui.status(format!(
            "{}: network interfaces of the VPC's endpoints or of stopped tasks are still being \
             released; deleting again in {} s",
            first_failure
                .map(|failure| failure.to_string())
                .unwrap_or_default(),
            pause.as_secs()
        ));
        until_stopped(signals, "teardown", again, async {
            tokio::time::sleep(pause).await;
            Ok::<_, Error>(())
        })
        .await?;
    }
}

/// Whether an operation failed, and how to say so: SAM's failure, or the
/// stack's, headed by the first failed resource the events name.
fn check_outcome(
    command: &'static str,
    stack_name: &str,
    sam: Option<Error>,
    stack: Option<&Stack>,
    first_failure: Option<FirstFailure>,
) -> Option<Error> {
    let stack_failed = stack.is_some_and(|stack| stack.status.is_failed_or_rolled_back());
    if sam.is_none() && !stack_failed {
        return None;
    }
    let headline = match (&first_failure, stack) {
        (Some(failure), _) => failure.to_string(),
        // No resource failed: SAM's own error says why, when it failed.
        (None, _) if sam.is_some() => return sam,
        (None, Some(stack)) => match &stack.status_reason {
            Some(reason) => format!("it is {}: {reason}", stack.status),
            None => format!("it is {}", stack.status),
        },
        (None, None) => return None,
    };
    Some(Error::StackFailed {
        command,
        stack: stack_name.to_owned(),
        headline,
        next: next_step(command, stack_name, stack),
        sam: sam.map(Box::new),
    })
}

/// Where a failed operation left the stack, and what to do next.
fn next_step(command: &str, stack_name: &str, stack: Option<&Stack>) -> String {
    let Some(stack) = stack else {
        return format!("stack {stack_name} does not exist");
    };
    if command == "teardown" {
        return format!(
            "stack {stack_name} is {}: once what kept it from being deleted is fixed, run \
             `isokit teardown --stack-name {stack_name}` again",
            stack.status
        );
    }
    let settled = Stack {
        status_reason: None,
        ..stack.clone()
    };
    match (&stack.status, check_deployable(settled)) {
        (StackStatus::UpdateRollbackComplete, _) => format!(
            "stack {stack_name} was rolled back and runs what it ran before \
             (UPDATE_ROLLBACK_COMPLETE): fix the cause above, then deploy again"
        ),
        (_, Err(blocked)) => blocked.to_string(),
        (status, Ok(())) => format!("stack {stack_name} is {status}"),
    }
}

/// Runs `work` unless a stop signal comes first; then the work is dropped
/// and the error says `state`: what was done and what to do next.
async fn until_stopped<T, E: Into<Error>>(
    signals: &mut StopSignals,
    command: &'static str,
    state: impl FnOnce() -> String,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, Error> {
    tokio::select! {
        result = work => result.map_err(Into::into),
        signal = signals.recv() => Err(Error::Stopped { command, signal, state: state() }),
    }
}

/// What SAM cannot pass on intact, and what CloudFormation would refuse,
/// refused before SAM runs.
fn check_parameters(stacks: &StackSet, parameters: &ParameterValues) -> Result<(), Error> {
    sam::check_passable(parameters)?;
    Ok(stacks.check_parameters(parameters)?)
}

/// Why a stack that can only be deleted ([`StackStatus::only_deletable`]) is so.
fn why_only_deletable(status: &StackStatus) -> &'static str {
    match status {
        StackStatus::RollbackComplete => "its first creation failed and was rolled back",
        StackStatus::RollbackFailed => "its first creation failed, and so did the rollback",
        StackStatus::DeleteFailed => "a deletion failed part-way",
        _ => "an earlier operation failed",
    }
}

/// Refuses a stack that `sam deploy` cannot update, before SAM starts.
fn check_deployable(existing: Stack) -> Result<(), Error> {
    let Stack {
        name: stack,
        status,
        status_reason,
        ..
    } = existing;
    match status {
        only_deletable if only_deletable.only_deletable() => Err(Error::StackNeedsTeardown {
            stack,
            status: only_deletable,
            reason: status_reason,
        }),
        StackStatus::UpdateRollbackFailed => Err(Error::StackRollbackStuck { stack }),
        // A change set that was created but never executed (SAM failed or
        // was interrupted before executing it) leaves the stack in this
        // state for good: no operation will ever finish, so "busy" would be
        // a dead end.
        StackStatus::ReviewInProgress => Err(Error::StackNeverExecuted { stack }),
        busy if busy.is_in_progress() => Err(Error::StackBusy {
            stack,
            status: busy,
        }),
        _ => Ok(()),
    }
}

/// Where SAM uploads the nested templates.
fn artifacts(options: &DeployOptions) -> Artifacts {
    options
        .s3_bucket
        .clone()
        .map_or(Artifacts::ResolveS3, Artifacts::Bucket)
}

/// Refuses a `--parameter` that a flag of its own sets (and checks).
fn refuse_parameter_with_flag(name: &str) -> Result<(), Error> {
    match PARAMETERS_SET_BY_FLAGS
        .iter()
        .find(|(reserved, _)| *reserved == name)
    {
        Some((_, flag)) => Err(Error::ParameterHasFlag {
            name: name.to_owned(),
            flag,
        }),
        None => Ok(()),
    }
}

/// What `isokit teardown` removes.
#[derive(Debug, Clone)]
pub struct TeardownOptions {
    pub stack_name: String,
    /// Also delete this ECR repository and its images.
    pub delete_repository: Option<String>,
    pub sam: Option<PathBuf>,
    /// Show SAM's own output as it runs (it is in the error when SAM fails).
    pub show_sam_output: bool,
    /// Leave the log groups the stack keeps when it goes.
    pub keep_logs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    Deleted,
    NothingToDelete,
    /// Left in place on request.
    Kept,
}

#[derive(Debug, Clone, Serialize)]
pub struct Teardown {
    pub stack_name: String,
    pub stack: Removal,
    /// The log groups the stack kept when it went.
    pub log_groups: Vec<LogGroupRemoval>,
    pub repository: Option<RepositoryRemoval>,
    /// What the deployment made that stays: the image's repository
    /// (unless deleted) and SAM's artifacts bucket.
    pub remaining: Vec<Remaining>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepositoryRemoval {
    pub name: String,
    pub outcome: Removal,
}

/// Runs `sam delete`, then deletes the repository if asked. A stack or
/// repository that is not there is reported, not an error.
pub async fn teardown(aws: &Aws, options: &TeardownOptions, ui: &Ui) -> Result<Teardown, Error> {
    isokit_stacks::validate_stack_name(&options.stack_name)?;
    if let Some(name) = &options.delete_repository {
        isokit_aws::validate_repository_name(name)?;
    }
    let sam = Sam::locate(options.sam.as_deref())?.show_output(options.show_sam_output);
    let mut signals = StopSignals::listen().map_err(Error::Signals)?;
    let existing = until_stopped(
        &mut signals,
        "teardown",
        || "nothing was deleted".to_owned(),
        aws.stacks().describe(&options.stack_name),
    )
    .await?;
    let mut kept_log_groups = Vec::new();
    let mut remaining = Vec::new();
    let mut insights_group = None;
    let stack = match existing {
        None => {
            ui.status(format!(
                "stack {} does not exist: nothing to delete",
                options.stack_name
            ));
            Removal::NothingToDelete
        }
        Some(existing) => {
            let nothing_deleted = || "nothing was deleted".to_owned();
            kept_log_groups = until_stopped(
                &mut signals,
                "teardown",
                nothing_deleted,
                retained::log_groups(aws, &existing.id),
            )
            .await?;
            insights_group = existing
                .outputs
                .get("ClusterName")
                .map(|cluster| retained::insights_group(cluster));
            remaining = until_stopped(
                &mut signals,
                "teardown",
                nothing_deleted,
                remains::left_by(aws, &existing),
            )
            .await?;
            ui.status(format!(
                "deleting stack {} ({})",
                existing.name, existing.status
            ));
            delete_stack(aws, options, &sam, &existing, ui, &mut signals).await?;
            Removal::Deleted
        }
    };
    let log_groups = until_stopped(
        &mut signals,
        "teardown",
        || {
            format!(
                "stack {} is gone; its log groups may remain: run the same teardown again",
                options.stack_name
            )
        },
        retained::remove_log_groups(aws, kept_log_groups, insights_group, options.keep_logs, ui),
    )
    .await?;
    let repository = match &options.delete_repository {
        Some(name) => {
            let deleted = until_stopped(
                &mut signals,
                "teardown",
                || {
                    format!(
                        "stack {} is gone; ECR repository {name} may or may not have been deleted: \
                         run the same teardown again",
                        options.stack_name
                    )
                },
                aws.ecr().delete_repository(name),
            )
            .await?;
            let removal = if deleted {
                ui.status(format!("deleted ECR repository {name} and its images"));
                Removal::Deleted
            } else {
                ui.status(format!(
                    "ECR repository {name} does not exist: nothing to delete"
                ));
                Removal::NothingToDelete
            };
            Some(RepositoryRemoval {
                name: name.clone(),
                outcome: removal,
            })
        }
        None => None,
    };
    remaining.retain(|left| {
        !(left.kind == "ecr_repository" && options.delete_repository.as_ref() == Some(&left.name))
    });
    Ok(Teardown {
        stack_name: options.stack_name.clone(),
        stack,
        log_groups,
        repository,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(status: &str, reason: Option<&str>) -> Stack {
        Stack {
            name: "isolated-vpc-environment".into(),
            id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/isolated-vpc-environment/6c1c7a10".into(),
            status: StackStatus::from(status),
            status_reason: reason.map(str::to_owned),
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    /// moto never rolls a stack back, so this path is proven here, with the
    /// stack as DescribeStacks would report it.
    #[test]
    fn a_rolled_back_creation_must_be_torn_down_first() {
        let error = check_deployable(stack(
            "ROLLBACK_COMPLETE",
            Some("The following resource(s) failed to create: [ServiceStack]."),
        ))
        .expect_err("cannot be updated")
        .to_string();
        assert!(
            error.contains("ROLLBACK_COMPLETE")
                && error.contains("isokit teardown --stack-name isolated-vpc-environment")
                && error.contains("failed to create: [ServiceStack]"),
            "{error}"
        );
        let error = check_deployable(stack("ROLLBACK_FAILED", None))
            .expect_err("cannot be updated")
            .to_string();
        assert!(
            error.contains("ROLLBACK_FAILED") && !error.contains("it failed:"),
            "{error}"
        );
    }

    #[test]
    fn a_failed_deletion_can_only_be_deleted_and_a_stuck_rollback_continued() {
        let error = check_deployable(stack("DELETE_FAILED", None)).expect_err("cannot be updated");
        assert!(error.to_string().contains("isokit teardown"), "{error}");
        let error = check_deployable(stack("UPDATE_ROLLBACK_FAILED", None)).expect_err("stuck");
        assert!(
            error.to_string().contains("continue-update-rollback"),
            "{error}"
        );
    }

    #[test]
    fn a_change_set_never_executed_is_no_operation_to_wait_for() {
        let error = check_deployable(stack("REVIEW_IN_PROGRESS", None))
            .expect_err("SAM cannot update it")
            .to_string();
        assert!(
            error.contains("never executed")
                && error.contains("isokit teardown --stack-name isolated-vpc-environment")
                && !error.contains("wait for"),
            "{error}"
        );
    }

    #[test]
    fn running_operations_are_waited_for_and_settled_stacks_deploy() {
        for busy in [
            "UPDATE_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
        ] {
            let error = check_deployable(stack(busy, None))
                .expect_err("busy")
                .to_string();
            assert!(error.contains("wait for that operation"), "{error}");
        }
        for settled in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
        ] {
            assert!(check_deployable(stack(settled, None)).is_ok(), "{settled}");
        }
    }

    fn sam_failed() -> Error {
        Error::SamFailed {
            command: "deploy",
            status: "exit status 1".into(),
            error_line: Some("Failed to create/update the stack: isolated-vpc-environment".into()),
            tail: sam::OutputTail::default(),
        }
    }

    /// An update rolled back: moto never rolls an update back, so this
    /// path is proven here.
    #[test]
    fn a_rolled_back_update_fails_with_its_reason_even_when_sam_succeeded() {
        let rolled_back = stack(
            "UPDATE_ROLLBACK_COMPLETE",
            Some("The following resource(s) failed to update: [VpcStack]. "),
        );
        let error = check_outcome(
            "deploy",
            "isolated-vpc-environment",
            None,
            Some(&rolled_back),
            None,
        )
        .expect("a failure");
        assert_eq!(
            error.to_string(),
            "deploy of stack isolated-vpc-environment failed: it is UPDATE_ROLLBACK_COMPLETE: The \
             following resource(s) failed to update: [VpcStack]. "
        );
        assert_eq!(
            error.help(),
            Some(
                "stack isolated-vpc-environment was rolled back and runs what it ran before \
                 (UPDATE_ROLLBACK_COMPLETE): fix the cause above, then deploy again"
            )
        );
        let settled = stack("UPDATE_COMPLETE", None);
        assert!(check_outcome("deploy", "s", None, Some(&settled), None).is_none());
    }

    #[test]
    fn without_a_failed_resource_sams_own_error_explains() {
        let left = stack("REVIEW_IN_PROGRESS", None);
        let error =
            check_outcome("deploy", "s", Some(sam_failed()), Some(&left), None).expect("a failure");
        assert!(matches!(error, Error::SamFailed { .. }), "{error:?}");
        let error = check_outcome("teardown", "s", Some(sam_failed()), None, None)
            .expect("a failure")
            .to_string();
        assert!(
            error.starts_with("sam deploy failed (exit status 1): Failed to create"),
            "{error}"
        );
    }

    fn finding(rule: Rule, endpoint: Option<&str>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            template: "private-service.yml".into(),
            resource: "TaskDefinition".into(),
            line: Some(80),
            message: "needs it".into(),
            affects: Vec::new(),
            endpoint: endpoint.map(|name| name.parse().expect("an endpoint")),
        }
    }

    fn report(findings: Vec<Finding>) -> AuditReport {
        AuditReport {
            templates: vec!["private-service.yml".into()],
            findings,
            accepted: Vec::new(),
            not_judged: Vec::new(),
        }
    }

    #[test]
    fn only_the_missing_endpoints_named_are_accepted() {
        let ecr_dkr: Endpoint = "ecr.dkr".parse().expect("an endpoint");
        let missing = || {
            report(vec![
                finding(Rule::TaskEndpointMissing, Some("ecr.dkr")),
                finding(Rule::TaskEndpointMissing, Some("logs")),
            ])
        };
        let error = check_audit(missing(), &[], &Ui::quiet()).expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("the tasks could not start in the VPC the templates create:"),
            "{error}"
        );
        let help = error.help().expect("how to deploy anyway");
        assert!(
            help.ends_with(
                "name each endpoint you accept: --accept-missing-endpoint ecr.dkr \
                 --accept-missing-endpoint logs"
            ),
            "{help}"
        );
        let error = check_audit(missing(), std::slice::from_ref(&ecr_dkr), &Ui::quiet())
            .expect_err("logs is not accepted");
        let help = error.help().expect("how to deploy anyway");
        assert!(
            !help.contains("ecr.dkr") && help.ends_with("--accept-missing-endpoint logs"),
            "{help}"
        );
        let logs: Endpoint = "logs".parse().expect("an endpoint");
        assert!(check_audit(missing(), &[ecr_dkr.clone(), logs], &Ui::quiet()).is_ok());
        // Nothing accepts a finding that breaks isolation.
        let error = check_audit(
            report(vec![finding(Rule::InternetGateway, None)]),
            &[ecr_dkr],
            &Ui::quiet(),
        )
        .expect_err("refused")
        .to_string();
        assert!(
            error.starts_with("the templates would break the VPC's isolation:")
                && !error.contains("--accept-missing-endpoint"),
            "{error}"
        );
    }

    #[test]
    fn a_gap_in_the_data_perimeter_does_not_block_a_deploy_and_a_way_out_does() {
        let warning = || finding(Rule::EndpointPolicyMissing, None);
        assert!(check_audit(report(vec![warning()]), &[], &Ui::quiet()).is_ok());
        let error = check_audit(
            report(vec![warning(), finding(Rule::NatGateway, None)]),
            &[],
            &Ui::quiet(),
        )
        .expect_err("refused")
        .to_string();
        assert!(
            error.contains("[nat-gateway]") && !error.contains("[endpoint-policy-missing]"),
            "{error}"
        );
    }

    #[test]
    fn parameters_that_flags_set_are_refused() {
        let err = refuse_parameter_with_flag("ImageUri").expect_err("has a flag");
        assert!(err.to_string().contains("use --image instead"), "{err}");
        let err = refuse_parameter_with_flag("ContainerCpu").expect_err("has a flag");
        assert!(err.to_string().contains("use --cpu instead"), "{err}");
        refuse_parameter_with_flag("VpcCidr").expect("no flag sets it");
    }
}
