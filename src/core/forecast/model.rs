//! The per-statement model of the forecast (docs/forecast.md, "The per-statement model"):
//! the batch's steps run in order against a running state of each table it touches, so a
//! statement costs what the table is like when it runs, not what it was like before the
//! batch:
//!
//! - an UPDATE writes a new version of each row it touches and an entry in every index the
//!   table has at that point (including indexes built earlier in the batch), and reads the
//!   heap as it is then (the dead versions of earlier passes included: inside one
//!   transaction nothing can reclaim them);
//! - a row the batch already wrote fires its table's foreign-key checks when it is updated
//!   again (PostgreSQL skips the check only for a row from an earlier transaction whose key
//!   did not change), so a second pass costs a lookup per foreign key per row;
//! - an index build visits every row version in the heap as it is then (dead versions of
//!   earlier passes included) and sorts the live rows;
//! - an UPDATE or DELETE that joins other tables reads their rows, in the share it touches;
//! - a rewrite writes heap, TOAST and indexes and leaves a compact heap;
//! - a validation scan reads the heap as it is then.
//!
//! Pure: the steps, the live sizes and the rates go in, the cost of each step comes out.

use std::collections::BTreeMap;

use super::rates::{Rate, Rates};
use super::TableSize;
use crate::core::effects::{Step, StepKind};

/// One step's cost, on the table as the batch has left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Costed {
    /// Rows the step touches on the live table (data changes), or the table's rows.
    pub rows: Option<u64>,
    /// Bytes it reads or writes.
    pub bytes: u64,
    /// Low and high seconds.
    pub seconds: (f64, f64),
    /// For an UPDATE or DELETE through a join: the joined rows it counts.
    pub joined_rows: Option<u64>,
}

/// A table as the batch has left it so far.
#[derive(Debug, Clone, Copy)]
struct Table {
    rows: f64,
    /// Heap bytes per live row (from the live statistics; constant through the batch).
    row_bytes: f64,
    /// The heap as it is now: live rows and the dead versions of this batch's updates.
    heap: f64,
    /// TOAST and index bytes.
    other: f64,
    indexes: u32,
    foreign_keys: u32,
    /// Rows of this table were written by the batch (updated, inserted, rewritten).
    written: bool,
    /// Whether the live statistics gave a row count.
    counted: bool,
}

impl Table {
    fn of(size: &TableSize) -> Table {
        let rows = size.rows.unwrap_or(0) as f64;
        let heap = size.heap_bytes as f64;
        Table {
            rows,
            row_bytes: if rows > 0.0 { heap / rows } else { 0.0 },
            heap,
            other: size.total_bytes.saturating_sub(size.heap_bytes) as f64,
            indexes: size.indexes,
            foreign_keys: size.foreign_keys,
            written: false,
            counted: size.rows.is_some(),
        }
    }

    /// A table the batch creates: empty, no indexes yet.
    fn new_empty() -> Table {
        Table {
            rows: 0.0,
            row_bytes: 0.0,
            heap: 0.0,
            other: 0.0,
            indexes: 0,
            foreign_keys: 0,
            written: true,
            counted: true,
        }
    }
}

/// The share of the table's rows a data change touches: the share of Coder's fixture rows
/// it touched in the replay, or every row when the table had none then (0/0: unknown).
pub fn share(step: &Step) -> f64 {
    if step.of == 0 {
        1.0
    } else {
        (step.rows as f64 / step.of as f64).min(1.0)
    }
}

/// Costs every step of the batch in order, one [`Costed`] per step. `live` is the live size
/// of a table that exists before the batch (None: the batch creates it, so it starts empty).
pub fn cost_steps<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    live: &dyn Fn(&str) -> Option<TableSize>,
    rates: &Rates,
) -> Vec<Costed> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut out = Vec::new();
    let by = |amount: f64, r: &Rate| (amount / r.fast, amount / r.slow);
    let per = |count: f64, r: &Rate| (count * r.fast, count * r.slow);
    let add = |a: (f64, f64), b: (f64, f64)| (a.0 + b.0, a.1 + b.1);
    // A table as the batch has left it so far, else as the live statistics give it.
    let current = |tables: &BTreeMap<String, Table>, t: &str| {
        tables
            .get(t)
            .copied()
            .or_else(|| live(t).map(|s| Table::of(&s)))
    };
    for step in steps {
        let state = current(&tables, &step.table).unwrap_or_else(Table::new_empty);
        // The joined rows that flow into an UPDATE or DELETE: the other tables' rows in the
        // share the statement touches (an IN (SELECT ...) that matches nothing is cheap).
        let joined = step
            .reads()
            .filter_map(|t| current(&tables, t))
            .map(|t| t.rows)
            .sum::<f64>()
            * share(step);
        let joined_rows = step.reads().next().is_some().then(|| joined.round() as u64);
        let (rows, bytes, seconds, next) = match step.kind {
            StepKind::Update => {
                let touched = state.rows * share(step);
                let mut s = add(
                    by(state.heap, &rates.scan_bytes),
                    per(touched, &rates.update_row_seconds),
                );
                s = add(
                    s,
                    per(
                        touched * f64::from(state.indexes),
                        &rates.index_entry_seconds,
                    ),
                );
                if state.written {
                    s = add(
                        s,
                        per(
                            touched * f64::from(state.foreign_keys),
                            &rates.foreign_key_check_seconds,
                        ),
                    );
                }
                s = add(s, per(joined, &rates.join_row_seconds));
                let written = touched * state.row_bytes;
                let next = Table {
                    heap: state.heap + written,
                    written: state.written || touched > 0.0,
                    ..state
                };
                (touched, written, s, next)
            }
            StepKind::Delete => {
                let touched = state.rows * share(step);
                let bytes = touched * state.row_bytes;
                let s = add(
                    add(
                        by(state.heap, &rates.scan_bytes),
                        by(bytes, &rates.delete_bytes),
                    ),
                    per(joined, &rates.join_row_seconds),
                );
                // The rows stay counted: the fixture's share says little about which rows a
                // WHERE on dates matches on a live table, so later steps see every row.
                (touched, bytes, s, state)
            }
            StepKind::Insert => {
                let source = step.detail.as_deref().and_then(|t| current(&tables, t));
                let (inserted, width) = match source {
                    Some(src) if step.of > 0 => (src.rows * share(step), src.row_bytes),
                    _ => (step.rows as f64, state.row_bytes),
                };
                let bytes = inserted * width;
                let mut s = per(inserted, &rates.update_row_seconds);
                if let Some(src) = source {
                    s = add(s, by(src.heap, &rates.scan_bytes));
                }
                s = add(
                    s,
                    per(
                        inserted * f64::from(state.indexes),
                        &rates.index_entry_seconds,
                    ),
                );
                let rows = state.rows + inserted;
                let next = Table {
                    rows,
                    row_bytes: if rows > 0.0 {
                        (state.rows * state.row_bytes + bytes) / rows
                    } else {
                        0.0
                    },
                    heap: state.heap + bytes,
                    written: true,
                    ..state
                };
                (inserted, bytes, s, next)
            }
            StepKind::IndexBuild => {
                // Every row version in the heap is visited, the dead ones of earlier passes
                // too; the live ones are sorted and written.
                let versions = if state.row_bytes > 0.0 {
                    state.heap / state.row_bytes
                } else {
                    state.rows
                };
                let s = per(versions.max(state.rows), &rates.index_build_row_seconds);
                let next = Table {
                    indexes: state.indexes + 1,
                    ..state
                };
                (state.rows, state.heap, s, next)
            }
            StepKind::Rewrite => {
                let bytes = state.heap + state.other;
                let s = by(bytes, &rates.rewrite_bytes);
                let next = Table {
                    heap: state.rows * state.row_bytes,
                    written: true,
                    ..state
                };
                (state.rows, bytes, s, next)
            }
            StepKind::Scan => (
                state.rows,
                state.heap,
                by(state.heap, &rates.scan_bytes),
                state,
            ),
        };
        tables.insert(step.table.clone(), next);
        out.push(Costed {
            rows: state.counted.then_some(rows.round() as u64),
            bytes: bytes.round() as u64,
            seconds,
            joined_rows,
        });
    }
    out
}
