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
    assert_eq!(&args[..2], ["gate", "--target"]);
    // A fork of coder-v2/coder: the values path of the chart, and the chart's own fallback.
    assert_eq!(
        target_never_renders_empty(&args[2]),
        Ok(".Values.coder.image.tag"),
        "{}",
        args[2]
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

/// The example installs a checksum-verified release archive, never a build on every run.
#[test]
fn github_actions_example_installs_a_verified_release_binary_not_a_build() {
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&example("github-actions-gate.yml")).unwrap();
    let steps = doc["jobs"]["gate"]["steps"].as_array().unwrap();
    let install = steps
        .iter()
        .find(|s| s["name"] == "Install migtag")
        .unwrap();
    let run = install["run"].as_str().unwrap();
    for needed in [
        "gh release download",
        "-x86_64-unknown-linux-gnu",
        "sha256sum -c SHA256SUMS",
        "GITHUB_PATH",
    ] {
        assert!(run.contains(needed), "{needed}: {run}");
    }
    assert!(!run.contains("cargo install"), "{run}");
    // The archive name is the one the release workflow builds.
    let release = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/release.yml"),
    )
    .unwrap();
    assert!(release.contains(r#"name="migtag-${GITHUB_REF_NAME}-${TARGET}""#));
}

fn values_path(p: &str) -> Result<&str, String> {
    let ok = p.starts_with(".Values.")
        && p[1..]
            .split('.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if ok {
        Ok(p)
    } else {
        Err(format!("not a values path: {p}"))
    }
}

/// Checks that a `--target` Helm expression cannot render as an empty string, and returns the
/// values path it reads. Two forms are accepted: the Coder chart's own fallback
/// (`.Values.X | default (printf "v%v" .Chart.AppVersion)`, never empty since it starts with
/// `v`) and `required "message" .Values.X` (Helm refuses to render when X is empty).
fn target_never_renders_empty(arg: &str) -> Result<&str, String> {
    let inner = arg
        .strip_prefix("{{ ")
        .and_then(|a| a.strip_suffix(" }}"))
        .ok_or_else(|| format!("not one Helm expression: {arg}"))?;
    if let Some(path) = inner
        .strip_suffix(r#" | default (printf "v%v" .Chart.AppVersion)"#)
        .or_else(|| inner.strip_suffix(r#" | default (printf "v%s" .Chart.AppVersion)"#))
    {
        return values_path(path);
    }
    if let Some(rest) = inner.strip_prefix("required \"") {
        let (message, path) = rest
            .split_once("\" ")
            .ok_or_else(|| format!("required without a message: {arg}"))?;
        if message.trim().is_empty() {
            return Err(format!("required with an empty message: {arg}"));
        }
        return values_path(path);
    }
    Err(format!(
        "{arg} renders empty when the value is empty (the Coder chart's default tag is \"\")"
    ))
}

#[test]
fn target_check_refuses_expressions_that_can_render_empty() {
    for bad in [
        "{{ .Values.coder.image.tag }}",
        "{{ .Values.coder.image.tag | default .Values.x }}",
        r#"{{ required "" .Values.coder.image.tag }}"#,
        r#"{{ required "set it" .Values.coder.image.tag | lower }}"#,
        "v2.22.0",
    ] {
        assert!(target_never_renders_empty(bad).is_err(), "{bad}");
    }
    assert_eq!(
        target_never_renders_empty(r#"{{ required "set the tag" .Values.coder.coder.image.tag }}"#),
        Ok(".Values.coder.coder.image.tag")
    );
}

/// The umbrella-chart form the comments give is a `required` expression on the subchart's
/// path; and no comment holds template braces, since Helm renders comments too.
#[test]
fn helm_hook_comments_give_the_umbrella_form_and_no_live_template() {
    let text = example("helm-pre-upgrade-gate.yaml");
    let comments: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect();
    assert!(comments.iter().all(|l| !l.contains("{{")), "{comments:#?}");
    let umbrella = comments
        .iter()
        .map(|l| l.trim_start_matches('#').trim())
        .find(|l| l.starts_with("required "))
        .expect("the comments give the umbrella form");
    assert_eq!(
        target_never_renders_empty(&format!("{{{{ {umbrella} }}}}")),
        Ok(".Values.coder.coder.image.tag")
    );
}

/// The hook Job's container args with the Helm template replaced by `tag`.
fn hook_args(tag: &str) -> Vec<String> {
    let job: Job = serde_yaml_ng::from_str(&example("helm-pre-upgrade-gate.yaml")).unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    pod.containers[0]
        .args
        .clone()
        .unwrap()
        .into_iter()
        .map(|a| {
            if a.starts_with("{{") && a.ends_with("}}") {
                tag.to_string()
            } else {
                a
            }
        })
        .collect()
}

/// A Coder-like database on the harness's PostgreSQL with one `schema_migrations` row, and
/// the URL the Job would get from the Secret.
fn coder_database(row: (i64, bool)) -> String {
    // Coder's real schema for the row (replayed from the reference SQL: a clean row has its
    // migrations applied, a dirty one stops before it), so the gate's schema verdict is a
    // match, as on a real deployment.
    let c = crate::pg::PgCluster::shared();
    let password = "hook-pass-1";
    let role = c.create_role("hook", password);
    let top = if row.1 { row.0 - 1 } else { row.0 } as u64;
    let db = crate::coder_sql::database_with(c, &format!("main-{top}"), (1..=top).collect(), None);
    c.sql("postgres", &format!("ALTER DATABASE {db} OWNER TO {role}"));
    crate::coder_sql::set_row(c, &db, row.0 as u64, row.1);
    c.sql(
        &db,
        &format!("ALTER TABLE schema_migrations OWNER TO {role}"),
    );
    c.url(&role, password, &db)
}

/// The hook Job runs exactly its args, with only CODER_PG_CONNECTION_URL set (as the Secret
/// sets it), against a real PostgreSQL: each outcome gives the exit code the examples
/// document (0 safe, 3 unsafe, 4 needs a human, 5 unknown target), and a non-zero code is
/// what makes Helm abort the upgrade.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn helm_hook_job_args_gate_a_real_database() {
    let cases: [((i64, bool), &str, i32); 5] = [
        // 14 migrations, under the Job's --max-pending 60.
        ((362, false), "v2.27.0", 0),
        // 401 -> 509 applies 108 migrations: more than --max-pending 60.
        ((401, false), "v2.34.0", 3),
        // Older than the database.
        ((362, false), "v2.25.0", 3),
        ((168, true), "v2.5.0", 4),
        ((362, false), "v9.9.9", 5),
    ];
    for (row, tag, want) in cases {
        let url = coder_database(row);
        let args = hook_args(tag);
        let (out, err, code) = crate::common::run(
            crate::common::migtag()
                .env("CODER_PG_CONNECTION_URL", &url)
                .args(&args),
        );
        assert_eq!(code, want, "{args:?} on {row:?}:\n{out}\n{err}");
        assert!(!out.contains("hook-pass-1") && !err.contains("hook-pass-1"));
    }
}

/// The GitHub Actions step's `run` line, run by bash as the runner would, with its env.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn github_actions_step_runs_and_writes_the_report() {
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&example("github-actions-gate.yml")).unwrap();
    let steps = doc["jobs"]["gate"]["steps"].as_array().unwrap();
    let gate = steps
        .iter()
        .find(|s| s["name"] == "Gate the upgrade")
        .unwrap();
    let run_line = gate["run"].as_str().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    for (row, want) in [((362, false), 0), ((168, true), 4)] {
        let url = coder_database(row);
        let out = std::process::Command::new("bash")
            .args(["-c", run_line])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("TARGET", "v2.27.0")
            .env("CODER_PG_CONNECTION_URL", &url)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(want),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("gate.json")).unwrap())
                .unwrap();
        assert_eq!(report["safe"], want == 0, "{report:#}");
    }
}

/// `kubectl create --dry-run=client -f` needs an API server for discovery even in client
/// mode, so it cannot run here. `kubectl set env --local -f` reads the file with kubectl's
/// own decoder into a typed Job and lists the pod template's env without a server.
#[test]
fn kubectl_reads_the_hook_job_offline() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("helm-pre-upgrade-gate.yaml");
    let out = std::process::Command::new("kubectl")
        .args(["set", "env", "--local", "--list", "-f"])
        .arg(&path)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("# Job coder-migtag-gate, container migtag"),
        "{text}"
    );
    assert!(
        text.contains("# CODER_PG_CONNECTION_URL from secret coder-db-url, key url"),
        "{text}"
    );
}

fn cron_job() -> k8s_openapi::api::batch::v1::CronJob {
    serde_yaml_ng::from_str(&example("openmetrics-cronjob.yaml")).unwrap()
}

#[test]
fn the_metrics_cron_job_reads_the_secret_and_pushes_what_migtag_wrote() {
    let job = cron_job();
    let spec = job.spec.unwrap();
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let pod = spec.job_template.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let init = &pod.init_containers.unwrap()[0];
    let script = &init.args.as_ref().unwrap()[0];
    assert!(
        script.contains("migtag --format openmetrics check > \"$METRICS_FILE\""),
        "{script}"
    );
    let env = init.env.clone().unwrap();
    let url = env
        .iter()
        .find(|e| e.name == "CODER_PG_CONNECTION_URL")
        .unwrap();
    assert!(url.value.is_none(), "the URL comes from the Secret");
    let file = env.iter().find(|e| e.name == "METRICS_FILE").unwrap();
    let push = &pod.containers[0];
    let args = push.args.clone().unwrap();
    assert!(
        args.contains(&format!("@{}", file.value.as_deref().unwrap())),
        "the push sends the file migtag wrote: {args:?}"
    );
    assert!(args.contains(&"PUT".to_string()), "{args:?}");
}

/// The init container's script, run by sh with the binary on PATH against a real
/// PostgreSQL: a decision (0, and 4 for a dirty row) keeps the metrics and exits 0; an
/// unreachable database fails the Job with migtag's code and pushes nothing.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn the_metrics_cron_job_script_keeps_decisions_and_fails_on_errors() {
    let job = cron_job();
    let pod = job
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let script = pod.init_containers.unwrap()[0].args.clone().unwrap()[0].clone();
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migtag.prom");
    let refused = "postgres://nobody:pw@127.0.0.1:1/coder?connect_timeout=2".to_string();
    for (url, want, version) in [
        (coder_database((362, false)), 0, Some("362")),
        (coder_database((168, true)), 0, Some("168")),
        (refused, 10, None),
    ] {
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("METRICS_FILE", &file)
            .env("CODER_PG_CONNECTION_URL", &url)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(want),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        match version {
            Some(v) => {
                assert!(
                    text.contains("migtag_schema_migrations_version{database="),
                    "{text}"
                );
                assert!(text.contains(&format!("}} {v}\n")), "{text}");
                assert!(text.ends_with("# EOF\n"), "{text}");
                assert!(!text.contains("hook-pass-1"), "{text}");
            }
            None => assert!(text.is_empty(), "nothing to push: {text}"),
        }
    }
}
