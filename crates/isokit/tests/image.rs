//! The service image against the bundled task definition: every path the
//! task mounts a volume at exists in the image, as a directory its user owns
//! and may write. On Fargate a volume takes the image's directory with its
//! owner; a path the image lacks is made root's, mode 0755, and the task's
//! non-root user could not write its scratch space.
//!
//! Reads the image named by `ISOKIT_SERVICE_IMAGE` (scripts/test builds it)
//! through the docker client, without starting it.

use std::process::Command;

use isokit_stacks::{ParameterValues, StackSet};

/// What `docker cp` reports of one path in a container's filesystem: the
/// first header of the tar stream it writes.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    directory: bool,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn octal(field: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(field);
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    u32::from_str_radix(digits, 8).unwrap_or_else(|_| panic!("not an octal field: {text:?}"))
}

/// The ustar header at the start of `archive`.
fn first_entry(archive: &[u8]) -> Entry {
    assert!(
        archive.len() >= 512,
        "no tar header: {} bytes",
        archive.len()
    );
    let header = &archive[..512];
    Entry {
        directory: header[156] == b'5',
        mode: octal(&header[100..108]),
        uid: octal(&header[108..116]),
        gid: octal(&header[116..124]),
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker client (is it installed?)")
}

/// A container created from the image and never started, removed on drop.
struct Created(String);

impl Drop for Created {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.0]);
    }
}

/// Every path any mount point of the task definition names, with ECS Exec
/// off and on, and the user the container runs as.
fn mounted_paths_and_user() -> (Vec<String>, String) {
    let stacks = StackSet::bundled();
    let mut paths = Vec::new();
    let mut user = None;
    for exec in ["false", "true"] {
        let values = ParameterValues::new()
            .with("AWS::Region", "us-east-1")
            .with("AWS::AccountId", "123456789012")
            .with("Endpoints", "ecr.api")
            .with("VpcCidr", "10.0.0.0/16")
            .with("ContainerCpu", "256")
            .with("ContainerMemory", "512")
            .with("EnableExecuteCommand", exec);
        let container = stacks.task_container(&values).expect("task definition");
        paths.extend(container.volume_paths);
        user = container.user;
    }
    paths.sort();
    paths.dedup();
    (paths, user.expect("the task definition names its user"))
}

#[test]
fn the_service_image_provides_every_path_the_task_mounts_owned_by_its_user() {
    let image = isokit_testkit::service_image();
    let (paths, user) = mounted_paths_and_user();
    assert!(!paths.is_empty(), "the task definition mounts nothing");
    let (uid, gid) = user.split_once(':').expect("user as uid:gid");
    let (uid, gid): (u32, u32) = (
        uid.parse().expect("numeric uid"),
        gid.parse().expect("numeric gid"),
    );

    let name = format!("isokit-image-test-{}", std::process::id());
    let created = docker(&["create", "--name", &name, &image]);
    assert!(
        created.status.success(),
        "docker create {image}: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let container = Created(name);
    for path in &paths {
        let copied = docker(&["cp", &format!("{}:{path}", container.0), "-"]);
        assert!(
            copied.status.success(),
            "the image has no {path}, which the task definition mounts: {}",
            String::from_utf8_lossy(&copied.stderr)
        );
        let entry = first_entry(&copied.stdout);
        assert!(entry.directory, "{path} is not a directory: {entry:?}");
        assert_eq!(
            (entry.uid, entry.gid),
            (uid, gid),
            "{path} is not owned by the task's user {user}: {entry:?}"
        );
        assert_ne!(
            entry.mode & 0o200,
            0,
            "{path}: its owner cannot write: {entry:?}"
        );
    }
}
