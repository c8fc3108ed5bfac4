//! Renderers: turn a report into text for humans or one JSON document. Nothing else prints.

pub mod db;
pub mod forecast;
pub mod gate;
pub mod human;
pub mod index;
pub mod patch;
pub mod releases;
pub mod repair;
pub mod runbook;
pub mod style;
pub mod verify;

use serde::Serialize;

/// Serialises a report as the single JSON document `--format json` prints on stdout.
pub fn json<T: Serialize>(report: &T) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports always serialise");
    text.push('\n');
    text
}

/// Writes to stdout. A closed pipe (`migtag ... | head`) is not an error: the reader has what
/// it wanted, and the exit code must stay the decision's, not a crash's.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => eprintln!("migtag: cannot write to standard output: {e}"),
    }
}
