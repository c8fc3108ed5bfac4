//! The two statements migtag sends, and the decoding of their answers.
//!
//! 1. The survey: one `SELECT` that returns a JSON document built by the server: who we are,
//!    which schema `search_path` selects, what `schema_migrations` looks like there (from the
//!    catalogs, so without touching the table), whether `migration_cursor` exists, Coder's
//!    migration lock and any ACCESS EXCLUSIVE lock on `schema_migrations` (from `pg_locks`),
//!    and the other sessions on the database (from `pg_stat_activity`, with
//!    `pg_blocking_pids` for those waiting on a lock). Reading these views takes no lock.
//! 2. Only when nothing holds or waits for a conflicting lock: `SELECT version, dirty` from
//!    the table, bounded by `lock_timeout` in case a migration starts in between.
//!
//! Both go through the simple-query protocol: one round trip each, no prepared statements.

use serde::Deserialize;

use crate::core::observation::{shorten_query, SessionRow};
use crate::error::{Error, Result};

/// Coder's migration lock, `pg_advisory_xact_lock(1037453835920848937)`, as `pg_locks` shows
/// it: the bigint split into its high (classid) and low (objid) 32 bits, objsubid 1.
pub const CODER_LOCK_KEY: i64 = 1037453835920848937;
pub const CODER_LOCK_CLASSID: u32 = 241551044;
pub const CODER_LOCK_OBJID: u32 = 1626191913;

/// How long a statement may be in messages.
pub const QUERY_DISPLAY_CHARS: usize = 160;

pub fn survey_sql() -> String {
    format!(
        r#"WITH me AS (
  SELECT pg_backend_pid() AS pid, current_database() AS db, current_schema() AS schema
), tbl AS (
  SELECT c.oid, c.relkind, n.nspname AS schema,
         quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified,
         has_table_privilege(c.oid, 'SELECT') AS can_select,
         (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
            FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, me
   WHERE c.relname = 'schema_migrations' AND n.nspname = me.schema
), act AS (
  SELECT a.pid, a.usename AS "user", a.application_name, host(a.client_addr) AS client_addr, a.state,
         extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS xact_seconds,
         extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS state_seconds,
         to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS xact_start,
         a.wait_event_type, a.wait_event,
         left(a.query, 2000) AS query,
         coalesce(a.query = '<insufficient privilege>', false) AS hidden,
         CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocked_by
    FROM pg_stat_activity a, me
   WHERE a.datname = me.db AND a.pid <> me.pid
     AND coalesce(a.backend_type, 'client backend') = 'client backend'
), held AS (
  SELECT l.pid, l.granted, l.locktype AS kind
    FROM pg_locks l, me
   WHERE l.pid IS DISTINCT FROM me.pid
     AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = me.db)
     AND ((l.locktype = 'advisory' AND l.classid = {CODER_LOCK_CLASSID} AND l.objid = {CODER_LOCK_OBJID} AND l.objsubid = 1)
       OR (l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.relation = (SELECT t.oid FROM tbl t)))
)
SELECT json_build_object(
  'server_version_num', current_setting('server_version_num')::int,
  'server_version', current_setting('server_version'),
  'database', me.db,
  'user', current_user,
  'schema', me.schema,
  'pid', me.pid,
  'read_only', current_setting('transaction_read_only'),
  'ssl', (SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = me.pid),
  'table', (SELECT json_build_object('relkind', t.relkind, 'schema', t.schema, 'qualified', t.qualified,
                                     'can_select', t.can_select, 'columns', t.columns) FROM tbl t),
  'v1', EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relname = 'migration_cursor' AND n.nspname = me.schema),
  'locks', coalesce((SELECT json_agg(held) FROM held), '[]'::json),
  'sessions', coalesce((SELECT json_agg(act) FROM act), '[]'::json)
)::text FROM me"#
    )
}

/// What the survey returns.
#[derive(Debug, Deserialize)]
pub struct Survey {
    pub server_version_num: u32,
    pub server_version: String,
    pub database: String,
    pub user: String,
    pub schema: Option<String>,
    pub pid: i32,
    pub read_only: String,
    pub ssl: Option<bool>,
    pub table: Option<TableShape>,
    pub v1: bool,
    pub locks: Vec<LockRow>,
    pub sessions: Vec<ActivityRow>,
}

#[derive(Debug, Deserialize)]
pub struct TableShape {
    pub relkind: String,
    pub schema: String,
    pub qualified: String,
    pub can_select: bool,
    pub columns: Option<Vec<Column>>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Deserialize)]
pub struct LockRow {
    pub pid: Option<i32>,
    pub granted: bool,
    /// `advisory` (Coder's lock) or `relation` (ACCESS EXCLUSIVE on schema_migrations).
    pub kind: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ActivityRow {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    pub xact_seconds: Option<f64>,
    pub state_seconds: Option<f64>,
    pub xact_start: Option<String>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub query: Option<String>,
    pub hidden: bool,
    pub blocked_by: Option<Vec<i32>>,
}

impl ActivityRow {
    pub fn to_session(&self) -> SessionRow {
        SessionRow {
            pid: self.pid,
            user: self.user.clone(),
            application_name: self.application_name.clone(),
            client_addr: self.client_addr.clone(),
            state: self.state.clone(),
            xact_seconds: self.xact_seconds,
            xact_start: self.xact_start.clone(),
            state_seconds: self.state_seconds,
            wait_event_type: self.wait_event_type.clone(),
            wait_event: self.wait_event.clone(),
            query: self.display_query(),
            blocked_by: self.blocked_by.clone().unwrap_or_default(),
            hidden: self.hidden,
        }
    }

    pub fn display_query(&self) -> Option<String> {
        if self.hidden {
            return None;
        }
        self.query
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(|q| shorten_query(q, QUERY_DISPLAY_CHARS))
    }
}

pub fn parse_survey(text: &str) -> Result<Survey> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the survey answer could not be decoded: {e}")))
}

/// golang-migrate's table is `(version bigint not null primary key, dirty boolean not null)`.
/// Anything else is refused (exit 12): guessing would recommend a wrong image.
pub fn check_shape(t: &TableShape) -> Result<()> {
    let what = format!("{} is not golang-migrate's table", t.qualified);
    if !matches!(t.relkind.as_str(), "r" | "p") {
        let kind = match t.relkind.as_str() {
            "v" => "a view",
            "m" => "a materialized view",
            "f" => "a foreign table",
            _ => "not a plain table",
        };
        return Err(Error::invalid_input(format!("{what}: it is {kind}")));
    }
    let cols = t.columns.as_deref().unwrap_or_default();
    let expected = [("version", "bigint"), ("dirty", "boolean")];
    let ok = cols.len() == 2
        && expected
            .iter()
            .all(|(n, ty)| cols.iter().any(|c| c.name == *n && c.ty == *ty));
    if !ok {
        let found: Vec<String> = cols
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect();
        return Err(Error::invalid_input(format!(
            "{what}: its columns are ({}), expected exactly (version bigint, dirty boolean)",
            found.join(", ")
        ))
        .with_hint("check search_path: Coder's schema_migrations may live in another schema"));
    }
    Ok(())
}

pub fn rows_sql(qualified: &str) -> String {
    format!("SELECT version, dirty FROM {qualified} LIMIT 2")
}

/// Decodes the rows of `SELECT version, dirty`.
pub fn parse_rows(
    qualified: &str,
    rows: &[(Option<String>, Option<String>)],
) -> Result<Option<(u64, bool)>> {
    let what = format!("{qualified} is not golang-migrate's table");
    match rows {
        [] => Ok(None),
        [(v, d)] => {
            let v = v.as_deref().ok_or_else(|| Error::invalid_input(format!("{what}: version is NULL")))?;
            let version: i64 = v
                .parse()
                .map_err(|_| Error::invalid_input(format!("{what}: version `{v}` is not a number")))?;
            if version < 0 {
                return Err(Error::invalid_input(format!(
                    "{what}: version {version} is negative (golang-migrate writes -1 only after a failed \
                     down migration of the first migration, which Coder never runs)"
                ))
                .with_hint("inspect the row by hand; Coder's versions are positive migration numbers"));
            }
            let dirty = match d.as_deref() {
                Some("t") => true,
                Some("f") => false,
                _ => return Err(Error::invalid_input(format!("{what}: dirty is NULL or not a boolean"))),
            };
            Ok(Some((version as u64, dirty)))
        }
        _ => Err(Error::invalid_input(format!(
            "{what}: it holds more than one row; golang-migrate keeps at most one (version, dirty) row"
        ))
        .with_hint("someone inserted rows by hand, or another tool owns this table; inspect it before any upgrade")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_split_matches_pg_locks() {
        let key = CODER_LOCK_KEY as u64;
        assert_eq!((key >> 32) as u32, CODER_LOCK_CLASSID);
        assert_eq!((key & 0xffff_ffff) as u32, CODER_LOCK_OBJID);
    }

    #[test]
    fn survey_is_a_single_read_only_select() {
        let sql = survey_sql();
        assert!(sql.starts_with("WITH "));
        assert!(!sql.contains(';'));
        let writes = regex::Regex::new(
            r"(?i)\b(INSERT|UPDATE|DELETE|TRUNCATE|CREATE|ALTER|DROP|GRANT|REVOKE|SET|COPY|VACUUM|LOCK TABLE|pg_advisory_lock|pg_advisory_xact_lock|pg_terminate_backend|pg_cancel_backend)\b",
        )
        .unwrap();
        assert!(!writes.is_match(&sql), "{:?}", writes.find(&sql));
        assert!(!writes.is_match(&rows_sql("public.schema_migrations")));
    }

    fn shape(cols: &[(&str, &str)], relkind: &str) -> TableShape {
        TableShape {
            relkind: relkind.into(),
            schema: "public".into(),
            qualified: "public.schema_migrations".into(),
            can_select: true,
            columns: Some(
                cols.iter()
                    .map(|(n, t)| Column {
                        name: n.to_string(),
                        ty: t.to_string(),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn shape_checks() {
        assert!(check_shape(&shape(&[("version", "bigint"), ("dirty", "boolean")], "r")).is_ok());
        for bad in [
            shape(&[("version", "integer"), ("dirty", "boolean")], "r"),
            shape(
                &[("version", "bigint"), ("dirty", "boolean"), ("x", "text")],
                "r",
            ),
            shape(&[("version", "bigint")], "r"),
            shape(&[("version", "bigint"), ("dirty", "boolean")], "v"),
        ] {
            let e = check_shape(&bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::ExitCode::InvalidInput, "{e}");
        }
    }

    #[test]
    fn rows() {
        let q = "public.schema_migrations";
        let r = |v: &str, d: &str| (Some(v.to_string()), Some(d.to_string()));
        assert_eq!(parse_rows(q, &[]).unwrap(), None);
        assert_eq!(parse_rows(q, &[r("168", "f")]).unwrap(), Some((168, false)));
        assert_eq!(parse_rows(q, &[r("68", "t")]).unwrap(), Some((68, true)));
        assert!(parse_rows(q, &[r("-1", "t")]).is_err());
        assert!(parse_rows(q, &[r("1", "f"), r("2", "f")]).is_err());
    }
}
