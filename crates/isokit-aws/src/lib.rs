//! The AWS settings every isokit command shares (region, profile, endpoint,
//! CA bundle), built into one SDK configuration, and the ECR,
//! CloudFormation, ECS, CloudWatch Logs, IAM and EC2 calls built on it.
//!
//! Region, profile, credentials and `AWS_ENDPOINT_URL*` come from the
//! standard chain that `aws-config` reads, with explicit settings taking
//! precedence. `AWS_CA_BUNDLE` is not read by the Rust SDK, so it is honoured
//! here: its certificates are trusted in addition to the system's roots, as
//! the AWS CLI does for users behind TLS-inspecting proxies.

mod change_sets;
mod cloudformation;
mod ec2;
mod ecr;
mod ecs;
mod error;
mod iam;
mod logs;
mod stack_status;
mod throttle;

use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

pub use change_sets::{ChangeSetSummary, ResourceChange};
pub use cloudformation::{FirstFailure, ResourceEvent, Stack, StackEvent, StackFollower, Stacks};
pub use ec2::{AvailabilityZone, Ec2, EndpointServiceZones};
pub use ecr::{
    Ecr, EcrImage, ImageManifest, ImageReference, ImageUri, RegistryAuth, Removal, Repository,
    RepositorySettings, validate_repository_name, validate_tag,
};
pub use ecs::{
    ContainerDefinition, Ecs, EcsDeployment, EcsService, EcsTask, EcsTaskDefinition, ServiceEvent,
    TaskAttachment, TaskContainer, TaskState, task_id,
};
pub use error::{CallError, Error, Problem};
pub use iam::{Iam, RoleCreation, RoleLookup};
pub use logs::{EventPages, LogEvent, LogStream, Logs, StreamEvent, StreamSelection};
pub use stack_status::{StackStatus, StackStatusExt, serialize_stack_status};

/// What a user may set explicitly; everything left `None` comes from the
/// standard AWS chain (environment, profiles, instance metadata).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Overrides `AWS_ENDPOINT_URL` for every service.
    pub endpoint_url: Option<String>,
    /// PEM file whose certificates are trusted in addition to the system
    /// roots; the binary fills it from `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
}

/// A loaded AWS configuration with a region, shared by every client a
/// command makes.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    region: String,
    settings: AwsSettings,
}

impl Aws {
    /// Resolves the settings once: reads the CA bundle, builds the HTTPS
    /// client and loads the standard chain. Fails when no region is set,
    /// since every isokit call is regional.
    pub async fn load(settings: &AwsSettings) -> Result<Aws, Error> {
        let http_client = https_client(settings.ca_bundle.as_deref())?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(ToString::to_string)
            .ok_or(Error::NoRegion)?;
        Ok(Aws {
            config,
            region,
            settings: settings.clone(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The settings this configuration was loaded with, to hand on to AWS
    /// tools isokit runs (the SAM CLI) so they act as isokit does.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The loaded configuration, for clients of services this crate does
    /// not wrap.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn ecr(&self) -> Ecr {
        Ecr::new(&self.config)
    }

    pub fn stacks(&self) -> Stacks {
        Stacks::new(&self.config)
    }

    pub fn ecs(&self) -> Ecs {
        Ecs::new(&self.config)
    }

    pub fn logs(&self) -> Logs {
        Logs::new(&self.config)
    }

    pub fn iam(&self) -> Iam {
        Iam::new(&self.config)
    }

    pub fn ec2(&self) -> Ec2 {
        Ec2::new(&self.config)
    }
}

/// The HTTPS client every SDK client uses: rustls with ring, the system
/// roots, and the certificates of `ca_bundle`.
fn https_client(ca_bundle: Option<&Path>) -> Result<SharedHttpClient, Error> {
    let mut trust_store = TrustStore::default();
    if let Some(path) = ca_bundle {
        for pem in trusted_pems(path)? {
            trust_store = trust_store.with_pem_certificate(pem);
        }
    }
    let context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .map_err(|err| Error::HttpClient(err.to_string()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

/// Reads a PEM bundle and returns each certificate that can serve as a trust
/// anchor, re-encoded as its own PEM block. The HTTP client panics on a
/// certificate it cannot parse, so everything it receives is checked here;
/// a bundle may legitimately carry a few certificates webpki rejects (system
/// bundles do), which are skipped with a warning.
fn trusted_pems(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::CaBundleUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut pems = Vec::new();
    for (index, parsed) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let der = parsed.map_err(|err| Error::CaBundleInvalid {
            path: path.to_owned(),
            detail: format!("certificate {} is not valid PEM: {err}", index + 1),
        })?;
        let mut probe = rustls::RootCertStore::empty();
        match probe.add(der.clone()) {
            Ok(()) => pems.push(pem_encode(&der)),
            Err(err) => tracing::warn!(
                "skipping certificate {} of {}: it cannot be a trust anchor ({err})",
                index + 1,
                path.display()
            ),
        }
    }
    if pems.is_empty() {
        return Err(Error::CaBundleInvalid {
            path: path.to_owned(),
            detail: "it holds no usable PEM certificate".to_owned(),
        });
    }
    Ok(pems)
}

fn pem_encode(der: &CertificateDer<'_>) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bundle_names_its_path() {
        let err = trusted_pems(Path::new("/nonexistent/ca.pem")).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        assert!(err.to_string().contains("AWS_CA_BUNDLE"), "{err}");
    }

    #[test]
    fn a_bundle_without_certificates_is_rejected() {
        let dir = std::env::temp_dir().join(format!("isokit-aws-empty-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").expect("write temp file");
        let err = trusted_pems(&dir).expect_err("no certificate");
        std::fs::remove_file(&dir).ok();
        assert!(
            err.to_string().contains("no usable PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn pem_encoding_round_trips() {
        let der = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let pem = pem_encode(&der);
        let back: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(back, vec![der]);
    }
}
