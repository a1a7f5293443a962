//! The layer cache: for each registry, which compressed blob each layer
//! (by diff ID) was uploaded as, so that a push of an unchanged layer asks
//! the registry whether it still holds that blob instead of compressing the
//! layer again.
//!
//! It holds digests and sizes only, never a credential. A file that is
//! missing, unreadable or corrupt is an empty cache (it fills again); one
//! that cannot be written costs the next push time, never this push's
//! success. Writes go to a temporary file renamed over the old one, so two
//! pushes at once each leave a whole file (the later one wins, and what it
//! lacks the next push relearns).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a layer was uploaded as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedBlob {
    /// `sha256:…` of the gzip stream.
    pub digest: String,
    pub size: u64,
    /// The layer's tar size: how the layer is known in the export before
    /// its bytes are read.
    pub uncompressed_size: u64,
    /// The repository the blob was last pushed to, which can lend it to
    /// another (a cross-repository mount). Empty in caches written before.
    #[serde(default)]
    pub repository: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    /// Diff ID → blob.
    layers: BTreeMap<String, CachedBlob>,
    /// Image ID → size of its config blob: with every layer held too, a
    /// push of the image under another tag needs no export at all.
    #[serde(default)]
    configs: BTreeMap<String, u64>,
}

/// The cache of one registry.
#[derive(Debug)]
pub struct LayerCache {
    /// `None`: no cache directory is known; nothing is remembered.
    path: Option<PathBuf>,
    file: CacheFile,
}

impl LayerCache {
    /// The cache for `registry` under the user's cache directory
    /// (`$XDG_CACHE_HOME/isokit/layers` or its platform's equivalent).
    pub fn open(registry: &str) -> LayerCache {
        let path = dirs::cache_dir().map(|dir| dir.join("isokit").join("layers"));
        LayerCache::open_in(path.as_deref(), registry)
    }

    /// The cache for `registry` in `dir`.
    pub fn open_in(dir: Option<&Path>, registry: &str) -> LayerCache {
        // A registry host is a DNS name and a port: safe as a file name once
        // the port's colon is replaced.
        let path = dir.map(|dir| dir.join(format!("{}.json", registry.replace(':', "_"))));
        let file = path
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(file) => Some(file),
                Err(error) => {
                    tracing::debug!(%error, "the layer cache is corrupt: starting afresh");
                    None
                }
            })
            .unwrap_or_default();
        LayerCache { path, file }
    }

    pub fn get(&self, diff_id: &str) -> Option<&CachedBlob> {
        self.file.layers.get(diff_id)
    }

    pub fn insert(&mut self, diff_id: String, blob: CachedBlob) {
        self.file.layers.insert(diff_id, blob);
    }

    /// The size of the config blob of image `id`, if known.
    pub fn config_size(&self, id: &str) -> Option<u64> {
        self.file.configs.get(id).copied()
    }

    pub fn insert_config(&mut self, id: String, size: u64) {
        self.file.configs.insert(id, size);
    }

    /// Writes the cache, merged with what another push may have written
    /// since it was read. Says why when it cannot.
    pub fn save(&mut self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Err("no user cache directory is known (HOME is not set)".to_owned());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            // Entries written by another push meanwhile are kept.
            if let Ok(bytes) = std::fs::read(path)
                && let Ok(file) = serde_json::from_slice::<CacheFile>(&bytes)
            {
                for (diff_id, blob) in file.layers {
                    self.file.layers.entry(diff_id).or_insert(blob);
                }
                for (id, size) in file.configs {
                    self.file.configs.entry(id).or_insert(size);
                }
            }
            let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut temporary, &self.file)?;
            temporary.flush()?;
            temporary.persist(path).map_err(|error| error.error)?;
            Ok(())
        };
        write().map_err(|error| format!("{}: {error}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: u64) -> CachedBlob {
        CachedBlob {
            digest: format!("sha256:{}", format!("{n:x}").repeat(64)[..64].to_owned()),
            size: n,
            uncompressed_size: 2 * n,
            repository: "app".to_owned(),
        }
    }

    #[test]
    fn what_is_saved_is_found_again_per_registry() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut cache = LayerCache::open_in(Some(dir.path()), "registry.test:443");
        cache.insert("sha256:a".into(), blob(1));
        cache.save().expect("saved");
        let again = LayerCache::open_in(Some(dir.path()), "registry.test:443");
        assert_eq!(again.get("sha256:a"), Some(&blob(1)));
        let other = LayerCache::open_in(Some(dir.path()), "other.test");
        assert_eq!(other.get("sha256:a"), None);
    }

    #[test]
    fn a_corrupt_or_deleted_cache_is_empty_and_fills_again() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("r.json"), b"{not json").expect("written");
        let mut cache = LayerCache::open_in(Some(dir.path()), "r");
        assert_eq!(cache.get("sha256:a"), None);
        cache.insert("sha256:a".into(), blob(1));
        cache.save().expect("saved over the corrupt file");
        std::fs::remove_file(dir.path().join("r.json")).expect("removed");
        let mut cache = LayerCache::open_in(Some(dir.path()), "r");
        assert_eq!(cache.get("sha256:a"), None);
        cache.insert("sha256:b".into(), blob(2));
        cache.save().expect("saved again");
    }

    #[test]
    fn two_pushes_at_once_keep_each_other_s_layers() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut first = LayerCache::open_in(Some(dir.path()), "r");
        let mut second = LayerCache::open_in(Some(dir.path()), "r");
        first.insert("sha256:a".into(), blob(1));
        second.insert("sha256:b".into(), blob(2));
        first.save().expect("saved");
        second.save().expect("saved");
        let merged = LayerCache::open_in(Some(dir.path()), "r");
        assert_eq!(merged.get("sha256:a"), Some(&blob(1)));
        assert_eq!(merged.get("sha256:b"), Some(&blob(2)));
    }

    #[test]
    fn an_unwritable_cache_says_so() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, b"").expect("written");
        let mut cache = LayerCache::open_in(Some(&file), "r");
        cache.insert("sha256:a".into(), blob(1));
        assert!(cache.save().is_err());
    }
}
