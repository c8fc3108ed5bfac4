//! `index update` (GitHub) and `index build --from-git`: real git repositories made here, a
//! local HTTP server answering like GitHub's REST API, the cache, and the lookup order.

pub mod fake_github;
pub mod gitrepo;
mod on_demand;

use std::path::Path;

use serde_json::Value;

use crate::common::{migtag, run};
use fake_github::FakeGithub;
use gitrepo::{coder_like, GitRepo};

/// Extra patch tags, so that the tag list takes two pages of 100.
const EXTRA: usize = 120;

struct Env {
    rt: tokio::runtime::Runtime,
    fake: FakeGithub,
    server: wiremock::MockServer,
    home: tempfile::TempDir,
    repo: GitRepo,
}

impl Env {
    fn new() -> Self {
        let repo = coder_like(EXTRA);
        let fake = FakeGithub::new(repo.model("coder/coder"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(fake_github::serve(&fake));
        Env {
            rt,
            fake,
            server,
            home: tempfile::tempdir().unwrap(),
            repo,
        }
    }

    /// migtag with this test's own HOME and cache.
    fn migtag(&self) -> assert_cmd::Command {
        let mut cmd = migtag();
        cmd.env("HOME", self.home.path());
        cmd.env("XDG_CACHE_HOME", self.home.path().join(".cache"));
        cmd
    }

    fn requests(&self) -> Vec<wiremock::Request> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    /// Runs `index update` against the fake; returns (JSON report, stderr, exit code, the
    /// requests this run sent).
    fn update(&self, extra: &[&str]) -> (Value, String, i32, Vec<wiremock::Request>) {
        let before = self.requests().len();
        let uri = self.server.uri();
        let mut cmd = self.migtag();
        cmd.args([
            "index",
            "update",
            "--github-api-url",
            &uri,
            "--format",
            "json",
        ])
        .args(extra);
        let (out, err, code) = run(&mut cmd);
        let doc = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("one JSON document ({e}): {out}\n{err}"));
        let sent = self.requests().split_off(before);
        (doc, err, code, sent)
    }

    fn cache_index(&self) -> std::path::PathBuf {
        self.home.path().join(".cache/migtag/index.json")
    }
}

fn read_index(path: &Path) -> migtag::core::Index {
    migtag::core::Index::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The index's JSON with the provenance of another source, to compare the facts alone.
fn facts(index: &migtag::core::Index) -> String {
    let mut i = index.clone();
    i.provenance = migtag::core::Provenance {
        source: "x".into(),
        detail: "x".into(),
        generated_at: "x".into(),
        complete: true,
    };
    i.to_json()
}

fn build_from_git(env: &Env, out: &Path) -> Value {
    let (stdout, err, code) = run(env
        .migtag()
        .args(["index", "build", "--from-git"])
        .arg(env.repo.path())
        .arg("--out")
        .arg(out)
        .args(["--format", "json"]));
    assert_eq!(code, 0, "{stdout}{err}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn git_and_github_give_the_same_index_for_the_same_content() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let from_git = dir.path().join("git.json");
    let git_report = build_from_git(&env, &from_git);
    let from_github = dir.path().join("github.json");
    let (report, err, code, _) = env.update(&["--out", from_github.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}{err}");

    let g = read_index(&from_git);
    let h = read_index(&from_github);
    assert_eq!(facts(&g), facts(&h), "same facts, byte for byte");
    assert_eq!(g.provenance.source, "git");
    assert_eq!(h.provenance.source, "github");
    assert!(
        h.provenance.detail.contains("/repos/coder/coder"),
        "{}",
        h.provenance.detail
    );
    assert!(g.provenance.detail.contains("git clone"));
    assert!(
        !env.cache_index().exists(),
        "--out writes there, not to the cache"
    );

    // The facts themselves.
    let set = |tag: &str| {
        h.release(tag)
            .unwrap_or_else(|| panic!("{tag} listed"))
            .migrations
            .to_string()
    };
    assert_eq!(
        set("v0.1.0"),
        "1",
        "the old layout's database/migrations is the second default folder"
    );
    assert_eq!(
        set("v1.0.0"),
        "1-3",
        "testdata fixtures (2, 49) are not migrations"
    );
    assert_eq!(set("v1.0.1"), "1-3");
    assert_eq!(set("v1.0.2"), "1-4", "a patch that adds a migration");
    assert_eq!(set("v1.0.50"), "1-4");
    assert_eq!(set("v1.1.0"), "1-6");
    assert_eq!(set("v1.1.2"), "1-4,6", "an irregular set stays exact");
    assert_eq!(set("v1.2.0-rc.0"), "1-7");
    assert_eq!(set("v1.2.0"), "1-8", "range sub-folders count");
    assert!(h.release("v1.2.0-rc.0").unwrap().prerelease);
    assert_eq!(h.releases().len(), 9 + EXTRA);
    assert_eq!(
        h.name(7),
        Some("new_name"),
        "the newest tag names a migration"
    );
    assert_eq!(h.name(4), Some("cherry_picked"));
    let v102 = h.release("v1.0.2").unwrap();
    assert_eq!(
        v102.date.as_deref(),
        Some("2023-02-01T06:30:00Z"),
        "+05:30 normalised to UTC"
    );
    assert_eq!(
        v102.commit.as_deref(),
        Some(env.repo.git(&["rev-parse", "v1.0.2"]).trim())
    );
    let v110 = h.release("v1.1.0").unwrap();
    assert_eq!(
        v110.commit.as_deref(),
        Some(env.repo.git(&["rev-parse", "v1.1.0^{commit}"]).trim()),
        "annotated tags peel to the commit"
    );

    for report in [&report, &git_report] {
        let notes = report["notes"].to_string();
        assert!(notes.contains("tag `rm` is not a release tag"), "{notes}");
        assert!(notes.contains("weird;touch_pwned"), "{notes}");
        assert!(!notes.contains("v0.1.0"), "{notes}");
        assert!(notes.contains("notes.sql"), "{notes}");
        assert!(
            !notes.contains("migrate.go"),
            "Go files are silently not migrations: {notes}"
        );
    }
    assert_eq!(git_report["index"]["source"], "git");
    assert!(
        git_report["git_calls"].as_u64().unwrap() <= 2 + 1 + 7,
        "{git_report}"
    );
}

#[test]
fn a_cold_update_costs_one_request_per_new_commit_pair_and_tree_and_a_warm_one_a_single_304() {
    let env = Env::new();
    // An empty cache, and the bundled index (the only one there) knows none of these commits.
    // 131 tags: 2 pages. 9 distinct commits behind release tags (all extras share v1.0.2's):
    // 2 requests each, plus 1 for v0.1.0, whose first folder is missing so the second is
    // asked for. 7 distinct migrations trees (v1.0.1 and v1.1.1 share theirs): 1 each.
    let (cold, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{cold}{err}");
    assert_eq!(cold["requests"]["releases_reused"], 0);
    assert_eq!(
        sent.len(),
        2 + 9 * 2 + 1 + 7,
        "{:#?}",
        sent.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(cold["requests"]["requests"], sent.len());
    assert_eq!(cold["requests"]["tag_pages"], 2);
    assert_eq!(cold["requests"]["commits_fetched"], 9);
    assert_eq!(cold["requests"]["trees_fetched"], 7);
    assert!(sent
        .iter()
        .any(|r| r.url.path().ends_with("/contents/database")));
    assert_eq!(cold["unchanged"], false);
    assert!(sent
        .iter()
        .filter(|r| r.url.path().contains("/git/trees/"))
        .all(|r| r.url.query() == Some("recursive=1")));
    assert!(env.cache_index().exists());
    let first = std::fs::read_to_string(env.cache_index()).unwrap();

    let (warm, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{warm}{err}");
    assert_eq!(sent.len(), 1, "nothing new upstream: one request");
    assert!(sent[0].url.path().ends_with("/tags"));
    assert!(
        sent[0].headers.get("if-none-match").is_some(),
        "the refresh is conditional"
    );
    assert_eq!(warm["unchanged"], true);
    assert_eq!(warm["requests"]["not_modified"], 1);
    let second = std::fs::read_to_string(env.cache_index()).unwrap();
    assert_eq!(
        facts(&migtag::core::Index::from_json(&first).unwrap()),
        facts(&migtag::core::Index::from_json(&second).unwrap())
    );

    // A new patch release with one more migration: the pages, its commit, its tree.
    env.repo.migration("000006-000010", 9, "hotfix");
    env.repo.commit("v1.2.1", "2023-06-01T00:00:00Z");
    env.repo.tag("v1.2.1");
    *env.fake.model.lock().unwrap() = env.repo.model("coder/coder");
    let (next, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{next}{err}");
    assert_eq!(
        sent.len(),
        2 + 2 + 1,
        "{:#?}",
        sent.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(next["unchanged"], false);
    assert_eq!(next["index"]["newest_tag"], "v1.2.1");
    assert_eq!(
        read_index(&env.cache_index())
            .release("v1.2.1")
            .unwrap()
            .migrations
            .to_string(),
        "1-9"
    );

    // The human form says so in its first line, and no progress bar leaks into a pipe.
    let uri = env.server.uri();
    let (out, err, code) = run(env
        .migtag()
        .args(["index", "update", "--github-api-url", &uri]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("the index is up to date (GitHub answered 304"),
        "{out}"
    );
    assert!(
        out.contains("requests:   1 (1 answered 304, 0 retried)"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");

    // --refresh forgets the cache and the cached index alike: a cold run again.
    let (doc, _, code, sent) = env.update(&["--refresh"]);
    assert_eq!(code, 0);
    assert_eq!(sent.len(), 2 + 10 * 2 + 1 + 8);
    assert_eq!(doc["requests"]["releases_reused"], 0);
}

#[test]
fn a_rate_limit_stops_with_exit_11_saying_when_it_resets_and_that_a_token_helps() {
    let env = Env::new();
    env.fake.faults.lock().unwrap().rate_limited = true;
    let (doc, err, code, sent) = env.update(&[]);
    assert_eq!(code, 11, "{doc}{err}");
    assert_eq!(sent.len(), 1, "no retry against a rate limit");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("rate limit reached (60 requests an hour)"),
        "{msg}"
    );
    assert!(
        msg.contains("resets at") && msg.contains("UTC (in 30 min)"),
        "{msg}"
    );
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("GITHUB_TOKEN"),
        "{doc}"
    );

    // With a token: the token is sent, never shown, and the hint says to wait.
    let token = "ghp_migtagTestToken0123456789abcdefABCDEF";
    let uri = env.server.uri();
    let before = env.requests().len();
    let (out, err, code) = run(env.migtag().env("GH_TOKEN", token).args([
        "index",
        "update",
        "--github-api-url",
        &uri,
    ]));
    assert_eq!(code, 11);
    assert!(err.contains("wait for the reset"), "{err}");
    assert!(!out.contains(token) && !err.contains(token));
    let sent = env.requests().split_off(before);
    let auth = sent[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(auth, format!("Bearer {token}"));
}

#[test]
fn server_errors_are_retried_with_backoff_then_succeed() {
    let env = Env::new();
    env.fake.faults.lock().unwrap().fail =
        vec![("/git/trees/".into(), 500, 1), ("/tags".into(), 502, 2)];
    let (doc, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{doc}{err}");
    assert_eq!(doc["requests"]["retries"], 3);
    assert_eq!(sent.len(), 2 + 9 * 2 + 1 + 7 + 3);

    // A server that keeps failing: bounded, then exit 11.
    env.fake.faults.lock().unwrap().fail = vec![("/tags".into(), 503, 100)];
    let (doc, _, code, sent) = env.update(&["--refresh"]);
    assert_eq!(code, 11);
    assert_eq!(sent.len(), 4, "one try and three retries");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gave up after 4 attempts"),
        "{doc}"
    );
}

#[test]
fn malformed_answers_and_short_pages_are_upstream_errors() {
    let env = Env::new();
    env.fake.faults.lock().unwrap().malformed_tags = true;
    let (doc, _, code, _) = env.update(&[]);
    assert_eq!(code, 11);
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/tags") && msg.contains("ends early"), "{msg}");
    assert!(!env.cache_index().exists(), "nothing half-built is written");

    *env.fake.faults.lock().unwrap() = fake_github::Faults {
        short_page: true,
        ..Default::default()
    };
    let (doc, _, code, _) = env.update(&[]);
    assert_eq!(code, 11);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("short page (99 of 100 tags)"),
        "{doc}"
    );
}

#[test]
fn a_truncated_recursive_tree_is_completed_by_walking_its_sub_trees() {
    let env = Env::new();
    env.fake.faults.lock().unwrap().truncate_over = Some(3);
    let dir = tempfile::tempdir().unwrap();
    let (doc, err, code, sent) =
        env.update(&["--out", dir.path().join("h.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}{err}");
    assert!(
        sent.iter()
            .any(|r| r.url.path().contains("/git/trees/") && r.url.query().is_none()),
        "non-recursive walk"
    );
    build_from_git(&env, &dir.path().join("g.json"));
    assert_eq!(
        facts(&read_index(&dir.path().join("h.json"))),
        facts(&read_index(&dir.path().join("g.json")))
    );
    let walked: Vec<_> = sent
        .iter()
        .filter(|r| r.url.path().contains("/git/trees/"))
        .map(|r| r.url.path().rsplit('/').next().unwrap().to_string())
        .collect();
    let testdata = env
        .repo
        .git(&["rev-parse", "v1.0.0:coderd/database/migrations/testdata"]);
    assert!(
        !walked.contains(&testdata.trim().to_string()),
        "testdata/ is never fetched"
    );
}

#[test]
fn offline_update_refuses_without_touching_the_network() {
    let env = Env::new();
    let uri = env.server.uri();
    let (_, err, code) =
        run(env
            .migtag()
            .args(["--offline", "index", "update", "--github-api-url", &uri]));
    assert_eq!(code, 2);
    assert!(err.contains("--offline forbids the network"), "{err}");
    assert!(env.requests().is_empty());
}

#[test]
fn answers_use_index_then_cache_then_bundled_and_say_which_and_how_old() {
    let env = Env::new();
    let show = |extra: &[&str]| {
        let (out, err, code) = run(env
            .migtag()
            .args(extra)
            .args(["index", "show", "--format", "json"]));
        assert_eq!(code, 0, "{err}");
        (serde_json::from_str::<Value>(&out).unwrap(), err)
    };
    let (doc, _) = show(&[]);
    assert_eq!(doc["source"], "bundled");
    assert_eq!(doc["used"], "bundled in the binary");

    let (_, _, code, _) = env.update(&[]);
    assert_eq!(code, 0);
    let (doc, _) = show(&[]);
    assert_eq!(doc["source"], "github");
    assert!(
        doc["used"]
            .as_str()
            .unwrap()
            .ends_with(".cache/migtag/index.json (cache)"),
        "{doc}"
    );
    assert_eq!(doc["age_days"], 0);
    let (out, _, _) = run(env.migtag().args(["releases", "--format", "json"]));
    let rel: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rel["index"]["source"], "github");
    assert_eq!(rel["releases"][0]["tag"], "v1.2.0");

    let bundled =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/coder-index.json");
    let (doc, _) = show(&["--index", bundled.to_str().unwrap()]);
    assert_eq!(doc["source"], "bundled", "--index wins over the cache");

    // An old cached index warns on stderr, and JSON stays one document on stdout.
    let mut old = read_index(&env.cache_index());
    old.provenance.generated_at = "2020-01-01T00:00:00Z".into();
    std::fs::write(env.cache_index(), old.to_json()).unwrap();
    let (out, err, code) = run(env.migtag().args(["releases", "--format", "json"]));
    assert_eq!(code, 0);
    serde_json::from_str::<Value>(&out).expect("one JSON document");
    assert!(
        err.contains("warning: the index (github) is")
            && err.contains("days old")
            && err.contains("index update"),
        "{err}"
    );

    // A database beyond the index is told to refresh it.
    let (_, err, code) = run(env
        .migtag()
        .args(["check", "--version", "9", "--format", "json"]));
    assert_eq!(code, 5);
    assert!(err.contains("beyond the index (highest 000008"), "{err}");

    // A damaged cache is named, never silently ignored, and never stops an answer: the
    // bundled index answers instead.
    std::fs::write(env.cache_index(), "{").unwrap();
    let (out, err, code) =
        run(env
            .migtag()
            .args(["--format", "json", "check", "--version", "165"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("cached index") && err.contains("answering from the bundled index"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["index"]["source"], "bundled");
    assert_eq!(doc["index"]["used"], "bundled in the binary");
}

#[test]
fn build_from_git_writes_the_cache_and_refuses_what_is_not_a_repository() {
    let env = Env::new();
    let (out, err, code) = run(env
        .migtag()
        .args(["index", "build", "--from-git"])
        .arg(env.repo.path()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built the index from git clone"), "{out}");
    assert_eq!(read_index(&env.cache_index()).provenance.source, "git");

    let empty = tempfile::tempdir().unwrap();
    let (_, err, code) = run(env
        .migtag()
        .args(["index", "build", "--from-git"])
        .arg(empty.path()));
    assert_eq!(code, 11, "{err}");
    assert!(err.contains("is not a git repository"), "{err}");

    let (_, err, code) = run(env
        .migtag()
        .args([
            "index",
            "build",
            "--migrations-path",
            "../etc",
            "--from-git",
        ])
        .arg(env.repo.path()));
    assert_eq!(code, 2, "{err}");
    let (_, err, code) = run(env.migtag().args([
        "index",
        "update",
        "--repo",
        "coder",
        "--github-api-url",
        "http://127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(env.requests().is_empty());
}

#[test]
fn a_cold_update_seeded_from_the_cached_index_costs_the_tag_pages_and_only_new_commits() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    // The cached index, built from the clone: it knows every commit.
    build_from_git(&env, &env.cache_index());
    let from_git = read_index(&env.cache_index());
    let (doc, err, code, sent) =
        env.update(&["--out", dir.path().join("h.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}{err}");
    assert_eq!(
        sent.len(),
        2,
        "the two tag pages, nothing else: {:#?}",
        sent.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(doc["requests"]["releases_reused"], 9 + EXTRA);
    let seeded = read_index(&dir.path().join("h.json"));
    assert_eq!(
        facts(&seeded),
        facts(&from_git),
        "the same facts as fetching them"
    );
    let detail = &seeded.provenance.detail;
    assert!(
        detail.contains(&format!(
            "{} releases reused from the cached index",
            9 + EXTRA
        )) && detail.contains("by commit SHA (129 of their dates as recorded there, 0 fetched)"),
        "{detail}"
    );
    assert!(detail.starts_with("github api "), "{detail}");

    // A new tag on a commit the index knows costs its date; a new commit costs its date, its
    // folder and its tree. The cached index (from git) still seeds the rest.
    env.repo.tag("v1.2.1");
    env.repo.migration("000006-000010", 9, "hotfix");
    env.repo.commit("v1.3.0", "2023-06-01T00:00:00Z");
    env.repo.tag("v1.3.0");
    *env.fake.model.lock().unwrap() = env.repo.model("coder/coder");
    let (doc, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{doc}{err}");
    let urls: Vec<String> = sent.iter().map(|r| r.url.path().to_string()).collect();
    assert_eq!(sent.len(), 2 + 1 + 2 + 1, "{urls:#?}");
    let v120 = env.repo.git(&["rev-parse", "v1.2.0"]).trim().to_string();
    assert!(urls
        .iter()
        .any(|u| u.ends_with(&format!("/git/commits/{v120}"))));
    let h = read_index(&env.cache_index());
    assert_eq!(h.release("v1.2.1").unwrap().migrations.to_string(), "1-8");
    assert_eq!(
        h.release("v1.2.1").unwrap().date.as_deref(),
        Some("2023-05-01T00:00:00Z"),
        "the commit's own date, fetched"
    );
    assert_eq!(h.release("v1.3.0").unwrap().migrations.to_string(), "1-9");
    // And it equals a fresh build from the clone.
    let again = dir.path().join("g.json");
    build_from_git(&env, &again);
    assert_eq!(facts(&h), facts(&read_index(&again)));
}

#[test]
fn an_index_read_from_other_folders_or_another_repository_is_not_reused() {
    let env = Env::new();
    let only_new = ["--migrations-path", "coderd/database/migrations"];
    // Built from one folder only: v0.1.0 is skipped there...
    let (stdout, err, code) = run(env
        .migtag()
        .args(["index", "build", "--from-git"])
        .arg(env.repo.path())
        .args(only_new)
        .args(["--format", "json"]));
    assert_eq!(code, 0, "{stdout}{err}");
    let one = read_index(&env.cache_index());
    assert_eq!(one.release("v0.1.0"), None);
    assert!(
        stdout.contains("v0.1.0: no coderd/database/migrations folder"),
        "{stdout}"
    );
    // ...so it cannot stand in for the default two folders: a full cold run.
    let (doc, err, code, sent) = env.update(&["-v"]);
    assert_eq!(code, 0, "{doc}{err}");
    assert_eq!(doc["requests"]["releases_reused"], 0);
    assert_eq!(sent.len(), 2 + 9 * 2 + 1 + 7);
    assert!(err.contains("not reusing the cached index"), "{err}");
    assert_eq!(
        read_index(&env.cache_index())
            .release("v0.1.0")
            .unwrap()
            .migrations
            .to_string(),
        "1"
    );

    // The same single folder on both sources: still the same index, v0.1.0 left out.
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.json");
    let (_, err, code) = run(env
        .migtag()
        .args(["index", "build", "--from-git"])
        .arg(env.repo.path())
        .args(only_new)
        .arg("--out")
        .arg(&g));
    assert_eq!(code, 0, "{err}");
    let h = dir.path().join("h.json");
    let mut args = vec!["--refresh", "--out", h.to_str().unwrap()];
    args.extend(only_new);
    let (doc, err, code, _) = env.update(&args);
    assert_eq!(code, 0, "{doc}{err}");
    assert_eq!(facts(&read_index(&g)), facts(&read_index(&h)));
    assert_eq!(read_index(&h).release("v0.1.0"), None);

    // Another repository's index is never a seed (the GitHub cache is dropped, so only a
    // seed could save requests).
    for e in std::fs::read_dir(env.home.path().join(".cache/migtag")).unwrap() {
        let path = e.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("github-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (_, err, code) = run(env
        .migtag()
        .args(["index", "build", "--repo", "someone/fork", "--from-git"])
        .arg(env.repo.path()));
    assert_eq!(code, 0, "{err}");
    let (doc, err, code, sent) = env.update(&["-v"]);
    assert_eq!(code, 0, "{doc}{err}");
    assert_eq!(doc["requests"]["releases_reused"], 0);
    assert_eq!(sent.len(), 2 + 9 * 2 + 1 + 7);
    assert!(err.contains("someone/fork"), "{err}");
}

/// A GitHub that lists exactly the bundled index's tags at their commits and knows nothing
/// else: any request beyond the tag list answers 404 and fails the update.
fn bundled_model() -> (fake_github::Model, migtag::core::Index) {
    let bundled = migtag::bundled::load().unwrap();
    let mut tags: Vec<(semver::Version, String, String)> = bundled
        .releases()
        .iter()
        .map(|r| {
            (
                semver::Version::parse(&r.tag[1..]).unwrap(),
                r.tag.clone(),
                r.commit.clone().unwrap(),
            )
        })
        .collect();
    tags.sort();
    tags.reverse();
    let model = fake_github::Model {
        repo: "coder/coder".into(),
        tags: tags.into_iter().map(|(_, t, c)| (t, c)).collect(),
        ..Default::default()
    };
    (model, bundled)
}

#[test]
fn a_cold_update_seeded_from_the_bundled_index_costs_only_the_tag_pages() {
    let (model, bundled) = bundled_model();
    let env = Env::new();
    *env.fake.model.lock().unwrap() = model;
    let (doc, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{doc}{err}");
    let n = bundled.releases().len();
    assert_eq!(sent.len(), n.div_ceil(100), "the tag pages alone");
    assert_eq!(doc["requests"]["releases_reused"], n);
    let h = read_index(&env.cache_index());
    assert_eq!(h.releases().len(), n, "v0.1.x and v0.2.x are kept");
    for (a, b) in bundled.releases().iter().zip(h.releases()) {
        assert_eq!(
            (&a.tag, &a.commit, &a.migrations),
            (&b.tag, &b.commit, &b.migrations)
        );
        let date = migtag::core::upstream::normalise_date(a.date.as_deref().unwrap()).unwrap();
        assert_eq!(b.date.as_deref(), Some(date.as_str()), "{}", a.tag);
    }
    assert_eq!(h.names(), bundled.names());
    assert_eq!(h.provenance.source, "github");
    assert!(h.provenance.complete, "GitHub's tag list is complete");
    assert!(
        h.provenance.detail.contains(&format!(
            "{n} releases reused from the bundled index by commit SHA ({n} of their dates as recorded there, 0 fetched)"
        )),
        "{}",
        h.provenance.detail
    );
    assert_eq!(
        h.project.fallback_migrations_paths,
        ["database/migrations"],
        "the index says which folders it read"
    );

    // One folder only: the bundled facts (read from two) do not apply, so the commits are
    // asked for, and this GitHub does not know them.
    let home = tempfile::tempdir().unwrap();
    let uri = env.server.uri();
    let before = env.requests().len();
    let (_, err, code) = run(migtag()
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .args(["index", "update", "--github-api-url", &uri])
        .args(["--migrations-path", "coderd/database/migrations"]));
    assert_eq!(code, 11, "{err}");
    assert!(
        err.contains("the commit of a listed tag is missing"),
        "{err}"
    );
    let sent = env.requests().split_off(before);
    assert!(sent.iter().any(|r| r.url.path().contains("/git/commits/")));
}

/// `index update` as a human reads it, cold then warm (304), and `index show` of the result;
/// the temporary HOME and the fake server's port are filtered.
#[test]
fn update_and_show_human_snapshots() {
    let env = Env::new();
    let home = env.home.path().display().to_string();
    let uri = env.server.uri();
    let mut settings = insta::Settings::clone_current();
    // With the other snapshots, not in a folder beside this module.
    settings.set_snapshot_path("../snapshots");
    settings.add_filter(&regex::escape(&home), "[home]");
    settings.add_filter(&regex::escape(&uri), "[github]");
    settings.add_filter(r"generated \d{4}-\d\d-\d\dT[\d:]+Z", "generated [now]");
    settings.add_filter(r"generated at:  \S+", "generated at:  [now]");
    let update = || {
        run(env.migtag().args([
            "--color",
            "never",
            "index",
            "update",
            "--github-api-url",
            &uri,
        ]))
    };
    let (cold, err, code) = update();
    assert_eq!(code, 0, "{err}");
    let (warm, err, code) = update();
    assert_eq!(code, 0, "{err}");
    let (show, err, code) = run(env.migtag().args(["--color", "never", "index", "show"]));
    assert_eq!(code, 0, "{err}");
    settings.bind(|| {
        insta::assert_snapshot!("index_update_cold_human", cold);
        insta::assert_snapshot!("index_update_warm_human", warm);
        insta::assert_snapshot!("index_show_after_update_human", show);
    });
}
