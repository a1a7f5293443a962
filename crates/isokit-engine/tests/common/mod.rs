//! What the engine tests share: a connection, unique names, cleanup, images
//! to build on, and a throwaway registry.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use isokit_engine::{
    BuildContext, BuildOptions, BuiltImage, ContextError, ContextOptions, Engine, EngineError,
    PushOptions, RegistryCredentials, RetryPolicy,
};
use isokit_testkit::{TestCa, unique_name};
use isokit_ui::Ui;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The context `options` describe, prepared as `isokit push` prepares it.
pub fn prepared(options: ContextOptions) -> BuildContext {
    BuildContext::prepare(&options)
        .unwrap_or_else(|error| panic!("preparing the context {options:?} failed: {error}"))
}

pub async fn engine() -> Engine {
    Engine::connect().await.unwrap_or_else(|error| {
        panic!(
            "these tests need a running Docker Engine (start dockerd, or set DOCKER_HOST): {error}"
        )
    })
}

/// Removes the images it was given when dropped.
#[derive(Default)]
pub struct Images(Vec<String>);

impl Images {
    pub fn track(&mut self, reference: impl Into<String>) -> String {
        let reference = reference.into();
        self.0.push(reference.clone());
        reference
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for reference in self.0.iter().rev() {
            let _ = Command::new("docker")
                .args(["rmi", "--force", reference])
                .output();
        }
    }
}

/// Builds the hello fixture as `registry/repository:tag`.
pub async fn build_for(
    engine: &Engine,
    images: &mut Images,
    registry: &TestRegistry,
    repository: &str,
    tag: &str,
) {
    let reference = images.track(format!("{}/{repository}:{tag}", registry.host()));
    let options = BuildOptions {
        tags: vec![reference],
        ..Default::default()
    };
    engine
        .build(
            prepared(ContextOptions::new(fixtures().join("hello"))),
            &options,
            &Ui::quiet(),
        )
        .await
        .expect("build the image to push");
}

pub fn push_options(registry: &TestRegistry, repository: &str, tag: &str) -> PushOptions {
    PushOptions {
        repository: format!("{}/{repository}", registry.host()),
        tag: tag.to_string(),
        credentials: registry.credentials(),
        retry: RetryPolicy::default(),
    }
}

/// Removes the containers and networks carrying a label when dropped, so
/// that a failing test leaves nothing behind.
pub struct Labelled(pub String);

impl Drop for Labelled {
    fn drop(&mut self) {
        let filter = format!("label={}", self.0);
        for (list, remove) in [
            (["ps", "-aq"], ["rm", "--force"]),
            (["network", "ls"], ["network", "rm"]),
        ] {
            let mut listing = Command::new("docker");
            listing.args(list);
            if list[0] == "network" {
                listing.arg("-q");
            }
            let Ok(found) = listing.args(["--filter", &filter]).output() else {
                continue;
            };
            for id in String::from_utf8_lossy(&found.stdout).split_whitespace() {
                let _ = Command::new("docker").args(remove).arg(id).output();
            }
        }
    }
}

/// Builds a `FROM scratch` image holding the host's static busybox, so that
/// `RUN` steps and containers have a shell. Returns its tag.
pub async fn busybox_image(engine: &Engine, images: &mut Images) -> String {
    let context = tempfile::tempdir().expect("busybox context");
    std::fs::copy("/bin/busybox", context.path().join("busybox")).expect(
        "these tests need the host's static /bin/busybox (Debian: apt-get install busybox-static)",
    );
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("busybox Dockerfile");
    let tag = images.track(format!("{}:1", unique_name("isokit-engine-test-busybox")));
    let options = BuildOptions {
        tags: vec![tag.clone()],
        ..Default::default()
    };
    engine
        .build(
            prepared(ContextOptions::new(context.path())),
            &options,
            &Ui::quiet(),
        )
        .await
        .expect("build the busybox image");
    tag
}

/// A registry of our own on 127.0.0.1: Debian's `docker-registry` with TLS
/// from a CA made here, which the engine is told to trust, and htpasswd
/// authentication. Stopped and forgotten by the engine when dropped.
pub struct TestRegistry {
    pub port: u16,
    pub username: String,
    pub password: String,
    ca_pem: String,
    process: Option<Child>,
    workdir: tempfile::TempDir,
    trust_dir: PathBuf,
}

impl TestRegistry {
    /// Starts the registry and waits until it answers.
    pub fn start() -> TestRegistry {
        let registry = TestRegistry::prepare();
        registry.launch()
    }

    /// Everything but starting the process: for tests that want the
    /// registry to appear a little later.
    pub fn prepare() -> TestRegistry {
        let workdir = tempfile::tempdir().expect("registry directory");
        let port = free_port();
        let (ca_pem, cert_pem, key_pem) = certificates();
        std::fs::write(workdir.path().join("registry.crt"), &cert_pem)
            .expect("registry certificate");
        std::fs::write(workdir.path().join("registry.key"), &key_pem).expect("registry key");

        let username = "isokit".to_string();
        let password = format!("pw-{}", unique_name("secret"));
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", &username, &password])
            .output()
            .expect("these tests need htpasswd (Debian: apt-get install apache2-utils)");
        assert!(htpasswd.status.success(), "htpasswd failed");
        std::fs::write(workdir.path().join("htpasswd"), &htpasswd.stdout).expect("htpasswd file");

        let dir = workdir.path().display();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {dir}/data\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: {}\n  tls:\n    certificate: {dir}/registry.crt\n    key: {dir}/registry.key\nauth:\n  htpasswd:\n    realm: isokit-test\n    path: {dir}/htpasswd\n",
            unique_name("http-secret"),
        );
        std::fs::write(workdir.path().join("config.yml"), config).expect("registry config");

        let trust_dir = PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}"));
        std::fs::create_dir_all(&trust_dir)
            .expect("create the engine's certs.d entry (needs root)");
        std::fs::write(trust_dir.join("ca.crt"), &ca_pem).expect("write the engine's trusted CA");
        TestRegistry {
            port,
            username,
            password,
            ca_pem,
            process: None,
            workdir,
            trust_dir,
        }
    }

    pub fn launch(mut self) -> TestRegistry {
        let log =
            std::fs::File::create(self.workdir.path().join("registry.log")).expect("registry log");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(self.workdir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("these tests need Debian's docker-registry (apt-get install docker-registry)");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn credentials(&self) -> RegistryCredentials {
        RegistryCredentials::new(
            self.host(),
            &self.username,
            SecretString::from(self.password.clone()),
        )
    }

    pub fn credentials_with_password(&self, password: &str) -> RegistryCredentials {
        RegistryCredentials::new(
            self.host(),
            &self.username,
            SecretString::from(password.to_string()),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.workdir.path().join("registry.log")).unwrap_or_default()
    }

    /// The digest the registry serves for `repository:tag`, asked the way a
    /// client asks for a Docker v2 manifest.
    pub async fn manifest_digest(&self, repository: &str, tag: &str) -> String {
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls_pki_types::pem::PemObject::from_pem_slice(self.ca_pem.as_bytes())
            .expect("CA certificate");
        roots.add(ca).expect("trust the test CA");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to the registry");
        let server = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let mut tls = connector
            .connect(server, tcp)
            .await
            .expect("TLS with the registry");
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        let request = format!(
            "GET /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
            self.host()
        );
        tls.write_all(request.as_bytes())
            .await
            .expect("send the manifest request");
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "manifest request failed: {response}"
        );
        response
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_string())
            })
            .expect("a Docker-Content-Digest header")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.trust_dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().expect("port").port()
}

/// A CA, and a certificate for 127.0.0.1 it signed: (CA, certificate, key) as PEM.
fn certificates() -> (String, String, String) {
    let ca = TestCa::new("isokit engine test CA");
    let leaf = ca.leaf(&["127.0.0.1".to_owned()]);
    (ca.pem(), leaf.cert_pem, leaf.key_pem)
}

/// Writes `files` (path, content) under `dir`.
/// Checks that `error` is data.txt changing under the build (`case` names
/// the test's case); the error with its first cause, as text.
pub fn data_txt_changed(error: &EngineError, case: &str) -> String {
    assert!(
        matches!(
            error,
            EngineError::Context(ContextError::FileChanged { path, .. })
                if path.ends_with("data.txt")
        ),
        "{case}: {error:?}"
    );
    format!(
        "{error}: {}",
        std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_default()
    )
}

/// Checks that the engine holds `built` under every tag the build was
/// given, with `labels` among its labels.
pub async fn assert_tagged_and_labelled(
    engine: &Engine,
    built: &BuiltImage,
    labels: &[(&str, &str)],
) {
    let details = engine.image_inspect(&built.tags[0]).await.expect("inspect");
    assert_eq!(details.id, built.id);
    for tag in &built.tags {
        assert!(
            details.repo_tags.contains(tag),
            "{tag}: {:?}",
            details.repo_tags
        );
    }
    for (key, value) in labels {
        assert_eq!(
            details.labels.get(*key).map(String::as_str),
            Some(*value),
            "{key}"
        );
    }
}

pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        let mut file = std::fs::File::create(path).expect("create file");
        file.write_all(content.as_bytes()).expect("write file");
    }
}
