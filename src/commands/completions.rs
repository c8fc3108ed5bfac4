//! `migtag completions SHELL`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{ExitCode, Result};

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "migtag", &mut script);
    crate::render::out(&String::from_utf8_lossy(&script));
    Ok(ExitCode::Success)
}
