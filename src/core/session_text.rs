//! How a session is described in text: the holder of Coder's migration lock, another
//! session on the database, and counts by application/client/state. The runbook's notes and
//! the renderers (live-database report, repair) all say it this way, so it lives once.

use super::duration;
use super::observation::{Count, SessionBrief};
use super::state::MigrationInProgress;

/// `pid 777, application coderd, client 10.0.0.7, transaction open 30m00s (since …)`.
pub fn holder(m: &MigrationInProgress) -> String {
    let mut parts = Vec::new();
    match m.pid {
        Some(pid) => parts.push(format!("pid {pid}")),
        None => parts.push("a session migtag cannot see".to_string()),
    }
    if let Some(a) = &m.application_name {
        parts.push(format!("application {a}"));
    }
    if let Some(c) = &m.client_addr {
        parts.push(format!("client {c}"));
    }
    parts.push(match (m.xact_seconds, &m.xact_start) {
        (Some(s), Some(t)) => format!(
            "transaction open {} (since {t})",
            duration::approx(s as f64)
        ),
        (Some(s), None) => format!("transaction open {}", duration::approx(s as f64)),
        _ => "transaction age hidden from this role".into(),
    });
    parts.join(", ")
}

/// `pid 778 coderd (user coder, from 10.0.0.8), transaction open 12s`.
pub fn who(b: &SessionBrief) -> String {
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

/// [`who`], how long it has been idle, and what it runs: `pid 778 coderd, idle 10m00s: SELECT 1`.
pub fn brief(b: &SessionBrief) -> String {
    let idle = b
        .idle_seconds
        .map(|x| format!(", idle {}", duration::approx(x as f64)))
        .unwrap_or_default();
    format!("{}{idle}{}", who(b), query(b))
}

/// `: <query>`, or nothing.
pub fn query(b: &SessionBrief) -> String {
    b.query
        .as_deref()
        .map(|q| format!(": {q}"))
        .unwrap_or_default()
}

/// `coderd 3, psql 1`.
pub fn counts(c: &[Count]) -> String {
    c.iter()
        .map(|c| format!("{} {}", c.name, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `12, 34`.
pub fn pids(p: &[i32]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
