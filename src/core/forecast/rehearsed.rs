//! The sampled rehearsal's estimate (`gate --rehearse --sample P%`, docs/forecast.md,
//! "Sampled rehearsal"). Pure: the seconds each statement of the batch took on a scratch
//! database holding a sample of the live rows, the sample's row counts and the live
//! statistics go in; the scaled estimate and its band come out.
//!
//! - Per statement, the ratio is the largest live-to-sample row ratio among the sampled
//!   tables the statement names (1 when it names none); its scaled time is its seconds times
//!   that ratio. The estimate is the sum.
//! - The band is the estimate times [`LOW_FACTOR`] and [`HIGH_FACTOR`], the one place these
//!   factors live.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Basis, Estimate, Forecast, TableSize};
use crate::core::migration_set::Version;

/// The low end of the band: the scaled estimate times this. Work that grows slower than the
/// rows (catalog changes, a fixed per-statement cost) is overstated by the scaling; the
/// lowest measured time was 0.87 of the scaled one (docs/forecast.md, "Sampled rehearsal").
pub const LOW_FACTOR: f64 = 0.8;
/// The high end of the band: the scaled estimate times this. Work that grows faster than
/// the rows (sorts spilling to disk, a table no longer in memory, a busy server); the
/// highest measured time on a machine as quiet as during the rehearsal was 1.8 times the
/// scaled one. 2.5x wide in all.
pub const HIGH_FACTOR: f64 = 2.0;

/// `--sample`'s value: `10`, `10%` or `2.5%`; more than 0 and at most 100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    let p: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage: write it as 10, 10% or 2.5%"))?;
    if !p.is_finite() || p <= 0.0 || p > 100.0 {
        return Err(format!(
            "`{text}` is out of range: the sample is more than 0% and at most 100% of the rows"
        ));
    }
    Ok(p)
}

/// The tables to sample: every pre-existing table the pending migrations lock, which is
/// every one they read, rewrite, index, scan, update or delete from (each takes a lock the
/// replay recorded). Work listed on a table the batch creates (an INSERT ... SELECT
/// backfill) is left out: that table is not on the live server, and starts empty anyway.
pub fn sampled_tables(f: &Forecast) -> BTreeSet<String> {
    f.locks.iter().map(|l| l.table.clone()).collect()
}

/// One statement of the batch as the sampled rehearsal timed it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedStatement {
    pub version: Version,
    pub name: String,
    /// Coder's SQL (never row data).
    pub text: String,
    pub seconds: f64,
}

/// What the sampled rehearsal measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRun {
    pub percent: f64,
    /// The sampled tables (those the pending migrations read or write) and how many rows
    /// the scratch database held of each after the foreign-key closure.
    pub sample_rows: BTreeMap<String, u64>,
    /// Rows copied in all, parents included, and how long the copy took (loading the
    /// schema, the rows, the constraints and ANALYZE).
    pub copied_rows: u64,
    /// Of those, the parent rows the foreign keys needed, and the rounds that took.
    pub parent_rows: u64,
    pub closure_rounds: usize,
    pub copy_seconds: f64,
    pub statements: Vec<TimedStatement>,
}

/// A sampled table: its rows on the live server and in the sample, and the ratio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRatio {
    pub table: String,
    /// `reltuples`; None when the table has no statistics (then the sample's count is used).
    pub live_rows: Option<u64>,
    pub sample_rows: u64,
    pub ratio: f64,
}

/// A migration's time on the sample and scaled to the live rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationTime {
    pub version: Version,
    pub name: String,
    pub seconds: f64,
    pub scaled_seconds: f64,
    /// Set when a statement of it goes through a join the sample cannot hold (see
    /// [`scale`]): the seconds that statement counts, from the statistics model at this
    /// server's speed, in place of its scaled time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_from_statistics: Option<f64>,
}

/// The `sample` of the rehearsal's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub percent: f64,
    pub tables: Vec<TableRatio>,
    pub migrations: Vec<MigrationTime>,
    pub copied_rows: u64,
    pub parent_rows: u64,
    pub closure_rounds: usize,
    pub copy_seconds: f64,
    /// The batch's time on the sample, and scaled.
    pub seconds: f64,
    pub scaled_seconds: f64,
    /// This server's speed against the calibration: the scaled time of the statements the
    /// sample holds whole, over the statistics model's calibrated time for them (None when
    /// they add up to less than a second in the model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    pub low_seconds: f64,
    pub high_seconds: f64,
    /// The estimate from the statistics the rehearsed band replaced (kept for comparison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics_estimate: Option<Estimate>,
}

/// The statistics model's calibrated time of each statement the forecast costs (its low
/// end over the low factor), by migration and statement number, and whether it goes through
/// a join.
fn statistics_points(f: &Forecast) -> BTreeMap<(Version, u32), (f64, bool)> {
    let mut points: BTreeMap<(Version, u32), (f64, bool)> = BTreeMap::new();
    for w in f
        .rewrites
        .iter()
        .chain(&f.index_builds)
        .chain(&f.scans)
        .chain(&f.updates)
    {
        let (Some(n), Some((low, _))) = (w.statement, w.seconds) else {
            continue;
        };
        let e = points.entry((w.migration, n)).or_insert((0.0, false));
        e.0 += low / super::rates::LOW_FACTOR;
        e.1 |= w.joined_rows.is_some();
    }
    points
}

/// Scales the timed statements by the row ratios of the tables they name.
///
/// An UPDATE or DELETE that goes through a join (000498's `WHERE id IN (SELECT ... JOIN
/// workspace_resources ... JOIN workspace_builds ...)`) is not held by the sample: the
/// foreign-key closure fetches the parents of sampled rows, not the other rows the join
/// needs, so on the sample the join matches few rows (measured: 0.25 s scaled to 2.5 s, for
/// 26.9 s on the live table). Such a statement counts the larger of its scaled time and the
/// statistics model's time for it at this server's [`Sample::speed`].
pub fn scale(run: &SampleRun, live: &BTreeMap<String, TableSize>, forecast: &Forecast) -> Sample {
    let tables: Vec<TableRatio> = run
        .sample_rows
        .iter()
        .map(|(table, &sample_rows)| {
            let live_rows = live.get(table).and_then(|s| s.rows);
            TableRatio {
                table: table.clone(),
                live_rows,
                sample_rows,
                ratio: ratio(live_rows, sample_rows),
            }
        })
        .collect();
    let by_table: BTreeMap<&str, f64> =
        tables.iter().map(|t| (t.table.as_str(), t.ratio)).collect();
    let points = statistics_points(forecast);
    // Each statement: its migration (place and version), its number in the file, its
    // seconds and scaled seconds.
    let mut timed: Vec<(usize, Version, u32, f64, f64)> = Vec::new();
    let mut migrations: Vec<MigrationTime> = Vec::new();
    // The statement's number in its file (from 1), as the effects number their steps.
    let mut n = 0;
    for s in &run.statements {
        let r = names(&s.text)
            .iter()
            .filter_map(|n| by_table.get(n.as_str()).copied())
            .fold(1.0, f64::max);
        if migrations.last().is_none_or(|m| m.version != s.version) {
            migrations.push(MigrationTime {
                version: s.version,
                name: s.name.clone(),
                seconds: 0.0,
                scaled_seconds: 0.0,
                joined_from_statistics: None,
            });
            n = 0;
        }
        n += 1;
        timed.push((migrations.len() - 1, s.version, n, s.seconds, s.seconds * r));
    }
    let point = |v: Version, n: u32| points.get(&(v, n)).copied();
    let (held, model): (f64, f64) = timed
        .iter()
        .filter_map(|&(_, v, n, _, scaled)| match point(v, n) {
            Some((p, false)) if p > 0.0 => Some((scaled, p)),
            _ => None,
        })
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let speed = (model >= 1.0).then(|| held / model);
    for &(at, v, n, seconds, scaled) in &timed {
        let mut counted = scaled;
        if let (Some(speed), Some((p, true))) = (speed, point(v, n)) {
            if p * speed > scaled {
                counted = p * speed;
                let m = &mut migrations[at];
                m.joined_from_statistics = Some(m.joined_from_statistics.unwrap_or(0.0) + counted);
            }
        }
        migrations[at].seconds += seconds;
        migrations[at].scaled_seconds += counted;
    }
    let seconds: f64 = migrations.iter().map(|m| m.seconds).sum();
    let scaled: f64 = migrations.iter().map(|m| m.scaled_seconds).sum();
    for m in &mut migrations {
        m.seconds = round3(m.seconds);
        m.scaled_seconds = round3(m.scaled_seconds);
        m.joined_from_statistics = m.joined_from_statistics.map(round3);
    }
    Sample {
        percent: run.percent,
        tables,
        migrations,
        copied_rows: run.copied_rows,
        parent_rows: run.parent_rows,
        closure_rounds: run.closure_rounds,
        copy_seconds: round3(run.copy_seconds),
        seconds: round3(seconds),
        scaled_seconds: round3(scaled),
        speed: speed.map(round3),
        low_seconds: round2(scaled * LOW_FACTOR),
        high_seconds: round2(scaled * HIGH_FACTOR),
        statistics_estimate: None,
    }
}

/// The estimate the sample gives, for the forecast.
pub fn estimate(sample: &Sample, complete: bool, unknown: &[Version]) -> Estimate {
    Estimate {
        low_seconds: sample.low_seconds,
        high_seconds: sample.high_seconds,
        basis: Basis::Rehearsal,
        basis_detail: format!(
            "the batch run as Coder runs it on a scratch database holding a {}% sample of the rows of the tables it touches \
             (and the parent rows their foreign keys need), each statement timed and scaled by the largest live-to-sample \
             row ratio of the tables it names (an UPDATE or DELETE through a join, which the sample cannot hold, at least the \
             statistics model's time for it at this server's speed); band {LOW_FACTOR}x to {HIGH_FACTOR}x the scaled time; \
             time spent waiting for other sessions' locks is not included",
            sample.percent
        ),
        sample_percent: Some(sample.percent),
        complete,
        unknown_migrations: unknown.to_vec(),
    }
}

/// live / sample, at least 1 (a sample cannot hold more than the table); a table without
/// statistics counts as the sample itself.
fn ratio(live_rows: Option<u64>, sample_rows: u64) -> f64 {
    match live_rows {
        Some(live) => (live as f64 / sample_rows.max(1) as f64).max(1.0),
        None => 1.0,
    }
}

/// The names a statement uses (its identifiers: comments and string literals left out,
/// folded to lower case unless quoted), to match against table names.
pub fn names(stmt: &str) -> BTreeSet<String> {
    crate::core::sql_text::identifiers(stmt)
        .into_iter()
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_with_or_without_the_sign_and_out_of_range_is_refused() {
        assert_eq!(parse_percent("10"), Ok(10.0));
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert_eq!(parse_percent("2.5%"), Ok(2.5));
        assert_eq!(parse_percent("100"), Ok(100.0));
        for bad in ["0", "0%", "-1", "100.5", "abc", "", "%", "NaN", "inf"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_identifiers_outside_comments_and_literals() {
        let n = names("UPDATE api_keys SET scopes = '{api_keys_x}' -- users\n WHERE \"Odd\"\"Name\".x = 1 /* workspaces */");
        assert!(n.contains("api_keys"));
        assert!(n.contains("Odd\"Name"));
        assert!(!n.contains("users"));
        assert!(!n.contains("workspaces"));
        assert!(!n.contains("api_keys_x"));
        assert!(names("ALTER TABLE ONLY Public.API_Keys ADD x int").contains("api_keys"));
    }

    #[test]
    fn an_update_through_a_join_counts_at_least_the_statistics_time_at_this_server_s_speed() {
        let live: BTreeMap<String, TableSize> = [("big".to_string(), size(Some(100_000)))]
            .into_iter()
            .collect();
        let work = |migration: Version, low: f64, joined: Option<u64>| super::super::Work {
            table: "big".into(),
            index: None,
            migration,
            statement: Some(1),
            rows: Some(100_000),
            bytes: None,
            operation: Some("update"),
            seconds: Some((low, low * 3.0)),
            joined_rows: joined,
        };
        let calibrated = |point: f64| point * super::super::rates::LOW_FACTOR;
        let forecast = Forecast {
            // 10 s at the calibrated point for the plain UPDATE, 5 s for the joined one.
            updates: vec![
                work(10, calibrated(10.0), None),
                work(11, calibrated(5.0), Some(200_000)),
            ],
            ..Default::default()
        };
        let st = |v: Version, text: &str, seconds: f64| TimedStatement {
            version: v,
            name: format!("m{v}"),
            text: text.into(),
            seconds,
        };
        let run = SampleRun {
            percent: 10.0,
            sample_rows: [("big".to_string(), 10_000)].into_iter().collect(),
            copied_rows: 10_000,
            parent_rows: 0,
            closure_rounds: 1,
            copy_seconds: 1.0,
            statements: vec![
                // Scaled 4 s against 10 s in the model: this server runs at 0.4.
                st(10, "UPDATE big SET a = 1", 0.4),
                // The join matched few sampled rows: 0.1 s scaled, but 5 s x 0.4 = 2 s.
                st(
                    11,
                    "UPDATE big SET b = 1 WHERE id IN (SELECT id FROM big JOIN other USING (k))",
                    0.01,
                ),
            ],
        };
        let s = scale(&run, &live, &forecast);
        assert_eq!(s.speed, Some(0.4));
        let joined = s.migrations.iter().find(|m| m.version == 11).unwrap();
        assert_eq!(joined.scaled_seconds, 2.0);
        assert_eq!(joined.joined_from_statistics, Some(2.0));
        assert_eq!(s.scaled_seconds, 6.0);
        // Without the statistics (no forecast items) the scaled time stands.
        let plain = scale(&run, &live, &Forecast::default());
        assert_eq!(plain.speed, None);
        assert_eq!(plain.scaled_seconds, 4.1);
    }

    fn size(rows: Option<u64>) -> TableSize {
        TableSize {
            rows,
            ..Default::default()
        }
    }

    #[test]
    fn each_statement_scales_by_the_largest_ratio_among_the_tables_it_names() {
        let live: BTreeMap<String, TableSize> = [
            ("api_keys".to_string(), size(Some(20_000))),
            ("users".to_string(), size(Some(3_000))),
            ("licenses".to_string(), size(Some(1))),
            ("fresh".to_string(), size(None)),
        ]
        .into_iter()
        .collect();
        let st = |v: Version, text: &str, seconds: f64| TimedStatement {
            version: v,
            name: format!("m{v}"),
            text: text.into(),
            seconds,
        };
        let run = SampleRun {
            percent: 10.0,
            sample_rows: [
                ("api_keys".to_string(), 2_000),
                ("users".to_string(), 600),
                ("licenses".to_string(), 1),
                ("fresh".to_string(), 7),
            ]
            .into_iter()
            .collect(),
            copied_rows: 2_608,
            parent_rows: 0,
            closure_rounds: 1,
            copy_seconds: 1.0,
            statements: vec![
                st(1, "UPDATE api_keys SET x = 1 FROM users", 1.0),
                st(1, "CREATE TABLE new_thing (id int)", 0.5),
                st(2, "UPDATE users SET y = 2", 1.0),
                st(3, "DELETE FROM licenses; SELECT * FROM fresh", 2.0),
            ],
        };
        let s = scale(&run, &live, &Forecast::default());
        let ratio_of = |t: &str| s.tables.iter().find(|r| r.table == t).unwrap().ratio;
        assert_eq!(ratio_of("api_keys"), 10.0);
        assert_eq!(ratio_of("users"), 5.0);
        assert_eq!(ratio_of("licenses"), 1.0);
        assert_eq!(ratio_of("fresh"), 1.0);
        assert_eq!(s.migrations.len(), 3);
        assert_eq!(s.migrations[0].seconds, 1.5);
        assert_eq!(s.migrations[0].scaled_seconds, 10.5);
        assert_eq!(s.migrations[1].scaled_seconds, 5.0);
        assert_eq!(s.migrations[2].scaled_seconds, 2.0);
        assert_eq!(s.scaled_seconds, 17.5);
        assert_eq!(s.low_seconds, round2(17.5 * LOW_FACTOR));
        assert_eq!(s.high_seconds, round2(17.5 * HIGH_FACTOR));
        let e = estimate(&s, true, &[]);
        assert_eq!(e.basis, Basis::Rehearsal);
        assert_eq!(e.sample_percent, Some(10.0));
        assert_eq!(
            (e.low_seconds, e.high_seconds),
            (s.low_seconds, s.high_seconds)
        );
    }

    #[test]
    fn a_sample_larger_than_the_statistics_or_empty_never_scales_below_one_or_divides_by_zero() {
        assert_eq!(ratio(Some(5), 9), 1.0);
        assert_eq!(ratio(Some(50), 0), 50.0);
        assert_eq!(ratio(None, 0), 1.0);
    }
}
