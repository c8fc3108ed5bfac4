//! One decision from all the evidence (docs/rules.md, "The schema decides"): each case of the
//! case table on a database replayed from Coder's real SQL, decided alike by `check`, `gate`,
//! `patch`, `runbook` and the repairs.

use crate::coder_sql::{database_with, run_script, set_row, source, tarball_dumps};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

fn url(db: &str) -> String {
    let c = PgCluster::shared();
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

fn json(args: &[&str]) -> (serde_json::Value, i32) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (out, err, code) = run(migtag().args(&all));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (v, code)
}

/// `check --version V`'s image: what the decision names once the row is at V.
fn image_for(v: u64) -> String {
    let (j, code) = json(&["check", "--version", &v.to_string()]);
    assert_eq!(code, 0, "{j:#}");
    j["recommended"]["image"].as_str().unwrap().to_string()
}

/// What every command says about one database, for the case assertions.
struct Decided {
    check: serde_json::Value,
    check_code: i32,
    gate: serde_json::Value,
    gate_code: i32,
    patch_stdout: String,
    patch_code: i32,
    runbook: String,
    runbook_code: i32,
}

fn decide(db: &str, target: &str) -> Decided {
    let u = url(db);
    let (check, check_code) = json(&["check", "--db", &u]);
    let (gate, gate_code) = json(&["gate", "--target", target, "--db", &u]);
    let (patch_stdout, _, patch_code) = run(migtag().args([
        "patch", "--db", &u, "--to", "kubectl", "-n", "coder", "--emit",
    ]));
    let (runbook, err, runbook_code) = run(migtag().args(["runbook", "--db", &u]));
    assert_eq!(runbook_code, 0, "{runbook}\n{err}");
    Decided {
        check,
        check_code,
        gate,
        gate_code,
        patch_stdout,
        patch_code,
        runbook,
        runbook_code,
    }
}

fn fix_row(db: &str) -> (serde_json::Value, i32) {
    json(&["repair", "fix-row", "--yes", "--db", &url(db)])
}

#[test]
fn row_forced_forward_needs_a_human_and_fix_row_moves_it_back() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-168", (1..=168).collect(), None);
    set_row(c, &db, 178, false);
    let d = decide(&db, "v2.6.0");
    let sql = "UPDATE schema_migrations SET version = 168 WHERE version = 178 AND NOT dirty;";
    assert_eq!(d.check_code, 4, "{:#}", d.check);
    assert_eq!(d.check["verdict"], "row_ahead_of_schema");
    assert_eq!(d.check["schema_version"], 168);
    assert_eq!(d.check["schema"]["identity"], "exact");
    assert!(d.check["recommended"].is_null(), "{:#}", d.check);
    assert_eq!(d.check["action"]["kind"], "move_row");
    assert_eq!(d.check["action"]["sql"], sql);
    assert_eq!(d.check["after_action"]["image"], image_for(168).as_str());
    assert!(d.check["summary"]
        .as_str()
        .unwrap()
        .contains("000169-000178 never ran"));
    // Every command: the same verdict and the same statement, no image, no patch.
    assert_eq!(d.gate_code, 4, "{:#}", d.gate);
    assert_eq!(d.gate["verdict"], "needs_human");
    assert_eq!(d.gate["action"]["sql"], sql);
    assert_eq!(d.gate["schema_version"], 168);
    assert_eq!(d.patch_code, 4);
    assert_eq!(d.patch_stdout, "", "no patch when the row lies");
    assert_eq!(d.runbook_code, 0);
    assert!(d.runbook.contains(sql), "{}", d.runbook);
    assert!(d.runbook.contains("migtag repair fix-row"), "{}", d.runbook);
    assert!(d.runbook.contains(&image_for(168)), "{}", d.runbook);
    // The JSON of patch, runbook and verify carries the same identity and statement.
    let (p, code) = json(&["patch", "--db", &url(&db), "--to", "kubectl"]);
    assert_eq!(code, 4);
    assert_eq!(p["schema_version"], 168);
    assert_eq!(p["decision"]["action"]["sql"], sql);
    assert!(p["patch"].is_null(), "{p:#}");
    let (r, _) = json(&["runbook", "--db", &url(&db)]);
    assert_eq!(r["schema_version"], 168);
    assert_eq!(r["action"]["sql"], sql);
    let (v, code) = json(&["verify", "--db", &url(&db)]);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(v["schema_version"], 168);
    assert_eq!(v["schema"]["identity"], "exact");
    // The repair performs exactly that action, and then check calls it exact.
    let (r, code) = fix_row(&db);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["outcome"], "changed");
    assert_eq!(r["before"]["version"], 178);
    assert_eq!(r["after"]["version"], 168);
    assert_eq!(r["after"]["dirty"], false);
    let (after, code) = json(&["check", "--db", &url(&db)]);
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(after["state"]["version"], 168);
    assert_eq!(after["schema_version"], 168);
}

#[test]
fn row_forced_back_is_named_as_the_schemas_version_not_missing_effects() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-483", (1..=483).collect(), None);
    set_row(c, &db, 470, false);
    let d = decide(&db, "v2.36.0");
    assert_eq!(d.check_code, 4, "{:#}", d.check);
    assert_eq!(d.check["verdict"], "row_behind_schema");
    let schema = d.check["schema_version"].as_u64().unwrap();
    let versions: Vec<u64> = d.check["schema"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(versions.contains(&483), "{versions:?}");
    assert!(schema >= 483, "{:#}", d.check["schema"]);
    let sql = format!(
        "UPDATE schema_migrations SET version = {schema} WHERE version = 470 AND NOT dirty;"
    );
    assert_eq!(d.check["action"]["sql"], sql.as_str());
    assert_eq!(d.gate_code, 4);
    assert_eq!(d.gate["action"]["sql"], sql.as_str());
    assert_eq!(d.patch_code, 4);
    assert_eq!(d.patch_stdout, "");
    assert!(d.runbook.contains(&sql), "{}", d.runbook);
    let (r, code) = fix_row(&db);
    assert_eq!(code, 0, "{r:#}");
    let (after, code) = json(&["check", "--db", &url(&db)]);
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(after["state"]["version"], schema);
}

#[test]
fn partial_restore_recreates_the_row_and_fix_row_makes_it_exact() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-483", (1..=483).collect(), None);
    // No schema_migrations at all: Coder's objects of 483 without a row.
    let d = decide(&db, "v2.36.0");
    assert_eq!(d.check_code, 4, "{:#}", d.check);
    assert_eq!(d.check["verdict"], "partial_restore");
    let schema = d.check["schema_version"].as_u64().unwrap();
    assert!(schema >= 483);
    assert_eq!(d.check["action"]["kind"], "create_row");
    assert!(!d.check["why"].to_string().contains("so any release works"));
    assert_eq!(d.gate_code, 4, "{:#}", d.gate);
    assert_eq!(d.gate["action"], d.check["action"]);
    assert_eq!(d.patch_code, 4);
    assert_eq!(d.patch_stdout, "");
    assert!(
        d.runbook.contains("CREATE TABLE IF NOT EXISTS"),
        "{}",
        d.runbook
    );
    let (r, code) = fix_row(&db);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["before"], serde_json::Value::Null);
    assert_eq!(r["after"]["version"], schema);
    let (after, code) = json(&["check", "--db", &url(&db)]);
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(after["verdict"], "exact");
    assert_eq!(after["schema"]["identity"], "exact");
    // golang-migrate's table as its driver makes it.
    let shape = c.sql(
        &db,
        "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_name = 'schema_migrations'",
    );
    assert_eq!(shape.trim(), "version bigint NO, dirty boolean NO");
}

#[test]
fn an_empty_database_stays_fresh() {
    let c = PgCluster::shared();
    let db = c.create_db("empty");
    let (j, code) = json(&["check", "--db", &url(&db)]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["verdict"], "fresh");
    assert_eq!(j["schema"]["identity"], "none");
    assert!(j["schema_version"].is_null());
}

#[test]
fn dirty_with_complete_effects_keeps_the_version_everywhere() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-483", (1..=483).collect(), None);
    set_row(c, &db, 483, true);
    let keep = "UPDATE schema_migrations SET dirty = false WHERE version = 483 AND dirty;";
    let d = decide(&db, "v2.36.0");
    assert_eq!(d.check_code, 4);
    assert_eq!(d.check["verdict"], "dirty");
    assert_eq!(
        d.check["dirty"]["cleanups"][0]["sql"], keep,
        "{:#}",
        d.check
    );
    assert_eq!(d.check["dirty"]["cleanups"][0]["kind"], "keep_and_clear");
    assert_eq!(d.check["action"]["sql"], keep);
    assert_eq!(d.check["action"]["kind"], "keep_and_clear");
    assert_eq!(d.gate_code, 4);
    assert_eq!(d.gate["action"]["sql"], keep);
    assert_eq!(d.patch_code, 4);
    assert_eq!(d.patch_stdout, "");
    assert!(d.runbook.contains(keep), "{}", d.runbook);
    assert!(!d.runbook.contains("goes back to"), "{}", d.runbook);
    assert!(!d.runbook.contains("in no release"), "{}", d.runbook);
    assert!(!d.runbook.contains("SET version = 482"), "{}", d.runbook);
    let (text, _, _) = run(migtag().args(["check", "--db", &url(&db)]));
    assert!(text.contains(keep), "{text}");
    assert!(!text.contains("SET version = 482"), "{text}");
    // clear-dirty performs keep-and-clear instead of refusing.
    let (r, code) = json(&[
        "repair",
        "clear-dirty",
        "--expect-version",
        "483",
        "--yes",
        "--db",
        &url(&db),
    ]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(
        r["statement"],
        keep.trim_end_matches(';')
            .replace("schema_migrations", "public.schema_migrations")
            .as_str()
    );
    assert_eq!(r["after"]["version"], 483);
    assert_eq!(r["after"]["dirty"], false);
}

#[test]
fn dirty_with_complete_effects_is_fixed_by_fix_row_too() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-168", (1..=168).collect(), None);
    set_row(c, &db, 168, true);
    let (r, code) = fix_row(&db);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["row_action"]["kind"], "keep_and_clear");
    assert_eq!(r["after"]["version"], 168);
    assert_eq!(r["after"]["dirty"], false);
}

#[test]
fn drift_names_the_nearest_version_and_suggests_ddl() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-170", (1..=170).collect(), None);
    set_row(c, &db, 170, false);
    // Dropping 170's column alone would make it 169's schema exactly (a forced row); a
    // changed default is no version's.
    run_script(
        c,
        &db,
        "ALTER TABLE workspace_proxies ALTER COLUMN version DROP DEFAULT;\n",
    );
    let d = decide(&db, "v2.6.0");
    assert_eq!(d.check_code, 6, "{:#}", d.check);
    assert_eq!(d.check["verdict"], "drift");
    assert_eq!(d.check["schema"]["identity"], "nearest");
    assert_eq!(d.check["schema"]["version"], 170);
    assert_eq!(d.check["schema"]["distance"], 1);
    assert!(d.check["schema_version"].is_null());
    let diff = &d.check["schema"]["differences"][0];
    assert_eq!(diff["kind"], "different");
    assert_eq!(diff["object"], "column workspace_proxies.version");
    assert_eq!(diff["migration"], 170);
    assert_eq!(
        diff["suggestion"],
        "ALTER TABLE workspace_proxies ALTER COLUMN version SET DEFAULT ''::text;"
    );
    assert!(d.check["action"].is_null());
    assert_eq!(d.gate_code, 3, "{:#}", d.gate);
    assert_eq!(d.patch_code, 6);
    assert_eq!(d.patch_stdout, "");
    assert!(
        d.runbook
            .contains("ALTER TABLE workspace_proxies ALTER COLUMN version SET DEFAULT"),
        "{}",
        d.runbook
    );
    // fix-row has no row action for drift: it refuses and changes nothing.
    let (out, err, code) = run(migtag().args(["repair", "fix-row", "--yes", "--db", &url(&db)]));
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(err.contains("no row action fits"), "{err}");
}

#[test]
fn a_timestamp_version_is_another_tools_table() {
    let c = PgCluster::shared();
    let db = c.create_db("rails");
    set_row(c, &db, 20241016151312, false);
    let (j, code) = json(&["check", "--db", &url(&db)]);
    assert_eq!(code, 4, "{j:#}");
    assert_eq!(j["verdict"], "foreign_version");
    assert!(!j.to_string().contains("crash-loop"), "{j:#}");
    let (g, code) = json(&["gate", "--target", "v2.36.0", "--db", &url(&db)]);
    assert_eq!(code, 4, "{g:#}");
    let (j, code) = json(&["check", "--version", "20241016151312"]);
    assert_eq!(code, 4, "{j:#}");
    assert_eq!(j["verdict"], "foreign_version");
    let (out, _, code) = run(migtag().args([
        "patch",
        "--version",
        "20241016151312",
        "--to",
        "kubectl",
        "--emit",
    ]));
    assert_eq!(code, 4);
    assert_eq!(out, "");
}

#[test]
fn coders_own_dumps_name_their_tags_with_and_without_a_row() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let dumps = tarball_dumps();
    assert_eq!(dumps.len(), 4, "{dumps:?}");
    let index = migtag::bundled::load().unwrap();
    for (tag, sql) in dumps {
        let max = index.release(&tag).unwrap().max_migration;
        let db = c.create_db("dump");
        // Coder's dump.sql drops pg_dump's header; function bodies name tables defined later.
        run_script(
            c,
            &db,
            &format!("SET check_function_bodies = false;\n{sql}"),
        );
        c.sql(&db, "DROP TABLE IF EXISTS schema_migrations");
        let (j, code) = json(&["check", "--db", &url(&db)]);
        assert_eq!(code, 4, "{tag}: {j:#}");
        assert_eq!(j["verdict"], "partial_restore", "{tag}: {j:#}");
        let versions = j["schema"]["versions"].to_string();
        assert!(
            versions.contains(&max.to_string()),
            "{tag} ({max}): {:#}",
            j["schema"]
        );
        set_row(c, &db, max, false);
        let (j, code) = json(&["check", "--db", &url(&db)]);
        assert_eq!(code, 0, "{tag}: {j:#}");
        assert_eq!(j["schema"]["identity"], "exact", "{tag}: {j:#}");
        assert_eq!(j["schema_version"], max, "{tag}");
    }
}
