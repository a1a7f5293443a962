//! CloudFormation: reading back a stack's state and outputs.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_types::SdkConfig;

use crate::error::{CallError, Error};

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Stacks {
    client: Client,
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
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if status == "DELETE_COMPLETE" {
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
            status,
            status_reason: stack.stack_status_reason().map(ToOwned::to_owned),
            outputs,
            parameters,
        }))
    }
}
