//! ECR: the registry token, repositories, images, and the names ECR accepts.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageError;
use aws_sdk_ecr::operation::create_repository::CreateRepositoryError;
use aws_sdk_ecr::operation::delete_repository::DeleteRepositoryError;
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageIdentifier, ImageScanningConfiguration,
    ImageTagMutability,
};
use aws_types::SdkConfig;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::error::{CallError, Error};

/// How long a just-pushed image may take to be listed.
const LISTING_LAG: Duration = Duration::from_secs(3);

/// Credentials for one ECR registry host. The password is the token's
/// secret half: it is only ever exposed to the engine's push or pull request.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    /// `<account>.dkr.ecr.<region>.amazonaws.com`, without a scheme.
    pub registry: String,
    pub username: String,
    pub password: SecretString,
}

/// How a repository isokit creates is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositorySettings {
    pub immutable_tags: bool,
    pub scan_on_push: bool,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            immutable_tags: false,
            scan_on_push: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    /// `<registry>/<name>`
    pub uri: String,
    pub immutable_tags: bool,
}

/// An image as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    pub digest: String,
    pub tags: Vec<String>,
    pub size_bytes: Option<i64>,
}

/// ECR calls isokit makes, on one shared configuration.
#[derive(Debug, Clone)]
pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub(crate) fn new(config: &SdkConfig) -> Ecr {
        Ecr {
            client: Client::new(config),
        }
    }

    /// GetAuthorizationToken, decoded: the token is base64 of
    /// `user:password`, and the proxy endpoint names the registry host.
    pub async fn authorization(&self) -> Result<RegistryAuth, Error> {
        const ACTION: &str = "ECR GetAuthorizationToken";
        let output = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|err| CallError::from_sdk(ACTION, &err))?;
        let data = output
            .authorization_data()
            .first()
            .ok_or(Error::MalformedToken(
                "the response holds no authorization data",
            ))?;
        let token = data
            .authorization_token()
            .ok_or(Error::MalformedToken("the token is missing"))?;
        let endpoint = data
            .proxy_endpoint()
            .ok_or(Error::MalformedToken("the proxy endpoint is missing"))?;
        let (username, password) = decode_token(token)?;
        Ok(RegistryAuth {
            registry: registry_host(endpoint),
            username,
            password,
        })
    }

    /// The repository, or `None` when it does not exist.
    pub async fn repository(&self, name: &str) -> Result<Option<Repository>, Error> {
        let result = self
            .client
            .describe_repositories()
            .repository_names(name)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.repositories().first().map(|repo| Repository {
                name: repo.repository_name().unwrap_or(name).to_owned(),
                uri: repo.repository_uri().unwrap_or_default().to_owned(),
                immutable_tags: repo.image_tag_mutability() == Some(&ImageTagMutability::Immutable),
            })),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    DescribeRepositoriesError::RepositoryNotFoundException(_)
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(CallError::from_sdk("ECR DescribeRepositories", &err).into()),
        }
    }

    /// CreateRepository with scan-on-push and encryption at rest. `None`
    /// when the repository already exists: another client (a push racing
    /// this one) created it, so it is not this caller's to remove.
    pub async fn create_repository(
        &self,
        name: &str,
        settings: RepositorySettings,
    ) -> Result<Option<Repository>, Error> {
        let mutability = if settings.immutable_tags {
            ImageTagMutability::Immutable
        } else {
            ImageTagMutability::Mutable
        };
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::Aes256)
            .build()
            .expect("the one required field, the encryption type, is set");
        let result = self
            .client
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(mutability)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(settings.scan_on_push)
                    .build(),
            )
            .encryption_configuration(encryption)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    CreateRepositoryError::RepositoryAlreadyExistsException(_)
                ) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(CallError::from_sdk("ECR CreateRepository", &err).into()),
        };
        let repo = output.repository();
        Ok(Some(Repository {
            name: name.to_owned(),
            uri: repo
                .and_then(|r| r.repository_uri())
                .unwrap_or_default()
                .to_owned(),
            immutable_tags: settings.immutable_tags,
        }))
    }

    /// The image a tag or digest names, or `None` when the repository does
    /// not hold it. A missing repository is an error of its own.
    pub async fn find_image(
        &self,
        repository: &str,
        reference: &ImageReference,
    ) -> Result<Option<EcrImage>, Error> {
        let id = match reference {
            ImageReference::Tag(tag) => ImageIdentifier::builder().image_tag(tag),
            ImageReference::Digest(digest) => ImageIdentifier::builder().image_digest(digest),
        }
        .build();
        let result = self
            .client
            .describe_images()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.image_details().first().map(|detail| EcrImage {
                digest: detail.image_digest().unwrap_or_default().to_owned(),
                tags: detail.image_tags().to_vec(),
                size_bytes: detail.image_size_in_bytes(),
            })),
            Err(SdkError::ServiceError(service)) => match service.err() {
                DescribeImagesError::ImageNotFoundException(_) => Ok(None),
                DescribeImagesError::RepositoryNotFoundException(_) => {
                    Err(Error::RepositoryNotFound(repository.to_owned()))
                }
                _ => Err(CallError::from_sdk(
                    "ECR DescribeImages",
                    &SdkError::ServiceError(service),
                )
                .into()),
            },
            Err(err) => Err(CallError::from_sdk("ECR DescribeImages", &err).into()),
        }
    }

    /// What the manifest of the image a tag names says; `None` when the
    /// tag is not there.
    pub async fn manifest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<ImageManifest>, Error> {
        const ACTION: &str = "ECR BatchGetImage";
        let output = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .accepted_media_types("application/vnd.docker.distribution.manifest.v2+json")
            .accepted_media_types("application/vnd.oci.image.manifest.v1+json")
            .send()
            .await;
        let output = match output {
            Ok(output) => output,
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    BatchGetImageError::RepositoryNotFoundException(_)
                ) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(CallError::from_sdk(ACTION, &err).into()),
        };
        output
            .images()
            .first()
            .and_then(|image| image.image_manifest())
            .map(read_manifest)
            .transpose()
    }

    /// The image an ECR URI names; an error when it is not there.
    ///
    /// ECR lists an image as soon as the registry has its manifest, but a
    /// registry that records pushes in the API asynchronously (the local
    /// AWS's does) may lag a push by a moment: a missing image is looked
    /// for again, briefly, before it counts as missing.
    pub async fn resolve(&self, uri: &ImageUri) -> Result<EcrImage, Error> {
        self.await_image(&uri.repository, &uri.reference).await
    }

    /// The image `reference` names in `repository`, looked for again
    /// briefly while the listing may lag a push (see [`Ecr::resolve`]).
    pub async fn await_image(
        &self,
        repository: &str,
        reference: &ImageReference,
    ) -> Result<EcrImage, Error> {
        let deadline = tokio::time::Instant::now() + LISTING_LAG;
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(image) = self.find_image(repository, reference).await? {
                return Ok(image);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::ImageNotFound {
                    repository: repository.to_owned(),
                    reference: reference.to_string(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Deletes a repository and every image in it. `false` when there was
    /// no such repository.
    pub async fn delete_repository(&self, name: &str) -> Result<bool, Error> {
        // Forced, ECR never answers "not empty".
        Ok(self.delete(name, true).await? == Removal::Removed)
    }

    /// Deletes a repository only if it holds no image: ECR itself refuses
    /// otherwise, so an image pushed by anyone up to the last moment is
    /// never lost.
    pub async fn delete_empty_repository(&self, name: &str) -> Result<Removal, Error> {
        self.delete(name, false).await
    }

    async fn delete(&self, name: &str, force: bool) -> Result<Removal, Error> {
        let result = self
            .client
            .delete_repository()
            .repository_name(name)
            .force(force)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Removal::Removed),
            Err(SdkError::ServiceError(service)) => match service.err() {
                DeleteRepositoryError::RepositoryNotFoundException(_) => Ok(Removal::Missing),
                DeleteRepositoryError::RepositoryNotEmptyException(_) if !force => {
                    Ok(Removal::NotEmpty)
                }
                _ => Err(CallError::from_sdk(
                    "ECR DeleteRepository",
                    &SdkError::ServiceError(service),
                )
                .into()),
            },
            Err(err) => Err(CallError::from_sdk("ECR DeleteRepository", &err).into()),
        }
    }
}

/// What became of a repository asked to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// There was no such repository.
    Missing,
    /// ECR kept it: it holds at least one image.
    NotEmpty,
}

/// Splits `base64(user:password)`; errors never quote the token. The
/// decoded `user:password` lives only in a secret buffer, wiped when dropped.
fn decode_token(token: &str) -> Result<(String, SecretString), Error> {
    let decoded: SecretSlice<u8> = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| Error::MalformedToken("the token is not base64"))?
        .into();
    let decoded = std::str::from_utf8(decoded.expose_secret())
        .map_err(|_| Error::MalformedToken("the token is not text"))?;
    let (user, password) = decoded.split_once(':').ok_or(Error::MalformedToken(
        "the token is not of the form user:password",
    ))?;
    if user.is_empty() || password.is_empty() {
        return Err(Error::MalformedToken(
            "the token has an empty user or password",
        ));
    }
    Ok((user.to_owned(), SecretString::from(password)))
}

/// The config digest and layer count of an image manifest (Docker v2 or OCI).
/// What isokit reads from an image manifest in ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    /// The config digest: the engine's image ID (equal IDs mean the same
    /// image, whichever machine built it).
    pub config_digest: String,
    pub layers: usize,
}

fn read_manifest(manifest: &str) -> Result<ImageManifest, Error> {
    let parsed: serde_json::Value =
        serde_json::from_str(manifest).map_err(|_| Error::MalformedManifest("it is not JSON"))?;
    let digest = parsed
        .pointer("/config/digest")
        .and_then(serde_json::Value::as_str)
        .ok_or(Error::MalformedManifest("it names no config digest"))?;
    let layers = parsed
        .get("layers")
        .and_then(serde_json::Value::as_array)
        .ok_or(Error::MalformedManifest("it lists no layers"))?;
    Ok(ImageManifest {
        config_digest: digest.to_owned(),
        layers: layers.len(),
    })
}

fn registry_host(proxy_endpoint: &str) -> String {
    let without_scheme = proxy_endpoint
        .strip_prefix("https://")
        .or_else(|| proxy_endpoint.strip_prefix("http://"))
        .unwrap_or(proxy_endpoint);
    without_scheme.trim_end_matches('/').to_owned()
}

/// A tag or a digest within a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageReference {
    Tag(String),
    Digest(String),
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageReference::Tag(tag) => write!(f, "tag {tag}"),
            ImageReference::Digest(digest) => f.write_str(digest),
        }
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@<digest>)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUri {
    pub registry: String,
    pub account: String,
    pub region: String,
    pub repository: String,
    pub reference: ImageReference,
}

impl ImageUri {
    pub fn parse(uri: &str) -> Result<ImageUri, Error> {
        let fail = |reason: &str| Error::NotAnEcrUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let (registry, rest) = uri.split_once('/').ok_or_else(|| {
            fail("expected <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>")
        })?;
        let (account, region) = parse_registry_host(registry)
            .ok_or_else(|| fail("the registry must be <account>.dkr.ecr.<region>.amazonaws.com"))?;
        let (repository, reference) = if let Some((repo, digest)) = rest.split_once('@') {
            if !is_sha256_digest(digest) {
                return Err(fail("a digest must be sha256: followed by 64 hex digits"));
            }
            // A tag before the digest is ignored, as the engine does.
            let repo = repo.split_once(':').map_or(repo, |(name, _)| name);
            (repo, ImageReference::Digest(digest.to_owned()))
        } else if let Some((repo, tag)) = rest.rsplit_once(':') {
            validate_tag(tag)?;
            (repo, ImageReference::Tag(tag.to_owned()))
        } else {
            return Err(fail(
                "name a tag (:tag) or a digest (@sha256:...); isokit never assumes `latest`",
            ));
        };
        validate_repository_name(repository)?;
        Ok(ImageUri {
            registry: registry.to_owned(),
            account,
            region,
            repository: repository.to_owned(),
            reference,
        })
    }

    /// Refuses an image of another region than the one its task runs in.
    pub fn require_region(&self, region: &str) -> Result<(), Error> {
        if self.region == region {
            return Ok(());
        }
        Err(Error::RegionMismatch {
            image_region: self.region.clone(),
            region: region.to_owned(),
        })
    }

    /// The same image pinned by digest: `<registry>/<repository>@sha256:…`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            ImageReference::Tag(tag) => write!(f, "{}/{}:{tag}", self.registry, self.repository),
            ImageReference::Digest(digest) => {
                write!(f, "{}/{}@{digest}", self.registry, self.repository)
            }
        }
    }
}

/// `(account, region)` of an ECR registry host, FIPS and China included.
fn parse_registry_host(host: &str) -> Option<(String, String)> {
    let (account, rest) = host.split_once('.')?;
    let rest = rest
        .strip_prefix("dkr.ecr.")
        .or_else(|| rest.strip_prefix("dkr.ecr-fips."))?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let region_ok = !region.is_empty()
        && !region.contains('.')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (account_ok && region_ok).then(|| (account.to_owned(), region.to_owned()))
}

fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// ECR's repository name rule: 2 to 256 characters, lower-case path
/// components of letters and digits joined by single `.`, `_` or `-`,
/// separated by `/`.
pub fn validate_repository_name(name: &str) -> Result<(), Error> {
    let fail = |reason| {
        Err(Error::InvalidRepositoryName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.len() < 2 || name.len() > 256 {
        return fail("it must be 2 to 256 characters long");
    }
    for component in name.split('/') {
        if component.is_empty() {
            return fail("it has an empty path component (leading, trailing or double '/')");
        }
        let bytes = component.as_bytes();
        let separator = |b: u8| matches!(b, b'.' | b'_' | b'-');
        if !bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || separator(b))
        {
            return fail("only lower-case letters, digits, '.', '_', '-' and '/' are allowed");
        }
        if separator(bytes[0]) || separator(bytes[bytes.len() - 1]) {
            return fail("a path component must start and end with a letter or digit");
        }
        if bytes
            .windows(2)
            .any(|pair| separator(pair[0]) && separator(pair[1]))
        {
            return fail("separators ('.', '_', '-') cannot follow each other");
        }
    }
    Ok(())
}

/// Docker's tag rule, which ECR enforces through the registry API: 1 to 128
/// characters, letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let fail = |reason| {
        Err(Error::InvalidTag {
            tag: tag.to_owned(),
            reason,
        })
    };
    if tag.is_empty() || tag.len() > 128 {
        return fail("it must be 1 to 128 characters long");
    }
    let bytes = tag.as_bytes();
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return fail("only letters, digits, '_', '.' and '-' are allowed");
    }
    if matches!(bytes[0], b'.' | b'-') {
        return fail("it cannot start with '.' or '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_decode_into_user_and_secret_password() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:123456789012-auth-token");
        let (user, password) = decode_token(&token).expect("valid token");
        assert_eq!(user, "AWS");
        assert_eq!(password.expose_secret(), "123456789012-auth-token");
        assert!(!format!("{password:?}").contains("auth-token"));
    }

    #[test]
    fn malformed_tokens_are_errors_that_never_quote_them() {
        for token in [
            "%%%",
            &base64::engine::general_purpose::STANDARD.encode("no-colon-secret"),
        ] {
            let err = decode_token(token).expect_err("malformed");
            assert!(
                !err.to_string().contains("secret") && !err.to_string().contains(token),
                "{err}"
            );
        }
    }

    #[test]
    fn auth_debug_output_redacts_the_password() {
        let auth = RegistryAuth {
            registry: "r".into(),
            username: "AWS".into(),
            password: SecretString::from("hunter2-token".to_owned()),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn manifests_give_their_config_digest_and_layer_count() {
        let config = format!("sha256:{}", "c".repeat(64));
        let layer = |n: char| {
            format!(
                r#"{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1024,"digest":"sha256:{}"}}"#,
                n.to_string().repeat(64)
            )
        };
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"{config}"}},"layers":[{},{}]}}"#,
            layer('a'),
            layer('b')
        );
        assert_eq!(
            read_manifest(&manifest).expect("valid"),
            ImageManifest {
                config_digest: config,
                layers: 2
            }
        );

        for (bad, reason) in [
            ("not json", "it is not JSON"),
            (r#"{"layers":[]}"#, "it names no config digest"),
            (r#"{"config":{"digest":"sha256:x"}}"#, "it lists no layers"),
        ] {
            let err = read_manifest(bad).expect_err(bad);
            assert!(err.to_string().ends_with(reason), "{err}");
        }
    }

    #[test]
    fn registry_hosts_drop_the_scheme() {
        assert_eq!(
            registry_host("https://1.dkr.ecr.us-east-1.amazonaws.com"),
            "1.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(registry_host("https://h:443/"), "h:443");
    }

    #[test]
    fn uris_parse_with_tags_and_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let uri = ImageUri::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1")
            .expect("valid");
        assert_eq!(
            (uri.account.as_str(), uri.region.as_str()),
            ("123456789012", "eu-west-1")
        );
        assert_eq!(uri.repository, "team/app");
        assert_eq!(uri.reference, ImageReference::Tag("v1".into()));
        assert_eq!(
            uri.pinned(&digest),
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@{digest}")
        );

        let pinned = ImageUri::parse(&format!(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v1@{digest}"
        ))
        .expect("valid");
        assert_eq!(pinned.reference, ImageReference::Digest(digest.clone()));
        assert_eq!(pinned.repository, "app");
        assert_eq!(
            pinned.to_string(),
            format!("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app@{digest}")
        );
    }

    #[test]
    fn uris_outside_ecr_or_without_a_tag_are_rejected() {
        for bad in [
            "docker.io/library/busybox:1",
            "busybox:1",
            "12345.dkr.ecr.us-east-1.amazonaws.com/app:v1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abc",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/App:v1",
            "123456789012.dkr.ecr.us-east-1.example.com/app:v1",
        ] {
            assert!(ImageUri::parse(bad).is_err(), "{bad} should be rejected");
        }
        let err = ImageUri::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/app")
            .expect_err("no tag");
        assert!(err.to_string().contains("latest"), "{err}");
    }

    #[test]
    fn repository_names_follow_ecr_rules() {
        for good in ["ab", "sample-app-repo", "team/app", "a.b_c-d/e1"] {
            assert!(validate_repository_name(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "App",
            "team//app",
            "/app",
            "app/",
            "-app",
            "app-",
            "a__b",
            "a b",
            &"a".repeat(257),
        ] {
            assert!(validate_repository_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_docker_rules() {
        for good in ["v1", "1.0.0", "sha-abc123", "_x", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".v1", "-v1", "v1/2", "v:1", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
