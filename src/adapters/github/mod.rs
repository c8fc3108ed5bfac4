//! The index from GitHub's REST API, through octocrab.
//!
//! Requests, and why they are cheap:
//! 1. `GET /repos/{repo}/tags?per_page=100`, following the `Link: rel="next"` header. Each
//!    page's ETag is remembered; page 1 is sent with `If-None-Match`, and a `304 Not
//!    Modified` (which GitHub does not count against the rate limit) means no tag was added,
//!    moved or deleted: a refresh with nothing new costs exactly that one request.
//! 2. Per commit that neither the cache nor a seed knows (tags point at commits; commits
//!    never change): `GET /repos/{repo}/git/commits/{sha}` for the committer date, and
//!    `GET /repos/{repo}/contents/{parent}?ref={sha}` whose entry for the migrations folder
//!    carries the folder's tree SHA. With several migrations folders the next one's parent
//!    is asked only where the previous folder is missing (404, or no such entry); where none
//!    exists the tag is skipped with a note.
//! 3. Per migrations tree SHA not seen before: `GET /repos/{repo}/git/trees/{sha}?recursive=1`
//!    (range sub-folders included, `testdata/` dropped). Patch releases that add no migration
//!    share their tree, so this is one request per distinct migrations folder, not per tag. A
//!    response marked `truncated` is completed by walking the sub-trees one by one.
//!
//! Seeds: an existing index of the same repository read from the same folders (the cached
//! one, an `--index` file, the bundled one) already says what each of its commits holds. A
//! commit SHA fixes that content, so a tag on such a commit costs nothing for its migrations;
//! its date is reused when the seed has one for the same tag at the same commit, else the
//! commit's date is fetched (1 request).
//!
//! Cold cost: pages + 2 x unknown commits (+1 per fallback folder asked) + distinct trees +
//! 1 per known commit whose tag is new; warm cost with nothing new: 1 (304). Commits and
//! trees are cached by SHA in the cache folder, so a new release costs the tag pages, 2
//! requests, and 1 more when its migrations changed.
//!
//! Not used: `git/trees/{ref}` accepts a SHA or a branch or tag name (documented), but a
//! `{ref}:{path}` form is not documented, so reaching the folder through it would rest on
//! undocumented behaviour; GraphQL could return a tag's date and folder OID in bulk but
//! needs a token.
//!
//! octocrab's typed API has no place for `If-None-Match` nor for reading `ETag`, `Link` or the
//! rate-limit headers, so every call goes through its raw `_get_with_headers` (octocrab
//! still provides the transport, TLS, base URL and authentication). Its own retry layer is
//! off: it retries immediately and also on 429; ours backs off, and stops on a rate limit.
//!
//! Layout: this file holds the update algorithm and its public types; [`cache`] the file
//! that remembers tag pages, commits and trees between runs; [`client`] the HTTP side
//! (octocrab, retries, rate limits, counters); [`responses`] the parsing of GitHub's JSON.

mod cache;
mod client;
mod files;
mod responses;

pub use cache::GithubCache;
use cache::{CommitFacts, TagPage};
pub use client::next_link;
use client::*;
pub use files::{tag_files, TagFiles};
use responses::*;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::core::index::{Index, Project, Provenance};
use crate::core::upstream::{
    assemble, is_fixture, is_sha, migrations_from_paths, normalise_date, release_tags,
    validate_migrations_path, validate_repo, FolderMigrations, KnownFacts, TagSnapshot,
};
use crate::error::{Error, Result};

/// GitHub's public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Tags per page (GitHub's maximum).
pub const PER_PAGE: usize = 100;

/// Where to read, and as whom.
#[derive(Clone)]
pub struct GithubSource {
    /// API root: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
    pub api_url: String,
    pub project: Project,
    /// A token raises the rate limit from 60 to 5,000 requests an hour. Never printed.
    pub token: Option<String>,
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Extra attempts after a 5xx, a timeout or a dropped connection.
    pub retries: u32,
    /// First back-off pause; doubled at each retry.
    pub backoff: Duration,
    /// Bound on one request, connection included.
    pub timeout: Duration,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            concurrency: 8,
            retries: 3,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
            progress: false,
        }
    }
}

/// What one update did, for the report and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchStats {
    /// HTTP requests sent, retries included.
    pub requests: usize,
    /// Of those, answered `304 Not Modified`.
    pub not_modified: usize,
    /// Of those, repeated after a 5xx or a timeout.
    pub retries: usize,
    pub tag_pages: usize,
    pub commits_fetched: usize,
    pub trees_fetched: usize,
    /// Migration files fetched by blob SHA (each only once: they are kept in the blob cache).
    #[serde(skip_serializing_if = "is_zero")]
    pub blobs_fetched: usize,
    /// Releases whose migrations came from an existing index by commit SHA (no request).
    pub releases_reused: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The outcome of [`update`].
pub struct Update {
    pub index: Index,
    /// Skipped tags and files.
    pub notes: Vec<String>,
    pub stats: FetchStats,
    /// True when GitHub answered 304 for the tag list: nothing new upstream.
    pub unchanged: bool,
}

/// Facts an existing index already holds (the cached index, an `--index` file, or the bundled
/// one), offered to [`update`] so that commits it knows cost no request. Only pass an index
/// of the same repository that read the same migrations folders.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where the facts come from, for the provenance: "the bundled index".
    pub label: String,
    pub facts: KnownFacts,
}

/// Where one release's facts came from.
enum Known<'a> {
    /// Fetched from GitHub, now or in an earlier run (the adapter's cache).
    Cached(&'a CommitFacts),
    /// Reused from a seed: its migrations, and its date when the seed recorded one for this
    /// tag at this commit (else the commit's date is fetched).
    Seeded {
        seed: usize,
        folder: &'a FolderMigrations,
        date: Option<&'a String>,
    },
}

fn known<'a>(
    cache: &'a GithubCache,
    seeds: &'a [Seed],
    tag: &str,
    commit: &str,
) -> Option<Known<'a>> {
    if let Some(facts) = cache.commits.get(commit) {
        return Some(Known::Cached(facts));
    }
    seeds.iter().enumerate().find_map(|(i, s)| {
        s.facts.folders.get(commit).map(|folder| Known::Seeded {
            seed: i,
            folder,
            date: s.facts.dates.get(&(tag.to_string(), commit.to_string())),
        })
    })
}

/// Fetches the index from GitHub, reusing and extending `cache`, and reusing what `seeds`
/// know by commit SHA. The cache is updated even when the update fails half-way (a rate
/// limit, say), so the next run resumes.
pub fn update(
    source: &GithubSource,
    cache: &mut GithubCache,
    seeds: &[Seed],
    opts: &FetchOptions,
    generated_at: &str,
) -> Result<Update> {
    validate_repo(&source.project.repo)?;
    for path in source.project.migrations_paths() {
        validate_migrations_path(path)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(update_async(source, cache, seeds, opts, generated_at))
}

async fn update_async(
    source: &GithubSource,
    cache: &mut GithubCache,
    seeds: &[Seed],
    opts: &FetchOptions,
    generated_at: &str,
) -> Result<Update> {
    let client = Client::new(source, opts)?;
    let progress = if opts.progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    progress.set_message("tags");

    let unchanged = fetch_tag_pages(&client, cache, &progress).await?;
    let tags: Vec<(String, String)> = cache.pages.iter().flat_map(|p| p.tags.clone()).collect();
    let (releases, others) = release_tags(tags.iter().map(|(t, _)| t.as_str()));
    let commit_of: HashMap<&str, &str> =
        tags.iter().map(|(t, c)| (t.as_str(), c.as_str())).collect();

    // Commits nobody knows cost their date and their folder; commits a seed knows without a
    // date for this tag cost the date alone.
    let mut new_commits = BTreeSet::new();
    let mut dates_wanted = BTreeSet::new();
    for tag in &releases {
        let commit = commit_of[tag.as_str()];
        match known(cache, seeds, tag, commit) {
            None => {
                new_commits.insert(commit.to_string());
            }
            Some(Known::Seeded { date: None, .. }) => {
                dates_wanted.insert(commit.to_string());
            }
            Some(_) => {}
        }
    }
    progress.set_message("commits");
    progress.set_length((new_commits.len() + dates_wanted.len()) as u64);
    progress.set_position(0);
    let paths: Vec<(String, String)> = source
        .project
        .migrations_paths()
        .into_iter()
        .map(|p| (parent_of(p), folder_name(p)))
        .collect();
    let fetched = run_bounded(opts.concurrency, new_commits.into_iter().collect(), |sha| {
        let client = client.clone();
        let (paths, progress) = (paths.clone(), progress.clone());
        async move {
            let facts = fetch_commit(&client, &sha, &paths).await;
            progress.inc(1);
            facts.map(|f| (sha, f))
        }
    })
    .await;
    let mut first_error = None;
    absorb(fetched, &mut cache.commits, &mut first_error);
    let fetched = run_bounded(
        opts.concurrency,
        dates_wanted.into_iter().collect(),
        |sha| {
            let client = client.clone();
            let progress = progress.clone();
            async move {
                let date = fetch_commit_date(&client, &sha).await;
                progress.inc(1);
                date.map(|d| (sha, d))
            }
        },
    )
    .await;
    let mut commit_dates: HashMap<String, String> = HashMap::new();
    absorb(fetched, &mut commit_dates, &mut first_error);
    if let Some(e) = first_error {
        progress.finish_and_clear();
        return Err(e);
    }

    // Trees not seen before.
    let mut new_trees: Vec<String> = releases
        .iter()
        .filter_map(|t| cache.commits.get(commit_of[t.as_str()]))
        .filter_map(|f| f.migrations_tree.clone())
        .filter(|t| !cache.trees.contains_key(t))
        .collect();
    new_trees.sort();
    new_trees.dedup();
    progress.set_message("migration trees");
    progress.set_length(new_trees.len() as u64);
    progress.set_position(0);
    let fetched = run_bounded(opts.concurrency, new_trees, |sha| {
        let client = client.clone();
        let progress = progress.clone();
        async move {
            let listing = fetch_tree_files(&client, &sha).await;
            progress.inc(1);
            listing.map(|l| (sha, l))
        }
    })
    .await;
    let mut listings = Vec::new();
    absorb(fetched, &mut listings, &mut first_error);
    for (sha, files) in listings {
        cache.remember_tree(sha, files);
    }
    progress.finish_and_clear();
    if let Some(e) = first_error {
        return Err(e);
    }

    // Read each distinct tree once: patch releases share theirs.
    let mut folders: HashMap<&str, FolderMigrations> = HashMap::new();
    // Per seed: releases whose migrations it gave, and of those, dates it gave.
    let mut reused = vec![(0usize, 0usize); seeds.len()];
    let mut snapshots = Vec::with_capacity(releases.len());
    for tag in &releases {
        let commit = commit_of[tag.as_str()];
        let (date, migrations) = match known(cache, seeds, tag, commit)
            .expect("every release commit was fetched above")
        {
            Known::Cached(facts) => {
                let migrations = facts.migrations_tree.as_deref().map(|t| {
                    folders
                        .entry(t)
                        .or_insert_with(|| {
                            migrations_from_paths(cache.trees[t].iter().map(String::as_str))
                        })
                        .clone()
                });
                (facts.date.clone(), migrations)
            }
            Known::Seeded { seed, folder, date } => {
                reused[seed].0 += 1;
                let date = match date {
                    Some(d) => {
                        reused[seed].1 += 1;
                        d.clone()
                    }
                    None => commit_dates[commit].clone(),
                };
                (date, Some(folder.clone()))
            }
        };
        snapshots.push(TagSnapshot {
            tag: tag.clone(),
            commit: commit.to_string(),
            date,
            migrations,
        });
    }
    let mut detail = format!(
        "github api {}/repos/{} tags ({})",
        source.api_url.trim_end_matches('/'),
        source.project.repo,
        source.project.describe_paths()
    );
    for (seed, (n, dates)) in seeds.iter().zip(&reused) {
        if *n > 0 {
            let _ = write!(
                detail,
                "; {n} releases reused from {} by commit SHA ({dates} of their dates as recorded there, {} fetched)",
                seed.label,
                n - dates
            );
        }
    }
    let provenance = Provenance {
        source: "github".into(),
        detail,
        generated_at: generated_at.to_string(),
        complete: true,
    };
    let (index, mut notes) = assemble(source.project.clone(), provenance, &snapshots)?;
    notes.extend(
        others
            .iter()
            .map(|t| format!("tag `{}` is not a release tag; skipped", t.escape_debug())),
    );
    notes.sort();
    notes.dedup();
    let mut stats = client.stats();
    stats.releases_reused = reused.iter().map(|r| r.0).sum();
    Ok(Update {
        index,
        notes,
        stats,
        unchanged,
    })
}

/// Reads the tag pages into the cache. Returns true when page 1 answered 304 (nothing new).
async fn fetch_tag_pages(
    client: &Client,
    cache: &mut GithubCache,
    progress: &ProgressBar,
) -> Result<bool> {
    let mut url = format!(
        "{}/repos/{}/tags?per_page={PER_PAGE}",
        client.base, client.repo
    );
    let mut pages: Vec<TagPage> = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        let i = pages.len();
        if i >= 1000 {
            return Err(Error::upstream(
                "more than 1000 pages of tags: the Link headers loop",
            ));
        }
        // Only ask "has it changed?" when we still hold the answer to "no".
        let etag = cache.pages.get(i).and_then(|p| p.etag.clone());
        let answer = client.get(&url, etag.as_deref()).await?;
        client.count_page();
        progress.tick();
        let (page, next) = match answer {
            Answer::NotModified if i == 0 => return Ok(true),
            Answer::NotModified => {
                // A later page unchanged while page 1 changed: reuse what we stored, and
                // keep walking with the stored layout (GitHub's next page URL is stable).
                let page = cache.pages[i].clone();
                let next = page.next.clone();
                (page, next)
            }
            Answer::NotFound => {
                return Err(Error::upstream(format!(
                    "{url} answered 404: no repository {} there",
                    client.repo
                ))
                .with_hint(
                    "check --repo, --github-api-url, and that the token can read the repository",
                ))
            }
            Answer::Ok { body, etag, next } => {
                let tags = parse_tags(&url, &body)?;
                if next.is_some() && tags.len() < PER_PAGE {
                    return Err(Error::upstream(format!(
                        "{url} returned a short page ({} of {PER_PAGE} tags) that is not the last one",
                        tags.len()
                    ))
                    .with_hint("the answer was cut off on the way; run `migtag index update` again"));
                }
                if let Some(n) = &next {
                    client.check_same_origin(n)?;
                }
                (
                    TagPage {
                        etag,
                        tags,
                        next: next.clone(),
                    },
                    next,
                )
            }
        };
        for (tag, _) in &page.tags {
            if !seen.insert(tag.clone()) {
                return Err(Error::upstream(format!(
                    "tag {tag} appears on two pages of {}/tags: the tag list changed while it was read",
                    client.repo
                ))
                .with_hint("run `migtag index update` again"));
            }
        }
        pages.push(page);
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    cache.pages = pages;
    Ok(false)
}

/// The committer date of a commit, normalised to UTC.
async fn fetch_commit_date(client: &Client, sha: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct GitCommit {
        committer: Person,
    }
    #[derive(Deserialize)]
    struct Person {
        date: String,
    }
    let url = format!("{}/repos/{}/git/commits/{sha}", client.base, client.repo);
    let commit: GitCommit = match client.get(&url, None).await? {
        Answer::Ok { body, .. } => parse_json(&url, &body)?,
        _ => {
            return Err(Error::upstream(format!(
                "{url}: the commit of a listed tag is missing"
            )))
        }
    };
    normalise_date(&commit.committer.date).map_err(|e| e.context(&url))
}

/// The committer date of a commit and the tree SHA of the first migrations folder (of
/// `paths`: (parent, folder name) pairs, in order) that exists in it.
async fn fetch_commit(
    client: &Client,
    sha: &str,
    paths: &[(String, String)],
) -> Result<CommitFacts> {
    let date = fetch_commit_date(client, sha).await?;
    let mut migrations_tree = None;
    for (parent, folder) in paths {
        migrations_tree = fetch_folder_tree(client, sha, parent, folder).await?;
        if migrations_tree.is_some() {
            break;
        }
    }
    Ok(CommitFacts {
        date,
        migrations_tree,
    })
}

/// The tree SHA of `parent/folder` at a commit, from the parent's contents listing; `None`
/// when there is no such folder (a 404 means the parent does not exist either).
async fn fetch_folder_tree(
    client: &Client,
    sha: &str,
    parent: &str,
    folder: &str,
) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        #[serde(rename = "type")]
        kind: String,
        sha: String,
    }
    let url = format!(
        "{}/repos/{}/contents/{parent}?ref={sha}",
        client.base, client.repo
    );
    match client.get(&url, None).await? {
        Answer::NotFound => Ok(None),
        Answer::Ok { body, .. } => {
            let value: serde_json::Value = parse_json(&url, &body)?;
            if !value.is_array() {
                return Ok(None); // the parent is a file at this commit
            }
            let entries: Vec<Entry> = parse_json(&url, &body)?;
            match entries
                .into_iter()
                .find(|e| e.name == folder && e.kind == "dir")
            {
                Some(e) if is_sha(&e.sha) => Ok(Some(e.sha.to_ascii_lowercase())),
                Some(e) => Err(Error::upstream(format!(
                    "{url}: folder {folder} has sha `{}`, not a 40-digit SHA",
                    e.sha.escape_debug()
                ))),
                None => Ok(None),
            }
        }
        Answer::NotModified => Err(Error::upstream(format!("{url}: unexpected 304"))),
    }
}

/// The `.sql` files (relative paths, fixtures included, with their blob SHAs) under a
/// migrations tree, sub-folders included. One recursive request unless GitHub truncates
/// it; then the sub-trees are walked one at a time.
async fn fetch_tree_files(client: &Client, sha: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    // (prefix, tree sha, try recursive first)
    let mut todo = vec![(String::new(), sha.to_string(), true)];
    while let Some((prefix, tree, recursive)) = todo.pop() {
        let url = format!(
            "{}/repos/{}/git/trees/{tree}{}",
            client.base,
            client.repo,
            if recursive { "?recursive=1" } else { "" }
        );
        let listing = match client.get(&url, None).await? {
            Answer::Ok { body, .. } => parse_tree(&url, &body)?,
            _ => {
                return Err(Error::upstream(format!(
                    "{url}: the tree of a listed folder is missing"
                )))
            }
        };
        if recursive && listing.truncated {
            todo.push((prefix, tree, false));
            continue;
        }
        for e in listing.tree {
            let path = format!("{prefix}{}", e.path);
            match e.kind.as_str() {
                "blob" if path.ends_with(".sql") => {
                    if !is_sha(&e.sha) {
                        return Err(Error::upstream(format!(
                            "{url}: file {path} has no valid blob sha"
                        )));
                    }
                    out.push((path, e.sha.to_ascii_lowercase()));
                }
                // A truncated listing is walked without `testdata/`: the index never reads
                // it, and fixtures are only extra rows for a replay (one request saved per
                // fixture folder; Coder's folder is never truncated).
                "tree" if !recursive && !is_fixture(&path) => {
                    if !is_sha(&e.sha) {
                        return Err(Error::upstream(format!(
                            "{url}: sub-tree {path} has no valid sha"
                        )));
                    }
                    todo.push((format!("{path}/"), e.sha, true));
                }
                _ => {}
            }
        }
        if !recursive && listing.truncated {
            return Err(Error::upstream(format!(
                "{url}: even the non-recursive listing is truncated (over 100,000 entries)"
            ))
            .with_hint(
                "build the index from a clone instead: `migtag index build --from-git PATH`",
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Runs `f` over `items` with at most `limit` futures in flight; results in any order.
/// Puts the fetched pairs into `into` and keeps the first error: the callers fetch
/// concurrently, so every success is kept in the cache even when one request failed.
fn absorb<K, V>(
    fetched: Vec<Result<(K, V)>>,
    into: &mut impl Extend<(K, V)>,
    first_error: &mut Option<Error>,
) {
    for r in fetched {
        match r {
            Ok(pair) => into.extend([pair]),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
}

async fn run_bounded<T, R, F, Fut>(limit: usize, items: Vec<T>, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut results = Vec::with_capacity(items.len());
    let mut items = items.into_iter();
    let limit = limit.max(1);
    loop {
        while set.len() < limit {
            match items.next() {
                Some(item) => {
                    set.spawn(f(item));
                }
                None => break,
            }
        }
        match set.join_next().await {
            Some(Ok(r)) => results.push(r),
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => break,
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_is_found() {
        let h = r#"<https://api.github.com/repositories/1/tags?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/tags?per_page=100&page=4>; rel="last""#;
        assert_eq!(
            next_link(h).unwrap(),
            "https://api.github.com/repositories/1/tags?per_page=100&page=2"
        );
        let last = r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
    }

    #[test]
    fn cache_round_trips_with_interned_paths() {
        let source = GithubSource {
            api_url: "https://api.github.com".into(),
            project: Project::coder(),
            token: None,
        };
        let mut cache = GithubCache::new(&source);
        cache.pages.push(TagPage {
            etag: Some("W/\"abc\"".into()),
            next: None,
            tags: vec![("v1.0.0".into(), "a".repeat(40))],
        });
        cache.commits.insert(
            "a".repeat(40),
            CommitFacts {
                date: "2024-01-01T00:00:00Z".into(),
                migrations_tree: Some("b".repeat(40)),
            },
        );
        cache.trees.insert(
            "b".repeat(40),
            vec!["000001_a.up.sql".into(), "000002_b.up.sql".into()],
        );
        cache
            .trees
            .insert("c".repeat(40), vec!["000001_a.up.sql".into()]);
        cache.remember_tree(
            "d".repeat(40),
            vec![
                ("000002_b.up.sql".into(), "2".repeat(40)),
                ("000001_a.up.sql".into(), "1".repeat(40)),
                ("testdata/fixtures/000001_a.up.sql".into(), "f".repeat(40)),
            ],
        );
        assert_eq!(
            cache.trees["d".repeat(40).as_str()],
            ["000001_a.up.sql", "000002_b.up.sql"],
            "fixtures are no migrations of the index"
        );
        assert_eq!(cache.files["d".repeat(40).as_str()].len(), 3);
        let text = cache.to_json();
        assert_eq!(GithubCache::from_json(&text, &source).unwrap(), cache);
        let other = GithubSource {
            api_url: "https://ghe.example/api/v3".into(),
            ..source.clone()
        };
        assert!(
            GithubCache::from_json(&text, &other).is_none(),
            "another host's cache is not reused"
        );
        assert!(GithubCache::from_json("{", &source).is_none());
        assert_eq!(
            GithubCache::file_name(&source),
            "github-api.github.com_coder_coder_coderd_database_migrations.json"
        );
    }
}
