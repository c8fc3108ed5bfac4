//! `migtag check`: which image matches the database now.

use crate::cli::CheckArgs;
use crate::core::check::{check, CheckOptions};
use crate::core::index::parse_tag;
use crate::core::state::DbState;
use crate::error::{ExitCode, Result};
use crate::render;

use super::context::Context;
use super::source::read_state;

pub fn run(ctx: &Context, args: CheckArgs) -> Result<ExitCode> {
    if let Some(tag) = &args.deployed {
        parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    }
    let index = ctx.load_index()?;
    let state = read_state(&args.source)?;
    if let DbState::Clean(v) | DbState::Dirty(v) = state {
        if let Some(w) = super::context::beyond_index_warning(&index, v) {
            ctx.warn(&w);
        }
    }
    let opts = CheckOptions {
        deployed: args.deployed,
        include_prereleases: args.include_prereleases,
    };
    let report = check(&index, &state, &opts);
    ctx.emit(
        || render::json(&report),
        |s| render::human::check(&report, s),
    );
    Ok(report.exit_code())
}
