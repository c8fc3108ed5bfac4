//! Human text for a live-database observation: where the state was read, and who else is
//! connected (the recovery steps depend on them).

use std::fmt::Write as _;

use super::style::Style;
use crate::core::duration;
use crate::core::observation::{Count, DbObservation, SessionBrief};
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
        let mut parts = Vec::new();
        if let Some(pid) = m.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(a) = &m.application_name {
            parts.push(format!("application {a}"));
        }
        if let Some(c) = &m.client_addr {
            parts.push(format!("client {c}"));
        }
        match (m.xact_seconds, &m.xact_start) {
            (Some(s), Some(t)) => parts.push(format!(
                "transaction open {} (since {t})",
                duration::approx(s as f64)
            )),
            (Some(s), None) => {
                parts.push(format!("transaction open {}", duration::approx(s as f64)))
            }
            _ => parts.push("transaction age hidden from this role".into()),
        }
        let _ = writeln!(out, "\nmigration lock holder: {}", parts.join(", "));
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
    let _ = writeln!(out, "  by application: {}", counts(&s.by_application));
    let _ = writeln!(out, "  by client:      {}", counts(&s.by_client));
    let _ = writeln!(out, "  by state:       {}", counts(&s.by_state));
    if !s.idle_in_transaction.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            style.warn("idle in transaction (may hold locks a migration needs):")
        );
        for b in s.idle_in_transaction.iter().take(MAX_LISTED) {
            let idle = b
                .idle_seconds
                .map(|x| format!(", idle {}", duration::approx(x as f64)))
                .unwrap_or_default();
            let _ = writeln!(out, "    {}{idle}{}", who(b), query(b));
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
                who(&w.session),
                query(&w.session)
            );
        }
        more(&mut out, s.waiting.len());
    }
    if let Some(note) = &s.hidden_note {
        let _ = writeln!(out, "  {} {note}", style.warn("hidden:"));
    }
    out
}

fn who(b: &SessionBrief) -> String {
    let mut s = format!("pid {}", b.pid);
    if let Some(a) = &b.application_name {
        s.push_str(&format!(" {a}"));
    }
    if let Some(u) = &b.user {
        s.push_str(&format!(" (user {u}"));
        match &b.client_addr {
            Some(c) => s.push_str(&format!(", from {c})")),
            None => s.push(')'),
        }
    }
    if let Some(x) = b.xact_seconds {
        s.push_str(&format!(
            ", transaction open {}",
            duration::approx(x as f64)
        ));
    }
    s
}

fn query(b: &SessionBrief) -> String {
    b.query
        .as_deref()
        .map(|q| format!(": {q}"))
        .unwrap_or_default()
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

fn counts(c: &[Count]) -> String {
    c.iter()
        .map(|c| format!("{} {}", c.name, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `15.6 (Debian 15.6-1.pgdg120+1)` -> `15.6`.
fn short_version(v: &str) -> &str {
    v.split_whitespace().next().unwrap_or(v)
}
