//! The registry's HTTP API (OCI distribution), as much of it as a push
//! needs: whether a blob is there, a chunked blob upload that resumes a
//! failed chunk where the registry says it stopped, a blob in one request,
//! and the manifest. Every request carries the ECR token as Basic auth, the
//! header marked sensitive.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// Attempts per chunk (and per small request) before the failure is the
/// blob's, which the push then retries whole.
const ATTEMPTS: u32 = 4;
/// The wait after the first failure; each further one doubles it.
const FIRST_DELAY: Duration = Duration::from_millis(500);

/// One repository of one registry, with its credentials.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    http: reqwest::Client,
    /// `https://<host>/v2/<repository>/`
    base: Url,
    host: String,
    repository: String,
    /// `Basic base64(user:password)`, marked sensitive: its `Debug` is redacted.
    authorization: HeaderValue,
}

/// A blob upload under way: where to send the next chunk, and how much the
/// registry holds.
#[derive(Debug)]
pub(crate) struct BlobUpload {
    location: Url,
    offset: u64,
}

impl Registry {
    /// A client for `host/repository` trusting the system's roots and the
    /// certificates of `ca_bundle` (`AWS_CA_BUNDLE`), as the AWS calls do.
    /// `HTTPS_PROXY` and `NO_PROXY` apply, as for any HTTPS client.
    pub(crate) fn new(
        host: &str,
        repository: &str,
        username: &str,
        password: SecretString,
        ca_bundle: Option<&Path>,
    ) -> Result<Registry, Error> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_bundle {
            let pem = std::fs::read(path).map_err(|source| Error::CaBundle {
                path: path.to_owned(),
                source,
            })?;
            let certificates = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            roots.add_parsable_certificates(certificates);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| Error::Client(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300))
            .build()
            .map_err(|error| Error::Client(error.to_string()))?;
        let base = Url::parse(&format!("https://{host}/v2/{repository}/"))
            .map_err(|error| Error::Client(format!("{host}/{repository}: {error}")))?;
        let token = SecretString::from(
            base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", password.expose_secret())),
        );
        let mut authorization = HeaderValue::from_str(&format!("Basic {}", token.expose_secret()))
            .map_err(|_| {
                Error::Client("the ECR token holds characters HTTP does not allow".to_owned())
            })?;
        authorization.set_sensitive(true);
        Ok(Registry {
            http,
            base,
            host: host.to_owned(),
            repository: repository.to_owned(),
            authorization,
        })
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(header::AUTHORIZATION, self.authorization.clone())
    }

    fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("digests and tags are valid URL paths")
    }

    /// A URL the registry returned in `Location`, which may be relative.
    fn location(&self, response: &reqwest::Response, what: &str) -> Result<Url, Error> {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Error::Refused {
                what: what.to_owned(),
                status: response.status().as_u16(),
                message: "the registry's answer has no Location header".to_owned(),
            })?;
        self.base.join(location).map_err(|error| Error::Refused {
            what: what.to_owned(),
            status: response.status().as_u16(),
            message: format!("the Location header is not a URL: {error}"),
        })
    }

    /// The repository this client pushes to.
    pub(crate) fn repository(&self) -> &str {
        &self.repository
    }

    /// Asks the registry to lend this repository a blob another of its
    /// repositories holds (a cross-repository mount), as `docker push` does:
    /// whether it did. A registry that will not mount (ECR unless its
    /// account enables blob mounting) opens an upload instead, which is
    /// cancelled; any failure only means the blob is uploaded after all.
    pub(crate) async fn mount_blob(&self, digest: &str, from: &str) -> bool {
        let mut url = self.url("blobs/uploads/");
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let response = match self
            .request(Method::POST, url)
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, digest, from, "no cross-repository mount");
                return false;
            }
        };
        match response.status() {
            StatusCode::CREATED => true,
            StatusCode::ACCEPTED => {
                if let Ok(location) = self.location(&response, "a cancelled mount") {
                    let _ = self.request(Method::DELETE, location).send().await;
                }
                false
            }
            status => {
                tracing::debug!(%status, digest, from, "no cross-repository mount");
                false
            }
        }
    }

    /// Whether the repository holds the blob.
    pub(crate) async fn has_blob(&self, digest: &str) -> Result<bool, Error> {
        let what = format!("blob {digest}");
        retrying(|| async {
            let response = self
                .request(Method::HEAD, self.url(&format!("blobs/{digest}")))
                .send()
                .await
                .map_err(|source| self.unreachable(&what, source))?;
            match response.status() {
                status if status.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(refused(&what, response).await),
            }
        })
        .await
    }

    /// Starts an upload.
    pub(crate) async fn start_upload(&self, what: &str) -> Result<BlobUpload, Error> {
        retrying(|| async {
            let response = self
                .request(Method::POST, self.url("blobs/uploads/"))
                .header(header::CONTENT_LENGTH, 0)
                .send()
                .await
                .map_err(|source| self.unreachable(what, source))?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(refused(what, response).await);
            }
            Ok(BlobUpload {
                location: self.location(&response, what)?,
                offset: 0,
            })
        })
        .await
    }

    /// Sends the next chunk of an upload. A chunk that fails is sent again
    /// from where the registry says it stopped; when the registry has lost
    /// the upload itself, the error says so and the blob must start over.
    pub(crate) async fn send_chunk(
        &self,
        upload: &mut BlobUpload,
        chunk: Bytes,
        what: &str,
    ) -> Result<(), Error> {
        let start = upload.offset;
        let end = start + chunk.len() as u64;
        let mut failures = 0;
        loop {
            let rest = chunk.slice((upload.offset - start) as usize..);
            match self.patch(upload, rest, what).await {
                Ok(location) => {
                    upload.location = location;
                    upload.offset = end;
                    return Ok(());
                }
                Err(error) if error.is_transient() && failures + 1 < ATTEMPTS => {
                    failures += 1;
                    tracing::debug!(%error, what, offset = upload.offset, "a chunk failed: asking what arrived");
                    tokio::time::sleep(FIRST_DELAY * 2u32.pow(failures - 1)).await;
                    let (location, received) = self.upload_status(upload, what).await?;
                    if received < start || received > end {
                        return Err(Error::UploadLost {
                            what: what.to_owned(),
                        });
                    }
                    upload.location = location;
                    upload.offset = received;
                    if received == end {
                        return Ok(());
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn patch(&self, upload: &BlobUpload, bytes: Bytes, what: &str) -> Result<Url, Error> {
        let last = upload.offset + bytes.len() as u64 - 1;
        let response = self
            .request(Method::PATCH, upload.location.clone())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_RANGE, format!("{}-{last}", upload.offset))
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(bytes)
            .send()
            .await
            .map_err(|source| self.unreachable(what, source))?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(refused(what, response).await);
        }
        self.location(&response, what)
    }

    /// Where an upload continues and how many bytes the registry holds. A
    /// registry that no longer knows the upload has lost it.
    async fn upload_status(&self, upload: &BlobUpload, what: &str) -> Result<(Url, u64), Error> {
        let response = retrying(|| async {
            self.request(Method::GET, upload.location.clone())
                .send()
                .await
                .map_err(|source| self.unreachable(what, source))
        })
        .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::UploadLost {
                what: what.to_owned(),
            });
        }
        if response.status() != StatusCode::NO_CONTENT {
            return Err(refused(what, response).await);
        }
        // `Range: 0-<last byte held>`; none, or `0-0` from some registries
        // before any byte, when it holds nothing.
        let received = response
            .headers()
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(|range| range.split_once('-'))
            .and_then(|(_, last)| last.parse::<u64>().ok())
            .map_or(0, |last| if last == 0 { 0 } else { last + 1 });
        Ok((self.location(&response, what)?, received))
    }

    /// Ends an upload with its last bytes (none after chunks, the whole of
    /// a small blob): the registry checks the digest against what it received.
    pub(crate) async fn finish_upload(
        &self,
        upload: BlobUpload,
        last: Bytes,
        digest: &str,
        what: &str,
    ) -> Result<(), Error> {
        let mut url = upload.location;
        url.query_pairs_mut().append_pair("digest", digest);
        retrying(|| async {
            let response = self
                .request(Method::PUT, url.clone())
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, last.len())
                .body(last.clone())
                .send()
                .await
                .map_err(|source| self.unreachable(what, source))?;
            if response.status() != StatusCode::CREATED {
                return Err(refused(what, response).await);
            }
            Ok(())
        })
        .await
    }

    /// Uploads a small blob (the image's config) whole.
    pub(crate) async fn put_blob(
        &self,
        bytes: Bytes,
        digest: &str,
        what: &str,
    ) -> Result<(), Error> {
        let upload = self.start_upload(what).await?;
        self.finish_upload(upload, bytes, digest, what).await
    }

    /// Puts the manifest under `tag`.
    pub(crate) async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        manifest: Bytes,
    ) -> Result<(), Error> {
        let what = format!("the manifest of tag {tag}");
        retrying(|| async {
            let response = self
                .request(Method::PUT, self.url(&format!("manifests/{tag}")))
                .header(header::CONTENT_TYPE, media_type)
                .body(manifest.clone())
                .send()
                .await
                .map_err(|source| self.unreachable(&what, source))?;
            if !response.status().is_success() {
                return Err(refused(&what, response).await);
            }
            Ok(())
        })
        .await
    }

    fn unreachable(&self, what: &str, source: reqwest::Error) -> Error {
        Error::Unreachable {
            registry: self.host.clone(),
            what: what.to_owned(),
            source,
        }
    }
}

/// Runs `request` again after a transient failure, up to [`ATTEMPTS`] in all.
async fn retrying<T, F, Fut>(mut request: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut failures = 0;
    loop {
        match request().await {
            Err(error) if error.is_transient() && failures + 1 < ATTEMPTS => {
                failures += 1;
                tracing::debug!(%error, "retrying a registry request");
                tokio::time::sleep(FIRST_DELAY * 2u32.pow(failures - 1)).await;
            }
            done => return done,
        }
    }
}

/// The registry's refusal, with its reason: the messages of the OCI error
/// body when there is one, the body's start otherwise.
async fn refused(what: &str, response: reqwest::Response) -> Error {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Message>,
    }
    #[derive(serde::Deserialize)]
    struct Message {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let message = match serde_json::from_slice::<Errors>(&body) {
        Ok(errors) if !errors.errors.is_empty() => errors
            .errors
            .iter()
            .map(|error| {
                format!("{} {}", error.code, error.message)
                    .trim()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_owned()
            } else {
                text.chars().take(300).collect()
            }
        }
    };
    Error::Refused {
        what: what.to_owned(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refusal(status: u16, body: &str) -> String {
        let response = hyper::Response::builder()
            .status(status)
            .body(body.to_owned())
            .expect("a response");
        refused("the manifest", reqwest::Response::from(response))
            .await
            .to_string()
    }

    #[tokio::test]
    async fn a_refusal_names_what_was_refused_and_the_registry_s_reason() {
        // As ECR refuses a manifest under a tag it holds immutable.
        assert_eq!(
            refusal(
                400,
                r#"{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."}]}"#
            )
            .await,
            "the registry refused the manifest (HTTP 400): TAG_INVALID The image tag 'v1' \
             already exists in the 'app' repository and cannot be overwritten because the \
             repository is immutable."
        );
        // A body that is not the registry's error format is quoted.
        assert_eq!(
            refusal(413, "request entity too large\n").await,
            "the registry refused the manifest (HTTP 413): request entity too large"
        );
        // No body: the status says it.
        assert_eq!(
            refusal(403, "").await,
            "the registry refused the manifest (HTTP 403): Forbidden"
        );
    }
}
