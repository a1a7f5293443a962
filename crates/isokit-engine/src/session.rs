//! The BuildKit session a build runs beside, as `DOCKER_BUILDKIT=1 docker
//! build` opens it: `POST /session` upgraded to HTTP/2, on which the daemon
//! is the gRPC client and isokit serves the build context and the Dockerfile
//! (file sync), the build's secrets, and a health check.
//!
//! The context is served from the listing `isokit-context` prepared, with
//! the same checks as an archive: a file that changed since it was listed
//! (or fingerprinted) is refused, and the build fails naming it.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::{FileSync, FileSyncServer};
use futures_util::Stream;
use hyper_util::rt::TokioExecutor;
use hyper_util::service::TowerToHyperService;
use isokit_context::{BuildContext, ContextError, SyncedKind};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};

use crate::raw;
use crate::{DockerHost, EngineError};

/// The gRPC methods the session serves, announced to the daemon.
const METHODS: [&str; 3] = [
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/grpc.health.v1.Health/Check",
];

/// The names under which BuildKit's Dockerfile frontend asks for the build
/// context and for the Dockerfile's folder.
const CONTEXT_DIR: &str = "context";
const DOCKERFILE_DIR: &str = "dockerfile";

/// File contents go to the daemon in pieces of this size.
const DATA_PIECE: usize = 128 * 1024;

/// Go's `os.FileMode` type bits, which file sync carries in `Stat.mode`.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_STICKY: u32 = 1 << 20;

/// An open session. Dropping it ends the session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    served: JoinHandle<()>,
    /// Why serving the context failed, if it did: the build's error then.
    pub(crate) context_failure: Arc<Mutex<Option<ContextError>>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.served.abort();
    }
}

impl Session {
    /// Opens a session on the daemon at `host` that serves `context` and
    /// `secrets`.
    pub(crate) async fn open(
        host: &DockerHost,
        context: Arc<BuildContext>,
        secrets: BTreeMap<String, SecretSlice<u8>>,
    ) -> Result<Session, EngineError> {
        let id = random_id();
        let root = context.root();
        let name = root
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "context".to_string());
        let mut headers = vec![
            ("X-Docker-Expose-Session-Uuid", id.clone()),
            ("X-Docker-Expose-Session-Name", name),
            // The daemon keeps what it synced under this key, so that the
            // next build of the same folder only transfers what changed.
            (
                "X-Docker-Expose-Session-Sharedkey",
                shared_key(&root.to_string_lossy()),
            ),
        ];
        for method in METHODS {
            headers.push(("X-Docker-Expose-Session-Grpc-Method", method.to_string()));
        }
        let connection = raw::upgrade(host, "/session", "h2c", &headers).await?;

        let context_failure = Arc::new(Mutex::new(None));
        let files = ContextFiles {
            context,
            failure: Arc::clone(&context_failure),
        };
        let routes = Routes::new(HealthServer::new(Healthy))
            .add_service(FileSyncServer::new(files))
            .add_service(SecretsServer::new(BuildSecrets(secrets)));
        let served = tokio::spawn(async move {
            // The daemon is the client on this connection: isokit answers.
            let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(connection, TowerToHyperService::new(routes))
                .await;
            if let Err(error) = served {
                tracing::debug!(?error, "the BuildKit session ended");
            }
        });
        Ok(Session {
            id,
            served,
            context_failure,
        })
    }
}

/// 25 characters unique to this process and moment, as BuildKit's own
/// identifiers look.
fn random_id() -> String {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let mut seed = Sha256::new();
    seed.update(std::process::id().to_le_bytes());
    seed.update(OPENED.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    seed.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
            .to_le_bytes(),
    );
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    seed.finalize()
        .iter()
        .take(25)
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect()
}

/// The same key for every build of the same folder on this machine.
fn shared_key(root: &str) -> String {
    let digest = Sha256::digest(format!("isokit:{root}"));
    hex_string(&digest)
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The session is alive as long as it answers.
struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list is not served"))
    }

    type WatchStream = PacketStream<HealthCheckResponse>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch is not served"))
    }
}

/// The secrets given with `--secret`, by ID.
struct BuildSecrets(BTreeMap<String, SecretSlice<u8>>);

#[tonic::async_trait]
impl Secrets for BuildSecrets {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.0.get(id) {
            Some(secret) => Ok(Response::new(GetSecretResponse {
                data: secret.expose_secret().to_vec(),
            })),
            // BuildKit's own words, which the failed step quotes.
            None => Err(Status::not_found(format!("secret {id} not found"))),
        }
    }
}

type PacketStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The build context and the Dockerfile, served by file sync.
struct ContextFiles {
    context: Arc<BuildContext>,
    failure: Arc<Mutex<Option<ContextError>>>,
}

/// What one file-sync transfer sends: stats in walk order, then the bytes
/// of each file the daemon asks for by its position among the stats.
enum Listing {
    Context(Vec<(Stat, Option<usize>)>),
    Dockerfile(Option<DockerfileServed>),
}

/// The Dockerfile's stat, and its bytes.
type DockerfileServed = (Stat, Arc<[u8]>);

#[tonic::async_trait]
impl FileSync for ContextFiles {
    type DiffCopyStream = PacketStream<Packet>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let values = |key: &str| -> Vec<String> {
            request
                .metadata()
                .get_all(key)
                .iter()
                .filter_map(|value| value.to_str().ok().map(str::to_string))
                .collect()
        };
        let dir = values("dir-name").into_iter().next().unwrap_or_default();
        let include = values("include-patterns");
        let listing = match dir.as_str() {
            CONTEXT_DIR => Listing::Context(
                self.context
                    .synced_entries(&include)
                    .map_err(|error| Status::invalid_argument(error.to_string()))?
                    .into_iter()
                    .map(|entry| {
                        let file = matches!(entry.kind, SyncedKind::File { .. });
                        (stat_of(&entry), file.then_some(entry.index))
                    })
                    .collect(),
            ),
            DOCKERFILE_DIR => Listing::Dockerfile(self.dockerfile_stat(&include)?),
            other => {
                return Err(Status::not_found(format!(
                    "no folder {other} in this session"
                )));
            }
        };
        tracing::debug!(%dir, ?include, "the daemon asks for files");
        // A few pieces in flight: the transfer keeps pace with the daemon, and
        // memory stays flat whatever the context's size.
        let (sender, receiver) = mpsc::channel(4);
        let context = Arc::clone(&self.context);
        let failure = Arc::clone(&self.failure);
        let requests = request.into_inner();
        tokio::spawn(async move {
            if let Err(error) = send_files(listing, &context, requests, &sender).await {
                let message = error.to_string();
                if let Some(slot) = failure.lock().ok().as_deref_mut() {
                    slot.get_or_insert(error);
                }
                let _ = sender
                    .send(Ok(Packet {
                        r#type: PacketType::PacketErr as i32,
                        data: message.into_bytes(),
                        ..Packet::default()
                    }))
                    .await;
            }
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|packet| (packet, receiver))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type TarStreamStream = PacketStream<Packet>;

    async fn tar_stream(
        &self,
        _request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::TarStreamStream>, Status> {
        Err(Status::unimplemented("the tar stream is not served"))
    }
}

impl ContextFiles {
    /// The Dockerfile, alone in its folder, if the daemon's patterns want it.
    fn dockerfile_stat(&self, include: &[String]) -> Result<Option<DockerfileServed>, Status> {
        let wanted = self
            .context
            .dockerfile_wanted(include)
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        let Some(content) = self.context.session_dockerfile().filter(|_| wanted) else {
            return Ok(None);
        };
        Ok(Some((
            Stat {
                path: self.context.dockerfile_in_archive().to_string(),
                mode: 0o644,
                size: content.len() as i64,
                ..Stat::default()
            },
            content.into(),
        )))
    }
}

/// A context entry as fsutil's walker describes it, with owner and group 0
/// as the docker CLI sends them.
fn stat_of(entry: &isokit_context::SyncedEntry<'_>) -> Stat {
    let mut mode = entry.mode & 0o777;
    for (unix, go) in [
        (0o4000, GO_MODE_SETUID),
        (0o2000, GO_MODE_SETGID),
        (0o1000, GO_MODE_STICKY),
    ] {
        if entry.mode & unix != 0 {
            mode |= go;
        }
    }
    let (size, linkname) = match &entry.kind {
        SyncedKind::Directory => {
            mode |= GO_MODE_DIR;
            (0, String::new())
        }
        SyncedKind::File { size } => (*size as i64, String::new()),
        SyncedKind::Symlink { target } => {
            mode |= GO_MODE_SYMLINK;
            (
                target.len() as i64,
                String::from_utf8_lossy(target).into_owned(),
            )
        }
        SyncedKind::HardLink { target } => (0, String::from_utf8_lossy(target).into_owned()),
    };
    Stat {
        path: String::from_utf8_lossy(entry.path).into_owned(),
        mode,
        size,
        mod_time: entry.mtime_seconds * 1_000_000_000 + i64::from(entry.mtime_nanos),
        linkname,
        ..Stat::default()
    }
}

/// One transfer, as fsutil's sender runs it: every stat, then an empty one;
/// then each requested file's bytes, closed by an empty data packet; until
/// the daemon says it is finished.
async fn send_files(
    listing: Listing,
    context: &Arc<BuildContext>,
    mut requests: Streaming<Packet>,
    sender: &mpsc::Sender<Result<Packet, Status>>,
) -> Result<(), ContextError> {
    // The daemon asks for files while the stats are still going out. Its
    // requests are read as they come: HTTP/2 holds small frames left unread
    // against a budget, and closes the connection once it is spent.
    let (requested, mut incoming) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Ok(Some(packet)) = requests.message().await {
            if requested.send(packet).is_err() {
                break;
            }
        }
    });
    let result = answer_requests(listing, context, &mut incoming, sender).await;
    reader.abort();
    result
}

/// [`send_files`] once the daemon's requests arrive on `incoming`.
async fn answer_requests(
    listing: Listing,
    context: &Arc<BuildContext>,
    incoming: &mut mpsc::UnboundedReceiver<Packet>,
    sender: &mpsc::Sender<Result<Packet, Status>>,
) -> Result<(), ContextError> {
    let gone = || ContextError::Archive(std::io::Error::other("the daemon stopped reading"));
    let send = |packet: Packet| async move { sender.send(Ok(packet)).await.map_err(|_| gone()) };
    let stats: Box<dyn Iterator<Item = &Stat> + Send> = match &listing {
        Listing::Context(entries) => Box::new(entries.iter().map(|(stat, _)| stat)),
        Listing::Dockerfile(file) => Box::new(file.iter().map(|(stat, _)| stat)),
    };
    for stat in stats {
        send(Packet {
            r#type: PacketType::PacketStat as i32,
            stat: Some(stat.clone()),
            ..Packet::default()
        })
        .await?;
    }
    send(Packet {
        r#type: PacketType::PacketStat as i32,
        ..Packet::default()
    })
    .await?;

    loop {
        // None: the daemon hung up without a word; nothing more to send.
        let Some(packet) = incoming.recv().await else {
            return Ok(());
        };
        match PacketType::try_from(packet.r#type) {
            Ok(PacketType::PacketReq) => {
                let id = packet.id;
                match &listing {
                    Listing::Context(entries) => {
                        if let Some((_, Some(index))) = entries.get(id as usize) {
                            send_file(context, *index, id, sender).await?;
                        }
                    }
                    Listing::Dockerfile(Some((_, content))) if id == 0 => {
                        for piece in content.chunks(DATA_PIECE) {
                            send(data_packet(id, piece.to_vec())).await?;
                        }
                    }
                    Listing::Dockerfile(_) => {}
                }
                send(data_packet(id, Vec::new())).await?;
            }
            Ok(PacketType::PacketFin) => {
                send(Packet {
                    r#type: PacketType::PacketFin as i32,
                    ..Packet::default()
                })
                .await?;
                return Ok(());
            }
            Ok(PacketType::PacketErr) => {
                tracing::debug!(
                    message = %String::from_utf8_lossy(&packet.data),
                    "the daemon's file sync failed"
                );
                return Ok(());
            }
            _ => {}
        }
    }
}

fn data_packet(id: u32, data: Vec<u8>) -> Packet {
    Packet {
        r#type: PacketType::PacketData as i32,
        id,
        data,
        ..Packet::default()
    }
}

/// Reads one file on a blocking thread and sends it in pieces.
async fn send_file(
    context: &Arc<BuildContext>,
    index: usize,
    id: u32,
    sender: &mpsc::Sender<Result<Packet, Status>>,
) -> Result<(), ContextError> {
    let context = Arc::clone(context);
    let sender = sender.clone();
    let reading = tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0; DATA_PIECE];
        context.read_synced(index, &mut buffer, |piece| {
            // An empty data packet ends the file: an empty piece must not.
            if piece.is_empty() {
                return Ok(());
            }
            sender
                .blocking_send(Ok(data_packet(id, piece.to_vec())))
                .map_err(|_| {
                    ContextError::Archive(std::io::Error::other("the daemon stopped reading"))
                })
        })
    });
    match reading.await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_carry_go_file_modes() {
        let entry = |kind, mode| isokit_context::SyncedEntry {
            index: 0,
            path: b"a/b",
            kind,
            mode,
            mtime_seconds: 2,
            mtime_nanos: 5,
        };
        let dir = stat_of(&entry(SyncedKind::Directory, 0o755));
        assert_eq!(dir.mode, GO_MODE_DIR | 0o755);
        assert_eq!(dir.mod_time, 2_000_000_005);
        let setuid = stat_of(&entry(SyncedKind::File { size: 3 }, 0o4755));
        assert_eq!((setuid.mode, setuid.size), (GO_MODE_SETUID | 0o755, 3));
        let link = stat_of(&entry(SyncedKind::Symlink { target: b"../x" }, 0o777));
        assert_eq!(
            (link.mode, link.linkname.as_str()),
            (GO_MODE_SYMLINK | 0o777, "../x")
        );
        let hard = stat_of(&entry(SyncedKind::HardLink { target: b"first" }, 0o644));
        assert_eq!(
            (hard.mode, hard.size, hard.linkname.as_str()),
            (0o644, 0, "first")
        );
        assert_eq!((hard.uid, hard.gid), (0, 0));
    }

    #[test]
    fn session_ids_differ_and_shared_keys_do_not() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 25);
        assert_eq!(shared_key("/src/app"), shared_key("/src/app"));
        assert_ne!(shared_key("/src/app"), shared_key("/src/other"));
    }
}
