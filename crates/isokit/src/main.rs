//! The `isokit` command line: arguments resolved once into option structs,
//! tracing and error reporting set up, and a library function called. The
//! work itself lives in the libraries.

mod args;
mod cli;
mod output;
mod render;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_panics();
    let cli = cli::Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            output::report_error(err.as_ref());
            ExitCode::FAILURE
        }
    }
}

/// A panic is a bug in isokit, not something the user did: say so in one
/// line, whatever RUST_BACKTRACE says, and exit non-zero.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: isokit hit an internal error{location}: {message}\nplease report it; nothing else went wrong on your side"
        );
    }));
}

/// Logs go to stderr. `-v` shows isokit's own debug lines, `-vv` everything;
/// `ISOKIT_LOG` takes a full filter (`isokit_engine=trace`).
fn init_tracing(verbosity: u8) {
    use std::io::IsTerminal;
    use tracing::Level;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::prelude::*;
    let default = match verbosity {
        0 => "warn",
        1 => {
            "warn,isokit=debug,isokit_aws=debug,isokit_engine=debug,isokit_push=debug,isokit_stacks=debug,isokit_deploy=debug,isokit_rehearse=debug"
        }
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("ISOKIT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // At trace level these log request and response bodies and headers: the
    // ECR token and the registry credentials. No filter may open that.
    let no_secrets = filter_fn(|meta| {
        *meta.level() != Level::TRACE
            || !SECRET_BEARING_TARGETS
                .iter()
                .any(|target| meta.target().starts_with(target))
    });
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbosity > 0)
        .without_time()
        .with_filter(filter)
        .with_filter(no_secrets);
    tracing_subscriber::registry().with(lines).init();
}

const SECRET_BEARING_TARGETS: [&str; 5] = [
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
    "bollard",
];
