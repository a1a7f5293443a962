//! Writing results on stdout (text or JSON) and errors on stderr.

use std::error::Error;
use std::io::{self, Write};

use serde::Serialize;

use crate::cli::OutputFormat;

/// A command's result: what it prints for people, and what it serializes
/// for machines.
pub(crate) trait Render: Serialize {
    fn text(&self) -> String;
}

/// Writes a result on stdout. A closed pipe (`isokit ... | head -1`) is not
/// an error: the reader has what it wanted.
pub(crate) fn emit(format: OutputFormat, result: &impl Render) -> io::Result<()> {
    let text = match format {
        OutputFormat::Text => result.text(),
        OutputFormat::Json => serde_json::to_string_pretty(result).map_err(io::Error::other)?,
    };
    let mut stdout = io::stdout().lock();
    let written = writeln!(stdout, "{}", text.trim_end()).and_then(|()| stdout.flush());
    match written {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes one result of a stream of them on stdout as one line: text, or
/// one compact JSON object (JSON Lines). A closed pipe is returned, for the
/// producer to stop.
pub(crate) fn emit_line(format: OutputFormat, result: &impl Render) -> io::Result<()> {
    let line = match format {
        OutputFormat::Text => result.text(),
        OutputFormat::Json => serde_json::to_string(result).map_err(io::Error::other)?,
    };
    // stdout is line-buffered: each line reaches a pipe as it is written.
    writeln!(io::stdout().lock(), "{line}")
}

/// Prints an error and its causes, one per line, skipping a cause whose
/// text its parent already includes.
pub(crate) fn report_error(err: &(dyn Error + 'static)) {
    let mut lines = vec![format!("error: {err}")];
    let mut shown = err.to_string();
    let mut cause = err.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !shown.contains(&text) {
            lines.push(format!("  caused by: {text}"));
            shown.push_str(&text);
        }
        cause = current.source();
    }
    let mut stderr = io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}
