//! Container registries through the OCI distribution API: does a tag exist, and which
//! manifest digest does it name (`HEAD /v2/<repository>/manifests/<tag>`,
//! `Docker-Content-Digest`).
//!
//! Authentication as registries ask for it in their `401` answer:
//! - `WWW-Authenticate: Bearer realm=...,service=...,scope=...` (ghcr.io, Docker Hub, the
//!   distribution registry with token auth): fetch a token from the realm, anonymously or
//!   with the credentials below, then retry with `Authorization: Bearer`.
//! - `WWW-Authenticate: Basic realm=...` (htpasswd): retry with the credentials below.
//!
//! Credentials: `MIGTAG_REGISTRY_USERNAME` and `MIGTAG_REGISTRY_PASSWORD`, used only for the
//! registry named by `MIGTAG_REGISTRY_HOST` (required: a CI job that sets them for ghcr.io
//! must not hand them to whatever registry a manifest names), else the `auths` entry for the
//! registry host in Docker's config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`; credential helpers are not run). They never reach output, and go
//! only where [`may_send_credentials`] allows: over HTTPS, or over plain HTTP when both the
//! registry and the target are on this machine.
//!
//! TLS trusts the system store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set. Registries
//! are spoken to over HTTPS; a loopback registry (`localhost`, `127.0.0.0/8`, `::1`) that
//! does not speak TLS is spoken to over plain HTTP, as Docker allows by default (never after
//! a certificate failure: that is reported).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::core::image_ref::ImageRef;
use crate::error::{Error, Result};

/// Manifest media types, most specific first: a multi-arch tag answers with its index, whose
/// digest is what `image@digest` pins for every architecture.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Bound on each request (connect, token, manifest).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// What the registry says about `repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagLookup {
    /// The tag exists; its manifest digest (`sha256:...`) and media type.
    Found {
        digest: String,
        media_type: Option<String>,
    },
    /// The registry answered 404; its own words.
    Missing { registry_says: String },
}

/// Where a reference is fetched from: the registry's base URL and the repository path in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub base: String,
    pub repository: String,
}

impl Endpoint {
    pub fn of(image: &ImageRef) -> Endpoint {
        let (host, repository) = match image.registry.as_deref() {
            None | Some("docker.io") | Some("index.docker.io") => (
                "registry-1.docker.io".to_string(),
                if image.repository.contains('/') {
                    image.repository.clone()
                } else {
                    format!("library/{}", image.repository)
                },
            ),
            Some(r) => (r.to_string(), image.repository.clone()),
        };
        Endpoint {
            base: format!("https://{host}"),
            host,
            repository,
        }
    }

    fn plain_http(&self) -> Endpoint {
        Endpoint {
            base: format!("http://{}", self.host),
            ..self.clone()
        }
    }

    fn manifest_url(&self, tag: &str) -> String {
        format!("{}/v2/{}/manifests/{tag}", self.base, self.repository)
    }
}

fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Looks `image` (which carries a tag) up in its registry.
pub fn lookup(image: &ImageRef) -> Result<TagLookup> {
    let tag = image
        .tag
        .as_deref()
        .ok_or_else(|| Error::internal("registry lookup without a tag"))?;
    let endpoint = Endpoint::of(image);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    let credentials = Credentials::find(&endpoint.host);
    let credentials = &credentials;
    runtime
        .block_on(async {
            let client = client()?;
            let endpoint = if is_loopback(&endpoint.host) && !speaks_tls(&client, &endpoint).await?
            {
                endpoint.plain_http()
            } else {
                endpoint.clone()
            };
            lookup_async(&client, &endpoint, tag, credentials).await
        })
        .map_err(|e| e.context(format!("registry {}", endpoint.host)))
}

/// A loopback registry: does it answer over TLS? A certificate it presents that is not
/// trusted is an error, not a reason to drop to plain HTTP.
async fn speaks_tls(client: &reqwest::Client, endpoint: &Endpoint) -> Result<bool> {
    let url = format!("{}/v2/", endpoint.base);
    match client.get(&url).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let err = transport_error(&url, &e);
            if is_certificate_problem(err.message()) {
                Err(err)
            } else {
                Ok(false)
            }
        }
    }
}

fn is_certificate_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("unknownissuer") || t.contains("notvalidforname")
}

async fn lookup_async(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    tag: &str,
    credentials: &Found,
) -> Result<TagLookup> {
    let url = endpoint.manifest_url(tag);
    let accept = MANIFEST_MEDIA_TYPES.join(", ");

    let mut auth: Option<String> = None;
    let mut answer = send(client, Method::HEAD, &url, &accept, None).await?;
    if answer.status == StatusCode::UNAUTHORIZED {
        let challenge = answer
            .headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(Challenge::parse)
            .ok_or_else(|| {
                Error::upstream(format!(
                    "{url} answered 401 without a WWW-Authenticate challenge"
                ))
            })?;
        auth = Some(authorize(client, &challenge, endpoint, credentials).await?);
        answer = send(client, Method::HEAD, &url, &accept, auth.as_deref()).await?;
    }
    match answer.status {
        s if s.is_success() => {
            let digest = answer
                .headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::upstream(format!(
                        "{url} answered {s} without a Docker-Content-Digest header"
                    ))
                })?
                .to_string();
            // The digest ends up in a patch: it must be a well-formed one.
            ImageRef::parse(&format!("{}@{digest}", endpoint.repository))
                .map_err(|e| Error::upstream(format!("{url}: {}", e.message())))?;
            let media_type = answer
                .headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok(TagLookup::Found { digest, media_type })
        }
        s => {
            // A HEAD answer has no body: ask again with GET for the registry's own words.
            let words = match send(client, Method::GET, &url, &accept, auth.as_deref()).await {
                Ok(a) => registry_words(&a.body).unwrap_or_else(|| status_words(s)),
                Err(_) => status_words(s),
            };
            if s == StatusCode::NOT_FOUND {
                return Ok(TagLookup::Missing {
                    registry_says: words,
                });
            }
            let mut e = Error::upstream(format!("{url} answered {s}: {words}"));
            if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN {
                e = e.with_hint(credentials.hint(&endpoint.host));
            }
            Err(e)
        }
    }
}

/// May credentials for the registry at `registry_host` be sent to `target` (the registry's
/// own base URL for Basic, or the token realm it names)? Over HTTPS, yes (Docker Hub's realm
/// is another host, auth.docker.io). Over plain HTTP only when both the target and the
/// registry are loopback (`localhost`, `127.0.0.0/8`, `::1`): nothing leaves the machine.
/// Anything else (an `http://` realm elsewhere, another scheme, not a URL): no.
pub fn may_send_credentials(registry_host: &str, target: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(target) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => url.host_str().is_some_and(is_loopback) && is_loopback(registry_host),
        _ => false,
    }
}

/// The refusal when [`may_send_credentials`] says no.
fn refuse_credentials(registry_host: &str, target: &str, source: &str) -> Error {
    Error::upstream(format!(
        "refusing to send the credentials for registry {registry_host} (from {source}) to \
         {target}: credentials go only over https, or over plain http when the registry and \
         the target are both on this machine (localhost, 127.0.0.0/8, ::1)"
    ))
    .with_hint(
        "the registry must name an https token service (realm); for a public image, unset \
         the credentials (or point MIGTAG_REGISTRY_HOST elsewhere) to ask anonymously",
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    accept: &str,
    auth: Option<&str>,
) -> Result<Answer> {
    let mut req = client.request(method, url).header(ACCEPT, accept);
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(|e| transport_error(url, &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = bounded_body(resp, url).await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A response body, read chunk by chunk up to [`bounded::HTTP_BODY`]: a huge token or
/// error answer stops there (exit 11) instead of filling memory.
async fn bounded_body(mut resp: reqwest::Response, url: &str) -> Result<Vec<u8>> {
    use super::bounded;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(url, &e))? {
        bounded::push_chunk(&mut body, &chunk, url, bounded::HTTP_BODY)?;
    }
    Ok(body)
}

/// The `Authorization` header value the challenge asks for.
async fn authorize(
    client: &reqwest::Client,
    challenge: &Challenge,
    endpoint: &Endpoint,
    found: &Found,
) -> Result<String> {
    let host = endpoint.host.as_str();
    let credentials = found.credentials.as_ref();
    match challenge.scheme.to_ascii_lowercase().as_str() {
        "basic" => match credentials {
            Some(c) if may_send_credentials(host, &endpoint.base) => Ok(c.basic()),
            Some(c) => Err(refuse_credentials(host, &endpoint.base, c.source)),
            None => Err(Error::upstream(format!(
                "the registry {host} asks for a user name and password (Basic realm \"{}\") and none is set for {host}",
                challenge.param("realm").unwrap_or_default()
            ))
            .with_hint(found.hint(host))),
        },
        "bearer" => {
            let realm = challenge.param("realm").ok_or_else(|| {
                Error::upstream("the registry's Bearer challenge names no realm (token URL)")
            })?;
            let mut url = reqwest::Url::parse(realm).map_err(|e| {
                Error::upstream(format!("the registry's token realm `{realm}` is not a URL: {e}"))
            })?;
            {
                let mut q = url.query_pairs_mut();
                if let Some(service) = challenge.param("service") {
                    q.append_pair("service", service);
                }
                let scope = challenge
                    .param("scope")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("repository:{}:pull", endpoint.repository));
                q.append_pair("scope", &scope);
            }
            let mut req = client.get(url.clone());
            if let Some(c) = credentials {
                if !may_send_credentials(host, realm) {
                    return Err(refuse_credentials(host, &without_query(&url), c.source));
                }
                req = req.header(AUTHORIZATION, c.basic());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport_error(url.as_str(), &e))?;
            let status = resp.status();
            let body = bounded_body(resp, url.as_str()).await?;
            let token_url = without_query(&url);
            if !status.is_success() {
                let words = registry_words(&body).unwrap_or_else(|| status_words(status));
                return Err(Error::upstream(format!(
                    "the token service {token_url} answered {status}: {words}"
                ))
                .with_hint(found.hint(host)));
            }
            #[derive(serde::Deserialize)]
            struct TokenAnswer {
                token: Option<String>,
                access_token: Option<String>,
            }
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                Error::upstream(format!(
                    "the token service {token_url} answered something that is not a token document: {e}"
                ))
            })?;
            let token = answer.token.or(answer.access_token).ok_or_else(|| {
                Error::upstream(format!("the token service {token_url} answered without a token"))
            })?;
            Ok(format!("Bearer {token}"))
        }
        other => Err(Error::upstream(format!(
            "the registry asks for `{other}` authentication, which migtag does not speak (it speaks Bearer tokens and Basic)"
        ))),
    }
}

fn without_query(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// The registry's error document (`{"errors":[{"code":...,"message":...}]}`) as one line.
fn registry_words(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    let doc: Doc = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = doc
        .errors
        .into_iter()
        .map(|i| match (i.code, i.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            (None, Some(m)) => m,
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn status_words(s: StatusCode) -> String {
    s.canonical_reason()
        .unwrap_or("no reason given")
        .to_string()
}

fn transport_error(url: &str, e: &reqwest::Error) -> Error {
    use std::error::Error as _;
    // reqwest's own layers repeat the URL; the innermost causes say what went wrong.
    let mut chain = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let start = chain
        .len()
        .saturating_sub(2)
        .max(usize::from(chain.len() > 1));
    let text = chain[start..].join(": ");
    let hint = if is_certificate_problem(&text) {
        "a private CA: point SSL_CERT_FILE at its PEM file (or add it to the system store)"
    } else {
        "check the image repository (--image-repo) and the network; --offline skips the registry"
    };
    Error::upstream(format!("cannot reach {url}: {text}")).with_hint(hint)
}

fn client() -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    // rustls-native-certs reads SSL_CERT_FILE / SSL_CERT_DIR when set, else the system store.
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .user_agent(concat!("migtag/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

/// A parsed `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn parse(text: &str) -> Challenge {
        let text = text.trim();
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars
                .by_ref()
                .take_while(|c| *c != '=')
                .collect::<String>()
                .trim()
                .to_ascii_lowercase();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.peek() {
                    if *c == ',' {
                        break;
                    }
                    value.push(*c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
            params.push((key, value));
        }
        Challenge {
            scheme: scheme.to_string(),
            params,
        }
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A user name and password for a registry.
struct Credentials {
    username: String,
    password: String,
    /// Where they came from, for a refusal (never the values).
    source: &'static str,
}

/// The credentials for one registry host, and why the environment's were not used when they
/// were set for another host (so that a `401` says what to set).
struct Found {
    credentials: Option<Credentials>,
    env_skipped: Option<String>,
}

impl Found {
    fn hint(&self, host: &str) -> String {
        let mut hint = format!(
            "for a private repository set MIGTAG_REGISTRY_HOST={host} with \
             MIGTAG_REGISTRY_USERNAME and MIGTAG_REGISTRY_PASSWORD (for ghcr.io a token with \
             read:packages), or log in with `docker login {host}` so that \
             ~/.docker/config.json holds the registry's auth"
        );
        if let Some(why) = &self.env_skipped {
            hint = format!("{why}; {hint}");
        }
        hint
    }
}

/// One spelling per registry: lower case, no scheme or path, Docker Hub's aliases as the host
/// migtag asks (`registry-1.docker.io`).
fn registry_key(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    let h = h
        .strip_prefix("https://")
        .or_else(|| h.strip_prefix("http://"))
        .unwrap_or(&h);
    let h = h.split('/').next().unwrap_or_default();
    match h {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "registry-1.docker.io".into(),
        other => other.to_string(),
    }
}

impl Credentials {
    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// The environment first (only when MIGTAG_REGISTRY_HOST names `host`), then Docker's
    /// config file's entry for `host`.
    fn find(host: &str) -> Found {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut env_skipped = None;
        if let (Some(username), Some(password)) = (
            env("MIGTAG_REGISTRY_USERNAME"),
            env("MIGTAG_REGISTRY_PASSWORD"),
        ) {
            match env("MIGTAG_REGISTRY_HOST") {
                Some(h) if registry_key(&h) == registry_key(host) => {
                    return Found {
                        credentials: Some(Credentials {
                            username,
                            password,
                            source: "MIGTAG_REGISTRY_USERNAME/MIGTAG_REGISTRY_PASSWORD",
                        }),
                        env_skipped: None,
                    }
                }
                Some(h) => {
                    env_skipped = Some(format!(
                        "MIGTAG_REGISTRY_USERNAME/MIGTAG_REGISTRY_PASSWORD are for \
                         MIGTAG_REGISTRY_HOST={h}, not for {host}, so they were not sent"
                    ))
                }
                None => {
                    env_skipped = Some(
                        "MIGTAG_REGISTRY_USERNAME/MIGTAG_REGISTRY_PASSWORD are set without \
                         MIGTAG_REGISTRY_HOST, so they were not sent to any registry"
                            .to_string(),
                    )
                }
            }
        }
        let credentials = docker_config_path().and_then(|path| {
            // Bounded like every file migtag reads (docs/limits.md).
            let text = super::bounded::read_path(&path, super::bounded::PASSFILE).ok()?;
            from_docker_config(&text, host)
        });
        Found {
            credentials,
            env_skipped,
        }
    }
}

fn docker_config_path() -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("config.json")),
        None => Some(dirs::home_dir()?.join(".docker").join("config.json")),
    }
}

const DOCKER_CONFIG_SOURCE: &str = "Docker's config.json";

/// The `auths` entry for `host` in a Docker config.json (`auth` is base64 of `user:password`).
fn from_docker_config(text: &str, host: &str) -> Option<Credentials> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    let keys: Vec<String> = if host == "registry-1.docker.io" {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    };
    let entry = keys.iter().find_map(|k| auths.get(k))?;
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
            source: DOCKER_CONFIG_SOURCE,
        });
    }
    let username = entry.get("username")?.as_str()?.to_string();
    let password = entry.get("password")?.as_str()?.to_string();
    Some(Credentials {
        username,
        password,
        source: DOCKER_CONFIG_SOURCE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghcr_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:coder/coder:pull""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(c.param("service"), Some("ghcr.io"));
        assert_eq!(c.param("scope"), Some("repository:coder/coder:pull"));
        let b = Challenge::parse(r#"Basic realm="basic-realm""#);
        assert_eq!(b.scheme, "Basic");
        assert_eq!(b.param("realm"), Some("basic-realm"));
        let odd = Challenge::parse(r#"Bearer realm="a\"b", error=insufficient_scope"#);
        assert_eq!(odd.param("realm"), Some("a\"b"));
        assert_eq!(odd.param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::of(&ImageRef::parse("ghcr.io/coder/coder:v2.3.1").unwrap());
        assert_eq!(
            e.manifest_url("v2.3.1"),
            "https://ghcr.io/v2/coder/coder/manifests/v2.3.1"
        );
        let hub = Endpoint::of(&ImageRef::parse("alpine:3").unwrap());
        assert_eq!(hub.base, "https://registry-1.docker.io");
        assert_eq!(hub.repository, "library/alpine");
        let local = Endpoint::of(&ImageRef::parse("127.0.0.1:5000/coder/coder:v1").unwrap());
        assert_eq!(local.base, "https://127.0.0.1:5000");
        assert_eq!(local.plain_http().base, "http://127.0.0.1:5000");
        assert!(is_loopback("localhost:5000") && is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com:5000"));
    }

    #[test]
    fn docker_config_auths() {
        let cfg = r#"{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"username":"u","password":"p"}}}"#;
        let c = from_docker_config(cfg, "ghcr.io").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        assert_eq!(c.basic(), "Basic dXNlcjpwYXNz");
        let hub = from_docker_config(cfg, "registry-1.docker.io").unwrap();
        assert_eq!(hub.username, "u");
        assert!(from_docker_config(cfg, "quay.io").is_none());
    }

    #[test]
    fn credentials_go_only_over_https_or_within_this_machine() {
        let cases = [
            // (registry host, target, may send)
            ("ghcr.io", "https://ghcr.io/token", true),
            ("registry-1.docker.io", "https://auth.docker.io/token", true),
            ("ghcr.io", "http://ghcr.io/token", false),
            ("ghcr.io", "http://evil.example/token", false),
            ("ghcr.io", "http://127.0.0.1:5001/token", false),
            (
                "registry.example.com:5000",
                "http://registry.example.com:5000",
                false,
            ),
            ("127.0.0.1:5000", "http://127.0.0.1:5001/token", true),
            ("127.0.0.1:5000", "http://localhost:5001/token", true),
            ("localhost:5000", "http://[::1]:5001/token", true),
            ("[::1]:5000", "http://127.0.0.2/token", true),
            ("127.0.0.1:5000", "http://127.0.0.1:5000", true),
            ("127.0.0.1:5000", "http://evil.example/token", false),
            (
                "127.0.0.1:5000",
                "http://localhost.evil.example/token",
                false,
            ),
            ("127.0.0.1:5000", "ftp://127.0.0.1/token", false),
            ("127.0.0.1:5000", "/token", false),
            ("127.0.0.1:5000", "https://evil.example/token", true),
        ];
        for (registry, target, want) in cases {
            assert_eq!(
                may_send_credentials(registry, target),
                want,
                "{registry} -> {target}"
            );
        }
    }

    #[test]
    fn registry_hosts_compare_as_one_spelling() {
        assert_eq!(registry_key("GHCR.io"), "ghcr.io");
        assert_eq!(registry_key("https://ghcr.io/"), "ghcr.io");
        assert_eq!(
            registry_key("docker.io"),
            registry_key("registry-1.docker.io")
        );
        assert_eq!(
            registry_key("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_ne!(
            registry_key("127.0.0.1:5000"),
            registry_key("127.0.0.1:5001")
        );
        assert_ne!(
            registry_key("ghcr.io"),
            registry_key("ghcr.io.evil.example")
        );
    }

    #[test]
    fn registry_error_documents() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}}]}"#;
        assert_eq!(
            registry_words(body).as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(registry_words(b"<html>"), None);
    }
}
