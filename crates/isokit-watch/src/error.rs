//! What can go wrong reading back what runs, each saying what to do.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] isokit_aws::Error),

    #[error(
        "there is no stack {stack} in {region}: check --stack-name and the region (--region, \
         AWS_REGION); `aws cloudformation describe-stacks --query 'Stacks[].StackName'` lists \
         the stacks there, and `isokit deploy` creates one"
    )]
    StackNotFound { stack: String, region: String },

    #[error(
        "stack {stack} is still being deployed ({status}) and has no outputs yet: wait for the \
         deployment to finish, then try again"
    )]
    StackNotReady {
        stack: String,
        status: isokit_aws::StackStatus,
    },

    #[error(
        "stack {stack} ({status}) has no output {missing}, which the stacks `isokit deploy` \
         creates give: it is not an isokit deployment, or its deployment failed before creating \
         them; pass the --stack-name that `isokit deploy` was given"
    )]
    MissingOutputs {
        stack: String,
        status: isokit_aws::StackStatus,
        /// The output names, joined by commas.
        missing: String,
    },

    #[error(
        "task {task} has no log stream in {group} (service {service}'s streams are named \
         {service}/<container>/<task ID>): it has not written anything yet, or it is not a task \
         of this service; `isokit logs --follow --task {task}` waits for its first lines"
    )]
    NoTaskStream {
        task: String,
        group: String,
        service: String,
    },

    #[error("cannot listen for SIGINT, SIGTERM and SIGHUP")]
    Signals(#[source] io::Error),

    #[error("cannot write the logs on stdout")]
    Output(#[source] io::Error),
}
