//! Requests and wall time of `index update` against a local GitHub REST server holding a
//! synthetic repository (300 tags, 600 migrations): cold with nothing known, cold seeded from
//! an existing index (all commits known, or all but the newest release line), and warm,
//! against the naive way (two requests per tag: the migrations folder's listing and the
//! commit).
//!
//! Run: `cargo bench --bench index_update` (optionally `LATENCY_MS=50` to make every answer
//! wait like a real round trip to GitHub).

#[path = "../tests/cli/index_sources/fake_github.rs"]
mod fake_github;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_github::{Entry, FakeGithub, Model};
use migtag::adapters::github::{update, FetchOptions, GithubCache, GithubSource, Seed};
use migtag::core::upstream::known_facts;
use migtag::core::Project;

const LINES: u32 = 60;
const PATCHES: u32 = 5;
const PER_LINE: u32 = 10;

fn sha(kind: u32, n: u32) -> String {
    format!("{kind:08x}{n:032x}")
}

/// 60 release lines x 5 patches = 300 tags on 300 commits; line k ships 10(k+1) migrations
/// (600 in the end); patch .3 of each line but the last cherry-picks the next line's first
/// migration, so there are 119 distinct migrations trees. Each tree also holds Go code and a
/// `testdata/` fixture folder, as Coder's does.
fn synthetic() -> Model {
    let mut m = Model {
        repo: "coder/coder".into(),
        ..Default::default()
    };
    let file = |n: u32, side: &str| Entry {
        name: format!("{n:06}_migration_{n}.{side}.sql"),
        kind: "blob".into(),
        sha: sha(1, n * 2 + u32::from(side == "down")),
    };
    let testdata = sha(3, 0);
    m.trees.insert(
        testdata.clone(),
        vec![Entry {
            name: "000049_dump.up.sql".into(),
            kind: "blob".into(),
            sha: sha(1, 999_999),
        }],
    );
    let mut commit_no = 0;
    let mut tags = Vec::new();
    for line in 0..LINES {
        for patch in 0..PATCHES {
            let top = PER_LINE * (line + 1);
            let cherry = patch >= 3 && line + 1 < LINES;
            let tree = sha(2, line * 2 + u32::from(cherry));
            if !m.trees.contains_key(&tree) {
                let mut entries: Vec<Entry> = (1..=top)
                    .flat_map(|n| [file(n, "up"), file(n, "down")])
                    .collect();
                if cherry {
                    entries.push(file(top + 1, "up"));
                    entries.push(file(top + 1, "down"));
                }
                entries.push(Entry {
                    name: "migrate.go".into(),
                    kind: "blob".into(),
                    sha: sha(4, 0),
                });
                entries.push(Entry {
                    name: "testdata".into(),
                    kind: "tree".into(),
                    sha: testdata.clone(),
                });
                m.trees.insert(tree.clone(), entries);
            }
            commit_no += 1;
            let commit = sha(5, commit_no);
            let day = 1 + (commit_no % 28);
            m.commit_dates.insert(
                commit.clone(),
                format!("2024-{:02}-{day:02}T12:00:00Z", 1 + line % 12),
            );
            m.folders.insert(
                (commit.clone(), "coderd/database".into()),
                vec![
                    Entry {
                        name: "dump.sql".into(),
                        kind: "blob".into(),
                        sha: sha(6, commit_no),
                    },
                    Entry {
                        name: "migrations".into(),
                        kind: "tree".into(),
                        sha: tree.clone(),
                    },
                ],
            );
            let listing = m.trees[&tree].clone();
            m.folders.insert(
                (commit.clone(), "coderd/database/migrations".into()),
                listing,
            );
            tags.push((format!("v2.{line}.{patch}"), commit));
        }
    }
    tags.reverse();
    m.tags = tags;
    m
}

/// The naive way: for every tag, list the migrations folder and read the commit.
async fn naive(base: &str, model: &Model, concurrency: usize) -> usize {
    let client = reqwest::Client::new();
    let tags: Vec<(String, String)> = model.tags.clone();
    let mut requests = 0;
    let mut page = 1;
    loop {
        let r = client
            .get(format!(
                "{base}/repos/coder/coder/tags?per_page=100&page={page}"
            ))
            .header("user-agent", "bench")
            .send()
            .await
            .unwrap();
        requests += 1;
        let has_next = r
            .headers()
            .get("link")
            .is_some_and(|l| l.to_str().unwrap().contains("rel=\"next\""));
        let _: serde_json::Value = r.json().await.unwrap();
        if !has_next {
            break;
        }
        page += 1;
    }
    let mut set = tokio::task::JoinSet::new();
    let mut it = tags.into_iter();
    loop {
        while set.len() < concurrency {
            let Some((tag, commit)) = it.next() else {
                break;
            };
            let (client, base) = (client.clone(), base.to_string());
            set.spawn(async move {
                for url in [
                    format!(
                        "{base}/repos/coder/coder/contents/coderd/database/migrations?ref={tag}"
                    ),
                    format!("{base}/repos/coder/coder/git/commits/{commit}"),
                ] {
                    let r = client
                        .get(url)
                        .header("user-agent", "bench")
                        .send()
                        .await
                        .unwrap();
                    let _: serde_json::Value = r.json().await.unwrap();
                }
            });
        }
        match set.join_next().await {
            Some(r) => {
                r.unwrap();
                requests += 2;
            }
            None => break,
        }
    }
    requests
}

fn main() {
    let latency = std::env::var("LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let mut model = synthetic();
    // The naive way asks for the listing by tag name; give the fake those keys too.
    let by_tag: BTreeMap<(String, String), Vec<Entry>> = model
        .tags
        .iter()
        .map(|(tag, commit)| {
            let key = (commit.clone(), "coderd/database/migrations".to_string());
            ((tag.clone(), key.1.clone()), model.folders[&key].clone())
        })
        .collect();
    model.folders.extend(by_tag);
    let distinct_trees = model.trees.len() - 1; // less the shared testdata/ tree
    let fake = FakeGithub::new(model.clone());
    fake.faults.lock().unwrap().latency = latency;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(fake_github::serve(&fake));
    let count = || rt.block_on(server.received_requests()).unwrap().len();
    let source = GithubSource {
        api_url: server.uri(),
        project: Project::coder(),
        token: None,
    };
    let opts = FetchOptions::default();
    println!(
        "synthetic repository: {} tags, 600 migrations, {distinct_trees} distinct migrations trees; latency per answer: {}",
        model.tags.len(),
        latency.map(|d| format!("{d:?}")).unwrap_or_else(|| "none (local server)".into())
    );
    println!("{:<34} {:>9} {:>12}", "run", "requests", "wall time");

    let runs = 5;
    let report = |name: &str, f: &mut dyn FnMut() -> usize| {
        let mut times = Vec::new();
        let mut reqs = 0;
        for _ in 0..runs {
            let before = count();
            let t = Instant::now();
            let claimed = f();
            times.push(t.elapsed());
            reqs = count() - before;
            assert_eq!(
                claimed, reqs,
                "{name}: the client's own count agrees with the server's"
            );
        }
        times.sort();
        println!(
            "{name:<34} {reqs:>9} {:>10.1} ms (median of {runs})",
            times[runs / 2].as_secs_f64() * 1000.0
        );
    };

    report("migtag cold (empty cache)", &mut || {
        let mut cache = GithubCache::new(&source);
        let u = update(&source, &mut cache, &[], &opts, "2026-11-27T00:00:00Z").unwrap();
        assert_eq!(u.index.releases().len(), 300);
        assert_eq!(u.index.max_known_migration(), Some(600));
        u.stats.requests
    });
    let mut warm = GithubCache::new(&source);
    let full = update(&source, &mut warm, &[], &opts, "2026-11-27T00:00:00Z")
        .unwrap()
        .index;
    let all_known = Seed {
        label: "the cached index".into(),
        facts: known_facts(&full),
    };
    report("migtag cold, seeded (all known)", &mut || {
        let mut cache = GithubCache::new(&source);
        let u = update(
            &source,
            &mut cache,
            std::slice::from_ref(&all_known),
            &opts,
            "2026-11-27T00:00:00Z",
        )
        .unwrap();
        assert_eq!(u.index.releases(), full.releases(), "the same facts");
        assert_eq!(u.index.names(), full.names());
        assert_eq!(u.stats.releases_reused, 300);
        u.stats.requests
    });
    // The seed misses the newest line (5 tags, 5 commits, 1 migrations tree).
    let mut older = all_known.clone();
    let newest: Vec<String> = model.tags[..PATCHES as usize]
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    older.facts.folders.retain(|c, _| !newest.contains(c));
    older.facts.dates.retain(|(_, c), _| !newest.contains(c));
    report("migtag cold, seeded (5 tags new)", &mut || {
        let mut cache = GithubCache::new(&source);
        let u = update(
            &source,
            &mut cache,
            std::slice::from_ref(&older),
            &opts,
            "2026-11-27T00:00:00Z",
        )
        .unwrap();
        assert_eq!(u.stats.releases_reused, 295);
        assert_eq!(u.index.max_known_migration(), Some(600));
        u.stats.requests
    });
    report("migtag warm (nothing new: 304)", &mut || {
        let mut cache = warm.clone();
        let u = update(&source, &mut cache, &[], &opts, "2026-11-27T00:00:00Z").unwrap();
        assert!(u.unchanged);
        u.stats.requests
    });
    report("naive cold = warm (2 per tag)", &mut || {
        rt.block_on(naive(&source.api_url, &model, opts.concurrency))
    });
    let _ = &server;
}
