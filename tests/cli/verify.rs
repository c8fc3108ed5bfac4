//! `migtag verify` and the schema evidence, on schemas built from Coder's real SQL on a real
//! PostgreSQL (see coder_sql.rs).

use crate::coder_sql::{database_with, run_script, set_row, source, up_statements};
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
