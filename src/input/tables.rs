//! Parser for the verified reference tables (`coder-tags.tsv`, `coder-migrations.tsv`) that
//! the bundled index is imported from. Pure: text in, releases and names out.
//!
//! Every row is checked: the columns, the tag, the commit, the set against its stated
//! maximum, and each migration's `first_release` against the tag table, so that the import
//! can only reproduce the tables, never add to them.

use std::collections::BTreeMap;

use crate::core::index::{parse_tag, Index, Project, Provenance, Release};
use crate::core::migration_set::{MigrationSet, Version};
use crate::error::{Error, Result};

const TAGS_HEADER: &str =
    "tag\tcommit\ttag_date\tmax_migration\tmigrations\tprerelease\tforks_carrying_tag";
const MIGRATIONS_HEADER: &str = "version\tname\tfirst_release";

/// Parses `coder-tags.tsv`.
pub fn parse_tags(text: &str) -> Result<Vec<Release>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.trim_end() != TAGS_HEADER {
        return Err(Error::invalid_input(format!(
            "tag table: expected the header `{}`, found `{header}`",
            TAGS_HEADER.replace('\t', "\\t")
        )));
    }
    let mut releases = Vec::new();
    for (i, line) in lines.enumerate() {
        let row = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [tag, commit, date, max, set, pre, _forks] = cols[..] else {
            return Err(Error::invalid_input(format!(
                "tag table line {row}: expected 7 tab-separated columns, found {}",
                cols.len()
            )));
        };
        let err =
            |what: String| Error::invalid_input(format!("tag table line {row} ({tag}): {what}"));
        let version = parse_tag(tag).map_err(|e| err(e.message().to_string()))?;
        let migrations = MigrationSet::parse(set).map_err(err)?;
        let max: Version = max
            .parse()
            .map_err(|_| err(format!("max_migration `{max}` is not a number")))?;
        if migrations.max() != Some(max) {
            return Err(err(format!(
                "max_migration {max} disagrees with the set `{set}`"
            )));
        }
        let prerelease = match pre {
            "yes" => true,
            "no" => false,
            other => {
                return Err(err(format!(
                    "prerelease must be yes or no, found `{other}`"
                )))
            }
        };
        if prerelease == version.pre.is_empty() {
            return Err(err(format!("prerelease `{pre}` disagrees with the tag")));
        }
        time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
            .map_err(|_| err(format!("tag_date `{date}` is not RFC 3339")))?;
        let release = Release::new(tag, migrations)?
            .with_commit(commit)
            .with_date(date);
        releases.push(release);
    }
    Ok(releases)
}

/// One row of `coder-migrations.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRow {
    pub version: Version,
    pub name: String,
    pub first_release: String,
}

/// Parses `coder-migrations.tsv`.
pub fn parse_migrations(text: &str) -> Result<Vec<MigrationRow>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.trim_end() != MIGRATIONS_HEADER {
        return Err(Error::invalid_input(format!(
            "migration table: expected the header `{}`, found `{header}`",
            MIGRATIONS_HEADER.replace('\t', "\\t")
        )));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let row = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [version, name, first_release] = cols[..] else {
            return Err(Error::invalid_input(format!(
                "migration table line {row}: expected 3 tab-separated columns, found {}",
                cols.len()
            )));
        };
        let version: Version = version.parse().map_err(|_| {
            Error::invalid_input(format!(
                "migration table line {row}: `{version}` is not a number"
            ))
        })?;
        rows.push(MigrationRow {
            version,
            name: name.to_string(),
            first_release: first_release.to_string(),
        });
    }
    Ok(rows)
}

/// What the bundled index says about where its facts come from.
pub fn bundled_provenance(generated_at: &str) -> Provenance {
    Provenance {
        source: "bundled".into(),
        detail: "verified reference tables (coder-tags.tsv, coder-migrations.tsv): `git ls-tree` of \
                 coderd/database/migrations (database/migrations for v0.1/v0.2) at each tag, read from 42 \
                 public copies of coder/coder that carry upstream's tags, all agreeing; not included: \
                 v2.36.1 and later, and any patch of an older line tagged after 2026-08-10 (the latest tag date in the tables)"
            .into(),
        generated_at: generated_at.into(),
        complete: false,
    }
}

/// Builds the index from the two tables, cross-checking them against each other.
pub fn import(tags_tsv: &str, migrations_tsv: &str, generated_at: &str) -> Result<Index> {
    let releases = parse_tags(tags_tsv)?;
    let rows = parse_migrations(migrations_tsv)?;
    let mut names = BTreeMap::new();
    for row in &rows {
        if names.insert(row.version, row.name.clone()).is_some() {
            return Err(Error::invalid_input(format!(
                "migration table: version {} appears twice",
                row.version
            )));
        }
        // first_release must be the first final release (by semver) whose set contains it.
        let first = releases
            .iter()
            .filter(|r| !r.prerelease && r.contains(row.version))
            .min_by(|a, b| a.version().cmp(b.version()));
        let first_tag = first.map(|r| r.tag.as_str()).unwrap_or("");
        if first_tag != row.first_release {
            return Err(Error::invalid_input(format!(
                "migration table: {} says it first shipped in {}, but the tag table says {}",
                row.version,
                row.first_release,
                if first_tag.is_empty() {
                    "no final release"
                } else {
                    first_tag
                }
            )));
        }
    }
    let max_named = names.keys().next_back().copied().unwrap_or(0);
    if let Some(r) = releases.iter().find(|r| r.max_migration > max_named) {
        return Err(Error::invalid_input(format!(
            "the tag table's {} ships migration {} but the migration table stops at {max_named}",
            r.tag, r.max_migration
        )));
    }
    Index::new(
        Project::coder(),
        bundled_provenance(generated_at),
        releases,
        names,
    )
}
