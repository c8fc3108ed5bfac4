//! `migtag check`: which image matches the database now.

use serde::Serialize;

use crate::cli::CheckArgs;
use crate::core::check::{check_with, CheckOptions, CheckReport};
use crate::core::index::parse_tag;
use crate::core::observation::{DatabaseInfo, Sessions};
use crate::core::verify::Assessment;
use crate::error::{ExitCode, Result};
use crate::render;

use super::context::Context;
use super::facts::Facts;

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
    let deployed = args.deployed.as_deref().and_then(|t| index.release(t));
    let facts = Facts::gather(&index, &args.source, deployed)?;
    if let Some(v) = facts.reading.state.version() {
        if let Some(w) = super::context::beyond_index_warning(&index, v) {
            ctx.warn(&w);
        }
    }
    let opts = CheckOptions {
        deployed: args.deployed.clone(),
        include_prereleases: args.include_prereleases,
        reading_notes: facts.reading.notes.clone(),
    };
    let report = check_with(
        &index,
        &facts.reading.state,
        facts.assessment.as_ref(),
        &opts,
    );
    let verification = facts.assessment.as_ref();
    let out = CheckOutput {
        report: &report,
        database: facts.reading.db.as_ref().map(|o| &o.database),
        sessions: facts.reading.db.as_ref().map(|o| &o.sessions),
        verification,
    };
    let metrics = || {
        render::openmetrics::render(&render::openmetrics::Metrics {
            version: facts.reading.state.version(),
            dirty: facts.reading.state.dirty(),
            verdict: &super::metrics::spelling(&report.verdict),
            drift_objects: super::metrics::drift_objects(verification),
            pending: report
                .recommended
                .iter()
                .map(|r| (r.release.tag.clone(), r.applies.len() as u64))
                .collect(),
            estimate: None,
            index_age_seconds: super::metrics::index_age_seconds(&index),
            labels: super::metrics::database_labels(facts.reading.db.as_ref().map(|o| &o.database)),
        })
    };
    ctx.emit_or_metrics(
        || render::json(&out),
        |s| {
            let mut text = render::human::check(&report, s);
            if let Some(a) = verification {
                text.push_str(&render::verify::evidence(a, s));
            }
            match &facts.reading.db {
                Some(obs) => render::db::check_with_observation(text, obs, s),
                None => text,
            }
        },
        metrics,
    );
    Ok(report.exit_code())
}
