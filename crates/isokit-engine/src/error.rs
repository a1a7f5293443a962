use std::fmt;

use isokit_context::ContextError;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong talking to the Docker Engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker daemon at {host}: is it running? (set DOCKER_HOST to use another)"
    )]
    Unreachable {
        host: String,
        #[source]
        source: Source,
    },

    #[error(
        "DOCKER_HOST={value} is not supported: use unix:///path/to/docker.sock or tcp://host:port"
    )]
    UnsupportedHost { value: String },

    #[error(
        "DOCKER_TLS_VERIFY is set for {host}, but isokit reaches the Docker daemon over a Unix socket or plain TCP only: unset DOCKER_TLS_VERIFY or use a local socket"
    )]
    TlsUnsupported { host: String },

    #[error(
        "refusing to hand the ECR token to the Docker daemon at {host}: plain TCP to another \
         machine carries it in clear, readable by anyone on the way; use a daemon on this \
         machine, or reach the remote one through SSH as a local socket (`ssh -nNT -L \
         /tmp/remote-docker.sock:/var/run/docker.sock USER@HOST`, then \
         DOCKER_HOST=unix:///tmp/remote-docker.sock)"
    )]
    CredentialsInClear { host: String },

    #[error("sending the build context failed")]
    Context(#[from] ContextError),

    #[error("the Dockerfile is invalid: {message}")]
    DockerfileInvalid { message: String },

    #[error("the build failed at {step}: {message}{}", Tail(.tail))]
    StepFailed {
        step: String,
        message: String,
        tail: Vec<String>,
    },

    #[error("the build failed: {message}")]
    BuildFailed { message: String },

    #[error("the build finished without reporting an image ID")]
    NoImageId,

    #[error("no image {reference} in the Docker engine: build or pull it first")]
    ImageNotFound { reference: String },

    #[error("the registry {registry} refused the token: {message}")]
    RegistryRefused { registry: String, message: String },

    /// The registry took the token but its identity may not do this.
    #[error("the registry denied pushing {reference}: {message}; {}", Grant(.action.as_deref()))]
    AccessDenied {
        reference: String,
        /// The action the registry named, such as `ecr:InitiateLayerUpload`.
        action: Option<String>,
        message: String,
    },

    #[error("pushing {reference} failed after {attempts} attempt(s): {message}")]
    PushFailed {
        reference: String,
        attempts: u32,
        message: String,
    },

    #[error("the push of {reference} ended without reporting the image digest")]
    NoDigest { reference: String },

    #[error("pulling {reference} failed: {message}")]
    PullFailed { reference: String, message: String },

    #[error("the Docker daemon could not {action}: {message}")]
    Daemon { action: String, message: String },
}

/// The last lines a failed step printed, indented under the error.
struct Tail<'a>(&'a [String]);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, "\n  last output of the step:")?;
        for line in self.0 {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// What to do about a denied push.
struct Grant<'a>(Option<&'a str>);

impl fmt::Display for Grant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(action) => write!(
                f,
                "give the identity behind the registry token permission for {action} on the \
                 repository (an IAM policy on that user or role), and check that the repository \
                 policy does not deny it"
            ),
            None => f.write_str(
                "give the identity behind the registry token permission to push to the \
                 repository (on ECR: ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, \
                 ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:PutImage), and check that \
                 the repository policy does not deny it",
            ),
        }
    }
}

impl EngineError {
    /// A failed call to the daemon, described by what was being done.
    pub(crate) fn daemon(action: impl Into<String>, error: bollard::errors::Error) -> EngineError {
        EngineError::Daemon {
            action: action.into(),
            message: daemon_message(&error),
        }
    }
}

/// The daemon's own words for a failure, without bollard's wrapping.
pub(crate) fn daemon_message(error: &bollard::errors::Error) -> String {
    use bollard::errors::Error;
    match error {
        Error::DockerResponseServerError { message, .. } => message.trim().to_string(),
        Error::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

/// Whether the daemon answered "no such thing".
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
