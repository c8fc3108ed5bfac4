//! Human text for the reports: the verdict on the first line, then why, then what to run.

use std::fmt::Write as _;

use super::style::Style;
use crate::core::check::{Alternative, CheckReport, Relation, Verdict};
use crate::core::gate::{GateReport, GateVerdict};
use crate::core::report::{short_tags, IndexView, SHORT_TAGS};

/// How many alternatives the human form lists before pointing at `--format json`.
const MAX_ALTERNATIVES: usize = 10;

pub fn check(report: &CheckReport, style: Style) -> String {
    let mut out = String::new();
    let first = match report.verdict {
        Verdict::Exact | Verdict::UpgradeNeededToStart | Verdict::Fresh => {
            style.good(&report.summary)
        }
        _ => style.bad(&report.summary),
    };
    let _ = writeln!(out, "{first}");
    section(&mut out, "why", &report.why);

    if let Some(d) = &report.dirty {
        if !d.cleanups.is_empty() {
            out.push_str(
                "\nclean-up (compare-and-set: changes the row only while it is still dirty at ",
            );
            let _ = writeln!(out, "{}):", d.migration.version);
            for c in &d.cleanups {
                if d.cleanups.len() > 1 {
                    let _ = writeln!(
                        out,
                        "  # if written by {}",
                        short_tags(&c.assumes, SHORT_TAGS)
                    );
                }
                let _ = writeln!(out, "  {}", c.sql);
                if let (true, Some(r)) = (d.cleanups.len() > 1, &c.run_after) {
                    let _ = writeln!(out, "  # then run: {}", r.image);
                }
            }
        }
        if let Some(r) = &d.run_after_cleanup {
            let _ = writeln!(out, "\nthen run: {}", r.image);
        }
    }

    if let (Some(a), None) = (&report.action, &report.dirty) {
        let _ = writeln!(
            out,
            "\nrow action (compare-and-set: changes the table only while it is still what migtag read):"
        );
        let _ = writeln!(out, "  {}", a.sql);
        let _ = writeln!(out, "  # or: migtag repair fix-row (one transaction under Coder's migration lock, after you confirm)");
    }
    if let Some(r) = &report.after_action {
        let _ = writeln!(out, "\nthen run: {}", r.release.image);
    }

    if let Some(rec) = &report.recommended {
        if !rec.applies.is_empty() {
            let _ = writeln!(out, "\nmigrations {} applies on start:", rec.release.tag);
            for m in &rec.applies {
                let _ = writeln!(out, "  {m}");
            }
        }
    }

    if !report.alternatives.is_empty() {
        out.push_str("\nalternatives:\n");
        let groups = group_alternatives(&report.alternatives);
        for g in groups.iter().take(MAX_ALTERNATIVES) {
            let _ = writeln!(out, "  {}", alternative(g));
        }
        if groups.len() > MAX_ALTERNATIVES {
            let _ = writeln!(
                out,
                "  ... and {} more (see --format json)",
                groups.len() - MAX_ALTERNATIVES
            );
        }
    }
    warnings(&mut out, &report.warnings, style);
    let _ = writeln!(out);
    if let Some(rec) = &report.recommended {
        let _ = writeln!(out, "image: {}", rec.release.image);
    }
    let _ = writeln!(out, "{}", style.dim(&index_line(&report.index)));
    out
}

/// Consecutive alternatives that say the same thing (patches of one line that stop at the
/// same migration) are shown as one row: `v2.30.0 .. v2.30.8`.
fn group_alternatives(alts: &[Alternative]) -> Vec<(String, &Alternative)> {
    let mut groups: Vec<(String, &Alternative, usize, String)> = Vec::new();
    for a in alts {
        let line = line_of(&a.release.tag);
        match groups.last_mut() {
            Some((label, first, n, last_line))
                if first.relation == a.relation
                    && first.release.max_migration == a.release.max_migration
                    && first.skips.is_empty()
                    && a.skips.is_empty()
                    && *last_line == line =>
            {
                *n += 1;
                *label = format!("{} .. {}", first.release.tag, a.release.tag);
            }
            _ => groups.push((a.release.tag.clone(), a, 1, line)),
        }
    }
    groups
        .into_iter()
        .map(|(label, a, _, _)| (label, a))
        .collect()
}

fn line_of(tag: &str) -> String {
    tag.rsplit_once('.')
        .map(|(l, _)| l.to_string())
        .unwrap_or_default()
}

fn alternative((label, a): &(String, &Alternative)) -> String {
    let what = match a.relation {
        Relation::Exact => "also stops exactly here".to_string(),
        Relation::Compatible => format!(
            "contains it; applies {} migration{} on start",
            a.applies_count,
            if a.applies_count == 1 { "" } else { "s" }
        ),
        Relation::CannotStart => "cannot start: lacks this migration".to_string(),
    };
    let skips = a
        .skips
        .iter()
        .map(|s| {
            let list: Vec<String> = s
                .migrations
                .iter()
                .map(|m| format!("{:06}", m.version))
                .collect();
            format!(
                "; would skip {}{}",
                list.join(", "),
                if s.harmless { " (harmless)" } else { "" }
            )
        })
        .collect::<String>();
    format!(
        "{label:<20} highest {:06}  {what}{skips}",
        a.release.max_migration
    )
}

pub fn gate(report: &GateReport, style: Style) -> String {
    let mut out = String::new();
    let first = match report.verdict {
        GateVerdict::Safe => style.good(&report.summary),
        _ => style.bad(&report.summary),
    };
    let _ = writeln!(out, "{first}");
    // The first reason is usually the summary itself; list them when there is more to say.
    if report.reasons.len() > 1
        || report
            .reasons
            .first()
            .is_some_and(|r| !report.summary.contains(r.as_str()))
    {
        section(&mut out, "reasons", &report.reasons);
    }
    if let Some(a) = &report.action {
        let _ = writeln!(
            out,
            "\nrow action first (compare-and-set: changes the table only while it is still what migtag read):"
        );
        let _ = writeln!(out, "  {}", a.sql);
        let _ = writeln!(out, "  # or: migtag repair fix-row");
    }
    // The forecast before the (possibly long) list of migrations: it is what to read first.
    if let Some(f) = &report.forecast {
        out.push_str(&super::forecast::human(f));
    }
    if let Some(r) = &report.rehearsal {
        let _ = writeln!(out, "\n{}", r.line());
        if r.clean {
            let _ = writeln!(out, "  ({})", r.caveat());
        }
    }
    if !report.pending.is_empty() {
        let _ = writeln!(out, "\npending migrations ({}):", report.pending.len());
        for m in &report.pending {
            let _ = writeln!(out, "  {m}");
        }
    }
    warnings(&mut out, &report.warnings, style);
    if !report.findings.is_empty() {
        let _ = writeln!(
            out,
            "\nfix the Deployment first (Coder's upgrade-troubleshooting guide):"
        );
        for f in &report.findings {
            for step in &f.fix {
                let _ = writeln!(out, "  - {}", step.description);
                if let Some(c) = &step.command {
                    let _ = writeln!(out, "    {}", c.text);
                }
            }
        }
    }
    let _ = writeln!(out);
    if let Some(t) = &report.target {
        let _ = writeln!(out, "target image: {}", t.image);
    }
    let _ = writeln!(out, "{}", style.dim(&index_line(&report.index)));
    out
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for l in lines {
        let _ = writeln!(out, "  - {l}");
    }
}

fn warnings(out: &mut String, lines: &[String], style: Style) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", style.warn("warnings:"));
    for l in lines {
        let _ = writeln!(out, "  - {l}");
    }
}

/// `index: bundled (partial), 369 releases up to v2.36.0, generated 2026-11-27`
pub fn index_line(index: &IndexView) -> String {
    let from = match index.used.as_deref() {
        Some(used) if used != "bundled in the binary" => format!(", read from {used}"),
        _ => String::new(),
    };
    format!(
        "index: {} ({}), {} releases{}, generated {}{from}",
        index.source,
        if index.complete {
            "complete"
        } else {
            "partial"
        },
        index.releases,
        index
            .newest_tag
            .as_ref()
            .map(|t| format!(" up to {t}"))
            .unwrap_or_default(),
        index.generated_at
    )
}
