//! CloudFormation: reading back a stack's state and outputs, and following
//! the events of an operation on a stack and on its nested stacks.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_types::SdkConfig;

use crate::error::{CallError, Error};
use crate::stack_status::StackStatus;
use crate::throttle::patiently;

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    /// The stack's ID (an ARN): unlike the name, it still finds the stack,
    /// and its events, once the stack is deleted.
    pub id: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Stacks {
    pub(crate) client: Client,
}

impl Stacks {
    pub(crate) fn new(config: &SdkConfig) -> Stacks {
        Stacks {
            client: Client::new(config),
        }
    }

    /// The stack, or `None` when no stack of that name exists (deleted
    /// stacks do not count).
    pub async fn describe(&self, name: &str) -> Result<Option<Stack>, Error> {
        let output = match self.client.describe_stacks().stack_name(name).send().await {
            Ok(output) => output,
            // CloudFormation reports a missing stack as a ValidationError
            // whose message says so; there is no dedicated error code.
            Err(SdkError::ServiceError(service))
                if service.err().code() == Some("ValidationError")
                    && service
                        .err()
                        .message()
                        .is_some_and(|m| m.contains("does not exist")) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(CallError::from_sdk("CloudFormation DescribeStacks", &err).into());
            }
        };
        let Some(stack) = output.stacks().first() else {
            return Ok(None);
        };
        let status = stack
            .stack_status()
            .cloned()
            .unwrap_or_else(|| StackStatus::from(""));
        if status == StackStatus::DeleteComplete {
            return Ok(None);
        }
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect();
        Ok(Some(Stack {
            name: stack.stack_name().unwrap_or(name).to_owned(),
            id: stack.stack_id().unwrap_or(name).to_owned(),
            status,
            status_reason: stack.stack_status_reason().map(ToOwned::to_owned),
            outputs,
            parameters,
        }))
    }

    /// Cancels the update of `stack` (its root: a nested stack's update is
    /// cancelled through its root): CloudFormation rolls the update back
    /// and returns the stack to its previous configuration
    /// (UPDATE_ROLLBACK_IN_PROGRESS, then UPDATE_ROLLBACK_COMPLETE). Only a
    /// stack in UPDATE_IN_PROGRESS can be cancelled
    /// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CancelUpdateStack.html):
    /// `false` when CloudFormation refused because the stack is not, or no
    /// longer, being updated.
    pub async fn cancel_update(&self, stack: &str) -> Result<bool, Error> {
        const ACTION: &str = "CloudFormation CancelUpdateStack";
        patiently(|| async {
            match self
                .client
                .cancel_update_stack()
                .stack_name(stack)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                // "CancelUpdateStack cannot be called from current stack status"
                Err(SdkError::ServiceError(service))
                    if service.err().code() == Some("ValidationError")
                        && service
                            .err()
                            .message()
                            .is_some_and(|m| m.contains("current stack status")) =>
                {
                    Ok(false)
                }
                Err(err) => Err(CallError::from_sdk(ACTION, &err)),
            }
        })
        .await
        .map_err(Error::from)
    }

    /// The events of `stack` (a name, or an ID for a deleted stack too)
    /// that are newer than `boundary`, oldest first; `None` when there is
    /// no such stack. DescribeStackEvents answers newest first, a page at a
    /// time, so reading stops at the first page that reaches the boundary.
    async fn events(
        &self,
        stack: &str,
        boundary: &Boundary,
    ) -> Result<Option<Vec<StackEvent>>, Error> {
        let mut newer = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let Some((page, next)) = self.events_page(stack, next_token).await? else {
                return Ok(None);
            };
            let reached = boundary.take_newer(page, &mut newer);
            next_token = next;
            if reached || next_token.is_none() {
                break;
            }
        }
        newer.reverse();
        Ok(Some(newer))
    }

    /// One page of the stack's events, newest first, and the token of the
    /// next; `None` when there is no such stack. Throttled calls are tried
    /// again until they pass.
    async fn events_page(
        &self,
        stack: &str,
        next_token: Option<String>,
    ) -> Result<Option<(Vec<StackEvent>, Option<String>)>, Error> {
        const ACTION: &str = "CloudFormation DescribeStackEvents";
        let answer = patiently(|| async {
            match self
                .client
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(next_token.clone())
                .send()
                .await
            {
                Ok(output) => Ok(Some(output)),
                Err(SdkError::ServiceError(service)) if is_missing_stack(service.err()) => Ok(None),
                Err(err) => Err(CallError::from_sdk(ACTION, &err)),
            }
        })
        .await?;
        Ok(answer.map(|output| {
            let page = output
                .stack_events()
                .iter()
                .filter_map(StackEvent::from_sdk)
                .collect();
            (page, output.next_token().map(ToOwned::to_owned))
        }))
    }

    /// Starts following an operation on stack `name`: the events it has
    /// already (if it exists) are not reported, those written from now on
    /// are, its nested stacks' included.
    pub async fn follow(&self, name: &str) -> Result<StackFollower, Error> {
        let newest = self
            .events_page(name, None)
            .await?
            .and_then(|(page, _)| page.into_iter().next());
        let root = match newest {
            // Followed by ID, so that a deletion is followed to its end.
            Some(newest) => Followed {
                query: newest.stack_id,
                boundary: Boundary {
                    seen: Some(newest.id),
                    since: None,
                },
                ..Followed::default()
            },
            None => Followed {
                query: name.to_owned(),
                ..Followed::default()
            },
        };
        Ok(StackFollower {
            stacks: self.clone(),
            operation: Operation {
                stacks: vec![root],
                unreported: Vec::new(),
            },
        })
    }

    /// The physical IDs of every resource of type `kind` in the stack and
    /// its nested stacks, found with ListStackResources. That also reads a
    /// stack whose creation was rolled back, and a nested stack by its ID
    /// once deleted: a resource kept by a `Retain` deletion policy (a log
    /// group, say) is still listed with its ID. No such stack: empty.
    pub async fn physical_ids(&self, stack: &str, kind: &str) -> Result<Vec<String>, Error> {
        let mut found = Vec::new();
        let mut stacks = vec![stack.to_owned()];
        while let Some(stack) = stacks.pop() {
            for resource in self.resources(&stack).await? {
                let Some(physical_id) = resource.physical_id.filter(|id| !id.is_empty()) else {
                    continue;
                };
                if resource.kind == NESTED_STACK {
                    stacks.push(physical_id);
                } else if resource.kind == kind {
                    found.push(physical_id);
                }
            }
        }
        Ok(found)
    }

    /// The stack's own resources, all pages.
    async fn resources(&self, stack: &str) -> Result<Vec<StackResource>, Error> {
        list_stack_pages(
            "CloudFormation ListStackResources",
            |token| {
                self.client
                    .list_stack_resources()
                    .stack_name(stack)
                    .set_next_token(token)
                    .send()
            },
            |output: &ListStackResourcesOutput| {
                let resources = output
                    .stack_resource_summaries()
                    .iter()
                    .map(|summary| StackResource {
                        kind: summary.resource_type().unwrap_or_default().to_owned(),
                        physical_id: summary.physical_resource_id().map(ToOwned::to_owned),
                    })
                    .collect();
                (resources, output.next_token().map(ToOwned::to_owned))
            },
        )
        .await
    }
}

/// Every page of a listing about `stack` (its resources, its change sets),
/// each read by `read` into its items and the next page's token; nothing
/// when there is no such stack. A token that comes back unchanged ends the
/// listing, which would otherwise never end.
pub(crate) async fn list_stack_pages<O, E, T, Fut>(
    action: &'static str,
    send: impl Fn(Option<String>) -> Fut,
    read: impl Fn(&O) -> (Vec<T>, Option<String>),
) -> Result<Vec<T>, Error>
where
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut items = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let answer = patiently(|| async {
            match send(next_token.clone()).await {
                Ok(output) => Ok(Some(output)),
                Err(SdkError::ServiceError(service)) if is_missing_stack(service.err()) => Ok(None),
                Err(err) => Err(CallError::from_sdk(action, &err)),
            }
        })
        .await?;
        let Some(output) = answer else {
            return Ok(items);
        };
        let (page, token) = read(&output);
        items.extend(page);
        match token {
            Some(token) if next_token.as_deref() != Some(token.as_str()) => {
                next_token = Some(token);
            }
            _ => return Ok(items),
        }
    }
}

/// The resource type of a nested stack.
const NESTED_STACK: &str = "AWS::CloudFormation::Stack";

/// A resource of a stack, as much of it as isokit reads.
#[derive(Debug)]
struct StackResource {
    kind: String,
    physical_id: Option<String>,
}

/// CloudFormation reports a missing stack as a ValidationError whose
/// message says so; there is no dedicated error code.
pub(crate) fn is_missing_stack(err: &impl ProvideErrorMetadata) -> bool {
    err.code() == Some("ValidationError")
        && err.message().is_some_and(|m| m.contains("does not exist"))
}

/// Where reading a stack's events (newest first) stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Boundary {
    /// The newest event already read: it and everything older are not new.
    seen: Option<String>,
    /// Events older than this belong to earlier operations.
    since: Option<SystemTime>,
}

impl Boundary {
    /// Moves the events of `page` (newest first) that are newer than the
    /// boundary into `newer`; true when the page reached the boundary.
    fn take_newer(&self, page: Vec<StackEvent>, newer: &mut Vec<StackEvent>) -> bool {
        for event in page {
            let old = self.seen.as_deref() == Some(event.id.as_str())
                || self.since.is_some_and(|since| event.timestamp < since);
            if old {
                return true;
            }
            newer.push(event);
        }
        false
    }
}

/// One event of a stack, as DescribeStackEvents reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub id: String,
    pub stack_id: String,
    pub stack_name: String,
    /// The resource's name in its template; the stack's name for an event
    /// of the stack itself.
    pub logical_id: String,
    /// The resource's ID once it has one: for a nested stack, its stack ID.
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `UPDATE_FAILED`, `ROLLBACK_COMPLETE`, ...
    pub status: String,
    pub reason: Option<String>,
    pub timestamp: SystemTime,
}

/// A nested stack is a resource of this type in its parent.
const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

impl StackEvent {
    /// `None` for what is no resource event (a hook's, which has no
    /// resource status) or lacks what every event has.
    fn from_sdk(event: &aws_sdk_cloudformation::types::StackEvent) -> Option<StackEvent> {
        Some(StackEvent {
            id: event.event_id()?.to_owned(),
            stack_id: event.stack_id()?.to_owned(),
            stack_name: event.stack_name()?.to_owned(),
            logical_id: event.logical_resource_id()?.to_owned(),
            physical_id: event
                .physical_resource_id()
                .filter(|id| !id.is_empty())
                .map(ToOwned::to_owned),
            resource_type: event.resource_type()?.to_owned(),
            status: event.resource_status()?.as_str().to_owned(),
            reason: event
                .resource_status_reason()
                .filter(|reason| !reason.is_empty())
                .map(ToOwned::to_owned),
            timestamp: SystemTime::try_from(*event.timestamp()?).ok()?,
        })
    }

    /// An event of the stack itself rather than of one of its resources.
    pub fn is_of_stack(&self) -> bool {
        self.resource_type == STACK_TYPE
            && (self.physical_id.as_deref() == Some(self.stack_id.as_str())
                || self.logical_id == self.stack_name)
    }

    /// The ID of the nested stack this event is about, once it has one.
    fn nested_stack(&self) -> Option<&str> {
        (self.resource_type == STACK_TYPE && !self.is_of_stack())
            .then_some(self.physical_id.as_deref())
            .flatten()
    }

    pub fn is_failure(&self) -> bool {
        self.status.ends_with("_FAILED")
    }

    pub fn is_in_progress(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS")
    }

    /// `(AWS::EC2::Subnet) CREATE_FAILED: reason`: the event without the
    /// resource's name.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " ({}) {}", self.resource_type, self.status)?;
        match &self.reason {
            Some(reason) => write!(f, ": {reason}"),
            None => Ok(()),
        }
    }
}

/// An event of the followed operation, named by where its resource sits:
/// `VpcStack/PrivateSubnetOne (AWS::EC2::Subnet) CREATE_COMPLETE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEvent {
    /// The logical IDs of the nested stacks above the resource, from the
    /// top; empty in the stack that was followed.
    pub nesting: Vec<String>,
    pub event: StackEvent,
}

impl fmt::Display for ResourceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for stack in &self.nesting {
            write!(f, "{stack}/")?;
        }
        f.write_str(&self.event.logical_id)?;
        self.event.describe(f)
    }
}

/// The failure that explains a failed operation: the first failed
/// resource, followed into the nested stack it was, down to that stack's
/// own first failure: `ServiceStack › Service (AWS::ECS::Service)
/// CREATE_FAILED: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstFailure(pub ResourceEvent);

impl fmt::Display for FirstFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for stack in &self.0.nesting {
            write!(f, "{stack} › ")?;
        }
        f.write_str(&self.0.event.logical_id)?;
        self.0.event.describe(f)
    }
}

/// Follows one operation on a stack and its nested stacks through
/// DescribeStackEvents ([`Stacks::follow`]).
#[derive(Debug, Clone)]
pub struct StackFollower {
    stacks: Stacks,
    operation: Operation,
}

impl StackFollower {
    /// The events written since the last call, oldest first, nested stacks
    /// included: one call per stack still changing. Throttled calls are
    /// tried again, later and later, until they pass. Events read by a call
    /// that is dropped half-way are returned by the next.
    pub async fn poll(&mut self) -> Result<Vec<ResourceEvent>, Error> {
        let mut from = 0;
        while let Some((index, query, boundary)) = self.operation.next_to_read(from) {
            let events = self.stacks.events(&query, &boundary).await?;
            self.operation.record(index, events.unwrap_or_default());
            from = index + 1;
        }
        Ok(self.operation.take_unreported())
    }

    /// The failure that explains this operation, if any resource failed.
    pub fn first_failure(&self) -> Option<FirstFailure> {
        self.operation
            .first_failure(0, &[])
            .or_else(|| self.operation.own_failure())
    }

    /// Whether the followed stack itself wrote any event: an update with
    /// nothing to change writes none.
    pub fn changed(&self) -> bool {
        !self.operation.stacks[0].events.is_empty()
    }
}

/// What has been read of one operation, without the calls that read it.
#[derive(Debug, Clone, Default)]
struct Operation {
    /// The followed stack first, then the nested stacks as they appear.
    stacks: Vec<Followed>,
    /// Events read but not yet returned by [`StackFollower::poll`].
    unreported: Vec<ResourceEvent>,
}

/// One stack of the operation.
#[derive(Debug, Clone, Default)]
struct Followed {
    /// What DescribeStackEvents is asked for: the stack's ID once known.
    query: String,
    /// The logical IDs of the nested stacks down to this one.
    nesting: Vec<String>,
    boundary: Boundary,
    /// This operation's events of this stack, oldest first.
    events: Vec<StackEvent>,
    /// The stack has reached a status no operation is in: it is not read
    /// again until its parent starts changing it again.
    settled: bool,
}

impl Operation {
    /// The next stack, from index `from` on, that may have new events:
    /// one still changing. Nested stacks found on the way come after those
    /// already known, and are read in the same round.
    fn next_to_read(&self, from: usize) -> Option<(usize, String, Boundary)> {
        let (index, stack) = self
            .stacks
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, stack)| !stack.settled)?;
        Some((index, stack.query.clone(), stack.boundary.clone()))
    }

    /// Takes in the new events of stack `index`, oldest first, and starts
    /// following the nested stacks they reveal.
    fn record(&mut self, index: usize, events: Vec<StackEvent>) {
        for event in events {
            let stack = &mut self.stacks[index];
            stack.boundary.seen = Some(event.id.clone());
            if index == 0 {
                // A stack followed by name is followed by ID from its first
                // event on, as a deletion would end reads by name.
                stack.query = event.stack_id.clone();
            }
            if event.is_of_stack() {
                stack.settled = index > 0 && !event.is_in_progress();
            }
            if let Some(nested) = event.nested_stack() {
                self.follow_nested(index, nested.to_owned(), &event);
            }
            let stack = &mut self.stacks[index];
            // A nested stack's own events repeat what its parent says of
            // it as a resource, so only the parent's are reported.
            if index == 0 || !event.is_of_stack() {
                self.unreported.push(ResourceEvent {
                    nesting: stack.nesting.clone(),
                    event: event.clone(),
                });
            }
            stack.events.push(event);
        }
        // Stacks are read one after the other: ordering by time interleaves
        // what happened in them at once.
        self.unreported
            .sort_by_key(|reported| reported.event.timestamp);
    }

    /// Follows the nested stack `id` that an event of stack `parent` names,
    /// from the time that stack began to change that resource in this
    /// operation (the stack ID may appear only on a later event).
    fn follow_nested(&mut self, parent: usize, id: String, event: &StackEvent) {
        if let Some(known) = self.stacks.iter_mut().find(|stack| stack.query == id) {
            if event.is_in_progress() {
                known.settled = false;
            }
            return;
        }
        let since = self.stacks[parent]
            .events
            .iter()
            .find(|earlier| earlier.logical_id == event.logical_id)
            .map_or(event.timestamp, |earlier| earlier.timestamp);
        let mut nesting = self.stacks[parent].nesting.clone();
        nesting.push(event.logical_id.clone());
        self.stacks.push(Followed {
            query: id,
            nesting,
            boundary: Boundary {
                seen: None,
                since: Some(since),
            },
            ..Followed::default()
        });
    }

    fn take_unreported(&mut self) -> Vec<ResourceEvent> {
        std::mem::take(&mut self.unreported)
    }

    /// The first failed resource of stack `index`, followed into the
    /// nested stack it is, when that stack has a failed resource of its own.
    fn first_failure(&self, index: usize, nesting: &[String]) -> Option<FirstFailure> {
        let failed = self.stacks[index]
            .events
            .iter()
            .find(|event| event.is_failure() && !event.is_of_stack())?;
        let deeper = failed.nested_stack().and_then(|id| {
            let nested = self.stacks.iter().position(|stack| stack.query == id)?;
            let mut path = nesting.to_vec();
            path.push(failed.logical_id.clone());
            self.first_failure(nested, &path)
        });
        deeper.or_else(|| {
            Some(FirstFailure(ResourceEvent {
                nesting: nesting.to_vec(),
                event: failed.clone(),
            }))
        })
    }

    /// The followed stack's own failure, when no resource failed.
    fn own_failure(&self) -> Option<FirstFailure> {
        let failed = self.stacks[0]
            .events
            .iter()
            .find(|event| event.is_failure() && event.is_of_stack())?;
        Some(FirstFailure(ResourceEvent {
            nesting: Vec::new(),
            event: failed.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    //! The follower against a stand-in for CloudFormation's query API on
    //! loopback, serving DescribeStackEvents answers from fixtures: the
    //! chains of nested failures and rollbacks, and the throttling, that the
    //! local AWS (moto) never produces. The fixtures are written in the
    //! shape `aws cloudformation describe-stack-events` prints, with
    //! CloudFormation's statuses and reasons.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use aws_config::BehaviorVersion;
    use aws_config::retry::RetryConfig;
    use aws_smithy_types::date_time::{DateTime, Format};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const CREATE_PARENT: &str =
        include_str!("../tests/fixtures/cloudformation/create-rollback-parent.json");
    const CREATE_VPC: &str =
        include_str!("../tests/fixtures/cloudformation/create-rollback-vpc.json");
    const CREATE_SERVICE: &str =
        include_str!("../tests/fixtures/cloudformation/create-rollback-service.json");
    const UPDATE_PARENT: &str =
        include_str!("../tests/fixtures/cloudformation/update-rollback-parent.json");
    const UPDATE_VPC: &str =
        include_str!("../tests/fixtures/cloudformation/update-rollback-vpc.json");

    /// Events per page, small so that reading spans pages.
    const PAGE: usize = 4;

    /// What the stand-in serves: each stack's events (newest first, as
    /// recorded), of which only those up to `now` exist yet.
    #[derive(Default)]
    struct CloudFormation {
        stacks: Vec<Vec<serde_json::Value>>,
        now: Option<SystemTime>,
        /// This many calls are answered "Rate exceeded" first.
        throttle: usize,
        calls: usize,
        /// The stacks being updated (UPDATE_IN_PROGRESS), which
        /// CancelUpdateStack may cancel.
        updating: Vec<String>,
    }

    fn time(value: &serde_json::Value) -> SystemTime {
        let text = value["Timestamp"].as_str().expect("a timestamp");
        SystemTime::try_from(DateTime::from_str(text, Format::DateTime).expect("RFC 3339"))
            .expect("a time")
    }

    fn at(text: &str) -> SystemTime {
        time(&serde_json::json!({ "Timestamp": format!("2025-11-20T{text}Z") }))
    }

    impl CloudFormation {
        fn new(fixtures: &[&str]) -> CloudFormation {
            let stacks = fixtures
                .iter()
                .map(|text| {
                    let answer: serde_json::Value = serde_json::from_str(text).expect("JSON");
                    answer["StackEvents"]
                        .as_array()
                        .expect("StackEvents")
                        .clone()
                })
                .collect();
            CloudFormation {
                stacks,
                ..CloudFormation::default()
            }
        }

        /// The answer to one query-API request body.
        fn answer(&mut self, body: &str) -> (u16, String) {
            self.calls += 1;
            if self.calls <= self.throttle {
                return (400, error_xml("Throttling", "Rate exceeded"));
            }
            let form: HashMap<String, String> = body
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, value)| (key.to_owned(), percent_decode(value)))
                .collect();
            if form["Action"] == "CancelUpdateStack" {
                return self.cancel_update(&form["StackName"]);
            }
            assert_eq!(form["Action"], "DescribeStackEvents");
            let wanted = &form["StackName"];
            let Some(events) = self.stacks.iter().find(|events| {
                events.iter().any(|event| {
                    event["StackId"] == wanted.as_str() || event["StackName"] == wanted.as_str()
                })
            }) else {
                let message = format!("Stack [{wanted}] does not exist");
                return (400, error_xml("ValidationError", &message));
            };
            let existing: Vec<&serde_json::Value> = events
                .iter()
                .filter(|event| self.now.is_none_or(|now| time(event) <= now))
                .collect();
            if existing.is_empty() {
                let message = format!("Stack [{wanted}] does not exist");
                return (400, error_xml("ValidationError", &message));
            }
            let start: usize = form
                .get("NextToken")
                .map_or(0, |t| t.parse().expect("ours"));
            let end = (start + PAGE).min(existing.len());
            let mut xml = String::from(
                "<DescribeStackEventsResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                 <DescribeStackEventsResult><StackEvents>",
            );
            for event in &existing[start..end] {
                xml.push_str("<member>");
                for (key, value) in event.as_object().expect("an event") {
                    let value = value.as_str().expect("text");
                    xml.push_str(&format!("<{key}>{}</{key}>", xml_escape(value)));
                }
                xml.push_str("</member>");
            }
            xml.push_str("</StackEvents>");
            if end < existing.len() {
                xml.push_str(&format!("<NextToken>{end}</NextToken>"));
            }
            xml.push_str(
                "</DescribeStackEventsResult><ResponseMetadata><RequestId>4d9b4c3e-0000-4000-8000-000000000000</RequestId>\
                 </ResponseMetadata></DescribeStackEventsResponse>",
            );
            (200, xml)
        }
    }

    impl CloudFormation {
        /// CloudFormation's answers to CancelUpdateStack: an empty result
        /// for a stack being updated, else the ValidationError it gives
        /// for any other status (its wording, as the AWS Copilot CLI
        /// matches it: github.com/aws/copilot-cli,
        /// internal/pkg/aws/cloudformation/errors.go).
        fn cancel_update(&mut self, stack: &str) -> (u16, String) {
            if !self.updating.iter().any(|updating| updating == stack) {
                let message = "CancelUpdateStack cannot be called from current stack status";
                return (400, error_xml("ValidationError", message));
            }
            self.updating.retain(|updating| updating != stack);
            (
                200,
                "<CancelUpdateStackResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                 <ResponseMetadata><RequestId>4d9b4c3e-0000-4000-8000-000000000002</RequestId>\
                 </ResponseMetadata></CancelUpdateStackResponse>"
                    .to_owned(),
            )
        }
    }

    #[tokio::test]
    async fn only_an_update_in_progress_is_cancelled() {
        let cloudformation = Arc::new(Mutex::new(CloudFormation::default()));
        cloudformation.lock().expect("lock").updating = vec!["isolated-vpc-environment".to_owned()];
        let stacks = serve(cloudformation.clone()).await;
        assert!(
            stacks
                .cancel_update("isolated-vpc-environment")
                .await
                .expect("cancelled")
        );
        // Rolling back now, or never updated: nothing to cancel, no error.
        assert!(
            !stacks
                .cancel_update("isolated-vpc-environment")
                .await
                .expect("refused, as CloudFormation refuses it")
        );
        assert!(!stacks.cancel_update("another").await.expect("refused"));
        let throttled = CloudFormation {
            throttle: 1,
            updating: vec!["web".to_owned()],
            ..CloudFormation::default()
        };
        let stacks = serve(Arc::new(Mutex::new(throttled))).await;
        assert!(stacks.cancel_update("web").await.expect("tried again"));
    }

    fn error_xml(code: &str, message: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>4d9b4c3e-0000-4000-8000-000000000001</RequestId></ErrorResponse>",
            xml_escape(message)
        )
    }

    fn xml_escape(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }

    fn percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex"));
                    index += 3;
                }
                b'+' => {
                    out.push(b' ');
                    index += 1;
                }
                byte => {
                    out.push(byte);
                    index += 1;
                }
            }
        }
        String::from_utf8(out).expect("UTF-8")
    }

    /// Serves `cloudformation` on loopback; the clients that reach it,
    /// without the SDK's own retries so that only isokit's back-off retries.
    async fn serve(cloudformation: Arc<Mutex<CloudFormation>>) -> Stacks {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            loop {
                let Ok((mut connection, _)) = listener.accept().await else {
                    return;
                };
                let cloudformation = cloudformation.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let Ok(read) = connection.read(&mut chunk).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        let text = String::from_utf8_lossy(&buffer).into_owned();
                        let Some(head_end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length: usize = text[..head_end]
                            .lines()
                            .find_map(|line| {
                                let (name, value) = line.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if buffer.len() < head_end + 4 + length {
                            continue;
                        }
                        let body =
                            String::from_utf8_lossy(&buffer[head_end + 4..head_end + 4 + length])
                                .into_owned();
                        buffer.drain(..head_end + 4 + length);
                        let (status, xml) = cloudformation.lock().expect("lock").answer(&body);
                        let reply = format!(
                            "HTTP/1.1 {status} {}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{xml}",
                            if status == 200 { "OK" } else { "Bad Request" },
                            xml.len()
                        );
                        if connection.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::https_client(None).expect("the HTTPS client"))
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(format!("http://{address}"))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "AKIDEXAMPLE",
                "stand-in-secret",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        Stacks::new(&config)
    }

    fn lines(events: &[ResourceEvent]) -> Vec<String> {
        events.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn a_failed_creation_is_explained_by_the_nested_stacks_first_failure() {
        let cloudformation = Arc::new(Mutex::new(CloudFormation::new(&[
            CREATE_PARENT,
            CREATE_VPC,
            CREATE_SERVICE,
        ])));
        cloudformation.lock().expect("lock").now = Some(at("09:59:00"));
        let stacks = serve(cloudformation.clone()).await;
        let mut follower = stacks
            .follow("isolated-vpc-environment")
            .await
            .expect("no stack yet is no error");

        // Polled mid-way, then at the end: each event once, in order.
        cloudformation.lock().expect("lock").now = Some(at("10:02:12.500"));
        let first = follower.poll().await.expect("events");
        cloudformation.lock().expect("lock").now = None;
        let rest = follower.poll().await.expect("events");
        assert!(follower.poll().await.expect("events").is_empty());
        let first = lines(&first);
        assert_eq!(
            first[..3],
            [
                "isolated-vpc-environment (AWS::CloudFormation::Stack) REVIEW_IN_PROGRESS: User Initiated",
                "isolated-vpc-environment (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS: User Initiated",
                "VpcStack (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS",
            ]
        );
        assert!(
            first.contains(&"VpcStack/PrivateSubnetOne (AWS::EC2::Subnet) CREATE_COMPLETE".into()),
            "{first:#?}"
        );
        assert_eq!(
            first.last().map(String::as_str),
            Some("ServiceStack (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS")
        );
        let rest = lines(&rest);
        assert!(
            rest.contains(&"ServiceStack/LogGroup (AWS::Logs::LogGroup) CREATE_COMPLETE".into())
                && rest.contains(&"VpcStack/VPC (AWS::EC2::VPC) DELETE_COMPLETE".into()),
            "{rest:#?}"
        );
        assert_eq!(
            rest.last().map(String::as_str),
            Some("isolated-vpc-environment (AWS::CloudFormation::Stack) ROLLBACK_COMPLETE")
        );
        let all: Vec<&String> = first.iter().chain(&rest).collect();
        // The nested stacks' own events stand behind their parent's.
        assert!(
            !all.iter().any(|line| line.contains("-VpcStack-")),
            "{all:#?}"
        );
        let resource_events = [CREATE_PARENT, CREATE_VPC, CREATE_SERVICE]
            .iter()
            .map(|text| text.matches("\"EventId\"").count())
            .sum::<usize>()
            - (5 + 4); // the nested stacks' own events
        assert_eq!(all.len(), resource_events);

        let failure = follower.first_failure().expect("a failure").to_string();
        assert_eq!(
            failure,
            "ServiceStack › Service (AWS::ECS::Service) CREATE_FAILED: Resource handler returned \
             message: \"Error occurred during operation 'ECS Deployment Circuit Breaker was \
             triggered'.\" (RequestToken: 3f1c2b4a-9d8e-4c7b-a6f5-1e2d3c4b5a69, HandlerErrorCode: \
             GeneralServiceException)"
        );
        assert!(follower.changed());
    }

    #[tokio::test]
    async fn an_update_reports_only_its_own_events_and_failure() {
        let cloudformation = Arc::new(Mutex::new(CloudFormation::new(&[
            UPDATE_PARENT,
            UPDATE_VPC,
        ])));
        cloudformation.lock().expect("lock").now = Some(at("10:30:00"));
        let stacks = serve(cloudformation.clone()).await;
        let mut follower = stacks
            .follow("isolated-vpc-environment")
            .await
            .expect("follow");
        assert!(follower.poll().await.expect("events").is_empty());
        assert!(!follower.changed() && follower.first_failure().is_none());

        cloudformation.lock().expect("lock").now = None;
        let events = lines(&follower.poll().await.expect("events"));
        assert_eq!(
            events.first().map(String::as_str),
            Some(
                "isolated-vpc-environment (AWS::CloudFormation::Stack) UPDATE_IN_PROGRESS: User Initiated"
            )
        );
        assert!(
            !events.iter().any(|line| line.contains("EcrApiEndpoint")),
            "an earlier update's events came back: {events:#?}"
        );
        let failure = follower.first_failure().expect("a failure").to_string();
        assert!(
            failure.starts_with(
                "VpcStack › EcrDkrEndpoint (AWS::EC2::VPCEndpoint) CREATE_FAILED: Resource handler \
                 returned message: \"The maximum number of VPC endpoints has been reached."
            ),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn throttled_reads_are_tried_again_not_failed() {
        let cloudformation = Arc::new(Mutex::new(CloudFormation::new(&[CREATE_PARENT])));
        cloudformation.lock().expect("lock").throttle = 2;
        let stacks = serve(cloudformation.clone()).await;
        let mut follower = stacks
            .follow("isolated-vpc-environment")
            .await
            .expect("follow");
        assert_eq!(cloudformation.lock().expect("lock").calls, 3);
        // The stack existed: what it had written before is not reported.
        assert!(follower.poll().await.expect("events").is_empty());
    }
}
