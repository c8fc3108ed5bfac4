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
use crate::core::sql_text::strip_comments;

/// The low end of the band: the scaled estimate times this. Work that grows slower than the
/// rows (catalog changes, a fixed per-statement cost) is overstated by the scaling.
pub const LOW_FACTOR: f64 = 0.75;
/// The high end of the band: the scaled estimate times this. Work that grows faster than
/// the rows (sorts spilling to disk, a table no longer in memory, a busy server).
pub const HIGH_FACTOR: f64 = 1.8;

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

/// The tables to sample: every pre-existing table the forecast says the pending migrations
/// lock, rewrite, index, scan, update or delete from (tables the batch creates start empty).
pub fn sampled_tables(f: &Forecast) -> BTreeSet<String> {
    f.locks
        .iter()
        .map(|l| l.table.clone())
        .chain(
            f.rewrites
                .iter()
                .chain(&f.index_builds)
                .chain(&f.scans)
                .chain(&f.updates)
                .map(|w| w.table.clone()),
        )
        .collect()
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
    pub low_seconds: f64,
    pub high_seconds: f64,
    /// The estimate from the statistics the rehearsed band replaced (kept for comparison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics_estimate: Option<Estimate>,
}

/// Scales the timed statements by the row ratios of the tables they name.
pub fn scale(run: &SampleRun, live: &BTreeMap<String, TableSize>) -> Sample {
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
    let mut migrations: Vec<MigrationTime> = Vec::new();
    for s in &run.statements {
        let r = names(&s.text)
            .iter()
            .filter_map(|n| by_table.get(n.as_str()).copied())
            .fold(1.0, f64::max);
        match migrations.last_mut() {
            Some(m) if m.version == s.version => {
                m.seconds += s.seconds;
                m.scaled_seconds += s.seconds * r;
            }
            _ => migrations.push(MigrationTime {
                version: s.version,
                name: s.name.clone(),
                seconds: s.seconds,
                scaled_seconds: s.seconds * r,
            }),
        }
    }
    let seconds: f64 = migrations.iter().map(|m| m.seconds).sum();
    let scaled: f64 = migrations.iter().map(|m| m.scaled_seconds).sum();
    for m in &mut migrations {
        m.seconds = round3(m.seconds);
        m.scaled_seconds = round3(m.scaled_seconds);
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
             row ratio of the tables it names; band {LOW_FACTOR}x to {HIGH_FACTOR}x the scaled time; time spent waiting \
             for other sessions' locks is not included",
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

/// The identifiers a statement names, lowercased unless quoted (comments and string
/// literals left out).
pub fn names(stmt: &str) -> BTreeSet<String> {
    let text = strip_comments(stmt);
    let mut out = BTreeSet::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A literal: skipped ('' inside is two quotes in a row, same effect).
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                let mut name = String::new();
                while let Some(n) = chars.next() {
                    if n == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            name.push('"');
                            continue;
                        }
                        break;
                    }
                    name.push(n);
                }
                out.insert(name);
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = c.to_lowercase().to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '$' {
                        name.extend(n.to_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.insert(name);
            }
            _ => {}
        }
    }
    out
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
        let s = scale(&run, &live);
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
