//! A dirty row `(V, true)`: migration V started and did not finish. The advice names V, the
//! previous migration P of the binary that wrote the row (each candidate when releases
//! disagree), the compare-and-set clean-up, and the images to run before and after it.

use serde::Serialize;

use super::check::newest_patch_of_oldest_line;
use super::index::{Index, Release};
use super::migration_set::Version;
use super::report::{short_tags, MigrationRef, ReleaseRef, SHORT_TAGS};

#[derive(Debug, Clone, Serialize)]
pub struct DirtyAdvice {
    /// The migration that started and did not finish.
    pub migration: MigrationRef,
    /// Whether any release in the index ships migration V.
    pub in_index: bool,
    /// One clean-up per distinct previous migration among the possible writers.
    pub cleanups: Vec<Cleanup>,
    /// The release to run after the clean-up (it re-runs V, or starts from V when V is
    /// kept). Set when every candidate clean-up agrees on it; otherwise see each clean-up's
    /// `run_after`.
    pub run_after_cleanup: Option<ReleaseRef>,
    /// What the schema evidence decided (None: the schema was not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<DirtyActionKind>,
}

impl Cleanup {
    /// The compare-and-set on `table` (quoted or qualified), with its `;`.
    pub fn statement(&self, table: &str, v: Version) -> String {
        match self.kind {
            CleanupKind::ToPrevious => format!(
                "{};",
                super::sql::clear_dirty(table, v, self.previous.as_ref().map(|p| p.version))
            ),
            CleanupKind::KeepAndClear => format!("{};", super::sql::keep_dirty(table, v)),
        }
    }
}

/// What the schema evidence says to do about a dirty row at V (docs/verify.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DirtyActionKind {
    /// None of V's effects exist: reset the row to the previous migration, V runs again.
    CleanupToPrevious,
    /// All of V's effects exist: V finished, keep it and clear only the flag.
    KeepAndClear,
    /// V is half-applied: nothing is run for you; undo by hand, then reset the row.
    Review,
    /// V changes no catalog object: the schema cannot tell; the clean-up to the previous
    /// migration after checking its data changes.
    Unknown,
}

/// Which statement a clean-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupKind {
    /// Back to the previous migration (or the row removed for a first migration).
    ToPrevious,
    /// V stays, the flag is cleared.
    KeepAndClear,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cleanup {
    pub kind: CleanupKind,
    /// The releases assumed to have written the row (they agree on the previous migration).
    pub assumes: Vec<String>,
    /// The migration before V in their sets; `None` when V is their first migration.
    pub previous: Option<MigrationRef>,
    /// The compare-and-set statement: it changes the row only while it still says (V, true).
    pub sql: String,
    /// The old image that stops exactly at the previous migration, if any.
    pub restore_image: Option<ReleaseRef>,
    /// The release to run after this clean-up: it contains the previous migration and has V
    /// right after it, so it re-runs V first.
    pub run_after: Option<ReleaseRef>,
}

/// What the schema evidence said about a dirty migration, as a clause for a headline (the
/// same words in `check`'s summary and `gate`'s reason).
pub fn evidence_clause(kind: Option<DirtyActionKind>) -> &'static str {
    match kind {
        Some(DirtyActionKind::KeepAndClear) => {
            "; the schema shows it complete: keep it and clear the flag"
        }
        Some(DirtyActionKind::CleanupToPrevious) => {
            "; the schema shows none of it: reset the row to the previous migration"
        }
        Some(DirtyActionKind::Review) => {
            "; the schema shows it half-applied: review and undo by hand, nothing is run for you"
        }
        Some(DirtyActionKind::Unknown) | None => "",
    }
}

/// The compare-and-set clean-up statement for a dirty `v` whose previous migration is `prev`.
pub fn cleanup_sql(v: Version, prev: Option<Version>) -> String {
    format!("{};", super::sql::clear_dirty("schema_migrations", v, prev))
}

/// The compare-and-set that keeps a dirty `v` whose effects are complete and clears its flag.
pub fn keep_sql(v: Version) -> String {
    format!("{};", super::sql::keep_dirty("schema_migrations", v))
}

/// The compare-and-set that rewinds a clean row from `v` to `to` (the remedy for a set that
/// skipped migrations the target needs: the target then runs everything above `to`).
pub fn rewind_sql(v: Version, to: Version) -> String {
    format!("{};", super::sql::rewind("schema_migrations", v, to))
}

/// The advice for a dirty `v`. `evidence` is what the schema showed about V's effects: when
/// they are complete, the one clean-up keeps V and clears the flag (the release to run is one
/// that starts from V); otherwise the clean-ups go back to the previous migration.
pub fn analyse_dirty(
    index: &Index,
    v: Version,
    deployed: Option<&Release>,
    evidence: Option<DirtyActionKind>,
) -> DirtyAdvice {
    let containing: Vec<&Release> = index.releases().iter().filter(|r| r.contains(v)).collect();
    let writers: Vec<&Release> = match deployed {
        Some(d) if d.contains(v) => vec![d],
        _ => containing.clone(),
    };

    let mut groups: Vec<(Option<Version>, Vec<&Release>)> = Vec::new();
    for w in &writers {
        let prev = w.migrations.prev(v);
        match groups.iter_mut().find(|(p, _)| *p == prev) {
            Some((_, rs)) => rs.push(w),
            None => groups.push((prev, vec![w])),
        }
    }
    groups.sort_by_key(|(p, _)| *p);

    if evidence == Some(DirtyActionKind::KeepAndClear) && !writers.is_empty() {
        let run_after = super::check::image_for_clean(index, v).map(|r| ReleaseRef::new(index, r));
        return DirtyAdvice {
            migration: MigrationRef::new(index, v),
            in_index: true,
            cleanups: vec![Cleanup {
                kind: CleanupKind::KeepAndClear,
                assumes: writers.iter().map(|r| r.tag.clone()).collect(),
                previous: None,
                sql: keep_sql(v),
                restore_image: None,
                run_after: run_after.clone(),
            }],
            run_after_cleanup: run_after,
            action: evidence,
        };
    }
    let cleanups: Vec<Cleanup> = groups
        .into_iter()
        .map(|(prev, rs)| Cleanup {
            kind: CleanupKind::ToPrevious,
            assumes: rs.iter().map(|r| r.tag.clone()).collect(),
            previous: prev.map(|p| MigrationRef::new(index, p)),
            sql: cleanup_sql(v, prev),
            restore_image: prev
                .and_then(|p| exact_final(index, p))
                .map(|r| ReleaseRef::new(index, r)),
            run_after: image_after_cleanup(index, v, prev).map(|r| ReleaseRef::new(index, r)),
        })
        .collect();

    // One answer only when every candidate clean-up leads to the same release.
    let run_after_cleanup = match cleanups.split_first() {
        Some((first, rest)) if rest.iter().all(|c| c.run_after == first.run_after) => {
            first.run_after.clone()
        }
        _ => None,
    };

    DirtyAdvice {
        migration: MigrationRef::new(index, v),
        in_index: !containing.is_empty(),
        cleanups,
        run_after_cleanup,
        action: evidence,
    }
}

/// The release to run after the clean-up of a dirty `v` back to `prev`: it must contain
/// `prev` (or it crash-loops) and have `v` as the migration right after it (so it re-runs
/// `v` first). Of those, the one with the fewest migrations, newest patch of the oldest line;
/// final releases first.
///
/// The first release that contains `v` is not always it: for 316 written by v2.22+ (previous
/// 315), v2.21.1 has 316 but lacks 315.
pub fn image_after_cleanup(index: &Index, v: Version, prev: Option<Version>) -> Option<&Release> {
    let fits: Vec<&Release> = index
        .releases()
        .iter()
        .filter(|r| r.contains(v) && r.migrations.prev(v) == prev)
        .collect();
    let finals: Vec<&Release> = fits.iter().copied().filter(|r| !r.prerelease).collect();
    let pool = if finals.is_empty() { fits } else { finals };
    let fewest = pool.iter().map(|r| r.max_migration).min()?;
    let smallest: Vec<&Release> = pool
        .into_iter()
        .filter(|r| r.max_migration == fewest)
        .collect();
    newest_patch_of_oldest_line(&smallest)
}

/// A final release that stops exactly at `p` (newest patch of the oldest such line).
fn exact_final(index: &Index, p: Version) -> Option<&Release> {
    let exact: Vec<&Release> = index
        .releases()
        .iter()
        .filter(|r| !r.prerelease && r.max_migration == p && r.contains(p))
        .collect();
    newest_patch_of_oldest_line(&exact)
}

impl DirtyAdvice {
    /// The sentences of the "why" section.
    pub fn explain(&self) -> Vec<String> {
        let m = &self.migration;
        let v = m.version;
        let mut out = vec![format!(
            "golang-migrate refuses to run on it (`Dirty database version {v}. Fix and force version.`): \
             every Coder image crash-loops until a human clears the row"
        )];
        out.push(
            "Coder >= v2.5 runs all pending migrations in one transaction and rolls back on failure, so it \
             does not leave a dirty row: this one comes from a pre-2.5 binary or a hand edit. Check the schema \
             for what the migration half-did before clearing the flag"
                .to_string(),
        );
        if let Some(c) = self
            .cleanups
            .iter()
            .find(|c| c.kind == CleanupKind::KeepAndClear)
        {
            out.push(format!(
                "the schema shows every effect of {m} in place: it finished, so the row keeps {v} and only the flag is cleared with `{}`",
                c.sql
            ));
            if let Some(r) = &c.run_after {
                out.push(format!(
                    "after that, run {} (it starts from {v:06})",
                    r.image
                ));
            }
            return out;
        }
        if !self.in_index {
            out.push(format!(
                "migration {v} is in no release of the index, so migtag cannot name the previous migration: \
                 refresh the index (`migtag index update`) or read the migrations folder of the image that wrote it"
            ));
            return out;
        }
        let several = self.cleanups.len() > 1;
        if several {
            out.push(format!(
                "the releases that contain {v} disagree on the migration before it; the clean-up depends on which one wrote the row (pass --deployed TAG to choose):"
            ));
        }
        for c in &self.cleanups {
            let assumed = if several {
                let refs: Vec<&str> = c.assumes.iter().map(String::as_str).collect();
                format!("if it was written by {}: ", short_tags(&refs, SHORT_TAGS))
            } else {
                String::new()
            };
            match &c.previous {
                Some(p) => out.push(format!(
                    "{assumed}the previous migration is {p}; clean up with `{}`",
                    c.sql
                )),
                None => out.push(format!(
                    "{assumed}{v} is the first migration, so there is no previous version: remove the row with `{}` \
                     and drop whatever the half-run migration created",
                    c.sql
                )),
            }
            if let (Some(r), true) = (&c.run_after, several) {
                out.push(format!(
                    "{assumed}after that clean-up, run {} (it has {:06} and re-runs {v} next)",
                    r.image,
                    c.previous.as_ref().map(|p| p.version).unwrap_or(0)
                ));
            }
            if let Some(img) = &c.restore_image {
                out.push(format!(
                    "{assumed}the old image that stops exactly at {:06} is {}",
                    img.max_migration, img.image
                ));
            }
        }
        if let Some(r) = &self.run_after_cleanup {
            let first = self.cleanups.iter().all(|c| c.previous.is_none());
            out.push(if first {
                format!("after the clean-up, run {} (it runs {m} again, first of all)", r.image)
            } else {
                format!(
                    "after the clean-up, run {} (it contains the previous migration and re-runs {m} first)",
                    r.image
                )
            });
        }
        out
    }
}
