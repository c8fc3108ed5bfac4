//! Human text for `migtag patch`: the decision, the Deployment as it is, what to fix first,
//! then the change itself, unindented so that it can be copied as it is.

use std::fmt::Write as _;

use super::human::index_line;
use super::style::Style;
use crate::core::deployment::{DeploymentFacts, Severity};
use crate::core::patch::{Patch, PatchReport};

pub fn human(report: &PatchReport, style: Style) -> String {
    render(report, style, false)
}

/// The report for stderr under `--emit`: everything but the change, which went to stdout.
pub fn human_emitted(report: &PatchReport, style: Style) -> String {
    render(report, style, true)
}

fn render(report: &PatchReport, style: Style, emitted: bool) -> String {
    let mut out = String::new();
    let d = &report.decision;
    let first = if d.actionable {
        style.good(&d.summary)
    } else {
        style.bad(&d.summary)
    };
    let _ = writeln!(out, "{first}");
    if !d.why.is_empty() && !d.actionable {
        let _ = writeln!(out, "\nwhy:");
        for w in &d.why {
            let _ = writeln!(out, "  - {w}");
        }
    }
    if let Some(a) = &d.action {
        let _ = writeln!(
            out,
            "\nfix the row first (compare-and-set), then run migtag patch again:\n  {}\n  # or: migtag repair fix-row",
            a.sql
        );
    }

    let t = &report.target;
    let _ = writeln!(
        out,
        "\ndeployment {}{}, container {}{}",
        t.namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        t.deployment,
        t.container,
        report.deployment.as_ref().map(position).unwrap_or_default()
    );
    if let Some(f) = &report.deployment {
        let _ = writeln!(out, "  {}", shape(f));
    }
    if let Some(c) = &report.current_image {
        let _ = writeln!(out, "  current image:     {c}");
    }
    if let Some(r) = &report.recommended {
        let label = if d.source == "tag" {
            "requested image:"
        } else {
            "recommended image:"
        };
        let _ = writeln!(out, "  {label:<18} {}", r.image);
    }
    if let Some(r) = &report.registry {
        let line = match (&r.exists, &r.digest) {
            (Some(true), Some(d)) => format!("  registry:          {} exists ({d})", r.image),
            (Some(true), None) => format!("  registry:          {} exists", r.image),
            _ => format!("  registry:          {} not checked (--offline)", r.image),
        };
        let _ = writeln!(out, "{line}");
    }
    if report.up_to_date {
        let _ = writeln!(out, "{}", style.good("  already runs it: no patch needed"));
    }

    if let Some(f) = &report.forecast {
        out.push_str(&super::forecast::human(f));
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nchecks (Coder's upgrade-troubleshooting guide):");
        for f in &report.findings {
            let mark = match f.severity {
                Severity::Warning => style.warn("warning:"),
                Severity::Info => "note:".to_string(),
            };
            let _ = writeln!(out, "  {mark} {}", f.message);
            for step in &f.fix {
                let _ = writeln!(out, "    - {}", step.description);
                if let Some(c) = &step.command {
                    let _ = writeln!(out, "      {}", c.text);
                }
            }
        }
    }

    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }

    match &report.patch {
        Some(p) if emitted => {
            let _ = writeln!(
                out,
                "\n{}",
                style.dim(&format!("# patch ({}): printed on stdout", form_name(p)))
            );
        }
        None if emitted => {
            let _ = writeln!(
                out,
                "\n{}",
                style.dim("# no patch: nothing printed on stdout")
            );
        }
        _ => {}
    }
    if let (Some(p), false) = (&report.patch, emitted) {
        let _ = writeln!(
            out,
            "\n{}",
            style.dim(&format!("# patch ({})", form_name(p)))
        );
        match p {
            Patch::Helm { command, values } => {
                let _ = writeln!(out, "{}", command.text);
                let _ = writeln!(out, "{}", style.dim("# or, in the values file:"));
                out.push_str(values);
            }
            Patch::Kustomize { text } => out.push_str(text),
            other => {
                let _ = writeln!(out, "{}", other.text());
            }
        }
    }
    let _ = writeln!(out, "\n{}", style.dim(&index_line(&report.index)));
    out
}

fn form_name(p: &Patch) -> &'static str {
    match p {
        Patch::Kubectl { .. } => "kubectl",
        Patch::Strategic { .. } => "strategic merge",
        Patch::JsonPatch { .. } => "JSON patch, RFC 6902",
        Patch::Helm { .. } => "helm",
        Patch::Kustomize { .. } => "kustomize, for kustomization.yaml",
    }
}

/// ` (2nd of 3)` when the Deployment has other containers.
fn position(f: &DeploymentFacts) -> String {
    if f.containers.len() < 2 {
        return String::new();
    }
    format!(
        " (container {} of {}: {})",
        f.container.index + 1,
        f.containers.len(),
        f.containers.join(", ")
    )
}

fn shape(f: &DeploymentFacts) -> String {
    let probe = |p: &Option<crate::core::deployment::ProbeFacts>| match p {
        Some(p) => format!(
            "{} every {}s, {} failures",
            p.handler, p.period_seconds, p.failure_threshold
        ),
        None => "none".into(),
    };
    let mut parts = vec![
        format!("replicas {}", f.replicas),
        format!("strategy {}", f.strategy.kind),
        format!("pull policy {}", f.container.image_pull_policy),
        format!("liveness probe: {}", probe(&f.container.liveness_probe)),
    ];
    if f.container.startup_probe.is_some() {
        parts.push(format!(
            "startup probe: {}",
            probe(&f.container.startup_probe)
        ));
    }
    parts.join(", ")
}
