//! `migtag releases`: the report (the index as rows, newest first) and its table.

use std::fmt::Write as _;

use serde::Serialize;

use super::style::Style;
use crate::core::migration_set::{MigrationSet, Version};
use crate::core::report::IndexView;

#[derive(Serialize)]
pub struct ReleasesReport {
    pub releases: Vec<ReleaseRow>,
    pub index: IndexView,
}

#[derive(Serialize)]
pub struct ReleaseRow {
    pub tag: String,
    pub image: String,
    pub date: Option<String>,
    pub commit: Option<String>,
    pub prerelease: bool,
    pub max_migration: Version,
    pub migrations: MigrationSet,
    /// Migrations between 1 and max_migration that this release lacks.
    pub gaps: MigrationSet,
}

pub fn human(report: &ReleasesReport, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<14} {:<10} {:>7}  gaps", "tag", "date", "highest");
    for r in &report.releases {
        let date = r
            .date
            .as_deref()
            .map(|d| &d[..d.len().min(10)])
            .unwrap_or("-");
        let gaps = if r.gaps.is_empty() {
            "-".to_string()
        } else {
            r.gaps.to_string()
        };
        let tag = if r.prerelease {
            format!("{} (pre)", r.tag)
        } else {
            r.tag.clone()
        };
        let _ = writeln!(
            out,
            "{tag:<14} {date:<10} {:>7}  {gaps}",
            format!("{:06}", r.max_migration)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        style.dim(&super::human::index_line(&report.index))
    );
    out
}
