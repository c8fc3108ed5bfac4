//! `migtag gate`: the CI gate for an upgrade. Exit 0 safe, 3 unsafe, 4 needs a human,
//! 5 unknown target. Under GitHub Actions it also writes annotations and a job summary.

use crate::adapters::coder_sql;
use crate::adapters::postgres::{self, Limits, ProcessEnv};
use crate::cli::GateArgs;
use crate::core::deployment::{check_deployment, DeploymentCheckOptions};
use crate::core::forecast::migration_window_seconds;
use crate::core::gate::{gate, GateOptions, GateReport, LiveRehearsal};
use crate::core::index::parse_tag;
use crate::core::migration_set::MigrationSet;
use crate::core::state::DbState;
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
    report.add_rehearsals(&index, &super::context::load_effects()?, &state, deployed);
    if let Some(a) = super::verify::verification_for(&index, &reading, deployed)? {
        report.add_verification(a);
    }
    if let (Some(target), Some(_)) = (index.release(&args.target), report.applies()) {
        if let Some(f) = forecast::for_upgrade(&state, target, &args.source)? {
            report.add_forecast(f, args.max_duration);
        }
    }
    if args.rehearse {
        let schema = reading.db.as_ref().and_then(|o| o.database.schema.clone());
        rehearse(&args, &state, schema, &mut report)?;
    }
    let namespace = deployment.namespace.clone();
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
    let metrics = || {
        render::openmetrics::render(&render::openmetrics::Metrics {
            version: state.version(),
            dirty: state.dirty(),
            verdict: &super::metrics::spelling(&report.verdict),
            drift_objects: super::metrics::drift_objects(report.verification.as_ref()),
            pending: report
                .applies()
                .map(|n| vec![(report.target_tag.clone(), n as u64)])
                .unwrap_or_default(),
            estimate: report
                .forecast
                .as_ref()
                .and_then(|f| f.estimate.as_ref())
                .map(|e| (e.low_seconds, e.high_seconds)),
            index_age_seconds: super::metrics::index_age_seconds(&index),
            labels: super::metrics::labels(
                reading.db.as_ref().map(|o| &o.database),
                namespace.as_deref(),
                report.deployment.as_ref(),
                &args.deployment.deployment,
            ),
        })
    };
    ctx.emit_or_metrics(
        || render::json(&report),
        |s| {
            let mut text = render::human::gate(&report, s);
            if let Some(a) = &report.verification {
                text.push_str(&render::verify::evidence(a, s));
            }
            text
        },
        metrics,
    );
    Ok(report.exit_code())
}

/// `--rehearse`: the pending migrations on a copy of the live schema (docs/forecast.md).
/// Only from a clean (or empty) database the target can start from: a running migration, a
/// dirty row or an unknown target already decided the gate, and the rehearsal says why it
/// did not run.
fn rehearse(
    args: &GateArgs,
    state: &DbState,
    schema: Option<String>,
    report: &mut GateReport,
) -> Result<()> {
    if !forecast::is_live(&args.source) {
        return Err(Error::usage(
            "--rehearse copies the live schema: it needs a database (--db or the environment), not --version or --psql",
        ));
    }
    let (Some(sql), Some(scratch_url)) = (&args.sql, &args.scratch_db) else {
        return Err(Error::usage("--rehearse needs --scratch-db URL and --sql"));
    };
    let runnable = matches!(state, DbState::Clean(_) | DbState::Fresh);
    if !runnable || report.applies().is_none() {
        report.warnings.push(format!(
            "rehearsal not run: {} (it runs only from a clean row the target can start from)",
            report.summary
        ));
        return Ok(());
    }
    if report.pending.is_empty() {
        report
            .warnings
            .push("rehearsal not run: the target applies no migration".into());
        return Ok(());
    }
    let source = coder_sql::load(sql).map_err(|e| e.context("--sql"))?;
    let live = postgres::resolve(args.source.db.as_deref(), &ProcessEnv)?
        .ok_or_else(|| Error::usage("--rehearse needs the live database (--db)"))?;
    let scratch = postgres::resolve(Some(scratch_url), &ProcessEnv)?
        .ok_or_else(|| Error::usage("--scratch-db needs a connection string"))?;
    let limits = Limits::new(
        &live,
        args.source.connect_timeout,
        args.source.lock_timeout,
        args.source.statement_timeout,
    );
    let pending = MigrationSet::from_versions(report.pending.iter().map(|m| m.version));
    // The schema the survey read `schema_migrations` in (the session's current_schema(), as
    // the catalog and size reads use): the URL's search_path or the role's own setting.
    let schema = schema.ok_or_else(|| {
        Error::database("the live database has no current schema (an empty search_path): there is no schema to copy")
            .with_hint("set search_path to Coder's schema on the role or in the connection string")
    })?;
    let outcome = postgres::rehearse::rehearse(&postgres::rehearse::Request {
        live: &live,
        limits: &limits,
        scratch: &scratch,
        source: &source,
        target_tag: &args.target,
        pending: &pending,
        schema: &schema,
    })?;
    if !outcome.fell_back.is_empty() {
        report.warnings.push(format!(
            "rehearsal: {} has no file for {} at {}: the newest content it has ran instead",
            source.label,
            outcome.fell_back.join(", "),
            args.target
        ));
    }
    report.add_live_rehearsal(LiveRehearsal {
        target: args.target.clone(),
        pending: pending.len() as usize,
        clean: outcome.failure.is_none(),
        seconds: outcome.seconds,
        failure: outcome.failure,
        sql_source: source.label.clone(),
        dumped_with: outcome.dumped_with,
        scratch_database: outcome.scratch_database,
    });
    Ok(())
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
