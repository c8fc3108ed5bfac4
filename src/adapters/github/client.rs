//! The HTTP side of the GitHub adapter: octocrab's raw requests with ETags, bounded
//! retries with back-off, rate-limit detection and the request counters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;

use crate::error::{Error, Result};

use super::{FetchOptions, FetchStats, GithubSource};

pub(super) enum Answer {
    Ok {
        body: Vec<u8>,
        etag: Option<String>,
        next: Option<String>,
    },
    NotModified,
    NotFound,
}

#[derive(Clone)]
pub(super) struct Client {
    pub(super) octo: Octocrab,
    pub(super) base: String,
    pub(super) repo: String,
    pub(super) authenticated: bool,
    pub(super) opts: FetchOptions,
    pub(super) counters: Arc<[AtomicUsize; 7]>,
}

pub(super) const REQUESTS: usize = 0;
pub(super) const NOT_MODIFIED: usize = 1;
pub(super) const RETRIES: usize = 2;
pub(super) const PAGES: usize = 3;
pub(super) const COMMITS: usize = 4;
pub(super) const TREES: usize = 5;
pub(super) const BLOBS: usize = 6;

impl Client {
    pub(super) fn new(source: &GithubSource, opts: &FetchOptions) -> Result<Self> {
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

    pub(super) fn stats(&self) -> FetchStats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        FetchStats {
            requests: c(REQUESTS),
            not_modified: c(NOT_MODIFIED),
            retries: c(RETRIES),
            tag_pages: c(PAGES),
            commits_fetched: c(COMMITS),
            trees_fetched: c(TREES),
            blobs_fetched: c(BLOBS),
            releases_reused: 0,
        }
    }

    fn bump(&self, i: usize) {
        self.counters[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_page(&self) {
        self.bump(PAGES);
    }

    /// A `Link` URL must stay on the API host: the token is sent with every request.
    pub(super) fn check_same_origin(&self, url: &str) -> Result<()> {
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
    pub(super) async fn get(&self, url: &str, etag: Option<&str>) -> Result<Answer> {
        if url.contains("/git/commits/") {
            self.bump(COMMITS);
        } else if url.contains("/git/trees/") {
            self.bump(TREES);
        } else if url.contains("/git/blobs/") {
            self.bump(BLOBS);
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
        // The body is read within a bound (docs/limits.md): a proxy that streams without end
        // stops here, not in memory.
        let limit = crate::adapters::bounded::GITHUB_ANSWER;
        let call = async {
            let response = self
                .octo
                ._get_with_headers(url, Some(headers))
                .await
                .map_err(|e| Retryable(transport_error(&e)))?;
            let (parts, body) = response.into_parts();
            let bytes = http_body_util::Limited::new(body, limit.bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        Retryable(TOO_LARGE.into())
                    } else {
                        Retryable(e.to_string())
                    }
                })?
                .to_bytes();
            Ok::<_, Retryable>((parts, bytes))
        };
        let (parts, body) = match tokio::time::timeout(self.opts.timeout, call).await {
            Err(_) => {
                return Ok(Err(Retryable(format!(
                    "no answer within {:?}",
                    self.opts.timeout
                ))))
            }
            Ok(Err(Retryable(why))) if why == TOO_LARGE => {
                return Err(Error::upstream(format!(
                    "{url}: an answer of more than {}, the limit for {} (docs/limits.md)",
                    crate::adapters::bounded::size_text(limit.bytes),
                    limit.what
                ))
                .with_hint(
                    "a proxy or mirror may be rewriting the answer; check --github-api-url",
                ))
            }
            Ok(Err(e)) => return Ok(Err(e)),
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

pub(super) struct Retryable(String);

/// The reason an answer's body was cut at its bound (not retried).
const TOO_LARGE: &str = "the answer exceeds its bound";

pub(super) fn is_rate_limited(headers: &HeaderMap) -> bool {
    headers
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0")
        || headers.contains_key("retry-after")
}

/// Describes a transport failure without echoing request headers (the token).
pub(super) fn transport_error(e: &octocrab::Error) -> String {
    let mut text = match e {
        octocrab::Error::Hyper { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    // At a character boundary: `String::truncate` panics inside a multi-byte character.
    if let Some((cut, _)) = text.char_indices().nth(300) {
        text.truncate(cut);
    }
    text
}

pub(super) fn github_message(body: &[u8]) -> Option<String> {
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
