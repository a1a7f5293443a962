//! Each command: raw arguments resolved into the library's options, the
//! library called, the result rendered.

use std::error::Error;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use isokit_aws::{Aws, AwsSettings};
use isokit_ui::{Style, Ui};

use crate::cli::{Cli, Command, GlobalArgs, StacksCommand, TeardownArgs};
use crate::output::{Render, emit, emit_line};
use crate::render::{AuditResult, Exported};

pub(crate) type Failure = Box<dyn Error + Send + Sync>;

pub(crate) async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let global = &cli.global;
    let ui = Ui::new(if global.quiet {
        Style::Quiet
    } else {
        Style::detect()
    });
    match cli.command {
        Command::Push(args) => {
            let aws = load_aws(global).await?;
            let options = crate::options::push_options(args, global.verbose > 0);
            let pushed = isokit_push::push(&aws, &options, &ui).await?;
            ui.status(crate::render::push_summary(&pushed));
            finish(global, &pushed)
        }
        Command::Deploy(args) => {
            let aws = load_aws(global).await?;
            let dry_run = args.dry_run;
            let options = crate::options::deploy_options(args, global.verbose > 0);
            if dry_run {
                let preview = isokit_deploy::preview(&aws, &options, &ui).await?;
                return finish(global, &preview);
            }
            let deployment = isokit_deploy::deploy(&aws, &options, &ui).await?;
            emit(global.output, &deployment)?;
            // A deployment that ran but found its service failing is a
            // result, as a failing rehearsal is: exit code 3.
            Ok(if deployment.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Teardown(args) => {
            let aws = load_aws(global).await?;
            confirm_repository_deletion(&args)?;
            let options = crate::options::teardown_options(args, global.verbose > 0);
            let teardown = isokit_deploy::teardown(&aws, &options, &ui).await?;
            finish(global, &teardown)
        }
        Command::Rehearse(args) => {
            let aws = load_aws(global).await?;
            let options = crate::options::rehearse_options(args);
            let rehearsal = isokit_rehearse::rehearse(&aws, &options, &ui).await?;
            emit(global.output, &rehearsal)?;
            // A rehearsal that ran but found the task unhealthy or not
            // isolated is a result, not an error: distinct exit code 3.
            Ok(if rehearsal.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Status(args) => {
            let aws = load_aws(global).await?;
            let options = crate::options::status_options(args);
            let status = isokit_watch::status(&aws, &options).await?;
            emit(global.output, &status)?;
            Ok(if status.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Logs(args) => {
            let aws = load_aws(global).await?;
            let options = crate::options::logs_options(args);
            let format = global.output;
            isokit_watch::logs(&aws, &options, &ui, &mut |event| emit_line(format, event)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stacks(StacksCommand::Export { dir, force }) => {
            let written = isokit_stacks::StackSet::bundled().export(&dir, force)?;
            finish(
                global,
                &Exported {
                    dir,
                    files: written,
                },
            )
        }
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "isokit", &mut script);
            write_quietly(&script)
        }
        Command::Man(args) => write_quietly(&manual_page(args.command.as_deref())?),
        Command::Stacks(StacksCommand::Audit { stacks_dir, strict }) => {
            let report = match &stacks_dir {
                Some(dir) => isokit_stacks::audit_dir(dir)?,
                None => isokit_stacks::StackSet::bundled().audit()?,
            };
            let result = AuditResult::new(stacks_dir, strict, report);
            emit(global.output, &result)?;
            // Findings are a result, as a failing rehearsal is: exit 3.
            Ok(if result.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
    }
}

/// isokit's manual page, or one command's, named `isokit-COMMAND` as the
/// top page's SUBCOMMANDS section names it. An unknown command is a usage error.
fn manual_page(command: Option<&str>) -> Result<Vec<u8>, Failure> {
    let mut isokit = Cli::command();
    let page = match command {
        None => isokit,
        Some(name) => match isokit.find_subcommand(name) {
            Some(sub) => sub
                .clone()
                .name(format!("isokit-{name}"))
                .version(env!("CARGO_PKG_VERSION")),
            None => {
                let known: Vec<&str> = isokit.get_subcommands().map(|sub| sub.get_name()).collect();
                let message = format!(
                    "isokit has no command `{name}`: its pages are isokit's own and {}",
                    known.join(", ")
                );
                isokit
                    .error(clap::error::ErrorKind::InvalidValue, message)
                    .exit();
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    Ok(roff)
}

/// Writes generated text on stdout; a closed pipe (`| head`) is no error.
fn write_quietly(text: &[u8]) -> Result<ExitCode, Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn finish(global: &GlobalArgs, result: &impl Render) -> Result<ExitCode, Failure> {
    emit(global.output, result)?;
    Ok(ExitCode::SUCCESS)
}

/// The one place the shared AWS settings are resolved.
async fn load_aws(global: &GlobalArgs) -> Result<Aws, Failure> {
    let settings = AwsSettings {
        region: global.aws.region.clone(),
        profile: global.aws.profile.clone(),
        endpoint_url: global.aws.endpoint_url.clone(),
        ca_bundle: global
            .aws
            .ca_bundle
            .clone()
            .filter(|path| !path.as_os_str().is_empty()),
    };
    Ok(Aws::load(&settings).await?)
}

/// Deleting a repository deletes every image in it: ask first, unless told
/// not to. Without a terminal to ask on, refuse rather than guess.
fn confirm_repository_deletion(args: &TeardownArgs) -> Result<(), Failure> {
    let Some(repository) = &args.delete_repo else {
        return Ok(());
    };
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "not deleting ECR repository {repository} without confirmation: pass --yes to delete it and every image in it"
        )
        .into());
    }
    eprint!("Delete ECR repository {repository} and every image in it? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(format!("kept ECR repository {repository}; nothing was deleted").into())
    }
}
