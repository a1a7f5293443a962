//! A stopped task as ECS's `DescribeTasks` reports it, plus what the caller
//! knows of it. Plain strings where ECS gives strings, so that mapping the
//! SDK's types is one `to_owned()` per field.

use std::fmt;

/// A task ECS stopped (or is stopping), as `DescribeTasks` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedTask {
    /// `stoppedReason`, in AWS's words (possibly cut short by ECS).
    pub stopped_reason: Option<String>,
    /// `stopCode`: `TaskFailedToStart`, `EssentialContainerExited`,
    /// `UserInitiated`, `ServiceSchedulerInitiated`, `SpotInterruption`,
    /// `TerminationNotice`, or any code ECS adds later.
    pub stop_code: Option<String>,
    /// The task's containers.
    pub containers: Vec<StoppedContainer>,
    /// The task definition's `runtimePlatform.cpuArchitecture`, when known.
    pub cpu_architecture: Option<CpuArchitecture>,
    /// The region the task runs in, when known: the fix then names the
    /// endpoint service (`com.amazonaws.<region>.ecr.api`) exactly.
    pub region: Option<String>,
}

/// One container of a stopped task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedContainer {
    pub name: String,
    /// The container's `reason`, in AWS's words.
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// `lastStatus`: `PENDING`, `RUNNING`, `STOPPED`...
    pub last_status: Option<String>,
    /// `healthStatus`: `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health_status: Option<String>,
    /// The last lines the container wrote to its log stream, when the caller
    /// has read them. Only used to recognise `exec format error`, which the
    /// kernel reports to the container's own output and ECS never repeats.
    pub log_tail: Vec<String>,
}

/// The CPU architecture a task runs on (`runtimePlatform.cpuArchitecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuArchitecture {
    X86_64,
    Arm64,
}

impl CpuArchitecture {
    /// Reads ECS's spelling (`X86_64`, `ARM64`), in any case.
    pub fn from_ecs(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "X86_64" => Some(Self::X86_64),
            "ARM64" => Some(Self::Arm64),
            _ => None,
        }
    }

    /// ECS's spelling.
    pub fn as_ecs(self) -> &'static str {
        match self {
            Self::X86_64 => "X86_64",
            Self::Arm64 => "ARM64",
        }
    }

    /// The OCI platform an image needs to run on it.
    pub fn platform(self) -> &'static str {
        match self {
            Self::X86_64 => "linux/amd64",
            Self::Arm64 => "linux/arm64",
        }
    }
}

impl fmt::Display for CpuArchitecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_ecs())
    }
}

impl StoppedTask {
    /// ECS stopped the task before its containers ran.
    pub(crate) fn failed_to_start(&self) -> bool {
        self.stop_code.as_deref() == Some("TaskFailedToStart")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_read_ecs_spelling_and_name_their_platform() {
        assert_eq!(
            CpuArchitecture::from_ecs("X86_64"),
            Some(CpuArchitecture::X86_64)
        );
        assert_eq!(
            CpuArchitecture::from_ecs("arm64"),
            Some(CpuArchitecture::Arm64)
        );
        assert_eq!(CpuArchitecture::from_ecs("sparc"), None);
        assert_eq!(CpuArchitecture::Arm64.platform(), "linux/arm64");
        assert_eq!(CpuArchitecture::X86_64.to_string(), "X86_64");
    }
}
