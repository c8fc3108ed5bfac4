//! `migtag index effects`: the generator replays Coder's real SQL on a scratch database it
//! creates and drops. Regenerating on PostgreSQL 15 must give the committed
//! `data/coder-effects.json` byte for byte.

use crate::coder_sql::{source, tarball};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

fn scratch_url(c: &PgCluster, user: &str) -> String {
    format!(
        "postgresql://{user}@/postgres?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

fn scratch_databases(c: &PgCluster) -> String {
    c.sql(
        "postgres",
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'migtag_effects_%'",
    )
}

#[test]
fn regenerating_on_postgresql_15_gives_the_committed_bytes() {
    if source().is_none() {
        return;
    }
    // Its own server: the other tests here check that no scratch database is left behind.
    let c = &PgCluster::start(false);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("effects.json");
    let (stdout, err, code) = run(migtag()
        .args(["index", "effects", "--sql"])
        .arg(tarball())
        .args(["--scratch-db", &scratch_url(c, "postgres"), "--out"])
        .arg(&file));
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(err.contains("556 migrations, 2 irregular sets"), "{err}");
    let fresh = std::fs::read_to_string(&file).unwrap();
    let mut committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/coder-effects.json"
    ))
    .unwrap();
    // The maintainers' refresh extends the committed effects beyond the tarball with
    // `index update --effects` (docs/verify.md): the part the tarball covers must still be
    // what it replays to, byte for byte.
    let replayed = migtag::core::effects::Effects::from_json(&fresh).unwrap();
    let mut extended = migtag::core::effects::Effects::from_json(&committed).unwrap();
    let max = replayed.provenance.max_migration;
    if extended.provenance.max_migration > max {
        extended.main.retain(|m| m.version <= max);
        extended.variants.retain(|v| v.effects.version <= max);
        extended.down.retain(|v, _| *v <= max);
        extended.provenance = replayed.provenance.clone();
        committed = extended.to_json();
    }
    assert!(
        fresh == committed,
        "data/coder-effects.json differs from a fresh replay: regenerate it (docs/verify.md)"
    );
    assert_eq!(scratch_databases(c), "", "the scratch database was dropped");
}

#[test]
fn a_role_without_createdb_is_refused_before_anything_is_written() {
    let c = PgCluster::shared();
    let role = c.create_role("nocreatedb", "pw");
    let url = format!(
        "postgresql://{role}:pw@127.0.0.1:{}/postgres?sslmode=disable",
        c.port
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("migration-files.tsv"),
        "file\tversion\tname\tdirection\tblob\ttag_count\tfirst_tag\tlast_tag\ttags\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(
        dir.path().join("migrations/b1.sql"),
        "CREATE TABLE a (id int);\n",
    )
    .unwrap();
    let mut tsv = std::fs::read_to_string(dir.path().join("migration-files.tsv")).unwrap();
    tsv.push_str("000001_a.up.sql\t000001\ta\tup\tb1\t1\tv0.1.0\tv0.1.0\tv0.1.0\n");
    std::fs::write(dir.path().join("migration-files.tsv"), tsv).unwrap();
    let (out, err, code) = run(migtag()
        .args(["index", "effects", "--sql"])
        .arg(dir.path())
        .args(["--scratch-db", &url, "--out"])
        .arg(dir.path().join("x.json")));
    assert_eq!(code, 10, "{out}\n{err}");
    assert!(
        err.contains(&format!("role {role} may not create databases")),
        "{err}"
    );
    assert!(!err.contains(":pw@"), "no password in messages: {err}");
    assert!(!dir.path().join("x.json").exists());
}

#[test]
fn a_failing_migration_names_its_file_statement_and_error_and_the_scratch_database_goes() {
    let c = PgCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(
        dir.path().join("migrations/b1.sql"),
        "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migrations/b2.sql"),
        "CREATE TABLE b (id int);\nALTER TABLE a ADD COLUMN x no_such_type;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migration-files.tsv"),
        "file\tversion\tname\tdirection\tblob\ttag_count\tfirst_tag\tlast_tag\ttags\n\
         000001_a.up.sql\t000001\ta\tup\tb1\t1\tv0.1.0\tv0.1.0\tv0.1.0\n\
         000002_b.up.sql\t000002\tb\tup\tb2\t1\tv0.1.0\tv0.1.0\tv0.1.0\n",
    )
    .unwrap();
    let (out, err, code) = run(migtag()
        .args(["index", "effects", "--sql"])
        .arg(dir.path())
        .args(["--scratch-db", &scratch_url(c, "postgres"), "--out"])
        .arg(dir.path().join("x.json")));
    assert_eq!(code, 12, "{out}\n{err}");
    assert!(
        err.contains("000002_b.up.sql failed at `ALTER TABLE a ADD COLUMN x no_such_type`: type \"no_such_type\" does not exist"),
        "{err}"
    );
    assert_eq!(scratch_databases(c), "");
}

/// A coder/coder clone's working tree (one content per file) gives the same effects as the
/// tarball for the same contents: here the first 30 migrations with their newest contents.
#[test]
fn a_clone_layout_replays_like_the_tarball() {
    let Some(src) = source() else {
        return;
    };
    // Its own server: another test here checks that no scratch database is left behind.
    let c = &PgCluster::start(false);
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("coderd/database/migrations");
    std::fs::create_dir_all(migrations.join("testdata/fixtures")).unwrap();
    for v in 1..=30u64 {
        for up in [true, false] {
            if let Some(f) = src.newest(v, up) {
                let kind = if up { "up" } else { "down" };
                std::fs::write(
                    migrations.join(format!("{v:06}_{}.{kind}.sql", f.name)),
                    &f.text,
                )
                .unwrap();
            }
        }
        for (name, sql) in src.fixtures.get(&v).map(Vec::as_slice).unwrap_or_default() {
            std::fs::write(migrations.join("testdata/fixtures").join(name), sql).unwrap();
        }
    }
    let out = dir.path().join("effects.json");
    let (stdout, err, code) = run(migtag()
        .args(["index", "effects", "--sql"])
        .arg(dir.path())
        .args(["--scratch-db", &scratch_url(c, "postgres"), "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{stdout}\n{err}");
    let fresh: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let committed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/coder-effects.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(fresh["main"].as_array().unwrap().len(), 30);
    assert_eq!(
        fresh["main"].as_array().unwrap()[..],
        committed["main"].as_array().unwrap()[..30]
    );
    assert_eq!(fresh["irregular"], serde_json::json!([]));
    assert_eq!(fresh["variants"], serde_json::json!([]));
}
