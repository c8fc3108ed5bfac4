//! `watch`: following the session that holds Coder's migration lock, decided from plain
//! samples (docs/watch.md). No I/O here: the adapter polls PostgreSQL's views and hands a
//! [`Sample`] per poll; [`Tracker::observe`] turns it into a [`Frame`] for the renderer, and
//! [`Tracker::finish`] decides how the batch ended from the row read after the lock went.
//!
//! Matching a running query to a migration: `pg_stat_activity.query` holds what the client
//! sent, cut at `track_activity_query_size` (1 KiB by default). Coder's batch sends each
//! migration file as one query, so the text is the start of a file; a client that sends
//! statements one by one shows one statement. The query is split into statements, each is
//! fingerprinted as `index effects` fingerprinted the files (`sql_text::fingerprint`), and a
//! migration matches when its recorded fingerprints start with the query's complete
//! statements (a file), or contain the single statement (statement k of M).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::effects::{Effects, MigrationEffects};
use super::forecast::effects::release_effects;
use super::forecast::{self, rates, ForecastInput, MigrationFacts, TableSize};
use super::migration_set::{MigrationSet, Version};
use super::observation::shorten_query;
use super::sql_text::{fingerprint, is_transaction_control, split_statements};
use super::state::DbState;

/// A migration the batch may run, with what the matcher and the view need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub version: Version,
    pub name: String,
    /// The file's statement fingerprints, in order.
    pub statements: Vec<String>,
    /// `index on table` for the indexes it builds on tables that existed before it.
    pub index_builds: Vec<String>,
    /// The forecast duration band of this migration alone, in seconds.
    pub forecast: Option<Band>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub low_seconds: f64,
    pub high_seconds: f64,
}

/// The target release, when `--target` names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tag: String,
    pub migrations: MigrationSet,
}

/// What the watch knows before it polls.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// In version order.
    pub candidates: Vec<Candidate>,
    pub target: Option<Target>,
    /// The probe that restarts Coder's pod while it migrates (`startupProbe` or
    /// `livenessProbe`) and its budget in seconds, from `--manifest`.
    pub probe: Option<(&'static str, u64)>,
    /// Migrations known (from the replayed rehearsals of the effects data) to fail on the
    /// way to the target: the version, and which set it fails after, at which statement,
    /// with PostgreSQL's error.
    pub known_failures: Vec<(Version, String)>,
}

/// The plan from the effects data: with a target, its migrations as it ships them (and the
/// other recorded contents of each, so a text the target's binary sends still matches);
/// without, every recorded migration and content. `sizes` (the live `pg_class` statistics) give each
/// migration its forecast band.
pub fn plan(
    effects: &Effects,
    target: Option<Target>,
    sizes: Option<&BTreeMap<String, TableSize>>,
) -> Plan {
    let band = |e: &MigrationEffects| -> Option<Band> {
        let sizes = sizes?;
        let f = forecast::forecast(&ForecastInput {
            pending: vec![MigrationFacts::from(e)],
            sizes: Some(sizes),
            one_transaction: true,
            rates: &rates::MEASURED,
            unavailable: None,
            unknown: vec![],
        });
        f.estimate.map(|e| Band {
            low_seconds: e.low_seconds,
            high_seconds: e.high_seconds,
        })
    };
    // One candidate per recorded text of a content: its own statements, and for the main
    // content those of older texts with the same effects.
    let texts = |e: &MigrationEffects, forecast: Option<Band>| -> Vec<Candidate> {
        let older = effects
            .main_effects(e.version)
            .filter(|m| std::ptr::eq(*m, e))
            .and_then(|_| effects.other_texts.get(&e.version));
        std::iter::once(&e.statements)
            .chain(older.into_iter().flatten())
            .map(|f| Candidate {
                version: e.version,
                name: e.name.clone(),
                statements: f.0.clone(),
                index_builds: e.index_builds.clone(),
                forecast,
            })
            .collect()
    };
    let mut candidates = Vec::new();
    let mut known_failures = Vec::new();
    match &target {
        Some(t) => {
            let shipped = release_effects(effects, &t.migrations, &t.tag);
            for v in t.migrations.iter() {
                let Some(first) = shipped(v) else { continue };
                // The other recorded contents match too, with the shipped content's forecast.
                let forecast = band(first);
                candidates.extend(texts(first, forecast));
                let others = effects
                    .main_effects(v)
                    .into_iter()
                    .chain(
                        effects
                            .variants
                            .iter()
                            .map(|x| &x.effects)
                            .filter(|e| e.version == v),
                    )
                    .filter(|e| e.statements != first.statements);
                candidates.extend(others.flat_map(|e| texts(e, forecast)));
            }
            for irr in &effects.irregular {
                for r in irr.rehearsals.iter().filter(|r| r.target == t.tag) {
                    if let Some(f) = &r.fails_at {
                        known_failures.push((
                            f.version,
                            format!(
                                "replayed on the migration set {} wrote, fails at {:06}_{} `{}`: {}",
                                irr.releases.join(", "),
                                f.version,
                                f.name,
                                shorten_query(&f.statement, 160),
                                f.error
                            ),
                        ));
                    }
                }
            }
        }
        None => {
            let all = effects
                .main
                .iter()
                .chain(effects.variants.iter().map(|x| &x.effects))
                .chain(effects.irregular.iter().flat_map(|i| i.migrations.iter()));
            candidates.extend(all.flat_map(|e| texts(e, band(e))));
        }
    }
    Plan {
        candidates,
        target,
        probe: None,
        known_failures,
    }
}

/// One session other than the lock holder, as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    pub pid: i32,
    pub application: Option<String>,
    pub client: Option<String>,
    pub state: Option<String>,
    /// Seconds since its transaction started.
    pub xact_seconds: Option<f64>,
    /// Seconds in its current state (for `idle in transaction`: idle this long).
    pub state_seconds: Option<f64>,
    /// What it runs or last ran, shortened.
    pub query: Option<String>,
    #[serde(skip)]
    pub blocked_by: Vec<i32>,
}

/// The session holding Coder's migration lock.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub pid: i32,
    pub application: Option<String>,
    pub client: Option<String>,
    pub state: Option<String>,
    pub xact_seconds: Option<f64>,
    /// Seconds since its current query started.
    pub query_seconds: Option<f64>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    /// The query text as the server keeps it (None: hidden from this role).
    pub query: Option<String>,
    pub blocked_by: Vec<i32>,
}

/// `pg_stat_progress_create_index` for the holder.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexProgress {
    pub table: String,
    pub phase: String,
    pub blocks_done: i64,
    pub blocks_total: i64,
    pub tuples_done: i64,
    pub tuples_total: i64,
}

/// One poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub holder: Option<Holder>,
    /// Every other client session of the database.
    pub peers: Vec<Peer>,
    /// The holder's index build, when PostgreSQL reports one.
    pub index_build: Option<IndexProgress>,
}

/// A query matched to a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub version: Version,
    pub name: String,
    /// (k, M): the query is statement k of the file's M; None when the query is the file
    /// (PostgreSQL does not say which of its statements runs).
    pub statement: Option<(usize, usize)>,
}

/// Matches a query text to a migration, preferring migrations above `after` (a batch moves
/// forward), then the others, each in version order.
pub fn match_query(
    query: &str,
    candidates: &[Candidate],
    after: Option<Version>,
) -> Option<Matched> {
    let pieces: Vec<String> = split_statements(query)
        .into_iter()
        .filter(|s| !is_transaction_control(&s.text))
        .map(|s| s.text)
        .collect();
    if pieces.is_empty() {
        return None;
    }
    // The server cuts the text at track_activity_query_size: the last piece may be partial.
    let ends_whole = query.trim_end().ends_with(';');
    let fps: Vec<String> = pieces.iter().map(|p| fingerprint(p)).collect();
    let complete: &[String] = if ends_whole || fps.len() == 1 {
        &fps
    } else {
        &fps[..fps.len() - 1]
    };
    let ahead = candidates
        .iter()
        .filter(|c| after.is_none_or(|a| c.version > a));
    let behind = candidates
        .iter()
        .filter(|c| after.is_some_and(|a| c.version <= a));
    ahead.chain(behind).find_map(|c| {
        if fps.len() == 1 {
            let k = c.statements.iter().position(|f| *f == fps[0])?;
            let statement = (c.statements.len() > 1).then_some((k + 1, c.statements.len()));
            return Some(Matched {
                version: c.version,
                name: c.name.clone(),
                statement: statement.or(Some((1, 1))),
            });
        }
        (c.statements.len() >= complete.len() && c.statements.starts_with(complete)).then(|| {
            Matched {
                version: c.version,
                name: c.name.clone(),
                statement: None,
            }
        })
    })
}

/// True for golang-migrate's own statements around the files: the lock, and the row written
/// before and after each file (`TRUNCATE`/`INSERT`/`SELECT` on `schema_migrations`).
pub fn is_bookkeeping(query: &str) -> bool {
    let statements = split_statements(query);
    !statements.is_empty()
        && statements.iter().all(|s| {
            let n = super::sql_text::normalize(&s.text).to_ascii_lowercase();
            is_transaction_control(&s.text)
                || n.starts_with("select pg_advisory_xact_lock(")
                || n.starts_with("select pg_advisory_lock(")
                || n.starts_with("truncate schema_migrations")
                || n.starts_with("insert into schema_migrations")
                || (n.starts_with("select") && n.contains(" from schema_migrations"))
        })
}

/// What a frame says about the migration running.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationView {
    pub version: Version,
    pub name: String,
    /// Statement k of the file's M, when the client sends statements one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<StatementView>,
    /// Its place among the target's migrations (with `--target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Seconds since its query started.
    pub seconds: Option<f64>,
    pub forecast: Option<Band>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatementView {
    pub index: usize,
    pub of: usize,
}

/// "k of N": counted from the first migration this watch saw running (`counted_from`), the
/// batch's start as far as the watch can tell (the row is not readable while the batch runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub k: usize,
    pub of: usize,
    pub counted_from: Version,
    /// The target's migrations after this one.
    pub remaining: usize,
}

/// One poll while the batch runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Running {
    pub pid: i32,
    pub application: Option<String>,
    pub client: Option<String>,
    pub state: Option<String>,
    /// Seconds since the batch's transaction started.
    pub batch_seconds: Option<f64>,
    /// The forecast of the batch from the first migration seen to the target (the sum of
    /// the migrations' bands).
    pub batch_forecast: Option<Band>,
    pub migration: Option<MigrationView>,
    /// The running query, shortened, when it matched no migration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_query: Option<String>,
    /// golang-migrate is between two files: taking the lock or writing the row
    /// (`TRUNCATE`/`INSERT` on `schema_migrations`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub between_migrations: bool,
    /// What the holder waits for (`wait_event_type: wait_event`), when it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
    /// Sessions the holder waits for (`pg_blocking_pids`).
    pub blocked_by: Vec<Peer>,
    /// Sessions waiting for the holder (Coder's other replicas, readers of its tables).
    pub waiters: Vec<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_build: Option<IndexBuild>,
    /// With `--manifest`: what is left of the probe's budget (docs/watch.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeBudget>,
}

/// The probe's budget against the batch's age. The pod started before the batch, so the
/// time left is at most this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeBudget {
    pub probe: &'static str,
    pub budget_seconds: u64,
    /// Budget minus the batch's age (negative: the probe should already have fired).
    pub left_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexBuild {
    #[serde(flatten)]
    pub progress: IndexProgress,
    /// The index, from the migration's recorded index builds on that table.
    pub index: Option<String>,
}

/// How the watch ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ending {
    /// The row moved to the batch's last migration: exit 0.
    Committed { version: Version },
    /// The lock went and the row did not move: exit 3.
    RolledBack {
        version: Option<Version>,
        /// The migration seen last: the one that failed, most likely.
        failed_at: Option<Version>,
        failed_name: Option<String>,
        /// What Coder's log shows.
        logs: String,
        /// Another session took the lock and runs the same migrations again (a replica
        /// retrying): the row cannot be read while it holds the table.
        #[serde(skip_serializing_if = "Option::is_none")]
        retried_by: Option<i32>,
    },
    /// The lock went and the row is dirty: a migration failed outside a batch transaction
    /// (a binary older than v2.5.0, or a per-migration transaction): exit 3.
    FailedDirty { version: Version, logs: String },
    /// The lock went but the watch cannot tell whether the batch committed (no migration
    /// was recognised and no target given): exit 4.
    Undetermined {
        version: Option<Version>,
        dirty: Option<bool>,
    },
    /// `--timeout` passed while the batch still ran: exit 4.
    TimedOut { seconds: f64 },
    /// Nothing held the lock at the first poll: exit 0 when the row is clean and nothing of
    /// the target is pending, else 4.
    NothingRunning {
        kind: &'static str,
        version: Option<Version>,
        dirty: Option<bool>,
        /// With `--target`: its migrations above the row, which nothing is applying.
        pending: Option<usize>,
    },
}

impl Ending {
    pub fn exit_code(&self) -> crate::error::ExitCode {
        use crate::error::ExitCode;
        match self {
            Ending::Committed { .. } => ExitCode::Success,
            Ending::RolledBack { .. } | Ending::FailedDirty { .. } => ExitCode::Unsafe,
            Ending::Undetermined { .. } | Ending::TimedOut { .. } => ExitCode::NeedsHuman,
            Ending::NothingRunning {
                dirty,
                pending,
                kind,
                ..
            } => {
                if *dirty == Some(true) || pending.is_some_and(|p| p > 0) || *kind == "v1" {
                    ExitCode::NeedsHuman
                } else {
                    ExitCode::Success
                }
            }
        }
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        match self {
            Ending::Committed { version } => {
                format!("committed: the row moved to {version:06}; the batch is done")
            }
            Ending::RolledBack {
                version,
                failed_at,
                failed_name,
                retried_by,
                ..
            } => {
                let at = match (failed_at, failed_name) {
                    (Some(v), Some(n)) => format!(" after {v:06}_{n} was seen running"),
                    _ => String::new(),
                };
                if let Some(pid) = retried_by {
                    return format!("rolled back{at}: the lock was released and pid {pid} now runs the same migrations again (another replica retrying the batch); nothing of the first batch was kept");
                }
                let row = version
                    .map(|v| format!("still at {v:06}"))
                    .unwrap_or_else(|| "empty".into());
                format!("rolled back{at}: the lock was released and the row did not move (it is {row}); nothing of the batch was kept")
            }
            Ending::FailedDirty { version, .. } => {
                format!("failed: the row is dirty at {version:06}: that migration started and did not finish")
            }
            Ending::Undetermined { version, dirty } => format!(
                "the lock was released; the row is {} but no running migration was recognised, so whether the batch committed is unknown (give --target)",
                row_text(*version, *dirty)
            ),
            Ending::TimedOut { seconds } => {
                format!("timed out after {}: the batch still holds the lock", super::duration::approx(*seconds))
            }
            Ending::NothingRunning {
                kind,
                version,
                dirty,
                pending,
            } => {
                let row = match *kind {
                    "fresh" => "the database is fresh (no schema_migrations row)".to_string(),
                    "v1" => "this is a Coder v1 database".to_string(),
                    _ => format!("the row is {}", row_text(*version, *dirty)),
                };
                match pending {
                    Some(p) if *p > 0 => format!(
                        "no migration is running: {row}; the target's {p} pending migration{} are not being applied (is the new pod running, or crash-looping before it takes the lock?)",
                        if *p == 1 { "" } else { "s" }
                    ),
                    _ => format!("no migration is running: {row}"),
                }
            }
        }
    }
}

fn row_text(version: Option<Version>, dirty: Option<bool>) -> String {
    match (version, dirty) {
        (Some(v), Some(true)) => format!("{v:06} (dirty)"),
        (Some(v), _) => format!("{v:06} (clean)"),
        (None, _) => "absent".into(),
    }
}

/// Follows one batch across polls.
#[derive(Debug, Clone)]
pub struct Tracker {
    plan: Plan,
    /// Migrations seen running, in the order seen.
    seen: Vec<Version>,
    /// The pid that held the lock when first seen.
    pub holder_pid: Option<i32>,
}

impl Tracker {
    pub fn new(plan: Plan) -> Tracker {
        Tracker {
            plan,
            seen: Vec::new(),
            holder_pid: None,
        }
    }

    /// The highest migration seen running.
    pub fn last_seen(&self) -> Option<Version> {
        self.seen.iter().copied().max()
    }

    /// The ending when another session took the lock and runs a migration this watch already
    /// saw running: the first batch rolled back (a committed batch leaves nothing to run
    /// again) and a replica retries it. None otherwise: a new holder with nothing to run
    /// again is followed as before.
    pub fn retried(&self, holder: &Holder) -> Option<Ending> {
        let first = self.holder_pid?;
        let last = self.last_seen()?;
        if holder.pid == first {
            return None;
        }
        let m = match_query(holder.query.as_deref()?, &self.plan.candidates, None)?;
        if m.version > last {
            return None;
        }
        match self.rolled_back(None) {
            Ending::RolledBack {
                version,
                failed_at,
                failed_name,
                logs,
                ..
            } => Some(Ending::RolledBack {
                version,
                failed_at,
                failed_name,
                logs,
                retried_by: Some(holder.pid),
            }),
            other => Some(other),
        }
    }

    /// The frame of a poll that found the lock held.
    pub fn observe(&mut self, holder: &Holder, sample: &Sample) -> Running {
        self.holder_pid.get_or_insert(holder.pid);
        let matched = holder
            .query
            .as_deref()
            .and_then(|q| match_query(q, &self.plan.candidates, self.last_seen()));
        if let Some(m) = &matched {
            if !self.seen.contains(&m.version) {
                self.seen.push(m.version);
            }
        }
        let first = self.seen.iter().copied().min();
        let candidate = |v: Version| self.plan.candidates.iter().find(|c| c.version == v);
        let migration = matched.as_ref().map(|m| MigrationView {
            version: m.version,
            name: m.name.clone(),
            statement: m.statement.map(|(index, of)| StatementView { index, of }),
            position: self.position(m.version, first),
            seconds: holder.query_seconds.map(round_tenths),
            forecast: candidate(m.version).and_then(|c| c.forecast),
        });
        let batch_forecast = self.batch_forecast(first);
        let between_migrations =
            matched.is_none() && holder.query.as_deref().is_some_and(is_bookkeeping);
        let unmatched_query = match (&matched, &holder.query) {
            (None, Some(q)) if !q.trim().is_empty() && !between_migrations => {
                Some(shorten_query(q, 160))
            }
            _ => None,
        };
        let blockers: BTreeSet<i32> = holder.blocked_by.iter().copied().collect();
        let peers = |keep: &dyn Fn(&Peer) -> bool| -> Vec<Peer> {
            sample.peers.iter().filter(|p| keep(p)).cloned().collect()
        };
        let index_build = sample.index_build.as_ref().map(|p| IndexBuild {
            progress: p.clone(),
            index: matched.as_ref().and_then(|m| {
                candidate(m.version)?
                    .index_builds
                    .iter()
                    .find(|b| b.rsplit(" on ").next() == Some(p.table.as_str()))
                    .map(|b| b.split(" on ").next().unwrap_or(b).to_string())
            }),
        });
        Running {
            pid: holder.pid,
            application: holder.application.clone().filter(|a| !a.is_empty()),
            client: holder.client.clone(),
            state: holder.state.clone(),
            batch_seconds: holder.xact_seconds.map(round_tenths),
            batch_forecast,
            migration,
            unmatched_query,
            between_migrations,
            waiting_on: match (&holder.wait_event_type, &holder.wait_event) {
                (Some(t), Some(e)) if t == "Lock" => Some(format!("{t}: {e}")),
                _ => None,
            },
            blocked_by: peers(&|p| blockers.contains(&p.pid)),
            waiters: peers(&|p| p.blocked_by.contains(&holder.pid)),
            index_build,
            probe: self.plan.probe.map(|(probe, budget)| ProbeBudget {
                probe,
                budget_seconds: budget,
                left_seconds: round_tenths(budget as f64 - holder.xact_seconds.unwrap_or(0.0)),
            }),
        }
    }

    fn position(&self, v: Version, first: Option<Version>) -> Option<Position> {
        let target = self.plan.target.as_ref()?;
        if !target.migrations.contains(v) {
            return None;
        }
        let first = first.unwrap_or(v);
        let from = target.migrations.prev(first).unwrap_or(0);
        let batch = target.migrations.above(from);
        let k = batch.iter().take_while(|m| *m <= v).count();
        Some(Position {
            k,
            of: batch.len() as usize,
            counted_from: first,
            remaining: target.migrations.above(v).len() as usize,
        })
    }

    fn batch_forecast(&self, first: Option<Version>) -> Option<Band> {
        let target = self.plan.target.as_ref()?;
        let first = first?;
        let mut band = Band {
            low_seconds: 0.0,
            high_seconds: 0.0,
        };
        for v in target.migrations.iter().filter(|v| *v >= first) {
            let f = self
                .plan
                .candidates
                .iter()
                .find(|c| c.version == v)?
                .forecast?;
            band.low_seconds += f.low_seconds;
            band.high_seconds += f.high_seconds;
        }
        Some(Band {
            low_seconds: round_hundredths(band.low_seconds),
            high_seconds: round_hundredths(band.high_seconds),
        })
    }

    /// How the batch ended, from the row read once the lock was released.
    pub fn finish(&self, row: &DbState) -> Ending {
        let last = self.last_seen();
        let target_max = self.plan.target.as_ref().and_then(|t| t.migrations.max());
        match row {
            DbState::Dirty(v) => Ending::FailedDirty {
                version: *v,
                logs: format!(
                    "Coder's log shows the migration error for {v:06} and `Dirty database version {v}. Fix and force version.` on the next start"
                ),
            },
            DbState::Clean(v) => {
                let moved = match (last, target_max) {
                    (Some(l), _) => Some(*v >= l),
                    (None, Some(t)) => Some(*v >= t),
                    (None, None) => None,
                };
                match moved {
                    Some(true) => Ending::Committed { version: *v },
                    Some(false) => self.rolled_back(Some(*v)),
                    None => Ending::Undetermined {
                        version: Some(*v),
                        dirty: Some(false),
                    },
                }
            }
            DbState::Fresh if last.is_some() || target_max.is_some() => self.rolled_back(None),
            other => Ending::Undetermined {
                version: other.version(),
                dirty: other.dirty(),
            },
        }
    }

    fn rolled_back(&self, version: Option<Version>) -> Ending {
        let failed_at = self.last_seen();
        let failed_name = failed_at.and_then(|v| {
            self.plan
                .candidates
                .iter()
                .find(|c| c.version == v)
                .map(|c| c.name.clone())
        });
        // A failure the replay of Coder's SQL knows at or after the last migration seen.
        let known = failed_at.and_then(|v| {
            self.plan
                .known_failures
                .iter()
                .filter(|(f, _)| *f >= v)
                .min_by_key(|(f, _)| *f)
                .map(|(_, e)| e.clone())
        });
        let which = match (failed_at, &failed_name) {
            (Some(v), Some(n)) => {
                format!("{v:06}_{n}.up.sql (the last migration seen running) or a later one")
            }
            _ => "the failing migration".into(),
        };
        let mut logs = format!(
            "Coder's log shows `migration failed` for {which}, with PostgreSQL's error; then the pod exits, restarts and runs the same batch again"
        );
        if let Some(e) = known {
            logs.push_str(&format!("; Coder's SQL, {e}"));
        }
        Ending::RolledBack {
            version,
            failed_at,
            failed_name,
            logs,
            retried_by: None,
        }
    }
}

/// The ending when nothing holds the lock at the first poll.
pub fn nothing_running(row: &DbState, target: Option<&Target>) -> Ending {
    let pending = target.and_then(|t| match row {
        DbState::Fresh => Some(t.migrations.len() as usize),
        DbState::Clean(v) | DbState::Dirty(v) => Some(t.migrations.above(*v).len() as usize),
        _ => None,
    });
    Ending::NothingRunning {
        kind: row.kind(),
        version: row.version(),
        dirty: row.dirty(),
        pending,
    }
}

fn round_tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round_hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sql_text::file_fingerprints;

    fn cand(version: Version, sql: &str) -> Candidate {
        Candidate {
            version,
            name: format!("m{version}"),
            statements: file_fingerprints(sql),
            index_builds: vec![format!("idx_{version} on api_keys")],
            forecast: Some(Band {
                low_seconds: 1.0,
                high_seconds: 2.0,
            }),
        }
    }

    const A: &str = "-- first\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b int;\nUPDATE api_keys SET x = 1;\n";
    const B: &str = "CREATE TABLE b (id int);\nCREATE TABLE c (id int);\n";

    #[test]
    fn a_whole_file_a_truncated_file_and_a_single_statement_match() {
        let cs = vec![cand(10, A), cand(11, B)];
        let m = match_query(A, &cs, None).unwrap();
        assert_eq!((m.version, m.statement), (10, None));
        // Cut in the middle of the third statement, as track_activity_query_size does.
        let cut = &A[..A.find("UPDATE").unwrap() + 10];
        assert_eq!(match_query(cut, &cs, None).unwrap().version, 10);
        let one = match_query("ALTER TABLE a\n  ADD COLUMN b int", &cs, None).unwrap();
        assert_eq!((one.version, one.statement), (10, Some((2, 3))));
        assert_eq!(match_query("SELECT 1", &cs, None), None);
        assert_eq!(
            match_query(
                "CREATE TABLE b (id int); CREATE TABLE z (id int);",
                &cs,
                None
            ),
            None
        );
    }

    fn holder(query: &str) -> Holder {
        Holder {
            pid: 7,
            application: Some("coderd".into()),
            client: Some("10.0.0.7".into()),
            state: Some("active".into()),
            xact_seconds: Some(3.04),
            query_seconds: Some(1.26),
            wait_event_type: Some("Lock".into()),
            wait_event: Some("relation".into()),
            query: Some(query.into()),
            blocked_by: vec![9],
        }
    }

    fn peer(pid: i32, blocked_by: Vec<i32>) -> Peer {
        Peer {
            pid,
            application: Some("old-replica".into()),
            client: None,
            state: Some("idle in transaction".into()),
            xact_seconds: Some(60.0),
            state_seconds: Some(59.0),
            query: None,
            blocked_by,
        }
    }

    #[test]
    fn a_frame_names_the_migration_its_place_blockers_and_waiters() {
        let plan = Plan {
            candidates: vec![cand(10, A), cand(11, B)],
            target: Some(Target {
                tag: "v9".into(),
                migrations: MigrationSet::range(1, 11),
            }),
            probe: Some(("livenessProbe", 30)),
            known_failures: vec![],
        };
        let mut t = Tracker::new(plan);
        let sample = Sample {
            holder: None,
            peers: vec![peer(9, vec![]), peer(12, vec![7]), peer(13, vec![])],
            index_build: Some(IndexProgress {
                table: "api_keys".into(),
                phase: "building index: scanning table".into(),
                blocks_done: 5,
                blocks_total: 10,
                tuples_done: 0,
                tuples_total: 0,
            }),
        };
        let f = t.observe(&holder(A), &sample);
        let m = f.migration.unwrap();
        assert_eq!(m.version, 10);
        assert_eq!(
            m.position,
            Some(Position {
                k: 1,
                of: 2,
                counted_from: 10,
                remaining: 1
            })
        );
        assert_eq!(m.seconds, Some(1.3));
        assert_eq!(f.batch_forecast.unwrap().high_seconds, 4.0);
        assert_eq!(
            f.blocked_by.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![9]
        );
        assert_eq!(
            f.waiters.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![12]
        );
        assert_eq!(f.index_build.unwrap().index.as_deref(), Some("idx_10"));
        assert_eq!(f.waiting_on.as_deref(), Some("Lock: relation"));
        assert_eq!(f.probe.unwrap().left_seconds, 27.0);
        let f = t.observe(&holder(B), &Sample::default());
        assert_eq!(f.migration.unwrap().position.unwrap().k, 2);
        assert!(matches!(
            t.finish(&DbState::Clean(11)),
            Ending::Committed { version: 11 }
        ));
        // Another replica takes the lock and runs 10 again: the first batch rolled back.
        let mut again = holder(A);
        again.pid = 8;
        let e = t.retried(&again).unwrap();
        assert!(
            matches!(
                e,
                Ending::RolledBack {
                    retried_by: Some(8),
                    failed_at: Some(11),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.summary()
                .contains("pid 8 now runs the same migrations again"),
            "{}",
            e.summary()
        );
        assert_eq!(
            t.retried(&holder(A)),
            None,
            "the same session is not a retry"
        );
        let rb = t.finish(&DbState::Clean(9));
        assert!(
            matches!(
                rb,
                Ending::RolledBack {
                    failed_at: Some(11),
                    ..
                }
            ),
            "{rb:?}"
        );
        assert_eq!(rb.exit_code(), crate::error::ExitCode::Unsafe);
        assert_eq!(
            t.finish(&DbState::Dirty(11)).exit_code(),
            crate::error::ExitCode::Unsafe
        );
    }

    #[test]
    fn the_plan_forecasts_what_the_target_ships() {
        // v2.27.0 ships the 000371 that updates every api_keys row (later contents purge old
        // keys first): its band is the UPDATE's, seconds on 45 MB, not the purge's.
        let effects = crate::bundled::effects().unwrap();
        let index = crate::bundled::load().unwrap();
        let r = index.release("v2.27.0").unwrap();
        let sizes: BTreeMap<String, TableSize> = [(
            "api_keys".to_string(),
            TableSize {
                rows: Some(300_000),
                heap_bytes: 45_000_000,
                total_bytes: 80_000_000,
                ..Default::default()
            },
        )]
        .into_iter()
        .collect();
        let target = Target {
            tag: r.tag.clone(),
            migrations: r.migrations.clone(),
        };
        let p = plan(&effects, Some(target), Some(&sizes));
        let c = p.candidates.iter().find(|c| c.version == 371).unwrap();
        let band = c.forecast.unwrap();
        assert!(
            band.low_seconds > 1.0 && band.high_seconds > 5.0,
            "{band:?}"
        );
        // Both recorded contents of 000371 are candidates.
        assert_eq!(p.candidates.iter().filter(|c| c.version == 371).count(), 2);
    }

    #[test]
    fn golang_migrate_bookkeeping_is_between_migrations() {
        assert!(is_bookkeeping("TRUNCATE schema_migrations"));
        assert!(is_bookkeeping(
            "INSERT INTO schema_migrations (version, dirty) VALUES ($1, $2)"
        ));
        assert!(is_bookkeeping("SELECT pg_advisory_xact_lock($1)"));
        assert!(!is_bookkeeping("UPDATE api_keys SET x = 1"));
        assert!(!is_bookkeeping(""));
        let mut t = Tracker::new(Plan::default());
        let f = t.observe(&holder("TRUNCATE schema_migrations"), &Sample::default());
        assert!(f.between_migrations && f.unmatched_query.is_none());
    }

    #[test]
    fn without_a_recognised_migration_only_a_target_decides() {
        let t = Tracker::new(Plan::default());
        let e = t.finish(&DbState::Clean(5));
        assert!(matches!(e, Ending::Undetermined { .. }));
        assert_eq!(e.exit_code(), crate::error::ExitCode::NeedsHuman);
        let t = Tracker::new(Plan {
            target: Some(Target {
                tag: "v".into(),
                migrations: MigrationSet::range(1, 8),
            }),
            ..Plan::default()
        });
        assert!(matches!(
            t.finish(&DbState::Clean(8)),
            Ending::Committed { .. }
        ));
        assert!(matches!(
            t.finish(&DbState::Clean(5)),
            Ending::RolledBack { .. }
        ));
    }

    #[test]
    fn nothing_running_exits_0_only_when_nothing_waits() {
        let target = Target {
            tag: "v".into(),
            migrations: MigrationSet::range(1, 8),
        };
        assert_eq!(
            nothing_running(&DbState::Clean(8), Some(&target)).exit_code(),
            crate::error::ExitCode::Success
        );
        assert_eq!(
            nothing_running(&DbState::Clean(8), None).exit_code(),
            crate::error::ExitCode::Success
        );
        let e = nothing_running(&DbState::Clean(5), Some(&target));
        assert_eq!(e.exit_code(), crate::error::ExitCode::NeedsHuman);
        assert!(
            e.summary()
                .contains("3 pending migrations are not being applied"),
            "{}",
            e.summary()
        );
        assert_eq!(
            nothing_running(&DbState::Dirty(5), None).exit_code(),
            crate::error::ExitCode::NeedsHuman
        );
    }
}
