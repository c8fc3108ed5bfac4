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
