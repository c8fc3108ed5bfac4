//! The decisions behind the two opt-in repairs, as pure code: which previous migration a
//! dirty row goes back to, whether the row the database holds is the one the operator
//! expects, the exact statements migtag runs, which sessions `terminate` may end, and the
//! reports both commands print.
//!
//! The adapter (`adapters::repair`) runs the statements built here inside its transaction;
//! nothing here talks to a database, reads the clock or asks the user anything.

use serde::Serialize;

use super::dirty::analyse_dirty;
use super::index::{Index, Release};
use super::migration_set::Version;
use super::observation::DatabaseInfo;
use super::report::{short_tags, MigrationRef, ReleaseRef, FEW_TAGS};
use super::sql;
use super::state::MigrationInProgress;

/// Where `--to` sends the row: a previous migration, or away (V was the first migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupTarget {
    Previous(Version),
    RemoveRow,
}

impl CleanupTarget {
    /// `--to N`, or `--to none` to remove the row of a first migration.
    pub fn parse(text: &str) -> Result<CleanupTarget, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("none") {
            return Ok(CleanupTarget::RemoveRow);
        }
        t.parse::<Version>()
            .map(CleanupTarget::Previous)
            .map_err(|_| {
                format!("`{text}` is not a migration version: give a number such as 67, or `none`")
            })
    }

    fn previous(self) -> Option<Version> {
        match self {
            CleanupTarget::Previous(p) => Some(p),
            CleanupTarget::RemoveRow => None,
        }
    }

    fn describe(self) -> String {
        match self {
            CleanupTarget::Previous(p) => format!("{p}"),
            CleanupTarget::RemoveRow => "none (remove the row)".into(),
        }
    }
}

/// One possible previous migration of V, with the releases that imply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// `None` when V is the first migration of these releases (the row is removed).
    pub previous: Option<MigrationRef>,
    /// The releases that could have written the row and agree on this previous migration.
    pub assumes: Vec<String>,
}

/// What `clear-dirty` will do, decided from the index before connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearDirtyPlan {
    /// The dirty migration V the operator expects to find.
    pub migration: MigrationRef,
    /// The version the row goes back to; `None`: the row is removed.
    pub previous: Option<MigrationRef>,
    /// The releases assumed to have written the row.
    pub assumes: Vec<String>,
    /// Every candidate the index gives, listed only when there is more than one (the
    /// releases disagree and `--to` or `--deployed` chose).
    #[serde(skip_serializing_if = "single")]
    pub candidates: Vec<Candidate>,
    /// The first release containing V: run it after the clean-up, it re-runs V.
    pub run_after_cleanup: Option<ReleaseRef>,
    /// The schema showed V complete: V stays and only the flag is cleared.
    pub keep: bool,
}

impl ClearDirtyPlan {
    /// The compare-and-set on `qualified`: keep V and clear the flag, or back to the
    /// previous migration (the row removed for a first migration). No `;`.
    pub fn statement(&self, qualified: &str) -> String {
        let v = self.migration.version;
        if self.keep {
            sql::keep_dirty(qualified, v)
        } else {
            sql::clear_dirty(qualified, v, self.previous.as_ref().map(|p| p.version))
        }
    }

    /// Keep V and clear the flag, as the schema evidence decided (the row's previous
    /// migration no longer matters; the release to run is one that starts from V).
    pub fn keeping(mut self, index: &Index) -> ClearDirtyPlan {
        let v = self.migration.version;
        self.keep = true;
        self.previous = Some(self.migration.clone());
        self.run_after_cleanup =
            super::check::image_for_clean(index, v).map(|r| ReleaseRef::new(index, r));
        self
    }
}

fn single(c: &[Candidate]) -> bool {
    c.len() <= 1
}

/// Why a plan cannot be made from the command line and the index alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    /// No release of the index ships V: migtag cannot name its previous migration.
    NotInIndex(Version),
    /// The releases that could have written V disagree: the operator must pick with `--to`.
    Ambiguous(Vec<Candidate>),
    /// `--to` names something that is not a candidate.
    NotACandidate(CleanupTarget, Vec<Candidate>),
}

impl PlanProblem {
    pub fn message(&self, v: Version) -> String {
        match self {
            PlanProblem::NotInIndex(v) => format!(
                "migration {v} is in no release of the index, so migtag cannot say which version the row goes back to"
            ),
            PlanProblem::Ambiguous(c) => format!(
                "the releases that contain migration {v} disagree on the migration before it, so the row could go back to {}; \
                 which one is right depends on the binary that wrote it",
                list_candidates(c)
            ),
            PlanProblem::NotACandidate(t, c) => format!(
                "--to {} is not a previous migration of {v} in any release of the index (candidates: {})",
                t.describe(),
                list_candidates(c)
            ),
        }
    }

    pub fn hint(&self) -> String {
        match self {
            PlanProblem::NotInIndex(_) => {
                "refresh the index (--index FILE built from a newer clone), or fix the row by hand after reading the migrations folder of the image that wrote it".into()
            }
            PlanProblem::Ambiguous(c) | PlanProblem::NotACandidate(_, c) => format!(
                "pass --to with one of: {} (or --deployed TAG naming the release that wrote the row)",
                c.iter()
                    .map(|c| match &c.previous {
                        Some(p) => p.version.to_string(),
                        None => "none".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn list_candidates(c: &[Candidate]) -> String {
    c.iter()
        .map(|c| {
            let target = match &c.previous {
                Some(p) => p.to_string(),
                None => "nothing (remove the row)".into(),
            };
            format!(
                "{target} (if written by {})",
                short_tags(&c.assumes, FEW_TAGS)
            )
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Decides where a dirty `v` goes back to. `deployed` narrows the writers like `check
/// --deployed`; `to` must name one of the candidates, and is required when they disagree.
pub fn plan_clear_dirty(
    index: &Index,
    v: Version,
    to: Option<CleanupTarget>,
    deployed: Option<&Release>,
) -> Result<ClearDirtyPlan, PlanProblem> {
    let advice = analyse_dirty(index, v, deployed, None);
    if !advice.in_index {
        return Err(PlanProblem::NotInIndex(v));
    }
    let candidates: Vec<Candidate> = advice
        .cleanups
        .iter()
        .map(|c| Candidate {
            previous: c.previous.clone(),
            assumes: c.assumes.clone(),
        })
        .collect();
    let chosen = match to {
        Some(t) => candidates
            .iter()
            .find(|c| c.previous.as_ref().map(|p| p.version) == t.previous())
            .ok_or_else(|| PlanProblem::NotACandidate(t, candidates.clone()))?,
        None if candidates.len() == 1 => &candidates[0],
        None => return Err(PlanProblem::Ambiguous(candidates)),
    };
    Ok(ClearDirtyPlan {
        migration: advice.migration.clone(),
        previous: chosen.previous.clone(),
        assumes: chosen.assumes.clone(),
        candidates: candidates.clone(),
        run_after_cleanup: advice.run_after_cleanup.clone(),
        keep: false,
    })
}

/// A `schema_migrations` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Row {
    pub version: Version,
    pub dirty: bool,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = if self.dirty { "dirty" } else { "clean" };
        write!(f, "({}, {d})", self.version)
    }
}

/// Whether the row the database holds is exactly `(expected, dirty)`. `Some(message)`
/// says what differs.
pub fn row_mismatch(found: Option<Row>, expected: Version) -> Option<String> {
    match found {
        Some(Row {
            version,
            dirty: true,
        }) if version == expected => None,
        Some(r) if r.version == expected => Some(format!(
            "the row is {r}: migration {expected} is recorded as finished, there is no dirty flag to clear"
        )),
        Some(r) => Some(format!(
            "the row is {r}, not ({expected}, dirty): the database changed since you looked, or --expect-version is wrong"
        )),
        None => Some(format!(
            "the table holds no row (a fresh database), not ({expected}, dirty)"
        )),
    }
}

/// Refuses the clear-dirty repair while a migration may run: `locked` is whether the
/// repair's own `pg_try_advisory_xact_lock` on Coder's key succeeded, `holder` what the lock
/// survey saw holding Coder's lock or a lock on the table.
pub fn lock_refusal(locked: bool, holder: Option<MigrationInProgress>) -> Option<Refusal> {
    let refusal = |reason, message: String, holder| Refusal {
        reason,
        message,
        holder,
        lock_holders: Vec::new(),
    };
    if !locked {
        return Some(refusal(
            RefusalReason::MigrationRunning,
            "another session holds Coder's migration lock (pg_advisory_xact_lock(1037453835920848937)): \
             a migration is running; clearing the row now would race it"
                .into(),
            holder,
        ));
    }
    holder.map(|m| {
        refusal(
            RefusalReason::TableLocked,
            format!(
                "another session holds {}: a migration may be running",
                m.lock
            ),
            Some(m),
        )
    })
}

/// Refuses the clear-dirty repair when there is no golang-migrate row to clear: a Coder v1
/// database, or no `schema_migrations` table in `schema`.
pub fn table_refusal(v1: bool, has_table: bool, schema: &str, v: Version) -> Option<Refusal> {
    let (reason, message) = if v1 {
        (
            RefusalReason::V1Database,
            "this is a Coder v1 database (migration_cursor exists): there is no golang-migrate row to clear".to_string(),
        )
    } else if !has_table {
        (
            RefusalReason::NoTable,
            format!(
                "there is no schema_migrations table in schema {schema} (a fresh database), not ({v}, dirty)"
            ),
        )
    } else {
        return None;
    };
    Some(Refusal {
        reason,
        message,
        holder: None,
        lock_holders: Vec::new(),
    })
}

/// How a repair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change was made and committed.
    Changed,
    /// Nothing needed doing (terminate: no session was old enough).
    NothingToDo,
    /// migtag refused: the database is not in the state the repair requires.
    Refused,
    /// The operator did not confirm (or could not: no terminal and no --yes).
    NotConfirmed,
}

/// Why `clear-dirty` refused, as a stable snake_case name for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Another session holds Coder's migration lock: a migration runs now.
    MigrationRunning,
    /// Another session holds a lock on schema_migrations (its row or the table).
    TableLocked,
    /// The row is not `(V, dirty)`.
    RowDiffers,
    /// There is no `schema_migrations` table in the connection's schema.
    NoTable,
    /// A Coder v1 database.
    V1Database,
    /// The compare-and-set changed a number of rows other than one.
    CompareAndSetMissed,
    /// The schema read inside the transaction is not the one the decision was made from.
    SchemaChanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
    /// Who holds the lock, when the reason is a lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<MigrationInProgress>,
    /// Sessions holding locks on the table, when the row was locked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock_holders: Vec<LockHolder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    pub pid: i32,
    pub mode: String,
    pub application_name: Option<String>,
    pub state: Option<String>,
    pub query: Option<String>,
}

/// What `clear-dirty` saw, asked and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClearDirtyReport {
    pub action: &'static str,
    pub outcome: Outcome,
    /// True only when a row was changed and committed.
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    /// The table, as the server names it (`public.schema_migrations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub expected: Row,
    #[serde(flatten)]
    pub plan: ClearDirtyPlan,
    /// The row as migtag read it (locked) before any change; `None` for no row.
    pub before: Option<Row>,
    /// The row after the committed change; `None` when removed or nothing changed.
    pub after: Option<Row>,
    /// The statement migtag ran, or would have run after confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// How many rows the statement changed (1 when committed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_changed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

impl ClearDirtyReport {
    pub fn new(plan: ClearDirtyPlan) -> Self {
        ClearDirtyReport {
            action: "clear_dirty",
            outcome: Outcome::Refused,
            changed: false,
            database: None,
            table: None,
            expected: Row {
                version: plan.migration.version,
                dirty: true,
            },
            plan,
            before: None,
            after: None,
            statement: None,
            rows_changed: None,
            refusal: None,
        }
    }

    pub fn exit_code(&self) -> crate::ExitCode {
        outcome_exit_code(self.outcome, false)
    }
}

fn outcome_exit_code(outcome: Outcome, partial: bool) -> crate::ExitCode {
    use crate::ExitCode;
    match outcome {
        Outcome::Changed if partial => ExitCode::NeedsHuman,
        Outcome::Changed | Outcome::NothingToDo => ExitCode::Success,
        Outcome::Refused => ExitCode::NeedsHuman,
        Outcome::NotConfirmed => ExitCode::Usage,
    }
}

/// What `fix-row` saw, asked and did: the row action the evidence decided, run as a
/// compare-and-set under Coder's migration lock after re-reading the row and the schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixRowReport {
    pub action: &'static str,
    pub outcome: Outcome,
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The decision's row action (the same statement check, gate and runbook print).
    pub row_action: super::decide::RowAction,
    /// The schema fingerprint the decision was made from; the transaction re-reads it.
    pub schema_fingerprint: String,
    pub before: Option<Row>,
    pub after: Option<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

impl FixRowReport {
    pub fn new(row_action: super::decide::RowAction, schema_fingerprint: String) -> Self {
        FixRowReport {
            action: "fix_row",
            outcome: Outcome::Refused,
            changed: false,
            database: None,
            table: None,
            row_action,
            schema_fingerprint,
            before: None,
            after: None,
            statement: None,
            refusal: None,
        }
    }

    pub fn exit_code(&self) -> crate::ExitCode {
        outcome_exit_code(self.outcome, false)
    }
}

/// Whether the row found is the one the row action expects (`None`: no row). `Some(message)`
/// says what differs.
pub fn row_action_mismatch(found: Option<Row>, want: Option<Row>) -> Option<String> {
    if found == want {
        return None;
    }
    let show = |r: Option<Row>| match r {
        Some(r) => r.to_string(),
        None => "no row".to_string(),
    };
    Some(format!(
        "the row is {}, not {}: the database changed since migtag read it; run the command again",
        show(found),
        show(want)
    ))
}

/// Session states `terminate` may end: the session waits for its client, so ending it
/// interrupts no statement (an open transaction is rolled back).
pub const IDLE_STATES: [&str; 3] = [
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
];

/// One other session of the database, as listed before anything is ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEntry {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    /// `None` when the role may not see it.
    pub state: Option<String>,
    /// Seconds in the current state, as the server computed it.
    pub state_seconds: Option<f64>,
    /// The server's text form of `backend_start` and `state_change`: the termination
    /// statement requires both unchanged, so a reused pid or a session that ran a statement
    /// since the listing is left alone.
    pub backend_start: Option<String>,
    pub state_change: Option<String>,
    pub query: Option<String>,
}

/// Why a session is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    /// Running a statement (or waiting on a lock, or another non-idle state).
    NotIdle,
    /// Idle for less than the bound.
    UnderBound,
    /// The role may not see its state.
    StateHidden,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptSession {
    #[serde(flatten)]
    pub session: SessionEntry,
    pub reason: KeepReason,
}

/// A session to end, with the exact statement that ends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminateTarget {
    #[serde(flatten)]
    pub session: SessionEntry,
    pub statement: String,
}

/// Splits the other sessions into those to end and those to keep.
pub fn select_sessions(
    sessions: Vec<SessionEntry>,
    older_than_secs: u64,
) -> (Vec<TerminateTarget>, Vec<KeptSession>) {
    let mut end = Vec::new();
    let mut keep = Vec::new();
    for s in sessions {
        let reason = match (&s.state, s.state_seconds) {
            (None, _) => Some(KeepReason::StateHidden),
            (Some(st), _) if !IDLE_STATES.contains(&st.as_str()) => Some(KeepReason::NotIdle),
            (Some(_), Some(age)) if age > older_than_secs as f64 => None,
            (Some(_), _) => Some(KeepReason::UnderBound),
        };
        match (reason, &s.backend_start, &s.state_change) {
            (None, Some(b), Some(c)) => {
                let statement = terminate_statement(s.pid, b, c, older_than_secs);
                end.push(TerminateTarget {
                    session: s,
                    statement,
                });
            }
            (None, _, _) => keep.push(KeptSession {
                session: s,
                reason: KeepReason::StateHidden,
            }),
            (Some(reason), _, _) => keep.push(KeptSession { session: s, reason }),
        }
    }
    end.sort_by_key(|t| t.session.pid);
    keep.sort_by_key(|k| k.session.pid);
    (end, keep)
}

/// Ends `pid` only if it is still the same session (same start), still in the same idle
/// period (same state change), still on this database, not ours, still idle, and idle
/// longer than the bound, all checked by the server in the same statement.
pub fn terminate_statement(
    pid: i32,
    backend_start: &str,
    state_change: &str,
    older_than_secs: u64,
) -> String {
    let states = IDLE_STATES
        .iter()
        .map(|s| sql::literal(s))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = {pid} \
         AND backend_start::text = {} AND state_change::text = {} \
         AND datname = current_database() AND pid <> pg_backend_pid() \
         AND state IN ({states}) AND now() - state_change > interval '{older_than_secs} seconds'",
        sql::literal(backend_start),
        sql::literal(state_change),
    )
}

/// What happened to one session migtag tried to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminateResult {
    /// Signalled, and gone from pg_stat_activity.
    Ended,
    /// Signalled, but still listed when migtag stopped waiting.
    StillPresent,
    /// The re-check found no such session any more: it ended by itself, ran a statement, or
    /// its pid now belongs to another session. Left alone.
    VanishedOrChanged,
    /// The server refused: the role may not signal that session.
    PermissionDenied,
    /// `pg_terminate_backend` returned false (the pid is no server process any more).
    NotSignalled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminateAttempt {
    pub pid: i32,
    pub result: TerminateResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminateReport {
    pub action: &'static str,
    pub outcome: Outcome,
    pub database: DatabaseInfo,
    pub older_than_seconds: u64,
    /// Sessions chosen to be ended, with the statement for each.
    pub targets: Vec<TerminateTarget>,
    /// Other sessions of the database, left alone, with the reason.
    pub kept: Vec<KeptSession>,
    /// What happened to each target (empty unless confirmed).
    pub attempts: Vec<TerminateAttempt>,
    /// Pids that were ended.
    pub ended: Vec<i32>,
    /// Pids that were targets and are still there or were refused.
    pub not_ended: Vec<i32>,
}

impl TerminateReport {
    /// Fills `ended` and `not_ended` from the attempts, and the outcome.
    pub fn finish(&mut self) {
        self.ended = self
            .attempts
            .iter()
            .filter(|a| a.result == TerminateResult::Ended)
            .map(|a| a.pid)
            .collect();
        self.not_ended = self
            .attempts
            .iter()
            .filter(|a| a.result != TerminateResult::Ended)
            .map(|a| a.pid)
            .collect();
        if !self.attempts.is_empty() {
            self.outcome = Outcome::Changed;
        }
    }

    /// 0 when every target was ended or deliberately spared (it changed or vanished); 4 when
    /// the server refused one or one survived the signal; 2 when not confirmed.
    pub fn exit_code(&self) -> crate::ExitCode {
        let failed = self.attempts.iter().any(|a| {
            matches!(
                a.result,
                TerminateResult::PermissionDenied | TerminateResult::StillPresent
            )
        });
        outcome_exit_code(self.outcome, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::index::{Index, Project, Provenance, Release};
    use crate::core::migration_set::MigrationSet;
    use std::collections::BTreeMap;

    fn index() -> Index {
        let rel =
            |tag: &str, set: &str| Release::new(tag, MigrationSet::parse(set).unwrap()).unwrap();
        let provenance = Provenance {
            source: "test".into(),
            detail: "unit test".into(),
            generated_at: "2026-01-01".into(),
            complete: false,
        };
        let releases = vec![
            rel("v2.21.0", "1-310,312-313"),
            rel("v2.21.1", "1-310,312-313,316"),
            rel("v2.22.0", "1-325"),
            rel("v2.23.0", "1-330"),
        ];
        Index::new(Project::coder(), provenance, releases, BTreeMap::new()).unwrap()
    }

    #[test]
    fn one_candidate_needs_no_to() {
        let p = plan_clear_dirty(&index(), 320, None, None).unwrap();
        assert_eq!(p.previous.as_ref().unwrap().version, 319);
        assert_eq!(p.assumes, vec!["v2.22.0", "v2.23.0"]);
        assert_eq!(p.run_after_cleanup.as_ref().unwrap().tag, "v2.22.0");
        assert!(plan_clear_dirty(&index(), 320, Some(CleanupTarget::Previous(319)), None).is_ok());
        assert!(matches!(
            plan_clear_dirty(&index(), 320, Some(CleanupTarget::Previous(318)), None),
            Err(PlanProblem::NotACandidate(CleanupTarget::Previous(318), _))
        ));
    }

    #[test]
    fn disagreeing_writers_require_to_and_it_must_be_a_candidate() {
        let Err(PlanProblem::Ambiguous(c)) = plan_clear_dirty(&index(), 316, None, None) else {
            panic!("316 has two candidates")
        };
        let prevs: Vec<_> = c
            .iter()
            .map(|c| c.previous.as_ref().unwrap().version)
            .collect();
        assert_eq!(prevs, vec![313, 315]);
        let msg = PlanProblem::Ambiguous(c.clone()).message(316);
        assert!(
            msg.contains("313") && msg.contains("315") && msg.contains("v2.21.1"),
            "{msg}"
        );
        assert!(PlanProblem::Ambiguous(c)
            .hint()
            .contains("--to with one of: 313, 315"));
        let p = plan_clear_dirty(&index(), 316, Some(CleanupTarget::Previous(313)), None).unwrap();
        assert_eq!(p.assumes, vec!["v2.21.1"]);
        assert_eq!(p.candidates.len(), 2);
        assert!(plan_clear_dirty(&index(), 316, Some(CleanupTarget::Previous(314)), None).is_err());
        assert!(plan_clear_dirty(&index(), 316, Some(CleanupTarget::RemoveRow), None).is_err());
        // --deployed narrows the writers to one.
        let idx = index();
        let d = idx.release("v2.21.1");
        let p = plan_clear_dirty(&idx, 316, None, d).unwrap();
        assert_eq!(p.previous.unwrap().version, 313);
    }

    #[test]
    fn first_migration_removes_the_row_and_unknown_versions_are_refused() {
        let p = plan_clear_dirty(&index(), 1, None, None).unwrap();
        assert_eq!(p.previous, None);
        assert!(plan_clear_dirty(&index(), 1, Some(CleanupTarget::RemoveRow), None).is_ok());
        assert_eq!(
            plan_clear_dirty(&index(), 999, None, None),
            Err(PlanProblem::NotInIndex(999))
        );
        assert_eq!(CleanupTarget::parse("none"), Ok(CleanupTarget::RemoveRow));
        assert_eq!(
            CleanupTarget::parse(" 67 "),
            Ok(CleanupTarget::Previous(67))
        );
        assert!(CleanupTarget::parse("-1").is_err());
        assert!(CleanupTarget::parse("67; DROP TABLE x").is_err());
    }

    #[test]
    fn only_the_exact_dirty_row_passes() {
        let r = |version, dirty| Some(Row { version, dirty });
        assert_eq!(row_mismatch(r(68, true), 68), None);
        assert!(row_mismatch(r(68, false), 68)
            .unwrap()
            .contains("(68, clean)"));
        assert!(row_mismatch(r(69, true), 68)
            .unwrap()
            .contains("(69, dirty), not (68, dirty)"));
        assert!(row_mismatch(None, 68).unwrap().contains("no row"));
    }

    #[test]
    fn statements_are_compare_and_set() {
        let index = crate::bundled::load().unwrap();
        let plan = plan_clear_dirty(&index, 68, None, None).unwrap();
        assert_eq!(
            plan.statement("public.schema_migrations"),
            "UPDATE public.schema_migrations SET version = 67, dirty = false WHERE version = 68 AND dirty"
        );
        assert_eq!(
            plan.clone()
                .keeping(&index)
                .statement("\"My\".schema_migrations"),
            "UPDATE \"My\".schema_migrations SET dirty = false WHERE version = 68 AND dirty"
        );
        let first = plan_clear_dirty(&index, 1, None, None).unwrap();
        assert_eq!(
            first.statement("\"My\".schema_migrations"),
            "DELETE FROM \"My\".schema_migrations WHERE version = 1 AND dirty"
        );
        let t = terminate_statement(42, "2026-01-01 00:00:00.5+00", "it's", 600);
        assert!(t.starts_with("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = 42 AND backend_start::text = '2026-01-01 00:00:00.5+00'"), "{t}");
        assert!(t.contains("state_change::text = 'it''s'"), "{t}");
        assert!(
            t.contains("datname = current_database() AND pid <> pg_backend_pid()"),
            "{t}"
        );
        assert!(
            t.contains("state IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')"),
            "{t}"
        );
        assert!(
            t.ends_with("now() - state_change > interval '600 seconds'"),
            "{t}"
        );
    }

    fn entry(pid: i32, state: Option<&str>, secs: f64) -> SessionEntry {
        SessionEntry {
            pid,
            user: Some("coder".into()),
            application_name: None,
            client_addr: None,
            state: state.map(str::to_string),
            state_seconds: Some(secs),
            backend_start: Some("b".into()),
            state_change: Some("c".into()),
            query: None,
        }
    }

    #[test]
    fn only_idle_sessions_over_the_bound_are_chosen() {
        let (end, keep) = select_sessions(
            vec![
                entry(5, Some("idle"), 700.0),
                entry(1, Some("idle in transaction"), 601.0),
                entry(2, Some("idle in transaction (aborted)"), 9000.0),
                entry(3, Some("active"), 9000.0),
                entry(4, Some("idle"), 600.0),
                entry(6, None, 9000.0),
                entry(7, Some("idle in transaction"), 10.0),
            ],
            600,
        );
        assert_eq!(
            end.iter().map(|t| t.session.pid).collect::<Vec<_>>(),
            vec![1, 2, 5]
        );
        let kept: Vec<_> = keep
            .iter()
            .map(|k| (k.session.pid, k.reason.clone()))
            .collect();
        assert_eq!(
            kept,
            vec![
                (3, KeepReason::NotIdle),
                (4, KeepReason::UnderBound),
                (6, KeepReason::StateHidden),
                (7, KeepReason::UnderBound)
            ]
        );
    }
}
