//! migtag: which Coder image matches this database, is this upgrade safe, and what exactly
//! to change on the Deployment.
//!
//! Layout: [`core`] decides (pure, no I/O); [`input`] parses what users paste; [`adapters`]
//! talk to the outside world; [`render`] prints reports; [`cli`] and [`commands`] wire them.

pub mod core;
pub mod error;

pub use error::{Error, ErrorKind, ExitCode, Result};
pub mod adapters;
pub mod bundled;
pub mod cli;
pub mod commands;
pub mod input;
pub mod render;

/// Prints an error: always to stderr for humans, and as a JSON document on stdout with
/// `--format json` so that scripts always get one document.
pub fn report_error(err: &Error, json: bool) {
    eprintln!("error: {err}");
    if json {
        let doc = serde_json::json!({
            "error": {
                "kind": err.kind().as_str(),
                "message": err.message(),
                "hint": err.hint(),
                "exit_code": err.exit_code().code(),
            }
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("error documents serialise")
        );
    }
}
