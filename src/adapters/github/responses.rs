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

/// `GET /repos/{repo}/git/blobs/{sha}`: the content, base64 with line breaks as GitHub sends
/// it, checked against the blob's SHA and size, as UTF-8 text (migration files are SQL).
pub(super) fn parse_blob(url: &str, sha: &str, body: &[u8]) -> Result<String> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Blob {
        content: String,
        encoding: String,
        sha: String,
        size: u64,
    }
    let blob: Blob = parse_json(url, body)?;
    if !blob.sha.eq_ignore_ascii_case(sha) {
        return Err(Error::upstream(format!(
            "{url} answered for blob `{}`, not {sha}",
            blob.sha.escape_debug()
        )));
    }
    let bytes = match blob.encoding.as_str() {
        "base64" => {
            let packed: String = blob
                .content
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .map_err(|e| Error::upstream(format!("{url}: the content is not base64: {e}")))?
        }
        "utf-8" => blob.content.into_bytes(),
        other => {
            return Err(Error::upstream(format!(
                "{url}: content in encoding `{}`, neither base64 nor utf-8",
                other.escape_debug()
            )))
        }
    };
    let limit = crate::adapters::bounded::MIGRATION_FILE;
    if bytes.len() > limit.bytes {
        return Err(Error::upstream(format!(
            "{url}: more than {}, the limit for {} (docs/limits.md)",
            crate::adapters::bounded::size_text(limit.bytes),
            limit.what
        )));
    }
    if bytes.len() as u64 != blob.size {
        return Err(Error::upstream(format!(
            "{url}: {} bytes of content where the blob's size is {}: the answer was cut or altered",
            bytes.len(),
            blob.size
        )));
    }
    if crate::adapters::cache::git_blob_sha(&bytes) != sha.to_ascii_lowercase() {
        return Err(Error::upstream(format!(
            "{url}: the content does not hash to blob {sha}: the answer was altered on the way"
        ))
        .with_hint("a proxy or mirror may be rewriting the answer; check --github-api-url"));
    }
    if bytes.contains(&0) {
        return Err(Error::upstream(format!(
            "{url}: blob {sha} holds a NUL byte: not a migration file"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::upstream(format!("{url}: blob {sha} is not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn blob_json(content: &[u8], sha: &str, size: usize) -> Vec<u8> {
        // GitHub wraps the base64 text every 60 characters.
        let b64 = base64::engine::general_purpose::STANDARD.encode(content);
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "sha": sha, "node_id": "B_x", "size": size, "url": "u",
            "content": wrapped.join("\n") + "\n", "encoding": "base64"
        }))
        .unwrap()
    }

    #[test]
    fn a_blob_is_decoded_and_checked_against_its_sha_and_size() {
        let text = "ALTER TABLE users ADD COLUMN x int;\n".repeat(5);
        let sha = crate::adapters::cache::git_blob_sha(text.as_bytes());
        let ok = blob_json(text.as_bytes(), &sha, text.len());
        assert_eq!(parse_blob("u", &sha, &ok).unwrap(), text);
        // Content that is not the blob the SHA names (a proxy rewrote it).
        let other = blob_json(b"DROP TABLE users;\n", &sha, 18);
        let e = parse_blob("u", &sha, &other).unwrap_err();
        assert!(e.message().contains("does not hash to blob"), "{e}");
        // Cut short: the size disagrees.
        let short = blob_json(&text.as_bytes()[..10], &sha, text.len());
        assert!(parse_blob("u", &sha, &short)
            .unwrap_err()
            .message()
            .contains("the answer was cut or altered"));
        // An answer for another blob.
        let e = parse_blob("u", &"0".repeat(40), &ok).unwrap_err();
        assert!(e.message().contains("not 0000"), "{e}");
        // Binary content is no migration file.
        let bin = b"\x00\x01";
        let bin_sha = crate::adapters::cache::git_blob_sha(bin);
        assert!(parse_blob("u", &bin_sha, &blob_json(bin, &bin_sha, 2)).is_err());
    }
}
