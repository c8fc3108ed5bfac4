//! Criterion benchmarks of the decision core: the bundled index (inflate + parse, then
//! decide) and a synthetic index of 1,000 releases x 2,000 migrations (load + decide).
//! Targets (issue 2): the decision under 1 ms on the large index.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use migtag::core::check::{check, CheckOptions};
use migtag::core::gate::{gate, GateOptions};
use migtag::core::{DbState, Index, MigrationSet, Project, Provenance, Release};

/// 1,000 releases in 100 lines of 10 patches; migrations 1..2000 spread over the lines, with
/// a gap in every 7th release so that sets are not all plain prefixes.
fn synthetic_index() -> Index {
    let mut releases = Vec::new();
    for line in 0..100u64 {
        for patch in 0..10u64 {
            let max = 20 * line + 2 * patch / 2 + 20;
            let mut set = MigrationSet::range(1, max);
            if (line * 10 + patch) % 7 == 0 && max > 10 {
                set = set.difference(&MigrationSet::range(max - 5, max - 5));
            }
            let tag = format!("v1.{line}.{patch}");
            releases.push(Release::new(&tag, set).unwrap());
        }
    }
    let names: BTreeMap<u64, String> = (1..=2000)
        .map(|v| (v, format!("migration_number_{v}")))
        .collect();
    let provenance = Provenance {
        source: "bench".into(),
        detail: "synthetic".into(),
        generated_at: "2026-01-01".into(),
        complete: true,
    };
    Index::new(Project::coder(), provenance, releases, names).unwrap()
}

fn benches(c: &mut Criterion) {
    let bundled = migtag::bundled::load().unwrap();
    let opts = CheckOptions::default();
    c.bench_function("bundled: load (inflate + parse + validate)", |b| {
        b.iter(|| black_box(migtag::bundled::load().unwrap()))
    });
    c.bench_function("bundled: check --version 165", |b| {
        b.iter(|| black_box(check(&bundled, &DbState::Clean(black_box(165)), &opts)))
    });
    c.bench_function("bundled: check --version 168 --dirty", |b| {
        b.iter(|| black_box(check(&bundled, &DbState::Dirty(black_box(168)), &opts)))
    });

    // Schema identity: the expected schema of v2.36.0 (556 migrations) named from the
    // bundled effects, every sequence walked once.
    let effects = migtag::bundled::effects().unwrap();
    let mut schema = migtag::core::schema::Catalog::default();
    for m in &effects.main {
        schema.apply(&m.diff);
    }
    c.bench_function("identity: the v2.36.0 schema (all sequences)", |b| {
        b.iter(|| {
            black_box(migtag::core::identity::identify(
                &effects,
                &bundled,
                black_box(&schema),
                Some(556),
            ))
        })
    });

    let large = synthetic_index();
    let large_json = large.to_json();
    c.bench_function("large 1000x2000: load from JSON", |b| {
        b.iter(|| black_box(Index::from_json(black_box(&large_json)).unwrap()))
    });
    c.bench_function("large 1000x2000: check (decide only)", |b| {
        b.iter(|| black_box(check(&large, &DbState::Clean(black_box(1000)), &opts)))
    });
    c.bench_function("large 1000x2000: gate (decide only)", |b| {
        b.iter(|| {
            black_box(gate(
                &large,
                &DbState::Clean(1000),
                "v1.99.9",
                &GateOptions::default(),
            ))
        })
    });
    c.bench_function("large 1000x2000: load + check", |b| {
        b.iter(|| {
            let index = Index::from_json(black_box(&large_json)).unwrap();
            black_box(check(&index, &DbState::Clean(1000), &opts))
        })
    });
}

criterion_group! {
    name = decide;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(decide);
