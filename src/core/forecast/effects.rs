//! The one adapter from the replayed effects of a migration (`core::effects`, measured by
//! `migtag index effects`) to the forecast's [`MigrationFacts`]: which of the recorded facts
//! count as which kind of work.

use super::{LockMode, MigrationFacts};
use crate::core::effects::{Effects, MigrationEffects};
use crate::core::index::parse_tag;
use crate::core::migration_set::Version;

impl From<&MigrationEffects> for MigrationFacts {
    fn from(e: &MigrationEffects) -> Self {
        let mut locks: Vec<(String, LockMode)> = e
            .locks
            .iter()
            .filter_map(|l| {
                let (table, mode) = l.rsplit_once(' ')?;
                Some((table.to_string(), LockMode::parse(mode)?))
            })
            .collect();
        // A table the migration drops is gone from pg_locks' view by the time the replay
        // reads it (the lock is on an OID no relation has any more), yet DROP TABLE holds
        // ACCESS EXCLUSIVE on it until COMMIT: every Coder query on it waits for the batch.
        if let Some(exclusive) = LockMode::parse("AccessExclusiveLock") {
            for table in e
                .diff
                .removed
                .iter()
                .filter_map(|k| k.strip_prefix("table "))
            {
                if !locks.iter().any(|(t, _)| t == table) {
                    locks.push((table.to_string(), exclusive));
                }
            }
        }
        let strongest = |table: &str| {
            locks
                .iter()
                .filter(|(t, _)| t == table)
                .map(|(_, m)| *m)
                .max()
        };
        let changed = |t: &&crate::core::effects::TableActivity| t.updated + t.deleted > 0;
        let creates_tables = e.diff.added.keys().any(|k| k.starts_with("table "));
        let of = |keep: fn(&crate::core::effects::TableActivity) -> bool| -> Vec<String> {
            e.tables
                .iter()
                .filter(|t| keep(t))
                .map(|t| t.table.clone())
                .collect()
        };
        MigrationFacts {
            version: e.version,
            name: e.name.clone(),
            // Views too: a view the batch creates and a later migration replaces is locked
            // by it, but it is not there for Coder to wait on before the batch.
            creates: e
                .diff
                .added
                .keys()
                .filter_map(|k| {
                    k.strip_prefix("table ")
                        .or_else(|| k.strip_prefix("view "))
                        .or_else(|| k.strip_prefix("matview "))
                })
                .map(str::to_string)
                .collect(),
            rewrites: e.rewrites.clone(),
            index_builds: e
                .index_builds
                .iter()
                .filter_map(|b| {
                    let (index, table) = b.split_once(" on ")?;
                    Some((index.to_string(), table.to_string()))
                })
                .collect(),
            // A read counts as a full scan only under a schema-changing lock (a constraint
            // being validated): the replay records reads without telling an index lookup (a
            // foreign-key check of one inserted row) from a sequential scan. A table held only
            // in SHARE ROW EXCLUSIVE by a migration that creates tables is the target of a
            // new table's foreign key: validating it reads the new, empty table, and the
            // replay's read of the target is the small-table plan of that check.
            scans: e
                .tables
                .iter()
                .filter(|t| t.scanned && !changed(t))
                .filter(|t| strongest(&t.table) >= Some(LockMode::ShareUpdateExclusive))
                .filter(|t| {
                    !(creates_tables && strongest(&t.table) == Some(LockMode::ShareRowExclusive))
                })
                .map(|t| t.table.clone())
                .collect(),
            catalog_objects: e.diff.added.len() + e.diff.removed.len() + e.diff.changed.len(),
            updates: of(|t| t.updated > 0),
            deletes: of(|t| t.updated == 0 && t.deleted > 0),
            steps: e.steps.clone(),
            locks,
        }
    }
}

/// The effects of migration `v` as release `tag` ships it: an older content recorded as a
/// variant when `tag` lies within the variant's first..last tags (000371 gained a purge of
/// old API keys after v2.28.4, so v2.27.0 ships the older content), else the main content.
pub fn shipped_effects<'a>(
    effects: &'a Effects,
    v: Version,
    tag: &str,
) -> Option<&'a MigrationEffects> {
    let at = |t: &str| parse_tag(t).ok();
    let release = at(tag);
    effects
        .variants
        .iter()
        .filter(|x| x.effects.version == v && x.error.is_none())
        .filter(|x| match (at(&x.first_tag), at(&x.last_tag), &release) {
            (Some(first), Some(last), Some(r)) => first <= *r && *r <= last,
            _ => false,
        })
        .min_by_key(|x| x.tag_count)
        .map(|x| &x.effects)
        .or_else(|| effects.main_effects(v))
}

/// The effects of each migration of a release's set as the release ships it: a set that is
/// not a prefix of the main sequence (a recorded irregular one) has its own contents;
/// otherwise each migration's content at `tag` ([`shipped_effects`]). None for a migration
/// the effects data does not have.
pub fn release_effects<'a>(
    effects: &'a Effects,
    set: &crate::core::migration_set::MigrationSet,
    tag: &str,
) -> impl Fn(Version) -> Option<&'a MigrationEffects> + use<'a> {
    use crate::core::migration_set::MigrationSet;
    let regular = set
        .max()
        .is_some_and(|max| *set == MigrationSet::range(1, max));
    let own: std::collections::BTreeMap<Version, &'a MigrationEffects> = if regular {
        Default::default()
    } else {
        crate::core::effects::sequence_for(effects, set)
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.version, m))
            .collect()
    };
    let tag = tag.to_string();
    move |v| {
        own.get(&v)
            .copied()
            .or_else(|| shipped_effects(effects, v, &tag))
    }
}
