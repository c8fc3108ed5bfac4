//! Human text for schema verification: the full `verify` report and the one-line verdict the
//! other commands show.

use crate::core::verify::{Assessment, EffectState, Finding, SchemaStatus};

use super::style::Style;

/// One line for `check`, `gate`, `runbook`, `repair`.
pub fn verdict_line(a: &Assessment, s: Style) -> String {
    let line = match &a.dirty {
        Some(d) => format!("{}; {}", d.summary, a.schema.summary),
        None => a.schema.summary.clone(),
    };
    let line = format!("schema: {line}");
    match a.schema.status {
        SchemaStatus::Match => s.good(&line),
        SchemaStatus::Drift => s.bad(&line),
        SchemaStatus::Skipped => s.warn(&line),
    }
}

fn finding(f: &Finding) -> String {
    let owner = match (f.migration, &f.name) {
        (Some(v), Some(n)) => format!("{v:06} {n}"),
        _ => "no Coder migration".into(),
    };
    let mut line = format!("  {} ({owner})", f.object);
    if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
        line.push_str(&format!("\n      expected: {e}\n      found:    {a}"));
    }
    line
}

/// The schema's own version, when it is not simply the one the row was compared with.
fn identity_line(a: &Assessment) -> Option<String> {
    let id = a.schema.identity.as_ref()?;
    let compared = a.schema.expected_for.as_ref().map(|e| e.version);
    let same = id.is_exact() && compared.is_some_and(|v| id.versions.contains(&v));
    (!same).then(|| format!("schema identity: {}", id.summary))
}

/// What `check`, `gate`, `runbook` and `repair` add: the verdict line, the schema's own
/// version when it differs, and for a dirty row the evidence's action (with what exists and
/// the .down.sql statements when half-applied).
pub fn evidence(a: &Assessment, s: Style) -> String {
    let mut out = vec![verdict_line(a, s)];
    out.extend(identity_line(a));
    out.extend(dirty_lines(a));
    out.join("\n") + "\n"
}

fn dirty_lines(a: &Assessment) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(d), Some(action)) = (&a.dirty, &a.dirty_action) else {
        return out;
    };
    out.push(format!(
        "evidence for the dirty row: {}",
        action.explanation
    ));
    if let Some(sql) = &action.sql {
        out.push(format!("  {sql}"));
    }
    if action.kind == crate::core::dirty::DirtyActionKind::Review {
        out.push(format!("in place from {:06} {}:", d.version, d.name));
        out.extend(d.present.iter().map(|p| format!("  {p}")));
        out.push(format!("not in place from {:06} {}:", d.version, d.name));
        out.extend(d.not_present.iter().map(|p| format!("  {p}")));
        out.push(format!(
            "for review, not run: the statements of {:06}_{}.down.sql that remove its effects:",
            d.version, d.name
        ));
        out.extend(d.down_statements.iter().map(|p| format!("  {p};")));
    }
    out
}

/// The whole report.
pub fn report(a: &Assessment, s: Style) -> String {
    let r = &a.schema;
    let mut out = vec![verdict_line(a, s)];
    out.extend(identity_line(a));
    if let Some(e) = &r.expected_for {
        if !e.releases.is_empty() {
            out.push(format!(
                "expected: the schema of migration {} as {} ships it (set {})",
                e.version,
                crate::core::report::short_tags(&e.releases, crate::core::report::SHORT_TAGS),
                e.set
            ));
        }
    }
    out.extend(dirty_lines(a));
    for (title, list) in [("missing", &r.missing), ("different", &r.different)] {
        if !list.is_empty() {
            out.push(format!("{title} ({}):", list.len()));
            out.extend(list.iter().map(finding));
        }
    }
    let (known, unknown): (Vec<&Finding>, Vec<&Finding>) =
        r.extra.iter().partition(|f| f.migration.is_some());
    if !known.is_empty() {
        out.push(format!(
            "extra, created by Coder migrations the row does not account for ({}):",
            known.len()
        ));
        out.extend(known.into_iter().map(finding));
    }
    if !unknown.is_empty() {
        out.push(format!(
            "extra, not created by any Coder migration ({}, warning only):",
            unknown.len()
        ));
        out.extend(unknown.into_iter().map(finding));
    }
    let notable: Vec<String> = r
        .by_migration
        .iter()
        .map(|m| {
            let state = match m.state {
                EffectState::Complete => "complete",
                EffectState::Absent => "absent",
                EffectState::Partial => "partial",
            };
            format!(
                "  {:06} {}: {state} ({} objects)",
                m.version,
                m.name,
                m.objects.len()
            )
        })
        .collect();
    if !notable.is_empty() {
        out.push("by migration:".into());
        out.extend(notable);
    }
    out.join("\n") + "\n"
}
