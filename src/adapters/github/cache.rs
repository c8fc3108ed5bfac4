//! The GitHub adapter's cache file: tag pages with their ETags, commit facts and tree
//! listings, all keyed by immutable SHAs. Losing it only costs requests.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::core::migration_set::MigrationSet;
use crate::core::upstream::is_fixture;

use super::responses::*;
use super::GithubSource;

/// What the adapter remembers between runs, keyed by immutable SHAs (plus the tag pages'
/// ETags). Stored in the cache folder; losing it only costs requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubCache {
    pub api_url: String,
    pub repo: String,
    /// The folders tried at each commit, in order (commit facts depend on them).
    pub migrations_paths: Vec<String>,
    pub(super) pages: Vec<TagPage>,
    pub(super) commits: BTreeMap<String, CommitFacts>,
    /// Tree SHA -> `.sql` paths under it (relative, fixtures dropped).
    pub(super) trees: BTreeMap<String, Vec<String>>,
    /// Tree SHA -> every `.sql` file under it (fixtures included) with its blob SHA, as the
    /// tree listing gave them: what the migration files are fetched by.
    pub(super) files: BTreeMap<String, Vec<(String, String)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TagPage {
    pub(super) etag: Option<String>,
    /// The `rel="next"` URL this page pointed to.
    #[serde(default)]
    pub(super) next: Option<String>,
    /// (tag name, commit SHA)
    pub(super) tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CommitFacts {
    pub(super) date: String,
    /// The migrations folder's tree at this commit; `None` when there was no such folder.
    pub(super) migrations_tree: Option<String>,
}

/// The cache file format: paths are interned once and each tree lists indices as ranges,
/// so hundreds of trees that share most of their files stay small.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheFile {
    pub(super) format_version: u32,
    pub(super) api_url: String,
    pub(super) repo: String,
    pub(super) migrations_paths: Vec<String>,
    pub(super) pages: Vec<TagPage>,
    pub(super) commits: BTreeMap<String, CommitFacts>,
    pub(super) paths: Vec<String>,
    pub(super) trees: BTreeMap<String, MigrationSet>,
    /// (path, blob SHA) pairs, interned like `paths`; absent in files of earlier versions
    /// (their trees are listed again when their files are wanted).
    #[serde(default)]
    pub(super) blobs: Vec<(String, String)>,
    #[serde(default)]
    pub(super) files: BTreeMap<String, MigrationSet>,
}

/// 2: a list of migrations folders (1 had one path; such files are ignored, costing requests).
pub(super) const CACHE_FORMAT: u32 = 2;

impl GithubCache {
    pub fn new(source: &GithubSource) -> Self {
        GithubCache {
            api_url: source.api_url.clone(),
            repo: source.project.repo.clone(),
            migrations_paths: paths_of(&source.project),
            ..Default::default()
        }
    }

    /// Keeps a tree listing: its migration paths (fixtures dropped, for the index) and every
    /// `.sql` file with its blob SHA (for fetching the files).
    pub(super) fn remember_tree(&mut self, sha: String, mut files: Vec<(String, String)>) {
        files.sort();
        files.dedup();
        let mut paths: Vec<String> = files
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| !is_fixture(p))
            .collect();
        paths.dedup();
        self.trees.insert(sha.clone(), paths);
        self.files.insert(sha, files);
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
        let mut files = BTreeMap::new();
        for (sha, set) in file.files {
            let pairs = set
                .iter()
                .map(|i| file.blobs.get(usize::try_from(i).ok()?).cloned())
                .collect::<Option<Vec<_>>>()?;
            files.insert(sha, pairs);
        }
        Some(GithubCache {
            api_url: file.api_url,
            repo: file.repo,
            migrations_paths: file.migrations_paths,
            pages: file.pages,
            commits: file.commits,
            trees,
            files,
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
        let mut blob_ids: HashMap<(&str, &str), u64> = HashMap::new();
        let mut blobs: Vec<(String, String)> = Vec::new();
        let mut files = BTreeMap::new();
        for (sha, list) in &self.files {
            let set: MigrationSet = list
                .iter()
                .map(|(p, b)| {
                    *blob_ids.entry((p.as_str(), b.as_str())).or_insert_with(|| {
                        blobs.push((p.clone(), b.clone()));
                        (blobs.len() - 1) as u64
                    })
                })
                .collect();
            files.insert(sha.clone(), set);
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
            blobs,
            files,
        };
        serde_json::to_string(&file).expect("the cache always serialises")
    }
}
