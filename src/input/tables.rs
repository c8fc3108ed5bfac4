//! The verified reference tables (`coder-tags.tsv`, `coder-migrations.tsv`) that the bundled
//! index is imported from: their parser (`import`) and their writer (`export`). Pure: text
//! in, text or an index out.
//!
//! Every row is checked: the columns, the tag, the commit, the set against its stated
//! maximum, and each migration's `first_release` against the tag table, so that the import
//! can only reproduce the tables, never add to them.
//!
//! The export merges an index (from GitHub or a clone) into the tables: a tag or migration
//! already in a table must agree with the index (else nothing is written), rows the index
//! lacks are kept, and rows it adds are appended. The column `forks_carrying_tag` is a fact of
//! the original survey (how many public copies of coder/coder carried the tag); no index
//! knows it, so it is kept for existing rows and, for added rows, holds the index's source
//! (`github`, `git`) instead of a number.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::core::index::{parse_tag, Index, Project, Provenance, Release};
use crate::core::migration_set::{MigrationSet, Version};
use crate::error::{Error, Result};

const TAGS_HEADER: &str =
    "tag\tcommit\ttag_date\tmax_migration\tmigrations\tprerelease\tforks_carrying_tag";
const MIGRATIONS_HEADER: &str = "version\tname\tfirst_release";

/// One row of `coder-tags.tsv`: the release and its `forks_carrying_tag` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub release: Release,
    /// A number (public copies that carried the tag, from the original survey), or the
    /// source of the index the row was exported from (`github`, `git`).
    pub found_in: String,
}

/// Parses `coder-tags.tsv`.
pub fn parse_tags(text: &str) -> Result<Vec<Release>> {
    Ok(parse_tag_rows(text)?
        .into_iter()
        .map(|r| r.release)
        .collect())
}

/// Parses `coder-tags.tsv`, keeping the `forks_carrying_tag` column.
pub fn parse_tag_rows(text: &str) -> Result<Vec<TagRow>> {
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
        let [tag, commit, date, max, set, pre, found_in] = cols[..] else {
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
        let is_count = !found_in.is_empty() && found_in.bytes().all(|b| b.is_ascii_digit());
        let is_source = !found_in.is_empty() && found_in.bytes().all(|b| b.is_ascii_lowercase());
        if !is_count && !is_source {
            return Err(err(format!(
                "forks_carrying_tag must be a number or an index source such as `github`, found `{found_in}`"
            )));
        }
        let release = Release::new(tag, migrations)?
            .with_commit(commit)
            .with_date(date);
        releases.push(TagRow {
            release,
            found_in: found_in.to_string(),
        });
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

/// What the bundled index says about where its facts come from: the survey, any rows added
/// from another index (by `export`), and the newest release it covers.
pub fn bundled_provenance(generated_at: &str, rows: &[TagRow]) -> Provenance {
    let mut detail = String::from(
        "verified reference tables (coder-tags.tsv, coder-migrations.tsv): `git ls-tree` of \
         coderd/database/migrations (database/migrations for v0.1/v0.2) at each tag, read from 42 \
         public copies of coder/coder that carry upstream's tags, all agreeing",
    );
    let mut sources: BTreeMap<&str, Vec<&Release>> = BTreeMap::new();
    for row in rows {
        if !row.found_in.bytes().all(|b| b.is_ascii_digit()) {
            sources.entry(&row.found_in).or_default().push(&row.release);
        }
    }
    for (source, releases) in sources {
        let from = match source {
            "github" => "GitHub's API for coder/coder (`migtag index update`)".to_string(),
            "git" => "a clone of coder/coder (`migtag index build`)".to_string(),
            other => format!("a `{other}` index"),
        };
        let first = releases.iter().min_by(|a, b| a.version().cmp(b.version()));
        let last = releases.iter().max_by(|a, b| a.version().cmp(b.version()));
        if let (Some(first), Some(last)) = (first, last) {
            let _ = write!(
                detail,
                "; {} ({} to {}) from {from}, added by `migtag index export` after the \
                 index agreed with every verified row",
                match releases.len() {
                    1 => "1 tag".to_string(),
                    n => format!("{n} tags"),
                },
                first.tag,
                last.tag
            );
        }
    }
    // What is missing: every tag after the newest final release, and patches of older lines
    // tagged after the latest date in the tables (lines are patched in parallel).
    let newest = rows
        .iter()
        .map(|r| &r.release)
        .filter(|r| !r.prerelease)
        .max_by(|a, b| a.version().cmp(b.version()));
    let latest_day = rows
        .iter()
        .filter_map(|r| r.release.date.as_deref())
        .filter_map(|d| {
            time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
        })
        .max()
        .map(|d| d.to_offset(time::UtcOffset::UTC).date());
    if let (Some(newest), Some(day)) = (newest, latest_day) {
        let v = newest.version();
        let _ = write!(
            detail,
            "; not included: v{}.{}.{} and later, and any patch of an older line tagged after \
             {:04}-{:02}-{:02} (the latest tag date in the tables)",
            v.major,
            v.minor,
            v.patch + 1,
            day.year(),
            u8::from(day.month()),
            day.day()
        );
    }
    Provenance {
        source: "bundled".into(),
        detail,
        generated_at: generated_at.into(),
        complete: false,
    }
}

/// The first final release (by semver) whose set contains `version`, as the migration
/// table's `first_release` says; `None` when only pre-releases ship it.
fn first_release(releases: &[Release], version: Version) -> Option<&Release> {
    releases
        .iter()
        .filter(|r| !r.prerelease && r.contains(version))
        .min_by(|a, b| a.version().cmp(b.version()))
}

/// Builds the index from the two tables, cross-checking them against each other.
pub fn import(tags_tsv: &str, migrations_tsv: &str, generated_at: &str) -> Result<Index> {
    let tag_rows = parse_tag_rows(tags_tsv)?;
    let releases: Vec<Release> = tag_rows.iter().map(|r| r.release.clone()).collect();
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
        let first = first_release(&releases, row.version);
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
        bundled_provenance(generated_at, &tag_rows),
        releases,
        names,
    )
}

/// Writes `coder-tags.tsv`: the header, then one row per release in semver order.
pub fn write_tags(rows: &[TagRow]) -> String {
    let mut out = format!("{TAGS_HEADER}\n");
    for row in rows {
        let r = &row.release;
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.tag,
            r.commit.as_deref().unwrap_or_default(),
            r.date.as_deref().unwrap_or_default(),
            r.max_migration,
            r.migrations,
            if r.prerelease { "yes" } else { "no" },
            row.found_in
        );
    }
    out
}

/// Writes `coder-migrations.tsv`: the header, then one row per migration in version order.
pub fn write_migrations(rows: &[MigrationRow]) -> String {
    let mut out = format!("{MIGRATIONS_HEADER}\n");
    for row in rows {
        let _ = writeln!(out, "{}\t{}\t{}", row.version, row.name, row.first_release);
    }
    out
}

/// The two tables an export writes, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub tags_tsv: String,
    pub migrations_tsv: String,
    /// Tags in both the tables and the index (they agree on every column).
    pub agreed: usize,
    /// Tags the index adds to the tables.
    pub added: Vec<String>,
    /// Tags in the tables that the index lacks (kept as they are).
    pub kept: Vec<String>,
    /// Migrations the index adds to the migration table.
    pub added_migrations: Vec<Version>,
    /// Migrations whose `first_release` moved because an added tag ships them earlier:
    /// (version, before, after).
    pub first_release_moved: Vec<(Version, String, String)>,
}

/// Dates compare as instants: GitHub answers in UTC, the survey kept committer offsets.
fn same_instant(a: &str, b: &str) -> bool {
    let parse =
        |d: &str| time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339);
    match (parse(a), parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Merges `index` into the tables `existing` (tag table, migration table; `None` when there
/// are none yet) and writes both. Refuses, writing nothing, when the index disagrees with any
/// verified row, or describes another project. The result always imports.
pub fn export(index: &Index, existing: Option<(&str, &str)>) -> Result<Export> {
    let coder = Project::coder();
    let p = &index.project;
    let same_project = p.repo == coder.repo
        && p.image == coder.image
        && p.migrations_path == coder.migrations_path
        && p.fallback_migrations_paths
            .iter()
            .all(|f| crate::bundled::MIGRATIONS_PATHS[1..].contains(&f.as_str()));
    if !same_project {
        return Err(Error::invalid_input(format!(
            "the reference tables describe {} ({}, image {}); this index is of {} ({}, image {})",
            coder.repo,
            crate::bundled::MIGRATIONS_PATHS.join(" (else ") + ")",
            coder.image,
            p.repo,
            p.describe_paths(),
            p.image
        )));
    }
    let (mut tag_rows, migration_rows) = match existing {
        Some((tags, migrations)) => {
            // Through the import, so that only consistent tables are merged into.
            import(tags, migrations, "check")?;
            (parse_tag_rows(tags)?, parse_migrations(migrations)?)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut disagreements = Vec::new();
    let mut in_index = std::collections::HashSet::new();
    let mut agreed = 0;
    let mut added = Vec::new();
    for r in index.releases() {
        in_index.insert(r.tag.as_str());
        if let Some(row) = tag_rows.iter().find(|row| row.release.tag == r.tag) {
            let t = &row.release;
            let mut found = Vec::new();
            let mut differs = |what: &str, table: &str, index: &str| {
                found.push(format!(
                    "{}: {what} is `{table}` in the table but `{index}` in the index",
                    r.tag
                ))
            };
            if t.commit != r.commit {
                differs(
                    "commit",
                    t.commit.as_deref().unwrap_or("(none)"),
                    r.commit.as_deref().unwrap_or("(none)"),
                );
            }
            let (td, rd) = (
                t.date.as_deref().unwrap_or("(none)"),
                r.date.as_deref().unwrap_or("(none)"),
            );
            if !same_instant(td, rd) {
                differs("the date", td, rd);
            }
            if t.migrations != r.migrations {
                differs(
                    "the migration set",
                    &t.migrations.to_string(),
                    &r.migrations.to_string(),
                );
            }
            if found.is_empty() {
                agreed += 1;
            }
            disagreements.extend(found);
            continue;
        }
        if r.commit.is_none() || r.date.is_none() {
            return Err(Error::invalid_input(format!(
                "release {} in the index has no {}; the tag table needs both",
                r.tag,
                if r.commit.is_none() { "commit" } else { "date" }
            )));
        }
        added.push(r.tag.clone());
        tag_rows.push(TagRow {
            release: r.clone(),
            found_in: index.provenance.source.clone(),
        });
    }
    let mut names: BTreeMap<Version, String> = migration_rows
        .iter()
        .map(|m| (m.version, m.name.clone()))
        .collect();
    let mut added_migrations = Vec::new();
    for (v, name) in index.names() {
        match names.get(v) {
            Some(known) if known != name => disagreements.push(format!(
                "migration {v}: the name is `{known}` in the table but `{name}` in the index"
            )),
            Some(_) => {}
            None => {
                added_migrations.push(*v);
                names.insert(*v, name.clone());
            }
        }
    }
    if !disagreements.is_empty() {
        let shown = 20.min(disagreements.len());
        let mut message = format!(
            "the index disagrees with the verified tables on {} row(s), so nothing was written:\n  {}",
            disagreements.len(),
            disagreements[..shown].join("\n  ")
        );
        if shown < disagreements.len() {
            let _ = write!(message, "\n  ... and {} more", disagreements.len() - shown);
        }
        return Err(Error::invalid_input(message).with_hint(
            "a verified row is never overwritten: find out which side is wrong (a moved tag, \
             a renamed migration, another date) and fix the source or the table by hand",
        ));
    }
    let kept = tag_rows
        .iter()
        .map(|row| row.release.tag.clone())
        .filter(|t| !in_index.contains(t.as_str()))
        .collect();
    tag_rows.sort_by(|a, b| a.release.version().cmp(b.release.version()));
    let releases: Vec<Release> = tag_rows.iter().map(|r| r.release.clone()).collect();
    let before: BTreeMap<Version, &str> = migration_rows
        .iter()
        .map(|m| (m.version, m.first_release.as_str()))
        .collect();
    let mut first_release_moved = Vec::new();
    let rows: Vec<MigrationRow> = names
        .into_iter()
        .map(|(version, name)| {
            let first = first_release(&releases, version)
                .map(|r| r.tag.clone())
                .unwrap_or_default();
            if let Some(old) = before.get(&version) {
                if *old != first {
                    first_release_moved.push((version, old.to_string(), first.clone()));
                }
            }
            MigrationRow {
                version,
                name,
                first_release: first,
            }
        })
        .collect();
    let out = Export {
        tags_tsv: write_tags(&tag_rows),
        migrations_tsv: write_migrations(&rows),
        agreed,
        added,
        kept,
        added_migrations,
        first_release_moved,
    };
    import(&out.tags_tsv, &out.migrations_tsv, "check")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str =
        "v2.0.0\t0123456789abcdef0123456789abcdef01234567\t2023-06-01T00:00:00Z\t3\t1-3\tno\t";

    #[test]
    fn forks_column_is_a_count_or_an_index_source() {
        for ok in ["39", "github", "git"] {
            let rows = parse_tag_rows(&format!("{TAGS_HEADER}\n{ROW}{ok}\n")).unwrap();
            assert_eq!(rows[0].found_in, ok);
        }
        for bad in ["", "GitHub", "3 forks", "-1"] {
            let err = parse_tag_rows(&format!("{TAGS_HEADER}\n{ROW}{bad}\n")).unwrap_err();
            assert!(err.message().contains("forks_carrying_tag"), "{bad}: {err}");
        }
    }

    #[test]
    fn provenance_names_rows_from_an_index_and_the_newest_release() {
        let rows = parse_tag_rows(&format!(
            "{TAGS_HEADER}\n{ROW}39\nv2.1.0\t1123456789abcdef0123456789abcdef01234567\t2023-07-01T08:00:00-05:00\t4\t1-4\tno\tgithub\n"
        ))
        .unwrap();
        let p = bundled_provenance("2023-07-02", &rows);
        assert!(
            p.detail.ends_with(
                "; 1 tag (v2.1.0 to v2.1.0) from GitHub's API for coder/coder (`migtag index update`), \
                 added by `migtag index export` after the index agreed with every verified row; \
                 not included: v2.1.1 and later, and any patch of an older line tagged after \
                 2023-07-01 (the latest tag date in the tables)"
            ),
            "{}",
            p.detail
        );
        assert!(!p.complete);
    }
}
