//! Snapshots of the outputs that had none: `gate` (human, JSON, the GitHub job summary and
//! annotations), and `index show` as JSON. The live-database report, `repair` and
//! `index update` are snapshotted where their servers run (db.rs, repair.rs,
//! index_sources/mod.rs), with the run-dependent values (pids, ports, names) filtered.

use crate::common::{fixture, migtag, run};

#[test]
fn gate_human_and_json() {
    let sidecars = fixture("manifests/coder-sidecars.yaml");
    let sidecars = sidecars.to_str().unwrap();
    let zero = fixture("psql/zero-rows.txt");
    let zero = zero.to_str().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "safe_165_to_2_21_0",
            &["--version", "165", "--target", "v2.21.0"],
        ),
        (
            "unsafe_316_skips",
            &["--version", "316", "--target", "v2.22.0"],
        ),
        (
            "unsafe_older_target",
            &["--version", "316", "--target", "v2.21.2"],
        ),
        (
            "dirty_168",
            &["--version", "168", "--dirty", "--target", "v2.5.0"],
        ),
        (
            "unknown_target",
            &["--version", "165", "--target", "v9.9.9"],
        ),
        ("fresh", &["--psql", zero, "--target", "v2.21.0"]),
        (
            "manifest_findings",
            &[
                "--version",
                "165",
                "--target",
                "v2.21.0",
                "--manifest",
                sidecars,
                "--container",
                "coder",
            ],
        ),
        (
            "manifest_findings_strict",
            &[
                "--version",
                "165",
                "--target",
                "v2.21.0",
                "--manifest",
                sidecars,
                "--container",
                "coder",
                "--strict",
            ],
        ),
    ];
    for (name, args) in cases {
        let (human, _, code) = run(migtag().arg("gate").args(*args));
        let (json, _, json_code) = run(migtag().args(["--format", "json", "gate"]).args(*args));
        assert_eq!(code, json_code, "{name}");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        insta::assert_snapshot!(
            format!("gate_{name}_human"),
            format!("exit {code}\n{human}")
        );
        insta::assert_json_snapshot!(format!("gate_{name}_json"), doc);
    }
}

#[test]
fn gate_under_github_actions() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (_, err, code) = run(migtag()
        .args(["gate", "--version", "316", "--target", "v2.22.0"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(code, 3);
    let annotations: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    insta::assert_snapshot!("gate_github_annotations", annotations.join("\n"));
    insta::assert_snapshot!(
        "gate_github_summary",
        std::fs::read_to_string(&summary).unwrap()
    );
}

#[test]
fn index_show_json() {
    let (out, err, code) = run(migtag().args(["--format", "json", "index", "show"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("index_show_bundled_json", doc);
}

/// What varies from run to run in a live-database report: the generated database and role
/// names, the port, pids, the server's version string, and elapsed times.
fn live_filters(db: &str, role: &str, port: u16) -> Vec<(String, String)> {
    vec![
        (regex::escape(db), "[db]".into()),
        (regex::escape(role), "[role]".into()),
        (format!(":{port}\\b"), ":[port]".into()),
        (r"\bpid \d+".into(), "pid [pid]".into()),
        (
            r"PostgreSQL 1\d[.\d]*".into(),
            "PostgreSQL [version]".into(),
        ),
        (r"\b\d+m\d\ds\b|\b\d+s\b".into(), "[duration]".into()),
        (
            r#""server_version": "[^"]*""#.into(),
            r#""server_version": "[version]""#.into(),
        ),
        (
            r#""(server_version_num|backend_pid|pid)": \d+"#.into(),
            r#""$1": 0"#.into(),
        ),
    ]
}

fn with_filters(filters: &[(String, String)], f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    for (from, to) in filters {
        settings.add_filter(from, to.as_str());
    }
    settings.bind(f);
}

/// The live-database report: state, where it was read, and who else is connected.
#[test]
fn live_database_report_human() {
    let c = crate::pg::PgCluster::shared();
    let (db, role) = crate::db::coder_db(c, Some((168, false)));
    let _coderd = c.session_as(&db, "coderd", &role, crate::db::PW);
    let mut idle = c.session_as(&db, "psql-admin", &role, crate::db::PW);
    idle.run("BEGIN; SELECT count(*) FROM schema_migrations;");
    let url = c.url(&role, crate::db::PW, &db);
    // --no-schema: the database holds a row and none of Coder's objects (drift when the
    // schema is read); this snapshot is of where the row was read and who is connected.
    let (out, err, code) =
        run(migtag().args(["check", "--color", "never", "--db", &url, "--no-schema"]));
    assert_eq!(code, 0, "{err}");
    with_filters(&live_filters(&db, &role, c.port), || {
        insta::assert_snapshot!("live_database_check_human", out);
    });
}

/// `repair clear-dirty --yes`: the plan and the result, human and JSON.
#[test]
fn repair_clear_dirty_human_and_json() {
    let c = crate::pg::PgCluster::shared();
    for format in ["human", "json"] {
        let (db, role) = crate::db::coder_db(c, Some((68, true)));
        let url = c.url(&role, crate::db::PW, &db);
        let (out, err, code) = run(migtag()
            .args([
                "--color",
                "never",
                "--format",
                format,
                "repair",
                "clear-dirty",
            ])
            .args(["--expect-version", "68", "--yes", "--db", &url])
            .write_stdin(""));
        assert_eq!(code, 0, "{out}{err}");
        with_filters(&live_filters(&db, &role, c.port), || {
            insta::assert_snapshot!(format!("repair_clear_dirty_{format}"), out);
        });
    }
}
