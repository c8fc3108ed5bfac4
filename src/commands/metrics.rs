//! What `check`, `verify` and `gate` share to fill the OpenMetrics input
//! (`render::openmetrics::Metrics`) from their reports: the identity labels, the drift count,
//! the index age, a verdict's JSON spelling. The renderer never sees a report.

use serde::Serialize;

use crate::core::deployment::DeploymentFacts;
use crate::core::index::Index;
use crate::core::observation::DatabaseInfo;
use crate::core::verify::{Assessment, SchemaStatus};
use crate::render::openmetrics::Labels;

/// The identity labels: the database as the connection's target (never with a password),
/// the Deployment's namespace and name when a manifest or `-n` named them.
pub fn labels(
    db: Option<&DatabaseInfo>,
    namespace: Option<&str>,
    deployment: Option<&DeploymentFacts>,
    deployment_flag: &str,
) -> Labels {
    Labels {
        database: db.map(|d| d.target.clone()),
        namespace: namespace
            .map(str::to_string)
            .or_else(|| deployment.and_then(|d| d.namespace.clone())),
        deployment: deployment
            .map(|d| d.name.clone())
            .or_else(|| namespace.map(|_| deployment_flag.to_string())),
    }
}

/// The labels of a command that knows only the database (`check`, `verify`).
pub fn database_labels(db: Option<&DatabaseInfo>) -> Labels {
    Labels {
        database: db.map(|d| d.target.clone()),
        ..Labels::default()
    }
}

/// Objects missing, extra or different, when the schema was compared.
pub fn drift_objects(a: Option<&Assessment>) -> Option<u64> {
    let s = &a?.schema;
    (s.status != SchemaStatus::Skipped)
        .then(|| (s.missing.len() + s.extra.len() + s.different.len()) as u64)
}

/// Seconds since the index was generated (at `MIGTAG_NOW` when set).
pub fn index_age_seconds(index: &Index) -> Option<i64> {
    let now = super::context::now().ok()?;
    super::context::index_age_seconds(index, now)
}

/// A verdict as its JSON spells it (`exact`, `needs_human`, `drift`, ...).
pub fn spelling<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}
