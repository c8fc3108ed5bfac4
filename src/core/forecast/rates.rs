//! The throughput model of the upgrade forecast: how fast PostgreSQL does each class of work a
//! migration does. The ONE place these numbers live.
//!
//! Calibrated by `bench/calibrate.sh` (Coder's real batches on foreign-key-consistent data at
//! 200,000 to 2,000,000 rows, each statement timed) and fitted by `bench/calibration/fit.py`;
//! bench/calibration/README.md has the machine, the runs and the raw numbers. Each class has
//! one point value from the quiet runs; the band around it ([`LOW_FACTOR`], [`HIGH_FACTOR`])
//! spans what the quiet and the busy machine measured.

/// A rate range: `fast` gives the low estimate, `slow` the high one (for a throughput the
/// larger number, for a cost in seconds per unit the smaller).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub fast: f64,
    pub slow: f64,
}

const MB: f64 = 1024.0 * 1024.0;

/// The rates of every operation class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Table rewrite (ALTER COLUMN TYPE, a stored generated column, a volatile default):
    /// bytes of the whole relation (heap, TOAST and every index, all written again) per second.
    pub rewrite_bytes: Rate,
    /// CREATE INDEX: seconds per row of the table (read, sorted and written; the key's width
    /// matters less than the row count).
    pub index_build_row_seconds: Rate,
    /// Validation scan (SET NOT NULL, CHECK, FOREIGN KEY), and the read of the heap an UPDATE
    /// or DELETE does: heap bytes read per second.
    pub scan_bytes: Rate,
    /// UPDATE or INSERT: seconds per row written (the new version itself; its index entries
    /// and foreign-key checks are counted apart).
    pub update_row_seconds: Rate,
    /// Seconds per index entry an UPDATE or INSERT writes: per row, per index the table has
    /// at that point of the batch.
    pub index_entry_seconds: Rate,
    /// Seconds per foreign-key check: per row the batch updates a second time, per foreign
    /// key of its table.
    pub foreign_key_check_seconds: Rate,
    /// Seconds per row of the other tables an UPDATE or DELETE joins (`WHERE id IN (SELECT
    /// ... JOIN ...)`, `UPDATE ... FROM`), counted in the share of rows the statement touches.
    pub join_row_seconds: Rate,
    /// DELETE: heap bytes per second (no new row versions, so much faster).
    pub delete_bytes: Rate,
    /// Catalog-only work (a column without a volatile default, an enum value, a new table):
    /// seconds per catalog object the migration adds, removes or changes (a table, a column,
    /// a constraint, an index, a function, an enum's values).
    pub catalog_object_seconds: Rate,
    /// What the numbers came from, for the estimate's basis.
    pub source: &'static str,
}

/// The low estimate is this share of the calibrated time: the fastest statement measured
/// on the quiet machine ran at 0.75 of the fit (bench/calibration/README.md).
pub const LOW_FACTOR: f64 = 0.75;
/// The high estimate is this multiple of the calibrated time: the busy machine ran the
/// batches at up to 1.7 times the quiet time, and single statements the fit does not
/// describe well (000498's joins) up to 2.4 times it.
pub const HIGH_FACTOR: f64 = 2.5;

/// A throughput (units per second) measured on the quiet machine, as a band.
const fn throughput(point: f64) -> Rate {
    Rate {
        fast: point / LOW_FACTOR,
        slow: point / HIGH_FACTOR,
    }
}

/// A cost (seconds per unit) measured on the quiet machine, as a band.
const fn cost(point: f64) -> Rate {
    Rate {
        fast: point * LOW_FACTOR,
        slow: point * HIGH_FACTOR,
    }
}

const US: f64 = 0.000_001;

/// The calibrated rates (bench/calibrate.sh and bench/calibration/fit.py on PostgreSQL 15;
/// bench/calibration/README.md has every run and docs/forecast.md the model).
pub const MEASURED: Rates = Rates {
    // 000449's rewrite of aibridge_interceptions (1,000,000 rows, 9 indexes): 4.1 s.
    rewrite_bytes: throughput(80.0 * MB),
    // CREATE INDEX on 1,000,000 and 2,000,000-row tables: 0.3 to 1.4 us per row.
    index_build_row_seconds: cost(0.6 * US),
    // SET NOT NULL over api_keys' 1.2 GB heap (three versions of 2,000,000 rows): 0.54-0.63 s.
    scan_bytes: throughput(2000.0 * MB),
    // Least squares over the quiet runs' UPDATEs (000371, 000458, 000461):
    // 6.34 us + 1.81 us per index + 7.55 us per foreign key of a row written before.
    update_row_seconds: cost(6.34 * US),
    index_entry_seconds: cost(1.81 * US),
    foreign_key_check_seconds: cost(7.55 * US),
    // 000498: 905,000 rows updated through a join of 2,210,000 rows (half of them in the
    // share the replay saw), 17.6 s beyond the UPDATE's own cost.
    join_row_seconds: cost(16.0 * US),
    delete_bytes: throughput(400.0 * MB),
    // The catalog work of small migrations: about 0.4 ms per object on the quiet machine,
    // 0.6 ms in bench/throughput.sh's CREATE TABLE.
    catalog_object_seconds: cost(0.55 / 1000.0),
    source:
        "bench/calibrate.sh on PostgreSQL 15, 2 cores, quiet and busy (bench/calibration/README.md)",
};
