//! The runbook for each state: which steps, which commands, what is destructive.

use super::*;
use crate::core::check::{check, CheckOptions};
use crate::core::deployment::DeploymentFacts;
use crate::core::image_ref::ImageRef;
use crate::core::index::Index;
use crate::core::observation::DbObservation;
use crate::core::observation::{DatabaseInfo, SessionRow, Sessions};
use crate::core::state::{DbState, MigrationInProgress};

fn index() -> Index {
    crate::bundled::load().unwrap()
}

fn build_for(
    index: &Index,
    state: DbState,
    db: Option<&DbObservation>,
    deployed: Option<&str>,
) -> Runbook {
    let report = check(
        index,
        &state,
        &CheckOptions {
            deployed: deployed.map(str::to_string),
            include_prereleases: false,
            ..CheckOptions::default()
        },
    );
    let repo = ImageRef::parse_repository("ghcr.io/coder/coder").unwrap();
    build(&RunbookInput {
        verification: None,
        irregular: &[],
        forecast: None,
        index,
        check: &report,
        state: &state,
        db,
        deployment: None,
        findings: &[],
        target: RunbookTarget {
            namespace: Some("coder"),
            deployment: "coder",
            container: "coder",
            repo: &repo,
        },
    })
}

fn observation(state: DbState, database: &str, rows: &[SessionRow]) -> DbObservation {
    DbObservation {
        state,
        database: DatabaseInfo {
            target: format!("postgres://coder@db:5432/{database}"),
            database: database.into(),
            user: "coder".into(),
            schema: Some("public".into()),
            server_version: "15.6".into(),
            server_version_num: 150006,
            transport: "tls (verify-full)".into(),
            backend_pid: 4242,
            notes: Vec::new(),
        },
        sessions: Sessions::summarise(rows, "coder"),
        catalog: None,
        sizes: None,
    }
}

fn ids(r: &Runbook) -> Vec<StepId> {
    r.steps.iter().map(|s| s.id).collect()
}

fn commands(r: &Runbook) -> impl Iterator<Item = &RunbookCommand> {
    r.steps.iter().flat_map(|s| s.commands.iter())
}

#[test]
fn the_image_after_a_cleanup_contains_the_previous_version() {
    let idx = index();
    assert_eq!(
        image_after_cleanup(&idx, 316, Some(313)).map(|r| r.tag.as_str()),
        Some("v2.21.1")
    );
    let after_315 = image_after_cleanup(&idx, 316, Some(315)).unwrap();
    assert!(after_315.contains(315) && after_315.contains(316));
    assert_eq!(after_315.migrations.prev(316), Some(315));
    assert_eq!(
        image_after_cleanup(&idx, 168, Some(167)).map(|r| r.tag.as_str()),
        Some("v2.4.0")
    );
}

#[test]
fn in_progress_waits_and_only_the_last_resort_is_destructive() {
    let idx = index();
    let m = MigrationInProgress {
        lock: "advisory lock 1037453835920848937 and ACCESS EXCLUSIVE on schema_migrations".into(),
        pid: Some(777),
        xact_start: Some("2026-11-27T10:00:00Z".into()),
        xact_seconds: Some(1800),
        query: Some("ALTER TABLE api_keys ADD COLUMN scopes ...".into()),
        application_name: Some("coderd".into()),
        client_addr: Some("10.0.0.7".into()),
        state: Some("active".into()),
    };
    let state = DbState::InProgress(m);
    let rows = [SessionRow {
        pid: 778,
        application_name: Some("coderd".into()),
        state: Some("idle in transaction".into()),
        state_seconds: Some(600.0),
        ..SessionRow::default()
    }];
    let obs = observation(state.clone(), "coder", &rows);
    let r = build_for(&idx, state, Some(&obs), None);
    assert_eq!(
        ids(&r),
        [
            StepId::WaitForMigration,
            StepId::Sessions,
            StepId::TerminateSessions
        ]
    );
    assert_eq!(r.image, None);
    let destructive: Vec<&Step> = r.steps.iter().filter(|s| s.destructive).collect();
    assert_eq!(destructive.len(), 1);
    assert!(destructive[0].last_resort);
    assert!(r.steps[0].notes[0]
        .contains("pid 777, application coderd, client 10.0.0.7, transaction open 30m"));
    assert!(commands(&r).all(|c| c.effect != Effect::Change));
    assert_eq!(
        r.steps[2].commands[0].text,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'coder' AND pid <> pg_backend_pid();"
    );
    insta::assert_snapshot!(
        "runbook_in_progress_markdown",
        crate::render::runbook::markdown(&r)
    );
}

#[test]
fn v1_says_what_to_do_instead_and_changes_nothing() {
    let idx = index();
    let r = build_for(&idx, DbState::V1, None, None);
    assert_eq!(ids(&r), [StepId::V1Database]);
    assert!(commands(&r).all(|c| c.effect == Effect::Read));
    assert!(r.steps[0].notes[0].contains("new, empty database"));
}

#[test]
fn fresh_runs_the_newest_release_without_cleanup() {
    let idx = index();
    let r = build_for(&idx, DbState::Fresh, None, None);
    assert!(!ids(&r).contains(&StepId::CleanUpDirty));
    assert_eq!(r.image.as_deref(), Some("ghcr.io/coder/coder:v2.36.0"));
}

#[test]
fn deployed_tag_that_already_runs_the_image_sets_nothing() {
    let idx = index();
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coder, namespace: coder}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: coder}}\n  template:\n    metadata: {labels: {app: coder}}\n    spec:\n      containers:\n        - {name: coder, image: 'ghcr.io/coder/coder:v2.4.0'}\n";
    let d: k8s_openapi::api::apps::v1::Deployment = serde_yaml_ng::from_str(yaml).unwrap();
    let facts = DeploymentFacts::from_deployment(&d, "coder").unwrap();
    let state = DbState::Clean(168);
    let report = check(&idx, &state, &CheckOptions::default());
    let repo = ImageRef::parse_repository("ghcr.io/coder/coder").unwrap();
    let r = build(&RunbookInput {
        verification: None,
        irregular: &[],
        forecast: None,
        index: &idx,
        check: &report,
        state: &state,
        db: None,
        deployment: Some(&facts),
        findings: &[],
        target: RunbookTarget {
            namespace: Some("coder"),
            deployment: "coder",
            container: "coder",
            repo: &repo,
        },
    });
    let set = r.steps.iter().find(|s| s.id == StepId::SetImage).unwrap();
    assert!(set.commands.is_empty());
    assert!(set.notes[0].contains("already runs ghcr.io/coder/coder:v2.4.0"));
    // One replica: nothing to scale back.
    assert!(!ids(&r).contains(&StepId::ScaleBack));
}

/// Without a manifest the probe step shows the guide's liveness probe; when the upgrade
/// forecast asks for a longer window than its 15 minutes, the same probe covers that window.
#[test]
fn the_probe_step_covers_the_forecast_window() {
    use crate::core::forecast::{self, rates::MEASURED, ForecastInput, MigrationFacts, TableSize};
    let idx = index();
    let state = DbState::Clean(363);
    let report = check(&idx, &state, &CheckOptions::default());
    let repo = ImageRef::parse_repository("ghcr.io/coder/coder").unwrap();
    let probe_for = |f: Option<&forecast::Forecast>| {
        let book = build(&RunbookInput {
            verification: None,
            irregular: &[],
            forecast: f,
            index: &idx,
            check: &report,
            state: &state,
            db: None,
            deployment: None,
            findings: &[],
            target: RunbookTarget {
                namespace: Some("coder"),
                deployment: "coder",
                container: "coder",
                repo: &repo,
            },
        });
        let step = book
            .steps
            .iter()
            .find(|s| s.id == StepId::Probes)
            .unwrap()
            .clone();
        (book, step.commands[0].text.clone())
    };
    let (_, guide) = probe_for(None);
    assert!(guide.contains("failureThreshold: 90"), "{guide}");

    // A 10 GB table rewritten: high estimate 10 GB / 32 MB/s = 320 s, window 4 x 320 s,
    // rounded up to 22 minutes.
    let sizes: std::collections::BTreeMap<String, TableSize> = [(
        "workspace_builds".to_string(),
        TableSize {
            rows: Some(50_000_000),
            heap_bytes: 8 << 30,
            total_bytes: 10 << 30,
            ..Default::default()
        },
    )]
    .into_iter()
    .collect();
    let f = forecast::forecast(&ForecastInput {
        pending: vec![MigrationFacts {
            version: 364,
            rewrites: vec!["workspace_builds".into()],
            ..Default::default()
        }],
        sizes: Some(&sizes),
        one_transaction: true,
        rates: &MEASURED,
        unavailable: None,
        unknown: Vec::new(),
    });
    let window = f.migration_window.clone().unwrap().seconds;
    assert_eq!(window, 22 * 60);
    let (book, probe) = probe_for(Some(&f));
    assert!(probe.contains("failureThreshold: 132"), "{probe}");
    assert!(book.forecast.is_some());
}
