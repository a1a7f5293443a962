//! Which process a rehearsal's containers and networks belong to, so that a
//! rehearsal killed before it could clean up (SIGKILL, a crash, a machine
//! that lost power) is cleaned up by the next one, and a rehearsal that is
//! still running, here or on another machine sharing the engine, never is.

use std::fmt;

/// The process running a rehearsal: the machine, its process ID there, and
/// when that process started, so that a process ID used again by another
/// program is not mistaken for the rehearsal's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    host: String,
    pid: u32,
    /// Clock ticks since boot when the process started (`/proc/<pid>/stat`);
    /// `None` where the system does not say.
    started: Option<u64>,
}

impl Owner {
    /// This process.
    pub(crate) fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: host_name(),
            pid,
            started: start_time(pid),
        }
    }

    /// Reads a label value written by [`Owner`]'s `Display`.
    pub(crate) fn parse(value: &str) -> Option<Owner> {
        let mut parts = value.rsplitn(3, '/');
        let started = parts.next()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_owned();
        let started = match started {
            "-" => None,
            ticks => Some(ticks.parse().ok()?),
        };
        Some(Owner { host, pid, started })
    }

    /// Whether this owner is a process of this machine that no longer runs.
    /// Another machine's processes cannot be seen from here: never gone.
    pub(crate) fn is_gone(&self) -> bool {
        if self.host != host_name() {
            return false;
        }
        match self.started {
            Some(started) => start_time(self.pid) != Some(started),
            None => !process_exists(self.pid),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.started {
            Some(started) => write!(f, "{}/{}/{started}", self.host, self.pid),
            None => write!(f, "{}/{}/-", self.host, self.pid),
        }
    }
}

fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// When process `pid` started, in clock ticks since boot (Linux).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may itself hold spaces and
    // parentheses: the fields that follow start after the last `)`. There,
    // the start time is the 20th field (field 22 of the whole line).
    let fields = &stat[stat.rfind(')')? + 1..];
    fields.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a process `pid` exists, where `/proc` cannot say when it started.
fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists, as another user's process.
        Err(error) => error == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_reads_back_as_itself() {
        let me = Owner::current();
        assert!(me.started.is_some(), "Linux says when a process started");
        assert!(!me.is_gone());
        assert_eq!(Owner::parse(&me.to_string()), Some(me));
    }

    #[test]
    fn a_finished_process_is_gone() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run true");
        let pid = child.id();
        let started = start_time(pid);
        child.wait().expect("true ends");
        let owner = Owner {
            host: host_name(),
            pid,
            started,
        };
        assert!(owner.is_gone(), "{owner}");
    }

    #[test]
    fn a_reused_process_id_is_not_the_owner() {
        let me = Owner::current();
        let impostor = Owner {
            started: me.started.map(|ticks| ticks + 1),
            ..me
        };
        assert!(impostor.is_gone());
    }

    #[test]
    fn another_machines_rehearsals_are_never_gone() {
        let elsewhere = Owner {
            host: format!("{}-elsewhere", host_name()),
            pid: u32::MAX,
            started: Some(1),
        };
        assert!(!elsewhere.is_gone());
    }

    #[test]
    fn host_names_with_slashes_and_bad_values_parse_as_they_should() {
        assert_eq!(
            Owner::parse("build/box/42/-"),
            Some(Owner {
                host: "build/box".to_owned(),
                pid: 42,
                started: None
            })
        );
        for bad in ["", "host", "host/x/1", "host/1/x"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }
}
