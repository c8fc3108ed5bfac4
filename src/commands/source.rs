//! Where the database state comes from: `--db URL` (or the environment chain),
//! `--version N [--dirty]`, `--psql FILE|-`.

use crate::adapters::bounded;
use crate::adapters::postgres::{self, Limits, ProcessEnv};
use crate::cli::SourceArgs;
use crate::core::observation::DbObservation;
use crate::core::state::DbState;
use crate::error::{Error, Result};
use crate::input::psql;

/// The state, and when it came from a live database, everything else that look saw.
#[derive(Debug, Clone)]
pub struct SourceReading {
    pub state: DbState,
    pub db: Option<DbObservation>,
    /// Things the user should know about how the state was read (shown as warnings).
    pub notes: Vec<String>,
}

/// Reads the state from whichever source the user gave; from a live database, also what
/// `reads` asks for (the catalog, the sizes), in its one session, with everything else that
/// look saw.
pub fn read_source(args: &SourceArgs, reads: postgres::Reads) -> Result<SourceReading> {
    if let Some(v) = args.version {
        return Ok(SourceReading {
            state: DbState::from_row(v, args.dirty),
            db: None,
            notes: Vec::new(),
        });
    }
    if let Some(path) = &args.psql {
        let text = read_text(path)?;
        let (state, notes) =
            psql::parse_with_notes(&text).map_err(|e| e.context(format!("--psql {path}")))?;
        return Ok(SourceReading {
            state,
            db: None,
            notes,
        });
    }
    let Some(settings) = postgres::resolve(args.db.as_deref(), &ProcessEnv)? else {
        return Err(Error::usage(
            "no database state given: pass --db URL, --version N [--dirty], or --psql FILE (- for stdin); \
             or set CODER_PG_CONNECTION_URL, DATABASE_URL or the PG* variables",
        ));
    };
    let limits = Limits::new(
        &settings,
        args.connect_timeout,
        args.lock_timeout,
        args.statement_timeout,
    );
    let observation = postgres::observe_reads(&settings, &limits, reads)?;
    Ok(SourceReading {
        state: observation.state.clone(),
        db: Some(observation),
        notes: Vec::new(),
    })
}

/// Reads a psql paste from a file, or stdin for `-` (bounded: `adapters::bounded`).
pub fn read_text(path: &str) -> Result<String> {
    bounded::read_text(path, bounded::PSQL_PASTE)
}
