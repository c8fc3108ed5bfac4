//! Small serialisable pieces that several reports share: a migration with its name, a
//! release with its image, the index's provenance, a "would be skipped" finding.

use std::fmt;

use serde::Serialize;

use super::index::{Index, Release};
use super::migration_set::{MigrationSet, Version};

/// A migration number with its name when the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationRef {
    pub version: Version,
    pub name: Option<String>,
}

impl MigrationRef {
    pub fn new(index: &Index, version: Version) -> Self {
        MigrationRef {
            version,
            name: index.name(version).map(str::to_string),
        }
    }

    pub fn list(index: &Index, set: &MigrationSet) -> Vec<MigrationRef> {
        set.iter().map(|v| MigrationRef::new(index, v)).collect()
    }
}

impl fmt::Display for MigrationRef {
    /// `000371 api_key_scopes_array_allow_list`, the way the migration files are named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{:06} {name}", self.version),
            None => write!(f, "{:06}", self.version),
        }
    }
}

/// A release with its full image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    pub tag: String,
    pub image: String,
    pub max_migration: Version,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prerelease: bool,
}

impl ReleaseRef {
    pub fn new(index: &Index, release: &Release) -> Self {
        ReleaseRef {
            tag: release.tag.clone(),
            image: index.image(&release.tag),
            max_migration: release.max_migration,
            prerelease: release.prerelease,
        }
    }
}

/// Which index answered, so every answer can say how much to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexView {
    /// Where this copy of the index was read: `--index` file, cache, or bundled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,
    pub source: String,
    pub detail: String,
    pub generated_at: String,
    pub complete: bool,
    pub releases: usize,
    pub newest_tag: Option<String>,
    /// The date of `newest_tag` (the highest version).
    pub newest_tag_date: Option<String>,
    /// The latest date of any tag (a patch of an older line can be newer than the newest tag).
    pub latest_tag_date: Option<String>,
    pub max_migration: Option<Version>,
    /// Whole days since `generated_at` when the answer was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
}

impl IndexView {
    pub fn new(index: &Index) -> Self {
        IndexView {
            used: index.loaded_from.clone(),
            source: index.provenance.source.clone(),
            detail: index.provenance.detail.clone(),
            generated_at: index.provenance.generated_at.clone(),
            complete: index.provenance.complete,
            releases: index.releases().len(),
            newest_tag: index.releases().last().map(|r| r.tag.clone()),
            newest_tag_date: index.releases().last().and_then(|r| r.date.clone()),
            latest_tag_date: index.newest_date().map(str::to_string),
            max_migration: index.max_known_migration(),
            age_days: index.age_days,
        }
    }
}

/// Migrations that golang-migrate would never run when moving from `assumes` to a target:
/// they are in the target's set, at or below the database version, and absent from the
/// binary that wrote the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkipFinding {
    /// The releases assumed to have written the database (they agree on what they lack).
    pub assumes: Vec<String>,
    pub migrations: Vec<MigrationRef>,
    /// True when every skipped migration is known to be harmless to skip.
    pub harmless: bool,
}

/// Migrations known to be safe to skip, with the reason (see `docs/coder.md`,
/// "Irregular releases"). Anything not listed here counts as a real schema gap.
pub const HARMLESS_TO_SKIP: &[(Version, &str)] = &[(
    311,
    "000311 only rewrites a notification template's text (docs/coder.md, irregular release 1)",
)];

pub fn is_harmless_to_skip(v: Version) -> bool {
    HARMLESS_TO_SKIP.iter().any(|(h, _)| *h == v)
}

/// The day of an index date (`2026-08-04` of `2026-08-04T10:00:00Z`). Dates are validated
/// when an index loads; `get` keeps even an unvalidated one from panicking.
pub fn day_of(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

/// How many tags a short list shows before it folds into a count.
pub const SHORT_TAGS: usize = 6;

/// The shorter fold the repair reports use (one line per candidate clean-up).
pub const FEW_TAGS: usize = 4;

/// How many releases a verdict's list names before `and N more`.
pub const LISTED_RELEASES: usize = 12;

/// At most `max` tags, else the first three, the last and a count:
/// `v2.22.0, v2.22.1, v2.23.0, ... v2.36.0 (139 releases)`.
pub fn short_tags<S: AsRef<str>>(tags: &[S], max: usize) -> String {
    let join = |t: &[S]| t.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    if tags.len() > max {
        return format!(
            "{}, ... {} ({} releases)",
            join(&tags[..3]),
            tags[tags.len() - 1].as_ref(),
            tags.len()
        );
    }
    join(tags)
}

/// `v2.30.0, v2.30.1, v2.31.0`: the first [`LISTED_RELEASES`] tags, then `and N more`.
pub fn release_tags(releases: &[&Release]) -> String {
    let tags: Vec<&str> = releases.iter().map(|r| r.tag.as_str()).collect();
    if tags.len() > LISTED_RELEASES {
        let more = tags.len() - LISTED_RELEASES;
        return format!("{} and {more} more", tags[..LISTED_RELEASES].join(", "));
    }
    tags.join(", ")
}
