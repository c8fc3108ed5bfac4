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

/// Reads the state from whichever source the user gave.
/// Notes about the reading go to stderr.
pub fn read_state(args: &SourceArgs) -> Result<DbState> {
    let reading = read_source(args)?;
    for note in &reading.notes {
        crate::ewriteln!("warning: {note}");
    }
    Ok(reading.state)
}

/// Reads the state, keeping the database observation (sessions, server, schema) when the
/// source is a live database.
pub fn read_source(args: &SourceArgs) -> Result<SourceReading> {
    read_source_with(args, false)
}

/// Like [`read_source`]; with `read_catalog`, a live database's catalog is read too.
pub fn read_source_with(args: &SourceArgs, read_catalog: bool) -> Result<SourceReading> {
    read_source_reads(
        args,
        postgres::Reads {
            catalog: read_catalog,
            sizes: false,
        },
    )
}

/// Like [`read_source`], reading what `reads` asks for from a live database, in its one
/// session.
pub fn read_source_reads(args: &SourceArgs, reads: postgres::Reads) -> Result<SourceReading> {
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
