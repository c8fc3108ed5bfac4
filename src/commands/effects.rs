//! `migtag index effects`: replays Coder's real migration SQL on a scratch database and writes
//! the effects data (see docs/verify.md). The release sets come from the index in use.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::adapters::coder_sql;
use crate::adapters::postgres::{self, replay, ProcessEnv};
use crate::cli::EffectsArgs;
use crate::core::index::Index;
use crate::core::migration_set::MigrationSet;
use crate::error::{Error, ExitCode, Result};

use super::context::Context;

pub fn run(ctx: &Context, args: EffectsArgs) -> Result<ExitCode> {
    let index = ctx.load_index()?;
    let source = coder_sql::load(&args.sql).map_err(|e| e.context("--sql"))?;
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
            Error::invalid_input(format!("{} holds no .up.sql migration", args.sql.display()))
        })?;
    let plan = replay::Plan {
        source: &source,
        max,
        irregular: irregular_plans(&index)
            .into_iter()
            .filter(|p| p.set.max().is_some_and(|m| m <= max))
            .collect(),
    };
    let started = Instant::now();
    let effects = replay::generate(&settings, &plan)?;
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
