//! What the `index` commands report (`show`, `export`, `update`/`build`) and how each reads.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::style::Style;
use crate::adapters::github::FetchStats;
use crate::core::report::IndexView;

#[derive(Serialize)]
pub struct IndexShow {
    #[serde(flatten)]
    pub view: IndexView,
    /// The file the index was read from, or "bundled in the binary".
    pub used: String,
    pub repo: String,
    pub migrations_path: String,
    pub image: String,
    pub lines: usize,
    pub prereleases: usize,
    pub named_migrations: usize,
    /// Releases whose set is not 1..max (irregular tags).
    pub irregular: Vec<String>,
    /// About the index that answered (a damaged cache replaced, its age); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What `index export` reports.
#[derive(Serialize)]
pub struct IndexExported {
    /// The index that was merged in, and where it was read from.
    pub index: IndexView,
    pub used: String,
    pub tags_file: PathBuf,
    pub migrations_file: PathBuf,
    /// False with --check.
    pub written: bool,
    /// Whether the tables' bytes change (false: the index adds nothing).
    pub changed: bool,
    /// Tags in both (equal on commit, date as an instant, and migration set).
    pub agreed: usize,
    pub added: Vec<String>,
    /// Tags in the tables that the index lacks, kept as they are.
    pub kept: Vec<String>,
    pub added_migrations: Vec<u64>,
    pub first_release_moved: Vec<FirstReleaseMoved>,
}

#[derive(Serialize)]
pub struct FirstReleaseMoved {
    pub version: u64,
    pub before: String,
    pub after: String,
}

/// What `index update` and `index build` report.
#[derive(Serialize)]
pub struct IndexWritten {
    /// `github` or `git`.
    pub source: String,
    /// Where the index was written.
    pub written_to: PathBuf,
    /// `update` only: true when GitHub said nothing changed (304 on the tag list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<bool>,
    /// `update` only: what it cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<FetchStats>,
    /// `build` only: how many git processes ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_calls: Option<usize>,
    /// Tags and files left out, and why.
    pub notes: Vec<String>,
    pub index: IndexView,
    /// `update` only: how far the effects reach in the new index, and what `--effects` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<EffectsCoverage>,
}

/// The effects against a freshly updated index (docs/verify.md).
#[derive(Debug, Clone, Serialize)]
pub struct EffectsCoverage {
    /// The highest migration the effects in use covered before this run.
    pub covered_to: u64,
    /// Migrations of the index's newest release that those effects lack.
    pub missing: Vec<u64>,
    /// The release whose files were replayed (`--effects`), or that would be.
    pub release: Option<String>,
    /// Where the extended effects were written (`--effects`), and the migration they reach.
    pub written_to: Option<PathBuf>,
    pub extended_to: Option<u64>,
    /// `--effects`: files read from the blob cache and fetched by blob SHA.
    pub files_cached: usize,
    pub files_fetched: usize,
    /// `--effects`: the scratch database the replay ran in (dropped by now).
    pub scratch_database: Option<String>,
    /// What the reader should know (the command that adds missing effects; a schema that
    /// differs from the one the known effects expect).
    pub notes: Vec<String>,
}

pub fn show(report: &IndexShow) -> String {
    let v = &report.view;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "source:        {} ({})",
        v.source,
        if v.complete {
            "complete"
        } else {
            "partial: releases after its newest tag are missing"
        }
    );
    let _ = writeln!(out, "detail:        {}", v.detail);
    let _ = writeln!(out, "read from:     {}", report.used);
    // The age is in the JSON (`age_days`) and in the stale-index warning; the text
    // stays the same from one day to the next.
    let _ = writeln!(out, "generated at:  {}", v.generated_at);
    let _ = writeln!(
        out,
        "project:       {} ({}), image {}",
        report.repo, report.migrations_path, report.image
    );
    let _ = writeln!(
        out,
        "releases:      {} in {} lines ({} pre-releases)",
        v.releases, report.lines, report.prereleases
    );
    if let (Some(t), Some(d)) = (&v.newest_tag, &v.newest_tag_date) {
        let latest = v
            .latest_tag_date
            .as_ref()
            .filter(|l| *l != d)
            .map(|l| format!("; latest tag date {l}"))
            .unwrap_or_default();
        let _ = writeln!(out, "newest tag:    {t} (tagged {d}{latest})");
    }
    if let Some(m) = v.max_migration {
        let _ = writeln!(
            out,
            "migrations:    up to {m:06}, {} named",
            report.named_migrations
        );
    }
    if !report.irregular.is_empty() {
        let _ = writeln!(out, "irregular:     {}", report.irregular.join(", "));
    }
    out
}

pub fn exported(report: &IndexExported, style: Style) -> String {
    let mut out = String::new();
    let headline = match (report.written, report.changed) {
        (true, true) => format!(
            "wrote {} and {}",
            report.tags_file.display(),
            report.migrations_file.display()
        ),
        (true, false) => {
            "the tables already hold everything in the index (rewritten, same bytes)".to_string()
        }
        (false, _) => "checked only (--check): nothing written".to_string(),
    };
    let _ = writeln!(out, "{}", style.good(&headline));
    let _ = writeln!(out, "index:      {}", report.used);
    let _ = writeln!(
        out,
        "agreed:     {} tags equal in the tables and the index",
        report.agreed
    );
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(out, "added:      {}", list(&report.added));
    let _ = writeln!(out, "kept:       {} (not in the index)", list(&report.kept));
    let names: Vec<String> = report
        .added_migrations
        .iter()
        .map(|v| format!("{v:06}"))
        .collect();
    let _ = writeln!(out, "migrations: {} added", list(&names));
    for m in &report.first_release_moved {
        let _ = writeln!(
            out,
            "first release of {:06}: {} -> {}",
            m.version, m.before, m.after
        );
    }
    if report.written && report.changed {
        let _ = writeln!(
            out,
            "{}",
            style.dim("next: migtag index import --generated-at DATE, then cargo test")
        );
    }
    out
}

pub fn written(report: &IndexWritten, style: Style) -> String {
    let mut out = String::new();
    let v = &report.index;
    let what = match report.unchanged {
        Some(true) => "the index is up to date (GitHub answered 304 Not Modified for the tag list)"
            .to_string(),
        _ => format!(
            "built the index from {}: {} releases{}",
            v.detail,
            v.releases,
            v.newest_tag
                .as_ref()
                .map(|t| format!(" up to {t}"))
                .unwrap_or_default()
        ),
    };
    let _ = writeln!(out, "{}", style.good(&what));
    let _ = writeln!(out, "written to: {}", report.written_to.display());
    if let Some(r) = &report.requests {
        let _ = writeln!(
            out,
            "requests:   {} ({} answered 304, {} retried): {} tag pages, {} commits, {} trees",
            r.requests, r.not_modified, r.retries, r.tag_pages, r.commits_fetched, r.trees_fetched
        );
        if r.releases_reused > 0 {
            let _ = writeln!(
                out,
                "reused:     {} releases from an existing index by commit SHA (no request)",
                r.releases_reused
            );
        }
    }
    if let Some(n) = report.git_calls {
        let _ = writeln!(out, "git calls:  {n}");
    }
    if let Some(e) = &report.effects {
        let line = match (&e.written_to, e.missing.is_empty()) {
            (Some(to), _) => format!(
                "effects:    extended to {:06} with {} migrations replayed from {}'s files ({} fetched, {} from the blob cache), written to {}",
                e.extended_to.unwrap_or(e.covered_to),
                e.extended_to.unwrap_or(e.covered_to) - e.covered_to,
                e.release.as_deref().unwrap_or("?"),
                e.files_fetched,
                e.files_cached,
                to.display()
            ),
            (None, true) => format!(
                "effects:    reach {:06}: every release of the index is covered",
                e.covered_to
            ),
            (None, false) => format!(
                "effects:    stop at {:06}: {} new migration{} of the index lack{} them",
                e.covered_to,
                e.missing.len(),
                if e.missing.len() == 1 { "" } else { "s" },
                if e.missing.len() == 1 { "s" } else { "" }
            ),
        };
        let _ = writeln!(out, "{line}");
        for n in &e.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nskipped:");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    let _ = writeln!(out, "{}", style.dim(&super::human::index_line(v)));
    out
}
