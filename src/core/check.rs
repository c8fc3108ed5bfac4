//! `check`: which image matches the database now. Pure: a state and an index in, a
//! [`CheckReport`] out.
//!
//! The rules are those of `docs/rules.md`: compare migration *sets*, never semver; prefer a release that
//! stops exactly at the database version (the deployed one, else the newest patch of the
//! oldest line), else the compatible release that applies the fewest migrations.

use serde::Serialize;

use super::decide::{dirty_row_action, outcome, relate, RowAction, RowSchema};
use super::dirty::{analyse_dirty, DirtyActionKind, DirtyAdvice};
use super::identity::SchemaIdentity;
use super::index::{Index, Release};
use super::migration_set::Version;
use super::report::{IndexView, MigrationRef, ReleaseRef, SkipFinding};
use super::skips::{skip_findings, writers_of};
use super::state::{DbState, StateView};
use super::verify::Assessment;
use crate::error::ExitCode;

/// What the caller knows beyond the state.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The tag the caller says is deployed now (it wrote the database, as far as they know).
    pub deployed: Option<String>,
    /// Consider release candidates too.
    pub include_prereleases: bool,
    /// What reading the state showed that the user should know (a paste's oddities): listed
    /// with the warnings.
    pub reading_notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A release stops exactly at the database version: run it, nothing migrates.
    Exact,
    /// No release stops at V; the recommended one contains V and migrates forward to start.
    UpgradeNeededToStart,
    /// The database is beyond every release in the index.
    AheadOfIndex,
    /// No release contains V although V is not beyond them (below the first migration, or a
    /// number no release ships).
    UnknownVersion,
    Dirty,
    InProgress,
    Fresh,
    V1,
    /// The row is above the schema's own version (forced forward): move it back first.
    RowAheadOfSchema,
    /// The row is below the schema's own version (forced back): move it up first.
    RowBehindSchema,
    /// Coder's schema without a `schema_migrations` row: recreate the row first.
    PartialRestore,
    /// The schema is no version's: objects are missing or changed.
    Drift,
    /// The version is a timestamp: another tool's `schema_migrations`.
    ForeignVersion,
}

impl Verdict {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Exact | Verdict::UpgradeNeededToStart | Verdict::Fresh => ExitCode::Success,
            Verdict::AheadOfIndex | Verdict::UnknownVersion => ExitCode::NoMatch,
            Verdict::Dirty
            | Verdict::InProgress
            | Verdict::V1
            | Verdict::RowAheadOfSchema
            | Verdict::RowBehindSchema
            | Verdict::PartialRestore
            | Verdict::ForeignVersion => ExitCode::NeedsHuman,
            Verdict::Drift => ExitCode::Drift,
        }
    }

    /// The verdict for a relation of row and schema that overrides the row.
    pub fn of(relation: &RowSchema) -> Option<Verdict> {
        Some(match relation {
            RowSchema::Agrees => return None,
            RowSchema::RowAhead { .. } => Verdict::RowAheadOfSchema,
            RowSchema::RowBehind { .. } => Verdict::RowBehindSchema,
            RowSchema::PartialRestore { .. } => Verdict::PartialRestore,
            RowSchema::Drift { .. } => Verdict::Drift,
            RowSchema::ForeignNumbering { .. } => Verdict::ForeignVersion,
        })
    }
}

/// The schema's own version beside the row, on every report from a read database.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaView {
    /// The version the schema exactly is, or null.
    pub schema_version: Option<Version>,
    pub schema: SchemaIdentity,
}

impl SchemaView {
    pub fn of(identity: Option<&SchemaIdentity>) -> Option<SchemaView> {
        identity.map(|id| SchemaView {
            schema_version: id.version.filter(|_| id.is_exact()),
            schema: id.clone(),
        })
    }
}

/// How an alternative relates to the database version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Stops exactly at V.
    Exact,
    /// Contains V and applies migrations above it.
    Compatible,
    /// Lacks V although it ships higher migrations: crash-loops with "no migration found".
    CannotStart,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    #[serde(flatten)]
    pub release: ReleaseRef,
    /// Migrations it applies when it starts (empty for an exact match).
    pub applies: Vec<MigrationRef>,
    /// Migrations of its set that golang-migrate would never run on this database.
    pub skips: Vec<SkipFinding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alternative {
    #[serde(flatten)]
    pub release: ReleaseRef,
    pub relation: Relation,
    /// How many migrations it applies on start (compatible releases).
    pub applies_count: u64,
    pub skips: Vec<SkipFinding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub state: StateView,
    pub verdict: Verdict,
    /// The one-line answer a human reads first.
    pub summary: String,
    pub recommended: Option<Recommendation>,
    pub alternatives: Vec<Alternative>,
    /// Why: which releases stop at V, what the alternatives would do.
    pub why: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<DirtyAdvice>,
    /// The one change to `schema_migrations` the evidence calls for, before any image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<RowAction>,
    /// The image to run once `action` is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_action: Option<Recommendation>,
    #[serde(flatten)]
    pub schema: Option<SchemaView>,
    pub index: IndexView,
}

impl CheckReport {
    pub fn exit_code(&self) -> ExitCode {
        self.verdict.exit_code()
    }
}

/// Decides which image matches `state`, from the row alone.
pub fn check(index: &Index, state: &DbState, opts: &CheckOptions) -> CheckReport {
    check_with(index, state, None, opts)
}

/// Decides which image matches `state`, weighing the schema evidence when the schema was
/// read (docs/rules.md, "The schema decides"): when the schema's identity contradicts the
/// row, no image is named; the report carries the row action and the image after it.
pub fn check_with(
    index: &Index,
    state: &DbState,
    evidence: Option<&Assessment>,
    opts: &CheckOptions,
) -> CheckReport {
    let identity = evidence.and_then(|a| a.schema.identity.as_ref());
    let dirty_evidence = evidence
        .and_then(|a| a.dirty_action.as_ref())
        .map(|d| d.kind);
    let relation = relate(state, identity);
    let mut ctx = Ctx::new(index, opts);
    let mut action = None;
    let mut after_action = None;
    let (verdict, summary, recommended, alternatives, dirty) =
        match (outcome(index, &relation, identity), state) {
            (Some(o), _) => {
                ctx.why.extend(o.why);
                after_action = o.then_version.and_then(|v| ctx.recommend_for(v));
                action = o.action;
                let verdict = Verdict::of(&relation).unwrap_or(Verdict::Drift);
                (verdict, o.summary, None, Vec::new(), None)
            }
            (None, DbState::Fresh) => ctx.fresh(),
            (None, DbState::V1) => ctx.v1(),
            (None, DbState::InProgress(m)) => ctx.in_progress(m),
            (None, DbState::Dirty(v)) => {
                let out = ctx.dirty(*v, dirty_evidence);
                action = out.4.as_ref().and_then(|a| dirty_row_action(*v, a));
                out
            }
            (None, DbState::Clean(v)) => ctx.clean(*v),
        };
    if !index.provenance.complete && verdict_depends_on_releases(verdict) {
        ctx.warnings.push(partial_index_warning(index));
    }
    // What the loader said about the index comes first: it qualifies everything else.
    ctx.warnings.splice(0..0, index.notices.iter().cloned());
    ctx.warnings.extend(opts.reading_notes.iter().cloned());
    if let Some(a) = evidence {
        ctx.warnings.extend(a.schema.warnings.iter().cloned());
    }
    CheckReport {
        state: StateView::from(state),
        verdict,
        summary,
        recommended,
        alternatives,
        why: ctx.why,
        warnings: ctx.warnings,
        dirty,
        action,
        after_action,
        schema: SchemaView::of(identity),
        index: IndexView::new(index),
    }
}

fn verdict_depends_on_releases(v: Verdict) -> bool {
    !matches!(v, Verdict::InProgress | Verdict::V1)
}

/// The sentence every answer from a partial index carries.
pub fn partial_index_warning(index: &Index) -> String {
    let newest = match index.releases().last() {
        Some(r) => {
            let own = r
                .date
                .as_deref()
                .map(|d| format!(" of {}", super::report::day_of(d)))
                .unwrap_or_default();
            let latest = index
                .newest_date()
                .filter(|d| Some(*d) != r.date.as_deref())
                .map(|d| format!("; latest tag date {}", super::report::day_of(d)))
                .unwrap_or_default();
            format!(" (newest tag {}{own}{latest})", r.tag)
        }
        None => String::new(),
    };
    format!(
        "the index is partial{newest}: a release it does not list could also match; `migtag index update` refreshes it"
    )
}

type Outcome = (
    Verdict,
    String,
    Option<Recommendation>,
    Vec<Alternative>,
    Option<DirtyAdvice>,
);

struct Ctx<'a> {
    index: &'a Index,
    opts: &'a CheckOptions,
    deployed: Option<&'a Release>,
    why: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(index: &'a Index, opts: &'a CheckOptions) -> Self {
        let mut warnings = Vec::new();
        let deployed = opts.deployed.as_deref().and_then(|tag| {
            let found = index.release(tag);
            if found.is_none() {
                warnings.push(format!(
                    "--deployed {tag} is not in the index; deciding without it (refresh the index if {tag} is newer)"
                ));
            }
            found
        });
        Ctx {
            index,
            opts,
            deployed,
            why: Vec::new(),
            warnings,
        }
    }

    /// Releases the user would run: finals, plus prereleases when asked, plus the deployed tag.
    fn candidates(&self) -> impl Iterator<Item = &'a Release> + '_ {
        let deployed = self.deployed.map(|r| r.tag.as_str());
        self.index.releases().iter().filter(move |r| {
            !r.prerelease || self.opts.include_prereleases || Some(r.tag.as_str()) == deployed
        })
    }

    fn fresh(&mut self) -> Outcome {
        let newest = self.candidates().last();
        self.why.push(
            "no schema_migrations row: Coder creates the schema on first start, so any release works"
                .into(),
        );
        let recommended = newest.map(|r| Recommendation {
            release: ReleaseRef::new(self.index, r),
            applies: Vec::new(),
            skips: Vec::new(),
        });
        let summary = match &recommended {
            Some(r) => format!(
                "fresh database: any release can start on it; the newest in the index is {}",
                r.release.image
            ),
            None => "fresh database: any release can start on it (the index lists none)".into(),
        };
        if let Some(r) = newest {
            self.why.push(format!(
                "{} applies all {} of its migrations on first start",
                r.tag,
                r.migrations.len()
            ));
        }
        (Verdict::Fresh, summary, recommended, Vec::new(), None)
    }

    fn v1(&mut self) -> Outcome {
        self.why.push(
            "the table migration_cursor exists: this is a Coder v1 database, and Coder v2 refuses it with \
             `currently connected to a Coder v1 database, aborting database setup`"
                .into(),
        );
        self.why.push(
            "no v2 image can use it: point Coder v2 at a new, empty database (v1 data does not migrate in place)"
                .into(),
        );
        let summary =
            "needs a human: this is a Coder v1 database (migration_cursor exists); no Coder v2 image will start on it"
                .to_string();
        (Verdict::V1, summary, None, Vec::new(), None)
    }

    fn in_progress(&mut self, m: &super::state::MigrationInProgress) -> Outcome {
        let who = match m.pid {
            Some(pid) => format!("backend pid {pid}"),
            None => "a session migtag cannot see".to_string(),
        };
        let since = m
            .xact_seconds
            .map(|s| {
                format!(
                    ", transaction running for {}",
                    super::duration::approx(s as f64)
                )
            })
            .unwrap_or_default();
        let summary = format!(
            "needs a human: a migration is running right now ({who} holds {}{since}); decide nothing until it ends",
            m.lock
        );
        self.why.push(
            "while a migration batch runs, schema_migrations is locked and its version is not final: \
             wait for it to commit or roll back, then run migtag again"
                .into(),
        );
        if let Some(q) = &m.query {
            self.why.push(format!("it is running: {q}"));
        }
        (Verdict::InProgress, summary, None, Vec::new(), None)
    }

    /// The image `clean(v)` would recommend, without its reasons: what runs once a row
    /// action has put the row at `v`.
    fn recommend_for(&self, v: Version) -> Option<Recommendation> {
        let mut other = Ctx::new(self.index, self.opts);
        other.clean(v).2
    }

    fn dirty(&mut self, v: Version, evidence: Option<DirtyActionKind>) -> Outcome {
        let advice = analyse_dirty(self.index, v, self.deployed, evidence);
        let what = super::dirty::evidence_clause(evidence);
        let summary = format!(
            "needs a human: migration {} started and did not finish (dirty = true){what}",
            advice.migration
        );
        self.why.extend(advice.explain());
        (Verdict::Dirty, summary, None, Vec::new(), Some(advice))
    }

    fn clean(&mut self, v: Version) -> Outcome {
        let cands: Vec<&Release> = self.candidates().collect();
        let exact: Vec<&Release> = cands
            .iter()
            .copied()
            .filter(|r| r.max_migration == v && r.contains(v))
            .collect();
        let compatible: Vec<&Release> = cands
            .iter()
            .copied()
            .filter(|r| r.contains(v) && r.max_migration > v)
            .collect();
        // Releases that look newer (a later version, or later migrations) than one that
        // contains V, yet lack V: the traps that semver ordering would walk into.
        let oldest_containing = cands
            .iter()
            .filter(|r| r.contains(v))
            .map(|r| r.version())
            .min();
        let is_trap = |r: &Release| {
            oldest_containing
                .is_some_and(|o| !r.contains(v) && (r.max_migration >= v || r.version() > o))
        };
        let cannot_start: Vec<&Release> = cands.iter().copied().filter(|r| is_trap(r)).collect();
        let too_old = cands
            .iter()
            .filter(|r| !r.contains(v) && !is_trap(r) && r.max_migration < v)
            .count();
        let first_known = cands.iter().filter_map(|r| r.migrations.min()).min();

        let writers = writers_of(self.index, v, self.deployed, &mut self.warnings);
        let mref = MigrationRef::new(self.index, v);

        // Recommendation, in the order of docs/rules.md.
        let deployed_exact = self
            .deployed
            .filter(|d| d.max_migration == v && d.contains(v));
        let (verdict, chosen) = if let Some(d) = deployed_exact {
            (Verdict::Exact, Some(d))
        } else if let Some((verdict, r)) = choose(&exact, &compatible) {
            (verdict, Some(r))
        } else if self.index.max_known_migration().is_some_and(|max| v > max)
            || self.index.releases().is_empty()
        {
            (Verdict::AheadOfIndex, None)
        } else {
            (Verdict::UnknownVersion, None)
        };

        // Why.
        if exact.is_empty() {
            self.why
                .push(format!("no release in the index stops exactly at {mref}"));
        } else {
            self.why.push(format!(
                "releases that stop exactly at {mref}: {}",
                super::report::release_tags(&exact)
            ));
        }
        if let (Some(d), None) = (self.deployed, deployed_exact) {
            if d.contains(v) {
                self.why.push(format!(
                    "the deployed {} contains {v} but stops at {:06}: it migrates forward when it starts",
                    d.tag, d.max_migration
                ));
            } else {
                self.why.push(format!(
                    "the deployed {} does not contain {v}: it crash-loops with `no migration found for version {v}`",
                    d.tag
                ));
            }
        }
        if !cannot_start.is_empty() {
            self.why.push(format!(
                "{} cannot start on it: although newer than a release that contains {v} (by version or by later migrations), {} lack{} it (`no migration found for version {v}`)",
                super::report::release_tags(&cannot_start),
                if cannot_start.len() == 1 { "it" } else { "they" },
                if cannot_start.len() == 1 { "s" } else { "" },
            ));
        }
        if too_old > 0 {
            self.why.push(format!(
                "{too_old} older release{} stop below {v} and would crash-loop with `no migration found for version {v}`",
                plural(too_old)
            ));
        }
        if !self.opts.include_prereleases {
            let pre: Vec<&Release> = self
                .index
                .releases()
                .iter()
                .filter(|r| r.prerelease && r.max_migration == v && r.contains(v))
                .collect();
            if !pre.is_empty() && exact.is_empty() {
                self.why.push(format!(
                    "pre-releases that stop at {v} were left out: {} (add --include-prereleases to consider them)",
                    super::report::release_tags(&pre)
                ));
            }
        }

        let recommended = chosen.map(|r| {
            let applies = MigrationRef::list(self.index, &r.migrations.above(v));
            Recommendation {
                release: ReleaseRef::new(self.index, r),
                skips: skip_findings(self.index, r, v, &writers),
                applies,
            }
        });
        if let Some(rec) = &recommended {
            if !rec.applies.is_empty() {
                let names: Vec<String> = rec.applies.iter().map(|m| m.to_string()).collect();
                self.why.push(format!(
                    "{} is the release with the fewest migrations above {v}; on start it applies {} ({} .. {})",
                    rec.release.tag,
                    rec.applies.len(),
                    names[0],
                    names[names.len() - 1]
                ));
            }
            for s in &rec.skips {
                self.push_skip_warning(&rec.release.tag, s);
            }
        }

        let chosen_tag = chosen.map(|r| r.tag.as_str());
        let mut alternatives = Vec::new();
        for r in &exact {
            if Some(r.tag.as_str()) != chosen_tag {
                alternatives.push(self.alternative(r, Relation::Exact, v, &writers));
            }
        }
        for r in &cannot_start {
            alternatives.push(self.alternative(r, Relation::CannotStart, v, &writers));
        }
        for r in newest_per_line(&compatible) {
            if Some(r.tag.as_str()) != chosen_tag {
                alternatives.push(self.alternative(r, Relation::Compatible, v, &writers));
            }
        }

        let state_text = format!("database at {mref}, clean");
        let summary = match (&recommended, verdict) {
            (Some(rec), Verdict::Exact) => {
                format!("exact: run {} ({state_text}; nothing to migrate)", rec.release.image)
            }
            (Some(rec), _) => format!(
                "upgrade needed to start: no release stops at {v}; run {} ({state_text}; it applies {} migration{})",
                rec.release.image,
                rec.applies.len(),
                plural(rec.applies.len())
            ),
            (None, Verdict::AheadOfIndex) => format!(
                "ahead of index: {state_text}, beyond every release in the index (highest {}); a preview build or a newer release migrated it",
                self.index.max_known_migration().map(|m| format!("{m:06}")).unwrap_or_else(|| "none".into())
            ),
            (None, _) => format!(
                "no match: {state_text}, but no release in the index contains migration {v}"
            ),
        };
        if let Some(first) = first_known.filter(|f| v < *f) {
            self.why.push(format!(
                "{v} is below the first migration of every release ({first:06}): golang-migrate never records such a version; \
                 check that this is Coder's schema_migrations"
            ));
        }
        if matches!(verdict, Verdict::AheadOfIndex | Verdict::UnknownVersion) {
            self.why.push(
                "no image from the index can start on this database; refresh the index (`migtag index update`) \
                 or run the image that migrated it"
                    .into(),
            );
        }
        (verdict, summary, recommended, alternatives, None)
    }

    fn alternative(
        &self,
        r: &Release,
        relation: Relation,
        v: Version,
        writers: &[&Release],
    ) -> Alternative {
        let (applies_count, skips) = match relation {
            Relation::CannotStart => (0, Vec::new()),
            _ => (
                r.migrations.above(v).len(),
                skip_findings(self.index, r, v, writers),
            ),
        };
        Alternative {
            release: ReleaseRef::new(self.index, r),
            relation,
            applies_count,
            skips,
        }
    }

    fn push_skip_warning(&mut self, target: &str, s: &SkipFinding) {
        let list: Vec<String> = s.migrations.iter().map(|m| m.to_string()).collect();
        self.warnings.push(format!(
            "if the database was migrated by {}, moving to {target} never runs {} (golang-migrate only applies migrations above the recorded version){}",
            s.assumes.join(", "),
            list.join(", "),
            if s.harmless { "; known to be harmless" } else { ": the schema would be short of them" }
        ));
    }
}

/// The rule of docs/rules.md once the deployed tag is out of the way: the newest patch of the
/// oldest line among the releases that stop exactly at V, else among the compatible ones
/// with the fewest migrations above V.
fn choose<'r>(exact: &[&'r Release], compatible: &[&'r Release]) -> Option<(Verdict, &'r Release)> {
    if !exact.is_empty() {
        return newest_patch_of_oldest_line(exact).map(|r| (Verdict::Exact, r));
    }
    let fewest = compatible.iter().map(|r| r.max_migration).min()?;
    let smallest: Vec<&Release> = compatible
        .iter()
        .copied()
        .filter(|r| r.max_migration == fewest)
        .collect();
    newest_patch_of_oldest_line(&smallest).map(|r| (Verdict::UpgradeNeededToStart, r))
}

/// The release `check` recommends for a clean `v` among final releases, with no deployed
/// tag: the image to run once a row action has put the row at `v`.
pub fn image_for_clean(index: &Index, v: Version) -> Option<&Release> {
    let finals: Vec<&Release> = index
        .releases()
        .iter()
        .filter(|r| !r.prerelease && r.contains(v))
        .collect();
    let exact: Vec<&Release> = finals
        .iter()
        .copied()
        .filter(|r| r.max_migration == v)
        .collect();
    let compatible: Vec<&Release> = finals
        .iter()
        .copied()
        .filter(|r| r.max_migration > v)
        .collect();
    choose(&exact, &compatible).map(|(_, r)| r)
}

/// docs/rules.md: "the newest patch of the *oldest* release line" among `releases`.
pub fn newest_patch_of_oldest_line<'r>(releases: &[&'r Release]) -> Option<&'r Release> {
    let oldest_line = releases.iter().map(|r| r.line()).min()?;
    releases
        .iter()
        .copied()
        .filter(|r| r.line() == oldest_line)
        .max_by(|a, b| a.version().cmp(b.version()))
}

/// For each release line, its newest patch among `releases`, oldest line first.
fn newest_per_line<'r>(releases: &[&'r Release]) -> Vec<&'r Release> {
    let mut out: Vec<&Release> = Vec::new();
    for r in releases {
        match out.iter_mut().find(|o| o.line() == r.line()) {
            Some(o) if o.version() < r.version() => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out.sort_by_key(|r| r.line());
    out
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Releases whose set includes V (used by `gate` and the dirty analysis too).
pub fn containing(index: &Index, v: Version) -> Vec<&Release> {
    index.releases().iter().filter(|r| r.contains(v)).collect()
}
