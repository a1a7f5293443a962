//! Which daemon the docker CLI would talk to, resolved the way its 20.10
//! release does: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH`), else the context `DOCKER_CONTEXT` names, else the
//! `currentContext` of `$DOCKER_CONFIG/config.json`, else the default
//! socket. A context lives in `$DOCKER_CONFIG/contexts`, under the SHA-256
//! of its name: `meta/<digest>/meta.json` holds its endpoint,
//! `tls/<digest>/docker/{ca,cert,key}.pem` its TLS material.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::EngineError;
use crate::host::{DEFAULT_SOCKET, DockerHost, TlsFiles};

/// The context that stands for `DOCKER_HOST` and the TLS variables.
const DEFAULT_CONTEXT: &str = "default";
/// The daemon's address when TLS is asked for and `DOCKER_HOST` is unset.
const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";

/// Resolves the daemon from the variables `var` gives (the process
/// environment, or a test's own).
pub(crate) fn resolve(var: &dyn Fn(&str) -> Option<String>) -> Result<DockerHost, EngineError> {
    // DOCKER_HOST, set even empty, stands for the default context.
    if let Some(value) = var("DOCKER_HOST") {
        return default_endpoint(var, &value);
    }
    if let Some(name) = var("DOCKER_CONTEXT").filter(|name| !name.is_empty()) {
        return context_endpoint(var, &name, "named by DOCKER_CONTEXT");
    }
    let Some(config_dir) = config_dir(var) else {
        return default_endpoint(var, "");
    };
    let config_file = config_dir.join("config.json");
    match current_context(&config_file)? {
        Some(name) => {
            let named_by = format!("the currentContext of {}", config_file.display());
            context_endpoint(var, &name, &named_by)
        }
        None => default_endpoint(var, ""),
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`; `None` without either variable.
fn config_dir(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match var("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => var("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| Path::new(&home).join(".docker")),
    }
}

/// The default context: `DOCKER_HOST` (`value`, possibly empty) with TLS
/// when `DOCKER_TLS_VERIFY` is set and not empty.
fn default_endpoint(
    var: &dyn Fn(&str) -> Option<String>,
    value: &str,
) -> Result<DockerHost, EngineError> {
    let verify = var("DOCKER_TLS_VERIFY").is_some_and(|verify| !verify.is_empty());
    let value = match value.trim() {
        "" if verify => DEFAULT_TLS_HOST.to_string(),
        "" => format!("unix://{DEFAULT_SOCKET}"),
        value => value.to_string(),
    };
    let host = DockerHost::parse(&value)?;
    if !verify || !matches!(host, DockerHost::Tcp { .. }) {
        return Ok(host);
    }
    let folder = match var("DOCKER_CERT_PATH").filter(|path| !path.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => config_dir(var).unwrap_or_else(|| PathBuf::from(".docker")),
    };
    // The CLI reads all three: a missing one is an error, not plain TCP.
    let [ca, cert, key] = ["ca.pem", "cert.pem", "key.pem"].map(|name| folder.join(name));
    for file in [&ca, &cert, &key] {
        if !file.is_file() {
            return Err(EngineError::TlsFileMissing {
                file: file.clone(),
                folder,
            });
        }
    }
    Ok(host.with_tls(TlsFiles {
        ca: Some(ca),
        client: Some((cert, key)),
        verify_server: true,
    }))
}

/// `currentContext` of the CLI's `config.json`, when it names one.
fn current_context(config_file: &Path) -> Result<Option<String>, EngineError> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: String,
    }
    let Some(config) = read_json::<Config>(config_file, "configuration")? else {
        return Ok(None);
    };
    Ok(Some(config.current_context).filter(|name| !name.is_empty()))
}

/// The endpoint of the context `name`.
fn context_endpoint(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    named_by: &str,
) -> Result<DockerHost, EngineError> {
    if name == DEFAULT_CONTEXT {
        return default_endpoint(var, "");
    }
    let contexts = config_dir(var)
        .unwrap_or_else(|| PathBuf::from(".docker"))
        .join("contexts");
    let digest = hex_digest(name);
    let meta_file = contexts.join("meta").join(&digest).join("meta.json");
    let not_found = || EngineError::ContextNotFound {
        name: name.to_string(),
        named_by: named_by.to_string(),
        meta: meta_file.clone(),
    };
    let meta = read_json::<ContextMeta>(&meta_file, "context metadata")?.ok_or_else(not_found)?;
    let Some(endpoint) = meta.endpoints.docker else {
        return Err(EngineError::DockerConfigUnreadable {
            path: meta_file,
            what: "context metadata",
            source: format!("context {name} has no docker endpoint").into(),
        });
    };
    let host = DockerHost::parse(&endpoint.host)?;
    let tls_dir = contexts.join("tls").join(&digest).join("docker");
    let present = |file: &str| Some(tls_dir.join(file)).filter(|path| path.is_file());
    let (ca, cert, key) = (present("ca.pem"), present("cert.pem"), present("key.pem"));
    // The CLI speaks TLS to a context's TCP endpoint when the context
    // holds TLS material or skips verification.
    if ca.is_none() && cert.is_none() && key.is_none() && !endpoint.skip_tls_verify {
        return Ok(host);
    }
    Ok(host.with_tls(TlsFiles {
        ca,
        client: cert.zip(key),
        verify_server: !endpoint.skip_tls_verify,
    }))
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Endpoints", default)]
    endpoints: Endpoints,
}

#[derive(Deserialize, Default)]
struct Endpoints {
    docker: Option<DockerEndpoint>,
}

#[derive(Deserialize)]
struct DockerEndpoint {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The file's JSON; `None` when there is no such file.
fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<Option<T>, EngineError> {
    let unreadable =
        |source: Box<dyn std::error::Error + Send + Sync>| EngineError::DockerConfigUnreadable {
            path: path.to_owned(),
            what,
            source,
        };
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unreadable(error.into())),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|error| unreadable(error.into()))
}

/// How the CLI names a context's folders: the SHA-256 of its name, in hex.
fn hex_digest(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A Docker configuration folder and the variables a test sets.
    struct Setup {
        config: tempfile::TempDir,
        vars: HashMap<&'static str, String>,
    }

    impl Setup {
        fn new() -> Setup {
            let config = tempfile::tempdir().expect("configuration folder");
            let vars = HashMap::from([("DOCKER_CONFIG", config.path().display().to_string())]);
            Setup { config, vars }
        }

        fn set(mut self, name: &'static str, value: &str) -> Setup {
            self.vars.insert(name, value.to_string());
            self
        }

        fn write(self, path: &str, text: &str) -> Setup {
            let path = self.config.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
            std::fs::write(path, text).expect("write");
            self
        }

        /// A context as `docker context create` lays it out.
        fn context(self, name: &str, meta: &str, tls_files: &[&str]) -> Setup {
            let digest = hex_digest(name);
            let mut setup = self.write(&format!("contexts/meta/{digest}/meta.json"), meta);
            for file in tls_files {
                setup = setup.write(&format!("contexts/tls/{digest}/docker/{file}"), "PEM");
            }
            setup
        }

        fn resolve(&self) -> Result<DockerHost, EngineError> {
            resolve(&|name| self.vars.get(name).cloned())
        }
    }

    fn meta(name: &str, host: &str, skip_tls_verify: bool) -> String {
        serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
        })
        .to_string()
    }

    fn unix(path: &str) -> DockerHost {
        DockerHost::Unix(path.into())
    }

    #[test]
    fn the_docker_cli_order_decides_which_daemon() {
        let setup = Setup::new()
            .write("config.json", r#"{"currentContext": "current"}"#)
            .context(
                "current",
                &meta("current", "unix:///run/current.sock", false),
                &[],
            )
            .context(
                "named",
                &meta("named", "unix:///run/named.sock", false),
                &[],
            );
        assert_eq!(setup.resolve().expect("current"), unix("/run/current.sock"));
        let setup = setup.set("DOCKER_CONTEXT", "named");
        assert_eq!(setup.resolve().expect("named"), unix("/run/named.sock"));
        let setup = setup.set("DOCKER_HOST", "unix:///run/host.sock");
        assert_eq!(setup.resolve().expect("host"), unix("/run/host.sock"));
        // Set but empty, DOCKER_HOST still stands for the default context.
        let setup = setup.set("DOCKER_HOST", "");
        assert_eq!(setup.resolve().expect("default"), unix(DEFAULT_SOCKET));
        let setup = Setup::new().set("DOCKER_CONTEXT", "default");
        assert_eq!(setup.resolve().expect("default"), unix(DEFAULT_SOCKET));
        assert_eq!(
            Setup::new().resolve().expect("nothing"),
            unix(DEFAULT_SOCKET)
        );
    }

    #[test]
    fn a_context_with_tls_material_speaks_tls() {
        let setup = Setup::new()
            .context(
                "remote",
                &meta("remote", "tcp://build-host.example:2376", false),
                &["ca.pem", "cert.pem", "key.pem"],
            )
            .context(
                "ssh",
                &meta("ssh", "ssh://deploy@build-host.example", false),
                &["ca.pem"],
            );
        let tls = setup
            .config
            .path()
            .join("contexts/tls")
            .join(hex_digest("remote"));
        let setup = setup.set("DOCKER_CONTEXT", "ssh");
        let host = setup.resolve().expect("SSH");
        assert_eq!(
            host.to_string(),
            "ssh://deploy@build-host.example",
            "{host:?}"
        );
        let host = setup
            .set("DOCKER_CONTEXT", "remote")
            .resolve()
            .expect("remote");
        let DockerHost::Tls {
            host: name,
            port,
            tls: files,
        } = host
        else {
            panic!("TLS: {host:?}");
        };
        assert_eq!((name.as_str(), port), ("build-host.example", 2376));
        assert_eq!(files.ca, Some(tls.join("docker/ca.pem")));
        assert_eq!(
            files.client,
            Some((tls.join("docker/cert.pem"), tls.join("docker/key.pem")))
        );
        assert!(files.verify_server);

        let setup = Setup::new().context(
            "unchecked",
            &meta("unchecked", "tcp://build-host.example:2376", true),
            &[],
        );
        let host = setup
            .set("DOCKER_CONTEXT", "unchecked")
            .resolve()
            .expect("unchecked");
        let DockerHost::Tls { tls: files, .. } = &host else {
            panic!("TLS: {host:?}");
        };
        assert_eq!((files.ca.as_ref(), files.verify_server), (None, false));
        // DOCKER_TLS_VERIFY is for DOCKER_HOST: a context keeps its own.
        let setup = Setup::new()
            .context("plain", &meta("plain", "tcp://127.0.0.1:2375", false), &[])
            .set("DOCKER_CONTEXT", "plain")
            .set("DOCKER_TLS_VERIFY", "1");
        assert_eq!(
            setup.resolve().expect("plain"),
            DockerHost::Tcp {
                host: "127.0.0.1".into(),
                port: 2375
            }
        );
    }

    #[test]
    fn a_missing_context_is_named_with_who_named_it() {
        let setup = Setup::new().set("DOCKER_CONTEXT", "gone");
        let error = setup.resolve().expect_err("no such context").to_string();
        assert!(
            error.contains("Docker context gone (named by DOCKER_CONTEXT) does not exist")
                && error.contains(&hex_digest("gone"))
                && error.contains("docker context ls"),
            "{error}"
        );
        let setup = Setup::new().write("config.json", r#"{"currentContext": "gone"}"#);
        let error = setup.resolve().expect_err("no such context").to_string();
        assert!(
            error.contains("(the currentContext of ") && error.contains("config.json)"),
            "{error}"
        );
        let setup = Setup::new().write("config.json", "{not json");
        let error = setup.resolve().expect_err("bad configuration").to_string();
        assert!(
            error.contains("config.json, the Docker CLI's configuration"),
            "{error}"
        );
    }

    #[test]
    fn docker_tls_verify_needs_the_three_files_of_docker_cert_path() {
        let certs = tempfile::tempdir().expect("certificate folder");
        let folder = certs.path().display().to_string();
        let setup = Setup::new()
            .set("DOCKER_HOST", "tcp://127.0.0.1:2376")
            .set("DOCKER_TLS_VERIFY", "1")
            .set("DOCKER_CERT_PATH", &folder);
        for file in ["ca.pem", "cert.pem"] {
            std::fs::write(certs.path().join(file), "PEM").expect("write");
        }
        let error = setup.resolve().expect_err("no key.pem").to_string();
        assert!(
            error.contains(&format!("{folder}/key.pem is missing"))
                && error.contains(&format!("DOCKER_CERT_PATH folder ({folder})")),
            "{error}"
        );
        std::fs::write(certs.path().join("key.pem"), "PEM").expect("write");
        let host = setup.resolve().expect("TLS");
        assert_eq!(host.to_string(), "tcp://127.0.0.1:2376 (TLS)");
        // Without DOCKER_HOST, TLS means the CLI's default TLS address; a
        // Unix socket ignores TLS.
        let setup = setup.set("DOCKER_HOST", "");
        assert_eq!(
            setup.resolve().expect("TLS").to_string(),
            "tcp://localhost:2376 (TLS)"
        );
        let setup = setup.set("DOCKER_HOST", "unix:///run/docker.sock");
        assert_eq!(setup.resolve().expect("Unix"), unix("/run/docker.sock"));
        // DOCKER_CERT_PATH defaults to the configuration folder.
        let setup = Setup::new()
            .set("DOCKER_HOST", "tcp://127.0.0.1:2376")
            .set("DOCKER_TLS_VERIFY", "1");
        let error = setup.resolve().expect_err("no ca.pem").to_string();
        let config = setup.config.path().display().to_string();
        assert!(
            error.contains(&format!("{config}/ca.pem is missing")),
            "{error}"
        );
    }

    #[test]
    fn context_folders_are_named_by_the_sha256_of_the_name() {
        // `echo -n remote | sha256sum`
        assert_eq!(
            hex_digest("remote"),
            "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
        );
    }
}
