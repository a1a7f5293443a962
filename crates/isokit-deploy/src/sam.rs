//! Running the SAM CLI: finding it, building its arguments, showing its
//! output on request, and keeping its last lines for an error. What SAM
//! did is read from CloudFormation, not from this output, which is meant
//! for people and changes between SAM versions.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use isokit_aws::Aws;
use isokit_ui::{StopSignal, StopSignals, Style, Ui};
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};

use crate::Error;
use isokit_stacks::ParameterValues;

/// The variable that names the `sam` to run when no path is given.
pub const SAM_VARIABLE: &str = "ISOKIT_SAM";

/// How many of SAM's last lines an error keeps.
const TAIL_LINES: usize = 40;

/// How long SAM may take to exit after isokit asks it to stop
/// ([`SamStop`]) before its process group is killed. SAM waiting on
/// CloudFormation exits at once on SIGINT; one busy uploading may take a
/// moment to notice.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where SAM uploads the nested templates for CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifacts {
    /// `--resolve-s3`: a bucket SAM creates and manages.
    ResolveS3,
    /// `--s3-bucket NAME`: a bucket that already exists.
    Bucket(String),
}

/// Installing the SAM CLI, for messages.
pub(crate) const SAM_INSTALL_HINT: &str = "install it with `pip install aws-sam-cli` or the installer from \
     https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html";

/// SAM acts with isokit's own AWS settings, so that it deploys to the
/// account and region isokit has just checked: the region and profile as
/// flags, the settings SAM has no flag for as the variables botocore reads.
/// SAM's command line for `command` on a stack: its own flags, then the
/// region and profile isokit resolved, so that SAM acts where isokit does.
fn command_line(command: &str, stack_name: &str, flags: Vec<OsString>, aws: &Aws) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![command.into(), "--stack-name".into(), stack_name.into()];
    args.extend(flags);
    args.extend(["--region".into(), aws.region().into()]);
    if let Some(profile) = &aws.settings().profile {
        args.extend(["--profile".into(), profile.into()]);
    }
    args
}

fn aws_environment(aws: &Aws) -> Vec<(&'static str, OsString)> {
    let settings = aws.settings();
    let mut variables = Vec::new();
    if let Some(url) = &settings.endpoint_url {
        variables.push(("AWS_ENDPOINT_URL", url.into()));
    }
    if let Some(bundle) = &settings.ca_bundle {
        variables.push(("AWS_CA_BUNDLE", bundle.into()));
    }
    variables
}

/// A SAM command isokit runs: its words, the `samconfig.toml` text it
/// reads, and the stack and AWS settings it acts on.
pub trait SamCommand {
    /// As in `sam NAME`.
    const NAME: &'static str;
    fn arguments(&self) -> Vec<OsString>;
    fn config(&self) -> Result<String, Error>;
    /// The stack the command acts on, and the AWS settings it acts with.
    fn target(&self) -> (&str, &Aws);
}

/// `sam deploy` of the parent template.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The parent template (`<stacks dir>/parent.yml`).
    pub template_file: PathBuf,
    pub stack_name: String,
    pub parameters: ParameterValues,
    pub artifacts: Artifacts,
    /// `false`: SAM creates the change set and leaves it unexecuted
    /// (`--no-execute-changeset`), for a preview.
    pub execute: bool,
    pub aws: Aws,
}

impl SamCommand for DeployOptions {
    const NAME: &'static str = "deploy";

    /// SAM's command line. The parameter values are not on it: `ps` shows
    /// every process's arguments to every user, and a value may be a
    /// secret. They go in SAM's configuration file ([`DeployOptions::config`]).
    fn arguments(&self) -> Vec<OsString> {
        let mut flags: Vec<OsString> = vec![
            "--template-file".into(),
            self.template_file.clone().into(),
            "--capabilities".into(),
            "CAPABILITY_IAM".into(),
        ];
        match &self.artifacts {
            Artifacts::ResolveS3 => flags.push("--resolve-s3".into()),
            Artifacts::Bucket(bucket) => flags.extend(["--s3-bucket".into(), bucket.into()]),
        }
        flags.push("--no-fail-on-empty-changeset".into());
        if !self.execute {
            flags.push("--no-execute-changeset".into());
        }
        command_line(Self::NAME, &self.stack_name, flags, &self.aws)
    }

    /// The `samconfig.toml` text that hands SAM the parameter values.
    fn config(&self) -> Result<String, Error> {
        let mut text = config_header(Self::NAME);
        if self.parameters.iter().next().is_none() {
            return Ok(text);
        }
        text.push_str("parameter_overrides = [\n");
        for (name, value) in self.parameters.iter() {
            let entry =
                parameter_override(name, value).ok_or_else(|| Error::ParameterUnpassable {
                    name: name.to_owned(),
                })?;
            let _ = writeln!(text, "  {},", toml_string(&entry));
        }
        text.push_str("]\n");
        Ok(text)
    }

    fn target(&self) -> (&str, &Aws) {
        (&self.stack_name, &self.aws)
    }
}

/// Refuses, before anything runs, a value SAM cannot pass on intact.
pub fn check_passable(parameters: &ParameterValues) -> Result<(), Error> {
    match parameters
        .iter()
        .find(|(name, value)| parameter_override(name, value).is_none())
    {
        Some((name, _)) => Err(Error::ParameterUnpassable {
            name: name.to_owned(),
        }),
        None => Ok(()),
    }
}

/// `sam delete` of a stack.
#[derive(Debug, Clone)]
pub struct DeleteOptions {
    pub stack_name: String,
    pub aws: Aws,
}

/// `sam delete --no-prompts` succeeds for a stack that does not exist.
impl SamCommand for DeleteOptions {
    const NAME: &'static str = "delete";

    fn arguments(&self) -> Vec<OsString> {
        command_line(
            Self::NAME,
            &self.stack_name,
            vec!["--no-prompts".into()],
            &self.aws,
        )
    }

    /// Nothing to set, but passing a file of isokit's own keeps SAM from
    /// reading one in the working folder.
    fn config(&self) -> Result<String, Error> {
        Ok(config_header(Self::NAME))
    }

    fn target(&self) -> (&str, &Aws) {
        (&self.stack_name, &self.aws)
    }
}

/// The environment of the configuration file isokit writes for SAM.
const CONFIG_ENV: &str = "isokit";

/// The start of a `samconfig.toml` for `command` (SAM refuses a file
/// without its `version`).
fn config_header(command: &str) -> String {
    format!("version = 0.1\n\n[{CONFIG_ENV}.{command}.parameters]\n")
}

/// SAM's configuration file for one run, in a private temporary folder
/// (mode 0700, the file 0600) removed when this is dropped. Passing one
/// also keeps SAM from reading a `samconfig.toml` in the working folder,
/// whose profile, region or prompts would steer it away from what isokit
/// checked.
#[derive(Debug)]
struct SamConfig {
    folder: tempfile::TempDir,
}

impl SamConfig {
    const FILE: &str = "samconfig.toml";

    fn write(text: &str) -> Result<SamConfig, Error> {
        let folder = tempfile::Builder::new()
            .prefix("isokit-sam-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|source| Error::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let path = folder.path().join(Self::FILE);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|source| Error::Write { path, source })?;
        Ok(SamConfig { folder })
    }

    fn arguments(&self) -> [OsString; 4] {
        [
            "--config-file".into(),
            self.folder.path().join(Self::FILE).into(),
            "--config-env".into(),
            CONFIG_ENV.into(),
        ]
    }
}

/// `ParameterKey=Name,ParameterValue='value'`, written so that SAM's
/// parser reads back exactly `value`; `None` for the few values it cannot
/// read at all.
///
/// SAM (`samcli.cli.types.CfnParameterOverridesType`) matches each entry
/// with a regular expression in which, inside quotes, a backslash always
/// escapes the next character (any but a line break), then strips the
/// quotes and turns `\ `, `\"` and `\'` into a space and the quotes. So a
/// run of backslashes before one of those three characters gets one more
/// backslash, the quote character is escaped, and the value is quoted with
/// whichever quote its backslashes allow. The long form is used because
/// SAM looks for it anywhere in an entry first: a value holding
/// `ParameterKey=X,ParameterValue=Y` would otherwise set X.
fn parameter_override(name: &str, value: &str) -> Option<String> {
    let quote = ['\'', '"']
        .into_iter()
        .find(|quote| sam_can_quote(value, *quote))?;
    let mut out = format!("ParameterKey={name},ParameterValue={quote}");
    let mut backslashes = 0;
    for c in value.chars() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        let escaped = matches!(c, ' ' | '"' | '\'') && (backslashes > 0 || c == quote);
        out.extend(std::iter::repeat_n(
            '\\',
            backslashes + usize::from(escaped),
        ));
        out.push(c);
        backslashes = 0;
    }
    out.extend(std::iter::repeat_n('\\', backslashes));
    out.push(quote);
    Some(out)
}

/// Whether SAM's parser can read `value` inside `quote`: a quote of that
/// kind, a line break and the end of the value may each follow only an
/// even run of backslashes (an odd one would escape them).
fn sam_can_quote(value: &str, quote: char) -> bool {
    let mut backslashes = 0usize;
    for c in value.chars() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        if (c == quote || c == '\n') && !backslashes.is_multiple_of(2) {
            return false;
        }
        backslashes = 0;
    }
    backslashes.is_multiple_of(2)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// SAM's last lines, for an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputTail(pub Vec<String>);

impl fmt::Display for OutputTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        writeln!(f, "\nlast lines of its output:")?;
        for line in &self.0 {
            writeln!(f, "  | {line}")?;
        }
        Ok(())
    }
}

/// Asks a SAM run to stop for a reason of isokit's own (a deployment found
/// failing): SAM's process group hears SIGINT, as from Ctrl-C, and is
/// killed if it has not exited [`STOP_GRACE`] later. The run then ends in
/// [`Error::SamStopped`]. Cheap to clone; every clone stops the same run.
#[derive(Debug, Clone, Default)]
pub struct SamStop(Arc<Notify>);

impl SamStop {
    /// Stops the run now, or as soon as it starts.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// The SAM CLI executable, and whether its output is shown as it runs.
#[derive(Debug, Clone)]
pub struct Sam {
    program: PathBuf,
    show_output: bool,
    stop: SamStop,
}

impl Sam {
    /// Finds `sam`: `explicit` when given, else the path in `ISOKIT_SAM`,
    /// else the first `sam` on `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<Sam, Error> {
        let program = locate_in(
            explicit,
            std::env::var_os(SAM_VARIABLE),
            std::env::var_os("PATH"),
        )?;
        Ok(Sam {
            program,
            show_output: false,
            stop: SamStop::default(),
        })
    }

    /// Lets `stop` end the runs of this SAM ([`SamStop`]).
    pub fn stopped_by(self, stop: SamStop) -> Sam {
        Sam { stop, ..self }
    }

    /// Shows SAM's own output through the [`Ui`] as it runs (it is kept
    /// for an error either way).
    pub fn show_output(self, show_output: bool) -> Sam {
        Sam {
            show_output,
            ..self
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs a SAM command. A signal that `signals` hears meanwhile is
    /// passed on to SAM ([`Error::SamInterrupted`]).
    pub async fn run<C: SamCommand>(
        &self,
        sam_command: &C,
        ui: &Ui,
        signals: &mut StopSignals,
    ) -> Result<(), Error> {
        let command = C::NAME;
        let config = SamConfig::write(&sam_command.config()?)?;
        let (stack, aws) = sam_command.target();
        let mut arguments = sam_command.arguments();
        arguments.extend(config.arguments());
        tracing::debug!(program = %self.program.display(), ?arguments, "running SAM");
        let mut process = Command::new(&self.program);
        process
            .args(&arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .envs(aws_environment(aws))
            // In its own process group, SAM hears a signal only through us,
            // once, whether it came from the terminal or from `kill`; and
            // the group is what we stop, SAM and anything it started.
            .process_group(0);
        die_with_parent(&mut process);
        // SAM's telemetry would call out to the internet on the user's behalf;
        // it stays off unless the user has said otherwise.
        if std::env::var_os("SAM_CLI_TELEMETRY").is_none() {
            process.env("SAM_CLI_TELEMETRY", "0");
        }
        let mut sam = SamProcess {
            child: process.spawn().map_err(|source| Error::SamStart {
                program: self.program.clone(),
                source,
            })?,
        };

        let (sender, mut lines) = mpsc::unbounded_channel();
        if let Some(stdout) = sam.child.stdout.take() {
            tokio::spawn(forward_lines(stdout, sender.clone()));
        }
        if let Some(stderr) = sam.child.stderr.take() {
            tokio::spawn(forward_lines(stderr, sender));
        }

        // The first signal is passed on to SAM's group, which stops what it
        // is doing; we keep reading until it exits. A second one kills it.
        // isokit's own request to stop is passed on the same way, and SAM is
        // killed if it has not exited within the grace.
        let mut output = SamOutput::default();
        let mut stopped_by: Option<StopSignal> = None;
        let mut stop_requested = false;
        let mut kill_at: Option<tokio::time::Instant> = None;
        loop {
            let grace_over = async {
                match kill_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.0.notified(), if !stop_requested && stopped_by.is_none() => {
                    tracing::debug!("stopping sam {command} on isokit's request");
                    stop_requested = true;
                    sam.signal_group(Signal::INT);
                    kill_at = Some(tokio::time::Instant::now() + STOP_GRACE);
                }
                () = grace_over => {
                    ui.warn(format!("sam {command} did not stop within {} s: killing it", STOP_GRACE.as_secs()));
                    sam.signal_group(Signal::KILL);
                    kill_at = None;
                }
                line = lines.recv() => match line {
                    Some(line) => {
                        if self.show_output {
                            ui.passthrough(&line);
                        }
                        output.line(&line);
                    }
                    None => break,
                },
                stop = signals.recv() => match stopped_by {
                    None => {
                        stopped_by = Some(stop);
                        ui.warn(format!(
                            "{} received: waiting for sam {command} to stop ({})",
                            signal_name(stop),
                            match stop {
                                StopSignal::Interrupt => "Ctrl-C again kills it",
                                _ => "a second signal kills it",
                            }
                        ));
                        sam.signal_group(match stop {
                            StopSignal::Interrupt => Signal::INT,
                            StopSignal::Terminate => Signal::TERM,
                            StopSignal::Hangup => Signal::HUP,
                        });
                    }
                    Some(_) => {
                        ui.warn(format!("killing sam {command}"));
                        sam.signal_group(Signal::KILL);
                    }
                },
            }
        }
        let status = sam
            .child
            .wait()
            .await
            .map_err(|source| Error::SamWait { source })?;
        if let Some(stop) = stopped_by {
            return Err(Error::SamInterrupted {
                command,
                signal: stop,
                stack: stack.to_owned(),
                region: aws.region().to_owned(),
            });
        }
        if stop_requested {
            return Err(Error::SamStopped { command });
        }
        let shown = self.show_output && ui.style() != Style::Quiet;
        output.verdict(command, status, shown)
    }
}

/// A signal as messages name it.
pub(crate) fn signal_name(signal: StopSignal) -> String {
    match signal {
        StopSignal::Interrupt => format!("{signal} (Ctrl-C)"),
        other => other.to_string(),
    }
}

/// SAM's process, the leader of its own process group. Dropped before SAM
/// has been reaped (on an error, when the future running it is dropped, in
/// a panic unwinding), it kills the whole group: SAM never outlives the
/// call that started it. Once reaped, its ID may belong to another
/// process, so nothing is signalled.
#[derive(Debug)]
struct SamProcess {
    child: Child,
}

impl SamProcess {
    /// Sends `signal` to SAM's process group while SAM has not been reaped.
    fn signal_group(&self, signal: Signal) {
        let group = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        if let Some(group) = group {
            // Already gone is fine: the caller waits for SAM and reports
            // how it ended.
            let _ = rustix::process::kill_process_group(group, signal);
        }
    }
}

impl Drop for SamProcess {
    fn drop(&mut self) {
        self.signal_group(Signal::KILL);
    }
}

/// Has the kernel kill SAM when isokit dies, however it dies: a SIGKILL, a
/// panic under `panic = "abort"` (the release profile's) or the
/// out-of-memory killer run no handler and no destructor. This is the only
/// `unsafe` in the workspace: the parent-death signal must be set in the
/// child, between fork and exec.
///
/// The kernel sends it when the *thread* that forked the child exits. SAM
/// is started from the task running [`Sam::run`], so from a tokio worker
/// thread or the thread blocking on the runtime, and both live as long as
/// the runtime, which lives as long as isokit. (`block_in_place` would hand
/// a worker thread to the blocking pool, which retires idle threads;
/// nothing in isokit or its dependencies calls it.)
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(process: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe work is allowed: it makes two system calls through
    // rustix (prctl, getppid), allocates nothing and takes no lock; its
    // error is an OS error code, which allocates nothing either.
    unsafe {
        process.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // isokit died between fork and prctl: no signal will ever come.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal: SAM's group is still killed
/// on every way out of [`Sam::run`] that runs destructors.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_process: &mut Command) {}

async fn forward_lines(stream: impl AsyncRead + Unpin, sender: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buffer);
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                if sender.send(line).is_err() {
                    break;
                }
            }
        }
    }
}

fn locate_in(
    explicit: Option<&Path>,
    variable: Option<OsString>,
    path: Option<OsString>,
) -> Result<PathBuf, Error> {
    if let Some(explicit) = explicit {
        return checked(explicit.to_owned(), "the path given");
    }
    if let Some(named) = variable.filter(|value| !value.is_empty()) {
        return checked(PathBuf::from(named), SAM_VARIABLE);
    }
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("sam"))
        .find(|candidate| is_executable(candidate))
        .ok_or(Error::SamNotFound)
}

fn checked(program: PathBuf, origin: &'static str) -> Result<PathBuf, Error> {
    if is_executable(&program) {
        Ok(program)
    } else {
        Err(Error::SamNotExecutable { program, origin })
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// What is kept of SAM's output as it streams: its last lines, and its
/// last `Error: ` line, which says in one line why SAM itself gave up.
#[derive(Debug, Default)]
pub(crate) struct SamOutput {
    tail: VecDeque<String>,
    error_line: Option<String>,
}

impl SamOutput {
    pub(crate) fn line(&mut self, line: &str) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        if let Some(error) = line.strip_prefix("Error: ") {
            self.error_line = Some(error.trim().to_owned());
        }
    }

    /// SAM's exit status decides; the output explains. The last lines go
    /// in the error unless the user has just seen them go by (`shown`).
    pub(crate) fn verdict(
        self,
        command: &'static str,
        status: ExitStatus,
        shown: bool,
    ) -> Result<(), Error> {
        if status.success() {
            return Ok(());
        }
        Err(Error::SamFailed {
            command,
            status: describe_status(status),
            error_line: self.error_line,
            tail: if shown {
                OutputTail::default()
            } else {
                OutputTail(self.tail.into_iter().collect())
            },
        })
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// What an interrupted SAM run may have left behind: CloudFormation carries
/// on with an operation it had started, whatever happens to SAM.
pub(crate) fn interrupted_state(command: &str) -> &'static str {
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

pub(crate) fn interrupted_next_step(command: &str, stack: &str) -> String {
    match command {
        "delete" => format!("run `isokit teardown --stack-name {stack}` again"),
        _ => format!(
            "run the same `isokit deploy` again once it has settled: it says whether stack {stack} \
             needs `isokit teardown --stack-name {stack}` first"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn texts(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Settings as isokit's flags give them; loading them calls nothing.
    async fn aws(region: &str, profile: Option<&str>) -> Aws {
        Aws::load(&isokit_aws::AwsSettings {
            region: Some(region.into()),
            profile: profile.map(str::to_owned),
            endpoint_url: None,
            ca_bundle: None,
        })
        .await
        .expect("settings with a region")
    }

    async fn deploy_options(artifacts: Artifacts, profile: Option<&str>) -> DeployOptions {
        DeployOptions {
            template_file: PathBuf::from("/tmp/stacks/parent.yml"),
            stack_name: "isolated-vpc-environment".into(),
            parameters: ParameterValues::new()
                .with(
                    "ImageUri",
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc",
                )
                .with("DesiredCount", "2"),
            artifacts,
            execute: true,
            aws: aws("eu-west-1", profile).await,
        }
    }

    #[tokio::test]
    async fn deploy_arguments_follow_the_documented_command() {
        let args = texts(&deploy_options(Artifacts::ResolveS3, None).await.arguments());
        assert_eq!(
            args.join(" "),
            "deploy --stack-name isolated-vpc-environment --template-file /tmp/stacks/parent.yml \
             --capabilities CAPABILITY_IAM --resolve-s3 --no-fail-on-empty-changeset --region eu-west-1"
        );
        let args = texts(
            &deploy_options(Artifacts::Bucket("artifacts".into()), Some("ops"))
                .await
                .arguments(),
        );
        let tail: Vec<&str> = args
            .iter()
            .rev()
            .take(7)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "--s3-bucket",
                "artifacts",
                "--no-fail-on-empty-changeset",
                "--region",
                "eu-west-1",
                "--profile",
                "ops"
            ]
        );
        // A preview leaves the change set SAM creates unexecuted.
        let preview = DeployOptions {
            execute: false,
            ..deploy_options(Artifacts::ResolveS3, None).await
        };
        assert!(
            texts(&preview.arguments()).ends_with(&[
                "--no-fail-on-empty-changeset".to_owned(),
                "--no-execute-changeset".to_owned(),
                "--region".to_owned(),
                "eu-west-1".to_owned()
            ]),
            "{:?}",
            preview.arguments()
        );
    }

    #[tokio::test]
    async fn parameter_values_go_in_the_config_file_not_on_the_command_line() {
        let options = deploy_options(Artifacts::ResolveS3, None).await;
        assert!(
            !texts(&options.arguments())
                .iter()
                .any(|arg| arg.contains("sha256:abc") || arg.contains("--parameter")),
            "{:?}",
            options.arguments()
        );
        assert_eq!(
            options.config().expect("passable"),
            "version = 0.1\n\n[isokit.deploy.parameters]\nparameter_overrides = [\n  \
             \"ParameterKey=DesiredCount,ParameterValue='2'\",\n  \
             \"ParameterKey=ImageUri,ParameterValue='123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc'\",\n]\n"
        );
        let mut none = options.clone();
        none.parameters = ParameterValues::new();
        assert_eq!(
            none.config().expect("nothing to pass"),
            "version = 0.1\n\n[isokit.deploy.parameters]\n"
        );
        let mut unpassable = options;
        unpassable.parameters = ParameterValues::new().with("Path", r"C:\dir\");
        let error = unpassable.config().expect_err("odd trailing backslash");
        assert!(
            error
                .to_string()
                .starts_with("the value of parameter Path cannot reach"),
            "{error}"
        );
        assert!(
            !error.to_string().contains(r"C:\dir"),
            "the value is never shown: {error}"
        );
    }

    #[tokio::test]
    async fn delete_arguments_never_prompt() {
        let options = DeleteOptions {
            stack_name: "s".into(),
            aws: aws("us-east-1", Some("p")).await,
        };
        assert_eq!(
            texts(&options.arguments()).join(" "),
            "delete --stack-name s --no-prompts --region us-east-1 --profile p"
        );
        assert_eq!(
            options.config().expect("nothing to refuse"),
            "version = 0.1\n\n[isokit.delete.parameters]\n"
        );
    }

    #[test]
    fn override_values_are_quoted_as_sams_parser_reads_them() {
        let quoted = |value: &str| {
            parameter_override("A", value).map(|entry| {
                entry
                    .strip_prefix("ParameterKey=A,ParameterValue=")
                    .expect("the long form")
                    .to_owned()
            })
        };
        assert_eq!(quoted("plain").as_deref(), Some("'plain'"));
        assert_eq!(quoted("").as_deref(), Some("''"));
        assert_eq!(quoted("two words").as_deref(), Some("'two words'"));
        // A quote of the kind around the value is escaped; the other is not.
        assert_eq!(quoted(r#"it's "hi""#).as_deref(), Some(r#"'it\'s "hi"'"#));
        // A backslash before anything but a space or a quote stays as it is;
        // before one of those it gets another.
        assert_eq!(quoted(r"C:\path").as_deref(), Some(r"'C:\path'"));
        assert_eq!(quoted(r#"a\ b\"c"#).as_deref(), Some(r#"'a\\ b\\"c'"#));
        assert_eq!(quoted(r"a\\'b").as_deref(), Some(r"'a\\\'b'"));
        // An odd run before a single quote needs double quotes.
        assert_eq!(quoted(r"a\'b").as_deref(), Some(r#""a\\'b""#));
        assert_eq!(quoted("a\\\\\nb").as_deref(), Some("'a\\\\\nb'"));
        // What SAM cannot read at all.
        for unreadable in [r"ends\", "a\\\nb", r#"a\'b\"c"#] {
            assert_eq!(quoted(unreadable), None, "{unreadable:?}");
        }
        let values = ParameterValues::new().with("Fine", "x").with("Bad", r"\");
        let error = check_passable(&values).expect_err("Bad is unpassable");
        assert!(error.to_string().contains("parameter Bad "), "{error}");
        assert!(check_passable(&ParameterValues::new().with("Fine", "a\\b")).is_ok());
    }

    #[test]
    fn toml_strings_escape_what_toml_requires() {
        assert_eq!(toml_string("plain"), "\"plain\"");
        assert_eq!(
            toml_string("q\" b\\ n\n t\t bell\u{7} del\u{7f} é"),
            "\"q\\\" b\\\\ n\\n t\t bell\\u0007 del\\u007F é\""
        );
    }

    #[test]
    fn the_config_file_is_private_and_removed_afterwards() {
        let config = SamConfig::write("version = 0.1\n").expect("written");
        let [flag, path, env_flag, env] = config.arguments();
        assert_eq!(
            (flag.to_str(), env_flag.to_str(), env.to_str()),
            (Some("--config-file"), Some("--config-env"), Some("isokit"))
        );
        let path = PathBuf::from(path);
        let folder = path.parent().expect("a folder").to_owned();
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).expect("readable"),
            "version = 0.1\n"
        );
        drop(config);
        assert!(!folder.exists());
    }

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").expect("write stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn locating_prefers_the_explicit_path_then_the_variable_then_path() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        std::fs::create_dir_all(&first).expect("mkdir");
        std::fs::create_dir_all(&second).expect("mkdir");
        let on_path = executable(&second, "sam");
        let named = executable(dir.path(), "named-sam");
        let given = executable(dir.path(), "given-sam");
        let path_var = std::env::join_paths([&first, &second]).expect("PATH");

        let found = |explicit: Option<&Path>, variable: Option<&Path>| {
            locate_in(
                explicit,
                variable.map(|v| v.as_os_str().to_owned()),
                Some(path_var.clone()),
            )
        };
        assert_eq!(found(Some(&given), Some(&named)).expect("explicit"), given);
        assert_eq!(found(None, Some(&named)).expect("variable"), named);
        assert_eq!(found(None, None).expect("PATH"), on_path);
    }

    #[test]
    fn a_missing_sam_says_how_to_install_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let message = locate_in(None, None, Some(dir.path().as_os_str().to_owned()))
            .expect_err("no sam")
            .to_string();
        assert!(
            message.contains("pip install aws-sam-cli") && message.contains("ISOKIT_SAM"),
            "{message}"
        );
        std::fs::write(dir.path().join("not-executable"), "").expect("write");
        let message = locate_in(None, Some(dir.path().join("not-executable").into()), None)
            .expect_err("not executable")
            .to_string();
        assert!(
            message.contains("from ISOKIT_SAM") && message.contains("pip install aws-sam-cli"),
            "{message}"
        );
    }

    /// A stand-in `sam` in its own folder: a shell script.
    fn stand_in(script: &str) -> (tempfile::TempDir, Sam) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("sam");
        std::fs::write(&path, script).expect("write the stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let sam = Sam::locate(Some(&path)).expect("an executable");
        (dir, sam)
    }

    async fn delete_options() -> DeleteOptions {
        DeleteOptions {
            stack_name: "s".into(),
            aws: aws("us-east-1", None).await,
        }
    }

    /// isokit stopping SAM on purpose: SAM hears SIGINT as from Ctrl-C, and
    /// one that ignores it is killed once the grace is over.
    #[tokio::test]
    async fn isokit_stops_sam_on_purpose_and_kills_one_that_will_not_stop() {
        let mut signals = StopSignals::listen().expect("signals");
        let stop = SamStop::default();
        let (_dir, sam) = stand_in(
            "#!/bin/sh\ntrap 'echo stopping; exit 130' INT\necho started\nwhile :; do sleep 0.1; done\n",
        );
        let sam = sam.stopped_by(stop.clone());
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopper.stop();
        });
        let started = std::time::Instant::now();
        let outcome = sam
            .run(&delete_options().await, &Ui::quiet(), &mut signals)
            .await;
        assert!(
            matches!(outcome, Err(Error::SamStopped { command: "delete" })),
            "{outcome:?}"
        );
        assert!(started.elapsed() < STOP_GRACE, "it stopped on SIGINT");

        // Asked before it starts: the request waits for it.
        let stop = SamStop::default();
        stop.stop();
        let outcome = sam
            .stopped_by(stop)
            .run(&delete_options().await, &Ui::quiet(), &mut signals)
            .await;
        assert!(
            matches!(outcome, Err(Error::SamStopped { .. })),
            "{outcome:?}"
        );

        let stop = SamStop::default();
        let (_dir, stubborn) =
            stand_in("#!/bin/sh\ntrap '' INT\necho started\nwhile :; do sleep 0.1; done\n");
        let stubborn = stubborn.stopped_by(stop.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.stop();
        });
        let started = std::time::Instant::now();
        let outcome = stubborn
            .run(&delete_options().await, &Ui::quiet(), &mut signals)
            .await;
        assert!(
            matches!(outcome, Err(Error::SamStopped { .. })),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() >= STOP_GRACE && started.elapsed() < STOP_GRACE * 2,
            "killed once the grace was over: {:?}",
            started.elapsed()
        );
    }

    /// Feeds a recorded SAM output and asks for its verdict under the
    /// given exit code, the output not shown as it ran.
    fn verdict(recording: &str, exit_code: i32) -> Result<(), Error> {
        let mut output = SamOutput::default();
        for line in recording.lines() {
            output.line(line);
        }
        output.verdict("deploy", ExitStatus::from_raw(exit_code << 8), false)
    }

    /// SAM failing at ExecuteChangeSet, as recorded against the local AWS.
    const EXECUTE_FAILED: &str = include_str!("../tests/fixtures/sam/deploy-execute-failed.txt");

    #[test]
    fn success_is_sams_exit_status_whatever_it_printed() {
        assert!(verdict(EXECUTE_FAILED, 0).is_ok());
    }

    #[test]
    fn a_failure_is_headed_by_sams_error_line_and_keeps_its_last_lines() {
        let error = verdict(EXECUTE_FAILED, 1).expect_err("exit status 1");
        let Error::SamFailed {
            error_line: Some(error_line),
            tail,
            status,
            ..
        } = &error
        else {
            panic!("expected SamFailed with SAM's error line, got {error:?}");
        };
        assert_eq!(status, "exit status 1");
        assert!(
            tail.0
                .iter()
                .any(|line| line.contains("InvalidVpcID.NotFound")),
            "{tail}"
        );
        assert!(
            error_line.starts_with("Failed to create/update the stack: isokit-stacks-probe-fail, ")
                && error_line.ends_with("VpcID vpc-0000000000000000a does not exist."),
            "{error_line}"
        );
        assert!(
            error.to_string().starts_with(
                "sam deploy failed (exit status 1): Failed to create/update the stack: isokit-stacks-probe-fail, An error occurred (InvalidVpcID.NotFound)"
            ),
            "{error}"
        );
        let many: String = (0..100).map(|n| format!("line {n}\n")).collect();
        let Err(Error::SamFailed { tail, .. }) = verdict(&many, 2) else {
            panic!("exit status 2 is a failure");
        };
        assert_eq!(tail.0.len(), TAIL_LINES, "the tail is bounded");
        assert_eq!(tail.0.last().map(String::as_str), Some("line 99"));
    }

    #[test]
    fn output_the_user_saw_is_not_repeated_in_the_error() {
        let mut output = SamOutput::default();
        output.line("Error: it broke");
        let error = output
            .verdict("delete", ExitStatus::from_raw(1 << 8), true)
            .expect_err("exit status 1")
            .to_string();
        assert_eq!(error, "sam delete failed (exit status 1): it broke");
    }
}
