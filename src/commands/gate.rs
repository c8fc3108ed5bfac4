//! `migtag gate`: the CI gate for an upgrade. Exit 0 safe, 3 unsafe, 4 needs a human,
//! 5 unknown target. Under GitHub Actions it also writes annotations and a job summary.

use crate::cli::GateArgs;
use crate::core::deployment::{check_deployment, DeploymentCheckOptions};
use crate::core::forecast::migration_window_seconds;
use crate::core::gate::{gate, GateOptions, GateReport};
use crate::core::index::parse_tag;
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;
use super::forecast;
use super::manifest;

pub fn run(ctx: &Context, args: GateArgs) -> Result<ExitCode> {
    parse_tag(&args.target).map_err(|e| e.context("--target"))?;
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    manifest::validate(&args.deployment, &args.source)?;
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, true);
    // The manifest is read before the database, so a bad manifest fails fast (exit 12).
    let deployment = manifest::read(ctx, (&args.deployment).into())?;
    let reading = super::verify::read_with_schema(&args.source)?;
    let state = reading.state.clone();
    let opts = GateOptions {
        deployed: args.deployed.clone(),
        strict: args.strict,
        max_pending: args.max_pending,
    };
    let mut report = gate(&index, &state, &args.target, &opts);
    report.warnings.extend(reading.notes.iter().cloned());
    let deployed = args.deployed.as_deref().and_then(|t| index.release(t));
    report.add_rehearsals(&index, &crate::bundled::effects()?, &state, deployed);
    if let Some(a) = super::verify::verification_for(&index, &reading, deployed)? {
        report.add_verification(a);
    }
    if let (Some(target), Some(_)) = (index.release(&args.target), report.applies()) {
        if let Some(f) = forecast::for_upgrade(&state, target, &args.source)? {
            report.add_forecast(f, args.max_duration);
        }
    }
    if let Some(facts) = deployment.facts {
        let findings = check_deployment(
            &facts,
            &DeploymentCheckOptions {
                namespace: deployment.namespace.as_deref(),
                migration_window_seconds: migration_window_seconds(
                    args.deployment.migration_window,
                    report.forecast.as_ref(),
                ),
                pending_migrations: report.applies(),
            },
        );
        report.add_deployment(facts, findings, args.strict);
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        github_actions(&report)?;
    }
    ctx.emit(
        || render::json(&report),
        |s| {
            let mut text = render::human::gate(&report, s);
            if let Some(a) = &report.verification {
                text.push_str(&render::verify::evidence(a, s));
            }
            text
        },
    );
    Ok(report.exit_code())
}

/// Workflow commands on stderr (GitHub reads both streams; stderr keeps stdout one JSON
/// document) and a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
fn github_actions(report: &GateReport) -> Result<()> {
    for line in render::gate::annotations(report) {
        render::workflow_command(&line);
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::write("GITHUB_STEP_SUMMARY", &e))?;
        f.write_all(render::gate::summary_markdown(report).as_bytes())
            .map_err(|e| Error::write("GITHUB_STEP_SUMMARY", &e))?;
    }
    Ok(())
}
