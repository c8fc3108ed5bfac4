//! `DbState`: what the database says about its schema, as plain data.
//!
//! The adapters (live PostgreSQL, pasted psql output, a version given on the command line)
//! all produce a `DbState`; the decision core consumes it and never asks where it came from.

use serde::Serialize;

use super::migration_set::Version;

/// Where the schema of a Coder database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No `schema_migrations` table, or no row in it: Coder will create the schema.
    Fresh,
    /// A Coder v1 database (`migration_cursor` exists): Coder v2 refuses it.
    V1,
    /// `(version, dirty = false)`.
    Clean(Version),
    /// `(version, dirty = true)`: migration `version` started and did not finish.
    Dirty(Version),
    /// A migration batch holds Coder's migration lock right now.
    InProgress(MigrationInProgress),
}

/// Who holds the migration lock, as far as `pg_stat_activity` lets us see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MigrationInProgress {
    /// Which lock shows the migration: the advisory lock, or a lock on `schema_migrations`.
    pub lock: String,
    pub pid: Option<i32>,
    /// When the holder's transaction started (RFC 3339), if visible.
    pub xact_start: Option<String>,
    /// How long the transaction has been running, in seconds.
    pub xact_seconds: Option<u64>,
    /// The statement it runs now, shortened.
    pub query: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
}

/// A lock the lock survey saw that can mean a migration is running: Coder's advisory
/// migration lock, or an ACCESS EXCLUSIVE lock on `schema_migrations` (held or queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationLock {
    pub pid: Option<i32>,
    pub granted: bool,
    /// Coder's advisory lock (else a relation lock on the table).
    pub advisory: bool,
}

/// Whether a migration is running, from the locks seen and the sessions: Coder's advisory
/// lock first (with the table lock when the same session holds both), then a held table
/// lock, then a queued one (a read would wait behind it). `table` names the table as the
/// messages should; `lock_key` is Coder's advisory key. `None`: nothing holds them.
pub fn migration_in_progress(
    locks: &[MigrationLock],
    sessions: &[super::observation::SessionRow],
    table: &str,
    lock_key: i64,
) -> Option<MigrationInProgress> {
    let advisory = locks.iter().find(|l| l.advisory && l.granted);
    let held = locks.iter().find(|l| !l.advisory && l.granted);
    let queued = locks.iter().find(|l| !l.advisory && !l.granted);
    let (lock, pid) = match (advisory, held, queued) {
        (Some(a), Some(h), _) if a.pid == h.pid => (
            format!("Coder's migration lock (pg_advisory_xact_lock({lock_key})) and an ACCESS EXCLUSIVE lock on {table}"),
            a.pid,
        ),
        (Some(a), _, _) => (
            format!("Coder's migration lock (pg_advisory_xact_lock({lock_key}))"),
            a.pid,
        ),
        (None, Some(h), _) => (format!("an ACCESS EXCLUSIVE lock on {table}"), h.pid),
        (None, None, Some(q)) => (
            format!("a queued ACCESS EXCLUSIVE lock request on {table} (a read would wait behind it)"),
            q.pid,
        ),
        (None, None, None) => return None,
    };
    let holder = pid.and_then(|p| sessions.iter().find(|a| a.pid == p));
    Some(MigrationInProgress {
        lock,
        pid,
        xact_start: holder.and_then(|h| h.xact_start.clone()),
        xact_seconds: holder
            .and_then(|h| h.xact_seconds)
            .map(|x| x.max(0.0).round() as u64),
        query: holder.and_then(|h| h.query.clone()),
        application_name: holder
            .and_then(|h| h.application_name.clone())
            .filter(|a| !a.is_empty()),
        client_addr: holder.and_then(|h| h.client_addr.clone()),
        state: holder.and_then(|h| h.state.clone()),
    })
}

impl DbState {
    /// The `kind` field of the JSON `state` object.
    pub fn kind(&self) -> &'static str {
        match self {
            DbState::Fresh => "fresh",
            DbState::V1 => "v1",
            DbState::Clean(_) => "clean",
            DbState::Dirty(_) => "dirty",
            DbState::InProgress(_) => "in_progress",
        }
    }

    pub fn version(&self) -> Option<Version> {
        match self {
            DbState::Clean(v) | DbState::Dirty(v) => Some(*v),
            _ => None,
        }
    }

    pub fn dirty(&self) -> Option<bool> {
        match self {
            DbState::Clean(_) => Some(false),
            DbState::Dirty(_) => Some(true),
            _ => None,
        }
    }

    /// Builds the state from one `schema_migrations` row.
    pub fn from_row(version: Version, dirty: bool) -> Self {
        if dirty {
            DbState::Dirty(version)
        } else {
            DbState::Clean(version)
        }
    }
}

/// The JSON form of a state: `{kind, version, dirty}` plus the lock holder when in progress.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    pub kind: &'static str,
    pub version: Option<Version>,
    pub dirty: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_in_progress: Option<MigrationInProgress>,
}

impl From<&DbState> for StateView {
    fn from(state: &DbState) -> Self {
        StateView {
            kind: state.kind(),
            version: state.version(),
            dirty: state.dirty(),
            migration_in_progress: match state {
                DbState::InProgress(m) => Some(m.clone()),
                _ => None,
            },
        }
    }
}
