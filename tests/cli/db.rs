//! `migtag check --db` against a real PostgreSQL 15 (see `pg.rs`): every state, schemas,
//! roles, TLS, a migration running the way Coder runs one, the sessions summary, the errors,
//! the password never showing, and proof from the server log that nothing was written.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{migtag, run};
use crate::pg::{encode, unique, PgCluster};

pub(crate) const PW: &str = "coder-pass-1";

/// A database with a Coder-like owner role and, optionally, golang-migrate's table with one
/// row. Returns (database, role).
pub(crate) fn coder_db(c: &PgCluster, row: Option<(i64, bool)>) -> (String, String) {
    let role = c.create_role("coder", PW);
    let db = c.create_db("coder");
    c.sql("postgres", &format!("ALTER DATABASE {db} OWNER TO {role}"));
    if let Some((v, d)) = row {
        c.sql(
            &db,
            &format!(
                "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
                 ALTER TABLE schema_migrations OWNER TO {role};\
                 INSERT INTO schema_migrations VALUES ({v}, {d});"
            ),
        );
    }
    (db, role)
}

/// `check --db URL --no-schema`: these tests are about reading the row and the connection,
/// on databases that hold golang-migrate's table and none of Coder's objects (with the schema
/// read, such a row is drift: tests/cli/decide.rs); the schema evidence is tested on Coder's
/// real schema in verify.rs and decide.rs.
pub(crate) fn check_json(url: &str, extra: &[&str]) -> (Value, String, i32) {
    let (out, err, code) = run(migtag()
        .args(["check", "--db", url, "--format", "json", "--no-schema"])
        .args(extra));
    let doc: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    (doc, err, code)
}

fn check_human(url: &str, extra: &[&str]) -> (String, String, i32) {
    run(migtag()
        .args(["check", "--db", url, "--color", "never", "--no-schema"])
        .args(extra))
}

#[test]
fn clean_database_matches_its_release_and_reports_the_connection() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["state"]["kind"], "clean");
    assert_eq!(doc["state"]["version"], 168);
    assert_eq!(doc["verdict"], "exact");
    assert_eq!(doc["recommended"]["image"], "ghcr.io/coder/coder:v2.4.0");
    assert_eq!(doc["database"]["database"], db.as_str());
    assert_eq!(doc["database"]["user"], role.as_str());
    assert_eq!(doc["database"]["schema"], "public");
    assert!(doc["database"]["server_version"]
        .as_str()
        .unwrap()
        .starts_with("15"));
    assert_eq!(
        doc["database"]["target"],
        format!("postgres://{role}@127.0.0.1:{}/{db}", c.port).as_str()
    );
    assert_eq!(doc["sessions"]["total"], 0);

    let (out, _, code) = check_human(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("image: ghcr.io/coder/coder:v2.4.0"), "{out}");
    assert!(out.contains("who else is connected: nobody"), "{out}");
    assert!(
        out.contains(&format!(
            "database: postgres://{role}@127.0.0.1:{}/{db} (schema public, PostgreSQL 15",
            c.port
        )),
        "{out}"
    );
}

#[test]
fn dirty_database_needs_a_human() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((68, true)));
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["state"]["kind"], "dirty");
    assert_eq!(doc["state"]["version"], 68);
    assert_eq!(doc["verdict"], "dirty");
}

#[test]
fn fresh_without_table_and_with_empty_table() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, None);
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(
        (code, doc["state"]["kind"].as_str()),
        (0, Some("fresh")),
        "{doc:#}"
    );

    c.sql(&db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)");
    c.sql(&db, &format!("GRANT SELECT ON schema_migrations TO {role}"));
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(
        (code, doc["state"]["kind"].as_str()),
        (0, Some("fresh")),
        "{doc:#}"
    );
}

#[test]
fn v1_database_is_refused() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, None);
    c.sql(&db, "CREATE TABLE migration_cursor (id int)");
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["state"]["kind"], "v1");
    assert_eq!(doc["verdict"], "v1");
}

#[test]
fn tables_that_are_not_golang_migrates_exit_12() {
    let c = PgCluster::shared();
    let cases: &[(&str, &str)] = &[
        (
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL); \
             INSERT INTO schema_migrations VALUES (1, false), (2, false)",
            "more than one row",
        ),
        (
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL); \
             INSERT INTO schema_migrations VALUES (-1, true)",
            "negative",
        ),
        (
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL, applied_at timestamptz)",
            "expected exactly (version bigint, dirty boolean)",
        ),
        (
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, dirty boolean NOT NULL)",
            "version integer",
        ),
        (
            "CREATE VIEW schema_migrations AS SELECT 1::bigint AS version, false AS dirty",
            "it is a view",
        ),
    ];
    for (ddl, expect) in cases {
        let (db, role) = coder_db(c, None);
        c.sql(&db, ddl);
        c.sql(&db, &format!("GRANT SELECT ON schema_migrations TO {role}"));
        let (out, err, code) = run(migtag().args(["check", "--db", &c.url(&role, PW, &db)]));
        assert_eq!(code, 12, "{ddl}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains("is not golang-migrate's table"), "{err}");
        assert!(err.contains(expect), "{ddl}: {err}");
    }
}

#[test]
fn search_path_selects_coders_schema() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((1, false))); // a decoy in public
    c.sql(
        &db,
        &format!(
            "CREATE SCHEMA coder AUTHORIZATION {role};\
             CREATE TABLE coder.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
             ALTER TABLE coder.schema_migrations OWNER TO {role};\
             INSERT INTO coder.schema_migrations VALUES (168, false);"
        ),
    );
    let base = c.url(&role, PW, &db);
    for url in [
        format!("{base}?search_path=coder&sslmode=disable"),
        format!("{base}?options={}", encode("-c search_path=coder")),
        format!(
            "host=127.0.0.1 port={} dbname={db} user={role} password={PW} search_path=coder",
            c.port
        ),
    ] {
        let (doc, err, code) = check_json(&url, &[]);
        assert_eq!(code, 0, "{url}: {doc:#} {err}");
        assert_eq!(doc["database"]["schema"], "coder", "{url}");
        assert_eq!(doc["state"]["version"], 168, "{url}");
    }
    let (doc, _, _) = check_json(&base, &[]);
    assert_eq!(
        doc["state"]["version"], 1,
        "without search_path the public decoy is read"
    );
}

#[test]
fn role_with_only_connect_and_select_works_and_says_what_is_hidden() {
    let c = PgCluster::shared();
    let (db, _) = coder_db(c, Some((168, false)));
    let reader = c.create_role("reader", PW);
    c.sql(
        &db,
        &format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC; REVOKE ALL ON SCHEMA public FROM PUBLIC;\
             GRANT CONNECT ON DATABASE {db} TO {reader}; GRANT USAGE ON SCHEMA public TO {reader};\
             GRANT SELECT ON schema_migrations TO {reader};"
        ),
    );
    // Another role's session on the database: the reader may count it, not inspect it.
    let mut other = c.session(&db, "coderd-sim");
    other.run("BEGIN; SELECT 1;");
    let (doc, _, code) = check_json(&c.url(&reader, PW, &db), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["state"]["version"], 168);
    let s = &doc["sessions"];
    assert_eq!(s["total"], 1, "{s:#}");
    assert_eq!(s["hidden"], 1, "{s:#}");
    assert_eq!(
        s["by_application"][0]["name"], "coderd-sim",
        "the application name stays visible"
    );
    assert_eq!(s["by_state"][0]["name"], "(hidden)");
    let note = s["hidden_note"].as_str().unwrap();
    assert!(
        note.contains(&format!("role {reader}")) && note.contains("pg_read_all_stats"),
        "{note}"
    );
    let (out, _, _) = check_human(&c.url(&reader, PW, &db), &[]);
    assert!(
        out.contains("hidden: 1 of 1 session belongs to other roles"),
        "{out}"
    );

    // A migration run by another role: the lock and its pid are visible, the rest is not.
    other.run("SELECT pg_advisory_xact_lock(1037453835920848937);");
    let (doc, _, code) = check_json(&c.url(&reader, PW, &db), &[]);
    assert_eq!(code, 4, "{doc:#}");
    let m = &doc["state"]["migration_in_progress"];
    assert_eq!(m["pid"], other.pid, "{m:#}");
    assert!(m["xact_seconds"].is_null() && m["query"].is_null(), "{m:#}");
    let (out, _, _) = check_human(&c.url(&reader, PW, &db), &[]);
    assert!(
        out.contains("transaction age hidden from this role"),
        "{out}"
    );
    other.run("ROLLBACK;");

    // Without SELECT on the table: a clear permission error, exit 10, with the GRANT to run.
    c.sql(
        &db,
        &format!("REVOKE SELECT ON schema_migrations FROM {reader}"),
    );
    let (_, err, code) = run(migtag().args(["check", "--db", &c.url(&reader, PW, &db)]));
    assert_eq!(code, 10, "{err}");
    assert!(
        err.contains("may not read public.schema_migrations"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "GRANT SELECT ON public.schema_migrations TO {reader};"
        )),
        "{err}"
    );
}

#[test]
fn a_running_coder_migration_is_reported_within_the_lock_timeout() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((167, false)));
    // Exactly what Coder >= 2.5 does: one transaction, the advisory lock, then TRUNCATE.
    let mut coder = c.session_as(&db, "coder-migration-sim", &role, PW);
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );

    let start = Instant::now();
    let (doc, err, code) = check_json(&c.url(&role, PW, &db), &["--lock-timeout", "2s"]);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: must answer within lock_timeout + 1s"
    );
    assert_eq!(code, 4, "{doc:#}\n{err}");
    assert_eq!(doc["state"]["kind"], "in_progress");
    assert_eq!(doc["verdict"], "in_progress");
    let m = &doc["state"]["migration_in_progress"];
    assert_eq!(m["pid"], coder.pid, "{m:#}");
    assert!(
        m["lock"].as_str().unwrap().contains("1037453835920848937"),
        "{m:#}"
    );
    assert!(
        m["lock"].as_str().unwrap().contains("ACCESS EXCLUSIVE"),
        "{m:#}"
    );
    assert_eq!(m["application_name"], "coder-migration-sim");
    assert!(
        m["query"]
            .as_str()
            .unwrap()
            .contains("TRUNCATE schema_migrations"),
        "{m:#}"
    );
    assert!(m["xact_seconds"].as_u64().is_some(), "{m:#}");
    assert!(m["xact_start"].as_str().unwrap().ends_with('Z'), "{m:#}");

    let (out, _, code) = check_human(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 4);
    assert!(
        out.contains(&format!(
            "migration lock holder: pid {}, application coder-migration-sim",
            coder.pid
        )),
        "{out}"
    );
    assert!(out.contains("running: TRUNCATE schema_migrations"), "{out}");

    // Once the batch commits, the new version is read.
    coder.run("INSERT INTO schema_migrations VALUES (168, false); COMMIT;");
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(
        (code, doc["state"]["version"].as_u64()),
        (0, Some(168)),
        "{doc:#}"
    );
}

#[test]
fn a_queued_exclusive_lock_request_also_counts_as_in_progress() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let mut reader = c.session_as(&db, "long-reader", &role, PW);
    reader.run("BEGIN; SELECT * FROM schema_migrations;");
    let mut migrator = c.session_as(&db, "old-replica", &role, PW);
    migrator.send("BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE;");
    c.wait_for(
        &db,
        &format!(
            "SELECT count(*) FROM pg_locks WHERE pid = {} AND NOT granted",
            migrator.pid
        ),
        "1",
    );
    let start = Instant::now();
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &["--lock-timeout", "1s"]);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(code, 4, "{doc:#}");
    let m = &doc["state"]["migration_in_progress"];
    assert_eq!(m["pid"], migrator.pid);
    assert!(m["lock"].as_str().unwrap().contains("queued"), "{m:#}");
    // The sessions summary shows the waiter and who blocks it.
    let waiting = doc["sessions"]["waiting"].as_array().unwrap();
    let w = waiting
        .iter()
        .find(|w| w["pid"] == migrator.pid)
        .expect("the waiter is listed");
    assert_eq!(w["blocked_by"], serde_json::json!([reader.pid]));
    let idle = doc["sessions"]["idle_in_transaction"].as_array().unwrap();
    assert!(
        idle.iter()
            .any(|s| s["pid"] == reader.pid && s["application_name"] == "long-reader"),
        "{idle:?}"
    );
}

#[test]
fn sessions_summary_counts_and_lists_idle_transactions() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let _a = c.session_as(&db, "coderd", &role, PW);
    let _b = c.session_as(&db, "coderd", &role, PW);
    let mut idle = c.session_as(&db, "psql-admin", &role, PW);
    idle.run("BEGIN; SELECT count(*) FROM schema_migrations;");
    std::thread::sleep(Duration::from_millis(1100));
    let (doc, _, code) = check_json(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 0, "{doc:#}");
    let s = &doc["sessions"];
    assert_eq!(s["total"], 3, "{s:#}");
    assert_eq!(
        s["by_application"][0],
        serde_json::json!({"name": "coderd", "count": 2})
    );
    assert_eq!(
        s["by_client"][0],
        serde_json::json!({"name": "local socket", "count": 3})
    );
    assert!(
        s["by_state"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"name": "idle in transaction", "count": 1})),
        "{s:#}"
    );
    let it = &s["idle_in_transaction"][0];
    assert_eq!(it["pid"], idle.pid);
    assert!(it["idle_seconds"].as_u64().unwrap() >= 1, "{it:#}");
    assert!(
        it["query"]
            .as_str()
            .unwrap()
            .contains("SELECT count(*) FROM schema_migrations"),
        "{it:#}"
    );
    assert_eq!(s["hidden"], 0);

    let (out, _, _) = check_human(&c.url(&role, PW, &db), &[]);
    assert!(
        out.contains("who else is connected: 3 other sessions on"),
        "{out}"
    );
    assert!(
        out.contains("by application: coderd 2, psql-admin 1"),
        "{out}"
    );
    assert!(
        out.contains(&format!("pid {} psql-admin (user {role})", idle.pid)),
        "{out}"
    );
}

#[test]
fn tls_modes_follow_libpq() {
    let c = PgCluster::shared();
    let pki = c.pki.as_ref().unwrap();
    let (db, role) = coder_db(c, Some((168, false)));
    let ca = pki.ca.display().to_string();
    let other = pki.other_ca.display().to_string();
    let ok: &[(String, &str)] = &[
        (
            format!(
                "{}?sslmode=verify-full&sslrootcert={ca}",
                c.url_localhost(&role, PW, &db)
            ),
            "tls (verify-full)",
        ),
        (
            format!(
                "{}?sslmode=verify-ca&sslrootcert={ca}",
                c.url(&role, PW, &db)
            ),
            "tls (verify-ca)",
        ),
        (
            format!("{}?sslmode=require", c.url(&role, PW, &db)),
            "tls (certificate not verified)",
        ),
        (
            format!("{}?sslmode=require&sslrootcert={ca}", c.url(&role, PW, &db)),
            "tls (verify-ca)",
        ),
        (c.url(&role, PW, &db), "tls (certificate not verified)"),
        (
            format!("{}?sslmode=disable", c.url(&role, PW, &db)),
            "plain tcp (no tls)",
        ),
    ];
    for (url, transport) in ok {
        let (doc, err, code) = check_json(url, &[]);
        assert_eq!(code, 0, "{url}: {err}");
        assert_eq!(doc["database"]["transport"], *transport, "{url}");
    }
    // PGSSLMODE / PGSSLROOTCERT fill in what the URL leaves out.
    let (out, err, code) = run(migtag()
        .args([
            "check",
            "--db",
            &c.url_localhost(&role, PW, &db),
            "--format",
            "json",
            "--no-schema",
        ])
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tls (verify-full)"));

    let failing: &[(String, &str)] = &[
        (
            format!("{}?sslmode=verify-full&sslrootcert={ca}", c.url(&role, PW, &db)),
            "host name check failed: the server's certificate is not valid for `127.0.0.1`",
        ),
        (
            format!("{}?sslmode=verify-ca&sslrootcert={other}", c.url(&role, PW, &db)),
            "certificate chain check failed: the server's certificate is not signed by a CA in sslrootcert",
        ),
        (
            format!("{}?sslmode=verify-full&sslrootcert=/nonexistent/root.crt", c.url_localhost(&role, PW, &db)),
            "cannot read sslrootcert /nonexistent/root.crt",
        ),
    ];
    for (url, expect) in failing {
        let (_, err, code) = run(migtag().args(["check", "--db", url]));
        assert_eq!(code, 10, "{url}: {err}");
        assert!(err.contains(expect), "{url}: {err}");
        assert!(!err.contains(PW), "{err}");
    }
    let plain = PgCluster::shared_without_tls();
    let role2 = plain.create_role("coder", PW);
    let (_, err, code) = run(migtag().args([
        "check",
        "--db",
        &format!("{}?sslmode=require", plain.url(&role2, PW, "postgres")),
    ]));
    assert_eq!(code, 10, "{err}");
    assert!(
        err.contains("the server does not accept TLS, but sslmode=require requires it"),
        "{err}"
    );
    // prefer (the default) falls back to plain text on such a server.
    let (doc, err, code) = check_json(&plain.url(&role2, PW, "postgres"), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["database"]["transport"], "plain tcp (no tls)");
}

#[test]
fn environment_chain_password_file_and_unix_socket() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let (decoy_db, decoy_role) = coder_db(c, Some((68, true)));
    let sock = c.socket_dir.display().to_string();

    // CODER_PG_CONNECTION_URL before DATABASE_URL before PG*.
    let (out, _, code) = run(migtag()
        .args(["check", "--format", "json", "--no-schema"])
        .env("CODER_PG_CONNECTION_URL", c.url(&role, PW, &db))
        .env("DATABASE_URL", c.url(&decoy_role, PW, &decoy_db))
        .env("PGDATABASE", &decoy_db));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"version\": 168"));
    let (out, _, code) = run(migtag()
        .args(["check", "--format", "json"])
        .env("DATABASE_URL", c.url(&decoy_role, PW, &decoy_db))
        .env("PGDATABASE", &db));
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("\"version\": 68"));

    // Only PG* variables, over the Unix socket, the password from ~/.pgpass.
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("{sock}:{}:{db}:{role}:{PW}\n", c.port)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pg_vars = |cmd: &mut assert_cmd::Command| {
        cmd.env("HOME", home.path())
            .env("PGHOST", &sock)
            .env("PGPORT", c.port.to_string())
            .env("PGUSER", &role)
            .env("PGDATABASE", &db);
    };
    let mut cmd = migtag();
    cmd.args(["check", "--format", "json", "--no-schema"]);
    pg_vars(&mut cmd);
    let (out, err, code) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["database"]["transport"], "unix socket");
    assert_eq!(
        doc["database"]["target"],
        format!("postgres://{role}@/{db}?host={sock}&port={}", c.port).as_str()
    );

    // A password file others may read is ignored, as libpq does, and the note says so.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = migtag();
    cmd.args(["check"]);
    pg_vars(&mut cmd);
    let (_, err, code) = run(&mut cmd);
    assert_eq!(code, 10, "{err}");
    assert!(
        err.contains("the server asks for a password and none was given"),
        "{err}"
    );

    // PGPASSFILE points elsewhere.
    let other = home.path().join("pgpass-other");
    std::fs::write(&other, format!("*:*:*:{role}:{PW}\n")).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = migtag();
    cmd.args(["check", "--no-schema"]).env("PGPASSFILE", &other);
    pg_vars(&mut cmd);
    let (_, err, code) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");

    // Nothing configured at all stays a usage error.
    let (_, err, code) = run(migtag().args(["check"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--db URL"), "{err}");
}

#[test]
fn connection_errors_exit_10_with_clear_messages() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            c.url(&role, "wrong-password", &db),
            "authentication failed for user",
        ),
        (
            c.url(&role, PW, "no_such_db"),
            "database `no_such_db` does not exist",
        ),
        (
            format!("postgres://{role}:{PW}@127.0.0.1:{closed_port}/{db}"),
            "connection refused",
        ),
        (
            format!("postgres://{role}:{PW}@no-such-host.invalid:5432/{db}"),
            "cannot resolve host name no-such-host.invalid",
        ),
        (
            format!(
                "postgres://{role}@127.0.0.1:{}/{db}?sslmode=disable",
                c.port
            ),
            "the server asks for a password and none was given",
        ),
        (
            format!(
                "host={} port=1 user={role} dbname={db}",
                c.socket_dir.display()
            ),
            "no server socket in",
        ),
    ];
    for (url, expect) in cases {
        let (out, err, code) = run(migtag().args(["check", "--db", &url]));
        assert_eq!(code, 10, "{url}\n{out}{err}");
        assert!(err.contains(expect), "{url}: {err}");
    }
    // A host that does not answer: bounded by --connect-timeout.
    let start = Instant::now();
    let (_, err, code) = run(migtag().args([
        "check",
        "--db",
        &format!("postgres://{role}:{PW}@10.255.255.1:5432/{db}"),
        "--connect-timeout",
        "1s",
    ]));
    assert_eq!(code, 10, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert!(err.contains("cannot connect to postgres://"), "{err}");
    // JSON mode: one error document on stdout.
    let (out, _, code) = run(migtag().args([
        "check",
        "--db",
        &c.url(&role, PW, "no_such_db"),
        "--format",
        "json",
    ]));
    assert_eq!(code, 10);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["kind"], "database");
    assert_eq!(doc["error"]["exit_code"], 10);
}

/// A connection string migtag cannot parse, or a value libpq would refuse, is invalid input
/// (exit 12, kind `invalid_input`), not a database failure, and the message echoes no part
/// of the string. No server is needed: nothing is contacted.
#[test]
fn malformed_connection_strings_exit_12_without_echoing_them() {
    let pw = "Sent1nel-Malformed-9c";
    let cases = [
        (
            "bad port",
            format!("postgres://u:{pw}@127.0.0.1:99999/d"),
            "port",
        ),
        (
            "bad sslmode",
            format!("postgres://u:{pw}@h/d?sslmode=sometimes"),
            "sslmode",
        ),
        (
            "bad connect_timeout",
            format!("postgres://u:{pw}@h/d?connect_timeout=soon"),
            "connect_timeout",
        ),
        (
            "missing ]",
            format!("postgres://u:{pw}@[::1/d"),
            "closing `]`",
        ),
        ("other scheme", format!("mysql://u:{pw}@h/d"), "postgres://"),
        (
            "key=value without =",
            format!("host=h password={pw} lonely"),
            "not followed by `=`",
        ),
        (
            "key=value unterminated quote",
            format!("host=h password='{pw}"),
            "unterminated quoted value",
        ),
    ];
    for (what, url, expect) in &cases {
        let (out, err, code) = run(migtag().args(["check", "--db", url]));
        assert_eq!(code, 12, "{what}: {out}{err}");
        assert!(err.contains(expect), "{what}: {err}");
        assert!(
            !out.contains(pw) && !err.contains(pw),
            "{what} leaked: {err}"
        );
        let (out, err, code) = run(migtag()
            .args(["check", "--format", "json"])
            .env("CODER_PG_CONNECTION_URL", url));
        assert_eq!(code, 12, "{what} (env, json): {out}{err}");
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {out}"));
        assert_eq!(doc["error"]["kind"], "invalid_input", "{what}: {doc:#}");
        assert_eq!(doc["error"]["exit_code"], 12, "{what}: {doc:#}");
        // Syntax errors say which string they were found in.
        let message = doc["error"]["message"].as_str().unwrap();
        if message.contains("malformed") || message.contains("must start with") {
            assert!(
                message.starts_with("CODER_PG_CONNECTION_URL: "),
                "{what}: {doc:#}"
            );
        }
        assert!(
            !out.contains(pw) && !err.contains(pw),
            "{what} leaked: {out}{err}"
        );
    }
    // PGSSLMODE is validated the same way.
    let (_, err, code) = run(migtag()
        .args(["check", "--db", "postgres://u@h/d"])
        .env("PGSSLMODE", "bogus"));
    assert_eq!(code, 12, "{err}");
}

/// The password must never appear: not in errors, not in the URL echoed back, not in JSON,
/// not with -v, whichever way it was given.
#[test]
fn sentinel_password_never_appears_on_any_path() {
    let c = PgCluster::shared();
    let sentinel = "Sent1nel-Pw-7f3a";
    let role = c.create_role("sentinel", sentinel);
    let db = c.create_db("sentinel");
    c.sql(&db, &format!("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (68, true); GRANT SELECT ON schema_migrations TO {role}"));
    let ca = c.pki.as_ref().unwrap().ca.display().to_string();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wrong = format!("{sentinel}-wrong");
    let urls = vec![
        ("success (dirty)", c.url(&role, sentinel, &db), 4),
        ("auth failure", c.url(&role, &wrong, &db), 10),
        ("unknown db", c.url(&role, sentinel, "no_such_db"), 10),
        (
            "refused",
            format!("postgres://{role}:{sentinel}@127.0.0.1:{closed_port}/{db}"),
            10,
        ),
        (
            "unresolvable",
            format!("postgres://{role}:{sentinel}@no-such-host.invalid/{db}"),
            10,
        ),
        (
            "unreachable",
            format!("postgres://{role}:{sentinel}@10.255.255.1/{db}?connect_timeout=2"),
            10,
        ),
        (
            "tls name",
            format!(
                "{}?sslmode=verify-full&sslrootcert={ca}",
                c.url(&role, sentinel, &db)
            ),
            10,
        ),
        (
            "tls chain",
            format!(
                "{}?sslmode=verify-ca&sslrootcert={}",
                c.url(&role, sentinel, &db),
                c.pki.as_ref().unwrap().other_ca.display()
            ),
            10,
        ),
        (
            "malformed url",
            format!("postgres://{role}:{sentinel}@127.0.0.1:notaport/{db}"),
            12,
        ),
        (
            "unencoded slash",
            format!("postgres://{role}:{sentinel}/x@127.0.0.1/{db}"),
            12,
        ),
        (
            "bad sslmode",
            format!("{}?sslmode={sentinel}", c.url(&role, sentinel, &db)),
            12,
        ),
        (
            "key=value",
            format!(
                "host=127.0.0.1 port={} user={role} password='{wrong}' dbname={db}",
                c.port
            ),
            10,
        ),
    ];
    let check = |what: &str, out: &str, err: &str| {
        for s in [sentinel, &encode(sentinel)] {
            assert!(
                !out.contains(s) && !err.contains(s),
                "{what}: the password leaked:\n{out}\n{err}"
            );
        }
    };
    for (what, url, want) in &urls {
        for fmt in ["human", "json"] {
            let (out, err, code) =
                run(migtag().args(["-v", "check", "--db", url, "--format", fmt]));
            assert_eq!(code, *want, "{what} ({fmt}): {out}{err}");
            check(what, &out, &err);
        }
    }
    // Through the environment.
    for (var, value) in [
        ("CODER_PG_CONNECTION_URL", c.url(&role, &wrong, &db)),
        ("DATABASE_URL", c.url(&role, &wrong, "no_such_db")),
    ] {
        let (out, err, code) = run(migtag().args(["check"]).env(var, &value));
        assert_eq!(code, 10, "{var}: {err}");
        check(var, &out, &err);
    }
    let (out, err, code) = run(migtag()
        .args(["check", "--format", "json"])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", c.port.to_string())
        .env("PGUSER", &role)
        .env("PGPASSWORD", &wrong)
        .env("PGDATABASE", &db));
    assert_eq!(code, 10, "{err}");
    assert!(err.contains("check PGPASSWORD"), "{err}");
    check("PGPASSWORD", &out, &err);
    // A usage error that names --db does not echo its value.
    let (out, err, code) = run(migtag().args([
        "check",
        "--db",
        &c.url(&role, sentinel, &db),
        "--version",
        "5",
    ]));
    assert_eq!(code, 2, "{err}");
    check("usage", &out, &err);
}

/// With log_statement=all, the server log shows every statement migtag sent: only SELECTs
/// (no INSERT/UPDATE/DELETE/TRUNCATE/DDL, no SET, no locking call), at most three per run.
#[test]
fn server_log_proves_migtag_sends_no_write() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
    );
    // migtag is always application_name `migtag` (issue 3), whatever the URL or PGAPPNAME
    // say, so the log of this test's own database tells its sessions apart.
    let app = "migtag";
    let other = unique("not_migtag");
    let run_check = |extra: &str| {
        let url = format!("{}?application_name={other}{extra}", c.url(&role, PW, &db));
        run(migtag().args(["check", "--db", &url, "--format", "json"]))
    };
    // The schema is read too (its query must be in the log as a read): a row without any of
    // Coder's objects is drift, exit 6; what matters here is what migtag sends.
    let (out, err, code) = run_check("");
    assert_eq!(code, 6, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["database"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("application_name given")),
        "{doc:#}"
    );
    let mut coder = c.session(&db, "coder-migration-sim");
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );
    let (_, err, code) = run(migtag()
        .args(["check", "--db", &c.url(&role, PW, &db), "--format", "json"])
        .env("PGAPPNAME", &other));
    assert_eq!(code, 4, "{err}");
    coder.run("ROLLBACK;");
    c.sql(&db, "DROP TABLE schema_migrations");
    let (_, err, code) = run_check("&search_path=public");
    assert_eq!(code, 0, "{err}");

    std::thread::sleep(Duration::from_millis(300));
    let log = c.log_text();
    assert!(
        !log.contains(&format!("application_name={other}")),
        "the user's application_name was sent"
    );
    let statements = logged_statements(&log, &db, app);
    // clean: survey + select + catalog (schema verification); in progress: survey only;
    // fresh: survey + catalog.
    assert_eq!(statements.len(), 6, "{statements:#?}");
    let write = regex::Regex::new(
        r"(?i)\b(INSERT|UPDATE|DELETE|TRUNCATE|MERGE|CREATE|ALTER|DROP|GRANT|REVOKE|COMMENT|COPY|VACUUM|ANALYZE|CLUSTER|REINDEX|LOCK\s+TABLE|SET|RESET|BEGIN|START\s+TRANSACTION|COMMIT|PREPARE|nextval|setval|pg_advisory_lock|pg_advisory_xact_lock|pg_try_advisory_lock|pg_terminate_backend|pg_cancel_backend|READ\s+WRITE)\b",
    )
    .unwrap();
    for s in &statements {
        assert!(s.starts_with("WITH ") || s.starts_with("SELECT "), "{s}");
        assert!(!write.is_match(s), "a write-like statement was sent: {s}");
    }
    assert!(statements
        .iter()
        .any(|s| s.starts_with("SELECT version, dirty FROM public.schema_migrations")));
    // One connection per run, identified by its application_name.
    let connections = log
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "connection authorized: user={role} database={db} application_name={app}"
            ))
        })
        .count();
    assert_eq!(connections, 3, "one connection per run");
}

/// Statements the server logged for this database and application.
pub(crate) fn logged_statements(log: &str, db: &str, app: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    let starts_entry = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").unwrap();
    for line in log.lines() {
        if starts_entry.is_match(line) || entries.is_empty() {
            entries.push(line.to_string());
        } else if let Some(last) = entries.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    let tag = format!("db={db} app={app} ");
    entries
        .into_iter()
        .filter(|e| e.contains(&tag))
        .filter_map(|e| {
            e.split_once("LOG:  statement: ")
                .map(|(_, s)| s.trim().to_string())
        })
        .collect()
}

/// `gate` reads the same live state: safe on a clean database, needs a human while a
/// migration runs.
#[test]
fn gate_reads_the_live_database_too() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    let url = c.url(&role, PW, &db);
    // A bare schema_migrations table, not Coder's schema: the schema verdict (drift) is
    // left out here; tests/cli/verify.rs gates real schemas.
    let (out, err, code) = run(migtag().args([
        "gate",
        "--target",
        "v2.5.0",
        "--db",
        &url,
        "--format",
        "json",
        "--no-schema",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["safe"], true, "{doc:#}");
    let mut coder = c.session_as(&db, "coder-migration-sim", &role, PW);
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );
    let (out, _, code) = run(migtag().args([
        "gate", "--target", "v2.5.0", "--db", &url, "--format", "json",
    ]));
    assert_eq!(code, 4, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["safe"], false, "{doc:#}");
}

/// The case of coder#20763: the migration took Coder's lock but its TRUNCATE waits behind an
/// old session idle in a transaction. migtag says the migration is stuck, and on whom.
#[test]
fn a_migration_stuck_behind_an_idle_transaction_names_the_blocker() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((167, false)));
    let mut old_pod = c.session_as(&db, "old-replica", &role, PW);
    old_pod.run("BEGIN; SELECT * FROM schema_migrations;");
    let mut coder = c.session_as(&db, "coder-migration-sim", &role, PW);
    coder.send(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );
    c.wait_for(
        &db,
        &format!(
            "SELECT count(*) FROM pg_locks WHERE pid = {} AND NOT granted",
            coder.pid
        ),
        "1",
    );
    let (out, _, code) = check_human(&c.url(&role, PW, &db), &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains(&format!("migration lock holder: pid {}", coder.pid)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "stuck: it waits for a lock held by pid {}",
            old_pod.pid
        )),
        "{out}"
    );
    // The footer stays last.
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("index: "),
        "{out}"
    );
}
