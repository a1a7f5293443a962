//! Test support shared by the integration tests: finding the local AWS that
//! `scripts/local-aws` runs, running the real `isokit` binary against it,
//! asking standard clients (the AWS CLI, curl) what the emulated AWS holds,
//! reaching the engine over TLS and SSH on loopback, and naming things so
//! that tests running at the same time never collide.
//! Never a dependency of the product.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

mod ca;
pub mod engine_reach;
pub mod processes;
mod stage;

pub use ca::{Leaf, TestCa};
pub use stage::Stage;

const HOW_TO_START: &str = "the local AWS is not in this environment: start it with \
    `scripts/local-aws up && eval \"$(scripts/local-aws env)\"`, or run the whole suite with `scripts/test`";

/// The local AWS as `scripts/local-aws env` describes it.
#[derive(Debug, Clone)]
pub struct LocalAws {
    pub endpoint_url: String,
    pub ca_bundle: PathBuf,
    pub region: String,
    pub account: String,
    /// The folder `scripts/local-aws` keeps its state in.
    pub state_dir: PathBuf,
}

impl LocalAws {
    /// The local AWS this test runs against. Panics with instructions when
    /// the environment does not describe one: such a test must fail, never
    /// pass silently.
    pub fn require() -> LocalAws {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("{HOW_TO_START} ({name} is not set)"))
        };
        let local = LocalAws {
            endpoint_url: var("AWS_ENDPOINT_URL"),
            ca_bundle: PathBuf::from(var("AWS_CA_BUNDLE")),
            region: var("AWS_REGION"),
            account: var("ISOKIT_LOCAL_AWS_ACCOUNT"),
            state_dir: PathBuf::from(var("ISOKIT_LOCAL_AWS")),
        };
        assert!(
            local.ca_bundle.is_file(),
            "{HOW_TO_START} (no CA bundle at {})",
            local.ca_bundle.display()
        );
        local
    }

    /// The host name the local registry answers as, like ECR's.
    pub fn registry(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com", self.account, self.region)
    }

    /// The registry password the emulated ECR token carries.
    pub fn token_password(&self) -> String {
        format!("{}-auth-token", self.account)
    }

    /// The token as GetAuthorizationToken returns it: base64 of `AWS:password`.
    pub fn token(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("AWS:{}", self.token_password()))
    }

    /// Panics if the ECR token, in either form, appears in `text`.
    pub fn assert_no_token(&self, what: &str, text: &str) {
        for secret in [self.token(), self.token_password()] {
            assert!(
                !text.contains(&secret),
                "the ECR token appears in {what}:\n{text}"
            );
        }
    }

    /// Checks what `isokit` left under its HOME: a push's layer cache
    /// (digests and sizes, never the token) and nothing else; `what` says
    /// which run, for the failure.
    pub fn assert_home_holds_only_the_layer_cache(&self, isokit: &Isokit, what: &dyn fmt::Debug) {
        let cache = Path::new(".cache/isokit/layers");
        let (cached, elsewhere): (Vec<PathBuf>, Vec<PathBuf>) = isokit
            .home_contents()
            .into_iter()
            .filter(|path| !cache.starts_with(path))
            .partition(|path| path.starts_with(cache) && path.extension().is_some());
        for file in &cached {
            let written = std::fs::read_to_string(isokit.home().join(file)).unwrap_or_default();
            self.assert_no_token("the layer cache", &written);
        }
        assert!(
            elsewhere.is_empty(),
            "isokit wrote under HOME beside its layer cache: {elsewhere:?}\n{what:#?}"
        );
    }

    /// Runs the AWS CLI of the local AWS's virtualenv and parses its JSON
    /// answer; panics, with its error, when it fails.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new("aws")
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run the AWS CLI (is the local AWS's PATH set?): {err}")
            });
        assert!(
            output.status.success(),
            "aws {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!(
                "aws {} printed no JSON ({err}): {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// One of a stack's lists as DescribeStacks reports it (`Parameters`,
    /// `Outputs`), as a map of keys to values.
    pub fn stack_values(&self, stack: &str, list: &str) -> BTreeMap<String, String> {
        let described = self.aws(&["cloudformation", "describe-stacks", "--stack-name", stack]);
        let item = list.trim_end_matches('s');
        key_value_pairs(
            &described["Stacks"][0][list],
            &format!("{item}Key"),
            &format!("{item}Value"),
        )
    }

    /// A deployed service, as DescribeServices reports it, found by the
    /// stack outputs that name it and its cluster.
    pub fn service(&self, outputs: &BTreeMap<String, String>) -> serde_json::Value {
        let mut described = self.aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            &outputs["ClusterName"],
            "--services",
            &outputs["ServiceName"],
        ]);
        described["services"][0].take()
    }

    /// Waits until the ECR API lists `repository` at `image`, a tag or a
    /// `sha256:` digest. The local registry tells moto of a push through
    /// the ecr-bridge a moment after answering the push, where in AWS the
    /// registry and the API are one service: a test that asks ECR about
    /// an image it has just pushed waits for that moment first.
    pub fn await_listed(&self, repository: &str, image: &str) {
        let image_id = if image.starts_with("sha256:") {
            format!("imageDigest={image}")
        } else {
            format!("imageTag={image}")
        };
        let args = [
            "ecr",
            "describe-images",
            "--repository-name",
            repository,
            "--image-ids",
            &image_id,
        ];
        for _ in 0..100 {
            if aws_finds("ImageNotFoundException", &args) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("ECR does not list {repository} at {image} 10 s after the push");
    }

    /// [`LocalAws::await_listed`] for a pinned URI as `isokit push` prints
    /// it: `<registry>/<repository>@sha256:...`.
    pub fn await_pinned(&self, pinned: &str) {
        let (name, digest) = pinned
            .split_once('@')
            .unwrap_or_else(|| panic!("{pinned} is not pinned to a digest"));
        let repository = name
            .strip_prefix(&format!("{}/", self.registry()))
            .unwrap_or_else(|| panic!("{pinned} is not in the local registry"));
        self.await_listed(repository, digest);
    }

    /// The digest the registry serves for `repository:tag` (its
    /// `Docker-Content-Digest`), asked with curl and the token, or `None`
    /// when it holds no such manifest.
    pub fn registry_digest(&self, repository: &str, tag: &str) -> Option<String> {
        let url = format!(
            "https://{}/v2/{repository}/manifests/{tag}",
            self.registry()
        );
        // The credentials reach curl on stdin, never on its command line.
        let mut child = Command::new("curl")
            .args(["-sS", "-I", "--cacert"])
            .arg(&self.ca_bundle)
            .args([
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
                "-K",
                "-",
                &url,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run curl");
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("curl's stdin");
            writeln!(stdin, "user = \"AWS:{}\"", self.token_password()).expect("write to curl");
        }
        let output = child.wait_with_output().expect("curl finishes");
        let headers = String::from_utf8_lossy(&output.stdout);
        if !headers.starts_with("HTTP/1.1 200") && !headers.starts_with("HTTP/2 200") {
            return None;
        }
        headers.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("docker-content-digest")
                .then(|| value.trim().to_owned())
        })
    }
}

/// What a run of the `isokit` binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics, showing the run, unless it exited 0.
    pub fn assert_success(&self) -> &Run {
        assert!(self.success(), "isokit failed: {self:#?}");
        self
    }

    /// Panics unless it failed with an `error:` line on stderr that contains
    /// `needle`, nothing on stdout, and no backtrace.
    pub fn assert_error(&self, needle: &str) -> &Run {
        assert!(
            !self.success(),
            "isokit succeeded, expected an error containing {needle:?}: {self:#?}"
        );
        assert!(self.stderr.contains("error: "), "no error line: {self:#?}");
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in stderr: {self:#?}"
        );
        assert!(
            self.stdout.trim().is_empty(),
            "an error printed a result: {self:#?}"
        );
        assert!(
            !self.stderr.contains("stack backtrace"),
            "a backtrace reached the user: {self:#?}"
        );
        self
    }

    /// The JSON document printed with `--output json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }
}

/// A second moto, from the local AWS's own install and with its patches,
/// that enforces IAM as AWS does (the shared one lets every call through),
/// on a loopback port of its own, with one IAM user who may do nothing, or
/// only what it is allowed. Stopped when dropped.
#[derive(Debug)]
pub struct StrictAws {
    server: std::process::Child,
    pub endpoint_url: String,
    /// The access key of the user without permissions.
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl StrictAws {
    /// Starts it and creates the user. moto lets the first
    /// `INITIAL_NO_AUTH_ACTION_COUNT` requests through unchecked: exactly the
    /// two that create the user and its key.
    pub fn start(local: &LocalAws) -> StrictAws {
        StrictAws::start_allowing(local, &[])
    }

    /// [`StrictAws::start`], with a user allowed exactly `actions` (such as
    /// `iam:GetRole`) on every resource, by a policy of its own: a third
    /// request let through unchecked.
    pub fn start_allowing(local: &LocalAws, actions: &[&str]) -> StrictAws {
        let bin = local.state_dir.join("venv/bin");
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/moto-server.py");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let unchecked = if actions.is_empty() { "2" } else { "3" };
        let server = Command::new(bin.join("python"))
            .arg(&launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", unchecked)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{HOW_TO_START} (cannot start moto-server.py: {err})"));
        let mut strict = StrictAws {
            server,
            endpoint_url: format!("http://127.0.0.1:{port}"),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto-server.py did not listen on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let create_user = "import boto3, json, sys\n\
            iam = boto3.client('iam', endpoint_url=sys.argv[1], region_name=sys.argv[2], \
            aws_access_key_id='setup', aws_secret_access_key='setup')\n\
            iam.create_user(UserName='isokit-nobody')\n\
            key = iam.create_access_key(UserName='isokit-nobody')['AccessKey']\n\
            actions = sys.argv[3:]\n\
            if actions:\n    \
                iam.put_user_policy(UserName='isokit-nobody', PolicyName='allowed', \
                PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': \
                [{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}]}))\n\
            print(key['AccessKeyId'], key['SecretAccessKey'])\n";
        let output = Command::new(bin.join("python"))
            .args(["-c", create_user, &strict.endpoint_url, &local.region])
            .args(actions)
            .output()
            .expect("run the venv's python");
        assert!(
            output.status.success(),
            "cannot create the IAM user: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        let (id, secret) = printed
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("no access key in {printed:?}"));
        strict.access_key_id = id.to_owned();
        strict.secret_access_key = secret.to_owned();
        strict
    }

    /// `isokit` sent to this moto as the user without permissions.
    pub fn as_nobody(&self, isokit: Isokit) -> Isokit {
        isokit
            .env("AWS_ENDPOINT_URL", self.endpoint_url.clone())
            .env("AWS_ACCESS_KEY_ID", self.access_key_id.clone())
            .env("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone())
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
    }
}

impl Drop for StrictAws {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The `isokit` binary under test, run with an empty `HOME` of its own so
/// that a test can prove nothing was written there.
#[derive(Debug)]
pub struct Isokit {
    program: PathBuf,
    home: tempfile::TempDir,
    current_dir: Option<PathBuf>,
    env: Vec<(String, Option<String>)>,
}

impl Isokit {
    /// `program` is `env!("CARGO_BIN_EXE_isokit")` of the calling test.
    pub fn new(program: impl Into<PathBuf>) -> Isokit {
        Isokit {
            program: program.into(),
            home: tempfile::tempdir().expect("temporary HOME"),
            current_dir: None,
            env: Vec::new(),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Isokit {
        self.current_dir = Some(dir.into());
        self
    }

    /// Sets a variable for every run.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Isokit {
        self.env.push((name.to_owned(), Some(value.into())));
        self
    }

    /// Removes an inherited variable for every run.
    pub fn env_remove(mut self, name: &str) -> Isokit {
        self.env.push((name.to_owned(), None));
        self
    }

    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.command(args).output().expect("run isokit");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts isokit for a test that watches its stderr and interrupts it.
    pub fn spawn<I, S>(&self, args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start isokit");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        Running { child, stderr }
    }

    /// The command [`Isokit::run`] runs.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("RUST_BACKTRACE");
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Every file and folder under the run's HOME, relative to it.
    pub fn home_contents(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, root: &Path, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                found.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
                if path.is_dir() {
                    walk(&path, root, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(self.home.path(), self.home.path(), &mut found);
        found
    }
}

/// Builds hold this for reading, removals of images for writing. The
/// engine's classic builder reuses cached steps that other tests' images
/// share, and lists every image before reading each one: an image removed
/// meanwhile fails the build (`unable to find image "sha256:…"`, or `failed
/// to get digest` for a cached parent). Tests of one binary, which run in
/// parallel, must not do that to each other.
static ENGINE_IMAGES: RwLock<()> = RwLock::new(());

/// Held while a test builds an image.
pub fn building() -> RwLockReadGuard<'static, ()> {
    ENGINE_IMAGES.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held while a test removes images.
pub fn removing_images() -> RwLockWriteGuard<'static, ()> {
    ENGINE_IMAGES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Removes the images `docker images SELECTOR…` lists (a repository, or
/// `--filter label=…`), best effort, while no test of this binary builds.
/// By name, not ID: another test's image may have the same ID.
pub fn remove_local_images(selector: &[&str]) {
    let Ok(listed) = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .args(selector)
        .output()
    else {
        return;
    };
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|name| !name.contains("<none>"))
        .map(str::to_owned)
        .collect();
    if !names.is_empty() {
        let _removing = removing_images();
        let _ = Command::new("docker")
            .args(["rmi", "--force"])
            .args(&names)
            .output();
    }
}

/// Runs the docker CLI, which must succeed; its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A file of an image built on the static busybox of [`busybox_context_of`],
/// read by running the image without a network; trimmed.
pub fn busybox_cat(image: &str, path: &str) -> String {
    docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/busybox",
        image,
        "cat",
        path,
    ])
}

/// `push`'s words for building `context` into `repository:tag`.
pub fn context_repo_tag<'a>(context: &'a Path, repository: &'a str, tag: &'a str) -> [&'a str; 6] {
    [
        "--context",
        path_text(context),
        "--repo",
        repository,
        "--tag",
        tag,
    ]
}

/// A test path as text (the tests' paths are UTF-8).
pub fn path_text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// An isokit started by [`Isokit::spawn`].
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Running {
    /// Reads stderr up to and including the first line that is `ready`, or
    /// to its end if none is; returns what it read.
    pub fn stderr_until(&mut self, ready: impl Fn(&str) -> bool) -> String {
        let mut seen = String::new();
        let mut line = String::new();
        while self.stderr.read_line(&mut line).expect("read stderr") > 0 {
            seen.push_str(&line);
            if ready(&line) {
                break;
            }
            line.clear();
        }
        seen
    }

    /// Sends SIGINT to isokit alone, as `kill -INT` does, and waits for it:
    /// how it exited, and the rest of its stderr.
    pub fn interrupt(self) -> (std::process::ExitStatus, String) {
        self.signal("INT")
    }

    /// Sends `signal` (a name `kill` knows: `INT`, `TERM`, `HUP`) to isokit
    /// alone and waits for it: how it exited, and the rest of its stderr.
    pub fn signal(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let signalled = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(signalled.success(), "kill -{signal} failed");
        let status = self.child.wait().expect("isokit stops");
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read stderr");
        (status, rest)
    }

    /// isokit's process ID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for isokit to end by itself: how it exited, and the rest of
    /// its stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read stderr");
        let status = self.child.wait().expect("isokit stops");
        (status, rest)
    }
}

/// A test that fails before it stops isokit must not leave it running.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A name no other test, in this process or another, is using right now:
/// `<prefix>-<pid>-<counter><time>`, lower-case so that it is a valid
/// repository, container, network or stack name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{count}{:x}",
        std::process::id(),
        nanos % 0x1000
    )
}

/// Asserts that an endpoint of a rehearsal report answered, and only with
/// addresses inside `subnet` (an IPv4 CIDR such as `10.0.128.0/18`): the
/// stand-ins live on the rehearsal's private subnet.
pub fn assert_answers_inside(endpoint: &serde_json::Value, subnet: &str) {
    let (network, prefix) = subnet
        .split_once('/')
        .and_then(|(address, prefix)| {
            Some((
                address.parse::<Ipv4Addr>().ok()?,
                prefix.parse::<u32>().ok()?,
            ))
        })
        .unwrap_or_else(|| panic!("{subnet} is not an IPv4 CIDR"));
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    let addresses = endpoint["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!addresses.is_empty(), "no addresses: {endpoint:#}");
    for address in addresses {
        let inside = address
            .as_str()
            .and_then(|text| text.parse::<Ipv4Addr>().ok())
            .is_some_and(|ip| u32::from(ip) & mask == u32::from(network) & mask);
        assert!(inside, "{address} is outside {subnet}: {endpoint:#}");
    }
}

/// The repository's root: the build context of the top-level `Dockerfile`.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const HOW_TO_BUILD_THE_SERVICE: &str = "these tests need the isokit-service image: build it with \
    `export ISOKIT_SERVICE_IMAGE=$(scripts/build-service-image)`, or run the whole suite with `scripts/test`";

/// The isokit-service image the tests use as a task and as stand-ins, named
/// by `ISOKIT_SERVICE_IMAGE` (scripts/test builds it and sets it), with its
/// binary staged at `dist/isokit-service` so that the top-level Dockerfile
/// builds. Panics with instructions otherwise.
pub fn service_image() -> String {
    let image = std::env::var("ISOKIT_SERVICE_IMAGE")
        .unwrap_or_else(|_| panic!("{HOW_TO_BUILD_THE_SERVICE} (ISOKIT_SERVICE_IMAGE is not set)"));
    assert!(
        repository_root().join("dist/isokit-service").is_file(),
        "{HOW_TO_BUILD_THE_SERVICE} (dist/isokit-service is missing)"
    );
    image
}

/// Which builder a parity test's docker CLI build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliBuilder {
    /// `DOCKER_BUILDKIT=0 docker build`.
    Classic,
    /// `DOCKER_BUILDKIT=1 /usr/bin/docker build`: the 20.10 CLI that the
    /// local AWS installs with its engine, a BuildKit client of its own (a
    /// newer CLI wants the buildx plugin for BuildKit).
    BuildKit,
}

/// Builds `context` with the docker CLI (the peer that parity tests compare
/// isokit with) and panics with its output if it fails.
///
/// The classic builder of moby 20.10 lists every image while it looks for
/// cached steps and then reads each: an image removed in between (by a test
/// running beside this one) fails the build with `unable to find image`.
/// That race is the engine's, not the build's, so it is retried.
pub fn docker_cli_build(builder: CliBuilder, dockerfile: &Path, context: &Path, tag: &str) {
    let (program, buildkit) = match builder {
        CliBuilder::Classic => ("docker", "0"),
        CliBuilder::BuildKit => ("/usr/bin/docker", "1"),
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let built = Command::new(program)
            .env("DOCKER_BUILDKIT", buildkit)
            .args(["build", "--quiet", "--tag", tag, "--file"])
            .arg(dockerfile)
            .arg(context)
            .output()
            .expect("run docker build");
        let stderr = String::from_utf8_lossy(&built.stderr);
        if built.status.success() {
            return;
        }
        assert!(
            attempts < 3 && stderr.contains("unable to find image \"sha256:"),
            "docker build ({builder:?}) failed: {stderr}"
        );
    }
}

/// Checks that none of `secrets` is anywhere in the image as `docker save`
/// writes it: its layers, config and history.
pub fn assert_image_holds_none_of(image: &str, secrets: &[&str]) {
    let saved = Command::new("docker")
        .args(["save", image])
        .output()
        .expect("docker save");
    assert!(
        saved.status.success(),
        "docker save {image}: {}",
        String::from_utf8_lossy(&saved.stderr)
    );
    for secret in secrets {
        assert!(
            !saved
                .stdout
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "{image} holds the secret {secret:?} in its layers, config or history"
        );
    }
}

/// The paths an image holds under `prefix`, each with its type as `docker
/// export` shows it (`d` directory, `f` file, `l` symbolic link, `h` hard link).
pub fn exported_paths(image: &str, prefix: &str) -> Vec<(String, char)> {
    let created = Command::new("docker")
        .args(["create", image, "unused"])
        .output()
        .expect("docker create");
    assert!(
        created.status.success(),
        "docker create {image}: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let container = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let exported = Command::new("docker")
        .args(["export", &container])
        .output()
        .expect("docker export");
    let _ = Command::new("docker")
        .args(["rm", "--force", &container])
        .output();
    assert!(
        exported.status.success(),
        "docker export: {}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let mut archive = tar::Archive::new(&exported.stdout[..]);
    let mut paths = Vec::new();
    for entry in archive.entries().expect("exported archive") {
        let entry = entry.expect("exported entry");
        let path = String::from_utf8_lossy(&entry.path_bytes())
            .trim_end_matches('/')
            .to_string();
        let Some(inside) = path.strip_prefix(prefix) else {
            continue;
        };
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        if !inside.is_empty() {
            paths.push((inside.trim_start_matches('/').to_string(), kind));
        }
    }
    paths.sort();
    paths
}

/// A build context of a static busybox and `dockerfile`: an image that is
/// not isokit's, whose process does what the Dockerfile tells busybox to.
pub fn busybox_context(dockerfile: &Path) -> tempfile::TempDir {
    busybox_context_of(&std::fs::read_to_string(dockerfile).expect("read the Dockerfile"))
}

/// [`busybox_context`] with the Dockerfile's text.
pub fn busybox_context_of(dockerfile: &str) -> tempfile::TempDir {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "this test needs a static busybox: apt-get install busybox-static (scripts/test does)"
    );
    let context = tempfile::tempdir().expect("build context");
    std::fs::copy(busybox, context.path().join("busybox")).expect("copy busybox");
    std::fs::write(context.path().join("Dockerfile"), dockerfile).expect("write the Dockerfile");
    context
}

/// Runs the AWS CLI: `true` when it succeeds, `false` when it fails with
/// the `not_found` error code (the answer "there is none"). Any other
/// failure, such as a CLI that cannot reach the local AWS, panics with the
/// CLI's own words.
pub fn aws_finds(not_found: &str, args: &[&str]) -> bool {
    let output = Command::new("aws")
        .args(args)
        .output()
        .expect("run the AWS CLI (is the local AWS's PATH set?)");
    if output.status.success() {
        return true;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("({not_found})")),
        "aws {} failed: {stderr}",
        args.join(" ")
    );
    false
}

/// A JSON list of `{key: …, value: …}` objects (stack outputs, parameters,
/// a container's environment) as a map.
pub fn key_value_pairs(
    list: &serde_json::Value,
    key: &str,
    value: &str,
) -> BTreeMap<String, String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list of {key}/{value} pairs: {list}"))
        .iter()
        .map(|pair| {
            let text = |field: &str| {
                pair[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {field} in {pair}"))
                    .to_owned()
            };
            (text(key), text(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_stay_lower_case() {
        let a = unique_name("it");
        let b = unique_name("it");
        assert_ne!(a, b);
        assert_eq!(a, a.to_ascii_lowercase());
        assert!(a.starts_with("it-"));
    }

    #[test]
    fn the_token_is_base64_of_user_and_password() {
        let local = LocalAws {
            endpoint_url: String::new(),
            ca_bundle: PathBuf::new(),
            region: "eu-west-1".into(),
            account: "210987654321".into(),
            state_dir: PathBuf::new(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(local.token())
            .expect("base64");
        assert_eq!(decoded, b"AWS:210987654321-auth-token");
        assert_eq!(
            local.registry(),
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
        );
    }
}
