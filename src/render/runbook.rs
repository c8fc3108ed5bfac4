//! The runbook as Markdown to read, or as a bash script to run step by step.
//!
//! The script runs read-only commands directly and asks before every change: a change runs
//! only when the user types `yes` at its prompt, so running the script with no input (or
//! stdin closed) changes nothing. Alternatives and snippets stay comments. Text from outside
//! (database names, session details, notes) only ever appears in comments with control
//! characters removed, or as one single-quoted word.

use std::fmt::Write as _;

use crate::core::runbook::{CommandKind, Effect, Runbook, RunbookCommand, Step};
use crate::core::shell::quote;

use super::human::index_line;

pub fn markdown(r: &Runbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Coder recovery runbook\n");
    let _ = writeln!(out, "**Situation:** {}\n", r.summary);
    let _ = writeln!(out, "**Plan:** {}\n", r.plan);
    for line in facts(r) {
        let _ = writeln!(out, "- {line}");
    }
    if let Some(f) = &r.forecast {
        let _ = writeln!(out, "\n```text{}```", super::forecast::human(f));
    }
    let _ = writeln!(
        out,
        "\nRead each step before you run it. Steps marked **destructive** stop Coder, end database sessions or \
         write to the database. SQL runs against Coder's database: each statement is followed by the psql line \
         that runs it with `$CODER_PG_CONNECTION_URL`."
    );
    for (i, step) in r.steps.iter().enumerate() {
        let _ = writeln!(out, "\n## {}. {}{}\n", i + 1, step.title, marker(step));
        let _ = writeln!(out, "**Why:** {}", step.why);
        for c in &step.commands {
            out.push('\n');
            markdown_command(&mut out, c);
        }
        if !step.notes.is_empty() {
            out.push('\n');
            for n in &step.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    let _ = writeln!(out, "\n---\n{}", index_line(&r.index));
    out
}

fn marker(step: &Step) -> &'static str {
    if step.destructive {
        " (destructive)"
    } else {
        ""
    }
}

fn facts(r: &Runbook) -> Vec<String> {
    let mut out = Vec::new();
    let state = match (r.state.version, r.state.dirty) {
        (Some(v), Some(d)) => format!("{} at version {v} (dirty = {d})", r.state.kind),
        _ => r.state.kind.to_string(),
    };
    out.push(format!("database state: {state}"));
    if let Some(d) = &r.database {
        out.push(format!(
            "database: `{}` (schema {}, {} other session{} when migtag looked)",
            d.name,
            d.schema.as_deref().unwrap_or("-"),
            d.other_sessions,
            if d.other_sessions == 1 { "" } else { "s" }
        ));
    }
    let t = &r.target;
    let mut dep = format!(
        "Deployment: `{}{}`, container `{}`",
        t.namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        t.deployment,
        t.container
    );
    if let (Some(n), Some(img)) = (t.replicas, &t.current_image) {
        let _ = write!(
            dep,
            " ({n} replica{}, image `{img}`{})",
            if n == 1 { "" } else { "s" },
            t.helm_release
                .as_deref()
                .map(|h| format!(", Helm release `{h}`"))
                .unwrap_or_default()
        );
    }
    out.push(dep);
    if let Some(img) = &r.image {
        out.push(format!("image to run: `{img}`"));
    }
    out
}

fn markdown_command(out: &mut String, c: &RunbookCommand) {
    let label = match (&c.label, c.alternative) {
        (Some(l), true) => Some(format!("Or, {l}:")),
        (Some(l), false) => Some(format!("{}:", capitalise(l))),
        (None, true) => Some("Or:".to_string()),
        (None, false) => None,
    };
    let label = match (label, c.effect) {
        (Some(l), Effect::Destructive) => Some(format!("{l} **destructive**")),
        (None, Effect::Destructive) if c.kind == CommandKind::Sql => {
            Some("**destructive**".to_string())
        }
        (l, _) => l,
    };
    if let Some(l) = label {
        let _ = writeln!(out, "{l}\n");
    }
    match c.kind {
        CommandKind::Shell => {
            let _ = writeln!(out, "```sh\n{}\n```", c.text);
        }
        CommandKind::Sql => {
            let _ = writeln!(out, "```sql\n{}\n```", c.text);
            if let Some(line) = &c.shell {
                let _ = writeln!(out, "\n```sh\n{line}\n```");
            }
        }
        CommandKind::Snippet => {
            let _ = writeln!(out, "```yaml\n{}```", ensure_newline(&c.text));
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

const SCRIPT_PRELUDE: &str = r#"set -euo pipefail

# Asks before a change; only a typed `yes` runs it. No input (stdin closed) means no.
confirm() {
  local answer=""
  printf '\n%s\nType yes to run it, anything else skips it: ' "$1" >&2
  IFS= read -r answer || true
  if [ "$answer" = yes ]; then
    return 0
  fi
  printf 'skipped\n' >&2
  return 1
}

step() {
  printf '\n== %s\n' "$1" >&2
}

say() {
  printf '%s\n' "$1" >&2
}

# Runs one SQL statement against Coder's database, the one CODER_PG_CONNECTION_URL names.
# Coder's driver takes search_path as a URL parameter and psql refuses it, so it leaves the
# URL and goes in PGOPTIONS (-c search_path=...); the rest of the URL is kept as it is.
sql() {
  if [ -z "${CODER_PG_CONNECTION_URL:-}" ]; then
    say "skipped: CODER_PG_CONNECTION_URL is not set; the statement was: $1"
    return 0
  fi
  local url="$CODER_PG_CONNECTION_URL" kept="" path="" found="" param
  local -a params=()
  if [[ "$url" == *'?'* ]]; then
    IFS='&' read -r -a params <<< "${url#*'?'}"
    url="${url%%'?'*}"
  fi
  for param in ${params[@]+"${params[@]}"}; do
    case "$param" in
      search_path=*) found=1; path="${param#search_path=}" ;;
      '') ;;
      *) kept="${kept:+$kept&}$param" ;;
    esac
  done
  if [ -z "$found" ]; then
    psql "$CODER_PG_CONNECTION_URL" -v ON_ERROR_STOP=1 -c "$1"
    return
  fi
  path="$(printf '%b' "${path//%/\\x}")"
  path="${path//\\/\\\\}"
  path="${path// /\\ }"
  PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c search_path=$path" \
    psql "$url${kept:+?$kept}" -v ON_ERROR_STOP=1 -c "$1"
}
"#;

/// The bash form. `generator` names the tool and version in the header.
pub fn script(r: &Runbook, generator: &str) -> String {
    let mut out = String::from("#!/usr/bin/env bash\n");
    comment(
        &mut out,
        "",
        &format!("Coder recovery runbook, written by {generator}."),
    );
    comment(&mut out, "", &format!("Situation: {}", r.summary));
    comment(&mut out, "", &format!("Plan: {}", r.plan));
    for f in facts(r) {
        comment(&mut out, "", &f);
    }
    out.push_str("#\n");
    comment(
        &mut out,
        "",
        "Running this script as it is changes nothing: read-only steps run, and every step that changes the \
         cluster or the database asks first and runs only if you type yes. Destructive steps (scale to 0, \
         ending sessions, writing schema_migrations) say so in their prompt. SQL runs through psql with \
         CODER_PG_CONNECTION_URL (export it first; without it the SQL steps are skipped). Alternatives are \
         comments: edit the script to use one of them instead.",
    );
    out.push_str(SCRIPT_PRELUDE);
    for (i, s) in r.steps.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(
            out,
            "\nstep {}",
            quote(&clean(&format!("{n}. {}{}", s.title, marker(s))))
        );
        comment(&mut out, "", &format!("Why: {}", s.why));
        for note in &s.notes {
            comment(&mut out, "", &format!("- {note}"));
        }
        for c in &s.commands {
            script_command(&mut out, n, s, c);
        }
    }
    if !r.notes.is_empty() {
        out.push('\n');
        comment(&mut out, "", "Notes:");
        for note in &r.notes {
            comment(&mut out, "", &format!("- {note}"));
        }
    }
    out.push_str("\nsay 'done: every step was shown; skipped steps changed nothing'\n");
    out
}

fn script_command(out: &mut String, n: usize, s: &Step, c: &RunbookCommand) {
    let run = match c.kind {
        CommandKind::Shell => c.text.clone(),
        CommandKind::Sql => format!("sql {}", quote(&c.text)),
        CommandKind::Snippet => {
            comment(
                out,
                "",
                &format!(
                    "{}:",
                    c.label
                        .as_deref()
                        .unwrap_or("or, in a file")
                        .trim_end_matches(':')
                ),
            );
            for line in c.text.lines() {
                let _ = writeln!(out, "#   {}", clean(line));
            }
            return;
        }
    };
    if c.alternative {
        comment(
            out,
            "",
            &format!("or, {}:", c.label.as_deref().unwrap_or("instead")),
        );
        // One line, unwrapped, so that it can be copied as it is.
        let _ = writeln!(out, "#   {}", clean(&run));
        return;
    }
    if let Some(l) = &c.label {
        comment(out, "", &format!("{l}:"));
    }
    match c.effect {
        Effect::Read => {
            let _ = writeln!(out, "{run}");
        }
        Effect::Watch => {
            let _ = writeln!(
                out,
                "say {}",
                quote(&clean(&format!("in another terminal: {run}")))
            );
        }
        Effect::Change | Effect::Destructive => {
            let kind = match (s.last_resort, c.effect) {
                (true, _) => "LAST RESORT, DESTRUCTIVE: ",
                (false, Effect::Destructive) => "DESTRUCTIVE: ",
                _ => "",
            };
            let label = c
                .label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let prompt = clean(&format!(
                "step {n}{label}: {kind}{}",
                match c.kind {
                    CommandKind::Sql => c.text.clone(),
                    _ => run.clone(),
                }
            ));
            let _ = writeln!(out, "if confirm {}; then\n  {run}\nfi", quote(&prompt));
        }
    }
}

/// Writes `text` as comment lines (wrapped), with control characters removed so nothing
/// can end the comment.
fn comment(out: &mut String, indent: &str, text: &str) {
    const WIDTH: usize = 96;
    let text = clean(text);
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
            let _ = writeln!(out, "# {indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "# {indent}{}", line.trim_end());
}

/// Replaces control characters (newlines among them) with spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_cannot_be_escaped() {
        let mut out = String::new();
        comment(&mut out, "", "a\nrm -rf /\r\u{b}x");
        assert_eq!(out, "# a rm -rf /  x\n");
        assert!(out.lines().all(|l| l.starts_with('#')));
    }
}
