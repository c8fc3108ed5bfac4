//! `gate --rehearse --sample P%`: copies a sample of the live rows into the scratch database
//! (docs/forecast.md, "Sampled rehearsal").
//!
//! The live side is one read-only `REPEATABLE READ` transaction in migtag's own session
//! (read-only, lock and statement timeouts in the startup packet), so the sample and the
//! parents fetched for it come from one snapshot. Rows go from `COPY (SELECT ...) TO STDOUT`
//! straight into the scratch database's `COPY ... FROM STDIN`, row by row (memory bounded by
//! a row), in the text format. Nothing read here is ever put in an error or the output: a
//! server error whose text could quote a value is replaced by its SQLSTATE.
//!
//! Which rows: `TABLESAMPLE BERNOULLI (P) REPEATABLE (seed)` of every table the pending
//! migrations read or write, then the foreign-key closure: the parent keys missing in the
//! scratch database are looked up there and their rows fetched from the live snapshot, in
//! chunks, round after round (cycles included) until none is missing, within bounds.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::settings::ConnectSettings;
use super::{Delivery, Limits};
use crate::core::sql::literal;
use crate::error::{Error, Result};

/// The seed of `TABLESAMPLE ... REPEATABLE`: the same live rows give the same sample.
const SEED: u32 = 20_251_206;
/// Keys per live query when fetching parents.
const KEYS_PER_FETCH: usize = 1_000;
/// Missing keys read from the scratch database at a time.
const MISSING_PER_READ: usize = 10_000;
/// Rounds over the foreign keys before the closure gives up.
pub const MAX_ROUNDS: usize = 50;
/// Parent rows fetched in all before the closure gives up.
pub const MAX_PARENT_ROWS: u64 = 2_000_000;

/// What was copied.
pub struct Copied {
    /// Rows copied in all (sampled and parents).
    pub rows: u64,
    /// Parent rows among them.
    pub parents: u64,
    /// The foreign-key rounds it took.
    pub rounds: usize,
    /// The sampled tables that exist, each with its qualified name as the server quotes it.
    pub sampled: BTreeMap<String, String>,
}

/// Names come quoted by the server (`quote_ident`, which knows its keywords: Coder has a
/// column named `group`), except the tables' own names, which key the maps.
#[derive(Deserialize)]
struct Meta {
    /// The schema, quoted.
    schema: String,
    tables: BTreeMap<String, Table>,
    fks: Vec<ForeignKey>,
}

#[derive(Deserialize)]
struct Table {
    /// The table's name, quoted.
    quoted: String,
    /// (column quoted, type), without dropped or generated columns.
    columns: Vec<(String, String)>,
}

#[derive(Deserialize, Clone)]
struct ForeignKey {
    child: String,
    child_columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
}

/// The tables, their columns and the validated foreign keys between them, of `schema`.
fn meta_sql(schema: &str) -> String {
    let ns = format!(
        "(SELECT oid FROM pg_namespace WHERE nspname = {})",
        literal(schema)
    );
    let schema = literal(schema);
    format!(
        "SELECT json_build_object('schema', quote_ident({}), \
         'tables', coalesce((SELECT json_object_agg(c.relname, json_build_object('quoted', quote_ident(c.relname), 'columns', \
             coalesce((SELECT json_agg(json_build_array(quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum) \
             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '[]'::json))) \
           FROM pg_class c WHERE c.relnamespace = {ns} AND c.relkind = 'r'), '{{}}'::json), \
         'fks', coalesce((SELECT json_agg(json_build_object('child', cl.relname, 'parent', pl.relname, \
             'child_columns', (SELECT json_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(n, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n), \
             'parent_columns', (SELECT json_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(n, ord) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)) \
             ORDER BY cl.relname, con.conname) \
           FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_class pl ON pl.oid = con.confrelid \
           WHERE con.contype = 'f' AND con.convalidated AND cl.relnamespace = {ns} AND pl.relnamespace = {ns} AND cl.relkind = 'r' AND pl.relkind = 'r'), '[]'::json))::text",
        schema
    )
}

/// Copies the sample of `tables` and the parents their foreign keys need from `live` into
/// `scratch` (the pre-data part of the schema already loaded, no constraints yet).
pub async fn copy(
    live: &ConnectSettings,
    limits: &Limits,
    scratch: &Client,
    schema: &str,
    tables: &BTreeSet<String>,
    percent: f64,
) -> Result<Copied> {
    let conn = super::connect(live, limits, true).await?;
    if conn.delivery != Delivery::StartupOptions {
        super::close(conn.client, conn.driver).await;
        return Err(Error::database(format!(
            "{}: the server refuses the `options` startup parameter (a connection pooler); the sampled rehearsal reads in one read-only transaction and needs migtag's settings in the startup packet",
            live.target()
        ))
        .with_hint("point --db at PostgreSQL itself, not at the pooler, for --sample"));
    }
    let result = copy_in_snapshot(&conn.client, scratch, schema, tables, percent).await;
    super::close(conn.client, conn.driver).await;
    result
}

async fn copy_in_snapshot(
    live: &Client,
    scratch: &Client,
    schema: &str,
    tables: &BTreeSet<String>,
    percent: f64,
) -> Result<Copied> {
    let on_live = |what: &str, e: tokio_postgres::Error| {
        Error::database(format!(
            "sampled rehearsal: {what} on the live database failed: {}",
            safe_error(&e)
        ))
    };
    live.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| on_live("starting the read-only transaction", e))?;
    let text = super::replay::one_text(live, &meta_sql(schema))
        .await
        .map_err(|e| on_live("reading the tables and foreign keys", e))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| Error::internal(format!("unexpected catalog answer: {e}")))?;
    let mut rows = 0;
    let mut sampled = BTreeMap::new();
    for t in tables.iter().filter(|t| meta.tables.contains_key(*t)) {
        let cols = column_list(&meta.tables[t].columns);
        let table = format!("{}.{}", meta.schema, meta.tables[t].quoted);
        sampled.insert(t.clone(), table.clone());
        rows += pipe(
            live,
            scratch,
            &format!(
                "COPY (SELECT {cols} FROM {table} TABLESAMPLE BERNOULLI ({percent}) REPEATABLE ({SEED})) TO STDOUT"
            ),
            &format!("COPY {table} ({cols}) FROM STDIN"),
            t,
        )
        .await?;
    }
    let (parents, rounds) = closure(live, scratch, &meta).await?;
    live.batch_execute("COMMIT")
        .await
        .map_err(|e| on_live("ending the read-only transaction", e))?;
    Ok(Copied {
        rows: rows + parents,
        parents,
        rounds,
        sampled,
    })
}

fn column_list(cols: &[(String, String)]) -> String {
    cols.iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fetches the parent rows the scratch database's rows miss, until none is missing.
async fn closure(live: &Client, scratch: &Client, meta: &Meta) -> Result<(u64, usize)> {
    // One group per referenced key (parent table and columns): each child's keys, cast to
    // the parent's types.
    let mut groups: BTreeMap<(String, Vec<String>), Vec<&ForeignKey>> = BTreeMap::new();
    for fk in &meta.fks {
        if meta.tables.contains_key(&fk.child) && meta.tables.contains_key(&fk.parent) {
            groups
                .entry((fk.parent.clone(), fk.parent_columns.clone()))
                .or_default()
                .push(fk);
        }
    }
    let mut fetched = 0u64;
    for round in 1..=MAX_ROUNDS {
        let mut this_round = 0u64;
        for ((parent, pcols), fks) in &groups {
            let types: Vec<&str> = pcols
                .iter()
                .map(|c| {
                    meta.tables[parent]
                        .columns
                        .iter()
                        .find(|(n, _)| n == c)
                        .map(|(_, t)| t.as_str())
                        .unwrap_or("text")
                })
                .collect();
            let missing_sql = missing_sql(meta, parent, pcols, &types, fks);
            loop {
                let keys = missing(scratch, &missing_sql, pcols.len()).await?;
                if keys.is_empty() {
                    break;
                }
                let cols = column_list(&meta.tables[parent].columns);
                let table = format!("{}.{}", meta.schema, meta.tables[parent].quoted);
                let mut got = 0;
                for chunk in keys.chunks(KEYS_PER_FETCH) {
                    let list = chunk
                        .iter()
                        .map(|k| {
                            let vals: Vec<String> = k
                                .iter()
                                .zip(&types)
                                .map(|(v, t)| format!("{}::{t}", literal(v)))
                                .collect();
                            format!("({})", vals.join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    let key = pcols.join(", ");
                    got += pipe(
                        live,
                        scratch,
                        &format!(
                            "COPY (SELECT {cols} FROM {table} WHERE ({key}) IN ({list})) TO STDOUT"
                        ),
                        &format!("COPY {table} ({cols}) FROM STDIN"),
                        parent,
                    )
                    .await?;
                }
                if got < keys.len() as u64 {
                    return Err(Error::database(format!(
                        "sampled rehearsal: {} row{} of {parent} that the sample's foreign keys need {} not in the live database's snapshot",
                        keys.len() as u64 - got,
                        if keys.len() as u64 - got == 1 { "" } else { "s" },
                        if keys.len() as u64 - got == 1 { "is" } else { "are" },
                    ))
                    .with_hint("the live database's foreign keys should rule this out; run `migtag verify` against it"));
                }
                fetched += got;
                this_round += got;
                if fetched > MAX_PARENT_ROWS {
                    return Err(Error::database(format!(
                        "sampled rehearsal: the sample's foreign keys need more than {MAX_PARENT_ROWS} parent rows; the copy stopped"
                    ))
                    .with_hint("use a smaller --sample"));
                }
            }
        }
        if this_round == 0 {
            return Ok((fetched, round));
        }
    }
    Err(Error::database(format!(
        "sampled rehearsal: the sample's foreign keys still missed parent rows after {MAX_ROUNDS} rounds; the copy stopped"
    ))
    .with_hint("use a smaller --sample"))
}

/// The distinct keys the children of one referenced key hold and the parent lacks, as
/// text, at most [`MISSING_PER_READ`] of them. A key with a NULL is not checked by the
/// foreign key (MATCH SIMPLE), so it is not missing.
fn missing_sql(
    meta: &Meta,
    parent: &str,
    pcols: &[String],
    types: &[&str],
    fks: &[&ForeignKey],
) -> String {
    let s = &meta.schema;
    let n = pcols.len();
    let ks: Vec<String> = (1..=n).map(|i| format!("k{i}")).collect();
    let children: Vec<String> = fks
        .iter()
        .map(|fk| {
            let sel: Vec<String> = fk
                .child_columns
                .iter()
                .zip(types)
                .zip(&ks)
                .map(|((c, t), k)| format!("{c}::{t} AS {k}"))
                .collect();
            let not_null: Vec<String> = fk
                .child_columns
                .iter()
                .map(|c| format!("{c} IS NOT NULL"))
                .collect();
            format!(
                "SELECT {} FROM {s}.{} WHERE {}",
                sel.join(", "),
                meta.tables[&fk.child].quoted,
                not_null.join(" AND ")
            )
        })
        .collect();
    let matches: Vec<String> = pcols
        .iter()
        .zip(&ks)
        .map(|(p, k)| format!("p.{p} = m.{k}"))
        .collect();
    let out: Vec<String> = ks.iter().map(|k| format!("m.{k}::text")).collect();
    format!(
        "SELECT DISTINCT {} FROM ({}) m WHERE NOT EXISTS (SELECT 1 FROM {s}.{} p WHERE {}) LIMIT {MISSING_PER_READ}",
        out.join(", "),
        children.join(" UNION ALL "),
        meta.tables[parent].quoted,
        matches.join(" AND ")
    )
}

async fn missing(scratch: &Client, sql: &str, width: usize) -> Result<Vec<Vec<String>>> {
    let msgs = scratch.simple_query(sql).await.map_err(|e| {
        Error::database(format!(
            "sampled rehearsal: looking for missing parent rows in the scratch database failed: {}",
            safe_error(&e)
        ))
    })?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => (0..width)
                .map(|i| r.get(i).map(str::to_string))
                .collect::<Option<Vec<String>>>(),
            _ => None,
        })
        .collect())
}

/// Streams one `COPY ... TO STDOUT` of the live database into a `COPY ... FROM STDIN` of
/// the scratch database; the rows copied.
async fn pipe(live: &Client, scratch: &Client, out: &str, into: &str, table: &str) -> Result<u64> {
    let fail = |what: &str, e: tokio_postgres::Error| {
        let err = Error::database(format!(
            "sampled rehearsal: {what} {table} failed: {}",
            safe_error(&e)
        ));
        use tokio_postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::QUERY_CANCELED => err.with_hint(
                "each table's sample is one COPY under --statement-timeout: raise it for large tables, or use a smaller --sample",
            ),
            Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => err.with_hint(
                "a session (a running migration?) holds a conflicting lock: retry when no migration or DDL is running, or raise --lock-timeout",
            ),
            _ => err,
        }
    };
    let rows = live
        .copy_out(out)
        .await
        .map_err(|e| fail("reading the rows of", e))?;
    let sink = scratch
        .copy_in(into)
        .await
        .map_err(|e| fail("loading the rows of", e))?;
    futures_util::pin_mut!(rows);
    futures_util::pin_mut!(sink);
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| fail("reading the rows of", e))?;
        sink.feed(row)
            .await
            .map_err(|e| fail("loading the rows of", e))?;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| fail("loading the rows of", e))
}

/// The server's error without anything a row could have put in it: for data exceptions
/// (SQLSTATE class 22, whose message quotes the value) only the code; for the others the
/// primary message, never the DETAIL (`Key (id)=(...) ...`) or the statement.
pub fn safe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) if d.code().code().starts_with("22") => format!(
            "a value does not fit its column (SQLSTATE {}; the value is not shown: sampled rows stay in the scratch database)",
            d.code().code()
        ),
        Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}
