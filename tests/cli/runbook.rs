//! `migtag runbook`: snapshots of the Markdown, script and JSON forms for each state; every
//! generated script passes `bash -n`; running a script with stdin closed changes nothing
//! (a fake `kubectl` and `psql` first on PATH record every call); hostile names are refused
//! before any text; the live database gives the real database name, schema and sessions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{fixture, migtag, run};
use crate::pg::{PgCluster, Session};

fn manifest(name: &str) -> String {
    fixture(&format!("manifests/{name}")).display().to_string()
}

fn runbook(args: &[&str]) -> String {
    let (out, err, code) = run(migtag().arg("runbook").args(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn runbook_json(args: &[&str]) -> Value {
    let out = runbook(&[args, &["--format", "json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `bash -n`: the script parses.
fn assert_bash_parses(script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runbook.sh");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "bash -n failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("\nset -euo pipefail\n"));
    assert!(script.contains("\nconfirm() {\n"));
}

/// The cases snapshotted in all three forms: (name, args).
const CASES: &[(&str, &[&str])] = &[
    ("exact_165", &["--version", "165", "-n", "coder"]),
    ("upgrade_311", &["--version", "311", "-n", "coder"]),
    ("dirty_168", &["--version", "168", "--dirty", "-n", "coder"]),
    ("dirty_316_two_candidates", &["--version", "316", "--dirty"]),
    ("ahead_100000", &["--version", "100000"]),
];

#[test]
fn snapshots_of_every_form() {
    for (name, args) in CASES {
        let md = runbook(args);
        insta::assert_snapshot!(format!("runbook_{name}_markdown"), md);
        let script = runbook(&[*args, &["--as", "script"]].concat());
        assert_bash_parses(&script);
        insta::assert_snapshot!(format!("runbook_{name}_script"), script);
        let doc = runbook_json(args);
        insta::assert_json_snapshot!(format!("runbook_{name}_json"), doc);
    }
}

#[test]
fn with_a_manifest_every_patch_form_and_the_probe_fix() {
    let m = manifest("coder-sidecars.yaml");
    let args = ["--version", "362", "--manifest", &m];
    let md = runbook(&args);
    insta::assert_snapshot!("runbook_manifest_sidecars_markdown", md);
    let script = runbook(&[&args[..], &["--as", "script"]].concat());
    assert_bash_parses(&script);
    insta::assert_snapshot!("runbook_manifest_sidecars_script", script);

    // 362 is exact for v2.26.3, which the manifest runs: nothing to set. Move the database
    // to 361 (no release stops there) to see every form.
    let doc = runbook_json(&["--version", "361", "--manifest", &m]);
    insta::assert_json_snapshot!("runbook_manifest_sidecars_361_json", doc);
    let set = step(&doc, "set_image");
    let labels: Vec<&str> = set["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "with kubectl set image",
            "with a strategic-merge patch",
            "with a JSON patch (it first tests that the container is still at that position)",
            "with helm",
            "the same in the Helm values file",
            "with kustomize, in kustomization.yaml"
        ]
    );
    assert!(set["commands"][2]["text"]
        .as_str()
        .unwrap()
        .contains("/spec/template/spec/containers/2/image"));
    let probes = step(&doc, "probes");
    assert!(probes["commands"][0]["text"]
        .as_str()
        .unwrap()
        .contains("\"failureThreshold\":90"));
    let back = step(&doc, "scale_back");
    assert_eq!(
        back["commands"][0]["text"],
        "kubectl -n coder-prod scale deployment/coder --replicas=3"
    );
}

fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {doc:#}"))
}

fn step_ids(doc: &Value) -> Vec<String> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn json_steps_mark_every_destructive_command() {
    let doc = runbook_json(&["--version", "168", "--dirty", "-n", "coder"]);
    assert_eq!(
        step_ids(&doc),
        [
            "inspect",
            "scale_to_zero",
            "sessions",
            "terminate_sessions",
            "schema_migrations",
            "clean_up_dirty",
            "set_image",
            "probes",
            "scale_to_one",
            "scale_back"
        ]
    );
    let destructive: Vec<String> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["commands"].as_array().unwrap().iter())
        .filter(|c| c["destructive"] == true)
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        destructive,
        [
            "kubectl -n coder scale deployment/coder --replicas=0",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid();",
            "UPDATE schema_migrations SET version = 167, dirty = false WHERE version = 168 AND dirty;",
            "migtag repair clear-dirty --expect-version 168",
        ]
    );
    let t = step(&doc, "terminate_sessions");
    assert_eq!(t["last_resort"], true);
    assert!(t["title"].as_str().unwrap().starts_with("LAST RESORT"));
    assert_eq!(
        step(&doc, "scale_to_one")["commands"][1]["text"],
        "kubectl -n coder logs deployment/coder -f"
    );
    assert_eq!(doc["image"], "ghcr.io/coder/coder:v2.4.0");
}

/// 316 dirty: written by v2.21.1 (previous 313) or by v2.22+ (previous 315). Each clean-up
/// needs its own image: v2.21.1 lacks 315, so after the 315 clean-up it would crash-loop.
#[test]
fn dirty_316_pairs_each_cleanup_with_the_image_that_can_run_after_it() {
    let doc = runbook_json(&["--version", "316", "--dirty"]);
    assert_eq!(doc["image"], Value::Null);
    let cleanups = step(&doc, "clean_up_dirty")["commands"].as_array().unwrap();
    assert_eq!(
        cleanups[0]["label"],
        "only if the row was written by v2.21.1"
    );
    assert!(cleanups[0]["text"]
        .as_str()
        .unwrap()
        .contains("SET version = 313"));
    assert!(cleanups[1]["text"]
        .as_str()
        .unwrap()
        .contains("SET version = 315"));
    let set: Vec<(String, String)> = step(&doc, "set_image")["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["alternative"].is_null())
        .map(|c| {
            (
                c["label"].as_str().unwrap().to_string(),
                c["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(set.len(), 2, "{set:#?}");
    assert!(
        set[0].0.contains("v2.21.1") && set[0].1.ends_with("coder=ghcr.io/coder/coder:v2.21.1")
    );
    assert!(
        set[1].0.contains("v2.22.0") && set[1].1.ends_with("coder=ghcr.io/coder/coder:v2.22.1")
    );

    // --deployed picks one candidate and one image.
    let doc = runbook_json(&["--version", "316", "--dirty", "--deployed", "v2.22.0"]);
    assert_eq!(doc["image"], "ghcr.io/coder/coder:v2.22.1");
    assert_eq!(
        step(&doc, "clean_up_dirty")["commands"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn unmatched_versions_say_what_to_do_instead_and_change_nothing() {
    for args in [&["--version", "100000"][..], &["--version", "0"][..]] {
        let doc = runbook_json(args);
        assert_eq!(
            step_ids(&doc),
            ["inspect", "schema_migrations", "no_matching_release"]
        );
        assert!(doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["destructive"] == false));
        assert_eq!(doc["image"], Value::Null);
    }
}

#[test]
fn hostile_names_are_refused_before_any_text() {
    let m = manifest("coder-sidecars.yaml");
    for args in [
        vec!["-n", "coder; kubectl delete ns prod"],
        vec!["-n", "$(touch /tmp/pwned)"],
        vec!["--deployment", "coder`id`"],
        vec!["--deployment", "a b"],
        vec!["--container", "coder'"],
        vec!["--image-repo", "ghcr.io/coder/coder;id"],
    ] {
        for form in [&["--as", "script"][..], &["--format", "json"][..], &[][..]] {
            let (out, err, code) = run(migtag()
                .args(["runbook", "--version", "168", "--dirty", "--manifest", &m])
                .args(&args)
                .args(form));
            assert_eq!(code, 12, "{args:?}: {err}");
            if form == ["--format", "json"] {
                let doc: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(doc["error"]["exit_code"], 12);
            } else {
                assert!(out.is_empty(), "{args:?}: {out}");
            }
        }
    }
}

/// A directory with fake `kubectl` and `psql` that append their arguments to a log, one
/// call per line (newlines inside an argument are written as `~`).
fn fake_tools(dir: &Path) -> PathBuf {
    let log = dir.join("calls.log");
    for tool in ["kubectl", "psql"] {
        let path = dir.join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s' {tool} >> '{log}'\nfor a in \"$@\"; do printf ' [%s]' \"$(printf '%s' \"$a\" | tr '\\n' '~')\" >> '{log}'; done\nprintf '\\n' >> '{log}'\n",
                log = log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    log
}

/// Runs a script with stdin closed (or with `input`), the fakes first on PATH. Returns the
/// recorded calls and the exit code.
fn run_script(script: &str, input: Option<&str>) -> (Vec<String>, i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = fake_tools(dir.path());
    let path = dir.path().join("runbook.sh");
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(&path)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env(
            "CODER_PG_CONNECTION_URL",
            "postgres://fake@127.0.0.1:1/coder",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (
        calls,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Read-only: `kubectl ... get ...`, and psql running a SELECT that is not pg_terminate_backend.
fn is_read_only(call: &str) -> bool {
    if call.starts_with("kubectl ") {
        return call.contains(" [get] ") && !call.contains("[scale]") && !call.contains("[set]");
    }
    if call.starts_with("psql ") {
        let sql = call.rsplit(" [").next().unwrap_or("");
        return sql.starts_with("SELECT") && !sql.contains("pg_terminate_backend");
    }
    false
}

#[test]
fn the_script_with_stdin_closed_runs_only_read_only_commands() {
    let m = manifest("coder-sidecars.yaml");
    let cases: Vec<Vec<&str>> = vec![
        vec!["--version", "168", "--dirty", "-n", "coder"],
        vec!["--version", "316", "--dirty"],
        vec!["--version", "311"],
        vec!["--version", "361", "--manifest", &m],
        vec!["--version", "100000"],
    ];
    for args in cases {
        let script = runbook(&[&args[..], &["--as", "script"]].concat());
        let (calls, code, err) = run_script(&script, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!calls.is_empty(), "the read-only steps ran: {args:?}");
        for call in &calls {
            assert!(is_read_only(call), "{args:?} ran a change: {call}\n{err}");
        }
        assert!(err.contains("skipped"), "{err}");
        // Typing anything but yes changes nothing either.
        let (calls, code, _) = run_script(&script, Some("no\ny\nYES\n\n\n\n\n\n\n\n\n\n\n\n"));
        assert_eq!(code, 0);
        assert!(calls.iter().all(|c| is_read_only(c)), "{calls:#?}");
    }
}

/// Typing yes runs the step it was asked for, exactly as printed: the guard is real.
#[test]
fn typing_yes_runs_the_guarded_change() {
    let script = runbook(&[
        "--version",
        "168",
        "--dirty",
        "-n",
        "coder",
        "--as",
        "script",
    ]);
    // The first prompt is step 2 (scale to 0); answer yes to it only.
    let (calls, code, err) = run_script(&script, Some("yes\n"));
    assert_eq!(code, 0, "{err}");
    let changes: Vec<&String> = calls.iter().filter(|c| !is_read_only(c)).collect();
    assert_eq!(
        changes,
        ["kubectl [-n] [coder] [scale] [deployment/coder] [--replicas=0]"],
        "{calls:#?}"
    );
}

// ---- the live database ----

const PW: &str = "runbook-pass-1";

fn coder_db(c: &PgCluster, schema: Option<&str>, row: (i64, bool)) -> (String, String) {
    let role = c.create_role("rbk", PW);
    let db = c.create_db("rbk");
    c.sql("postgres", &format!("ALTER DATABASE {db} OWNER TO {role}"));
    let table = match schema {
        Some(s) => {
            c.sql(&db, &format!("CREATE SCHEMA {s} AUTHORIZATION {role}"));
            format!("{s}.schema_migrations")
        }
        None => "schema_migrations".to_string(),
    };
    c.sql(
        &db,
        &format!(
            "CREATE TABLE {table} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
             ALTER TABLE {table} OWNER TO {role};\
             INSERT INTO {table} VALUES ({}, {});",
            row.0, row.1
        ),
    );
    (db, role)
}

#[test]
fn live_database_names_the_database_the_schema_and_the_sessions() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some("coderschema"), (168, true));
    let url = format!(
        "{}?options=-csearch_path%3Dcoderschema",
        c.url(&role, PW, &db)
    );
    let mut idle: Session = c.session_as(&db, "old-coder-pod", &role, PW);
    idle.run("BEGIN; SELECT 1;");
    let doc = runbook_json(&["--db", &url, "-n", "coder"]);
    assert_eq!(doc["database"]["name"], db.as_str());
    assert_eq!(doc["database"]["schema"], "coderschema");
    assert_eq!(doc["database"]["other_sessions"], 1);
    let term = &step(&doc, "terminate_sessions")["commands"][0];
    assert_eq!(
        term["text"],
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid();").as_str()
    );
    let notes = step(&doc, "terminate_sessions")["notes"].to_string();
    assert!(notes.contains("old-coder-pod 1"), "{notes}");
    assert!(notes.contains(&format!("pid {}", idle.pid)), "{notes}");
    let sessions = step(&doc, "sessions")["notes"].to_string();
    assert!(sessions.contains("idle in a transaction"), "{sessions}");
    assert_eq!(
        step(&doc, "schema_migrations")["commands"][0]["text"],
        "SELECT * FROM coderschema.schema_migrations;"
    );
    assert_eq!(
        step(&doc, "clean_up_dirty")["commands"][0]["text"],
        "UPDATE coderschema.schema_migrations SET version = 167, dirty = false WHERE version = 168 AND dirty;"
    );
    // The password never reaches any form.
    for form in [&["--format", "json"][..], &["--as", "script"][..], &[][..]] {
        let (out, err, code) = run(migtag().args(["runbook", "--db", &url]).args(form));
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains(PW) && !err.contains(PW));
        if form == ["--as", "script"] {
            assert_bash_parses(&out);
        }
    }
}

/// A database name with a quote and a newline: the SQL literal is escaped, the script still
/// parses and runs nothing when stdin is closed.
#[test]
fn hostile_database_name_is_escaped_everywhere() {
    let c = PgCluster::shared();
    let role = c.create_role("rbk", PW);
    let db = format!("it's\n{}", crate::pg::unique("x"));
    c.sql(
        "postgres",
        &format!(
            "CREATE DATABASE \"{}\" OWNER {role}",
            db.replace('"', "\"\"")
        ),
    );
    let url = format!(
        "postgres://{role}:{}@127.0.0.1:{}/{}",
        crate::pg::encode(PW),
        c.port,
        crate::pg::encode(&db)
    );
    let doc = runbook_json(&["--db", &url]);
    assert_eq!(doc["database"]["name"], db.as_str());
    let term = step(&doc, "terminate_sessions")["commands"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        term.contains(&format!("datname = '{}'", db.replace('\'', "''"))),
        "{term}"
    );
    let script = runbook(&["--db", &url, "--as", "script"]);
    assert_bash_parses(&script);
    let (calls, code, err) = run_script(&script, None);
    assert_eq!(code, 0, "{err}");
    assert!(calls.iter().all(|c| is_read_only(c)), "{calls:#?}");
    // The statement the fake psql received is exactly the escaped one.
    assert!(
        calls.iter().any(|c| c.contains("datname = 'it''s")),
        "{calls:#?}"
    );
}

/// A running migration (as Coder >= 2.5 runs one): wait, show the holder, and nothing
/// destructive but the last-resort step.
#[test]
fn in_progress_says_wait_and_shows_the_holder() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, None, (167, false));
    let mut coder = c.session_as(&db, "coder-migration-sim", &role, PW);
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );
    let url = c.url(&role, PW, &db);
    let doc = runbook_json(&["--db", &url, "-n", "coder"]);
    assert_eq!(doc["verdict"], "in_progress");
    assert_eq!(
        step_ids(&doc),
        ["wait_for_migration", "sessions", "terminate_sessions"]
    );
    let wait = step(&doc, "wait_for_migration");
    assert!(wait["title"].as_str().unwrap().starts_with("Wait"));
    let notes = wait["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "pid {}, application coder-migration-sim",
            coder.pid
        )),
        "{notes}"
    );
    assert!(notes.contains("TRUNCATE schema_migrations"), "{notes}");
    let destructive: Vec<&Value> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["destructive"] == true)
        .collect();
    assert_eq!(destructive.len(), 1);
    assert_eq!(destructive[0]["id"], "terminate_sessions");
    assert_eq!(destructive[0]["last_resort"], true);
    assert!(destructive[0]["notes"]
        .to_string()
        .contains("this includes the migration itself"));
    let md = runbook(&["--db", &url, "-n", "coder"]);
    assert!(md.contains("## 1. Wait: a migration is running"), "{md}");
    let script = runbook(&["--db", &url, "-n", "coder", "--as", "script"]);
    assert_bash_parses(&script);
    let (calls, code, err) = run_script(&script, None);
    assert_eq!(code, 0, "{err}");
    assert!(calls.iter().all(|c| is_read_only(c)), "{calls:#?}");
    coder.run("ROLLBACK;");
}

// ---- the script's sql(): a search_path URL parameter goes to PGOPTIONS ----

/// The generated script's functions (confirm, step, say, sql): everything before its first
/// step.
fn script_functions() -> String {
    let script = runbook(&["--version", "168", "--dirty", "--as", "script"]);
    let start = script.find("set -euo pipefail\n").unwrap();
    let end = script.find("\nstep '").unwrap();
    script[start..end].to_string()
}

/// Runs the script's `sql "$statement"` with `url` in CODER_PG_CONNECTION_URL, `bin` first
/// on PATH, and `pgoptions` (if any) already in the environment.
fn run_sql_function(
    functions: &str,
    bin: &Path,
    url: &str,
    pgoptions: Option<&str>,
    statement: &str,
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sql.sh");
    std::fs::write(&path, format!("{functions}\nsql \"$1\"\n")).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(&path)
        .arg(statement)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CODER_PG_CONNECTION_URL", url)
        .stdin(Stdio::null());
    if let Some(o) = pgoptions {
        cmd.env("PGOPTIONS", o);
    }
    cmd.output().unwrap()
}

/// psql refuses `search_path` in a URL (Coder's driver takes it), which stopped the script at
/// its first SQL step under `set -e`. sql() takes the parameter out of the URL, keeps the rest
/// valid, and passes it as PGOPTIONS.
#[test]
fn sql_moves_search_path_from_the_url_into_pgoptions() {
    let functions = script_functions();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("psql.txt");
    let fake = dir.path().join("psql");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n{{ printf 'PGOPTIONS=%s\\n' \"${{PGOPTIONS-<unset>}}\"; for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done; }} > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base = "postgres://u:p%40ss@h:5432/db";
    let cases: Vec<(String, Option<&str>, String, &str)> = vec![
        (
            format!("{base}?search_path=coder&sslmode=disable"),
            None,
            format!("{base}?sslmode=disable"),
            "-c search_path=coder",
        ),
        (
            format!("{base}?sslmode=disable&search_path=coder"),
            None,
            format!("{base}?sslmode=disable"),
            "-c search_path=coder",
        ),
        (
            format!("{base}?search_path=coder"),
            None,
            base.to_string(),
            "-c search_path=coder",
        ),
        (
            format!("{base}?sslmode=require&search_path=coder%2C%20public&connect_timeout=5"),
            Some("-c work_mem=4MB"),
            format!("{base}?sslmode=require&connect_timeout=5"),
            "-c work_mem=4MB -c search_path=coder,\\ public",
        ),
        (
            format!("{base}?sslmode=disable"),
            None,
            format!("{base}?sslmode=disable"),
            "<unset>",
        ),
        (base.to_string(), None, base.to_string(), "<unset>"),
    ];
    let statement = "SELECT * FROM coder.schema_migrations;";
    for (url, pgoptions, want_url, want_options) in cases {
        let _ = std::fs::remove_file(&record);
        let out = run_sql_function(&functions, dir.path(), &url, pgoptions, statement);
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = std::fs::read_to_string(&record).unwrap();
        assert_eq!(
            got,
            format!(
                "PGOPTIONS={want_options}\n[{want_url}]\n[-v]\n[ON_ERROR_STOP=1]\n[-c]\n[{statement}]\n"
            ),
            "{url}"
        );
    }
}

/// The same against the real server with the real psql: an unqualified statement reads
/// Coder's non-public schema, wherever the parameter sits in the URL; psql itself refuses
/// the URL as Coder writes it (why sql() exists). Then the whole generated script for that
/// database, stdin closed, runs to its end (before the fix it stopped at its first SQL step).
#[test]
fn sql_reads_a_non_public_schema_with_the_real_psql() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some("coder"), (168, false));
    let base = c.url(&role, PW, &db);
    let direct = Command::new("psql")
        .arg(format!("{base}?search_path=coder"))
        .args(["-Atc", "SELECT 1"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        !direct.status.success() && String::from_utf8_lossy(&direct.stderr).contains("search_path"),
        "psql accepts search_path in a URL now? {}",
        String::from_utf8_lossy(&direct.stderr)
    );
    let functions = script_functions();
    let nothing = tempfile::tempdir().unwrap();
    for url in [
        format!("{base}?search_path=coder&sslmode=disable"),
        format!("{base}?sslmode=disable&search_path=coder"),
        format!("{base}?search_path=coder"),
    ] {
        let out = run_sql_function(
            &functions,
            nothing.path(),
            &url,
            None,
            "SELECT current_schema() || ' ' || version FROM schema_migrations",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("coder 168"), "{url}: {stdout}");
        assert!(!stdout.contains(PW));
    }

    // The whole script, generated from that database, with stdin closed: only read-only
    // steps run (kubectl is a fake, psql the real one), and it reaches its end.
    let url = format!("{base}?search_path=coder&sslmode=disable");
    let script = runbook(&["--db", &url, "-n", "coder", "--as", "script"]);
    let tools = tempfile::tempdir().unwrap();
    let log = fake_tools(tools.path());
    std::fs::remove_file(tools.path().join("psql")).unwrap();
    let path = tools.path().join("runbook.sh");
    std::fs::write(&path, &script).unwrap();
    let out = Command::new("bash")
        .arg(&path)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                tools.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CODER_PG_CONNECTION_URL", &url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("done: every step was shown"), "{stderr}");
    assert!(
        stdout.contains("168"),
        "the schema_migrations step read Coder's schema: {stdout}"
    );
    assert!(std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .all(is_read_only));
    assert_eq!(
        c.sql(&db, "SELECT version, dirty FROM coder.schema_migrations"),
        "168|f"
    );
}
