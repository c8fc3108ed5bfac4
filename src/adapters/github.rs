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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

use crate::core::index::{Index, Project, Provenance};
use crate::core::migration_set::MigrationSet;
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
    /// Releases whose migrations came from an existing index by commit SHA (no request).
    pub releases_reused: usize,
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

/// What the adapter remembers between runs, keyed by immutable SHAs (plus the tag pages'
/// ETags). Stored in the cache folder; losing it only costs requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubCache {
    pub api_url: String,
    pub repo: String,
    /// The folders tried at each commit, in order (commit facts depend on them).
    pub migrations_paths: Vec<String>,
    pages: Vec<TagPage>,
    commits: BTreeMap<String, CommitFacts>,
    /// Tree SHA -> `.sql` paths under it (relative, fixtures dropped).
    trees: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TagPage {
    etag: Option<String>,
    /// The `rel="next"` URL this page pointed to.
    #[serde(default)]
    next: Option<String>,
    /// (tag name, commit SHA)
    tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CommitFacts {
    date: String,
    /// The migrations folder's tree at this commit; `None` when there was no such folder.
    migrations_tree: Option<String>,
}

/// The cache file format: paths are interned once and each tree lists indices as ranges,
/// so hundreds of trees that share most of their files stay small.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format_version: u32,
    api_url: String,
    repo: String,
    migrations_paths: Vec<String>,
    pages: Vec<TagPage>,
    commits: BTreeMap<String, CommitFacts>,
    paths: Vec<String>,
    trees: BTreeMap<String, MigrationSet>,
}

/// 2: a list of migrations folders (1 had one path; such files are ignored, costing requests).
const CACHE_FORMAT: u32 = 2;

impl GithubCache {
    pub fn new(source: &GithubSource) -> Self {
        GithubCache {
            api_url: source.api_url.clone(),
            repo: source.project.repo.clone(),
            migrations_paths: paths_of(&source.project),
            ..Default::default()
        }
    }

    /// The cache file's name for this source.
    pub fn file_name(source: &GithubSource) -> String {
        let host = source
            .api_url
            .split("://")
            .nth(1)
            .unwrap_or(&source.api_url)
            .trim_end_matches('/');
        let key = format!(
            "{host}_{}_{}",
            source.project.repo,
            paths_of(&source.project).join("+")
        );
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("github-{safe}.json")
    }

    /// Reads a cache file; `None` when it is for another source, another format, or damaged
    /// (a cache is only ever an optimisation).
    pub fn from_json(text: &str, source: &GithubSource) -> Option<Self> {
        let file: CacheFile = serde_json::from_str(text).ok()?;
        if file.format_version != CACHE_FORMAT
            || file.api_url != source.api_url
            || file.repo != source.project.repo
            || file.migrations_paths != paths_of(&source.project)
        {
            return None;
        }
        let mut trees = BTreeMap::new();
        for (sha, set) in file.trees {
            let paths = set
                .iter()
                .map(|i| file.paths.get(usize::try_from(i).ok()?).cloned())
                .collect::<Option<Vec<_>>>()?;
            trees.insert(sha, paths);
        }
        Some(GithubCache {
            api_url: file.api_url,
            repo: file.repo,
            migrations_paths: file.migrations_paths,
            pages: file.pages,
            commits: file.commits,
            trees,
        })
    }

    pub fn to_json(&self) -> String {
        let mut ids: HashMap<&str, u64> = HashMap::new();
        let mut paths: Vec<String> = Vec::new();
        let mut trees = BTreeMap::new();
        for (sha, list) in &self.trees {
            let set: MigrationSet = list
                .iter()
                .map(|p| {
                    *ids.entry(p.as_str()).or_insert_with(|| {
                        paths.push(p.clone());
                        (paths.len() - 1) as u64
                    })
                })
                .collect();
            trees.insert(sha.clone(), set);
        }
        let file = CacheFile {
            format_version: CACHE_FORMAT,
            api_url: self.api_url.clone(),
            repo: self.repo.clone(),
            migrations_paths: self.migrations_paths.clone(),
            pages: self.pages.clone(),
            commits: self.commits.clone(),
            paths,
            trees,
        };
        serde_json::to_string(&file).expect("the cache always serialises")
    }
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
    for r in fetched {
        match r {
            Ok((sha, facts)) => {
                cache.commits.insert(sha, facts);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
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
    for r in fetched {
        match r {
            Ok((sha, date)) => {
                commit_dates.insert(sha, date);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
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
            let paths = fetch_tree_paths(&client, &sha).await;
            progress.inc(1);
            paths.map(|p| (sha, p))
        }
    })
    .await;
    for r in fetched {
        match r {
            Ok((sha, paths)) => {
                cache.trees.insert(sha, paths);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
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

fn parse_tags(url: &str, body: &[u8]) -> Result<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Tag {
        name: String,
        commit: ShaRef,
    }
    let tags: Vec<Tag> = parse_json(url, body)?;
    tags.into_iter()
        .map(|t| {
            if !is_sha(&t.commit.sha) {
                return Err(Error::upstream(format!(
                    "{url}: tag `{}` has commit `{}`, which is not a 40-digit SHA",
                    t.name.escape_debug(),
                    t.commit.sha.escape_debug()
                )));
            }
            Ok((t.name, t.commit.sha.to_ascii_lowercase()))
        })
        .collect()
}

#[derive(Deserialize)]
struct ShaRef {
    sha: String,
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

/// The `.sql` paths (relative, fixtures dropped) under a migrations tree, sub-folders
/// included. One recursive request unless GitHub truncates it; then the sub-trees are
/// walked one at a time.
async fn fetch_tree_paths(client: &Client, sha: &str) -> Result<Vec<String>> {
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
            if is_fixture(&path) {
                continue;
            }
            match e.kind.as_str() {
                "blob" if path.ends_with(".sql") => out.push(path),
                "tree" if !recursive => {
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

#[derive(Deserialize)]
struct TreeListing {
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

fn parse_tree(url: &str, body: &[u8]) -> Result<TreeListing> {
    let listing: TreeListing = parse_json(url, body)?;
    if let Some(bad) = listing.tree.iter().find(|e| {
        e.path.is_empty() || e.path.starts_with('/') || e.path.split('/').any(|p| p == "..")
    }) {
        return Err(Error::upstream(format!(
            "{url}: tree entry `{}` is not a relative path",
            bad.path.escape_debug()
        )));
    }
    Ok(listing)
}

fn parse_json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_eof() {
            "an answer that ends early"
        } else if e.is_data() {
            "JSON of an unexpected shape"
        } else {
            "malformed JSON"
        };
        Error::upstream(format!("{url} returned {what}: {e}")).with_hint(
            "a proxy or mirror may be rewriting the answer; try again, or check --github-api-url",
        )
    })
}

fn paths_of(project: &Project) -> Vec<String> {
    project
        .migrations_paths()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn parent_of(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

fn folder_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Runs `f` over `items` with at most `limit` futures in flight; results in any order.
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

enum Answer {
    Ok {
        body: Vec<u8>,
        etag: Option<String>,
        next: Option<String>,
    },
    NotModified,
    NotFound,
}

#[derive(Clone)]
struct Client {
    octo: Octocrab,
    base: String,
    repo: String,
    authenticated: bool,
    opts: FetchOptions,
    counters: Arc<[AtomicUsize; 6]>,
}

const REQUESTS: usize = 0;
const NOT_MODIFIED: usize = 1;
const RETRIES: usize = 2;
const PAGES: usize = 3;
const COMMITS: usize = 4;
const TREES: usize = 5;

impl Client {
    fn new(source: &GithubSource, opts: &FetchOptions) -> Result<Self> {
        let base = source.api_url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::usage(format!(
                "--github-api-url `{}` is not an http(s) URL",
                base.escape_debug()
            )));
        }
        let mut builder = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(|e| {
                Error::usage(format!("--github-api-url `{base}` is not a valid URL: {e}"))
            })?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(opts.timeout))
            .set_read_timeout(Some(opts.timeout));
        if let Some(token) = &source.token {
            builder = builder.personal_token(token.clone());
        }
        let octo = builder
            .build()
            .map_err(|e| Error::upstream(format!("cannot set up the GitHub client: {e}")))?;
        Ok(Client {
            octo,
            base,
            repo: source.project.repo.clone(),
            authenticated: source.token.is_some(),
            opts: opts.clone(),
            counters: Arc::new(Default::default()),
        })
    }

    fn stats(&self) -> FetchStats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        FetchStats {
            requests: c(REQUESTS),
            not_modified: c(NOT_MODIFIED),
            retries: c(RETRIES),
            tag_pages: c(PAGES),
            commits_fetched: c(COMMITS),
            trees_fetched: c(TREES),
            releases_reused: 0,
        }
    }

    fn bump(&self, i: usize) {
        self.counters[i].fetch_add(1, Ordering::Relaxed);
    }

    fn count_page(&self) {
        self.bump(PAGES);
    }

    /// A `Link` URL must stay on the API host: the token is sent with every request.
    fn check_same_origin(&self, url: &str) -> Result<()> {
        if url.starts_with(&format!("{}/", self.base)) {
            Ok(())
        } else {
            Err(Error::upstream(format!(
                "the next page of tags points away from {} ({}); refusing to follow it",
                self.base,
                url.escape_debug()
            )))
        }
    }

    /// One GET with bounded retries and back-off on 5xx, timeouts and dropped connections.
    async fn get(&self, url: &str, etag: Option<&str>) -> Result<Answer> {
        if url.contains("/git/commits/") {
            self.bump(COMMITS);
        } else if url.contains("/git/trees/") {
            self.bump(TREES);
        }
        let mut attempt = 0;
        loop {
            self.bump(REQUESTS);
            let failure = match self.get_once(url, etag).await {
                Ok(Ok(answer)) => {
                    if matches!(answer, Answer::NotModified) {
                        self.bump(NOT_MODIFIED);
                    }
                    return Ok(answer);
                }
                Ok(Err(Retryable(why))) => why,
                Err(e) => return Err(e),
            };
            if attempt >= self.opts.retries {
                return Err(Error::upstream(format!(
                    "GitHub did not answer {url}: {failure} (gave up after {} attempts)",
                    attempt + 1
                ))
                .with_hint("check the network and --github-api-url, then run `migtag index update` again; what was fetched so far is cached"));
            }
            self.bump(RETRIES);
            tokio::time::sleep(self.opts.backoff * 2u32.saturating_pow(attempt)).await;
            attempt += 1;
        }
    }

    async fn get_once(
        &self,
        url: &str,
        etag: Option<&str>,
    ) -> Result<std::result::Result<Answer, Retryable>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        );
        if let Some(tag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            headers.insert(http::header::IF_NONE_MATCH, tag);
        }
        let call = async {
            let response = self.octo._get_with_headers(url, Some(headers)).await?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            Ok::<_, octocrab::Error>((parts, bytes))
        };
        let (parts, body) = match tokio::time::timeout(self.opts.timeout, call).await {
            Err(_) => {
                return Ok(Err(Retryable(format!(
                    "no answer within {:?}",
                    self.opts.timeout
                ))))
            }
            Ok(Err(e)) => return Ok(Err(Retryable(transport_error(&e)))),
            Ok(Ok(r)) => r,
        };
        let status = parts.status.as_u16();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match status {
            200 => Ok(Ok(Answer::Ok {
                body: body.to_vec(),
                etag: header("etag"),
                next: header("link").and_then(|l| next_link(&l)),
            })),
            304 => Ok(Ok(Answer::NotModified)),
            404 => Ok(Ok(Answer::NotFound)),
            403 | 429 if is_rate_limited(&parts.headers) => Err(self.rate_limit_error(&parts.headers)),
            401 => Err(Error::upstream(format!("{url} answered 401: the token was refused")).with_hint(
                "check GITHUB_TOKEN / GH_TOKEN (expired or revoked?), or unset it to read public repositories anonymously",
            )),
            500..=599 => Ok(Err(Retryable(format!("HTTP {status}")))),
            _ => Err(Error::upstream(format!(
                "{url} answered HTTP {status}{}",
                github_message(&body).map(|m| format!(": {m}")).unwrap_or_default()
            ))),
        }
    }

    fn rate_limit_error(&self, headers: &HeaderMap) -> Error {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let limit = get("x-ratelimit-limit").unwrap_or("?");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let reset = get("x-ratelimit-reset").and_then(|r| r.parse::<i64>().ok());
        let retry_after = get("retry-after").and_then(|r| r.parse::<i64>().ok());
        let at = retry_after.map(|s| now + s).or(reset);
        let when = match at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()) {
            Some(t) => format!(
                "; it resets at {:02}:{:02}:{:02} UTC (in {} min)",
                t.hour(),
                t.minute(),
                t.second(),
                ((t.unix_timestamp() - now).max(0) + 59) / 60
            ),
            None => String::new(),
        };
        let hint = if self.authenticated {
            "wait for the reset and run `migtag index update` again; what was fetched so far is cached, so it resumes"
        } else {
            "set GITHUB_TOKEN or GH_TOKEN: a token raises the limit from 60 to 5,000 requests an hour; what was fetched so far is cached, so the next run resumes"
        };
        Error::upstream(format!(
            "GitHub rate limit reached ({limit} requests an hour){when}"
        ))
        .with_hint(hint)
    }
}

struct Retryable(String);

fn is_rate_limited(headers: &HeaderMap) -> bool {
    headers
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0")
        || headers.contains_key("retry-after")
}

/// Describes a transport failure without echoing request headers (the token).
fn transport_error(e: &octocrab::Error) -> String {
    let mut text = match e {
        octocrab::Error::Hyper { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    text.truncate(300);
    text
}

fn github_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v.get("message")?.as_str()?;
    Some(m.chars().filter(|c| !c.is_control()).take(200).collect())
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
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
