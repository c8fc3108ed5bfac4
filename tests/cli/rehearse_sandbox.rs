//! `gate --rehearse` with a superuser `--scratch-db` role, on real PostgreSQL 15: the batch
//! runs as an unprivileged role migtag creates for the scratch database and drops with it, so
//! SQL in `--sql` cannot run programs on the server, read its files, write into another
//! database through dblink or end other sessions; the batch has a time limit; SIGINT and
//! SIGTERM drop the scratch database and the role, from the second connection while the first
//! is busy. The SQL comes from a hand-made clone layout (no Coder SQL needed).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{migtag, run};
use crate::db::{coder_db, PW};
use crate::pg::PgCluster;

/// The superuser over the socket: a `--scratch-db` that is a superuser.
fn superuser_url(c: &PgCluster) -> String {
    format!(
        "postgresql://postgres@/postgres?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

/// A live database at 362 (v2.26.0's last migration) and the migrations v2.27.0 applies.
fn live(c: &PgCluster) -> (String, Vec<(u64, String)>) {
    let (db, role) = coder_db(c, Some((362, false)));
    let url = c.url(&role, PW, &db);
    let (out, err, _) = run(migtag().args([
        "--format", "json", "gate", "--db", &url, "--target", "v2.27.0",
    ]));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let pending = doc["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_u64().unwrap(),
                m["name"].as_str().unwrap().to_string(),
            )
        })
        .collect::<Vec<_>>();
    assert!(pending.len() > 1, "{doc:#}");
    (url, pending)
}

/// A clone layout whose first pending migration is `first` and the others `SELECT 1;`.
fn clone_with(dir: &Path, pending: &[(u64, String)], first: &str) {
    let migrations = dir.join("coderd/database/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for (i, (v, name)) in pending.iter().enumerate() {
        let sql = if i == 0 { first } else { "SELECT 1;" };
        std::fs::write(migrations.join(format!("{v:06}_{name}.up.sql")), sql).unwrap();
    }
}

fn gate_args(live_url: &str, scratch: &str, sql: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--format",
        "json",
        "gate",
        "--db",
        live_url,
        "--target",
        "v2.27.0",
        "--rehearse",
        "--scratch-db",
        scratch,
        "--sql",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(sql.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// What is left of the scratch database `name` and of its sandbox role (`<name>_role`).
pub(crate) fn leftovers(c: &PgCluster, name: &str) -> String {
    assert!(name.starts_with("migtag_rehearse_"), "{name}");
    c.sql(
        "postgres",
        &format!(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = '{name}') + \
             (SELECT count(*) FROM pg_roles WHERE rolname = '{name}_role')"
        ),
    )
}

/// Each reach beyond the scratch database fails on the copy, so the rehearsal fails (exit 3)
/// and the side effect is absent; the superuser role gets a warning; nothing is left behind.
#[test]
fn a_superuser_scratch_role_runs_the_batch_as_an_unprivileged_role() {
    let c = PgCluster::shared();
    let (live_url, pending) = live(c);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran-a-program");
    let mut victim = c.session("postgres", "migtag-victim");
    let pwned = crate::pg::unique("pwned");
    let cases = [
        format!(
            "COPY (SELECT 1) TO PROGRAM 'touch {}';",
            marker.display()
        ),
        "CREATE TABLE leak (line text); COPY leak FROM '/etc/passwd'; \
         SELECT line::int FROM leak LIMIT 1;"
            .to_string(),
        format!(
            "CREATE EXTENSION dblink; \
             SELECT dblink_exec('dbname=postgres user=postgres host={} port={}', 'CREATE TABLE {pwned} ()');",
            c.socket_dir.display(),
            c.port
        ),
        format!("SELECT pg_terminate_backend({});", victim.pid),
    ];
    for (i, first) in cases.iter().enumerate() {
        let sql = dir.path().join(format!("clone{i}"));
        clone_with(&sql, &pending, first);
        let (out, err, code) =
            run(migtag().args(gate_args(&live_url, &superuser_url(c), &sql, &[])));
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        assert_eq!(code, 3, "{first}: {doc:#}\n{err}");
        let r = &doc["rehearsal"];
        assert_eq!(r["clean"], false, "{first}: {r:#}");
        assert_eq!(r["failure"]["version"], pending[0].0, "{first}: {r:#}");
        let error = r["failure"]["error"].as_str().unwrap().to_lowercase();
        assert!(
            error.contains("permission denied")
                || error.contains("must be superuser")
                || error.contains("must be a superuser")
                || error.contains("privileges of"),
            "{first}: {error}"
        );
        assert!(
            doc["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains(
                    "the --scratch-db role postgres is a superuser; the batch ran as an unprivileged role"
                )),
            "{doc:#}"
        );
        assert!(
            !out.contains("root:") && !err.contains("root:"),
            "{out}{err}"
        );
        assert_eq!(
            leftovers(c, r["scratch_database"].as_str().unwrap()),
            "0",
            "{first}"
        );
    }
    assert!(!marker.exists(), "COPY TO PROGRAM ran a program");
    assert_eq!(
        c.sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{pwned}'")
        ),
        "0",
        "dblink wrote into another database"
    );
    assert_eq!(
        victim.run("SELECT 41 + 1;").trim(),
        "42",
        "the session was ended"
    );
}

/// A batch that runs past `--rehearse-timeout` is stopped (statement_timeout), named as the
/// failing migration, and the scratch database is dropped. The bound is generous: the
/// statement would sleep 600 s.
#[test]
fn the_batch_is_bounded_by_rehearse_timeout() {
    let c = PgCluster::shared();
    let (live_url, pending) = live(c);
    let dir = tempfile::tempdir().unwrap();
    clone_with(dir.path(), &pending, "SELECT pg_sleep(600);");
    let started = Instant::now();
    let (out, err, code) = run(migtag().args(gate_args(
        &live_url,
        &superuser_url(c),
        dir.path(),
        &["--rehearse-timeout", "2s"],
    )));
    assert!(started.elapsed() < Duration::from_secs(300));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 3, "{doc:#}\n{err}");
    let error = doc["rehearsal"]["failure"]["error"].as_str().unwrap();
    assert!(error.contains("statement timeout"), "{error}");
    assert_eq!(
        leftovers(c, doc["rehearsal"]["scratch_database"].as_str().unwrap()),
        "0"
    );
}

/// SIGINT and SIGTERM while the batch is busy: the scratch database and the role are dropped
/// (from the admin connection, ending the busy session), exit 10 with the signal named.
#[test]
fn sigint_and_sigterm_drop_the_scratch_database_while_the_batch_is_busy() {
    let c = PgCluster::shared();
    let (live_url, pending) = live(c);
    let dropped =
        regex::Regex::new(r"the scratch database (migtag_rehearse_\w+) was dropped").unwrap();
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let sleep = format!("SELECT pg_sleep(600) /* {signal} */;");
        clone_with(dir.path(), &pending, &sleep);
        let home = crate::common::scratch_home();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("migtag"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("MIGTAG_NOW", crate::common::TEST_NOW)
            .args(gate_args(&live_url, &superuser_url(c), dir.path(), &[]))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The event: the batch's statement is running on the scratch database.
        let busy = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600) /* {signal} */%' \
             AND state = 'active' AND pid <> pg_backend_pid()"
        );
        let waited = Instant::now();
        while c.sql("postgres", &busy) != "1" {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "the batch never started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let killed = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(10), "{err}");
        assert!(
            err.contains(&format!("the rehearsal was interrupted by SIG{signal}"))
                && err.contains("was dropped"),
            "{err}"
        );
        let name = dropped
            .captures(&err)
            .map(|m| m[1].to_string())
            .unwrap_or_else(|| panic!("{err}"));
        assert_eq!(leftovers(c, &name), "0", "SIG{signal}");
        assert_eq!(c.sql("postgres", &busy), "0", "the busy session was ended");
    }
}

/// `index effects` replays `--sql` the same way: with a superuser `--scratch-db`, a migration
/// that runs a program on the server fails instead, and the program does not run.
#[test]
fn index_effects_replays_as_an_unprivileged_role_too() {
    let c = PgCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran-a-program");
    let clone = dir.path().join("clone");
    let migrations = clone.join("coderd/database/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("000001_init.up.sql"),
        format!("COPY (SELECT 1) TO PROGRAM 'touch {}';", marker.display()),
    )
    .unwrap();
    let (_, err, code) = run(migtag()
        .args([
            "index",
            "effects",
            "--scratch-db",
            &superuser_url(c),
            "--sql",
        ])
        .arg(&clone)
        .arg("--out")
        .arg(dir.path().join("effects.json")));
    assert_ne!(code, 0, "{err}");
    let lower = err.to_lowercase();
    assert!(
        lower.contains("permission denied")
            || lower.contains("must be superuser")
            || lower.contains("privileges of"),
        "{err}"
    );
    assert!(!marker.exists(), "COPY TO PROGRAM ran a program");
    assert!(!dir.path().join("effects.json").exists());
}
