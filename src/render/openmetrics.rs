//! `--format openmetrics` for `check`, `verify` and `gate`: the OpenMetrics text format, for
//! the node exporter's textfile collector or a Pushgateway (docs/metrics.md).
//!
//! The renderer works on [`Metrics`], a small plain value the commands fill from their
//! reports, so the format does not depend on the shape of any report. Every sample carries
//! the identity labels it has (`database`, `namespace`, `deployment`); a label without a
//! value is left out rather than sent empty. Label values are escaped as the specification
//! says (`\\`, `\"`, `\n`); the `database` label is the connection's target without its
//! password (the password is never part of it).

use std::fmt::Write;

/// Who the metrics are about. `None` leaves the label out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    /// The database as `postgres://user@host:port/dbname` (never a password).
    pub database: Option<String>,
    pub namespace: Option<String>,
    pub deployment: Option<String>,
}

/// What one run of `check`, `verify` or `gate` says, as numbers. `None` and empty values
/// produce no sample (and no family): a dashboard sees "absent", never a made-up zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics<'a> {
    /// `schema_migrations.version` (None: fresh, v1, or a migration holds the table).
    pub version: Option<u64>,
    pub dirty: Option<bool>,
    /// The command's verdict as its JSON spells it (`exact`, `safe`, `match`, ...).
    pub verdict: &'a str,
    /// Objects missing, extra or different against the expected schema (None: not verified).
    pub drift_objects: Option<u64>,
    /// Per target tag: the migrations it would apply.
    pub pending: Vec<(String, u64)>,
    /// The forecast's duration band, in seconds.
    pub estimate: Option<(f64, f64)>,
    /// Seconds since the release index in use was generated.
    pub index_age_seconds: Option<i64>,
    pub labels: Labels,
}

/// The exposition, ending with `# EOF`.
pub fn render(m: &Metrics<'_>) -> String {
    let mut out = String::new();
    let base = base_labels(&m.labels);
    let mut family = |name: &str,
                      help: &str,
                      unit: Option<&str>,
                      samples: Vec<(Vec<(&str, String)>, String)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# TYPE {name} gauge");
        if let Some(u) = unit {
            let _ = writeln!(out, "# UNIT {name} {u}");
        }
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        for (extra, value) in samples {
            let mut labels = extra;
            labels.extend(base.iter().cloned());
            let _ = writeln!(out, "{name}{} {value}", label_set(&labels));
        }
    };
    family(
        "migtag_schema_migrations_version",
        "The version recorded in schema_migrations.",
        None,
        m.version
            .map(|v| vec![(vec![], v.to_string())])
            .unwrap_or_default(),
    );
    family(
        "migtag_schema_migrations_dirty",
        "1 when schema_migrations is dirty (a migration started and did not finish).",
        None,
        m.dirty
            .map(|d| vec![(vec![], u8::from(d).to_string())])
            .unwrap_or_default(),
    );
    family(
        "migtag_verdict",
        "The command's verdict: 1 for the verdict given.",
        None,
        vec![(vec![("verdict", m.verdict.to_string())], "1".into())],
    );
    family(
        "migtag_schema_drift_objects",
        "Catalog objects missing, extra or different against the schema the row claims.",
        None,
        m.drift_objects
            .map(|d| vec![(vec![], d.to_string())])
            .unwrap_or_default(),
    );
    family(
        "migtag_pending_migrations",
        "Migrations the target release would apply on start.",
        None,
        m.pending
            .iter()
            .map(|(t, n)| (vec![("target", t.clone())], n.to_string()))
            .collect(),
    );
    family(
        "migtag_upgrade_estimate_seconds",
        "The forecast duration of the pending migrations, low and high bound.",
        Some("seconds"),
        m.estimate
            .filter(|(l, h)| l.is_finite() && h.is_finite())
            .map(|(l, h)| {
                vec![
                    (vec![("bound", "low".to_string())], number(l)),
                    (vec![("bound", "high".to_string())], number(h)),
                ]
            })
            .unwrap_or_default(),
    );
    family(
        "migtag_index_age_seconds",
        "Seconds since the release index in use was generated.",
        Some("seconds"),
        m.index_age_seconds
            .map(|a| vec![(vec![], a.to_string())])
            .unwrap_or_default(),
    );
    out.push_str("# EOF\n");
    out
}

fn base_labels(l: &Labels) -> Vec<(&'static str, String)> {
    [
        ("database", &l.database),
        ("namespace", &l.namespace),
        ("deployment", &l.deployment),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (k, v.clone())))
    .collect()
}

fn label_set(labels: &[(&str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A label value as OpenMetrics escapes it: backslash, double quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A finite float in Rust's shortest form (`7.11`, `2`), which OpenMetrics and the
/// Prometheus text parser both read.
fn number(x: f64) -> String {
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_labels_and_escaping() {
        let m = Metrics {
            version: Some(376),
            dirty: Some(false),
            verdict: "safe",
            drift_objects: None,
            pending: vec![("v2.27.0".into(), 14)],
            estimate: Some((2.0, 7.11)),
            index_age_seconds: Some(86400),
            labels: Labels {
                database: Some("postgres://coder@db:5432/co\"d\\e\nr".into()),
                namespace: Some("coder".into()),
                deployment: None,
            },
        };
        let text = render(&m);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains(
                "migtag_verdict{verdict=\"safe\",database=\"postgres://coder@db:5432/co\\\"d\\\\e\\nr\",namespace=\"coder\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("migtag_upgrade_estimate_seconds{bound=\"high\","),
            "{text}"
        );
        assert!(text.contains("# UNIT migtag_upgrade_estimate_seconds seconds\n"));
        assert!(text.contains("} 7.11\n"), "{text}");
        assert!(!text.contains("migtag_schema_drift_objects"), "{text}");
        assert!(!text.contains("deployment="), "{text}");
        // One line per sample: the escaped newline did not break the line.
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("migtag_")));
    }
}
