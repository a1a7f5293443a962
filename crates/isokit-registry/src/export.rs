//! Reading the engine's export (`docker save`'s tar: `manifest.json`, the
//! config as `<id>.json`, each layer as `<dir>/layer.tar`) as it streams in,
//! compressing each layer the registry lacks and handing its gzip stream to
//! an upload task chunk by chunk, so that a layer is uploading while the
//! next one is read.
//!
//! The export names layer directories by IDs that say nothing of the layer's
//! content, and lists them in `manifest.json` only at the end. So each layer
//! is known by the hash of its bytes (its diff ID), computed as it is read;
//! a layer the registry already holds is recognised ahead by its size
//! (recorded in the layer cache), read without compressing, and confirmed
//! by its hash: when the size misled, the push tries again compressing
//! every layer of that size.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use bytes::{Bytes, BytesMut};
use isokit_ui::{Task, Ui};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cache::CachedBlob;
use crate::client::Registry;
use crate::gzip::{self, Compressed};
use crate::{Error, format_size};

/// Bytes per upload request: ECR takes parts of 5 MiB to 20 MiB (all but
/// the last); two chunks per layer in flight bound the memory uploads take.
pub(crate) const CHUNK_SIZE: usize = 8 << 20;
/// The config is small; anything past this is not an image config.
const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// What an export is read with.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Blobs the registry holds, by diff ID.
    pub(crate) held: HashMap<String, CachedBlob>,
    /// Layer sizes that misled once: such layers are compressed.
    pub(crate) unguessable: HashSet<u64>,
    pub(crate) level: u32,
    pub(crate) threads: usize,
}

/// The export, read.
#[derive(Debug, Default)]
pub(crate) struct ReadExport {
    /// `<dir>/layer.tar` → its diff ID.
    layers: HashMap<String, String>,
    /// `<dir>/layer.tar` → the path it links to, for a layer saved twice.
    links: HashMap<String, String>,
    /// Top-level `.json` files (the config among them), by name.
    json: HashMap<String, Vec<u8>>,
    manifest: Option<Vec<u8>>,
    /// Layers read without compressing: the registry held them.
    pub(crate) skipped: HashSet<String>,
    /// Bytes of every layer read, compressed or not.
    pub(crate) layer_bytes: u64,
    /// Bytes of the layers compressed, before and after.
    pub(crate) uncompressed_bytes: u64,
    pub(crate) compressed_bytes: u64,
}

/// What an upload task is handed.
enum Part {
    Chunk(Bytes),
    /// The layer is compressed: its digest is known.
    Done(Compressed),
}

/// A layer upload: the diff ID and blob it uploaded, once finished.
pub(crate) type Upload = JoinHandle<Result<Option<(String, CachedBlob)>, Error>>;

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Reads the export from `tar`, starting an upload (into `uploads`) for
/// each layer compressed. Runs on a blocking thread: compression is CPU work.
pub(crate) fn read_export(
    tar: impl Read,
    plan: &Plan,
    registry: &Registry,
    runtime: &tokio::runtime::Handle,
    ui: &Ui,
    total: &Task,
    uploads: &mut Vec<Upload>,
) -> Result<ReadExport, Error> {
    let mut read = ReadExport::default();
    // The total bar counts every layer's bytes read, those before included.
    let mut layers_before = 0u64;
    let estimate = total.length().unwrap_or(0);
    let mut archive = tar::Archive::new(tar);
    let unreadable = |source: io::Error| Error::ExportRead { source };
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        let size = entry.header().size().map_err(unreadable)?;
        if path.ends_with("/layer.tar") {
            if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(unreadable)?
                    .map(|target| target.to_string_lossy().into_owned())
                    .unwrap_or_default();
                read.links.insert(path, resolve_link(&target));
                continue;
            }
            let label = format!("layer {}", read.layers.len() + 1);
            let task = ui.task(label.clone(), Some(size));
            total.set_total(estimate.max(layers_before + size));
            let progress = LayerProgress {
                task: &task,
                total,
                before: layers_before,
            };
            let guess = !plan.unguessable.contains(&size)
                && plan
                    .held
                    .values()
                    .any(|blob| blob.uncompressed_size == size);
            let diff_id = if guess {
                let diff_id = hash(&mut entry, &progress).map_err(unreadable)?;
                if !plan.held.contains_key(&diff_id) {
                    task.finish("changed: compressing on the next attempt");
                    return Err(Error::Misguessed { size });
                }
                task.finish(format!("{} already in the registry", format_size(size)));
                read.skipped.insert(diff_id.clone());
                diff_id
            } else {
                let compressed = compress(
                    &mut entry, plan, registry, runtime, &progress, &label, uploads,
                )?;
                read.uncompressed_bytes += compressed.uncompressed_size;
                read.compressed_bytes += compressed.size;
                compressed.diff_id
            };
            read.layers.insert(path, diff_id);
            layers_before += size;
            read.layer_bytes = layers_before;
        } else if path == "manifest.json" {
            read.manifest = Some(read_small(&mut entry, size).map_err(unreadable)?);
        } else if !path.contains('/') && path.ends_with(".json") {
            read.json
                .insert(path, read_small(&mut entry, size).map_err(unreadable)?);
        }
    }
    Ok(read)
}

/// One layer's bar, and the image's, which counts the layers before it too.
struct LayerProgress<'a> {
    task: &'a Task,
    total: &'a Task,
    before: u64,
}

impl LayerProgress<'_> {
    /// `bytes` of the layer read so far.
    fn read(&self, bytes: u64) {
        self.task.set_position(bytes);
        self.total.set_position(self.before + bytes);
    }
}

/// Compresses one layer, its gzip stream going chunk by chunk to an upload
/// task started for it.
fn compress(
    layer: &mut dyn Read,
    plan: &Plan,
    registry: &Registry,
    runtime: &tokio::runtime::Handle,
    progress: &LayerProgress<'_>,
    label: &str,
    uploads: &mut Vec<Upload>,
) -> Result<Compressed, Error> {
    // One chunk waits while one is sent: the compressor runs ahead of the
    // upload by that much, and no more.
    let (parts, receiver) = mpsc::channel(1);
    uploads.push(runtime.spawn(upload(
        registry.clone(),
        receiver,
        label.to_owned(),
        progress.task.clone(),
    )));
    let stopped = || io::Error::other(UPLOAD_STOPPED);
    let mut pending = BytesMut::new();
    let compressed = gzip::compress(
        layer,
        plan.level,
        plan.threads,
        &mut |bytes| {
            pending.extend_from_slice(bytes);
            while pending.len() >= CHUNK_SIZE {
                let chunk = pending.split_to(CHUNK_SIZE).freeze();
                parts
                    .blocking_send(Part::Chunk(chunk))
                    .map_err(|_| stopped())?;
            }
            Ok(())
        },
        &mut |read| progress.read(read),
    )
    .map_err(|source| Error::ExportRead { source })?;
    let sent = if pending.is_empty() {
        Ok(())
    } else {
        parts.blocking_send(Part::Chunk(pending.freeze()))
    };
    sent.and_then(|()| parts.blocking_send(Part::Done(compressed.clone())))
        .map_err(|_| Error::ExportRead { source: stopped() })?;
    Ok(compressed)
}

/// What a compression says when its upload failed: the upload's own error
/// is the one reported.
pub(crate) const UPLOAD_STOPPED: &str = "the layer's upload stopped";

/// Uploads one layer's gzip stream as it comes. `None` when the export
/// stopped before the layer was whole.
async fn upload(
    registry: Registry,
    mut parts: mpsc::Receiver<Part>,
    label: String,
    task: Task,
) -> Result<Option<(String, CachedBlob)>, Error> {
    let mut upload = registry.start_upload(&label).await?;
    let mut sent = 0u64;
    while let Some(part) = parts.recv().await {
        match part {
            Part::Chunk(chunk) => {
                sent += chunk.len() as u64;
                registry.send_chunk(&mut upload, chunk, &label).await?;
                task.set_message(format!("{} uploaded", format_size(sent)));
            }
            Part::Done(compressed) => {
                registry
                    .finish_upload(upload, Bytes::new(), &compressed.digest, &label)
                    .await?;
                task.finish(format!(
                    "{} compressed to {}, uploaded",
                    format_size(compressed.uncompressed_size),
                    format_size(compressed.size)
                ));
                let blob = CachedBlob {
                    digest: compressed.digest,
                    size: compressed.size,
                    uncompressed_size: compressed.uncompressed_size,
                    repository: registry.repository().to_owned(),
                };
                return Ok(Some((compressed.diff_id, blob)));
            }
        }
    }
    Ok(None)
}

/// Reads a layer through, only hashing it.
fn hash(layer: &mut dyn Read, progress: &LayerProgress<'_>) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = layer.read(&mut buffer)?;
        if n == 0 {
            return Ok(format!("sha256:{}", hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        read += n as u64;
        progress.read(read);
    }
}

fn read_small(entry: &mut dyn Read, size: u64) -> io::Result<Vec<u8>> {
    if size > MAX_CONFIG_SIZE {
        return Err(io::Error::other(format!(
            "a metadata file of {size} bytes is larger than any image config"
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `../<dir>/layer.tar`, relative to the link's own directory, as a path
/// from the archive's root.
fn resolve_link(target: &str) -> String {
    target.trim_start_matches("../").to_owned()
}

/// The image, as the export describes it.
#[derive(Debug)]
pub(crate) struct Described {
    pub(crate) config: Vec<u8>,
    /// Diff IDs, base layer first, as the export's manifest lists them.
    pub(crate) diff_ids: Vec<String>,
}

impl ReadExport {
    /// The config and the layers in order, from `manifest.json`.
    pub(crate) fn describe(&self) -> Result<Described, String> {
        let manifest = self
            .manifest
            .as_deref()
            .ok_or("it holds no manifest.json")?;
        let entries: Vec<ManifestEntry> = serde_json::from_slice(manifest).map_err(|error| {
            format!("its manifest.json is not a docker-archive manifest: {error}")
        })?;
        let [entry] = entries.as_slice() else {
            return Err(format!("it holds {} images, not one", entries.len()));
        };
        let config = self
            .json
            .get(&entry.config)
            .ok_or_else(|| format!("it lacks the config {}", entry.config))?
            .clone();
        let diff_ids = entry
            .layers
            .iter()
            .map(|path| {
                let path = self.links.get(path).unwrap_or(path);
                self.layers
                    .get(path)
                    .cloned()
                    .ok_or_else(|| format!("it lacks the layer {path}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Described { config, diff_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_saved_twice_links_to_the_first_copy() {
        assert_eq!(resolve_link("../abc/layer.tar"), "abc/layer.tar");
        let mut read = ReadExport::default();
        read.layers.insert("a/layer.tar".into(), "sha256:1".into());
        read.links
            .insert("b/layer.tar".into(), "a/layer.tar".into());
        read.json.insert("c.json".into(), b"{}".to_vec());
        read.manifest = Some(
            br#"[{"Config":"c.json","RepoTags":null,"Layers":["a/layer.tar","b/layer.tar"]}]"#
                .to_vec(),
        );
        let described = read.describe().expect("described");
        assert_eq!(described.diff_ids, ["sha256:1", "sha256:1"]);
        assert_eq!(described.config, b"{}");
    }

    #[test]
    fn an_export_without_its_parts_says_what_is_missing() {
        let mut read = ReadExport::default();
        assert!(
            read.describe()
                .expect_err("incomplete")
                .contains("manifest.json")
        );
        read.manifest = Some(br#"[{"Config":"c.json","Layers":["a/layer.tar"]}]"#.to_vec());
        assert!(read.describe().expect_err("incomplete").contains("c.json"));
        read.json.insert("c.json".into(), b"{}".to_vec());
        assert!(
            read.describe()
                .expect_err("incomplete")
                .contains("a/layer.tar")
        );
    }
}
