//! `isokit push`: build an image through the Docker Engine and push it to a
//! private ECR repository, authenticated with a token from the AWS SDK.
//!
//! Nothing is written to disk: the token goes from GetAuthorizationToken to
//! the engine's push request. Work is skipped where it would change nothing:
//! an image whose inputs ECR already holds under their content tag is neither
//! built nor pushed, and an image ECR already holds under an explicit tag is
//! built (from cache) but not pushed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use isokit_aws::{
    Aws, Ecr, EcrImage, ImageReference, RepositorySettings, validate_repository_name, validate_tag,
};
use isokit_context::{BuildContext, ContextOptions};
use isokit_engine::{BuildOptions, Engine, RegistryCredentials, RetryPolicy};
use isokit_ui::Ui;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] isokit_aws::Error),

    #[error(transparent)]
    Context(#[from] isokit_context::ContextError),

    #[error(transparent)]
    Engine(#[from] isokit_engine::EngineError),

    #[error(
        "tag {tag} already names another image in ECR repository {repository}, whose tags are \
         immutable: push under another --tag"
    )]
    ImmutableTagTaken { repository: String, tag: String },

    #[error("`{0}` is not of the form KEY=VALUE")]
    BadKeyValue(String),
}

/// What to build and where to push it.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub context: PathBuf,
    /// `None`: `Dockerfile` in the context.
    pub dockerfile: Option<PathBuf>,
    pub repository: String,
    /// `None`: a tag derived from the build inputs (see [`content_tag`]).
    pub tag: Option<String>,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub platform: Option<String>,
    /// For a repository isokit creates; an existing one keeps its setting.
    pub immutable_tags: bool,
}

/// The pushed image.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// `<registry>/<repository>@sha256:…`: what `isokit deploy --image` takes.
    pub image_uri: String,
    /// `<registry>/<repository>:<tag>`
    pub tagged_uri: String,
    /// Bytes of the manifest's layers and config, when known.
    pub size: Option<u64>,
    pub layers_pushed: usize,
    pub layers_skipped: usize,
    /// True when ECR already held this image under this tag and nothing was pushed.
    pub already_present: bool,
    pub repository_created: bool,
    pub duration_seconds: f64,
}

/// Splits `KEY=VALUE` arguments (build arguments, labels).
pub fn parse_key_values(raw: &[String]) -> Result<BTreeMap<String, String>, Error> {
    raw.iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(Error::BadKeyValue(item.clone())),
        })
        .collect()
}

/// Builds and pushes. Everything that can be checked before building is:
/// names, the context, the engine, AWS credentials, the repository.
pub async fn push(aws: &Aws, options: &PushOptions, ui: &Ui) -> Result<Pushed, Error> {
    let started = Instant::now();
    validate_repository_name(&options.repository)?;
    if let Some(tag) = &options.tag {
        validate_tag(tag)?;
    }
    let context_options = ContextOptions {
        context_dir: options.context.clone(),
        dockerfile: options.dockerfile.clone(),
    };
    let context = BuildContext::prepare(&context_options)?;
    for skipped in context.skipped() {
        ui.warn(skipped);
    }
    let engine = Engine::connect().await?;
    let ecr = aws.ecr();
    let auth = ecr.authorization().await?;
    let existing = ecr.repository(&options.repository).await?;
    let tag = match &options.tag {
        Some(tag) => tag.clone(),
        None => content_tag(&context, options)?,
    };
    let repository_uri = format!("{}/{}", auth.registry, options.repository);
    let tagged_uri = format!("{repository_uri}:{tag}");
    let reference = ImageReference::Tag(tag.clone());

    let already = |digest: String, size: Option<i64>| Pushed {
        repository: options.repository.clone(),
        tag: tag.clone(),
        image_uri: format!("{repository_uri}@{digest}"),
        digest,
        tagged_uri: tagged_uri.clone(),
        size: size.and_then(|s| u64::try_from(s).ok()),
        layers_pushed: 0,
        layers_skipped: 0,
        already_present: true,
        repository_created: false,
        duration_seconds: started.elapsed().as_secs_f64(),
    };

    // A content tag names its inputs: if ECR holds it, it holds this image.
    if options.tag.is_none()
        && existing.is_some()
        && let Some(image) = ecr.find_image(&options.repository, &reference).await?
    {
        ui.status(format!(
            "{tagged_uri} is already in ECR: nothing to build or push"
        ));
        return Ok(already(image.digest, image.size_bytes));
    }

    ui.status(format!("building {tagged_uri}"));
    let built = engine
        .build(
            &BuildOptions {
                context: context_options,
                tags: vec![tagged_uri.clone()],
                target: options.target.clone(),
                build_args: options.build_args.clone(),
                labels: options.labels.clone(),
                platform: options.platform.clone(),
                compression: None,
            },
            ui,
        )
        .await?;

    // The manifest's config digest is the image ID: equal means the same image.
    if let Some(repository) = &existing
        && let Some(config) = ecr.config_digest(&options.repository, &tag).await?
    {
        if config == built.id
            && let Some(image) = ecr.find_image(&options.repository, &reference).await?
        {
            ui.status(format!(
                "ECR already holds this image as {tagged_uri}: nothing to push"
            ));
            return Ok(already(image.digest, image.size_bytes));
        }
        if repository.immutable_tags {
            return Err(Error::ImmutableTagTaken {
                repository: options.repository.clone(),
                tag,
            });
        }
    }

    let settings = RepositorySettings {
        immutable_tags: options.immutable_tags,
        ..RepositorySettings::default()
    };
    let (_, repository_created) = ecr.ensure_repository(&options.repository, settings).await?;
    if repository_created {
        ui.status(format!(
            "created ECR repository {} (scan on push, encrypted)",
            options.repository
        ));
    }
    let credentials = RegistryCredentials::new(
        auth.registry.clone(),
        auth.username.clone(),
        auth.password.clone(),
    );
    let outcome = engine
        .push(
            &isokit_engine::PushOptions {
                repository: repository_uri.clone(),
                tag: tag.clone(),
                credentials,
                retry: RetryPolicy::default(),
            },
            ui,
        )
        .await?;
    let recorded = await_in_ecr(&ecr, &options.repository, &outcome.digest).await?;
    if recorded.is_none() {
        ui.warn(format!(
            "the registry took {tagged_uri}, but the ECR API does not list {} yet",
            outcome.digest
        ));
    }
    Ok(Pushed {
        repository: options.repository.clone(),
        tag,
        image_uri: format!("{repository_uri}@{}", outcome.digest),
        digest: outcome.digest,
        tagged_uri,
        size: recorded
            .and_then(|image| image.size_bytes)
            .and_then(|s| u64::try_from(s).ok()),
        layers_pushed: outcome.layers_pushed,
        layers_skipped: outcome.layers_skipped,
        already_present: false,
        repository_created,
        duration_seconds: started.elapsed().as_secs_f64(),
    })
}

/// How long a pushed image may take to show in the ECR API.
const ECR_LISTING_WAIT: Duration = Duration::from_secs(10);

/// The pushed image as the ECR API describes it. The push is only done
/// when `isokit deploy` can find it there; ECR lists an image as soon as
/// its manifest is in, so this is normally one call.
async fn await_in_ecr(
    ecr: &Ecr,
    repository: &str,
    digest: &str,
) -> Result<Option<EcrImage>, Error> {
    let reference = ImageReference::Digest(digest.to_owned());
    let deadline = Instant::now() + ECR_LISTING_WAIT;
    loop {
        match ecr.find_image(repository, &reference).await? {
            Some(image) => return Ok(Some(image)),
            None if Instant::now() >= deadline => return Ok(None),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `ctx-` and 12 hex digits of a digest over everything that decides the
/// image: the context's files (names, types, modes, contents; not times, so
/// a fresh clone gets the same tag), the Dockerfile's name, and the build
/// arguments, labels, target and platform.
pub fn content_tag(context: &BuildContext, options: &PushOptions) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    hasher.update(context.fingerprint()?);
    let mut field = |name: &str, value: &str| {
        // Length-prefixed, so that no two different inputs hash alike.
        for part in [name, value] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    };
    field("dockerfile", context.dockerfile_in_archive());
    for (key, value) in &options.build_args {
        field("build-arg", &format!("{key}={value}"));
    }
    for (key, value) in &options.labels {
        field("label", &format!("{key}={value}"));
    }
    field("target", options.target.as_deref().unwrap_or(""));
    field("platform", options.platform.as_deref().unwrap_or(""));
    let digest = hex::encode(hasher.finalize());
    Ok(format!("ctx-{}", &digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        let parsed =
            parse_key_values(&["A=1".into(), "B=x=y".into(), "EMPTY=".into()]).expect("valid");
        assert_eq!(parsed.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(parsed.get("EMPTY").map(String::as_str), Some(""));
        assert!(parse_key_values(&["=1".into()]).is_err());
        assert!(parse_key_values(&["NOVALUE".into()]).is_err());
    }
}
