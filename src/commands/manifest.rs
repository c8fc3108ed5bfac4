//! The Deployment flags that `gate` and `runbook` share: names checked before they reach any
//! text, and the manifest read into [`DeploymentFacts`].

use crate::adapters::kube;
use crate::cli::{DeploymentArgs, SourceArgs};
use crate::core::deployment::DeploymentFacts;
use crate::core::image_ref::ImageRef;
use crate::core::index::Index;
use crate::core::k8s_name::{check_label, check_subdomain};
use crate::error::{Error, Result};

use super::context::Context;

/// The Deployment as far as the flags and the manifest tell it.
#[derive(Debug, Clone)]
pub struct DeploymentInput {
    pub facts: Option<DeploymentFacts>,
    /// `-n`, else the manifest's namespace; checked as a DNS-1123 label.
    pub namespace: Option<String>,
}

/// Which Deployment the flags point at; `gate`/`runbook` (through [`DeploymentArgs`]) and
/// `patch` (its own flags) both describe it this way.
#[derive(Debug, Clone, Copy)]
pub struct Selector<'a> {
    pub manifest: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub deployment: &'a str,
    pub container: &'a str,
}

impl<'a> From<&'a DeploymentArgs> for Selector<'a> {
    fn from(args: &'a DeploymentArgs) -> Self {
        Selector {
            manifest: args.manifest.as_deref(),
            namespace: args.namespace.as_deref(),
            deployment: &args.deployment,
            container: &args.container,
        }
    }
}

/// Checks the names given on the command line: a hostile `-n` or `--deployment` is refused
/// (exit 12) before anything is read or printed.
pub fn validate(args: &DeploymentArgs, source: &SourceArgs) -> Result<()> {
    let sel = Selector::from(args);
    check_names(sel)?;
    check_stdin(sel, source)
}

/// `--deployment` as a DNS-1123 subdomain, `--container` and `-n` as labels.
pub fn check_names(sel: Selector) -> Result<()> {
    check_subdomain("--deployment", sel.deployment)?;
    check_label("--container", sel.container)?;
    if let Some(ns) = sel.namespace {
        check_label("--namespace", ns)?;
    }
    Ok(())
}

/// The manifest and the psql paste cannot both come from standard input.
pub fn check_stdin(sel: Selector, source: &SourceArgs) -> Result<()> {
    if sel.manifest == Some("-") && source.psql.as_deref() == Some("-") {
        return Err(
            Error::usage("--manifest - and --psql - cannot both read standard input")
                .with_hint("save one of them to a file"),
        );
    }
    Ok(())
}

/// Reads the manifest when one was given, and settles the namespace.
pub fn read(ctx: &Context, sel: Selector) -> Result<DeploymentInput> {
    let facts = match sel.manifest {
        Some(path) => {
            let manifest = kube::read_manifest(path)?;
            let deployment = manifest.deployment(sel.deployment, sel.namespace)?;
            let facts = DeploymentFacts::from_deployment(deployment, sel.container)
                .map_err(|e| e.context(format!("manifest {}", manifest.source)))?;
            ctx.info(&format!(
                "read Deployment {} from {}",
                facts.name, manifest.source
            ));
            Some(facts)
        }
        None => None,
    };
    let namespace = sel
        .namespace
        .map(str::to_string)
        .or_else(|| facts.as_ref().and_then(|f| f.namespace.clone()));
    if let Some(ns) = &namespace {
        check_label("the manifest's namespace", ns)?;
    }
    Ok(DeploymentInput { facts, namespace })
}

/// Checks the Helm release name a manifest names, before it reaches a `helm` command line.
pub fn check_helm_release(facts: Option<&DeploymentFacts>) -> Result<()> {
    if let Some(release) = facts.and_then(|f| f.helm_release.as_deref()) {
        check_subdomain(
            "the Helm release name in the manifest (annotation meta.helm.sh/release-name or label app.kubernetes.io/instance)",
            release,
        )?;
    }
    Ok(())
}

/// The manifest's image tag, taken as the deployed release when the image is `repo`'s and the
/// index knows the tag (the check then prefers it when it matches the database exactly).
pub fn deployed_tag(
    facts: Option<&DeploymentFacts>,
    repo: &ImageRef,
    index: &Index,
) -> Option<String> {
    let img = &facts?.container.image;
    (img.canonical_name() == repo.canonical_name())
        .then(|| img.tag.clone())
        .flatten()
        .filter(|t| index.release(t).is_some())
}
