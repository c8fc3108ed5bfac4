//! Schema identity: the live catalog names its own version, without trusting the row.
//!
//! The expected schema after every migration is known from the replayed effects (the main
//! sequence, the irregular release sets, and the older contents some releases shipped). One
//! walk along each of those sequences keeps the number of objects that differ from the live
//! catalog up to date as each migration's diff is applied, so every version's distance costs
//! only the keys its migration touches: no version's schema is ever built in full. Distance 0
//! is an exact identity; otherwise the smallest distance is the nearest. Rules:
//! docs/verify.md ("Schema identity").

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::effects::{Effects, MigrationEffects};
use super::index::{parse_tag, Index};
use super::migration_set::{MigrationSet, Version};
use super::schema::Catalog;
use super::verify::{compare, span, Finding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The live schema equals the expected schema of `versions` (more than one when the
    /// migrations between them change only data).
    Exact,
    /// No version's schema equals it: `version` is the one with the fewest differences.
    Nearest,
    /// Not Coder's schema: none of the objects Coder's migrations create exist, or no version
    /// is closer than an empty schema.
    None,
}

/// The replayed sequence a version's expected schema comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lineage {
    /// Coder's main sequence, each migration as its newest release ships it.
    Main,
    /// A release set that is not a prefix of the main sequence (v2.21.x), replayed as its own.
    Irregular { releases: Vec<String> },
    /// The main sequence with the older contents of `migrations`, as `releases` shipped them.
    Variant {
        releases: Vec<String>,
        migrations: Vec<Version>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    Missing,
    Extra,
    Different,
}

/// One object by which the live schema differs from the nearest version's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub kind: DifferenceKind,
    #[serde(flatten)]
    pub finding: Finding,
    /// DDL that would restore the object as the migration left it, where the recorded
    /// definition gives it; a suggestion for a human to review, never run by migtag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaIdentity {
    pub identity: IdentityKind,
    /// The version the schema is (exact) or is closest to (nearest): for a run of versions
    /// with the same schema, the row's version when it is one of them, else the highest.
    pub version: Option<Version>,
    /// Every version whose expected schema is at `distance` on the same sequence.
    pub versions: Vec<Version>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// Objects that differ from `version`'s expected schema (0 for exact; for none, how many
    /// of Coder's objects exist at all).
    pub distance: usize,
    /// The migrations of `versions` above the lowest: they change only data, so the catalog
    /// cannot tell them apart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_only: Vec<Version>,
    /// For nearest: what differs, each with the migration it belongs to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// Objects no Coder migration creates (an operator's index, an extension): not counted.
    pub foreign_objects: usize,
    /// One line for humans.
    #[serde(rename = "identity_summary")]
    pub summary: String,
}

impl SchemaIdentity {
    pub fn is_exact(&self) -> bool {
        self.identity == IdentityKind::Exact
    }

    /// Whether `v` is one of the versions this schema exactly is.
    pub fn is_exactly(&self, v: Version) -> bool {
        self.is_exact() && self.versions.contains(&v)
    }
}

/// One replayed sequence: the steps in order, the release set they form, and its label.
struct Path<'a> {
    lineage: Lineage,
    steps: Vec<&'a MigrationEffects>,
}

impl Path<'_> {
    fn set(&self) -> MigrationSet {
        MigrationSet::from_versions(self.steps.iter().map(|m| m.version))
    }
}

/// Every sequence a Coder database can have been written by: main first, so that ties go to
/// it.
fn paths<'a>(effects: &'a Effects, index: &Index) -> Vec<Path<'a>> {
    let mut out = vec![Path {
        lineage: Lineage::Main,
        steps: effects.main.iter().collect(),
    }];
    for irr in &effects.irregular {
        let mut steps: Vec<&MigrationEffects> = effects
            .main
            .iter()
            .filter(|m| m.version <= irr.base)
            .collect();
        steps.extend(irr.migrations.iter());
        out.push(Path {
            lineage: Lineage::Irregular {
                releases: irr.releases.clone(),
            },
            steps,
        });
    }
    // Releases that shipped older contents: grouped by the exact combination they shipped.
    let bounds: Vec<Option<(semver::Version, semver::Version)>> = effects
        .variants
        .iter()
        .map(
            |x| match (parse_tag(&x.first_tag), parse_tag(&x.last_tag)) {
                (Ok(a), Ok(b)) if x.error.is_none() => Some((a, b)),
                _ => None,
            },
        )
        .collect();
    let mut combos: BTreeMap<Vec<usize>, (Vec<String>, Version)> = BTreeMap::new();
    for r in index.releases() {
        let max = r.max_migration;
        if r.migrations != MigrationSet::range(1, max) {
            continue;
        }
        let used: Vec<usize> = effects
            .variants
            .iter()
            .enumerate()
            .filter(|(i, x)| {
                r.contains(x.effects.version)
                    && bounds[*i]
                        .as_ref()
                        .is_some_and(|(a, b)| a <= r.version() && r.version() <= b)
            })
            .map(|(i, _)| i)
            .collect();
        if used.is_empty() {
            continue;
        }
        let e = combos.entry(used).or_insert_with(|| (vec![], 0));
        e.0.push(r.tag.clone());
        e.1 = e.1.max(max);
    }
    for (used, (releases, max)) in combos {
        let by_version: HashMap<Version, &MigrationEffects> = used
            .iter()
            .map(|&i| {
                let x = &effects.variants[i].effects;
                (x.version, x)
            })
            .collect();
        let steps = effects
            .main
            .iter()
            .filter(|m| m.version <= max)
            .map(|m| by_version.get(&m.version).copied().unwrap_or(m))
            .collect();
        let mut migrations: Vec<Version> = by_version.keys().copied().collect();
        migrations.sort_unstable();
        out.push(Path {
            lineage: Lineage::Variant {
                releases,
                migrations,
            },
            steps,
        });
    }
    out
}

/// The keys any replayed migration creates or changes: what identity counts. Everything
/// else in the live catalog belongs to someone else.
fn coder_keys(effects: &Effects) -> HashSet<&str, std::hash::BuildHasherDefault<Fnv>> {
    let all = effects
        .main
        .iter()
        .chain(effects.irregular.iter().flat_map(|i| i.migrations.iter()))
        .chain(effects.variants.iter().map(|v| &v.effects));
    let mut keys = HashSet::default();
    for m in all {
        keys.extend(m.diff.added.keys().map(String::as_str));
        keys.extend(m.diff.changed.keys().map(String::as_str));
    }
    keys
}

/// FNV-1a: the walks hash short keys tens of thousands of times per run, where SipHash's
/// resistance to chosen keys buys nothing (the keys are Coder's object names).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf29ce484222325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}

type Map<'a> = HashMap<&'a str, &'a str, std::hash::BuildHasherDefault<Fnv>>;

/// The distance from `live` after each step of `steps`: `(version, distance)`, in order.
fn walk<'a>(steps: &[&'a MigrationEffects], live: &Map<'_>) -> Vec<(Version, usize)> {
    let mut expected: Map<'a> = Map::default();
    // Before any migration nothing is expected: every live object differs.
    let mut distance = live.len() as isize;
    let mut out = Vec::with_capacity(steps.len());
    for m in steps {
        for k in &m.diff.removed {
            distance += touch(&mut expected, live, k, None);
        }
        for (k, d) in m.diff.added.iter().chain(m.diff.changed.iter()) {
            distance += touch(&mut expected, live, k, Some(d));
        }
        out.push((m.version, distance.max(0) as usize));
    }
    out
}

/// Sets (or removes) the expected definition of `k`; returns how the distance changes.
fn touch<'a>(expected: &mut Map<'a>, live: &Map<'_>, k: &'a str, new: Option<&'a str>) -> isize {
    let now = live.get(k).copied();
    let before = expected.get(k).copied() != now;
    match new {
        Some(d) => expected.insert(k, d),
        None => expected.remove(k),
    };
    let after = expected.get(k).copied() != now;
    after as isize - before as isize
}

/// The comparison of `live` with the expected schema of `id`'s version on `id`'s sequence
/// (None when the sequence is not among the replayed ones).
pub fn comparison(
    effects: &Effects,
    index: &Index,
    id: &SchemaIdentity,
    live: &Catalog,
) -> Option<super::verify::SchemaReport> {
    let v = id.version?;
    let lineage = id.lineage.as_ref()?;
    let path = paths(effects, index)
        .into_iter()
        .find(|p| p.lineage == *lineage)?;
    let seq: Vec<&MigrationEffects> = path
        .steps
        .iter()
        .copied()
        .filter(|m| m.version <= v)
        .collect();
    let releases = match lineage {
        Lineage::Main => index
            .releases()
            .iter()
            .filter(|r| r.max_migration == v && r.migrations == MigrationSet::range(1, v))
            .map(|r| r.tag.clone())
            .collect(),
        Lineage::Irregular { releases } | Lineage::Variant { releases, .. } => releases.clone(),
    };
    Some(compare(
        effects,
        &seq,
        v,
        &path.set().up_to(v),
        releases,
        live,
    ))
}

/// Names the version whose expected schema `live` is. `row` (the recorded version, if any)
/// only breaks ties between versions with the same schema.
pub fn identify(
    effects: &Effects,
    index: &Index,
    live: &Catalog,
    row: Option<Version>,
) -> SchemaIdentity {
    let keys = coder_keys(effects);
    let coder: Map<'_> = live
        .0
        .iter()
        .filter(|(k, _)| keys.contains(k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let foreign_objects = live.len() - coder.len();
    if coder.is_empty() {
        return none(
            foreign_objects,
            "no object that a Coder migration creates exists: not Coder's schema (an empty database is fresh)",
        );
    }
    let paths = paths(effects, index);
    let walks: Vec<Vec<(Version, usize)>> = paths.iter().map(|p| walk(&p.steps, &coder)).collect();
    let best = walks
        .iter()
        .flat_map(|w| w.iter().map(|&(_, d)| d))
        .min()
        .unwrap_or(usize::MAX);
    if best >= coder.len() {
        let mut id = none(
            foreign_objects,
            &format!(
                "no Coder version is closer to this schema than an empty one ({} of Coder's objects exist, none in the shape of any version)",
                coder.len()
            ),
        );
        // Coder's objects that exist, none of them in place: what the drift counts.
        id.distance = coder.len();
        return id;
    }
    // The sequence to report: the one holding the row at the best distance, else the first
    // (main before irregular before variants) that reaches it.
    let at_best = |w: &Vec<(Version, usize)>| -> Vec<Version> {
        w.iter()
            .filter(|&&(_, d)| d == best)
            .map(|&(v, _)| v)
            .collect()
    };
    let chosen = row
        .and_then(|r| walks.iter().position(|w| at_best(w).contains(&r)))
        .or_else(|| walks.iter().position(|w| !at_best(w).is_empty()))
        .unwrap_or(0);
    let path = &paths[chosen];
    let own = at_best(&walks[chosen]);
    let version = row
        .filter(|r| own.contains(r))
        .or_else(|| own.last().copied());
    let data_only: Vec<Version> = match own.first() {
        Some(&lo) => own.iter().copied().filter(|&v| v > lo).collect(),
        None => vec![],
    };
    // An exact schema can be more than one sequence's at once (v2.21.1's 316 is main's 313:
    // 311 and 316 change only data): every version it exactly is, whatever wrote it.
    let mut versions: Vec<Version> = own.clone();
    if best == 0 {
        for w in &walks {
            versions.extend(at_best(w));
        }
        versions.sort_unstable();
        versions.dedup();
    }
    let elsewhere: Vec<Version> = versions
        .iter()
        .copied()
        .filter(|v| !own.contains(v))
        .collect();
    let lineage_text = match &path.lineage {
        Lineage::Main => String::new(),
        Lineage::Irregular { releases } => format!(" (as {} wrote it)", releases.join(", ")),
        Lineage::Variant {
            releases,
            migrations,
        } => format!(
            " (with the contents of {} that {} shipped)",
            span(migrations),
            super::report::short_tags(releases, super::report::SHORT_TAGS)
        ),
    };
    if best == 0 {
        let v = version.unwrap_or(0);
        let mut run = if data_only.is_empty() {
            String::new()
        } else {
            format!(
                "; {} change only data, so the catalog cannot tell {} apart",
                span(&data_only),
                span(&own)
            )
        };
        if !elsewhere.is_empty() {
            run.push_str(&format!(
                "; it is also the schema another release set leaves at {}",
                span(&elsewhere)
            ));
        }
        return SchemaIdentity {
            identity: IdentityKind::Exact,
            version,
            summary: format!(
                "this is migration {v:06}'s schema{lineage_text}: {} objects{run}",
                coder.len()
            ),
            versions,
            lineage: Some(path.lineage.clone()),
            distance: 0,
            data_only,
            differences: vec![],
            foreign_objects,
        };
    }
    let v = version.unwrap_or(0);
    let seq: Vec<&MigrationEffects> = path
        .steps
        .iter()
        .copied()
        .filter(|m| m.version <= v)
        .collect();
    let set = path.set().up_to(v);
    let report = compare(effects, &seq, v, &set, vec![], live);
    let mut differences: Vec<Difference> = Vec::new();
    for (kind, list) in [
        (DifferenceKind::Missing, &report.missing),
        (DifferenceKind::Different, &report.different),
        (DifferenceKind::Extra, &report.extra),
    ] {
        for f in list.iter().filter(|f| keys.contains(f.object.as_str())) {
            differences.push(Difference {
                kind,
                suggestion: suggest(kind, f),
                finding: f.clone(),
            });
        }
    }
    SchemaIdentity {
        identity: IdentityKind::Nearest,
        version,
        summary: format!(
            "no version's schema matches; nearest is migration {v:06}{lineage_text}, {best} object{} differ{}",
            if best == 1 { "" } else { "s" },
            if best == 1 { "s" } else { "" }
        ),
        versions,
        lineage: Some(path.lineage.clone()),
        distance: best,
        data_only: vec![],
        differences,
        foreign_objects,
    }
}

fn none(foreign_objects: usize, summary: &str) -> SchemaIdentity {
    SchemaIdentity {
        identity: IdentityKind::None,
        version: None,
        versions: vec![],
        lineage: None,
        distance: 0,
        data_only: vec![],
        differences: vec![],
        foreign_objects,
        summary: summary.to_string(),
    }
}

/// A column definition as the catalog reader prints it: `type [not null] [identity X]
/// [default expr | generated expr]`.
struct ColumnDef<'a> {
    ty: &'a str,
    not_null: bool,
    default: Option<&'a str>,
    /// Identity or generated columns: no suggestion is attempted.
    special: bool,
}

fn column_def(d: &str) -> ColumnDef<'_> {
    let (head, default) = match d.split_once(" default ") {
        Some((h, e)) => (h, Some(e)),
        None => (d, None),
    };
    let special = head.contains(" identity ") || head.contains(" generated ");
    let (ty, not_null) = match head.strip_suffix(" not null") {
        Some(t) => (t, true),
        None => (head, false),
    };
    ColumnDef {
        ty,
        not_null,
        default,
        special,
    }
}

/// The DDL that restores `f` as its migration left it, for the kinds whose recorded
/// definition is enough: a column's type, default and nullability; an index, a trigger or a
/// constraint; a missing enum. None for the rest (functions and views are recorded only as
/// fingerprints: re-create them from the migration's file).
fn suggest(kind: DifferenceKind, f: &Finding) -> Option<String> {
    use super::sql::identifier as id;
    let (k, name) = f.object.split_once(' ')?;
    let expected = f.expected.as_deref();
    match (kind, k) {
        (DifferenceKind::Missing, "index" | "trigger") => Some(format!("{};", expected?)),
        (DifferenceKind::Missing, "constraint") => {
            let (table, con) = name.split_once('.')?;
            let def = expected?.split_once(' ')?.1;
            Some(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {def};",
                id(table),
                id(con)
            ))
        }
        (DifferenceKind::Missing, "column") => {
            let (table, col) = name.split_once('.')?;
            let c = column_def(expected?);
            if c.special {
                return None;
            }
            let mut s = format!("ALTER TABLE {} ADD COLUMN {} {}", id(table), id(col), c.ty);
            if let Some(d) = c.default {
                s.push_str(&format!(" DEFAULT {d}"));
            }
            if c.not_null {
                s.push_str(" NOT NULL");
            }
            s.push(';');
            Some(s)
        }
        (DifferenceKind::Different, "column") => {
            let (table, col) = name.split_once('.')?;
            let (e, a) = (column_def(expected?), column_def(f.actual.as_deref()?));
            if e.special || a.special {
                return None;
            }
            let alter = format!("ALTER TABLE {} ALTER COLUMN {}", id(table), id(col));
            let mut parts = Vec::new();
            if e.ty != a.ty {
                parts.push(format!("{alter} TYPE {};", e.ty));
            }
            if e.default != a.default {
                parts.push(match e.default {
                    Some(d) => format!("{alter} SET DEFAULT {d};"),
                    None => format!("{alter} DROP DEFAULT;"),
                });
            }
            if e.not_null != a.not_null {
                parts.push(format!(
                    "{alter} {} NOT NULL;",
                    if e.not_null { "SET" } else { "DROP" }
                ));
            }
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        (DifferenceKind::Different, "index") => {
            Some(format!("DROP INDEX {}; {};", id(name), expected?))
        }
        (DifferenceKind::Missing, "enum") => {
            Some(format!("CREATE TYPE {} AS ENUM ({});", id(name), expected?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::effects::fixtures::{self, catalog as cat, migration as m};

    /// 1 creates t(a), 2 an index, 3 only data, 4 adds b and drops the index, 5 adds u.
    fn effects() -> Effects {
        fixtures::effects(
            vec![
                m(1, &[("table t", "table"), ("column t.a", "integer")], &[]),
                m(
                    2,
                    &[("index i", "CREATE INDEX i ON t USING btree (a)")],
                    &[],
                ),
                m(3, &[], &[]),
                m(
                    4,
                    &[("column t.b", "text not null default ''::text")],
                    &["index i"],
                ),
                m(5, &[("table u", "table")], &[]),
            ],
            Default::default(),
        )
    }

    fn index() -> Index {
        crate::bundled::load().unwrap()
    }

    #[test]
    fn a_data_only_run_is_exact_over_both_versions() {
        let e = effects();
        let live = cat(&[
            ("table t", "table"),
            ("column t.a", "integer"),
            ("index i", "CREATE INDEX i ON t USING btree (a)"),
        ]);
        let id = identify(&e, &index(), &live, None);
        assert_eq!(id.identity, IdentityKind::Exact);
        assert_eq!(id.versions, vec![2, 3]);
        assert_eq!(id.version, Some(3));
        assert_eq!(id.data_only, vec![3]);
        // The row, when it is one of them, is the version.
        assert_eq!(identify(&e, &index(), &live, Some(2)).version, Some(2));
    }

    #[test]
    fn removed_objects_count_and_operator_objects_do_not() {
        let e = effects();
        let live = cat(&[
            ("table t", "table"),
            ("column t.a", "integer"),
            ("column t.b", "text not null default ''::text"),
            ("index mine", "CREATE INDEX mine ON t USING btree (b)"),
        ]);
        let id = identify(&e, &index(), &live, Some(2));
        assert_eq!(id.identity, IdentityKind::Exact, "{id:#?}");
        assert_eq!(id.version, Some(4));
        assert_eq!(id.foreign_objects, 1);
    }

    #[test]
    fn nearest_names_the_differences_with_ddl_to_review() {
        let e = effects();
        // Schema of 5 with b's default dropped: u exists, b differs.
        let live = cat(&[
            ("table t", "table"),
            ("column t.a", "integer"),
            ("column t.b", "text not null"),
            ("table u", "table"),
        ]);
        let id = identify(&e, &index(), &live, None);
        assert_eq!(id.identity, IdentityKind::Nearest);
        assert_eq!(id.version, Some(5));
        assert_eq!(id.distance, 1);
        assert_eq!(id.differences.len(), 1);
        let d = &id.differences[0];
        assert_eq!(d.kind, DifferenceKind::Different);
        assert_eq!(d.finding.migration, Some(4));
        assert_eq!(
            d.suggestion.as_deref(),
            Some("ALTER TABLE t ALTER COLUMN b SET DEFAULT ''::text;")
        );
    }

    #[test]
    fn empty_or_foreign_schemas_are_none() {
        let e = effects();
        let id = identify(&e, &index(), &cat(&[]), None);
        assert_eq!(id.identity, IdentityKind::None);
        let other = cat(&[("table flyway_schema_history", "table")]);
        let id = identify(&e, &index(), &other, None);
        assert_eq!(id.identity, IdentityKind::None);
        assert_eq!(id.foreign_objects, 1);
    }

    #[test]
    fn missing_column_index_and_constraint_get_ddl() {
        let f = |object: &str, expected: &str| Finding {
            object: object.into(),
            migration: Some(1),
            name: None,
            expected: Some(expected.into()),
            actual: None,
        };
        assert_eq!(
            suggest(
                DifferenceKind::Missing,
                &f("column users.theme", "text not null default ''::text")
            )
            .as_deref(),
            Some("ALTER TABLE users ADD COLUMN theme text DEFAULT ''::text NOT NULL;")
        );
        assert_eq!(
            suggest(
                DifferenceKind::Missing,
                &f("index idx_a", "CREATE INDEX idx_a ON t USING btree (a)")
            )
            .as_deref(),
            Some("CREATE INDEX idx_a ON t USING btree (a);")
        );
        assert_eq!(
            suggest(
                DifferenceKind::Missing,
                &f("constraint t.t_pkey", "p PRIMARY KEY (id)")
            )
            .as_deref(),
            Some("ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id);")
        );
        assert_eq!(
            suggest(
                DifferenceKind::Missing,
                &f("function f()", "f void sql v #1")
            ),
            None
        );
    }

    /// Every version's expected schema (main sequence, irregular sets) names itself.
    #[test]
    fn every_replayed_schema_identifies_as_its_own_version() {
        let e = crate::bundled::effects().unwrap();
        let index = index();
        let mut c = Catalog::default();
        for m in &e.main {
            c.apply(&m.diff);
            let id = identify(&e, &index, &c, None);
            assert!(id.is_exactly(m.version), "{:06}: {id:#?}", m.version);
        }
        for irr in &e.irregular {
            let seq = crate::core::effects::sequence_for(&e, &irr.set).unwrap();
            let c = crate::core::effects::expected_schema(&seq);
            let top = irr.set.max().unwrap();
            let id = identify(&e, &index, &c, Some(top));
            assert!(id.is_exactly(top), "{:?}: {id:#?}", irr.releases);
            assert!(
                matches!(id.lineage, Some(Lineage::Irregular { .. })) || id.versions.contains(&top),
                "{id:#?}"
            );
        }
    }
}
