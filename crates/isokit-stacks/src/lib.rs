//! CloudFormation templates: the bundled stacks and any template set, their parameters, the endpoint list they define, and the static isolation audit.
//!
//! The templates live in `stacks/` and are embedded at build time
//! ([`StackSet::bundled`]). The VPC template is the one source of truth for
//! which endpoints exist: [`endpoints_of_vpc_template`] reads them from its
//! `AWS::EC2::VPCEndpoint` resources, its `Endpoints` output lists them for
//! the service, and [`audit`] proves the two agree.

mod audit;
mod constraints;
mod endpoints;
mod eval;
mod fargate;
mod nested;
pub mod outputs;
mod stack_set;
mod template;
mod template_dir;

use std::path::PathBuf;

pub use audit::{
    AcceptedFinding, AuditReport, EndpointNeed, Finding, Location, NotJudged, Rule, SarifLog,
    Severity, audit, audit_dir, audit_with, endpoint_needs,
};
pub use constraints::validate_stack_name;
pub use endpoints::{
    ENDPOINTS_OUTPUT, EndpointsMismatch, VpcEndpoint, active_endpoints, check_endpoints_output,
    endpoints_of_vpc_template, listed_endpoints,
};
pub use eval::ParameterValues;
pub use fargate::{
    DESIRED_COUNT, FARGATE_CPU_UNITS, fargate_memory_options, fargate_zone_ids,
    validate_desired_count, validate_task_size,
};
pub use stack_set::{NetworkPlan, ParentParameter, StackSet, TaskContainer, TemplateFile};
pub use template::{Node, Resource, Template};
pub use template_dir::{TemplateDir, read_template_dir};

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
        "{name:?} is not a CloudFormation stack name ({problem}): a stack name starts with a letter and \
         holds only letters, digits and hyphens, at most 128 characters"
    )]
    InvalidStackName { name: String, problem: String },

    #[error(
        "isolated-vpc.yml creates no {endpoint} endpoint; it can create {}: add an \
         AWS::EC2::VPCEndpoint for it to a customised copy of the templates (`isokit stacks \
         export DIR`, then `isokit deploy --stacks-dir DIR`)",
        offered.join(", ")
    )]
    EndpointNotOffered {
        endpoint: String,
        offered: Vec<String>,
    },

    #[error(
        "isolated-vpc.yml creates the {endpoint} endpoint ({resource}) only when {condition}, \
         which isokit cannot turn on: {why}"
    )]
    EndpointSwitch {
        endpoint: String,
        resource: String,
        condition: String,
        why: String,
    },

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
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
