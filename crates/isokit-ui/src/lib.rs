//! Progress and status lines on stderr: bars on a terminal, plain lines
//! otherwise, nothing at all when asked to be quiet; and the signals by
//! which the user (or their terminal) asks a command to stop.
//!
//! Libraries report through a [`Ui`] handed to them; they never decide
//! whether stderr is a terminal. Results never go through here: they belong
//! on stdout, written by the binary.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

mod stop;

/// Sizes in binary units (`3.50 MiB`), as the progress bars show them.
pub use indicatif::HumanBytes;
pub use stop::{StopSignal, StopSignals};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Animated bars and spinners (stderr is a terminal).
    Bars,
    /// One line per event, for logs and pipes.
    Plain,
    /// Nothing but warnings.
    Quiet,
}

impl Style {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Style {
        if std::io::stderr().is_terminal() {
            Style::Bars
        } else {
            Style::Plain
        }
    }
}

/// The progress reporter shared by one command's work. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ui {
    style: Style,
    bars: Option<MultiProgress>,
}

impl Ui {
    pub fn new(style: Style) -> Ui {
        let bars = (style == Style::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Ui { style, bars }
    }

    /// A reporter that prints nothing but warnings; for tests and library callers.
    pub fn quiet() -> Ui {
        Ui::new(Style::Quiet)
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// A step of the work, such as "creating repository sample-app-repo".
    pub fn status(&self, message: impl Display) {
        if self.style != Style::Quiet {
            self.line(&format!("{message}"));
        }
    }

    /// Something the user should know even when asked to be quiet.
    pub fn warn(&self, message: impl Display) {
        self.line(&format!("warning: {message}"));
    }

    /// Output streamed from another program (the build, SAM), kept verbatim.
    pub fn passthrough(&self, text: &str) {
        if self.style != Style::Quiet {
            for line in text.lines() {
                self.line(line);
            }
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            // Printing through the MultiProgress keeps the line above the bars.
            Some(bars) => {
                if bars.println(text).is_err() {
                    eprintln!("{text}");
                }
            }
            None => {
                let mut err = std::io::stderr().lock();
                // A closed stderr is no reason to fail the work being reported.
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// A measured task: a bar with a length, or a spinner when the total is
    /// unknown. Without a terminal it prints its start, coarse steps and end.
    pub fn task(&self, label: impl Into<String>, total: Option<u64>) -> Task {
        let label = label.into();
        let bar = self.bars.as_ref().map(|bars| {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(bar_style()),
                None => ProgressBar::new_spinner().with_style(spinner_style()),
            };
            let bar = bars.add(bar.with_prefix(label.clone()));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if self.style == Style::Plain {
            self.line(&format!("{label}: started"));
        }
        Task {
            ui: self.clone(),
            label,
            bar,
            state: Arc::new(Mutex::new(PlainState {
                total,
                position: 0,
                last_print: Instant::now(),
            })),
        }
    }
}

#[derive(Debug)]
struct PlainState {
    total: Option<u64>,
    position: u64,
    last_print: Instant,
}

/// A task shown by [`Ui::task`]. Cheap to clone; every clone drives the same bar.
#[derive(Debug, Clone)]
pub struct Task {
    ui: Ui,
    label: String,
    bar: Option<ProgressBar>,
    state: Arc<Mutex<PlainState>>,
}

/// How often a plain-line task may report its progress.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

impl Task {
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            if bar.length().is_none() {
                bar.set_style(bar_style());
            }
            bar.set_length(total);
        }
        self.with_state(|state| state.total = Some(total));
    }

    /// The length set so far, if any.
    pub fn length(&self) -> Option<u64> {
        self.state.lock().ok().and_then(|state| state.total)
    }

    pub fn set_position(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
        self.with_state(|state| state.position = position);
        self.maybe_print_plain();
    }

    pub fn advance(&self, delta: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(delta);
        }
        self.with_state(|state| state.position += delta);
        self.maybe_print_plain();
    }

    /// A short note beside the bar ("pushing", "layer already exists").
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// Ends the task with a closing word ("done", "skipped", "failed").
    pub fn finish(&self, message: impl Display) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => {
                if self.ui.style == Style::Plain {
                    self.ui.line(&format!("{}: {message}", self.label));
                }
            }
        }
    }

    fn with_state(&self, change: impl FnOnce(&mut PlainState)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
        }
    }

    fn maybe_print_plain(&self) {
        if self.ui.style != Style::Plain {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.last_print.elapsed() < PLAIN_INTERVAL {
            return;
        }
        state.last_print = Instant::now();
        let line = match state.total {
            Some(total) if total > 0 => format!(
                "{}: {} of {} ({}%)",
                self.label,
                HumanBytes(state.position),
                HumanBytes(total),
                state.position.saturating_mul(100) / total
            ),
            _ => format!("{}: {}", self.label, HumanBytes(state.position)),
        };
        drop(state);
        self.ui.line(&line);
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>24.bold} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>24.bold} {spinner} {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_tasks_track_progress_without_bars() {
        let ui = Ui::quiet();
        let task = ui.task("layer", Some(10));
        task.advance(4);
        task.set_position(7);
        task.finish("done");
        assert_eq!(task.state.lock().map(|s| s.position).ok(), Some(7));
        assert!(task.bar.is_none());
    }
}
