//! What the task may do, as Fargate would allow it and no more: no
//! privileged mode, Docker's default capabilities minus those the task
//! definition drops plus the one Fargate lets it add, no way to gain
//! privileges, and the task's CPU and memory as hard limits.
//!
//! The capability list is spelled out rather than left to the engine's
//! default, so that an engine configured with a wider default cannot make
//! a rehearsal looser than Fargate.

use isokit_engine::Confinement;
use isokit_stacks::TaskContainer;

use crate::Error;

/// The capabilities a container holds by default on Docker, which is what
/// ECS's `LinuxParameters.Capabilities` add to and drop from.
const DOCKER_DEFAULT_CAPABILITIES: [&str; 14] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The only capability Fargate lets a task definition add.
const FARGATE_ADDABLE: &str = "SYS_PTRACE";

/// CPU units per vCPU, as ECS counts them.
const UNITS_PER_CPU: u64 = 1024;

/// The confinement of a task's container in a rehearsal.
pub(crate) fn task_confinement(container: &TaskContainer) -> Result<Confinement, Error> {
    if container.privileged {
        return Err(Error::NotOnFargate(
            "the task definition's container is Privileged, which Fargate refuses: remove \
             `Privileged: true`"
                .to_owned(),
        ));
    }
    let add: Vec<String> = container
        .capabilities_add
        .iter()
        .map(|name| capability(name))
        .collect();
    if let Some(refused) = add.iter().find(|name| *name != FARGATE_ADDABLE) {
        return Err(Error::NotOnFargate(format!(
            "the task definition adds the capability {refused}; Fargate lets a task add only \
             {FARGATE_ADDABLE}: remove it from LinuxParameters.Capabilities.Add"
        )));
    }
    let drop: Vec<String> = container
        .capabilities_drop
        .iter()
        .map(|name| capability(name))
        .collect();
    // ECS drops first, then adds; dropping ALL leaves only what is added.
    let mut granted: Vec<String> = if drop.iter().any(|name| name == "ALL") {
        Vec::new()
    } else {
        DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .filter(|name| !drop.iter().any(|dropped| dropped == *name))
            .map(|name| (*name).to_owned())
            .collect()
    };
    for name in add {
        if !granted.contains(&name) {
            granted.push(name);
        }
    }
    Ok(Confinement {
        cap_add: granted,
        nano_cpus: container
            .cpu_units
            .map(|units| saturating_i64(units.saturating_mul(1_000_000_000) / UNITS_PER_CPU)),
        memory_bytes: container
            .memory_mib
            .map(|mib| saturating_i64(mib.saturating_mul(1024 * 1024))),
        ..Confinement::strict()
    })
}

/// `CAP_NET_RAW` and `net_raw` both name `NET_RAW`, as Docker reads them.
fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_owned)
        .unwrap_or(upper)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(add: &[&str], drop: &[&str]) -> TaskContainer {
        TaskContainer {
            environment: Vec::new(),
            user: None,
            read_only_root_filesystem: true,
            privileged: false,
            capabilities_add: add.iter().map(|s| (*s).to_owned()).collect(),
            capabilities_drop: drop.iter().map(|s| (*s).to_owned()).collect(),
            volume_paths: Vec::new(),
            cpu_units: Some(256),
            memory_mib: Some(512),
        }
    }

    #[test]
    fn dropping_all_grants_nothing_but_what_is_added() {
        let confinement = task_confinement(&container(&[], &["ALL"])).expect("allowed");
        assert_eq!(confinement.cap_drop, ["ALL"]);
        assert!(confinement.cap_add.is_empty());
        assert!(confinement.no_new_privileges);
        let traced = task_confinement(&container(&["CAP_SYS_PTRACE"], &["all"])).expect("allowed");
        assert_eq!(traced.cap_add, ["SYS_PTRACE"]);
    }

    #[test]
    fn without_a_drop_the_task_holds_dockers_defaults_and_no_more() {
        let confinement = task_confinement(&container(&[], &["NET_RAW"])).expect("allowed");
        assert_eq!(
            confinement.cap_drop,
            ["ALL"],
            "never the engine's own default"
        );
        assert_eq!(
            confinement.cap_add.len(),
            DOCKER_DEFAULT_CAPABILITIES.len() - 1
        );
        assert!(!confinement.cap_add.contains(&"NET_RAW".to_owned()));
        assert!(confinement.cap_add.contains(&"CHOWN".to_owned()));
    }

    #[test]
    fn what_fargate_refuses_is_refused() {
        for add in ["NET_ADMIN", "ALL", "SYS_ADMIN"] {
            let error = task_confinement(&container(&[add], &[])).expect_err(add);
            assert!(error.to_string().contains("only SYS_PTRACE"), "{error}");
        }
        let mut privileged = container(&[], &["ALL"]);
        privileged.privileged = true;
        let error = task_confinement(&privileged).expect_err("privileged");
        assert!(error.to_string().contains("Privileged"), "{error}");
    }

    #[test]
    fn the_tasks_size_becomes_hard_limits() {
        let confinement = task_confinement(&container(&[], &["ALL"])).expect("allowed");
        assert_eq!(
            confinement.nano_cpus,
            Some(250_000_000),
            "256 units: a quarter CPU"
        );
        assert_eq!(confinement.memory_bytes, Some(512 * 1024 * 1024));
        let mut unsized_task = container(&[], &["ALL"]);
        unsized_task.cpu_units = None;
        unsized_task.memory_mib = Some(u64::MAX);
        let confinement = task_confinement(&unsized_task).expect("allowed");
        assert_eq!(confinement.nano_cpus, None);
        assert_eq!(
            confinement.memory_bytes,
            Some(i64::MAX),
            "saturates, never wraps"
        );
    }
}
