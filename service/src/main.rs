//! The isokit-service binary.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use isokit_report::LogLine;
use isokit_service::{Config, Error, StandinOptions, config::port_from_lookup, server::write_line};
use lexopt::{Arg, ValueExt};

const USAGE: &str = "\
usage: isokit-service [serve]
       isokit-service check [--output text|json]
       isokit-service healthcheck
       isokit-service standin [--cert-file PATH] [--key-file PATH]

serve        check every endpoint each ISOKIT_INTERVAL; serve GET /health and GET /checks
check        one round; the report on stdout; exit 0 when healthy, 1 otherwise
healthcheck  GET the local /health; exit 0 on 200, 1 otherwise
standin      a stand-in VPC endpoint: TLS on ISOKIT_STANDIN_LISTEN (0.0.0.0:443) with
             ISOKIT_STANDIN_CERT_PEM and ISOKIT_STANDIN_KEY_PEM

Settings: ISOKIT_REGION, ISOKIT_ACCOUNT, ISOKIT_ENDPOINTS, ISOKIT_EGRESS_PROBES,
ISOKIT_INTERVAL, ISOKIT_TIMEOUT, ISOKIT_PORT, ISOKIT_CA_FILE, ISOKIT_CA_PEM,
ISOKIT_DNS_SERVERS, ISOKIT_VPC_CIDR, ECS_CONTAINER_METADATA_URI_V4.";

#[derive(Debug)]
enum Command {
    Serve,
    Check {
        json: bool,
    },
    Healthcheck,
    Standin {
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
    },
    Help,
    Version,
}

fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = lexopt::Parser::from_args(args);
    let name = match parser.next().map_err(|error| error.to_string())? {
        None => "serve".to_owned(),
        Some(Arg::Short('h') | Arg::Long("help")) => {
            return no_more(&mut parser, "--help", Command::Help);
        }
        Some(Arg::Short('V') | Arg::Long("version")) => {
            return no_more(&mut parser, "--version", Command::Version);
        }
        Some(Arg::Value(name)) => name.string().map_err(|error| error.to_string())?,
        Some(flag) => {
            return Err(format!(
                "`{}` comes before a command, not as one",
                shown(&flag)
            ));
        }
    };
    let command = match name.as_str() {
        "serve" => Command::Serve,
        "healthcheck" => Command::Healthcheck,
        "help" => Command::Help,
        "check" => {
            let mut json = false;
            while let Some(arg) = parser.next().map_err(|error| error.to_string())? {
                match arg {
                    Arg::Long("output") => match value(&mut parser, "--output")?.as_str() {
                        "json" => json = true,
                        "text" => json = false,
                        other => return Err(format!("--output takes text or json, not `{other}`")),
                    },
                    other => return Err(format!("check does not take `{}`", shown(&other))),
                }
            }
            Command::Check { json }
        }
        "standin" => {
            let (mut cert_file, mut key_file) = (None, None);
            while let Some(arg) = parser.next().map_err(|error| error.to_string())? {
                match arg {
                    Arg::Long("cert-file") => cert_file = Some(path(&mut parser, "--cert-file")?),
                    Arg::Long("key-file") => key_file = Some(path(&mut parser, "--key-file")?),
                    other => return Err(format!("standin does not take `{}`", shown(&other))),
                }
            }
            Command::Standin {
                cert_file,
                key_file,
            }
        }
        other => return Err(format!("unknown command `{other}`")),
    };
    no_more(&mut parser, &name, command)
}

/// `command`, when nothing follows `name`.
fn no_more(parser: &mut lexopt::Parser, name: &str, command: Command) -> Result<Command, String> {
    match parser.next().map_err(|error| error.to_string())? {
        Some(extra) => Err(format!("{name} does not take `{}`", shown(&extra))),
        None => Ok(command),
    }
}

/// An argument as it was written.
fn shown(arg: &Arg<'_>) -> String {
    match arg {
        Arg::Short(letter) => format!("-{letter}"),
        Arg::Long(name) => format!("--{name}"),
        Arg::Value(value) => value.to_string_lossy().into_owned(),
    }
}

fn value(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    let raw = parser
        .value()
        .map_err(|_| format!("{flag} needs a value"))?;
    raw.into_string()
        .map_err(|raw| format!("{flag} takes text, not `{}`", raw.to_string_lossy()))
}

fn path(parser: &mut lexopt::Parser, flag: &str) -> Result<PathBuf, String> {
    parser
        .value()
        .map(PathBuf::from)
        .map_err(|_| format!("{flag} needs a value"))
}

fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("isokit-service: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("isokit-service: error: {}", err.explained());
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, Error> {
    let env = |name: &str| std::env::var(name).ok();
    match command {
        Command::Help => {
            write_stdout(&format!("{USAGE}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            write_stdout(&format!("isokit-service {}\n", env!("CARGO_PKG_VERSION")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = Config::from_env()?;
            multi_thread()?.block_on(isokit_service::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { json } => {
            let config = Config::from_env()?;
            let report = current_thread()?.block_on(isokit_service::check(config))?;
            let healthy = report.healthy;
            if json {
                write_line(&LogLine::Round(report))?;
            } else {
                write_stdout(&report.to_string())?;
            }
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Healthcheck => {
            // Docker reads exit 1 as unhealthy; any failure to ask is that too.
            let port = port_from_lookup(env)?;
            match current_thread()?.block_on(isokit_service::healthcheck(port)) {
                Ok(response) => {
                    write_stdout(&format!("{}\n", response.body))?;
                    Ok(if response.status == 200 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
                Err(err) => {
                    eprintln!("isokit-service: {}", err.explained());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Standin {
            cert_file,
            key_file,
        } => {
            let options =
                StandinOptions::from_lookup(env, cert_file.as_deref(), key_file.as_deref())?;
            multi_thread()?.block_on(isokit_service::standin(options))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}

fn multi_thread() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

fn current_thread() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    /// The message `line` is refused with.
    fn refusal(line: &str) -> String {
        match parse(words(line)) {
            Ok(_) => panic!("`{line}` should be refused"),
            Err(message) => message,
        }
    }

    #[test]
    fn a_value_may_follow_its_flag_after_an_equals_sign() {
        assert!(matches!(
            parse(words("check --output=json")),
            Ok(Command::Check { json: true })
        ));
    }

    #[test]
    fn serve_is_the_default() {
        assert!(matches!(parse(Vec::<String>::new()), Ok(Command::Serve)));
        assert!(matches!(parse(words("serve")), Ok(Command::Serve)));
    }

    #[test]
    fn check_takes_an_output_format() {
        assert!(matches!(
            parse(words("check")),
            Ok(Command::Check { json: false })
        ));
        assert!(matches!(
            parse(words("check --output json")),
            Ok(Command::Check { json: true })
        ));
        assert_eq!(
            refusal("check --output yaml"),
            "--output takes text or json, not `yaml`"
        );
        assert_eq!(refusal("check --output"), "--output needs a value");
    }

    #[test]
    fn standin_takes_certificate_files() {
        let Ok(Command::Standin {
            cert_file,
            key_file,
        }) = parse(words("standin --cert-file /c.pem --key-file /k.pem"))
        else {
            panic!("standin with files should parse");
        };
        assert_eq!(cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(key_file, Some(PathBuf::from("/k.pem")));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(refusal("serve now"), "serve does not take `now`");
        assert_eq!(refusal("bogus"), "unknown command `bogus`");
        assert_eq!(
            refusal("healthcheck --port 1"),
            "healthcheck does not take `--port`"
        );
    }
}
