//! `migtag index export`: the bundled index and the reference tables round-trip, and a
//! refresh merges a newer index into the tables only when it agrees with every verified row.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{migtag, run};
use migtag::core::index::Index;
use migtag::input::tables;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn reference(name: &str) -> String {
    std::fs::read_to_string(repo_file(&format!("data/reference/{name}"))).unwrap()
}

/// Copies of the verified tables in a scratch folder: (dir, tags, migrations).
fn table_copies() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tags = dir.path().join("coder-tags.tsv");
    let migrations = dir.path().join("coder-migrations.tsv");
    std::fs::write(&tags, reference("coder-tags.tsv")).unwrap();
    std::fs::write(&migrations, reference("coder-migrations.tsv")).unwrap();
    (dir, tags, migrations)
}

fn export(index: &Path, tags: &Path, migrations: &Path, extra: &[&str]) -> (Value, String, i32) {
    let (out, err, code) = run(migtag()
        .arg("--index")
        .arg(index)
        .args(["--format", "json", "index", "export", "--tags"])
        .arg(tags)
        .arg("--migrations")
        .arg(migrations)
        .args(extra));
    (serde_json::from_str(&out).unwrap_or(Value::Null), err, code)
}

#[test]
fn export_of_the_bundled_index_reproduces_the_tables_byte_for_byte() {
    let bundled = migtag::bundled::load().unwrap();
    let (tags_tsv, migrations_tsv) = (
        reference("coder-tags.tsv"),
        reference("coder-migrations.tsv"),
    );
    // Library: every column but forks_carrying_tag comes from the index.
    let e = tables::export(&bundled, Some((&tags_tsv, &migrations_tsv))).unwrap();
    assert!(e.tags_tsv == tags_tsv, "the tag table does not round-trip");
    assert!(
        e.migrations_tsv == migrations_tsv,
        "the migration table does not round-trip"
    );
    assert_eq!((e.agreed, e.added.len(), e.kept.len()), (369, 0, 0));
    // import(export(index)) == index.
    let again = tables::import(
        &e.tags_tsv,
        &e.migrations_tsv,
        &bundled.provenance.generated_at,
    )
    .unwrap();
    assert_eq!(again, bundled);
    assert!(again.to_json() == migtag::bundled::json().unwrap());

    // With no tables to merge into, the rows still come out the same, apart from the last
    // column, which then names the index's source instead of a fork count.
    let fresh = tables::export(&bundled, None).unwrap();
    assert!(fresh.migrations_tsv == migrations_tsv);
    for (a, b) in fresh.tags_tsv.lines().zip(tags_tsv.lines()).skip(1) {
        let (a, b) = (a.rsplit_once('\t').unwrap(), b.rsplit_once('\t').unwrap());
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, "bundled");
    }
    assert_eq!(fresh.tags_tsv.lines().count(), tags_tsv.lines().count());

    // Command line: the files are regenerated from the index, same bytes.
    let (_dir, tags, migrations) = table_copies();
    let (doc, err, code) = export(&repo_file("data/coder-index.json"), &tags, &migrations, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["written"], true);
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["agreed"], 369);
    assert!(std::fs::read_to_string(&tags).unwrap() == tags_tsv);
    assert!(std::fs::read_to_string(&migrations).unwrap() == migrations_tsv);
}

/// An index shaped like `index update --refresh` output for coder/coder: GitHub's UTC dates,
/// the fallback folder; v0.1.x/v0.2.x left out (as a skipped tag would be), one release newer
/// than the tables.
fn github_like_index(edit: impl FnOnce(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let mut doc: Value = serde_json::from_str(&migtag::bundled::json().unwrap()).unwrap();
    doc["provenance"] = serde_json::json!({
        "source": "github",
        "detail": "https://api.github.com/repos/coder/coder (coderd/database/migrations)",
        "generated_at": "2026-12-01T06:00:00Z",
        "complete": true
    });
    doc["project"]["fallback_migrations_paths"] = serde_json::json!(["database/migrations"]);
    let releases = doc["releases"].as_array_mut().unwrap();
    releases.retain(|r| {
        let t = r["tag"].as_str().unwrap();
        !t.starts_with("v0.1.") && !t.starts_with("v0.2.")
    });
    for r in releases.iter_mut() {
        let d = r["date"].as_str().unwrap();
        let utc = time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        r["date"] = utc.into();
    }
    releases.push(serde_json::json!({
        "tag": "v2.36.1",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "date": "2026-12-01T05:00:00Z",
        "max_migration": 557,
        "migrations": "1-557"
    }));
    doc["migrations"]["557"] = "a_migration_after_the_tables".into();
    edit(&mut doc);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("github-index.json");
    let text = serde_json::to_string(&doc).unwrap();
    Index::from_json(&text).expect("the test index is valid");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn a_refresh_appends_new_tags_keeps_verified_rows_and_imports() {
    let (_idir, index) = github_like_index(|_| {});
    let (dir, tags, migrations) = table_copies();
    let old_tags = reference("coder-tags.tsv");

    // --check reports and writes nothing.
    let (doc, err, code) = export(&index, &tags, &migrations, &["--check"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["written"], false);
    assert_eq!(doc["changed"], true);
    assert!(std::fs::read_to_string(&tags).unwrap() == old_tags);

    let (doc, err, code) = export(&index, &tags, &migrations, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["added"], serde_json::json!(["v2.36.1"]));
    assert_eq!(doc["added_migrations"], serde_json::json!([557]));
    let kept: Vec<&str> = doc["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        !kept.is_empty()
            && kept
                .iter()
                .all(|t| t.starts_with("v0.1.") || t.starts_with("v0.2.")),
        "{kept:?}"
    );
    assert_eq!(doc["agreed"].as_u64().unwrap() as usize + kept.len(), 369);

    // Every verified row is kept byte for byte (dates keep the survey's offsets); the new
    // tag is appended with its source instead of a fork count.
    let new_tags = std::fs::read_to_string(&tags).unwrap();
    assert!(new_tags.starts_with(&old_tags), "a verified row changed");
    assert_eq!(
        &new_tags[old_tags.len()..],
        "v2.36.1\t0123456789abcdef0123456789abcdef01234567\t2026-12-01T05:00:00Z\t557\t1-557\tno\tgithub\n"
    );
    let new_migrations = std::fs::read_to_string(&migrations).unwrap();
    assert!(new_migrations.starts_with(&reference("coder-migrations.tsv")));
    assert!(new_migrations.ends_with("557\ta_migration_after_the_tables\tv2.36.1\n"));

    // The import takes the merged tables, and says where the new row came from.
    let out = dir.path().join("coder-index.json");
    let (_, err, code) = run(migtag()
        .args(["index", "import", "--generated-at", "2026-12-01", "--tags"])
        .arg(&tags)
        .arg("--migrations")
        .arg(&migrations)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    let merged = Index::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let bundled = migtag::bundled::load().unwrap();
    assert_eq!(merged.releases().len(), 370);
    for r in bundled.releases() {
        assert_eq!(merged.release(&r.tag), Some(r), "{}", r.tag);
    }
    assert_eq!(merged.release("v2.36.1").unwrap().max_migration, 557);
    assert_eq!(merged.provenance.source, "bundled");
    assert!(!merged.provenance.complete);
    let detail = &merged.provenance.detail;
    assert!(
        detail.contains("1 tag (v2.36.1 to v2.36.1) from GitHub's API for coder/coder")
            && detail.ends_with(
                "not included: v2.36.2 and later, and any patch of an older line tagged after \
                 2026-12-01 (the latest tag date in the tables)"
            ),
        "{detail}"
    );
    // And a second export of the same index changes nothing.
    let (doc, err, code) = export(&index, &tags, &migrations, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["changed"], false);
    assert!(std::fs::read_to_string(&tags).unwrap() == new_tags);
}

#[test]
fn a_refresh_that_disagrees_with_a_verified_row_writes_nothing() {
    let (_idir, index) = github_like_index(|doc| {
        for r in doc["releases"].as_array_mut().unwrap() {
            if r["tag"] == "v2.21.1" {
                r["commit"] = "ffffffffffffffffffffffffffffffffffffffff".into();
            }
            if r["tag"] == "v2.20.0" {
                r["date"] = "2020-01-01T00:00:00Z".into();
            }
        }
        doc["migrations"]["314"] = "renamed".into();
    });
    let (_dir, tags, migrations) = table_copies();
    let (_, err, code) = export(&index, &tags, &migrations, &[]);
    assert_eq!(code, 12, "{err}");
    for needle in [
        "disagrees with the verified tables on 3 row(s)",
        "v2.21.1: commit is `",
        "v2.20.0: the date is `",
        "migration 314: the name is `prebuilds` in the table but `renamed` in the index",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    assert!(std::fs::read_to_string(&tags).unwrap() == reference("coder-tags.tsv"));
    assert!(std::fs::read_to_string(&migrations).unwrap() == reference("coder-migrations.tsv"));
}

#[test]
fn export_refuses_another_project_and_half_a_pair_of_tables() {
    let (_idir, index) = github_like_index(|doc| doc["project"]["repo"] = "acme/coder".into());
    let (dir, tags, migrations) = table_copies();
    let (_, err, code) = export(&index, &tags, &migrations, &[]);
    assert_eq!(code, 12, "{err}");
    assert!(err.contains("this index is of acme/coder"), "{err}");
    let (_, err, code) = export(
        &repo_file("data/coder-index.json"),
        &tags,
        &dir.path().join("missing.tsv"),
        &[],
    );
    assert_eq!(code, 12, "{err}");
    assert!(err.contains("one pair"), "{err}");
}

/// The refresh workflow runs update -> export -> import -> tests, in that order, writes the
/// fetched index outside data/, and proposes the tables with the index. Each migtag command
/// line in it parses with the real CLI definition.
#[test]
fn refresh_workflow_fetches_then_merges_then_imports() {
    let doc: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_file(".github/workflows/refresh-index.yml")).unwrap(),
    )
    .unwrap();
    let steps = doc["jobs"]["refresh"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let script = runs.join("\n");
    let pos = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing from the workflow:\n{script}"))
    };
    let order = [
        pos("index update"),
        pos("index export"),
        pos("index import"),
        pos("cargo test"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(
        !script.contains("--out data/coder-index.json"),
        "update must not overwrite the bundled index"
    );
    let pr = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("peter-evans/create-pull-request"))
        })
        .unwrap();
    let paths = pr["with"]["add-paths"].as_str().unwrap();
    for p in [
        "data/coder-index.json",
        "data/reference/coder-tags.tsv",
        "data/reference/coder-migrations.tsv",
        "data/coder-effects.json",
    ] {
        assert!(paths.contains(p), "{paths}");
    }
    // The effects are extended on a PostgreSQL service container, before the tests run.
    let service = &doc["jobs"]["refresh"]["services"]["postgres"];
    assert!(
        service["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:15"),
        "{service:?}"
    );
    let effects = pos("--effects --scratch-db");
    assert!(effects < pos("cargo test"));
    assert!(script.contains("--effects-out data/coder-effects.json"));
    use clap::Parser;
    let mut seen = 0;
    for line in script.replace("\\\n", " ").lines() {
        let Some(rest) = line.split("cargo run --release --quiet --").nth(1) else {
            continue;
        };
        let words: Vec<String> = std::iter::once("migtag".to_string())
            .chain(
                rest.split_whitespace()
                    .take_while(|w| *w != "\\" && *w != ">" && *w != "|")
                    .map(|w| w.trim_matches('"').to_string()),
            )
            .collect();
        migtag::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
        seen += 1;
    }
    assert!(seen >= 3, "{script}");
}
