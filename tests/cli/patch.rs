//! `migtag patch`: every `--to` form applied by the real `kubectl` (`--local`, no cluster)
//! to realistic manifests, asserting that the image changed in the right container and
//! nothing else; the findings' fixes applied the same way; validation and exit codes;
//! snapshots of the human and JSON output.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{fixture, migtag, run};

const FIXTURES: &[&str] = &[
    "coder-helm.yaml",
    "coder-sidecars.yaml",
    "coder-digest.json",
    "coder-list.yaml",
    "coder-helm-template.yaml",
];

fn manifest(name: &str) -> PathBuf {
    fixture(&format!("manifests/{name}"))
}

/// Runs migtag with `--format json` and returns the document and the exit code. Offline:
/// the digest-pinned fixture would otherwise ask ghcr.io for the new tag's digest
/// (tests/cli/registry.rs covers that against a real registry).
fn patch_json(args: &[&str]) -> (Value, i32) {
    let (out, err, code) =
        run(migtag()
            .arg("patch")
            .args(args)
            .args(["--format", "json", "--offline"]));
    let doc: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{e}: stdout {out:?}, stderr {err:?}"));
    (doc, code)
}

/// The Deployment `name` out of a fixture (single object, List, or many documents), read
/// independently of migtag: the test's own idea of which object the patch must change.
fn deployment_in(path: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut found = Vec::new();
    let mut visit = |v: Value| {
        let items = match v.get("kind").and_then(Value::as_str) {
            Some("List") => v["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![v],
        };
        for item in items {
            if item["kind"] == "Deployment" && item["metadata"]["name"] == name {
                found.push(item);
            }
        }
    };
    if path.extension().is_some_and(|e| e == "json") {
        visit(serde_json::from_str(&text).unwrap());
    } else {
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                visit(v);
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "{} has one Deployment {name}",
        path.display()
    );
    found.pop().unwrap()
}

fn kubectl(args: &[String]) -> Value {
    let out = Command::new("kubectl")
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).unwrap()
    } else {
        serde_yaml_ng::from_str(&text).unwrap()
    }
}

/// The object as kubectl prints it after a no-op patch: the baseline to diff against, so that
/// kubectl's own normalisation (dropped nulls) never counts as a change.
fn normalised(file: &Path) -> Value {
    kubectl(&[
        "patch".into(),
        "--local".into(),
        "-f".into(),
        file.display().to_string(),
        "--type".into(),
        "merge".into(),
        "-p".into(),
        "{}".into(),
        "-o".into(),
        "json".into(),
    ])
}

/// `kubectl set image` rewrites the object through Kubernetes' typed structs, which drop
/// zero values such as `initialDelaySeconds: 0`. Its baseline goes through the same
/// conversion: set a placeholder image, then put the original image back.
fn normalised_typed(file: &Path) -> Value {
    let original = normalised(file);
    let i = container_index(&original);
    let mut typed = kubectl(&[
        "set".into(),
        "image".into(),
        "--local".into(),
        "-f".into(),
        file.display().to_string(),
        "coder=example.invalid/placeholder:0".into(),
        "-o".into(),
        "json".into(),
    ]);
    typed["spec"]["template"]["spec"]["containers"][i]["image"] =
        original["spec"]["template"]["spec"]["containers"][i]["image"].clone();
    typed
}

/// Every leaf path where `a` and `b` differ, with b's value.
fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{path}/{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push((path, b.clone())),
        _ => {}
    }
}

/// Writes the Deployment alone to a temporary file, as `kubectl get deploy NAME -o json`
/// would give it, and returns the file.
fn deployment_file(dir: &Path, fixture_name: &str) -> PathBuf {
    let d = deployment_in(&manifest(fixture_name), "coder");
    let file = dir.join("deployment.json");
    std::fs::write(&file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    file
}

/// Turns a printed `kubectl ... deployment/coder ...` command into the same command against
/// a local file: `deployment/coder` becomes `--local -f FILE`, and `-o json` is added.
fn local(argv: &Value, file: &Path) -> Vec<String> {
    let argv: Vec<String> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], "kubectl");
    let mut out = Vec::new();
    let mut replaced = 0;
    for a in &argv[1..] {
        if a == "deployment/coder" {
            out.extend(["--local".into(), "-f".into(), file.display().to_string()]);
            replaced += 1;
        } else {
            out.push(a.clone());
        }
    }
    assert_eq!(replaced, 1, "{argv:?} names deployment/coder once");
    out.extend(["-o".into(), "json".into()]);
    out
}

/// The printed command line, read back by a POSIX shell, is exactly the argument vector.
fn assert_shell_reads_back(text: &str, argv: &Value) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {text}"))
        .output()
        .unwrap();
    let words: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(words, expected, "the shell reads {text:?} differently");
}

fn container_index(d: &Value) -> usize {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "coder")
        .unwrap()
}

/// Applies a printed kubectl command to the fixture's Deployment and checks that exactly the
/// coder container's image changed, to `image`.
fn assert_only_image_changes(fixture_name: &str, patch: &Value, image: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = deployment_file(dir.path(), fixture_name);
    let before = if patch["form"] == "kubectl" {
        normalised_typed(&file)
    } else {
        normalised(&file)
    };
    let cmd = &patch["command"];
    assert_shell_reads_back(cmd["text"].as_str().unwrap(), &cmd["argv"]);
    let after = kubectl(&local(&cmd["argv"], &file));
    let mut changes = Vec::new();
    diff(&before, &after, String::new(), &mut changes);
    let i = container_index(&before);
    assert_eq!(
        changes,
        vec![(
            format!("/spec/template/spec/containers/{i}/image"),
            json!(image)
        )],
        "{fixture_name}, {}",
        patch["form"]
    );
}

#[test]
fn kubectl_strategic_and_json_patch_change_only_the_coder_image() {
    for f in FIXTURES {
        for form in ["kubectl", "strategic", "json-patch"] {
            let path = manifest(f);
            let (doc, code) = patch_json(&[
                "--tag",
                "v2.27.11",
                "--to",
                form,
                "--manifest",
                path.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{f} {form}: {doc}");
            assert_eq!(doc["patch"]["form"], form);
            assert_eq!(doc["recommended"]["image"], "ghcr.io/coder/coder:v2.27.11");
            assert_only_image_changes(f, &doc["patch"], "ghcr.io/coder/coder:v2.27.11");
        }
    }
}

#[test]
fn json_patch_test_op_guards_the_container_position() {
    let path = manifest("coder-sidecars.yaml");
    let (doc, _) = patch_json(&[
        "--tag",
        "v2.27.11",
        "--to",
        "json-patch",
        "--manifest",
        path.to_str().unwrap(),
    ]);
    let patch = &doc["patch"]["patch"];
    assert_eq!(
        patch[0],
        json!({"op": "test", "path": "/spec/template/spec/containers/2/name", "value": "coder"})
    );
    assert_eq!(patch[1]["path"], "/spec/template/spec/containers/2/image");

    // Applied to a Deployment whose containers moved since, the test op fails and kubectl
    // changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment_in(&path, "coder");
    d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .swap(1, 2);
    let file = dir.path().join("moved.json");
    std::fs::write(&file, d.to_string()).unwrap();
    let out = Command::new("kubectl")
        .args(local(&doc["patch"]["command"]["argv"], &file))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the test op must refuse the moved container"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("test"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kubectl kustomize` of the fixture's Deployment, without and with the `images:` entry.
fn kustomize_with(fixture_name: &str, entry: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    deployment_file(dir.path(), fixture_name);
    let base = "resources:\n- deployment.json\n";
    std::fs::write(dir.path().join("kustomization.yaml"), base).unwrap();
    let before = kubectl(&["kustomize".into(), dir.path().display().to_string()]);
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("{base}{entry}"),
    )
    .unwrap();
    let after = kubectl(&["kustomize".into(), dir.path().display().to_string()]);
    (before, after)
}

#[test]
fn kustomize_entry_changes_only_the_coder_image() {
    for f in FIXTURES {
        let path = manifest(f);
        let (doc, code) = patch_json(&[
            "--tag",
            "v2.27.11",
            "--to",
            "kustomize",
            "--manifest",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{f}: {doc}");
        let entry = doc["patch"]["text"].as_str().unwrap();
        let (before, after) = kustomize_with(f, entry);
        let mut changes = Vec::new();
        diff(&before, &after, String::new(), &mut changes);
        let i = container_index(&before);
        assert_eq!(
            changes,
            vec![(
                format!("/spec/template/spec/containers/{i}/image"),
                json!("ghcr.io/coder/coder:v2.27.11")
            )],
            "{f}"
        );
    }
}

#[test]
fn helm_form_sets_the_chart_values() {
    let path = manifest("coder-helm-template.yaml");
    let (doc, code) = patch_json(&[
        "--tag",
        "v2.27.11",
        "--to",
        "helm",
        "--manifest",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let p = &doc["patch"];
    assert_shell_reads_back(
        p["command"]["text"].as_str().unwrap(),
        &p["command"]["argv"],
    );
    // The release name comes from the chart's app.kubernetes.io/instance label, the chart
    // version from its helm.sh/chart label (coder-2.16.1): without --version helm would take
    // the newest chart, not the installed one.
    assert_eq!(
        p["command"]["argv"],
        json!([
            "helm",
            "upgrade",
            "coder-v2",
            "coder-v2/coder",
            "--namespace",
            "coder",
            "--version",
            "2.16.1",
            "--reuse-values",
            "--set",
            "coder.image.tag=v2.27.11"
        ])
    );
    let values: Value = serde_yaml_ng::from_str(p["values"].as_str().unwrap()).unwrap();
    assert_eq!(
        values,
        json!({"coder": {"image": {"repo": "ghcr.io/coder/coder", "tag": "v2.27.11"}}})
    );

    // A mirror: the repository is set too, and the default release name without a manifest.
    let (doc, _) = patch_json(&[
        "--tag",
        "v2.27.11",
        "--to",
        "helm",
        "--image-repo",
        "registry.acme.example:5000/mirror/coder",
    ]);
    let argv = &doc["patch"]["command"]["argv"];
    assert_eq!(argv[2], "coder");
    assert!(argv.as_array().unwrap().contains(&json!(
        "coder.image.repo=registry.acme.example:5000/mirror/coder"
    )));
    let values: Value = serde_yaml_ng::from_str(doc["patch"]["values"].as_str().unwrap()).unwrap();
    assert_eq!(
        values["coder"]["image"]["repo"],
        "registry.acme.example:5000/mirror/coder"
    );
}

#[test]
fn finding_fixes_apply_with_kubectl() {
    let path = manifest("coder-sidecars.yaml");
    let (doc, _) = patch_json(&["--tag", "v2.27.11", "--manifest", path.to_str().unwrap()]);
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
    let dir = tempfile::tempdir().unwrap();
    let file = deployment_file(dir.path(), "coder-sidecars.yaml");
    let before = normalised(&file);

    let probe_fix = &doc["findings"][2]["fix"][0]["command"];
    let after = kubectl(&local(&probe_fix["argv"], &file));
    let mut changes = Vec::new();
    diff(&before, &after, String::new(), &mut changes);
    let probe = "/spec/template/spec/containers/2/livenessProbe";
    assert_eq!(
        changes,
        vec![
            (format!("{probe}/failureThreshold"), json!(90)),
            (format!("{probe}/periodSeconds"), json!(10)),
            (format!("{probe}/timeoutSeconds"), json!(1)),
        ]
    );
    // The handler is untouched.
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][2]["livenessProbe"]["httpGet"]["path"],
        "/healthz"
    );

    let recreate = &doc["findings"][1]["fix"][2]["command"];
    let after = kubectl(&local(&recreate["argv"], &file));
    assert_eq!(after["spec"]["strategy"], json!({"type": "Recreate"}));
    let scale = &doc["findings"][0]["fix"][0]["command"];
    assert_eq!(
        scale["text"],
        "kubectl -n coder-prod scale deployment/coder --replicas=1"
    );
}

#[test]
fn the_database_state_decides_the_image() {
    // coder-helm.yaml runs v2.3.0 (highest 164); the database is at 165: v2.3.1.
    let path = manifest("coder-helm.yaml");
    let (doc, code) = patch_json(&["--version", "165", "--manifest", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(doc["decision"]["verdict"], "exact");
    assert_eq!(doc["current_image"], "ghcr.io/coder/coder:v2.3.0");
    assert_eq!(doc["recommended"]["image"], "ghcr.io/coder/coder:v2.3.1");
    assert_eq!(doc["up_to_date"], false);
    assert_only_image_changes(
        "coder-helm.yaml",
        &doc["patch"],
        "ghcr.io/coder/coder:v2.3.1",
    );
    // Nothing migrates, so the rolling-update finding is only a note.
    assert_eq!(doc["findings"][0]["severity"], "info");

    // At 164 the deployed v2.3.0 is exact: no patch.
    let (doc, code) = patch_json(&["--version", "164", "--manifest", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(doc["up_to_date"], true);
    assert_eq!(doc["patch"], Value::Null);
    assert_eq!(doc["decision"]["deployed_from_manifest"], "v2.3.0");
}

#[test]
fn a_digest_pinned_deployment_on_the_irregular_316() {
    // The database at 316 can only come from v2.21.1, which the Deployment runs (pinned by
    // digest): it already matches, and the pin stays.
    let path = manifest("coder-digest.json");
    let (doc, code) = patch_json(&["--version", "316", "--manifest", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["recommended"]["tag"], "v2.21.1");
    assert_eq!(doc["up_to_date"], true);
    assert_eq!(doc["patch"], Value::Null);
    assert_eq!(
        doc["deployment"]["container"]["image"]["digest"]
            .as_str()
            .unwrap()
            .len(),
        71
    );
}

#[test]
fn dirty_in_progress_and_ahead_print_no_patch() {
    let path = manifest("coder-helm.yaml");
    let (doc, code) = patch_json(&[
        "--version",
        "165",
        "--dirty",
        "--manifest",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 4);
    assert_eq!(doc["patch"], Value::Null);
    assert_eq!(doc["decision"]["actionable"], false);
    assert!(doc["decision"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("needs a human"));
    // The Deployment is still checked: its traps matter for the recovery.
    assert!(!doc["findings"].as_array().unwrap().is_empty());

    let (doc, code) = patch_json(&["--version", "100000"]);
    assert_eq!(code, 5);
    assert_eq!(doc["patch"], Value::Null);
    assert_eq!(doc["decision"]["verdict"], "ahead_of_index");
}

#[test]
fn json_patch_needs_the_manifest() {
    let (out, err, code) = run(migtag().args(["patch", "--version", "165", "--to", "json-patch"]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("--to json-patch needs --manifest"), "{err}");
}

#[test]
fn invalid_input_is_exit_12_naming_the_bad_part() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--deployment", "Coder"],
            "--deployment `Coder` is not a DNS-1123 subdomain",
        ),
        (
            &["-n", "coder;rm -rf /"],
            "--namespace `coder;rm -rf /` is not a DNS-1123 label: character `;`",
        ),
        (
            &["--container", "$(id)"],
            "--container `$(id)` is not a DNS-1123 label",
        ),
        (
            &["--image-repo", "ghcr.io/Coder/coder"],
            "repository path component `Coder`",
        ),
        (&["--image-repo", "ghcr.io/coder/coder:v2"], "carries a tag"),
        (
            &["--deployment", "web", "--manifest", "@helm"],
            "no Deployment `web`; it has: coder/coder",
        ),
        (
            &["--container", "web", "--manifest", "@sidecars"],
            "no container `web`; its containers are: cloud-sql-proxy, log-shipper, coder",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| match *a {
                "@helm" => manifest("coder-helm.yaml").display().to_string(),
                "@sidecars" => manifest("coder-sidecars.yaml").display().to_string(),
                a => a.to_string(),
            })
            .collect();
        let (_, err, code) = run(migtag().args(["patch", "--version", "165"]).args(&args));
        assert_eq!(code, 12, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let (_, err, code) = run(migtag().args(["patch", "--tag", "latest"]));
    assert_eq!(code, 12, "{err}");
    assert!(
        err.contains("--tag: tag `latest` is not a release tag"),
        "{err}"
    );
    let (_, err, code) = run(migtag().args(["patch", "--tag", "v2.3.1", "--version", "165"]));
    assert_eq!(code, 2, "{err}");
    let (_, err, code) =
        run(migtag().args(["patch", "--version", "165", "--migration-window", "soon"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_bad_image_in_the_manifest_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment_in(&manifest("coder-helm.yaml"), "coder");
    d["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/coder/coder:v2.3.0@sha256:abc");
    let file = dir.path().join("bad.json");
    std::fs::write(&file, d.to_string()).unwrap();
    let (_, err, code) = run(migtag()
        .args(["patch", "--version", "165", "--manifest"])
        .arg(&file));
    assert_eq!(code, 12);
    assert!(
        err.contains("container `coder`: image reference")
            && err.contains("sha256 needs 64 hex digits"),
        "{err}"
    );
}

#[test]
fn manifest_from_stdin() {
    let text = std::fs::read_to_string(manifest("coder-list.yaml")).unwrap();
    let (out, err, code) = run(migtag()
        .args([
            "patch",
            "--version",
            "165",
            "--manifest",
            "-",
            "--format",
            "json",
        ])
        .write_stdin(text));
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["current_image"], "ghcr.io/coder/coder:v2.3.0");
    assert_eq!(doc["target"]["manifest"], "-");
}

#[test]
fn tag_outside_the_index_is_a_note() {
    let (doc, code) = patch_json(&["--tag", "v9.0.0"]);
    assert_eq!(code, 0);
    assert_eq!(doc["recommended"]["in_index"], false);
    assert!(
        doc["notes"][0]
            .as_str()
            .unwrap()
            .contains("v9.0.0 is not in the index"),
        "{doc}"
    );
}

/// Human and JSON output, pinned.
#[test]
fn snapshots() {
    let helm = manifest("coder-helm.yaml").display().to_string();
    let sidecars = manifest("coder-sidecars.yaml").display().to_string();
    let template = manifest("coder-helm-template.yaml").display().to_string();
    let digest = manifest("coder-digest.json").display().to_string();
    let root = env!("CARGO_MANIFEST_DIR");
    let cases: &[(&str, Vec<&str>)] = &[
        ("patch_kubectl_no_manifest", vec!["--version", "165"]),
        (
            "patch_strategic_helm_chart",
            vec!["--version", "165", "--to", "strategic", "--manifest", &helm],
        ),
        (
            "patch_json_patch_sidecars",
            vec![
                "--tag",
                "v2.27.11",
                "--to",
                "json-patch",
                "--manifest",
                &sidecars,
            ],
        ),
        (
            "patch_helm_template_latest",
            vec!["--tag", "v2.27.11", "--to", "helm", "--manifest", &template],
        ),
        (
            "patch_kustomize_digest",
            vec![
                "--offline",
                "--tag",
                "v2.22.0",
                "--to",
                "kustomize",
                "--manifest",
                &digest,
            ],
        ),
        (
            "patch_up_to_date",
            vec!["--version", "164", "--manifest", &helm],
        ),
        (
            "patch_dirty",
            vec!["--version", "168", "--dirty", "--manifest", &helm],
        ),
        (
            "patch_window_1h",
            vec![
                "--version",
                "165",
                "--manifest",
                &template,
                "--migration-window",
                "1h",
            ],
        ),
    ];
    for (name, args) in cases {
        let (human, _, code_h) = run(migtag().arg("patch").args(args));
        let (json, _, code_j) = run(migtag().arg("patch").args(args).args(["--format", "json"]));
        assert_eq!(code_h, code_j);
        let human = human.replace(root, "[ROOT]");
        let json = json.replace(root, "[ROOT]");
        insta::assert_snapshot!(format!("{name}_human"), format!("exit {code_h}\n{human}"));
        insta::assert_snapshot!(format!("{name}_json"), json);
    }
}

/// `migtag patch --emit ...` for the fixture's Deployment: (stdout, stderr, exit code).
fn emit(form: &str, fixture_name: &str, extra: &[&str]) -> (String, String, i32) {
    let path = manifest(fixture_name);
    run(migtag()
        .args(["patch", "--offline", "--emit", "--to", form, "--manifest"])
        .arg(&path)
        .args(extra))
}

/// Runs `kubectl ARGS` with `stdin` piped in; the object it prints, as JSON.
fn kubectl_stdin(args: &[String], stdin: &str) -> Value {
    let out = crate::common::output_with_stdin(Command::new("kubectl").args(args), stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} < {stdin:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml_ng::from_slice(&out.stdout).unwrap()
}

/// The only change between `before` and `after` is the coder container's image, to `image`.
fn assert_image_is_the_only_change(before: &Value, after: &Value, image: &str, what: &str) {
    let mut changes = Vec::new();
    diff(before, after, String::new(), &mut changes);
    let i = container_index(before);
    assert_eq!(
        changes,
        vec![(
            format!("/spec/template/spec/containers/{i}/image"),
            json!(image)
        )],
        "{what}"
    );
}

#[test]
fn emit_strategic_and_json_patch_pipe_into_kubectl_patch() {
    for f in FIXTURES {
        for (form, kind) in [("strategic", "strategic"), ("json-patch", "json")] {
            let (out, err, code) = emit(form, f, &["--tag", "v2.27.11"]);
            assert_eq!(code, 0, "{f} {form}: {err}");
            // stdout is one JSON document and nothing else; the report went to stderr.
            let _: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
            assert!(err.contains("printed on stdout"), "{err}");
            let dir = tempfile::tempdir().unwrap();
            let file = deployment_file(dir.path(), f);
            let before = normalised(&file);
            // --patch-file /dev/stdin: the pipe form.
            let after = kubectl_stdin(
                &[
                    "patch".into(),
                    "--local".into(),
                    "-f".into(),
                    file.display().to_string(),
                    "--type".into(),
                    kind.into(),
                    "--patch-file".into(),
                    "/dev/stdin".into(),
                    "-o".into(),
                    "yaml".into(),
                ],
                &out,
            );
            assert_image_is_the_only_change(
                &before,
                &after,
                "ghcr.io/coder/coder:v2.27.11",
                &format!("{f} {form} --patch-file"),
            );
            // -p "$(migtag patch --emit ...)": the command-substitution form, through sh.
            let script = format!(
                "kubectl patch --local -f \"$1\" --type {kind} -p \"$(\"$2\" patch --offline --emit --to {form} --tag v2.27.11 --manifest \"$3\")\" -o json"
            );
            let out = Command::new("sh")
                .args(["-c", &script, "sh"])
                .arg(&file)
                .arg(assert_cmd::cargo::cargo_bin("migtag"))
                .arg(manifest(f))
                .env("HOME", crate::common::scratch_home())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{f} {form}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let after: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_image_is_the_only_change(
                &before,
                &after,
                "ghcr.io/coder/coder:v2.27.11",
                &format!("{f} {form} -p"),
            );
        }
    }
}

#[test]
fn emit_kubectl_is_a_command_line_sh_runs() {
    for f in FIXTURES {
        let (out, err, code) = emit("kubectl", f, &["--tag", "v2.27.11"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(out.starts_with("kubectl "), "{out:?}");
        let dir = tempfile::tempdir().unwrap();
        let file = deployment_file(dir.path(), f);
        let before = normalised_typed(&file);
        // sh runs the emitted line as it is; a kubectl function points it at the local file
        // instead of the cluster (deployment/coder becomes --local -f FILE).
        let wrapper = r#"kubectl() {
  for a; do shift
    if [ "$a" = deployment/coder ]; then set -- "$@" --local -f "$F"; else set -- "$@" "$a"; fi
  done
  command kubectl "$@" -o json
}
"#;
        let out = Command::new("sh")
            .args(["-c", &format!("{wrapper}{out}")])
            .env("F", &file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_image_is_the_only_change(&before, &after, "ghcr.io/coder/coder:v2.27.11", f);
    }
}

#[test]
fn emit_kustomize_and_helm_are_the_bare_snippets() {
    for f in FIXTURES {
        let (entry, err, code) = emit("kustomize", f, &["--tag", "v2.27.11"]);
        assert_eq!(code, 0, "{err}");
        let (before, after) = kustomize_with(f, &entry);
        assert_image_is_the_only_change(&before, &after, "ghcr.io/coder/coder:v2.27.11", f);
    }
    // The Helm values, as `helm upgrade -f -` reads them (helm itself is not on this machine):
    // a YAML document with exactly the chart's image keys.
    let (values, err, code) = emit("helm", "coder-helm-template.yaml", &["--tag", "v2.27.11"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_yaml_ng::from_str(&values).unwrap();
    assert_eq!(
        v,
        json!({"coder": {"image": {"repo": "ghcr.io/coder/coder", "tag": "v2.27.11"}}})
    );
    assert!(
        err.contains("the Helm command keeps the installed chart version"),
        "{err}"
    );
}

#[test]
fn emit_prints_nothing_when_nothing_changes_and_keeps_exit_codes() {
    // Up to date: empty stdout, exit 0, and stderr says why.
    let (out, err, code) = emit("strategic", "coder-helm.yaml", &["--version", "164"]);
    assert_eq!((out.as_str(), code), ("", 0), "{err}");
    assert!(err.contains("already runs it"), "{err}");
    // Dirty: exit 4, empty stdout, the reason on stderr.
    let (out, err, code) = emit(
        "strategic",
        "coder-helm.yaml",
        &["--version", "168", "--dirty"],
    );
    assert_eq!((out.as_str(), code), ("", 4), "{err}");
    assert!(err.contains("needs a human"), "{err}");
    // Ahead of the index: exit 5.
    let (out, _, code) = run(migtag().args(["patch", "--emit", "--version", "100000"]));
    assert_eq!((out.as_str(), code), ("", 5));
    // Warnings go to stderr: the findings of a sidecar Deployment.
    let (out, err, code) = emit("strategic", "coder-sidecars.yaml", &["--tag", "v2.27.11"]);
    assert_eq!(code, 0);
    assert!(err.contains("warning:"), "{err}");
    assert!(!out.contains("warning"), "{out}");
    // --emit and --format json both claim stdout.
    let (out, err, code) =
        run(migtag().args(["patch", "--emit", "--version", "165", "--format", "json"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--emit and --format json"), "{err}");
    assert!(out.contains("\"kind\": \"usage\""), "{out}");
}
