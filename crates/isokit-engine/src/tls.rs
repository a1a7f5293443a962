//! TLS to the Docker daemon with rustls: the daemon's certificate checked
//! against the given CA (the web's public CAs when none is given) and the
//! host `DOCKER_HOST` names, and the client certificate shown when the
//! daemon asks, as the docker CLI does.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::EngineError;
use crate::host::TlsFiles;

/// The client side of TLS for `files`.
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, EngineError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring's provider speaks the default TLS versions");
    let builder = if files.verify_server {
        let mut roots = RootCertStore::empty();
        match &files.ca {
            Some(ca) => {
                for certificate in certificates(ca)? {
                    roots
                        .add(certificate)
                        .map_err(|error| invalid(ca, "CA certificate", error))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
    };
    let config = match &files.client {
        Some((cert, key)) => {
            let chain = certificates(cert)?;
            let key_pem = read(key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|error| invalid(key, "private key", error))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|error| invalid(key, "key matching cert.pem", error))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name the daemon's certificate must carry: the host `DOCKER_HOST` names.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, EngineError> {
    ServerName::try_from(host.to_string()).map_err(|error| EngineError::UnsupportedHost {
        value: format!("tcp://{host} ({error})"),
    })
}

fn read(file: &Path) -> Result<Vec<u8>, EngineError> {
    std::fs::read(file).map_err(|source| EngineError::TlsFileUnreadable {
        file: file.to_owned(),
        source,
    })
}

fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let pem = read(file)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(file, "certificate", error))?;
    if certificates.is_empty() {
        return Err(invalid(file, "certificate", "no CERTIFICATE block"));
    }
    Ok(certificates)
}

fn invalid(file: &Path, what: &'static str, reason: impl ToString) -> EngineError {
    EngineError::TlsFileInvalid {
        file: file.to_owned(),
        what,
        reason: reason.to_string(),
    }
}

/// A context's `SkipTLSVerify`: any certificate is taken, but the
/// handshake's signatures are still checked, so that the session is
/// encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyServerCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
