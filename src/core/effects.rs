//! The effects data: what each of Coder's migrations does to the catalog and to the tables,
//! measured by `migtag index effects` replaying the real migration files on a real
//! PostgreSQL (see docs/verify.md). Bundled deflated like the index; the expected schema of a
//! release is the fold of its migrations' catalog diffs, in order.
//!
//! Facts per migration (also the input of an upgrade forecast): the catalog diff, the
//! relation locks it takes, the tables it rewrites, the indexes it builds on tables that
//! existed before it, and the per-table scans and row changes of its transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::migration_set::{MigrationSet, Version};
use super::schema::{Catalog, CatalogDiff};

pub const FORMAT_VERSION: u32 = 1;

/// The command that extends the effects to the migrations of newer releases, as every answer
/// that lacks them names it (docs/verify.md).
pub const EXTEND_COMMAND: &str = "migtag index update --effects --scratch-db URL";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    pub format_version: u32,
    pub provenance: EffectsProvenance,
    /// The main sequence 1..=N, each with the content of the newest tag that carries it.
    pub main: Vec<MigrationEffects>,
    /// Release sets that are not a prefix of the main sequence, replayed as their own.
    #[serde(default)]
    pub irregular: Vec<IrregularSet>,
    /// Older contents of a migration whose effects differ from the main content's.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// The statements of each migration's `.down.sql` (main content), for a human to review
    /// when a dirty migration is found half-applied.
    #[serde(default)]
    pub down: BTreeMap<Version, Vec<String>>,
    /// Per migration, the statement fingerprints of older contents whose text differs from
    /// the main content's but whose effects are the same (they are no [`Variant`]: every fact
    /// holds for them too), so `watch` also knows the text an older release sends.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_texts: BTreeMap<Version, Vec<Fingerprints>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectsProvenance {
    /// What was replayed (the file name of the tarball, the folder, or the clone).
    pub source: String,
    /// The PostgreSQL major the facts were measured on.
    pub postgres_major: u32,
    /// The highest migration replayed.
    pub max_migration: Version,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FlatMigration")]
pub struct MigrationEffects {
    pub version: Version,
    pub name: String,
    #[serde(flatten)]
    pub diff: CatalogDiff,
    /// `table mode` for every relation of the schema the migration locked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
    /// Tables and materialized views whose storage was rewritten (new relfilenode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrites: Vec<String>,
    /// `index on table` for indexes built on tables that existed before the migration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_builds: Vec<String>,
    /// Per pre-existing table: scans and row changes of the migration's transaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableActivity>,
    /// The fingerprints of the file's statements, in order (`core::sql_text::fingerprint`):
    /// how `watch` tells which migration a running query belongs to. Absent in effects data
    /// written before they were recorded.
    #[serde(default, skip_serializing_if = "Fingerprints::is_empty")]
    pub statements: Fingerprints,
    /// The work of each statement that touches rows or storage, in the order the file runs
    /// them (docs/forecast.md, "The per-statement model"). Absent in effects data written
    /// before they were recorded; the forecast then derives one step per table from the
    /// per-migration facts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// What one statement of a migration did to one table, as the replay measured it on Coder's
/// fixture rows: the kind of work, and for a data change how many of the rows present it
/// touched (the share the forecast applies to the live table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The statement's number in the file (from 1, transaction control left out).
    pub statement: u32,
    pub kind: StepKind,
    pub table: String,
    /// Rows changed (update, delete, insert); 0 for the other kinds.
    pub rows: u64,
    /// Rows present when it ran: of the table (update, delete), of the table read (insert).
    pub of: u64,
    /// The index built (index builds), the table read (inserts), the tables joined
    /// (updates and deletes, comma-separated).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepKind {
    /// UPDATE: a new version of each row it touches, and its index entries.
    Update,
    /// DELETE.
    Delete,
    /// INSERT ... SELECT: rows written, read from `detail`.
    Insert,
    /// CREATE INDEX: reads the heap, sorts, writes the index.
    IndexBuild,
    /// A statement that gave the table new storage (ALTER COLUMN TYPE, a stored generated
    /// column, a volatile default).
    Rewrite,
    /// A statement that read the table in full to validate (SET NOT NULL, CHECK, FOREIGN KEY).
    Scan,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Update => "update",
            StepKind::Delete => "delete",
            StepKind::Insert => "insert",
            StepKind::IndexBuild => "index",
            StepKind::Rewrite => "rewrite",
            StepKind::Scan => "scan",
        }
    }

    fn parse(s: &str) -> Option<StepKind> {
        [
            StepKind::Update,
            StepKind::Delete,
            StepKind::Insert,
            StepKind::IndexBuild,
            StepKind::Rewrite,
            StepKind::Scan,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// A step is kept as one short string: `3 update api_keys 12/12`, `5 index api_keys
/// api_keys_last_used_idx`, `2 insert tasks 4/4 workspaces`, `1 rewrite notification_templates`.
impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = format!("{} {} {}", self.statement, self.kind.name(), self.table);
        if matches!(
            self.kind,
            StepKind::Update | StepKind::Delete | StepKind::Insert
        ) {
            text.push_str(&format!(" {}/{}", self.rows, self.of));
        }
        if let Some(d) = &self.detail {
            text.push(' ');
            text.push_str(d);
        }
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Step::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a migration step: {text:?}")))
    }
}

impl Step {
    /// The other tables an UPDATE or DELETE reads (named in its joins or subqueries; the
    /// table itself when it is read a second time, as in `WHERE id IN (SELECT ... FROM t)`).
    pub fn reads(&self) -> impl Iterator<Item = &str> {
        let joins = matches!(self.kind, StepKind::Update | StepKind::Delete);
        self.detail
            .as_deref()
            .filter(|_| joins)
            .into_iter()
            .flat_map(|d| d.split(','))
            .filter(|t| !t.is_empty())
    }

    fn parse(text: &str) -> Option<Step> {
        let mut words = text.split(' ');
        let statement = words.next()?.parse().ok()?;
        let kind = StepKind::parse(words.next()?)?;
        let table = words.next()?.to_string();
        let counted = matches!(kind, StepKind::Update | StepKind::Delete | StepKind::Insert);
        let (rows, of) = if counted {
            let (r, o) = words.next()?.split_once('/')?;
            (r.parse().ok()?, o.parse().ok()?)
        } else {
            (0, 0)
        };
        let detail = words.next().map(str::to_string);
        if words.next().is_some() || table.is_empty() {
            return None;
        }
        Some(Step {
            statement,
            kind,
            table,
            rows,
            of,
            detail,
        })
    }
}

/// Statement fingerprints, kept in the file as one space-separated string (one line per
/// migration instead of one per statement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints(pub Vec<String>);

impl Fingerprints {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Fingerprints {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.join(" "))
    }
}

impl<'de> Deserialize<'de> for Fingerprints {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Fingerprints(
            text.split_whitespace().map(str::to_string).collect(),
        ))
    }
}

impl MigrationEffects {
    /// Same effects, whatever the version, name and statement text.
    pub fn same_effects(&self, other: &MigrationEffects) -> bool {
        self.diff == other.diff
            && self.locks == other.locks
            && self.rewrites == other.rewrites
            && self.index_builds == other.index_builds
    }
}

/// `pg_stat_xact_user_tables` for one table at the end of a migration's transaction: whether
/// the migration read it, and the rows it changed. Whether the read was a sequential or an
/// index scan is left out: the planner's choice depends on when autovacuum last analyzed the
/// table, so it would make the data differ from run to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableActivity {
    pub table: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scanned: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inserted: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updated: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deleted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrregularSet {
    /// The set, as in the index.
    pub set: MigrationSet,
    pub releases: Vec<String>,
    /// The main sequence is shared up to and including this migration.
    pub base: Version,
    /// The set's own migrations above `base`, replayed in order on the main sequence at `base`.
    pub migrations: Vec<MigrationEffects>,
    /// What the next releases do to a database this set wrote.
    #[serde(default)]
    pub rehearsals: Vec<Rehearsal>,
}

/// A replay of a target release's pending migrations on a database an irregular set wrote,
/// in one transaction as Coder runs them, and of the rewind remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehearsal {
    pub target: String,
    /// What the target applies from the set's highest migration (golang-migrate: above it).
    pub pending: MigrationSet,
    /// The first pending migration that fails, with the PostgreSQL error; None when all pass.
    pub fails_at: Option<ReplayFailure>,
    /// The remedy: the row rewound to this version (the highest migration the set shares
    /// with the target below its first gap), then the target runs everything above it.
    pub rewind_to: Version,
    pub remedy_runs: MigrationSet,
    /// None when the remedy replays cleanly.
    pub remedy_fails_at: Option<ReplayFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFailure {
    pub version: Version,
    pub name: String,
    pub statement: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The tags that carry this content, first and last.
    pub first_tag: String,
    pub last_tag: String,
    pub tag_count: u32,
    /// When the older content does not replay on the main sequence's schema: the failing
    /// statement and the server's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub effects: MigrationEffects,
}

/// A migration's effects as the file spells them, every field at one level: what
/// `#[serde(flatten)]` writes. Read through this shape (not through `flatten`, which buffers
/// each object in memory before reading it again), the effects parse in a single pass.
#[derive(Deserialize)]
struct FlatMigration {
    version: Version,
    name: String,
    #[serde(default)]
    added: BTreeMap<String, String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    changed: BTreeMap<String, String>,
    #[serde(default)]
    locks: Vec<String>,
    #[serde(default)]
    rewrites: Vec<String>,
    #[serde(default)]
    index_builds: Vec<String>,
    #[serde(default)]
    tables: Vec<TableActivity>,
    #[serde(default)]
    statements: Fingerprints,
    #[serde(default)]
    steps: Vec<Step>,
}

impl From<FlatMigration> for MigrationEffects {
    fn from(f: FlatMigration) -> Self {
        MigrationEffects {
            version: f.version,
            name: f.name,
            diff: CatalogDiff {
                added: f.added,
                removed: f.removed,
                changed: f.changed,
            },
            locks: f.locks,
            rewrites: f.rewrites,
            index_builds: f.index_builds,
            tables: f.tables,
            statements: f.statements,
            steps: f.steps,
        }
    }
}

/// The migrations a release set replays, in order, with their effects; None when the set is
/// neither a prefix of the main sequence nor one of the recorded irregular sets.
pub fn sequence_for<'a>(
    effects: &'a Effects,
    set: &MigrationSet,
) -> Option<Vec<&'a MigrationEffects>> {
    let max = set.max()?;
    if *set == MigrationSet::range(1, max) {
        let main: Vec<_> = effects.main.iter().filter(|m| m.version <= max).collect();
        return (main.len() as u64 == max).then_some(main);
    }
    effects.irregular.iter().find_map(|irr| {
        let upto = irr.set.up_to(max);
        if upto != *set || irr.set.max().is_some_and(|m| m < max) {
            return None;
        }
        let mut seq: Vec<_> = effects
            .main
            .iter()
            .filter(|m| m.version <= irr.base)
            .collect();
        seq.extend(irr.migrations.iter().filter(|m| m.version <= max));
        Some(seq)
    })
}

/// The catalog a sequence leaves.
pub fn expected_schema(seq: &[&MigrationEffects]) -> Catalog {
    let mut c = Catalog::default();
    for m in seq {
        c.apply(&m.diff);
    }
    c
}

impl Effects {
    pub fn from_json(text: &str) -> Result<Effects, String> {
        let e: Effects = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if e.format_version != FORMAT_VERSION {
            return Err(format!(
                "effects format {} is not the {FORMAT_VERSION} this migtag reads",
                e.format_version
            ));
        }
        Ok(e)
    }

    /// The canonical text: sorted maps, one migration per block, a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("effects serialize");
        s.push('\n');
        s
    }

    pub fn main_effects(&self, v: Version) -> Option<&MigrationEffects> {
        self.main.iter().find(|m| m.version == v)
    }

    pub fn name(&self, v: Version) -> Option<&str> {
        self.main_effects(v).map(|m| m.name.as_str())
    }
}

/// The rewind remedy for a database written by `set` that moves to `target`: the highest
/// migration of the target below the first migration the set lacks that matters (skipping a
/// harmless one, such as 000311's template text, costs nothing). Returns the set's highest
/// migration when nothing that matters is missing.
pub fn rewind_point(set: &MigrationSet, target: &MigrationSet) -> Version {
    let max = set.max().unwrap_or(0);
    let first_gap = target
        .up_to(max)
        .difference(set)
        .iter()
        .find(|v| !super::report::is_harmless_to_skip(*v));
    match first_gap {
        Some(g) => target.prev(g).unwrap_or(0),
        None => max,
    }
}

/// The highest `v` such that `set` holds exactly `1..=v`: where an irregular set leaves the
/// main sequence.
pub fn shared_prefix(set: &MigrationSet) -> Version {
    match set.ranges().first() {
        Some(&(1, hi)) => hi,
        _ => 0,
    }
}

/// Small effects for the core's unit tests (identity, verify): one home for building them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// Migration `version` (named `m<version>`) adding and removing these catalog keys.
    pub fn migration(
        version: Version,
        added: &[(&str, &str)],
        removed: &[&str],
    ) -> MigrationEffects {
        MigrationEffects {
            version,
            name: format!("m{version}"),
            diff: CatalogDiff {
                added: added
                    .iter()
                    .map(|(k, d)| (k.to_string(), d.to_string()))
                    .collect(),
                removed: removed.iter().map(|k| k.to_string()).collect(),
                changed: Default::default(),
            },
            ..Default::default()
        }
    }

    /// Effects whose main sequence is `main`, with these `.down.sql` statements.
    pub fn effects(main: Vec<MigrationEffects>, down: BTreeMap<Version, Vec<String>>) -> Effects {
        Effects {
            format_version: FORMAT_VERSION,
            provenance: EffectsProvenance {
                source: "t".into(),
                postgres_major: 15,
                max_migration: main.last().map_or(0, |m| m.version),
            },
            main,
            irregular: vec![],
            variants: vec![],
            down,
            other_texts: Default::default(),
        }
    }

    /// A live catalog of these keys and definitions.
    pub fn catalog(keys: &[(&str, &str)]) -> Catalog {
        Catalog(
            keys.iter()
                .map(|(k, d)| (k.to_string(), d.to_string()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read through the flat shape, the bundled file writes back byte for byte: no field of
    /// a migration or a variant is lost on the way in.
    #[test]
    fn the_bundled_effects_read_and_write_back_unchanged() {
        let text = crate::bundled::effects_json().unwrap();
        let e = Effects::from_json(&text).unwrap();
        assert!(e.variants.iter().any(|v| !v.effects.diff.is_empty()));
        assert!(e.main.iter().any(|m| !m.statements.is_empty()));
        assert!(e.main.iter().any(|m| !m.steps.is_empty()));
        assert_eq!(e.to_json(), text);
    }

    #[test]
    fn a_step_is_one_string_and_reads_back() {
        for text in [
            "141 update api_keys 2/2",
            "139 delete api_keys 2/2",
            "5 insert notification_templates 1/0",
            "3 insert tasks 4/5 workspaces",
            "1 index api_keys api_keys_last_used_idx",
            "1 rewrite aibridge_interceptions",
            "143 scan api_keys",
        ] {
            let step: Step = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(
                serde_json::to_value(&step).unwrap(),
                serde_json::json!(text)
            );
        }
        let s: Step = serde_json::from_str("\"2 update api_keys 0/8\"").unwrap();
        assert_eq!(
            (s.kind, s.rows, s.of, s.statement),
            (StepKind::Update, 0, 8, 2)
        );
        for bad in [
            "update api_keys 1/2",
            "1 upsert t 1/2",
            "1 update t",
            "1 update t 1/x",
            "1 scan t a b",
            "1 scan",
        ] {
            assert!(
                serde_json::from_value::<Step>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rewind_of_v2_21_1_to_v2_22_0_is_313() {
        let set = MigrationSet::parse("1-310,312-313,316").unwrap();
        let target = MigrationSet::range(1, 326);
        assert_eq!(rewind_point(&set, &target), 313);
        assert_eq!(shared_prefix(&set), 310);
        let v2210 = MigrationSet::parse("1-310,312-313").unwrap();
        assert_eq!(rewind_point(&v2210, &target), 313);
    }
}
