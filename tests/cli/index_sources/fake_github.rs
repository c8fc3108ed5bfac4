//! A local GitHub REST API for tests and the benchmark: the endpoints `index update` uses,
//! answered with GitHub's real JSON shapes and headers (Link pagination, ETag and 304,
//! `x-ratelimit-*`), from a model that a test builds from a real git repository (or the
//! benchmark builds synthetically), plus faults to inject.

#![allow(dead_code)] // shared with the benchmark, which uses a subset

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

/// One entry of a git tree (or of a contents listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// `blob` or `tree`.
    pub kind: String,
    pub sha: String,
}

/// What the fake repository holds.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub repo: String,
    /// (tag, commit), in GitHub's listing order (newest first).
    pub tags: Vec<(String, String)>,
    /// commit -> committer date (UTC, `Z`, as GitHub answers).
    pub commit_dates: BTreeMap<String, String>,
    /// (commit, folder path) -> the folder's entries, for the contents API.
    pub folders: BTreeMap<(String, String), Vec<Entry>>,
    /// tree sha -> its entries (non-recursive).
    pub trees: BTreeMap<String, Vec<Entry>>,
    /// blob sha -> content, for `git/blobs/{sha}` (read from the git repository).
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// (path fragment, status, how many times): the next matching requests fail so.
    pub fail: Vec<(String, u16, usize)>,
    /// Every request answers 403 with `x-ratelimit-remaining: 0`.
    pub rate_limited: bool,
    /// The tag list's JSON is cut in the middle.
    pub malformed_tags: bool,
    /// The first tag page holds one tag fewer than asked, yet points to a next page.
    pub short_page: bool,
    /// Recursive tree listings with more entries than this come back `truncated`.
    pub truncate_over: Option<usize>,
    /// Every answer waits this long (a stand-in for the network's round trip).
    pub latency: Option<std::time::Duration>,
}

/// The responder; clone the handles to change the model or faults between runs.
#[derive(Clone)]
pub struct FakeGithub {
    pub model: Arc<Mutex<Model>>,
    pub faults: Arc<Mutex<Faults>>,
    pub base: Arc<Mutex<String>>,
}

impl FakeGithub {
    pub fn new(model: Model) -> Self {
        FakeGithub {
            model: Arc::new(Mutex::new(model)),
            faults: Arc::new(Mutex::new(Faults::default())),
            base: Arc::new(Mutex::new(String::new())),
        }
    }

    fn not_found() -> ResponseTemplate {
        json_response(
            404,
            &json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
        )
    }
}

fn json_response(status: u16, v: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(
            serde_json::to_vec(v).unwrap(),
            "application/json; charset=utf-8",
        )
        .insert_header("x-ratelimit-limit", "5000")
        .insert_header("x-ratelimit-remaining", "4999")
        .insert_header("x-ratelimit-used", "1")
        .insert_header("x-ratelimit-resource", "core")
        .insert_header("x-github-api-version-selected", "2022-11-28")
}

/// A weak ETag over the body, like GitHub's.
fn etag_of(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!(
        "W/\"{h:016x}{:016x}\"",
        h.rotate_left(17) ^ body.len() as u64
    )
}

impl Respond for FakeGithub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let latency = self.faults.lock().unwrap().latency;
        let answer = self.answer(req);
        match latency {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

impl FakeGithub {
    fn answer(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_string();
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let base = self.base.lock().unwrap().clone();
        {
            let mut faults = self.faults.lock().unwrap();
            if faults.rate_limited {
                let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 1800;
                return json_response(
                    403,
                    &json!({
                        "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
                        "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
                    }),
                )
                .insert_header("x-ratelimit-limit", "60")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "60")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str());
            }
            if let Some(f) = faults
                .fail
                .iter_mut()
                .find(|f| f.2 > 0 && path.contains(&f.0))
            {
                f.2 -= 1;
                return json_response(f.1, &json!({"message": "Server Error"}));
            }
        }
        let faults = self.faults.lock().unwrap().clone();
        let model = self.model.lock().unwrap();
        let prefix = format!("/repos/{}/", model.repo);
        let Some(rest) = path.strip_prefix(&prefix) else {
            return Self::not_found();
        };

        if rest == "tags" {
            let per_page: usize = query
                .get("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(30)
                .min(100);
            let page: usize = query
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1);
            let pages = model.tags.len().div_ceil(per_page).max(1);
            let start = (page - 1) * per_page;
            let mut slice: Vec<&(String, String)> =
                model.tags.iter().skip(start).take(per_page).collect();
            if faults.short_page && page == 1 {
                slice.pop();
            }
            let body: Vec<Value> = slice
                .iter()
                .map(|(name, sha)| {
                    json!({
                        "name": name,
                        "zipball_url": format!("{base}/repos/{}/zipball/refs/tags/{name}", model.repo),
                        "tarball_url": format!("{base}/repos/{}/tarball/refs/tags/{name}", model.repo),
                        "commit": {"sha": sha, "url": format!("{base}/repos/{}/commits/{sha}", model.repo)},
                        "node_id": "MDM6UmVmMTIzNDU2Nzg5OnJlZnMvdGFncy92MS4wLjA="
                    })
                })
                .collect();
            let mut bytes = serde_json::to_vec(&body).unwrap();
            let etag = etag_of(&bytes);
            if req
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str())
            {
                return ResponseTemplate::new(304)
                    .insert_header("etag", etag.as_str())
                    .insert_header("x-ratelimit-limit", "5000")
                    .insert_header("x-ratelimit-remaining", "4999");
            }
            if faults.malformed_tags {
                bytes.truncate(bytes.len() / 2);
            }
            let link = |p: usize| {
                format!(
                    "{base}/repos/{}/tags?per_page={per_page}&page={p}",
                    model.repo
                )
            };
            let mut links = Vec::new();
            if page < pages {
                links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
                links.push(format!("<{}>; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
                links.push(format!("<{}>; rel=\"first\"", link(1)));
            }
            let mut r = ResponseTemplate::new(200)
                .set_body_raw(bytes, "application/json; charset=utf-8")
                .insert_header("etag", etag.as_str())
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "4998");
            if !links.is_empty() {
                r = r.insert_header("link", links.join(", ").as_str());
            }
            return r;
        }

        if let Some(sha) = rest.strip_prefix("git/commits/") {
            let Some(date) = model.commit_dates.get(sha) else {
                return Self::not_found();
            };
            let person =
                json!({"name": "Coder Release", "email": "release@example.com", "date": date});
            return json_response(
                200,
                &json!({
                    "sha": sha,
                    "node_id": "C_kwDOAAAAAA",
                    "url": format!("{base}/repos/{}/git/commits/{sha}", model.repo),
                    "html_url": format!("https://github.com/{}/commit/{sha}", model.repo),
                    "author": person,
                    "committer": person,
                    "tree": {"sha": "0000000000000000000000000000000000000000", "url": format!("{base}/repos/{}/git/trees/0", model.repo)},
                    "message": "release",
                    "parents": [],
                    "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
                }),
            );
        }

        if let Some(folder) = rest.strip_prefix("contents/") {
            let folder = folder.trim_end_matches('/').to_string();
            let Some(r#ref) = query.get("ref") else {
                return Self::not_found();
            };
            let Some(entries) = model.folders.get(&(r#ref.clone(), folder.clone())) else {
                return Self::not_found();
            };
            let body: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let path = if folder.is_empty() { e.name.clone() } else { format!("{folder}/{}", e.name) };
                    let ty = if e.kind == "tree" { "dir" } else { "file" };
                    let git_url = format!("{base}/repos/{}/git/{}s/{}", model.repo, e.kind, e.sha);
                    let self_url = format!("{base}/repos/{}/contents/{path}?ref={}", model.repo, r#ref);
                    let html = format!("https://github.com/{}/tree/{}/{path}", model.repo, r#ref);
                    json!({
                        "name": e.name, "path": path, "sha": e.sha, "size": 0,
                        "url": self_url, "html_url": html, "git_url": git_url,
                        "download_url": if ty == "file" { Value::String(format!("https://raw.githubusercontent.com/{}/{}/{path}", model.repo, r#ref)) } else { Value::Null },
                        "type": ty,
                        "_links": {"self": self_url, "git": git_url, "html": html}
                    })
                })
                .collect();
            return json_response(200, &Value::Array(body));
        }

        if let Some(sha) = rest.strip_prefix("git/trees/") {
            let Some(entries) = model.trees.get(sha) else {
                return Self::not_found();
            };
            let recursive = query.contains_key("recursive");
            let mut listed: Vec<(String, Entry)> = Vec::new();
            if recursive {
                walk(&model, sha, "", &mut listed);
            } else {
                listed = entries
                    .iter()
                    .map(|e| (e.name.clone(), e.clone()))
                    .collect();
            }
            let mut truncated = false;
            if let (true, Some(limit)) = (recursive, faults.truncate_over) {
                if listed.len() > limit {
                    listed.truncate(limit);
                    truncated = true;
                }
            }
            let tree: Vec<Value> = listed
                .iter()
                .map(|(path, e)| {
                    let mut v = json!({
                        "path": path,
                        "mode": if e.kind == "tree" { "040000" } else { "100644" },
                        "type": e.kind,
                        "sha": e.sha,
                        "url": format!("{base}/repos/{}/git/{}s/{}", model.repo, e.kind, e.sha),
                    });
                    if e.kind == "blob" {
                        v["size"] = json!(model.blobs.get(&e.sha).map(Vec::len).unwrap_or(42));
                    }
                    v
                })
                .collect();
            return json_response(
                200,
                &json!({
                    "sha": sha,
                    "url": format!("{base}/repos/{}/git/trees/{sha}", model.repo),
                    "tree": tree,
                    "truncated": truncated
                }),
            );
        }
        if let Some(sha) = rest.strip_prefix("git/blobs/") {
            let Some(content) = model.blobs.get(sha) else {
                return Self::not_found();
            };
            // As GitHub answers: base64 with a line break every 60 characters, an ETag.
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(content);
            let wrapped: Vec<&str> = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let body = json!({
                "sha": sha,
                "node_id": "B_kwDOAAAAAA",
                "size": content.len(),
                "url": format!("{base}/repos/{}/git/blobs/{sha}", model.repo),
                "content": format!("{}\n", wrapped.join("\n")),
                "encoding": "base64"
            });
            let etag = format!("\"{sha}\"");
            if req
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str())
            {
                return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
            }
            return json_response(200, &body).insert_header("etag", etag.as_str());
        }
        Self::not_found()
    }
}

/// A recursive listing as GitHub gives it: trees and blobs, parents before children.
fn walk(model: &Model, sha: &str, prefix: &str, out: &mut Vec<(String, Entry)>) {
    for e in model.trees.get(sha).into_iter().flatten() {
        let path = format!("{prefix}{}", e.name);
        out.push((path.clone(), e.clone()));
        if e.kind == "tree" {
            walk(model, &e.sha, &format!("{path}/"), out);
        }
    }
}

/// A mock server answering with `fake`; returns the server (keep it alive) and its URL.
pub async fn serve(fake: &FakeGithub) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    *fake.base.lock().unwrap() = server.uri();
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    server
}
