//! `migtag verify` and the schema evidence, on schemas built from Coder's real SQL on a real
//! PostgreSQL (see coder_sql.rs).

use crate::coder_sql::{database_with, run_script, set_row, source, up_statements};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

fn url(db: &str) -> String {
    url_on(PgCluster::shared(), db)
}

fn url_on(c: &PgCluster, db: &str) -> String {
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

fn verify_json(db: &str) -> (serde_json::Value, String, i32) {
    let (out, err, code) = run(migtag().args(["--format", "json", "verify", "--db", &url(db)]));
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (v, err, code)
}

fn v2_36_0(c: &'static PgCluster) -> String {
    database_with(c, "main-556", (1..=556).collect(), None)
}

#[test]
fn v2_36_0_set_with_its_row_matches() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = v2_36_0(c);
    set_row(c, &db, 556, false);
    let (v, err, code) = verify_json(&db);
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["schema"]["status"], "match");
    assert!(v["schema"]["expected_for"]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "v2.36.0"));
    assert_eq!(v["schema"]["missing"].as_array().unwrap().len(), 0);
}

fn check_json(db: &str) -> (serde_json::Value, i32) {
    let (out, err, code) = run(migtag().args(["--format", "json", "check", "--db", &url(db)]));
    (
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}")),
        code,
    )
}

#[test]
fn dirty_168_absent_complete_and_partial_each_get_their_statement() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    // Not applied: the clean-up to 167.
    let absent = database_with(c, "main-167", (1..=167).collect(), None);
    set_row(c, &absent, 168, true);
    let (v, code) = check_json(&absent);
    assert_eq!(code, 4);
    assert_eq!(v["verification"]["dirty"]["state"], "absent", "{v:#}");
    assert_eq!(
        v["verification"]["dirty_action"]["kind"],
        "cleanup_to_previous"
    );
    assert_eq!(
        v["verification"]["dirty_action"]["sql"],
        "UPDATE schema_migrations SET version = 167, dirty = false WHERE version = 168 AND dirty;"
    );
    // Fully applied: keep 168, clear the flag.
    let complete = database_with(c, "main-168", (1..=168).collect(), None);
    set_row(c, &complete, 168, true);
    let (v, _) = check_json(&complete);
    assert_eq!(v["verification"]["dirty"]["state"], "complete", "{v:#}");
    assert_eq!(
        v["verification"]["dirty_action"]["sql"],
        "UPDATE schema_migrations SET dirty = false WHERE version = 168 AND dirty;"
    );
    assert_eq!(v["verification"]["schema"]["status"], "match");
    // The runbook's step is the computed result, not "compare the schema by hand".
    let (book, err, code) = run(migtag().args(["runbook", "--db", &url(&complete)]));
    assert_eq!(code, 0, "{err}");
    assert!(
        book.contains("UPDATE schema_migrations SET dirty = false WHERE version = 168 AND dirty;"),
        "{book}"
    );
    assert!(!book.contains("SET version = 167"), "{book}");
    assert!(!book.contains("compare the schema with what"), "{book}");
    assert!(
        book.contains("effects of 000168 pg_coord_tailnet_v2_api complete"),
        "{book}"
    );
    // Cut after its first statement: partial, nothing to run, the .down.sql for review.
    let partial = database_with(c, "main-167", (1..=167).collect(), None);
    let first = &up_statements(168)[0];
    run_script(c, &partial, &format!("{first};\n"));
    set_row(c, &partial, 168, true);
    let (v, _) = check_json(&partial);
    assert_eq!(v["verification"]["dirty"]["state"], "partial", "{v:#}");
    assert_eq!(v["verification"]["dirty_action"]["kind"], "review");
    assert!(v["verification"]["dirty_action"]["sql"].is_null());
    let present = v["verification"]["dirty"]["present"].as_array().unwrap();
    assert!(!present.is_empty() && present.len() < 23, "{present:?}");
    let (out, _, code) = run(migtag().args(["check", "--db", &url(&partial)]));
    assert_eq!(code, 4);
    assert!(
        out.contains("effects of 000168 pg_coord_tailnet_v2_api partial"),
        "{out}"
    );
    assert!(out.contains("DROP TABLE IF EXISTS tailnet_peers;"), "{out}");
    assert!(out.contains("for review, not run"), "{out}");
}

fn objects(list: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["object"].as_str().unwrap().to_string(),
                f["migration"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn drift_is_attributed_to_its_migration_and_an_extra_index_alone_is_a_warning() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = v2_36_0(c);
    set_row(c, &db, 556, false);
    c.sql(
        &db,
        "ALTER TABLE workspace_proxies DROP COLUMN version; \
         ALTER TABLE templates ALTER COLUMN require_active_version SET DEFAULT true; \
         DROP INDEX idx_tailnet_peers_coordinator; \
         CREATE INDEX operators_own_index ON users (created_at)",
    );
    let (v, _, code) = verify_json(&db);
    assert_eq!(code, 6, "{v:#}");
    let s = &v["schema"];
    assert_eq!(s["status"], "drift");
    let missing = objects(&s["missing"]);
    assert!(
        missing.contains(&("column workspace_proxies.version".into(), Some(170))),
        "{missing:?}"
    );
    assert!(
        missing.contains(&("index idx_tailnet_peers_coordinator".into(), Some(168))),
        "{missing:?}"
    );
    let different = objects(&s["different"]);
    assert_eq!(
        different,
        vec![(
            "column templates.require_active_version".to_string(),
            Some(166)
        )]
    );
    assert_eq!(s["different"][0]["actual"], "boolean not null default true");
    assert_eq!(
        objects(&s["extra"]),
        vec![("index operators_own_index".to_string(), None)]
    );
    let (out, _, code) = run(migtag().args(["verify", "--db", &url(&db)]));
    assert_eq!(code, 6);
    assert!(
        out.contains("column workspace_proxies.version (000170 workspaceproxy_version)"),
        "{out}"
    );

    // The operator's index alone: a warning, exit 0.
    let db = v2_36_0(c);
    set_row(c, &db, 556, false);
    c.sql(
        &db,
        "CREATE INDEX operators_own_index ON users (created_at)",
    );
    let (out, _, code) = run(migtag().args(["verify", "--db", &url(&db)]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 not created by any Coder migration (warning)"),
        "{out}"
    );
    assert!(
        out.contains("index operators_own_index (no Coder migration)"),
        "{out}"
    );
    // gate: extras alone do not make the upgrade unsafe, they are warnings.
    let (out, err, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--target",
        "v2.36.0",
        "--db",
        &url(&db),
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let g: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(g["safe"], true);
    assert!(
        g["warnings"].to_string().contains("operators_own_index"),
        "{g:#}"
    );
}

#[test]
fn a_forced_row_below_the_schema_is_ahead_naming_the_later_migrations() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = database_with(c, "main-170", (1..=170).collect(), None);
    set_row(c, &db, 165, false);
    let (v, _, code) = verify_json(&db);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(
        v["schema"]["ahead"],
        serde_json::json!([166, 167, 168, 169, 170])
    );
    let summary = v["schema"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("schema ahead of the row") && summary.contains("000166-000170"),
        "{summary}"
    );
}

#[test]
fn coder_tables_without_schema_migrations_are_a_partial_restore_not_fresh() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = v2_36_0(c);
    let (v, _, code) = verify_json(&db);
    assert_eq!(code, 6, "{v:#}");
    assert!(
        v["schema"]["summary"]
            .as_str()
            .unwrap()
            .contains("partial restore"),
        "{v:#}"
    );
    let (out, err, code) = run(migtag().args(["check", "--db", &url(&db)]));
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        out.starts_with("needs a human: Coder's schema of migration 000556 exists without a schema_migrations row"),
        "{out}"
    );
    assert!(!out.contains("so any release works"), "{out}");
    let (out, err, code) = run(migtag().args(["gate", "--target", "v2.36.0", "--db", &url(&db)]));
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(out.contains("partial restore"), "{out}");
}

#[test]
fn v2_21_1_set_matches_at_316_and_a_row_forced_to_326_misses_314_315_and_317_on() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let set: Vec<u64> = (1..=310).chain([312, 313, 316]).collect();
    let db = database_with(c, "v2.21.1", set.clone(), Some("v2.21.1"));
    set_row(c, &db, 316, false);
    let (v, _, code) = verify_json(&db);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["schema"]["expected_for"]["releases"],
        serde_json::json!(["v2.21.1"])
    );

    let (out, err, code) = run(migtag().args(["gate", "--target", "v2.22.0", "--db", &url(&db)]));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        out.contains("000323 workspace_latest_builds_optimization"),
        "{out}"
    );
    assert!(
        out.contains("view \"workspace_prebuilds\" does not exist"),
        "{out}"
    );
    assert!(out.contains("SET version = 313"), "{out}");
    let (book, _, code) = run(migtag().args(["runbook", "--db", &url(&db)]));
    assert_eq!(code, 0);
    assert!(
        book.contains("before upgrading: rehearsed on v2.21.1's schema: v2.22.0 fails at 000323"),
        "{book}"
    );
    assert!(
        book.contains(
            "UPDATE schema_migrations SET version = 313 WHERE version = 316 AND NOT dirty;"
        ),
        "{book}"
    );

    let db = database_with(c, "v2.21.1", set, Some("v2.21.1"));
    set_row(c, &db, 326, false);
    let (v, _, code) = verify_json(&db);
    assert_eq!(code, 6, "{v:#}");
    let absent: Vec<u64> = v["schema"]["by_migration"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "absent")
        .map(|m| m["version"].as_u64().unwrap())
        .collect();
    for m in [314, 315, 319, 320, 321, 325, 326] {
        assert!(absent.contains(&m), "{m} in {absent:?}");
    }
    let summary = v["schema"]["summary"].as_str().unwrap();
    assert!(summary.contains("000314-000315"), "{summary}");
    let (out, _, _) = run(migtag().args(["verify", "--db", &url(&db)]));
    assert!(out.contains("000314 prebuilds: absent"), "{out}");
    assert!(out.contains("000315 preset_prebuilds: absent"), "{out}");
}

#[test]
fn each_coder_dump_matches_the_replayed_schema_at_its_tag() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let index = migtag::bundled::load().unwrap();
    let dumps = crate::coder_sql::tarball_dumps();
    assert_eq!(dumps.len(), 4, "{dumps:?}");
    for (tag, sql) in dumps {
        let db = c.create_db("dump");
        // Coder's dump.sql drops pg_dump's header; function bodies name tables defined later.
        run_script(
            c,
            &db,
            &format!("SET check_function_bodies = false;\n{sql}"),
        );
        let max = index.release(&tag).unwrap().max_migration;
        set_row(c, &db, max, false);
        let (v, err, code) = verify_json(&db);
        assert_eq!(code, 0, "{tag}: {:#}\n{err}", v["schema"]);
        assert_eq!(v["schema"]["status"], "match", "{tag}");
    }
}

#[test]
fn a_lock_on_a_view_skips_verification_within_lock_timeout() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = v2_36_0(c);
    set_row(c, &db, 556, false);
    let mut holder = c.session(&db, "holder");
    holder.run("BEGIN; LOCK TABLE visible_users IN ACCESS EXCLUSIVE MODE;");
    let started = std::time::Instant::now();
    let (out, err, code) =
        run(migtag().args(["verify", "--lock-timeout", "1s", "--db", &url(&db)]));
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2) + std::time::Duration::from_millis(900),
        "{took:?}"
    );
    assert_eq!(code, 10, "{out}\n{err}");
    assert!(
        out.contains("schema: not verified: another session holds a lock on a view"),
        "{out}"
    );
    // check still answers from the row, with the reason on its verdict line.
    let (out, _, code) = run(migtag().args(["check", "--lock-timeout", "1s", "--db", &url(&db)]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("schema: not verified"), "{out}");
    holder.run("ROLLBACK;");
}

/// v2.36.0's set replayed on another major compares `match` against the effects recorded on
/// PostgreSQL 15 (the bundled data).
fn v2_36_0_matches_on(major: u32) {
    if source().is_none() {
        return;
    }
    let Some(c) = PgCluster::shared_major(major) else {
        return; // not installed, outside CI: shared_major printed why
    };
    let num: u32 = c
        .sql("postgres", "SHOW server_version_num")
        .parse()
        .unwrap();
    assert_eq!(num / 10000, major);
    let db = database_with(c, &format!("main-556-pg{major}"), (1..=556).collect(), None);
    set_row(c, &db, 556, false);
    let (out, err, code) =
        run(migtag().args(["--format", "json", "verify", "--db", &url_on(c, &db)]));
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 0, "PostgreSQL {major}: {:#}", v["schema"]);
    assert_eq!(v["schema"]["status"], "match");
    assert!(v["database"]["server_version"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{major}.")));
}

#[test]
fn v2_36_0_matches_on_postgresql_13() {
    v2_36_0_matches_on(13);
}

#[test]
fn v2_36_0_matches_on_postgresql_16() {
    v2_36_0_matches_on(16);
}

#[test]
fn v2_36_0_matches_on_postgresql_17() {
    v2_36_0_matches_on(17);
}

#[test]
fn v2_36_0_matches_on_postgresql_18() {
    v2_36_0_matches_on(18);
}

#[test]
fn repair_clear_dirty_follows_the_evidence_keep_when_complete_reset_when_absent() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let complete = database_with(c, "main-168", (1..=168).collect(), None);
    set_row(c, &complete, 168, true);
    let (out, err, code) = run(migtag().args([
        "repair",
        "clear-dirty",
        "--expect-version",
        "168",
        "--yes",
        "--db",
        &url(&complete),
    ]));
    // Complete: 168 finished, so clear-dirty keeps it and clears only the flag.
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("schema: effects of 000168 pg_coord_tailnet_v2_api complete"),
        "{err}"
    );
    assert!(
        out.contains(
            "UPDATE public.schema_migrations SET dirty = false WHERE version = 168 AND dirty"
        ),
        "{out}"
    );
    assert_eq!(
        c.sql(
            &complete,
            "SELECT version || ',' || dirty FROM schema_migrations"
        ),
        "168,false"
    );
    // Absent: today's clean-up to 167 runs.
    let absent = database_with(c, "main-167", (1..=167).collect(), None);
    set_row(c, &absent, 168, true);
    let (out, err, code) = run(migtag().args([
        "repair",
        "clear-dirty",
        "--expect-version",
        "168",
        "--yes",
        "--db",
        &url(&absent),
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("effects of 000168 pg_coord_tailnet_v2_api absent"),
        "{err}"
    );
    assert_eq!(
        c.sql(
            &absent,
            "SELECT version || ',' || dirty FROM schema_migrations"
        ),
        "167,false"
    );
}

#[test]
fn verify_needs_a_live_database_and_no_schema_turns_the_verdict_off() {
    let (out, err, code) = run(migtag().args(["verify", "--version", "168"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("pass --db URL"), "{err}");
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = v2_36_0(c);
    set_row(c, &db, 556, false);
    let (out, _, code) = run(migtag().args(["check", "--db", &url(&db)]));
    assert_eq!(code, 0);
    assert!(
        out.contains("schema: matches migration 556 (v2.36.0)"),
        "{out}"
    );
    let (out, _, code) = run(migtag().args(["check", "--no-schema", "--db", &url(&db)]));
    assert_eq!(code, 0);
    assert!(!out.contains("schema:"), "{out}");
}

#[test]
fn a_non_public_schema_is_verified_where_search_path_points() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let db = c.create_db("verify_schema");
    let mut script = String::from("CREATE SCHEMA coder;\nSET search_path TO coder;\n");
    for v in 1..=170 {
        script.push_str("BEGIN;\n");
        script.push_str(&crate::coder_sql::up_sql(v, None));
        script.push_str("COMMIT;\n");
    }
    script.push_str(
        "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n\
         INSERT INTO schema_migrations VALUES (170, false);\n",
    );
    run_script(c, &db, &script);
    // A decoy in public: the catalog of the schema search_path selects is the one compared.
    c.sql(&db, "CREATE TABLE public.decoy (id int)");
    let url = format!(
        "{}&options={}",
        url(&db),
        crate::pg::encode("-c search_path=coder")
    );
    let (out, err, code) = run(migtag().args(["--format", "json", "verify", "--db", &url]));
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 0, "{:#}", v["schema"]);
    assert_eq!(v["database"]["schema"], "coder");
    assert_eq!(v["schema"]["status"], "match");
}
