//! What ships, tested as far as this machine allows (no docker, no GitHub): the Dockerfile's
//! stages, user, entrypoint and copied binary against Cargo.toml; the workflows loaded into
//! a typed model (unknown keys refused), their jobs against what the README names, their
//! shell steps through `bash -n`; the Helm example's image against the release workflow's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `[[bin]]` name in Cargo.toml.
fn bin_name() -> String {
    let toml = read("Cargo.toml");
    let re = regex::Regex::new(r#"\[\[bin\]\]\s*\nname\s*=\s*"([^"]+)""#).unwrap();
    re.captures(&toml).expect("Cargo.toml has a [[bin]]")[1].to_string()
}

fn cargo_version() -> String {
    let toml = read("Cargo.toml");
    let re = regex::Regex::new(r#"(?m)^version\s*=\s*"([^"]+)""#).unwrap();
    re.captures(&toml).unwrap()[1].to_string()
}

/// One Dockerfile instruction: keyword and arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            current.push_str(cont);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (k, a) = current.split_once(char::is_whitespace).unwrap();
        out.push(Instruction {
            keyword: k.to_ascii_uppercase(),
            args: a.trim().to_string(),
        });
        current.clear();
    }
    assert!(current.is_empty(), "dangling continuation: {current}");
    out
}

/// Stages: (FROM arguments, instructions of the stage).
fn stages(ins: &[Instruction]) -> Vec<(String, Vec<&Instruction>)> {
    let mut out: Vec<(String, Vec<&Instruction>)> = Vec::new();
    for i in ins {
        if i.keyword == "FROM" {
            out.push((i.args.clone(), Vec::new()));
        } else {
            out.last_mut()
                .expect("the Dockerfile starts with FROM")
                .1
                .push(i);
        }
    }
    out
}

#[test]
fn dockerfile_builds_the_binary_and_runs_it_as_non_root() {
    let text = read("Dockerfile");
    let ins = instructions(&text);
    let stages = stages(&ins);
    assert_eq!(stages.len(), 2, "a builder and a runtime stage");
    let bin = bin_name();

    let (from, builder) = &stages[0];
    assert!(
        from.starts_with("rust:") && from.ends_with(" AS builder"),
        "{from}"
    );
    let build = builder
        .iter()
        .filter(|i| i.keyword == "RUN")
        .find(|i| i.args.contains("cargo build --release --locked") && i.args.contains("strip"))
        .expect("a release build");
    assert!(
        build.args.contains(&format!("--bin {bin}")),
        "{}",
        build.args
    );
    // Everything the builder copies exists and is not excluded from the build context.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for copy in builder.iter().filter(|i| i.keyword == "COPY") {
        let parts: Vec<&str> = copy.args.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root().join(src).exists(), "COPY {src}: missing");
            let first = Path::new(src).components().next().unwrap();
            let first = first.as_os_str().to_str().unwrap();
            assert!(
                !ignored.iter().any(|i| i == first),
                "COPY {src} is excluded by .dockerignore"
            );
        }
    }
    // The placeholder build touches every [[bench]] target Cargo.toml declares.
    let toml = read("Cargo.toml");
    let bench = regex::Regex::new(r#"\[\[bench\]\]\s*\nname\s*=\s*"([^"]+)""#).unwrap();
    let placeholder = &builder
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("fn main() {}"))
        .unwrap()
        .args;
    for b in bench.captures_iter(&toml) {
        assert!(
            placeholder.contains(&format!("benches/{}.rs", &b[1])),
            "bench {} missing from the placeholder build",
            &b[1]
        );
    }

    let (from, runtime) = &stages[1];
    assert!(
        from.starts_with("debian:bookworm-slim") || from.starts_with("gcr.io/distroless/cc"),
        "a small runtime: {from}"
    );
    let copy = runtime
        .iter()
        .find(|i| i.keyword == "COPY" && i.args.starts_with("--from=builder"))
        .expect("the binary comes from the builder");
    let parts: Vec<&str> = copy.args.split_whitespace().collect();
    assert_eq!(parts[1], format!("/src/target/release/{bin}"));
    let installed = parts[2];
    let entrypoint = runtime
        .iter()
        .rfind(|i| i.keyword == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    let argv: Vec<String> = serde_json::from_str(&entrypoint.args).expect("exec form");
    assert_eq!(argv, [installed]);
    let user = &runtime
        .iter()
        .rfind(|i| i.keyword == "USER")
        .expect("a USER")
        .args;
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "a numeric non-root uid (runAsNonRoot can only check numbers): {user}"
    );
    assert!(
        runtime
            .iter()
            .any(|i| i.keyword == "RUN" && i.args.contains("ca-certificates")),
        "CA certificates for TLS to PostgreSQL, GitHub and registries"
    );

    // The Helm hook runs this image as this user.
    let job: k8s_openapi::api::batch::v1::Job =
        serde_yaml_ng::from_str(&read("examples/helm-pre-upgrade-gate.yaml")).unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    let run_as = pod.security_context.unwrap().run_as_user.unwrap();
    assert_eq!(run_as.to_string(), uid);
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every key GitHub accepts is a field, so that a typo is refused
#[serde(deny_unknown_fields)]
struct Workflow {
    name: String,
    on: serde_yaml_ng::Value,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
    #[serde(default)]
    concurrency: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    jobs: BTreeMap<String, Job>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every key GitHub accepts is a field, so that a typo is refused
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Job {
    name: Option<String>,
    runs_on: String,
    timeout_minutes: Option<u32>,
    container: Option<serde_yaml_ng::Value>,
    /// Service containers (the refresh's PostgreSQL for `index update --effects`).
    services: Option<serde_yaml_ng::Value>,
    strategy: Option<Strategy>,
    needs: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every key GitHub accepts is a field, so that a typo is refused
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Strategy {
    fail_fast: Option<bool>,
    matrix: Matrix,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every key GitHub accepts is a field, so that a typo is refused
#[serde(deny_unknown_fields)]
struct Matrix {
    include: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every key GitHub accepts is a field, so that a typo is refused
#[serde(deny_unknown_fields)]
struct Step {
    name: Option<String>,
    id: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

fn workflow(file: &str) -> Workflow {
    let text = read(&format!(".github/workflows/{file}"));
    let wf: Workflow =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} does not load: {e}"));
    for (id, job) in &wf.jobs {
        assert!(!job.steps.is_empty(), "{file}: job {id} has no steps");
        for step in &job.steps {
            assert!(
                step.uses.is_some() != step.run.is_some(),
                "{file}: job {id}: a step either uses an action or runs a script: {step:?}"
            );
            if let Some(uses) = &step.uses {
                assert!(uses.contains('@'), "{file}: {uses} is not pinned");
            }
            if let Some(script) = &step.run {
                let out = std::process::Command::new("bash")
                    .args(["-n", "-c", script])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{file}: job {id}: bash -n refuses {script:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    wf
}

fn runs(job: &Job) -> String {
    job.steps
        .iter()
        .filter_map(|s| s.run.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn uses<'a>(job: &'a Job, action: &str) -> &'a Step {
    job.steps
        .iter()
        .find(|s| s.uses.as_deref().is_some_and(|u| u.starts_with(action)))
        .unwrap_or_else(|| panic!("no step uses {action}"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The workflow's job ids, sorted.
fn job_names(wf: &Workflow) -> Vec<String> {
    wf.jobs.keys().cloned().collect()
}

/// The jobs the README's workflow list names for `file` (backticked words after "job(s)").
fn readme_jobs(file: &str) -> Vec<String> {
    let readme = read("README.md");
    let start = readme
        .find(&format!("- `.github/workflows/{file}`"))
        .unwrap_or_else(|| panic!("the README lists {file}"));
    let rest = &readme[start + 3..];
    let item = &rest[..rest.find("\n- ").unwrap_or(rest.len())];
    let item = &item[..item.find("\n\n").unwrap_or(item.len())];
    let jobs = &item[item.find(" job").expect("names jobs")..];
    let re = regex::Regex::new(r"(?:^|[ ,(]|and )`([a-z-]+)`\s+\(|job `([a-z-]+)`").unwrap();
    re.captures_iter(jobs)
        .map(|c| c.get(1).or(c.get(2)).unwrap().as_str().to_string())
        .collect()
}

#[test]
fn ci_workflow_checks_pull_requests_as_ci_does() {
    let wf = workflow("ci.yml");
    assert_eq!(wf.name, "ci");
    assert!(wf.on.get("pull_request").is_some(), "runs on pull requests");
    assert_eq!(sorted(readme_jobs("ci.yml")), job_names(&wf));
    assert!(runs(&wf.jobs["fmt"]).contains("cargo fmt --check"));
    assert!(runs(&wf.jobs["clippy"]).contains("cargo clippy --all-targets -- -D warnings"));
    assert_eq!(wf.permissions["contents"], "read");
    let test = &wf.jobs["test"];
    assert_eq!(
        test.container.as_ref().unwrap()["image"].as_str(),
        Some("rust:1-bookworm"),
        ".ci/run expects a Debian machine and root"
    );
    assert!(runs(test).contains("bash .ci/run"));
    assert!(runs(test).contains("kubectl") && runs(test).contains("sha256sum -c"));
    // .ci/run is what the test job runs: it installs the tools the tests need and tests.
    let ci_run = read(".ci/run");
    for needed in [
        "docker-registry",
        "skopeo",
        "apache2-utils",
        "postgresql",
        "cargo test",
    ] {
        assert!(ci_run.contains(needed), ".ci/run: {needed}");
    }
}

#[test]
fn release_workflow_ships_binaries_man_pages_checksums_and_the_image() {
    let wf = workflow("release.yml");
    let tags = &wf.on["push"]["tags"];
    assert_eq!(tags[0].as_str(), Some("v*"));
    assert_eq!(sorted(readme_jobs("release.yml")), job_names(&wf));
    let binaries = &wf.jobs["binaries"];
    let targets: Vec<&str> = binaries
        .strategy
        .as_ref()
        .unwrap()
        .matrix
        .include
        .iter()
        .map(|m| m["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
    );
    let script = runs(binaries);
    let bin = bin_name();
    assert!(script.contains(&format!(
        "cargo build --release --locked --bin {bin} --target ${{{{ matrix.target }}}}"
    )));
    assert!(
        script.contains("man --out-dir \"dist/$name/man/man1\""),
        "{script}"
    );
    assert!(script.contains("sha256sum \"$name.tar.gz\""), "{script}");
    assert!(
        script.contains("ln -s migtag \"dist/$name/kubectl-migtag\""),
        "{script}"
    );
    let publish = &wf.jobs["publish"];
    assert_eq!(publish.permissions["contents"], "write");
    assert!(runs(publish).contains("SHA256SUMS") && runs(publish).contains("gh release create"));

    let image = &wf.jobs["image"];
    assert_eq!(image.permissions["packages"], "write");
    assert!(runs(image).contains("IMAGE=ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/migtag"));
    let push = uses(image, "docker/build-push-action@");
    assert_eq!(push.with["file"].as_str(), Some("Dockerfile"));
    assert_eq!(push.with["push"].as_bool(), Some(true));
    assert_eq!(
        push.with["platforms"].as_str(),
        Some("linux/amd64,linux/arm64")
    );
    assert!(push.with["tags"]
        .as_str()
        .unwrap()
        .contains("${{ env.IMAGE }}:${{ github.ref_name }}"));

    // The Helm example runs the image this workflow pushes for this version, with the owner
    // left as a placeholder the user must set.
    let example = read("examples/helm-pre-upgrade-gate.yaml");
    assert!(
        example.contains(&format!(
            "image: \"ghcr.io/OWNER/migtag:v{}\"",
            cargo_version()
        )),
        "the example names ghcr.io/OWNER/migtag:v{}",
        cargo_version()
    );
    assert!(example.contains("OWNER is a placeholder"));
}

#[test]
fn refresh_workflow_still_loads() {
    let wf = workflow("refresh-index.yml");
    assert_eq!(readme_jobs("refresh-index.yml"), ["refresh"]);
    assert!(wf.jobs.contains_key("refresh"));
    assert!(runs(&wf.jobs["refresh"]).contains("docker-registry skopeo apache2-utils"));
}
