//! The engine reached over TLS and SSH, as `DOCKER_HOST` or a context
//! names it: through a TLS stand-in on loopback that verifies client
//! certificates in front of the engine's socket, and through `ssh`.

mod common;

use std::error::Error as _;
use std::path::Path;

use common::{Images, TestRegistry, build_for, push_options};
use isokit_engine::{DockerHost, Engine, EngineError, SshDestination, TlsFiles};
use isokit_testkit::engine_reach::{TlsEngine, free_port, write_docker_cert_path};
use isokit_testkit::{TestCa, unique_name};
use isokit_ui::Ui;

/// The stand-in's address with the TLS files of `folder`.
fn tls_host(engine: &TlsEngine, folder: &Path, client_certificate: bool) -> DockerHost {
    DockerHost::Tls {
        host: "127.0.0.1".into(),
        port: engine.port,
        tls: TlsFiles {
            ca: Some(folder.join("ca.pem")),
            client: client_certificate.then(|| (folder.join("cert.pem"), folder.join("key.pem"))),
            verify_server: true,
        },
    }
}

/// The TLS stand-in, and a DOCKER_CERT_PATH of the same CA for it.
fn stand_in_with_certificates() -> (TlsEngine, tempfile::TempDir) {
    let ca = TestCa::new("isokit engine TLS test");
    let certs = tempfile::tempdir().expect("certificate folder");
    write_docker_cert_path(&ca, certs.path());
    (TlsEngine::start(&ca), certs)
}

/// The error and its causes, as the binary prints them.
fn chain(error: &EngineError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        text.push_str(&format!("\n  caused by: {current}"));
        cause = current.source();
    }
    text
}

#[tokio::test]
async fn over_tls_with_a_client_certificate_an_image_is_built_and_pushed() {
    let (stand_in, certs) = stand_in_with_certificates();
    let host = tls_host(&stand_in, certs.path(), true);
    host.check_carries_credentials()
        .expect("TLS may carry the token");
    let engine = Engine::connect_to(host)
        .await
        .unwrap_or_else(|error| panic!("connect over TLS: {}", chain(&error)));

    let registry = TestRegistry::start();
    let mut images = Images::default();
    let repository = format!("isokit/{}", unique_name("tls"));
    build_for(&engine, &mut images, &registry, &repository, "v1").await;
    let pushed = engine
        .push(&push_options(&registry, &repository, "v1"), &Ui::quiet())
        .await
        .unwrap_or_else(|error| panic!("push over TLS: {}", chain(&error)));
    assert_eq!(
        registry.manifest_digest(&repository, "v1").await,
        pushed.digest
    );
}

#[tokio::test]
async fn a_daemon_certificate_another_ca_signed_fails_the_handshake() {
    let stand_in = TlsEngine::start(&TestCa::new("the daemon's CA"));
    let certs = tempfile::tempdir().expect("certificate folder");
    write_docker_cert_path(&TestCa::new("another CA"), certs.path());
    let error = Engine::connect_to(tls_host(&stand_in, certs.path(), true))
        .await
        .expect_err("a certificate of an unknown CA");
    let text = chain(&error);
    assert!(
        matches!(error, EngineError::TlsHandshake { .. })
            && text.contains(&format!(
                "the TLS handshake with the Docker daemon at tcp://127.0.0.1:{} (TLS) failed",
                stand_in.port
            ))
            && text.contains("UnknownIssuer"),
        "{text}"
    );
}

#[tokio::test]
async fn a_daemon_that_wants_a_client_certificate_refuses_a_client_without_one() {
    let (stand_in, certs) = stand_in_with_certificates();
    let error = Engine::connect_to(tls_host(&stand_in, certs.path(), false))
        .await
        .expect_err("no client certificate");
    let text = chain(&error);
    assert!(
        matches!(error, EngineError::TlsHandshake { .. }) && text.contains("cert.pem"),
        "{text}"
    );
}

#[tokio::test]
async fn an_ssh_host_that_refuses_is_named_with_the_command_to_check_it() {
    let port = free_port();
    let host = DockerHost::Ssh(SshDestination {
        user: Some("root".into()),
        host: "127.0.0.1".into(),
        port: Some(port),
    });
    let error = Engine::connect_to(host)
        .await
        .expect_err("nothing listens there");
    let text = chain(&error);
    assert!(
        text.contains(&format!(
            "cannot reach the Docker daemon through SSH at ssh://root@127.0.0.1:{port}: check \
             that `ssh -p {port} root@127.0.0.1 docker version` works"
        )) && text.contains("Connection refused"),
        "{text}"
    );
}
