//! `migtag gate`: the CI gate for an upgrade. Exit 0 safe, 3 unsafe, 4 needs a human,
//! 5 unknown target. Under GitHub Actions it also writes annotations and a job summary.

use crate::cli::GateArgs;
use crate::core::gate::{gate, GateDeployment, GateOptions, GateReport};
use crate::core::index::parse_tag;
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;
use super::manifest;
use super::source::read_source;

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
    let reading = read_source(&args.source)?;
    let state = reading.state.clone();
    let opts = GateOptions {
        deployed: args.deployed.clone(),
        strict: args.strict,
        max_pending: args.max_pending,
        deployment: deployment.facts.map(|facts| GateDeployment {
            facts,
            namespace: deployment.namespace.clone(),
            migration_window_seconds: args.deployment.migration_window,
        }),
    };
    let mut report = gate(&index, &state, &args.target, &opts);
    report.warnings.extend(reading.notes.iter().cloned());
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        github_actions(&report)?;
    }
    ctx.emit(
        || render::json(&report),
        |s| render::human::gate(&report, s),
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
