//! Raw arguments resolved once into the libraries' option structs.

use crate::cli::{DeployArgs, LogsArgs, PushArgs, RehearseArgs, StatusArgs, TeardownArgs};

pub(crate) fn deploy_options(
    args: DeployArgs,
    show_sam_output: bool,
) -> isokit_deploy::DeployOptions {
    isokit_deploy::DeployOptions {
        image: args.image,
        stack_name: args.stack.stack_name,
        service_name: args.service_name,
        desired_count: args.desired_count,
        cpu: args.cpu,
        memory_mib: args.memory,
        cpu_architecture: args.cpu_architecture.into(),
        ec2_endpoints: args.ec2,
        enable_exec: args.enable_exec,
        log_retention_days: args.log_retention_days,
        s3_bucket: args.s3_bucket,
        stacks_dir: args.stacks_dir,
        extra_parameters: args.parameters,
        sam: args.stack.sam,
        show_sam_output,
        accept_missing_endpoints: args.accept_missing_endpoint,
        extra_endpoints: args.endpoints,
        availability_zones: args.availability_zones,
        watch: isokit_deploy::WatchOptions {
            enabled: !args.no_watch,
            fail_fast: !args.no_fail_fast,
            timeout: args.watch_timeout,
            report_timeout: args.report_timeout,
        },
    }
}

pub(crate) fn teardown_options(
    args: TeardownArgs,
    show_sam_output: bool,
) -> isokit_deploy::TeardownOptions {
    isokit_deploy::TeardownOptions {
        stack_name: args.stack.stack_name,
        delete_repository: args.delete_repo,
        sam: args.stack.sam,
        show_sam_output,
        keep_logs: args.keep_logs,
    }
}

pub(crate) fn push_options(args: PushArgs, verbose: bool) -> isokit_push::PushOptions {
    isokit_push::PushOptions {
        context: args.context,
        dockerfile: args.file,
        repository: args.repo,
        tag: args.tag,
        target: args.target,
        build_args: args.build_args.into_iter().collect(),
        labels: args.labels.into_iter().collect(),
        platform: args.platform,
        immutable_tags: args.immutable_tags,
        via: match args.push_via {
            crate::cli::PushVia::Direct => isokit_push::PushVia::Direct,
            crate::cli::PushVia::Engine => isokit_push::PushVia::Engine,
        },
        compression_level: args.compression_level,
        builder: match args.builder {
            crate::cli::Builder::Buildkit => isokit_push::Builder::BuildKit,
            crate::cli::Builder::Classic => isokit_push::Builder::Classic,
        },
        secrets: args.secrets,
        no_cache: args.no_cache,
        pull: args.pull,
        step_output: verbose,
    }
}

pub(crate) fn rehearse_options(args: RehearseArgs) -> isokit_rehearse::RehearseOptions {
    isokit_rehearse::RehearseOptions {
        image: args.image,
        without: args.without,
        stack_name: args.stack_name,
        subnet: args.subnet,
        standin_image: args.standin_image,
        timeout: args.timeout,
    }
}

pub(crate) fn status_options(args: StatusArgs) -> isokit_watch::StatusOptions {
    isokit_watch::StatusOptions {
        stack_name: args.stack_name,
    }
}

pub(crate) fn logs_options(args: LogsArgs) -> isokit_watch::LogsOptions {
    isokit_watch::LogsOptions {
        stack_name: args.stack_name,
        since: args.since,
        task: args.task,
        follow: args.follow,
    }
}
