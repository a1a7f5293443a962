//! Networks and containers on the real engine, as a rehearsal uses them:
//! an internal network, a container answering to an alias, another one
//! with its own user, environment and read-only root, logs and exit codes,
//! and everything found again by label and removed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Images, Labelled, busybox_image, engine, unique};
use futures_util::StreamExt;
use isokit_engine::{ContainerOptions, Engine, EngineError, LogSource, NetworkOptions};

/// Creates an internal network on a /24 of 10.213.0.0/16 that nobody else
/// uses (another engineer's tests may hold some); returns the subnet prefix.
async fn internal_network(engine: &Engine, options: &mut NetworkOptions) -> String {
    let seed = std::process::id() as usize;
    for offset in 0..64 {
        let third = (seed + offset * 37) % 250 + 2;
        options.subnet = Some(format!("10.213.{third}.0/24"));
        match engine.create_network(options).await {
            Ok(_) => return format!("10.213.{third}."),
            Err(EngineError::Daemon { message, .. }) if message.contains("overlap") => continue,
            Err(error) => panic!("create network: {error}"),
        }
    }
    panic!("no free /24 left in 10.213.0.0/16")
}

#[tokio::test]
async fn containers_on_an_internal_network_find_each_other_and_are_cleaned_up_by_label() {
    let engine = engine().await;
    let mut images = Images::default();
    let image = busybox_image(&engine, &mut images).await;
    let run = unique("isokit-engine-test-run");
    let labels = BTreeMap::from([("isokit.test.run".to_string(), run.clone())]);
    let label = format!("isokit.test.run={run}");
    let _cleanup = Labelled(label.clone());

    let mut network = NetworkOptions {
        name: run.clone(),
        internal: true,
        subnet: None,
        labels: labels.clone(),
    };
    let prefix = internal_network(&engine, &mut network).await;

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
        name: unique("isokit-engine-test-missing"),
        image: format!("{}:none", unique("isokit-engine-test-no-such-image")),
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
