//! Kubernetes manifests: read what `kubectl get deploy coder -o yaml|json`, a `List`, or
//! `helm template` (many YAML documents) prints, and pick the Deployment by name as a typed
//! k8s-openapi model.
//!
//! Manifests can hold secrets (an env `value` with a connection string), so no error from
//! here quotes a value from the manifest: parse errors say where, not what.

use k8s_openapi::api::apps::v1::Deployment;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The Deployments of a manifest, and what else it held (for error messages).
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it came from: a path, or `standard input`.
    pub source: String,
    pub deployments: Vec<Deployment>,
    /// Kinds of the other objects found, in order, without repeats.
    pub other_kinds: Vec<String>,
}

/// Reads a manifest from a file, or from stdin for `-`.
pub fn read_manifest(path: &str) -> Result<Manifest> {
    let text = super::bounded::read(path, super::bounded::MANIFEST).map_err(|f| {
        f.or_io(|e| match path {
            "-" => {
                Error::invalid_input(format!("cannot read the manifest from standard input: {e}"))
            }
            _ => Error::invalid_input(format!("cannot read the manifest {path}: {e}")),
        })
    })?;
    parse_manifest(&text, &super::bounded::source_name(path))
}

/// The deepest nesting of brackets a manifest may have (a Deployment has about 10; the YAML
/// and JSON parsers stop at 128, but only after seconds of work on 200 KB of brackets).
pub const MAX_BRACKET_DEPTH: usize = 100;

/// Refuses text whose `[`/`{` nesting passes [`MAX_BRACKET_DEPTH`], in one pass before any
/// parser runs. Brackets inside JSON strings are skipped; in YAML every bracket counts (a
/// quote there may sit inside a plain scalar, so skipping "strings" could hide nesting): the
/// check may over-count, never under-count, and a real manifest stays far below the limit.
fn check_depth(text: &str, source: &str) -> Result<()> {
    let json = text.trim_start().starts_with('{');
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if json => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(Error::invalid_input(format!(
                        "the manifest {source} nests brackets more than {MAX_BRACKET_DEPTH} deep (at byte {offset}); a Kubernetes manifest is far shallower"
                    ))
                    .with_hint("give the output of `kubectl get deploy coder -o yaml` or `helm template`"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses manifest text: JSON, or one or more YAML documents. A leading byte-order mark
/// (some Windows editors write one) is skipped.
pub fn parse_manifest(text: &str, source: &str) -> Result<Manifest> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_depth(text, source)?;
    let mut manifest = Manifest {
        source: source.to_string(),
        deployments: Vec::new(),
        other_kinds: Vec::new(),
    };
    if text.trim().is_empty() {
        return Err(Error::invalid_input(format!(
            "the manifest {source} is empty"
        )));
    }
    let documents: Vec<serde_json::Value> = if text.trim_start().starts_with('{') {
        let value = serde_json::from_str(text).map_err(|e| {
            Error::invalid_input(format!(
                "the manifest {source} is not valid JSON (line {}, column {}){}",
                e.line(),
                e.column(),
                limit_reason(&e.to_string())
            ))
        })?;
        vec![value]
    } else {
        let mut docs = Vec::new();
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml_ng::Value::deserialize(doc).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                    .unwrap_or_default();
                Error::invalid_input(format!(
                    "the manifest {source} is not valid YAML (document {}{at}){}",
                    i + 1,
                    limit_reason(&e.to_string())
                ))
            })?;
            let value = serde_json::to_value(value).map_err(|_| {
                Error::invalid_input(format!(
                    "document {} of the manifest {source} uses YAML that has no JSON form (a non-string key or a tag)",
                    i + 1
                ))
            })?;
            docs.push(value);
        }
        docs
    };
    for (i, doc) in documents.into_iter().enumerate() {
        collect(doc, &format!("document {}", i + 1), &mut manifest)?;
    }
    Ok(manifest)
}

/// The parser's reason when it is a structural limit (nesting deeper than the parser allows,
/// or aliases that expand too far: a "billion laughs" document). Those say nothing about the
/// values, so unlike other parse errors they can be shown.
fn limit_reason(message: &str) -> String {
    // The parser's own words for a key given twice in one mapping.
    if let Some(at) = message.find("duplicate entry with key") {
        let words = message[at..].split(" at line ").next().unwrap_or("");
        return format!(": {words} (a key may appear once per mapping)");
    }
    ["recursion limit exceeded", "repetition limit exceeded"]
        .iter()
        .find(|r| message.contains(*r))
        .map(|r| match *r {
            "recursion limit exceeded" => format!(": {r} (nesting too deep)"),
            _ => format!(": {r} (aliases that expand too far)"),
        })
        .unwrap_or_default()
}

fn collect(value: serde_json::Value, at: &str, manifest: &mut Manifest) -> Result<()> {
    if value.is_null() {
        // `helm template` writes documents that are only a `# Source:` comment.
        return Ok(());
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    if kind == "Deployment" {
        let name = value
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_string();
        let deployment: Deployment = serde_json::from_value(value).map_err(|e| {
            Error::invalid_input(format!(
                "{at} of the manifest {} (Deployment `{name}`) does not fit the Kubernetes apps/v1 Deployment schema: {}",
                manifest.source,
                redact(&e.to_string())
            ))
        })?;
        manifest.deployments.push(deployment);
    } else if let Some(items) = value
        .get("items")
        .and_then(|i| i.as_array())
        .filter(|_| kind.ends_with("List"))
    {
        for (j, item) in items.iter().enumerate() {
            collect(item.clone(), &format!("{at}, item {}", j + 1), manifest)?;
        }
    } else {
        let kind = if kind.is_empty() {
            "(no kind)".to_string()
        } else {
            kind
        };
        if !manifest.other_kinds.contains(&kind) {
            manifest.other_kinds.push(kind);
        }
    }
    Ok(())
}

/// serde says `invalid type: string "postgres://u:secret@h"`: keep the shape, drop the value.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        match (c, in_quotes) {
            ('"', false) => {
                in_quotes = true;
                out.push_str("\"...");
            }
            ('"', true) => {
                in_quotes = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

impl Manifest {
    /// The Deployment called `name` (in `namespace`, when given).
    pub fn deployment(&self, name: &str, namespace: Option<&str>) -> Result<&Deployment> {
        let matches: Vec<&Deployment> = self
            .deployments
            .iter()
            .filter(|d| d.metadata.name.as_deref() == Some(name))
            .filter(|d| match (namespace, d.metadata.namespace.as_deref()) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] if self.deployments.is_empty() => Err(Error::invalid_input(format!(
                "the manifest {} holds no Deployment{}",
                self.source,
                if self.other_kinds.is_empty() {
                    String::new()
                } else {
                    format!(" (it holds: {})", self.other_kinds.join(", "))
                }
            ))
            .with_hint(
                "pass the output of `kubectl get deployment coder -o yaml`, or of `helm template`",
            )),
            [] => {
                let names: Vec<String> = self.deployments.iter().map(describe).collect();
                Err(Error::invalid_input(format!(
                    "the manifest {} has no Deployment `{name}`{}; it has: {}",
                    self.source,
                    namespace
                        .map(|n| format!(" in namespace `{n}`"))
                        .unwrap_or_default(),
                    names.join(", ")
                ))
                .with_hint("pass --deployment NAME"))
            }
            many => Err(Error::invalid_input(format!(
                "the manifest {} has {} Deployments called `{name}`: {}",
                self.source,
                many.len(),
                many.iter()
                    .map(|d| describe(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_hint("pass -n NAMESPACE to pick one")),
        }
    }
}

fn describe(d: &Deployment) -> String {
    let name = d.metadata.name.as_deref().unwrap_or("(unnamed)");
    match d.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coder, namespace: coder}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    spec:\n      containers: [{name: coder, image: 'ghcr.io/coder/coder:v2.3.0'}]\n";

    #[test]
    fn yaml_json_lists_and_many_documents() {
        let m = parse_manifest(ONE, "x").unwrap();
        assert_eq!(m.deployments.len(), 1);
        let json =
            serde_json::to_string(&serde_yaml_ng::from_str::<serde_json::Value>(ONE).unwrap())
                .unwrap();
        assert_eq!(parse_manifest(&json, "x").unwrap().deployments.len(), 1);
        let list = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{json},{{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{{\"name\":\"coder\"}}}}]}}"
        );
        let m = parse_manifest(&list, "x").unwrap();
        assert_eq!(m.deployments.len(), 1);
        assert_eq!(m.other_kinds, vec!["Service"]);
        let multi = format!("---\n# Source: coder/templates/service.yaml\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: coder}}\n---\n{ONE}");
        let m = parse_manifest(&multi, "x").unwrap();
        assert!(m.deployment("coder", Some("coder")).is_ok());
    }

    #[test]
    fn picking_the_deployment() {
        let other = ONE.replace("name: coder,", "name: web,");
        let m = parse_manifest(&format!("{ONE}---\n{other}"), "m.yaml").unwrap();
        assert!(m.deployment("web", None).is_ok());
        let e = m.deployment("api", None).unwrap_err();
        assert!(
            e.message()
                .contains("no Deployment `api`; it has: coder/coder, coder/web"),
            "{e}"
        );
        let e = m.deployment("coder", Some("prod")).unwrap_err();
        assert!(e.message().contains("in namespace `prod`"), "{e}");
        let services = parse_manifest(
            "apiVersion: v1\nkind: Service\nmetadata: {name: coder}\n",
            "s.yaml",
        )
        .unwrap();
        let e = services.deployment("coder", None).unwrap_err();
        assert!(
            e.message()
                .contains("holds no Deployment (it holds: Service)"),
            "{e}"
        );
    }

    #[test]
    fn errors_never_quote_manifest_values() {
        let bad = ONE.replace(
            "spec:\n  selector",
            "spec:\n  replicas: 'postgres://coder:hunter2@db/coder'\n  selector",
        );
        let e = parse_manifest(&bad, "x").unwrap_err();
        assert!(!e.message().contains("hunter2"), "{e}");
        assert!(e.message().contains("Deployment `coder`"), "{e}");
        assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidInput);
        let e = parse_manifest("a: [1, 2\nb: 'hunter2'", "x").unwrap_err();
        assert!(
            !e.message().contains("hunter2") && e.message().contains("not valid YAML"),
            "{e}"
        );
        let e = parse_manifest("{\"a\": \"hunter2\"", "x").unwrap_err();
        assert!(
            !e.message().contains("hunter2") && e.message().contains("not valid JSON"),
            "{e}"
        );
    }
}
