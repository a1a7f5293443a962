//! The direct upload of a built image to a registry (ECR): the engine's
//! export read as it streams, layers compressed with gzip on every core and
//! uploaded as they compress, the config byte for byte, and a Docker v2
//! schema 2 manifest; and the layer cache that spares unchanged layers both.

mod cache;
mod client;
mod export;
pub mod gzip;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use isokit_engine::Engine;
use isokit_ui::Ui;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use cache::{CachedBlob, LayerCache};

use client::Registry;
use export::{Plan, ReadExport, UPLOAD_STOPPED, Upload};

/// Whole attempts at the export and upload: a blob the registry lost
/// mid-upload, or a layer recognised wrongly by its size, costs one.
const ATTEMPTS: u32 = 3;

const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] isokit_engine::EngineError),

    #[error("cannot read the CA bundle {path} (AWS_CA_BUNDLE)")]
    CaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot build the HTTPS client for the registry: {0}")]
    Client(String),

    #[error(
        "the registry {registry} could not be reached for {what}: check the network, or push \
         with --push-via engine"
    )]
    Unreachable {
        registry: String,
        what: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("the registry refused {what} (HTTP {status}): {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },

    #[error("the registry lost the upload of {what} part way")]
    UploadLost { what: String },

    #[error("reading the image the engine exported failed")]
    ExportRead {
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the engine's export of {image} cannot be pushed directly: {detail}; push with --push-via engine"
    )]
    Export { image: String, detail: String },

    /// A layer recognised by its size was another: the push tries again.
    #[error("a layer of {size} bytes was not the one the layer cache expected")]
    Misguessed { size: u64 },
}

impl Error {
    /// Whether trying again may succeed.
    fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::UploadLost { .. } | Error::Misguessed { .. } => true,
            Error::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Where the image goes, and how.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The image in the engine: an ID or a reference.
    pub image: String,
    /// The registry host (`<account>.dkr.ecr.<region>.amazonaws.com`).
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub username: String,
    pub password: SecretString,
    /// Trusted beside the system's roots (`AWS_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// gzip level, 0-9.
    pub compression_level: u32,
}

/// What the upload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The manifest's digest: what the tag now names.
    pub digest: String,
    pub layers_pushed: usize,
    pub layers_skipped: usize,
    /// Layer bytes compressed by this push, before and after.
    pub uncompressed_bytes: u64,
    pub compressed_bytes: u64,
    /// Reading the export and compressing (uploads run alongside).
    pub export_time: Duration,
    /// Waiting for uploads once the export was read.
    pub upload_time: Duration,
    /// The config and the manifest.
    pub manifest_time: Duration,
}

/// Uploads the image to `registry/repository:tag`. Nothing is tagged
/// until every blob is in: a failure leaves the tag as it was.
pub async fn upload(engine: &Engine, options: &UploadOptions, ui: &Ui) -> Result<Uploaded, Error> {
    let registry = Registry::new(
        &options.registry,
        &options.repository,
        &options.username,
        options.password.clone(),
        options.ca_bundle.as_deref(),
    )?;
    let image = engine.image_inspect(&options.image).await?;
    let mut cache = LayerCache::open(&options.registry);
    let mut plan = Plan {
        held: held_layers(&registry, &cache, &image.diff_ids).await,
        unguessable: Default::default(),
        level: options.compression_level.min(9),
        threads: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let all_held = image
        .diff_ids
        .iter()
        .all(|diff_id| plan.held.contains_key(diff_id));
    let config_held = match cache.config_size(&image.id) {
        Some(size) if all_held && registry.has_blob(&image.id).await.unwrap_or(false) => Some(size),
        _ => None,
    };

    let mut transferred = Transferred::default();
    let (config, config_size) = match config_held {
        Some(size) => (None, size),
        None => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let (result, uploaded, times) =
                    transfer(engine, &options.image, image.size, &registry, &plan, ui).await;
                transferred.export_time += times.0;
                transferred.upload_time += times.1;
                for (diff_id, blob) in uploaded {
                    cache.insert(diff_id.clone(), blob.clone());
                    transferred.pushed.insert(diff_id.clone(), blob.clone());
                    plan.held.insert(diff_id, blob);
                }
                match result {
                    Ok(read) => {
                        transferred.uncompressed_bytes += read.uncompressed_bytes;
                        transferred.compressed_bytes += read.compressed_bytes;
                        let config = check_export(&read, &image, &options.image);
                        if config.is_err() {
                            save(&mut cache, ui);
                        }
                        break (Some(config?), 0);
                    }
                    Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                        ui.warn(format!(
                            "{error}: trying again (attempt {} of {ATTEMPTS})",
                            attempt + 1
                        ));
                        if let Error::Misguessed { size } = error {
                            plan.unguessable.insert(size);
                        }
                    }
                    Err(error) => {
                        save(&mut cache, ui);
                        return Err(error);
                    }
                }
            }
        }
    };

    let manifest_started = Instant::now();
    let config_size = match config {
        Some(config) => {
            let size = config.len() as u64;
            if !registry.has_blob(&image.id).await? {
                registry
                    .put_blob(Bytes::from(config), &image.id, "the image config")
                    .await?;
            }
            cache.insert_config(image.id.clone(), size);
            size
        }
        None => config_size,
    };
    let layers = image
        .diff_ids
        .iter()
        .map(|diff_id| {
            let blob = &plan.held[diff_id];
            Descriptor {
                media_type: LAYER_TYPE,
                size: blob.size,
                digest: blob.digest.clone(),
            }
        })
        .collect();
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_TYPE,
        config: Descriptor {
            media_type: CONFIG_TYPE,
            size: config_size,
            digest: image.id.clone(),
        },
        layers,
    };
    let manifest = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    registry
        .put_manifest(&options.tag, MANIFEST_TYPE, Bytes::from(manifest))
        .await?;
    // Every layer is in this repository now: the next push elsewhere may
    // mount it from here.
    for (diff_id, blob) in &plan.held {
        cache.insert(diff_id.clone(), blob.clone());
    }
    save(&mut cache, ui);

    let distinct: std::collections::HashSet<&String> = image.diff_ids.iter().collect();
    let layers_pushed = distinct
        .iter()
        .filter(|diff_id| transferred.pushed.contains_key(**diff_id))
        .count();
    Ok(Uploaded {
        digest,
        layers_pushed,
        layers_skipped: distinct.len() - layers_pushed,
        uncompressed_bytes: transferred.uncompressed_bytes,
        compressed_bytes: transferred.compressed_bytes,
        export_time: transferred.export_time,
        upload_time: transferred.upload_time,
        manifest_time: manifest_started.elapsed(),
    })
}

/// What the attempts uploaded, all told.
#[derive(Debug, Default)]
struct Transferred {
    pushed: HashMap<String, CachedBlob>,
    uncompressed_bytes: u64,
    compressed_bytes: u64,
    export_time: Duration,
    upload_time: Duration,
}

/// Writes the cache; a cache that cannot be written costs the next push
/// time, never this one its success.
fn save(cache: &mut LayerCache, ui: &Ui) {
    if let Err(why) = cache.save() {
        ui.warn(format!(
            "the layer cache could not be written ({why}): the next push compresses every layer \
             again"
        ));
    }
}

/// The layers the cache knows and the repository holds, or holds once
/// another repository of the registry has lent them (mounted).
async fn held_layers(
    registry: &Registry,
    cache: &LayerCache,
    diff_ids: &[String],
) -> HashMap<String, CachedBlob> {
    let checks = diff_ids.iter().filter_map(|diff_id| {
        let mut blob = cache.get(diff_id)?.clone();
        Some(async move {
            let held = match registry.has_blob(&blob.digest).await {
                Ok(held) => held,
                Err(error) => {
                    tracing::debug!(%error, "cannot tell whether the registry holds a layer");
                    return None;
                }
            };
            let from = std::mem::replace(&mut blob.repository, registry.repository().to_owned());
            let lent = !held
                && !from.is_empty()
                && from != registry.repository()
                && registry.mount_blob(&blob.digest, &from).await;
            (held || lent).then(|| (diff_id.clone(), blob))
        })
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// One attempt: the export read, each layer the registry lacks compressed
/// and uploaded. Returns, beside the outcome, the layers uploaded whole,
/// which a further attempt need not upload again, and how long reading the
/// export took and then waiting for the uploads to finish.
async fn transfer(
    engine: &Engine,
    image: &str,
    image_size: u64,
    registry: &Registry,
    plan: &Plan,
    ui: &Ui,
) -> (
    Result<ReadExport, Error>,
    Vec<(String, CachedBlob)>,
    (Duration, Duration),
) {
    let started = Instant::now();
    let stream = engine.export_image(image).map_err(std::io::Error::other);
    let tar = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let runtime = tokio::runtime::Handle::current();
    // The engine's size of the image (its files' bytes) is the first guess
    // at the layers' length; each layer's own size corrects it as it comes.
    let total = ui.task("image", Some(image_size));
    let (registry, plan, ui, reading) = (registry.clone(), plan.clone(), ui.clone(), total.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut uploads: Vec<Upload> = Vec::new();
        let read =
            export::read_export(tar, &plan, &registry, &runtime, &ui, &reading, &mut uploads);
        (read, uploads)
    })
    .await;
    let (read, uploads) = match read {
        Ok(done) => done,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    let read_time = started.elapsed();
    let mut uploaded = Vec::new();
    let mut upload_error = None;
    for upload in uploads {
        match upload.await {
            Ok(Ok(Some(layer))) => uploaded.push(layer),
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                upload_error.get_or_insert(error);
            }
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
    // A compression stopped by its upload's failure reports that failure.
    let result = match (read, upload_error) {
        (Err(Error::ExportRead { source }), Some(error))
            if source.to_string() == UPLOAD_STOPPED =>
        {
            Err(error)
        }
        (Err(error), _) => Err(error),
        (Ok(_), Some(error)) => Err(error),
        (Ok(read), None) => Ok(read),
    };
    total.finish(match &result {
        Ok(read) => format!(
            "{} of layers read, {} compressed and uploaded in {:.1} s",
            format_size(read.layer_bytes),
            format_size(read.compressed_bytes),
            started.elapsed().as_secs_f64()
        ),
        Err(_) => "stopped".to_owned(),
    });
    (result, uploaded, (read_time, started.elapsed() - read_time))
}

/// The export matches what the engine says of the image: its config is the
/// image's (its digest is the image ID) and its layers are the image's, in order.
fn check_export(
    read: &ReadExport,
    image: &isokit_engine::ImageDetails,
    name: &str,
) -> Result<Vec<u8>, Error> {
    let unreadable = |detail: String| Error::Export {
        image: name.to_owned(),
        detail,
    };
    let described = read.describe().map_err(unreadable)?;
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&described.config)));
    if config_digest != image.id {
        return Err(unreadable(format!(
            "its config's digest {config_digest} is not the image ID {}",
            image.id
        )));
    }
    if described.diff_ids != image.diff_ids {
        return Err(unreadable(
            "its layers are not the ones the engine lists for the image".to_owned(),
        ));
    }
    Ok(described.config)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    size: u64,
    digest: String,
}

/// Sizes as people read them: `512 B`, `12.3 MB`.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}
