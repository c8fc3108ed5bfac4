//! `migtag index effects`: replays Coder's real migration SQL on a scratch database and writes
//! the effects data (see docs/verify.md). The release sets come from the index in use; the
//! SQL from `--sql`, else from GitHub through the cache. Also `index update --effects`,
//! which replays only what the effects lack and extends them.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::adapters::postgres::{self, replay, ProcessEnv};
use crate::adapters::{coder_sql, github};
use crate::cli::{EffectsArgs, UpdateArgs};
use crate::core::effects::{expected_schema, EXTEND_COMMAND};
use crate::core::index::{Index, Release};
use crate::core::migration_set::{MigrationSet, Version};
use crate::error::{Error, ExitCode, Result};
use crate::render::index::EffectsCoverage;

use super::context::Context;
use super::github_sql::{self, FileKind};

pub fn run(ctx: &Context, args: EffectsArgs) -> Result<ExitCode> {
    let index = ctx.load_index()?;
    let source = match &args.sql {
        Some(path) => coder_sql::load(path)?,
        None => {
            // The files of the index's newest release, as a clone checked out there.
            let release = newest_regular(&index, 0).ok_or_else(|| {
                Error::invalid_input("the index in use has no release whose migrations are 1..N")
            })?;
            let gh = github_sql::source_of(&index, args.github_api_url.as_deref());
            github_sql::fetch(ctx, &gh, &release.tag, &|k| {
                !matches!(k, FileKind::Down(v) | FileKind::Up(v) | FileKind::Fixture(v) if v > release.max_migration)
            })?
            .sql
        }
    };
    let settings = postgres::resolve(Some(&args.scratch_db), &ProcessEnv)?
        .ok_or_else(|| Error::usage("--scratch-db needs a connection string"))?;
    // The source's newest migration (a clone at an older tag replays less than the index).
    let max = source
        .files
        .iter()
        .rev()
        .find(|(_, contents)| contents.iter().any(|f| f.up))
        .map(|(v, _)| *v)
        .ok_or_else(|| {
            Error::invalid_input(format!("{} holds no .up.sql migration", source.label))
        })?;
    let plan = replay::Plan {
        source: &source,
        max,
        irregular: irregular_plans(&index)
            .into_iter()
            .filter(|p| p.set.max().is_some_and(|m| m <= max))
            .collect(),
        known_up_to: 0,
    };
    let started = Instant::now();
    let effects = replay::generate(&settings, &plan)?.effects;
    let text = effects.to_json();
    crate::adapters::cache::write_atomically(&args.out, text.as_bytes())?;
    ctx.info(&format!(
        "replayed in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    crate::ewriteln!(
        "wrote {}: {} migrations, {} irregular sets, {} content variants, {} bytes",
        args.out.display(),
        effects.main.len(),
        effects.irregular.len(),
        effects.variants.len(),
        text.len()
    );
    Ok(ExitCode::Success)
}

/// What extending effects that stop at `covered_to` takes: the release to replay (the newest
/// with the set 1..N above them), every migration of the index above them, and those of them
/// that release does not reach (held only by irregular sets).
fn coverage_plan(
    index: &Index,
    covered_to: Version,
) -> (Option<&Release>, Vec<Version>, Vec<Version>) {
    let release = newest_regular(index, covered_to);
    let missing: Vec<Version> = index
        .names()
        .keys()
        .copied()
        .filter(|v| *v > covered_to)
        .collect();
    let reached = release.map(|r| r.max_migration).unwrap_or(covered_to);
    let left_out = missing.iter().copied().filter(|v| *v > reached).collect();
    (release, missing, left_out)
}

/// The release with the most migrations whose set is `1..=N` with N above `above`: newest
/// final first among equals.
fn newest_regular(index: &Index, above: Version) -> Option<&Release> {
    index
        .releases()
        .iter()
        .filter(|r| {
            r.max_migration > above && r.migrations == MigrationSet::range(1, r.max_migration)
        })
        .max_by_key(|r| (r.max_migration, !r.prerelease, r.version().clone()))
}

/// `index update`'s effects step: how far the effects reach in the new `index`, and with
/// `--effects`, the missing migrations replayed on a scratch database from the newest
/// release's files (fetched through the cache) and the effects extended with them, written
/// atomically only when everything replayed (docs/verify.md).
pub fn extend(
    ctx: &Context,
    args: &UpdateArgs,
    source: &github::GithubSource,
    index: &Index,
) -> Result<EffectsCoverage> {
    let bundled = crate::bundled::effects()?;
    // The effects already extended, when they agree with the new index; else the bundled.
    let base = match super::context::cached_effects(&bundled) {
        Some(Ok(e)) if super::context::extension_problem(&e, &bundled, index).is_none() => e,
        _ => bundled.clone(),
    };
    let covered_to = base.provenance.max_migration;
    let (release, missing, left_out) = coverage_plan(index, covered_to);
    let mut coverage = EffectsCoverage {
        covered_to,
        missing: missing.clone(),
        release: release.map(|r| r.tag.clone()),
        written_to: None,
        extended_to: None,
        files_cached: 0,
        files_fetched: 0,
        scratch_database: None,
        notes: vec![],
    };
    if !left_out.is_empty() {
        coverage.notes.push(format!(
            "migration{} {} {} only in releases whose sets are not 1..N: no replay covers {}",
            if left_out.len() == 1 { "" } else { "s" },
            MigrationSet::from_versions(left_out.iter().copied()),
            if left_out.len() == 1 { "is" } else { "are" },
            if left_out.len() == 1 { "it" } else { "them" }
        ));
    }
    let Some(release) = release else {
        return Ok(coverage);
    };
    let (Some(scratch_db), true) = (&args.scratch_db, args.effects) else {
        coverage.notes.push(format!(
            "verify, the forecast and the rehearsal know nothing of migrations {:06}-{:06} (up to {}): add their effects with `{EXTEND_COMMAND}` (a server where the role may create a scratch database)",
            covered_to + 1,
            release.max_migration,
            release.tag
        ));
        return Ok(coverage);
    };
    let max = release.max_migration;
    // The newest release's files replay the sequence; the other releases that ship new
    // migrations give their contents of them, replayed as variants where they differ
    // (the bundled file's rule: main = the newest tag's content).
    let main_files = |k: FileKind| match k {
        FileKind::Up(v) | FileKind::Fixture(v) => v <= max,
        FileKind::Down(v) => v > covered_to && v <= max,
    };
    let others: Vec<&Release> = index
        .releases()
        .iter()
        .filter(|r| r.tag != release.tag && r.max_migration > covered_to)
        .collect();
    let new_ups = |k: FileKind| matches!(k, FileKind::Up(v) if v > covered_to && v <= max);
    let mut wanted: Vec<(&str, &dyn Fn(FileKind) -> bool)> =
        vec![(release.tag.as_str(), &main_files)];
    wanted.extend(
        others
            .iter()
            .map(|r| (r.tag.as_str(), &new_ups as &dyn Fn(FileKind) -> bool)),
    );
    let mut all = github_sql::fetch_tags(ctx, source, &wanted)?.into_iter();
    let main = all.next().expect("one answer per tag asked");
    coverage.files_cached = main.from_cache;
    coverage.files_fetched = main.stats.blobs_fetched;
    let mut sql = coder_sql::from_tag_files(
        main.files,
        github_sql::label(source, &release.tag),
        &release.tag,
    )?;
    for files in all {
        coverage.files_cached += files.from_cache;
        coverage.files_fetched += files.stats.blobs_fetched;
        let label = github_sql::label(source, &files.tag);
        sql.merge_tag(coder_sql::from_tag_files(files.files, label, &files.tag)?);
    }
    let settings = postgres::resolve(Some(scratch_db), &ProcessEnv)?
        .ok_or_else(|| Error::usage("--scratch-db needs a connection string"))?;
    let plan = replay::Plan {
        source: &sql,
        max,
        irregular: vec![],
        known_up_to: covered_to,
    };
    let started = Instant::now();
    let replayed = replay::generate(&settings, &plan)?;
    ctx.info(&format!(
        "replayed 1..{max} (measured {}..{max}) in {:.1}s",
        covered_to + 1,
        started.elapsed().as_secs_f64()
    ));
    coverage.scratch_database = replayed.scratch_database.clone();
    if let Some(prefix) = &replayed.prefix {
        let seq: Vec<_> = base.main.iter().collect();
        let diff = expected_schema(&seq).diff(prefix);
        if !diff.is_empty() {
            coverage.notes.push(format!(
                "the files of {} build a schema at {covered_to:06} that differs from the one the known effects expect ({} added, {} removed, {} changed objects, such as {}): the new effects were measured on that schema",
                release.tag,
                diff.added.len(),
                diff.removed.len(),
                diff.changed.len(),
                diff.added
                    .keys()
                    .chain(diff.removed.iter())
                    .chain(diff.changed.keys())
                    .next()
                    .map(String::as_str)
                    .unwrap_or("?")
            ));
        }
    }
    let new = replayed.effects;
    if new.provenance.postgres_major != base.provenance.postgres_major {
        coverage.notes.push(format!(
            "migrations {:06}-{max:06} were measured on PostgreSQL {}, the ones before on PostgreSQL {}",
            covered_to + 1,
            new.provenance.postgres_major,
            base.provenance.postgres_major
        ));
    }
    let mut extended = base.clone();
    extended.provenance.source = format!("{} + {}", base.provenance.source, new.provenance.source);
    extended.provenance.max_migration = max;
    extended.main.extend(new.main);
    extended.variants.extend(new.variants);
    extended.down.extend(new.down);
    if let Some(why) = super::context::extension_problem(&extended, &bundled, index) {
        return Err(Error::internal(format!(
            "the replayed effects do not agree with the index: {why}"
        )));
    }
    let path = match &args.effects_out {
        Some(p) => p.clone(),
        None => crate::adapters::cache::require_root()?.join("effects.json"),
    };
    crate::adapters::cache::write_atomically(&path, extended.to_json().as_bytes())?;
    coverage.written_to = Some(path);
    coverage.extended_to = Some(max);
    Ok(coverage)
}

/// Release sets that are not `1..=N`, each with the first final release after them that
/// contains their highest migration (what an operator upgrades to next).
pub fn irregular_plans(index: &Index) -> Vec<replay::IrregularPlan> {
    let mut by_set: BTreeMap<String, (MigrationSet, Vec<&crate::core::index::Release>)> =
        BTreeMap::new();
    for r in index.releases() {
        if r.migrations != MigrationSet::range(1, r.max_migration) {
            by_set
                .entry(r.migrations.to_string())
                .or_insert_with(|| (r.migrations.clone(), vec![]))
                .1
                .push(r);
        }
    }
    by_set
        .into_values()
        .map(|(set, releases)| {
            let newest = releases.iter().map(|r| r.version()).max().cloned();
            let top = set.max().unwrap_or(0);
            let targets = index
                .releases()
                .iter()
                .filter(|t| !t.prerelease && t.contains(top) && Some(t.version()) > newest.as_ref())
                .min_by_key(|t| t.version().clone())
                .map(|t| vec![(t.tag.clone(), t.migrations.clone())])
                .unwrap_or_default();
            replay::IrregularPlan {
                set,
                releases: releases.iter().map(|r| r.tag.clone()).collect(),
                targets,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(extra: &[(&str, &str)], names: &[(u64, &str)]) -> Index {
        let mut doc: serde_json::Value =
            serde_json::from_str(&crate::bundled::json().unwrap()).unwrap();
        for (tag, set) in extra {
            let max = MigrationSet::parse(set).unwrap().max().unwrap();
            doc["releases"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "tag": tag, "commit": "0123456789abcdef0123456789abcdef01234567",
                    "date": "2026-12-01T05:00:00Z", "max_migration": max, "migrations": set,
                    "prerelease": tag.contains('-')
                }));
        }
        for (v, name) in names {
            doc["migrations"][v.to_string()] = (*name).into();
        }
        Index::from_json(&doc.to_string()).unwrap()
    }

    #[test]
    fn the_newest_release_with_the_set_1_to_n_is_replayed_and_irregular_leftovers_named() {
        let index = index_with(&[], &[]);
        let (release, missing, left_out) = coverage_plan(&index, 556);
        assert!(release.is_none() && missing.is_empty() && left_out.is_empty());
        let index = index_with(
            &[
                ("v2.37.0-rc.0", "1-558"),
                ("v2.37.0", "1-558"),
                ("v2.37.1", "1-557"),
                ("v2.38.0", "1-558,560"),
            ],
            &[(557, "a"), (558, "b"), (560, "d")],
        );
        let (release, missing, left_out) = coverage_plan(&index, 556);
        assert_eq!(
            release.unwrap().tag,
            "v2.37.0",
            "a final release before its rc"
        );
        assert_eq!(missing, [557, 558, 560]);
        assert_eq!(left_out, [560]);
    }
}
