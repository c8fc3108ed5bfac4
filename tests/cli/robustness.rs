//! Bad days and odd inputs: usage errors as JSON, closed pipes, masked passwords, bounds on
//! versions and index contents, and answers that must not be falsely reassuring.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{fixture, migtag, run};

#[test]
fn usage_errors_are_a_json_document_with_format_json() {
    for args in [
        vec!["--format", "json", "check", "--version", "abc"],
        vec!["--format=json", "gate", "--version", "5"],
        vec!["check", "--format", "json", "--version", "5", "--psql", "-"],
    ] {
        let (out, err, code) = run(migtag().args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_eq!(doc["error"]["kind"], "usage");
        assert_eq!(doc["error"]["exit_code"], 2);
        assert!(err.starts_with("error: "), "{err}");
    }
    // Without --format json, stdout stays empty.
    let (out, _, code) = run(migtag().args(["check", "--version", "abc"]));
    assert_eq!((code, out.as_str()), (2, ""));
}

#[test]
fn a_mistyped_connection_string_never_echoes_its_password() {
    let sentinel = "S3ntinel-Pw-4242";
    for args in [
        vec![
            "check".to_string(),
            format!("postgres://coder:{sentinel}@db:5432/coder"),
        ],
        vec![
            "--format".into(),
            "json".into(),
            "gate".into(),
            format!("host=db password={sentinel}"),
        ],
    ] {
        let (out, err, code) = run(migtag().args(&args));
        assert_eq!(code, 2);
        assert!(
            !out.contains(sentinel) && !err.contains(sentinel),
            "{out}{err}"
        );
        assert!(err.contains("***"), "{err}");
    }
}

#[test]
fn a_closed_pipe_keeps_the_decision_exit_code() {
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    for (args, expected) in [
        (vec!["--format", "json", "releases"], 0),
        (vec!["check", "--version", "168", "--dirty"], 4),
        (vec!["completions", "bash"], 0),
    ] {
        let mut child = Command::new(&bin)
            .args(&args)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end at once, as `| head -c 0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(expected), "{args:?}: {err}");
        assert!(!err.contains("internal error"), "{args:?}: {err}");
    }
}

#[test]
fn versions_are_bounded_like_the_bigint_column() {
    let (_, err, code) = run(migtag().args(["check", "--version", "-1"]));
    assert_eq!(code, 2);
    assert!(err.contains("never negative"), "{err}");
    let (_, err, code) = run(migtag().args(["check", "--version", "18446744073709551615"]));
    assert_eq!(code, 2);
    assert!(err.contains("bigint"), "{err}");
    let (_, _, code) = run(migtag().args(["check", "--version", "9223372036854775807"]));
    assert_eq!(code, 5);
}

#[test]
fn corrupt_index_contents_are_refused_before_use() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("indexes/partial.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut huge = base.clone();
    huge["releases"][1]["migrations"] = "1-99999999999999".into();
    huge["releases"][1]["max_migration"] = 99_999_999_999_999u64.into();
    let mut image = base.clone();
    image["project"]["image"] = "registry.example.com/app$(touch /tmp/pwned)".into();
    for (name, doc, expected) in [
        ("huge", huge, "six digits"),
        ("image", image, "project.image"),
    ] {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        let (out, err, code) =
            run(migtag().args(["--index", path.to_str().unwrap(), "check", "--version", "5"]));
        assert_eq!(code, 12, "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(out.is_empty());
    }
}

#[test]
fn gate_with_a_deployed_tag_that_did_not_write_v_keeps_the_skip_check() {
    // v2.22.1 contains 316 but stops at 326: a clean 316 cannot come from it, so the gate
    // must still assume v2.21.1 wrote it and refuse (311, 314, 315 would be skipped).
    let (out, _, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "316",
        "--target",
        "v2.23.0",
        "--deployed",
        "v2.22.1",
    ]));
    assert_eq!(code, 3, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["skipped"][0]["assumes"], serde_json::json!(["v2.21.1"]));
    assert!(doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("did not write it")));
    let (out, _, _) = run(migtag().args([
        "--format",
        "json",
        "check",
        "--version",
        "316",
        "--deployed",
        "v2.22.0",
    ]));
    let doc: Value = serde_json::from_str(&out).unwrap();
    let alt = doc["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tag"] == "v2.22.1")
        .unwrap();
    assert_eq!(alt["skips"][0]["migrations"].as_array().unwrap().len(), 3);
}

#[test]
fn gate_on_a_database_beyond_the_index_is_exit_5_with_the_refresh_hint() {
    let (out, _, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "100000",
        "--target",
        "v2.36.0",
    ]));
    assert_eq!(code, 5);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "ahead_of_index");
    assert!(doc["reasons"][0].as_str().unwrap().contains("index update"));
    let (out, _, code) = run(migtag().args(["gate", "--version", "0", "--target", "v2.3.0"]));
    assert_eq!(code, 3);
    assert!(out.contains("below the first migration"), "{out}");
}

#[test]
fn max_pending_does_not_fail_a_fresh_database() {
    let (out, _, code) = run(migtag()
        .args([
            "--format",
            "json",
            "gate",
            "--psql",
            "-",
            "--target",
            "v2.22.0",
            "--max-pending",
            "60",
        ])
        .write_stdin(" version | dirty\n---------+-------\n(0 rows)\n"));
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(doc["warnings"][0].as_str().unwrap().contains("fresh"));
    let (_, _, code) = run(migtag().args([
        "gate",
        "--version",
        "165",
        "--target",
        "v2.22.0",
        "--max-pending",
        "60",
    ]));
    assert_eq!(code, 3);
}

#[test]
fn a_missing_table_paste_is_fresh_with_a_warning_about_schemas() {
    let (out, _, code) = run(migtag()
        .args(["--format", "json", "check", "--psql", "-"])
        .write_stdin("ERROR:  relation \"schema_migrations\" does not exist\nLINE 1: SELECT * FROM schema_migrations;\n"));
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "fresh");
    assert!(doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("search_path")));
}
