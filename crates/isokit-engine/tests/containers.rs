//! Networks and containers on the real engine, as a rehearsal uses them:
//! an isolated network, a container answering to an alias, another one
//! with its own user, environment and read-only root, logs and exit codes,
//! and everything found again by label and removed; no way from an
//! isolated network to the host; confinement as the engine applies it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Images, Labelled, busybox_image, engine};
use futures_util::StreamExt;
use isokit_engine::{
    Confinement, ContainerOptions, Engine, EngineError, LogSource, NetworkOptions,
};
use isokit_testkit::unique_name;

/// Creates an isolated network named `name` on a /24 of 10.213.0.0/16 that
/// nobody else uses (another engineer's tests may hold some); returns the
/// subnet prefix.
async fn internal_network(
    engine: &Engine,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut options = NetworkOptions {
        name: name.to_owned(),
        isolated: true,
        subnet: None,
        labels: labels.clone(),
    };
    let seed = std::process::id() as usize;
    for offset in 0..64 {
        let third = (seed + offset * 37) % 250 + 2;
        options.subnet = Some(format!("10.213.{third}.0/24"));
        match engine.create_network(&options).await {
            Ok(_) => return format!("10.213.{third}."),
            Err(EngineError::Daemon { message, .. }) if message.contains("overlap") => continue,
            Err(error) => panic!("create network: {error}"),
        }
    }
    panic!("no free /24 left in 10.213.0.0/16")
}

#[tokio::test]
async fn containers_on_an_isolated_network_find_each_other_and_are_cleaned_up_by_label() {
    let engine = engine().await;
    let mut images = Images::default();
    let image = busybox_image(&engine, &mut images).await;
    let run = unique_name("isokit-engine-test-run");
    let labels = BTreeMap::from([("isokit.test.run".to_string(), run.clone())]);
    let label = format!("isokit.test.run={run}");
    let _cleanup = Labelled(label.clone());

    let prefix = internal_network(&engine, &run, &labels).await;

    let server = engine
        .create_container(&ContainerOptions {
            name: format!("{run}-server"),
            image: image.clone(),
            command: Some(vec!["sleep".into(), "60".into()]),
            network: Some(run.clone()),
            network_aliases: vec!["logs.rehearsal.test".into()],
            labels: labels.clone(),
            ..Default::default()
        })
        .await
        .expect("create the server");
    engine
        .start_container(&server)
        .await
        .expect("start the server");

    let script = "echo \"greeting=$GREETING\"; id -u; touch /probe 2>/dev/null || echo read-only root; \
                  nslookup logs.rehearsal.test; echo done >&2; exit 7";
    let client = engine
        .create_container(&ContainerOptions {
            name: format!("{run}-client"),
            image: image.clone(),
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            env: BTreeMap::from([("GREETING".to_string(), "hello from isokit".to_string())]),
            network: Some(run.clone()),
            user: Some("1000:1000".into()),
            read_only_rootfs: true,
            labels: labels.clone(),
            ..Default::default()
        })
        .await
        .expect("create the client");
    engine
        .start_container(&client)
        .await
        .expect("start the client");
    assert_eq!(engine.wait_container(&client).await.expect("wait"), 7);

    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut logs = Box::pin(engine.container_logs(&client, true));
    while let Some(piece) = logs.next().await {
        let piece = piece.expect("log piece");
        match piece.source {
            LogSource::Stdout => stdout.push_str(&piece.text),
            LogSource::Stderr => stderr.push_str(&piece.text),
        }
    }
    assert!(stdout.contains("greeting=hello from isokit"), "{stdout}");
    assert!(stdout.contains("\n1000\n"), "{stdout}");
    assert!(stdout.contains("read-only root"), "{stdout}");
    assert!(
        stdout.contains(&format!("Address: {prefix}")),
        "the alias resolves on the network: {stdout}"
    );
    assert_eq!(stderr.trim(), "done");

    engine
        .stop_container(&server, Duration::from_secs(1))
        .await
        .expect("stop the server");
    assert_ne!(
        engine
            .wait_container(&server)
            .await
            .expect("wait for the server"),
        0
    );

    let mut found = engine
        .containers_labelled(&label)
        .await
        .expect("list containers");
    found.sort();
    let mut created = vec![server.clone(), client.clone()];
    created.sort();
    assert_eq!(found, created);
    assert_eq!(
        engine
            .networks_labelled(&label)
            .await
            .expect("list networks"),
        std::slice::from_ref(&run)
    );

    assert_eq!(
        engine
            .remove_labelled(&label)
            .await
            .expect("remove by label"),
        (2, 1)
    );
    assert!(
        engine
            .containers_labelled(&label)
            .await
            .expect("list containers")
            .is_empty()
    );
    assert!(
        engine
            .networks_labelled(&label)
            .await
            .expect("list networks")
            .is_empty()
    );
    assert!(
        !engine
            .remove_container(&client)
            .await
            .expect("remove again"),
        "already gone"
    );
    assert!(
        !engine.remove_network(&run).await.expect("remove again"),
        "already gone"
    );
}

#[tokio::test]
async fn a_container_from_a_missing_image_says_which() {
    let engine = engine().await;
    let options = ContainerOptions {
        name: unique_name("isokit-engine-test-missing"),
        image: format!("{}:none", unique_name("isokit-engine-test-no-such-image")),
        ..Default::default()
    };
    let error = engine
        .create_container(&options)
        .await
        .expect_err("no such image");
    assert!(
        matches!(&error, EngineError::ImageNotFound { reference } if *reference == options.image),
        "{error:?}"
    );
}

/// Runs `script` in a busybox container to its end; returns its exit code
/// and its output (stdout and stderr together).
async fn run_script(engine: &Engine, options: ContainerOptions, script: &str) -> (i64, String) {
    let container = engine
        .create_container(&ContainerOptions {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..options
        })
        .await
        .expect("create the container");
    engine
        .start_container(&container)
        .await
        .expect("start the container");
    let code = engine.wait_container(&container).await.expect("wait");
    let mut output = String::new();
    let mut logs = Box::pin(engine.container_logs(&container, false));
    while let Some(piece) = logs.next().await {
        output.push_str(&piece.expect("log piece").text);
    }
    (code, output)
}

/// An internal bridge alone leaves the host reachable at the gateway
/// address, where anything the host serves on 0.0.0.0 (a proxy, say)
/// answers: a way out. An isolated network gives the host no address on it.
#[tokio::test]
async fn an_isolated_network_gives_its_containers_no_way_to_the_host() {
    let engine = engine().await;
    let mut images = Images::default();
    let image = busybox_image(&engine, &mut images).await;
    let run = unique_name("isokit-engine-test-host");
    let labels = BTreeMap::from([("isokit.test.run".to_string(), run.clone())]);
    let _cleanup = Labelled(format!("isokit.test.run={run}"));
    let prefix = internal_network(&engine, &run, &labels).await;

    // A server on every address of the host, as a proxy would listen.
    let server = std::net::TcpListener::bind("0.0.0.0:0").expect("listen on the host");
    server.set_nonblocking(true).expect("non-blocking");
    let port = server.local_addr().expect("address").port();
    let gateway = engine
        .network_gateway(&run)
        .await
        .expect("inspect the network")
        .expect("the network has a gateway address");
    assert!(gateway.starts_with(&prefix), "{gateway} in {prefix}0/24");
    let host_bridge = engine
        .network_gateway("bridge")
        .await
        .expect("inspect the default bridge");
    let mut targets = vec![gateway.clone()];
    targets.extend(host_bridge);
    let script: String = targets
        .iter()
        .map(|target| {
            // `-e true` ends the connection as soon as it opens: a
            // connection is proven without waiting on the server.
            format!("if nc -w 3 {target} {port} -e true; then echo reached {target}; else echo blocked {target}; fi; ")
        })
        .collect();
    let (_, output) = run_script(
        &engine,
        ContainerOptions {
            name: format!("{run}-client"),
            image,
            network: Some(run.clone()),
            labels,
            ..Default::default()
        },
        &script,
    )
    .await;
    for target in &targets {
        assert!(
            output.contains(&format!("blocked {target}")),
            "the container reached the host at {target}:\n{output}"
        );
    }
    assert!(
        matches!(server.accept(), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the host's server accepted a connection from the isolated network:\n{output}"
    );
}

/// Strict confinement, as the kernel sees it from inside: no capability
/// even for root, no way to gain one, and the CPU and memory limits.
#[tokio::test]
async fn a_strictly_confined_container_has_no_privileges_and_its_limits() {
    let engine = engine().await;
    let mut images = Images::default();
    let image = busybox_image(&engine, &mut images).await;
    let run = unique_name("isokit-engine-test-confined");
    let labels = BTreeMap::from([("isokit.test.run".to_string(), run.clone())]);
    let _cleanup = Labelled(format!("isokit.test.run={run}"));
    let memory: i64 = 96 * 1024 * 1024;
    let script = "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; \
                  cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  cat /sys/fs/cgroup/cpu.max 2>/dev/null || \
                  echo \"$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)\"";
    let (code, output) = run_script(
        &engine,
        ContainerOptions {
            name: format!("{run}-confined"),
            image: image.clone(),
            user: Some("0:0".into()),
            labels: labels.clone(),
            confinement: Confinement {
                nano_cpus: Some(250_000_000),
                memory_bytes: Some(memory),
                ..Confinement::strict()
            },
            ..Default::default()
        },
        script,
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    assert!(lines.contains(&"CapEff:\t0000000000000000"), "{output}");
    assert!(lines.contains(&"CapBnd:\t0000000000000000"), "{output}");
    assert!(lines.contains(&"NoNewPrivs:\t1"), "{output}");
    assert!(lines.contains(&memory.to_string().as_str()), "{output}");
    assert!(
        lines.contains(&"25000 100000"),
        "a quarter of a CPU: {output}"
    );

    // The engine's own defaults, for contrast: root holds capabilities.
    let (_, unconfined) = run_script(
        &engine,
        ContainerOptions {
            name: format!("{run}-default"),
            image,
            user: Some("0:0".into()),
            labels,
            ..Default::default()
        },
        "grep '^CapEff:' /proc/self/status",
    )
    .await;
    assert!(
        !unconfined.contains("0000000000000000"),
        "the engine's default grants root capabilities: {unconfined}"
    );
}
