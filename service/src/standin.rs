//! The stand-in VPC endpoint: a TLS server that presents a given
//! certificate and answers any HTTPS request with a tiny JSON body, so a
//! rehearsal (or a test) can put "AWS endpoints" on a network with no way out.

use isokit_report::variables;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Uri, header};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::parse_certificates;
use crate::connections::{Transport, serve_until};
use crate::error::{Error, Result};
use crate::server::stop_signal;

pub struct StandinOptions {
    pub listen: SocketAddr,
    pub certificate_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The key stays out of logs and error reports.
impl fmt::Debug for StandinOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandinOptions")
            .field("listen", &self.listen)
            .field("certificates", &self.certificate_chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl StandinOptions {
    /// Reads `ISOKIT_STANDIN_LISTEN` (default `0.0.0.0:443`), and the
    /// certificate chain and key from the files given, or else from
    /// `ISOKIT_STANDIN_CERT_PEM` and `ISOKIT_STANDIN_KEY_PEM`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        cert_file: Option<&Path>,
        key_file: Option<&Path>,
    ) -> Result<StandinOptions> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let listen = match get(variables::STANDIN_LISTEN) {
            Some(raw) => raw.trim().parse().map_err(|_| Error::Config {
                variable: variables::STANDIN_LISTEN,
                problem: format!("`{raw}` is not an address"),
                expected: "ip:port, such as 0.0.0.0:443",
            })?,
            None => SocketAddr::from(([0, 0, 0, 0], 443)),
        };
        let cert_pem = pem_source("--cert-file", cert_file, variables::STANDIN_CERT_PEM, &get)?;
        let key_pem = pem_source("--key-file", key_file, variables::STANDIN_KEY_PEM, &get)?;
        let certificate_chain = parse_certificates(cert_pem.variable, &cert_pem.text)?;
        // The key's text never goes into a message: only which setting held it.
        let key = PrivateKeyDer::from_pem_slice(&key_pem.text).map_err(|_| Error::Config {
            variable: key_pem.variable,
            problem: "holds no readable private key".to_owned(),
            expected: "a PEM private key (PKCS#8, PKCS#1 or SEC1)",
        })?;
        Ok(StandinOptions {
            listen,
            certificate_chain,
            key,
        })
    }
}

struct Pem {
    variable: &'static str,
    text: Vec<u8>,
}

fn pem_source(
    flag: &'static str,
    file: Option<&Path>,
    variable: &'static str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Pem> {
    if let Some(path) = file {
        let text = std::fs::read(path).map_err(|source| Error::ReadFile {
            variable: flag,
            path: path.to_owned(),
            source,
        })?;
        return Ok(Pem {
            variable: flag,
            text,
        });
    }
    match get(variable) {
        Some(text) => Ok(Pem {
            variable,
            text: text.into_bytes(),
        }),
        None => Err(Error::Config {
            variable,
            problem: format!("not set (nor {flag} given)"),
            expected: "PEM text (or a file named with the flag)",
        }),
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn standin(options: StandinOptions) -> Result<()> {
    let stop = stop_signal()?;
    let tls = server_config(options.certificate_chain, options.key)?;
    let listen_error = |source| Error::Listen {
        addr: options.listen,
        setting: variables::STANDIN_LISTEN,
        source,
    };
    let tcp = TcpListener::bind(options.listen)
        .await
        .map_err(listen_error)?;
    let local = tcp.local_addr().map_err(listen_error)?;
    eprintln!("isokit-service standin: listening on {local}");
    let transport = Transport::Tls(TlsAcceptor::from(Arc::new(tls)));
    serve_until(tcp, transport, Router::new().fallback(answer), stop).await;
    Ok(())
}

fn server_config(
    certificate_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_no_client_auth()
        .with_single_cert(certificate_chain, key)
        .map_err(Error::StandinKey)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

async fn answer(headers: HeaderMap, uri: Uri) -> axum::Json<serde_json::Value> {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    axum::Json(serde_json::json!({
        "standin": "isokit-service",
        "version": env!("CARGO_PKG_VERSION"),
        "host": host,
        "path": uri.path(),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup<'a>(vars: &'a HashMap<&str, String>) -> impl Fn(&str) -> Option<String> + 'a {
        |name| vars.get(name).cloned()
    }

    #[test]
    fn reads_certificate_and_key_from_the_environment() {
        let certified =
            rcgen::generate_simple_self_signed(vec!["logs.eu-west-1.amazonaws.com".to_owned()])
                .expect("certificate");
        let vars = HashMap::from([
            ("ISOKIT_STANDIN_CERT_PEM", certified.cert.pem()),
            (
                "ISOKIT_STANDIN_KEY_PEM",
                certified.signing_key.serialize_pem(),
            ),
            ("ISOKIT_STANDIN_LISTEN", "127.0.0.1:8443".to_owned()),
        ]);
        let options = StandinOptions::from_lookup(lookup(&vars), None, None)
            .expect("valid stand-in settings");
        assert_eq!(options.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(options.certificate_chain.len(), 1);
        let debug = format!("{options:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }

    #[test]
    fn bad_settings_name_the_variable_and_never_echo_the_key() {
        let certified =
            rcgen::generate_simple_self_signed(vec!["s3.test".to_owned()]).expect("certificate");
        let vars = HashMap::from([("ISOKIT_STANDIN_CERT_PEM", certified.cert.pem())]);
        let err = StandinOptions::from_lookup(lookup(&vars), None, None)
            .expect_err("no key")
            .to_string();
        assert!(err.starts_with("ISOKIT_STANDIN_KEY_PEM: not set"), "{err}");

        let secret = "-----BEGIN PRIVATE KEY-----\n!!hunter2!!\n-----END PRIVATE KEY-----\n";
        let vars = HashMap::from([
            ("ISOKIT_STANDIN_CERT_PEM", certified.cert.pem()),
            ("ISOKIT_STANDIN_KEY_PEM", secret.to_owned()),
        ]);
        let err = StandinOptions::from_lookup(lookup(&vars), None, None)
            .expect_err("unreadable key")
            .to_string();
        assert!(
            err.starts_with("ISOKIT_STANDIN_KEY_PEM: holds no readable private key"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "the key leaked: {err}");

        let vars = HashMap::from([("ISOKIT_STANDIN_LISTEN", "everywhere".to_owned())]);
        let err = StandinOptions::from_lookup(lookup(&vars), None, None)
            .expect_err("bad listen")
            .to_string();
        assert!(err.starts_with("ISOKIT_STANDIN_LISTEN:"), "{err}");

        let err = StandinOptions::from_lookup(
            lookup(&HashMap::new()),
            Some(Path::new("/nonexistent.crt")),
            None,
        )
        .expect_err("missing file")
        .to_string();
        assert!(
            err.starts_with("--cert-file: cannot read /nonexistent.crt"),
            "{err}"
        );
    }

    #[test]
    fn a_key_that_does_not_fit_the_certificate_says_which_to_give() {
        let certified =
            rcgen::generate_simple_self_signed(vec!["s3.test".to_owned()]).expect("certificate");
        let other = rcgen::KeyPair::generate().expect("another key");
        let vars = HashMap::from([
            ("ISOKIT_STANDIN_CERT_PEM", certified.cert.pem()),
            ("ISOKIT_STANDIN_KEY_PEM", other.serialize_pem()),
        ]);
        let options =
            StandinOptions::from_lookup(lookup(&vars), None, None).expect("readable settings");
        let err = server_config(options.certificate_chain, options.key)
            .expect_err("the key is not the certificate's")
            .explained();
        assert!(
            err.starts_with(
                "the stand-in's private key cannot serve its certificate\n  caused by: "
            ),
            "{err}"
        );
        assert!(
            err.contains("ISOKIT_STANDIN_KEY_PEM (or --key-file) the private key"),
            "{err}"
        );
    }
}
