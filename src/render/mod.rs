//! Renderers: turn a report into text for humans or one JSON document. Nothing else prints.

pub mod db;
pub mod human;
pub mod patch;
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
