//! `migtag patch`: the Deployment change that runs the right image, in the form asked for,
//! with the Deployment's upgrade traps checked when a manifest is given.
//!
//! The image comes from the database state (the `check` decision) or from `--tag`. Nothing
//! is printed as a patch when the database needs a human or no release matches.

use crate::adapters::registry::{self, TagLookup};
use crate::cli::{Format, PatchArgs, PatchTo};
use crate::core::check::{check_with, CheckOptions};
use crate::core::deployment::{check_deployment, DeploymentCheckOptions, DeploymentFacts};
use crate::core::forecast::migration_window_seconds;
use crate::core::image_ref::ImageRef;
use crate::core::index::{parse_tag, Index};
use crate::core::k8s_name::check_subdomain;
use crate::core::patch::{
    self, json_patch_needs_manifest, Decided, PatchForm, PatchReport, PatchTarget, PatchTargetView,
    RegistryView, TargetImage,
};
use crate::core::report::IndexView;
use crate::error::{Error, ExitCode, Result};
use crate::render;
use crate::render::style::Style;

use super::context::Context;
use super::facts::Facts;
use super::forecast;
use super::manifest;

pub fn run(ctx: &Context, args: PatchArgs) -> Result<ExitCode> {
    let form = form(args.to);
    let sel = manifest::Selector {
        manifest: args.manifest.as_deref(),
        namespace: args.namespace.as_deref(),
        deployment: &args.deployment,
        container: &args.container,
    };
    manifest::check_names(sel)?;
    if args.emit && ctx.format == Format::Json {
        return Err(Error::usage(
            "--emit and --format json both choose what stdout carries: pick one",
        )
        .with_hint("--emit prints the bare change; --format json prints the whole report, the change under .patch"));
    }
    if let Some(tag) = &args.tag {
        parse_tag(tag).map_err(|e| e.context("--tag"))?;
    }
    if form == PatchForm::JsonPatch && args.manifest.is_none() {
        return Err(json_patch_needs_manifest(&args.deployment));
    }
    if args.pin_digest && ctx.offline {
        return Err(Error::usage(
            "--pin-digest asks the registry for the digest, and --offline forbids the network",
        )
        .with_hint("drop --offline, or drop --pin-digest to patch by tag"));
    }
    manifest::check_stdin(sel, &args.source)?;
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, false);
    let repo = match &args.image_repo {
        Some(r) => ImageRef::parse_repository(r).map_err(|e| e.context("--image-repo"))?,
        None => ImageRef::parse_repository(&index.project.image)
            .map_err(|e| e.context("the index's project image"))?,
    };

    let manifest::DeploymentInput { facts, namespace } = manifest::read(ctx, sel)?;

    let mut notes = Vec::new();
    let (decision, tag, db_facts) = match &args.tag {
        Some(tag) => {
            let (d, t) = patch::decide_by_tag(&index, tag, &mut notes);
            (d, t, None)
        }
        None => {
            let f = Facts::gather_with(&index, &args.source, None, true)?;
            let (d, t) = decide_by_state(&index, &f, facts.as_ref(), &repo, &mut notes);
            (d, t, Some(f))
        }
    };
    let target_release = tag.as_deref().and_then(|t| index.release(t));
    let mut image = tag.as_ref().map(|t| repo.with_tag(t));

    let current = facts.as_ref().map(|f| &f.container.image);
    let up_to_date = patch::up_to_date(current, image.as_ref());
    // The registry is asked only about an image the patch will set.
    let pin = args.pin_digest || current.is_some_and(|c| c.digest.is_some());
    let registry = match image.as_mut() {
        Some(img) if decision.inner.actionable && !up_to_date && (pin || args.verify_image) => {
            Some(ask_registry(ctx, img, pin, &mut notes)?)
        }
        _ => {
            if args.verify_image || args.pin_digest {
                notes.push(
                    "no change to make, so the registry was not asked (--verify-image, --pin-digest)"
                        .into(),
                );
            }
            None
        }
    };
    if let (Some(c), Some(i)) = (current, &image) {
        image_notes(c, i, up_to_date, args.image_repo.is_some(), &mut notes);
    }
    let recommended = tag.as_ref().map(|t| TargetImage {
        tag: t.clone(),
        image: image
            .as_ref()
            .map_or_else(|| repo.with_tag(t).to_string(), |i| i.to_string()),
        max_migration: target_release.map(|r| r.max_migration),
        applies: decision.applies,
        in_index: target_release.is_some(),
    });

    let patch = match &image {
        Some(img) if decision.inner.actionable && !up_to_date => {
            let t = PatchTarget {
                namespace: namespace.as_deref(),
                deployment: &args.deployment,
                container: &args.container,
                container_index: facts.as_ref().map(|f| f.container.index),
                current_name: current.map(|c| c.name()),
                helm_release: facts.as_ref().and_then(|f| f.helm_release.as_deref()),
                image: img,
            };
            if let Some(release) = t.helm_release {
                check_subdomain(
                    "the Helm release name in the manifest (annotation meta.helm.sh/release-name or label app.kubernetes.io/instance)",
                    release,
                )?;
            }
            Some(patch::build(form, &t)?)
        }
        _ => None,
    };
    if form == PatchForm::Helm && patch.is_some() {
        notes.push(format!(
            "the Helm command keeps the installed chart version; to move the chart too, add --version {} (chart versions are \
             Coder versions without the v); it assumes the chart repository was added as coder-v2 (helm repo add coder-v2 https://helm.coder.com/v2)",
            tag.as_deref().unwrap_or("").trim_start_matches('v')
        ));
    }
    if form != PatchForm::Helm
        && patch.is_some()
        && facts.as_ref().is_some_and(|f| f.helm_release.is_some())
    {
        notes.push("this Deployment is managed by Helm: the next `helm upgrade` overwrites a hand patch unless the values say the same tag (see --to helm)".into());
    }

    let forecast = match (&decision.state, target_release, decision.inner.actionable) {
        (Some(state), Some(release), true) => match &db_facts {
            Some(f) => forecast::for_upgrade(state, release, f)?,
            None => None,
        },
        _ => None,
    };
    let findings = match &facts {
        Some(f) => check_deployment(
            f,
            &DeploymentCheckOptions {
                namespace: namespace.as_deref(),
                migration_window_seconds: migration_window_seconds(
                    args.migration_window,
                    forecast.as_ref(),
                ),
                pending_migrations: decision.applies,
            },
        ),
        None => Vec::new(),
    };

    let report = PatchReport {
        decision: decision.inner,
        schema: decision.schema,
        target: PatchTargetView {
            namespace,
            deployment: args.deployment.clone(),
            container: args.container.clone(),
            manifest: args.manifest.clone(),
            form,
        },
        current_image: current.map(|c| c.to_string()),
        deployment: facts,
        recommended,
        registry,
        up_to_date,
        patch,
        findings,
        forecast,
        notes,
        warnings: index.notices.clone(),
        index: IndexView::new(&index),
    };
    if args.emit {
        // The report still tells a human what was decided and what to fix first, on stderr,
        // so that stdout is only what kubectl, helm or kustomize reads.
        crate::ewrite!(
            "{}",
            render::patch::human_emitted(&report, Style { color: false })
        );
        if let Some(p) = &report.patch {
            render::out(&p.artifact());
        }
    } else {
        ctx.emit(
            || render::json(&report),
            |s| render::patch::human(&report, s),
        );
    }
    Ok(report.exit_code())
}

fn form(to: PatchTo) -> PatchForm {
    match to {
        PatchTo::Kubectl => PatchForm::Kubectl,
        PatchTo::Strategic => PatchForm::Strategic,
        PatchTo::JsonPatch => PatchForm::JsonPatch,
        PatchTo::Helm => PatchForm::Helm,
        PatchTo::Kustomize => PatchForm::Kustomize,
    }
}

/// The `check` decision, from the row and (with a live database) the schema evidence: a
/// row the schema contradicts gets no patch.
fn decide_by_state(
    index: &Index,
    db: &Facts,
    facts: Option<&DeploymentFacts>,
    repo: &ImageRef,
    notes: &mut Vec<String>,
) -> (Decided, Option<String>) {
    let deployed = manifest::deployed_tag(facts, repo, index);
    let report = check_with(
        index,
        &db.reading.state,
        db.assessment.as_ref(),
        &CheckOptions {
            deployed: deployed.clone(),
            include_prereleases: false,
            reading_notes: db.reading.notes.clone(),
        },
    );
    notes.extend(report.warnings.iter().cloned());
    patch::decide_by_check(index, &db.reading.state, &report, deployed)
}

fn image_notes(
    current: &ImageRef,
    target: &ImageRef,
    up_to_date: bool,
    repo_given: bool,
    notes: &mut Vec<String>,
) {
    if current.canonical_name() != target.canonical_name() {
        notes.push(format!(
            "the Deployment pulls from {} but the patch uses {}{}",
            current.name(),
            target.name(),
            if repo_given {
                ""
            } else {
                "; pass --image-repo if you mirror Coder's images"
            }
        ));
    }
    if current.tag.is_none() && current.digest.is_some() {
        notes.push(format!(
            "the current image is pinned by digest only ({}): migtag cannot tell which release it runs",
            current
        ));
    }
    if up_to_date && current.digest.is_some() {
        notes.push("the tag matches; the digest pin is kept as it is".into());
    } else if !up_to_date && current.digest.is_some() && target.digest.is_none() {
        notes.push("the patch replaces the digest pin with the tag; pin the new digest again if your policy requires it".into());
    }
}

/// Asks the image's registry whether the tag exists and, with `pin`, puts its digest on
/// `image`. Offline, says what it could not check and leaves the image as it is.
fn ask_registry(
    ctx: &Context,
    image: &mut ImageRef,
    pin: bool,
    notes: &mut Vec<String>,
) -> Result<RegistryView> {
    if ctx.offline {
        notes.push(format!(
            "--offline: the registry was not asked whether {image} exists{}",
            if pin {
                ", nor for its digest: the patch names the tag alone"
            } else {
                ""
            }
        ));
        return Ok(RegistryView {
            image: image.to_string(),
            checked: false,
            exists: None,
            digest: None,
            media_type: None,
        });
    }
    let asked = image.to_string();
    ctx.info(&format!("asking the registry about {asked}"));
    match registry::lookup(image)? {
        TagLookup::Found { digest, media_type } => {
            if pin {
                image.digest = Some(digest.clone());
                notes.push(format!(
                    "pinned by digest: {digest} is what the registry serves for {asked} now"
                ));
            }
            Ok(RegistryView {
                image: asked,
                checked: true,
                exists: Some(true),
                digest: Some(digest),
                media_type,
            })
        }
        TagLookup::Missing { registry_says } => Err(Error::upstream(format!(
            "{asked} is not in the registry, which says: {registry_says}"
        ))
        .with_hint(
            "check the tag and --image-repo (a mirror may not have synced it yet); no patch was printed",
        )),
    }
}
