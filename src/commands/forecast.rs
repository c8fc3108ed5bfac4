//! Wiring of the upgrade forecast shared by `gate`, `patch` and `runbook`: the pending
//! migrations' replayed facts (bundled effects), the live sizes when the source is a
//! database, the target's batch semantics and the measured rates go into the core.

use crate::cli::SourceArgs;
use crate::core::forecast::effects::release_effects;
use crate::core::forecast::{
    self, blocked_by, rates, touched_tables, Forecast, ForecastInput, MigrationFacts,
};
use crate::core::index::Release;
use crate::core::migration_set::MigrationSet;
use crate::core::state::DbState;
use crate::error::Result;

use super::facts::Facts;

/// The forecast of moving a database in `state` to `target`; None when nothing would run
/// (or the state is not one a target can start from).
pub fn for_upgrade(state: &DbState, target: &Release, db: &Facts) -> Result<Option<Forecast>> {
    let effects = db.effects()?;
    let pending = match state {
        DbState::Fresh => target.migrations.clone(),
        DbState::Clean(v) if target.contains(*v) => target.migrations.above(*v),
        _ => return Ok(None),
    };
    if pending.is_empty() {
        return Ok(None);
    }
    let shipped = release_effects(effects, &target.migrations, &target.tag);
    let mut facts = Vec::new();
    let mut missing = Vec::new();
    for v in pending.iter() {
        match shipped(v) {
            Some(e) => facts.push(MigrationFacts::from(e)),
            None => missing.push(v),
        }
    }

    let live = match (state, db.reading.db.is_some()) {
        (_, false) => None,
        // An empty database: every table is created by the batch.
        (DbState::Fresh, true) => Some(Ok(forecast::LiveSizes::default())),
        (_, true) => Some(
            db.sizes()
                .cloned()
                .unwrap_or_else(|| Err("the sizes were not read".into())),
        ),
    };
    let touched = touched_tables(&facts);
    let (sizes, unavailable) = match &live {
        None => (None, None),
        Some(Err(why)) => (None, Some(why.clone())),
        Some(Ok(l)) => match blocked_by(l, &touched) {
            Some(why) => (None, Some(why)),
            None => (Some(&l.tables), None),
        },
    };
    let one_transaction = forecast::one_transaction(target.version());
    let mut f = forecast::forecast(&ForecastInput {
        pending: facts,
        sizes,
        one_transaction,
        rates: &rates::MEASURED,
        unavailable,
        unknown: missing.clone(),
    });
    if !missing.is_empty() {
        let missing = MigrationSet::from_versions(missing);
        f.notes.push(format!(
            "no replayed facts for migration{} {missing} (newer than the effects in use, which stop at {:06}): their locks and work are not counted, so the forecast is incomplete; add them with `{}`",
            if missing.len() == 1 { "" } else { "s" },
            effects.provenance.max_migration,
            crate::core::effects::EXTEND_COMMAND
        ));
    }
    Ok(Some(f))
}

pub(super) fn is_live(source: &SourceArgs) -> bool {
    source.version.is_none() && source.psql.is_none()
}
