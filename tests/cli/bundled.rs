//! The bundled index: it equals the verified reference tables row by row, the import is
//! reproducible, and the real irregular releases are handled right.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{migtag, run};

fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn json(args: &[&str]) -> (Value, i32) {
    let (out, err, code) = run(migtag().args(args).args(["--format", "json"]));
    (
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")),
        code,
    )
}

#[test]
fn import_reproduces_the_committed_index_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("index.json");
    // The date the facts were gathered is an input of the import (a refresh sets it); the
    // rest of the bytes must follow from the tables.
    let committed = migtag::core::index::Index::from_json(
        &std::fs::read_to_string(repo_file("data/coder-index.json")).unwrap(),
    )
    .unwrap();
    for _ in 0..2 {
        let (_, err, code) = run(migtag().current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "index",
            "import",
            "--generated-at",
            &committed.provenance.generated_at,
            "--out",
            out.to_str().unwrap(),
        ]));
        assert_eq!(code, 0, "{err}");
        let generated = std::fs::read_to_string(&out).unwrap();
        let committed = std::fs::read_to_string(repo_file("data/coder-index.json")).unwrap();
        assert!(
            generated == committed,
            "data/coder-index.json differs from `migtag index import`; rerun it"
        );
    }
}

#[test]
fn import_without_a_date_keeps_the_one_of_the_file_it_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coder-index.json");
    let committed = std::fs::read_to_string(repo_file("data/coder-index.json")).unwrap();
    std::fs::write(&out, &committed).unwrap();
    let import = |out: &std::path::Path| {
        run(migtag().current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "index",
            "import",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    let (_, err, code) = import(&out);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&out).unwrap() == committed);
    // No file and no --generated-at: a usage error, nothing written.
    let fresh = dir.path().join("new.json");
    let (_, err, code) = import(&fresh);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--generated-at"), "{err}");
    assert!(!fresh.exists());
}

#[test]
fn bundled_index_equals_the_reference_tables_row_by_row() {
    let index = migtag::bundled::load().unwrap();
    let tags = std::fs::read_to_string(repo_file("data/reference/coder-tags.tsv")).unwrap();
    let mut rows = 0;
    for line in tags.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let r = index
            .release(c[0])
            .unwrap_or_else(|| panic!("{} missing", c[0]));
        assert_eq!(r.commit.as_deref(), Some(c[1]), "{}", c[0]);
        assert_eq!(r.date.as_deref(), Some(c[2]), "{}", c[0]);
        assert_eq!(r.max_migration.to_string(), c[3], "{}", c[0]);
        assert_eq!(r.migrations.to_string(), c[4], "{}", c[0]);
        assert_eq!(r.prerelease, c[5] == "yes", "{}", c[0]);
        rows += 1;
    }
    // 369 verified tags; a refresh (`index export`) may only add to them.
    assert!(rows >= 369, "{rows}");
    assert_eq!(index.releases().len(), rows);
    let names = std::fs::read_to_string(repo_file("data/reference/coder-migrations.tsv")).unwrap();
    let expected: BTreeMap<u64, String> = names
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].parse().unwrap(), c[1].to_string())
        })
        .collect();
    assert_eq!(index.names(), &expected);
    assert!(expected.len() >= 556, "{}", expected.len());
    assert!(
        !index.provenance.complete,
        "the bundled index must say it is partial"
    );
    assert_eq!(index.provenance.source, "bundled");
}

#[test]
fn reference_copies_match_shared_when_present() {
    // data/reference is a copy of ../shared/reference; when the shared folder is beside the
    // checkout (as on the developers' machines and CI), the copies must not drift.
    let shared = repo_file("../shared/reference");
    if !shared.exists() {
        return;
    }
    for name in ["coder-tags.tsv", "coder-migrations.tsv"] {
        let a = std::fs::read(shared.join(name)).unwrap();
        let b = std::fs::read(repo_file(&format!("data/reference/{name}"))).unwrap();
        assert!(
            a == b,
            "data/reference/{name} differs from ../shared/reference/{name}"
        );
    }
}

#[test]
fn embedded_index_is_small() {
    let size = migtag::bundled::embedded_size();
    assert!(size < 64 * 1024, "embedded index is {size} bytes");
}

#[test]
fn version_412_prefers_the_oldest_line_and_lists_v2_31_0() {
    let (doc, code) = json(&["check", "--version", "412"]);
    assert_eq!(code, 0);
    assert_eq!(doc["recommended"]["tag"], "v2.30.9");
    let alts: Vec<&str> = doc["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tag"].as_str().unwrap())
        .collect();
    assert!(alts.contains(&"v2.31.0"), "{alts:?}");
}

#[test]
fn version_316_only_v2_21_1_is_exact_and_later_2_21_patches_cannot_start() {
    let (doc, code) = json(&["check", "--version", "316"]);
    assert_eq!(code, 0);
    assert_eq!(doc["recommended"]["tag"], "v2.21.1");
    let cannot: Vec<&str> = doc["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["relation"] == "cannot_start")
        .map(|a| a["tag"].as_str().unwrap())
        .collect();
    assert_eq!(cannot, ["v2.21.2", "v2.21.3"]);
    let exact: Vec<&Value> = doc["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["relation"] == "exact")
        .collect();
    assert!(exact.is_empty());
    let (out, _, _) = run(migtag().args(["check", "--version", "316"]));
    assert!(out.contains("v2.21.2, v2.21.3 cannot start on it"), "{out}");
}

#[test]
fn gate_316_to_v2_22_0_is_unsafe_naming_the_skipped_migrations() {
    for extra in [&[][..], &["--deployed", "v2.21.1"][..]] {
        let mut args = vec!["gate", "--version", "316", "--target", "v2.22.0"];
        args.extend_from_slice(extra);
        let (doc, code) = json(&args);
        assert_eq!(code, 3, "{args:?}");
        assert_eq!(doc["safe"], false);
        let skipped: Vec<u64> = doc["skipped"][0]["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["version"].as_u64().unwrap())
            .collect();
        assert_eq!(skipped, [311, 314, 315]);
        assert_eq!(doc["skipped"][0]["assumes"], serde_json::json!(["v2.21.1"]));
        let reason = doc["reasons"][0].as_str().unwrap();
        assert!(
            reason.contains("000314 prebuilds") && reason.contains("000315 preset_prebuilds"),
            "{reason}"
        );
    }
}

#[test]
fn gate_313_from_v2_21_3_warns_about_311_unless_strict() {
    let (doc, code) = json(&[
        "gate",
        "--version",
        "313",
        "--target",
        "v2.22.0",
        "--deployed",
        "v2.21.3",
    ]);
    assert_eq!(code, 0);
    assert_eq!(doc["safe"], true);
    assert!(doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("000311")));
    assert_eq!(doc["pending"].as_array().unwrap().len(), 13);
    assert_eq!(
        doc["pending"][0],
        serde_json::json!({"version": 314, "name": "prebuilds"})
    );
    let (doc, code) = json(&[
        "gate",
        "--version",
        "313",
        "--target",
        "v2.22.0",
        "--deployed",
        "v2.21.3",
        "--strict",
    ]);
    assert_eq!(code, 3);
    assert!(doc["reasons"][0].as_str().unwrap().contains("000311"));
}

#[test]
fn version_483_never_recommends_the_older_release_candidate() {
    for extra in [&[][..], &["--include-prereleases"][..]] {
        let mut args = vec!["check", "--version", "483"];
        args.extend_from_slice(extra);
        let (doc, code) = json(&args);
        assert_eq!(code, 0);
        assert_eq!(doc["recommended"]["tag"], "v2.33.11");
        let rc = doc["alternatives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["tag"] == "v2.34.0-rc.0");
        if extra.is_empty() {
            assert!(rc.is_none(), "pre-releases are ignored unless asked");
        } else {
            assert_eq!(rc.unwrap()["relation"], "cannot_start");
        }
    }
    let (doc, code) = json(&["gate", "--version", "483", "--target", "v2.34.0-rc.0"]);
    assert_eq!(code, 3);
    assert_eq!(doc["safe"], false);
}

#[test]
fn dirty_316_names_each_candidate_cleanup() {
    let (doc, code) = json(&["check", "--version", "316", "--dirty"]);
    assert_eq!(code, 4);
    let cleanups = doc["dirty"]["cleanups"].as_array().unwrap();
    assert_eq!(cleanups.len(), 2);
    assert_eq!(cleanups[0]["previous"]["version"], 313);
    assert_eq!(cleanups[0]["assumes"], serde_json::json!(["v2.21.1"]));
    assert_eq!(cleanups[1]["previous"]["version"], 315);
    let (doc, _) = json(&[
        "check",
        "--version",
        "316",
        "--dirty",
        "--deployed",
        "v2.22.0",
    ]);
    assert_eq!(doc["dirty"]["cleanups"].as_array().unwrap().len(), 1);
    assert_eq!(doc["dirty"]["cleanups"][0]["previous"]["version"], 315);
}

#[test]
fn gate_lists_pending_migrations_with_names() {
    let (out, _, code) = run(migtag().args(["gate", "--version", "362", "--target", "v2.27.0"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pending migrations (14):"), "{out}");
    assert!(
        out.contains("000371 api_key_scopes_array_allow_list"),
        "{out}"
    );
}

#[test]
fn releases_table_is_newest_first_and_filters_by_line() {
    let (out, _, code) = run(migtag().args(["releases", "--line", "2.21"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("releases_line_2_21", out);
    let (doc, _) = json(&["releases"]);
    let tags: Vec<&str> = doc["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags[0], "v2.36.0");
    assert_eq!(tags.last(), Some(&"v0.1.0"));
    assert!(!tags.iter().any(|t| t.contains("-rc")));
    let (_, err, code) = run(migtag().args(["releases", "--line", "two"]));
    assert_eq!(code, 12, "{err}");
    let (_, _, code) = run(migtag().args(["releases", "--line", "9.99"]));
    assert_eq!(code, 5);
}

#[test]
fn index_show_says_partial_and_where_facts_come_from() {
    let (out, _, code) = run(migtag().args(["index", "show"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("index_show_bundled", out);
}
