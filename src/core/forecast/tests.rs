//! Table tests of the forecast rules: which locks count and block Coder, which work counts,
//! the estimate arithmetic and the migration window.

use std::collections::BTreeMap;

use super::rates::{Rate, Rates};
use super::*;
use crate::core::effects::{MigrationEffects, TableActivity};

const MB: u64 = 1024 * 1024;

/// Round numbers, so the expected seconds can be worked out by hand.
const TEST_RATES: Rates = Rates {
    rewrite_bytes: Rate {
        fast: 100.0 * MB as f64,
        slow: 50.0 * MB as f64,
    },
    index_build_row_seconds: Rate {
        fast: 0.000_001,
        slow: 0.000_002,
    },
    scan_bytes: Rate {
        fast: 400.0 * MB as f64,
        slow: 200.0 * MB as f64,
    },
    update_row_seconds: Rate {
        fast: 0.000_010,
        slow: 0.000_020,
    },
    index_entry_seconds: Rate {
        fast: 0.0,
        slow: 0.0,
    },
    foreign_key_check_seconds: Rate {
        fast: 0.0,
        slow: 0.0,
    },
    join_row_seconds: Rate {
        fast: 0.0,
        slow: 0.0,
    },
    delete_bytes: Rate {
        fast: 100.0 * MB as f64,
        slow: 50.0 * MB as f64,
    },
    catalog_object_seconds: Rate {
        fast: 0.01,
        slow: 0.05,
    },
    source: "test rates",
};

fn m(version: Version) -> MigrationFacts {
    MigrationFacts {
        version,
        name: format!("m{version}"),
        ..Default::default()
    }
}

fn lock(t: &str, mode: LockMode) -> (String, LockMode) {
    (t.to_string(), mode)
}

fn sizes(list: &[(&str, u64, u64, u64)]) -> BTreeMap<String, TableSize> {
    list.iter()
        .map(|(t, rows, heap_mb, total_mb)| {
            (
                t.to_string(),
                TableSize {
                    rows: Some(*rows),
                    heap_bytes: heap_mb * MB,
                    total_bytes: total_mb * MB,
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn run(
    pending: Vec<MigrationFacts>,
    sizes: Option<&BTreeMap<String, TableSize>>,
    one: bool,
) -> Forecast {
    forecast(&ForecastInput {
        pending,
        sizes,
        one_transaction: one,
        rates: &TEST_RATES,
        unavailable: None,
        unknown: Vec::new(),
    })
}

#[test]
fn lock_modes_parse_from_pg_locks_and_sql_and_say_what_they_block() {
    let cases = [
        ("AccessShareLock", LockMode::AccessShare, Blocks::Nothing),
        ("RowShareLock", LockMode::RowShare, Blocks::Nothing),
        ("RowExclusiveLock", LockMode::RowExclusive, Blocks::Nothing),
        (
            "ShareUpdateExclusiveLock",
            LockMode::ShareUpdateExclusive,
            Blocks::Nothing,
        ),
        ("ShareLock", LockMode::Share, Blocks::Writes),
        (
            "SHARE ROW EXCLUSIVE",
            LockMode::ShareRowExclusive,
            Blocks::Writes,
        ),
        ("ExclusiveLock", LockMode::Exclusive, Blocks::Writes),
        (
            "ACCESS EXCLUSIVE",
            LockMode::AccessExclusive,
            Blocks::ReadsAndWrites,
        ),
    ];
    for (text, mode, blocks) in cases {
        assert_eq!(LockMode::parse(text), Some(mode), "{text}");
        assert_eq!(mode.blocks(), blocks, "{text}");
        assert_eq!(LockMode::parse(mode.sql_name()), Some(mode));
    }
    assert_eq!(LockMode::parse("AdvisoryLock"), None);
    assert!(LockMode::AccessExclusive > LockMode::ShareRowExclusive);
}

#[test]
fn one_transaction_starts_at_v2_5_0() {
    for (tag, one) in [
        ("2.4.4", false),
        ("2.5.0", true),
        ("2.5.1", true),
        ("2.34.0", true),
        ("0.27.3", false),
    ] {
        assert_eq!(
            one_transaction(&semver::Version::parse(tag).unwrap()),
            one,
            "{tag}"
        );
    }
}

#[test]
fn which_locks_block_coder() {
    // (table, strongest mode, blocks_coder)
    let cases = [
        ("licenses", LockMode::AccessExclusive, true),
        ("workspace_builds", LockMode::Share, true),
        ("api_keys", LockMode::ShareRowExclusive, true),
        ("templates", LockMode::Share, false),
        ("workspaces", LockMode::ShareUpdateExclusive, false),
        ("users", LockMode::RowExclusive, false),
    ];
    let mut mig = m(1);
    mig.locks = cases.iter().map(|(t, mode, _)| lock(t, *mode)).collect();
    let f = run(vec![mig], None, true);
    for (table, mode, blocks) in cases {
        let l = f.locks.iter().find(|l| l.table == table).unwrap();
        assert_eq!((l.mode, l.blocks_coder), (mode, blocks), "{table}");
        assert_eq!(l.held_until, "the whole batch commits");
    }
    // Blocking locks come first, Coder's hot tables before the others, the strongest first.
    let order: Vec<&str> = f.locks.iter().map(|l| l.table.as_str()).collect();
    assert_eq!(order[..3], ["api_keys", "workspace_builds", "licenses"]);
    assert!(!f.locks.last().unwrap().blocks_coder);
}

#[test]
fn the_strongest_lock_per_table_names_the_migrations_that_take_it() {
    let mut a = m(10);
    a.locks = vec![
        lock("workspaces", LockMode::Share),
        lock("workspaces", LockMode::AccessShare),
    ];
    let mut b = m(11);
    b.locks = vec![lock("workspaces", LockMode::AccessExclusive)];
    let mut c = m(12);
    c.locks = vec![lock("workspaces", LockMode::AccessExclusive)];
    let f = run(vec![a, b, c], None, true);
    assert_eq!(f.locks.len(), 1);
    assert_eq!(f.locks[0].mode, LockMode::AccessExclusive);
    assert_eq!(f.locks[0].migrations, vec![11, 12]);
}

#[test]
fn before_v2_5_locks_end_with_their_migration() {
    let mut a = m(7);
    a.locks = vec![lock("users", LockMode::AccessExclusive)];
    let f = run(vec![a], None, false);
    assert_eq!(f.transaction, Transaction::PerMigration);
    assert_eq!(f.locks[0].held_until, "the end of migration 000007");
}

#[test]
fn tables_the_batch_creates_cost_nothing_and_block_nobody() {
    let mut a = m(20);
    a.creates = vec!["tasks".into()];
    a.locks = vec![
        lock("tasks", LockMode::AccessExclusive),
        lock("workspaces", LockMode::ShareRowExclusive),
    ];
    let mut b = m(21);
    b.locks = vec![lock("tasks", LockMode::Share)];
    b.index_builds = vec![("tasks_idx".into(), "tasks".into())];
    b.rewrites = vec!["tasks".into()];
    b.updates = vec!["tasks".into()];
    let f = run(vec![a, b], None, true);
    assert_eq!(
        f.locks.iter().map(|l| l.table.as_str()).collect::<Vec<_>>(),
        ["workspaces"]
    );
    assert!(
        f.locks[0].blocks_coder,
        "SHARE ROW EXCLUSIVE on workspaces (a foreign key to it) blocks its writes"
    );
    assert!(f.index_builds.is_empty() && f.rewrites.is_empty() && f.updates.is_empty());
}

#[test]
fn offline_lists_the_work_without_sizes_or_times() {
    let mut a = m(30);
    a.rewrites = vec!["workspace_builds".into()];
    a.index_builds = vec![("wb_idx".into(), "workspace_builds".into())];
    a.locks = vec![lock("workspace_builds", LockMode::AccessExclusive)];
    let f = run(vec![a], None, true);
    assert_eq!(f.sizes, "offline");
    assert_eq!(f.rewrites.len(), 1);
    assert_eq!(f.index_builds[0].index.as_deref(), Some("wb_idx"));
    assert!(f.rewrites[0].bytes.is_none() && f.rewrites[0].seconds.is_none());
    assert!(f.locks[0].size.is_none());
    assert!(f.estimate.is_none() && f.migration_window.is_none());
}

#[test]
fn the_estimate_is_work_over_rate_plus_a_floor_per_migration() {
    let live = sizes(&[
        ("workspace_builds", 1_000_000, 400, 500),
        ("provisioner_jobs", 200_000, 100, 150),
        ("api_keys", 60_000, 20, 30),
    ]);
    let mut a = m(40);
    a.catalog_objects = 1;
    a.rewrites = vec!["workspace_builds".into()]; // 500 MB: 5 s fast, 10 s slow
    a.scans = vec!["workspace_builds".into()]; // part of the rewrite: not counted again
    let mut b = m(41);
    b.catalog_objects = 2;
    b.index_builds = vec![("pj_idx".into(), "provisioner_jobs".into())]; // 200,000 rows: 0.2 s .. 0.4 s
    b.scans = vec!["api_keys".into(), "provisioner_jobs".into()]; // 20 MB: 0.05 .. 0.1 s; the other is the build's
    let mut c = m(42);
    c.updates = vec!["api_keys".into()]; // 60,000 rows: 0.6 .. 1.2 s, and its read 0.05 .. 0.1 s
    c.deletes = vec!["provisioner_jobs".into()]; // 100 MB: 1 .. 2 s, and its read 0.25 .. 0.5 s
    let f = run(vec![a, b, c], Some(&live), true);
    let e = f.estimate.clone().unwrap();
    // + 3 catalog objects x (0.01 .. 0.05 s)
    assert_eq!((e.low_seconds, e.high_seconds), (7.18, 14.45));
    assert_eq!(
        f.updates
            .iter()
            .map(|w| w.operation.unwrap())
            .collect::<Vec<_>>(),
        ["delete", "update"],
        "the costliest first"
    );
    assert!(e.basis_detail.contains("test rates"), "{}", e.basis_detail);
    assert_eq!(f.scans.len(), 1);
    assert_eq!(f.rewrites[0].bytes, Some(500 * MB));
    assert_eq!(f.index_builds[0].bytes, Some(100 * MB));
    assert_eq!(f.updates[1].rows, Some(60_000));
    assert_eq!(f.migration_window.unwrap().seconds, 15 * 60);
}

#[test]
fn missing_tables_and_missing_statistics_are_said() {
    let mut live = sizes(&[]);
    live.insert(
        "audit_logs".into(),
        TableSize {
            rows: None,
            heap_bytes: 8192,
            total_bytes: 16384,
            ..Default::default()
        },
    );
    let mut a = m(50);
    a.scans = vec!["audit_logs".into(), "gone".into()];
    let f = run(vec![a], Some(&live), true);
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
    assert!(f
        .notes
        .iter()
        .any(|n| n.starts_with("audit_logs has no statistics")));
    assert!(f
        .notes
        .iter()
        .any(|n| n.starts_with("gone is not in the database")));
}

#[test]
fn the_window_is_at_least_15_minutes_and_four_times_the_high_estimate() {
    // (high estimate, window seconds)
    for (high, expected) in [
        (0.0, 900),
        (60.0, 900),
        (225.0, 900),
        (225.5, 960),
        (600.0, 2400),
        (3601.0, 14_460),
    ] {
        let w = window(high);
        assert_eq!(w.seconds, expected, "{high}");
        assert!(w.seconds as f64 >= WINDOW_FACTOR * high && w.seconds >= MIN_WINDOW_SECONDS);
    }
}

#[test]
fn effects_map_into_facts() {
    let e = MigrationEffects {
        version: 366,
        name: "create_tasks_data_model".into(),
        locks: vec![
            "tasks AccessExclusiveLock".into(),
            "workspace_builds ShareRowExclusiveLock".into(),
            "users AccessShareLock".into(),
            "odd NoSuchLock".into(),
        ],
        rewrites: vec!["templates".into()],
        index_builds: vec!["tasks_owner_idx on tasks".into()],
        statements: Default::default(),
        steps: Vec::new(),
        tables: vec![
            TableActivity {
                table: "workspace_builds".into(),
                scanned: true,
                ..Default::default()
            },
            TableActivity {
                table: "users".into(),
                scanned: true,
                ..Default::default()
            },
            TableActivity {
                table: "api_keys".into(),
                scanned: true,
                deleted: 2,
                ..Default::default()
            },
        ],
        diff: crate::core::schema::CatalogDiff {
            added: [
                ("table tasks".to_string(), String::new()),
                ("column tasks.id".to_string(), "uuid".to_string()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        },
    };
    let f = MigrationFacts::from(&e);
    assert_eq!(f.creates, ["tasks"]);
    assert_eq!(f.locks.len(), 3);
    assert_eq!(
        f.index_builds,
        [("tasks_owner_idx".to_string(), "tasks".to_string())]
    );
    assert_eq!(f.rewrites, ["templates"]);
    assert_eq!(f.catalog_objects, 2);
    // users was read under ACCESS SHARE only (a foreign-key lookup): not a scan; nor is
    // workspace_builds, the target of the new table's foreign key (SHARE ROW EXCLUSIVE).
    assert!(f.scans.is_empty(), "{:?}", f.scans);
    // The same foreign key between existing tables validates by reading them: a scan.
    let mut between_existing = e.clone();
    between_existing.diff.added.clear();
    assert_eq!(
        MigrationFacts::from(&between_existing).scans,
        ["workspace_builds"]
    );
    assert!(f.updates.is_empty());
    assert_eq!(f.deletes, ["api_keys"]);
}

#[test]
fn a_release_gets_the_content_it_shipped() {
    use super::effects::shipped_effects;
    use crate::core::effects::Variant;
    let main = MigrationEffects {
        version: 371,
        name: "purge".into(),
        locks: vec!["oauth2_provider_app_tokens RowExclusiveLock".into()],
        ..Default::default()
    };
    let old = MigrationEffects {
        version: 371,
        name: "old".into(),
        ..Default::default()
    };
    let effects = crate::core::effects::Effects {
        format_version: crate::core::effects::FORMAT_VERSION,
        provenance: crate::core::effects::EffectsProvenance {
            source: "test".into(),
            postgres_major: 15,
            max_migration: 371,
        },
        main: vec![main],
        irregular: vec![],
        variants: vec![Variant {
            first_tag: "v2.27.0".into(),
            last_tag: "v2.28.4".into(),
            tag_count: 13,
            error: None,
            effects: old,
        }],
        down: Default::default(),
        other_texts: Default::default(),
    };
    for (tag, name) in [
        ("v2.27.0", "old"),
        ("v2.28.4", "old"),
        ("v2.28.5", "purge"),
        ("v2.26.9", "purge"),
        ("v2.36.0", "purge"),
    ] {
        assert_eq!(
            shipped_effects(&effects, 371, tag).unwrap().name,
            name,
            "{tag}"
        );
    }
    assert!(shipped_effects(&effects, 372, "v2.27.0").is_none());
}

/// The per-statement model: each step costs what the table is like when it runs.
mod per_statement {
    use super::*;
    use crate::core::effects::{Step, StepKind};

    const RATES: Rates = Rates {
        index_entry_seconds: Rate {
            fast: 0.000_001,
            slow: 0.000_002,
        },
        foreign_key_check_seconds: Rate {
            fast: 0.000_010,
            slow: 0.000_020,
        },
        join_row_seconds: Rate {
            fast: 0.000_005,
            slow: 0.000_010,
        },
        ..TEST_RATES
    };

    fn step(statement: u32, kind: StepKind, table: &str, rows: u64, of: u64) -> Step {
        Step {
            statement,
            kind,
            table: table.into(),
            rows,
            of,
            detail: (kind == StepKind::IndexBuild).then(|| format!("{table}_idx{statement}")),
        }
    }

    fn api_keys() -> BTreeMap<String, TableSize> {
        // 100,000 rows of 200 bytes (20 MB of heap), 4 indexes, a foreign key to users.
        [(
            "api_keys".to_string(),
            TableSize {
                rows: Some(100_000),
                heap_bytes: 20 * MB,
                total_bytes: 30 * MB,
                indexes: 4,
                foreign_keys: 1,
            },
        )]
        .into_iter()
        .collect()
    }

    fn with_steps(version: Version, steps: Vec<Step>) -> MigrationFacts {
        MigrationFacts {
            steps,
            ..m(version)
        }
    }

    fn forecast_of(pending: Vec<MigrationFacts>) -> Forecast {
        forecast(&ForecastInput {
            pending,
            sizes: Some(&api_keys()),
            one_transaction: true,
            rates: &RATES,
            unavailable: None,
            unknown: Vec::new(),
        })
    }

    fn seconds_of(f: &Forecast, statement: u32) -> (f64, f64) {
        f.updates
            .iter()
            .chain(&f.index_builds)
            .chain(&f.scans)
            .chain(&f.rewrites)
            .find(|w| w.statement == Some(statement))
            .and_then(|w| w.seconds)
            .unwrap()
    }

    #[test]
    fn a_second_pass_over_the_rows_reads_the_dead_versions_and_checks_the_foreign_keys() {
        // 000371 as v2.27.0 shipped it: two UPDATEs of every api_keys row, then SET NOT NULL.
        let f = forecast_of(vec![with_steps(
            371,
            vec![
                step(141, StepKind::Update, "api_keys", 2, 2),
                step(142, StepKind::Update, "api_keys", 2, 2),
                step(143, StepKind::Scan, "api_keys", 0, 0),
            ],
        )]);
        // First pass: read 20 MB (0.05 s), 100,000 rows (1 s), 4 index entries each (0.4 s).
        assert_eq!(seconds_of(&f, 141), (1.45, 2.9));
        // Second: the heap is 40 MB now (0.1 s), and each row the batch wrote is checked
        // against users (1 s).
        assert_eq!(seconds_of(&f, 142), (2.5, 5.0));
        // The scan reads the three versions: 60 MB.
        assert_eq!(seconds_of(&f, 143), (0.15, 0.3));
        assert_eq!(f.updates.len(), 2, "one entry per statement");
        let e = f.estimate.unwrap();
        assert_eq!((e.low_seconds, e.high_seconds), (4.1, 8.2));
    }

    #[test]
    fn an_index_built_earlier_in_the_batch_is_maintained_by_later_updates() {
        let alone = forecast_of(vec![with_steps(
            2,
            vec![step(1, StepKind::Update, "api_keys", 5, 5)],
        )]);
        let after_build = forecast_of(vec![
            with_steps(1, vec![step(1, StepKind::IndexBuild, "api_keys", 0, 0)]),
            with_steps(2, vec![step(1, StepKind::Update, "api_keys", 5, 5)]),
        ]);
        let before = alone.updates[0].seconds.unwrap();
        let after = after_build.updates[0].seconds.unwrap();
        // One more entry per row: 100,000 x 1 us .. 2 us.
        assert_eq!(
            (round2(after.0 - before.0), round2(after.1 - before.1)),
            (0.1, 0.2)
        );
    }

    #[test]
    fn an_index_build_visits_the_dead_versions_an_earlier_update_left() {
        let f = forecast_of(vec![with_steps(
            371,
            vec![
                step(1, StepKind::Update, "api_keys", 2, 2),
                step(2, StepKind::IndexBuild, "api_keys", 0, 0),
                step(3, StepKind::Rewrite, "api_keys", 0, 0),
                step(4, StepKind::IndexBuild, "api_keys", 0, 0),
            ],
        )]);
        // 200,000 versions after the update: 0.2 .. 0.4 s.
        assert_eq!(seconds_of(&f, 2), (0.2, 0.4));
        // The rewrite writes the 40 MB heap and 10 MB of the rest, and leaves 20 MB.
        assert_eq!(seconds_of(&f, 3), (0.5, 1.0));
        assert_eq!(seconds_of(&f, 4), (0.1, 0.2));
    }

    #[test]
    fn an_update_through_a_join_reads_the_rows_it_joins() {
        let mut s = step(2, StepKind::Update, "api_keys", 4, 8);
        s.detail = Some("api_keys".into());
        let f = forecast_of(vec![with_steps(498, vec![s])]);
        // Read 20 MB (0.05 s), 50,000 rows (0.5 s) with 4 entries each (0.2 s), and half of
        // the subquery's 100,000 rows (0.25 s).
        assert_eq!(seconds_of(&f, 2), (1.0, 2.0));
    }

    #[test]
    fn a_data_change_touches_the_share_of_rows_it_touched_in_the_replay() {
        let f = forecast_of(vec![with_steps(
            498,
            vec![
                step(1, StepKind::Update, "api_keys", 0, 8),
                step(2, StepKind::Update, "api_keys", 4, 8),
            ],
        )]);
        // Statement 1 matched none of the fixture rows: a read, nothing written.
        assert_eq!(
            f.updates
                .iter()
                .find(|w| w.statement == Some(1))
                .unwrap()
                .rows,
            Some(0)
        );
        assert_eq!(seconds_of(&f, 1), (0.05, 0.1));
        // Statement 2 touched half of them: 50,000 rows.
        assert_eq!(
            f.updates
                .iter()
                .find(|w| w.statement == Some(2))
                .unwrap()
                .rows,
            Some(50_000)
        );
    }

    #[test]
    fn an_update_of_a_table_that_was_empty_in_the_replay_counts_every_row() {
        let f = forecast_of(vec![with_steps(
            371,
            vec![step(142, StepKind::Update, "api_keys", 0, 0)],
        )]);
        assert_eq!(f.updates[0].rows, Some(100_000));
    }
}
