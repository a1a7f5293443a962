//! The Docker Engine reached the ways other than its local socket, set up
//! on loopback for one test: over TLS, through a stand-in that terminates
//! TLS (verifying client certificates against the test CA) in front of the
//! engine's socket, and over SSH, through a throwaway `sshd` whose client
//! settings are the test's own.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TestCa;

/// The engine's socket, which the stand-ins forward to.
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// `ca.pem`, `cert.pem` and `key.pem` as `DOCKER_CERT_PATH` holds them:
/// the CA, and a client certificate it signed.
pub fn write_docker_cert_path(ca: &TestCa, folder: &Path) {
    let client = ca.leaf(&["isokit-test-client".to_owned()]);
    std::fs::create_dir_all(folder).expect("certificate folder");
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("cert.pem", client.cert_pem),
        ("key.pem", client.key_pem),
    ] {
        std::fs::write(folder.join(name), pem).expect("write a certificate file");
    }
}

/// The engine over TLS on `127.0.0.1:port`: a server certificate for
/// 127.0.0.1 signed by the test CA, and only clients whose certificate the
/// CA signed, as a daemon run with `--tlsverify` takes them. Stops when
/// dropped.
#[derive(Debug)]
pub struct TlsEngine {
    pub port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TlsEngine {
    pub fn start(ca: &TestCa) -> TlsEngine {
        let leaf = ca.leaf(&["127.0.0.1".to_owned(), "localhost".to_owned()]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("CA certificate"))
            .expect("trust the test CA");
        let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("server key");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(clients)
            .with_single_cert(chain, key)
            .expect("server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the TLS stand-in");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("address").port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let serve = async {
                    while let Ok((tcp, _)) = listener.accept().await {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            // A refused client certificate ends here, as at a daemon.
                            let Ok(mut tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let Ok(mut engine) =
                                tokio::net::UnixStream::connect(ENGINE_SOCKET).await
                            else {
                                return;
                            };
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                        });
                    }
                };
                tokio::select! {
                    () = serve => {}
                    _ = stopped => {}
                }
            });
        });
        TlsEngine { port, _stop: stop }
    }

    /// `tcp://127.0.0.1:port`
    pub fn docker_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

/// A throwaway `sshd` on `127.0.0.1:port` that lets the test's key in as
/// root, where `docker system dial-stdio` reaches the engine. The client
/// side is an `ssh` first on [`Sshd::path`]: the system's, with an
/// `ssh_config` of the test's own (its key, and the server's host key as
/// the only known host), since ssh reads `~/.ssh` from the password
/// database, not from HOME. Stops when dropped.
#[derive(Debug)]
pub struct Sshd {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Child,
}

impl Sshd {
    pub fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "these tests need an sshd (apt-get install openssh-server; scripts/test installs it)"
        );
        let dir = tempfile::tempdir().expect("sshd folder");
        let path = |name: &str| dir.path().join(name);
        for key in ["host_key", "client_key"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(path(key))
                .status()
                .expect("run ssh-keygen");
            assert!(made.success(), "ssh-keygen failed for {key}");
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).expect("authorized_keys");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n\
             AuthorizedKeysFile {authorized}\nPidFile {pid}\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nAllowUsers root\n",
            host_key = path("host_key").display(),
            authorized = path("authorized_keys").display(),
            pid = path("sshd.pid").display(),
        );
        std::fs::write(path("sshd_config"), config).expect("sshd_config");
        // sshd checks that its privilege separation folder exists.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let log = std::fs::File::create(path("sshd.log")).expect("sshd log");
        let server = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let host_key = std::fs::read_to_string(path("host_key.pub")).expect("host key");
        let mut fields = host_key.split_whitespace();
        let (kind, key) = (
            fields.next().expect("key type"),
            fields.next().expect("key"),
        );
        std::fs::write(
            path("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .expect("known_hosts");
        std::fs::write(
            path("ssh_config"),
            format!(
                "Host 127.0.0.1\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                key = path("client_key").display(),
                known = path("known_hosts").display(),
            ),
        )
        .expect("ssh_config");
        std::fs::create_dir(path("bin")).expect("bin folder");
        let mut wrapper = std::fs::File::create(path("bin/ssh")).expect("ssh wrapper");
        write!(
            wrapper,
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            path("ssh_config").display()
        )
        .expect("write the ssh wrapper");
        std::fs::set_permissions(path("bin/ssh"), std::fs::Permissions::from_mode(0o755))
            .expect("make the wrapper executable");
        let mut sshd = Sshd { port, dir, server };
        sshd.await_listening();
        sshd
    }

    fn await_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!("sshd ended ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ssh://root@127.0.0.1:port`
    pub fn docker_host(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    /// PATH with the test's `ssh` first.
    pub fn path(&self) -> String {
        let inherited = std::env::var("PATH").unwrap_or_default();
        format!("{}:{inherited}", self.bin().display())
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A loopback port nothing listens on (now).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
