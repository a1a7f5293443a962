use std::fmt;
use std::path::PathBuf;

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
        "DOCKER_HOST={value} is not supported: use unix:///path/to/docker.sock, tcp://host:port \
         (with DOCKER_TLS_VERIFY=1 for TLS) or ssh://[user@]host[:port]"
    )]
    UnsupportedHost { value: String },

    #[error(
        "DOCKER_TLS_VERIFY is set, but {file} is missing: put the CA certificate that signed the \
         daemon's (ca.pem), the client certificate (cert.pem) and its key (key.pem) in the \
         DOCKER_CERT_PATH folder ({folder}), or point DOCKER_CERT_PATH at the folder that holds \
         them"
    )]
    TlsFileMissing { file: PathBuf, folder: PathBuf },

    #[error("cannot read {file} for TLS to the Docker daemon")]
    TlsFileUnreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{file} holds no {what} for TLS to the Docker daemon: {reason}")]
    TlsFileInvalid {
        file: PathBuf,
        what: &'static str,
        reason: String,
    },

    #[error(
        "the TLS handshake with the Docker daemon at {host} failed: check that the daemon's \
         certificate is signed by ca.pem and names the host DOCKER_HOST names, and that the \
         daemon accepts the client certificate cert.pem (DOCKER_CERT_PATH, or the context's TLS \
         material)"
    )]
    TlsHandshake {
        host: String,
        #[source]
        source: Source,
    },

    #[error(
        "cannot reach the Docker daemon through SSH at {host}: check that `{check}` works from \
         this machine (ssh must log in without a prompt, with the host in known_hosts, and find \
         docker on the far side)"
    )]
    SshUnreachable {
        host: String,
        check: String,
        #[source]
        source: Source,
    },

    #[error(
        "Docker context {name} ({named_by}) does not exist: {meta} is missing; `docker context \
         ls` lists the contexts, `docker context create {name} --docker host=...` makes it"
    )]
    ContextNotFound {
        name: String,
        named_by: String,
        meta: PathBuf,
    },

    #[error("cannot read {path}, the Docker CLI's {what}: fix or remove it")]
    DockerConfigUnreadable {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: Source,
    },

    #[error(
        "refusing to hand the ECR token to the Docker daemon at {host}: plain TCP to another \
         machine carries it in clear, readable by anyone on the way; reach the daemon over TLS \
         (its TLS port, usually tcp://HOST:2376, with DOCKER_TLS_VERIFY=1 and ca.pem, cert.pem \
         and key.pem in DOCKER_CERT_PATH, ~/.docker by default), over SSH \
         (DOCKER_HOST=ssh://USER@HOST), or use a daemon on this machine"
    )]
    CredentialsInClear { host: String },

    #[error(
        "refusing to hand the ECR token to the Docker daemon at {host}: its TLS certificate is \
         not checked (the context's SkipTLSVerify), so anyone on the way could pose as it; give \
         the context the daemon's CA (`docker context update --docker \
         host=...,ca=ca.pem,cert=cert.pem,key=key.pem,skip-tls-verify=false NAME`) or reach \
         the daemon over SSH"
    )]
    CredentialsToUncheckedServer { host: String },

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

    #[error(
        "cannot read secret {id} from {path}: give a readable file with --secret id={id},src=PATH"
    )]
    SecretUnreadable {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("secret {id} comes from the environment variable {var}, which is not set")]
    SecretVariableUnset { id: String, var: String },

    #[error(
        "the build failed at {step}: it mounts secret {id}, which was not given: pass it with \
         --secret id={id},src=PATH or --secret id={id},env=VARIABLE"
    )]
    SecretNotGiven { id: String, step: String },

    #[error(
        "the Dockerfile's `# syntax={image}` directive names a frontend image the engine cannot \
         pull ({message}): make the image reachable from the engine, or remove the directive \
         to build with the engine's own Dockerfile frontend"
    )]
    SyntaxFrontendUnavailable { image: String, message: String },

    #[error(
        "--secret needs BuildKit, and the engine at {host} has none (API {api} before 1.39): \
         upgrade the engine, or build without secrets"
    )]
    SecretsNeedBuildKit { host: String, api: String },

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
