//! The upgrade forecast as text: what blocks Coder, the heavy work, the duration and the
//! window, short enough to read in ten seconds. Lists stop after a few entries; JSON has all.

use std::fmt::Write as _;

use crate::core::duration;
use crate::core::forecast::{Basis, Blocks, Estimate, Forecast, TableSize, Transaction, Work};
use crate::core::migration_set::MigrationSet;

/// How many entries a line lists before "and N more".
const SHOWN: usize = 4;

pub fn human(f: &Forecast) -> String {
    let mut out = String::new();
    let batch = match f.transaction {
        Transaction::One => "one transaction: every lock is held until the last migration commits",
        Transaction::PerMigration => "each migration commits on its own (before v2.5.0)",
    };
    let _ = writeln!(
        out,
        "\nupgrade forecast: {} migration{}, {batch}",
        f.migrations,
        if f.migrations == 1 { "" } else { "s" }
    );
    let blocking: Vec<String> = f
        .locks
        .iter()
        .filter(|l| l.blocks_coder)
        .map(|l| {
            let what = match l.blocks {
                Blocks::ReadsAndWrites => "",
                _ => ", writes wait",
            };
            format!(
                "{} {}{}{what}",
                l.mode.sql_name(),
                l.table,
                size_text(l.size.as_ref())
            )
        })
        .collect();
    line(
        &mut out,
        "blocks Coder",
        &blocking,
        "nothing Coder reads or writes on every request",
    );
    let others = f.locks.iter().filter(|l| !l.blocks_coder).count();
    if others > 0 {
        let cold = f
            .locks
            .iter()
            .filter(|l| !l.blocks_coder && l.blocks == Blocks::Writes)
            .count();
        let writes = match cold {
            0 => "Coder's reads and writes go through".to_string(),
            n => format!(
                "Coder's reads go through; writes wait on {n} of them, tables Coder seldom writes"
            ),
        };
        let _ = writeln!(
            out,
            "  {:<14}{others} more table{}; {writes}",
            "other locks:",
            if others == 1 { "" } else { "s" },
        );
    }
    for (title, list) in [
        ("rewrites", &f.rewrites),
        ("index builds", &f.index_builds),
        ("scans", &f.scans),
        ("updates", &f.updates),
    ] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(work_text).collect();
            line(&mut out, title, &items, "");
        }
    }
    let duration = match (&f.estimate, &f.unavailable) {
        (Some(e), _) if !e.complete => format!(
            "{} to {} without migration{} {} (incomplete: no replayed facts for them, see docs/forecast.md)",
            seconds(e.low_seconds),
            seconds(e.high_seconds),
            if e.unknown_migrations.len() == 1 { "" } else { "s" },
            MigrationSet::from_versions(e.unknown_migrations.iter().copied())
        ),
        (
            Some(
                e @ Estimate {
                    basis: Basis::Rehearsal,
                    sample_percent: Some(p),
                    ..
                },
            ),
            _,
        ) => format!(
            "{} to {} (rehearsal on a {p}% sample, scaled by row ratio)",
            seconds(e.low_seconds),
            seconds(e.high_seconds)
        ),
        (Some(e), _) => format!(
            "{} to {} (estimate from table statistics and measured rates, see docs/forecast.md)",
            seconds(e.low_seconds),
            seconds(e.high_seconds)
        ),
        (None, Some(why)) => format!("no forecast: {why}"),
        (None, None) => "no times offline: pass --db for the table sizes".into(),
    };
    let _ = writeln!(out, "  {:<14}{duration}", "duration:");
    if let Some(w) = &f.migration_window {
        let _ = writeln!(
            out,
            "  {:<14}allow {} before probes restart the pod ({})",
            "window:",
            duration::exact(w.seconds),
            w.basis
        );
    }
    for n in &f.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}

fn line(out: &mut String, title: &str, items: &[String], empty: &str) {
    let head = format!("{title}:");
    if items.is_empty() {
        if !empty.is_empty() {
            let _ = writeln!(out, "  {head:<14}{empty}");
        }
        return;
    }
    let mut shown: Vec<String> = items.iter().take(SHOWN).cloned().collect();
    if items.len() > SHOWN {
        shown.push(format!("and {} more", items.len() - SHOWN));
    }
    let _ = writeln!(out, "  {head:<14}{}", shown.join("; "));
}

fn work_text(w: &Work) -> String {
    let what = match &w.index {
        Some(i) => format!("{i} on {}", w.table),
        None => w.table.clone(),
    };
    let amount = match (w.rows, w.bytes) {
        (Some(r), Some(b)) => format!(" {}, {}", rows(r), bytes(b)),
        (None, Some(b)) => format!(" {}", bytes(b)),
        _ => String::new(),
    };
    let op = match w.operation {
        Some("delete") => ", delete",
        Some("insert") => ", insert",
        _ => "",
    };
    // Two statements of one migration on one table (000371's two passes) read apart.
    let statement = w
        .statement
        .map(|n| format!(" statement {n}"))
        .unwrap_or_default();
    format!("{what}{amount} ({:06}{statement}{op})", w.migration)
}

/// Short estimates keep a decimal (`0.4s`), longer ones read as `3m05s`.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1}s")
    } else {
        duration::approx(s)
    }
}

fn size_text(size: Option<&TableSize>) -> String {
    match size {
        Some(s) => match s.rows {
            Some(r) => format!(" ({}, {})", rows(r), bytes(s.total_bytes)),
            None => format!(" ({})", bytes(s.total_bytes)),
        },
        None => String::new(),
    }
}

pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn rows(n: u64) -> String {
    format!("{} row{}", count(n), if n == 1 { "" } else { "s" })
}

fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}k", n as f64 / 1000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_short() {
        for (b, text) in [
            (0, "0 B"),
            (8192, "8.0 kB"),
            (450 * 1024 * 1024, "450 MB"),
            (3 * 1024 * 1024 * 1024, "3.0 GB"),
        ] {
            assert_eq!(bytes(b), text);
        }
        for (n, text) in [(12, "12"), (52_000, "52k"), (1_250_000, "1.2M")] {
            assert_eq!(count(n), text);
        }
    }
}
