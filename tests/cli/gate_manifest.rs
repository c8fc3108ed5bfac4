//! `migtag gate --manifest`: the Deployment checks of Coder's upgrade-troubleshooting guide
//! (replicas, strategy, probes, floating tags) as warnings, or failures with `--strict`, in
//! the JSON, the human text, the GitHub Actions annotations and the job summary.

use serde_json::Value;

use crate::common::{fixture, migtag, run};

fn manifest(name: &str) -> String {
    fixture(&format!("manifests/{name}")).display().to_string()
}

fn gate_json(args: &[&str]) -> (Value, String, i32) {
    let (out, err, code) = run(migtag().arg("gate").args(args).args(["--format", "json"]));
    let doc: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}, stderr {err:?}"));
    (doc, err, code)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// 362 -> v2.27.0 applies 14 migrations; the HA fixture has 3 replicas, a rolling update
/// that keeps every old pod, and a liveness probe of about 40 s.
#[test]
fn findings_warn_by_default_and_fail_with_strict() {
    let m = manifest("coder-sidecars.yaml");
    let args = ["--version", "362", "--target", "v2.27.0", "--manifest", &m];
    let (doc, _, code) = gate_json(&args);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["safe"], true);
    assert!(strings(&doc["reasons"]).is_empty());
    let warnings = strings(&doc["warnings"]);
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "multiple_replicas",
            "rolling_update_keeps_old_pods",
            "probe_shorter_than_migration"
        ]
    );
    // The Deployment's findings, after the index's own warning.
    let warnings: Vec<String> = warnings
        .into_iter()
        .filter(|w| w.starts_with("Deployment "))
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(warnings[0].starts_with("Deployment coder: 3 replicas"));
    assert!(warnings[2].contains("livenessProbe"));
    assert_eq!(doc["deployment"]["replicas"], 3);
    assert_eq!(doc["deployment"]["namespace"], "coder-prod");
    assert_eq!(
        doc["findings"][0]["fix"][0]["command"]["text"],
        "kubectl -n coder-prod scale deployment/coder --replicas=1"
    );

    let mut strict = args.to_vec();
    strict.push("--strict");
    let (doc, _, code) = gate_json(&strict);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["safe"], false);
    assert_eq!(doc["verdict"], "unsafe");
    let reasons = strings(&doc["reasons"]);
    assert_eq!(reasons.len(), 3);
    assert_eq!(reasons, warnings, "the same texts, now as failures");
    // Only the index's own warning stays a warning.
    assert!(strings(&doc["warnings"])
        .iter()
        .all(|w| !w.starts_with("Deployment ")));

    let (out, _, code) = run(migtag()
        .arg("gate")
        .args(&strict)
        .args(["--color", "never"]));
    assert_eq!(code, 3);
    assert!(
        out.starts_with("unsafe: Deployment coder: 3 replicas"),
        "{out}"
    );
    assert!(
        out.contains("fix the Deployment first (Coder's upgrade-troubleshooting guide):"),
        "{out}"
    );
    assert!(
        out.contains(
            "    kubectl -n coder-prod patch deployment/coder --type strategic -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"livenessProbe\":{\"failureThreshold\":90,"
        ),
        "{out}"
    );
}

/// Nothing migrates (the target stops exactly at the database version): the findings only
/// matter for later upgrades, so they stay warnings even under --strict.
#[test]
fn nothing_to_migrate_keeps_findings_as_warnings_even_when_strict() {
    let m = manifest("coder-sidecars.yaml");
    let (doc, _, code) = gate_json(&[
        "--version",
        "362",
        "--target",
        "v2.26.3",
        "--manifest",
        &m,
        "--strict",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["pending"].as_array().unwrap().len(), 0);
    let warnings: Vec<String> = strings(&doc["warnings"])
        .into_iter()
        .filter(|w| w.starts_with("Deployment "))
        .collect();
    assert_eq!(warnings.len(), 3);
    assert!(warnings.iter().all(
        |w| w.ends_with("(nothing migrates in this change, so it matters only for later upgrades)")
    ));
    assert!(doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "info"));
}

/// The `latest` + IfNotPresent trap (Coder issue #4606) from `helm template` output, read
/// from stdin.
#[test]
fn floating_latest_tag_from_stdin() {
    let text = std::fs::read_to_string(manifest("coder-helm-template.yaml")).unwrap();
    let (out, err, code) = run(migtag()
        .args([
            "gate",
            "--version",
            "168",
            "--target",
            "v2.5.0",
            "--manifest",
            "-",
            "--strict",
            "--format",
            "json",
        ])
        .write_stdin(text));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(code, 3, "{doc:#}");
    assert!(
        strings(&doc["reasons"])
            .iter()
            .any(|r| r.contains("floats (`latest` or no tag) with imagePullPolicy IfNotPresent")),
        "{doc:#}"
    );
}

/// A Deployment that is fine passes --strict with no finding.
#[test]
fn a_deployment_without_traps_passes_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.yaml");
    std::fs::write(
        &path,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coder, namespace: coder}\nspec:\n  replicas: 1\n  strategy: {type: Recreate}\n  selector: {matchLabels: {app: coder}}\n  template:\n    metadata: {labels: {app: coder}}\n    spec:\n      containers:\n        - name: coder\n          image: ghcr.io/coder/coder:v2.4.0\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 90}\n",
    )
    .unwrap();
    let p = path.display().to_string();
    let (doc, _, code) = gate_json(&[
        "--version",
        "168",
        "--target",
        "v2.5.0",
        "--manifest",
        &p,
        "--strict",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(doc.get("findings").is_none(), "{doc:#}");
    assert_eq!(doc["deployment"]["replicas"], 1);
}

#[test]
fn github_actions_annotations_and_summary_carry_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let m = manifest("coder-sidecars.yaml");
    for (strict, want_code, level) in [(false, 0, "warning"), (true, 3, "error")] {
        let _ = std::fs::remove_file(&summary);
        let mut cmd = migtag();
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args([
                "gate",
                "--version",
                "362",
                "--target",
                "v2.27.0",
                "--manifest",
                &m,
                "--format",
                "json",
            ]);
        if strict {
            cmd.arg("--strict");
        }
        let (out, err, code) = run(&mut cmd);
        assert_eq!(code, want_code, "{err}");
        serde_json::from_str::<Value>(&out).expect("stdout stays one JSON document");
        let annotations: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with(&format!("::{level} title=migtag gate::Deployment coder: ")))
            .collect();
        assert_eq!(annotations.len(), 3, "{err}");
        let md = std::fs::read_to_string(&summary).unwrap();
        let mark = if strict {
            "- ❌ Deployment coder: 3 replicas"
        } else {
            "- ⚠️ Deployment coder: 3 replicas"
        };
        assert!(md.contains(mark), "{md}");
        assert!(
            md.contains("<summary>fix the Deployment first</summary>"),
            "{md}"
        );
        assert!(
            md.contains("kubectl -n coder-prod scale deployment/coder --replicas=1"),
            "{md}"
        );
    }
}

#[test]
fn hostile_names_and_bad_manifests_exit_12_before_any_output() {
    let m = manifest("coder-sidecars.yaml");
    for args in [
        vec!["-n", "prod; rm -rf /"],
        vec!["--deployment", "$(id)"],
        vec!["--container", "Coder"],
    ] {
        let (out, err, code) = run(migtag()
            .args([
                "gate",
                "--version",
                "362",
                "--target",
                "v2.27.0",
                "--manifest",
                &m,
            ])
            .args(&args));
        assert_eq!(code, 12, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
    }
    let (_, err, code) = run(migtag().args([
        "gate",
        "--version",
        "362",
        "--target",
        "v2.27.0",
        "--manifest",
        "/nonexistent/coder.yaml",
    ]));
    assert_eq!(code, 12, "{err}");
    let (_, err, code) = run(migtag().args([
        "gate",
        "--psql",
        "-",
        "--target",
        "v2.27.0",
        "--manifest",
        "-",
    ]));
    assert_eq!(code, 2, "{err}");
}
