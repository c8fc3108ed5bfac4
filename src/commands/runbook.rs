//! `migtag runbook`: the recovery steps of Coder's upgrade-troubleshooting guide, concrete for
//! the observed database and Deployment. Markdown by default, a bash script with `--as
//! script`, the structured steps with `--format json`.
//!
//! Exit 0 whenever a runbook was written, whatever the state: the runbook is the answer.

use crate::cli::{Format, RunbookArgs, RunbookAs};
use crate::core::check::{check_with, CheckOptions, Verdict};
use crate::core::deployment::{check_deployment, DeploymentCheckOptions};
use crate::core::forecast::migration_window_seconds;
use crate::core::image_ref::ImageRef;
use crate::core::index::parse_tag;
use crate::core::runbook::{self, RunbookInput, RunbookTarget};
use crate::error::{ExitCode, Result};
use crate::render;

use super::context::Context;
use super::facts::Facts;
use super::manifest;

pub fn run(ctx: &Context, args: RunbookArgs) -> Result<ExitCode> {
    manifest::validate(&args.deployment, &args.source)?;
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, false);
    let repo = match &args.image_repo {
        Some(r) => ImageRef::parse_repository(r).map_err(|e| e.context("--image-repo"))?,
        None => ImageRef::parse_repository(&index.project.image)
            .map_err(|e| e.context("the index's project image"))?,
    };
    let deployment = manifest::read(ctx, (&args.deployment).into())?;
    manifest::check_helm_release(deployment.facts.as_ref())?;
    let deployed_release = args.deployed.as_deref().and_then(|t| index.release(t));
    let facts = Facts::gather_with(&index, &args.source, deployed_release, true)?;
    let reading = &facts.reading;

    // Without --deployed, the manifest's tag is the deployed release when it is this
    // repository's and the index knows it (as `patch` does).
    let deployed = args
        .deployed
        .clone()
        .or_else(|| manifest::deployed_tag(deployment.facts.as_ref(), &repo, &index));
    let report = check_with(
        &index,
        &reading.state,
        facts.assessment.as_ref(),
        &CheckOptions {
            deployed,
            include_prereleases: false,
            reading_notes: reading.notes.clone(),
        },
    );
    let applies = match report.verdict {
        Verdict::Exact | Verdict::UpgradeNeededToStart => {
            report.recommended.as_ref().map(|r| r.applies.len())
        }
        _ => None,
    };
    // When the runbook moves the database forward: what the migrations will do, and the
    // window the probes must allow.
    let forecast = match report.verdict {
        Verdict::UpgradeNeededToStart | Verdict::Fresh => {
            match report
                .recommended
                .as_ref()
                .and_then(|r| index.release(&r.release.tag))
            {
                Some(release) => super::forecast::for_upgrade(&reading.state, release, &facts)?,
                None => None,
            }
        }
        _ => None,
    };
    let findings = match &deployment.facts {
        Some(f) => check_deployment(
            f,
            &DeploymentCheckOptions {
                namespace: deployment.namespace.as_deref(),
                migration_window_seconds: migration_window_seconds(
                    args.deployment.migration_window,
                    forecast.as_ref(),
                ),
                pending_migrations: applies,
            },
        ),
        None => Vec::new(),
    };
    // Moving forward from a row an irregular release wrote: what the replay showed.
    let irregular: Vec<String> = crate::core::gate::rehearsals_for(
        &index,
        facts.effects()?,
        &reading.state,
        deployed_release,
        None,
    )
    .into_iter()
    .filter(|(f, _)| f.fails_at.is_some() || f.rewind_to < f.written_at)
    .map(|(_, text)| format!("before upgrading: {text}"))
    .collect();
    let book = runbook::build(&RunbookInput {
        verification: facts.assessment.as_ref(),
        forecast: forecast.as_ref(),
        index: &index,
        check: &report,
        state: &reading.state,
        db: reading.db.as_ref(),
        deployment: deployment.facts.as_ref(),
        findings: &findings,
        irregular: &irregular,
        target: RunbookTarget {
            namespace: deployment.namespace.as_deref(),
            deployment: &args.deployment.deployment,
            container: &args.deployment.container,
            repo: &repo,
        },
    });
    match (ctx.format, args.as_) {
        (Format::Json, _) => render::out(&render::json(&book)),
        // (`commands::run` refuses openmetrics for runbook.)
        (Format::Human | Format::Openmetrics, RunbookAs::Markdown) => {
            render::out(&render::runbook::markdown(&book))
        }
        (Format::Human | Format::Openmetrics, RunbookAs::Script) => render::out(
            &render::runbook::script(&book, &format!("migtag {}", env!("CARGO_PKG_VERSION"))),
        ),
    }
    Ok(ExitCode::Success)
}
