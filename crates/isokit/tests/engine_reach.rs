//! `isokit push` reaching the engine the ways the docker CLI does, through
//! the binary: `DOCKER_HOST=tcp://` with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH` (a TLS stand-in on loopback that verifies client
//! certificates, in front of the engine's socket), `DOCKER_HOST=ssh://` (a
//! throwaway sshd on loopback), and Docker contexts made by the Debian
//! 20.10 CLI itself (`/usr/bin/docker context create`), chosen by
//! `DOCKER_CONTEXT` or by `docker context use`.

use std::path::{Path, PathBuf};
use std::process::Command;

use isokit_testkit::engine_reach::{Sshd, TlsEngine, free_port, write_docker_cert_path};
use isokit_testkit::{Isokit, LocalAws, Run, TestCa, building, path_text, unique_name};

const ISOKIT: &str = env!("CARGO_BIN_EXE_isokit");
/// The Debian CLI, whose context layout isokit reads (`/usr/local/bin/docker`
/// is a newer one).
const DOCKER_20_10: &str = "/usr/bin/docker";

fn hello() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/push/hello")
}

/// The binary with none of this machine's engine settings.
fn isokit() -> Isokit {
    Isokit::new(ISOKIT)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_CONFIG")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
}

/// One test's ECR repository, removed with the engine's images of it when
/// the test ends.
struct Repository {
    local: LocalAws,
    name: String,
}

impl Repository {
    fn new(what: &str) -> Repository {
        Repository {
            local: LocalAws::require(),
            name: unique_name(&format!("isokit-reach-{what}")),
        }
    }

    /// `isokit push` of the hello fixture into this repository.
    fn push(&self, isokit: &Isokit) -> Run {
        let _build = building();
        let run = isokit.run([
            "push",
            "--context",
            path_text(&hello()),
            "--repo",
            &self.name,
        ]);
        self.local.assert_no_token("stdout", &run.stdout);
        self.local.assert_no_token("stderr", &run.stderr);
        run
    }

    /// Checks that the push succeeded and ECR lists what it printed.
    fn assert_pushed(&self, run: &Run) {
        run.assert_success();
        let pinned = run.stdout.lines().next().expect("a pinned URI");
        assert!(pinned.contains(&self.name), "{run:#?}");
        self.local.await_pinned(pinned);
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        let _ = Command::new("aws")
            .args(["ecr", "delete-repository", "--force", "--repository-name"])
            .arg(&self.name)
            .output();
        let listed = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .arg(format!("{}/{}", self.local.registry(), self.name))
            .output();
        if let Ok(listed) = listed {
            for image in String::from_utf8_lossy(&listed.stdout).lines() {
                let _ = Command::new("docker").args(["rmi", image]).output();
            }
        }
    }
}

/// The TLS stand-in and a DOCKER_CERT_PATH for it.
struct Tls {
    engine: TlsEngine,
    certs: tempfile::TempDir,
}

impl Tls {
    fn start() -> Tls {
        let ca = TestCa::new("isokit engine TLS test");
        let engine = TlsEngine::start(&ca);
        let certs = tempfile::tempdir().expect("certificate folder");
        write_docker_cert_path(&ca, certs.path());
        Tls { engine, certs }
    }

    fn isokit(&self) -> Isokit {
        isokit()
            .env("DOCKER_HOST", self.engine.docker_host())
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", path_text(self.certs.path()))
    }
}

#[test]
fn a_push_reaches_the_engine_over_tls_with_docker_tls_verify() {
    let tls = Tls::start();
    let repository = Repository::new("tls");
    let run = repository.push(&tls.isokit());
    repository.assert_pushed(&run);
}

#[test]
fn missing_tls_certificates_are_named_with_docker_cert_path() {
    let tls = Tls::start();
    std::fs::remove_file(tls.certs.path().join("cert.pem")).expect("remove cert.pem");
    let repository = Repository::new("tls-missing");
    let run = repository.push(&tls.isokit());
    let folder = path_text(tls.certs.path());
    run.assert_error(&format!(
        "error: DOCKER_TLS_VERIFY is set, but {folder}/cert.pem is missing: put the CA \
         certificate that signed the daemon's (ca.pem), the client certificate (cert.pem) and \
         its key (key.pem) in the DOCKER_CERT_PATH folder ({folder})"
    ));
    assert_eq!(run.code, Some(1), "{run:#?}");
}

#[test]
fn a_daemon_certificate_of_another_ca_fails_clearly() {
    let tls = Tls::start();
    write_docker_cert_path(&TestCa::new("another CA"), tls.certs.path());
    let repository = Repository::new("tls-wrong-ca");
    let run = repository.push(&tls.isokit());
    run.assert_error(&format!(
        "error: the TLS handshake with the Docker daemon at tcp://127.0.0.1:{} (TLS) failed: \
         check that the daemon's certificate is signed by ca.pem",
        tls.engine.port
    ));
    assert!(run.stderr.contains("UnknownIssuer"), "{run:#?}");
    assert_eq!(run.code, Some(1), "{run:#?}");
}

#[test]
fn a_push_reaches_the_engine_over_ssh() {
    let sshd = Sshd::start();
    let repository = Repository::new("ssh");
    let run = repository.push(
        &isokit()
            .env("DOCKER_HOST", sshd.docker_host())
            .env("PATH", sshd.path()),
    );
    assert!(run.success(), "{run:#?}\nsshd: {}", sshd.log());
    repository.assert_pushed(&run);
}

#[test]
fn an_ssh_host_that_refuses_is_named_with_the_command_to_check_it() {
    let port = free_port();
    let repository = Repository::new("ssh-refused");
    let run = repository.push(&isokit().env("DOCKER_HOST", format!("ssh://root@127.0.0.1:{port}")));
    run.assert_error(&format!(
        "error: cannot reach the Docker daemon through SSH at ssh://root@127.0.0.1:{port}: check \
         that `ssh -p {port} root@127.0.0.1 docker version` works from this machine"
    ));
    assert!(run.stderr.contains("Connection refused"), "{run:#?}");
    assert_eq!(run.code, Some(1), "{run:#?}");
}

/// A throwaway DOCKER_CONFIG that the 20.10 CLI fills.
struct DockerConfig(tempfile::TempDir);

impl DockerConfig {
    fn new() -> DockerConfig {
        DockerConfig(tempfile::tempdir().expect("DOCKER_CONFIG"))
    }

    fn docker(&self, args: &[&str]) {
        let output = Command::new(DOCKER_20_10)
            .args(args)
            .env("DOCKER_CONFIG", self.0.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run the Debian docker CLI");
        assert!(
            output.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `docker context create NAME --docker host=...` with the TLS stand-in's files.
    fn create_tls_context(&self, name: &str, tls: &Tls) {
        let file = |name: &str| tls.certs.path().join(name).display().to_string();
        let endpoint = format!(
            "host={},ca={},cert={},key={}",
            tls.engine.docker_host(),
            file("ca.pem"),
            file("cert.pem"),
            file("key.pem")
        );
        self.docker(&["context", "create", name, "--docker", &endpoint]);
    }

    fn isokit(&self) -> Isokit {
        isokit().env("DOCKER_CONFIG", path_text(self.0.path()))
    }
}

#[test]
fn a_context_named_by_docker_context_is_used_with_its_tls_material() {
    let tls = Tls::start();
    let config = DockerConfig::new();
    config.create_tls_context("isokit-reach-tls", &tls);
    // The context holds copies: the originals are gone.
    drop(tls.certs);
    let repository = Repository::new("context");
    let run = repository.push(&config.isokit().env("DOCKER_CONTEXT", "isokit-reach-tls"));
    repository.assert_pushed(&run);

    let run = repository.push(
        &config
            .isokit()
            .env("DOCKER_CONTEXT", "isokit-reach-missing"),
    );
    run.assert_error(
        "error: Docker context isokit-reach-missing (named by DOCKER_CONTEXT) does not exist",
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
}

#[test]
fn the_current_context_of_docker_context_use_is_used_and_docker_host_overrides_it() {
    let tls = Tls::start();
    let config = DockerConfig::new();
    config.create_tls_context("isokit-reach-current", &tls);
    config.docker(&["context", "use", "isokit-reach-current"]);
    let repository = Repository::new("current-context");
    let run = repository.push(&config.isokit());
    repository.assert_pushed(&run);

    let missing_socket = "unix:///nonexistent/isokit-reach.sock";
    config.docker(&[
        "context",
        "create",
        "isokit-reach-nowhere",
        "--docker",
        &format!("host={missing_socket}"),
    ]);
    config.docker(&["context", "use", "isokit-reach-nowhere"]);
    let run = repository.push(&config.isokit());
    run.assert_error(&format!(
        "error: cannot reach the Docker daemon at {missing_socket}"
    ));
    // DOCKER_HOST comes before any context.
    let run = repository.push(
        &config
            .isokit()
            .env("DOCKER_HOST", "unix:///var/run/docker.sock"),
    );
    repository.assert_pushed(&run);
}
