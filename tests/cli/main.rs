//! The one integration-test binary: runs the real `migtag` executable with a cleared
//! environment and checks its output (insta snapshots), exit codes and side effects.

mod coder_sql;
mod common;

mod bundled;
mod check;
mod core_table;
mod db;
mod decide;
mod effects;
mod examples;
mod forecast;
mod fuzz_corpus;
mod gate_manifest;
mod harden;
mod hardening;
mod help;
mod index_export;
mod index_sources;
mod man;
mod metrics;
mod output_snapshots;
mod patch;
mod pg;
mod pg_matrix;
mod plugin;
mod pooler;
mod registry;
mod rehearse;
mod rehearse_sample;
mod rehearse_sandbox;
mod repair;
mod robustness;
mod runbook;
mod ship;
mod verify;
mod watch;
