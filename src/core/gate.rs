//! `gate`: is an upgrade from the observed state to a target tag safe? Pure.
//!
//! Safe when the database is fresh or clean at V, the target is in the index, the target's
//! set contains V, and no migration of the target would be skipped (`docs/rules.md`, "The gate"). Everything else
//! is unsafe with a reason, or needs a human.

use serde::Serialize;

use super::check::{partial_index_warning, plural, SchemaView};
use super::decide::{dirty_row_action, outcome, relate, RowAction, RowSchema};
use super::deployment::{DeploymentFacts, Finding, Severity};
use super::dirty::{analyse_dirty, evidence_clause};
use super::duration;
use super::forecast::Forecast;
use super::index::{Index, Release};
use super::migration_set::Version;
use super::report::{IndexView, MigrationRef, ReleaseRef, SkipFinding, HARMLESS_TO_SKIP};
use super::skips::{skip_findings, writers_of};
use super::state::{DbState, StateView};
use super::verify::{Assessment, SchemaStatus};
use crate::error::ExitCode;

#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    pub deployed: Option<String>,
    /// Treat warnings (harmless skips, manifest findings) as failures.
    pub strict: bool,
    /// Fail a jump that applies more than this many migrations.
    pub max_pending: Option<u64>,
    /// What reading the state showed that the user should know: listed with the warnings.
    pub reading_notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Safe,
    Unsafe,
    NeedsHuman,
    UnknownTarget,
    /// The database is beyond every release in the index: no target from it can run.
    AheadOfIndex,
}

impl GateVerdict {
    pub fn exit_code(self) -> ExitCode {
        match self {
            GateVerdict::Safe => ExitCode::Success,
            GateVerdict::Unsafe => ExitCode::Unsafe,
            GateVerdict::NeedsHuman => ExitCode::NeedsHuman,
            GateVerdict::UnknownTarget | GateVerdict::AheadOfIndex => ExitCode::NoMatch,
        }
    }
}

/// The gate's one verdict, serialized as two fields, `safe` (what CI scripts test) and
/// `verdict`, both from this one value, so they cannot disagree.
fn verdict_fields<S: serde::Serializer>(v: &GateVerdict, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("safe", &(*v == GateVerdict::Safe))?;
    m.serialize_entry("verdict", v)?;
    m.end()
}

#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    #[serde(flatten, serialize_with = "verdict_fields")]
    pub verdict: GateVerdict,
    pub summary: String,
    pub state: StateView,
    pub target_tag: String,
    pub target: Option<ReleaseRef>,
    /// Why the upgrade is not safe (empty when safe).
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    /// Migrations the target applies on start: V+1..N(T) of its set.
    pub pending: Vec<MigrationRef>,
    /// Migrations of the target that golang-migrate would never run, per assumed writer.
    pub skipped: Vec<SkipFinding>,
    /// The Deployment as `--manifest` showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentFacts>,
    /// Traps of the upgrade-troubleshooting guide the Deployment falls into, with their fixes;
    /// their messages are also in `warnings` (or `reasons` under `--strict`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// What the pending migrations will lock and rewrite, and for how long (docs/forecast.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// The schema checked against the row (live database, unless --no-schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<super::verify::Assessment>,
    /// What replaying the target on the writer's irregular set did (from the effects data).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rehearsals: Vec<RehearsalFinding>,
    /// `--rehearse`: the pending migrations run on a copy of the live schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<LiveRehearsal>,
    /// The one change to `schema_migrations` the evidence calls for before any upgrade (the
    /// same statement `check` and `runbook` print).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<RowAction>,
    #[serde(flatten)]
    pub schema: Option<SchemaView>,
    pub index: IndexView,
}

/// What `--rehearse` came to: the run, or why it did not run.
#[derive(Debug, Clone)]
pub enum RehearsalOutcome {
    NotRun(String),
    Ran {
        rehearsal: Box<LiveRehearsal>,
        /// Warnings about the run: files the SQL source lacked at the target (replaced by its
        /// newest content), a superuser scratch role (the batch ran as an unprivileged one).
        warnings: Vec<String>,
    },
}

/// What the gate learns after its first decision, from the facts that decision asked for:
/// the forecast of the pending migrations, the rehearsals, the Deployment.
#[derive(Debug, Clone, Default)]
pub struct GateFacts {
    pub forecast: Option<Forecast>,
    pub max_duration_seconds: Option<u64>,
    /// What the effects data replayed for a row an irregular set wrote.
    pub irregular: Vec<(RehearsalFinding, String)>,
    pub rehearsal: Option<RehearsalOutcome>,
    pub deployment: Option<(DeploymentFacts, Vec<Finding>)>,
    pub strict: bool,
}

/// The gate's whole decision: the first one (`gate_with`) completed by the facts it asked
/// for. Pure; the command renders what this returns.
pub fn conclude(mut report: GateReport, facts: GateFacts) -> GateReport {
    for (finding, text) in facts.irregular {
        if finding.fails_at.is_some() {
            report.make_unsafe(text);
        } else if finding.rewind_to < finding.written_at {
            report.warnings.push(text);
        }
        report.rehearsals.push(finding);
    }
    // A sampled rehearsal's band replaces the statistics' for the estimate, the window and
    // --max-duration; the statistics' estimate stays in the rehearsal's sample.
    let (forecast, rehearsal) = with_rehearsed_band(facts.forecast, facts.rehearsal);
    if let Some(f) = forecast {
        report.add_forecast(f, facts.max_duration_seconds, facts.strict);
        if facts.strict {
            report.require_forecast_coverage();
        }
    }
    match rehearsal {
        Some(RehearsalOutcome::NotRun(why)) => report.warnings.push(why),
        Some(RehearsalOutcome::Ran {
            rehearsal,
            warnings,
        }) => {
            report.warnings.extend(warnings);
            report.add_live_rehearsal(*rehearsal);
        }
        None => {}
    }
    if let Some((d, findings)) = facts.deployment {
        report.add_deployment(d, findings, facts.strict);
    }
    report
}

/// The forecast with a clean sampled rehearsal's band as its estimate and window (the
/// statistics' estimate moved into the rehearsal's `sample`), and the rehearsal. Without a
/// sample, a failed rehearsal or a forecast that has no times (offline, or a schema change
/// running), both as they were. `conclude` applies it; `gate` also sizes the Deployment's
/// migration window with it, so both use the same band.
pub fn with_rehearsed_band(
    forecast: Option<Forecast>,
    rehearsal: Option<RehearsalOutcome>,
) -> (Option<Forecast>, Option<RehearsalOutcome>) {
    match (forecast, rehearsal) {
        (
            Some(mut f),
            Some(RehearsalOutcome::Ran {
                mut rehearsal,
                warnings,
            }),
        ) if rehearsal.failure.is_none() && rehearsal.sample.is_some() && f.estimate.is_some() => {
            let statistics = f.estimate.take().expect("checked");
            let sample = rehearsal.sample.as_mut().expect("checked");
            let e = super::forecast::rehearsed::estimate(
                sample,
                statistics.complete,
                &statistics.unknown_migrations,
            );
            f.migration_window = Some(super::forecast::window(e.high_seconds));
            f.estimate = Some(e);
            sample.statistics_estimate = Some(statistics);
            (
                Some(f),
                Some(RehearsalOutcome::Ran {
                    rehearsal,
                    warnings,
                }),
            )
        }
        other => other,
    }
}

/// What `gate --rehearse` saw when it ran the target's pending migrations, in one
/// transaction, on a copy of the live schema without data (docs/forecast.md).
#[derive(Debug, Clone, Serialize)]
pub struct LiveRehearsal {
    pub target: String,
    /// How many pending migrations the batch holds.
    pub pending: usize,
    pub clean: bool,
    pub seconds: f64,
    /// The first migration that failed, its statement and PostgreSQL's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::effects::ReplayFailure>,
    /// The SQL source the migration files came from, and the pg_dump that copied the schema.
    pub sql_source: String,
    pub dumped_with: String,
    /// The scratch database it ran in, dropped afterwards.
    pub scratch_database: String,
    /// `--sample`: the rows copied, each migration's time on them and scaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<super::forecast::rehearsed::Sample>,
}

impl LiveRehearsal {
    /// What a clean run cannot promise: the copy has the schema but no rows.
    pub const SCHEMA_ONLY: &'static str = "the copy has no data: failures that depend on rows (duplicates under a new unique index, NULLs under a new NOT NULL) are not rehearsed";
    /// What a clean run on a sample cannot promise.
    pub const SAMPLED: &'static str = "the copy holds a sample of the rows: failures that depend on rows outside the sample (a duplicate, a NULL, a value that does not fit) are not rehearsed";

    /// The note under a clean run: what it cannot promise.
    pub fn caveat(&self) -> &'static str {
        match self.sample {
            Some(_) => Self::SAMPLED,
            None => Self::SCHEMA_ONLY,
        }
    }

    /// `this schema`, or `this schema and a 10% sample of its rows`.
    fn copy_of(&self) -> String {
        match &self.sample {
            Some(s) => format!("this schema and a {}% sample of its rows", s.percent),
            None => "this schema".into(),
        }
    }

    /// One line: the clean run, or the first failure.
    pub fn line(&self) -> String {
        match &self.failure {
            None => format!(
                "rehearsal: {}'s {} pending migration{} ran cleanly on a copy of {} in {:.2} s",
                self.target,
                self.pending,
                if self.pending == 1 { "" } else { "s" },
                self.copy_of(),
                self.seconds
            ),
            Some(f) => format!(
                "rehearsal: {}'s pending migrations fail on a copy of {} at {:06}_{}: `{}`: {}",
                self.target,
                self.copy_of(),
                f.version,
                f.name,
                super::observation::shorten_query(&f.statement, 200),
                f.error
            ),
        }
    }
}

/// What the effects data rehearsed for a clean row written by an irregular set: per writer
/// set and rehearsed target (only `target` when given), the finding and one line that states
/// the real failure (if any) and the rehearsed way out. Used by `gate` and `runbook`.
pub fn rehearsals_for(
    index: &Index,
    effects: &super::effects::Effects,
    state: &DbState,
    deployed: Option<&Release>,
    target: Option<&str>,
) -> Vec<(RehearsalFinding, String)> {
    let DbState::Clean(v) = state else {
        return Vec::new();
    };
    let mut out: Vec<(RehearsalFinding, String)> = Vec::new();
    let mut ignored = Vec::new();
    for w in writers_of(index, *v, deployed, &mut ignored) {
        let Some(irr) = effects.irregular.iter().find(|i| i.set == w.migrations) else {
            continue;
        };
        for r in irr
            .rehearsals
            .iter()
            .filter(|r| target.is_none_or(|t| r.target == t))
        {
            if out
                .iter()
                .any(|(f, _)| f.writer.contains(&w.tag) && f.target == r.target)
            {
                continue;
            }
            let finding = RehearsalFinding {
                writer: irr.releases.clone(),
                written_at: *v,
                target: r.target.clone(),
                fails_at: r.fails_at.clone(),
                rewind_to: r.rewind_to,
                rewind_sql: super::dirty::rewind_sql(*v, r.rewind_to),
                remedy_runs: r.remedy_runs.clone(),
                remedy_replays_cleanly: r.remedy_fails_at.is_none(),
            };
            let way_out = if finding.remedy_replays_cleanly {
                format!(
                    "rehearsed way out: `{}` (compare-and-set), then {} runs {} (replayed cleanly)",
                    finding.rewind_sql, r.target, r.remedy_runs
                )
            } else {
                "the rewind remedy did not replay cleanly either: restore a backup".into()
            };
            let text = match &r.fails_at {
                Some(f) => format!(
                    "rehearsed on {}'s schema: {} fails at {:06} {}: {} (Coder's one batch rolls back and the pod crash-loops); {way_out}",
                    irr.releases.join(", "), r.target, f.version, f.name, f.error
                ),
                None => format!(
                    "rehearsed on {}'s schema: {} runs without error but skips migrations; {way_out}",
                    irr.releases.join(", "), r.target
                ),
            };
            out.push((finding, text));
        }
    }
    out
}

/// A rehearsed upgrade from an irregular set to the target.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsalFinding {
    pub writer: Vec<String>,
    /// The clean version the writer left.
    pub written_at: super::migration_set::Version,
    pub target: String,
    pub fails_at: Option<super::effects::ReplayFailure>,
    pub rewind_to: super::migration_set::Version,
    pub rewind_sql: String,
    pub remedy_runs: super::migration_set::MigrationSet,
    pub remedy_replays_cleanly: bool,
}

impl GateReport {
    pub fn exit_code(&self) -> ExitCode {
        self.verdict.exit_code()
    }

    /// Adds a finding about the Deployment: a failure under `--strict`, else a warning.
    fn add_finding(&mut self, finding: String, strict: bool) {
        if strict {
            self.make_unsafe(finding);
        } else {
            self.warnings.push(finding);
        }
    }

    /// Adds the Deployment checks: each warning-level finding goes through
    /// [`GateReport::add_finding`] (a failure under `--strict`); a finding that does not
    /// block this change (nothing migrates, or a floating tag that is pulled every time)
    /// stays a warning even under `--strict`.
    fn add_deployment(&mut self, facts: DeploymentFacts, findings: Vec<Finding>, strict: bool) {
        for f in &findings {
            let text = format!("Deployment {}: {}", facts.name, f.message);
            match f.severity {
                Severity::Warning => self.add_finding(text, strict),
                Severity::Info => self.warnings.push(text),
            }
        }
        self.deployment = Some(facts);
        self.findings = findings;
    }

    /// Adds the upgrade forecast. With `max_duration_seconds`, an upgrade whose high estimate
    /// exceeds it is unsafe; so is one the forecast could not time because a schema change is
    /// running on a table it touches, and one whose estimate leaves out migrations without
    /// replayed facts. Offline (no sizes) the limit cannot be checked: a warning.
    fn add_forecast(
        &mut self,
        forecast: Forecast,
        max_duration_seconds: Option<u64>,
        strict: bool,
    ) {
        if let Some(max) = max_duration_seconds {
            match (&forecast.estimate, &forecast.unavailable) {
                (Some(e), _) if e.high_seconds > max as f64 => self.make_unsafe(format!(
                    "the forecast's high estimate {} exceeds --max-duration {}: the migrations would hold their locks that long; \
                     upgrade in smaller steps, in a maintenance window, or raise the limit",
                    duration::approx(e.high_seconds),
                    duration::exact(max)
                )),
                // Migrations without replayed facts are left out of the times: the total is
                // no bound, so the limit cannot be checked (as with no forecast at all).
                (Some(e), _) if !e.complete => self.make_unsafe(format!(
                    "--max-duration cannot be checked: the estimate leaves out migration{} {} (no replayed facts: newer than the effects in use); \
                     add them with `{}`, or upgrade to a release the effects cover first",
                    if e.unknown_migrations.len() == 1 { "" } else { "s" },
                    super::migration_set::MigrationSet::from_versions(e.unknown_migrations.iter().copied()),
                    super::effects::EXTEND_COMMAND
                )),
                (Some(_), _) => {}
                (None, Some(why)) => self.make_unsafe(format!("--max-duration cannot be checked: no forecast: {why}")),
                // Offline there are no sizes, so no times: a limit that cannot be checked is
                // a warning, and under --strict a failure (a strict gate never says safe for
                // what it could not check).
                (None, None) => {
                    let text = "--max-duration needs the table sizes of a live database (--db): offline, the forecast has no times".to_string();
                    if strict {
                        self.make_unsafe(format!("{text} (--strict)"));
                    } else {
                        self.warnings.push(text);
                    }
                }
            }
        }
        self.forecast = Some(forecast);
    }

    /// `--strict`: an upgrade is not safe while the forecast cannot say what some of the
    /// migrations it runs will lock (no replayed facts for them).
    fn require_forecast_coverage(&mut self) {
        let unknown = self
            .forecast
            .as_ref()
            .map(|f| f.unknown_migrations.clone())
            .unwrap_or_default();
        if !unknown.is_empty() {
            self.make_unsafe(format!(
                "--strict: the forecast cannot say what migration{} {} will lock (no replayed facts: newer than the effects in use); add them with `{}`",
                if unknown.len() == 1 { "" } else { "s" },
                super::migration_set::MigrationSet::from_versions(unknown.iter().copied()),
                super::effects::EXTEND_COMMAND
            ));
        }
    }

    /// Adds the rehearsal on a copy of the schema: a failure makes the upgrade unsafe (Coder
    /// would fail the same way, and with one transaction nothing of the batch would stay).
    fn add_live_rehearsal(&mut self, r: LiveRehearsal) {
        if r.failure.is_some() {
            self.make_unsafe(format!(
                "{}; fix the schema (or the migration) before upgrading",
                r.line()
            ));
        }
        self.rehearsal = Some(r);
    }

    fn make_unsafe(&mut self, reason: String) {
        self.reasons.push(reason);
        if self.verdict == GateVerdict::Safe {
            self.verdict = GateVerdict::Unsafe;
            self.summary = format!("unsafe: {}", self.reasons[0]);
        }
    }

    /// How many migrations the upgrade applies, when the gate got as far as knowing it:
    /// `None` when it stopped before (dirty, in progress, unknown target, target lacks V).
    pub fn applies(&self) -> Option<usize> {
        let known = match self.state.kind {
            "fresh" | "clean" => self.target.is_some(),
            _ => false,
        };
        (known
            && (self.verdict == GateVerdict::Safe
                || !self.pending.is_empty()
                || self.reasons.is_empty()))
        .then_some(self.pending.len())
    }
}

/// The gate from the row alone.
pub fn gate(index: &Index, state: &DbState, target_tag: &str, opts: &GateOptions) -> GateReport {
    gate_with(index, state, None, target_tag, opts)
}

/// The gate's first decision, weighing the schema evidence like `check` does (core::decide):
/// a row the schema contradicts needs a human (its row action first), drift is unsafe.
pub fn gate_with(
    index: &Index,
    state: &DbState,
    evidence: Option<&Assessment>,
    target_tag: &str,
    opts: &GateOptions,
) -> GateReport {
    let mut reasons = Vec::new();
    // What the loader said about the index comes first: it qualifies everything else.
    let mut warnings = index.notices.clone();
    warnings.extend(opts.reading_notes.iter().cloned());
    let identity = evidence.and_then(|a| a.schema.identity.as_ref());
    let relation = relate(state, identity);
    let overridden = outcome(index, &relation, identity);
    let mut action = overridden.as_ref().and_then(|o| o.action.clone());
    if let Some(a) = evidence {
        match a.schema.status {
            SchemaStatus::Skipped => warnings.push(format!("schema {}", a.schema.summary)),
            _ => warnings.extend(a.schema.warnings.iter().cloned()),
        }
    }
    let mut pending = Vec::new();
    let mut skipped = Vec::new();
    let target = index.release(target_tag);
    let deployed = opts.deployed.as_deref().and_then(|tag| {
        let found = index.release(tag);
        if found.is_none() {
            warnings.push(format!(
                "--deployed {tag} is not in the index; deciding without it"
            ));
        }
        found
    });

    // Drift is unsafe, but the upgrade is still worked out from the row: what would run,
    // and (with --rehearse) where it fails on this schema. A row the schema contradicts
    // needs a human before anything.
    let drift = matches!(relation, RowSchema::Drift { .. });
    if let (true, Some(o)) = (drift, &overridden) {
        reasons.push(o.reason.clone());
    }
    let verdict = match (state, target) {
        _ if overridden.is_some() && !drift => {
            let o = overridden.as_ref().expect("checked");
            reasons.push(o.reason.clone());
            GateVerdict::NeedsHuman
        }
        (DbState::Dirty(v), _) => {
            let kind = evidence
                .and_then(|a| a.dirty_action.as_ref())
                .map(|d| d.kind);
            let advice = analyse_dirty(index, *v, deployed, kind);
            action = dirty_row_action(*v, &advice);
            reasons.push(format!(
                "the database is dirty at {}: a migration started and did not finish{}; clean it up first (`migtag runbook`)",
                MigrationRef::new(index, *v),
                evidence_clause(kind)
            ));
            GateVerdict::NeedsHuman
        }
        (DbState::InProgress(m), _) => {
            reasons.push(format!(
                "a migration is running right now ({}{}); wait for it to end",
                m.lock,
                m.pid.map(|p| format!(", pid {p}")).unwrap_or_default()
            ));
            GateVerdict::NeedsHuman
        }
        (DbState::V1, _) => {
            reasons.push(
                "this is a Coder v1 database (migration_cursor exists): Coder v2 refuses it".into(),
            );
            GateVerdict::NeedsHuman
        }
        (_, None) => {
            reasons.push(format!(
                "target {target_tag} is not in the index, so its migrations are unknown; refresh the index (`migtag index update`) or check the tag"
            ));
            GateVerdict::UnknownTarget
        }
        (DbState::Fresh, Some(t)) => {
            pending = MigrationRef::list(index, &t.migrations);
            GateVerdict::Safe
        }
        (DbState::Clean(v), Some(t)) => {
            let v = *v;
            clean_upgrade(
                index,
                v,
                t,
                deployed,
                opts,
                &mut reasons,
                &mut warnings,
                &mut pending,
                &mut skipped,
            )
        }
    };

    if let Some(t) = target {
        if t.prerelease {
            warnings.push(format!(
                "{} is a pre-release, not meant for production",
                t.tag
            ));
        }
    }
    let verdict = match verdict {
        GateVerdict::Safe if drift => GateVerdict::Unsafe,
        v => v,
    };
    // As `check` says: a release the partial index does not list could also be the answer
    // (not for a running migration or a v1 database, where no release is weighed).
    if !index.provenance.complete && !matches!(state, DbState::InProgress(_) | DbState::V1) {
        warnings.push(partial_index_warning(index));
    }
    let fresh = matches!(state, DbState::Fresh);
    let verdict = match (verdict, opts.max_pending) {
        // A fresh database has no data for migrations to rewrite: the limit does not apply.
        (GateVerdict::Safe, Some(max)) if fresh && pending.len() as u64 > max => {
            warnings.push(format!(
                "the database is fresh: all {} migrations run on an empty schema, so --max-pending {max} does not apply",
                pending.len()
            ));
            GateVerdict::Safe
        }
        (GateVerdict::Safe, Some(max)) if pending.len() as u64 > max => {
            reasons.push(format!(
                "the upgrade applies {} migrations, more than --max-pending {max}: large jumps are where long migrations bite; upgrade in smaller steps or raise the limit",
                pending.len()
            ));
            GateVerdict::Unsafe
        }
        (v, _) => v,
    };

    let summary = match verdict {
        GateVerdict::Safe => format!(
            "safe: upgrading to {} applies {} migration{}",
            target.map(|t| index.image(&t.tag)).unwrap_or_default(),
            pending.len(),
            plural(pending.len())
        ),
        GateVerdict::Unsafe => format!(
            "unsafe: {}",
            reasons.first().map(String::as_str).unwrap_or("")
        ),
        GateVerdict::NeedsHuman => format!(
            "needs a human: {}",
            reasons.first().map(String::as_str).unwrap_or("")
        ),
        GateVerdict::UnknownTarget => format!("unknown target: {target_tag} is not in the index"),
        GateVerdict::AheadOfIndex => format!(
            "ahead of index: {}",
            reasons.first().map(String::as_str).unwrap_or("")
        ),
    };

    GateReport {
        verdict,
        summary,
        state: StateView::from(state),
        target_tag: target_tag.to_string(),
        target: target.map(|t| ReleaseRef::new(index, t)),
        reasons,
        warnings,
        pending,
        skipped,
        deployment: None,
        findings: Vec::new(),
        forecast: None,
        verification: evidence.cloned(),
        rehearsals: Vec::new(),
        rehearsal: None,
        action,
        schema: SchemaView::of(identity),
        index: IndexView::new(index),
    }
}

#[allow(clippy::too_many_arguments)]
fn clean_upgrade(
    index: &Index,
    v: Version,
    t: &Release,
    deployed: Option<&Release>,
    opts: &GateOptions,
    reasons: &mut Vec<String>,
    warnings: &mut Vec<String>,
    pending: &mut Vec<MigrationRef>,
    skipped: &mut Vec<SkipFinding>,
) -> GateVerdict {
    let vref = MigrationRef::new(index, v);
    if !t.contains(v) {
        let max_known = index.max_known_migration().unwrap_or(0);
        let first_known = index
            .releases()
            .iter()
            .filter_map(|r| r.migrations.min())
            .min();
        if v > max_known {
            reasons.push(format!(
                "the database ({vref}) is beyond every release in the index (highest {max_known:06}): no release from it can start; \
                 refresh the index (`migtag index update`), or the database was migrated by a preview build"
            ));
            return GateVerdict::AheadOfIndex;
        }
        if first_known.is_some_and(|f| v < f) {
            reasons.push(format!(
                "{v} is below the first migration of every release: golang-migrate never records such a version; check that this is Coder's schema_migrations"
            ));
        } else if t.max_migration < v {
            reasons.push(format!(
                "{} stops at {:06}, below the database ({vref}): it is older than the database and would crash-loop with `no migration found for version {v}`",
                t.tag, t.max_migration
            ));
        } else {
            reasons.push(format!(
                "{} does not contain migration {vref} although it ships newer ones (an irregular release): it would crash-loop with `no migration found for version {v}`",
                t.tag
            ));
        }
        return GateVerdict::Unsafe;
    }
    *pending = MigrationRef::list(index, &t.migrations.above(v));

    let writers = writers_of(index, v, deployed, warnings);
    if writers.is_empty() {
        warnings.push(format!(
            "no release in the index stops at {v}, so migtag cannot tell which binary wrote the database; \
             the skipped-migration check assumes it ran every migration of {} up to {v}",
            t.tag
        ));
    }
    *skipped = skip_findings(index, t, v, &writers);
    let mut verdict = GateVerdict::Safe;
    for s in skipped.iter() {
        let list: Vec<String> = s.migrations.iter().map(|m| m.to_string()).collect();
        let text = format!(
            "if the database was migrated by {}, then {} would never run {} (at or below {v}: golang-migrate only applies migrations above the recorded version)",
            s.assumes.join(", "),
            t.tag,
            list.join(", ")
        );
        if s.harmless && !opts.strict {
            let why: Vec<&str> = HARMLESS_TO_SKIP
                .iter()
                .filter(|(h, _)| s.migrations.iter().any(|m| m.version == *h))
                .map(|(_, why)| *why)
                .collect();
            warnings.push(format!(
                "{text}; harmless: {} (use --strict to fail on it)",
                why.join("; ")
            ));
        } else {
            reasons.push(text);
            verdict = GateVerdict::Unsafe;
        }
    }
    if verdict == GateVerdict::Unsafe && deployed.is_none() && writers.len() > 1 {
        warnings.push("pass --deployed TAG to say which release migrated the database".into());
    }
    verdict
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::core::forecast::rehearsed::{scale, SampleRun, TimedStatement};
    use crate::core::forecast::{forecast, rates, Basis, ForecastInput, TableSize};

    /// A forecast with times (live sizes, nothing pending) and a clean sampled rehearsal
    /// whose one statement took 10 s on api_keys at a ratio of 10.
    fn facts(failed: bool) -> (Option<Forecast>, Option<RehearsalOutcome>) {
        let sizes: BTreeMap<String, TableSize> = [(
            "api_keys".to_string(),
            TableSize {
                rows: Some(1000),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect();
        let f = forecast(&ForecastInput {
            pending: Vec::new(),
            sizes: Some(&sizes),
            one_transaction: true,
            rates: &rates::MEASURED,
            unavailable: None,
            unknown: Vec::new(),
        });
        let run = SampleRun {
            percent: 10.0,
            sample_rows: [("api_keys".to_string(), 100)].into_iter().collect(),
            copied_rows: 100,
            parent_rows: 0,
            closure_rounds: 1,
            copy_seconds: 1.0,
            statements: vec![TimedStatement {
                version: 371,
                name: "m".into(),
                text: "UPDATE api_keys SET scopes = '{}'".into(),
                seconds: 10.0,
            }],
        };
        let rehearsal = LiveRehearsal {
            target: "v2.27.0".into(),
            pending: 1,
            clean: !failed,
            seconds: 10.0,
            failure: failed.then(|| super::super::effects::ReplayFailure {
                version: 371,
                name: "m".into(),
                statement: "UPDATE api_keys".into(),
                error: "boom".into(),
            }),
            sql_source: "test".into(),
            dumped_with: "pg_dump (PostgreSQL) 15.8".into(),
            scratch_database: "migtag_rehearse_1_2".into(),
            sample: Some(scale(&run, &sizes, &f)),
        };
        (
            Some(f),
            Some(RehearsalOutcome::Ran {
                rehearsal: Box::new(rehearsal),
                warnings: Vec::new(),
            }),
        )
    }

    #[test]
    fn a_clean_sampled_rehearsal_s_band_becomes_the_estimate_and_sizes_the_window() {
        let (forecast, rehearsal) = facts(false);
        let (f, r) = with_rehearsed_band(forecast, rehearsal);
        let f = f.unwrap();
        let e = f.estimate.as_ref().unwrap();
        assert_eq!(e.basis, Basis::Rehearsal);
        assert_eq!(e.sample_percent, Some(10.0));
        assert_eq!((e.low_seconds, e.high_seconds), (80.0, 200.0));
        assert_eq!(f.migration_window.unwrap().seconds, 15 * 60);
        let Some(RehearsalOutcome::Ran { rehearsal, .. }) = r else {
            panic!("the rehearsal is kept");
        };
        let stats = rehearsal.sample.unwrap().statistics_estimate.unwrap();
        assert_eq!(stats.basis, Basis::Statistics);
    }

    #[test]
    fn a_failed_rehearsal_keeps_the_statistics_and_max_duration_uses_the_band() {
        let (forecast, rehearsal) = facts(true);
        let (f, _) = with_rehearsed_band(forecast, rehearsal);
        assert_eq!(f.unwrap().estimate.unwrap().basis, Basis::Statistics);

        // Through conclude: 200 s high against --max-duration 100 s is unsafe.
        let (forecast, rehearsal) = facts(false);
        use crate::core::index::{Project, Provenance};
        let provenance = Provenance {
            source: "test".into(),
            detail: "unit test".into(),
            generated_at: "2026-01-01".into(),
            complete: true,
        };
        let release = Release::new(
            "v2.27.0",
            crate::core::migration_set::MigrationSet::parse("1-376").unwrap(),
        )
        .unwrap();
        let index =
            Index::new(Project::coder(), provenance, vec![release], BTreeMap::new()).unwrap();
        let report = conclude(
            gate(
                &index,
                &DbState::Clean(362),
                "v2.27.0",
                &GateOptions::default(),
            ),
            GateFacts {
                forecast,
                max_duration_seconds: Some(100),
                rehearsal,
                ..Default::default()
            },
        );
        assert!(
            report
                .reasons
                .iter()
                .any(|r| r.contains("exceeds --max-duration")),
            "{:?}",
            report.reasons
        );
        assert_eq!(
            report.forecast.unwrap().estimate.unwrap().basis,
            Basis::Rehearsal
        );
    }
}
