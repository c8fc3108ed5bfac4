//! A tag's migration files from GitHub, content-addressed (docs/index-sources.md).
//!
//! The tree listing `index update` already fetched names each file's blob SHA, so the files
//! are fetched by SHA (`GET /repos/{repo}/git/blobs/{sha}`), each checked against its SHA
//! (`sha1("blob <len>\0" + content)`) and kept in the blob cache: a file is fetched at most
//! once, whichever tag or command wants it again. What the tag needs first comes from the
//! adapter's cache too (the tag's commit, the commit's migrations tree, the tree's listing);
//! only what the cache lacks is asked, through the same client as `index update` (token,
//! retries, rate limits). Offline, nothing is asked: the files the cache lacks are named.

use std::collections::{BTreeMap, BTreeSet};

use indicatif::ProgressBar;

use crate::adapters::cache;
use crate::core::upstream::validate_repo;
use crate::error::{Error, Result};

use super::client::{Answer, Client};
use super::responses::{folder_name, parent_of, parse_blob};
use super::{
    fetch_commit, fetch_tag_pages, fetch_tree_files, run_bounded, FetchOptions, FetchStats,
    GithubCache, GithubSource,
};

/// The files of one tag's migrations folder.
#[derive(Debug, Clone)]
pub struct TagFiles {
    pub tag: String,
    pub commit: String,
    /// (path relative to the migrations folder, text), sorted by path.
    pub files: Vec<(String, String)>,
    /// The requests sent (none offline, nor when everything was cached).
    pub stats: FetchStats,
    /// Files read from the blob cache.
    pub from_cache: usize,
    /// What went wrong without failing (a blob that could not be stored).
    pub notes: Vec<String>,
}

/// The files of `tag` whose relative path `wanted` accepts, from the blob cache or GitHub.
/// `cache` is extended with what was fetched on the way (the caller saves it).
pub fn tag_files(
    source: &GithubSource,
    cache: &mut GithubCache,
    opts: &FetchOptions,
    tag: &str,
    offline: bool,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<TagFiles> {
    validate_repo(&source.project.repo)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(tag_files_async(source, cache, opts, tag, offline, wanted))
}

/// The error when `--offline` needs something the cache lacks.
fn lacking(what: String) -> Error {
    Error::upstream(format!("--offline: {what}")).with_hint(
        "run the same command once without --offline: what it fetches is cached, and later offline runs use it",
    )
}

fn commit_of(cache: &GithubCache, tag: &str) -> Option<String> {
    cache
        .pages
        .iter()
        .flat_map(|p| p.tags.iter())
        .find(|(t, _)| t == tag)
        .map(|(_, c)| c.clone())
}

async fn tag_files_async(
    source: &GithubSource,
    cache: &mut GithubCache,
    opts: &FetchOptions,
    tag: &str,
    offline: bool,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<TagFiles> {
    // Building the client sends nothing; offline, no request is made below.
    let client = Client::new(source, opts)?;
    let repo = &source.project.repo;
    let commit = match commit_of(cache, tag) {
        Some(c) => c,
        None if offline => {
            return Err(lacking(format!(
            "the cache does not know tag {tag} of {repo} (no `migtag index update` has listed it)"
        )))
        }
        None => {
            fetch_tag_pages(&client, cache, &ProgressBar::hidden()).await?;
            commit_of(cache, tag).ok_or_else(|| {
                Error::upstream(format!("{} has no tag {tag}", source.api_url.trim_end_matches('/').to_string() + "/repos/" + repo))
                    .with_hint("the files come from the source the index in use was fetched from: check --github-api-url, or pass --sql")
            })?
        }
    };
    let tree = match cache.commits.get(&commit) {
        Some(facts) => facts.migrations_tree.clone(),
        None if offline => {
            return Err(lacking(format!(
                "the cache does not know which migrations folder commit {commit} ({tag}) holds"
            )))
        }
        None => {
            let paths: Vec<(String, String)> = source
                .project
                .migrations_paths()
                .into_iter()
                .map(|p| (parent_of(p), folder_name(p)))
                .collect();
            let facts = fetch_commit(&client, &commit, &paths).await?;
            cache.commits.insert(commit.clone(), facts.clone());
            facts.migrations_tree
        }
    };
    let tree = tree.ok_or_else(|| {
        Error::upstream(format!(
            "{tag} of {repo} has no migrations folder ({})",
            source.project.describe_paths()
        ))
    })?;
    if !cache.files.contains_key(&tree) {
        if offline {
            return Err(lacking(format!(
                "the cache has no listing with blob SHAs of {tag}'s migrations folder (tree {tree})"
            )));
        }
        let files = fetch_tree_files(&client, &tree).await?;
        cache.remember_tree(tree.clone(), files);
    }
    let listed: Vec<(String, String)> = cache.files[&tree]
        .iter()
        .filter(|(path, _)| wanted(path))
        .cloned()
        .collect();

    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut from_cache = 0;
    let mut missing: Vec<&(String, String)> = Vec::new();
    for entry in &listed {
        match cache::read_blob(&entry.1) {
            Some(text) => {
                from_cache += 1;
                texts.insert(entry.1.clone(), text);
            }
            None => missing.push(entry),
        }
    }
    if offline && !missing.is_empty() {
        let mut names: Vec<String> = missing
            .iter()
            .take(20)
            .map(|(path, sha)| format!("{path} (blob {sha})"))
            .collect();
        if missing.len() > 20 {
            names.push(format!("and {} more", missing.len() - 20));
        }
        return Err(lacking(format!(
            "the blob cache lacks {} of the {} files of {tag} wanted here: {}",
            missing.len(),
            listed.len(),
            names.join(", ")
        )));
    }
    let shas: Vec<String> = missing
        .iter()
        .map(|(_, sha)| sha.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let fetched = run_bounded(opts.concurrency, shas, |sha| {
        let client = client.clone();
        async move {
            let url = format!("{}/repos/{}/git/blobs/{sha}", client.base, client.repo);
            let text = match client.get(&url, None).await? {
                Answer::Ok { body, .. } => parse_blob(&url, &sha, &body)?,
                _ => {
                    return Err(Error::upstream(format!(
                        "{url}: a blob the tree listing names is missing"
                    )))
                }
            };
            Ok((sha, text))
        }
    })
    .await;
    let mut notes = Vec::new();
    let mut first_error = None;
    for r in fetched {
        match r {
            Ok((sha, text)) => {
                if let Err(e) = cache::write_blob(&sha, &text) {
                    notes.push(format!("blob {sha} was not cached: {}", e.message()));
                }
                texts.insert(sha, text);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let files = listed
        .iter()
        .map(|(path, sha)| (path.clone(), texts[sha].clone()))
        .collect();
    Ok(TagFiles {
        tag: tag.to_string(),
        commit,
        files,
        stats: client.stats(),
        from_cache,
        notes,
    })
}
