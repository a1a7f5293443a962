//! Small image operations: inspect, tag, remove, pull.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{CreateImageOptions, RemoveImageOptions, TagImageOptions};
use futures_util::StreamExt;
use isokit_ui::{Task, Ui};

use crate::credentials::Redactor;
use crate::error::{daemon_message, is_not_found};
use crate::{Engine, EngineError, RegistryCredentials};

/// What the daemon knows about a local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDetails {
    /// `sha256:…`
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `repository@sha256:…` for each registry the image was pushed to or
    /// pulled from.
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    /// `sha256:…` of each layer's uncompressed tar, base layer first.
    pub diff_ids: Vec<String>,
}

impl Engine {
    /// Details of a local image, by ID, `repository:tag` or `repository@digest`.
    pub async fn image_inspect(&self, reference: &str) -> Result<ImageDetails, EngineError> {
        let inspect = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|error| {
                if is_not_found(&error) {
                    EngineError::ImageNotFound {
                        reference: reference.to_string(),
                    }
                } else {
                    EngineError::daemon(format!("inspect image {reference}"), error)
                }
            })?;
        Ok(ImageDetails {
            id: inspect.id.unwrap_or_default(),
            repo_tags: inspect.repo_tags.unwrap_or_default(),
            repo_digests: inspect.repo_digests.unwrap_or_default(),
            size: inspect
                .size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            labels: inspect
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            diff_ids: inspect
                .root_fs
                .and_then(|root_fs| root_fs.layers)
                .unwrap_or_default(),
        })
    }

    /// The image as the daemon exports it (`docker save`'s tar), streamed as
    /// it arrives: never held whole.
    pub fn export_image(
        &self,
        reference: &str,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, EngineError>> + Send + 'static {
        let action = format!("export image {reference}");
        self.docker
            .export_image(reference)
            .map(move |chunk| chunk.map_err(|error| EngineError::daemon(action.clone(), error)))
    }

    /// Whether the daemon holds the image.
    pub async fn image_exists(&self, reference: &str) -> Result<bool, EngineError> {
        match self.image_inspect(reference).await {
            Ok(_) => Ok(true),
            Err(EngineError::ImageNotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Gives `source` (an ID or reference) the name `target` (`repository:tag`).
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        self.docker
            .tag_image(source, Some(options))
            .await
            .map_err(|error| {
                if is_not_found(&error) {
                    EngineError::ImageNotFound {
                        reference: source.to_string(),
                    }
                } else {
                    EngineError::daemon(format!("tag {source} as {target}"), error)
                }
            })
    }

    /// Removes a local image (with `force`, even when containers use it).
    /// Returns whether there was one to remove.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<bool, EngineError> {
        let options = RemoveImageOptions {
            force,
            ..Default::default()
        };
        match self
            .docker
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(EngineError::daemon(
                format!("remove image {reference}"),
                error,
            )),
        }
    }

    /// Pulls `repository:tag` or `repository@sha256:…` with the given
    /// credentials (sent with this request only); returns the local image ID.
    /// What the daemon says is cleared of the credentials, as a push's is.
    pub async fn pull(
        &self,
        reference: &str,
        credentials: Option<&RegistryCredentials>,
        ui: &Ui,
    ) -> Result<String, EngineError> {
        if credentials.is_some() {
            self.host.check_carries_credentials()?;
        }
        let (repository, tag_or_digest) = split_reference(reference);
        let options = CreateImageOptions {
            from_image: Some(repository.to_string()),
            tag: Some(tag_or_digest.to_string()),
            ..Default::default()
        };
        let redactor = Redactor::new(credentials);
        let mut progress = self.docker.create_image(
            Some(options),
            None,
            credentials.map(RegistryCredentials::for_bollard),
        );
        let mut layers: HashMap<String, Task> = HashMap::new();
        while let Some(item) = progress.next().await {
            let info = item.map_err(|error| {
                for task in layers.values() {
                    task.finish("stopped");
                }
                EngineError::PullFailed {
                    reference: reference.to_string(),
                    message: redactor.clean(&daemon_message(&error)),
                }
            })?;
            let Some(status) = info.status else { continue };
            let status = redactor.clean(&status);
            match info.id {
                Some(id) if !status.starts_with("Pulling from") => {
                    let task = layers
                        .entry(id.clone())
                        .or_insert_with(|| ui.task(format!("layer {id}"), None));
                    match status.as_str() {
                        "Pull complete" | "Already exists" => task.finish(status.to_lowercase()),
                        _ => {
                            if let Some(detail) = info.progress_detail
                                && let (Some(current), Some(total)) = (detail.current, detail.total)
                                && total > 0
                            {
                                task.set_total(total.unsigned_abs());
                                task.set_position(current.unsigned_abs());
                            }
                            task.set_message(status.to_lowercase());
                        }
                    }
                }
                _ => ui.status(status),
            }
        }
        Ok(self.image_inspect(reference).await?.id)
    }
}

/// Splits `repository:tag` or `repository@digest`; a reference without
/// either means `latest`, as everywhere in Docker.
pub(crate) fn split_reference(reference: &str) -> (&str, &str) {
    if let Some((repository, digest)) = reference.split_once('@') {
        return (repository, digest);
    }
    let name_start = reference.rfind('/').map_or(0, |slash| slash + 1);
    match reference[name_start..].rfind(':') {
        Some(colon) => (
            &reference[..name_start + colon],
            &reference[name_start + colon + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag_or_digest() {
        assert_eq!(split_reference("app:v1"), ("app", "v1"));
        assert_eq!(
            split_reference("127.0.0.1:5000/team/app:v1"),
            ("127.0.0.1:5000/team/app", "v1")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/team/app", "latest")
        );
        let digest = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            split_reference(&format!("r.example/app@{digest}")),
            ("r.example/app", digest.as_str())
        );
    }
}
