//! Errors of AWS calls, classified so that each says what to do.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no AWS region is set: pass --region, set AWS_REGION, or set `region` in your AWS profile"
    )]
    NoRegion,

    #[error("cannot read the CA bundle {path} (AWS_CA_BUNDLE)")]
    CaBundleUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the CA bundle {path} (AWS_CA_BUNDLE) cannot be used: {detail}")]
    CaBundleInvalid { path: PathBuf, detail: String },

    #[error(
        "cannot build the HTTPS client for AWS: {0}; when AWS_CA_BUNDLE (or --ca-bundle) is \
         set, check that every certificate in it is a valid X.509 CA certificate"
    )]
    HttpClient(String),

    #[error(transparent)]
    Call(#[from] CallError),

    #[error("ECR returned an authorization token isokit cannot read: {0}")]
    MalformedToken(&'static str),

    #[error("ECR returned an image manifest isokit cannot read: {0}")]
    MalformedManifest(&'static str),

    #[error("`{uri}` is not an ECR image reference: {reason}")]
    NotAnEcrUri { uri: String, reason: String },

    #[error(
        "the image is in ECR in {image_region}, but the task would run in {region}: a task in an \
         isolated VPC reaches only its own region's ECR through the endpoints; push the image to \
         {region} (isokit push --region {region}) or pass --region {image_region}"
    )]
    RegionMismatch {
        image_region: String,
        region: String,
    },

    #[error("the repository name `{name}` is not valid in ECR: {reason}")]
    InvalidRepositoryName { name: String, reason: &'static str },

    #[error("the tag `{tag}` is not valid: {reason}")]
    InvalidTag { tag: String, reason: &'static str },

    #[error(
        "the image {reference} is not in ECR repository {repository}: push it first (isokit push)"
    )]
    ImageNotFound {
        repository: String,
        reference: String,
    },

    #[error(
        "ECR repository {0} does not exist: push an image to it first (isokit push creates it)"
    )]
    RepositoryNotFound(String),

    #[error(
        "ECS cluster {cluster} does not exist in this region: check the region, or deploy the \
         stack again (isokit deploy) if the cluster was deleted"
    )]
    ClusterNotFound { cluster: String },

    #[error(
        "ECS service {service} does not exist in cluster {cluster}: check the region, or deploy \
         the stack again (isokit deploy) if the service was deleted"
    )]
    ServiceNotFound { cluster: String, service: String },

    #[error(
        "CloudWatch Logs group {group} does not exist in this region: check the region, or \
         deploy the stack again (isokit deploy) if the group was deleted"
    )]
    LogGroupNotFound { group: String },
}

/// Why a call to an AWS API failed, in terms a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoCredentials,
    ExpiredCredentials,
    InvalidCredentials,
    AccessDenied,
    UntrustedCertificate,
    Unreachable,
    TimedOut,
    Service { code: String },
    Other,
}

/// A failed AWS API call: which call, why, and the service's own words.
#[derive(Debug, Clone)]
pub struct CallError {
    pub action: &'static str,
    pub problem: Problem,
    pub detail: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self.action;
        let detail = &self.detail;
        match &self.problem {
            Problem::NoCredentials => write!(
                f,
                "{action} failed: no AWS credentials found ({detail}); set AWS_PROFILE or \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or sign in with `aws sso login`"
            ),
            Problem::ExpiredCredentials => write!(
                f,
                "{action} failed: the AWS credentials have expired ({detail}); refresh them \
                 (for example `aws sso login`) and try again"
            ),
            Problem::InvalidCredentials => write!(
                f,
                "{action} failed: AWS does not recognise the credentials ({detail}); check \
                 AWS_PROFILE and the access key"
            ),
            Problem::AccessDenied => write!(
                f,
                "{action} failed: access denied ({detail}); the identity in use needs \
                 permission for this call"
            ),
            Problem::UntrustedCertificate => write!(
                f,
                "{action} failed: the endpoint's TLS certificate is not trusted ({detail}); if \
                 a proxy or private endpoint presents its own CA, set AWS_CA_BUNDLE to a PEM \
                 file holding it"
            ),
            Problem::Unreachable => write!(
                f,
                "{action} failed: cannot reach the AWS endpoint ({detail}); check the network, \
                 the region, and AWS_ENDPOINT_URL if set"
            ),
            Problem::TimedOut => write!(
                f,
                "{action} failed: the AWS endpoint did not answer in time ({detail}); check the \
                 network and the region"
            ),
            Problem::Service { code } => write!(f, "{action} failed: {code}: {detail}"),
            Problem::Other => write!(f, "{action} failed: {detail}"),
        }
    }
}

impl StdError for CallError {}

impl CallError {
    /// Classifies an SDK error. The service error's code decides when there
    /// is one; otherwise the cause chain is searched for the TLS, credential
    /// or connection failure underneath.
    pub(crate) fn from_sdk<E>(action: &'static str, err: &SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        if let SdkError::ServiceError(service) = err {
            let inner = service.err();
            let (code, detail) = match inner.code() {
                Some(code) => (
                    code.to_owned(),
                    inner.message().unwrap_or("no message").to_owned(),
                ),
                None => {
                    let raw = service.raw();
                    unparsed_error(
                        raw.status().as_u16(),
                        raw.body().bytes().unwrap_or_default(),
                    )
                }
            };
            return CallError {
                action,
                problem: problem_of_code(&code),
                detail,
            };
        }
        let chain = cause_chain(err);
        let problem = if let Some(tls) = find_rustls_error(err) {
            return CallError {
                action,
                problem: Problem::UntrustedCertificate,
                detail: tls.to_string(),
            };
        } else if chain.iter().any(|m| mentions_missing_credentials(m)) {
            Problem::NoCredentials
        } else if matches!(err, SdkError::TimeoutError(_))
            || matches!(err, SdkError::DispatchFailure(d) if d.is_timeout())
        {
            Problem::TimedOut
        } else if matches!(err, SdkError::DispatchFailure(d) if d.is_io()) {
            Problem::Unreachable
        } else {
            Problem::Other
        };
        // The innermost cause says the most; the outer ones ("dispatch
        // failure", "io error") only repeat the category.
        let detail = chain.last().cloned().unwrap_or_else(|| err.to_string());
        CallError {
            action,
            problem,
            detail,
        }
    }
}

/// The code and message of an error answer the SDK could not read: one in
/// the XML shape of AWS's query APIs (which some proxies and emulators send
/// for every service), or else whatever the body says, with the HTTP status
/// standing in for the code.
fn unparsed_error(status: u16, body: &[u8]) -> (String, String) {
    let body = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(body[start..end].trim().to_owned())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => (code, message),
        _ => {
            let code = if status == 403 {
                "AccessDenied".to_owned()
            } else {
                format!("HTTP {status}")
            };
            let mut detail: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            if detail.is_empty() {
                detail = format!("HTTP {status} with no message");
            } else if detail.chars().count() > 300 {
                detail = detail.chars().take(300).collect::<String>() + "…";
            }
            (code, detail)
        }
    }
}

fn problem_of_code(code: &str) -> Problem {
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => Problem::ExpiredCredentials,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException" => Problem::InvalidCredentials,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => Problem::AccessDenied,
        _ => Problem::Service {
            code: code.to_owned(),
        },
    }
}

fn mentions_missing_credentials(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("no credentials")
        || message.contains("failed to load credentials")
        || message.contains("credentials provider was not enabled")
        || message.contains("could not find credentials")
}

fn cause_chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut chain = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = current {
        chain.push(cause.to_string());
        current = cause.source();
    }
    chain
}

/// The TLS failure under a connector error, if that is what it was. rustls
/// errors arrive wrapped in (possibly nested) `io::Error`s, whose payload is
/// not their `source`, so each is unwrapped as well as followed.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = current {
        let mut layer: &(dyn StdError + 'static) = cause;
        loop {
            if let Some(tls) = layer.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            match layer
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => layer = inner,
                None => break,
            }
        }
        current = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_user_must_do() {
        assert_eq!(
            problem_of_code("ExpiredTokenException"),
            Problem::ExpiredCredentials
        );
        assert_eq!(
            problem_of_code("AccessDeniedException"),
            Problem::AccessDenied
        );
        assert_eq!(
            problem_of_code("UnrecognizedClientException"),
            Problem::InvalidCredentials
        );
        assert_eq!(
            problem_of_code("RepositoryNotFoundException"),
            Problem::Service {
                code: "RepositoryNotFoundException".into()
            }
        );
    }

    #[test]
    fn answers_the_sdk_cannot_read_are_still_classified() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/n is not authorized to perform: ecr:GetAuthorizationToken</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        let (code, detail) = unparsed_error(403, xml);
        assert_eq!(problem_of_code(&code), Problem::AccessDenied);
        assert!(
            detail.ends_with("not authorized to perform: ecr:GetAuthorizationToken"),
            "{detail}"
        );

        let (code, detail) = unparsed_error(403, b"<html><body>Forbidden by proxy</body></html>");
        assert_eq!(problem_of_code(&code), Problem::AccessDenied);
        assert_eq!(detail, "<html><body>Forbidden by proxy</body></html>");

        let (code, detail) = unparsed_error(502, b"");
        assert_eq!(
            (code.as_str(), detail.as_str()),
            ("HTTP 502", "HTTP 502 with no message")
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = CallError {
            action: "ECR GetAuthorizationToken",
            problem: Problem::UntrustedCertificate,
            detail: "invalid peer certificate: UnknownIssuer".into(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("ECR GetAuthorizationToken failed"),
            "{text}"
        );
        assert!(
            text.contains("UnknownIssuer") && text.contains("AWS_CA_BUNDLE"),
            "{text}"
        );
    }

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        assert!(find_rustls_error(&io).is_some());
        assert!(find_rustls_error(&std::io::Error::other("plain")).is_none());
    }
}
