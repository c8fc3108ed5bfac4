//! The Deployment change that moves the Coder container to an image, in the five forms a
//! user applies it: `kubectl set image`, a strategic-merge patch, an RFC 6902 JSON patch,
//! a Helm upgrade, or a kustomize `images:` entry. Pure: names and images in, text and JSON
//! out. Callers validate names and images first; every command line is quoted anyway.

use serde::Serialize;
use serde_json::json;

use super::check::{CheckReport, Verdict};
use super::deployment::{DeploymentFacts, Finding};
use super::image_ref::ImageRef;
use super::index::Index;
use super::migration_set::Version;
use super::report::IndexView;
use super::shell::{kubectl, ShellCommand};
use super::state::{DbState, StateView};
use crate::error::{Error, ExitCode, Result};

/// Coder's Helm chart as its docs add it: `helm repo add coder-v2 https://helm.coder.com/v2`.
pub const CODER_CHART: &str = "coder-v2/coder";
/// The Helm release name Coder's docs install with.
pub const DEFAULT_HELM_RELEASE: &str = "coder";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatchForm {
    Kubectl,
    Strategic,
    JsonPatch,
    Helm,
    Kustomize,
}

/// Where the image goes.
#[derive(Debug, Clone)]
pub struct PatchTarget<'a> {
    pub namespace: Option<&'a str>,
    pub deployment: &'a str,
    pub container: &'a str,
    /// The container's position, known only from a manifest (JSON patch needs it).
    pub container_index: Option<usize>,
    /// The image name the manifest uses now (kustomize matches on it).
    pub current_name: Option<String>,
    /// The Helm release name, when a manifest tells it.
    pub helm_release: Option<&'a str>,
    pub image: &'a ImageRef,
}

/// One rendered change. `text` is what a human pastes (a command line, or YAML).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "form", rename_all = "kebab-case")]
pub enum Patch {
    Kubectl {
        command: ShellCommand,
    },
    Strategic {
        patch: serde_json::Value,
        command: ShellCommand,
    },
    JsonPatch {
        patch: serde_json::Value,
        command: ShellCommand,
    },
    Helm {
        command: ShellCommand,
        /// The same change as a values file snippet, for those who keep values in git.
        values: String,
    },
    Kustomize {
        /// An `images:` entry for kustomization.yaml.
        text: String,
    },
}

impl Patch {
    /// The text a human applies: the command line, or the YAML snippet(s).
    pub fn text(&self) -> String {
        match self {
            Patch::Kubectl { command }
            | Patch::Strategic { command, .. }
            | Patch::JsonPatch { command, .. } => command.text.clone(),
            Patch::Helm { command, .. } => command.text.clone(),
            Patch::Kustomize { text } => text.clone(),
        }
    }
}

impl Patch {
    /// What `--emit` prints: exactly what the consuming tool reads. The strategic and JSON
    /// patch documents (for `kubectl patch --patch-file` or `-p`), the `kubectl set image`
    /// command line (for `sh`), the Helm values (for `helm upgrade -f`), the kustomize
    /// `images:` entry (for kustomization.yaml). Always one trailing newline.
    pub fn artifact(&self) -> String {
        let mut text = match self {
            Patch::Kubectl { command } => command.text.clone(),
            Patch::Strategic { patch, .. } | Patch::JsonPatch { patch, .. } => patch.to_string(),
            Patch::Helm { values, .. } => values.clone(),
            Patch::Kustomize { text } => text.clone(),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

/// Builds the change in `form`. Fails only for a JSON patch without the container index.
pub fn build(form: PatchForm, t: &PatchTarget) -> Result<Patch> {
    let image = t.image.to_string();
    let target = format!("deployment/{}", t.deployment);
    Ok(match form {
        PatchForm::Kubectl => Patch::Kubectl {
            command: kubectl(
                t.namespace,
                &["set", "image", &target, &format!("{}={image}", t.container)],
            ),
        },
        PatchForm::Strategic => {
            let patch = strategic(t.container, &image);
            let command = kubectl(
                t.namespace,
                &[
                    "patch",
                    &target,
                    "--type",
                    "strategic",
                    "-p",
                    &patch.to_string(),
                ],
            );
            Patch::Strategic { patch, command }
        }
        PatchForm::JsonPatch => {
            let index = t
                .container_index
                .ok_or_else(|| json_patch_needs_manifest(t.deployment))?;
            let patch = json_patch(index, t.container, &image);
            let command = kubectl(
                t.namespace,
                &["patch", &target, "--type", "json", "-p", &patch.to_string()],
            );
            Patch::JsonPatch { patch, command }
        }
        PatchForm::Helm => helm(t),
        PatchForm::Kustomize => Patch::Kustomize { text: kustomize(t) },
    })
}

/// The usage error for `--to json-patch` without `--manifest`.
pub fn json_patch_needs_manifest(deployment: &str) -> Error {
    Error::usage(
        "--to json-patch needs --manifest: a JSON patch addresses the container by its position in the \
         Deployment, and only the manifest tells it",
    )
    .with_hint(format!(
        "kubectl get deployment {deployment} -o yaml > coder.yaml, then pass --manifest coder.yaml; or use --to strategic, \
         which finds the container by name"
    ))
}

/// A strategic-merge patch: containers merge by name, so only the named one changes.
pub fn strategic(container: &str, image: &str) -> serde_json::Value {
    json!({"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}})
}

/// RFC 6902: `test` that the container at `index` is the one named, then `replace` its image.
/// If the Deployment changed since the manifest was read, the test fails and nothing changes.
pub fn json_patch(index: usize, container: &str, image: &str) -> serde_json::Value {
    let base = format!("/spec/template/spec/containers/{index}");
    json!([
        {"op": "test", "path": format!("{base}/name"), "value": container},
        {"op": "replace", "path": format!("{base}/image"), "value": image},
    ])
}

fn helm(t: &PatchTarget) -> Patch {
    // Coder's chart writes `repo:tag`; a digest rides along in the tag (`tag@sha256:...`).
    let mut tag = t.image.tag.clone().unwrap_or_default();
    if let Some(d) = &t.image.digest {
        tag = format!("{tag}@{d}");
    }
    let repo = t.image.name();
    let mut argv: Vec<String> = vec![
        "helm".into(),
        "upgrade".into(),
        t.helm_release.unwrap_or(DEFAULT_HELM_RELEASE).into(),
        CODER_CHART.into(),
    ];
    if let Some(ns) = t.namespace {
        argv.extend(["--namespace".into(), ns.to_string()]);
    }
    argv.push("--reuse-values".into());
    if repo != crate::core::index::Project::coder().image {
        argv.extend(["--set".into(), format!("coder.image.repo={repo}")]);
    }
    argv.extend(["--set".into(), format!("coder.image.tag={tag}")]);
    let values = format!(
        "coder:\n  image:\n    repo: {}\n    tag: {}\n",
        yaml_scalar(&repo),
        yaml_scalar(&tag)
    );
    Patch::Helm {
        command: ShellCommand::new(argv),
        values,
    }
}

fn kustomize(t: &PatchTarget) -> String {
    let name = t.current_name.clone().unwrap_or_else(|| t.image.name());
    let mut text = String::from("images:\n");
    text.push_str(&format!("  - name: {}\n", yaml_scalar(&name)));
    text.push_str(&format!("    newName: {}\n", yaml_scalar(&t.image.name())));
    if let Some(tag) = &t.image.tag {
        text.push_str(&format!("    newTag: {}\n", yaml_scalar(tag)));
    }
    if let Some(d) = &t.image.digest {
        text.push_str(&format!("    digest: {}\n", yaml_scalar(d)));
    }
    text
}

/// A YAML scalar that stays a string: image names and tags are validated (no quotes, no
/// spaces), but a tag such as `2.3` or `true` would read as a number or a bool unquoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_' | ':'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

/// Everything `migtag patch` says: what decided the image, the Deployment as it is, the
/// change, and what to fix first.
#[derive(Debug, Clone, Serialize)]
pub struct PatchReport {
    pub decision: Decision,
    /// The schema's own version, when a live database was read (as `check` reports it).
    #[serde(flatten)]
    pub schema: Option<super::check::SchemaView>,
    pub target: PatchTargetView,
    /// The Deployment as the manifest shows it (null without --manifest).
    pub deployment: Option<DeploymentFacts>,
    pub current_image: Option<String>,
    pub recommended: Option<TargetImage>,
    /// What the registry said about the image (--verify-image, --pin-digest, or a Deployment
    /// pinned by digest); absent when it was not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryView>,
    /// The Deployment already runs the recommended image: no patch.
    pub up_to_date: bool,
    pub patch: Option<Patch>,
    /// Traps of the upgrade-troubleshooting guide this Deployment falls into.
    pub findings: Vec<Finding>,
    /// What the migrations the image applies will lock and rewrite, and for how long; its
    /// window sizes the probe check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<crate::core::forecast::Forecast>,
    pub notes: Vec<String>,
    /// About the index that answered (a damaged cache replaced, its age); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub index: IndexView,
}

/// Why this image: the database check, or a tag the user named.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// `database` (a SOURCE was checked) or `tag` (--tag).
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    pub summary: String,
    pub why: Vec<String>,
    /// The tag the manifest runs now, when it was used as the deployed release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_from_manifest: Option<String>,
    /// True when a patch may be applied (false: dirty, in progress, v1, no match, a row the
    /// schema contradicts, drift).
    pub actionable: bool,
    /// The row action the decision calls for before any image (the same as `check`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<super::decide::RowAction>,
}

/// The Deployment and container the change addresses.
#[derive(Debug, Clone, Serialize)]
pub struct PatchTargetView {
    pub namespace: Option<String>,
    pub deployment: String,
    pub container: String,
    pub manifest: Option<String>,
    pub form: PatchForm,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetImage {
    pub tag: String,
    pub image: String,
    /// Its highest migration, when the index knows the tag.
    pub max_migration: Option<Version>,
    /// How many migrations it applies on start, when the database was checked.
    pub applies: Option<usize>,
    pub in_index: bool,
}

/// The registry's answer about the target image.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryView {
    /// The image asked about, `repo:tag`.
    pub image: String,
    /// False under --offline: nothing was asked.
    pub checked: bool,
    pub exists: Option<bool>,
    /// The manifest digest the registry serves for the tag.
    pub digest: Option<String>,
    pub media_type: Option<String>,
}

/// The decision behind a patch, and how many migrations the image applies on start (when
/// the database was checked).
#[derive(Debug, Clone)]
pub struct Decided {
    pub inner: Decision,
    pub schema: Option<super::check::SchemaView>,
    pub applies: Option<usize>,
    /// The database state, when it was checked.
    pub state: Option<DbState>,
}

/// The image the database check picked: a patch only for a verdict an image can act on
/// (exact, upgrade needed to start, fresh); how many migrations it applies (all of its set
/// on a fresh database).
pub fn decide_by_check(
    index: &Index,
    state: &DbState,
    report: &CheckReport,
    deployed: Option<String>,
) -> (Decided, Option<String>) {
    let actionable = matches!(
        report.verdict,
        Verdict::Exact | Verdict::UpgradeNeededToStart | Verdict::Fresh
    );
    let tag = if actionable {
        report.recommended.as_ref().map(|r| r.release.tag.clone())
    } else {
        None
    };
    let applies = match report.verdict {
        Verdict::Fresh => report
            .recommended
            .as_ref()
            .and_then(|r| index.release(&r.release.tag))
            .map(|r| r.migrations.len() as usize),
        _ => report.recommended.as_ref().map(|r| r.applies.len()),
    };
    let mut why = report.why.clone();
    if !actionable {
        why.push("no patch: fix the database first, then run migtag patch again".into());
    }
    let inner = Decision {
        source: "database",
        state: Some(StateView::from(state)),
        verdict: Some(report.verdict),
        summary: report.summary.clone(),
        why,
        deployed_from_manifest: deployed,
        actionable,
        action: report.action.clone(),
    };
    (
        Decided {
            inner,
            schema: report.schema.clone(),
            applies,
            state: Some(state.clone()),
        },
        tag,
    )
}

/// The image named by `--tag`: always actionable, with a note when the index does not know
/// it, and one that the database was not checked.
pub fn decide_by_tag(
    index: &Index,
    tag: &str,
    notes: &mut Vec<String>,
) -> (Decided, Option<String>) {
    if index.release(tag).is_none() {
        notes.push(format!(
            "{tag} is not in the index: migtag cannot tell which migrations it ships; check that the tag exists, or refresh the index"
        ));
    }
    notes.push(format!(
        "--tag skips the database check: `migtag gate --target {tag}` with the database state says whether the database can move there"
    ));
    let inner = Decision {
        source: "tag",
        state: None,
        verdict: None,
        summary: format!("image tag {tag}, as given with --tag"),
        why: Vec::new(),
        deployed_from_manifest: None,
        actionable: true,
        action: None,
    };
    (
        Decided {
            inner,
            schema: None,
            applies: None,
            state: None,
        },
        Some(tag.to_string()),
    )
}

/// True when the Deployment already runs `image`: the same repository and tag (a digest pin
/// on a matching tag is kept, so it does not count as a difference).
pub fn up_to_date(current: Option<&ImageRef>, image: Option<&ImageRef>) -> bool {
    match (current, image) {
        (Some(c), Some(i)) => c.canonical_name() == i.canonical_name() && c.tag == i.tag,
        _ => false,
    }
}

impl PatchReport {
    pub fn exit_code(&self) -> ExitCode {
        self.decision
            .verdict
            .map_or(ExitCode::Success, |v| v.exit_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(image: &ImageRef) -> PatchTarget<'_> {
        PatchTarget {
            namespace: Some("coder"),
            deployment: "coder",
            container: "coder",
            container_index: Some(2),
            current_name: None,
            helm_release: None,
            image,
        }
    }

    #[test]
    fn every_form() {
        let image = ImageRef::parse("ghcr.io/coder/coder:v2.3.1").unwrap();
        let t = target(&image);
        assert_eq!(
            build(PatchForm::Kubectl, &t).unwrap().text(),
            "kubectl -n coder set image deployment/coder coder=ghcr.io/coder/coder:v2.3.1"
        );
        assert_eq!(
            build(PatchForm::Strategic, &t).unwrap().text(),
            r#"kubectl -n coder patch deployment/coder --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"image":"ghcr.io/coder/coder:v2.3.1","name":"coder"}]}}}}'"#
        );
        let Patch::JsonPatch { patch, .. } = build(PatchForm::JsonPatch, &t).unwrap() else {
            panic!()
        };
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/spec/template/spec/containers/2/name", "value": "coder"})
        );
        assert_eq!(patch[1]["path"], "/spec/template/spec/containers/2/image");
        let Patch::Helm { command, values } = build(PatchForm::Helm, &t).unwrap() else {
            panic!()
        };
        assert_eq!(command.text, "helm upgrade coder coder-v2/coder --namespace coder --reuse-values --set coder.image.tag=v2.3.1");
        assert_eq!(
            values,
            "coder:\n  image:\n    repo: ghcr.io/coder/coder\n    tag: v2.3.1\n"
        );
        assert_eq!(
            build(PatchForm::Kustomize, &t).unwrap().text(),
            "images:\n  - name: ghcr.io/coder/coder\n    newName: ghcr.io/coder/coder\n    newTag: v2.3.1\n"
        );
    }

    #[test]
    fn artifacts_are_the_bare_documents() {
        let image = ImageRef::parse("ghcr.io/coder/coder:v2.3.1").unwrap();
        let t = target(&image);
        let art = |f| build(f, &t).unwrap().artifact();
        assert_eq!(
            art(PatchForm::Kubectl),
            "kubectl -n coder set image deployment/coder coder=ghcr.io/coder/coder:v2.3.1\n"
        );
        let strategic: serde_json::Value =
            serde_json::from_str(&art(PatchForm::Strategic)).unwrap();
        assert_eq!(
            strategic,
            super::strategic("coder", "ghcr.io/coder/coder:v2.3.1")
        );
        let json: serde_json::Value = serde_json::from_str(&art(PatchForm::JsonPatch)).unwrap();
        assert_eq!(json[1]["value"], "ghcr.io/coder/coder:v2.3.1");
        assert!(art(PatchForm::Helm).starts_with("coder:\n  image:\n"));
        assert!(art(PatchForm::Kustomize).starts_with("images:\n"));
    }

    #[test]
    fn digests_ride_along_in_every_form() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let image = ImageRef::parse(&format!("ghcr.io/coder/coder:v2.3.1@{d}")).unwrap();
        let t = target(&image);
        assert!(build(PatchForm::Kubectl, &t)
            .unwrap()
            .text()
            .ends_with(&format!("coder=ghcr.io/coder/coder:v2.3.1@{d}")));
        let Patch::Helm { command, values } = build(PatchForm::Helm, &t).unwrap() else {
            panic!()
        };
        assert!(command
            .text
            .ends_with(&format!("coder.image.tag=v2.3.1@{d}")));
        assert!(values.contains(&format!("tag: \"v2.3.1@{d}\"")), "{values}");
        assert!(build(PatchForm::Kustomize, &t)
            .unwrap()
            .text()
            .ends_with(&format!("    newTag: v2.3.1\n    digest: {d}\n")));
    }

    #[test]
    fn json_patch_without_index_is_a_usage_error() {
        let image = ImageRef::parse("ghcr.io/coder/coder:v2.3.1").unwrap();
        let t = PatchTarget {
            container_index: None,
            ..target(&image)
        };
        let e = build(PatchForm::JsonPatch, &t).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::Usage);
        assert!(e.message().contains("needs --manifest"));
    }

    #[test]
    fn mirrors_set_the_repo_too() {
        let image = ImageRef::parse("registry.local:5000/mirror/coder:v2.3.1").unwrap();
        let t = PatchTarget {
            namespace: None,
            helm_release: Some("prod"),
            ..target(&image)
        };
        let Patch::Helm { command, .. } = build(PatchForm::Helm, &t).unwrap() else {
            panic!()
        };
        assert_eq!(
            command.text,
            "helm upgrade prod coder-v2/coder --reuse-values --set coder.image.repo=registry.local:5000/mirror/coder --set coder.image.tag=v2.3.1"
        );
        assert_eq!(yaml_scalar("2.3"), "\"2.3\"");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("v2.3.1"), "v2.3.1");
    }
}
