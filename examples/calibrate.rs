//! Calibration of the upgrade forecast on real Coder paths (docs/forecast.md): a benchmark,
//! run by `bench/calibrate.sh`, which starts the throwaway server this program talks to.
//!
//! For each path V -> T:
//! 1. a new database; Coder's schema at V built from the real migration SQL as V shipped it,
//!    each file with its fixtures, through the replayer of `index effects`
//!    (`adapters::postgres::replay::run_file`);
//! 2. a foreign-key-consistent fill: per-table row targets (`CAL_BIG_ROWS` for Coder's big
//!    tables, `CAL_ROWS` per table, others derived in proportion: users = api_keys / 10,
//!    workspaces = workspace_builds / 20, provisioner_jobs >= workspace_builds,
//!    workspace_resources = workspace_agents, AI Bridge prompts and usages =
//!    interceptions), referenced tables first, each by one
//!    `INSERT ... SELECT` over `generate_series` that copies the fixture rows (their text and
//!    jsonb values, so realistic widths), makes unique columns unique, and spreads foreign keys
//!    over all the parent rows (a one-to-one key takes a parent row nothing points at yet);
//!    every foreign key is then checked with an anti-join, and `VACUUM ANALYZE`;
//! 3. the forecast of the real binary (`migtag gate --db ... --target T --format json`), kept;
//! 4. `CAL_RUNS` measured runs of T's pending migrations as Coder runs them (`BEGIN`,
//!    `pg_advisory_xact_lock`, the files as T shipped them), each statement sent and timed on
//!    its own, with the features of the table it touches read before it (indexes, outgoing
//!    foreign keys, heap bytes, rows) and the `pg_stat_xact_user_tables` deltas after it (rows
//!    inserted, updated (HOT), deleted; scans, which show foreign-key checks), all
//!    outside the timed spans; `ROLLBACK` (`CAL_COMMIT=1`: `COMMIT`, one run), then
//!    `VACUUM FULL ANALYZE` of the touched tables before the next run. `CAL_BUSY=N` runs N
//!    CPU-bound processes during the batch of the last `CAL_BUSY_RUNS` runs (default all).
//!
//! One TSV per run in `CAL_OUT` (default `bench/calibration/raw`):
//! `<from>-<to>-<label>-run<N>.tsv`, and `<from>-<to>-<label>-forecast.json`.
//! `CAL_KEEP=1` keeps the filled database (and prints its name); `CAL_REUSE=1` measures an
//! already filled database of the same name again instead of building it.
//!
//! Environment: `CAL_PGHOST` (socket folder), `CAL_PGPORT`, `CAL_SQL` (the reference
//! tarball), `MIGTAG_BIN`, `CAL_LABEL` (volume label, default `big<CAL_BIG_ROWS>`);
//! arguments: `FROM:TO` tag pairs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use migtag::adapters::coder_sql::{self, FileContent, SqlSource};
use migtag::adapters::postgres::replay::{content_at, run_file};
use migtag::adapters::postgres::survey::CODER_LOCK_KEY;
use migtag::core::forecast::effects::shipped_effects;
use migtag::core::forecast::{touched_tables, LockMode, MigrationFacts};
use migtag::core::index::Index;
use migtag::core::sql::{identifier, literal};
use migtag::core::sql_text::{is_transaction_control, normalize, split_statements};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Tables a long-running Coder deployment grows to hundreds of thousands of rows.
const BIG_TABLES: &[&str] = &[
    "api_keys",
    "audit_logs",
    "connection_logs",
    "provisioner_job_logs",
    "provisioner_jobs",
    "workspace_agent_logs",
    "workspace_agent_stats",
    "workspace_agents",
    "workspace_app_stats",
    "workspace_builds",
    "workspace_resources",
];

/// Parents sized from a child: (parent, child, numerator, denominator). A user has about ten
/// API keys (sessions and tokens); a workspace about twenty builds (every start and stop is
/// one); every build has its own provisioner job (one-to-one, plus template imports); every
/// agent sits on a resource; an AI Bridge interception has about one prompt, one token
/// usage and one tool usage.
const DERIVED: &[(&str, &str, u64, u64)] = &[
    ("aibridge_user_prompts", "aibridge_interceptions", 1, 1),
    ("aibridge_token_usages", "aibridge_interceptions", 1, 1),
    ("aibridge_tool_usages", "aibridge_interceptions", 1, 1),
    ("users", "api_keys", 1, 10),
    ("workspaces", "workspace_builds", 1, 20),
    ("provisioner_jobs", "workspace_builds", 21, 20),
    ("workspace_resources", "workspace_agents", 1, 1),
];

/// Links Coder keeps without a foreign key (for insert speed), spread over the parent's rows
/// like one: (table, column, parent, parent column).
const SOFT_KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "aibridge_user_prompts",
        "interception_id",
        "aibridge_interceptions",
        "id",
    ),
    (
        "aibridge_token_usages",
        "interception_id",
        "aibridge_interceptions",
        "id",
    ),
    (
        "aibridge_tool_usages",
        "interception_id",
        "aibridge_interceptions",
        "id",
    ),
];

type Res<T> = Result<T, String>;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_u64(name: &str, default: u64) -> Res<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}={v}: not a whole number")),
        Err(_) => Ok(default),
    }
}

fn conninfo(db: &str) -> String {
    format!(
        "host={} port={} user=postgres dbname={db}",
        env("CAL_PGHOST", "/tmp"),
        env("CAL_PGPORT", "5432")
    )
}

async fn connect(db: &str) -> Res<Client> {
    let (client, conn) = tokio_postgres::connect(&conninfo(db), NoTls)
        .await
        .map_err(|e| format!("connect {db}: {e}"))?;
    tokio::spawn(conn);
    Ok(client)
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

async fn exec(c: &Client, sql: &str) -> Res<()> {
    c.simple_query(sql)
        .await
        .map(|_| ())
        .map_err(|e| format!("{} (in: {})", db_message(&e), &sql[..sql.len().min(300)]))
}

async fn rows(c: &Client, sql: &str) -> Res<Vec<Vec<Option<String>>>> {
    let msgs = c
        .simple_query(sql)
        .await
        .map_err(|e| format!("{}: {}", db_message(&e), &sql[..sql.len().min(300)]))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

async fn value(c: &Client, sql: &str) -> Res<String> {
    Ok(rows(c, sql)
        .await?
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default())
}

async fn count(c: &Client, sql: &str) -> Res<u64> {
    let v = value(c, sql).await?;
    v.parse().map_err(|_| format!("not a count: {v} ({sql})"))
}

async fn run(c: &Client, f: &FileContent) -> Res<()> {
    run_file(c, f).await.map_err(|e| {
        format!(
            "{:06} {}: {} at `{}`",
            e.version, e.name, e.error, e.statement
        )
    })
}

/// Coder's schema at `from`, with the fixtures of its migrations.
async fn build_schema(c: &Client, src: &SqlSource, index: &Index, from: &str) -> Res<u64> {
    let rel = index
        .release(from)
        .ok_or(format!("{from} is not in the index"))?;
    exec(c, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)").await?;
    for v in rel.migrations.iter() {
        let f = content_at(src, v, &[from.to_string()]).map_err(|e| e.to_string())?;
        exec(c, "BEGIN").await?;
        run(c, f).await?;
        exec(c, "COMMIT").await?;
        for (name, sql) in src.fixtures.get(&v).map(Vec::as_slice).unwrap_or_default() {
            let fixture = FileContent::fixture(v, name, sql);
            exec(c, "BEGIN").await?;
            run(c, &fixture).await?;
            exec(c, "COMMIT").await?;
        }
    }
    exec(
        c,
        &format!(
            "DELETE FROM schema_migrations; INSERT INTO schema_migrations VALUES ({}, false)",
            rel.max_migration
        ),
    )
    .await?;
    Ok(rel.max_migration)
}

/// Columns given a value of their own instead of the fixture's: API keys that are not
/// expired, so that 000371's purge (`expires_at < now() - 7 days`) deletes about
/// `CAL_EXPIRED_PCT` percent of them and its backfill updates the rest, as on a deployment
/// whose purge job keeps up.
fn overrides(table: &str, col: &str, expired_pct: u64) -> Option<String> {
    match (table, col) {
        ("api_keys", "expires_at") => Some(format!(
            "now() + interval '1 day' - CASE WHEN x.n__ % 100 < {expired_pct} THEN interval '30 days' ELSE interval '0' END"
        )),
        ("api_keys", "last_used") => Some("now() - (x.n__ % 1000) * interval '1 minute'".into()),
        _ => None,
    }
}

/// One foreign key of a table: its columns, the referenced table and columns, and whether
/// the columns alone are unique (a one-to-one link).
struct ForeignKey {
    cols: Vec<String>,
    parent: String,
    parent_cols: Vec<String>,
    one_to_one: bool,
}

async fn foreign_keys(c: &Client, table: &str) -> Res<Vec<ForeignKey>> {
    let found = rows(
        c,
        &format!(
            "SELECT (SELECT string_agg(a.attname, ',' ORDER BY u.o) FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
                    k.confrelid::regclass::text,
                    (SELECT string_agg(a.attname, ',' ORDER BY u.o) FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
                       JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid AND i.indisunique
                             AND i.indexprs IS NULL AND i.indpred IS NULL
                             AND i.indkey::int2[] @> k.conkey AND k.conkey @> i.indkey::int2[])
               FROM pg_constraint k WHERE k.conrelid = {}::regclass AND k.contype = 'f' ORDER BY k.conname",
            literal(&identifier(table))
        ),
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let get = |i: usize| r[i].clone().unwrap_or_default();
            ForeignKey {
                cols: get(0).split(',').map(str::to_string).collect(),
                parent: get(1),
                parent_cols: get(2).split(',').map(str::to_string).collect(),
                one_to_one: get(3) == "t",
            }
        })
        .collect())
}

/// Copies the table's rows until it holds about `target` rows, in one `INSERT ... SELECT`
/// over `generate_series`. Columns of a unique index (or of a unique expression index) get
/// new values: uuid a new one, text and bytea a suffix, numbers an offset, timestamps a
/// microsecond step. A foreign key is spread over every row of its parent (row n takes
/// parent row n mod the parent's count; a null key stays null); a one-to-one key (such as
/// `workspace_builds.job_id`) takes a parent row nothing points at yet. Fill parents first.
/// Triggers are off for the copy (`session_replication_role = replica`); unique, check and
/// not-null constraints hold during it, and [`check_foreign_keys`] checks the keys after.
async fn fill(c: &Client, table: &str, target: u64, expired_pct: u64) -> Res<u64> {
    let t = identifier(table);
    let have = count(c, &format!("SELECT count(*) FROM {t}")).await?;
    if have == 0 {
        return Err("no fixture row to copy".into());
    }
    if have >= target {
        return Ok(have);
    }
    let cols = rows(
        c,
        &format!(
            "SELECT a.attname, t.typname, t.typcategory, format_type(a.atttypid, a.atttypmod),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
                             AND (a.attnum = ANY (i.indkey) OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M'))),
                    a.attgenerated <> '' OR a.attidentity <> ''
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            literal(&t)
        ),
    )
    .await?;
    let mut fks = foreign_keys(c, table).await?;
    fks.extend(
        SOFT_KEYS
            .iter()
            .filter(|k| k.0 == table)
            .map(|k| ForeignKey {
                cols: vec![k.1.to_string()],
                parent: k.2.to_string(),
                parent_cols: vec![k.3.to_string()],
                one_to_one: false,
            }),
    );
    let copies = target.div_ceil(have) - 1;
    let mut joins = String::new();
    let mut limits = Vec::new();
    // Column -> the expression a foreign key gives it.
    let mut from_fk: BTreeMap<String, String> = BTreeMap::new();
    for (k, fk) in fks.iter().enumerate() {
        if fk.parent == table || fk.cols.iter().any(|c| from_fk.contains_key(c)) {
            continue;
        }
        let tmp = format!("cal_fk_{k}");
        let pcols: Vec<String> = fk.parent_cols.iter().map(|c| identifier(c)).collect();
        let ccols: Vec<String> = fk.cols.iter().map(|c| identifier(c)).collect();
        let parent = &fk.parent;
        let source = if fk.one_to_one {
            format!(
                "SELECT {p} FROM {parent} EXCEPT SELECT {cc} FROM {t}",
                p = pcols.join(", "),
                cc = ccols.join(", ")
            )
        } else {
            format!("SELECT {} FROM {parent}", pcols.join(", "))
        };
        exec(
            c,
            &format!(
                "DROP TABLE IF EXISTS {tmp}; CREATE TEMP TABLE {tmp} AS SELECT row_number() OVER () AS rn, s.* FROM ({source}) s; \
                 ALTER TABLE {tmp} ADD PRIMARY KEY (rn)"
            ),
        )
        .await?;
        let n = count(c, &format!("SELECT count(*) FROM {tmp}")).await?;
        if n == 0 {
            return Err(format!("{parent} has no row for {}", fk.cols.join(", ")));
        }
        if fk.one_to_one {
            limits.push(n.to_string());
            let _ = write!(joins, " LEFT JOIN {tmp} ON {tmp}.rn = x.n__");
        } else {
            let _ = write!(joins, " LEFT JOIN {tmp} ON {tmp}.rn = 1 + x.n__ % {n}");
        }
        let any_null: Vec<String> = ccols.iter().map(|c| format!("x.{c} IS NULL")).collect();
        for (col, pc) in fk.cols.iter().zip(&pcols) {
            from_fk.insert(
                col.clone(),
                format!(
                    "CASE WHEN {} THEN x.{} ELSE {tmp}.{pc} END",
                    any_null.join(" OR "),
                    identifier(col)
                ),
            );
        }
    }
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    for col in &cols {
        let get = |i: usize| col[i].clone().unwrap_or_default();
        let (name, typ, cat, full, unique, skip) =
            (get(0), get(1), get(2), get(3), get(4) == "t", get(5) == "t");
        if skip {
            continue;
        }
        let q = identifier(&name);
        let e = if let Some(e) = overrides(table, &name, expired_pct) {
            e
        } else if let Some(e) = from_fk.get(&name) {
            e.clone()
        } else {
            match (unique, typ.as_str(), cat.as_str()) {
                (false, _, _) => format!("x.{q}"),
                (true, "uuid", _) => "gen_random_uuid()".to_string(),
                (true, "bytea", _) => format!("x.{q} || convert_to(x.n__::text, 'UTF8')"),
                (true, _, "S") => format!("x.{q} || '-' || x.n__"),
                (true, _, "N") => {
                    format!("((SELECT coalesce(max({q}), 0) FROM {t}) + x.n__)::{full}")
                }
                (true, _, "D") => format!("x.{q} + x.n__ * interval '1 microsecond'"),
                _ => format!("x.{q}"),
            }
        };
        names.push(q);
        exprs.push(e);
    }
    let limit = match limits.is_empty() {
        true => String::new(),
        false => format!(" WHERE x.n__ <= least({})", limits.join(", ")),
    };
    exec(
        c,
        &format!(
            "SET session_replication_role = replica;
             INSERT INTO {t} ({names}) SELECT {exprs} FROM (SELECT s.*, row_number() OVER () AS n__ FROM {t} s CROSS JOIN generate_series(1, {copies})) x{joins}{limit};
             RESET session_replication_role",
            names = names.join(", "),
            exprs = exprs.join(", ")
        ),
    )
    .await?;
    count(c, &format!("SELECT count(*) FROM {t}")).await
}

/// Every foreign key of the filled tables holds: a row whose key is not null has its parent.
async fn check_foreign_keys(c: &Client, tables: &[String]) -> Res<()> {
    for table in tables {
        for fk in foreign_keys(c, table).await? {
            let not_null: Vec<String> = fk
                .cols
                .iter()
                .map(|c| format!("ch.{} IS NOT NULL", identifier(c)))
                .collect();
            let matches: Vec<String> = fk
                .cols
                .iter()
                .zip(&fk.parent_cols)
                .map(|(a, b)| format!("p.{} = ch.{}", identifier(b), identifier(a)))
                .collect();
            let bad = count(
                c,
                &format!(
                    "SELECT count(*) FROM {} ch WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                    identifier(table),
                    not_null.join(" AND "),
                    fk.parent,
                    matches.join(" AND ")
                ),
            )
            .await?;
            if bad > 0 {
                return Err(format!(
                    "{table}: {bad} rows break the foreign key ({}) -> {}",
                    fk.cols.join(", "),
                    fk.parent
                ));
            }
        }
    }
    Ok(())
}

/// The real binary's `gate --db URL --target TO`, with the bundled index only.
fn migtag_gate(url: &str, to: &str, extra: &[&str]) -> Res<std::process::Output> {
    Command::new(env("MIGTAG_BIN", "target/debug/migtag"))
        .args(["gate", "--db", url, "--target", to, "--offline"])
        .args(extra)
        .env_clear()
        .output()
        .map_err(|e| format!("cannot run migtag: {e}"))
}

/// The tables of the schema.
async fn tables(c: &Client) -> Res<BTreeSet<String>> {
    Ok(rows(c, "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')")
        .await?
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect())
}

/// `tables` ordered so that a table comes after the tables its foreign keys point at.
async fn referenced_first(c: &Client, tables: &BTreeSet<String>) -> Res<Vec<String>> {
    let mut edges = rows(
        c,
        "SELECT k.conrelid::regclass::text, k.confrelid::regclass::text FROM pg_constraint k \
         WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND k.conrelid <> k.confrelid",
    )
    .await?;
    edges.extend(
        SOFT_KEYS
            .iter()
            .map(|k| vec![Some(k.0.to_string()), Some(k.2.to_string())]),
    );
    let mut left: BTreeSet<String> = tables.clone();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                !edges.iter().any(|e| {
                    e[0].as_deref() == Some(t.as_str())
                        && e[1]
                            .as_deref()
                            .is_some_and(|r| r != t.as_str() && left.contains(r))
                })
            })
            .cloned()
            .collect();
        // A cycle: take the rest in name order.
        let next = if ready.is_empty() {
            left.iter().cloned().collect()
        } else {
            ready
        };
        for t in next {
            left.remove(&t);
            out.push(t);
        }
    }
    Ok(out)
}

/// `CAL_ROWS="api_keys=2000000,workspace_builds=1000000"`.
fn explicit_rows() -> Res<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for item in env("CAL_ROWS", "")
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let (t, n) = item
            .split_once('=')
            .ok_or(format!("CAL_ROWS: `{item}` is not table=rows"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("CAL_ROWS: `{item}`: rows is not a whole number"))?;
        out.insert(t.trim().to_string(), n);
    }
    Ok(out)
}

/// Rows per table to fill to: the big tables `big`, the tables the batch touches `small`
/// (0: their fixture rows), `CAL_ROWS` over both, then the parents of [`DERIVED`] at least
/// their share of the child unless `CAL_ROWS` names them.
fn targets(
    existing: &BTreeSet<String>,
    touched: &BTreeSet<String>,
    explicit: &BTreeMap<String, u64>,
    big: u64,
    small: u64,
) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for t in touched.iter().filter(|t| existing.contains(*t)) {
        out.insert(t.clone(), small);
    }
    for t in BIG_TABLES.iter().filter(|t| existing.contains(**t)) {
        out.insert(t.to_string(), big);
    }
    for (t, n) in explicit.iter().filter(|(t, _)| existing.contains(*t)) {
        out.insert(t.clone(), *n);
    }
    for (parent, child, num, den) in DERIVED {
        if explicit.contains_key(*parent) || !existing.contains(*parent) {
            continue;
        }
        if let Some(n) = out.get(*child).copied() {
            let want = n * num / den;
            let e = out.entry(parent.to_string()).or_insert(0);
            *e = (*e).max(want);
        }
    }
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU-bound processes for a busy run, killed when dropped (also on error).
struct Busy(Vec<Child>);

impl Busy {
    fn start(n: u64) -> Res<Busy> {
        let mut kids = Busy(Vec::new());
        for _ in 0..n {
            let child = Command::new("sha256sum")
                .arg("/dev/zero")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start sha256sum: {e}"))?;
            kids.0.push(child);
        }
        Ok(kids)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a statement does, from its text, and the table it works on.
fn classify(stmt: &str) -> (&'static str, String) {
    let n = normalize(stmt);
    let spaced = n
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " , ");
    let w: Vec<&str> = spaced.split_whitespace().collect();
    let up: Vec<String> = w.iter().map(|x| x.to_ascii_uppercase()).collect();
    let is = |i: usize, word: &str| up.get(i).is_some_and(|u| u == word);
    let name = |mut i: usize| -> String {
        while ["ONLY", "IF", "EXISTS", "NOT"].iter().any(|k| is(i, k)) {
            i += 1;
        }
        w.get(i)
            .map(|s| {
                s.trim_start_matches("public.")
                    .trim_matches('"')
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    };
    let start = if is(0, "WITH") {
        (1..up.len())
            .find(|&i| is(i - 1, ")") && ["UPDATE", "DELETE", "INSERT"].iter().any(|k| is(i, k)))
            .unwrap_or(0)
    } else {
        0
    };
    match up.get(start).map(String::as_str) {
        Some("UPDATE") => ("update", name(start + 1)),
        Some("DELETE") if is(start + 1, "FROM") => ("delete", name(start + 2)),
        Some("INSERT") if is(start + 1, "INTO") => ("insert", name(start + 2)),
        Some("CREATE") if is(start + 1, "INDEX") || is(start + 2, "INDEX") => {
            match (start..up.len()).find(|&i| is(i, "ON")) {
                Some(on) => ("create_index", name(on + 1)),
                None => ("other", String::new()),
            }
        }
        Some("ALTER") if is(start + 1, "TABLE") => ("alter", name(start + 2)),
        _ => ("other", String::new()),
    }
}

/// Rows inserted, updated and deleted, sequential and index scans, and HOT updates per
/// table in this transaction so far (the scans show the foreign-key checks a statement
/// fires on the referenced tables).
type Counters = BTreeMap<String, [i64; 6]>;

async fn counters(c: &Client) -> Res<Counters> {
    Ok(rows(
        c,
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, seq_scan, coalesce(idx_scan, 0), n_tup_hot_upd FROM pg_stat_xact_user_tables \
         WHERE schemaname = current_schema() AND n_tup_ins + n_tup_upd + n_tup_del + seq_scan + coalesce(idx_scan, 0) > 0",
    )
    .await?
    .into_iter()
    .filter_map(|r| {
        let n = |i: usize| r[i].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        Some((r[0].clone()?, [n(1), n(2), n(3), n(4), n(5), n(6)]))
    })
    .collect())
}

/// Indexes, outgoing foreign keys, heap bytes and relfilenode of a table (zeros when it
/// does not exist).
async fn features(c: &Client, table: &str) -> Res<[u64; 4]> {
    let r = rows(
        c,
        &format!(
            "SELECT (SELECT count(*) FROM pg_index WHERE indrelid = r.o), \
                    (SELECT count(*) FROM pg_constraint WHERE conrelid = r.o AND contype = 'f'), \
                    coalesce(pg_relation_size(r.o), 0), \
                    coalesce((SELECT relfilenode FROM pg_class WHERE oid = r.o), 0) \
               FROM (SELECT to_regclass({}) AS o) r",
            literal(&identifier(table))
        ),
    )
    .await?;
    let n = |i: usize| {
        r.first()
            .and_then(|r| r[i].as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok([n(0), n(1), n(2), n(3)])
}

struct Measured {
    tsv: String,
    total: f64,
    wall: f64,
    load_before: String,
    load_after: String,
    touched: BTreeSet<String>,
    error: Option<String>,
    /// The strongest lock the transaction held before its end on each table, view and
    /// materialized view that existed before the batch (named from the catalog before it,
    /// so the ones it dropped or replaced keep their name).
    locks: BTreeMap<String, LockMode>,
}

/// The relations (tables, views, materialized views) of the schema by oid.
async fn relation_oids(c: &Client) -> Res<BTreeMap<String, String>> {
    Ok(rows(
        c,
        "SELECT oid::bigint, relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
         AND relkind IN ('r', 'p', 'm', 'v')",
    )
    .await?
    .into_iter()
    .filter_map(|r| Some((r[0].clone()?, r[1].clone()?)))
    .collect())
}

/// The forecast's locks against the ones measured: (same, differences).
fn compare_locks(
    measured: &BTreeMap<String, LockMode>,
    forecast: &BTreeMap<String, String>,
) -> (usize, Vec<String>) {
    let mut same = 0;
    let mut diffs = Vec::new();
    let all: BTreeSet<&String> = measured.keys().chain(forecast.keys()).collect();
    for t in all {
        let seen = measured.get(t).map(|m| m.sql_name()).unwrap_or("-");
        let said = forecast.get(t).map(String::as_str).unwrap_or("-");
        if seen == said {
            same += 1;
        } else {
            diffs.push(format!("{t}: measured {seen}, forecast {said}"));
        }
    }
    (same, diffs)
}

/// T's pending migrations as Coder runs them, one timed statement at a time.
async fn measure(
    c: &Client,
    src: &SqlSource,
    pending: &[u64],
    to: &str,
    busy: u64,
    commit: bool,
) -> Res<Measured> {
    let mut statements = Vec::new();
    for p in pending {
        let file = content_at(src, *p, &[to.to_string()]).map_err(|e| e.to_string())?;
        for s in split_statements(&file.text) {
            if !is_transaction_control(&s.text) {
                statements.push((format!("{p:06}"), s.text));
            }
        }
    }
    let base: BTreeMap<String, i64> = rows(
        c,
        "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class \
         WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')",
    )
    .await?
    .into_iter()
    .filter_map(|r| Some((r[0].clone()?, r[1].as_deref()?.parse().ok()?)))
    .collect();
    let oids_before = relation_oids(c).await?;
    let load_before = load_average();
    let guard = Busy::start(busy)?;
    let mut out = String::new();
    let mut total = 0.0;
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let wall = Instant::now();
    let t = Instant::now();
    exec(
        c,
        &format!("BEGIN; SELECT pg_advisory_xact_lock({CODER_LOCK_KEY})"),
    )
    .await?;
    let begin = t.elapsed().as_secs_f64();
    total += begin;
    let _ = writeln!(
        out,
        "begin\t0\tother\t-\t-\t-\t-\t-\t-\t-\t{begin:.6}\t\t\tBEGIN; SELECT pg_advisory_xact_lock(..)"
    );
    // PostgreSQL 15 counts in pg_stat_xact_user_tables what this session did before the
    // transaction too, until it flushes its statistics: deltas are taken from here.
    let start = counters(c).await?;
    let mut before = start.clone();
    let mut error = None;
    let mut last_migration = String::new();
    let mut stmt_no = 0;
    for (migration, stmt) in &statements {
        if *migration != last_migration {
            stmt_no = 0;
            last_migration = migration.clone();
        }
        stmt_no += 1;
        let (mut kind, mut table) = classify(stmt);
        let probe = kind != "other" && !table.is_empty();
        let feat = if probe {
            Some(features(c, &table).await?)
        } else {
            None
        };
        let t = Instant::now();
        let result = c.simple_query(stmt).await;
        let secs = t.elapsed().as_secs_f64();
        total += secs;
        if let Err(e) = result {
            error = Some(format!(
                "{migration} statement {stmt_no}: {}: {}",
                db_message(&e),
                normalize(stmt).chars().take(200).collect::<String>()
            ));
            break;
        }
        let after = counters(c).await?;
        let mut deltas = Vec::new();
        let mut scans = Vec::new();
        let mut biggest = (0i64, String::new());
        for (rel, a) in &after {
            let b = before.get(rel).copied().unwrap_or([0; 6]);
            let d: Vec<i64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            let sum = d[0] + d[1] + d[2];
            if sum != 0 {
                let hot = match d[5] {
                    0 => String::new(),
                    h => format!("(hot {h})"),
                };
                deltas.push(format!("{rel}:+{}~{}{hot}-{}", d[0], d[1], d[2]));
                touched.insert(rel.clone());
            }
            if d[3] + d[4] != 0 {
                scans.push(format!("{rel}:seq{}/idx{}", d[3], d[4]));
            }
            if sum > biggest.0 {
                biggest = (sum, rel.clone());
            }
        }
        if table.is_empty() && !biggest.1.is_empty() {
            table = biggest.1.clone();
        }
        let d = |rel: &str, m: &Counters| m.get(rel).copied().unwrap_or([0; 6]);
        let (a, b) = (d(&table, &after), d(&table, &before));
        let changed = (a[0] - b[0]) + (a[1] - b[1]) + (a[2] - b[2]);
        let s0 = d(&table, &start);
        let rows_before = base.get(&table).copied().unwrap_or(0) + (b[0] - s0[0]) - (b[2] - s0[2]);
        let earlier = written.contains(&table);
        let cols = match feat {
            Some([idx, fks, heap, node]) => {
                if kind == "alter" && node != 0 && features(c, &table).await?[3] != node {
                    kind = "alter_rewrite";
                    written.insert(table.clone());
                }
                format!("{rows_before}\t{changed}\t{idx}\t{fks}\t{heap}")
            }
            None if table.is_empty() => "-\t-\t-\t-\t-".to_string(),
            None => format!("{rows_before}\t{changed}\t-\t-\t-"),
        };
        if !table.is_empty() {
            touched.insert(table.clone());
        }
        for rel in deltas.iter().filter_map(|d| d.split(':').next()) {
            let x = d(rel, &after);
            let y = d(rel, &before);
            if x[0] > y[0] || x[1] > y[1] {
                written.insert(rel.to_string());
            }
        }
        let text: String = normalize(stmt)
            .replace('\t', " ")
            .chars()
            .take(120)
            .collect();
        let _ = writeln!(
            out,
            "{migration}\t{stmt_no}\t{kind}\t{}\t{cols}\t{}\t{secs:.6}\t{}\t{}\t{text}",
            if table.is_empty() { "-" } else { &table },
            if table.is_empty() {
                "-"
            } else if earlier {
                "yes"
            } else {
                "no"
            },
            deltas.join(" "),
            scans.join(" ")
        );
        before = after;
    }
    let mut locks: BTreeMap<String, LockMode> = BTreeMap::new();
    if error.is_none() {
        let held = rows(
            c,
            "SELECT relation::bigint, mode FROM pg_locks WHERE pid = pg_backend_pid() \
             AND locktype = 'relation' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await?;
        for r in held {
            let (Some(oid), Some(mode)) = (r[0].as_deref(), r[1].as_deref()) else {
                continue;
            };
            // Relations the batch created are left out; the ones it dropped or replaced keep
            // the name they had.
            let Some(name) = oids_before.get(oid) else {
                continue;
            };
            if let Some(m) = LockMode::parse(mode) {
                let e = locks.entry(name.clone()).or_insert(m);
                *e = (*e).max(m);
            }
        }
    }
    let end_sql = if commit && error.is_none() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let t = Instant::now();
    exec(c, end_sql).await?;
    let end = t.elapsed().as_secs_f64();
    total += end;
    let wall = wall.elapsed().as_secs_f64();
    drop(guard);
    let _ = writeln!(
        out,
        "end\t0\tother\t-\t-\t-\t-\t-\t-\t-\t{end:.6}\t\t\t{end_sql}"
    );
    Ok(Measured {
        tsv: out,
        total,
        wall,
        load_before,
        load_after: load_average(),
        touched,
        error,
        locks,
    })
}

fn write_file(path: &std::path::Path, text: &str) -> Res<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

struct Summary {
    lines: Vec<String>,
    failed: bool,
}

async fn calibrate(
    src: &SqlSource,
    index: &Index,
    effects: &migtag::core::effects::Effects,
    from: &str,
    to: &str,
) -> Res<Summary> {
    let big = env_u64("CAL_BIG_ROWS", 200_000)?;
    let small = env_u64("CAL_SMALL_ROWS", 0)?;
    let expired_pct = env_u64("CAL_EXPIRED_PCT", 10)?;
    let commit = env("CAL_COMMIT", "0") == "1";
    let runs = if commit {
        1
    } else {
        env_u64("CAL_RUNS", 2)?.max(1)
    };
    let busy = env_u64("CAL_BUSY", 0)?;
    let busy_runs = env_u64("CAL_BUSY_RUNS", runs)?;
    let explicit = explicit_rows()?;
    let label = env("CAL_LABEL", &format!("big{big}"));
    let out_dir = std::path::PathBuf::from(env("CAL_OUT", "bench/calibration/raw"));
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let stem = format!("{from}-{to}-{label}");
    let db: String = format!("cal_{from}_{to}_{label}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(63)
        .collect();

    let admin = connect("postgres").await?;
    let exists = count(
        &admin,
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            literal(&db)
        ),
    )
    .await?
        > 0;
    let reuse = exists && env("CAL_REUSE", "0") == "1";
    let rel = index
        .release(from)
        .ok_or(format!("{from} is not in the index"))?;
    let target = index
        .release(to)
        .ok_or(format!("{to} is not in the index"))?;
    let v = rel.max_migration;
    let pending: Vec<u64> = target.migrations.above(v).iter().collect();
    let c = if reuse {
        eprintln!("{stem}: measuring the filled database {db} again");
        connect(&db).await?
    } else {
        exec(&admin, &format!("DROP DATABASE IF EXISTS {db}")).await?;
        exec(&admin, &format!("CREATE DATABASE {db}")).await?;
        let c = connect(&db).await?;
        let t0 = Instant::now();
        build_schema(&c, src, index, from).await?;
        eprintln!(
            "{stem}: schema at {v} built in {:.0}s",
            t0.elapsed().as_secs_f64()
        );
        let facts: Vec<MigrationFacts> = pending
            .iter()
            .filter_map(|p| shipped_effects(effects, *p, to))
            .map(MigrationFacts::from)
            .collect();
        let touched = touched_tables(&facts);
        let existing = tables(&c).await?;
        let want = targets(&existing, &touched, &explicit, big, small);
        let set: BTreeSet<String> = want.keys().cloned().collect();
        let t1 = Instant::now();
        let mut filled = Vec::new();
        for t in referenced_first(&c, &set).await? {
            let n = want[&t];
            let t2 = Instant::now();
            match fill(&c, &t, n, expired_pct).await {
                Ok(got) => {
                    eprintln!(
                        "{stem}: {t} {got} rows ({:.0}s)",
                        t2.elapsed().as_secs_f64()
                    );
                    filled.push(t);
                }
                Err(e) => eprintln!("{stem}: {t} not filled: {e}"),
            }
        }
        check_foreign_keys(&c, &filled).await?;
        exec(&c, "VACUUM ANALYZE").await?;
        eprintln!(
            "{stem}: filled and checked in {:.0}s",
            t1.elapsed().as_secs_f64()
        );
        c
    };

    // The forecast, as an operator gets it.
    let out = migtag_gate(&conninfo(&db), to, &["--format", "json"])?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("gate output: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    write_file(
        &out_dir.join(format!("{stem}-forecast.json")),
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    let est = &report["forecast"]["estimate"];
    let forecast_locks: BTreeMap<String, String> = report["forecast"]["locks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["table"].as_str().unwrap_or("").to_string(),
                l["mode"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let low = est["low_seconds"].as_f64().unwrap_or(0.0);
    let high = est["high_seconds"].as_f64().unwrap_or(0.0);

    let settings = rows(
        &c,
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN \
         ('shared_buffers', 'maintenance_work_mem', 'work_mem', 'max_wal_size', 'synchronous_commit', \
          'max_parallel_maintenance_workers', 'server_version') ORDER BY name",
    )
    .await?
    .into_iter()
    .map(|r| format!("{}={}", r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default()))
    .collect::<Vec<_>>()
    .join(" ");
    let fill_now = rows(
        &c,
        "SELECT relname, reltuples::bigint FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
         AND relkind = 'r' AND reltuples >= 1000 ORDER BY reltuples DESC, relname",
    )
    .await?
    .into_iter()
    .map(|r| format!("{}={}", r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default()))
    .collect::<Vec<_>>()
    .join(" ");

    let mut summary = Summary {
        lines: Vec::new(),
        failed: false,
    };
    let mut vacuum: BTreeSet<String> = BTreeSet::new();
    for n in 1..=runs {
        if !vacuum.is_empty() {
            let existing = tables(&c).await?;
            let list: Vec<String> = vacuum
                .iter()
                .filter(|t| existing.contains(*t))
                .map(|t| identifier(t))
                .collect();
            let t = Instant::now();
            if !list.is_empty() {
                exec(&c, &format!("VACUUM FULL ANALYZE {}", list.join(", "))).await?;
            }
            eprintln!(
                "{stem}: VACUUM FULL ANALYZE of {} tables in {:.0}s",
                list.len(),
                t.elapsed().as_secs_f64()
            );
        }
        let busy_now = if n + busy_runs > runs { busy } else { 0 };
        let m = measure(&c, src, &pending, to, busy_now, commit).await?;
        vacuum = m.touched.clone();
        let date = String::from_utf8_lossy(
            &Command::new("date")
                .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default(),
        )
        .trim()
        .to_string();
        let mut head = String::new();
        let _ = writeln!(
            head,
            "# path: {from} -> {to} ({v} -> {}), {} pending migrations, run {n} of {runs}",
            target.max_migration,
            pending.len()
        );
        let _ = writeln!(
            head,
            "# date: {date}; machine: {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        let _ = writeln!(head, "# volume: {label}; rows: {fill_now}");
        let _ = writeln!(
            head,
            "# load average before: {}; after: {}",
            m.load_before, m.load_after
        );
        let _ = writeln!(
            head,
            "# busy: {busy_now} CPU-bound processes (sha256sum /dev/zero) during the batch"
        );
        let _ = writeln!(head, "# postgres: {settings}");
        let _ = writeln!(
            head,
            "# batch: {:.3} s (sum of the timed spans: BEGIN and lock, the statements, {}); wall {:.3} s with the probes between statements",
            m.total,
            if commit && m.error.is_none() { "COMMIT" } else { "ROLLBACK" },
            m.wall
        );
        let _ = writeln!(
            head,
            "# forecast (migtag gate --db ... --target {to} --format json, forecast.estimate): {}",
            serde_json::to_string(est).unwrap_or_default()
        );
        if let Some(e) = &m.error {
            let _ = writeln!(head, "# FAILED: {e}");
        } else {
            let (same, diffs) = compare_locks(&m.locks, &forecast_locks);
            let _ = writeln!(
                head,
                "# locks held before the end on relations that existed before the batch (the ones it dropped named as they were): {} relations, {same} as forecast{}{}",
                m.locks.len(),
                if diffs.is_empty() { "" } else { "; differences: " },
                diffs.join("; ")
            );
        }
        head.push_str("migration\tstmt_no\tkind\ttable\trows_before\trows_changed\tindexes_before\tfks\theap_bytes_before\twritten_earlier_in_batch\tseconds\tdeltas\tscans\tstatement\n");
        let path = out_dir.join(format!("{stem}-run{n}.tsv"));
        write_file(&path, &format!("{head}{}", m.tsv))?;
        let inside = m.total >= low && m.total <= high;
        summary.failed |= m.error.is_some();
        summary.lines.push(format!(
            "| {from} -> {to} | {label} | {n} | {busy_now} | {} / {} | {low:.2} - {high:.2} | {:.2} | {} | {} |",
            m.load_before,
            m.load_after,
            m.total,
            if inside { "yes" } else { "no" },
            m.error.as_deref().unwrap_or("ok")
        ));
        eprintln!(
            "{stem}: run {n}: {:.2} s (wall {:.2} s) -> {}",
            m.total,
            m.wall,
            path.display()
        );
        if m.error.is_some() {
            break;
        }
    }
    drop(c);
    if env("CAL_KEEP", "0") == "1" {
        eprintln!(
            "CAL_KEEP: the filled database {db} stays on {} ({})",
            conninfo(&db),
            if commit {
                "committed at the target"
            } else {
                "at the source version"
            }
        );
    } else {
        exec(&admin, &format!("DROP DATABASE {db}")).await?;
    }
    Ok(summary)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sql = env("CAL_SQL", "../shared/reference/coder-sql.tar.gz");
    let src = coder_sql::load(std::path::Path::new(&sql)).expect("the reference SQL loads");
    let index = migtag::bundled::load().expect("bundled index");
    let effects = migtag::bundled::effects().expect("bundled effects");
    println!("| path | volume | run | busy | load before / after | forecast (s) | measured (s) | inside | result |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    for pair in std::env::args().skip(1) {
        let Some((from, to)) = pair.split_once(':') else {
            eprintln!("calibrate: `{pair}` is not FROM:TO");
            std::process::exit(2);
        };
        match calibrate(&src, &index, &effects, from, to).await {
            Ok(s) => {
                failed |= s.failed;
                for l in s.lines {
                    println!("{l}");
                }
            }
            Err(e) => {
                failed = true;
                println!("| {from} -> {to} | | | | | | | | failed: {e} |");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
