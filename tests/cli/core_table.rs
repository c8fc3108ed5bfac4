//! Table tests of the decision core on the synthetic indexes in `fixtures/indexes/` (test
//! data, not Coder releases). Each row: a state and options in, the verdict, recommended
//! tag and exit code out.

use migtag::core::check::{check, CheckOptions, Verdict};
use migtag::core::gate::{gate, GateOptions, GateVerdict};
use migtag::core::{DbState, Index};

use crate::common::fixture;

fn load(name: &str) -> Index {
    let text = std::fs::read_to_string(fixture(&format!("indexes/{name}"))).unwrap();
    Index::from_json(&text).unwrap()
}

struct Case {
    index: &'static str,
    state: DbState,
    deployed: Option<&'static str>,
    pre: bool,
    verdict: Verdict,
    recommended: Option<&'static str>,
    exit: i32,
}

fn case(
    index: &'static str,
    state: DbState,
    verdict: Verdict,
    recommended: Option<&'static str>,
    exit: i32,
) -> Case {
    Case {
        index,
        state,
        deployed: None,
        pre: false,
        verdict,
        recommended,
        exit,
    }
}

#[test]
fn check_decides_by_sets_not_semver() {
    use DbState::*;
    let cases = vec![
        // Several lines stop at 10: the newest patch of the OLDEST line wins.
        case("lines.json", Clean(10), Verdict::Exact, Some("v1.0.2"), 0),
        // 12 is reached by v1.0.3 (a patch of the older line) and v1.1.1: oldest line wins.
        case("lines.json", Clean(12), Verdict::Exact, Some("v1.0.3"), 0),
        // 11: only v1.1.0 stops there, although v1.0.3 (older by semver) contains it.
        case("lines.json", Clean(11), Verdict::Exact, Some("v1.1.0"), 0),
        // The deployed tag wins when it is exact.
        Case {
            deployed: Some("v1.0.1"),
            ..case("lines.json", Clean(10), Verdict::Exact, Some("v1.0.1"), 0)
        },
        // A deployed tag that is not exact does not win.
        Case {
            deployed: Some("v1.1.1"),
            ..case("lines.json", Clean(10), Verdict::Exact, Some("v1.0.2"), 0)
        },
        // 14: only a pre-release stops there; without opting in, nothing final contains 14.
        case("lines.json", Clean(14), Verdict::UnknownVersion, None, 5),
        Case {
            pre: true,
            ..case(
                "lines.json",
                Clean(14),
                Verdict::Exact,
                Some("v1.2.0-rc.0"),
                0,
            )
        },
        // 13 with pre-releases: the final v1.2.0 is exact; rc.1 (15) is compatible only.
        Case {
            pre: true,
            ..case("lines.json", Clean(13), Verdict::Exact, Some("v1.2.0"), 0)
        },
        // Beyond every release.
        case("lines.json", Clean(99), Verdict::AheadOfIndex, None, 5),
        Case {
            pre: true,
            ..case("lines.json", Clean(16), Verdict::AheadOfIndex, None, 5)
        },
        // Below the first migration: no release contains it, but it is not ahead.
        case("lines.json", Clean(0), Verdict::UnknownVersion, None, 5),
        case(
            "late-start.json",
            Clean(3),
            Verdict::UnknownVersion,
            None,
            5,
        ),
        // No release stops at 7 in the irregular line; the fewest-migrations container wins.
        case(
            "irregular.json",
            Clean(7),
            Verdict::UpgradeNeededToStart,
            Some("v3.1.0"),
            0,
        ),
        case(
            "irregular.json",
            Clean(10),
            Verdict::Exact,
            Some("v3.0.1"),
            0,
        ),
        case(
            "late-start.json",
            Clean(7),
            Verdict::UpgradeNeededToStart,
            Some("v0.1.0"),
            0,
        ),
        case("lines.json", Fresh, Verdict::Fresh, Some("v1.2.0"), 0),
        case("empty.json", Fresh, Verdict::Fresh, None, 0),
        case("empty.json", Clean(5), Verdict::AheadOfIndex, None, 5),
        case("lines.json", Dirty(5), Verdict::Dirty, None, 4),
        case("lines.json", V1, Verdict::V1, None, 4),
    ];
    for c in cases {
        let index = load(c.index);
        let opts = CheckOptions {
            deployed: c.deployed.map(str::to_string),
            include_prereleases: c.pre,
            ..CheckOptions::default()
        };
        let report = check(&index, &c.state, &opts);
        let label = format!(
            "{} {:?} deployed={:?} pre={}",
            c.index, c.state, c.deployed, c.pre
        );
        assert_eq!(report.verdict, c.verdict, "{label}: {}", report.summary);
        assert_eq!(
            report.recommended.as_ref().map(|r| r.release.tag.as_str()),
            c.recommended,
            "{label}"
        );
        assert_eq!(report.exit_code().code(), c.exit, "{label}");
    }
}

#[test]
fn compatible_recommendation_names_what_it_applies_and_skips() {
    let index = load("irregular.json");
    // v3.0.1 wrote 10 (it alone has 10); v3.1.0 applies 11-12 and never runs 7 and 9.
    let report = check(&index, &DbState::Clean(10), &CheckOptions::default());
    let alt = report
        .alternatives
        .iter()
        .find(|a| a.release.tag == "v3.1.0")
        .unwrap();
    assert_eq!(alt.applies_count, 2);
    let skipped: Vec<u64> = alt.skips[0].migrations.iter().map(|m| m.version).collect();
    assert_eq!(skipped, [7, 9]);
    assert_eq!(alt.skips[0].assumes, ["v3.0.1"]);
    // v3.0.2 is newer than v3.0.1 but lacks 10: it cannot start.
    assert!(report
        .alternatives
        .iter()
        .any(|a| a.release.tag == "v3.0.2"
            && a.relation == migtag::core::check::Relation::CannotStart));
}

#[test]
fn dirty_at_first_migration_removes_the_row() {
    let index = load("late-start.json");
    let report = check(&index, &DbState::Dirty(5), &CheckOptions::default());
    let d = report.dirty.unwrap();
    assert_eq!(d.cleanups.len(), 1);
    assert_eq!(d.cleanups[0].previous, None);
    assert_eq!(
        d.cleanups[0].sql,
        "DELETE FROM schema_migrations WHERE version = 5 AND dirty;"
    );
    assert_eq!(d.run_after_cleanup.unwrap().tag, "v0.1.0");
}

#[test]
fn dirty_with_disagreeing_writers_names_each_cleanup() {
    let index = load("irregular.json");
    // 8 follows 6 in v3.0.x (no 7) and 7 in v3.1.0.
    let d = check(&index, &DbState::Dirty(8), &CheckOptions::default())
        .dirty
        .unwrap();
    let prevs: Vec<Option<u64>> = d
        .cleanups
        .iter()
        .map(|c| c.previous.as_ref().map(|p| p.version))
        .collect();
    assert_eq!(prevs, [Some(6), Some(7)]);
    assert_eq!(d.cleanups[0].assumes, ["v3.0.0", "v3.0.1", "v3.0.2"]);
    assert_eq!(d.cleanups[1].assumes, ["v3.1.0"]);
    assert!(d.cleanups[1]
        .sql
        .contains("SET version = 7, dirty = false WHERE version = 8 AND dirty"));
    // --deployed picks one.
    let opts = CheckOptions {
        deployed: Some("v3.1.0".into()),
        ..Default::default()
    };
    let d = check(&index, &DbState::Dirty(8), &opts).dirty.unwrap();
    assert_eq!(d.cleanups.len(), 1);
    assert_eq!(d.cleanups[0].previous.as_ref().unwrap().version, 7);
}

#[test]
fn partial_index_is_said_whenever_it_could_change_the_answer() {
    let partial = load("partial.json");
    let complete = load("lines.json");
    for (v, index, expect) in [
        (10, &partial, true),
        (20, &partial, true),
        (99, &partial, true),
        (10, &complete, false),
    ] {
        let report = check(index, &DbState::Clean(v), &CheckOptions::default());
        let says = report
            .warnings
            .iter()
            .any(|w| w.contains("the index is partial"));
        assert_eq!(says, expect, "v={v}: {:?}", report.warnings);
        assert_eq!(report.index.complete, !expect);
    }
}

#[test]
fn gate_compares_sets_never_semver() {
    use DbState::*;
    let lines = load("lines.json");
    let irregular = load("irregular.json");
    type GateCase<'a> = (
        &'a Index,
        DbState,
        &'a str,
        Option<&'a str>,
        GateVerdict,
        usize,
    );
    let cases: Vec<GateCase> = vec![
        (&lines, Clean(10), "v1.1.0", None, GateVerdict::Safe, 1),
        // v1.1.0 is newer by semver than v1.0.3 but lacks 12.
        (&lines, Clean(12), "v1.1.0", None, GateVerdict::Unsafe, 0),
        (&lines, Clean(12), "v1.2.0", None, GateVerdict::Safe, 1),
        (&lines, Fresh, "v1.0.0", None, GateVerdict::Safe, 10),
        (
            &lines,
            Clean(10),
            "v9.0.0",
            None,
            GateVerdict::UnknownTarget,
            0,
        ),
        (
            &lines,
            Dirty(10),
            "v1.2.0",
            None,
            GateVerdict::NeedsHuman,
            0,
        ),
        (&lines, V1, "v1.2.0", None, GateVerdict::NeedsHuman, 0),
        // Written by v3.0.1 (has 10, lacks 7 and 9): v3.1.0 would skip them.
        (
            &irregular,
            Clean(10),
            "v3.1.0",
            None,
            GateVerdict::Unsafe,
            2,
        ),
        (
            &irregular,
            Clean(8),
            "v3.1.0",
            Some("v3.0.0"),
            GateVerdict::Unsafe,
            4,
        ),
        (
            &irregular,
            Clean(8),
            "v3.0.1",
            Some("v3.0.0"),
            GateVerdict::Safe,
            1,
        ),
    ];
    for (index, state, target, deployed, verdict, pending) in cases {
        let opts = GateOptions {
            deployed: deployed.map(str::to_string),
            ..Default::default()
        };
        let report = gate(index, &state, target, &opts);
        assert_eq!(
            report.verdict, verdict,
            "{state:?} -> {target}: {}",
            report.summary
        );
        assert_eq!(report.safe, verdict == GateVerdict::Safe);
        assert_eq!(report.pending.len(), pending, "{state:?} -> {target}");
    }
    let opts = GateOptions {
        max_pending: Some(0),
        ..Default::default()
    };
    assert_eq!(
        gate(&lines, &Clean(10), "v1.1.0", &opts).verdict,
        GateVerdict::Unsafe
    );
}
