//! `migtag repair clear-dirty` and `migtag repair terminate` against a real PostgreSQL (see
//! `pg.rs`): the compare-and-set changes exactly the row it saw, refuses everything else and
//! changes nothing then (the table and the server's statement log both show it); nothing
//! happens without confirmation; terminate ends only idle sessions of the same database
//! older than the bound. A real terminal (util-linux `script`) drives the interactive prompt.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{migtag, run, scratch_home};
use crate::db::logged_statements;
use crate::pg::{PgCluster, Session};

/// A password that must never show up in any output.
const PW: &str = "Rp-sentinel-7Kq2";

/// A database owned by a Coder-like role, with golang-migrate's table holding `row` (no
/// table for `None`, an empty one for `Some(None)`), and every statement logged.
/// No table (`None`), an empty table (`Some(None)`), or one row.
type Table = Option<Option<(i64, bool)>>;

struct Fixture {
    db: String,
    role: String,
    app: String,
}

impl Fixture {
    fn new(c: &PgCluster, table: Table) -> Fixture {
        let role = c.create_role("coder", PW);
        let db = c.create_db("repair");
        c.sql("postgres", &format!("ALTER DATABASE {db} OWNER TO {role}"));
        c.sql(
            "postgres",
            &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
        );
        if let Some(row) = table {
            c.sql(
                &db,
                &format!(
                    "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
                     ALTER TABLE schema_migrations OWNER TO {role};"
                ),
            );
            if let Some((v, d)) = row {
                c.sql(
                    &db,
                    &format!("INSERT INTO schema_migrations VALUES ({v}, {d})"),
                );
            }
        }
        Fixture {
            db,
            role,
            // migtag always connects as `migtag`; the database is this fixture's own.
            app: "migtag".to_string(),
        }
    }

    fn url(&self, c: &PgCluster) -> String {
        c.url(&self.role, PW, &self.db)
    }

    /// The table as psql prints it: `68|t`, or empty.
    fn row(&self, c: &PgCluster) -> String {
        c.sql(&self.db, "SELECT version, dirty FROM schema_migrations")
    }

    /// Statements migtag sent (this database, this application name).
    fn statements(&self, c: &PgCluster) -> Vec<String> {
        logged_statements(&c.flushed_log(), &self.db, &self.app)
    }

    fn connections(&self, c: &PgCluster) -> usize {
        c.log_text()
            .lines()
            .filter(|l| {
                l.contains("connection authorized")
                    && l.contains(&format!(
                        "database={} application_name={}",
                        self.db, self.app
                    ))
            })
            .count()
    }
}

/// Runs migtag with stdin piped (so never a terminal: a piped `yes` must not count) and
/// checks that the password is nowhere in its output.
fn repair(args: &[&str]) -> (String, String, i32) {
    let mut cmd = migtag();
    cmd.args(["--color", "never", "repair"]).args(args);
    // These databases hold a bare schema_migrations table, not Coder's schema: the tests
    // here are about the repair's own transaction, so the schema evidence (its own read-only
    // session) is left out; tests/cli/verify.rs covers it on real schemas.
    if args.first() == Some(&"clear-dirty") {
        cmd.arg("--no-schema");
    }
    let (out, err, code) = run(cmd.write_stdin("yes\n"));
    assert!(
        !out.contains(PW) && !err.contains(PW),
        "the password leaked:\n{out}\n{err}"
    );
    (out, err, code)
}

fn json(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"))
}

/// Asserts that the log shows no statement that writes, and that the transaction, if any,
/// was rolled back.
fn assert_nothing_written(statements: &[String]) {
    let write = regex::Regex::new(
        r"(?i)^\s*(INSERT|UPDATE|DELETE|TRUNCATE|MERGE|CREATE|ALTER|DROP|COPY|COMMIT)\b",
    )
    .unwrap();
    for s in statements {
        assert!(
            !write.is_match(s),
            "a write was sent: {s}\nall: {statements:#?}"
        );
    }
    if statements
        .iter()
        .any(|s| s.starts_with("START TRANSACTION"))
    {
        assert!(
            statements.iter().any(|s| s == "ROLLBACK"),
            "the transaction was rolled back: {statements:#?}"
        );
    }
}

#[test]
fn clear_dirty_with_yes_moves_the_row_to_the_previous_migration() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["outcome"], "changed", "{doc:#}");
    assert_eq!(doc["changed"], true);
    assert_eq!(
        doc["before"],
        serde_json::json!({"version": 68, "dirty": true})
    );
    assert_eq!(
        doc["after"],
        serde_json::json!({"version": 67, "dirty": false})
    );
    assert_eq!(doc["rows_changed"], 1);
    assert_eq!(doc["previous"]["version"], 67);
    assert_eq!(
        doc["migration"]["name"],
        "update_template_version_created_by"
    );
    assert_eq!(doc["table"], "public.schema_migrations");
    assert_eq!(doc["database"]["database"], f.db.as_str());
    assert!(
        doc.get("candidates").is_none(),
        "one candidate is not listed"
    );
    let statement =
        "UPDATE public.schema_migrations SET version = 67, dirty = false WHERE version = 68 AND dirty";
    assert_eq!(doc["statement"], statement);
    assert!(
        err.contains(statement),
        "the plan is shown on stderr: {err}"
    );
    assert_eq!(f.row(c), "67|f");

    // The server saw exactly this, in one transaction, and nothing else that writes.
    let s = f.statements(c);
    let sent: Vec<&str> = s
        .iter()
        .map(String::as_str)
        .filter(|s| !s.starts_with("WITH me AS"))
        .collect();
    assert_eq!(
        sent,
        vec![
            "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE",
            "SET LOCAL lock_timeout = '2000ms'",
            "SELECT pg_try_advisory_xact_lock(1037453835920848937)",
            "SELECT version, dirty FROM public.schema_migrations FOR UPDATE",
            "SET LOCAL idle_in_transaction_session_timeout = '120000ms'",
            statement,
            "SELECT version, dirty FROM public.schema_migrations",
            "COMMIT",
        ],
        "{s:#?}"
    );

    // Human output: the plan, then exactly what changed.
    let f = Fixture::new(c, Some(Some((68, true))));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("found:    public.schema_migrations = (68, dirty)"),
        "{out}"
    );
    assert!(out.contains(&format!("  {statement}\n")), "{out}");
    assert!(
        out.contains("changed: public.schema_migrations (68, dirty) -> (67, clean) (committed)"),
        "{out}"
    );
    assert!(out.contains("next: run ghcr.io/coder/coder:v"), "{out}");
    assert!(!out.contains(PW));
    assert_eq!(f.row(c), "67|f");
}

#[test]
fn clear_dirty_of_a_first_migration_removes_the_row() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((1, true))));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "1",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(
        doc["statement"],
        "DELETE FROM public.schema_migrations WHERE version = 1 AND dirty"
    );
    assert_eq!(doc["previous"], Value::Null);
    assert_eq!(doc["after"], Value::Null);
    assert_eq!(doc["changed"], true);
    assert_eq!(f.row(c), "");
}

#[test]
fn clear_dirty_refuses_any_other_row_and_writes_nothing() {
    let c = PgCluster::shared();
    let cases: [(Table, &str, &str); 4] = [
        (
            Some(Some((69, true))),
            "row_differs",
            "the row is (69, dirty), not (68, dirty)",
        ),
        (
            Some(Some((68, false))),
            "row_differs",
            "the row is (68, clean)",
        ),
        (Some(None), "row_differs", "the table holds no row"),
        (
            None,
            "no_table",
            "there is no schema_migrations table in schema public",
        ),
    ];
    for (table, reason, message) in cases {
        let f = Fixture::new(c, table);
        let before = if table.is_some() {
            f.row(c)
        } else {
            String::new()
        };
        let (out, err, code) = repair(&[
            "clear-dirty",
            "--expect-version",
            "68",
            "--yes",
            "--db",
            &f.url(c),
            "--format",
            "json",
        ]);
        assert_eq!(code, 4, "{reason}: {out}{err}");
        let doc = json(&out, &err);
        assert_eq!(doc["outcome"], "refused", "{doc:#}");
        assert_eq!(doc["changed"], false);
        assert_eq!(doc["refusal"]["reason"], reason, "{doc:#}");
        assert!(
            doc["refusal"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{doc:#}"
        );
        assert_eq!(
            doc.get("statement"),
            None,
            "no statement was prepared: {doc:#}"
        );
        if table.is_some() {
            assert_eq!(f.row(c), before, "the row is untouched");
        }
        assert_nothing_written(&f.statements(c));
    }

    // Human form says what it found and that nothing changed.
    let f = Fixture::new(c, Some(Some((69, true))));
    let (out, _, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 4);
    assert!(
        out.contains("refused: the row is (69, dirty), not (68, dirty)"),
        "{out}"
    );
    assert!(out.ends_with("nothing was changed\n"), "{out}");
    assert_eq!(f.row(c), "69|t");
}

#[test]
fn clear_dirty_without_a_terminal_or_yes_changes_nothing() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    // stdin is a pipe that says "yes": that is not a confirmation.
    let (out, err, code) = repair(&["clear-dirty", "--expect-version", "68", "--db", &f.url(c)]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("UPDATE public.schema_migrations SET version = 67, dirty = false WHERE version = 68 AND dirty"),
        "the plan is shown: {out}"
    );
    assert!(out.contains("not confirmed: nothing was changed"), "{out}");
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(f.row(c), "68|t");
    let s = f.statements(c);
    assert_nothing_written(&s);
    assert!(
        !s.iter().any(|s| s.starts_with("UPDATE")),
        "the UPDATE was never sent: {s:#?}"
    );

    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    let doc = json(&out, &err);
    assert_eq!(doc["outcome"], "not_confirmed");
    assert_eq!(doc["changed"], false);
    assert_eq!(f.row(c), "68|t");
}

#[test]
fn clear_dirty_refuses_while_a_migration_holds_coders_lock() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    let mut coder = c.session_as(&f.db, "coder-migration-sim", &f.role, PW);
    coder.run("BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937);");
    let start = Instant::now();
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "it must not wait for the lock"
    );
    assert_eq!(code, 4, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["refusal"]["reason"], "migration_running", "{doc:#}");
    assert_eq!(doc["refusal"]["holder"]["pid"], coder.pid);
    assert_eq!(
        doc["refusal"]["holder"]["application_name"],
        "coder-migration-sim"
    );
    assert_eq!(doc["before"], Value::Null, "the row was not even read");
    assert_nothing_written(&f.statements(c));
    coder.run("ROLLBACK;");
    assert_eq!(f.row(c), "68|t");

    // Once the migration is gone, the same command goes through.
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(f.row(c), "67|f");
}

#[test]
fn clear_dirty_refuses_while_another_session_is_changing_the_row() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    let mut other = c.session_as(&f.db, "hand-edit", &f.role, PW);
    other.run("BEGIN; UPDATE schema_migrations SET version = 69 WHERE version = 68;");
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--lock-timeout",
        "300ms",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["refusal"]["reason"], "table_locked", "{doc:#}");
    let holders = doc["refusal"]["lock_holders"].as_array().unwrap();
    assert!(
        holders
            .iter()
            .any(|h| h["pid"] == other.pid && h["application_name"] == "hand-edit"),
        "{doc:#}"
    );
    assert_nothing_written(&f.statements(c));
    // The other session's change wins; migtag's never happened.
    other.run("COMMIT;");
    assert_eq!(f.row(c), "69|t");
    let (_, _, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 4, "the row moved on: the old expectation is refused");
    assert_eq!(f.row(c), "69|t");
}

#[test]
fn disagreeing_releases_need_to_and_it_must_be_a_candidate() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((316, true))));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "316",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("000313 workspace_app_statuses (if written by v2.21.1)"),
        "{err}"
    );
    assert!(err.contains("000315"), "{err}");
    assert!(err.contains("pass --to with one of: 313, 315"), "{err}");
    let (_, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "316",
        "--to",
        "314",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--to 314 is not a previous migration of 316"),
        "{err}"
    );
    assert_eq!(f.connections(c), 0, "refused before connecting");
    assert_eq!(f.row(c), "316|t");

    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "316",
        "--to",
        "315",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["candidates"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(
        doc["after"],
        serde_json::json!({"version": 315, "dirty": false})
    );
    assert_eq!(f.row(c), "315|f");

    // --deployed names the writer instead.
    let f = Fixture::new(c, Some(Some((316, true))));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "316",
        "--deployed",
        "v2.21.1",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(f.row(c), "313|f");

    // A version no release ships: no previous migration to go back to.
    let (_, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "99999",
        "--yes",
        "--db",
        &f.url(c),
    ]);
    assert_eq!(code, 5, "{err}");
}

#[test]
fn a_wrong_password_fails_without_showing_it() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    let url = format!(
        "postgres://{}:{}x@127.0.0.1:{}/{}",
        f.role, PW, c.port, f.db
    );
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--db",
        &url,
    ]);
    assert_eq!(code, 10, "{out}{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains(&format!("{PW}x")));
    assert_eq!(f.row(c), "68|t");
}

/// Runs migtag inside a real pseudo-terminal (`script`), waits for `prompt`, calls `between`,
/// then types `answer`. Returns everything the terminal showed and the exit code.
fn in_terminal(args: &[&str], prompt: &str, between: impl FnOnce(), answer: &str) -> (String, i32) {
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let line = std::iter::once(bin.display().to_string())
        .chain(["--color", "never", "repair"].iter().map(|s| s.to_string()))
        .chain(args.iter().map(|s| s.to_string()))
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch_home())
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux `script` runs (it gives migtag a terminal)");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let start = Instant::now();
    while !seen.lock().unwrap().contains(prompt) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no prompt; the terminal shows:\n{}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    between();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{answer}").unwrap();
    stdin.flush().unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let text = seen.lock().unwrap().replace("\r\n", "\n");
    assert!(!text.contains(PW), "the password leaked: {text}");
    (text, status.code().expect("an exit code"))
}

#[test]
fn a_terminal_must_type_yes() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    let url = f.url(c);
    let args = [
        "clear-dirty",
        "--expect-version",
        "68",
        "--db",
        url.as_str(),
    ];
    let (text, code) = in_terminal(&args, "Type yes", || {}, "y");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cancelled: nothing was changed"), "{text}");
    assert_eq!(f.row(c), "68|t");

    // While migtag waits for the answer it holds Coder's migration lock: no Coder binary can
    // start migrating under it.
    let mut other = c.session_as(&f.db, "hand-edit", &f.role, PW);
    let (text, code) = in_terminal(
        &args,
        "Type yes",
        || {
            let granted = other.run("SELECT pg_try_advisory_xact_lock(1037453835920848937);");
            assert_eq!(
                granted.trim(),
                "f",
                "Coder's migration lock is held by migtag"
            );
        },
        "yes",
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("changed: public.schema_migrations (68, dirty) -> (67, clean) (committed)"),
        "{text}"
    );
    assert_eq!(f.row(c), "67|f");
}

/// Waits until `pid` shows `state` in pg_stat_activity.
fn wait_state(c: &PgCluster, pid: i32, state: &str) {
    c.wait_for(
        "postgres",
        &format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}"),
        state,
    );
}

fn alive(c: &PgCluster, pid: i32) -> bool {
    c.sql(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"),
    ) == "1"
}

fn pids(v: &Value) -> Vec<i64> {
    let mut p: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().or_else(|| x["pid"].as_i64()).unwrap())
        .collect();
    p.sort();
    p
}

struct Sessions {
    old_idle: Session,
    old_in_tx: Session,
    old_aborted: Session,
    other_db: Session,
    fresh: Session,
    active: Session,
}

/// Three sessions idle for longer than 2s on `f.db`, one on another database, one idle for
/// less, one running a statement.
fn sessions(c: &PgCluster, f: &Fixture) -> Sessions {
    let other_db = c.create_db("repair_other");
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {other_db} OWNER TO {}", f.role),
    );
    let old_idle = c.session_as(&f.db, "old-idle", &f.role, PW);
    let mut old_in_tx = c.session_as(&f.db, "old-in-tx", &f.role, PW);
    old_in_tx.run("BEGIN; SELECT 1;");
    let mut old_aborted = c.session_as(&f.db, "old-aborted", &f.role, PW);
    old_aborted.run("BEGIN; SELECT 1/0;");
    let other = c.session_as(&other_db, "other-db", &f.role, PW);
    c.wait_in_state_longer_than(
        &[old_idle.pid, old_in_tx.pid, old_aborted.pid, other.pid],
        2.3,
    );
    let fresh = c.session_as(&f.db, "fresh", &f.role, PW);
    let mut active = c.session_as(&f.db, "active", &f.role, PW);
    active.send("SELECT pg_sleep(20);");
    wait_state(c, active.pid, "active");
    wait_state(c, old_aborted.pid, "idle in transaction (aborted)");
    Sessions {
        old_idle,
        old_in_tx,
        old_aborted,
        other_db: other,
        fresh,
        active,
    }
}

#[test]
fn terminate_ends_only_idle_sessions_of_this_database_older_than_the_bound() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((168, false))));
    let s = sessions(c, &f);
    let (out, err, code) = repair(&[
        "terminate",
        "--older-than",
        "2s",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    let mut want = vec![
        s.old_idle.pid as i64,
        s.old_in_tx.pid as i64,
        s.old_aborted.pid as i64,
    ];
    want.sort();
    assert_eq!(doc["outcome"], "changed", "{doc:#}");
    assert_eq!(pids(&doc["ended"]), want, "{doc:#}");
    assert_eq!(pids(&doc["targets"]), want);
    assert_eq!(doc["not_ended"], serde_json::json!([]));
    let kept: Vec<(i64, String)> = doc["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["pid"].as_i64().unwrap(),
                k["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kept.contains(&(s.fresh.pid as i64, "under_bound".into())),
        "{kept:?}"
    );
    assert!(
        kept.contains(&(s.active.pid as i64, "not_idle".into())),
        "{kept:?}"
    );
    let own = doc["database"]["backend_pid"].as_i64().unwrap();
    let everyone: Vec<i64> = pids(&doc["targets"])
        .into_iter()
        .chain(kept.iter().map(|k| k.0))
        .collect();
    assert!(!everyone.contains(&own), "its own session is never listed");
    assert!(
        !everyone.contains(&(s.other_db.pid as i64)),
        "another database's session is never listed"
    );
    assert!(
        err.contains("pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = "),
        "{err}"
    );

    for p in [s.old_idle.pid, s.old_in_tx.pid, s.old_aborted.pid] {
        assert!(!alive(c, p), "pid {p} was ended");
    }
    for p in [s.other_db.pid, s.fresh.pid, s.active.pid] {
        assert!(alive(c, p), "pid {p} is untouched");
    }
    c.sql(
        "postgres",
        &format!("SELECT pg_cancel_backend({})", s.active.pid),
    );
}

#[test]
fn terminate_without_confirmation_ends_nothing_and_says_so_when_nothing_is_old() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((168, false))));
    let old = c.session_as(&f.db, "old-idle", &f.role, PW);
    c.wait_in_state_longer_than(&[old.pid], 1.2);
    let (out, err, code) = repair(&["terminate", "--older-than", "1s", "--db", &f.url(c)]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains(&format!("pid {}, idle for", old.pid)), "{out}");
    assert!(out.contains("not confirmed: no session was ended"), "{out}");
    assert!(err.contains("pass --yes"), "{err}");
    assert!(alive(c, old.pid));
    assert!(
        !f.statements(c)
            .iter()
            .any(|s| s.contains("pg_terminate_backend")),
        "no termination was sent"
    );

    let (out, err, code) = repair(&[
        "terminate",
        "--older-than",
        "1h",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["outcome"], "nothing_to_do");
    assert_eq!(doc["targets"], serde_json::json!([]));
    assert!(alive(c, old.pid));
}

#[test]
fn terminate_reports_sessions_the_role_may_not_end() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((168, false))));
    c.sql(
        "postgres",
        &format!("GRANT pg_read_all_stats TO {}", f.role),
    );
    let superuser = c.session(&f.db, "superuser-idle");
    let mine = c.session_as(&f.db, "mine-idle", &f.role, PW);
    c.wait_in_state_longer_than(&[superuser.pid, mine.pid], 1.2);
    let (out, err, code) = repair(&[
        "terminate",
        "--older-than",
        "1s",
        "--yes",
        "--db",
        &f.url(c),
        "--format",
        "json",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(pids(&doc["ended"]), vec![mine.pid as i64], "{doc:#}");
    assert_eq!(
        pids(&doc["not_ended"]),
        vec![superuser.pid as i64],
        "{doc:#}"
    );
    let attempt = doc["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["pid"] == superuser.pid)
        .unwrap();
    assert_eq!(attempt["result"], "permission_denied", "{doc:#}");
    assert!(alive(c, superuser.pid));
    assert!(!alive(c, mine.pid));
}

#[test]
fn terminate_spares_a_session_that_ran_a_statement_after_the_listing() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((168, false))));
    let mut busy = c.session_as(&f.db, "woke-up", &f.role, PW);
    let idle = c.session_as(&f.db, "still-idle", &f.role, PW);
    c.wait_in_state_longer_than(&[busy.pid, idle.pid], 1.2);
    let url = f.url(c);
    let (text, code) = in_terminal(
        &["terminate", "--older-than", "1s", "--db", &url],
        "Type yes",
        || {
            // Between the listing and the answer, it runs a statement (and is idle again).
            busy.run("SELECT 1;");
        },
        "yes",
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("ended: pid {}", idle.pid)), "{text}");
    assert!(
        text.contains(&format!(
            "not ended: pid {} (it ended, ran a statement, or changed since the listing; left alone)",
            busy.pid
        )),
        "{text}"
    );
    assert!(alive(c, busy.pid));
    assert!(!alive(c, idle.pid));
}

/// Coder's table may live in another schema (`search_path=coder` in its URL): migtag changes
/// the row in the schema the connection selects, never a same-named table elsewhere.
#[test]
fn clear_dirty_changes_the_table_in_the_connections_schema() {
    let c = PgCluster::shared();
    let f = Fixture::new(c, Some(Some((68, true))));
    c.sql(
        &f.db,
        &format!(
            "CREATE SCHEMA coder AUTHORIZATION {role};\
             CREATE TABLE coder.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
             ALTER TABLE coder.schema_migrations OWNER TO {role};\
             INSERT INTO coder.schema_migrations VALUES (168, true);",
            role = f.role
        ),
    );
    let url = format!("{}?search_path=coder", f.url(c));
    let (out, err, code) = repair(&[
        "clear-dirty",
        "--expect-version",
        "168",
        "--yes",
        "--db",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json(&out, &err);
    assert_eq!(doc["table"], "coder.schema_migrations");
    assert_eq!(
        doc["statement"],
        "UPDATE coder.schema_migrations SET version = 167, dirty = false WHERE version = 168 AND dirty"
    );
    assert_eq!(
        c.sql(&f.db, "SELECT version, dirty FROM coder.schema_migrations"),
        "167|f"
    );
    assert_eq!(f.row(c), "68|t", "public.schema_migrations is untouched");
}
