//! `migtag watch` over real batches: schemas built from Coder's real SQL (coder_sql.rs) on a
//! real PostgreSQL 15, and a batch run as Coder runs it: one connection, one transaction
//! that first takes `pg_advisory_xact_lock(1037453835920848937)`, then per migration
//! golang-migrate's `TRUNCATE`/`INSERT` of the row around the file sent as one query.
//!
//! The batch waits at a gate right after it took the lock, until the watch has said it sees
//! the lock holder, so no test depends on how fast either side is; every wait is bounded
//! generously and fails with what it saw.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::coder_sql::{database_with, set_row, source};
use crate::common::migtag;
use crate::pg::PgCluster;

const CODER_LOCK_KEY: i64 = 1037453835920848937;

fn url(c: &PgCluster, db: &str) -> String {
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

/// A Coder batch on its own thread. It takes the lock, says so, waits for `go`, runs the
/// files, and commits (or rolls back at the first error, as Coder does).
struct Batch {
    pid: i32,
    go: mpsc::Sender<()>,
    done: std::thread::JoinHandle<Result<(), String>>,
}

/// A batch that has not taken the lock yet (it may be queued behind another's).
struct QueuedBatch {
    ready: mpsc::Receiver<i32>,
    go: mpsc::Sender<()>,
    done: std::thread::JoinHandle<Result<(), String>>,
}

impl QueuedBatch {
    /// Waits until it holds Coder's migration lock.
    fn holding(self) -> Batch {
        let pid = self
            .ready
            .recv_timeout(Duration::from_secs(60))
            .expect("the batch took Coder's migration lock");
        Batch {
            pid,
            go: self.go,
            done: self.done,
        }
    }
}

fn start_batch(c: &PgCluster, db: &str, versions: Vec<u64>, tag: &str) -> Batch {
    spawn_batch(c, db, versions, tag).holding()
}

fn spawn_batch(c: &PgCluster, db: &str, versions: Vec<u64>, tag: &str) -> QueuedBatch {
    let src = source();
    let files: Vec<(u64, String)> = versions
        .into_iter()
        .map(|v| {
            let f = src
                .at_tag(v, tag)
                .or_else(|| src.newest(v, true))
                .unwrap_or_else(|| panic!("no {v:06}.up.sql"));
            (v, f.text.clone())
        })
        .collect();
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(&c.socket_dir)
        .port(c.port)
        .user("postgres")
        .dbname(db)
        .application_name("coderd");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let q = |sql: String| {
                let client = &client;
                async move {
                    client
                        .simple_query(&sql)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{sql:.80}: {e:?}"))
                }
            };
            q("BEGIN".into()).await?;
            q(format!("SELECT pg_advisory_xact_lock({CODER_LOCK_KEY})")).await?;
            let pid: i32 = match client.simple_query("SELECT pg_backend_pid()").await {
                Ok(m) => m
                    .iter()
                    .find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                        _ => None,
                    })
                    .unwrap_or(0),
                Err(e) => return Err(e.to_string()),
            };
            ready_tx.send(pid).unwrap();
            go_rx
                .recv_timeout(Duration::from_secs(120))
                .map_err(|_| "no go".to_string())?;
            for (v, text) in &files {
                let step = async {
                    q("TRUNCATE schema_migrations".into()).await?;
                    q(format!(
                        "INSERT INTO schema_migrations (version, dirty) VALUES ({v}, true)"
                    ))
                    .await?;
                    q(text.clone()).await?;
                    q("TRUNCATE schema_migrations".into()).await?;
                    q(format!(
                        "INSERT INTO schema_migrations (version, dirty) VALUES ({v}, false)"
                    ))
                    .await
                };
                if let Err(e) = step.await {
                    let _ = client.simple_query("ROLLBACK").await;
                    return Err(format!("{v:06}: {e}"));
                }
            }
            q("COMMIT".into()).await
        })
    });
    QueuedBatch {
        ready: ready_rx,
        go: go_tx,
        done,
    }
}

/// `migtag --format json watch ...` with stdout read line by line.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<Value>,
}

fn start_watch(db_url: &str, extra: &[&str]) -> Watch {
    use assert_cmd::cargo::CommandCargoExt;
    let home = crate::common::scratch_home();
    let mut cmd = std::process::Command::cargo_bin("migtag").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("MIGTAG_NOW", crate::common::TEST_NOW);
    let mut child = cmd
        .args([
            "--format",
            "json",
            "watch",
            "--db",
            db_url,
            "--interval",
            "100ms",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("migtag starts");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Watch {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl Watch {
    /// Reads lines until one satisfies `want`; panics after `limit` with what it saw.
    fn until(&mut self, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        while start.elapsed() < limit {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                    self.seen.push(v.clone());
                    if want(&v) {
                        return v;
                    }
                    if v["event"] == "ended" {
                        panic!("watch ended first: {v:#}\nall lines: {:#?}", self.seen);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        panic!("no wanted line within {limit:?}; lines: {:#?}", self.seen);
    }

    /// Reads to the end; the last line and the exit code.
    fn finish(mut self, limit: Duration) -> (Value, i32, Vec<Value>) {
        let last = self.until(limit, |v| v["event"] == "ended");
        let start = Instant::now();
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < limit,
                "watch did not exit after its last line"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (last, code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `migtag watch` on a pseudo-terminal for about three seconds (several redraws even on a
/// busy machine); what the terminal received.
fn on_terminal(db_url: &str, no_color: bool) -> String {
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    let home = crate::common::scratch_home();
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TERM", "xterm")
        .env("MIGTAG_NOW", crate::common::TEST_NOW);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd
        .args(["-qec"])
        .arg(format!(
            "'{}' watch --db '{db_url}' --timeout 3s --interval 200ms",
            bin.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script runs (apt-get install -y bsdutils)");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn v2_26_0(c: &'static PgCluster) -> String {
    let db = database_with(c, "watch-v2.26.0", (1..=362).collect(), Some("v2.26.0"));
    set_row(c, &db, 362, false);
    db
}

const LONG: Duration = Duration::from_secs(180);

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn the_26_to_27_batch_is_followed_through_000371_to_its_commit_at_376() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // Enough api_keys that 000371's backfill runs for seconds, all of one user (inserted
    // in replica mode for speed; the key exists, so 000371's UPDATE passes the foreign key).
    c.sql(
        &db,
        "INSERT INTO users (id, email, username, hashed_password, created_at, updated_at) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'a@example.com', 'a', '\\x00', now(), now()); \
         SET session_replication_role = replica; \
         INSERT INTO api_keys (id, hashed_secret, user_id, last_used, expires_at, created_at, updated_at, login_type) \
         SELECT 'key' || g, '\\x00', '00000000-0000-0000-0000-000000000001', now(), now() + interval '30 days', now(), now(), 'password' \
           FROM generate_series(1, 300000) g; ANALYZE",
    );
    let batch = start_batch(c, &db, (363..=376).collect(), "v2.27.0");
    // The Deployment being rolled out names the target (its image) and the probe budget.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coder, namespace: coder}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: coder}}\n  template:\n    metadata: {labels: {app: coder}}\n    spec:\n      containers:\n        - name: coder\n          image: ghcr.io/coder/coder:v2.27.0\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 3}\n",
    )
    .unwrap();
    let manifest = manifest.display().to_string();
    let mut w = start_watch(&url(c, &db), &["--manifest", &manifest, "--timeout", "10m"]);
    let first = w.until(LONG, |v| v["event"] == "running");
    assert_eq!(first["pid"], batch.pid, "{first:#}");
    assert_eq!(first["probe"]["probe"], "livenessProbe", "{first:#}");
    assert_eq!(first["probe"]["budget_seconds"], 30, "{first:#}");
    assert!(
        first["probe"]["left_seconds"].as_f64().unwrap() <= 30.0,
        "{first:#}"
    );
    assert_eq!(first["application"], "coderd", "{first:#}");
    batch.go.send(()).unwrap();
    let during = w.until(LONG, |v| v["migration"]["version"] == 371);
    let m = &during["migration"];
    assert_eq!(m["name"], "api_key_scopes_array_allow_list", "{during:#}");
    // 363..376: 371 is the 9th, with 5 after it (counted from the first migration seen).
    assert_eq!(m["position"]["remaining"], 5, "{during:#}");
    assert!(m["position"]["of"].as_u64().unwrap() >= m["position"]["k"].as_u64().unwrap());
    // The forecast of the 000371 v2.27.0 ships: an UPDATE of every one of the 300,000 rows,
    // from the table's statistics (seconds, not the fraction of one).
    assert!(
        m["forecast"]["high_seconds"].as_f64().unwrap() > 1.0,
        "{during:#}"
    );
    let (last, code, all) = w.finish(LONG);
    assert_eq!(batch.done.join().unwrap(), Ok(()));
    assert_eq!(code, 0, "{last:#}\n{all:#?}");
    assert_eq!(last["outcome"], "committed", "{last:#}");
    assert_eq!(last["version"], 376, "{last:#}");
    // Several polls saw 000371 running: it was followed, not glimpsed.
    let polls_371 = all
        .iter()
        .filter(|v| v["migration"]["version"] == 371)
        .count();
    assert!(polls_371 >= 2, "{all:#?}");
    assert_eq!(
        c.sql(&db, "SELECT version || ' ' || dirty FROM schema_migrations"),
        "376 false"
    );
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn the_v2_21_1_set_to_v2_22_0_batch_rolls_back_and_watch_exits_3() {
    let c = PgCluster::shared();
    let set: Vec<u64> = (1..=310).chain([312, 313, 316]).collect();
    let db = database_with(c, "v2.21.1", set, Some("v2.21.1"));
    set_row(c, &db, 316, false);
    let batch = start_batch(c, &db, (317..=326).collect(), "v2.22.0");
    let mut w = start_watch(&url(c, &db), &["--target", "v2.22.0", "--timeout", "10m"]);
    w.until(LONG, |v| v["event"] == "running");
    batch.go.send(()).unwrap();
    let (last, code, all) = w.finish(LONG);
    let failed = batch.done.join().unwrap().unwrap_err();
    assert!(failed.starts_with("000323"), "{failed}");
    assert_eq!(code, 3, "{last:#}\n{all:#?}");
    assert_eq!(last["outcome"], "rolled_back", "{last:#}");
    assert_eq!(last["version"], 316, "{last:#}");
    let summary = last["summary"].as_str().unwrap();
    assert!(summary.starts_with("rolled back"), "{summary}");
    assert!(summary.contains("still at 000316"), "{summary}");
    assert!(
        last["logs"].as_str().unwrap().contains("migration failed"),
        "{last:#}"
    );
    assert_eq!(
        c.sql(&db, "SELECT version || ' ' || dirty FROM schema_migrations"),
        "316 false"
    );

    // The human form says the same.
    let (out, _, code) =
        crate::common::run(migtag().args(["watch", "--db", &url(c, &db), "--target", "v2.22.0"]));
    assert_eq!(
        code, 4,
        "nothing runs now and v2.22.0's 10 migrations wait: {out}"
    );
    assert!(out.contains("no migration is running: the row is 000316 (clean); the target's 10 pending migrations are not being applied"), "{out}");
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn an_idle_transaction_on_api_keys_shows_as_the_blocker_with_its_pid_and_age() {
    let c = PgCluster::shared();
    let db = v2_26_0(c);
    // An old replica that read api_keys in a transaction it never ended.
    let mut old = c.session(&db, "coder-old-replica");
    old.run("BEGIN; SELECT count(*) FROM api_keys;");
    let batch = start_batch(c, &db, (363..=376).collect(), "v2.27.0");

    // Nothing has moved yet: --timeout ends the watch with exit 4.
    let (out, err, code) = crate::common::run(migtag().args([
        "watch",
        "--db",
        &url(c, &db),
        "--timeout",
        "300ms",
        "--interval",
        "100ms",
    ]));
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(out.contains("timed out after"), "{out}");

    let mut w = start_watch(&url(c, &db), &["--target", "v2.27.0", "--timeout", "10m"]);
    w.until(LONG, |v| v["event"] == "running");
    batch.go.send(()).unwrap();
    let blocked = w.until(LONG, |v| {
        v["blocked_by"]
            .as_array()
            .is_some_and(|b| b.iter().any(|p| p["pid"] == old.pid))
    });
    let b = blocked["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == old.pid)
        .unwrap()
        .clone();
    assert_eq!(b["application"], "coder-old-replica", "{blocked:#}");
    assert_eq!(b["state"], "idle in transaction", "{blocked:#}");
    assert!(b["xact_seconds"].as_f64().unwrap() > 0.0, "{blocked:#}");
    assert!(b["state_seconds"].as_f64().is_some(), "{blocked:#}");
    assert_eq!(blocked["waiting_on"], "Lock: relation", "{blocked:#}");
    // ACCESS EXCLUSIVE on api_keys: 000371's ALTER TABLE.
    assert_eq!(blocked["migration"]["version"], 371, "{blocked:#}");

    // The same as plain lines (not a terminal), and as a live view on a terminal (a pty from
    // util-linux `script`), with and without NO_COLOR.
    let (out, err, code) = crate::common::run(migtag().args([
        "watch",
        "--db",
        &url(c, &db),
        "--target",
        "v2.27.0",
        "--timeout",
        "1s",
        "--interval",
        "200ms",
    ]));
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "pid {}: 000371 api_key_scopes_array_allow_list (",
            batch.pid
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "blocked by pid {} (coder-old-replica) idle in transaction for ",
            old.pid
        )),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().starts_with("timed out after"),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no escapes in plain lines: {out:?}"
    );
    let sgr = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap();
    for no_color in [true, false] {
        let screen = on_terminal(&url(c, &db), no_color);
        assert!(
            screen.contains("\u{1b}[J"),
            "the view is redrawn in place: {screen:?}"
        );
        let text = sgr.replace_all(&screen, "");
        assert!(
            text.contains(&format!("blocked by: pid {} (coder-old-replica)", old.pid)),
            "{screen:?}"
        );
        assert_eq!(
            sgr.is_match(&screen),
            !no_color,
            "NO_COLOR={no_color}: {screen:?}"
        );
    }

    // A reader arriving now queues behind the batch: it is listed as waiting for it.
    let mut reader = c.session(&db, "coder-new-replica");
    reader.send("SELECT count(*) FROM api_keys;");
    let waiting = w.until(LONG, |v| {
        v["waiters"]
            .as_array()
            .is_some_and(|b| b.iter().any(|p| p["pid"] == reader.pid))
    });
    assert_eq!(waiting["blocked_by"][0]["pid"], old.pid, "{waiting:#}");

    // The old replica goes away: the batch finishes.
    old.run("ROLLBACK;");
    let (last, code, _) = w.finish(LONG);
    assert_eq!(batch.done.join().unwrap(), Ok(()));
    assert_eq!(code, 0, "{last:#}");
    assert_eq!(last["version"], 376);
    drop(reader);
}

#[test]
fn watch_needs_a_live_database_and_a_known_target() {
    // A version or a paste has no running session to follow.
    let (_, err, code) = crate::common::run(migtag().args(["watch", "--version", "362"]));
    assert_eq!(code, 2, "{err}");
    let (_, err, code) = crate::common::run(migtag().args(["watch"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no database given"), "{err}");
    let (_, err, code) = crate::common::run(migtag().args([
        "watch",
        "--db",
        "postgres://u@127.0.0.1:1/d",
        "--interval",
        "10ms",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 100ms"), "{err}");
    // With --format json an error is one JSON line too.
    let (out, err, code) = crate::common::run(migtag().args([
        "--format",
        "json",
        "watch",
        "--db",
        "postgres://u@127.0.0.1:1/d?connect_timeout=2",
    ]));
    assert_eq!(code, 10, "{out}{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["event"], "error", "{v:#}");
    assert_eq!(v["error"]["exit_code"], 10, "{v:#}");
    let c = PgCluster::shared();
    let db = c.create_db("watchidle");
    set_row(c, &db, 376, false);
    let (out, err, code) =
        crate::common::run(migtag().args(["watch", "--db", &url(c, &db), "--target", "v9.9.9"]));
    assert_eq!(code, 5, "{out}{err}");
    let (out, _, code) = crate::common::run(migtag().args([
        "--format",
        "json",
        "watch",
        "--db",
        &url(c, &db),
        "--target",
        "v2.27.0",
    ]));
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "nothing_running", "{v:#}");
    assert_eq!(v["pending"], 0, "{v:#}");
}

/// Coder's replicas retry a failed batch: when another session takes the lock and runs a
/// migration the watch already saw, the first batch rolled back (the row cannot be read while
/// the retry holds the table). Sessions holding ACCESS SHARE on workspace_agents stop each
/// batch at 000321, so both are seen there whatever the speed of the machine.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn a_replica_retrying_the_failed_batch_shows_the_first_one_rolled_back() {
    let c = PgCluster::shared();
    let set: Vec<u64> = (1..=310).chain([312, 313, 316]).collect();
    let db = database_with(c, "v2.21.1", set, Some("v2.21.1"));
    set_row(c, &db, 316, false);
    let mut reader1 = c.session(&db, "reader-1");
    reader1.run("BEGIN; SELECT count(*) FROM workspace_agents;");
    let first = start_batch(c, &db, (317..=326).collect(), "v2.22.0");
    let mut w = start_watch(&url(c, &db), &["--target", "v2.22.0", "--timeout", "10m"]);
    w.until(LONG, |v| v["event"] == "running");
    first.go.send(()).unwrap();
    w.until(LONG, |v| v["migration"]["version"] == 321);
    // The second replica waits for the lock; a second reader queues behind the first batch
    // and gets its ACCESS SHARE once that batch is gone.
    let second = spawn_batch(c, &db, (317..=326).collect(), "v2.22.0");
    let mut reader2 = c.session(&db, "reader-2");
    reader2.send("BEGIN; SELECT count(*) FROM workspace_agents;");
    reader1.run("ROLLBACK;");
    let failed = first.done.join().unwrap().unwrap_err();
    assert!(failed.starts_with("000323"), "{failed}");
    let second = second.holding();
    second.go.send(()).unwrap();
    let (last, code, all) = w.finish(LONG);
    assert_eq!(code, 3, "{last:#}\n{all:#?}");
    assert_eq!(last["outcome"], "rolled_back", "{last:#}");
    assert_eq!(last["retried_by"], second.pid, "{last:#}");
    assert_eq!(last["failed_at"], 321, "{last:#}");
    // What the logs will show: the bundled replay knows where this path fails, and why.
    let logs = last["logs"].as_str().unwrap();
    assert!(
        logs.contains("fails at 000323_workspace_latest_builds_optimization")
            && logs.contains("\"workspace_prebuilds\" does not exist"),
        "{logs}"
    );
    reader2.run("ROLLBACK;");
    let failed = second.done.join().unwrap().unwrap_err();
    assert!(failed.starts_with("000323"), "{failed}");
    assert_eq!(
        c.sql(&db, "SELECT version || ' ' || dirty FROM schema_migrations"),
        "316 false"
    );
}

/// Every migration file every release of the index ships, sent whole as Coder sends it, is
/// named by watch's matcher with that release as the target: the fingerprints in the bundled
/// effects cover every content of Coder's real SQL, not only the newest.
#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
fn every_shipped_file_is_matched_to_its_migration() {
    let src = source();
    let effects = migtag::bundled::effects().unwrap();
    let index = migtag::bundled::load().unwrap();
    let max = effects.provenance.max_migration;
    let mut checked = 0;
    let mut missed = Vec::new();
    for r in index.releases() {
        let target = migtag::core::watch::Target {
            tag: r.tag.clone(),
            migrations: r.migrations.clone(),
        };
        let plan = migtag::core::watch::plan(&effects, Some(target), None);
        for v in r.migrations.iter().filter(|v| *v <= max) {
            let Some(f) = src.at_tag(v, &r.tag) else {
                continue;
            };
            checked += 1;
            let m = migtag::core::watch::match_query(&f.text, &plan.candidates, None);
            if m.as_ref().map(|m| m.version) != Some(v) {
                missed.push(format!("{} {v:06}: {:?}", r.tag, m.map(|m| m.version)));
            }
        }
    }
    assert!(checked > 50_000, "{checked}");
    missed.dedup();
    assert!(
        missed.is_empty(),
        "{} of {checked} not matched: {missed:#?}",
        missed.len()
    );
}
