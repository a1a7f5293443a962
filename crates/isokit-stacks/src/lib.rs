//! The bundled CloudFormation stacks: the templates, the endpoint list they define, the static isolation audit, and the SAM CLI runner.
//!
//! The templates live in `stacks/` and are embedded at build time
//! ([`StackSet::bundled`]). The VPC template is the one source of truth for
//! which endpoints exist: [`endpoints_of_vpc_template`] reads them from its
//! `AWS::EC2::VPCEndpoint` resources, its `Endpoints` output lists them for
//! the service, and [`audit`] proves the two agree.

mod audit;
mod bundled;
mod constraints;
mod endpoints;
mod eval;
mod fargate;
mod nested;
mod sam;
mod template;
mod template_dir;

use std::path::PathBuf;

pub use audit::{
    AcceptedFinding, AuditReport, ENDPOINTS_VARIABLE, Finding, Location, NotJudged, Rule, SarifLog,
    Severity, audit, audit_dir,
};
pub use bundled::{NetworkPlan, StackSet, StacksDir, TaskContainer, TemplateFile};
pub use constraints::validate_stack_name;
pub use endpoints::{
    ENDPOINTS_OUTPUT, EndpointsMismatch, VpcEndpoint, active_endpoints, check_endpoints_output,
    endpoints_of_vpc_template, listed_endpoints,
};
pub use eval::ParameterValues;
pub use fargate::{
    DESIRED_COUNT, FARGATE_CPU_UNITS, fargate_memory_options, fargate_zone_ids, validate_desired_count,
    validate_task_size,
};
pub use sam::{
    Artifacts, AwsTarget, DeleteOptions, DeployOptions, OutputTail, SAM_VARIABLE, Sam, SamStop,
    check_passable,
};
pub use template::{Node, Resource, Template};
pub use template_dir::{TemplateDir, read_template_dir};

/// Installing the SAM CLI, for messages.
const SAM_INSTALL_HINT: &str = "install it with `pip install aws-sam-cli` or the installer from \
     https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{} has no {template}: a stacks directory needs parent.yml, isolated-vpc.yml, cluster.yml and \
         private-service.yml (`isokit stacks export DIR` writes the bundled ones to start from)",
        dir.display()
    )]
    MissingTemplate {
        dir: PathBuf,
        template: &'static str,
    },

    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{} already exists; nothing was written (overwrite it only if you mean to: the export can be told to)", path.display())]
    ExportExists { path: PathBuf },

    #[error("{template} is not valid YAML")]
    Yaml {
        template: String,
        source: saphyr::ScanError,
    },

    #[error("{template} is not valid JSON")]
    Json {
        template: String,
        source: serde_json::Error,
    },

    #[error("{template} is not a CloudFormation template: it has no Resources section")]
    NotATemplate { template: String },

    #[error(
        "{} holds no CloudFormation template (a .yml, .yaml, .json or .template file with a \
         Resources section): name the folder your templates are in, or write the bundled ones \
         there to start from with `isokit stacks export DIR`",
        dir.display()
    )]
    NoTemplates { dir: PathBuf },

    #[error("{template} {problem}")]
    Template { template: String, problem: String },

    #[error(
        "parent.yml has no parameter {name}: its parameters are {}",
        known.join(", ")
    )]
    UnknownParameter { name: String, known: Vec<String> },

    #[error(
        "parameter {name} {what}: {template} {rule}{}",
        constraint.as_deref().map(|text| format!(" ({text})")).unwrap_or_default()
    )]
    ParameterNotAllowed {
        /// The template declaring the parameter, as messages name it.
        template: String,
        name: String,
        /// `cannot be "value"`, or a phrase that does not show it (NoEcho).
        what: String,
        /// `allows one of …`, `requires the whole value to match …`, ...
        rule: String,
        /// The parameter's `ConstraintDescription`.
        constraint: Option<String>,
    },

    #[error(
        "{template} declares AllowedPattern `{pattern}` for parameter {name}, which isokit cannot check \
         before deploying: CloudFormation reads it as a Java regular expression, isokit with the syntax \
         the two share, which has no look-around, back-references or possessive quantifiers; \
         rewrite the pattern without them"
    )]
    UncheckablePattern {
        template: String,
        name: String,
        pattern: String,
        source: regex::Error,
    },

    #[error(
        "parameter {name} of {template} has no value and no default: pass --parameter {name}=VALUE"
    )]
    MissingParameter { template: String, name: String },

    #[error(
        "the value of parameter {name} cannot reach CloudFormation intact through SAM, whose parser \
         cannot read an odd number of backslashes at the end of a value or before a line break, nor \
         in one value both before a single quote and before a double quote: change the value"
    )]
    ParameterUnpassable { name: String },

    #[error(
        "{name:?} is not a CloudFormation stack name ({problem}): a stack name starts with a letter and \
         holds only letters, digits and hyphens, at most 128 characters"
    )]
    InvalidStackName { name: String, problem: String },

    #[error("cannot evaluate {template}: {reason}")]
    Evaluate { template: String, reason: String },

    #[error(
        "Fargate has no {cpu} CPU unit size: use one of {}",
        join(&FARGATE_CPU_UNITS)
    )]
    InvalidCpu { cpu: u32 },

    #[error(
        "Fargate has no task size of {cpu} CPU units with {memory_mib} MiB: with {cpu} CPU units, memory must be one of {} MiB",
        join(valid)
    )]
    InvalidMemory {
        cpu: u32,
        memory_mib: u32,
        valid: Vec<u32>,
    },

    #[error(
        "a desired count of {count} tasks is out of range: use {} to {}",
        DESIRED_COUNT.start(),
        DESIRED_COUNT.end()
    )]
    InvalidDesiredCount { count: u32 },

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
        tail: OutputTail,
    },

    #[error(
        "sam {command} was stopped by {}: stack {stack} {}; see where it is with `aws cloudformation \
         describe-stacks --stack-name {stack} --region {region}`, then {}",
        sam::signal_name(*signal),
        interrupted_state(command),
        interrupted_next_step(command, stack)
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
        status: String,
        /// CloudFormation's status reason, when known.
        reason: Option<String>,
    },
}

/// The statuses from which a stack can only be deleted.
pub const ONLY_DELETABLE_STATUSES: [&str; 3] =
    ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"];

fn why_only_deletable(status: &str) -> &'static str {
    match status {
        "ROLLBACK_COMPLETE" => "its first creation failed and was rolled back",
        "ROLLBACK_FAILED" => "its first creation failed, and so did the rollback",
        "DELETE_FAILED" => "a deletion failed part-way",
        _ => "an earlier operation failed",
    }
}

/// What an interrupted SAM run may have left behind: CloudFormation carries
/// on with an operation it had started, whatever happens to SAM.
fn interrupted_state(command: &str) -> &'static str {
    match command {
        "delete" => {
            "may be part-way through its deletion, which CloudFormation finishes on its own"
        }
        _ => {
            "may be part-way through a change, which CloudFormation finishes (or rolls back) on its \
             own, or hold a change set SAM never executed (REVIEW_IN_PROGRESS)"
        }
    }
}

fn interrupted_next_step(command: &str, stack: &str) -> String {
    match command {
        "delete" => format!("run `isokit teardown --stack-name {stack}` again"),
        _ => format!(
            "run the same `isokit deploy` again once it has settled: it says whether stack {stack} \
             needs `isokit teardown --stack-name {stack}` first"
        ),
    }
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
