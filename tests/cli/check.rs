//! `migtag check` on the bundled index: acceptance cases, every verdict in human and JSON
//! form (insta snapshots), and the irregular real releases.

use serde_json::Value;

use crate::common::{fixture, migtag, run};

fn check_json(args: &[&str]) -> (Value, i32) {
    let mut cmd = migtag();
    cmd.arg("check").args(args).args(["--format", "json"]);
    let (out, err, code) = run(&mut cmd);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (doc, code)
}

fn check_human(args: &[&str]) -> (String, i32) {
    let (out, _, code) = run(migtag().arg("check").args(args));
    (out, code)
}

#[test]
fn version_165_recommends_v2_3_1() {
    let (doc, code) = check_json(&["--version", "165"]);
    assert_eq!(code, 0);
    assert_eq!(doc["verdict"], "exact");
    assert_eq!(doc["recommended"]["image"], "ghcr.io/coder/coder:v2.3.1");
    assert_eq!(doc["recommended"]["tag"], "v2.3.1");
    assert_eq!(doc["recommended"]["max_migration"], 165);
    assert_eq!(
        doc["state"],
        serde_json::json!({"kind": "clean", "version": 165, "dirty": false})
    );
    assert_eq!(doc["index"]["source"], "bundled");
    assert_eq!(doc["index"]["complete"], false);
}

#[test]
fn dirty_168_needs_a_human_and_names_the_cleanup() {
    let (out, code) = check_human(&["--version", "168", "--dirty"]);
    assert_eq!(code, 4);
    assert!(
        out.starts_with("needs a human: migration 000168 pg_coord_tailnet_v2_api"),
        "{out}"
    );
    assert!(out.contains(
        "UPDATE schema_migrations SET version = 167, dirty = false WHERE version = 168 AND dirty;"
    ));
    assert!(out.contains("then run: ghcr.io/coder/coder:v2.4.0"));
    let (doc, code) = check_json(&["--version", "168", "--dirty"]);
    assert_eq!(code, 4);
    assert_eq!(doc["verdict"], "dirty");
    assert_eq!(doc["dirty"]["cleanups"][0]["previous"]["version"], 167);
    assert_eq!(doc["dirty"]["run_after_cleanup"]["tag"], "v2.4.0");
    assert_eq!(
        doc["dirty"]["cleanups"][0]["restore_image"]["tag"],
        "v2.3.3"
    );
}

#[test]
fn version_beyond_the_index_exits_5() {
    let (doc, code) = check_json(&["--version", "100000"]);
    assert_eq!(code, 5);
    assert_eq!(doc["verdict"], "ahead_of_index");
    assert_eq!(doc["recommended"], Value::Null);
}

#[test]
fn every_verdict_human_and_json_snapshots() {
    let cases: &[(&str, &[&str])] = &[
        ("exact_165", &["--version", "165"]),
        ("exact_412_oldest_line", &["--version", "412"]),
        ("upgrade_needed_311", &["--version", "311"]),
        ("ahead_100000", &["--version", "100000"]),
        ("unknown_0", &["--version", "0"]),
        ("dirty_168", &["--version", "168", "--dirty"]),
        ("dirty_316_two_writers", &["--version", "316", "--dirty"]),
        ("exact_316_irregular", &["--version", "316"]),
        (
            "deployed_not_exact",
            &["--version", "165", "--deployed", "v2.3.2"],
        ),
    ];
    for (name, args) in cases {
        let (human, code) = check_human(args);
        let (doc, json_code) = check_json(args);
        assert_eq!(code, json_code, "{name}: human and JSON exit codes differ");
        insta::assert_snapshot!(format!("check_{name}_human"), human);
        insta::assert_json_snapshot!(format!("check_{name}_json"), doc);
    }
}

#[test]
fn psql_forms_feed_check() {
    let (doc, code) = check_json(&[
        "--psql",
        fixture("psql/aligned-dirty-68.txt").to_str().unwrap(),
    ]);
    assert_eq!(code, 4);
    assert_eq!(doc["state"]["version"], 68);
    assert_eq!(
        doc["dirty"]["cleanups"][0]["sql"],
        "UPDATE schema_migrations SET version = 67, dirty = false WHERE version = 68 AND dirty;"
    );
    let (doc, code) = check_json(&[
        "--psql",
        fixture("psql/expanded-clean-165.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        (code, doc["recommended"]["tag"].as_str()),
        (0, Some("v2.3.1"))
    );
    let (doc, code) = check_json(&["--psql", fixture("psql/zero-rows.txt").to_str().unwrap()]);
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("fresh")));
    // From stdin, unaligned.
    let (out, _, code) = run(migtag()
        .args(["check", "--psql", "-", "--format", "json"])
        .write_stdin("version|dirty\n412|f\n(1 row)\n"));
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["recommended"]["tag"], "v2.30.9");
}

#[test]
fn bad_psql_output_is_exit_12_saying_what_was_expected() {
    let (out, err, code) = run(migtag()
        .args(["check", "--psql", "-"])
        .write_stdin("ERROR: syntax error at or near \"SELEC\"\n"));
    assert_eq!(code, 12);
    assert!(out.is_empty());
    assert!(
        err.contains("psql reported an error") && err.contains("SELECT * FROM schema_migrations;"),
        "{err}"
    );
    let (_, err, code) = run(migtag().args(["check", "--psql", "/nonexistent/file"]));
    assert_eq!(code, 12);
    assert!(err.contains("cannot read /nonexistent/file"), "{err}");
}

#[test]
fn json_errors_are_one_document_on_stdout() {
    let (out, err, code) = run(migtag()
        .args(["check", "--psql", "-", "--format", "json"])
        .write_stdin("nonsense\n"));
    assert_eq!(code, 12);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "invalid_input");
    assert_eq!(doc["error"]["exit_code"], 12);
    assert!(err.starts_with("error: "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["check"],
        vec!["check", "--dirty"],
        vec!["check", "--version", "5", "--psql", "-"],
        vec!["check", "--version", "abc"],
        vec!["frobnicate"],
    ] {
        let (_, err, code) = run(migtag().args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.is_empty());
    }
}

#[test]
fn bad_tags_and_index_files_are_exit_12() {
    let (_, err, code) = run(migtag().args(["check", "--version", "5", "--deployed", "latest"]));
    assert_eq!(code, 12);
    assert!(
        err.contains("--deployed: tag `latest` is not a release tag"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.json");
    let full = std::fs::read_to_string(fixture("indexes/lines.json")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let (_, err, code) = run(migtag().args([
        "--index",
        truncated.to_str().unwrap(),
        "check",
        "--version",
        "5",
    ]));
    assert_eq!(code, 12);
    assert!(err.contains("ends early"), "{err}");
    let (_, err, code) =
        run(migtag().args(["--index", "/nonexistent.json", "check", "--version", "5"]));
    assert_eq!(code, 12);
    assert!(
        err.contains("cannot read the index file /nonexistent.json"),
        "{err}"
    );
}

#[test]
fn color_follows_flag_and_no_color() {
    let (out, _, _) = run(migtag().args(["--color", "always", "check", "--version", "165"]));
    assert!(out.contains("\u{1b}["), "--color always colours");
    let (out, _, _) = run(migtag().args(["--color", "never", "check", "--version", "165"]));
    assert!(!out.contains("\u{1b}["));
    // auto: not a terminal here, and NO_COLOR set: plain.
    let (out, _, _) = run(migtag()
        .env("NO_COLOR", "1")
        .args(["check", "--version", "165"]));
    assert!(!out.contains("\u{1b}["));
}

#[test]
fn synthetic_index_file_is_used_and_named() {
    let (doc, code) = check_json(&["--version", "12"]);
    assert_eq!(code, 0);
    assert_eq!(doc["index"]["source"], "bundled");
    let path = fixture("indexes/lines.json");
    let (out, _, code) = run(migtag().args([
        "--index",
        path.to_str().unwrap(),
        "--format",
        "json",
        "check",
        "--version",
        "12",
    ]));
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["index"]["source"], "fixture");
    assert_eq!(
        doc["recommended"]["image"],
        "registry.example.com/app:v1.0.3"
    );
}
