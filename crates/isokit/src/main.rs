//! The `isokit` command line: arguments resolved once into option structs,
//! tracing and error reporting set up, and a library function called. The
//! work itself lives in the libraries.

mod cli;
mod options;
mod output;
mod render;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_panics();
    let cli = cli::Cli::parse_checked();
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
    let outcome = runtime.block_on(run::run(cli));
    // A command returns once its work is done or undone. What may still run
    // on a blocking thread (the context's fingerprint, when an interrupt
    // came first) is abandoned, not waited for.
    runtime.shutdown_background();
    match outcome {
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

/// Logs go to stderr. `-v` shows isokit's own debug lines, `-vv` every
/// crate's, as far as [`ceiling`] allows; `ISOKIT_LOG` takes a full filter
/// (`isokit_engine=trace`).
///
/// Whatever the filter asks, a crate logs no more than [`ceiling`] allows:
/// an allow-list, so that a dependency added tomorrow is capped too.
fn init_tracing(verbosity: u8) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::prelude::*;
    let default = match verbosity {
        0 => "warn",
        // A directive's target is a prefix: `isokit` covers every isokit_* crate.
        1 => "warn,isokit=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("ISOKIT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbosity > 0)
        .without_time()
        .with_filter(filter)
        .with_filter(filter_fn(|meta| *meta.level() <= ceiling(meta.target())));
    tracing_subscriber::registry().with(lines).init();
}

/// The most a target may log: an allow-list. isokit's own crates, which
/// never log a secret, may trace. hyper's connection lines (addresses, no
/// headers) may debug. Every other crate stops at info, a dependency added
/// tomorrow included: below that the AWS SDK logs the credentials it signs
/// with (debug: the access key ID) and whole responses (trace: the ECR
/// token), and bollard what it sends (debug: request bodies; trace: bytes).
/// The binary's `secrets` tests hunt for canary credentials in every form.
fn ceiling(target: &str) -> tracing::Level {
    const DEBUG_ALLOWED: [&str; 2] = ["hyper", "hyper_util"];
    let crate_name = target.split("::").next().unwrap_or(target);
    if crate_name == "isokit" || crate_name.starts_with("isokit_") {
        tracing::Level::TRACE
    } else if DEBUG_ALLOWED.contains(&crate_name) {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::ceiling;

    #[test]
    fn only_isokit_s_own_crates_may_trace_and_few_others_debug() {
        for own in ["isokit", "isokit::run", "isokit_engine::push", "isokit_aws"] {
            assert_eq!(ceiling(own), Level::TRACE, "{own}");
        }
        for connections in [
            "hyper::proto::h1",
            "hyper_util::client::legacy::connect::http",
        ] {
            assert_eq!(ceiling(connections), Level::DEBUG, "{connections}");
        }
        for other in [
            "aws_smithy_runtime::client::orchestrator::endpoints",
            "aws_smithy_runtime_api",
            "aws_sigv4::http_request::sign",
            "aws_config",
            "bollard::docker",
            "rustls",
            "isokitten",
            "hyperbole",
            "some_new_crate",
        ] {
            assert_eq!(ceiling(other), Level::INFO, "{other}");
        }
    }
}
