//! `migtag check`: which image matches the database now.

use serde::Serialize;

use crate::cli::CheckArgs;
use crate::core::check::{check, CheckOptions, CheckReport};
use crate::core::index::parse_tag;
use crate::core::observation::{DatabaseInfo, Sessions};
use crate::core::state::DbState;
use crate::error::{ExitCode, Result};
use crate::render;

use super::context::Context;
use super::source::read_source;

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
}

pub fn run(ctx: &Context, args: CheckArgs) -> Result<ExitCode> {
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, true);
    let reading = read_source(&args.source)?;
    if let DbState::Clean(v) | DbState::Dirty(v) = reading.state {
        if let Some(w) = super::context::beyond_index_warning(&index, v) {
            ctx.warn(&w);
        }
    }
    let opts = CheckOptions {
        deployed: args.deployed,
        include_prereleases: args.include_prereleases,
    };
    let mut report = check(&index, &reading.state, &opts);
    report.warnings.extend(reading.notes.iter().cloned());
    let out = CheckOutput {
        report: &report,
        database: reading.db.as_ref().map(|o| &o.database),
        sessions: reading.db.as_ref().map(|o| &o.sessions),
    };
    ctx.emit(
        || render::json(&out),
        |s| {
            let text = render::human::check(&report, s);
            match &reading.db {
                Some(obs) => render::db::check_with_observation(text, obs, s),
                None => text,
            }
        },
    );
    Ok(report.exit_code())
}
