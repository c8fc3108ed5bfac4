//! Renderers: turn a report into text for humans or one JSON document. Nothing else prints.

pub mod db;
pub mod gate;
pub mod human;
pub mod index;
pub mod patch;
pub mod releases;
pub mod repair;
pub mod runbook;
pub mod style;

use serde::Serialize;

/// Serialises a report as the single JSON document `--format json` prints on stdout.
pub fn json<T: Serialize>(report: &T) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports always serialise");
    text.push('\n');
    text
}

/// The first failure to write stdout (other than a closed pipe), kept for the exit code.
static STDOUT_FAILURE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Writes to stdout. A closed pipe (`migtag ... | head`) is not an error: the reader has what
/// it wanted, and the exit code must stay the decision's, not a crash's. Any other failure
/// (a full disk) is remembered: [`stdout_failure`] turns it into exit 1 at the end.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner());
            if failure.is_none() {
                *failure = Some(e.to_string());
            }
        }
    }
}

/// The write error on stdout, if any write failed for another reason than a closed pipe.
pub fn stdout_failure() -> Option<crate::Error> {
    let failure = STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner());
    failure.as_ref().map(|e| {
        crate::Error::new(
            crate::ErrorKind::Write,
            format!("cannot write to standard output: {e}"),
        )
        .with_hint(
            "the report was not delivered; free space or point stdout elsewhere and run again",
        )
    })
}

/// Writes to stderr and ignores any failure (full disk, closed pipe): diagnostics must never
/// end the process or change its exit code. `eprintln!` would panic instead; use
/// [`ewriteln!`](crate::ewriteln) and [`ewrite!`](crate::ewrite), which come here.
pub fn err(text: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}
