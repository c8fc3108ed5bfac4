//! `watch`: one read-only session (the same startup settings as every migtag session:
//! read-only, `lock_timeout`, `statement_timeout`, `application_name=migtag`) that polls the
//! statistics views. Each poll is one query: the holder of Coder's migration lock from
//! `pg_locks` (else the holder of ACCESS EXCLUSIVE on `schema_migrations`: the two signs of
//! a running migration `check --db` reads), the database's client sessions from `pg_stat_activity` (with
//! `pg_blocking_pids` for those waiting on a lock), and `pg_stat_progress_create_index`.
//! None of these views takes a lock on a table. The row is read only after the lock is gone,
//! by the same survey-then-read path as `check --db` (so never behind a migration).
//!
//! The session is kept open between polls; its runtime is driven only while a poll runs.

use serde::Deserialize;

use super::survey::{CODER_LOCK_CLASSID, CODER_LOCK_OBJID, QUERY_DISPLAY_CHARS};
use super::{
    close, connect, errors, read, simple, statement_bound, ConnectSettings, Connection, Limits,
};
use crate::core::forecast::LiveSizes;
use crate::core::observation::{shorten_query, DbObservation};
use crate::core::watch::{Holder, IndexProgress, Peer, Sample};
use crate::error::{Error, Result};

/// The poll: one JSON document. The query text is kept whole (up to 8 KiB, past the default
/// `track_activity_query_size`) for the matcher; only the holder's.
pub fn poll_sql() -> String {
    format!(
        r#"WITH me AS (
  SELECT pg_backend_pid() AS pid, current_database() AS db
), holder AS (
  SELECT x.pid FROM (
    SELECT l.pid, 0 AS rank FROM pg_locks l, me
     WHERE l.locktype = 'advisory' AND l.classid = {CODER_LOCK_CLASSID} AND l.objid = {CODER_LOCK_OBJID} AND l.objsubid = 1
       AND l.granted AND l.pid IS DISTINCT FROM me.pid
       AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = me.db)
    UNION ALL
    SELECT l.pid, 1 FROM pg_locks l, me
     WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted AND l.pid IS DISTINCT FROM me.pid
       AND l.relation = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relname = 'schema_migrations' AND n.nspname = current_schema())
  ) x ORDER BY x.rank LIMIT 1
), act AS (
  SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.state,
         extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS xact_seconds,
         extract(epoch FROM clock_timestamp() - a.query_start)::float8 AS query_seconds,
         extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS state_seconds,
         a.wait_event_type, a.wait_event,
         CASE WHEN a.query = '<insufficient privilege>' THEN NULL
              WHEN a.pid = (SELECT pid FROM holder) THEN left(a.query, 8192)
              ELSE left(a.query, 400) END AS query,
         CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocked_by
    FROM pg_stat_activity a, me
   WHERE a.datname = me.db AND a.pid <> me.pid
     AND coalesce(a.backend_type, 'client backend') = 'client backend'
)
SELECT json_build_object(
  'holder', (SELECT pid FROM holder),
  'sessions', coalesce((SELECT json_agg(act) FROM act), '[]'::json),
  'progress', (SELECT json_build_object('table', p.relid::regclass::text, 'phase', p.phase,
                  'blocks_done', p.blocks_done, 'blocks_total', p.blocks_total,
                  'tuples_done', p.tuples_done, 'tuples_total', p.tuples_total)
                 FROM pg_stat_progress_create_index p WHERE p.pid = (SELECT pid FROM holder) LIMIT 1),
  'read_only', current_setting('transaction_read_only')
)::text"#
    )
}

#[derive(Debug, Deserialize)]
struct Answer {
    holder: Option<i32>,
    sessions: Vec<Row>,
    progress: Option<IndexProgress>,
    read_only: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    pid: i32,
    application_name: Option<String>,
    client_addr: Option<String>,
    state: Option<String>,
    xact_seconds: Option<f64>,
    query_seconds: Option<f64>,
    state_seconds: Option<f64>,
    wait_event_type: Option<String>,
    wait_event: Option<String>,
    query: Option<String>,
    blocked_by: Option<Vec<i32>>,
}

/// Decodes a poll's answer into the core's sample.
pub fn parse_poll(text: &str) -> Result<Sample> {
    let a: Answer = serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the watch poll could not be decoded: {e}")))?;
    if a.read_only != "on" {
        return Err(Error::database(
            "the session is not read-only; migtag stops rather than risk a write",
        )
        .with_hint(
            "a connection pooler may drop startup options; connect to PostgreSQL directly",
        ));
    }
    let holder = a.holder.map(|pid| {
        let row = a.sessions.iter().find(|r| r.pid == pid);
        Holder {
            pid,
            application: row.and_then(|r| r.application_name.clone()),
            client: row.and_then(|r| r.client_addr.clone()),
            state: row.and_then(|r| r.state.clone()),
            xact_seconds: row.and_then(|r| r.xact_seconds),
            query_seconds: row.and_then(|r| r.query_seconds),
            wait_event_type: row.and_then(|r| r.wait_event_type.clone()),
            wait_event: row.and_then(|r| r.wait_event.clone()),
            query: row.and_then(|r| r.query.clone()),
            blocked_by: row.and_then(|r| r.blocked_by.clone()).unwrap_or_default(),
        }
    });
    let peers = a
        .sessions
        .iter()
        .filter(|r| Some(r.pid) != a.holder)
        .map(|r| Peer {
            pid: r.pid,
            application: r.application_name.clone().filter(|s| !s.is_empty()),
            client: r.client_addr.clone(),
            state: r.state.clone(),
            xact_seconds: r.xact_seconds.map(|s| (s * 10.0).round() / 10.0),
            state_seconds: r.state_seconds.map(|s| (s * 10.0).round() / 10.0),
            query: r
                .query
                .as_deref()
                .filter(|q| !q.trim().is_empty())
                .map(|q| shorten_query(q, QUERY_DISPLAY_CHARS)),
            blocked_by: r.blocked_by.clone().unwrap_or_default(),
        })
        .collect();
    Ok(Sample {
        holder,
        peers,
        index_build: a.progress,
    })
}

/// An open watch session.
pub struct Watcher<'a> {
    runtime: tokio::runtime::Runtime,
    conn: Option<Connection>,
    settings: &'a ConnectSettings,
    limits: Limits,
}

impl<'a> Watcher<'a> {
    pub fn open(settings: &'a ConnectSettings, limits: Limits) -> Result<Watcher<'a>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
        let conn = runtime
            .block_on(connect(settings, &limits, true))
            .map_err(|e| errors::scrub(e, settings))?;
        Ok(Watcher {
            runtime,
            conn: Some(conn),
            settings,
            limits,
        })
    }

    fn conn(&self) -> Result<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| Error::internal("the watch session is closed"))
    }

    /// One poll.
    pub fn poll(&self) -> Result<Sample> {
        parse_poll(&self.one_value(&poll_sql(), "reading pg_stat_activity and pg_locks")?)
    }

    /// The table sizes the forecast needs, in the same session (`sizes::SIZES_SQL`: catalog
    /// columns only, no lock on any table).
    pub fn sizes(&self) -> Result<LiveSizes> {
        let text = self.one_value(super::sizes::SIZES_SQL, "reading table sizes from pg_class")?;
        super::sizes::parse(&text)
    }

    /// The one value of a one-row query, with migtag's bounds and error wording.
    fn one_value(&self, sql: &str, what: &str) -> Result<String> {
        let conn = self.conn()?;
        let settings = self.settings;
        let rows = self
            .runtime
            .block_on(simple(conn, sql, statement_bound(&self.limits)))
            .ok_or_else(|| {
                errors::scrub(errors::statement_timed_out(settings, Some(what)), settings)
            })?
            .map_err(|e| errors::scrub(errors::query_failed(&e, settings, what), settings))?;
        rows.first()
            .and_then(|r| r.get(0))
            .map(str::to_string)
            .ok_or_else(|| Error::internal(format!("{what}: the query returned no row")))
    }

    /// The state as `check --db` reads it (survey first: never behind a migration).
    pub fn observe(&self) -> Result<DbObservation> {
        let conn = self.conn()?;
        self.runtime
            .block_on(read(
                conn,
                self.settings,
                &self.limits,
                super::Reads {
                    catalog: false,
                    sizes: false,
                },
            ))
            .map_err(|e| errors::scrub(e, self.settings))
    }
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.runtime.block_on(close(c.client, c.driver));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_answer_becomes_a_sample() {
        let s = parse_poll(
            r#"{"holder": 42, "read_only": "on",
                "sessions": [
                  {"pid": 42, "application_name": "coderd", "client_addr": "10.0.0.7", "state": "active",
                   "xact_seconds": 12.5, "query_seconds": 3.2, "state_seconds": 3.2, "wait_event_type": "Lock",
                   "wait_event": "relation", "query": "ALTER TABLE api_keys ADD COLUMN x int;", "blocked_by": [43]},
                  {"pid": 43, "application_name": "", "client_addr": null, "state": "idle in transaction",
                   "xact_seconds": 600.04, "query_seconds": 600.0, "state_seconds": 599.96, "wait_event_type": "Client",
                   "wait_event": "ClientRead", "query": "SELECT 1 FROM api_keys", "blocked_by": null}],
                "progress": null}"#,
        )
        .unwrap();
        let h = s.holder.unwrap();
        assert_eq!((h.pid, h.blocked_by.clone()), (42, vec![43]));
        assert_eq!(h.query_seconds, Some(3.2));
        assert_eq!(s.peers.len(), 1);
        assert_eq!(s.peers[0].application, None);
        assert_eq!(s.peers[0].xact_seconds, Some(600.0));
        assert!(parse_poll(
            r#"{"holder": null, "read_only": "off", "sessions": [], "progress": null}"#
        )
        .is_err());
    }
}
