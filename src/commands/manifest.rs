//! The Deployment flags that `gate` and `runbook` share: names checked before they reach any
//! text, and the manifest read into [`DeploymentFacts`].

use crate::adapters::kube;
use crate::cli::{DeploymentArgs, SourceArgs};
use crate::core::deployment::DeploymentFacts;
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

/// Checks the names given on the command line: a hostile `-n` or `--deployment` is refused
/// (exit 12) before anything is read or printed.
pub fn validate(args: &DeploymentArgs, source: &SourceArgs) -> Result<()> {
    check_subdomain("--deployment", &args.deployment)?;
    check_label("--container", &args.container)?;
    if let Some(ns) = &args.namespace {
        check_label("--namespace", ns)?;
    }
    if args.manifest.as_deref() == Some("-") && source.psql.as_deref() == Some("-") {
        return Err(
            Error::usage("--manifest - and --psql - cannot both read standard input")
                .with_hint("save one of them to a file"),
        );
    }
    Ok(())
}

/// Reads the manifest when one was given, and settles the namespace.
pub fn read(ctx: &Context, args: &DeploymentArgs) -> Result<DeploymentInput> {
    let facts = match &args.manifest {
        Some(path) => {
            let manifest = kube::read_manifest(path)?;
            let deployment = manifest.deployment(&args.deployment, args.namespace.as_deref())?;
            let facts = DeploymentFacts::from_deployment(deployment, &args.container)
                .map_err(|e| e.context(format!("manifest {}", manifest.source)))?;
            ctx.info(&format!(
                "read Deployment {} from {}",
                facts.name, manifest.source
            ));
            Some(facts)
        }
        None => None,
    };
    let namespace = args
        .namespace
        .clone()
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
