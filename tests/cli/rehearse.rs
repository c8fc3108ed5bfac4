//! `gate --rehearse`: the live schema copied with pg_dump (no data) into a scratch database,
//! the target's pending migrations run there in one transaction. On schemas built from
//! Coder's real SQL (coder_sql.rs) on real PostgreSQL 15: a real failure (000323 after
//! v2.21.1's set), a clean path, drift, the scratch database dropped, the live database
//! untouched, the password kept out of the output.

use assert_cmd::Command;

use serde_json::Value;

use crate::coder_sql::{database_with, set_row, tarball};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

pub(crate) fn url(c: &PgCluster, db: &str) -> String {
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

fn v2_21_1(c: &'static PgCluster) -> String {
    let set: Vec<u64> = (1..=310).chain([312, 313, 316]).collect();
    let db = database_with(c, "v2.21.1", set, Some("v2.21.1"));
    set_row(c, &db, 316, false);
    db
}

fn v2_26_0(c: &'static PgCluster) -> String {
    let db = database_with(c, "forecast-v2.26.0", (1..=362).collect(), Some("v2.26.0"));
    set_row(c, &db, 362, false);
    db
}

/// `cmd gate --db DB --target T --rehearse --scratch-db S --sql <tarball>`.
fn gate_rehearse(
    mut cmd: Command,
    db_url: &str,
    scratch_url: &str,
    target: &str,
) -> (String, String, i32) {
    let tarball = tarball().display().to_string();
    run(cmd.args([
        "gate",
        "--db",
        db_url,
        "--target",
        target,
        "--rehearse",
        "--scratch-db",
        scratch_url,
        "--sql",
        &tarball,
    ]))
}

/// `gate --rehearse` as JSON: (document, stderr, exit code, stdout).
fn rehearse(db_url: &str, scratch_url: &str, target: &str) -> (Value, String, i32, String) {
    let (out, err, code) = gate_rehearse(
        {
            let mut c = migtag();
            c.args(["--format", "json"]);
            c
        },
        db_url,
        scratch_url,
        target,
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (doc, err, code, out)
}

/// What must not change in the live database: its row and its columns.
pub(crate) fn fingerprint(c: &PgCluster, db: &str) -> String {
    c.sql(
        db,
        "SELECT (SELECT string_agg(version || ' ' || dirty, ',') FROM schema_migrations) || ' ' || \
         (SELECT md5(string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable, ',' \
           ORDER BY table_name, column_name)) FROM information_schema.columns WHERE table_schema = 'public')",
    )
}

/// How many databases `role` owns: the scratch databases it created and did not drop.
fn databases_owned_by(c: &PgCluster, role: &str) -> String {
    c.sql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
             WHERE r.rolname = '{role}'"
        ),
    )
}

fn scratch_exists(c: &PgCluster, name: &str) -> bool {
    assert!(name.starts_with("migtag_rehearse_"), "{name}");
    c.sql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) != "0"
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn v2_21_1_to_v2_22_0_fails_at_000323_on_the_copy_and_the_scratch_database_is_dropped() {
    let c = PgCluster::shared();
    let db = v2_21_1(c);
    let before = fingerprint(c, &db);
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
    );
    let (doc, err, code, _) = rehearse(&url(c, &db), &url(c, "postgres"), "v2.22.0");
    assert_eq!(code, 3, "{doc:#}\n{err}");
    // The live database saw reads only: migtag's survey and pg_dump's catalog queries in a
    // read-only transaction, its ACCESS SHARE locks; no DDL or DML.
    let statements = crate::db::logged_statements(&c.flushed_log(), &db, "migtag");
    assert!(
        statements
            .iter()
            .any(|s| s.contains("REPEATABLE READ, READ ONLY")),
        "{statements:#?}"
    );
    let write = regex::Regex::new(
        r"(?i)^\s*(INSERT|UPDATE|DELETE|TRUNCATE|MERGE|CREATE|ALTER|DROP|GRANT|REVOKE|COMMENT|COPY|VACUUM|ANALYZE|CLUSTER|REINDEX)\b|pg_advisory|nextval|setval|READ WRITE",
    )
    .unwrap();
    for s in &statements {
        assert!(
            !write.is_match(s),
            "a write-like statement reached the live database: {s}"
        );
        if s.contains("LOCK TABLE") {
            assert!(s.contains("IN ACCESS SHARE MODE"), "{s}");
        }
    }
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], false, "{r:#}");
    assert_eq!(r["pending"], 10, "{r:#}");
    assert_eq!(r["failure"]["version"], 323, "{r:#}");
    assert_eq!(r["failure"]["name"], "workspace_latest_builds_optimization");
    assert!(
        r["failure"]["error"]
            .as_str()
            .unwrap()
            .contains("\"workspace_prebuilds\" does not exist"),
        "{r:#}"
    );
    assert!(
        doc["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with(
                "rehearsal: v2.22.0's pending migrations fail on a copy of this schema at 000323_workspace_latest_builds_optimization"
            )),
        "{doc:#}"
    );
    assert!(!scratch_exists(c, r["scratch_database"].as_str().unwrap()));
    assert_eq!(fingerprint(c, &db), before);
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn v2_26_0_to_v2_27_0_rehearses_cleanly_on_another_server_and_says_so() {
    let c = PgCluster::shared();
    let scratch_server = PgCluster::shared_without_tls();
    let db = v2_26_0(c);
    let before = fingerprint(c, &db);
    let (doc, err, code, _) = rehearse(&url(c, &db), &url(scratch_server, "postgres"), "v2.27.0");
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], true, "{r:#}");
    assert_eq!(r["pending"], 14);
    assert!(r.get("failure").is_none(), "{r:#}");
    assert!(
        r["dumped_with"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump (PostgreSQL)"),
        "{r:#}"
    );
    assert!(!scratch_exists(
        scratch_server,
        r["scratch_database"].as_str().unwrap()
    ));
    assert_eq!(fingerprint(c, &db), before);

    // The human line, and under GitHub Actions the job summary.
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let mut cmd = migtag();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary);
    let (out, err, code) = gate_rehearse(
        cmd,
        &url(c, &db),
        &url(scratch_server, "postgres"),
        "v2.27.0",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("rehearsal: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with(
            "rehearsal: v2.27.0's 14 pending migrations ran cleanly on a copy of this schema in "
        ) && line.ends_with(" s"),
        "{line}"
    );
    // A clean copy says what it cannot catch: it has no rows.
    let next = out
        .lines()
        .skip_while(|l| !l.starts_with("rehearsal: "))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(
        next,
        "  (the copy has no data: failures that depend on rows (duplicates under a new unique index, NULLs under a new NOT NULL) are not rehearsed)",
        "{out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains(&format!("- ✅ {line} (the copy has no data: ")),
        "{md}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn drift_a_dropped_column_fails_the_rehearsal_where_a_pending_migration_needs_it() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // 000369 (v2.27.0) runs `ALTER TABLE connection_logs ALTER COLUMN ip DROP NOT NULL`.
    c.sql(&db, "ALTER TABLE connection_logs DROP COLUMN ip");
    let before = fingerprint(c, &db);
    let (doc, err, code, _) = rehearse(&url(c, &db), &url(c, "postgres"), "v2.27.0");
    assert_eq!(code, 3, "{doc:#}\n{err}");
    let f = &doc["rehearsal"]["failure"];
    assert_eq!(f["version"], 369, "{f:#}");
    assert_eq!(f["name"], "nullable_conn_log_ip");
    assert!(
        f["statement"]
            .as_str()
            .unwrap()
            .contains("ALTER COLUMN ip DROP NOT NULL"),
        "{f:#}"
    );
    assert_eq!(
        f["error"], "column \"ip\" of relation \"connection_logs\" does not exist",
        "{f:#}"
    );
    assert!(!scratch_exists(
        c,
        doc["rehearsal"]["scratch_database"].as_str().unwrap()
    ));
    assert_eq!(fingerprint(c, &db), before);
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn the_password_reaches_neither_output_nor_the_server_log() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    let password = "Rehearse-Pw-7f3a9c";
    let role = c.create_role("rehearser", password);
    c.sql("postgres", &format!("ALTER ROLE {role} SUPERUSER"));
    let (doc, err, code, out) = rehearse(
        &c.url(&role, password, &db),
        &c.url(&role, password, "postgres"),
        "v2.27.0",
    );
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(doc["rehearsal"]["clean"], true, "{doc:#}");
    assert!(!out.contains(password) && !err.contains(password));
    // pg_dump gets it in PGPASSWORD; nothing the server logs (its errors, statements) has it.
    assert!(!c.log_text().contains(password));

    // A failure on the scratch side (a wrong password there) does not show it either.
    let (out, err, code) = gate_rehearse(
        migtag(),
        &c.url(&role, password, &db),
        &c.url(&role, "wrong-Pw-123", "postgres"),
        "v2.27.0",
    );
    assert_eq!(code, 10, "{out}\n{err}");
    assert!(
        !out.contains(password) && !err.contains(password) && !err.contains("wrong-Pw-123"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_scratch_role_without_createdb_is_refused_and_the_flags_need_each_other() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    let role = c.create_role("nocreatedb", "Plain-Pw-55");
    let (out, err, code) = gate_rehearse(
        migtag(),
        &url(c, &db),
        &c.url(&role, "Plain-Pw-55", "postgres"),
        "v2.27.0",
    );
    assert_eq!(code, 10, "{out}\n{err}");
    assert!(err.contains("may not create databases"), "{err}");

    let (out, err, code) = run(migtag().args([
        "gate",
        "--db",
        &url(c, &db),
        "--target",
        "v2.27.0",
        "--rehearse",
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    let (out, err, code) = run(migtag().args([
        "gate",
        "--version",
        "362",
        "--target",
        "v2.27.0",
        "--rehearse",
        "--scratch-db",
        &url(c, "postgres"),
        "--sql",
        &tarball().display().to_string(),
    ]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--rehearse copies the live schema"), "{err}");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn while_a_migration_holds_coder_s_lock_nothing_is_rehearsed_and_gate_says_why() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    let mut coder = c.session(&db, "coder");
    coder.run("BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937);");
    let (doc, err, code, _) = rehearse(&url(c, &db), &url(c, "postgres"), "v2.27.0");
    assert_ne!(code, 0, "{doc:#}\n{err}");
    assert!(doc.get("rehearsal").is_none(), "{doc:#}");
    assert!(
        doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("rehearsal not run: ")),
        "{doc:#}"
    );
    coder.run("ROLLBACK;");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn behind_a_migration_s_access_exclusive_lock_pg_dump_gives_up_within_lock_timeout() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // A Coder migration in flight, without its advisory lock (so the survey lets the
    // rehearsal start): pg_dump's ACCESS SHARE on workspace_builds must wait.
    // A scratch role of its own: a database it created would be its own (others' tests make
    // scratch databases on this server at the same time).
    let role = c.create_role("lockscratch", "Lock-Scratch-Pw-2");
    c.sql("postgres", &format!("ALTER ROLE {role} CREATEDB"));
    let mut coder = c.session(&db, "coder");
    coder.run("BEGIN; LOCK TABLE workspace_builds IN ACCESS EXCLUSIVE MODE;");
    let started = std::time::Instant::now();
    let (out, err, code) = run(migtag().args([
        "gate",
        "--db",
        &url(c, &db),
        "--target",
        "v2.27.0",
        "--lock-timeout",
        "1s",
        "--statement-timeout",
        "120s",
        "--rehearse",
        "--scratch-db",
        &c.url(&role, "Lock-Scratch-Pw-2", "postgres"),
        "--sql",
        &tarball().display().to_string(),
    ]));
    let took = started.elapsed();
    coder.run("ROLLBACK;");
    // Not "safe": the rehearsal did not run, a database error (exit 10).
    assert_eq!(code, 10, "{out}\n{err}");
    // pg_dump's --lock-wait-timeout (1s) ends it, long before its kill bound (statement
    // timeout + connect + 5 s); generous for two busy cores.
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    assert!(
        err.contains("pg_dump could not take its ACCESS SHARE locks within --lock-timeout"),
        "{err}"
    );
    assert!(err.contains("the rehearsal did not run"), "{err}");
    assert_eq!(databases_owned_by(c, &role), "0");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn coder_s_schema_comes_from_the_role_s_search_path_not_only_the_url() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // Coder's tables in schema `coder`, `public` empty, the role's search_path set on the
    // server (none in the URL).
    c.sql(
        &db,
        "ALTER SCHEMA public RENAME TO coder; CREATE SCHEMA public",
    );
    let password = "Coder-Schema-Pw-1";
    let role = c.create_role("coderschema", password);
    c.sql("postgres", &format!("ALTER ROLE {role} SUPERUSER"));
    c.sql(
        "postgres",
        &format!("ALTER ROLE {role} SET search_path = coder"),
    );
    let (doc, err, code, _) =
        rehearse(&c.url(&role, password, &db), &url(c, "postgres"), "v2.27.0");
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], true, "{r:#}");
    assert_eq!(r["pending"], 14, "{r:#}");
}

#[test]
#[cfg_attr(
    any(migtag_no_coder_sql, migtag_no_pg13),
    ignore = "needs Coder's SQL (../shared/reference/coder-sql.tar.gz) and PostgreSQL 13 (.ci/pg-matrix)"
)]
fn a_createdb_only_scratch_role_on_postgresql_13_loads_the_copy_into_its_public_schema() {
    let scratch_server = PgCluster::shared_major(13);
    // The live database on 13 too: a scratch server must be the live major or newer.
    // (Its own template key: database_with caches templates by key, not by server.)
    let c = scratch_server;
    let db = database_with(
        c,
        "rehearse-v2.26.0-pg13",
        (1..=362).collect(),
        Some("v2.26.0"),
    );
    set_row(c, &db, 362, false);
    // On 13 `public` belongs to the bootstrap superuser: this role can neither drop nor
    // recreate it in the database it creates.
    let password = "Pg13-Scratch-Pw-4";
    let role = scratch_server.create_role("createdb13", password);
    scratch_server.sql("postgres", &format!("ALTER ROLE {role} CREATEDB"));
    let (doc, err, code, _) = rehearse(
        &url(c, &db),
        &scratch_server.url(&role, password, "postgres"),
        "v2.27.0",
    );
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], true, "{r:#}");
    assert_eq!(r["pending"], 14, "{r:#}");
    assert_eq!(databases_owned_by(scratch_server, &role), "0");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_migration_the_sql_source_lacks_at_the_target_tag_is_named_in_a_warning() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // The reference SQL as a folder, with v2.27.0 taken off 000369's tag list.
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(tarball())
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let tsv = dir.path().join("coder-sql/migration-files.tsv");
    let text = std::fs::read_to_string(&tsv).unwrap();
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("000369_nullable_conn_log_ip.up.sql\t") {
                let (head, tags) = l.rsplit_once('\t').unwrap();
                let kept: Vec<&str> = tags.split(',').filter(|t| *t != "v2.27.0").collect();
                format!("{head}\t{}", kept.join(","))
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(
        edited.join("\n") != text.trim_end(),
        "000369's row not found"
    );
    std::fs::write(&tsv, edited.join("\n") + "\n").unwrap();
    let (out, err, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--db",
        &url(c, &db),
        "--target",
        "v2.27.0",
        "--rehearse",
        "--scratch-db",
        &url(c, "postgres"),
        "--sql",
        &dir.path().display().to_string(),
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let fell: Vec<&&str> = warnings
        .iter()
        .filter(|w| w.starts_with("rehearsal: ") && w.contains("has no file for"))
        .collect();
    assert_eq!(fell.len(), 1, "{warnings:#?}");
    assert!(
        fell[0].contains("has no file for 000369_nullable_conn_log_ip at v2.27.0"),
        "{}",
        fell[0]
    );
}
