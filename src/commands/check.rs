//! `migtag check`: which image matches the database now.

use serde::Serialize;

use crate::cli::CheckArgs;
use crate::core::check::{check, CheckOptions, CheckReport};
use crate::core::index::parse_tag;
use crate::core::observation::{DatabaseInfo, Sessions};
use crate::core::state::DbState;
use crate::core::verify::Assessment;
use crate::error::{ExitCode, Result};
use crate::render;

use super::context::Context;

/// The check report, plus where it was read and who else is connected when the source is a
/// live database.
#[derive(Serialize)]
struct CheckOutput<'a> {
    #[serde(flatten)]
    report: &'a CheckReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a DatabaseInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<&'a Sessions>,
    /// The schema checked against the row (live database, unless --no-schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<&'a Assessment>,
}

pub fn run(ctx: &Context, args: CheckArgs) -> Result<ExitCode> {
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, true);
    let reading = super::verify::read_with_schema(&args.source)?;
    if let DbState::Clean(v) | DbState::Dirty(v) = reading.state {
        if let Some(w) = super::context::beyond_index_warning(&index, v) {
            ctx.warn(&w);
        }
    }
    let opts = CheckOptions {
        deployed: args.deployed,
        include_prereleases: args.include_prereleases,
    };
    let deployed = opts.deployed.as_deref().and_then(|t| index.release(t));
    let verification = super::verify::verification_for(&index, &reading, deployed)?;
    let mut report = check(&index, &reading.state, &opts);
    report.warnings.extend(reading.notes.iter().cloned());
    if let Some(action) = verification.as_ref().and_then(|a| a.dirty_action.as_ref()) {
        if action.kind != "cleanup_to_previous" {
            report.warnings.push(format!(
                "the schema evidence decides the clean-up, not the row: {}",
                action.explanation
            ));
        }
    }
    // Coder's objects without a schema_migrations row: a partial restore, not a fresh
    // database (every release would re-run all migrations over the existing tables).
    let partial_restore = reading.state == DbState::Fresh
        && verification.as_ref().is_some_and(|a| a.schema.is_drift());
    if partial_restore {
        report.summary = format!(
            "not a fresh database: {}; starting any release would re-run every migration over the existing tables",
            verification.as_ref().map(|a| a.schema.summary.as_str()).unwrap_or_default()
        );
        report.recommended = None;
    }
    let out = CheckOutput {
        report: &report,
        database: reading.db.as_ref().map(|o| &o.database),
        sessions: reading.db.as_ref().map(|o| &o.sessions),
        verification: verification.as_ref(),
    };
    let metrics = || {
        render::openmetrics::render(&render::openmetrics::Metrics {
            version: reading.state.version(),
            dirty: reading.state.dirty(),
            verdict: &super::metrics::spelling(&report.verdict),
            drift_objects: super::metrics::drift_objects(verification.as_ref()),
            pending: report
                .recommended
                .iter()
                .map(|r| (r.release.tag.clone(), r.applies.len() as u64))
                .collect(),
            estimate: None,
            index_age_seconds: super::metrics::index_age_seconds(&index),
            labels: super::metrics::database_labels(reading.db.as_ref().map(|o| &o.database)),
        })
    };
    ctx.emit_or_metrics(
        || render::json(&out),
        |s| {
            let mut text = render::human::check(&report, s);
            if let Some(a) = &verification {
                text.push_str(&render::verify::evidence(a, s));
            }
            match &reading.db {
                Some(obs) => render::db::check_with_observation(text, obs, s),
                None => text,
            }
        },
        metrics,
    );
    if partial_restore {
        return Ok(ExitCode::NeedsHuman);
    }
    Ok(report.exit_code())
}
