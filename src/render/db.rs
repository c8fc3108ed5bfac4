//! Human text for a live-database observation: where the state was read, and who else is
//! connected (the recovery steps depend on them).

use std::fmt::Write as _;

use super::style::Style;
use crate::core::observation::DbObservation;
use crate::core::session_text;
use crate::core::state::DbState;

/// How many sessions each list shows before pointing at `--format json`.
const MAX_LISTED: usize = 10;

/// The check report with the observation inserted before its footer (the `image:` and
/// `index:` lines stay last, where operators copy them from).
pub fn check_with_observation(report_text: String, obs: &DbObservation, style: Style) -> String {
    let section = observation(obs, style);
    match report_text.trim_end_matches('\n').rfind("\n\n") {
        Some(at) => {
            let (body, footer) = report_text.split_at(at + 1);
            format!("{body}{section}{footer}")
        }
        None => report_text + &section,
    }
}

pub fn observation(obs: &DbObservation, style: Style) -> String {
    let mut out = String::new();
    let d = &obs.database;
    let _ = writeln!(
        out,
        "\n{}",
        style.dim(&format!(
            "database: {} (schema {}, PostgreSQL {}, {}, read-only session pid {})",
            d.target,
            d.schema.as_deref().unwrap_or("-"),
            short_version(&d.server_version),
            d.transport,
            d.backend_pid
        ))
    );
    for n in &d.notes {
        let _ = writeln!(out, "{} {n}", style.warn("note:"));
    }

    if let DbState::InProgress(m) = &obs.state {
        let _ = writeln!(out, "\nmigration lock holder: {}", session_text::holder(m));
        if let Some(q) = &m.query {
            let _ = writeln!(out, "  running: {q}");
        }
        let blockers = obs
            .sessions
            .waiting
            .iter()
            .find(|w| Some(w.session.pid) == m.pid && !w.blocked_by.is_empty());
        if let Some(w) = blockers {
            let pids: Vec<String> = w.blocked_by.iter().map(|p| p.to_string()).collect();
            let _ = writeln!(
                out,
                "  {} it waits for a lock held by pid {}; it cannot finish until that session lets go",
                style.warn("stuck:"),
                pids.join(", ")
            );
        }
    }

    let s = &obs.sessions;
    if s.total == 0 {
        let _ = writeln!(
            out,
            "\nwho else is connected: nobody (no other session on {})",
            d.database
        );
        return out;
    }
    let _ = writeln!(
        out,
        "\nwho else is connected: {} other session{} on {}",
        s.total,
        if s.total == 1 { "" } else { "s" },
        d.database
    );
    let _ = writeln!(
        out,
        "  by application: {}",
        session_text::counts(&s.by_application)
    );
    let _ = writeln!(
        out,
        "  by client:      {}",
        session_text::counts(&s.by_client)
    );
    let _ = writeln!(
        out,
        "  by state:       {}",
        session_text::counts(&s.by_state)
    );
    if !s.idle_in_transaction.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            style.warn("idle in transaction (may hold locks a migration needs):")
        );
        for b in s.idle_in_transaction.iter().take(MAX_LISTED) {
            let _ = writeln!(out, "    {}", session_text::brief(b));
        }
        more(&mut out, s.idle_in_transaction.len());
    }
    if !s.waiting.is_empty() {
        let _ = writeln!(out, "  {}", style.warn("waiting on locks:"));
        for w in s.waiting.iter().take(MAX_LISTED) {
            let by = if w.blocked_by.is_empty() {
                String::new()
            } else {
                let pids: Vec<String> = w.blocked_by.iter().map(|p| p.to_string()).collect();
                format!(", blocked by pid {}", pids.join(", "))
            };
            let what = w
                .wait_event
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {}{what}{by}{}",
                session_text::who(&w.session),
                session_text::query(&w.session)
            );
        }
        more(&mut out, s.waiting.len());
    }
    if let Some(note) = &s.hidden_note {
        let _ = writeln!(out, "  {} {note}", style.warn("hidden:"));
    }
    out
}

fn more(out: &mut String, n: usize) {
    if n > MAX_LISTED {
        let _ = writeln!(
            out,
            "    ... and {} more (see --format json)",
            n - MAX_LISTED
        );
    }
}

/// `15.6 (Debian 15.6-1.pgdg120+1)` -> `15.6`.
fn short_version(v: &str) -> &str {
    v.split_whitespace().next().unwrap_or(v)
}
