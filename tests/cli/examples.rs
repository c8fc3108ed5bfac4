//! The README's example manifests are real files: parse them with the typed Kubernetes
//! models and check that they run `migtag gate` the way the README says.

use k8s_openapi::api::batch::v1::Job;

fn example(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

#[test]
fn helm_hook_job_is_a_valid_pre_upgrade_job_running_gate() {
    let job: Job = serde_yaml_ng::from_str(&example("helm-pre-upgrade-gate.yaml")).unwrap();
    let ann = job.metadata.annotations.unwrap();
    assert_eq!(ann["helm.sh/hook"], "pre-upgrade");
    let spec = job.spec.unwrap();
    assert_eq!(
        spec.backoff_limit,
        Some(0),
        "a failed gate must not be retried into success"
    );
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = &pod.containers[0];
    let args = c.args.clone().unwrap();
    assert_eq!(
        &args[..3],
        ["gate", "--target", "{{ .Values.coder.image.tag }}"]
    );
    let env = c.env.clone().unwrap();
    let url = env
        .iter()
        .find(|e| e.name == "CODER_PG_CONNECTION_URL")
        .unwrap();
    assert!(
        url.value.is_none(),
        "the URL must come from the Secret, never inline"
    );
    assert!(url.value_from.as_ref().unwrap().secret_key_ref.is_some());
}

#[test]
fn github_actions_example_gates_with_the_documented_command() {
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&example("github-actions-gate.yml")).unwrap();
    let steps = doc["jobs"]["gate"]["steps"].as_array().unwrap();
    let gate = steps
        .iter()
        .find(|s| s["name"] == "Gate the upgrade")
        .unwrap();
    let run = gate["run"].as_str().unwrap();
    assert!(run.starts_with("migtag gate --target \"$TARGET\""), "{run}");
    assert!(gate["env"]["CODER_PG_CONNECTION_URL"]
        .as_str()
        .unwrap()
        .contains("secrets."));
    // The command line in the example parses with the real CLI definition.
    use clap::Parser;
    let words: Vec<&str> = run
        .split('>')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|w| w.trim_matches('"'))
        .collect();
    let words: Vec<String> = words
        .iter()
        .map(|w| {
            if *w == "$TARGET" {
                "v2.22.0".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    migtag::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
}
