//! The upgrade forecast: what the pending migrations of V -> T will do to this database, and
//! for how long. Pure: the facts of each pending migration (measured by replaying Coder's real
//! SQL, see docs/verify.md), the live sizes of the tables (optional) and the throughput model
//! ([`rates`]) go in; a serialisable [`Forecast`] comes out.
//!
//! The rules (docs/forecast.md):
//! - Since v2.5.0 Coder runs every pending migration in ONE transaction, so every lock is held
//!   until the last migration commits; before, each file ran and committed on its own.
//! - Only tables that exist before the upgrade matter to Coder's traffic: a table a pending
//!   migration creates is empty and unused until the new version runs.
//! - ACCESS EXCLUSIVE blocks every query on the table; SHARE, SHARE ROW EXCLUSIVE and
//!   EXCLUSIVE block writes, which Coder does all the time on its hot tables ([`HOT_TABLES`]).
//! - The estimate is work / rate per operation, plus a per-migration floor, with the rate range
//!   of the benchmark; the migration window is at least 15 minutes (Coder's upgrade guide)
//!   and [`WINDOW_FACTOR`] times the high estimate.
//!
//! What lives elsewhere: the mapping from the effects data to [`MigrationFacts`]
//! (`effects.rs` here, one function), the live sizes (`adapters/postgres/sizes.rs`), the text
//! (`render/forecast.rs`).

pub mod effects;
pub mod model;
pub mod rates;
pub mod rehearsed;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::effects::{Step, StepKind};
use super::migration_set::Version;
use rates::Rates;

/// Coder's upgrade-troubleshooting guide: allow a migration at least this long.
pub const MIN_WINDOW_SECONDS: u64 = 15 * 60;

/// The window is this many times the high estimate, so an estimate that is off by the band's
/// width still fits.
pub const WINDOW_FACTOR: f64 = 4.0;

/// The first release that runs all pending migrations in one transaction.
pub const ONE_TRANSACTION_SINCE: (u64, u64, u64) = (2, 5, 0);

/// Tables Coder writes on every request, heartbeat or build, so a lock that blocks writes on
/// them stalls the running Coder (API key `last_used`, agent and provisioner heartbeats, logs,
/// stats, audit and connection logs, tailnet coordination). Writes to other tables are rare
/// enough that a SHARE lock held for the batch is a delay, not an outage.
pub const HOT_TABLES: &[&str] = &[
    "api_keys",
    "audit_logs",
    "connection_logs",
    "provisioner_daemons",
    "provisioner_job_logs",
    "provisioner_jobs",
    "replicas",
    "tailnet_agents",
    "tailnet_client_subscriptions",
    "tailnet_clients",
    "tailnet_coordinators",
    "tailnet_peers",
    "tailnet_tunnels",
    "users",
    "workspace_agent_logs",
    "workspace_agent_stats",
    "workspace_agents",
    "workspace_app_stats",
    "workspace_builds",
    "workspaces",
];

/// PostgreSQL's table lock modes, weakest first (the order of its conflict table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// From `pg_locks.mode` (`AccessExclusiveLock`) or the SQL name (`ACCESS EXCLUSIVE`).
    pub fn parse(text: &str) -> Option<LockMode> {
        let key: String = text
            .trim()
            .trim_end_matches("Lock")
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match key.as_str() {
            "accessshare" => LockMode::AccessShare,
            "rowshare" => LockMode::RowShare,
            "rowexclusive" => LockMode::RowExclusive,
            "shareupdateexclusive" => LockMode::ShareUpdateExclusive,
            "share" => LockMode::Share,
            "sharerowexclusive" => LockMode::ShareRowExclusive,
            "exclusive" => LockMode::Exclusive,
            "accessexclusive" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// What of Coder's traffic waits while the lock is held: SELECT takes ACCESS SHARE,
    /// INSERT/UPDATE/DELETE take ROW EXCLUSIVE (PostgreSQL's lock conflict table).
    pub fn blocks(self) -> Blocks {
        match self {
            LockMode::AccessExclusive => Blocks::ReadsAndWrites,
            LockMode::Share | LockMode::ShareRowExclusive | LockMode::Exclusive => Blocks::Writes,
            _ => Blocks::Nothing,
        }
    }
}

impl Serialize for LockMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.sql_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocks {
    ReadsAndWrites,
    Writes,
    Nothing,
}

/// What one pending migration does, as the replay of Coder's SQL measured it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MigrationFacts {
    pub version: Version,
    pub name: String,
    /// Tables and views the migration creates (empty or new, and unused by the running Coder).
    pub creates: Vec<String>,
    /// Every table lock it takes (several modes per table are normal).
    pub locks: Vec<(String, LockMode)>,
    /// Tables whose storage it rewrites.
    pub rewrites: Vec<String>,
    /// `(index, table)` for indexes built on tables that existed before it.
    pub index_builds: Vec<(String, String)>,
    /// Tables it reads in full to validate a constraint or select rows.
    pub scans: Vec<String>,
    /// Tables whose rows it updates.
    pub updates: Vec<String>,
    /// Tables whose rows it deletes (and does not update).
    pub deletes: Vec<String>,
    /// How many catalog objects it adds, removes or changes: its catalog-only work.
    pub catalog_objects: usize,
    /// The work of each statement, in order (recorded by the replay); empty in effects data
    /// from before they were recorded, when [`MigrationFacts::work`] derives one step per
    /// table from the lists above.
    pub steps: Vec<Step>,
}

impl MigrationFacts {
    /// The migration's work in the order it runs: the recorded steps, or, without them, one
    /// step per table from the per-migration lists (rewrites, index builds, scans not part of
    /// a rewrite or build of the same table, then data changes of every row).
    pub fn work(&self) -> Vec<Step> {
        if !self.steps.is_empty() {
            return self.steps.clone();
        }
        let step = |kind, table: &str, detail: Option<&String>| Step {
            statement: 0,
            kind,
            table: table.to_string(),
            rows: 0,
            of: 0,
            detail: detail.cloned(),
        };
        let read_anyway =
            |t: &String| self.rewrites.contains(t) || self.index_builds.iter().any(|(_, b)| b == t);
        self.rewrites
            .iter()
            .map(|t| step(StepKind::Rewrite, t, None))
            .chain(
                self.index_builds
                    .iter()
                    .map(|(i, t)| step(StepKind::IndexBuild, t, Some(i))),
            )
            .chain(
                self.scans
                    .iter()
                    .filter(|t| !read_anyway(t))
                    .map(|t| step(StepKind::Scan, t, None)),
            )
            .chain(self.updates.iter().map(|t| step(StepKind::Update, t, None)))
            .chain(self.deletes.iter().map(|t| step(StepKind::Delete, t, None)))
            .collect()
    }
}

/// A table's size as the server's statistics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TableSize {
    /// `reltuples`; None when the table was never vacuumed or analyzed.
    pub rows: Option<u64>,
    /// The table's main fork: what a scan, an index build or an update reads (out-of-line
    /// TOAST values are not read unless a column needs them).
    pub heap_bytes: u64,
    /// Heap, TOAST and indexes: what a rewrite writes again.
    pub total_bytes: u64,
    /// Indexes on the table: each UPDATE or INSERT writes an entry in each.
    #[serde(skip)]
    pub indexes: u32,
    /// Foreign keys from the table: each row the batch updates a second time is checked
    /// against each.
    #[serde(skip)]
    pub foreign_keys: u32,
}

/// What the live database says about sizes: its tables' statistics, and the ACCESS EXCLUSIVE
/// locks other sessions hold or wait for on them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSizes {
    pub schema: Option<String>,
    pub tables: BTreeMap<String, TableSize>,
    pub exclusive_locks: Vec<TableLocker>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TableLocker {
    pub table: String,
    pub pid: Option<i32>,
    pub granted: bool,
}

/// The tables the pending migrations touch and that exist before them.
pub fn touched_tables(pending: &[MigrationFacts]) -> BTreeSet<String> {
    let mut created = BTreeSet::new();
    let mut out = BTreeSet::new();
    for m in pending {
        let names = m
            .locks
            .iter()
            .map(|(t, _)| t)
            .chain(&m.rewrites)
            .chain(m.index_builds.iter().map(|(_, t)| t))
            .chain(&m.scans)
            .chain(&m.updates)
            .chain(&m.deletes);
        for t in names {
            if !created.contains(t) && !m.creates.contains(t) {
                out.insert(t.clone());
            }
        }
        created.extend(m.creates.iter().cloned());
    }
    out
}

/// Why the live sizes cannot be forecast now: another session holds (or waits for) ACCESS
/// EXCLUSIVE on a table the upgrade touches, so the table is changing under a migration or
/// other DDL, and the upgrade would queue behind it for a time nobody can forecast.
pub fn blocked_by(live: &LiveSizes, touched: &BTreeSet<String>) -> Option<String> {
    let hits: Vec<String> = live
        .exclusive_locks
        .iter()
        .filter(|l| touched.contains(&l.table))
        .map(|l| {
            format!(
                "{} {} ACCESS EXCLUSIVE on {}",
                l.pid
                    .map(|p| format!("pid {p}"))
                    .unwrap_or_else(|| "a prepared transaction".into()),
                if l.granted { "holds" } else { "waits for" },
                l.table
            )
        })
        .collect();
    (!hits.is_empty()).then(|| {
        format!(
            "{} (a migration or other schema change is running); sizes and times would be wrong and the upgrade would queue behind it",
            hits.join(", ")
        )
    })
}

/// Everything the forecast needs.
#[derive(Debug, Clone)]
pub struct ForecastInput<'a> {
    /// The pending migrations, in the order they run.
    pub pending: Vec<MigrationFacts>,
    /// Live sizes of the schema's tables; None offline (then: no sizes, no times).
    pub sizes: Option<&'a BTreeMap<String, TableSize>>,
    /// Whether T runs the batch in one transaction.
    pub one_transaction: bool,
    pub rates: &'a Rates,
    /// Set when a live database was read but its sizes cannot be used (see [`blocked_by`]).
    pub unavailable: Option<String>,
    /// Pending migrations without replayed facts (newer than the bundled effects): their locks
    /// and work are unknown, so an estimate leaves them out and says it is incomplete.
    pub unknown: Vec<Version>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transaction {
    /// One transaction for the whole batch: locks are held until the last migration commits.
    #[default]
    One,
    /// Each migration commits on its own: locks are held until its own end.
    PerMigration,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Forecast {
    pub transaction: Transaction,
    /// How many migrations run.
    pub migrations: usize,
    /// Whether sizes come from the live database (`live`) or are unknown (`offline`).
    pub sizes: &'static str,
    /// Per pre-existing table, the strongest lock and who takes it; strongest first.
    pub locks: Vec<TableLock>,
    pub rewrites: Vec<Work>,
    pub index_builds: Vec<Work>,
    pub scans: Vec<Work>,
    pub updates: Vec<Work>,
    pub estimate: Option<Estimate>,
    pub migration_window: Option<MigrationWindow>,
    /// Why a live database gave no sizes or times (a schema change is running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// What the forecast could not know (tables without statistics, tables missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Pending migrations without replayed facts (beyond the effects in use): their locks
    /// and work are not in this forecast, with or without sizes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_migrations: Vec<Version>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableLock {
    pub table: String,
    pub mode: LockMode,
    /// The migrations that take this mode.
    pub migrations: Vec<Version>,
    pub blocks: Blocks,
    /// Whether Coder's own traffic stalls: ACCESS EXCLUSIVE anywhere, or a write-blocking
    /// lock on a hot table.
    pub blocks_coder: bool,
    /// Until the batch commits (one transaction), or until the migration ends.
    pub held_until: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub size: Option<TableSize>,
}

/// One piece of heavy work on a pre-existing table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Work {
    pub table: String,
    /// The index, for an index build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub migration: Version,
    /// The statement of the migration's file (from 1), when the effects recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The bytes the work reads or writes (see [`TableSize`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// For a data change: `update`, `delete` or `insert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
    /// Its share of the estimate, low to high.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<(f64, f64)>,
    /// For an UPDATE or DELETE through a join (`WHERE id IN (SELECT ... JOIN ...)`): the
    /// rows of the other tables it joins, in the share it touches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub low_seconds: f64,
    pub high_seconds: f64,
    /// Where the times come from: the statistics and the rates, or a sampled rehearsal.
    pub basis: Basis,
    /// How, in words.
    pub basis_detail: String,
    /// The sample's share of the rows, with a sampled rehearsal (`gate --rehearse --sample`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_percent: Option<f64>,
    /// False when some pending migrations have no replayed facts: the times leave them out,
    /// so the high estimate is no upper bound (`gate --max-duration` then fails).
    pub complete: bool,
    /// The pending migrations the times leave out.
    pub unknown_migrations: Vec<Version>,
}

/// What an [`Estimate`]'s times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The live tables' statistics and the measured rates ([`rates`]).
    Statistics,
    /// The batch timed on a sample of the rows, scaled ([`rehearsed`]).
    Rehearsal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationWindow {
    pub seconds: u64,
    pub basis: String,
}

/// Whether release `tag` (`v2.5.0`) runs its pending migrations in one transaction.
pub fn one_transaction(version: &semver::Version) -> bool {
    let (ma, mi, pa) = ONE_TRANSACTION_SINCE;
    (version.major, version.minor, version.patch) >= (ma, mi, pa)
}

pub fn forecast(input: &ForecastInput) -> Forecast {
    let rates = input.rates;
    let sizes = input.sizes;
    let mut notes = BTreeSet::new();
    // Tables created by the batch so far: work and locks on them cost nothing and block
    // nobody.
    let mut created: BTreeSet<&str> = BTreeSet::new();
    let mut locks: BTreeMap<(&str, LockMode), Vec<Version>> = BTreeMap::new();
    let (mut rewrites, mut index_builds, mut scans, mut updates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Every step of the batch in order, with whether the forecast lists it.
    let mut steps: Vec<(Version, Step, bool)> = Vec::new();

    // What the live sizes cannot tell about a table the forecast lists work on.
    let note_size = |table: &str, notes: &mut BTreeSet<String>| match sizes.map(|s| s.get(table)) {
        Some(Some(size)) if size.rows.is_none() => {
            notes.insert(format!(
                "{table} has no statistics yet (never vacuumed or analyzed): its size counts as {} bytes",
                size.heap_bytes
            ));
        }
        Some(None) => {
            notes.insert(format!(
                "{table} is not in the database although no pending migration creates it: counted as empty"
            ));
        }
        _ => {}
    };
    for m in &input.pending {
        let old = |t: &str| !created.contains(t) && !m.creates.iter().any(|c| c == t);
        for (table, mode) in &m.locks {
            if old(table) {
                locks.entry((table, *mode)).or_default().push(m.version);
            }
        }
        for step in m.work() {
            // Work on a table the batch creates is listed only when it fills it from
            // another table (an INSERT ... SELECT backfill): the rest is on empty tables. An
            // INSERT of a few constant rows (seed data) is costed but not listed.
            let backfill = step.kind == StepKind::Insert && step.of > 0;
            let constant = step.kind == StepKind::Insert && step.of == 0;
            let listed = backfill || (old(&step.table) && !constant);
            if listed && old(&step.table) {
                note_size(&step.table, &mut notes);
            }
            steps.push((m.version, step, listed));
        }
        created.extend(m.creates.iter().map(String::as_str));
    }
    let costed = sizes.map(|s| {
        model::cost_steps(
            steps.iter().map(|(_, step, _)| step),
            // A table the batch creates (by now `created` holds them all) has no live size:
            // it starts empty; a missing one counts as empty too (noted above).
            &|t: &str| match s.get(t) {
                None if created.contains(t) => None,
                size => Some(size.copied().unwrap_or_default()),
            },
            rates,
        )
    });
    for (i, (version, step, listed)) in steps.iter().enumerate() {
        if !listed {
            continue;
        }
        let c = costed.as_ref().map(|c| &c[i]);
        let w = Work {
            table: step.table.clone(),
            index: (step.kind == StepKind::IndexBuild)
                .then(|| step.detail.clone())
                .flatten(),
            migration: *version,
            statement: (step.statement > 0).then_some(step.statement),
            rows: c.and_then(|c| c.rows),
            bytes: c.map(|c| c.bytes),
            operation: match step.kind {
                StepKind::Update => Some("update"),
                StepKind::Delete => Some("delete"),
                StepKind::Insert => Some("insert"),
                _ => None,
            },
            seconds: c.map(|c| (round2(c.seconds.0), round2(c.seconds.1))),
            joined_rows: c.and_then(|c| c.joined_rows),
        };
        match step.kind {
            StepKind::Rewrite => rewrites.push(w),
            StepKind::IndexBuild => index_builds.push(w),
            StepKind::Scan => scans.push(w),
            StepKind::Update | StepKind::Delete | StepKind::Insert => updates.push(w),
        }
    }
    let work_seconds = costed.as_ref().map(|c| {
        c.iter()
            .fold((0.0, 0.0), |a, c| (a.0 + c.seconds.0, a.1 + c.seconds.1))
    });

    // The strongest mode per table, with the migrations that take exactly that mode.
    let mut strongest: BTreeMap<&str, (LockMode, Vec<Version>)> = BTreeMap::new();
    for ((table, mode), versions) in locks {
        let e = strongest.entry(table).or_insert((mode, Vec::new()));
        if mode >= e.0 {
            *e = (mode, versions);
        }
    }
    let held_until = |versions: &[Version]| {
        if input.one_transaction {
            "the whole batch commits".to_string()
        } else {
            format!(
                "the end of migration {}",
                versions
                    .iter()
                    .map(|v| format!("{v:06}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let mut locks: Vec<TableLock> = strongest
        .into_iter()
        .map(|(table, (mode, migrations))| {
            let blocks = mode.blocks();
            let blocks_coder = match blocks {
                Blocks::ReadsAndWrites => true,
                Blocks::Writes => HOT_TABLES.contains(&table),
                Blocks::Nothing => false,
            };
            TableLock {
                table: table.to_string(),
                mode,
                held_until: held_until(&migrations),
                migrations,
                blocks,
                blocks_coder,
                size: sizes.map(|s| s.get(table).copied().unwrap_or_default()),
            }
        })
        .collect();
    // What stalls Coder first; among those, its hot tables, then the strongest and largest.
    let hot = |t: &str| HOT_TABLES.contains(&t);
    locks.sort_by(|a, b| {
        let key = |l: &TableLock| {
            (
                l.blocks_coder,
                hot(&l.table),
                l.mode,
                l.size.map(|s| s.total_bytes),
            )
        };
        key(b).cmp(&key(a)).then_with(|| a.table.cmp(&b.table))
    });

    // With sizes, the costliest work first (the text shows the first few).
    for list in [&mut rewrites, &mut index_builds, &mut scans, &mut updates] {
        list.sort_by(|a, b| {
            let high = |w: &Work| w.seconds.map(|s| s.1).unwrap_or(0.0);
            high(b).total_cmp(&high(a))
        });
    }
    let n = input.pending.len();
    let objects: usize = input.pending.iter().map(|m| m.catalog_objects).sum();
    let estimate = work_seconds.map(|(low, high)| {
        let (low, high) = (
            low + objects as f64 * rates.catalog_object_seconds.fast,
            high + objects as f64 * rates.catalog_object_seconds.slow,
        );
        Estimate {
            low_seconds: round2(low),
            high_seconds: round2(high),
            basis: Basis::Statistics,
            basis_detail: basis(rates),
            sample_percent: None,
            complete: input.unknown.is_empty(),
            unknown_migrations: input.unknown.clone(),
        }
    });
    let migration_window = estimate.as_ref().map(|e| window(e.high_seconds));
    Forecast {
        transaction: if input.one_transaction {
            Transaction::One
        } else {
            Transaction::PerMigration
        },
        migrations: n,
        sizes: match (sizes, &input.unavailable) {
            (Some(_), _) => "live",
            (None, Some(_)) => "unavailable",
            (None, None) => "offline",
        },
        locks,
        rewrites,
        index_builds,
        scans,
        updates,
        estimate,
        migration_window,
        unknown_migrations: input.unknown.clone(),
        unavailable: input.unavailable.clone(),
        notes: notes.into_iter().collect(),
    }
}

/// The migration window the probes must allow: the user's `--migration-window` when given,
/// else the forecast's, else the guide's 15 minutes.
pub fn migration_window_seconds(given: Option<u64>, forecast: Option<&Forecast>) -> u64 {
    given
        .or_else(|| {
            forecast
                .and_then(|f| f.migration_window.as_ref())
                .map(|w| w.seconds)
        })
        .unwrap_or(MIN_WINDOW_SECONDS)
}

/// At least [`MIN_WINDOW_SECONDS`], and [`WINDOW_FACTOR`] times the high estimate, rounded up
/// to whole minutes.
pub fn window(high_seconds: f64) -> MigrationWindow {
    let scaled = (high_seconds * WINDOW_FACTOR).ceil() as u64;
    let minutes = scaled.div_ceil(60).max(MIN_WINDOW_SECONDS / 60);
    let seconds = minutes * 60;
    let basis = if seconds == MIN_WINDOW_SECONDS {
        format!("the upgrade guide's 15 minutes; {WINDOW_FACTOR}x the high estimate is less")
    } else {
        format!("{WINDOW_FACTOR}x the high estimate, rounded up to whole minutes")
    };
    MigrationWindow { seconds, basis }
}

fn basis(rates: &Rates) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    let mb = |r: &rates::Rate| format!("{:.0}-{:.0} MB/s", r.slow / MB, r.fast / MB);
    let us = |r: &rates::Rate| format!("{:.1}-{:.1} us", r.fast * 1e6, r.slow * 1e6);
    format!(
        "sizes from the server's statistics (pg_class, as of the last VACUUM/ANALYZE); each statement costed on the table as the batch leaves it; rates calibrated by {}: \
         per row updated {} plus {} per index and {} per foreign key of a row written before, {} per row joined, \
         index build {} per row, rewrite {}, scan {}, DELETE {}, {:.2}-{:.2} ms per catalog object; \
         a data change touches the share of rows it touched in the replay of Coder's fixtures; time spent waiting for other sessions' locks is not included",
        rates.source,
        us(&rates.update_row_seconds),
        us(&rates.index_entry_seconds),
        us(&rates.foreign_key_check_seconds),
        us(&rates.join_row_seconds),
        us(&rates.index_build_row_seconds),
        mb(&rates.rewrite_bytes),
        mb(&rates.scan_bytes),
        mb(&rates.delete_bytes),
        rates.catalog_object_seconds.fast * 1000.0,
        rates.catalog_object_seconds.slow * 1000.0,
    )
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
