//! Raw arguments resolved once into the libraries' option structs.

use std::time::Duration;

use isokit_endpoints::Endpoint;

use crate::cli::{DeployArgs, GlobalArgs, PushArgs, RehearseArgs, TeardownArgs};
use crate::run::Failure;

pub(crate) fn deploy_options(
    args: DeployArgs,
    global: &GlobalArgs,
) -> isokit_deploy::DeployOptions {
    isokit_deploy::DeployOptions {
        image: args.image,
        stack_name: args.stack.stack_name,
        service_name: args.service_name,
        desired_count: args.desired_count,
        cpu: args.cpu,
        memory_mib: args.memory,
        ec2_endpoints: args.ec2,
        enable_exec: args.enable_exec,
        log_retention_days: args.log_retention_days,
        s3_bucket: args.s3_bucket,
        stacks_dir: args.stacks_dir,
        extra_parameters: args.parameters,
        sam: args.stack.sam,
        profile: global.aws.profile.clone(),
    }
}

pub(crate) fn teardown_options(
    args: TeardownArgs,
    global: &GlobalArgs,
) -> isokit_deploy::TeardownOptions {
    isokit_deploy::TeardownOptions {
        stack_name: args.stack.stack_name,
        delete_repository: args.delete_repo,
        sam: args.stack.sam,
        profile: global.aws.profile.clone(),
    }
}

pub(crate) fn push_options(args: PushArgs) -> Result<isokit_push::PushOptions, isokit_push::Error> {
    Ok(isokit_push::PushOptions {
        context: args.context,
        dockerfile: args.file,
        repository: args.repo,
        tag: args.tag,
        target: args.target,
        build_args: isokit_push::parse_key_values(&args.build_args)?,
        labels: isokit_push::parse_key_values(&args.labels)?,
        platform: args.platform,
        immutable_tags: args.immutable_tags,
    })
}

pub(crate) fn rehearse_options(
    args: RehearseArgs,
) -> Result<isokit_rehearse::RehearseOptions, Failure> {
    let without = args
        .without
        .iter()
        .map(|name| name.parse::<Endpoint>())
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = parse_duration(&args.timeout).ok_or_else(|| {
        format!(
            "--timeout {}: expected a duration such as 90s, 2m or 500ms",
            args.timeout
        )
    })?;
    Ok(isokit_rehearse::RehearseOptions {
        image: args.image,
        without,
        stack_name: args.stack_name,
        subnet: args.subnet,
        standin_image: args.standin_image,
        timeout,
    })
}

/// `500ms`, `90s`, `2m`: a whole number and a unit.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_number_and_a_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "90", "s", "1h", "1.5s", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
