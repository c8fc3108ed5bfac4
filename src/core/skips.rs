//! Which binary wrote the database, and what golang-migrate would therefore skip.
//!
//! golang-migrate only applies migrations above the recorded version. Moving a database
//! written by release A to release T never runs the migrations of T that are at or below the
//! recorded version V and absent from A. Real tags make this matter (v2.21.1 -> v2.22.0 skips
//! 000314 and 000315), so every recommendation and gate names the skips, per assumed writer.

use super::index::{Index, Release};
use super::migration_set::{MigrationSet, Version};
use super::report::{is_harmless_to_skip, MigrationRef, SkipFinding};

/// The releases assumed to have written clean version `v`: the deployed tag when the caller
/// names one that stops exactly at `v`, else every release (pre-releases included) that
/// stops at `v`.
pub fn writers_of<'a>(
    index: &'a Index,
    v: Version,
    deployed: Option<&'a Release>,
    warnings: &mut Vec<String>,
) -> Vec<&'a Release> {
    if let Some(d) = deployed {
        // A binary that ships migrations above V would have applied them (or left the row
        // dirty): a clean V can only come from a release that stops exactly at V.
        if d.max_migration == v && d.contains(v) {
            return vec![d];
        }
        warnings.push(if d.contains(v) {
            format!(
                "the deployed {} stops at {:06}, not {v}: it has not finished migrating this database, so it did not write it; \
                 assuming instead every release that stops at {v}",
                d.tag, d.max_migration
            )
        } else {
            format!(
                "the deployed {} does not contain migration {v}, so it did not write this database; \
                 assuming instead every release that stops at {v}",
                d.tag
            )
        });
    }
    index
        .releases()
        .iter()
        .filter(|r| r.max_migration == v && r.contains(v))
        .collect()
}

/// What moving from each assumed writer to `target` at version `v` would skip, grouped by
/// writers that agree. Empty when nothing is skipped (or no writer is known).
pub fn skip_findings(
    index: &Index,
    target: &Release,
    v: Version,
    writers: &[&Release],
) -> Vec<SkipFinding> {
    let below = target.migrations.up_to(v);
    let mut groups: Vec<(MigrationSet, Vec<String>)> = Vec::new();
    for w in writers {
        let skipped = below.difference(&w.migrations);
        if skipped.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(s, _)| *s == skipped) {
            Some((_, tags)) => tags.push(w.tag.clone()),
            None => groups.push((skipped, vec![w.tag.clone()])),
        }
    }
    groups
        .into_iter()
        .map(|(set, assumes)| SkipFinding {
            harmless: set.iter().all(is_harmless_to_skip),
            migrations: MigrationRef::list(index, &set),
            assumes,
        })
        .collect()
}
