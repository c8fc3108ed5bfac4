//! Where the database state comes from: `--version N [--dirty]`, `--psql FILE|-`.

use std::io::Read;

use crate::cli::SourceArgs;
use crate::core::state::DbState;
use crate::error::{Error, Result};
use crate::input::psql;

/// Reads the state from whichever source the user gave.
pub fn read_state(args: &SourceArgs) -> Result<DbState> {
    if let Some(v) = args.version {
        return Ok(DbState::from_row(v, args.dirty));
    }
    if let Some(path) = &args.psql {
        let text = read_text(path)?;
        return psql::parse(&text).map_err(|e| e.context(format!("--psql {path}")));
    }
    Err(Error::usage(
        "no database state given: pass --version N [--dirty], or --psql FILE (- for stdin)",
    ))
}

/// Reads a file, or stdin for `-`.
pub fn read_text(path: &str) -> Result<String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::invalid_input(format!("cannot read standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Error::invalid_input(format!("cannot read {path}: {e}")))
}
