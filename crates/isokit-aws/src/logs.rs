//! CloudWatch Logs: a log group's streams and the events written to them.
//!
//! Events are read with FilterLogEvents, which searches many streams at once
//! and interleaves their events by time: one call follows a whole service,
//! however many tasks it has run, and a stream created after the first call
//! is found by the next without listing streams again. GetLogEvents would
//! need a call per stream, and a listing to find new ones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::OrderBy;
use aws_types::SdkConfig;

use crate::error::{CallError, Error, Problem};
use crate::throttle::patiently;

/// FilterLogEvents takes at most this many stream names.
const NAMES_PER_CALL: usize = 100;

/// A log stream as DescribeLogStreams reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub name: String,
    pub created: Option<SystemTime>,
    /// When its newest event happened. CloudWatch updates this lazily
    /// (usually within an hour of ingestion), so it orders streams well but
    /// is no cut-off for reading them.
    pub last_event: Option<SystemTime>,
}

/// One event of a log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Unique within the log group: tells apart events read twice.
    pub id: String,
    pub stream: String,
    /// When it happened, as the writer (the awslogs driver) stamped it.
    pub timestamp: SystemTime,
    pub message: String,
}

/// One event of a stream read on its own ([`Logs::tail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub timestamp: SystemTime,
    pub message: String,
}

/// Which streams of a group to read.
#[derive(Debug, Clone, Copy)]
pub enum StreamSelection<'a> {
    /// Every stream whose name starts with this, present and future.
    Prefix(&'a str),
    /// Exactly these streams.
    Named(&'a [String]),
}

/// CloudWatch Logs calls isokit makes, on one shared configuration.
#[derive(Debug, Clone)]
pub struct Logs {
    client: Client,
}

impl Logs {
    pub(crate) fn new(config: &SdkConfig) -> Logs {
        Logs {
            client: Client::new(config),
        }
    }

    /// The group's streams whose names start with `prefix`, the most
    /// recently written first. CloudWatch cannot order by last event and
    /// filter by prefix in one call, so the listing is by name and the
    /// ordering is done here.
    pub async fn streams(&self, group: &str, prefix: &str) -> Result<Vec<LogStream>, Error> {
        const ACTION: &str = "CloudWatch Logs DescribeLogStreams";
        let mut streams = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = patiently(|| async {
                self.client
                    .describe_log_streams()
                    .log_group_name(group)
                    .log_stream_name_prefix(prefix)
                    .order_by(OrderBy::LogStreamName)
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(|err| CallError::from_sdk(ACTION, &err))
            })
            .await
            .map_err(|err| missing_group(err, group))?;
            streams.extend(output.log_streams().iter().filter_map(|stream| {
                Some(LogStream {
                    name: stream.log_stream_name()?.to_owned(),
                    created: stream.creation_time().map(from_millis),
                    last_event: stream.last_event_timestamp().map(from_millis),
                })
            }));
            match output.next_token() {
                // A token that comes back unchanged would loop forever.
                Some(token) if next_token.as_deref() != Some(token) => {
                    next_token = Some(token.to_owned());
                }
                _ => break,
            }
        }
        streams.sort_by(|a, b| {
            (b.last_event, b.created, &a.name).cmp(&(a.last_event, a.created, &b.name))
        });
        Ok(streams)
    }

    /// The last `limit` events of one stream (at most 10,000, and what
    /// fits in 1 MB), oldest first; `None` while the stream (or its group)
    /// does not exist, as when its task has written nothing yet.
    pub async fn tail(
        &self,
        group: &str,
        stream: &str,
        limit: u16,
    ) -> Result<Option<Vec<StreamEvent>>, Error> {
        const ACTION: &str = "CloudWatch Logs GetLogEvents";
        let answer = patiently(|| async {
            match self
                .client
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(false)
                .limit(i32::from(limit))
                .send()
                .await
            {
                Ok(output) => Ok(Some(output)),
                Err(err) => {
                    let err = CallError::from_sdk(ACTION, &err);
                    // A missing stream and a missing group answer alike (a
                    // stand-in may name the group for both): either way,
                    // nothing has been written there.
                    if matches!(&err.problem, Problem::Service { code } if code == "ResourceNotFoundException")
                    {
                        Ok(None)
                    } else {
                        Err(err)
                    }
                }
            }
        })
        .await?;
        Ok(answer.map(|output| {
            let mut events: Vec<StreamEvent> = output
                .events()
                .iter()
                .filter_map(|event| {
                    Some(StreamEvent {
                        timestamp: from_millis(event.timestamp()?),
                        message: event.message().unwrap_or_default().to_owned(),
                    })
                })
                .collect();
            events.sort_by_key(|event| event.timestamp);
            events
        }))
    }

    /// Deletes a log group and its streams; `false` when there was none.
    pub async fn delete_group(&self, group: &str) -> Result<bool, Error> {
        const ACTION: &str = "CloudWatch Logs DeleteLogGroup";
        let deleted = patiently(|| async {
            self.client
                .delete_log_group()
                .log_group_name(group)
                .send()
                .await
                .map_err(|err| CallError::from_sdk(ACTION, &err))
        })
        .await
        .map_err(|err| missing_group(err, group));
        match deleted {
            Ok(_) => Ok(true),
            Err(Error::LogGroupNotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The events of the selected streams that happened at `since` or
    /// later, page by page, oldest first.
    pub fn events<'a>(
        &'a self,
        group: &'a str,
        selection: StreamSelection<'a>,
        since: SystemTime,
    ) -> EventPages<'a> {
        let batches = match selection {
            StreamSelection::Prefix(_) => 1,
            StreamSelection::Named(names) => names.len().div_ceil(NAMES_PER_CALL),
        };
        EventPages {
            logs: self,
            group,
            selection,
            start_millis: to_millis(since),
            batch: 0,
            batches,
            next_token: None,
        }
    }
}

/// Pages of FilterLogEvents answers; see [`Logs::events`].
#[derive(Debug)]
pub struct EventPages<'a> {
    logs: &'a Logs,
    group: &'a str,
    selection: StreamSelection<'a>,
    start_millis: i64,
    /// Named streams are asked for in batches of [`NAMES_PER_CALL`].
    batch: usize,
    batches: usize,
    next_token: Option<String>,
}

impl EventPages<'_> {
    /// The next page, or `None` when every page has been read. A page may
    /// be empty while more follow: FilterLogEvents searches for a while and
    /// answers with what it found so far.
    pub async fn next_page(&mut self) -> Result<Option<Vec<LogEvent>>, Error> {
        const ACTION: &str = "CloudWatch Logs FilterLogEvents";
        if self.batch >= self.batches {
            return Ok(None);
        }
        let (prefix, names) = match self.selection {
            StreamSelection::Prefix(prefix) => (Some(prefix), None),
            StreamSelection::Named(names) => {
                let start = self.batch * NAMES_PER_CALL;
                let end = names.len().min(start + NAMES_PER_CALL);
                (None, Some(names[start..end].to_vec()))
            }
        };
        let output = patiently(|| async {
            self.logs
                .client
                .filter_log_events()
                .log_group_name(self.group)
                .set_log_stream_name_prefix(prefix.map(ToOwned::to_owned))
                .set_log_stream_names(names.clone())
                .start_time(self.start_millis)
                .set_next_token(self.next_token.clone())
                .send()
                .await
                .map_err(|err| CallError::from_sdk(ACTION, &err))
        })
        .await
        .map_err(|err| missing_group(err, self.group))?;
        let mut events: Vec<LogEvent> = output
            .events()
            .iter()
            .filter_map(|event| {
                Some(LogEvent {
                    id: event.event_id()?.to_owned(),
                    stream: event.log_stream_name()?.to_owned(),
                    timestamp: from_millis(event.timestamp()?),
                    message: event.message().unwrap_or_default().to_owned(),
                })
            })
            // CloudWatch applies the prefix itself; a stand-in that does not
            // (moto) would mix in the group's other streams.
            .filter(|event| prefix.is_none_or(|prefix| event.stream.starts_with(prefix)))
            .collect();
        // CloudWatch interleaves a page's streams by time; a stand-in may
        // list them stream after stream.
        events.sort_by_key(|event| event.timestamp);
        match output.next_token() {
            Some(token) if self.next_token.as_deref() != Some(token) => {
                self.next_token = Some(token.to_owned());
            }
            _ => {
                self.next_token = None;
                self.batch += 1;
            }
        }
        Ok(Some(events))
    }
}

/// A call on a group that does not exist says which group, and what to do.
fn missing_group(err: CallError, group: &str) -> Error {
    match &err.problem {
        Problem::Service { code } if code == "ResourceNotFoundException" => {
            Error::LogGroupNotFound {
                group: group.to_owned(),
            }
        }
        _ => err.into(),
    }
}

fn from_millis(millis: i64) -> SystemTime {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_convert_both_ways() {
        for millis in [0, 1, 1_778_188_176_123, -1_500] {
            assert_eq!(to_millis(from_millis(millis)), millis, "{millis}");
        }
    }

    #[test]
    fn a_missing_group_is_named() {
        let err = CallError {
            action: "CloudWatch Logs FilterLogEvents",
            problem: Problem::Service {
                code: "ResourceNotFoundException".to_owned(),
            },
            detail: "The specified log group does not exist.".to_owned(),
        };
        let text = missing_group(err, "/ecs/isokit-service").to_string();
        assert!(text.contains("/ecs/isokit-service"), "{text}");
        assert!(text.contains("isokit deploy"), "{text}");
    }
}
