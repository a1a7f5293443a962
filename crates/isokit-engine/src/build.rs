//! Building an image: with BuildKit (buildkit.rs) from a context prepared
//! for a session, or with the classic builder from a streamed archive.

use std::collections::{BTreeMap, VecDeque};

use bollard::body_try_stream;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use futures_util::StreamExt;
use isokit_context::{BuildContext, Compression, SendMonitor};
use isokit_ui::Ui;

use crate::buildkit::BuildSecret;
use crate::error::daemon_message;
use crate::{Engine, EngineError, to_hash_map};

/// Lines of a failed step's output kept for the error.
pub(crate) const TAIL_LINES: usize = 20;

/// How to build: everything but the context, which [`Engine::build`] takes
/// prepared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Names for the image (`repository:tag`); the first is given by the
    /// build, the others added after it.
    pub tags: Vec<String>,
    /// The stage to stop at, for a multi-stage Dockerfile.
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Such as `linux/amd64`.
    pub platform: Option<String>,
    /// How to send the context to the classic builder; `None` lets
    /// [`crate::DockerHost::context_compression`] choose.
    pub compression: Option<Compression>,
    /// Secrets for `RUN --mount=type=secret` (BuildKit only).
    pub secrets: Vec<BuildSecret>,
    /// Build every step afresh.
    pub no_cache: bool,
    /// Pull every base image, even one the engine has.
    pub pull: bool,
    /// Show what each BuildKit step prints as it runs (the classic
    /// builder's output is always shown).
    pub step_output: bool,
}

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The image ID (`sha256:…`).
    pub id: String,
    pub tags: Vec<String>,
}

impl Engine {
    /// Builds an image from a prepared context, warning about the files the
    /// context left out: with BuildKit when the context was prepared for a
    /// session ([`BuildContext::prepare_for_session`]), with the classic
    /// builder when it was prepared as an archive. Progress goes to `ui`; a
    /// failing step is reported with its instruction and the end of its
    /// output.
    pub async fn build(
        &self,
        context: BuildContext,
        options: &BuildOptions,
        ui: &Ui,
    ) -> Result<BuiltImage, EngineError> {
        for skipped in context.skipped() {
            ui.warn(skipped);
        }
        let id = if context.session_dockerfile().is_some() {
            self.build_with_buildkit(context, options, ui).await?
        } else {
            self.build_classic(context, options, ui).await?
        };
        for extra in options.tags.iter().skip(1) {
            self.tag(&id, extra).await?;
        }
        Ok(BuiltImage {
            id,
            tags: options.tags.clone(),
        })
    }

    /// Streams the archive to the classic builder; a build that lost a race
    /// with an image removal runs once more. Returns the image ID.
    async fn build_classic(
        &self,
        context: BuildContext,
        options: &BuildOptions,
        ui: &Ui,
    ) -> Result<String, EngineError> {
        if !options.secrets.is_empty() {
            let version = self.docker.client_version();
            return Err(EngineError::SecretsNeedBuildKit {
                host: self.host.to_string(),
                api: format!("{}.{}", version.major_version, version.minor_version),
            });
        }
        let compression = options
            .compression
            .unwrap_or_else(|| self.host.context_compression());
        let request = BuildImageOptions {
            dockerfile: context.dockerfile_in_archive().to_string(),
            t: options.tags.first().cloned(),
            rm: true,
            forcerm: true,
            buildargs: (!options.build_args.is_empty()).then(|| to_hash_map(&options.build_args)),
            labels: (!options.labels.is_empty()).then(|| to_hash_map(&options.labels)),
            target: options.target.clone().unwrap_or_default(),
            platform: options.platform.clone().unwrap_or_default(),
            nocache: options.no_cache,
            pull: options.pull.then(|| "1".to_string()),
            version: BuilderVersion::BuilderV1,
            ..Default::default()
        };
        // The first attempt sends a copy (the entry list, not the files), so
        // that the context is still at hand for the one retry a lost race
        // deserves.
        match self
            .build_once(context.clone(), request.clone(), compression, ui)
            .await
        {
            Err(failed) if failed.lost_race => {
                tracing::debug!(error = %failed.error, "the build lost a race with an image removal");
                ui.status(
                    "an image was removed from the engine while the build looked for cached \
                     steps: building again",
                );
                self.build_once(context, request, compression, ui).await
            }
            attempt => attempt,
        }
        .map_err(|failed| failed.error)
    }

    /// Sends the context and runs the build once, showing its output.
    /// Returns the image ID.
    async fn build_once(
        &self,
        context: BuildContext,
        request: BuildImageOptions,
        compression: Compression,
        ui: &Ui,
    ) -> Result<String, FailedBuild> {
        let archive_len = context.archive_len_hint();
        let (stream, monitor) = context
            .into_stream(compression)
            .map_err(EngineError::from)?;
        let sending = ui.task("sending build context", Some(archive_len));
        let progress = (sending.clone(), monitor.clone());
        let body = stream.inspect(move |_| progress.0.set_position(progress.1.archived_bytes()));

        let mut output = self
            .docker
            .build_image(request, None, Some(body_try_stream(body)));
        let mut log = BuildLog::default();
        let mut image_id = None;
        let mut context_sent = false;
        while let Some(item) = output.next().await {
            if !context_sent {
                sending.set_position(monitor.archived_bytes());
                sending.finish("sent");
                context_sent = true;
            }
            let info = match item {
                Ok(info) => info,
                Err(error) => {
                    if !context_sent {
                        sending.finish("failed");
                    }
                    return Err(FailedBuild::new(error, &log, &monitor));
                }
            };
            if let Some(text) = info.stream {
                for line in log.push(&text) {
                    ui.passthrough(&line);
                }
            }
            if let Some(status) = info.status
                && info
                    .progress_detail
                    .is_none_or(|detail| detail.total.is_none())
            {
                ui.passthrough(&status);
            }
            if let Some(id) = info.aux.and_then(|aux| aux.id) {
                image_id = Some(id);
            }
        }
        if !context_sent {
            sending.finish("sent");
        }
        if let Some(last) = log.finish() {
            ui.passthrough(&last);
        }

        match image_id {
            Some(id) => Ok(id),
            None => {
                let short = log.built_id().ok_or(EngineError::NoImageId)?;
                Ok(self.image_inspect(&short).await?.id)
            }
        }
    }
}

/// Why one attempt at a build failed, and whether another may succeed.
#[derive(Debug)]
struct FailedBuild {
    error: EngineError,
    /// See [`lost_a_race_with_a_removal`].
    lost_race: bool,
}

impl FailedBuild {
    fn new(error: BollardError, log: &BuildLog, monitor: &SendMonitor) -> FailedBuild {
        FailedBuild {
            lost_race: lost_a_race_with_a_removal(&daemon_message(&error), log),
            error: build_error(error, log, monitor),
        }
    }
}

impl From<EngineError> for FailedBuild {
    fn from(error: EngineError) -> FailedBuild {
        FailedBuild {
            error,
            lost_race: false,
        }
    }
}

/// Whether the build failed only because an image was removed elsewhere on
/// the engine at the wrong moment. Looking for a cached step, the classic
/// builder lists the candidate images (after `FROM scratch`, every image
/// without a parent) and then reads each; one removed in between fails the
/// build. Building again is only worth it while no step has run, so that
/// nothing is built twice.
fn lost_a_race_with_a_removal(message: &str, log: &BuildLog) -> bool {
    message.starts_with("unable to find image \"sha256:") && !log.step_ran
}

/// Why the build stopped, in the words that help most.
fn build_error(error: BollardError, log: &BuildLog, monitor: &SendMonitor) -> EngineError {
    if let Some(context_failure) = monitor.take_failure() {
        return EngineError::Context(context_failure);
    }
    let message = daemon_message(&error);
    if is_dockerfile_error(&message) {
        return EngineError::DockerfileInvalid { message };
    }
    match (&error, &log.step) {
        (BollardError::DockerStreamError { .. }, Some(step)) => EngineError::StepFailed {
            step: step.clone(),
            message,
            tail: log.tail.iter().cloned().collect(),
        },
        _ => EngineError::BuildFailed { message },
    }
}

/// Whether the classic builder refused the Dockerfile itself: it parses the
/// whole Dockerfile before it runs any step, and checks a stage's name as the
/// stage starts.
pub(crate) fn is_dockerfile_error(message: &str) -> bool {
    let message = message.to_lowercase();
    // The parser: syntax, parser directives, JSON forms, over-long lines.
    message.starts_with("failed to parse dockerfile:")
        // The instructions: unknown ones, their arguments and flags.
        || message.starts_with("dockerfile parse error")
        // Instructions before the first FROM.
        || message == "no build stage in current context"
        || (message.starts_with("the dockerfile (") && message.ends_with(") cannot be empty"))
        // Checked as a stage starts, after the previous stage's last step,
        // which is not the one to blame.
        || message.ends_with(" stage name already used")
}

/// The build's output, gathered into lines (the daemon sends pieces), with
/// the current step and what it printed.
#[derive(Debug, Default)]
struct BuildLog {
    partial: String,
    step: Option<String>,
    tail: VecDeque<String>,
    last_line: Option<String>,
    /// Whether a step other than a `FROM` (which only names its base) has
    /// printed anything: something ran, or came from the cache.
    step_ran: bool,
}

impl BuildLog {
    /// Takes a piece of output; returns the lines it completed.
    fn push(&mut self, text: &str) -> Vec<String> {
        self.partial.push_str(text);
        let mut complete = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            let line = line.trim_end().to_string();
            if line.is_empty() {
                continue;
            }
            self.note(&line);
            complete.push(line);
        }
        complete
    }

    /// The unterminated last line, if any.
    fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.partial).trim_end().to_string();
        if line.is_empty() {
            return None;
        }
        self.note(&line);
        Some(line)
    }

    fn note(&mut self, line: &str) {
        // The builder colours a step's standard error; an error message
        // must read cleanly in a log.
        let line = strip_ansi(line);
        if line.starts_with("Step ") && line.contains(" : ") {
            self.step = Some(line.clone());
            self.tail.clear();
        } else if !line.is_empty() {
            self.step_ran |= self
                .step
                .as_deref()
                .is_some_and(|step| !starts_a_stage(step));
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line.clone());
        }
        self.last_line = Some(line);
    }

    /// The short ID from the classic builder's `Successfully built <id>`.
    fn built_id(&self) -> Option<String> {
        self.last_line
            .iter()
            .chain(self.tail.iter())
            .find_map(|line| {
                line.strip_prefix("Successfully built ")
                    .map(|id| id.trim().to_string())
            })
    }
}

/// Whether a `Step N/M : …` line is a `FROM`.
fn starts_a_stage(step: &str) -> bool {
    step.split_once(" : ")
        .and_then(|(_, instruction)| instruction.split_whitespace().next())
        .is_some_and(|word| word.eq_ignore_ascii_case("FROM"))
}

/// `text` without ANSI escape sequences (`ESC [ … final-byte`).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\u{1b}' {
            plain.push(ch);
            continue;
        }
        if chars.next() == Some('[') {
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) {
                    break;
                }
            }
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_pieces_become_lines_and_steps() {
        let mut log = BuildLog::default();
        assert!(log.push("Step 1/2 : FROM scratch").is_empty());
        assert_eq!(log.push("\n"), ["Step 1/2 : FROM scratch"]);
        assert_eq!(
            log.push(" ---> \nStep 2/2 : RUN make\n ---> Running in 4f2\nmake: *** "),
            [" --->", "Step 2/2 : RUN make", " ---> Running in 4f2"]
        );
        assert_eq!(log.finish().as_deref(), Some("make: ***"));
        assert_eq!(log.step.as_deref(), Some("Step 2/2 : RUN make"));
        assert_eq!(log.tail, [" ---> Running in 4f2", "make: ***"]);
    }

    #[test]
    fn only_the_last_lines_of_a_step_are_kept() {
        let mut log = BuildLog::default();
        log.push("Step 3/5 : RUN noisy\n");
        for index in 0..50 {
            log.push(&format!("line {index}\n"));
        }
        assert_eq!(log.tail.len(), TAIL_LINES);
        assert_eq!(log.tail.front().map(String::as_str), Some("line 30"));
    }

    #[test]
    fn colours_are_kept_out_of_the_tail() {
        let mut log = BuildLog::default();
        log.push("Step 1/1 : RUN make\n\u{1b}[91merror: linker failed\n\u{1b}[0mRemoving intermediate container 1\n");
        assert_eq!(
            log.tail,
            ["error: linker failed", "Removing intermediate container 1"]
        );
    }

    #[test]
    fn the_short_id_is_read_from_the_success_line() {
        let mut log = BuildLog::default();
        log.push("Step 1/1 : FROM scratch\n ---> \nSuccessfully built 4d71870dec5e\nSuccessfully tagged x:1\n");
        assert_eq!(log.built_id().as_deref(), Some("4d71870dec5e"));
    }

    /// What the engine says when an image it listed is gone when read.
    const LOST_IMAGE: &str = "unable to find image \"sha256:acef84929b5ebba754a5c018ef91688859964c80b365e7914924af6aa0fbe27a\"";

    fn stream_error(message: &str) -> BollardError {
        BollardError::DockerStreamError {
            error: message.to_string(),
        }
    }

    #[test]
    fn an_image_lost_before_any_step_ran_is_a_race_worth_another_build() {
        let lost_race = |log: &BuildLog, message: &str| {
            FailedBuild::new(stream_error(message), log, &SendMonitor::default()).lost_race
        };
        // As the engine printed it when a `docker rmi` elsewhere won.
        let mut log = BuildLog::default();
        log.push("Step 1/3 : FROM scratch\n ---> \nStep 2/3 : COPY hello.txt /srv/\n");
        assert!(lost_race(&log, LOST_IMAGE));
        assert!(!lost_race(
            &log,
            "COPY failed: no source files were specified"
        ));
        assert!(!lost_race(&log, "unable to find image \"busybox:1\""));

        // A base image's ID is not a step's output.
        let mut log = BuildLog::default();
        log.push("Step 1/2 : from busybox-static:1\n ---> 4bd974df7a81\nStep 2/2 : LABEL a=b\n");
        assert!(lost_race(&log, LOST_IMAGE));

        // Once a step has run, building again would show it twice.
        let mut log = BuildLog::default();
        log.push("Step 1/3 : FROM scratch\n ---> \nStep 2/3 : COPY hello.txt /srv/\n ---> 9c1f\nStep 3/3 : LABEL a=b\n");
        assert!(!lost_race(&log, LOST_IMAGE));
        let mut cached = BuildLog::default();
        cached.push("Step 1/2 : FROM scratch\n ---> \nStep 2/2 : COPY a /a\n ---> Using cache\n");
        assert!(!lost_race(&cached, LOST_IMAGE));
    }

    #[test]
    fn dockerfile_errors_are_told_apart_from_failed_builds() {
        let refused = |message: &str| {
            build_error(
                BollardError::DockerResponseServerError {
                    status_code: 400,
                    message: message.to_string(),
                },
                &BuildLog::default(),
                &SendMonitor::default(),
            )
        };
        // Each as the engine here words it.
        for message in [
            "failed to parse Dockerfile: LABEL must have two arguments",
            "failed to parse Dockerfile: file with no instructions",
            "failed to parse Dockerfile: only one escape parser directive can be used",
            "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\",
            "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised of strings only",
            "failed to parse Dockerfile: Syntax error - can't find = in \"c\". Must be of the form: name=value",
            "failed to parse Dockerfile: dockerfile line greater than max allowed size of 65535",
            "no build stage in current context",
            "the Dockerfile (Dockerfile) cannot be empty",
            "dockerfile parse error line 2: unknown instruction: FOOBAR",
            "dockerfile parse error line 2: Unknown flag: nope",
            "dockerfile parse error line 2: Missing a value on flag: chown",
            "dockerfile parse error line 2: Duplicate flag specified: chown",
            "dockerfile parse error line 1: FROM requires either one or three arguments",
            "dockerfile parse error line 2: ENV names can not be blank",
            "dockerfile parse error line 2: WORKDIR requires exactly one argument",
            "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form",
            "dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger",
            "dockerfile parse error line 1: invalid name for build stage: \"1bad\", name can't start with a number or contain symbols",
        ] {
            let error = refused(message);
            assert!(
                matches!(&error, EngineError::DockerfileInvalid { message: kept } if kept == message),
                "{message}: {error:?}"
            );
        }
        for message in [
            "failed to reach build target tests in Dockerfile",
            "invalid reference format: repository name must be lowercase",
            "Cannot locate specified Dockerfile: Dockerfile",
        ] {
            let error = refused(message);
            assert!(
                matches!(error, EngineError::BuildFailed { .. }),
                "{message}: {error:?}"
            );
        }

        // A second stage reusing a name is refused as it starts: the step
        // before it is not to blame.
        let mut log = BuildLog::default();
        log.push(
            "Step 1/3 : FROM scratch AS a\n ---> \nStep 2/3 : LABEL a=b\n ---> 4bd974df7a81\n",
        );
        let error = build_error(
            stream_error("a stage name already used"),
            &log,
            &SendMonitor::default(),
        );
        assert!(
            matches!(error, EngineError::DockerfileInvalid { .. }),
            "{error:?}"
        );
        // A step that fails on its own arguments is a failed step.
        let mut log = BuildLog::default();
        log.push("Step 1/2 : FROM scratch\n ---> \nStep 2/2 : STOPSIGNAL a b\n");
        let error = build_error(
            stream_error("Invalid signal: a b"),
            &log,
            &SendMonitor::default(),
        );
        assert!(
            matches!(&error, EngineError::StepFailed { step, .. } if step == "Step 2/2 : STOPSIGNAL a b"),
            "{error:?}"
        );
    }

    #[test]
    fn a_failed_step_names_its_instruction_and_output() {
        let mut log = BuildLog::default();
        log.push("Step 2/2 : RUN false\n ---> Running in 9a\n");
        let error = build_error(
            BollardError::DockerStreamError {
                error: "The command returned a non-zero code: 1".to_string(),
            },
            &log,
            &SendMonitor::default(),
        );
        let shown = error.to_string();
        assert!(
            shown.starts_with("the build failed at Step 2/2 : RUN false: The command"),
            "{shown}"
        );
        assert!(shown.contains("\n     ---> Running in 9a"), "{shown}");
    }
}
