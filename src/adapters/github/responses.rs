//! GitHub's JSON answers (tag pages, commits, trees) and the folder arithmetic the requests
//! need.

use serde::Deserialize;

use crate::core::index::Project;
use crate::core::upstream::is_sha;
use crate::error::{Error, Result};

pub(super) fn parse_tags(url: &str, body: &[u8]) -> Result<Vec<(String, String)>> {
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
pub(super) struct ShaRef {
    pub(super) sha: String,
}

#[derive(Deserialize)]
pub(super) struct TreeListing {
    pub(super) tree: Vec<TreeEntry>,
    #[serde(default)]
    pub(super) truncated: bool,
}

#[derive(Deserialize)]
pub(super) struct TreeEntry {
    pub(super) path: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) sha: String,
}

pub(super) fn parse_tree(url: &str, body: &[u8]) -> Result<TreeListing> {
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

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T> {
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

pub(super) fn paths_of(project: &Project) -> Vec<String> {
    project
        .migrations_paths()
        .into_iter()
        .map(str::to_string)
        .collect()
}

pub(super) fn parent_of(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

pub(super) fn folder_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}
