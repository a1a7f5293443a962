//! The machine's processes, read from `/proc`: how tests find the SAM that
//! the code under test started and prove that its process group is gone.

use std::time::{Duration, Instant};

/// One process, as `/proc/<pid>/stat` and `cmdline` describe it.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub parent: i32,
    pub group: i32,
    /// `R`, `S`, ..., `Z` for a zombie (dead, not yet reaped).
    pub state: char,
    pub command_line: Vec<String>,
}

/// Every process that can be read now (one may exit while being read).
pub fn processes() -> Vec<Process> {
    let entries = std::fs::read_dir("/proc").expect("read /proc");
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (command) state ppid pgrp ...`: the command may hold
            // spaces and parentheses, so the fields start after the last ')'.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some(Process {
                pid,
                state: fields.first()?.chars().next()?,
                parent: fields.get(1)?.parse().ok()?,
                group: fields.get(2)?.parse().ok()?,
                command_line: command_line
                    .split(|byte| *byte == 0)
                    .filter(|argument| !argument.is_empty())
                    .map(|argument| String::from_utf8_lossy(argument).into_owned())
                    .collect(),
            })
        })
        .collect()
}

/// Waits up to `within` for every process of `group` to end (a zombie has
/// ended); returns those still running then.
pub fn wait_until_gone(group: i32, within: Duration) -> Vec<Process> {
    let deadline = Instant::now() + within;
    loop {
        let running: Vec<Process> = processes()
            .into_iter()
            .filter(|process| process.group == group && process.state != 'Z')
            .collect();
        if running.is_empty() || Instant::now() >= deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
