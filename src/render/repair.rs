//! Human text for the repairs: the plan shown before the confirmation (where, what was
//! found, the exact statements), and the result (what changed, before -> after; which
//! sessions were ended and which were not, and why).

use std::fmt::Write as _;

use super::style::Style;
use crate::core::duration;
use crate::core::observation::DatabaseInfo;
use crate::core::repair::{
    ClearDirtyReport, FixRowReport, KeepReason, Outcome, Refusal, SessionEntry, TerminateReport,
    TerminateResult,
};
use crate::core::report::{short_tags, FEW_TAGS};
use crate::core::session_text;

fn database_line(d: &DatabaseInfo, style: Style) -> String {
    format!(
        "{}\n",
        style.dim(&format!(
            "database: {} (schema {}, PostgreSQL {}, {}, migtag's session pid {})",
            d.target,
            d.schema.as_deref().unwrap_or("-"),
            d.server_version
                .split_whitespace()
                .next()
                .unwrap_or(&d.server_version),
            d.transport,
            d.backend_pid
        ))
    )
}

/// What clear-dirty found and the statement it will run, shown before asking.
pub fn clear_dirty_preview(r: &ClearDirtyReport, style: Style) -> String {
    let mut out = String::new();
    if let Some(d) = &r.database {
        out.push_str(&database_line(d, style));
    }
    let table = r.table.as_deref().unwrap_or("schema_migrations");
    let m = &r.plan.migration;
    if let Some(before) = r.before {
        let _ = writeln!(
            out,
            "found:    {table} = {before}, locked FOR UPDATE while migtag holds Coder's migration lock"
        );
    }
    let _ = writeln!(out, "dirty:    migration {m} started and did not finish");
    match &r.plan.previous {
        _ if r.plan.keep => {
            let _ = writeln!(
                out,
                "evidence: every effect of {:06} is in the schema: it finished, so the row keeps {} and only the flag is cleared",
                m.version, m.version
            );
        }
        Some(p) => {
            let _ = writeln!(
                out,
                "previous: {p} (the migration before {} in {})",
                m.version,
                short_tags(&r.plan.assumes, FEW_TAGS)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "previous: none: {:06} is the first migration of {}, so the row is removed and Coder \
                 will see a fresh database (drop what the half-run migration created first)",
                m.version,
                short_tags(&r.plan.assumes, FEW_TAGS)
            );
        }
    }
    if r.plan.candidates.len() > 1 {
        let _ = writeln!(
            out,
            "{} the releases that contain {} disagree on the migration before it; you chose this one with --to/--deployed",
            style.warn("note:"),
            m.version
        );
    }
    if !r.plan.keep {
        let _ = writeln!(
            out,
            "check first: Coder >= v2.5 runs migrations in one transaction, so a dirty row comes from a pre-2.5 \
             binary or a hand edit; look at the schema for what {:06} half-did before clearing the flag",
            m.version
        );
    }
    if let Some(sql) = &r.statement {
        let _ = writeln!(
            out,
            "\nmigtag will run, in this transaction, and COMMIT only if exactly one row changes:\n  {sql}"
        );
    }
    out
}

fn refusal_text(refusal: &Refusal, style: Style) -> String {
    let mut out = format!("{} {}\n", style.bad("refused:"), refusal.message);
    if let Some(h) = &refusal.holder {
        let _ = writeln!(out, "  held by {}", session_text::holder(h));
        if let Some(q) = &h.query {
            let _ = writeln!(out, "  running: {q}");
        }
    }
    for l in &refusal.lock_holders {
        let _ = writeln!(
            out,
            "  pid {} holds {}{}{}",
            l.pid,
            l.mode,
            l.application_name
                .as_deref()
                .map(|a| format!(", application {a}"))
                .unwrap_or_default(),
            l.state
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default()
        );
        if let Some(q) = &l.query {
            let _ = writeln!(out, "    last statement: {q}");
        }
    }
    out
}

/// The outcome; `preview_shown` says whether the plan is already on the screen.
pub fn clear_dirty_result(r: &ClearDirtyReport, style: Style, preview_shown: bool) -> String {
    let mut out = String::new();
    if !preview_shown {
        if let Some(d) = &r.database {
            out.push_str(&database_line(d, style));
        }
    }
    let table = r.table.as_deref().unwrap_or("schema_migrations");
    match r.outcome {
        Outcome::Changed => {
            let before = r.before.map(|b| b.to_string()).unwrap_or_default();
            let after = match r.after {
                Some(a) => a.to_string(),
                None => "no row (removed)".into(),
            };
            let _ = writeln!(
                out,
                "{} {table} {before} -> {after} (committed)",
                style.good("changed:")
            );
            match &r.plan.run_after_cleanup {
                Some(run) if r.plan.keep => {
                    let _ = writeln!(
                        out,
                        "next: run {} (it starts from {:06})",
                        run.image, r.plan.migration.version
                    );
                }
                Some(run) => {
                    let _ = writeln!(
                        out,
                        "next: run {} (the first release that contains {:06}); it re-runs {}",
                        run.image, r.plan.migration.version, r.plan.migration
                    );
                }
                None => {}
            }
        }
        Outcome::NotConfirmed => {
            let _ = writeln!(out, "not confirmed: nothing was changed");
        }
        Outcome::Refused | Outcome::NothingToDo => {
            if let Some(refusal) = &r.refusal {
                out.push_str(&refusal_text(refusal, style));
            }
            let _ = writeln!(out, "nothing was changed");
        }
    }
    out
}

/// What fix-row found and the statement it will run, shown before asking.
pub fn fix_row_preview(r: &FixRowReport, style: Style) -> String {
    let mut out = String::new();
    if let Some(d) = &r.database {
        out.push_str(&database_line(d, style));
    }
    let table = r.table.as_deref().unwrap_or("schema_migrations");
    let found = match r.before {
        Some(b) => b.to_string(),
        None => "no row".into(),
    };
    let _ = writeln!(
        out,
        "found:    {table} = {found}, locked while migtag holds Coder's migration lock; the schema's fingerprint is still {}",
        r.schema_fingerprint
    );
    let _ = writeln!(out, "why:      {}", r.row_action.explanation);
    if let Some(sql) = &r.statement {
        let _ = writeln!(
            out,
            "\nmigtag will run, in this transaction, and COMMIT only if exactly one row is written:\n  {sql}"
        );
    }
    out
}

/// The outcome of fix-row; `preview_shown` says whether the plan is already on the screen.
pub fn fix_row_result(r: &FixRowReport, style: Style, preview_shown: bool) -> String {
    let mut out = String::new();
    if !preview_shown {
        if let Some(d) = &r.database {
            out.push_str(&database_line(d, style));
        }
    }
    let table = r.table.as_deref().unwrap_or("schema_migrations");
    let show = |row: Option<crate::core::repair::Row>| match row {
        Some(r) => r.to_string(),
        None => "no row".to_string(),
    };
    match r.outcome {
        Outcome::Changed => {
            let _ = writeln!(
                out,
                "{} {table} {} -> {} (committed)",
                style.good("changed:"),
                show(r.before),
                show(r.after)
            );
            let _ = writeln!(out, "next: `migtag check` names the image for this row");
        }
        Outcome::NotConfirmed => {
            let _ = writeln!(out, "not confirmed: nothing was changed");
        }
        Outcome::Refused | Outcome::NothingToDo => {
            if let Some(refusal) = &r.refusal {
                out.push_str(&refusal_text(refusal, style));
            }
            let _ = writeln!(out, "nothing was changed");
        }
    }
    out
}

fn session_line(s: &SessionEntry) -> String {
    let mut parts = vec![format!("pid {}", s.pid)];
    match (&s.state, s.state_seconds) {
        (Some(st), Some(secs)) => parts.push(format!("{st} for {}", duration::approx(secs))),
        (Some(st), None) => parts.push(st.clone()),
        (None, _) => parts.push("state hidden".into()),
    }
    if let Some(u) = &s.user {
        parts.push(format!("user {u}"));
    }
    if let Some(a) = &s.application_name {
        parts.push(format!("application {a}"));
    }
    parts.push(match &s.client_addr {
        Some(c) => format!("client {c}"),
        None => "local socket".into(),
    });
    parts.join(", ")
}

/// The sessions to end, with each statement, and the sessions left alone.
pub fn terminate_preview(r: &TerminateReport, style: Style) -> String {
    let mut out = database_line(&r.database, style);
    let bound = duration::approx(r.older_than_seconds as f64);
    let _ = writeln!(
        out,
        "sessions of database {} idle longer than {bound}, to be ended ({}):",
        r.database.database,
        r.targets.len()
    );
    for t in &r.targets {
        let _ = writeln!(out, "  {}", session_line(&t.session));
        if let Some(q) = &t.session.query {
            let _ = writeln!(out, "    last statement: {q}");
        }
    }
    if !r.kept.is_empty() {
        let _ = writeln!(out, "left alone ({}):", r.kept.len());
        for k in &r.kept {
            let why = match k.reason {
                KeepReason::NotIdle => "not idle".to_string(),
                KeepReason::UnderBound => format!("idle for less than {bound}"),
                KeepReason::StateHidden => format!(
                    "role {} may not see its state (grant pg_read_all_stats)",
                    r.database.user
                ),
            };
            let _ = writeln!(out, "  {} ({why})", session_line(&k.session));
        }
    }
    if !r.targets.is_empty() {
        let _ = writeln!(
            out,
            "\nmigtag will run, one at a time (each re-checks the session on the server and ends it only if it is unchanged):"
        );
        for t in &r.targets {
            let _ = writeln!(out, "  {};", t.statement);
        }
    }
    out
}

/// Which sessions were ended and which were not.
pub fn terminate_result(r: &TerminateReport, style: Style, preview_shown: bool) -> String {
    let mut out = String::new();
    match r.outcome {
        Outcome::NothingToDo => {
            out.push_str(&terminate_preview(r, style));
            let _ = writeln!(
                out,
                "nothing to end: no other session of database {} has been idle longer than {}",
                r.database.database,
                duration::approx(r.older_than_seconds as f64)
            );
        }
        Outcome::NotConfirmed => {
            if !preview_shown {
                out.push_str(&terminate_preview(r, style));
            }
            let _ = writeln!(out, "not confirmed: no session was ended");
        }
        Outcome::Changed | Outcome::Refused => {
            let ended: Vec<String> = r.ended.iter().map(|p| p.to_string()).collect();
            let _ = writeln!(
                out,
                "{} {}",
                style.good("ended:"),
                if ended.is_empty() {
                    "none".to_string()
                } else {
                    format!("pid {}", ended.join(", "))
                }
            );
            for a in &r.attempts {
                let why = match a.result {
                    TerminateResult::VanishedOrChanged => {
                        "it ended, ran a statement, or changed since the listing; left alone"
                            .to_string()
                    }
                    TerminateResult::PermissionDenied => format!(
                        "the server refused: {}",
                        a.detail.as_deref().unwrap_or("permission denied")
                    ),
                    TerminateResult::StillPresent => a
                        .detail
                        .clone()
                        .unwrap_or_else(|| "signalled, still present".into()),
                    TerminateResult::NotSignalled => {
                        "pg_terminate_backend returned false (no such server process)".into()
                    }
                    TerminateResult::Ended => continue,
                };
                let label = match a.result {
                    TerminateResult::VanishedOrChanged => style.warn("not ended:"),
                    _ => style.bad("not ended:"),
                };
                let _ = writeln!(out, "{label} pid {} ({why})", a.pid);
            }
        }
    }
    out
}
