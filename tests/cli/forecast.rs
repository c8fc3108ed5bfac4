//! The upgrade forecast in `gate` and `patch`: on schemas built from Coder's real SQL on a
//! real PostgreSQL 15 (coder_sql.rs), offline, behind a session holding ACCESS EXCLUSIVE, and
//! against a Deployment's probe budget.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::coder_sql::{database_with, set_row};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

fn url(c: &PgCluster, db: &str) -> String {
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

/// A database holding Coder's schema as `tag` shipped it, with the row at its last migration.
fn schema_of(c: &'static PgCluster, tag: &str, max: u64) -> String {
    let db = database_with(
        c,
        &format!("forecast-{tag}"),
        (1..=max).collect(),
        Some(tag),
    );
    set_row(c, &db, max, false);
    c.sql(&db, "ANALYZE");
    db
}

fn gate_json(args: &[&str]) -> (Value, String, i32) {
    let (out, err, code) = run(migtag().args(["--format", "json", "gate"]).args(args));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (doc, err, code)
}

fn lock<'a>(f: &'a Value, table: &str) -> &'a Value {
    f["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["table"] == table)
        .unwrap_or_else(|| panic!("no lock on {table}: {f:#}"))
}

/// A Deployment whose liveness probe allows 30 s (3 x 10 s).
fn manifest_30s(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("deploy.yaml");
    std::fs::write(
        &path,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coder, namespace: coder}\nspec:\n  replicas: 1\n  strategy: {type: Recreate}\n  selector: {matchLabels: {app: coder}}\n  template:\n    metadata: {labels: {app: coder}}\n    spec:\n      containers:\n        - name: coder\n          image: ghcr.io/coder/coder:v2.26.0\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 3}\n",
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn offline_the_forecast_lists_locks_and_work_without_sizes_or_times() {
    let (doc, err, code) = gate_json(&["--version", "362", "--target", "v2.27.0"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let f = &doc["forecast"];
    assert_eq!(f["transaction"], "one");
    assert_eq!(f["migrations"], 14);
    assert_eq!(f["sizes"], "offline");
    assert!(
        f["estimate"].is_null() && f["migration_window"].is_null(),
        "{f:#}"
    );
    let api_keys = lock(f, "api_keys");
    assert_eq!(api_keys["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(api_keys["migrations"], serde_json::json!([371]));
    assert_eq!(api_keys["blocks_coder"], true);
    // 000363 builds an index on workspace_builds: SHARE, which stops Coder's writes there.
    let builds = lock(f, "workspace_builds");
    assert_eq!(builds["blocks"], "writes");
    assert_eq!(builds["blocks_coder"], true);
    assert!(builds.get("rows").is_none());
    assert_eq!(f["rewrites"][0]["table"], "notification_templates");
    assert_eq!(
        f["index_builds"][0]["index"],
        "idx_workspace_builds_initiator_id"
    );
    // v2.27.0 ships 000371 before the purge of old API keys: two UPDATEs of every row (one
    // per statement), not a delete.
    let api_keys_work: Vec<(String, u64)> = f["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["table"] == "api_keys")
        .map(|w| {
            (
                w["operation"].as_str().unwrap().to_string(),
                w["statement"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        api_keys_work,
        [("update".to_string(), 141), ("update".to_string(), 142)]
    );
    // Tables the batch creates (tasks, 000366) are nobody's business yet.
    assert!(f["locks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["table"] != "tasks"));

    let (out, _, _) = run(migtag().args(["gate", "--version", "362", "--target", "v2.27.0"]));
    assert!(
        out.contains("upgrade forecast: 14 migrations, one transaction"),
        "{out}"
    );
    assert!(out.contains("no times offline: pass --db"), "{out}");
    // Read first: the forecast comes before the list of pending migrations.
    assert!(
        out.find("upgrade forecast").unwrap() < out.find("pending migrations").unwrap(),
        "{out}"
    );

    // Under GitHub Actions the job summary carries it too.
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    run(migtag()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["gate", "--version", "362", "--target", "v2.27.0"]));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("<summary>upgrade forecast</summary>")
            && md.contains("ACCESS EXCLUSIVE api_keys"),
        "{md}"
    );
}

#[test]
fn before_v2_5_each_migration_commits_alone() {
    let (doc, _, code) = gate_json(&["--version", "100", "--target", "v2.4.0"]);
    assert_eq!(code, 0, "{doc:#}");
    let f = &doc["forecast"];
    assert_eq!(f["transaction"], "per_migration");
    let held: Vec<&str> = f["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["held_until"].as_str().unwrap())
        .collect();
    assert!(
        !held.is_empty() && held.iter().all(|h| h.starts_with("the end of migration")),
        "{held:?}"
    );
}

#[test]
fn max_duration_needs_a_live_database() {
    let (doc, _, code) = gate_json(&[
        "--version",
        "362",
        "--target",
        "v2.27.0",
        "--max-duration",
        "1s",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    let w = doc["warnings"].to_string();
    assert!(
        w.contains("--max-duration needs the table sizes of a live database"),
        "{w}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn the_26_to_27_path_gets_sizes_an_estimate_and_a_window_from_the_live_database() {
    let c = PgCluster::shared();
    let db = schema_of(c, "v2.26.0", 362);
    let u = url(c, &db);
    let (doc, err, code) = gate_json(&["--db", &u, "--target", "v2.27.0"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let f = &doc["forecast"];
    assert_eq!(f["sizes"], "live");
    let e = &f["estimate"];
    let (low, high) = (
        e["low_seconds"].as_f64().unwrap(),
        e["high_seconds"].as_f64().unwrap(),
    );
    // Every class has the same band around its calibrated point: the limit is 4x.
    use migtag::core::forecast::rates::{HIGH_FACTOR, LOW_FACTOR};
    let band = HIGH_FACTOR / LOW_FACTOR;
    assert!(band <= 4.0, "{band}");
    assert!(
        // (both are rounded to hundredths)
        low > 0.0 && low < high && high <= band * (low + 0.005) + 0.005,
        "{e:#}"
    );
    assert!(
        e["basis_detail"]
            .as_str()
            .unwrap()
            .contains("bench/calibrate.sh")
            && e["basis"] == "statistics",
        "{e:#}"
    );
    assert_eq!(f["migration_window"]["seconds"], 900);
    let api_keys = lock(f, "api_keys");
    assert!(
        api_keys["total_bytes"].as_u64().unwrap() > 0,
        "{api_keys:#}"
    );
    assert_eq!(f["index_builds"][0]["migration"], 363);
    assert!(f["index_builds"][0]["bytes"].as_u64().is_some(), "{f:#}");

    let (out, _, _) = run(migtag().args([
        "gate", "--db", &u, "--target", "v2.27.0", "--color", "never",
    ]));
    assert!(out.contains("blocks Coder:"), "{out}");
    assert!(out.contains("ACCESS EXCLUSIVE api_keys ("), "{out}");
    assert!(
        out.contains("allow 15m before probes restart the pod"),
        "{out}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_session_holding_access_exclusive_on_a_touched_table_gives_no_forecast_within_lock_timeout() {
    let c = PgCluster::shared();
    let db = schema_of(c, "v2.26.0", 362);
    let u = url(c, &db);
    let mut holder = c.session(&db, "holder");
    holder.run("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE;");
    let started = Instant::now();
    let (doc, err, code) = gate_json(&[
        "--db",
        &u,
        "--target",
        "v2.27.0",
        "--lock-timeout",
        "1s",
        "--statement-timeout",
        "120s",
    ]);
    let took = started.elapsed();
    // Only lock_timeout can end the wait this early; generous for two busy cores.
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let f = &doc["forecast"];
    assert_eq!(f["sizes"], "unavailable");
    let why = f["unavailable"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "pid {} holds ACCESS EXCLUSIVE on api_keys",
            holder.pid
        )),
        "{why}"
    );
    assert!(f["estimate"].is_null());
    // The locks are still listed.
    assert_eq!(lock(f, "api_keys")["mode"], "ACCESS EXCLUSIVE");

    let (out, _, code) = run(migtag().args([
        "gate",
        "--db",
        &u,
        "--target",
        "v2.27.0",
        "--lock-timeout",
        "1s",
        "--max-duration",
        "10m",
    ]));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no forecast: pid"), "{out}");
    holder.run("ROLLBACK;");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn max_duration_fails_the_esr_jump_whose_high_estimate_exceeds_it() {
    let c = PgCluster::shared();
    let db = schema_of(c, "v2.29.0", 401);
    let u = url(c, &db);
    // The limit is in whole seconds: a fraction is refused, not read as 0 s.
    let (_, err, code) = run(migtag().args([
        "gate",
        "--db",
        &u,
        "--target",
        "v2.34.0",
        "--max-duration",
        "500ms",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("whole number of seconds"), "{err}");
    // 20,000 interceptions of one user: 000458 updates them all after 000449 rewrote the
    // table and 000418-000428 built indexes on it.
    c.sql(
        &db,
        "INSERT INTO users (id, email, username, hashed_password, created_at, updated_at) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'a@example.com', 'a', '\\x00', now(), now()); \
         INSERT INTO aibridge_interceptions (id, initiator_id, provider, model, started_at) \
         SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'openai', 'gpt', now() \
           FROM generate_series(1, 20000); ANALYZE",
    );
    let (doc, err, code) = gate_json(&["--db", &u, "--target", "v2.34.0", "--max-duration", "1s"]);
    let high = doc["forecast"]["estimate"]["high_seconds"]
        .as_f64()
        .unwrap();
    assert!(high > 1.0, "{high}");
    assert_eq!(code, 3, "{doc:#}\n{err}");
    assert!(
        doc["reasons"]
            .to_string()
            .contains("exceeds --max-duration 1s"),
        "{doc:#}"
    );
    let (doc, _, code) = gate_json(&["--db", &u, "--target", "v2.34.0", "--max-duration", "1h"]);
    assert_eq!(code, 0, "{:#}", doc["reasons"]);
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_30s_liveness_budget_gets_a_probe_patch_sized_to_the_forecast_window() {
    let c = PgCluster::shared();
    let db = schema_of(c, "v2.26.0", 362);
    let u = url(c, &db);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest_30s(&dir);
    let (doc, err, code) = gate_json(&["--db", &u, "--target", "v2.27.0", "--manifest", &m]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let window = doc["forecast"]["migration_window"]["seconds"]
        .as_u64()
        .unwrap();
    let probe = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "probe_shorter_than_migration")
        .unwrap_or_else(|| panic!("{doc:#}"));
    let patch =
        &probe["fix"][0]["patch"]["spec"]["template"]["spec"]["containers"][0]["livenessProbe"];
    assert_eq!(
        patch["failureThreshold"].as_u64().unwrap() * 10,
        window,
        "{probe:#}"
    );

    // --migration-window still overrides the forecast.
    let (doc, _, _) = gate_json(&[
        "--db",
        &u,
        "--target",
        "v2.27.0",
        "--manifest",
        &m,
        "--migration-window",
        "40m",
    ]);
    let probe = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "probe_shorter_than_migration")
        .unwrap();
    assert_eq!(
        probe["fix"][0]["patch"]["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
            ["failureThreshold"],
        240
    );

    // patch --manifest compares the same budget with the forecast's window. At 363 no release
    // matches exactly, so the patch moves to the v2.27 line, which applies 364-376.
    let db = database_with(c, "forecast-363", (1..=363).collect(), Some("v2.27.0"));
    set_row(c, &db, 363, false);
    let u = url(c, &db);
    let (out, err, code) =
        run(migtag().args(["--format", "json", "patch", "--db", &u, "--manifest", &m]));
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["recommended"]["tag"]
            .as_str()
            .unwrap()
            .starts_with("v2.27."),
        "{doc:#}"
    );
    assert_eq!(doc["forecast"]["migrations"], 13, "{doc:#}");
    assert_eq!(
        doc["forecast"]["migration_window"]["seconds"].as_u64(),
        Some(window),
        "{doc:#}"
    );
    assert!(
        doc["findings"]
            .to_string()
            .contains("probe_shorter_than_migration"),
        "{doc:#}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn sizes_come_from_the_schema_search_path_selects() {
    let c = PgCluster::shared();
    let db = c.create_db("forecast_schema");
    let mut script = String::from("CREATE SCHEMA coder;\nSET search_path TO coder;\n");
    for v in 1..=362 {
        script.push_str("BEGIN;\n");
        script.push_str(&crate::coder_sql::up_sql(v, Some("v2.26.0")));
        script.push_str("COMMIT;\n");
    }
    script.push_str(
        "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n\
         INSERT INTO schema_migrations VALUES (362, false);\n",
    );
    crate::coder_sql::run_script(c, &db, &script);
    // A decoy in public with rows: the forecast must size Coder's (empty) api_keys.
    c.sql(
        &db,
        "CREATE TABLE public.api_keys AS SELECT g AS id FROM generate_series(1, 20000) g; ANALYZE",
    );
    let u = format!(
        "{}&options={}",
        url(c, &db),
        crate::pg::encode("-c search_path=coder")
    );
    let (doc, err, code) = gate_json(&["--db", &u, "--target", "v2.27.0"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let api_keys = lock(&doc["forecast"], "api_keys");
    assert_eq!(api_keys["rows"], 0, "{api_keys:#}");
    assert_eq!(doc["forecast"]["sizes"], "live");
}

/// The bundled index with one release newer than the bundled effects (000557 has no replayed
/// facts), as `index update` would know it.
fn index_with_an_unreplayed_release(dir: &tempfile::TempDir) -> String {
    let mut doc: Value = serde_json::from_str(&migtag::bundled::json().unwrap()).unwrap();
    doc["releases"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "tag": "v2.36.1",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "date": "2026-12-01T05:00:00Z",
            "max_migration": 557,
            "migrations": "1-557"
        }));
    doc["migrations"]["557"] = "a_migration_after_the_effects".into();
    let path = dir.path().join("index.json");
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn max_duration_fails_when_the_estimate_leaves_out_migrations_without_facts() {
    let c = PgCluster::shared();
    let db = schema_of(c, "v2.29.0", 401);
    let u = url(c, &db);
    let dir = tempfile::tempdir().unwrap();
    let index = index_with_an_unreplayed_release(&dir);
    let gate = |target: &str| {
        let (out, err, code) = run(migtag().args([
            "--index",
            &index,
            "--format",
            "json",
            "gate",
            "--db",
            &u,
            "--target",
            target,
            "--max-duration",
            "1h",
        ]));
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (doc, code)
    };
    // Every pending migration replayed: the estimate is complete and well under an hour.
    let (doc, code) = gate("v2.36.0");
    assert_eq!(code, 0, "{:#}", doc["reasons"]);
    assert_eq!(doc["forecast"]["estimate"]["complete"], true, "{doc:#}");
    // 557 has no facts: the partial total is no bound, so the limit cannot be checked.
    let (doc, code) = gate("v2.36.1");
    assert_eq!(code, 3, "{doc:#}");
    let e = &doc["forecast"]["estimate"];
    assert_eq!(e["complete"], false, "{e:#}");
    assert_eq!(e["unknown_migrations"], serde_json::json!([557]), "{e:#}");
    let reasons = doc["reasons"].to_string();
    assert!(
        reasons.contains("--max-duration cannot be checked: the estimate leaves out migration 557"),
        "{reasons}"
    );

    let (out, _, code) = run(migtag().args([
        "--index", &index, "gate", "--db", &u, "--target", "v2.36.1", "--color", "never",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("without migration 557 (incomplete"), "{out}");
}

#[test]
fn strict_gate_is_unsafe_while_the_forecast_lacks_facts_for_migrations_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_with_an_unreplayed_release(&dir);
    let gate = |extra: &[&str]| {
        let (out, err, code) = run(migtag()
            .args([
                "--index",
                &index,
                "--format",
                "json",
                "gate",
                "--version",
                "556",
            ])
            .args(["--target", "2.36.1"])
            .args(extra));
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (doc, code)
    };
    // Not strict: safe, and the forecast says what it lacks and how to add it.
    let (doc, code) = gate(&[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["target"]["tag"], "v2.36.1",
        "the tag without its v is found"
    );
    assert_eq!(
        doc["forecast"]["unknown_migrations"],
        serde_json::json!([557])
    );
    let notes = doc["forecast"]["notes"].to_string();
    assert!(
        notes.contains("no replayed facts for migration 557")
            && notes.contains("migtag index update --effects --scratch-db URL"),
        "{notes}"
    );
    // --strict: a migration the forecast cannot see into makes the upgrade unsafe.
    let (doc, code) = gate(&["--strict"]);
    assert_eq!(code, 3, "{doc:#}");
    let reasons = doc["reasons"].to_string();
    assert!(
        reasons.contains("--strict: the forecast cannot say what migration 557 will lock")
            && reasons.contains("migtag index update --effects --scratch-db URL"),
        "{reasons}"
    );
}

/// Tables a pending migration drops are locked ACCESS EXCLUSIVE until the batch commits
/// (000410 drops tailnet_agents, tailnet_clients and tailnet_client_subscriptions): the
/// forecast lists them, although the replay's pg_locks could no longer name them.
#[test]
fn dropped_tables_are_among_the_locks_held_to_commit() {
    let (out, err, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "401",
        "--target",
        "v2.34.0",
    ]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let locks = doc["forecast"]["locks"].as_array().unwrap();
    for table in [
        "tailnet_agents",
        "tailnet_clients",
        "tailnet_client_subscriptions",
    ] {
        let l = locks
            .iter()
            .find(|l| l["table"] == table)
            .unwrap_or_else(|| panic!("{table} is not among the locks: {locks:#?}"));
        assert_eq!(l["mode"], "ACCESS EXCLUSIVE");
        assert_eq!(l["migrations"], serde_json::json!([410]));
        assert_eq!(l["held_until"], "the whole batch commits");
    }
}
