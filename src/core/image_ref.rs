//! Container image references, parsed with the grammar of the OCI distribution reference
//! (`github.com/distribution/reference`): `[registry[:port]/]path[:tag][@algorithm:hex]`.
//!
//! Every image migtag reads from a manifest or a flag, and every image it prints, goes
//! through [`ImageRef::parse`]; a bad reference is invalid input that names the bad part.

use std::fmt;

use serde::Serialize;

use super::k8s_name::{describe_char, printable};
use crate::error::{Error, Result};

const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed image reference. `registry` is `None` when the reference names none (Docker Hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    pub registry: Option<String>,
    /// The path inside the registry, such as `coder/coder`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a full reference (tag and digest optional).
    pub fn parse(text: &str) -> Result<Self> {
        parse(text).map_err(|problem| {
            Error::invalid_input(format!("image reference `{}` is not valid: {problem}", printable(text)))
                .with_hint("an image reference looks like ghcr.io/coder/coder:v2.3.1 or ghcr.io/coder/coder@sha256:<64 hex digits>")
        })
    }

    /// Parses a repository without tag or digest, as `--image-repo` and Helm's
    /// `coder.image.repo` take it.
    pub fn parse_repository(text: &str) -> Result<Self> {
        let image = Self::parse(text)?;
        if image.tag.is_some() || image.digest.is_some() {
            return Err(Error::invalid_input(format!(
                "image repository `{}` carries a {}: give the repository alone, such as ghcr.io/coder/coder",
                printable(text),
                if image.digest.is_some() { "digest" } else { "tag" }
            )));
        }
        Ok(image)
    }

    /// `registry/repository`, as written (no tag, no digest).
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The name as a container runtime resolves it: Docker Hub made explicit, so that
    /// `coder/coder` and `docker.io/coder/coder` compare equal.
    pub fn canonical_name(&self) -> String {
        match self.registry.as_deref() {
            None | Some("docker.io") | Some("index.docker.io") => {
                if self.repository.contains('/') {
                    format!("docker.io/{}", self.repository)
                } else {
                    format!("docker.io/library/{}", self.repository)
                }
            }
            Some(r) => format!("{r}/{}", self.repository),
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// True when the reference floats: no digest, and the tag is `latest` or missing (which
    /// means `latest`).
    pub fn is_floating(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn parse(text: &str) -> std::result::Result<ImageRef, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains {}", describe_char(c)));
    }
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(check_digest(d)?)),
        None => (text, None),
    };
    // A tag is what follows the last `:` after the last `/`; a `:` before that is a port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&name_tag[..at], Some(check_tag(&name_tag[at + 1..])?))
        }
        None => (name_tag, None),
    };
    if name.is_empty() {
        return Err("the repository name is empty".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "the name is {} characters long, the limit is {NAME_MAX}",
            name.len()
        ));
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => (Some(check_registry(first)?), rest),
        _ => (None, name),
    };
    for component in path.split('/') {
        check_path_component(component)?;
    }
    Ok(ImageRef {
        registry,
        repository: path.to_string(),
        tag,
        digest,
    })
}

/// The distribution rule: the first component is a registry when it has a `.` or a `:`, is
/// `localhost`, or has an uppercase letter (which a path may not have).
fn looks_like_registry(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_registry(registry: &str) -> std::result::Result<String, String> {
    let bad = |why: String| format!("registry `{registry}`: {why}");
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        // [IPv6]:port
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs a closing `]`".into()))?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad("not an IPv6 address".into()));
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected `:port` after `]`".into()))?,
                ),
            ),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        for part in host.split('.') {
            if part.is_empty() {
                return Err(bad("a host name part is empty".into()));
            }
            if let Some(c) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(bad(format!(
                    "character {} is not allowed in a host name",
                    describe_char(c)
                )));
            }
            if part.starts_with('-') || part.ends_with('-') {
                return Err(bad(format!(
                    "host name part `{part}` must start and end with a letter or digit"
                )));
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty()
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p > 65535)
        {
            return Err(bad(format!("port `{port}` is not a port number")));
        }
    }
    Ok(registry.to_string())
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn check_path_component(component: &str) -> std::result::Result<(), String> {
    let bad = |why: String| format!("repository path component `{component}`: {why}");
    if component.is_empty() {
        return Err("the repository path has an empty component (`//`, or a `/` at an end)".into());
    }
    if let Some(c) = component
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(format!(
            "character {} is not allowed (lowercase letters, digits, and the separators `.`, `_`, `__`, `-`)",
            describe_char(c)
        )));
    }
    let bytes = component.as_bytes();
    let is_sep = |b: u8| matches!(b, b'.' | b'_' | b'-');
    if is_sep(bytes[0]) || is_sep(bytes[bytes.len() - 1]) {
        return Err(bad("it must start and end with a letter or digit".into()));
    }
    // Runs of separators: only `__` or any number of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if is_sep(bytes[i]) {
            let start = i;
            while i < bytes.len() && is_sep(bytes[i]) {
                i += 1;
            }
            let run = &component[start..i];
            let ok = run.len() == 1 || run == "__" || run.bytes().all(|b| b == b'-');
            if !ok {
                return Err(bad(format!(
                    "separator `{run}` is not allowed (use `.`, `_`, `__` or dashes)"
                )));
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> std::result::Result<String, String> {
    let bad = |why: String| format!("tag `{tag}`: {why}");
    let first = tag
        .chars()
        .next()
        .ok_or_else(|| "the tag after `:` is empty".to_string())?;
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(bad("it must start with a letter, digit or `_`".into()));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(bad(format!(
            "character {} is not allowed (letters, digits, `_`, `.`, `-`)",
            describe_char(c)
        )));
    }
    if tag.len() > TAG_MAX {
        return Err(bad(format!(
            "it is {} characters long, the limit is {TAG_MAX}",
            tag.len()
        )));
    }
    Ok(tag.to_string())
}

/// `algorithm:hex`, with the registered algorithms' exact lengths.
fn check_digest(digest: &str) -> std::result::Result<String, String> {
    let bad = |why: String| format!("digest `{digest}`: {why}");
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| bad("expected algorithm:hex, such as sha256:<64 hex digits>".into()))?;
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            c.chars().next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.chars().all(|ch| ch.is_ascii_alphanumeric())
        });
    if !alg_ok {
        return Err(bad(format!("algorithm `{alg}` is not valid")));
    }
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("the part after `:` must be hexadecimal".into()));
    }
    let expected = match alg {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    match expected {
        Some(n) if hex.len() != n => Err(bad(format!(
            "{alg} needs {n} hex digits, this has {}",
            hex.len()
        ))),
        Some(_) if hex.chars().any(|c| c.is_ascii_uppercase()) => {
            Err(bad("registered digests use lowercase hex".into()))
        }
        None if hex.len() < 32 => Err(bad("the hex part needs at least 32 digits".into())),
        _ => Ok(digest.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:2f3f8c1a9f3c2b6e0d1e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8";

    #[test]
    fn parses_the_usual_forms() {
        let i = ImageRef::parse("ghcr.io/coder/coder:v2.3.1").unwrap();
        assert_eq!(i.registry.as_deref(), Some("ghcr.io"));
        assert_eq!(i.repository, "coder/coder");
        assert_eq!(i.tag.as_deref(), Some("v2.3.1"));
        assert_eq!(i.digest, None);
        assert_eq!(i.to_string(), "ghcr.io/coder/coder:v2.3.1");

        let d = ImageRef::parse(&format!("ghcr.io/coder/coder:v2.3.1@{SHA}")).unwrap();
        assert_eq!(d.tag.as_deref(), Some("v2.3.1"));
        assert_eq!(d.digest.as_deref(), Some(SHA));

        let only = ImageRef::parse(&format!("ghcr.io/coder/coder@{SHA}")).unwrap();
        assert_eq!(only.tag, None);
        assert!(!only.is_floating());

        let port = ImageRef::parse("registry.local:5000/mirror/coder:v2.3.1").unwrap();
        assert_eq!(port.registry.as_deref(), Some("registry.local:5000"));
        assert_eq!(port.repository, "mirror/coder");

        let hub = ImageRef::parse("busybox").unwrap();
        assert_eq!(hub.registry, None);
        assert!(hub.is_floating());
        assert_eq!(hub.canonical_name(), "docker.io/library/busybox");
        assert_eq!(
            ImageRef::parse("coder/coder").unwrap().canonical_name(),
            "docker.io/coder/coder"
        );
        assert!(ImageRef::parse("ghcr.io/coder/coder:latest")
            .unwrap()
            .is_floating());
        ImageRef::parse("localhost/a__b/c-d--e.f:1_x").unwrap();
        ImageRef::parse("[::1]:5000/coder:v1").unwrap();
    }

    #[test]
    fn bad_references_name_the_bad_part() {
        let cases = [
            ("ghcr.io/Coder/coder:v1", "path component `Coder`"),
            ("ghcr.io/coder/coder:", "tag after `:` is empty"),
            ("ghcr.io/coder/coder:-v1", "tag `-v1`"),
            ("ghcr.io/coder/coder:v1;id", "tag `v1;id`"),
            ("ghcr.io/coder/coder@sha256:abc", "needs 64 hex digits"),
            ("ghcr.io/coder/coder@md5", "algorithm:hex"),
            ("ghcr.io//coder", "empty component"),
            ("ghcr.io/coder/coder$(id)", "`$`"),
            ("bad_host.io/coder", "registry `bad_host.io`"),
            ("reg.io:99999/coder", "port `99999`"),
            ("ghcr.io/coder/co..der", "separator `..`"),
            ("ghcr.io/coder/coder:v1 x", "' '"),
            ("", "empty"),
        ];
        for (input, expected) in cases {
            let e = ImageRef::parse(input).unwrap_err();
            assert!(e.message().contains(expected), "{input}: {e}");
            assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidInput);
        }
        let long_tag = format!("ghcr.io/coder/coder:{}", "a".repeat(129));
        assert!(ImageRef::parse(&long_tag)
            .unwrap_err()
            .message()
            .contains("129 characters"));
    }

    #[test]
    fn repositories_refuse_tags_and_digests() {
        ImageRef::parse_repository("ghcr.io/coder/coder").unwrap();
        let e = ImageRef::parse_repository("ghcr.io/coder/coder:v2").unwrap_err();
        assert!(e.message().contains("carries a tag"), "{e}");
        let e = ImageRef::parse_repository(&format!("ghcr.io/coder/coder@{SHA}")).unwrap_err();
        assert!(e.message().contains("carries a digest"), "{e}");
    }
}
