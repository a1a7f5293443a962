//! Prints the README's troubleshooting table from the catalogue, or, given
//! the README's path, rewrites the table between its markers:
//!
//! ```text
//! cargo run -q -p isokit-diagnose --example troubleshooting-table -- README.md
//! ```

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        let table = isokit_diagnose::troubleshooting_table();
        return match std::io::stdout().lock().write_all(table.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&format!("cannot write the table: {error}")),
        };
    };
    let shown = path.to_string_lossy().into_owned();
    let document = match std::fs::read_to_string(&path) {
        Ok(document) => document,
        Err(error) => return fail(&format!("cannot read {shown}: {error}")),
    };
    let updated = match isokit_diagnose::splice_troubleshooting_table(&document) {
        Ok(updated) => updated,
        Err(error) => return fail(&format!("{shown}: {error}")),
    };
    match std::fs::write(&path, updated) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write {shown}: {error}")),
    }
}

fn fail(message: &str) -> ExitCode {
    // Nothing more can be done if stderr is gone too.
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::FAILURE
}
