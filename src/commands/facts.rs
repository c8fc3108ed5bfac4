//! Gather once: the database state (with its catalog unless `--no-schema`), the effects
//! (inflated and parsed at most once per run) and the schema evidence built from them. Every
//! command that decides from a database takes its facts from here and hands them to the core
//! unchanged.

use crate::cli::SourceArgs;
use crate::core::effects::Effects;
use crate::core::index::{Index, Release};
use crate::core::observation::CatalogRead;
use crate::core::verify::{assess, Assessment};
use crate::error::Result;

use super::source::{read_source, SourceReading};
use crate::adapters::postgres::Reads;
use crate::core::forecast::LiveSizes;

pub struct Facts {
    pub reading: SourceReading,
    /// The schema evidence: None without a live database or with `--no-schema`.
    pub assessment: Option<Assessment>,
}

impl Facts {
    /// Reads the source (the catalog too, unless `--no-schema`) and weighs the schema.
    pub fn gather(index: &Index, source: &SourceArgs, deployed: Option<&Release>) -> Result<Facts> {
        Facts::gather_with(index, source, deployed, false)
    }

    /// Like [`Facts::gather`]; with `sizes`, the tables' sizes for a forecast are read in the
    /// same session (gate, patch, runbook), so one command opens one session.
    pub fn gather_with(
        index: &Index,
        source: &SourceArgs,
        deployed: Option<&Release>,
        sizes: bool,
    ) -> Result<Facts> {
        // The schema evidence needs the effects: they are inflated and parsed on a second
        // thread while the server answers the catalog query, so the two take the time of the
        // slower, not of both.
        let live = source.version.is_none() && source.psql.is_none();
        if live && !source.no_schema {
            super::context::prefetch_effects();
        }
        let reading = read_source(
            source,
            Reads {
                catalog: !source.no_schema,
                sizes,
            },
        )?;
        Facts::from_reading(index, reading, deployed)
    }

    /// The sizes read with the state: None without a live database (or not asked for).
    pub fn sizes(&self) -> Option<&std::result::Result<LiveSizes, String>> {
        self.reading.db.as_ref().and_then(|o| o.sizes.as_ref())
    }

    /// The facts of a reading already made.
    pub fn from_reading(
        index: &Index,
        reading: SourceReading,
        deployed: Option<&Release>,
    ) -> Result<Facts> {
        let facts = Facts {
            reading,
            assessment: None,
        };
        let catalog = facts.reading.db.as_ref().and_then(|o| o.catalog.as_ref());
        let assessment = match catalog {
            None => None,
            Some(CatalogRead::Skipped(reason)) => Some(Assessment::skipped(reason.clone())),
            Some(CatalogRead::Read(live)) => Some(assess(
                facts.effects()?,
                index,
                &facts.reading.state,
                deployed,
                live,
            )),
        };
        Ok(Facts {
            assessment,
            ..facts
        })
    }

    /// The effects, read at most once per run (`context::load_effects`).
    pub fn effects(&self) -> Result<&'static Effects> {
        super::context::load_effects()
    }
}
