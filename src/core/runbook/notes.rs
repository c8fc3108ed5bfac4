//! Text about the sessions the live database showed, for the runbook's notes. The wording of
//! each piece comes from [`session_text`](super::super::session_text).

use crate::core::observation::DbObservation;
use crate::core::session_text;
use crate::core::state::MigrationInProgress;

pub(super) fn holder_text(m: &MigrationInProgress) -> String {
    format!("holder of {}: {}", m.lock, session_text::holder(m))
}

pub(super) fn session_notes(d: &DbObservation) -> Vec<String> {
    let s = &d.sessions;
    let mut out = Vec::new();
    if s.total == 0 {
        out.push(format!(
            "when migtag looked: nobody else on `{}`",
            d.database.database
        ));
        return out;
    }
    out.push(format!(
        "when migtag looked: {} other session{} on `{}`; by application: {}; by client: {}; by state: {}",
        s.total,
        if s.total == 1 { "" } else { "s" },
        d.database.database,
        session_text::counts(&s.by_application),
        session_text::counts(&s.by_client),
        session_text::counts(&s.by_state)
    ));
    for b in &s.idle_in_transaction {
        out.push(format!(
            "idle in a transaction (may hold locks a migration needs): {}",
            session_text::brief(b)
        ));
    }
    for w in &s.waiting {
        let by: Vec<String> = w.blocked_by.iter().map(|p| p.to_string()).collect();
        out.push(format!(
            "waiting on a lock{}: {}",
            if by.is_empty() {
                String::new()
            } else {
                format!(" held by pid {}", by.join(", "))
            },
            session_text::brief(&w.session)
        ));
    }
    if let Some(n) = &s.hidden_note {
        out.push(n.clone());
    }
    out
}
