//! The pure decision core: index model, database state, and the rules of `docs/rules.md`.
//!
//! Nothing in here performs I/O, reads the clock or the environment: adapters produce an
//! [`Index`] and a [`DbState`], the core returns serialisable reports, renderers print them.

pub mod check;
pub mod decide;
pub mod deployment;
pub mod dirty;
pub mod duration;
pub mod effects;
pub mod forecast;
pub mod gate;
pub mod identity;
pub mod image_ref;
pub mod index;
pub mod k8s_name;
pub mod migration_set;
pub mod observation;
pub mod patch;
pub mod repair;
pub mod report;
pub mod runbook;
pub mod schema;
pub mod session_text;
pub mod shell;
pub mod skips;
pub mod sql;
pub mod sql_text;
pub mod state;
pub mod upstream;
pub mod verify;
pub mod watch;

pub use check::{check, CheckOptions, CheckReport, Verdict};
pub use gate::{gate, GateOptions, GateReport, GateVerdict};
pub use index::{Index, Project, Provenance, Release};
pub use migration_set::{MigrationSet, Version};
pub use state::{DbState, MigrationInProgress};
