//! `isokit push`: build an image through the Docker Engine and push it to a
//! private ECR repository, authenticated with a token from the AWS SDK.
//!
//! No secret is written to disk: the token goes from GetAuthorizationToken to
//! the registry requests (or the engine's push request); the layer cache
//! holds digests and sizes only. Work is skipped where it would change nothing:
//! an image whose inputs ECR already holds under their content tag is neither
//! built nor pushed, and an image ECR already holds under an explicit tag is
//! built (from cache) but not pushed.
//!
//! The image goes to ECR one of two ways ([`PushVia`]): uploaded by isokit
//! itself (`isokit-registry`: layers compressed on every core, unchanged
//! layers neither compressed nor uploaded again), or pushed by the engine,
//! which compresses each layer on one core.
//!
//! A push that fails or is stopped (SIGINT, SIGTERM, SIGHUP) removes the
//! repository it created, and only while that is empty: ECR itself refuses
//! to delete a repository another push has put an image in meanwhile.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use isokit_aws::{
    Aws, Ecr, EcrImage, ImageManifest, ImageReference, Removal, RepositorySettings,
    validate_repository_name, validate_tag,
};
use isokit_context::{BuildContext, ContextOptions};
use isokit_engine::{BuildOptions, Engine, RegistryCredentials, RetryPolicy};
pub use isokit_engine::{BuildSecret, SecretSource};
use isokit_ui::{StopSignal, StopSignals, Ui};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] isokit_aws::Error),

    #[error(transparent)]
    Context(#[from] isokit_context::ContextError),

    #[error(transparent)]
    Engine(#[from] isokit_engine::EngineError),

    #[error(transparent)]
    Registry(#[from] isokit_registry::Error),

    #[error(
        "tag {tag} already names another image in ECR repository {repository}, whose tags are \
         immutable: push under another --tag"
    )]
    ImmutableTagTaken { repository: String, tag: String },

    #[error(
        "cannot listen for SIGINT, SIGTERM and SIGHUP, which a push must hear to undo what it \
         started: {0}"
    )]
    Signals(std::io::Error),

    #[error("interrupted by {signal}: {rollback}")]
    Interrupted {
        signal: StopSignal,
        rollback: Rollback,
    },
}

/// What became of the repository a push created, when the push stopped
/// short of an image in it.
#[derive(Debug)]
pub enum Rollback {
    /// The push created no repository.
    NothingCreated,
    Removed {
        repository: String,
    },
    /// ECR refused to delete it: it holds an image now, which isokit never deletes.
    Kept {
        repository: String,
    },
    /// Someone else deleted it first.
    AlreadyGone {
        repository: String,
    },
    Failed {
        repository: String,
        error: isokit_aws::Error,
    },
    /// A second signal stopped the removal (or the wait for ECR to say
    /// whether it had created the repository).
    Abandoned {
        repository: String,
        signal: StopSignal,
    },
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let delete_it = |repository: &str| {
            format!(
                "if it holds no image you need, delete it with `aws ecr delete-repository \
                 --repository-name {repository}`"
            )
        };
        match self {
            Rollback::NothingCreated => f.write_str("nothing was created in ECR"),
            Rollback::Removed { repository } => write!(
                f,
                "removed ECR repository {repository}, which this push had created"
            ),
            Rollback::Kept { repository } => write!(
                f,
                "kept ECR repository {repository}, which this push had created: an image was \
                 pushed to it meanwhile, and isokit never deletes images"
            ),
            Rollback::AlreadyGone { repository } => write!(
                f,
                "ECR repository {repository}, which this push had created, was already deleted"
            ),
            Rollback::Failed { repository, error } => write!(
                f,
                "ECR repository {repository}, which this push had created, could not be removed \
                 ({error}); {}",
                delete_it(repository)
            ),
            Rollback::Abandoned { repository, signal } => write!(
                f,
                "a second signal ({signal}) stopped the removal of ECR repository {repository}, \
                 which this push may have created; {}",
                delete_it(repository)
            ),
        }
    }
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
    pub via: PushVia,
    /// gzip level (0-9) of the layers a direct upload compresses.
    pub compression_level: u32,
    pub builder: Builder,
    /// Secrets for `RUN --mount=type=secret` (BuildKit only); not among
    /// the content tag's inputs.
    pub secrets: Vec<BuildSecret>,
    /// Build every step afresh; the build runs even when ECR holds the content tag.
    pub no_cache: bool,
    /// Pull every base image; the build runs even when ECR holds the content tag.
    pub pull: bool,
    /// Show what each build step prints.
    pub step_output: bool,
}

/// Who builds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Builder {
    /// BuildKit, through a session as `DOCKER_BUILDKIT=1 docker build`;
    /// the classic builder when the engine has no BuildKit.
    #[default]
    BuildKit,
    Classic,
}

/// Who uploads the image to ECR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushVia {
    /// isokit: the engine exports the image, isokit compresses and uploads it.
    #[default]
    Direct,
    /// The engine's own push.
    Engine,
}

/// The default gzip level, as docker's.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

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
    /// The image's size in bytes, as known without another round trip: the
    /// engine's (unpacked) size when this run built and pushed it, ECR's
    /// `imageSizeInBytes` (compressed layers) when ECR already held it.
    /// Reading ECR's figure back after a push would cost a call that made
    /// isokit slower than `docker push`. `None` (with a warning logged)
    /// when neither says.
    pub size: Option<u64>,
    /// Layers this run uploaded.
    pub layers_pushed: usize,
    /// Layers the registry already held: all of the image's when nothing
    /// was pushed.
    pub layers_skipped: usize,
    /// True when ECR already held this image under this tag and nothing was pushed.
    pub already_present: bool,
    pub repository_created: bool,
    pub duration_seconds: f64,
}

/// Builds and pushes. Everything that can be checked before building is:
/// names, the context, the engine, AWS credentials, the repository.
///
/// SIGINT, SIGTERM and SIGHUP stop the build or the push; then, as after
/// any failure, a repository this push created is removed if it is still
/// empty, and the error says what became of it.
pub async fn push(aws: &Aws, options: &PushOptions, ui: &Ui) -> Result<Pushed, Error> {
    // Listening starts before anything is created, so that no signal can
    // end the process between a creation and its undoing.
    let mut stop = StopSignals::listen().map_err(Error::Signals)?;
    let ecr = aws.ecr();
    let mut creation = Creation::NotStarted;
    let finished = tokio::select! {
        result = build_and_push(&ecr, aws.settings().ca_bundle.as_deref(), options, ui, &mut creation) => Ok(result),
        signal = stop.recv() => Err(signal),
    };
    match finished {
        Ok(Ok(pushed)) => Ok(pushed),
        Ok(Err(error)) => {
            // The failure is the error to raise; what became of the
            // repository is said beside it.
            match creation
                .roll_back(&ecr, &options.repository, &mut stop)
                .await
            {
                Rollback::NothingCreated => {}
                removed @ Rollback::Removed { .. } => {
                    ui.status(format!("the push failed: {removed}"))
                }
                other => ui.warn(format!("the push failed: {other}")),
            }
            Err(error)
        }
        Err(signal) => {
            let rollback = creation
                .roll_back(&ecr, &options.repository, &mut stop)
                .await;
            Err(Error::Interrupted { signal, rollback })
        }
    }
}

/// [`push`], short of what a stop or a failure needs undone: the repository
/// it creates is recorded in `creation`.
/// `ca_bundle`: the AWS settings' `AWS_CA_BUNDLE`, which the direct upload
/// trusts beside the system's roots, as the AWS calls do.
async fn build_and_push(
    ecr: &Ecr,
    ca_bundle: Option<&Path>,
    options: &PushOptions,
    ui: &Ui,
    creation: &mut Creation,
) -> Result<Pushed, Error> {
    let started = Instant::now();
    validate_repository_name(&options.repository)?;
    if let Some(tag) = &options.tag {
        validate_tag(tag)?;
    }
    let context_options = ContextOptions {
        context_dir: options.context.clone(),
        dockerfile: options.dockerfile.clone(),
    };
    // Sockets and the like are warned about by the build, which sends the context.
    let context = match options.builder {
        Builder::BuildKit => BuildContext::prepare_for_session(&context_options)?,
        Builder::Classic => BuildContext::prepare(&context_options)?,
    };

    // The remaining checks wait on the disk, the engine and AWS: run them at
    // once, then report a failure in the order a user would fix them.
    // Fingerprinting reads every file, so the context goes to a blocking
    // thread for it, and comes back for the build.
    let tag = async {
        match &options.tag {
            Some(tag) => Ok((tag.clone(), context)),
            None => {
                let options = options.clone();
                match tokio::task::spawn_blocking(move || {
                    content_tag(&context, &options).map(|tag| (tag, context))
                })
                .await
                {
                    Ok(tagged) => tagged,
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                }
            }
        }
    };
    let registry =
        async { tokio::try_join!(ecr.authorization(), ecr.repository(&options.repository)) };
    let (tag, engine, registry) = tokio::join!(tag, Engine::connect_for_registry(), registry);
    let (tag, mut context) = tag?;
    let engine = engine?;
    if options.builder == Builder::BuildKit && !engine.has_buildkit() {
        // With secrets, the classic builder's refusal names the engine instead.
        if options.secrets.is_empty() {
            ui.status(format!(
                "the engine at {} has no BuildKit (Docker before 18.09): building with the \
                 classic builder",
                engine.host()
            ));
        }
        context = BuildContext::prepare(&context_options)?;
    }
    let (auth, existing) = registry?;
    // A content tag names the inputs: if ECR holds it, it holds this image.
    // Only an existing repository can hold it, so a first push asks nothing.
    let rebuild = options.no_cache || options.pull;
    let held = match (&options.tag, &existing) {
        (None, Some(_)) if !rebuild => tagged_in_ecr(ecr, &options.repository, &tag).await?,
        _ => Tagged::default(),
    };
    let since_start = || started.elapsed().as_millis();
    tracing::debug!(
        elapsed_ms = since_start(),
        "context, engine and ECR checked"
    );
    let repository_uri = format!("{}/{}", auth.registry, options.repository);
    let tagged_uri = format!("{repository_uri}:{tag}");

    let already = |image, manifest| {
        already_in_ecr(
            &repository_uri,
            &options.repository,
            &tag,
            image,
            manifest,
            started,
        )
    };

    if let Some(image) = held.image {
        ui.status(format!(
            "{tagged_uri} is already in ECR: nothing to build or push"
        ));
        return Ok(already(image, held.manifest));
    }

    ui.status(format!("building {tagged_uri}"));
    let build_options = BuildOptions {
        tags: vec![tagged_uri.clone()],
        target: options.target.clone(),
        build_args: options.build_args.clone(),
        labels: options.labels.clone(),
        platform: options.platform.clone(),
        compression: None,
        secrets: options.secrets.clone(),
        no_cache: options.no_cache,
        pull: options.pull,
        step_output: options.step_output,
    };
    // What ECR must do or say before the push does not depend on the image,
    // so it happens while the engine builds: reading what the tag names now,
    // or creating the repository, which is removed again if the build or the
    // push fails or is stopped.
    let settings = RepositorySettings {
        immutable_tags: options.immutable_tags,
        ..RepositorySettings::default()
    };
    let repository_work = async {
        match &existing {
            Some(_) => Ok(RepositoryState::Existing(
                tagged_in_ecr(ecr, &options.repository, &tag).await?,
            )),
            None => {
                creation.start(ecr, &options.repository, settings);
                if creation.settle().await? {
                    ui.status(format!(
                        "created ECR repository {} (scan on push, encrypted)",
                        options.repository
                    ));
                } else {
                    ui.status(format!(
                        "ECR repository {} was created meanwhile by another push: pushing into it",
                        options.repository
                    ));
                }
                Ok::<_, Error>(RepositoryState::Ensured)
            }
        }
    };
    let (built, repository_state) =
        tokio::join!(engine.build(context, &build_options, ui), repository_work);
    let built = built?;
    tracing::debug!(elapsed_ms = since_start(), "built {}", built.id);

    match repository_state? {
        RepositoryState::Ensured => {}
        // The manifest's config digest is the image ID: equal means the same image.
        RepositoryState::Existing(Tagged {
            manifest: Some(manifest),
            image,
        }) => {
            if manifest.config_digest == built.id
                && let Some(image) = image
            {
                ui.status(format!(
                    "ECR already holds this image as {tagged_uri}: nothing to push"
                ));
                return Ok(already(image, Some(manifest)));
            }
            if existing
                .as_ref()
                .is_some_and(|repository| repository.immutable_tags)
            {
                return Err(Error::ImmutableTagTaken {
                    repository: options.repository.clone(),
                    tag,
                });
            }
        }
        RepositoryState::Existing(Tagged { manifest: None, .. }) => {}
    }
    // A repository this push did not create may be one another push created
    // and has just removed again, its build having failed or been stopped:
    // ECR would refuse the push. Asked once, right before pushing.
    if !creation.created() && ecr.repository(&options.repository).await?.is_none() {
        creation.start(ecr, &options.repository, settings);
        if creation.settle().await? {
            ui.status(format!(
                "ECR repository {} was deleted while the image was built (the push that \
                 created it stopped short): created it again",
                options.repository
            ));
        }
    }
    let repository_created = creation.created();
    // The export crosses the link to the engine, and the upload crosses it
    // again: with a daemon on another machine, its own push moves less.
    let via = match options.via {
        PushVia::Direct if !engine.host().is_local() => {
            ui.status(format!(
                "pushing through the engine: it runs on another machine ({}), and uploading \
                 from here would move the image over the network twice",
                engine.host()
            ));
            PushVia::Engine
        }
        via => via,
    };
    let pushing = async {
        match via {
            PushVia::Direct => {
                let upload_options = isokit_registry::UploadOptions {
                    image: built.id.clone(),
                    registry: auth.registry.clone(),
                    repository: options.repository.clone(),
                    tag: tag.clone(),
                    username: auth.username.clone(),
                    password: auth.password.clone(),
                    ca_bundle: ca_bundle.map(Path::to_path_buf),
                    compression_level: options.compression_level,
                };
                let uploaded = isokit_registry::upload(&engine, &upload_options, ui).await?;
                tracing::debug!(
                    export_and_compress_ms = uploaded.export_time.as_millis(),
                    upload_wait_ms = uploaded.upload_time.as_millis(),
                    manifest_ms = uploaded.manifest_time.as_millis(),
                    uncompressed_bytes = uploaded.uncompressed_bytes,
                    compressed_bytes = uploaded.compressed_bytes,
                    "uploaded directly"
                );
                Ok::<_, Error>(isokit_engine::PushOutcome {
                    digest: uploaded.digest,
                    layers_pushed: uploaded.layers_pushed,
                    layers_skipped: uploaded.layers_skipped,
                })
            }
            PushVia::Engine => {
                let credentials = RegistryCredentials::new(
                    auth.registry.clone(),
                    auth.username.clone(),
                    auth.password.clone(),
                );
                let push_options = isokit_engine::PushOptions {
                    repository: repository_uri.clone(),
                    tag: tag.clone(),
                    credentials,
                    retry: RetryPolicy::default(),
                };
                Ok(engine.push(&push_options, ui).await?)
            }
        }
    };
    let (outcome, inspected) = tokio::join!(pushing, engine.image_inspect(&built.id));
    let outcome = outcome?;
    tracing::debug!(elapsed_ms = since_start(), "pushed {}", outcome.digest);
    // The push has succeeded: failing to inspect costs only the size.
    let size = match inspected {
        Ok(image) => Some(image.size),
        Err(error) => {
            tracing::warn!(%error, "the size of {tagged_uri} is unknown");
            None
        }
    };
    Ok(Pushed {
        repository: options.repository.clone(),
        tag,
        image_uri: format!("{repository_uri}@{}", outcome.digest),
        digest: outcome.digest,
        tagged_uri,
        size,
        layers_pushed: outcome.layers_pushed,
        layers_skipped: outcome.layers_skipped,
        already_present: false,
        repository_created,
        duration_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The image `repository:tag` names in ECR; `None` also when there is no
/// such repository yet.
async fn held_image(ecr: &Ecr, repository: &str, tag: &str) -> Result<Option<EcrImage>, Error> {
    match ecr
        .find_image(repository, &ImageReference::Tag(tag.to_owned()))
        .await
    {
        Err(isokit_aws::Error::RepositoryNotFound(_)) => Ok(None),
        found => Ok(found?),
    }
}

/// What ECR holds under a tag, if anything.
#[derive(Debug, Default)]
struct Tagged {
    /// The image as DescribeImages lists it.
    image: Option<EcrImage>,
    /// What its manifest says.
    manifest: Option<ImageManifest>,
}

/// Asks ECR, at once, how it lists `repository:tag` and what its manifest says.
async fn tagged_in_ecr(ecr: &Ecr, repository: &str, tag: &str) -> Result<Tagged, Error> {
    let manifest = async { Ok(ecr.manifest(repository, tag).await?) };
    let (image, manifest) = tokio::try_join!(held_image(ecr, repository, tag), manifest)?;
    Ok(Tagged { image, manifest })
}

/// The result when ECR already held the image under the tag: nothing
/// pushed, every layer skipped.
fn already_in_ecr(
    repository_uri: &str,
    repository: &str,
    tag: &str,
    image: EcrImage,
    manifest: Option<ImageManifest>,
    started: Instant,
) -> Pushed {
    let tagged_uri = format!("{repository_uri}:{tag}");
    let layers_skipped = match manifest {
        Some(manifest) => manifest.layers,
        None => {
            tracing::warn!(
                "ECR serves no image manifest for {tagged_uri}: its layers go uncounted"
            );
            0
        }
    };
    Pushed {
        repository: repository.to_owned(),
        tag: tag.to_owned(),
        image_uri: format!("{repository_uri}@{}", image.digest),
        size: size_in_ecr(&image),
        digest: image.digest,
        tagged_uri,
        layers_pushed: 0,
        layers_skipped,
        already_present: true,
        repository_created: false,
        duration_seconds: started.elapsed().as_secs_f64(),
    }
}

/// [`Pushed::size`]: ECR's size of the image, warned about when missing.
fn size_in_ecr(image: &EcrImage) -> Option<u64> {
    let size = image.size_bytes.and_then(|bytes| u64::try_from(bytes).ok());
    if size.is_none() {
        tracing::warn!(
            digest = %image.digest,
            reported = ?image.size_bytes,
            "ECR gives no usable size for the image"
        );
    }
    size
}

/// The repository, as found or made while the image was built.
enum RepositoryState {
    /// It existed; what its tag names, if anything.
    Existing(Tagged),
    /// It is there now: created by this push or, racing it, by another.
    Ensured,
}

/// Whether this push created its repository, known even if the push is
/// stopped while ECR is creating it: the creation runs as a task of its
/// own, which stopping the push does not cancel, so that its answer is
/// never lost and a repository is never left behind unrecorded.
enum Creation {
    NotStarted,
    Pending(JoinHandle<Result<bool, isokit_aws::Error>>),
    /// Whether this push created the repository.
    Settled(bool),
}

impl Creation {
    /// Starts CreateRepository. A repository that exists by then (another
    /// push created it first) is not this push's.
    fn start(&mut self, ecr: &Ecr, repository: &str, settings: RepositorySettings) {
        let (ecr, repository) = (ecr.clone(), repository.to_owned());
        *self = Creation::Pending(tokio::spawn(async move {
            Ok(ecr
                .create_repository(&repository, settings)
                .await?
                .is_some())
        }));
    }

    /// Waits for a creation started: whether it created the repository.
    async fn settle(&mut self) -> Result<bool, Error> {
        let Creation::Pending(task) = self else {
            return Ok(self.created());
        };
        let answer = match task.await {
            Ok(answer) => answer,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        *self = Creation::Settled(matches!(answer, Ok(true)));
        Ok(answer?)
    }

    /// Whether this push has created the repository, as far as is known.
    fn created(&self) -> bool {
        matches!(self, Creation::Settled(true))
    }

    /// Removes the repository this push created, once any creation under
    /// way has answered, and only while it holds no image. A second signal
    /// stops the attempt, leaving the repository as it is.
    async fn roll_back(mut self, ecr: &Ecr, repository: &str, stop: &mut StopSignals) -> Rollback {
        let removal = async {
            // A creation that failed created nothing.
            if !self.settle().await.unwrap_or(false) {
                return Rollback::NothingCreated;
            }
            let repository = repository.to_owned();
            match ecr.delete_empty_repository(&repository).await {
                Ok(Removal::Removed) => Rollback::Removed { repository },
                Ok(Removal::NotEmpty) => Rollback::Kept { repository },
                Ok(Removal::Missing) => Rollback::AlreadyGone { repository },
                Err(error) => Rollback::Failed { repository, error },
            }
        };
        tokio::select! {
            rollback = removal => rollback,
            signal = stop.recv() => Rollback::Abandoned {
                repository: repository.to_owned(),
                signal,
            },
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
    fn an_image_found_in_ecr_counts_its_layers_as_skipped_and_takes_ecr_s_size() {
        let digest = format!("sha256:{}", "d".repeat(64));
        let image = EcrImage {
            digest: digest.clone(),
            tags: vec!["v1".into()],
            size_bytes: Some(3_141_592),
        };
        let manifest = ImageManifest {
            config_digest: format!("sha256:{}", "c".repeat(64)),
            layers: 3,
        };
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
        let found = already_in_ecr(
            uri,
            "app",
            "v1",
            image.clone(),
            Some(manifest),
            Instant::now(),
        );
        assert_eq!(
            (found.layers_pushed, found.layers_skipped, found.size),
            (0, 3, Some(3_141_592))
        );
        assert_eq!(found.image_uri, format!("{uri}@{digest}"));
        assert_eq!(found.tagged_uri, format!("{uri}:v1"));
        assert!(found.already_present && !found.repository_created);

        // A manifest ECR would not serve, or a size it would not give, is
        // missing from the result, not made up.
        let sizeless = EcrImage {
            size_bytes: None,
            ..image
        };
        let found = already_in_ecr(uri, "app", "v1", sizeless, None, Instant::now());
        assert_eq!((found.layers_skipped, found.size), (0, None));
    }
}
