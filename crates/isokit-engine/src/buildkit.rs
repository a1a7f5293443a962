//! Building with BuildKit, as `DOCKER_BUILDKIT=1 docker build` does:
//! `POST /build?version=2` naming a session that serves the context, the
//! Dockerfile and the secrets; BuildKit's progress records shown as steps.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use isokit_context::{BuildContext, ContextError};
use isokit_ui::{Style, Task, Ui};
use prost::Message;
use secrecy::SecretSlice;
use serde::Deserialize;

use crate::build::{BuildOptions, TAIL_LINES, is_dockerfile_error};
use crate::raw::{self, Answer};
use crate::session::Session;
use crate::{Engine, EngineError};

/// The API version that brought BuildKit builds (Docker 18.09).
pub(crate) const BUILDKIT_API: (usize, usize) = (1, 39);

/// A secret a build may mount (`RUN --mount=type=secret,id=…`), given as
/// `--secret id=ID,src=PATH` or `--secret id=ID,env=VAR`. It holds where the
/// value is, never the value: that is read when the build starts and only
/// ever handed to BuildKit through the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    pub id: String,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl BuildSecret {
    /// Reads `id=ID,src=PATH` or `id=ID,env=VAR` as the docker CLI does
    /// (`source=` and `type=file|env` too; an ID alone is read from the
    /// environment variable of that name, or the file if none is set).
    pub fn parse(text: &str) -> Result<BuildSecret, String> {
        let mut id = None;
        let mut file = None;
        let mut env = None;
        let mut kind = None;
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(|| {
                format!("`{field}` is not KEY=VALUE: expected id=ID,src=PATH or id=ID,env=VAR")
            })?;
            match key.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(value.to_string()),
                "src" | "source" => file = Some(PathBuf::from(value)),
                "env" => env = Some(value.to_string()),
                "type" => match value {
                    "file" | "env" => kind = Some(value.to_string()),
                    other => {
                        return Err(format!("secret type `{other}` is unknown: use file or env"));
                    }
                },
                other => {
                    return Err(format!(
                        "`{other}` is not a secret field: expected id=ID,src=PATH or id=ID,env=VAR"
                    ));
                }
            }
        }
        let id = id
            .filter(|id| !id.is_empty())
            .ok_or("a secret needs an id: id=ID,src=PATH or id=ID,env=VAR")?;
        let source = match (file, env, kind.as_deref()) {
            (Some(_), Some(_), _) => return Err("give a secret src= or env=, not both".to_string()),
            (Some(path), None, None | Some("file")) => SecretSource::File(path),
            (None, Some(var), None | Some("env")) => SecretSource::Env(var),
            (None, None, Some("env")) => SecretSource::Env(id.clone()),
            (None, None, _) => SecretSource::File(PathBuf::from(&id)),
            _ => return Err("the secret's type does not match src= or env=".to_string()),
        };
        Ok(BuildSecret { id, source })
    }

    /// The secret's value. A missing or unreadable file, or an unset
    /// variable, is an error that says which.
    pub fn read(&self) -> Result<SecretSlice<u8>, EngineError> {
        match &self.source {
            SecretSource::File(path) => {
                std::fs::read(path)
                    .map(SecretSlice::from)
                    .map_err(|source| EngineError::SecretUnreadable {
                        id: self.id.clone(),
                        path: path.clone(),
                        source,
                    })
            }
            SecretSource::Env(var) => std::env::var_os(var)
                .map(|value| SecretSlice::from(value.into_encoded_bytes()))
                .ok_or_else(|| EngineError::SecretVariableUnset {
                    id: self.id.clone(),
                    var: var.clone(),
                }),
        }
    }
}

/// One message of the build's answer.
#[derive(Debug, Default, Deserialize)]
struct BuildMessage {
    id: Option<String>,
    aux: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

impl Engine {
    /// Whether the daemon builds with BuildKit (API 1.39, Docker 18.09, on).
    pub fn has_buildkit(&self) -> bool {
        let version = self.docker.client_version();
        (version.major_version, version.minor_version) >= BUILDKIT_API
    }

    /// Builds a context prepared for a session. Returns the image ID.
    pub(crate) async fn build_with_buildkit(
        &self,
        context: BuildContext,
        options: &BuildOptions,
        ui: &Ui,
    ) -> Result<String, EngineError> {
        let mut secrets = BTreeMap::new();
        for secret in &options.secrets {
            secrets.insert(secret.id.clone(), secret.read()?);
        }
        let syntax = syntax_directive(context.session_dockerfile().unwrap_or_default());
        let dockerfile = context.dockerfile_in_archive().to_string();
        let session = Session::open(&self.host, Arc::new(context), secrets).await?;

        let mut query: Vec<(&str, String)> = vec![
            ("version", "2".into()),
            ("session", session.id.clone()),
            ("remote", "client-session".into()),
            ("dockerfile", dockerfile),
            ("rm", "1".into()),
            ("forcerm", "1".into()),
        ];
        if let Some(tag) = options.tags.first() {
            query.push(("t", tag.clone()));
        }
        let json = |map: &BTreeMap<String, String>| serde_json::to_string(map).unwrap_or_default();
        if !options.build_args.is_empty() {
            query.push(("buildargs", json(&options.build_args)));
        }
        if !options.labels.is_empty() {
            query.push(("labels", json(&options.labels)));
        }
        for (key, value) in [("target", &options.target), ("platform", &options.platform)] {
            if let Some(value) = value {
                query.push((key, value.clone()));
            }
        }
        if options.no_cache {
            query.push(("nocache", "1".into()));
        }
        if options.pull {
            query.push(("pull", "1".into()));
        }
        let query = serde_urlencoded::to_string(&query).map_err(|error| EngineError::Daemon {
            action: "take the build request".into(),
            message: error.to_string(),
        })?;
        let mut lines =
            match raw::post_for_lines(&self.host, &format!("/build?{query}"), &[]).await? {
                Answer::Lines(lines) => lines,
                Answer::Status { message, .. } => {
                    return Err(classify(message, None, syntax.as_deref()));
                }
            };

        let mut steps = Steps::new(ui, options.step_output);
        let mut image_id = None;
        while let Some(line) = lines.next_line().await {
            let line = line.map_err(|error| EngineError::Unreachable {
                host: self.host.to_string(),
                source: error.into(),
            })?;
            let Ok(message) = serde_json::from_slice::<BuildMessage>(&line) else {
                continue;
            };
            if let Some(error) = message
                .error_detail
                .and_then(|detail| detail.message)
                .or(message.error)
            {
                steps.stop();
                // A file that failed its checks is the cause; a transfer the
                // daemon broke off is not, and the daemon says why.
                if let Some(failure) = session
                    .context_failure
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .filter(|failure| !matches!(failure, ContextError::Archive(_)))
                {
                    return Err(EngineError::Context(failure));
                }
                return Err(classify(error, steps.failed(), syntax.as_deref()));
            }
            match (message.id.as_deref(), message.aux) {
                (Some("moby.buildkit.trace"), Some(serde_json::Value::String(encoded))) => {
                    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded)
                    else {
                        continue;
                    };
                    if let Ok(status) = StatusResponse::decode(bytes.as_slice()) {
                        steps.update(status);
                    }
                }
                (Some("moby.image.id"), Some(aux)) => {
                    image_id = aux.get("ID").and_then(|id| id.as_str()).map(str::to_string);
                }
                _ => {}
            }
        }
        steps.stop();
        drop(session);
        image_id.ok_or(EngineError::NoImageId)
    }
}

/// The image a `# syntax=` directive names, if the Dockerfile has one.
fn syntax_directive(dockerfile: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(dockerfile);
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            // Parser directives only come before anything else.
            return None;
        };
        if let Some((key, value)) = comment.split_once('=')
            && key.trim().eq_ignore_ascii_case("syntax")
        {
            return Some(value.trim().to_string());
        }
    }
    None
}

/// The error that explains a failed BuildKit build best.
fn classify(message: String, failed: Option<FailedStep>, syntax: Option<&str>) -> EngineError {
    if let Some(image) = syntax
        && (message.contains("frontend gateway") || message.contains(image))
        && failed.as_ref().is_none_or(|step| {
            step.name.contains(image) || step.name.starts_with("resolve image config")
        })
    {
        return EngineError::SyntaxFrontendUnavailable {
            image: image.to_string(),
            message,
        };
    }
    // BuildKit wraps the parser's words in its own.
    let parser_words = message
        .rsplit_once("failed to create LLB definition: ")
        .map_or(message.as_str(), |(_, words)| words);
    if is_dockerfile_error(parser_words) {
        return EngineError::DockerfileInvalid {
            message: parser_words.to_string(),
        };
    }
    if let Some(id) = missing_secret(&message) {
        return EngineError::SecretNotGiven {
            id,
            step: failed.map(|step| step.name).unwrap_or_default(),
        };
    }
    match failed {
        Some(step) => EngineError::StepFailed {
            step: step.name,
            message,
            tail: step.tail.into(),
        },
        None => EngineError::BuildFailed { message },
    }
}

/// The ID in BuildKit's "secret ID not found".
fn missing_secret(message: &str) -> Option<String> {
    let start = message.find("secret ")? + "secret ".len();
    let rest = &message[start..];
    let (id, after) = rest.split_once(' ')?;
    let id = id.trim_end_matches(':');
    after.starts_with("not found").then(|| id.to_string())
}

/// A step that failed, and what it printed last.
#[derive(Debug, Clone)]
struct FailedStep {
    name: String,
    tail: VecDeque<String>,
}

/// One step (a BuildKit vertex) as shown.
#[derive(Debug, Default)]
struct Step {
    name: String,
    started: Option<Duration>,
    finished: bool,
    /// The last lines the step printed.
    tail: VecDeque<String>,
    partial: String,
    task: Option<Task>,
}

/// BuildKit's progress, shown as steps: a spinner per running step on a
/// terminal, one line per finished step otherwise; a step's own output with
/// `-v`.
struct Steps<'a> {
    ui: &'a Ui,
    show_output: bool,
    by_digest: HashMap<String, Step>,
    failed: Option<String>,
}

impl<'a> Steps<'a> {
    fn new(ui: &'a Ui, show_output: bool) -> Steps<'a> {
        Steps {
            ui,
            show_output,
            by_digest: HashMap::new(),
            failed: None,
        }
    }

    fn update(&mut self, status: StatusResponse) {
        for vertex in status.vertexes {
            let step = self.by_digest.entry(vertex.digest.clone()).or_default();
            step.name = vertex.name.clone();
            // The error may come in a later record than the completion.
            if !vertex.error.is_empty() {
                self.failed.get_or_insert(vertex.digest.clone());
            }
            if step.finished {
                continue;
            }
            let started = vertex
                .started
                .map(|at| Duration::new(at.seconds.max(0) as u64, at.nanos.max(0) as u32));
            if started.is_some() && step.started.is_none() {
                step.started = started;
                if self.ui.style() == Style::Bars {
                    step.task = Some(self.ui.task(&step.name, None));
                }
            }
            let completed = vertex
                .completed
                .map(|at| Duration::new(at.seconds.max(0) as u64, at.nanos.max(0) as u32));
            if vertex.cached || completed.is_some() {
                step.finished = true;
                let how = if !vertex.error.is_empty() {
                    "failed".to_string()
                } else if vertex.cached {
                    "cached".to_string()
                } else {
                    match (step.started, completed) {
                        (Some(start), Some(end)) => {
                            format!("done in {:.1} s", end.saturating_sub(start).as_secs_f64())
                        }
                        _ => "done".to_string(),
                    }
                };
                match &step.task {
                    Some(task) => task.finish(&how),
                    None => self.ui.status(format!("{}: {how}", step.name)),
                }
            }
        }
        for log in status.logs {
            let Some(step) = self.by_digest.get_mut(&log.vertex) else {
                continue;
            };
            step.partial.push_str(&String::from_utf8_lossy(&log.msg));
            while let Some(end) = step.partial.find('\n') {
                let line: String = step.partial.drain(..=end).collect();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    continue;
                }
                if self.show_output {
                    self.ui.passthrough(&format!("  {line}"));
                }
                if step.tail.len() == TAIL_LINES {
                    step.tail.pop_front();
                }
                step.tail.push_back(line);
            }
        }
    }

    /// Ends every spinner still turning.
    fn stop(&mut self) {
        for step in self.by_digest.values_mut() {
            if let Some(task) = step.task.take()
                && !step.finished
            {
                task.finish("stopped");
            }
        }
    }

    /// The first step that failed.
    fn failed(&mut self) -> Option<FailedStep> {
        let step = self.by_digest.get_mut(self.failed.as_ref()?)?;
        let last = std::mem::take(&mut step.partial);
        if !last.trim().is_empty() {
            step.tail.push_back(last.trim_end().to_string());
        }
        Some(FailedStep {
            name: step.name.clone(),
            tail: step.tail.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_as_the_docker_cli_reads_them() {
        let parsed = |text| BuildSecret::parse(text).map(|secret| (secret.id, secret.source));
        assert_eq!(
            parsed("id=npm,src=/run/npmrc"),
            Ok(("npm".into(), SecretSource::File("/run/npmrc".into())))
        );
        assert_eq!(
            parsed("id=token,env=GITHUB_TOKEN"),
            Ok(("token".into(), SecretSource::Env("GITHUB_TOKEN".into())))
        );
        assert_eq!(
            parsed("type=env,id=TOKEN"),
            Ok(("TOKEN".into(), SecretSource::Env("TOKEN".into())))
        );
        assert_eq!(
            parsed("id=key,source=key.pem,type=file"),
            Ok(("key".into(), SecretSource::File("key.pem".into())))
        );
        for bad in [
            "src=/x",
            "id=a,src=/x,env=Y",
            "id=a,mode=0400",
            "npm",
            "id=a,type=ssh",
        ] {
            assert!(parsed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_secret_file_is_named_without_its_content() {
        let secret = BuildSecret::parse("id=npm,src=/nonexistent/npmrc").expect("parse");
        let error = secret.read().expect_err("missing");
        let shown = error.to_string();
        assert!(
            shown.contains("npm") && shown.contains("/nonexistent/npmrc"),
            "{shown}"
        );
    }

    #[test]
    fn the_syntax_directive_is_read_only_from_the_leading_comments() {
        assert_eq!(
            syntax_directive(b"# syntax=docker/dockerfile:1.4\nFROM scratch\n").as_deref(),
            Some("docker/dockerfile:1.4")
        );
        assert_eq!(
            syntax_directive(b"#escape=`\n# syntax = example.test/front:1\nFROM x\n").as_deref(),
            Some("example.test/front:1")
        );
        assert_eq!(syntax_directive(b"FROM scratch\n# syntax=a/b\n"), None);
    }

    #[test]
    fn the_failed_step_keeps_its_last_lines_even_unterminated() {
        use bollard_buildkit_proto::google::protobuf::Timestamp;
        use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};
        let ui = Ui::quiet();
        let mut steps = Steps::new(&ui, false);
        let at = |seconds| Some(Timestamp { seconds, nanos: 0 });
        let vertex = |digest: &str, name: &str, error: &str, completed| Vertex {
            digest: digest.into(),
            name: name.into(),
            started: at(1),
            completed,
            error: error.into(),
            ..Vertex::default()
        };
        let log = |digest: &str, text: &str| VertexLog {
            vertex: digest.into(),
            msg: text.as_bytes().to_vec(),
            ..VertexLog::default()
        };
        steps.update(StatusResponse {
            vertexes: vec![
                vertex("a", "[1/2] COPY . /", "", at(2)),
                vertex("b", "[2/2] RUN make", "", None),
            ],
            logs: vec![
                log("b", "cc main.c\nmain.c:3: error: "),
                log("b", "expected ';'"),
            ],
            ..StatusResponse::default()
        });
        assert!(steps.failed().is_none(), "nothing failed yet");
        // Completed first, its error in a later record, as BuildKit may send them.
        steps.update(StatusResponse {
            vertexes: vec![vertex("b", "[2/2] RUN make", "", at(3))],
            ..StatusResponse::default()
        });
        steps.update(StatusResponse {
            vertexes: vec![vertex("b", "[2/2] RUN make", "exit code: 2", at(3))],
            ..StatusResponse::default()
        });
        let failed = steps.failed().expect("a failed step");
        assert_eq!(failed.name, "[2/2] RUN make");
        assert_eq!(
            Vec::from(failed.tail),
            ["cc main.c", "main.c:3: error: expected ';'"]
        );
    }

    #[test]
    fn buildkit_failures_are_told_apart() {
        let step = |name: &str| FailedStep {
            name: name.to_string(),
            tail: VecDeque::from(["compiling".to_string(), "error: nope".to_string()]),
        };
        let error = classify(
            "executor failed running [/bin/sh -c make]: exit code: 2".into(),
            Some(step("[build 2/3] RUN make")),
            None,
        );
        let shown = error.to_string();
        assert!(
            shown.contains("[build 2/3] RUN make") && shown.contains("error: nope"),
            "{shown}"
        );

        let error = classify(
            "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 2: unknown instruction: FOOBAR".into(),
            None,
            None,
        );
        assert!(
            matches!(error, EngineError::DockerfileInvalid { .. }),
            "{error:?}"
        );

        let error = classify(
            "failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: rpc error: code = Unknown desc = failed to resolve image registry.invalid/front:1".into(),
            Some(step("resolve image config for registry.invalid/front:1")),
            Some("registry.invalid/front:1"),
        );
        assert!(
            matches!(error, EngineError::SyntaxFrontendUnavailable { .. }),
            "{error:?}"
        );

        let error = classify(
            "failed to solve with frontend dockerfile.v0: failed to build LLB: secret token not found".into(),
            Some(step("[2/2] RUN --mount=type=secret,id=token cat /run/secrets/token")),
            None,
        );
        assert!(
            matches!(&error, EngineError::SecretNotGiven { id, .. } if id == "token"),
            "{error:?}"
        );
    }
}
