//! One decision from all the evidence: the row `(version, dirty)` is a claim, the schema's
//! identity (core::identity) and the dirty migration's effects (core::verify) are the
//! evidence. When they disagree the row is not trusted: no image is named until a row action
//! (one compare-and-set) puts the row where the schema is. Pure. The case table:
//! docs/rules.md ("The schema decides").
//!
//! `check`, `gate`, `patch`, `runbook` and `repair` all take their verdict, their summary and
//! their row action from [`outcome`], so they cannot say different things about one database.

use serde::Serialize;

use super::dirty::{CleanupKind, DirtyActionKind, DirtyAdvice};
use super::identity::{IdentityKind, SchemaIdentity};
use super::index::Index;
use super::migration_set::Version;
pub use super::repair::Row;
use super::report::MigrationRef;
use super::sql;
use super::state::DbState;
use super::verify::span;

/// How the row and the schema relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowSchema {
    /// They agree, or there is no schema evidence (`--version`, `--psql`, `--no-schema`, a
    /// running migration): the row decides, as it always did.
    Agrees,
    /// The row is above the schema's version (a `migrate force` forward): the migrations
    /// between never ran, and no image would run them.
    RowAhead { row: Version, schema: Version },
    /// The row is below the schema's version (forced back): an image would re-run
    /// migrations whose objects exist, and fail.
    RowBehind { row: Version, schema: Version },
    /// Coder's schema of `schema` without a `schema_migrations` row: a partial restore.
    PartialRestore { schema: Version },
    /// No version's schema is this one (objects missing or changed), or the row names a
    /// version while none of Coder's objects exist.
    Drift {
        row: Option<Version>,
        nearest: Option<Version>,
        distance: usize,
    },
    /// The version is a 14-digit timestamp: another tool's `schema_migrations` table.
    ForeignNumbering { version: Version },
}

/// Whether `v` reads as a `YYYYMMDDhhmmss` timestamp: the numbering of other migration tools
/// (Rails, goose with timestamps, golang-migrate's `-format` default), never Coder's.
pub fn is_timestamp_version(v: Version) -> bool {
    if !(10_000_000_000_000..100_000_000_000_000).contains(&v) {
        return false;
    }
    let (year, month, day) = (
        v / 10_000_000_000,
        v / 100_000_000 % 100,
        v / 1_000_000 % 100,
    );
    let (hour, minute, second) = (v / 10_000 % 100, v / 100 % 100, v % 100);
    (1970..=2199).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
}

/// Relates the row to the schema's identity (None: the schema was not read).
pub fn relate(state: &DbState, identity: Option<&SchemaIdentity>) -> RowSchema {
    if let Some(v) = state.version().filter(|v| is_timestamp_version(*v)) {
        return RowSchema::ForeignNumbering { version: v };
    }
    let Some(id) = identity else {
        return RowSchema::Agrees;
    };
    let drift = |row| RowSchema::Drift {
        row,
        nearest: id.version.filter(|_| id.identity == IdentityKind::Nearest),
        distance: id.distance,
    };
    match (state, id.identity, id.version) {
        // A dirty row is weighed by its own migration's effects; a running migration and a
        // v1 database are decided before any schema.
        (DbState::Dirty(_) | DbState::InProgress(_) | DbState::V1, _, _) => RowSchema::Agrees,
        (DbState::Fresh, IdentityKind::Exact, Some(s)) => RowSchema::PartialRestore { schema: s },
        (DbState::Fresh, IdentityKind::Nearest, _) => drift(None),
        // Some of Coder's objects, in the shape of no version: not fresh either.
        (DbState::Fresh, IdentityKind::None, _) if id.distance > 0 => drift(None),
        (DbState::Fresh, _, _) => RowSchema::Agrees,
        (DbState::Clean(r), IdentityKind::Exact, _) if id.versions.contains(r) => RowSchema::Agrees,
        (DbState::Clean(r), IdentityKind::Exact, Some(s)) if *r > s => {
            RowSchema::RowAhead { row: *r, schema: s }
        }
        (DbState::Clean(r), IdentityKind::Exact, Some(s)) => {
            RowSchema::RowBehind { row: *r, schema: s }
        }
        (DbState::Clean(r), _, _) => drift(Some(*r)),
    }
}

/// Which compare-and-set a row action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowActionKind {
    /// Dirty V whose effects are complete: keep V, clear the flag.
    KeepAndClear,
    /// Dirty V whose effects are absent: back to the previous migration (V runs again).
    Rewind,
    /// A clean row that is not the schema's version: set it to the schema's version.
    MoveRow,
    /// No row, Coder's schema of M: create golang-migrate's table and insert (M, false).
    CreateRow,
}

/// The one change to `schema_migrations` the evidence calls for: the same statement in every
/// command's output and in `repair fix-row`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowAction {
    pub kind: RowActionKind,
    /// The row it expects (None: no table or no row); it changes nothing otherwise.
    pub from: Option<Row>,
    /// The row it leaves; None when it removes the row (a dirty first migration).
    pub to: Option<Row>,
    /// The statement, on the unqualified `schema_migrations`.
    pub sql: String,
    pub explanation: String,
}

impl RowAction {
    /// The statement on `table` (quoted or schema-qualified), each statement ending in `;`.
    pub fn statement(&self, table: &str) -> String {
        let from = self.from.map(|r| r.version).unwrap_or(0);
        let to = self.to.map(|r| r.version);
        match self.kind {
            RowActionKind::KeepAndClear => format!("{};", sql::keep_dirty(table, from)),
            RowActionKind::Rewind => format!("{};", sql::clear_dirty(table, from, to)),
            RowActionKind::MoveRow => format!("{};", sql::rewind(table, from, to.unwrap_or(0))),
            RowActionKind::CreateRow => sql::create_row(table, to.unwrap_or(0)),
        }
    }

    fn new(
        kind: RowActionKind,
        from: Option<Row>,
        to: Option<Row>,
        explanation: String,
    ) -> RowAction {
        let mut a = RowAction {
            kind,
            from,
            to,
            sql: String::new(),
            explanation,
        };
        a.sql = a.statement("schema_migrations");
        a
    }
}

/// What the evidence decided when it overrides the row: the verdict's words, the action, and
/// the version whose image runs after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceOutcome {
    /// The headline: the verdict's word, then `reason`.
    pub summary: String,
    /// What is wrong and what to do, without the verdict's word (a gate's reason).
    pub reason: String,
    pub why: Vec<String>,
    pub action: Option<RowAction>,
    /// The version the row holds after the action: its image is the one to run then.
    pub then_version: Option<Version>,
}

/// The outcome for a relation other than [`RowSchema::Agrees`] (None for that one).
pub fn outcome(
    index: &Index,
    relation: &RowSchema,
    identity: Option<&SchemaIdentity>,
) -> Option<EvidenceOutcome> {
    let mut o = raw_outcome(index, relation, identity)?;
    let word = match relation {
        RowSchema::Drift { .. } => "drift",
        _ => "needs a human",
    };
    o.reason = o.summary.clone();
    o.summary = format!("{word}: {}", o.summary);
    Some(o)
}

fn raw_outcome(
    index: &Index,
    relation: &RowSchema,
    identity: Option<&SchemaIdentity>,
) -> Option<EvidenceOutcome> {
    let m = |v: Version| MigrationRef::new(index, v);
    let clean = |v| Row {
        version: v,
        dirty: false,
    };
    Some(match *relation {
        RowSchema::Agrees => return None,
        RowSchema::RowAhead { row, schema } => {
            let skipped = span(&index_span(schema + 1, row));
            EvidenceOutcome {
                reason: String::new(),
                summary: format!(
                    "the row says {} but the schema is migration {schema:06}'s: migrations {skipped} never ran (a forced version?)",
                    m(row)
                ),
                why: vec![
                    format!("the schema's objects are exactly those of {} (compared object by object with Coder's replayed migrations)", m(schema)),
                    format!("an image that starts from the row would run only the migrations above {row}: {skipped} would never run and Coder would fail on the missing objects"),
                    format!("move the row back to {schema} with the compare-and-set; then an image from {schema} runs them in order"),
                ],
                action: Some(RowAction::new(
                    RowActionKind::MoveRow,
                    Some(clean(row)),
                    Some(clean(schema)),
                    format!("the schema is {schema:06}'s: the row goes back to it, so the next image runs {skipped}"),
                )),
                then_version: Some(schema),
            }
        }
        RowSchema::RowBehind { row, schema } => {
            let rerun = span(&index_span(row + 1, schema));
            EvidenceOutcome {
                reason: String::new(),
                summary: format!(
                    "the row says {} but the schema is migration {schema:06}'s: the objects of {rerun} already exist (the row was forced back?)",
                    m(row)
                ),
                why: vec![
                    format!("the schema's objects are exactly those of {} (compared object by object with Coder's replayed migrations)", m(schema)),
                    format!("an image that starts from the row would run {rerun} again and fail on objects that exist (the pod crash-loops)"),
                    format!("move the row forward to {schema} with the compare-and-set; then the image for {schema} starts"),
                ],
                action: Some(RowAction::new(
                    RowActionKind::MoveRow,
                    Some(clean(row)),
                    Some(clean(schema)),
                    format!("the schema is {schema:06}'s: the row moves up to it, so no migration runs twice"),
                )),
                then_version: Some(schema),
            }
        }
        RowSchema::PartialRestore { schema } => EvidenceOutcome {
            reason: String::new(),
            summary: format!(
                "Coder's schema of migration {schema:06} exists without a schema_migrations row (a partial restore?); starting any release would re-run every migration over the existing tables"
            ),
            why: vec![
                format!("the schema's objects are exactly those of {} (compared object by object with Coder's replayed migrations)", m(schema)),
                "without a row, golang-migrate starts from migration 1 and fails at the first table that exists".into(),
                format!("create schema_migrations as golang-migrate does and record ({schema}, false); then the image for {schema} starts"),
            ],
            action: Some(RowAction::new(
                RowActionKind::CreateRow,
                None,
                Some(clean(schema)),
                format!("the schema is {schema:06}'s: golang-migrate's table is created with that row, as if the release had written it"),
            )),
            then_version: Some(schema),
        },
        RowSchema::Drift {
            row,
            nearest,
            distance,
        } => {
            let mut why = Vec::new();
            let summary = match (row, nearest) {
                (_, Some(n)) => {
                    if let Some(id) = identity {
                        for d in &id.differences {
                            let owner = d
                                .finding
                                .migration
                                .map(|v| format!(" (migration {v:06})"))
                                .unwrap_or_default();
                            let fix = d
                                .suggestion
                                .as_ref()
                                .map(|s| format!("; to review, not run: `{s}`"))
                                .unwrap_or_default();
                            why.push(format!(
                                "{} {}{owner}{fix}",
                                match d.kind {
                                    super::identity::DifferenceKind::Missing => "missing:",
                                    super::identity::DifferenceKind::Extra => "extra:",
                                    super::identity::DifferenceKind::Different => "different:",
                                },
                                d.finding.object
                            ));
                        }
                    }
                    let row_text = match row {
                        Some(r) if r == n => format!("the row says {}, ", m(r)),
                        Some(r) => format!("the row says {}; ", m(r)),
                        None => "no schema_migrations row; ".into(),
                    };
                    format!(
                        "{row_text}no Coder version's schema is this one; the nearest is migration {n:06}'s, {distance} object{} differ{}",
                        if distance == 1 { "" } else { "s" },
                        if distance == 1 { "s" } else { "" }
                    )
                }
                (Some(r), None) => format!(
                    "the row says {} but none of Coder's objects are in this schema (a wrong search_path, or only the table was restored?)",
                    m(r)
                ),
                (None, None) => format!(
                    "no schema_migrations row, and {distance} of Coder's objects exist in the shape of no version (not a fresh database)"
                ),
            };
            why.push("no image is named until the schema is a version's: restore the objects (the DDL above is a suggestion from the recorded definitions, to review) or restore a backup, then run migtag again".into());
            EvidenceOutcome {
                summary,
                reason: String::new(),
                why,
                action: None,
                then_version: None,
            }
        }
        RowSchema::ForeignNumbering { version } => EvidenceOutcome {
            reason: String::new(),
            summary: format!(
                "version {version} is not Coder's numbering (a 14-digit timestamp): this schema_migrations belongs to another migration tool"
            ),
            why: vec![
                "Coder's migrations are numbered 000001, 000002, ...; a timestamp version comes from another tool (Rails, goose, golang-migrate with timestamps) sharing the schema".into(),
                "point migtag (and Coder) at Coder's own database or schema: --db with the right database name, or search_path in the connection string".into(),
            ],
            action: None,
            then_version: None,
        },
    })
}

/// `lo..=hi` as a list (empty when `lo > hi`).
fn index_span(lo: Version, hi: Version) -> Vec<Version> {
    (lo..=hi).collect()
}

/// The row action for a dirty row, from the advice the evidence shaped: keep-and-clear, or
/// the rewind when one previous migration is certain; none while the migration is
/// half-applied (review) or the writers disagree.
pub fn dirty_row_action(v: Version, advice: &DirtyAdvice) -> Option<RowAction> {
    if advice.action == Some(DirtyActionKind::Review) {
        return None;
    }
    let [c] = advice.cleanups.as_slice() else {
        return None;
    };
    let from = Some(Row {
        version: v,
        dirty: true,
    });
    Some(match c.kind {
        CleanupKind::KeepAndClear => RowAction::new(
            RowActionKind::KeepAndClear,
            from,
            Some(Row {
                version: v,
                dirty: false,
            }),
            format!("all of {v:06}'s effects exist: it finished, so keep {v} and clear only the flag"),
        ),
        CleanupKind::ToPrevious => RowAction::new(
            RowActionKind::Rewind,
            from,
            c.previous.as_ref().map(|p| Row {
                version: p.version,
                dirty: false,
            }),
            match c.previous.as_ref() {
                Some(p) => format!("{v:06} did not finish: the row goes back to {p}, then the image re-runs {v:06}"),
                None => format!("{v:06} is the first migration: the row is removed, then the image runs it again"),
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::identity::Lineage;

    fn exact(versions: &[Version]) -> SchemaIdentity {
        SchemaIdentity {
            identity: IdentityKind::Exact,
            version: versions.last().copied(),
            versions: versions.to_vec(),
            lineage: Some(Lineage::Main),
            distance: 0,
            data_only: vec![],
            differences: vec![],
            foreign_objects: 0,
            summary: String::new(),
        }
    }

    #[test]
    fn the_case_table() {
        let s168 = exact(&[168]);
        assert_eq!(
            relate(&DbState::Clean(178), Some(&s168)),
            RowSchema::RowAhead {
                row: 178,
                schema: 168
            }
        );
        assert_eq!(
            relate(&DbState::Clean(160), Some(&s168)),
            RowSchema::RowBehind {
                row: 160,
                schema: 168
            }
        );
        assert_eq!(relate(&DbState::Clean(168), Some(&s168)), RowSchema::Agrees);
        assert_eq!(relate(&DbState::Clean(178), None), RowSchema::Agrees);
        assert_eq!(
            relate(&DbState::Fresh, Some(&s168)),
            RowSchema::PartialRestore { schema: 168 }
        );
        // A run of data-only versions: any of them agrees.
        assert_eq!(
            relate(&DbState::Clean(482), Some(&exact(&[482, 483]))),
            RowSchema::Agrees
        );
        assert_eq!(
            relate(&DbState::Clean(20241016151312), Some(&s168)),
            RowSchema::ForeignNumbering {
                version: 20241016151312
            }
        );
        assert_eq!(
            relate(&DbState::Clean(20241016151312), None),
            RowSchema::ForeignNumbering {
                version: 20241016151312
            }
        );
        let mut near = exact(&[170]);
        near.identity = IdentityKind::Nearest;
        near.distance = 1;
        assert_eq!(
            relate(&DbState::Clean(170), Some(&near)),
            RowSchema::Drift {
                row: Some(170),
                nearest: Some(170),
                distance: 1
            }
        );
    }

    #[test]
    fn timestamps_are_recognised_and_coder_numbers_are_not() {
        assert!(is_timestamp_version(20241016151312));
        assert!(!is_timestamp_version(556));
        assert!(!is_timestamp_version(99999999999999));
        assert!(!is_timestamp_version(20241316151312));
    }

    #[test]
    fn row_actions_are_compare_and_sets() {
        let index = crate::bundled::load().unwrap();
        let o = outcome(
            &index,
            &RowSchema::RowAhead {
                row: 178,
                schema: 168,
            },
            None,
        )
        .unwrap();
        assert_eq!(
            o.action.unwrap().sql,
            "UPDATE schema_migrations SET version = 168 WHERE version = 178 AND NOT dirty;"
        );
        let o = outcome(&index, &RowSchema::PartialRestore { schema: 483 }, None).unwrap();
        let a = o.action.unwrap();
        assert_eq!(
            a.sql,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); \
             INSERT INTO schema_migrations (version, dirty) SELECT 483, false WHERE NOT EXISTS (SELECT 1 FROM schema_migrations);"
        );
        assert_eq!(
            a.statement("\"my schema\".schema_migrations"),
            "CREATE TABLE IF NOT EXISTS \"my schema\".schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); \
             INSERT INTO \"my schema\".schema_migrations (version, dirty) SELECT 483, false WHERE NOT EXISTS (SELECT 1 FROM \"my schema\".schema_migrations);"
        );
    }
}
