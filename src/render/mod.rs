//! Renderers: turn a report into text for humans or one JSON document. Nothing else prints.

pub mod db;
pub mod forecast;
pub mod gate;
pub mod human;
pub mod index;
pub mod openmetrics;
pub mod patch;
pub mod releases;
pub mod repair;
pub mod runbook;
pub mod style;
pub mod verify;
pub mod watch;

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
    write_stdout(&safe_text(text, under_github_actions()));
}

/// Writes `text` over the `lines` lines written last: cursor to the start of the first of
/// them, erase to the end of the screen, then [`out`]. `watch`'s live view on a terminal is
/// the only user, and these two sequences are the only escapes other than colours that
/// migtag writes; the text itself is made safe as everywhere.
pub fn out_over(lines: usize, text: &str) {
    if lines > 0 {
        write_stdout(&format!("\u{1b}[{lines}F\u{1b}[J"));
    }
    out(text);
}

fn write_stdout(text: &str) {
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
    write_stderr(&safe_text(text, under_github_actions()));
}

/// Writes one of migtag's own GitHub workflow commands (`::error title=...::data`) on
/// stderr: the only text allowed to start a line with `::`. The data must already be escaped
/// (`gate::escape_annotation`); control characters are still made visible.
pub fn workflow_command(line: &str) {
    write_stderr(&safe_text(&format!("{line}\n"), false));
}

fn write_stderr(text: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// True when the GitHub Actions runner reads our output (`GITHUB_ACTIONS=true`): it executes
/// any line of stdout or stderr that starts with `::`.
pub fn under_github_actions() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true"))
}

/// The one guard between echoed input and the terminal or CI log: everything printed goes
/// through it. Control characters other than newline and tab are shown escaped (`\u{1b}`,
/// `\r`, `\u{7}`): colour (SGR, `ESC [ 31 m`), OSC sequences (titles, hyperlinks,
/// clipboard), cursor moves, BEL and CR from a tag, an identifier, a path or a pasted line
/// cannot act on the terminal. migtag's own colours ([`style`]) are written as markers that
/// hold a per-process random token ([`own_sgr`]), which input cannot guess; only those become
/// `ESC [ .. m`, after the escaping. Under GitHub Actions a line that would start with `::`
/// (after spaces, as the runner reads it) gets `> ` in front, so input holding a newline
/// cannot smuggle in a workflow command such as `::add-mask::`.
pub fn safe_text(text: &str, github_actions: bool) -> std::borrow::Cow<'_, str> {
    let marker = sgr_marker();
    let needs_escape = text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t');
    let has_own_colour = text.contains(marker);
    let needs_guard = github_actions && text.lines().any(|l| l.trim_start().starts_with("::"));
    if !needs_escape && !needs_guard && !has_own_colour {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' | '\t' => escaped.push(c),
            '\r' => escaped.push_str("\\r"),
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    if has_own_colour {
        escaped = restore_own_sgr(&escaped, marker);
    }
    if !github_actions {
        return std::borrow::Cow::Owned(escaped);
    }
    let mut guarded = String::with_capacity(escaped.len() + 8);
    for line in escaped.split_inclusive('\n') {
        if line.trim_start().starts_with("::") {
            guarded.push_str("> ");
        }
        guarded.push_str(line);
    }
    std::borrow::Cow::Owned(guarded)
}

/// migtag's own colour sequence `ESC [ params m` (params: digits and `;`), as the marker
/// [`safe_text`] turns into the escape.
pub fn own_sgr(params: &str) -> String {
    debug_assert!(params.bytes().all(|b| b.is_ascii_digit() || b == b';'));
    format!("{}{params}{SGR_END}", sgr_marker())
}

/// Ends a colour marker's parameters.
const SGR_END: char = '\u{e001}';

/// `U+E000` and 16 random hex digits, the same for the whole process.
fn sgr_marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("\u{e000}{:016x}", h.finish())
    })
}

/// Replaces each marker-params-end run with `ESC [ params m`.
fn restore_own_sgr(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        match after.find(SGR_END) {
            Some(end)
                if after[..end]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b';') =>
            {
                out.push_str("\u{1b}[");
                out.push_str(&after[..end]);
                out.push('m');
                rest = &after[end + SGR_END.len_utf8()..];
            }
            _ => {
                out.push_str(marker);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{own_sgr, safe_text};

    #[test]
    fn control_characters_are_made_visible_and_only_migtag_s_own_colours_stay() {
        assert_eq!(safe_text("plain\n\tline", false), "plain\n\tline");
        assert_eq!(
            safe_text("a\u{1b}]0;title\u{7}b\rc\u{9b}d", false),
            "a\\u{1b}]0;title\\u{7}b\\rc\\u{9b}d"
        );
        // Colour from input (a paste, a tag, an identifier) is escaped like any escape.
        assert_eq!(
            safe_text("\u{1b}[1;31mred\u{1b}[0m", false),
            "\\u{1b}[1;31mred\\u{1b}[0m"
        );
        assert_eq!(safe_text("\u{1b}[2J", false), "\\u{1b}[2J");
        // migtag's own colour becomes the escape, input's inside it stays escaped.
        let own = format!("{}v2.3.1 \u{1b}[31mx{}", own_sgr("1;31"), own_sgr("0"));
        assert_eq!(
            safe_text(&own, false),
            "\u{1b}[1;31mv2.3.1 \\u{1b}[31mx\u{1b}[0m"
        );
        // A forged marker without the process's token is left as text.
        assert_eq!(safe_text("\u{e000}31\u{e001}", false), "\u{e000}31\u{e001}");
    }

    #[test]
    fn workflow_commands_in_echoed_text_are_defused_under_github_actions() {
        let text = "error: `x\n::add-mask::s\n  ::error::e` is not a tag\n";
        assert_eq!(
            safe_text(text, true),
            "error: `x\n> ::add-mask::s\n>   ::error::e` is not a tag\n"
        );
        assert_eq!(safe_text(text, false), text);
    }
}
