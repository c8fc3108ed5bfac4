//! `migtag check --db` on every PostgreSQL major Coder supports besides Debian's 15 (which the
//! rest of the suite uses): 13, 16, 17 and 18 from `.ci/pg-matrix` (see `pg.rs`). Each test
//! proves the server really is that major, then that the live-database reader reads a
//! golang-migrate row there and recommends the release it belongs to.

use crate::db::{check_json, coder_db, PW};
use crate::pg::PgCluster;

/// Row (165, false) is what v2.3.1 leaves behind (its newest migration is 000165).
fn check_reads_the_row_on(major: u32) {
    let c = PgCluster::shared_major(major);
    let num: u32 = c
        .sql("postgres", "SHOW server_version_num")
        .parse()
        .expect("server_version_num is a number");
    assert_eq!(
        num / 10000,
        major,
        "{} runs server_version_num {num}, not PostgreSQL {major}",
        c.bin.display()
    );

    let (db, role) = coder_db(c, Some((165, false)));
    let (doc, err, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 0, "PostgreSQL {major}: {doc:#}\nstderr: {err}");
    assert_eq!(doc["state"]["kind"], "clean", "{doc:#}");
    assert_eq!(doc["state"]["version"], 165, "{doc:#}");
    assert_eq!(doc["recommended"]["tag"], "v2.3.1", "{doc:#}");
    assert_eq!(
        doc["recommended"]["image"], "ghcr.io/coder/coder:v2.3.1",
        "{doc:#}"
    );
    // migtag's own reading of the server, not only the harness's.
    let server = doc["database"]["server_version"].as_str().unwrap_or("");
    assert!(
        server.starts_with(&format!("{major}.")),
        "PostgreSQL {major}: migtag reported server_version {server:?}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_pg13,
    ignore = "needs PostgreSQL 13: .ci/pg-matrix or bash .ci/test installs it"
)]
fn check_db_on_postgresql_13() {
    check_reads_the_row_on(13);
}

#[test]
#[cfg_attr(
    migtag_no_pg16,
    ignore = "needs PostgreSQL 16: .ci/pg-matrix or bash .ci/test installs it"
)]
fn check_db_on_postgresql_16() {
    check_reads_the_row_on(16);
}

#[test]
#[cfg_attr(
    migtag_no_pg17,
    ignore = "needs PostgreSQL 17: .ci/pg-matrix or bash .ci/test installs it"
)]
fn check_db_on_postgresql_17() {
    check_reads_the_row_on(17);
}

#[test]
#[cfg_attr(
    migtag_no_pg18,
    ignore = "needs PostgreSQL 18: .ci/pg-matrix or bash .ci/test installs it"
)]
fn check_db_on_postgresql_18() {
    check_reads_the_row_on(18);
}
