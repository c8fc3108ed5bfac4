//! Live table sizes for the upgrade forecast, read without ever waiting behind a migration.
//!
//! One query, one round trip, in a read-only session with migtag's timeouts: for every
//! ordinary table of the schema `search_path` selects (Coder's, also when it is not
//! `public`), `reltuples` and the pages of the heap, its TOAST table and its indexes from
//! `pg_class`, how many indexes and foreign keys it has, plus the ACCESS EXCLUSIVE locks that
//! other sessions hold or wait for on them (`pg_locks`).
//!
//! Why `pg_class.relpages` and not `pg_total_relation_size`: the size functions open the
//! relation with ACCESS SHARE, so behind a migration's ACCESS EXCLUSIVE they wait (until
//! `lock_timeout`). `relpages` and `reltuples` are catalog columns: reading them takes no lock
//! on the table, and they are what the planner itself uses, as of the table's last VACUUM or
//! ANALYZE (autovacuum keeps them current on tables that change; a table never analyzed shows
//! `reltuples = -1`, reported as unknown). A table that another session holds ACCESS
//! EXCLUSIVE on is reported with the holder, so the forecast can say why it gives no times
//! instead of forecasting a table in the middle of a change.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{errors, simple, ConnectSettings, Connection};
use crate::core::forecast::{LiveSizes, TableLocker, TableSize};
use crate::error::{Error, Result};

/// The query: one JSON document.
pub const SIZES_SQL: &str = r#"WITH bs AS (
  SELECT current_setting('block_size')::bigint AS bytes
), rel AS (
  SELECT c.oid, c.relname, c.reltuples::float8 AS reltuples, c.relpages::bigint AS pages, c.reltoastrelid,
         ix.indexes, ix.pages AS index_pages
    FROM pg_class c
   CROSS JOIN LATERAL (SELECT count(*) AS indexes, coalesce(sum(i.relpages), 0)::bigint AS pages
                         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) ix
   WHERE c.relnamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema())
     AND c.relkind IN ('r', 'm')
)
SELECT json_build_object(
  'schema', current_schema(),
  'tables', coalesce((SELECT json_agg(json_build_object(
      'table', r.relname,
      'reltuples', r.reltuples,
      'heap_bytes', r.pages * bs.bytes,
      'toast_bytes', coalesce((SELECT t.relpages::bigint FROM pg_class t WHERE t.oid = r.reltoastrelid), 0) * bs.bytes,
      'index_bytes', r.index_pages * bs.bytes,
      'indexes', r.indexes,
      'foreign_keys', (SELECT count(*) FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'f')))
      FROM rel r, bs), '[]'::json),
  'locks', coalesce((SELECT json_agg(json_build_object('table', r.relname, 'pid', l.pid, 'granted', l.granted))
                       FROM pg_locks l JOIN rel r ON r.oid = l.relation
                      WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                        AND l.pid IS DISTINCT FROM pg_backend_pid()
                        AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())), '[]'::json)
)::text"#;

#[derive(Debug, Deserialize)]
struct Answer {
    schema: Option<String>,
    tables: Vec<Row>,
    locks: Vec<TableLocker>,
}

#[derive(Debug, Deserialize)]
struct Row {
    table: String,
    reltuples: f64,
    heap_bytes: u64,
    toast_bytes: u64,
    index_bytes: u64,
    #[serde(default)]
    indexes: u32,
    #[serde(default)]
    foreign_keys: u32,
}

/// Decodes the query's one value.
pub fn parse(text: &str) -> Result<LiveSizes> {
    let a: Answer = serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("the sizes query returned unexpected JSON: {e}")))?;
    let tables = a
        .tables
        .into_iter()
        .map(|r| {
            let size = TableSize {
                rows: (r.reltuples >= 0.0).then(|| r.reltuples.round() as u64),
                heap_bytes: r.heap_bytes,
                total_bytes: r.heap_bytes + r.toast_bytes + r.index_bytes,
                indexes: r.indexes,
                foreign_keys: r.foreign_keys,
            };
            (r.table, size)
        })
        .collect::<BTreeMap<_, _>>();
    Ok(LiveSizes {
        schema: a.schema,
        tables,
        exclusive_locks: a.locks,
    })
}

/// The sizes, read in the caller's session (one round trip), or why they could not be read:
/// a failure here does not fail the command, the forecast says what it lacks.
pub(super) async fn read_in(
    conn: &Connection,
    settings: &ConnectSettings,
    bound: std::time::Duration,
) -> std::result::Result<LiveSizes, String> {
    let result = match simple(conn, SIZES_SQL, bound).await {
        None => Err(errors::statement_timed_out(
            settings,
            Some("reading table sizes"),
        )),
        Some(Err(e)) => Err(errors::query_failed(
            &e,
            settings,
            "reading table sizes from pg_class",
        )),
        Some(Ok(rows)) => match rows.first().and_then(|r| r.get(0)) {
            Some(text) => parse(text),
            None => Err(Error::internal("the sizes query returned no row")),
        },
    };
    result.map_err(|e| format!("the sizes could not be read: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_analyzed_tables_have_unknown_rows_and_sizes_add_up() {
        let s = parse(
            r#"{"schema":"coder","tables":[{"table":"a","reltuples":-1,"heap_bytes":0,"toast_bytes":0,"index_bytes":8192},
                {"table":"b","reltuples":1234.4,"heap_bytes":81920,"toast_bytes":8192,"index_bytes":16384,"indexes":2,"foreign_keys":1}],
                "locks":[{"table":"b","pid":42,"granted":true}]}"#,
        )
        .unwrap();
        assert_eq!(s.schema.as_deref(), Some("coder"));
        assert_eq!(s.tables["a"].rows, None);
        assert_eq!(
            s.tables["b"],
            TableSize {
                rows: Some(1234),
                heap_bytes: 81920,
                total_bytes: 106496,
                indexes: 2,
                foreign_keys: 1,
            }
        );
        assert_eq!(s.exclusive_locks[0].pid, Some(42));
    }

    #[test]
    fn the_query_opens_no_user_table() {
        // Only catalogs and pg_locks: no size function that would open (and wait for) a table.
        for f in [
            "pg_total_relation_size",
            "pg_relation_size",
            "pg_table_size",
            "pg_indexes_size",
        ] {
            assert!(!SIZES_SQL.contains(f), "{f}");
        }
        assert_eq!(SIZES_SQL.matches("SELECT json_build_object").count(), 1);
    }
}
