//! The two opt-in repairs against a live PostgreSQL: the only code in migtag that changes a
//! database, and only after the caller's confirmation callback says yes.
//!
//! - `clear_dirty`: ONE transaction, explicitly `READ WRITE` inside a session whose default
//!   stays read-only: `SET LOCAL lock_timeout`, `pg_try_advisory_xact_lock` on Coder's
//!   migration key (so no Coder binary migrates while the row changes), the row read `FOR
//!   UPDATE`, the comparison with what the operator expects, the confirmation, then the
//!   compare-and-set; exactly one row changed, or it rolls back.
//! - `terminate`: lists the other sessions of the same database, asks, then sends one
//!   statement per session that re-checks every condition on the server before calling
//!   `pg_terminate_backend`, and watches the sessions go.
//!
//! The connection is the live-database adapter's own (`postgres::connect`, its TLS plan,
//! its error wording and password scrubbing); the statements and decisions come from
//! `core::repair`.

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, IsolationLevel, SimpleQueryMessage, SimpleQueryRow};

use crate::adapters::postgres::survey::{self, Survey, CODER_LOCK_KEY};
use crate::adapters::postgres::tls::Verification;
use crate::adapters::postgres::{self, errors, ConnectSettings, Limits};
use crate::core::decide::RowAction;
use crate::core::observation::DatabaseInfo;
use crate::core::repair::{
    lock_refusal, row_action_mismatch, row_mismatch, select_sessions, table_refusal,
    ClearDirtyPlan, ClearDirtyReport, FixRowReport, LockHolder, Outcome, Refusal, RefusalReason,
    Row, SessionEntry, TerminateAttempt, TerminateReport, TerminateResult,
};
use crate::core::sql;
use crate::error::{Error, Result};

/// How long `clear-dirty` keeps its transaction (and Coder's migration lock) open while the
/// operator reads the plan; the server ends the transaction after that, changing nothing.
pub const CONFIRM_WINDOW: Duration = Duration::from_secs(120);

/// How long `terminate` waits for signalled sessions to disappear.
const TERMINATE_WAIT: Duration = Duration::from_secs(5);

/// The connection, with what the messages need.
struct Conn {
    client: Client,
    driver: postgres::Driver,
    verification: Verification,
}

/// Runs the clear-dirty transaction. `confirm` sees the report with the row found and the
/// statement filled in, and returns whether to run it.
pub fn clear_dirty(
    settings: &ConnectSettings,
    limits: &Limits,
    plan: ClearDirtyPlan,
    confirm: &mut dyn FnMut(&ClearDirtyReport) -> bool,
) -> Result<ClearDirtyReport> {
    postgres::block_on(settings, async {
        let mut conn = connect(settings, limits).await?;
        let mut report = ClearDirtyReport::new(plan);
        let result = clear_dirty_tx(&mut conn, settings, limits, &mut report, confirm).await;
        close(conn).await;
        result.map(|()| report)
    })
}

/// Runs the row action the decision called for (`repair fix-row`), in one transaction under
/// Coder's migration lock: the row is re-read `FOR UPDATE` and must be the one the action
/// expects, the catalog is re-read and must have the fingerprint the decision was made from,
/// then `confirm` sees the statement; exactly one row is written, or nothing is.
pub fn fix_row(
    settings: &ConnectSettings,
    limits: &Limits,
    action: RowAction,
    fingerprint: String,
    confirm: &mut dyn FnMut(&FixRowReport) -> bool,
) -> Result<FixRowReport> {
    postgres::block_on(settings, async {
        let mut conn = connect(settings, limits).await?;
        let mut report = FixRowReport::new(action, fingerprint);
        let result = fix_row_tx(&mut conn, settings, limits, &mut report, confirm).await;
        close(conn).await;
        result.map(|()| report)
    })
}

/// Lists, asks, ends. `confirm` sees the report with the targets and kept sessions; it is
/// not called when there is nothing to end.
pub fn terminate(
    settings: &ConnectSettings,
    limits: &Limits,
    older_than_secs: u64,
    confirm: &mut dyn FnMut(&TerminateReport) -> bool,
) -> Result<TerminateReport> {
    postgres::block_on(settings, async {
        let conn = connect(settings, limits).await?;
        let result = terminate_sessions(&conn, settings, limits, older_than_secs, confirm).await;
        close(conn).await;
        result
    })
}

/// The live-database adapter's connection, without its pooler fallback: a repair holds one
/// transaction across round trips and must reach PostgreSQL itself.
async fn connect(settings: &ConnectSettings, limits: &Limits) -> Result<Conn> {
    let c = postgres::connect(settings, limits, false).await?;
    Ok(Conn {
        client: c.client,
        driver: c.driver,
        verification: c.verification,
    })
}

async fn close(conn: Conn) {
    postgres::close(conn.client, conn.driver).await;
}

/// Why a statement did not give rows.
enum Failure {
    Db(tokio_postgres::Error),
    TimedOut,
}

impl Failure {
    fn is_lock_timeout(&self) -> bool {
        matches!(self, Failure::Db(e) if errors::is_lock_timeout(e))
    }

    fn into_error(self, settings: &ConnectSettings, what: &str) -> Error {
        match self {
            Failure::TimedOut => errors::statement_timed_out(settings, Some(what)),
            Failure::Db(e) => errors::statement_failed(&e, settings, what, errors::Purpose::Repair),
        }
    }
}

/// One simple-protocol statement: its rows and the count of its command tag.
async fn simple(
    client: &Client,
    sql: &str,
    bound: Duration,
) -> std::result::Result<(Vec<SimpleQueryRow>, u64), Failure> {
    let msgs = tokio::time::timeout(bound, client.simple_query(sql))
        .await
        .map_err(|_| Failure::TimedOut)?
        .map_err(Failure::Db)?;
    let mut rows = Vec::new();
    let mut count = 0;
    for m in msgs {
        match m {
            SimpleQueryMessage::Row(r) => rows.push(r),
            SimpleQueryMessage::CommandComplete(n) => count = n,
            _ => {}
        }
    }
    Ok((rows, count))
}

fn ms(d: Duration) -> u128 {
    d.as_millis().max(1)
}

async fn read_survey(
    client: &Client,
    settings: &ConnectSettings,
    limits: &Limits,
) -> Result<Survey> {
    let (rows, _) = simple(
        client,
        &survey::survey_sql(),
        postgres::statement_bound(limits),
    )
    .await
    .map_err(|f| f.into_error(settings, "reading pg_locks and pg_stat_activity"))?;
    let text = rows
        .first()
        .and_then(|r| r.get(0))
        .ok_or_else(|| Error::internal("the survey returned no row"))?;
    survey::parse_survey(text)
}

/// What the two row repairs' reports share: where they ran, and why they refused.
trait RowRepair {
    fn ran_at(&mut self, database: DatabaseInfo);
    fn refused(&mut self, refusal: Refusal);
}

impl RowRepair for ClearDirtyReport {
    fn ran_at(&mut self, database: DatabaseInfo) {
        self.database = Some(database);
    }
    fn refused(&mut self, refusal: Refusal) {
        self.outcome = Outcome::Refused;
        self.refusal = Some(refusal);
    }
}

impl RowRepair for FixRowReport {
    fn ran_at(&mut self, database: DatabaseInfo) {
        self.database = Some(database);
    }
    fn refused(&mut self, refusal: Refusal) {
        self.outcome = Outcome::Refused;
        self.refusal = Some(refusal);
    }
}

fn refuse(report: &mut impl RowRepair, reason: RefusalReason, message: String) {
    report.refused(Refusal {
        reason,
        message,
        holder: None,
        lock_holders: Vec::new(),
    });
}

/// A compare-and-set must change exactly one row: otherwise the repair is refused (the
/// caller rolls back). True when refused.
fn missed(report: &mut impl RowRepair, changed: u64) -> bool {
    if changed == 1 {
        return false;
    }
    refuse(
        report,
        RefusalReason::CompareAndSetMissed,
        format!("the compare-and-set changed {changed} rows, not exactly 1: rolled back, nothing changed"),
    );
    true
}

/// What the transaction decided, for the steps that need the connection after it ended.
enum TxEnd {
    Done,
    /// The row read waited longer than lock_timeout: say who holds locks on the table.
    TableLocked(String),
}

/// While the operator reads the plan the transaction holds its locks; the server ends it
/// after [`CONFIRM_WINDOW`] without an answer, which changes nothing.
async fn hold_for_confirmation(c: &Client, settings: &ConnectSettings, b: Duration) -> Result<()> {
    simple(
        c,
        &format!(
            "SET LOCAL idle_in_transaction_session_timeout = '{}ms'",
            ms(CONFIRM_WINDOW)
        ),
        b,
    )
    .await
    .map(|_| ())
    .map_err(|f| f.into_error(settings, "setting idle_in_transaction_session_timeout"))
}

/// A repair's transaction, opened and holding Coder's migration lock.
struct Locked<'c> {
    tx: tokio_postgres::Transaction<'c>,
    survey: Survey,
    /// The schema `search_path` selects.
    schema: String,
}

/// The start every repair shares: ONE `READ WRITE` transaction, `SET LOCAL lock_timeout`,
/// `pg_try_advisory_xact_lock` on Coder's key, the lock survey; refused while a migration
/// may run (`None`, the refusal in `report`), an error when `search_path` names no schema.
async fn open_locked<'c>(
    conn: &'c mut Conn,
    settings: &ConnectSettings,
    limits: &Limits,
    report: &mut impl RowRepair,
) -> Result<Option<Locked<'c>>> {
    let verification = conn.verification;
    let b = postgres::statement_bound(limits);
    let begin = "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE";
    let tx = conn
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .read_only(false)
        .start()
        .await
        .map_err(|e| Failure::Db(e).into_error(settings, begin))?;
    let c = tx.client();
    let step = |what: &'static str| move |f: Failure| f.into_error(settings, what);
    simple(
        c,
        &format!("SET LOCAL lock_timeout = '{}ms'", ms(limits.lock_timeout)),
        b,
    )
    .await
    .map_err(step("setting lock_timeout"))?;
    let (rows, _) = simple(
        c,
        &format!("SELECT pg_try_advisory_xact_lock({CODER_LOCK_KEY})"),
        b,
    )
    .await
    .map_err(step("taking Coder's migration lock"))?;
    let locked = rows.first().and_then(|r| r.get(0)) == Some("t");
    let survey = read_survey(c, settings, limits).await?;
    report.ran_at(postgres::database_info(settings, &survey, verification));
    if let Some(refusal) = lock_refusal(locked, postgres::in_progress(&survey)) {
        let _ = tx.rollback().await;
        report.refused(refusal);
        return Ok(None);
    }
    let Some(schema) = survey.schema.clone() else {
        let _ = tx.rollback().await;
        return Err(Error::database(format!(
            "{}: search_path names no existing schema, so there is no schema_migrations to change",
            settings.target()
        ))
        .with_hint(
            "check search_path in the connection string against the schemas of the database",
        ));
    };
    Ok(Some(Locked { tx, survey, schema }))
}

async fn clear_dirty_tx(
    conn: &mut Conn,
    settings: &ConnectSettings,
    limits: &Limits,
    report: &mut ClearDirtyReport,
    confirm: &mut dyn FnMut(&ClearDirtyReport) -> bool,
) -> Result<()> {
    let b = postgres::statement_bound(limits);
    let v = report.plan.migration.version;
    let Some(Locked { tx, survey, schema }) = open_locked(conn, settings, limits, report).await?
    else {
        return Ok(());
    };
    let c = tx.client();
    let step = |what: &'static str| move |f: Failure| f.into_error(settings, what);
    let refusal = table_refusal(survey.v1, survey.table.is_some(), &schema, v);
    let (None, Some(table)) = (&refusal, survey.table.as_ref()) else {
        // table_refusal refuses every case without a table.
        report.outcome = Outcome::Refused;
        report.refusal = refusal;
        let _ = tx.rollback().await;
        return Ok(());
    };
    if let Err(e) = survey::check_shape(table) {
        let _ = tx.rollback().await;
        return Err(e);
    }
    let qualified = table.qualified.clone();
    report.table = Some(qualified.clone());

    let read_sql = format!("SELECT version, dirty FROM {qualified} FOR UPDATE");
    let end = match simple(c, &read_sql, b).await {
        Err(f) if f.is_lock_timeout() => {
            // The transaction is aborted; the lock holders are read after its rollback.
            let _ = tx.rollback().await;
            TxEnd::TableLocked(qualified.clone())
        }
        Err(f) => {
            let _ = tx.rollback().await;
            return Err(f.into_error(settings, "reading the row FOR UPDATE"));
        }
        Ok((rows, _)) => {
            let before = decode_row(&qualified, &rows)?;
            report.before = before;
            if let Some(message) = row_mismatch(before, v) {
                refuse(report, RefusalReason::RowDiffers, message);
                let _ = tx.rollback().await;
                return Ok(());
            }
            let statement = report.plan.statement(&qualified);
            report.statement = Some(statement.clone());
            hold_for_confirmation(c, settings, b).await?;

            let asked = Instant::now();
            if !confirm(report) {
                report.outcome = Outcome::NotConfirmed;
                let _ = tx.rollback().await;
                return Ok(());
            }
            let late = asked.elapsed() > CONFIRM_WINDOW;
            let (_, changed) = match simple(c, &statement, b).await {
                Ok(r) => r,
                Err(f) => {
                    let mut e = f.into_error(settings, "running the compare-and-set");
                    if late {
                        e = e.with_hint(format!(
                            "the confirmation came after {}s: the server ended the transaction, so nothing was changed; run the command again",
                            CONFIRM_WINDOW.as_secs()
                        ));
                    }
                    return Err(e);
                }
            };
            report.rows_changed = Some(changed);
            if missed(report, changed) {
                let _ = tx.rollback().await;
                return Ok(());
            }
            let (rows, _) = simple(c, &format!("SELECT version, dirty FROM {qualified}"), b)
                .await
                .map_err(step("reading the row after the change"))?;
            let after = decode_row(&qualified, &rows)?;
            tx.commit()
                .await
                .map_err(|e| Failure::Db(e).into_error(settings, "COMMIT"))?;
            report.after = after;
            report.changed = true;
            report.outcome = Outcome::Changed;
            TxEnd::Done
        }
    };
    if let TxEnd::TableLocked(qualified) = end {
        let holders = lock_holders(&conn.client, &qualified, b)
            .await
            .unwrap_or_default();
        refuse(
            report,
            RefusalReason::TableLocked,
            format!(
                "another session holds a lock on {qualified} (its row or the whole table) for longer than lock_timeout ({}ms): \
                 it may be changing the row right now",
                ms(limits.lock_timeout)
            ),
        );
        if let Some(r) = report.refusal.as_mut() {
            r.lock_holders = holders;
        }
    }
    Ok(())
}

async fn fix_row_tx(
    conn: &mut Conn,
    settings: &ConnectSettings,
    limits: &Limits,
    report: &mut FixRowReport,
    confirm: &mut dyn FnMut(&FixRowReport) -> bool,
) -> Result<()> {
    let b = postgres::statement_bound(limits);
    let Some(Locked { tx, survey, schema }) = open_locked(conn, settings, limits, report).await?
    else {
        return Ok(());
    };
    let c = tx.client();
    let step = |what: &'static str| move |f: Failure| f.into_error(settings, what);
    if survey.v1 {
        refuse(
            report,
            RefusalReason::V1Database,
            "this is a Coder v1 database (migration_cursor exists): there is no golang-migrate row to fix".into(),
        );
        let _ = tx.rollback().await;
        return Ok(());
    }
    // The table the action writes: the one the survey found, else golang-migrate's name in
    // the session's schema (the create-row action makes it).
    let qualified = match &survey.table {
        Some(t) => {
            if let Err(e) = survey::check_shape(t) {
                let _ = tx.rollback().await;
                return Err(e);
            }
            t.qualified.clone()
        }
        None => format!("{}.schema_migrations", sql::identifier(&schema)),
    };
    report.table = Some(qualified.clone());
    let before = match &survey.table {
        None => None,
        Some(_) => {
            let read_sql = format!("SELECT version, dirty FROM {qualified} FOR UPDATE");
            match simple(c, &read_sql, b).await {
                Ok((rows, _)) => decode_row(&qualified, &rows)?,
                Err(f) => {
                    let _ = tx.rollback().await;
                    return Err(f.into_error(settings, "reading the row FOR UPDATE"));
                }
            }
        }
    };
    report.before = before;
    if let Some(message) = row_action_mismatch(before, report.row_action.from) {
        refuse(report, RefusalReason::RowDiffers, message);
        let _ = tx.rollback().await;
        return Ok(());
    }
    // The schema, again, inside the transaction: the action is right only for the schema
    // the decision saw.
    let (rows, _) = simple(c, postgres::catalog::CATALOG_SQL, b)
        .await
        .map_err(step("re-reading the catalog"))?;
    let text = rows
        .first()
        .and_then(|r| r.get(0))
        .ok_or_else(|| Error::internal("the catalog query returned no row"))?;
    let now = postgres::catalog::parse(text, &schema)?.fingerprint();
    if now != report.schema_fingerprint {
        refuse(
            report,
            RefusalReason::SchemaChanged,
            format!(
                "the schema changed since migtag decided (fingerprint {} then, {now} now): run the command again",
                report.schema_fingerprint
            ),
        );
        let _ = tx.rollback().await;
        return Ok(());
    }
    let statement = report.row_action.statement(&qualified);
    report.statement = Some(statement.clone());
    hold_for_confirmation(c, settings, b).await?;
    if !confirm(report) {
        report.outcome = Outcome::NotConfirmed;
        let _ = tx.rollback().await;
        return Ok(());
    }
    // One statement at a time (the create-row action is two): the last one's count is the
    // row written.
    let mut changed = 0;
    for part in crate::core::sql_text::split_statements(&statement) {
        let (_, n) = simple(c, &part.text, b)
            .await
            .map_err(step("running the row action"))?;
        changed = n;
    }
    if missed(report, changed) {
        let _ = tx.rollback().await;
        return Ok(());
    }
    let (rows, _) = simple(c, &format!("SELECT version, dirty FROM {qualified}"), b)
        .await
        .map_err(step("reading the row after the change"))?;
    report.after = decode_row(&qualified, &rows)?;
    if report.after != report.row_action.to {
        refuse(
            report,
            RefusalReason::CompareAndSetMissed,
            "the row after the change is not the one the action sets: rolled back, nothing changed"
                .into(),
        );
        let _ = tx.rollback().await;
        return Ok(());
    }
    tx.commit()
        .await
        .map_err(|e| Failure::Db(e).into_error(settings, "COMMIT"))?;
    report.changed = true;
    report.outcome = Outcome::Changed;
    Ok(())
}

fn decode_row(qualified: &str, rows: &[SimpleQueryRow]) -> Result<Option<Row>> {
    let pairs: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0).map(str::to_string), r.get(1).map(str::to_string)))
        .collect();
    Ok(survey::parse_rows(qualified, &pairs)?.map(|(version, dirty)| Row { version, dirty }))
}

async fn lock_holders(
    client: &Client,
    qualified: &str,
    b: Duration,
) -> std::result::Result<Vec<LockHolder>, Failure> {
    let sql = format!(
        "SELECT l.pid, l.mode, a.application_name, a.state, left(a.query, {}) \
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
          WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() \
            AND l.mode <> 'AccessShareLock' \
            AND l.relation = to_regclass({}) ORDER BY l.pid",
        survey::QUERY_DISPLAY_CHARS,
        sql::literal(qualified)
    );
    let (rows, _) = simple(client, &sql, b).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(LockHolder {
                pid: r.get(0)?.parse().ok()?,
                mode: r.get(1)?.to_string(),
                application_name: r.get(2).map(str::to_string).filter(|s| !s.is_empty()),
                state: r.get(3).map(str::to_string),
                query: r
                    .get(4)
                    .map(|q| q.split_whitespace().collect::<Vec<_>>().join(" ")),
            })
        })
        .collect())
}

/// The other client sessions of this database (never another database's, never ours).
fn sessions_sql() -> String {
    format!(
        "SELECT pid, usename, application_name, host(client_addr), state, \
                extract(epoch FROM now() - state_change)::float8, \
                backend_start::text, state_change::text, left(query, {}) \
           FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid() \
            AND coalesce(backend_type, 'client backend') = 'client backend' \
          ORDER BY pid",
        survey::QUERY_DISPLAY_CHARS
    )
}

fn decode_session(r: &SimpleQueryRow) -> Option<SessionEntry> {
    let text = |i: usize| r.get(i).map(str::to_string);
    Some(SessionEntry {
        pid: r.get(0)?.parse().ok()?,
        user: text(1),
        application_name: text(2).filter(|s| !s.is_empty()),
        client_addr: text(3),
        state: text(4),
        state_seconds: r.get(5).and_then(|s| s.parse().ok()),
        backend_start: text(6),
        state_change: text(7),
        query: text(8).map(|q| q.split_whitespace().collect::<Vec<_>>().join(" ")),
    })
}

async fn terminate_sessions(
    conn: &Conn,
    settings: &ConnectSettings,
    limits: &Limits,
    older_than_secs: u64,
    confirm: &mut dyn FnMut(&TerminateReport) -> bool,
) -> Result<TerminateReport> {
    let c = &conn.client;
    let b = postgres::statement_bound(limits);
    let survey = read_survey(c, settings, limits).await?;
    let (rows, _) = simple(c, &sessions_sql(), b)
        .await
        .map_err(|f| f.into_error(settings, "listing the sessions of the database"))?;
    let sessions: Vec<SessionEntry> = rows.iter().filter_map(decode_session).collect();
    let (targets, kept) = select_sessions(sessions, older_than_secs);
    let mut report = TerminateReport {
        action: "terminate",
        outcome: Outcome::NothingToDo,
        database: postgres::database_info(settings, &survey, conn.verification),
        older_than_seconds: older_than_secs,
        targets,
        kept,
        attempts: Vec::new(),
        ended: Vec::new(),
        not_ended: Vec::new(),
    };
    if report.targets.is_empty() {
        return Ok(report);
    }
    if !confirm(&report) {
        report.outcome = Outcome::NotConfirmed;
        return Ok(report);
    }
    let mut signalled = Vec::new();
    for t in &report.targets {
        let pid = t.session.pid;
        let (result, detail) = match simple(c, &t.statement, b).await {
            Ok((rows, _)) => match rows.first().and_then(|r| r.get(0)) {
                None => (TerminateResult::VanishedOrChanged, None),
                Some("t") => {
                    signalled.push(t);
                    (TerminateResult::Ended, None)
                }
                Some(_) => (TerminateResult::NotSignalled, None),
            },
            Err(Failure::Db(e)) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => (
                TerminateResult::PermissionDenied,
                e.as_db_error().map(|d| {
                    let mut s = d.message().to_string();
                    if let Some(detail) = d.detail() {
                        s.push_str(": ");
                        s.push_str(detail);
                    }
                    s
                }),
            ),
            Err(f) => return Err(f.into_error(settings, &format!("ending session {pid}"))),
        };
        report.attempts.push(TerminateAttempt {
            pid,
            result,
            detail,
        });
    }
    // A signalled backend exits within milliseconds; say so only once it is gone.
    let deadline = Instant::now() + TERMINATE_WAIT;
    let mut remaining: Vec<(i32, String)> = signalled
        .iter()
        .map(|t| {
            (
                t.session.pid,
                t.session.backend_start.clone().unwrap_or_default(),
            )
        })
        .collect();
    while !remaining.is_empty() {
        let list = remaining
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let (rows, _) = simple(
            c,
            &format!("SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid IN ({list})"),
            b,
        )
        .await
        .map_err(|f| f.into_error(settings, "checking that the sessions ended"))?;
        let alive: Vec<(i32, String)> = rows
            .iter()
            .filter_map(|r| Some((r.get(0)?.parse().ok()?, r.get(1)?.to_string())))
            .collect();
        remaining.retain(|p| alive.contains(p));
        if remaining.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for a in &mut report.attempts {
        if a.result == TerminateResult::Ended && remaining.iter().any(|(p, _)| *p == a.pid) {
            a.result = TerminateResult::StillPresent;
            a.detail = Some(format!(
                "signalled, but still listed after {}s",
                TERMINATE_WAIT.as_secs()
            ));
        }
    }
    report.finish();
    Ok(report)
}
