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
pub mod patch;
pub mod releases;
pub mod repair;
pub mod runbook;
pub mod source;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::error::{ExitCode, Result};
use context::Context;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::new(&cli.global);
    match cli.command {
        Command::Check(args) => check::run(&ctx, args),
        Command::Gate(args) => gate::run(&ctx, args),
        Command::Patch(args) => patch::run(&ctx, args),
        Command::Runbook(args) => runbook::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Releases(args) => releases::run(&ctx, args),
        Command::Index(cmd) => index::run(&ctx, cmd),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Repair(cmd) => repair::run(&ctx, cmd),
    }
}
