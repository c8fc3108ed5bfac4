//! `gate --rehearse --sample P%` on real PostgreSQL 15: a v2.26.0 schema built from Coder's
//! real SQL and filled with foreign-key consistent rows (tests/cli/data/sample_fill_v2.26.0.sql:
//! 3,001 users, 30,300 API keys, workspaces and their builds, jobs, resources, agents (some
//! with a parent agent), apps, connection logs), rehearsed to v2.27.0 on a 10% sample: the
//! estimate comes from the rehearsal and its row ratios, the live database sees only reads,
//! the sampled rows reach no output, and the scratch database is always dropped.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::coder_sql::{database_with, run_script, set_row, tarball};
use crate::common::{migtag, run};
use crate::pg::{unique, PgCluster};
use crate::rehearse::url;
use crate::rehearse_sandbox::leftovers;

/// Text planted in the live rows (an email, API key ids, their hashed secrets and token
/// names): it must never reach migtag's output.
const PLANTED: &str = "plnt7f3a";

/// A new database at v2.26.0 (362) with the rows, analyzed (the filled template is built once).
fn filled(c: &'static PgCluster) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let db = database_with(c, "forecast-v2.26.0", (1..=362).collect(), Some("v2.26.0"));
        set_row(c, &db, 362, false);
        let fill = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/cli/data/sample_fill_v2.26.0.sql"),
        )
        .unwrap();
        run_script(c, &db, &fill);
        db
    });
    let name = unique("sample");
    c.sql(
        "postgres",
        &format!("CREATE DATABASE {name} TEMPLATE {template}"),
    );
    c.sql(&name, "ANALYZE");
    name
}

fn args(format: &str, db_url: &str, scratch_url: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--format",
        format,
        "gate",
        "--db",
        db_url,
        "--target",
        "v2.27.0",
        "--rehearse",
        "--scratch-db",
        scratch_url,
        "--sql",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(tarball().display().to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// What must not change in the live database: its row and columns (as for the schema-only
/// rehearsal) and its rows' contents.
fn fingerprint(c: &PgCluster, db: &str) -> String {
    let rows = c.sql(
        db,
        "SELECT (SELECT md5(string_agg(k::text, ',' ORDER BY k.id)) FROM api_keys k) || ' ' || \
         (SELECT md5(string_agg(u::text, ',' ORDER BY u.id)) FROM users u) || ' ' || \
         (SELECT count(*) FROM connection_logs)",
    );
    format!("{} {rows}", crate::rehearse::fingerprint(c, db))
}

/// The statements the server logged for `db` and migtag, by the simple protocol
/// (`statement: `) and the extended one (`execute <name>: `, as tokio-postgres sends COPY).
fn logged(log: &str, db: &str) -> Vec<String> {
    let starts_entry = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").unwrap();
    let text = regex::Regex::new(r"(?s)LOG:  (?:statement|execute [^:]*): (.*)$").unwrap();
    let mut entries: Vec<String> = Vec::new();
    for line in log.lines() {
        match entries.last_mut() {
            Some(last) if !starts_entry.is_match(line) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => entries.push(line.to_string()),
        }
    }
    let tag = format!("db={db} app=migtag ");
    entries
        .iter()
        .filter(|e| e.contains(&tag))
        .filter_map(|e| text.captures(e).map(|m| m[1].trim().to_string()))
        .collect()
}

fn ratio(sample: &Value, table: &str) -> f64 {
    sample["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("{table} was not sampled: {sample:#}"))["ratio"]
        .as_f64()
        .unwrap()
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_ten_percent_sample_of_v2_26_0_rehearses_v2_27_0_scales_by_row_ratio_and_only_reads_live() {
    let c = PgCluster::shared();
    let db = filled(c);
    let before = fingerprint(c, &db);
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
    );
    let (out, err, code) = run(migtag().args(args(
        "json",
        &url(c, &db),
        &url(c, "postgres"),
        &["--sample", "10%"],
    )));
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let f = &doc["forecast"];
    let e = &f["estimate"];
    assert_eq!(e["basis"], "rehearsal", "{e:#}");
    assert_eq!(e["sample_percent"], 10.0, "{e:#}");
    let (low, high) = (
        e["low_seconds"].as_f64().unwrap(),
        e["high_seconds"].as_f64().unwrap(),
    );
    assert!(low > 0.0 && high > low, "{e:#}");
    // The window comes from the rehearsed high estimate (at least the guide's 15 minutes).
    let window = f["migration_window"]["seconds"].as_u64().unwrap();
    assert_eq!(
        window,
        (((high * 4.0).ceil() as u64).div_ceil(60).max(15)) * 60,
        "{f:#}"
    );
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], true, "{r:#}");
    let s = &r["sample"];
    assert_eq!(s["percent"], 10.0);
    // The statistics' estimate stays visible.
    assert_eq!(s["statistics_estimate"]["basis"], "statistics", "{s:#}");
    assert_eq!(
        (s["low_seconds"].as_f64(), s["high_seconds"].as_f64()),
        (Some(low), Some(high))
    );
    // Big tables: about ten times the sample (BERNOULLI's spread on 30k and 6k rows is a few
    // percent); the one organization is all there is.
    for big in ["api_keys", "connection_logs", "workspace_builds"] {
        let r = ratio(s, big);
        assert!((7.0..=14.0).contains(&r), "{big}: {r}\n{s:#}");
    }
    assert_eq!(ratio(s, "organizations"), 1.0, "{s:#}");
    // Every pending migration was timed; 000371 rewrites every API key: scaled up.
    let migrations = s["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 14, "{s:#}");
    let m371 = migrations.iter().find(|m| m["version"] == 371).unwrap();
    assert!(
        m371["scaled_seconds"].as_f64().unwrap() > m371["seconds"].as_f64().unwrap() * 5.0,
        "{m371:#}"
    );
    assert!(s["copied_rows"].as_u64().unwrap() > 3_000, "{s:#}");
    // The sampled API keys, builds and agents needed parents the sample lacked (users,
    // workspaces, jobs, parent agents); the last round found none missing.
    assert!(s["parent_rows"].as_u64().unwrap() > 0, "{s:#}");
    assert!(s["closure_rounds"].as_u64().unwrap() >= 2, "{s:#}");
    // Nothing left, nothing changed, nothing of the rows shown.
    assert_eq!(leftovers(c, r["scratch_database"].as_str().unwrap()), "0");
    assert_eq!(fingerprint(c, &db), before);
    assert!(
        !out.contains(PLANTED) && !err.contains(PLANTED),
        "planted text in the output"
    );

    // The live database saw reads only: read-only transactions, and COPY ... TO STDOUT.
    let statements = logged(&c.flushed_log(), &db);
    let copy_out =
        regex::Regex::new(r"(?s)^COPY \(SELECT .* FROM public\.\w+ .*\) TO STDOUT$").unwrap();
    let write = regex::Regex::new(
        r"(?i)^\s*(INSERT|UPDATE|DELETE|TRUNCATE|MERGE|CREATE|ALTER|DROP|GRANT|REVOKE|COMMENT|COPY|VACUUM|ANALYZE|CLUSTER|REINDEX)\b|pg_advisory|nextval|setval|READ WRITE",
    )
    .unwrap();
    let mut copies = 0;
    for st in &statements {
        if st.starts_with("COPY") {
            assert!(copy_out.is_match(st), "a COPY that is not TO STDOUT: {st}");
            copies += 1;
            continue;
        }
        assert!(
            !write.is_match(st),
            "a write-like statement reached the live database: {st}"
        );
    }
    // pg_dump's snapshot, and the sample's: both read-only.
    for snapshot in [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    ] {
        assert!(
            statements.iter().any(|s| s.starts_with(snapshot)),
            "{statements:#?}"
        );
    }
    assert!(
        statements
            .iter()
            .any(|s| s.contains("TABLESAMPLE BERNOULLI (10) REPEATABLE")),
        "{statements:#?}"
    );
    assert!(copies > 11, "{statements:#?}");

    // As text: the duration line says where it comes from.
    let (out, err, code) = run(migtag().args(args(
        "human",
        &url(c, &db),
        &url(c, "postgres"),
        &["--sample", "10"],
    )));
    assert_eq!(code, 0, "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("duration:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with("(rehearsal on a 10% sample, scaled by row ratio)"),
        "{line}"
    );
    assert!(out.contains("and a 10% sample of its rows"), "{out}");
    assert!(!out.contains(PLANTED) && !err.contains(PLANTED));
}

/// --max-duration weighs the rehearsed band: unsafe exactly when its high end exceeds the
/// limit (whatever the statistics' high end says), safe under a generous one. (The rule
/// itself, with fixed numbers, is a unit test of `core::gate`.)
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn max_duration_uses_the_rehearsed_band() {
    let c = PgCluster::shared();
    let db = filled(c);
    for (limit, limit_seconds) in [("1s", 1.0), ("1h", 3600.0)] {
        let (out, err, code) = run(migtag().args(args(
            "json",
            &url(c, &db),
            &url(c, "postgres"),
            &["--sample", "5%", "--max-duration", limit],
        )));
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        let e = &doc["forecast"]["estimate"];
        assert_eq!(e["basis"], "rehearsal", "{e:#}");
        assert_eq!(e["sample_percent"], 5.0);
        let high = e["high_seconds"].as_f64().unwrap();
        assert!(high > 0.0 && high < 3600.0, "{e:#}");
        let exceeds = high > limit_seconds;
        assert_eq!(code, if exceeds { 3 } else { 0 }, "{limit}: {out}\n{err}");
        let said = doc["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("exceeds --max-duration"));
        assert_eq!(said, exceeds, "{limit}: {doc:#}");
    }
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_scratch_role_without_createdb_is_refused_before_anything_is_copied() {
    let c = PgCluster::shared();
    let db = filled(c);
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
    );
    let role = c.create_role("nocreatedb", "Plain-Pw-56");
    let (out, err, code) = run(migtag().args(args(
        "human",
        &url(c, &db),
        &c.url(&role, "Plain-Pw-56", "postgres"),
        &["--sample", "10%"],
    )));
    assert_eq!(code, 10, "{out}\n{err}");
    assert!(err.contains("may not create databases"), "{err}");
    let statements = logged(&c.flushed_log(), &db);
    // migtag's survey read the row; neither pg_dump (its REPEATABLE READ snapshot) nor a COPY
    // came after.
    assert!(!statements.is_empty());
    assert!(
        statements
            .iter()
            .all(|s| !s.contains("COPY") && !s.contains("REPEATABLE READ")),
        "{statements:#?}"
    );
}

#[test]
fn bad_sample_values_and_a_sample_without_rehearse_exit_2() {
    for bad in ["0", "0%", "101", "-5%", "ten", "10%%", ""] {
        let (out, err, code) = run(migtag().args([
            "gate",
            "--db",
            "postgres://nobody@127.0.0.1:1/none",
            "--target",
            "v2.27.0",
            "--rehearse",
            "--scratch-db",
            "postgres://nobody@127.0.0.1:1/none",
            &format!("--sample={bad}"),
        ]));
        assert_eq!(code, 2, "{bad}: {out}\n{err}");
        assert!(err.contains("--sample"), "{bad}: {err}");
        assert!(
            err.contains("percentage") || err.contains("out of range"),
            "{bad}: {err}"
        );
    }
    let (out, err, code) = run(migtag().args([
        "gate",
        "--version",
        "362",
        "--target",
        "v2.27.0",
        "--sample",
        "10%",
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--rehearse"), "{err}");
}

/// SIGTERM while the batch runs on the sample: the scratch database and its role are dropped.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn sigterm_during_a_sampled_rehearsal_leaves_no_scratch_database() {
    let c = PgCluster::shared();
    let db = filled(c);
    // v2.27.0's pending migrations, the first one busy for long.
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("coderd/database/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    let src = crate::coder_sql::source();
    for v in 363..=376u64 {
        let f = src.at_tag(v, "v2.27.0").unwrap();
        let sql = if v == 363 {
            "SELECT pg_sleep(600) /* sampled */;".to_string()
        } else {
            "SELECT 1;".to_string()
        };
        std::fs::write(migrations.join(format!("{v:06}_{}.up.sql", f.name)), sql).unwrap();
    }
    let home = crate::common::scratch_home();
    let mut a = args(
        "json",
        &url(c, &db),
        &url(c, "postgres"),
        &["--sample", "10%"],
    );
    let sql_at = a.iter().position(|s| s == "--sql").unwrap() + 1;
    a[sql_at] = dir.path().display().to_string();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("migtag"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("MIGTAG_NOW", crate::common::TEST_NOW)
        .args(&a)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let busy =
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600) /* sampled */%' \
                AND state = 'active' AND pid <> pg_backend_pid()";
    let waited = Instant::now();
    while c.sql("postgres", busy) != "1" {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "the batch never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The sample was copied before the batch: the scratch database holds API keys.
    let scratch = c.sql(
        "postgres",
        "SELECT datname FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600) /* sampled */%' \
         AND state = 'active' AND pid <> pg_backend_pid()",
    );
    assert!(c.sql(&scratch, "SELECT count(*) > 0 FROM api_keys") == "t");
    // The planted text is among the copied rows (the same seed samples the same rows as the
    // run above that shows none of it): its owner came along as a parent of its keys.
    assert_eq!(
        c.sql(
            &scratch,
            &format!("SELECT count(*) FROM users WHERE email LIKE '{PLANTED}%'")
        ),
        "1"
    );
    assert_ne!(
        c.sql(
            &scratch,
            &format!("SELECT count(*) FROM api_keys WHERE id LIKE '{PLANTED}%'")
        ),
        "0"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM".to_string(), child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert_eq!(leftovers(c, &scratch), "0");
    assert_eq!(c.sql("postgres", busy), "0");
}
