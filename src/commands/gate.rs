//! `migtag gate`: the CI gate for an upgrade. Exit 0 safe, 3 unsafe, 4 needs a human,
//! 5 unknown target. Under GitHub Actions it also writes annotations and a job summary.

use crate::adapters::coder_sql;
use crate::adapters::postgres::{self, Limits, ProcessEnv};
use crate::cli::GateArgs;
use crate::core::deployment::{check_deployment, DeploymentCheckOptions};
use crate::core::forecast::migration_window_seconds;
use crate::core::gate::{
    conclude, gate_with, rehearsals_for, with_rehearsed_band, GateFacts, GateOptions, GateReport,
    LiveRehearsal, RehearsalOutcome,
};
use crate::core::index::parse_tag;
use crate::core::migration_set::MigrationSet;
use crate::core::state::DbState;
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;
use super::facts::Facts;
use super::forecast;
use super::manifest;

pub fn run(ctx: &Context, args: GateArgs) -> Result<ExitCode> {
    // Every gate weighs the effects (the forecast, the irregular sets' rehearsals): read them
    // on a second thread while the index loads and the database is read.
    super::context::prefetch_effects();
    parse_tag(&args.target).map_err(|e| e.context("--target"))?;
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    manifest::validate(&args.deployment, &args.source)?;
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, true);
    // The manifest is read before the database, so a bad manifest fails fast (exit 12).
    let deployment = manifest::read(ctx, (&args.deployment).into())?;
    let deployed = args.deployed.as_deref().and_then(|t| index.release(t));
    let facts = Facts::gather_with(&index, &args.source, deployed, true)?;
    let state = &facts.reading.state;
    let opts = GateOptions {
        deployed: args.deployed.clone(),
        strict: args.strict,
        max_pending: args.max_pending,
        reading_notes: facts.reading.notes.clone(),
    };
    // The first decision says what else it needs to know: what the pending migrations will
    // do (forecast, rehearsal) and whether the Deployment lets them finish.
    let first = gate_with(
        &index,
        state,
        facts.assessment.as_ref(),
        &args.target,
        &opts,
    );
    let irregular = rehearsals_for(
        &index,
        facts.effects()?,
        state,
        deployed,
        Some(&args.target),
    );
    let forecast = match (index.release(&args.target), first.applies()) {
        (Some(target), Some(_)) => forecast::for_upgrade(state, target, &facts)?,
        _ => None,
    };
    let rehearsal = if args.rehearse {
        let schema = facts
            .reading
            .db
            .as_ref()
            .and_then(|o| o.database.schema.clone());
        Some(rehearse(
            ctx,
            &index,
            &args,
            state,
            schema,
            &first,
            Sampling {
                forecast: forecast.as_ref(),
                facts: &facts,
            },
        )?)
    } else {
        None
    };
    let namespace = deployment.namespace.clone();
    let deployment = deployment.facts.map(|d| {
        let findings = check_deployment(
            &d,
            &DeploymentCheckOptions {
                namespace: deployment.namespace.as_deref(),
                // A sampled rehearsal's band sizes the window, as in the report.
                migration_window_seconds: migration_window_seconds(
                    args.deployment.migration_window,
                    with_rehearsed_band(forecast.clone(), rehearsal.clone())
                        .0
                        .as_ref(),
                ),
                pending_migrations: first.applies(),
            },
        );
        (d, findings)
    });
    let report = conclude(
        first,
        GateFacts {
            forecast,
            max_duration_seconds: args.max_duration,
            irregular,
            rehearsal,
            deployment,
            strict: args.strict,
        },
    );
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
                facts.reading.db.as_ref().map(|o| &o.database),
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

/// What `--sample` needs besides the rehearsal's own inputs: the tables the forecast says
/// the pending migrations touch, and the live statistics to scale by.
struct Sampling<'a> {
    forecast: Option<&'a crate::core::forecast::Forecast>,
    facts: &'a Facts,
}

/// `--rehearse`: the pending migrations on a copy of the live schema (docs/forecast.md).
/// Only from a clean (or empty) database the target can start from: a running migration, a
/// dirty row or an unknown target already decided the gate, and the rehearsal says why it
/// did not run.
fn rehearse(
    ctx: &Context,
    index: &crate::core::index::Index,
    args: &GateArgs,
    state: &DbState,
    schema: Option<String>,
    first: &GateReport,
    sampling: Sampling<'_>,
) -> Result<RehearsalOutcome> {
    if !forecast::is_live(&args.source) {
        return Err(Error::usage(
            "--rehearse copies the live schema: it needs a database (--db or the environment), not --version or --psql",
        ));
    }
    let Some(scratch_url) = &args.scratch_db else {
        return Err(Error::usage("--rehearse needs --scratch-db URL"));
    };
    let runnable = matches!(state, DbState::Clean(_) | DbState::Fresh);
    if !runnable || first.applies().is_none() {
        return Ok(RehearsalOutcome::NotRun(format!(
            "rehearsal not run: {} (it runs only from a clean row the target can start from)",
            first.summary
        )));
    }
    if first.pending.is_empty() {
        return Ok(RehearsalOutcome::NotRun(
            "rehearsal not run: the target applies no migration".into(),
        ));
    }
    let pending = MigrationSet::from_versions(first.pending.iter().map(|m| m.version));
    // Without --sql, the target's files from GitHub through the cache (docs/index-sources.md).
    let source = match &args.sql {
        Some(sql) => coder_sql::load(sql).map_err(|e| e.context("--sql"))?,
        None => super::github_sql::for_rehearsal(
            ctx,
            index,
            args.github_api_url.as_deref(),
            &args.target,
            &pending,
        )?,
    };
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
    // The schema the survey read `schema_migrations` in (the session's current_schema(), as
    // the catalog and size reads use): the URL's search_path or the role's own setting.
    let schema = schema.ok_or_else(|| {
        Error::database("the live database has no current schema (an empty search_path): there is no schema to copy")
            .with_hint("set search_path to Coder's schema on the role or in the connection string")
    })?;
    let live_sizes = match sampling.facts.sizes() {
        Some(Ok(l)) => l.tables.clone(),
        _ => Default::default(),
    };
    let sample = match (args.sample, sampling.forecast) {
        (None, _) => None,
        (Some(percent), Some(f)) => Some(postgres::rehearse::SampleRequest {
            percent,
            tables: crate::core::forecast::rehearsed::sampled_tables(f),
        }),
        (Some(_), None) => {
            return Err(Error::usage(
                "--sample needs the forecast of the pending migrations (which tables they touch), and there is none for this upgrade",
            ))
        }
    };
    let outcome = postgres::rehearse::rehearse(&postgres::rehearse::Request {
        live: &live,
        limits: &limits,
        scratch: &scratch,
        source: &source,
        target_tag: &args.target,
        pending: &pending,
        schema: &schema,
        timeout: std::time::Duration::from_secs(args.rehearse_timeout),
        sample,
    })?;
    let sample = match (outcome.sample.as_ref(), sampling.forecast) {
        (Some(run), Some(f)) => Some(crate::core::forecast::rehearsed::scale(run, &live_sizes, f)),
        _ => None,
    };
    let fell_back = (!outcome.fell_back.is_empty()).then(|| {
        format!(
            "rehearsal: {} has no file for {} at {}: the newest content it has ran instead",
            source.label,
            outcome.fell_back.join(", "),
            args.target
        )
    });
    let superuser = outcome
        .scratch_superuser
        .then(|| postgres::rehearse::superuser_warning(&scratch.user, outcome.set_role));
    Ok(RehearsalOutcome::Ran {
        rehearsal: Box::new(LiveRehearsal {
            target: args.target.clone(),
            pending: pending.len() as usize,
            clean: outcome.failure.is_none(),
            seconds: outcome.seconds,
            failure: outcome.failure,
            sql_source: source.label.clone(),
            dumped_with: outcome.dumped_with,
            scratch_database: outcome.scratch_database,
            sample,
        }),
        warnings: fell_back.into_iter().chain(superuser).collect(),
    })
}

/// Workflow commands on stderr (GitHub reads both streams; stderr keeps stdout one JSON
/// document) and a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
fn github_actions(report: &GateReport) -> Result<()> {
    for line in render::gate::annotations(report) {
        render::workflow_command(&line);
    }
    append_step_summary(&render::gate::summary_markdown(report))
}

/// Under GitHub Actions, an error that stopped the gate (a database that cannot be read, a
/// bad input) is an `::error` annotation and a line of the job summary too, not only text
/// in the log (docs/rules.md, "Output and exit codes").
pub fn github_actions_error(err: &Error) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    render::workflow_command(&render::gate::error_annotation(err));
    // The error is already on its way out; a summary that cannot be written is one more
    // thing the log shows, not a second failure.
    if let Err(e) = append_step_summary(&render::gate::error_summary_markdown(err)) {
        crate::ewriteln!("warning: {}", e.message());
    }
}

/// Appends to `$GITHUB_STEP_SUMMARY`, the file the runner gives for the job summary.
fn append_step_summary(text: &str) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::write("GITHUB_STEP_SUMMARY", &e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::write("GITHUB_STEP_SUMMARY", &e))
}
