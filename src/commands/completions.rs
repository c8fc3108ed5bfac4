//! `migtag completions SHELL`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{ExitCode, Result};

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "migtag", &mut std::io::stdout());
    Ok(ExitCode::Success)
}
