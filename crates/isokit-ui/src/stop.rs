//! The signals that ask isokit to stop: Ctrl-C (SIGINT), a service manager
//! or `kill` (SIGTERM), a closed terminal or SSH session (SIGHUP). Every
//! command that creates something listens for all three alike, so that
//! whichever arrives, what it created is removed or left in a known state.

use std::fmt;
use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal asked isokit to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
    Hangup,
}

impl StopSignal {
    /// The signal's number, for passing it on to a child process.
    pub fn number(self) -> i32 {
        self.kind().as_raw_value()
    }

    fn kind(self) -> SignalKind {
        match self {
            StopSignal::Interrupt => SignalKind::interrupt(),
            StopSignal::Terminate => SignalKind::terminate(),
            StopSignal::Hangup => SignalKind::hangup(),
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        })
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP from the moment it is made.
///
/// Once made, those signals no longer end the process by themselves for
/// as long as it lives, so make one at the start of a command's work and
/// keep waiting on it until the work is done.
#[derive(Debug)]
pub struct StopSignals {
    listeners: [(StopSignal, Signal); 3],
}

impl StopSignals {
    /// Must be called inside a Tokio runtime.
    pub fn listen() -> io::Result<StopSignals> {
        let listen = |which: StopSignal| Ok::<_, io::Error>((which, signal(which.kind())?));
        Ok(StopSignals {
            listeners: [
                listen(StopSignal::Interrupt)?,
                listen(StopSignal::Terminate)?,
                listen(StopSignal::Hangup)?,
            ],
        })
    }

    /// The next stop signal to arrive.
    pub async fn recv(&mut self) -> StopSignal {
        let [(int, int_signal), (term, term_signal), (hup, hup_signal)] = &mut self.listeners;
        tokio::select! {
            Some(()) = int_signal.recv() => *int,
            Some(()) = term_signal.recv() => *term,
            Some(()) = hup_signal.recv() => *hup,
            // Only a runtime shutting down ends the streams: nothing more will arrive.
            else => std::future::pending().await,
        }
    }
}
