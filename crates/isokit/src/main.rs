//! The `isokit` command line: arguments, tracing, error reporting; the work is in the libraries.

fn main() {}
