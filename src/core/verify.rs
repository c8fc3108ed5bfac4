//! `verify`: the row is a claim, the catalog is the evidence. Compares a live catalog with the
//! expected schema of the recorded version (per candidate writer when releases disagree) and
//! attributes every difference to the migration that creates, changes or removes the object.
//! Also the evidence for a dirty row: are the effects of migration V absent, complete or
//! partial? Rules: docs/verify.md.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use super::dirty::DirtyActionKind;
use super::effects::{expected_schema, sequence_for, Effects, MigrationEffects};
use super::identity::{identify, SchemaIdentity};
use super::index::{Index, Release};
use super::migration_set::{MigrationSet, Version};
use super::schema::Catalog;
use super::skips::writers_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaStatus {
    Match,
    Drift,
    /// Not compared (a migration holds the lock, a view could not be read in time, no
    /// expected schema for this set): the reason says why.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectState {
    Complete,
    Absent,
    Partial,
}

/// One object that differs, and the migration it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub object: String,
    /// The migration that creates or last changes it (for an extra object: the later
    /// migration that creates it, or the one that should have removed it); None when no Coder
    /// migration creates it.
    pub migration: Option<Version>,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    pub version: Version,
    pub name: String,
    pub state: EffectState,
    /// Its objects, each with `present`, `missing`, `different` or `extra`.
    pub objects: Vec<ObjectState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectState {
    pub object: String,
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedFor {
    pub version: Version,
    pub releases: Vec<String>,
    pub set: MigrationSet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaReport {
    pub status: SchemaStatus,
    pub expected_for: Option<ExpectedFor>,
    pub missing: Vec<Finding>,
    pub extra: Vec<Finding>,
    pub different: Vec<Finding>,
    /// Migrations whose effects are not exactly in place (not `complete`), and later
    /// migrations whose objects exist (the schema is ahead of the row).
    pub by_migration: Vec<MigrationState>,
    /// Later migrations whose objects exist: the schema is ahead of the row.
    pub ahead: Vec<Version>,
    /// Extra objects no Coder migration creates (warnings, not drift).
    pub warnings: Vec<String>,
    /// One line for humans.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version whose schema this is, found without trusting the row (core::identity).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SchemaIdentity>,
}

impl SchemaReport {
    pub fn skipped(reason: impl Into<String>) -> SchemaReport {
        let reason = reason.into();
        SchemaReport {
            status: SchemaStatus::Skipped,
            expected_for: None,
            missing: vec![],
            extra: vec![],
            different: vec![],
            by_migration: vec![],
            ahead: vec![],
            warnings: vec![],
            summary: format!("not verified: {reason}"),
            reason: Some(reason),
            identity: None,
        }
    }

    pub fn is_drift(&self) -> bool {
        self.status == SchemaStatus::Drift
    }

    fn score(&self) -> usize {
        self.missing.len()
            + self.different.len()
            + self.extra.iter().filter(|f| f.migration.is_some()).count()
    }
}

/// The candidate sets that could have written clean version `v` (or 0 for a database without
/// `schema_migrations`), each with the releases that share it.
pub fn candidates(
    index: &Index,
    v: Version,
    deployed: Option<&Release>,
) -> Vec<(MigrationSet, Vec<String>)> {
    if v == 0 {
        return vec![(MigrationSet::new(), vec![])];
    }
    let mut ignored = Vec::new();
    let mut writers = writers_of(index, v, deployed, &mut ignored);
    if writers.is_empty() {
        // No release stops at v (a forced row): every release containing v would have
        // applied the same set up to v.
        writers = index.releases().iter().filter(|r| r.contains(v)).collect();
    }
    let mut by_set: BTreeMap<String, (MigrationSet, Vec<String>)> = BTreeMap::new();
    for r in writers {
        let set = r.migrations.up_to(v);
        by_set
            .entry(set.to_string())
            .or_insert_with(|| (set.clone(), vec![]))
            .1
            .push(r.tag.clone());
    }
    by_set.into_values().collect()
}

/// Verifies `live` against every candidate writer of `v`: a match with any candidate is a
/// match; otherwise the closest candidate's differences are reported.
pub fn verify(
    effects: &Effects,
    index: &Index,
    v: Version,
    deployed: Option<&Release>,
    live: &Catalog,
) -> SchemaReport {
    let mut best: Option<SchemaReport> = None;
    let mut unknown = Vec::new();
    for (set, releases) in candidates(index, v, deployed) {
        let seq = if v == 0 {
            Some(vec![])
        } else {
            sequence_for(effects, &set)
        };
        let Some(seq) = seq else {
            unknown.push(set.to_string());
            continue;
        };
        let r = compare(effects, &seq, v, &set, releases, live);
        if r.status == SchemaStatus::Match {
            return r;
        }
        if best.as_ref().is_none_or(|b| r.score() < b.score()) {
            best = Some(r);
        }
    }
    best.unwrap_or_else(|| {
        if unknown.is_empty() {
            SchemaReport::skipped(format!("no release in the index contains migration {v}"))
        } else {
            SchemaReport::skipped(format!(
                "the effects in use (up to {:06}) have no replay of the set {}: add it with `{}`",
                effects.provenance.max_migration,
                unknown.join(" / "),
                super::effects::EXTEND_COMMAND
            ))
        }
    })
}

struct Attribution<'a> {
    /// Key -> the migration of the sequence that last added or changed it.
    writer: BTreeMap<&'a str, &'a MigrationEffects>,
    /// Key -> the migration of the sequence that removed it last (and nothing re-added it).
    remover: BTreeMap<&'a str, &'a MigrationEffects>,
}

fn attribute<'a>(seq: &[&'a MigrationEffects]) -> Attribution<'a> {
    let mut writer = BTreeMap::new();
    let mut remover = BTreeMap::new();
    for m in seq {
        for k in &m.diff.removed {
            writer.remove(k.as_str());
            remover.insert(k.as_str(), *m);
        }
        for k in m.diff.added.keys().chain(m.diff.changed.keys()) {
            writer.insert(k.as_str(), *m);
            remover.remove(k.as_str());
        }
    }
    Attribution { writer, remover }
}

/// Compares `live` with the sequence `seq` (the expected schema at `v`).
pub fn compare(
    effects: &Effects,
    seq: &[&MigrationEffects],
    v: Version,
    set: &MigrationSet,
    releases: Vec<String>,
    live: &Catalog,
) -> SchemaReport {
    let expected = expected_schema(seq);
    let attr = attribute(seq);
    // The first later migration (main sequence) that creates or changes each key, with the
    // definition it gives.
    let mut later: BTreeMap<&str, Vec<(&MigrationEffects, &str)>> = BTreeMap::new();
    for m in effects.main.iter().filter(|m| m.version > v) {
        for (k, d) in m.diff.added.iter().chain(m.diff.changed.iter()) {
            later.entry(k.as_str()).or_default().push((m, d.as_str()));
        }
    }
    let finding =
        |k: &str, m: Option<&MigrationEffects>, e: Option<&str>, a: Option<&str>| Finding {
            object: k.to_string(),
            migration: m.map(|m| m.version),
            name: m.map(|m| m.name.clone()),
            expected: e.map(str::to_string),
            actual: a.map(str::to_string),
        };
    let (mut missing, mut extra, mut different) = (vec![], vec![], vec![]);
    let mut per: BTreeMap<Version, (String, Vec<ObjectState>)> = BTreeMap::new();
    let mut note = |m: &MigrationEffects, k: &str, state: &'static str| {
        per.entry(m.version)
            .or_insert_with(|| (m.name.clone(), vec![]))
            .1
            .push(ObjectState {
                object: k.to_string(),
                state,
            });
    };
    let mut ahead = BTreeSet::new();
    for (k, e) in &expected.0 {
        let m = attr.writer.get(k.as_str()).copied();
        match live.get(k) {
            None => {
                missing.push(finding(k, m, Some(e), None));
                if let Some(m) = m {
                    note(m, k, "missing");
                }
            }
            Some(a) if a != e => {
                // A later migration that gives exactly this definition: ahead, not damage.
                let by_later = later
                    .get(k.as_str())
                    .and_then(|l| l.iter().find(|(_, d)| *d == a));
                if let Some((lm, _)) = by_later {
                    ahead.insert(lm.version);
                    note(lm, k, "present");
                    different.push(finding(k, Some(lm), Some(e), Some(a)));
                } else {
                    different.push(finding(k, m, Some(e), Some(a)));
                    if let Some(m) = m {
                        note(m, k, "different");
                    }
                }
            }
            Some(_) => {
                if let Some(m) = m {
                    note(m, k, "present");
                }
            }
        }
    }
    let mut warnings = vec![];
    for (k, a) in &live.0 {
        if expected.0.contains_key(k) {
            continue;
        }
        if let Some(l) = later.get(k.as_str()).and_then(|l| l.first()) {
            ahead.insert(l.0.version);
            note(l.0, k, "present");
            extra.push(finding(k, Some(l.0), None, Some(a)));
        } else if let Some(m) = attr.remover.get(k.as_str()) {
            note(m, k, "extra");
            extra.push(finding(k, Some(m), None, Some(a)));
        } else {
            warnings.push(format!(
                "{k} is not created by any Coder migration (an operator's object?)"
            ));
            extra.push(finding(k, None, None, Some(a)));
        }
    }
    let by_migration: Vec<MigrationState> = per
        .into_iter()
        .filter_map(|(version, (name, objects))| {
            let present = objects.iter().filter(|o| o.state == "present").count();
            let state = if version > v {
                if present == 0 {
                    return None;
                }
                // A later migration: complete when all it creates is there.
                let all = effects
                    .main_effects(version)
                    .map(|m| m.diff.added.keys().all(|k| live.0.contains_key(k)))
                    .unwrap_or(false);
                if all {
                    EffectState::Complete
                } else {
                    EffectState::Partial
                }
            } else if present == objects.len() {
                return None;
            } else if present == 0 {
                EffectState::Absent
            } else {
                EffectState::Partial
            };
            Some(MigrationState {
                version,
                name,
                state,
                objects,
            })
        })
        .collect();
    let drift =
        !missing.is_empty() || !different.is_empty() || extra.iter().any(|f| f.migration.is_some());
    let ahead: Vec<Version> = ahead.into_iter().collect();
    let label = if v == 0 || releases.is_empty() {
        "no migrations".to_string()
    } else {
        format!(
            "migration {v} ({})",
            super::report::short_tags(&releases, super::report::SHORT_TAGS)
        )
    };
    let summary = if !drift {
        let n = warnings.len();
        if n == 0 {
            format!("matches {label}: {} objects", expected.len())
        } else {
            format!("matches {label}: {} objects, plus {n} not created by any Coder migration (warning)", expected.len())
        }
    } else if v == 0 {
        format!(
            "drift: Coder's objects exist but schema_migrations has no row (a partial restore?): {} objects of migrations {}",
            extra.iter().filter(|f| f.migration.is_some()).count(),
            span(&ahead)
        )
    } else if !ahead.is_empty() && missing.is_empty() {
        format!(
            "drift: schema ahead of the row ({v}): objects of later migrations {} exist",
            span(&ahead)
        )
    } else {
        let absent: Vec<Version> = by_migration
            .iter()
            .filter(|m| m.version <= v)
            .map(|m| m.version)
            .collect();
        let mut s = format!(
            "drift against {label}: {} missing, {} different, {} extra; effects of {} not in place",
            missing.len(),
            different.len(),
            extra.iter().filter(|f| f.migration.is_some()).count(),
            span(&absent)
        );
        if !ahead.is_empty() {
            s.push_str(&format!(
                "; schema ahead of the row: objects of later migrations {}",
                span(&ahead)
            ));
        }
        s
    };
    SchemaReport {
        status: if drift {
            SchemaStatus::Drift
        } else {
            SchemaStatus::Match
        },
        expected_for: Some(ExpectedFor {
            version: v,
            releases,
            set: set.clone(),
        }),
        missing,
        extra,
        different,
        by_migration,
        ahead,
        warnings,
        summary,
        reason: None,
        identity: None,
    }
}

/// `000166-000170, 000172` for a sorted list of versions.
pub fn span(vs: &[Version]) -> String {
    if vs.is_empty() {
        return "none".into();
    }
    MigrationSet::from_versions(vs.iter().copied())
        .ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{a:06}")
            } else {
                format!("{a:06}-{b:06}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The evidence for a dirty row at V: are V's effects absent, complete or partial?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirtyEvidence {
    pub version: Version,
    pub name: String,
    /// None when V changes no catalog object (a data migration): the catalog cannot tell.
    pub state: Option<EffectState>,
    /// V's effects that are in place.
    pub present: Vec<String>,
    /// V's effects that are not.
    pub not_present: Vec<String>,
    /// V's `.down.sql` statements, for a human to review when partial.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub down_statements: Vec<String>,
    pub summary: String,
}

/// Checks V's effects (from the sequence of the writer's set) against `live`.
pub fn dirty_evidence(
    effects: &Effects,
    seq_to_prev: &[&MigrationEffects],
    m: &MigrationEffects,
    live: &Catalog,
) -> DirtyEvidence {
    let (mut present, mut not_present) = (vec![], vec![]);
    for (k, d) in m.diff.added.iter().chain(m.diff.changed.iter()) {
        match live.get(k) {
            Some(a) if a == d => present.push(format!("{k}: {d}")),
            _ => not_present.push(format!("{k}: {d}")),
        }
    }
    for k in &m.diff.removed {
        if live.0.contains_key(k) {
            not_present.push(format!("{k}: removed"));
        } else {
            present.push(format!("{k}: removed"));
        }
    }
    // An object in neither V's nor P's state is drift of the schema below V (reported by the
    // comparison); it does not make V partial on its own.
    let _ = seq_to_prev;
    let state = if m.diff.is_empty() {
        None
    } else if not_present.is_empty() {
        Some(EffectState::Complete)
    } else if present.is_empty() {
        Some(EffectState::Absent)
    } else {
        Some(EffectState::Partial)
    };
    let label = format!("{:06} {}", m.version, m.name);
    let summary = match state {
        None => format!("{label} changes no catalog object (a data migration): the schema cannot say whether it ran"),
        Some(EffectState::Complete) => format!("effects of {label} complete: all {} in place", present.len()),
        Some(EffectState::Absent) => format!("effects of {label} absent: none of its {} in place", not_present.len()),
        Some(EffectState::Partial) => format!(
            "effects of {label} partial: {} of {} in place",
            present.len(),
            present.len() + not_present.len()
        ),
    };
    DirtyEvidence {
        version: m.version,
        name: m.name.clone(),
        down_statements: if state == Some(EffectState::Partial) {
            effects.down.get(&m.version).cloned().unwrap_or_default()
        } else {
            vec![]
        },
        state,
        present,
        not_present,
        summary,
    }
}

/// Verification of one database state: the schema report, and for a dirty row the evidence
/// about its migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub schema: SchemaReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<DirtyEvidence>,
    /// What to do about a dirty row, decided by the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_action: Option<DirtyAction>,
}

/// The evidence's answer for a dirty row at V.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirtyAction {
    pub kind: DirtyActionKind,
    /// The compare-and-set to run, when the evidence decides one.
    pub sql: Option<String>,
    pub explanation: String,
}

impl Assessment {
    pub fn skipped(reason: impl Into<String>) -> Assessment {
        Assessment::plain(SchemaReport::skipped(reason))
    }

    fn plain(schema: SchemaReport) -> Assessment {
        Assessment {
            schema,
            dirty: None,
            dirty_action: None,
        }
    }
}

/// Turns the evidence into the action (see [`DirtyAction`]).
pub fn dirty_action(e: &DirtyEvidence, prev: Option<Version>) -> DirtyAction {
    let v = e.version;
    match e.state {
        Some(EffectState::Absent) => DirtyAction {
            kind: DirtyActionKind::CleanupToPrevious,
            sql: Some(super::dirty::cleanup_sql(v, prev)),
            explanation: format!("none of {v:06}'s effects exist: reset the row to the previous migration, then the image re-runs {v:06}"),
        },
        Some(EffectState::Complete) => DirtyAction {
            kind: DirtyActionKind::KeepAndClear,
            sql: Some(super::dirty::keep_sql(v)),
            explanation: format!("all of {v:06}'s effects exist: it finished, so keep {v} and clear only the flag (re-running it would fail on objects that exist)"),
        },
        Some(EffectState::Partial) => DirtyAction {
            kind: DirtyActionKind::Review,
            sql: None,
            explanation: format!(
                "{v:06} is half-applied: neither re-running it nor keeping it is safe; review what exists and its .down.sql statements, undo by hand, then reset the row to the previous migration. migtag runs no repair here"
            ),
        },
        None => DirtyAction {
            kind: DirtyActionKind::Unknown,
            sql: None,
            explanation: format!("{v:06} changes no catalog object, so the schema cannot tell whether it ran: follow the clean-up to the previous migration after checking its data changes"),
        },
    }
}

/// Verifies `live` against what the state claims. Fresh compares with no migrations at all (so
/// Coder's objects without a row are drift: a partial restore), dirty V weighs V's effects.
pub fn assess(
    effects: &Effects,
    index: &Index,
    state: &super::state::DbState,
    deployed: Option<&Release>,
    live: &Catalog,
) -> Assessment {
    use super::state::DbState;
    let identity = || identify(effects, index, live, state.version());
    let mut a = match state {
        DbState::Fresh => Assessment::plain(verify(effects, index, 0, None, live)),
        DbState::Clean(v) => {
            let id = identity();
            let mut r = verify(effects, index, *v, deployed, live);
            // The row's version is exactly this schema on a sequence the candidates did not
            // try (older contents a release shipped): that sequence's comparison is the one.
            if r.status == SchemaStatus::Drift && id.is_exactly(*v) {
                if let Some(m) = super::identity::comparison(effects, index, &id, live) {
                    r = m;
                }
            }
            Assessment::plain(r)
        }
        DbState::Dirty(v) => assess_dirty(effects, index, *v, live),
        DbState::V1 => {
            return Assessment::skipped(
                "a v1 database (migration_cursor): its schema predates the index",
            )
        }
        DbState::InProgress(_) => {
            return Assessment::skipped("a migration holds Coder's lock: the schema is changing")
        }
    };
    a.schema.identity = Some(identity());
    a
}

fn assess_dirty(effects: &Effects, index: &Index, v: Version, live: &Catalog) -> Assessment {
    let mut sets: Vec<(MigrationSet, Vec<String>)> = Vec::new();
    for r in index.releases().iter().filter(|r| r.contains(v)) {
        let set = r.migrations.up_to(v);
        match sets.iter_mut().find(|(s, _)| *s == set) {
            Some((_, tags)) => tags.push(r.tag.clone()),
            None => sets.push((set, vec![r.tag.clone()])),
        }
    }
    // The main sequence first: most writers share it.
    sets.sort_by_key(|(s, _)| s.ranges().len());
    for (set, releases) in sets {
        let Some(seq) = sequence_for(effects, &set) else {
            continue;
        };
        let Some((m, before)) = seq.split_last() else {
            continue;
        };
        let evidence = dirty_evidence(effects, before, m, live);
        let prev = set.prev(v).unwrap_or(0);
        let schema = match evidence.state {
            Some(EffectState::Absent) => {
                compare(effects, before, prev, &set.up_to(prev), releases, live)
            }
            _ => compare(effects, &seq, v, &set, releases, live),
        };
        let action = dirty_action(&evidence, set.prev(v));
        return Assessment {
            schema,
            dirty: Some(evidence),
            dirty_action: Some(action),
        };
    }
    Assessment::skipped(format!("no replayed release set contains migration {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::effects::fixtures::{self, catalog as cat, migration as m};

    fn effects() -> Effects {
        fixtures::effects(
            vec![
                m(1, &[("table t", "table"), ("column t.a", "int")], &[]),
                m(2, &[("index i", "CREATE INDEX i ON t (a)")], &[]),
                m(3, &[("column t.b", "text")], &["index i"]),
                m(4, &[("table u", "table")], &[]),
            ],
            [(3, vec!["ALTER TABLE t DROP COLUMN b".to_string()])]
                .into_iter()
                .collect(),
        )
    }

    fn at(e: &Effects, v: Version, live: &Catalog) -> SchemaReport {
        let seq: Vec<&MigrationEffects> = e.main.iter().filter(|x| x.version <= v).collect();
        compare(
            e,
            &seq,
            v,
            &MigrationSet::range(1, v),
            vec!["vX".into()],
            live,
        )
    }

    #[test]
    fn match_with_an_operator_object_is_a_warning() {
        let e = effects();
        let live = cat(&[
            ("table t", "table"),
            ("column t.a", "int"),
            ("column t.b", "text"),
            ("index mine", "x"),
        ]);
        let r = at(&e, 3, &live);
        assert_eq!(r.status, SchemaStatus::Match, "{r:#?}");
        assert_eq!(r.extra[0].migration, None);
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn missing_removal_and_later_objects_are_attributed() {
        let e = effects();
        // At 3: index i should be gone (removed by 3), column b missing (added by 3), and
        // table u exists (created by 4: ahead).
        let live = cat(&[
            ("table t", "table"),
            ("column t.a", "int"),
            ("index i", "CREATE INDEX i ON t (a)"),
            ("table u", "table"),
        ]);
        let r = at(&e, 3, &live);
        assert_eq!(r.status, SchemaStatus::Drift);
        assert_eq!(r.missing[0].object, "column t.b");
        assert_eq!(r.missing[0].migration, Some(3));
        let extra: Vec<(String, Option<Version>)> = r
            .extra
            .iter()
            .map(|f| (f.object.clone(), f.migration))
            .collect();
        assert!(extra.contains(&("index i".into(), Some(3))), "{extra:?}");
        assert!(extra.contains(&("table u".into(), Some(4))), "{extra:?}");
        assert_eq!(r.ahead, vec![4]);
        let three = r.by_migration.iter().find(|s| s.version == 3).unwrap();
        assert_eq!(three.state, EffectState::Absent);
    }

    #[test]
    fn dirty_evidence_is_absent_complete_or_partial() {
        let e = effects();
        let seq: Vec<&MigrationEffects> = e.main.iter().filter(|x| x.version <= 2).collect();
        let three = &e.main[2];
        let before = cat(&[
            ("table t", "table"),
            ("column t.a", "int"),
            ("index i", "CREATE INDEX i ON t (a)"),
        ]);
        assert_eq!(
            dirty_evidence(&e, &seq, three, &before).state,
            Some(EffectState::Absent)
        );
        let after = cat(&[
            ("table t", "table"),
            ("column t.a", "int"),
            ("column t.b", "text"),
        ]);
        assert_eq!(
            dirty_evidence(&e, &seq, three, &after).state,
            Some(EffectState::Complete)
        );
        let half = cat(&[
            ("table t", "table"),
            ("column t.a", "int"),
            ("column t.b", "text"),
            ("index i", "CREATE INDEX i ON t (a)"),
        ]);
        let ev = dirty_evidence(&e, &seq, three, &half);
        assert_eq!(ev.state, Some(EffectState::Partial));
        assert_eq!(
            ev.down_statements,
            vec!["ALTER TABLE t DROP COLUMN b".to_string()]
        );
        let action = dirty_action(&ev, Some(2));
        assert_eq!(action.kind, DirtyActionKind::Review);
        assert!(action.sql.is_none());
        assert_eq!(
            dirty_action(&dirty_evidence(&e, &seq, three, &after), Some(2))
                .sql
                .as_deref(),
            Some("UPDATE schema_migrations SET dirty = false WHERE version = 3 AND dirty;")
        );
    }
}
