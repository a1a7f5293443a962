//! One log event of the service: for scripts, its fields with the message
//! parsed when it is a JSON object; for people, one readable line.

use std::fmt;
use std::time::SystemTime;

use isokit_report::{Evidence, Isolation, LogLine, Report, Start};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::{Rfc3339, serialize_millis};

/// A log event of one of the service's streams.
///
/// Serialized, it is one JSON object: `timestamp` (RFC 3339 UTC with
/// milliseconds), `stream`, `task` (the task ID the stream name ends with,
/// or null) and `message` (the line parsed when it is a JSON object, else
/// the line as a string).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    #[serde(serialize_with = "serialize_millis")]
    pub timestamp: SystemTime,
    pub stream: String,
    pub task: Option<String>,
    pub message: Message,
}

/// A line the service wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    /// A JSON object (never another JSON value), such as isokit-service's
    /// `start` and `round` lines.
    Json(Value),
    /// Anything else, exactly as written.
    Text(String),
}

impl Message {
    /// Only an object counts as JSON: a line reading `404` or `true` is
    /// text that happens to parse.
    pub fn parse(line: &str) -> Message {
        match serde_json::from_str::<Value>(line) {
            Ok(object @ Value::Object(_)) => Message::Json(object),
            _ => Message::Text(line.to_owned()),
        }
    }
}

impl LogEvent {
    /// The awslogs driver names a stream `<prefix>/<container>/<task ID>`.
    pub fn new(event: isokit_aws::LogEvent) -> LogEvent {
        let task = event
            .stream
            .rsplit_once('/')
            .map(|(_, id)| id.to_owned())
            .filter(|id| !id.is_empty());
        LogEvent {
            timestamp: event.timestamp,
            task,
            message: Message::parse(&event.message),
            stream: event.stream,
        }
    }

    /// Who wrote it, briefly: the task ID's first 8 characters (as unique
    /// as a short commit hash among a service's tasks), or the stream.
    fn source(&self) -> &str {
        match &self.task {
            Some(task) => task.get(..8).unwrap_or(task),
            None => &self.stream,
        }
    }
}

/// `2026-05-07T21:09:35Z 0f3e6b1a round 1 UNHEALTHY: …`: when, which task,
/// and the line made readable.
impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ",
            Rfc3339 {
                time: self.timestamp,
                millis: false
            },
            self.source()
        )?;
        match &self.message {
            Message::Text(text) => f.write_str(text),
            Message::Json(value) => match LogLine::deserialize(value) {
                Ok(LogLine::Round(report)) => round(f, &report),
                Ok(LogLine::Start(start)) => start_line(f, &start),
                Err(_) => match value.as_object() {
                    Some(object) => fields(f, object),
                    None => write!(f, "{value}"),
                },
            },
        }
    }
}

/// A round in one line (`round 3 HEALTHY: all 7 endpoints reachable;
/// isolated`): the verdict, which endpoints fail at which step, and what
/// the egress probes prove.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoundLine<'a>(pub(crate) &'a Report);

impl fmt::Display for RoundLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        round(f, self.0)
    }
}

fn round(f: &mut fmt::Formatter<'_>, report: &Report) -> fmt::Result {
    let verdict = if report.passes() {
        "HEALTHY"
    } else {
        "UNHEALTHY"
    };
    write!(f, "round {} {verdict}: ", report.round)?;
    let failing: Vec<String> = report
        .failing()
        .map(|check| match &check.failure {
            Some(failure) => format!("{} ({})", check.service, failure.step),
            None => check.service.clone(),
        })
        .collect();
    if failing.is_empty() {
        write!(f, "all {} endpoints reachable", report.endpoints.len())?;
    } else {
        write!(
            f,
            "{} of {} endpoints failing: {}",
            failing.len(),
            report.endpoints.len(),
            failing.join(", ")
        )?;
    }
    let probes = |evidence: Evidence| -> Vec<String> {
        report
            .egress
            .iter()
            .filter(|check| check.evidence() == evidence)
            .map(|check| format!("{} {}", check.target, check.outcome))
            .collect()
    };
    match report.isolation() {
        Isolation::Isolated => write!(f, "; isolated"),
        Isolation::RouteOut => write!(
            f,
            "; NOT ISOLATED: {}",
            probes(Evidence::RouteOut).join(", ")
        ),
        Isolation::Unproven if report.egress.is_empty() => {
            write!(f, "; ISOLATION NOT PROVEN: no egress probe")
        }
        Isolation::Unproven => write!(
            f,
            "; ISOLATION NOT PROVEN: {}",
            probes(Evidence::Inconclusive).join(", ")
        ),
    }
}

fn start_line(f: &mut fmt::Formatter<'_>, start: &Start) -> fmt::Result {
    write!(
        f,
        "start isokit-service {} on {}: {} endpoints and {} egress probes every {} s, {} in {}",
        start.version,
        start.listen,
        start.endpoints.len(),
        start.egress_probes.len(),
        start.interval_ms / 1000,
        start.account,
        start.region
    )
}

/// Keys whose value leads a structured log line.
const LEVEL_KEYS: [&str; 3] = ["level", "severity", "lvl"];
const MESSAGE_KEYS: [&str; 2] = ["message", "msg"];
/// The event's own time is shown already.
const TIME_KEYS: [&str; 3] = ["time", "timestamp", "ts"];

/// Any other JSON line: its level and message first, then every other
/// field as `key=value` (tracing's nested `fields` flattened).
fn fields(f: &mut fmt::Formatter<'_>, object: &Map<String, Value>) -> fmt::Result {
    let nested = object.get("fields").and_then(Value::as_object);
    let find = |keys: &[&'static str]| {
        keys.iter().find_map(|key| {
            object
                .get(*key)
                .or_else(|| nested.and_then(|fields| fields.get(*key)))
                .filter(|value| value.is_string())
                .map(|value| (*key, value))
        })
    };
    let level = find(&LEVEL_KEYS);
    let message = find(&MESSAGE_KEYS);
    let mut parts: Vec<String> = [level, message]
        .into_iter()
        .flatten()
        .filter_map(|(_, value)| value.as_str().map(ToOwned::to_owned))
        .collect();
    let shown = |key: &str| {
        TIME_KEYS.contains(&key)
            || level.is_some_and(|(k, _)| k == key)
            || message.is_some_and(|(k, _)| k == key)
    };
    let top = object
        .iter()
        .filter(|(key, _)| !(nested.is_some() && key.as_str() == "fields"));
    for (key, value) in top.chain(nested.into_iter().flatten()) {
        if !shown(key) {
            parts.push(format!("{key}={}", field_value(value)));
        }
    }
    f.write_str(&parts.join(" "))
}

/// A string as it is when it reads as one word, else as JSON.
fn field_value(value: &Value) -> String {
    match value {
        Value::String(text) if !text.is_empty() && !text.contains(char::is_whitespace) => {
            text.clone()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// isokit-service's start line, then a round with ecr.dkr failing, then
    /// a healthy round, as it writes them.
    const SERVICE_LINES: &str = include_str!("../tests/fixtures/service.jsonl");

    const TASK: &str = "0f3e6b1a2c4d4e5f8a9b0c1d2e3f4a5b";

    fn event(message: &str) -> LogEvent {
        LogEvent::new(isokit_aws::LogEvent {
            id: "1".to_owned(),
            stream: format!("isokit-service/isokit-service/{TASK}"),
            timestamp: UNIX_EPOCH + Duration::from_millis(1_778_188_175_871),
            message: message.to_owned(),
        })
    }

    fn service_line(index: usize) -> &'static str {
        SERVICE_LINES.lines().nth(index).expect("fixture line")
    }

    #[test]
    fn a_round_reads_as_one_line() {
        assert_eq!(
            event(service_line(1)).to_string(),
            "2026-05-07T21:09:35Z 0f3e6b1a round 1 UNHEALTHY: 1 of 3 endpoints failing: \
             ecr.dkr (dns); isolated"
        );
        assert_eq!(
            event(service_line(2)).to_string(),
            "2026-05-07T21:09:35Z 0f3e6b1a round 2 HEALTHY: all 3 endpoints reachable; isolated"
        );
    }

    #[test]
    fn a_round_names_the_probes_that_break_or_do_not_prove_isolation() {
        let mut round: Value = serde_json::from_str(service_line(2)).expect("JSON");
        round["egress"][1]["outcome"] = "connected".into();
        let text = event(&round.to_string()).to_string();
        assert!(
            text.ends_with(
                "round 2 UNHEALTHY: all 3 endpoints reachable; NOT ISOLATED: 1.1.1.1:443 connected"
            ),
            "{text}"
        );
        round["egress"][1]["outcome"] = "error".into();
        let text = event(&round.to_string()).to_string();
        assert!(
            text.ends_with("; ISOLATION NOT PROVEN: 1.1.1.1:443 error"),
            "{text}"
        );
        round["egress"] = Value::Array(Vec::new());
        let text = event(&round.to_string()).to_string();
        assert!(
            text.ends_with("; ISOLATION NOT PROVEN: no egress probe"),
            "{text}"
        );
    }

    #[test]
    fn the_start_line_says_what_the_service_checks() {
        assert_eq!(
            event(service_line(0)).to_string(),
            "2026-05-07T21:09:35Z 0f3e6b1a start isokit-service 0.1.0 on 0.0.0.0:8080: \
             3 endpoints and 2 egress probes every 30 s, 123456789012 in eu-west-1"
        );
    }

    #[test]
    fn other_json_lines_lead_with_level_and_message() {
        let text = event(
            r#"{"timestamp":"2026-05-07T21:09:35.871Z","level":"WARN","fields":{"message":"slow upstream","elapsed_ms":812},"target":"web::proxy"}"#,
        )
        .to_string();
        assert_eq!(
            text,
            "2026-05-07T21:09:35Z 0f3e6b1a WARN slow upstream target=web::proxy elapsed_ms=812"
        );
        let text = event(r#"{"msg":"ready","port":8080,"event":"listening","note":"two words"}"#)
            .to_string();
        assert_eq!(
            text,
            "2026-05-07T21:09:35Z 0f3e6b1a ready event=listening note=\"two words\" port=8080"
        );
    }

    #[test]
    fn anything_else_is_shown_as_written() {
        for line in [
            "isokit-service: warning: no task context: metadata endpoint unset",
            "404",
            "{not json",
            r#"["an","array"]"#,
            "",
        ] {
            let event = event(line);
            assert_eq!(event.message, Message::Text(line.to_owned()));
            assert_eq!(
                event.to_string(),
                format!("2026-05-07T21:09:35Z 0f3e6b1a {line}")
            );
        }
    }

    #[test]
    fn a_stream_not_named_by_awslogs_is_shown_whole() {
        let mut event = event("hello");
        event.task = None;
        event.stream = "manual".to_owned();
        assert_eq!(event.to_string(), "2026-05-07T21:09:35Z manual hello");
        let event = LogEvent::new(isokit_aws::LogEvent {
            id: "2".to_owned(),
            stream: "manual".to_owned(),
            timestamp: UNIX_EPOCH,
            message: "hello".to_owned(),
        });
        assert_eq!(event.task, None);
    }

    #[test]
    fn serializes_with_the_message_parsed() {
        let json = serde_json::to_value(event(service_line(2))).expect("serializes");
        assert_eq!(json["timestamp"], "2026-05-07T21:09:35.871Z");
        assert_eq!(
            json["stream"],
            format!("isokit-service/isokit-service/{TASK}")
        );
        assert_eq!(json["task"], TASK);
        assert_eq!(json["message"]["event"], "round");
        assert_eq!(json["message"]["healthy"], true);
        let json = serde_json::to_value(event("plain text")).expect("serializes");
        assert_eq!(json["message"], "plain text");
    }
}
