//! `migtag releases`: the index as a table, newest first.

use crate::cli::ReleasesArgs;
use crate::core::index::Release;
use crate::core::report::IndexView;
use crate::error::{Error, ExitCode, Result};
use crate::render;
use crate::render::releases::{ReleaseRow, ReleasesReport};

use super::context::Context;

pub fn run(ctx: &Context, args: ReleasesArgs) -> Result<ExitCode> {
    let line = args.line.as_deref().map(parse_line).transpose()?;
    let index = ctx.load_index()?;
    let rows: Vec<ReleaseRow> = index
        .releases()
        .iter()
        .rev()
        .filter(|r| args.include_prereleases || !r.prerelease)
        .filter(|r| line.is_none_or(|l| r.line() == l))
        .map(|r: &Release| ReleaseRow {
            tag: r.tag.clone(),
            image: index.image(&r.tag),
            date: r.date.clone(),
            commit: r.commit.clone(),
            prerelease: r.prerelease,
            max_migration: r.max_migration,
            migrations: r.migrations.clone(),
            gaps: r.migrations.gaps(),
        })
        .collect();
    if rows.is_empty() {
        if let Some(l) = &args.line {
            return Err(
                Error::no_match(format!("no release of line {l} in the index"))
                    .with_hint("`migtag releases` lists every line the index knows"),
            );
        }
    }
    let report = ReleasesReport {
        releases: rows,
        index: IndexView::new(&index),
    };
    ctx.emit(
        || render::json(&report),
        |s| render::releases::human(&report, s),
    );
    Ok(ExitCode::Success)
}

fn parse_line(text: &str) -> Result<(u64, u64)> {
    let bad = || {
        Error::invalid_input(format!(
            "--line `{text}` is not a release line: expected MAJOR.MINOR, such as 2.21"
        ))
    };
    let (major, minor) = text
        .trim_start_matches('v')
        .split_once('.')
        .ok_or_else(bad)?;
    Ok((
        major.parse().map_err(|_| bad())?,
        minor.parse().map_err(|_| bad())?,
    ))
}
