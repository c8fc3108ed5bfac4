//! `runbook`: the recovery procedure of Coder's upgrade-troubleshooting guide, made concrete
//! for one observed state. Pure: the check report, what the live database showed (when it
//! was read), the Deployment facts and findings (when a manifest was given) and the target
//! names go in; a list of steps comes out, each with why, its commands and notes.
//!
//! Every command is marked with its effect: `read` (safe to run any time), `watch` (read-only
//! but never ends), `change` (alters the Deployment) or `destructive` (stops Coder, ends
//! sessions, or writes to the database). Renderers (`render::runbook`) decide how each is
//! shown; the script form only ever runs a change after the user typed `yes`.
//!
//! Names reach command lines only through [`shell::quote`](super::shell::quote) (callers
//! validate them first anyway); names from the database reach SQL only as escaped literals or
//! quoted identifiers.
//!
//! Layout: [`model`] is what a runbook is (steps, commands, effects; serialised as is),
//! [`steps`] decides which steps the observed state needs, [`commands`] holds the command
//! lines and SQL the steps print, [`notes`] the text about the sessions seen.

mod commands;
mod model;
mod notes;
mod steps;

pub use super::dirty::image_after_cleanup;
pub use commands::{psql_line, repair_clear_dirty, CONNECTION_VARIABLE, GUIDE_LIVENESS_PROBE};
pub use model::*;

/// Builds the runbook for the observed state.
pub fn build(input: &RunbookInput) -> Runbook {
    let b = steps::Builder::new(input);
    b.finish()
}

#[cfg(test)]
mod tests;
