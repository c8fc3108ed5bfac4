//! What `migtag gate` writes for GitHub Actions besides its report: the escaping of
//! annotation text, and the Markdown job summary.

use std::fmt::Write as _;

use crate::core::gate::{GateReport, GateVerdict};

/// The workflow commands for the gate's reasons (errors) and warnings, one line each, data
/// and title escaped.
pub fn annotations(report: &GateReport) -> Vec<String> {
    let title = escape_property("migtag gate");
    let error = report.reasons.iter().map(|r| ("error", r));
    let warning = report.warnings.iter().map(|w| ("warning", w));
    error
        .chain(warning)
        .map(|(kind, text)| format!("::{kind} title={title}::{}", escape_annotation(text)))
        .collect()
}

/// GitHub's workflow-command escaping for annotation data (the message after `::`): `%`,
/// CR and LF, so that the data stays on one line and cannot end the command.
pub fn escape_annotation(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping for a workflow-command property value (`title=...`): the data's, plus
/// `:` and `,`, which end a property.
pub fn escape_property(text: &str) -> String {
    escape_annotation(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// The `::error` line for an error that stopped the gate before it decided.
pub fn error_annotation(err: &crate::error::Error) -> String {
    let text = match err.hint() {
        Some(h) => format!("{} ({h})", err.message()),
        None => err.message().to_string(),
    };
    format!(
        "::error title={}::{}",
        escape_property(&format!("migtag gate: exit {}", err.exit_code().code())),
        escape_annotation(&text)
    )
}

/// The job summary's section for an error that stopped the gate.
pub fn error_summary_markdown(err: &crate::error::Error) -> String {
    let mut out = format!(
        "### ❌ migtag gate: error (exit {})\n\n{}\n",
        err.exit_code().code(),
        md(err.message())
    );
    if let Some(h) = err.hint() {
        let _ = writeln!(out, "\n{}", md(h));
    }
    out
}

pub fn summary_markdown(report: &GateReport) -> String {
    let mut out = String::new();
    let icon = match report.verdict {
        GateVerdict::Safe => "✅",
        GateVerdict::Unsafe => "❌",
        GateVerdict::NeedsHuman => "🛑",
        GateVerdict::UnknownTarget | GateVerdict::AheadOfIndex => "❓",
    };
    let _ = writeln!(out, "### {icon} migtag gate: {}\n", md(&report.summary));
    let state = match (report.state.version, report.state.dirty) {
        (Some(v), Some(d)) => format!("{} at {v} (dirty = {d})", report.state.kind),
        _ => report.state.kind.to_string(),
    };
    let _ = writeln!(out, "- database: {state}");
    let _ = writeln!(
        out,
        "- target: `{}`",
        report
            .target
            .as_ref()
            .map(|t| t.image.as_str())
            .unwrap_or(&report.target_tag)
    );
    for r in &report.reasons {
        let _ = writeln!(out, "- ❌ {}", md(r));
    }
    for w in &report.warnings {
        let _ = writeln!(out, "- ⚠️ {}", md(w));
    }
    // A failed rehearsal is among the reasons; a clean one is worth a line too.
    if let Some(r) = report.rehearsal.as_ref().filter(|r| r.clean) {
        let _ = writeln!(out, "- ✅ {} ({})", md(&r.line()), md(r.caveat()));
    }
    if !report.findings.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>fix the Deployment first</summary>\n"
        );
        for f in &report.findings {
            for step in &f.fix {
                let _ = writeln!(out, "- {}", md(&step.description));
                if let Some(c) = &step.command {
                    let _ = writeln!(out, "\n  ```sh\n  {}\n  ```\n", c.text);
                }
            }
        }
        let _ = writeln!(out, "</details>");
    }
    if let Some(f) = &report.forecast {
        let _ = writeln!(
            out,
            "\n<details open><summary>upgrade forecast</summary>\n\n```text{}```\n\n</details>",
            super::forecast::human(f)
        );
    }
    if !report.pending.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} pending migrations</summary>\n",
            report.pending.len()
        );
        for m in &report.pending {
            let _ = writeln!(out, "- `{m}`");
        }
        let _ = writeln!(out, "\n</details>");
    }
    out.push('\n');
    out
}

/// Keeps user-visible text from opening HTML or tables in the summary.
fn md(text: &str) -> String {
    text.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}
