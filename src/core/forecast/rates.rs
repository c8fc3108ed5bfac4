//! The throughput model of the upgrade forecast: how fast PostgreSQL does each class of work a
//! migration does. The ONE place these numbers live.
//!
//! Measured by `bench/throughput.sh` (docs/forecast.md has the runs, the machine and how to
//! re-measure): a throwaway PostgreSQL 15 with default settings on 2 cores shared with other
//! builds (load average 1.8 to 9), a table shaped like Coder's `workspace_builds` at 1,000,000
//! rows (two sessions, larger than shared_buffers) and at 200,000 rows (two sessions, cached),
//! three runs each. `fast` is the fastest rate seen for any operation of the class,
//! `slow` the slowest, so the band spans a quiet and a busy machine.

/// A rate range in units per second: `fast` gives the low estimate, `slow` the high one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub fast: f64,
    pub slow: f64,
}

const MB: f64 = 1024.0 * 1024.0;

/// The rates of every operation class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Table rewrite (ALTER COLUMN TYPE, ADD COLUMN with a volatile default): bytes of the
    /// whole relation (heap, TOAST and every index, all written again) per second.
    pub rewrite_bytes: Rate,
    /// CREATE INDEX on an existing table: heap bytes read and sorted per second.
    pub index_build_bytes: Rate,
    /// Validation scan (SET NOT NULL, CHECK, FOREIGN KEY): heap bytes read per second.
    pub scan_bytes: Rate,
    /// Full-table UPDATE: heap bytes per second (a new version of every row, and its index
    /// entries; per byte rather than per row, so narrow tables go faster, as they do).
    pub update_bytes: Rate,
    /// Full-table DELETE: heap bytes per second (no new row versions, so much faster).
    pub delete_bytes: Rate,
    /// Catalog-only work (a column without a volatile default, an enum value, a new table):
    /// seconds per catalog object the migration adds, removes or changes (a table, a column,
    /// a constraint, an index, a function, an enum's values).
    pub catalog_object_seconds: Rate,
    /// Seconds per index entry an UPDATE or INSERT writes: per row, per index the table has
    /// at that point of the batch (`fast` is the smaller number).
    pub index_entry_seconds: Rate,
    /// Seconds per foreign-key check: per row the batch updates a second time, per foreign
    /// key of its table (`fast` is the smaller number).
    pub foreign_key_check_seconds: Rate,
    /// How many times longer an index build takes on a table whose rows the batch has
    /// already written (`fast` is the smaller factor).
    pub written_index_build_factor: Rate,
    /// What the numbers came from, for the estimate's basis.
    pub source: &'static str,
}

/// The measured rates (bench/throughput.sh, four sessions; docs/forecast.md lists every run).
pub const MEASURED: Rates = Rates {
    rewrite_bytes: Rate {
        fast: 124.1 * MB,
        slow: 28.1 * MB,
    },
    index_build_bytes: Rate {
        fast: 943.7 * MB,
        slow: 340.7 * MB,
    },
    scan_bytes: Rate {
        fast: 2593.0 * MB,
        slow: 589.7 * MB,
    },
    // Slow: the 1,000,000-row sessions' slowest UPDATE and DELETE (15,737 and 584,150 rows/s
    // at 372 bytes of heap per row); fast: the cached 200,000-row session's fastest.
    update_bytes: Rate {
        fast: 21.2 * MB,
        slow: 5.85 * MB,
    },
    delete_bytes: Rate {
        fast: 584.9 * MB,
        slow: 217.3 * MB,
    },
    // Seconds per object, so `fast` is the smaller number: the benchmark's CREATE TABLE with
    // indexes and a foreign key (4.6 ms on the quiet machine, 30.3 ms under load 9) makes 8
    // objects (the table, 3 columns, the primary key constraint and index, the foreign key,
    // the second index).
    catalog_object_seconds: Rate {
        fast: 0.0046 / 8.0,
        slow: 0.0303 / 8.0,
    },
    index_entry_seconds: Rate {
        fast: 0.000_002,
        slow: 0.000_006,
    },
    foreign_key_check_seconds: Rate {
        fast: 0.000_010,
        slow: 0.000_030,
    },
    written_index_build_factor: Rate {
        fast: 1.5,
        slow: 3.0,
    },
    source: "bench/throughput.sh on PostgreSQL 15, 2 busy cores (docs/forecast.md)",
};
