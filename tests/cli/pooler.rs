//! `check --db` through a connection pooler that refuses the `options` startup parameter, as
//! PgBouncer does unless `ignore_startup_parameters` lists `options`.
//!
//! PgBouncer is not installed on these machines, so [`RefusingPooler`] stands in for the one
//! behaviour that matters here, at the protocol level: a startup packet that carries
//! `options` gets PgBouncer's answer (ErrorResponse, SQLSTATE 08P01, "unsupported startup
//! parameter: options") and the connection is closed; any other startup packet is forwarded,
//! byte for byte, to the real PostgreSQL of `pg.rs`, and the session is relayed both ways
//! (what PgBouncer in session mode does). `SSLRequest` is answered `N`, as a PgBouncer without
//! client TLS does. The database is real; only the pooler is a stand-in.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{migtag, run};
use crate::db::{coder_db, logged_statements, PW};
use crate::pg::PgCluster;

const SSL_REQUEST: u32 = 80877103;
const GSSENC_REQUEST: u32 = 80877104;
const PROTOCOL_3: u32 = 196608;

/// A pooler stand-in on a free loopback port; its threads live as long as the test process.
struct RefusingPooler {
    port: u16,
    /// Startup packets refused because they carried `options`.
    refused: Arc<AtomicUsize>,
    /// Startup packets forwarded to PostgreSQL, and whether each carried `options`.
    forwarded: Arc<AtomicUsize>,
}

impl RefusingPooler {
    fn start(upstream: u16) -> RefusingPooler {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let (r, f) = (refused.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, f) = (r.clone(), f.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &r, &f);
                });
            }
        });
        RefusingPooler {
            port,
            refused,
            forwarded,
        }
    }

    fn url(&self, role: &str, db: &str, query: &str) -> String {
        format!("postgres://{role}:{PW}@127.0.0.1:{}/{db}{query}", self.port)
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.refused.load(Ordering::SeqCst),
            self.forwarded.load(Ordering::SeqCst),
        )
    }
}

/// One length-prefixed startup-phase packet: (the whole packet, its body after the length).
fn read_packet(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; n.saturating_sub(4)];
    s.read_exact(&mut body)?;
    let mut whole = len.to_vec();
    whole.extend_from_slice(&body);
    Ok((whole, body))
}

/// PgBouncer's refusal: an ErrorResponse with severity FATAL, SQLSTATE 08P01.
fn unsupported_parameter(name: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "08P01"),
        (b'M', &format!("unsupported startup parameter: {name}")),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(&fields);
    msg
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    refused: &AtomicUsize,
    forwarded: &AtomicUsize,
) -> std::io::Result<()> {
    let (packet, body) = loop {
        let (packet, body) = read_packet(&mut client)?;
        let code = u32::from_be_bytes(body[..4].try_into().unwrap());
        match code {
            SSL_REQUEST | GSSENC_REQUEST => client.write_all(b"N")?,
            PROTOCOL_3 => break (packet, body),
            _ => return Ok(()),
        }
    };
    let fields: Vec<&[u8]> = body[4..].split(|b| *b == 0).collect();
    let keys = fields.chunks(2).filter_map(|kv| kv.first().copied());
    if keys.into_iter().any(|k| k == b"options") {
        refused.fetch_add(1, Ordering::SeqCst);
        client.write_all(&unsupported_parameter("options"))?;
        return client.shutdown(Shutdown::Both);
    }
    forwarded.fetch_add(1, Ordering::SeqCst);
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(&packet)?;
    let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
    });
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Both);
    let _ = back.join();
    Ok(())
}

/// `check --db URL` with `extra`. The pooler's databases hold a row and none of Coder's
/// objects: with the schema read that is drift (exit 6); `--no-schema` reads the row alone.
fn check_json_with(url: &str, extra: &[&str]) -> (Value, String, i32) {
    let (out, err, code) = run(migtag()
        .args(["check", "--db", url, "--format", "json"])
        .args(extra));
    let doc: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    (doc, err, code)
}

fn check_json(url: &str) -> (Value, String, i32) {
    check_json_with(url, &["--no-schema"])
}

/// Through the pooler: one refused attempt, one connection without `options`, the state read
/// correctly, every query in its own READ ONLY transaction with transaction-local settings
/// (the server log shows it), no session-level SET, and the output says so.
#[test]
fn check_falls_back_to_per_transaction_settings_when_options_are_refused() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((168, false)));
    c.sql(
        "postgres",
        &format!("ALTER DATABASE {db} SET log_statement = 'all'"),
    );
    let pooler = RefusingPooler::start(c.port);

    // The schema is read too (the log must show the catalog query as a read): drift, exit 6.
    let (doc, err, code) = check_json_with(&pooler.url(&role, &db, "?lock_timeout=1s"), &[]);
    assert_eq!(code, 6, "{doc:#}\n{err}");
    assert_eq!(doc["state"]["kind"], "clean", "{doc:#}");
    assert_eq!(doc["state"]["version"], 168, "{doc:#}");
    assert_eq!(doc["database"]["transport"], "plain tcp (no tls)");
    let notes = doc["database"]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("refuses the options startup parameter")),
        "{doc:#}"
    );
    assert_eq!(pooler.counts(), (1, 1), "one refusal, then one connection");

    std::thread::sleep(Duration::from_millis(300));
    let statements = logged_statements(&c.log_text(), &db, "migtag");
    assert_eq!(
        statements.len(),
        3,
        "survey, row read and catalog (schema verification): {statements:#?}"
    );
    let session_set = regex::Regex::new(r"(?i)(^|;)\s*(SET|RESET)\s").unwrap();
    for s in &statements {
        assert!(s.starts_with("BEGIN READ ONLY; SELECT set_config("), "{s}");
        assert!(s.ends_with("; COMMIT"), "{s}");
        // Safety settings, transaction-local, after the user's run-time parameter.
        let user = s.find("set_config('lock_timeout', '1s', true)").unwrap();
        let safety = s
            .find("set_config('lock_timeout', '2000ms', true)")
            .unwrap();
        assert!(user < safety, "{s}");
        assert!(
            s.contains("set_config('statement_timeout', '10000ms', true)"),
            "{s}"
        );
        assert!(
            !session_set.is_match(s),
            "a session-level SET was sent: {s}"
        );
    }
    assert!(statements[1].contains("SELECT version, dirty FROM public.schema_migrations"));
}

/// The connection's schema (`search_path` as a URL parameter or in `options`) still selects
/// Coder's table through the pooler, and a running migration is still reported in time.
#[test]
fn fallback_keeps_search_path_and_sees_a_running_migration() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((68, true)));
    c.sql(
        &db,
        &format!(
            "CREATE SCHEMA coder AUTHORIZATION {role};\
             CREATE TABLE coder.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\
             ALTER TABLE coder.schema_migrations OWNER TO {role};\
             INSERT INTO coder.schema_migrations VALUES (168, false);"
        ),
    );
    let pooler = RefusingPooler::start(c.port);
    for query in ["?search_path=coder", "?options=-c%20search_path%3Dcoder"] {
        let (doc, err, code) = check_json(&pooler.url(&role, &db, query));
        assert_eq!(code, 0, "{query}: {doc:#}\n{err}");
        assert_eq!(doc["database"]["schema"], "coder", "{query}: {doc:#}");
        assert_eq!(doc["state"]["version"], 168, "{query}: {doc:#}");
    }
    // public.schema_migrations (68, dirty) without a search_path.
    let (doc, _, code) = check_json(&pooler.url(&role, &db, ""));
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["state"]["kind"], "dirty", "{doc:#}");

    let mut coder = c.session_as(&db, "coder-migration-sim", &role, PW);
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE coder.schema_migrations;",
    );
    let start = Instant::now();
    let (doc, _, code) = check_json(&pooler.url(&role, &db, "?search_path=coder"));
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["state"]["kind"], "in_progress", "{doc:#}");
    assert_eq!(
        doc["state"]["migration_in_progress"]["pid"], coder.pid,
        "{doc:#}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    coder.run("ROLLBACK;");
}

/// Repairs hold one transaction across round trips and need PostgreSQL itself: through such a
/// pooler they stop before changing anything, and say why.
#[test]
fn repairs_refuse_to_run_through_a_pooler_that_refuses_options() {
    let c = PgCluster::shared();
    let (db, role) = coder_db(c, Some((68, true)));
    let pooler = RefusingPooler::start(c.port);
    let (out, err, code) = run(migtag().args([
        "repair",
        "clear-dirty",
        "--expect-version",
        "68",
        "--yes",
        "--no-schema",
        "--db",
        &pooler.url(&role, &db, ""),
    ]));
    assert_eq!(code, 10, "{out}{err}");
    assert!(err.contains("repairs do not run through a pooler"), "{err}");
    assert!(!out.contains(PW) && !err.contains(PW));
    assert_eq!(pooler.counts(), (1, 0), "no second connection");
    assert_eq!(
        c.sql(&db, "SELECT version, dirty FROM schema_migrations"),
        "68|t"
    );
}
