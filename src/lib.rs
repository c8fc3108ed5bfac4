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
        render::out(&error_document(err));
    }
}

/// The JSON document an error becomes with `--format json`.
fn error_document(err: &Error) -> String {
    let doc = serde_json::json!({
        "error": {
            "kind": err.kind().as_str(),
            "message": err.message(),
            "hint": err.hint(),
            "exit_code": err.exit_code().code(),
        }
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).expect("error documents serialise")
    )
}

/// Handles a command line clap refused (or `--help`/`--version`): prints it with anything
/// that looks like a password masked, and with `--format json` also the JSON error document.
/// Returns the exit code: 0 for help and version, 2 (usage) otherwise.
pub fn report_usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as K;
    let text = mask_secrets(&err.render().to_string());
    if matches!(
        err.kind(),
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
    ) && err.exit_code() == 0
    {
        render::out(&text);
        return ExitCode::Success;
    }
    eprint!("{text}");
    let json = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || std::env::args().any(|a| a == "--format=json");
    if json {
        let message = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        render::out(&error_document(&Error::usage(message).with_hint(format!(
            "run `{} --help`",
            cli::invoked_as(std::env::args_os().next().as_deref())
        ))));
    }
    ExitCode::Usage
}

/// Masks passwords in text that may echo a connection string the user mistyped:
/// `postgres://user:SECRET@host` and `password=SECRET`.
pub fn mask_secrets(text: &str) -> String {
    static URL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static KV: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let url = URL.get_or_init(|| {
        regex::Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s']*:)[^@\s']*@").expect("valid regex")
    });
    let kv = KV.get_or_init(|| {
        regex::Regex::new(r"(?i)(password\s*=\s*)('[^']*'|[^\s']+)").expect("valid regex")
    });
    let text = url.replace_all(text, "${1}***@");
    kv.replace_all(&text, "${1}***").into_owned()
}
