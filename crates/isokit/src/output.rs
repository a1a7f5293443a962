//! Writing results on stdout (text, JSON, or SARIF for the audit) and
//! errors on stderr.

use std::error::Error;
use std::io::{self, Write};

use isokit_stacks::SarifLog;
use serde::Serialize;

use crate::cli::OutputFormat;

/// A command's result: what it prints for people, and what it serializes
/// for machines.
pub(crate) trait Render: Serialize {
    fn text(&self) -> String;

    /// The result as a SARIF log, for results that are findings.
    fn sarif(&self) -> Option<SarifLog> {
        None
    }
}

/// The result in `format`; one line of JSON unless `pretty`.
fn render(format: OutputFormat, result: &impl Render, pretty: bool) -> io::Result<String> {
    match format {
        OutputFormat::Text => Ok(result.text()),
        OutputFormat::Json => to_json(result, pretty),
        // The command line lets only the audit ask for SARIF.
        OutputFormat::Sarif => match result.sarif() {
            Some(log) => to_json(&log, pretty),
            None => Err(io::Error::other("this command's result has no SARIF form")),
        },
    }
}

fn to_json(value: &impl Serialize, pretty: bool) -> io::Result<String> {
    let json = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    json.map_err(io::Error::other)
}

/// Writes a result on stdout. A closed pipe (`isokit ... | head -1`) is not
/// an error: the reader has what it wanted.
pub(crate) fn emit(format: OutputFormat, result: &impl Render) -> io::Result<()> {
    let text = render(format, result, true)?;
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
    let line = render(format, result, false)?;
    // stdout is line-buffered: each line reaches a pipe as it is written.
    writeln!(io::stdout().lock(), "{line}")
}

/// Prints an error, its causes one per line, then what to do. A message
/// never repeats its source (the crates' error rule), so each link of the
/// chain is printed as it is.
pub(crate) fn report_error(err: &(dyn Error + 'static)) {
    let mut lines = vec![format!("error: {err}")];
    let mut help = help_of(err);
    let mut cause = err.source();
    while let Some(current) = cause {
        lines.push(format!("  caused by: {current}"));
        help = help.or_else(|| help_of(current));
        cause = current.source();
    }
    lines.extend(help.map(|help| format!("  help: {help}")));
    let mut stderr = io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}

/// What to do, for the errors that keep it apart from their message.
fn help_of(err: &(dyn Error + 'static)) -> Option<String> {
    err.downcast_ref::<isokit_deploy::Error>()
        .and_then(isokit_deploy::Error::help)
        .map(str::to_owned)
}
