//! Coder's real migration SQL for the tests: read from `../shared/reference/coder-sql.tar.gz`
//! (relative to the repository root; it never enters the repository). Missing under
//! `CI=true` is a failure; elsewhere the tests that need it show as ignored with the reason.
//!
//! Schemas are built by replaying the real files through psql, each file in its own
//! transaction without its own BEGIN/COMMIT (as `index effects` runs them), into template
//! databases built once per test process and copied per test.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use migtag::adapters::coder_sql::{self, SqlSource};
use migtag::core::sql_text::{is_transaction_control, split_statements};

use crate::pg::{unique, PgCluster};

pub fn tarball() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/coder-sql.tar.gz")
}

/// The SQL. A missing tarball panics: the tests that read it carry
/// `#[cfg_attr(migtag_no_coder_sql, ignore = ...)]` (build.rs sets the flag outside CI when
/// the tarball is missing), so they show as ignored with the reason there, and fail in CI.
pub fn source() -> &'static SqlSource {
    static SRC: OnceLock<SqlSource> = OnceLock::new();
    SRC.get_or_init(|| {
        let path = tarball();
        assert!(
            path.is_file(),
            "{} is missing: the schema-verification tests need Coder's SQL there",
            path.display()
        );
        coder_sql::load(&path).expect("the reference tarball reads")
    })
}

/// The text of migration `v`'s `.up.sql` as `tag` shipped it (None: the newest content),
/// without its own BEGIN/COMMIT.
pub fn up_sql(v: u64, tag: Option<&str>) -> String {
    let src = source();
    let f = tag
        .and_then(|t| src.at_tag(v, t))
        .or_else(|| src.newest(v, true))
        .unwrap_or_else(|| panic!("no {v:06}.up.sql"));
    split_statements(&f.text)
        .into_iter()
        .filter(|s| !is_transaction_control(&s.text))
        .map(|s| s.text + ";\n")
        .collect()
}

/// The statements of `v`'s newest `.up.sql` (without transaction control).
pub fn up_statements(v: u64) -> Vec<String> {
    let src = source();
    split_statements(&src.newest(v, true).unwrap().text)
        .into_iter()
        .filter(|s| !is_transaction_control(&s.text))
        .map(|s| s.text)
        .collect()
}

/// Runs SQL text in `db` through a file (`\i`), stopping at the first error.
pub fn run_script(cluster: &PgCluster, db: &str, sql: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.sql");
    std::fs::write(&path, sql).unwrap();
    cluster.sql(db, &format!("\\i {}", path.display()));
}

/// Replays `versions` in order, each file in its own transaction.
pub fn replay(
    cluster: &PgCluster,
    db: &str,
    versions: impl IntoIterator<Item = u64>,
    tag: Option<&str>,
) {
    let mut script = String::new();
    for v in versions {
        script.push_str("BEGIN;\n");
        script.push_str(&up_sql(v, tag));
        script.push_str("COMMIT;\n");
    }
    run_script(cluster, db, &script);
}

/// A new database holding the schema of `versions` (built once per key, then copied).
/// Each key has its own cell: the map's lock is held only to find the cell, so templates of
/// different keys build in parallel and a test waits only for the template it needs.
pub fn database_with(
    cluster: &'static PgCluster,
    key: &str,
    versions: Vec<u64>,
    tag: Option<&str>,
) -> String {
    type Cells = Mutex<HashMap<String, &'static OnceLock<String>>>;
    static TEMPLATES: OnceLock<Cells> = OnceLock::new();
    let cell: &'static OnceLock<String> = TEMPLATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_insert_with(|| Box::leak(Box::default()));
    let template = cell.get_or_init(|| {
        let name = cluster.create_db("tmpl");
        replay(cluster, &name, versions, tag);
        name
    });
    let name = unique("verify");
    cluster.sql(
        "postgres",
        &format!("CREATE DATABASE {name} TEMPLATE {template}"),
    );
    name
}

/// golang-migrate's table with one row.
pub fn set_row(cluster: &PgCluster, db: &str, version: u64, dirty: bool) {
    cluster.sql(
        db,
        &format!(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); \
             DELETE FROM schema_migrations; INSERT INTO schema_migrations VALUES ({version}, {dirty})"
        ),
    );
}

/// Coder's `dump.sql` at the tags the tarball holds: (tag, SQL).
pub fn tarball_dumps() -> Vec<(String, String)> {
    use std::io::Read;
    let f = std::fs::File::open(tarball()).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if let Some(tag) = path
            .strip_prefix("coder-sql/dumps/")
            .and_then(|n| n.strip_suffix(".dump.sql"))
        {
            let tag = tag.to_string();
            let mut sql = String::new();
            entry.read_to_string(&mut sql).unwrap();
            out.push((tag, sql));
        }
    }
    out.sort();
    out
}
