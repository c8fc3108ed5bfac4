//! One function per command: turn parsed arguments into plain inputs, call the core, hand the
//! report to a renderer. Commands return the exit code; they never call `process::exit`.

pub mod check;
pub mod completions;
pub mod context;
pub mod effects;
pub mod facts;
pub mod forecast;
pub mod gate;
pub mod github_sql;
pub mod index;
pub mod man;
pub mod manifest;
pub mod metrics;
pub mod patch;
pub mod releases;
pub mod repair;
pub mod runbook;
pub mod source;
pub mod verify;
pub mod watch;

use crate::cli::{Cli, Command, Format};
use crate::error::{Error, ExitCode, Result};
use context::Context;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::new(&cli.global);
    if cli.global.format == Format::Openmetrics
        && !matches!(
            cli.command,
            Command::Check(_) | Command::Gate(_) | Command::Verify(_)
        )
    {
        return Err(
            Error::usage("--format openmetrics is printed by check, verify and gate only")
                .with_hint("use --format human or --format json with this command"),
        );
    }
    match cli.command {
        Command::Check(args) => check::run(&ctx, args),
        Command::Gate(args) => gate::run(&ctx, args).inspect_err(gate::github_actions_error),
        Command::Patch(args) => patch::run(&ctx, args),
        Command::Runbook(args) => runbook::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Releases(args) => releases::run(&ctx, args),
        Command::Index(cmd) => index::run(&ctx, cmd),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Repair(cmd) => repair::run(&ctx, cmd),
        Command::Watch(args) => watch::run(&ctx, args),
    }
}
