//! `migtag verify`: reads the live catalog and checks it against the expected schema of the
//! recorded version (docs/verify.md). Exit 0 on match, 6 on drift, 4 when the row itself
//! needs a human (dirty, in progress, v1) and the schema does not show drift.

use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::core::index::parse_tag;
use crate::core::observation::DatabaseInfo;
use crate::core::state::{DbState, StateView};
use crate::core::verify::{Assessment, SchemaStatus};
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;
use super::facts::Facts;

#[derive(Serialize)]
struct VerifyOutput<'a> {
    state: StateView,
    /// The schema's exact version (its identity), or null.
    schema_version: Option<u64>,
    #[serde(flatten)]
    assessment: &'a Assessment,
    database: Option<&'a DatabaseInfo>,
}

pub fn run(ctx: &Context, args: VerifyArgs) -> Result<ExitCode> {
    if args.source.no_schema {
        return Err(Error::usage(
            "verify --no-schema would verify nothing: leave --no-schema out",
        ));
    }
    if args.source.version.is_some() || args.source.psql.is_some() {
        return Err(Error::usage(
            "verify reads the schema itself, which --version and --psql do not carry: pass --db URL (read-only)",
        ));
    }
    let index = ctx.load_index()?;
    let deployed = match &args.deployed {
        Some(t) => {
            parse_tag(t).map_err(|e| e.context("--deployed"))?;
            index.release(t)
        }
        None => None,
    };
    let facts = Facts::gather(&index, &args.source, deployed)?;
    let reading = &facts.reading;
    let a = facts
        .assessment
        .clone()
        .unwrap_or_else(|| match reading.state {
            DbState::InProgress(_) => Assessment::skipped(
                "the schema was not read: a migration is running and the schema is changing; run verify again when it has finished",
            ),
            _ => Assessment::skipped("the schema was not read"),
        });
    let metrics = || {
        render::openmetrics::render(&render::openmetrics::Metrics {
            version: reading.state.version(),
            dirty: reading.state.dirty(),
            verdict: &super::metrics::spelling(&a.schema.status),
            drift_objects: super::metrics::drift_objects(Some(&a)),
            pending: vec![],
            estimate: None,
            index_age_seconds: super::metrics::index_age_seconds(&index),
            labels: super::metrics::database_labels(reading.db.as_ref().map(|o| &o.database)),
        })
    };
    ctx.emit_or_metrics(
        || {
            render::json(&VerifyOutput {
                state: StateView::from(&reading.state),
                schema_version: a
                    .schema
                    .identity
                    .as_ref()
                    .filter(|id| id.is_exact())
                    .and_then(|id| id.version),
                assessment: &a,
                database: reading.db.as_ref().map(|o| &o.database),
            })
        },
        |s| render::verify::report(&a, s),
        metrics,
    );
    let known = match reading.state {
        DbState::Clean(v) | DbState::Dirty(v) => index.releases().iter().any(|r| r.contains(v)),
        _ => true,
    };
    if !known && a.schema.status == SchemaStatus::Skipped {
        // Ahead of the index: no expected schema to compare with (as `check`: exit 5).
        return Ok(ExitCode::NoMatch);
    }
    Ok(exit_code(&reading.state, &a))
}

fn exit_code(state: &DbState, a: &Assessment) -> ExitCode {
    match (a.schema.status, state) {
        (SchemaStatus::Drift, _) => ExitCode::Drift,
        (_, DbState::Dirty(_) | DbState::InProgress(_) | DbState::V1) => ExitCode::NeedsHuman,
        (SchemaStatus::Skipped, _) => ExitCode::Database,
        (SchemaStatus::Match, _) => ExitCode::Success,
    }
}
