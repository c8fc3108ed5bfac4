//! `DbObservation`: one look at a live Coder database: its migration state, where it was read
//! (database, schema, server), and who else is connected.
//!
//! Plain data, built by the PostgreSQL adapter and consumed by `check` (and later by `gate`,
//! `runbook` and `repair`, whose recovery steps depend on the other sessions). The session
//! summary is computed here from the rows the adapter read, so it is pure and table-tested.
//! Nothing here talks to a database or reads the clock.

use std::collections::BTreeMap;

use serde::Serialize;

use super::state::DbState;

/// Everything one connection to the database saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbObservation {
    #[serde(skip)]
    pub state: DbState,
    pub database: DatabaseInfo,
    pub sessions: Sessions,
    /// The schema's catalog objects, when the caller asked for them (verification).
    #[serde(skip)]
    pub catalog: Option<CatalogRead>,
    /// The tables' sizes, when the caller asked for them (the forecast), or why they are
    /// missing.
    #[serde(skip)]
    pub sizes: Option<Result<super::forecast::LiveSizes, String>>,
}

/// The live catalog, or why it was not read.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogRead {
    Read(super::schema::Catalog),
    Skipped(String),
}

/// Where the state was read, without any secret: the target never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseInfo {
    /// `postgres://user@host:port/dbname`, never with the password.
    pub target: String,
    pub database: String,
    pub user: String,
    /// The schema `schema_migrations` is read in (`current_schema()` of the session, which
    /// follows `search_path` as Coder's own connection does).
    pub schema: Option<String>,
    pub server_version: String,
    pub server_version_num: u32,
    /// How the connection is protected: `none`, `tls (no verification)`, `tls (verify-ca)`,
    /// `tls (verify-full)`, or `unix socket`.
    pub transport: String,
    /// Our own backend pid, so operators can tell migtag apart in `pg_stat_activity`.
    pub backend_pid: i32,
    /// Things about the connection settings worth knowing (an ignored password file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One other session on the database, as far as our role may see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionRow {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    /// Seconds since the session's transaction started.
    pub xact_seconds: Option<f64>,
    /// When the transaction started (RFC 3339), if visible.
    pub xact_start: Option<String>,
    /// Seconds since the session's state last changed (for idle-in-transaction: how long idle).
    pub state_seconds: Option<f64>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    /// The current or last statement, shortened.
    pub query: Option<String>,
    /// Pids that block this session (`pg_blocking_pids`), when it waits on a lock.
    pub blocked_by: Vec<i32>,
    /// The role may not see this session's details (`<insufficient privilege>`).
    pub hidden: bool,
}

/// The other sessions on the database, summarised for a human deciding a recovery step.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Sessions {
    /// Other client sessions on this database (migtag's own is not counted).
    pub total: usize,
    pub by_application: Vec<Count>,
    pub by_client: Vec<Count>,
    pub by_state: Vec<Count>,
    /// Sessions idle inside an open transaction: they may hold locks a migration needs.
    pub idle_in_transaction: Vec<SessionBrief>,
    /// Sessions waiting on a lock, and who blocks them.
    pub waiting: Vec<LockWait>,
    /// Sessions whose state, client and statement this role may not see.
    pub hidden: usize,
    /// What is hidden and how to see it, when `hidden > 0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionBrief {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    /// For idle-in-transaction: how long it has been idle, in seconds.
    pub idle_seconds: Option<u64>,
    pub xact_seconds: Option<u64>,
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockWait {
    #[serde(flatten)]
    pub session: SessionBrief,
    pub wait_event: Option<String>,
    pub blocked_by: Vec<i32>,
}

/// What `by_client` and `by_state` call a value the role may not see.
pub const HIDDEN_LABEL: &str = "(hidden)";

impl Sessions {
    /// Summarises the rows of the other sessions. `role` names the role we connected as, for
    /// the note that says what it may not see.
    pub fn summarise(rows: &[SessionRow], role: &str) -> Sessions {
        let label = |v: &Option<String>, hidden: bool, empty: &str| -> String {
            match v {
                _ if hidden => HIDDEN_LABEL.to_string(),
                Some(s) if !s.is_empty() => s.clone(),
                _ => empty.to_string(),
            }
        };
        let by_application = counts(
            rows.iter()
                .map(|r| label(&r.application_name, false, "(none)")),
        );
        let by_client = counts(
            rows.iter()
                .map(|r| label(&r.client_addr, r.hidden, "local socket")),
        );
        let by_state = counts(rows.iter().map(|r| label(&r.state, r.hidden, "(unknown)")));
        let brief = |r: &SessionRow| SessionBrief {
            pid: r.pid,
            user: r.user.clone(),
            application_name: r.application_name.clone().filter(|a| !a.is_empty()),
            client_addr: r.client_addr.clone(),
            idle_seconds: r.state_seconds.map(whole_seconds),
            xact_seconds: r.xact_seconds.map(whole_seconds),
            query: r.query.clone(),
        };
        let mut idle_in_transaction: Vec<SessionBrief> = rows
            .iter()
            .filter(|r| {
                r.state
                    .as_deref()
                    .is_some_and(|s| s.starts_with("idle in transaction"))
            })
            .map(brief)
            .collect();
        idle_in_transaction
            .sort_by(|a, b| b.idle_seconds.cmp(&a.idle_seconds).then(a.pid.cmp(&b.pid)));
        let mut waiting: Vec<LockWait> = rows
            .iter()
            .filter(|r| r.wait_event_type.as_deref() == Some("Lock") || !r.blocked_by.is_empty())
            .map(|r| LockWait {
                session: brief(r),
                wait_event: r.wait_event.clone(),
                blocked_by: r.blocked_by.clone(),
            })
            .collect();
        waiting.sort_by_key(|w| w.session.pid);
        let hidden = rows.iter().filter(|r| r.hidden).count();
        let hidden_note = (hidden > 0).then(|| {
            format!(
                "{hidden} of {} session{} belong{} to other roles: role {role} sees their pid, user and \
                 application but not their state, client address, transaction age or statement \
                 (grant it pg_read_all_stats to see them)",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                if hidden == 1 { "s" } else { "" },
            )
        });
        Sessions {
            total: rows.len(),
            by_application,
            by_client,
            by_state,
            idle_in_transaction,
            waiting,
            hidden,
            hidden_note,
        }
    }
}

fn whole_seconds(s: f64) -> u64 {
    s.max(0.0).round() as u64
}

/// Counts, most frequent first, then by name.
fn counts(values: impl Iterator<Item = String>) -> Vec<Count> {
    let mut map: BTreeMap<String, usize> = BTreeMap::new();
    for v in values {
        *map.entry(v).or_default() += 1;
    }
    let mut out: Vec<Count> = map
        .into_iter()
        .map(|(name, count)| Count { name, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Shortens a statement for display: whitespace collapsed, at most `max` characters.
pub fn shorten_query(query: &str, max: usize) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let cut: String = collapsed.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: i32, app: &str, client: Option<&str>, state: &str) -> SessionRow {
        SessionRow {
            pid,
            user: Some("coder".into()),
            application_name: Some(app.into()),
            client_addr: client.map(str::to_string),
            state: Some(state.into()),
            ..SessionRow::default()
        }
    }

    #[test]
    fn counts_by_application_client_and_state() {
        let rows = vec![
            row(1, "coderd", Some("10.0.0.5"), "idle"),
            row(2, "coderd", Some("10.0.0.5"), "active"),
            row(3, "coderd", Some("10.0.0.6"), "idle"),
            row(4, "", None, "idle"),
        ];
        let s = Sessions::summarise(&rows, "coder");
        assert_eq!(s.total, 4);
        assert_eq!(
            s.by_application,
            vec![
                Count {
                    name: "coderd".into(),
                    count: 3
                },
                Count {
                    name: "(none)".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(
            s.by_client[0],
            Count {
                name: "10.0.0.5".into(),
                count: 2
            }
        );
        assert!(s.by_client.contains(&Count {
            name: "local socket".into(),
            count: 1
        }));
        assert_eq!(
            s.by_state[0],
            Count {
                name: "idle".into(),
                count: 3
            }
        );
        assert_eq!(s.hidden, 0);
        assert!(s.hidden_note.is_none());
    }

    #[test]
    fn idle_in_transaction_longest_first_and_waiters_with_blockers() {
        let mut a = row(10, "psql", None, "idle in transaction");
        a.state_seconds = Some(5.4);
        let mut b = row(11, "psql", None, "idle in transaction (aborted)");
        b.state_seconds = Some(90.0);
        let mut w = row(12, "coderd", None, "active");
        w.wait_event_type = Some("Lock".into());
        w.wait_event = Some("relation".into());
        w.blocked_by = vec![10];
        let s = Sessions::summarise(&[a, b, w], "coder");
        let idle: Vec<(i32, Option<u64>)> = s
            .idle_in_transaction
            .iter()
            .map(|x| (x.pid, x.idle_seconds))
            .collect();
        assert_eq!(idle, vec![(11, Some(90)), (10, Some(5))]);
        assert_eq!(s.waiting.len(), 1);
        assert_eq!(s.waiting[0].session.pid, 12);
        assert_eq!(s.waiting[0].blocked_by, vec![10]);
    }

    #[test]
    fn hidden_sessions_are_counted_and_explained() {
        let mut h = row(20, "coderd", None, "");
        h.state = None;
        h.hidden = true;
        let s = Sessions::summarise(&[h, row(21, "migtag-test", None, "idle")], "reader");
        assert_eq!(s.hidden, 1);
        assert_eq!(s.by_state[0].name, HIDDEN_LABEL);
        let note = s.hidden_note.unwrap();
        assert!(
            note.contains("1 of 2 sessions belongs to other roles"),
            "{note}"
        );
        assert!(note.contains("role reader"), "{note}");
        assert!(note.contains("pg_read_all_stats"), "{note}");
    }

    #[test]
    fn queries_are_collapsed_and_shortened() {
        assert_eq!(shorten_query("SELECT  1\n  FROM x", 100), "SELECT 1 FROM x");
        let long = "x".repeat(300);
        let short = shorten_query(&long, 50);
        assert_eq!(short.chars().count(), 50);
        assert!(short.ends_with("..."));
    }
}
