//! The command line, as clap parses it. Each command's raw arguments are
//! turned into the owning library's options struct in `run.rs`, once.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use isokit_endpoints::Endpoint;
use isokit_rehearse::Ipv4Net;

/// Run containers on Amazon ECS inside a fully isolated VPC: no internet
/// gateway, no NAT gateway, no public IP, only PrivateLink endpoints.
///
/// A typical session:
///
///   isokit push                              # build and push ./Dockerfile to ECR
///   isokit deploy --image <printed URI>      # VPC, endpoints, cluster, service
///   isokit rehearse --image <same URI>       # try the task offline, locally
///   isokit teardown                          # remove it all
///
/// AWS settings come from the standard places (AWS_PROFILE, AWS_REGION,
/// ~/.aws/config, AWS_ENDPOINT_URL); AWS_CA_BUNDLE adds trusted CAs; the
/// Docker Engine is found through DOCKER_HOST.
#[derive(Debug, Parser)]
#[command(
    name = "isokit",
    version,
    propagate_version = true,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Parses the command line, and what clap cannot say on its own: SARIF
    /// reports findings, so only the audit writes it. Usage errors exit 2.
    pub(crate) fn parse_checked() -> Cli {
        let cli = Cli::parse();
        if let Err(error) = cli.check() {
            error.exit();
        }
        cli
    }

    fn check(&self) -> Result<(), clap::Error> {
        let audit = matches!(self.command, Command::Stacks(StacksCommand::Audit { .. }));
        if let Command::Push(push) = &self.command
            && push.builder == Builder::Classic
            && !push.secrets.is_empty()
        {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                "--secret needs BuildKit: the classic builder cannot mount secrets (drop \
                 --builder classic)",
            ));
        }
        if self.global.output == OutputFormat::Sarif && !audit {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                "--output sarif is for `isokit stacks audit` only; other commands write text or \
                 json",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// How results are written on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub(crate) output: OutputFormat,

    /// Print no progress on stderr, only warnings and errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    /// Log more on stderr (-v: isokit's steps, what each build step prints
    /// for push, and SAM's own output for deploy and teardown; -vv: isokit's details). No setting shows more
    /// than info from the AWS SDK, bollard and other libraries, whose lower
    /// levels carry credentials. ISOKIT_LOG takes a full filter instead.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    #[command(flatten)]
    pub(crate) aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON document, for scripts.
    Json,
    /// SARIF 2.1.0, for code-scanning tools (`isokit stacks audit` only).
    Sarif,
}

/// The AWS settings every command shares. Anything not given comes from the
/// standard chain: environment, ~/.aws/config and ~/.aws/credentials.
#[derive(Debug, Args)]
#[command(next_help_heading = "AWS")]
pub(crate) struct AwsArgs {
    /// AWS region [default: AWS_REGION, or the profile's region]
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,

    /// Named profile from ~/.aws/config [default: AWS_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Send every AWS call to this URL instead of AWS's own endpoints
    /// [default: AWS_ENDPOINT_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,

    /// PEM file of CA certificates to trust for AWS calls, beside the
    /// system's (for TLS-inspecting proxies and private endpoints)
    #[arg(
        long,
        global = true,
        env = "AWS_CA_BUNDLE",
        value_name = "PEM",
        hide_env_values = true
    )]
    pub(crate) ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Push(PushArgs),
    Deploy(DeployArgs),
    Teardown(TeardownArgs),
    Rehearse(RehearseArgs),
    Status(StatusArgs),
    Logs(LogsArgs),
    #[command(subcommand)]
    Stacks(StacksCommand),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Print a completion script for a shell, generated from these very
/// arguments. Nothing installs it; for example:
///
///   isokit completions bash > ~/.local/share/bash-completion/completions/isokit
///   isokit completions zsh  > ~/.zfunc/_isokit      # with fpath+=(~/.zfunc)
///   isokit completions fish > ~/.config/fish/completions/isokit.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CompletionsArgs {
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

/// Print a manual page (roff), generated from these very arguments: isokit's
/// own, or a command's (isokit-deploy and so on, as isokit's page lists
/// them). Nothing installs them; for example:
///
///   isokit man > ~/.local/share/man/man1/isokit.1
///   isokit man deploy > ~/.local/share/man/man1/isokit-deploy.1
///   man isokit-deploy
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ManArgs {
    /// The command whose page to print [default: isokit's own]
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Option<String>,
}

/// Build an image through the Docker Engine and push it to a private ECR
/// repository, with a token from the AWS SDK: no credential helper, no
/// `docker login`, no secret written to disk.
///
/// The repository is created when missing (scan on push, encrypted). The
/// result is the image pinned by digest, ready for `isokit deploy --image`.
/// When the repository already holds this image under this tag, nothing is
/// pushed.
///
/// isokit uploads the image itself: the engine exports it, each layer is
/// gzip-compressed on every core and uploaded as it compresses. A layer
/// cache in the user's cache directory (digests and sizes, no secret) spares
/// layers ECR already holds both compressing and uploading.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Build context directory; `.dockerignore` in it is honoured as Docker does.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) context: PathBuf,

    /// Dockerfile to build, inside or outside the context [default: <context>/Dockerfile]
    #[arg(short = 'f', long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,

    /// ECR repository name.
    #[arg(long, value_name = "NAME", default_value = "sample-app-repo")]
    pub(crate) repo: String,

    /// Image tag [default: `ctx-` and 12 hex digits of a digest of the build
    /// inputs (context files, Dockerfile, build arguments, labels, target,
    /// platform), so the same inputs always get the same tag and an image
    /// ECR already holds is neither built nor pushed again. Base images are
    /// not among the inputs: to ship a rebuilt or moved `FROM` image, give a
    /// tag]
    #[arg(long, value_name = "TAG")]
    pub(crate) tag: Option<String>,

    /// Build only up to this stage of a multi-stage Dockerfile.
    #[arg(long, value_name = "STAGE")]
    pub(crate) target: Option<String>,

    /// Build argument (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) build_args: Vec<(String, String)>,

    /// Image label (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) labels: Vec<(String, String)>,

    /// Target platform, such as linux/amd64 or linux/arm64 (Fargate runs both).
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,

    /// Create the repository with immutable tags (an existing repository is left as it is).
    #[arg(long)]
    pub(crate) immutable_tags: bool,

    /// Who builds: BuildKit, as `DOCKER_BUILDKIT=1 docker build` (cache,
    /// secret, bind and tmpfs mounts, `COPY --link`, stages built in
    /// parallel), or the classic builder. An engine without BuildKit (before
    /// Docker 18.09) builds classic, said in one line.
    #[arg(long, value_enum, value_name = "BUILDER", default_value_t = Builder::Buildkit)]
    pub(crate) builder: Builder,

    /// A secret for `RUN --mount=type=secret,id=ID` (repeatable, BuildKit
    /// only): id=ID,src=PATH reads a file, id=ID,env=VAR a variable. It
    /// reaches the step that mounts it and nothing else: not the image, its
    /// history, the output, the logs, nor the content tag, which a changed
    /// secret therefore does not change (give --tag, or --no-cache, to
    /// rebuild for a new secret).
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR", value_parser = parse_secret)]
    pub(crate) secrets: Vec<isokit_push::BuildSecret>,

    /// Build every step afresh, cache mounts aside. Builds even when ECR holds
    /// the content tag already.
    #[arg(long)]
    pub(crate) no_cache: bool,

    /// Pull every base image again, even one the engine has. Builds even
    /// when ECR holds the content tag already: base images are not among
    /// the tag's inputs.
    #[arg(long)]
    pub(crate) pull: bool,

    /// Who uploads the image: isokit (`direct`: layers compressed on every
    /// core, unchanged layers skipped through the layer cache), or the
    /// engine's own push (`engine`: one core per layer). A daemon on another
    /// host (DOCKER_HOST) always pushes itself: the image would cross the
    /// network twice otherwise.
    #[arg(long, value_enum, value_name = "WAY", default_value_t = PushVia::Direct)]
    pub(crate) push_via: PushVia,

    /// gzip level of the layers a direct upload compresses, 0 (stored) to 9
    /// (smallest); 6 is docker's. zstd is not offered: ECR and Fargate
    /// (platform 1.4) take zstd layers, but Docker Engine before 23 cannot
    /// pull them, so such an image would not run everywhere a gzip one does.
    #[arg(long, value_name = "0-9", default_value_t = isokit_push::DEFAULT_COMPRESSION_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub(crate) compression_level: u32,
}

/// [`PushArgs::builder`]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Builder {
    Buildkit,
    Classic,
}

/// [`PushArgs::push_via`]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PushVia {
    Direct,
    Engine,
}

/// Deploy the bundled stacks (isolated VPC with endpoints, ECS cluster,
/// Fargate service) through `sam deploy`.
///
/// The image must already be in ECR; a tag is resolved to its digest so the
/// task definition pins `repo@sha256:…` and a re-pushed tag really
/// redeploys.
///
/// Progress is one line per CloudFormation resource event, nested stacks
/// included (VpcStack/PrivateSubnetOne (AWS::EC2::Subnet) CREATE_COMPLETE);
/// a failure is headed by the first failed resource, followed into the
/// nested stack that failed. SAM's own output shows with -v.
///
/// Once the service exists, its tasks are watched through ECS (their
/// transitions, ECS's events), until its deployment is steady; then each
/// running task's first in-task report is read back from its log stream and
/// shown as a table. The deployment fails (exit 3) at the first task that
/// cannot start, at the second task that stops for the same cause, when
/// ECS's circuit breaker fails it, when it is not steady within
/// --watch-timeout, or when a task's report does not pass; the stopped
/// task's diagnosis is printed at once. A stack being updated is then
/// rolled back (CancelUpdateStack); one being created cannot be cancelled
/// and rolls back once ECS fails its deployment.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// ECR image to run: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag> or @sha256:…
    #[arg(long, value_name = "URI")]
    pub(crate) image: String,

    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// Name of the ECS service.
    #[arg(long, value_name = "NAME", default_value = "isokit-service")]
    pub(crate) service_name: String,

    /// Number of tasks to run.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) desired_count: u32,

    /// Task CPU units (256 = 0.25 vCPU); must pair with --memory as Fargate allows.
    #[arg(long, value_name = "UNITS", default_value_t = 256)]
    pub(crate) cpu: u32,

    /// Task memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub(crate) memory: u32,

    /// The image's CPU architecture: an image built on an Apple silicon Mac
    /// is arm64 unless pushed with --platform linux/amd64.
    #[arg(long, value_enum, default_value_t = CpuArchitecture::X86_64)]
    pub(crate) cpu_architecture: CpuArchitecture,

    /// Also create the ecs, ecs-agent and ecs-telemetry endpoints that EC2
    /// container instances need.
    #[arg(long)]
    pub(crate) ec2: bool,

    /// Allow ECS Exec into the tasks (through the ssmmessages endpoint).
    #[arg(long)]
    pub(crate) enable_exec: bool,

    /// Days to keep the service's logs.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub(crate) log_retention_days: u32,

    /// S3 bucket for SAM's packaged templates [default: SAM's managed bucket (--resolve-s3)]
    #[arg(long, value_name = "BUCKET")]
    pub(crate) s3_bucket: Option<String>,

    /// Deploy templates from this folder instead of the bundled ones (see `isokit stacks export`).
    #[arg(long, value_name = "DIR")]
    pub(crate) stacks_dir: Option<PathBuf>,

    /// Extra template parameter (repeatable), passed to `sam deploy --parameter-overrides`.
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) parameters: Vec<(String, String)>,

    /// Deploy although the audit finds that the tasks need this endpoint to
    /// start and the VPC lacks it (repeatable; each endpoint must be named):
    /// for when the tasks reach it another way, or to see how they fail.
    #[arg(long, value_name = "ENDPOINT")]
    pub(crate) accept_missing_endpoint: Vec<Endpoint>,

    /// Endpoints to create besides those the task definitions need (default:
    /// only those: ecr.api, ecr.dkr, s3 and logs for the bundled service,
    /// ssmmessages with --enable-exec), comma-separated, such as
    /// `secretsmanager,kms`; each interface endpoint is billed per hour in
    /// each Availability Zone.
    #[arg(long, value_name = "ENDPOINT,...", value_delimiter = ',')]
    pub(crate) endpoints: Vec<Endpoint>,

    /// The two Availability Zones for the VPC's subnets, checked as isokit
    /// checks those it chooses [default: the first two of the region, in
    /// EC2's order, where every interface endpoint the VPC creates is
    /// offered and, where AWS lists Fargate's zones, Fargate runs]
    #[arg(long, value_name = "ZONE,ZONE", value_parser = parse_zone_pair)]
    pub(crate) availability_zones: Option<[String; 2]>,

    /// Change nothing: run every check, then print what the deploy would
    /// change, resource by resource (added, modified, replaced, removed,
    /// from the change set SAM creates and isokit removes unexecuted), and
    /// the parameters whose values differ from the deployed stack's. The
    /// nested templates are uploaded to the artifacts bucket, as a deploy
    /// does.
    #[arg(long, conflicts_with_all = ["no_fail_fast", "watch_timeout", "report_timeout"])]
    pub(crate) dry_run: bool,

    /// Finish with the stack operation, as `sam deploy` does: neither watch
    /// the service's tasks nor read their in-task reports.
    #[arg(long, conflicts_with_all = ["no_fail_fast", "watch_timeout", "report_timeout"])]
    pub(crate) no_watch: bool,

    /// Wait for ECS's deployment circuit breaker to fail a deployment
    /// whose tasks fail, rather than failing at the first task that cannot
    /// start or the second that stops for the same cause.
    #[arg(long)]
    pub(crate) no_fail_fast: bool,

    /// The longest the deploy waits for the service to be steady, from
    /// when SAM starts (90s, 10m): past it, the deploy fails (exit 3).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub(crate) watch_timeout: Duration,

    /// The longest it then waits for each running task's first in-task
    /// report (isokit-service writes one within ISOKIT_TIMEOUT of starting).
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = parse_duration)]
    pub(crate) report_timeout: Duration,
}

/// Which stack, and which SAM CLI runs it.
#[derive(Debug, Args)]
pub(crate) struct StackArgs {
    /// CloudFormation stack name.
    #[arg(long, value_name = "NAME", default_value = "isolated-vpc-environment")]
    pub(crate) stack_name: String,

    /// The SAM CLI to run [default: ISOKIT_SAM, then `sam` on PATH]
    #[arg(long, value_name = "PATH")]
    pub(crate) sam: Option<PathBuf>,
}

/// Remove the deployed stacks with `sam delete`; optionally the ECR
/// repository too. A stack that does not exist is not an error.
#[derive(Debug, Args)]
pub(crate) struct TeardownArgs {
    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// Also delete this ECR repository and every image in it.
    #[arg(long, value_name = "NAME")]
    pub(crate) delete_repo: Option<String>,

    /// Do not ask before deleting the repository.
    #[arg(short, long)]
    pub(crate) yes: bool,

    /// Leave the service's log groups, which the stack keeps when it goes
    /// (so that the logs of a failed first deployment survive its
    /// rollback); without this, teardown deletes them.
    #[arg(long)]
    pub(crate) keep_logs: bool,
}

/// Run a task image on the local Docker Engine inside a network built like
/// the isolated VPC, and report what the task sees.
///
/// The image is pulled from ECR with an SDK token; an internal network
/// mirrors the private subnet; stand-in endpoints answer TLS on 443 under
/// exactly the names of the endpoints the VPC stack creates, with
/// certificates from a CA made for this rehearsal. Everything created is
/// removed afterwards, also on failure and on Ctrl-C.
#[derive(Debug, Args)]
pub(crate) struct RehearseArgs {
    /// ECR image to run: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag> or @sha256:…
    #[arg(long, value_name = "URI")]
    pub(crate) image: String,

    /// Leave this endpoint's stand-in out, to see what the task does
    /// without it (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub(crate) without: Vec<Endpoint>,

    /// Deployed stack to mirror (its endpoints and subnet), when it exists.
    #[arg(long, value_name = "NAME", default_value = "isolated-vpc-environment")]
    pub(crate) stack_name: String,

    /// Subnet of the rehearsal network [default: the deployed stack's first
    /// private subnet, else 10.0.128.0/18]
    #[arg(long, value_name = "CIDR", value_parser = parse_subnet)]
    pub(crate) subnet: Option<Ipv4Net>,

    /// Image of the stand-in endpoints: an isokit-service image, which has a
    /// `standin` mode [default: isokit-service:<isokit version>, as
    /// scripts/build-service-image tags it]
    #[arg(long, value_name = "IMAGE")]
    pub(crate) standin_image: Option<String>,

    /// How long to wait for the task's first report.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
}

/// Show the deployed stack, its service, each task with its latest in-task
/// report, and why recently stopped tasks stopped.
///
/// The stack's outputs name the cluster and the service. For the service:
/// its desired, running and pending counts, its deployments and rollout
/// state, and ECS's latest events. For each task: its state, when it
/// started, its health, and its latest in-task report (read from its log
/// stream) with the report's age, as a table of each endpoint's DNS answer,
/// TCP and TLS, and the isolation verdict. For each task stopped in the
/// last 15 minutes: the diagnosis (what is wrong, the fix, ECS's words, its
/// last log lines).
///
/// Exits 0 when all is well, and 3 when anything is unhealthy: the stack
/// failed, the rollout FAILED, a task of the current deployment failed in
/// the last 15 minutes (could not start, exited, failed its health check),
/// a task fails its health check or its latest report, fewer tasks run than
/// desired 10 minutes into the deployment. A stack that does not exist
/// exits 1. --output json gives the same as one JSON document.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct StatusArgs {
    /// CloudFormation stack name, as given to `isokit deploy`.
    #[arg(long, value_name = "NAME", default_value = "isolated-vpc-environment")]
    pub(crate) stack_name: String,
}

/// Print what the service's tasks wrote to CloudWatch Logs, readable.
///
/// The stack's outputs name the service and its log group; each task's
/// container writes to a stream of its own, <service>/<container>/<task ID>.
/// Each event is one line: its time (UTC), the task ID's first 8 characters,
/// then the line the task wrote. isokit-service's JSON lines are made
/// readable: a round of checks as its verdict, the endpoints failing and at
/// which step, and what the egress probes prove; any other JSON line as its
/// level, message and fields; anything else as written.
///
///   isokit logs                            # the last 10 minutes, every task
///   isokit logs --follow --since 60m       # then new events, until Ctrl-C
///   isokit logs --task 0f3e6b1a            # one task (its ID or a prefix)
///   isokit logs --output json | jq 'select(.message.event == "round")'
///
///   2026-05-07T21:09:35Z 0f3e6b1a round 3 HEALTHY: all 7 endpoints reachable; isolated
///   2026-05-07T21:10:05Z 9c2d7e41 round 1 UNHEALTHY: 1 of 7 endpoints failing: logs (tls); isolated
///
/// With --output json, each event is one JSON object on a line of its own:
/// "timestamp" (RFC 3339 UTC, milliseconds), "stream", "task" (the task ID,
/// or null) and "message" (the line parsed when it is a JSON object, else
/// the line as a string).
///
/// Events go to stdout as they arrive, progress to stderr. isokit exits 0
/// when it has printed them, when SIGINT, SIGTERM or SIGHUP stops a follow,
/// and when its reader goes away (isokit logs | head -1).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct LogsArgs {
    /// CloudFormation stack name, as given to `isokit deploy`.
    #[arg(long, value_name = "NAME", default_value = "isolated-vpc-environment")]
    pub(crate) stack_name: String,

    /// Keep printing new events, of new tasks too, until SIGINT, SIGTERM or SIGHUP.
    #[arg(short, long)]
    pub(crate) follow: bool,

    /// Print events from this long ago on (90s, 10m, 120m).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) since: Duration,

    /// Only this task's events: its ID, a prefix of it (the second column),
    /// or its ARN. With --follow, waits for its first lines.
    #[arg(long, value_name = "ID", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) task: Option<String>,
}

/// The bundled CloudFormation templates.
#[derive(Debug, Subcommand)]
pub(crate) enum StacksCommand {
    /// Write the bundled templates to a folder, to customise and deploy with --stacks-dir.
    Export {
        /// Folder to write parent.yml, isolated-vpc.yml, cluster.yml and private-service.yml into.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Overwrite templates already there.
        #[arg(long)]
        force: bool,
    },
    /// Check a template set for every way out of the VPC it makes, and for
    /// gaps in its data perimeter.
    ///
    /// Errors (exit 3): internet, egress-only and NAT gateways, Elastic IPs,
    /// public subnets (IPv4 or IPv6), routes to 0.0.0.0/0 or ::/0, transit
    /// gateways, peering, VPN and Client VPN, routes through network
    /// interfaces, public IPs, internet-facing load balancers, endpoint
    /// policies that reach other accounts (an S3 endpoint without one),
    /// endpoint security groups beyond TCP 443, endpoints the service checks
    /// or the tasks need that the VPC lacks. Warnings (exit 3 with
    /// --strict): endpoints without a policy. A warning a resource's
    /// Metadata accepts (isokit: accept: [{rule, reason}]) is listed as
    /// accepted. What cannot be known before deployment (Fn::ImportValue,
    /// parameters without defaults, SSM parameters, remote nested templates,
    /// macros) is listed as not judged. --output json or sarif for tools.
    Audit {
        /// Audit the templates in this folder instead of the bundled ones:
        /// every .yml, .yaml, .json and .template file in it, and the local
        /// templates their nested stacks and applications name.
        #[arg(long, value_name = "DIR")]
        stacks_dir: Option<PathBuf>,
        /// Warnings fail the audit too (exit 3), not only errors.
        #[arg(long)]
        strict: bool,
    },
}

/// The CPU architectures Fargate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CpuArchitecture {
    /// linux/amd64
    #[value(name = "x86_64")]
    X86_64,
    /// linux/arm64
    #[value(name = "arm64")]
    Arm64,
}

impl From<CpuArchitecture> for isokit_deploy::CpuArchitecture {
    fn from(architecture: CpuArchitecture) -> Self {
        match architecture {
            CpuArchitecture::X86_64 => Self::X86_64,
            CpuArchitecture::Arm64 => Self::Arm64,
        }
    }
}

/// A duration as people write it (`500ms`, `90s`, `2m`, `1h 30m`: humantime's
/// format, which the service's settings share).
/// A rehearsal subnet, checked before anything runs (exit 2 otherwise).
fn parse_subnet(raw: &str) -> Result<Ipv4Net, String> {
    isokit_rehearse::parse_subnet(raw).map_err(|err| err.to_string())
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim()).map_err(|error| {
        format!("`{raw}` is not a duration ({error}): write one such as 90s, 2m, 500ms or 1h 30m")
    })
}

/// Two different zone names, comma-separated.
fn parse_zone_pair(raw: &str) -> Result<[String; 2], String> {
    let names: Vec<&str> = raw.split(',').map(str::trim).collect();
    match names.as_slice() {
        [one, two] if !one.is_empty() && !two.is_empty() && one != two => {
            Ok([(*one).to_owned(), (*two).to_owned()])
        }
        _ => Err(
            "expected two different Availability Zone names, comma-separated, such as \
             us-east-1a,us-east-1b"
                .to_owned(),
        ),
    }
}

/// `KEY=VALUE`, split at the first `=`: the value may hold more, or be empty.
/// A `--secret`, whose file or variable must be there now: a missing one is
/// a usage error before anything is built or created.
fn parse_secret(raw: &str) -> Result<isokit_push::BuildSecret, String> {
    let secret = isokit_push::BuildSecret::parse(raw)?;
    secret.read().map_err(|error| {
        let mut text = error.to_string();
        if let Some(source) = std::error::Error::source(&error) {
            text.push_str(&format!(" ({source})"));
        }
        text
    })?;
    Ok(secret)
}

fn parse_key_value(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE, with a KEY before the first `=`".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_people_write_them_with_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "90", "s", "1.5", "-1s", "soon"] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(error.contains("such as 90s"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn bad_logs_values_are_usage_errors() {
        for args in [
            ["isokit", "logs", "--since", "ten minutes"],
            ["isokit", "logs", "--task", ""],
        ] {
            let error = Cli::try_parse_from(args).expect_err("refused");
            assert_eq!(error.exit_code(), 2, "{error}");
        }
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(parse_key_value("A=1"), Ok(("A".into(), "1".into())));
        assert_eq!(parse_key_value("B=x=y"), Ok(("B".into(), "x=y".into())));
        assert_eq!(
            parse_key_value("EMPTY="),
            Ok(("EMPTY".into(), String::new()))
        );
        for flag in ["--build-arg", "--label"] {
            for bad in ["=1", "NOVALUE"] {
                let error = Cli::try_parse_from(["isokit", "push", "--repo", "r", flag, bad])
                    .expect_err(bad);
                assert_eq!(error.exit_code(), 2, "{flag} {bad}: {error}");
                assert!(error.to_string().contains("expected KEY=VALUE"), "{error}");
            }
        }
        let error = Cli::try_parse_from(["isokit", "deploy", "--image", "i", "--parameter", "X"])
            .expect_err("no =");
        assert_eq!(error.exit_code(), 2, "{error}");
    }

    #[test]
    fn availability_zones_are_two_different_names() {
        assert_eq!(
            parse_zone_pair("us-east-1a, us-east-1c"),
            Ok(["us-east-1a".to_owned(), "us-east-1c".to_owned()])
        );
        for bad in ["us-east-1a", "us-east-1a,us-east-1a", "a,b,c", "a,", ""] {
            let error = Cli::try_parse_from([
                "isokit",
                "deploy",
                "--image",
                "i",
                "--availability-zones",
                bad,
            ])
            .expect_err(bad);
            assert_eq!(error.exit_code(), 2, "{bad:?}: {error}");
            assert!(error.to_string().contains("two different"), "{error}");
        }
    }

    #[test]
    fn only_the_audit_writes_sarif() {
        let parsed = |args: &[&str]| Cli::try_parse_from(args).expect("parses");
        parsed(&["isokit", "stacks", "audit", "--output", "sarif", "--strict"])
            .check()
            .expect("the audit writes SARIF");
        parsed(&["isokit", "--output", "json", "stacks", "export", "dir"])
            .check()
            .expect("json is for every command");
        for args in [
            &["isokit", "--output", "sarif", "stacks", "export", "dir"][..],
            &["isokit", "status", "--output", "sarif", "--quiet"],
        ] {
            let error = parsed(args).check().expect_err("refused");
            assert_eq!(error.exit_code(), 2, "{error}");
            assert!(error.to_string().contains("isokit stacks audit"), "{error}");
        }
    }

    #[test]
    fn bad_rehearsal_values_are_usage_errors() {
        for args in [
            ["isokit", "rehearse", "--image", "x", "--timeout", "an hour"],
            ["isokit", "rehearse", "--image", "x", "--without", "ECR DKR"],
        ] {
            let error = Cli::try_parse_from(args).expect_err("refused");
            assert_eq!(error.exit_code(), 2, "{error}");
        }
    }
}
