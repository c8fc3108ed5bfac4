//! Calibration of the upgrade forecast on real Coder paths (docs/forecast.md): a benchmark,
//! run by `bench/calibrate.sh`, which starts the throwaway server this program talks to.
//!
//! For each path V -> T: a new database; Coder's schema at V built from the real migration
//! SQL as V shipped it, each file with its fixtures, through the replayer of `index effects`
//! (`adapters::postgres::replay::run_file`); the tables T's pending migrations touch filled by
//! copying their fixture rows (keys and unique columns made unique) to `CAL_BIG_ROWS` rows in
//! Coder's big tables (the others keep their fixture rows unless `CAL_SMALL_ROWS` is set); `ANALYZE`; the forecast of the real
//! binary (`migtag gate --db ... --target T --format json`); then T's pending migrations run
//! as Coder runs them (`BEGIN`, `pg_advisory_xact_lock`, the files, `COMMIT`), timed, with
//! the table locks the transaction holds read from `pg_locks` before the commit. Prints one
//! Markdown table row per path.
//!
//! Environment: `CAL_PGHOST` (socket folder), `CAL_PGPORT`, `CAL_SQL` (the reference
//! tarball), `MIGTAG_BIN`; arguments: `FROM:TO` tag pairs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use migtag::adapters::coder_sql::{self, FileContent, SqlSource};
use migtag::adapters::postgres::replay::{content_at, run_file};
use migtag::adapters::postgres::survey::CODER_LOCK_KEY;
use migtag::core::forecast::effects::shipped_effects;
use migtag::core::forecast::{touched_tables, LockMode, MigrationFacts};
use migtag::core::index::Index;
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

/// Tables that grow with users rather than with builds: a workspace has many builds (every
/// start and stop is one, each with its agents and resources), so they get 1/20 of the big
/// tables' rows.
const MEDIUM_TABLES: &[&str] = &["workspaces"];

type Res<T> = Result<T, String>;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

async fn connect(db: &str) -> Res<Client> {
    let conf = format!(
        "host={} port={} user=postgres dbname={db}",
        env("CAL_PGHOST", "/tmp"),
        env("CAL_PGPORT", "5432")
    );
    let (client, conn) = tokio_postgres::connect(&conf, NoTls)
        .await
        .map_err(|e| format!("connect {db}: {e}"))?;
    tokio::spawn(conn);
    Ok(client)
}

async fn exec(c: &Client, sql: &str) -> Res<()> {
    c.simple_query(sql).await.map(|_| ()).map_err(|e| {
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        format!("{msg} (in: {})", &sql[..sql.len().min(200)])
    })
}

async fn rows(c: &Client, sql: &str) -> Res<Vec<Vec<Option<String>>>> {
    let msgs = c
        .simple_query(sql)
        .await
        .map_err(|e| format!("{e}: {sql}"))?;
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

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
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

/// Copies the table's rows until it holds about `target` rows. Columns of a unique index
/// (or of a unique expression index) get new values: uuid a new one, text and bytea a
/// suffix, numbers an offset, timestamps a microsecond step; a unique foreign-key column (a
/// one-to-one link such as `workspace_builds.job_id`) takes a row of the referenced table
/// that nothing points at yet, so fill referenced tables first. Everything else, other
/// foreign keys included, is copied, so constraints keep holding.
async fn fill(c: &Client, table: &str, target: u64) -> Res<u64> {
    let t = ident(table);
    let have: u64 = rows(c, &format!("SELECT count(*) FROM {t}")).await?[0][0]
        .as_deref()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
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
                    a.attgenerated <> '' OR a.attidentity <> '',
                    (SELECT quote_ident(k.confrelid::regclass::text) || ' ' || quote_ident(r.attname) FROM pg_constraint k
                       JOIN pg_attribute r ON r.attrelid = k.confrelid AND r.attnum = k.confkey[1]
                      WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND a.attnum = ANY (k.conkey) LIMIT 1),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indnatts = 1 AND i.indkey[0] = a.attnum)
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = '{}'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            t.replace('\'', "''")
        ),
    )
    .await?;
    let copies = target.div_ceil(have) - 1;
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    let mut limits = Vec::new();
    let mut setup = String::new();
    for (k, col) in cols.iter().enumerate() {
        let get = |i: usize| col[i].clone().unwrap_or_default();
        let (name, typ, cat, full, skip, fk) = (
            get(0),
            get(1),
            get(2),
            get(3),
            get(5) == "t",
            col[6].clone(),
        );
        // A foreign-key column in a composite unique index keeps its value (the index's other
        // columns vary); alone in a unique index it needs a referenced row of its own.
        let unique = match fk {
            Some(_) => get(7) == "t",
            None => get(4) == "t",
        };
        if skip {
            continue;
        }
        let q = ident(&name);
        let e = match (unique, fk, typ.as_str(), cat.as_str()) {
            (true, Some(fk), _, _) => {
                let (rt, rc) = fk.split_once(' ').unwrap_or_default();
                let u = format!("cal_unused_{k}");
                setup.push_str(&format!(
                    "DROP TABLE IF EXISTS {u}; CREATE TEMP TABLE {u} AS SELECT v, row_number() OVER () AS rn FROM \
                     (SELECT {rc} AS v FROM {rt} EXCEPT SELECT {q} FROM {t}) x; ALTER TABLE {u} ADD PRIMARY KEY (rn); "
                ));
                limits.push(format!("(SELECT count(*) FROM {u})"));
                format!("(SELECT u.v FROM {u} u WHERE u.rn = x.n__)")
            }
            (false, _, _, _) => q.clone(),
            (true, None, "uuid", _) => "gen_random_uuid()".to_string(),
            (true, None, "bytea", _) => format!("{q} || convert_to(n__::text, 'UTF8')"),
            (true, None, _, "S") => format!("{q} || '-' || n__"),
            (true, None, _, "N") => {
                format!("((SELECT coalesce(max({q}), 0) FROM {t}) + n__)::{full}")
            }
            (true, None, _, "D") => format!("{q} + n__ * interval '1 microsecond'"),
            _ => q.clone(),
        };
        names.push(q);
        exprs.push(e);
    }
    let limit = match limits.is_empty() {
        true => String::new(),
        false => format!(" WHERE n__ <= least({})", limits.join(", ")),
    };
    exec(
        c,
        &format!(
            "{setup}SET session_replication_role = replica;
             INSERT INTO {t} ({names}) SELECT {exprs} FROM (SELECT s.*, row_number() OVER () AS n__ FROM {t} s CROSS JOIN generate_series(1, {copies})) x{limit};
             RESET session_replication_role",
            names = names.join(", "),
            exprs = exprs.join(", ")
        ),
    )
    .await?;
    let now = rows(c, &format!("SELECT count(*) FROM {t}")).await?[0][0]
        .clone()
        .unwrap_or_default();
    now.parse().map_err(|_| "count".to_string())
}

/// The real binary's `gate --db URL --target TO`, with the bundled index only.
fn migtag_gate(url: &str, to: &str, extra: &[&str]) -> Res<std::process::Output> {
    std::process::Command::new(env("MIGTAG_BIN", "target/debug/migtag"))
        .args(["gate", "--db", url, "--target", to, "--offline"])
        .args(extra)
        .env_clear()
        .output()
        .map_err(|e| format!("cannot run migtag: {e}"))
}

/// The tables, materialized views and views of the schema, with their oids.
async fn relations(c: &Client) -> Res<BTreeMap<String, String>> {
    Ok(rows(c, "SELECT relname, oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'm', 'v')")
        .await?
        .into_iter()
        .filter_map(|r| Some((r[0].clone()?, r[1].clone()?)))
        .collect())
}

/// `tables` ordered so that a table comes after the tables its foreign keys point at.
async fn referenced_first(c: &Client, tables: &BTreeSet<String>) -> Res<Vec<String>> {
    let edges = rows(
        c,
        "SELECT k.conrelid::regclass::text, k.confrelid::regclass::text FROM pg_constraint k \
         WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace AND k.conrelid <> k.confrelid",
    )
    .await?;
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

#[derive(Debug)]
struct Outcome {
    path: String,
    pending: usize,
    filled: Vec<String>,
    skipped: Vec<String>,
    low: f64,
    high: f64,
    window: u64,
    measured: f64,
    locks_same: usize,
    locks_total: usize,
    lock_diffs: Vec<String>,
    blocking: usize,
    slowest: Vec<String>,
    work: Vec<String>,
    human: String,
}

async fn calibrate(
    src: &SqlSource,
    index: &Index,
    effects: &migtag::core::effects::Effects,
    from: &str,
    to: &str,
) -> Res<Outcome> {
    let db = format!(
        "cal_{}_{}",
        from.replace(['.', 'v'], ""),
        to.replace(['.', 'v'], "")
    );
    let admin = connect("postgres").await?;
    exec(&admin, &format!("DROP DATABASE IF EXISTS {db}")).await?;
    exec(&admin, &format!("CREATE DATABASE {db}")).await?;
    let c = connect(&db).await?;
    let t0 = Instant::now();
    let v = build_schema(&c, src, index, from).await?;
    eprintln!(
        "{from}: schema at {v} built in {:.0}s",
        t0.elapsed().as_secs_f64()
    );

    let target = index
        .release(to)
        .ok_or(format!("{to} is not in the index"))?;
    let pending: Vec<_> = target.migrations.above(v).iter().collect();
    let facts: Vec<MigrationFacts> = pending
        .iter()
        .filter_map(|p| shipped_effects(effects, *p, to))
        .map(MigrationFacts::from)
        .collect();
    let touched = touched_tables(&facts);
    let existing = relations(&c).await?;
    let big: u64 = env("CAL_BIG_ROWS", "200000").parse().unwrap_or(200_000);
    // Coder's other tables stay small in production (templates, notification templates,
    // organizations): they keep their fixture rows unless CAL_SMALL_ROWS says otherwise.
    let small: u64 = env("CAL_SMALL_ROWS", "0").parse().unwrap_or(0);
    let (mut filled, mut skipped) = (Vec::new(), Vec::new());
    let t1 = Instant::now();
    let mut to_fill: BTreeSet<String> = touched
        .iter()
        .filter(|t| existing.contains_key(*t))
        .cloned()
        .collect();
    to_fill.extend(
        BIG_TABLES
            .iter()
            .chain(MEDIUM_TABLES)
            .filter(|t| existing.contains_key(**t))
            .map(|t| t.to_string()),
    );
    for t in referenced_first(&c, &to_fill).await? {
        let t = &t;
        let want = if BIG_TABLES.contains(&t.as_str()) {
            big
        } else if MEDIUM_TABLES.contains(&t.as_str()) {
            big / 20
        } else {
            small
        };
        match fill(&c, t, want).await {
            Ok(n) => filled.push(format!("{t} {n}")),
            Err(e) => skipped.push(format!("{t}: {e}")),
        }
    }
    exec(&c, "VACUUM ANALYZE").await?;
    eprintln!(
        "{from}: filled {} tables in {:.0}s",
        filled.len(),
        t1.elapsed().as_secs_f64()
    );

    // The forecast, as an operator gets it.
    let url = format!(
        "host={} port={} user=postgres dbname={db}",
        env("CAL_PGHOST", "/tmp"),
        env("CAL_PGPORT", "5432")
    );
    let out = migtag_gate(&url, to, &["--format", "json"])?;
    let human = migtag_gate(&url, to, &["--color", "never"])?;
    let human = String::from_utf8_lossy(&human.stdout);
    let human = human
        .split_once("\nupgrade forecast")
        .map(|(_, rest)| {
            format!(
                "upgrade forecast{}",
                rest.split("\n\n").next().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("gate output: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    let f = &report["forecast"];
    let low = f["estimate"]["low_seconds"]
        .as_f64()
        .ok_or(format!("no estimate: {f}"))?;
    let high = f["estimate"]["high_seconds"].as_f64().unwrap_or(0.0);
    let window = f["migration_window"]["seconds"].as_u64().unwrap_or(0);
    let forecast_locks: BTreeMap<String, String> = f["locks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    (
                        l["table"].as_str().unwrap_or("").to_string(),
                        l["mode"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let blocking = f["locks"]
        .as_array()
        .map(|a| a.iter().filter(|l| l["blocks_coder"] == true).count())
        .unwrap_or(0);

    let mut work = Vec::new();
    for kind in ["rewrites", "index_builds", "scans", "updates"] {
        for w in f[kind].as_array().into_iter().flatten() {
            let s = &w["seconds"];
            work.push(format!(
                "{kind} {} {:06} {:.2}-{:.2} s",
                w["table"].as_str().unwrap_or(""),
                w["migration"].as_u64().unwrap_or(0),
                s[0].as_f64().unwrap_or(0.0),
                s[1].as_f64().unwrap_or(0.0)
            ));
        }
    }
    // The upgrade, as Coder runs it.
    let start = Instant::now();
    exec(
        &c,
        &format!("BEGIN; SELECT pg_advisory_xact_lock({CODER_LOCK_KEY})"),
    )
    .await?;
    let mut slow = Vec::new();
    for p in &pending {
        let file = content_at(src, *p, &[to.to_string()]).map_err(|e| e.to_string())?;
        let t = Instant::now();
        if let Err(e) = run(&c, file).await {
            let _ = exec(&c, "ROLLBACK").await;
            return Err(format!("the batch failed: {e}"));
        }
        slow.push((t.elapsed().as_secs_f64(), format!("{p:06} {}", file.name)));
    }
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    let held = rows(&c, "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'm', 'v')").await?;
    exec(&c, "COMMIT").await?;
    let measured = start.elapsed().as_secs_f64();

    let mut strongest: BTreeMap<String, LockMode> = BTreeMap::new();
    for r in held {
        let (Some(t), Some(m)) = (r[0].clone(), r[1].as_deref().and_then(LockMode::parse)) else {
            continue;
        };
        if existing.contains_key(&t) {
            let e = strongest.entry(t).or_insert(m);
            *e = (*e).max(m);
        }
    }
    let after = relations(&c).await?;
    let mut lock_diffs = Vec::new();
    let mut same = 0;
    let mut unverifiable = 0;
    let all: BTreeSet<&String> = strongest.keys().chain(forecast_locks.keys()).collect();
    for t in &all {
        let seen = strongest.get(*t).map(|m| m.sql_name()).unwrap_or("-");
        let said = forecast_locks.get(*t).map(String::as_str).unwrap_or("-");
        if seen == said {
            same += 1;
        } else if after.get(*t) != existing.get(*t) {
            // Dropped (or replaced) by the batch: pg_locks still holds the lock, but its
            // relation no longer has a name to join on; not counted either way.
            unverifiable += 1;
            lock_diffs.push(format!("{t}: forecast {said}; dropped or replaced by the batch, so pg_locks cannot name it"));
        } else {
            lock_diffs.push(format!("{t}: measured {seen}, forecast {said}"));
        }
    }
    drop(c);
    exec(&admin, &format!("DROP DATABASE {db}")).await?;
    Ok(Outcome {
        path: format!("{from} -> {to} ({v} -> {})", target.max_migration),
        pending: pending.len(),
        filled,
        skipped,
        low,
        high,
        window,
        measured,
        locks_same: same,
        locks_total: all.len() - unverifiable,
        lock_diffs,
        blocking,
        slowest: slow
            .iter()
            .take(5)
            .map(|(t, m)| format!("{m} {t:.2} s"))
            .collect(),
        work,
        human,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sql = env("CAL_SQL", "../shared/reference/coder-sql.tar.gz");
    let src = coder_sql::load(std::path::Path::new(&sql)).expect("the reference SQL loads");
    let index = migtag::bundled::load().expect("bundled index");
    let effects = migtag::bundled::effects().expect("bundled effects");
    println!("| path | pending | forecast low - high | measured | inside | band | window | locks as forecast | blocking Coder |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut details = Vec::new();
    let mut failed = false;
    for pair in std::env::args().skip(1) {
        let (from, to) = pair.split_once(':').expect("FROM:TO");
        match calibrate(&src, &index, &effects, from, to).await {
            Ok(o) => {
                let inside = o.measured >= o.low && o.measured <= o.high;
                failed |= !inside;
                println!(
                    "| {} | {} | {:.2} s - {:.2} s | {:.2} s | {} | {:.1}x | {} s | {}/{} tables | {} |",
                    o.path, o.pending, o.low, o.high, o.measured, if inside { "yes" } else { "**no**" },
                    o.high / o.low.max(0.001), o.window, o.locks_same, o.locks_total, o.blocking
                );
                details.push(o);
            }
            Err(e) => {
                failed = true;
                println!("| {from} -> {to} | | | failed: {e} | | | | | |");
            }
        }
    }
    for o in &details {
        println!("\n{}: filled {}", o.path, o.filled.join(", "));
        if !o.skipped.is_empty() {
            println!("  not filled: {}", o.skipped.join("; "));
        }
        println!("  slowest migrations: {}", o.slowest.join("; "));
        println!("  gate --db says:\n{}", o.human);
        println!("  forecast work: {}", o.work.join("; "));
        for d in &o.lock_diffs {
            println!("  lock difference: {d}");
        }
    }
    if failed {
        std::process::exit(1);
    }
}
