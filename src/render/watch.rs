//! `watch` output: a block redrawn in place on a terminal, one plain line per change
//! otherwise, one JSON object per line with `--format json` (docs/watch.md).

use serde::Serialize;

use super::style::Style;
use crate::core::duration::approx;
use crate::core::watch::{Band, Ending, Peer, Running};

/// One JSON line per poll.
#[derive(Serialize)]
struct RunningLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    frame: &'a Running,
}

/// The last JSON line.
#[derive(Serialize)]
struct EndLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    ending: &'a Ending,
    summary: String,
    exit_code: i32,
}

pub fn running_json(frame: &Running) -> String {
    let mut s = serde_json::to_string(&RunningLine {
        event: "running",
        frame,
    })
    .expect("frames serialise");
    s.push('\n');
    s
}

pub fn ending_json(ending: &Ending) -> String {
    let mut s = serde_json::to_string(&EndLine {
        event: "ended",
        ending,
        summary: ending.summary(),
        exit_code: ending.exit_code() as i32,
    })
    .expect("endings serialise");
    s.push('\n');
    s
}

/// An error as the last JSON line: `{"event": "error", "error": {kind, message, hint,
/// exit_code}}` (the fields of every command's JSON error document, on one line).
pub fn error_json(e: &crate::error::Error) -> String {
    let mut s = serde_json::json!({
        "event": "error",
        "error": {
            "kind": e.kind().as_str(),
            "message": e.message(),
            "hint": e.hint(),
            "exit_code": e.exit_code().code(),
        }
    })
    .to_string();
    s.push('\n');
    s
}

fn band(b: &Band) -> String {
    if b.high_seconds < 1.0 {
        format!("{:.2}s-{:.2}s", b.low_seconds, b.high_seconds)
    } else {
        format!("{:.1}s-{:.1}s", b.low_seconds, b.high_seconds)
    }
}

fn who(p: &Peer) -> String {
    let mut parts = vec![format!("pid {}", p.pid)];
    let mut inner: Vec<String> = Vec::new();
    if let Some(a) = &p.application {
        inner.push(a.clone());
    }
    if let Some(c) = &p.client {
        inner.push(c.clone());
    }
    if !inner.is_empty() {
        parts.push(format!("({})", inner.join(", ")));
    }
    if let Some(state) = &p.state {
        match (state.as_str(), p.state_seconds) {
            ("idle in transaction" | "idle in transaction (aborted)", Some(s)) => {
                parts.push(format!("{state} for {}", approx(s)))
            }
            _ => parts.push(state.clone()),
        }
    }
    if let Some(x) = p.xact_seconds {
        parts.push(format!("transaction open {}", approx(x)));
    }
    parts.join(" ")
}

fn migration_text(f: &Running) -> String {
    match &f.migration {
        Some(m) => {
            let mut s = format!("{:06} {}", m.version, m.name);
            if let Some(p) = &m.position {
                s.push_str(&format!(
                    " ({} of {}, {} more after it)",
                    p.k, p.of, p.remaining
                ));
            }
            if let Some(secs) = m.seconds {
                s.push_str(&format!(", running {}", approx(secs)));
            }
            if let Some(b) = &m.forecast {
                s.push_str(&format!(" (forecast {})", band(b)));
            }
            s
        }
        None if f.between_migrations => {
            "between migrations (golang-migrate takes the lock or records the version)".into()
        }
        None => match &f.unmatched_query {
            Some(q) => format!("no known migration matches the running query: {q}"),
            None => "the running query is not visible".into(),
        },
    }
}

/// The block a terminal shows, redrawn every poll.
pub fn running_block(f: &Running, style: Style) -> String {
    let mut who_line = format!("pid {}", f.pid);
    let inner: Vec<&str> = [f.application.as_deref(), f.client.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !inner.is_empty() {
        who_line.push_str(&format!(" ({})", inner.join(", ")));
    }
    let mut out = format!(
        "{} {who_line}, batch running {}",
        style.warn("migrating:"),
        f.batch_seconds.map(approx).unwrap_or_else(|| "?".into())
    );
    if let Some(b) = &f.batch_forecast {
        out.push_str(&format!(" (forecast {})", band(b)));
    }
    out.push('\n');
    out.push_str(&format!("  migration:   {}\n", migration_text(f)));
    if let Some(m) = &f.migration {
        match &m.statement {
            Some(s) => out.push_str(&format!("  statement:   {} of {}\n", s.index, s.of)),
            None => {
                out.push_str(&style.dim(
                    "  statement:   the file runs as one query; PostgreSQL does not say which of its statements",
                ));
                out.push('\n');
            }
        }
    }
    if let Some(b) = &f.index_build {
        let p = &b.progress;
        let mut s = format!(
            "  index build: {}on {}: {}",
            b.index
                .as_deref()
                .map(|i| format!("{i} "))
                .unwrap_or_default(),
            p.table,
            p.phase
        );
        if p.blocks_total > 0 {
            s.push_str(&format!(
                ", blocks {} of {} ({}%)",
                p.blocks_done,
                p.blocks_total,
                p.blocks_done * 100 / p.blocks_total
            ));
        }
        if p.tuples_total > 0 {
            s.push_str(&format!(", tuples {} of {}", p.tuples_done, p.tuples_total));
        }
        out.push_str(&s);
        out.push('\n');
    }
    if let Some(w) = &f.waiting_on {
        out.push_str(&format!("  {} {w}\n", style.bad("waiting on:")));
    }
    for p in &f.blocked_by {
        out.push_str(&format!("  {} {}\n", style.bad("blocked by:"), who(p)));
    }
    for p in &f.waiters {
        out.push_str(&format!("  waited on by: {}\n", who(p)));
    }
    if let Some(p) = &f.probe {
        let text = format!(
            "  probe:       the {} restarts the pod after about {}: {} left at most",
            p.probe,
            approx(p.budget_seconds as f64),
            approx(p.left_seconds.max(0.0))
        );
        out.push_str(&if p.left_seconds < 60.0 {
            style.bad(&text)
        } else {
            text
        });
        out.push('\n');
    }
    out
}

/// What a plain line says apart from times: a new line is printed when it changes.
pub fn line_key(f: &Running) -> String {
    let blockers: Vec<i32> = f.blocked_by.iter().map(|p| p.pid).collect();
    let waiters: Vec<i32> = f.waiters.iter().map(|p| p.pid).collect();
    format!(
        "{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
        f.pid,
        f.migration.as_ref().map(|m| (m.version, m.statement)),
        f.unmatched_query,
        f.between_migrations,
        blockers,
        waiters,
        f.index_build.as_ref().map(|b| &b.progress.phase)
    )
}

/// The one-line form of a frame, for a log or a pipe.
pub fn running_line(f: &Running) -> String {
    let mut s = format!(
        "[{}] pid {}: {}",
        f.batch_seconds.map(approx).unwrap_or_else(|| "?".into()),
        f.pid,
        migration_text(f)
    );
    if let Some(b) = &f.index_build {
        s.push_str(&format!(
            "; index build on {}: {}",
            b.progress.table, b.progress.phase
        ));
    }
    if !f.blocked_by.is_empty() {
        let list: Vec<String> = f.blocked_by.iter().map(who).collect();
        s.push_str(&format!("; blocked by {}", list.join("; ")));
    }
    if !f.waiters.is_empty() {
        s.push_str(&format!("; {} session(s) wait for it", f.waiters.len()));
    }
    s.push('\n');
    s
}

/// The last words, for humans.
pub fn ending_text(e: &Ending, style: Style) -> String {
    let head = match e {
        Ending::Committed { .. } => style.good(&e.summary()),
        Ending::NothingRunning { .. } => e.summary(),
        _ => style.bad(&e.summary()),
    };
    let mut out = format!("{head}\n");
    match e {
        Ending::RolledBack { logs, .. } | Ending::FailedDirty { logs, .. } => {
            out.push_str(&format!("  logs: {logs}\n"));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::watch::{MigrationView, Position};

    #[test]
    fn a_frame_in_each_form() {
        let f = Running {
            pid: 7,
            application: Some("coderd".into()),
            client: None,
            state: Some("active".into()),
            batch_seconds: Some(12.0),
            batch_forecast: Some(Band {
                low_seconds: 2.0,
                high_seconds: 7.1,
            }),
            migration: Some(MigrationView {
                version: 371,
                name: "api_key_scopes_array_allow_list".into(),
                statement: None,
                position: Some(Position {
                    k: 9,
                    of: 14,
                    counted_from: 363,
                    remaining: 5,
                }),
                seconds: Some(3.2),
                forecast: None,
            }),
            unmatched_query: None,
            between_migrations: false,
            waiting_on: None,
            blocked_by: vec![Peer {
                pid: 9,
                application: Some("old".into()),
                client: Some("10.0.0.9".into()),
                state: Some("idle in transaction".into()),
                xact_seconds: Some(605.0),
                state_seconds: Some(602.0),
                query: None,
                blocked_by: vec![],
            }],
            waiters: vec![],
            index_build: None,
            probe: None,
        };
        let block = running_block(&f, Style::plain());
        assert!(
            block.contains(
                "000371 api_key_scopes_array_allow_list (9 of 14, 5 more after it), running 3s"
            ),
            "{block}"
        );
        assert!(block.contains("blocked by: pid 9 (old, 10.0.0.9) idle in transaction for 10m02s transaction open 10m05s"), "{block}");
        let line = running_line(&f);
        assert!(line.starts_with("[12s] pid 7: 000371"), "{line}");
        let json: serde_json::Value = serde_json::from_str(&running_json(&f)).unwrap();
        assert_eq!(json["event"], "running");
        assert_eq!(json["migration"]["version"], 371);
        assert_eq!(json["blocked_by"][0]["pid"], 9);
        let end: serde_json::Value =
            serde_json::from_str(&ending_json(&Ending::Committed { version: 376 })).unwrap();
        assert_eq!(end["outcome"], "committed");
        assert_eq!(end["exit_code"], 0);
    }
}
