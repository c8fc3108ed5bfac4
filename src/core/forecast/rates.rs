//! The throughput model of the upgrade forecast: how fast PostgreSQL does each class of work a
//! migration does. The ONE place these numbers live.
//!
//! Measured by `bench/throughput.sh` (docs/forecast.md has the runs, the machine and how to
//! re-measure): a throwaway PostgreSQL 15 with default settings on 2 cores shared with other
//! builds, a 1,000,000-row table shaped like Coder's `workspace_builds`. `fast` is the
//! fastest rate seen across the operations of a class and their runs, `slow` the slowest
//! divided by [`LOAD_MARGIN`], so the band covers both the quiet and the busy machine.

/// A rate range in units per second: `fast` gives the low estimate, `slow` the high one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub fast: f64,
    pub slow: f64,
}

/// How much slower than the slowest benchmark run a production upgrade may be: Coder's own
/// traffic competes for the disk, and the benchmark's table was hot in the page cache.
pub const LOAD_MARGIN: f64 = 1.5;

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
    /// Full-table UPDATE: rows per second.
    pub update_rows: Rate,
    /// Full-table DELETE: rows per second (no new row versions, so much faster).
    pub delete_rows: Rate,
    /// Catalog-only work (a column without a volatile default, an enum value, a new table):
    /// seconds per migration, the floor every pending migration costs.
    pub catalog_seconds: Rate,
    /// What the numbers came from, for the estimate's basis.
    pub source: &'static str,
}

/// The measured rates (bench/throughput.sh, see docs/forecast.md for the runs).
pub const MEASURED: Rates = Rates {
    rewrite_bytes: Rate {
        fast: 102.4 * MB,
        slow: 67.2 * MB / LOAD_MARGIN,
    },
    index_build_bytes: Rate {
        fast: 743.8 * MB,
        slow: 373.8 * MB / LOAD_MARGIN,
    },
    scan_bytes: Rate {
        fast: 2293.2 * MB,
        slow: 1212.3 * MB / LOAD_MARGIN,
    },
    update_rows: Rate {
        fast: 35_692.8,
        slow: 22_576.5 / LOAD_MARGIN,
    },
    delete_rows: Rate {
        fast: 1_193_582.3,
        slow: 584_149.5 / LOAD_MARGIN,
    },
    // Seconds per migration, so `fast` is the smaller number: the CREATE TABLE with indexes
    // and a foreign key of the benchmark, a typical Coder migration's catalog work.
    catalog_seconds: Rate {
        fast: 0.0079,
        slow: 0.0303,
    },
    source: "bench/throughput.sh on PostgreSQL 15, 2 busy cores (docs/forecast.md)",
};
