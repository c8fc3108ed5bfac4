//! A real PostgreSQL for the tests: `PgCluster` runs initdb into a temporary folder, starts
//! the server on a free loopback port (and a Unix socket in that folder) as the `postgres`
//! user (through `runuser` when the tests run as root, as in CI), and stops it on Drop.
//!
//! One cluster per test binary is shared through [`PgCluster::shared`] (PostgreSQL 15, TLS
//! on, with a test CA and a leaf made here by the `openssl` CLI); each test creates its own
//! database and roles, so tests run in parallel. Because statics are never dropped, a watchdog
//! process stops the shared clusters when the test process exits.
//!
//! The other majors Coder supports (13, 16, 17, 18) come from `.ci/pg-matrix`, which installs
//! them under `$MIGTAG_PG_MATRIX` (default `/opt/migtag-pg`): [`pg_bin_for`] finds one,
//! [`PgCluster::shared_major`] / [`PgCluster::start_major`] run it with the same start code.
//!
//! The superuser `postgres` connects over the socket without a password (the harness's own
//! psql); every other role authenticates with SCRAM, over TCP and over the socket.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The PostgreSQL the tests use: 15 (what CI installs), else the newest installed >= 13.
pub fn pg_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
        if preferred.join("initdb").exists() {
            return preferred;
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                (major >= 13 && bin.join("initdb").exists()).then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, b)| b).unwrap_or(preferred)
    })
}

/// Where `.ci/pg-matrix` installs the majors that Debian does not ship.
const DEFAULT_PG_MATRIX: &str = "/opt/migtag-pg";

/// The bin folder of PostgreSQL `major`, if it is installed: 15 is Debian's
/// `/usr/lib/postgresql/15/bin`; the others come from `.ci/pg-matrix`
/// (`$MIGTAG_PG_MATRIX/<major>/bin`, default `/opt/migtag-pg`), else a Debian-style
/// `/usr/lib/postgresql/<major>/bin` (a developer's own packages).
pub fn pg_bin_for(major: u32) -> Option<PathBuf> {
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    let candidates = if major == 15 {
        vec![debian]
    } else {
        vec![pg_matrix_root().join(major.to_string()).join("bin"), debian]
    };
    candidates
        .into_iter()
        .find(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
}

fn pg_matrix_root() -> PathBuf {
    std::env::var_os("MIGTAG_PG_MATRIX")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_MATRIX))
}

/// Files of the test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that signed the server certificate (SAN: DNS localhost only).
    pub ca: PathBuf,
    /// A CA that signed nothing the server presents.
    pub other_ca: PathBuf,
}

pub struct PgCluster {
    pub root: PathBuf,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub log: PathBuf,
    pub pki: Option<TestPki>,
    /// The PostgreSQL bin folder this cluster runs from (initdb, pg_ctl, postgres).
    pub bin: PathBuf,
    run_as_postgres: bool,
    stopped: bool,
}

static SHARED: OnceLock<PgCluster> = OnceLock::new();
static SHARED_NO_TLS: OnceLock<PgCluster> = OnceLock::new();
/// One shared cluster per major (started on first use).
type SharedMajor = OnceLock<PgCluster>;
static SHARED_MAJORS: Mutex<BTreeMap<u32, &'static SharedMajor>> = Mutex::new(BTreeMap::new());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test of this process uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl PgCluster {
    /// The cluster most tests share: TLS on, `log_statement` off unless a database asks.
    pub fn shared() -> &'static PgCluster {
        SHARED.get_or_init(|| PgCluster::start(true).with_watchdog())
    }

    /// A second cluster without TLS, for "the server does not accept TLS".
    pub fn shared_without_tls() -> &'static PgCluster {
        SHARED_NO_TLS.get_or_init(|| PgCluster::start(false).with_watchdog())
    }

    /// The shared cluster (TLS on) of PostgreSQL `major`, started on first use with its own
    /// watchdog. A major that is not installed panics with the command that installs it: the
    /// tests that need one carry `#[cfg_attr(migtag_no_pgN, ignore = ...)]` (build.rs sets
    /// the flag outside CI when the major is missing), so they run only where it is.
    pub fn shared_major(major: u32) -> &'static PgCluster {
        if pg_bin_for(major).as_deref() == Some(pg_bin()) {
            return Self::shared();
        }
        let cell: &'static SharedMajor = SHARED_MAJORS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(major)
            .or_insert_with(|| Box::leak(Box::default()));
        // Outside the map's lock: majors start in parallel, one start per major.
        cell.get_or_init(|| Self::start_major(major, true).with_watchdog())
    }

    /// A new cluster of PostgreSQL `major` (see [`pg_bin_for`]), stopped on Drop; panics
    /// with the command that installs it when that major is missing.
    pub fn start_major(major: u32, tls: bool) -> PgCluster {
        match pg_bin_for(major) {
            Some(bin) => Self::start_in(&bin, tls),
            None if major == 15 => panic!(
                "PostgreSQL 15 is not installed: no initdb in /usr/lib/postgresql/15/bin \
                 (apt-get install -y postgresql, or run `bash .ci/test`)"
            ),
            None => panic!(
                "PostgreSQL {major} is not installed: no initdb in {}/{major}/bin \
                 (or /usr/lib/postgresql/{major}/bin); install it with `.ci/pg-matrix` or run \
                 `bash .ci/test` (MIGTAG_PG_MATRIX sets the folder)",
                pg_matrix_root().display()
            ),
        }
    }

    /// A new cluster of the default PostgreSQL ([`pg_bin`]), stopped on Drop.
    pub fn start(tls: bool) -> PgCluster {
        Self::start_in(pg_bin(), tls)
    }

    /// A new cluster from the PostgreSQL programs in `bin`.
    fn start_in(bin: &Path, tls: bool) -> PgCluster {
        let initdb = bin.join("initdb");
        assert!(
            initdb.exists(),
            "PostgreSQL (15, or 13 and newer) is required for these tests: {} is missing (apt-get install -y postgresql)",
            initdb.display()
        );
        let run_as_postgres = is_root();
        let root = tempfile::Builder::new()
            .prefix("migtag-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let data = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        if run_as_postgres {
            sh(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root));
            sh(Command::new("chmod").args(["0755"]).arg(&root));
        }
        let mut cluster = PgCluster {
            log: root.join("server.log"),
            root,
            data,
            socket_dir,
            port: 0,
            pki: None,
            bin: bin.to_path_buf(),
            run_as_postgres,
            stopped: false,
        };
        cluster.pg(&[
            "initdb",
            "-D",
            cluster.data.to_str().unwrap(),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]);
        std::fs::write(
            cluster.data.join("pg_hba.conf"),
            "local all postgres trust\n\
             local all all scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        )
        .unwrap();
        let mut conf = format!(
            "\nlisten_addresses = 'localhost'\n\
             unix_socket_directories = '{}'\n\
             log_line_prefix = '%m [%p] db=%d app=%a user=%u '\n\
             log_connections = on\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 200\n",
            cluster.socket_dir.display()
        );
        if tls {
            let pki = cluster.make_pki();
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
            cluster.pki = Some(pki);
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data.join("postgresql.conf"))
            .unwrap();
        f.write_all(conf.as_bytes()).unwrap();
        if run_as_postgres {
            sh(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.root));
        }
        // A free port can be taken between the probe and the start: retry a few times.
        for attempt in 0..5 {
            cluster.port = free_port();
            let port_opt = format!("-p {}", cluster.port);
            let ok = cluster.pg_status(&[
                "pg_ctl",
                "-D",
                cluster.data.to_str().unwrap(),
                "-l",
                cluster.log.to_str().unwrap(),
                "-o",
                &port_opt,
                "-w",
                "-t",
                "30",
                "start",
            ]);
            if ok {
                return cluster;
            }
            eprintln!(
                "pg: start attempt {attempt} failed; log:\n{}",
                cluster.log_text()
            );
        }
        panic!("PostgreSQL did not start; log:\n{}", cluster.log_text());
    }

    fn with_watchdog(self) -> PgCluster {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.5; done; {stop}; rm -rf '{root}'",
            pid = std::process::id(),
            stop = self.stop_command(),
            root = self.root.display()
        );
        // Detached (the outer shell exits at once), so it outlives this process.
        let detached = format!("( {script} ) </dev/null >/dev/null 2>&1 &");
        let status = Command::new("sh")
            .args(["-c", &detached])
            .status()
            .expect("watchdog starts");
        assert!(status.success(), "watchdog did not start");
        self
    }

    fn stop_command(&self) -> String {
        let pg_ctl = format!(
            "'{}/pg_ctl' -D '{}' -m immediate stop",
            self.bin.display(),
            self.data.display()
        );
        if self.run_as_postgres {
            format!("runuser -u postgres -- {pg_ctl} >/dev/null 2>&1")
        } else {
            format!("{pg_ctl} >/dev/null 2>&1")
        }
    }

    /// Makes a CA, a leaf for `localhost` signed by it, and an unrelated CA.
    fn make_pki(&self) -> TestPki {
        let dir = self.root.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        crate::common::make_ca(&dir, "ca");
        crate::common::make_ca(&dir, "other-ca");
        crate::common::make_leaf(&dir, "ca", "localhost", "DNS:localhost");
        for f in ["server.crt", "server.key"] {
            std::fs::copy(dir.join(f), self.data.join(f)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        TestPki {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
        }
    }

    /// Runs a PostgreSQL program as the cluster's owner; panics on failure.
    fn pg(&self, args: &[&str]) {
        assert!(self.pg_status(args), "{args:?} failed");
    }

    fn pg_status(&self, args: &[&str]) -> bool {
        let program = self.bin.join(args[0]);
        let mut cmd = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(&args[1..]).current_dir("/");
        let out = cmd.output().expect("runs");
        if !out.status.success() {
            eprintln!(
                "{args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.success()
    }

    /// Runs SQL as the superuser in `db` and returns psql's unaligned, tuples-only output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = self
            .psql_command(db)
            .args(["-A", "-t", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql -d {db} -c {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn psql_command(&self, db: &str) -> Command {
        let mut c = Command::new("psql");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db]);
        c
    }

    /// A new, empty database with a unique name.
    pub fn create_db(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// A new login role with a password and a unique name.
    pub fn create_role(&self, prefix: &str, password: &str) -> String {
        let name = unique(prefix);
        self.sql(
            "postgres",
            &format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{}'",
                password.replace('\'', "''")
            ),
        );
        name
    }

    /// `postgres://user:password@127.0.0.1:port/db` (the password percent-encoded).
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{}@127.0.0.1:{}/{db}",
            encode(password),
            self.port
        )
    }

    /// The same through `localhost` (the name the test certificate carries).
    pub fn url_localhost(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{}@localhost:{}/{db}",
            encode(password),
            self.port
        )
    }

    /// A long-lived superuser psql session in `db` with this application_name.
    pub fn session(&self, db: &str, application_name: &str) -> Session {
        self.session_as(db, application_name, "postgres", "")
    }

    /// A long-lived psql session as `role` (over the socket, with its password).
    pub fn session_as(
        &self,
        db: &str,
        application_name: &str,
        role: &str,
        password: &str,
    ) -> Session {
        let mut cmd = self.psql_command(db);
        cmd.env("PGAPPNAME", application_name);
        if role != "postgres" {
            cmd.args(["-U", role]).env("PGPASSWORD", password);
        }
        let mut child = cmd
            .args(["-A", "-t", "-v", "ON_ERROR_STOP=0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql session starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Session {
            child,
            stdin,
            stdout,
            marker: 0,
            pid: 0,
        };
        s.pid = s
            .run("SELECT pg_backend_pid();")
            .trim()
            .parse()
            .expect("pid");
        s
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until everything the server logged so far is in the log file: logs a marker
    /// statement (after every statement run before it) and reads until it is there, instead
    /// of a fixed sleep. Returns the log text.
    pub fn flushed_log(&self) -> String {
        let marker = unique("log_barrier");
        // Two statements of a psql session: a SET and the marker in one query string would
        // decide on logging before the SET ran.
        let mut s = self.session("postgres", "migtag-test-log-barrier");
        s.run("SET log_statement = 'all';");
        s.run(&format!("SELECT '{marker}';"));
        drop(s);
        let start = Instant::now();
        loop {
            let text = self.log_text();
            if text.contains(&marker) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server log never showed {marker}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until each of `pids` has been in its state (idle, idle in transaction) longer
    /// than `secs` by the server's own clock, instead of a fixed sleep.
    pub fn wait_in_state_longer_than(&self, pids: &[i32], secs: f64) {
        let list = pids
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let start = Instant::now();
        let sql = format!(
            "SELECT count(*) FILTER (WHERE now() - state_change > interval '{secs} seconds') = count(*) \
             FROM pg_stat_activity WHERE pid IN ({list})"
        );
        while self.sql("postgres", &sql) != "t" {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "sessions {list} never reached {secs} s in their state"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `sql` (as superuser in `db`) returns `want`, or panics after 10 s.
    pub fn wait_for(&self, db: &str, sql: &str, want: &str) {
        let start = Instant::now();
        loop {
            if self.sql(db, sql) == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {sql:?} = {want:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = Command::new("sh")
                .args(["-c", &self.stop_command()])
                .status();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// A psql process kept open, to hold transactions and locks while migtag looks.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    marker: u32,
    pub pid: i32,
}

impl Session {
    /// Runs statements and waits for them to finish; returns what they printed.
    pub fn run(&mut self, sql: &str) -> String {
        self.marker += 1;
        let marker = format!("__migtag_done_{}", self.marker);
        writeln!(self.stdin, "{sql}\n\\echo {marker}").unwrap();
        self.stdin.flush().unwrap();
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "psql session ended early; output so far: {out}");
            if line.trim() == marker {
                return out;
            }
            out.push_str(&line);
        }
    }

    /// Sends statements without waiting (for one that blocks on a lock).
    pub fn send(&mut self, sql: &str) {
        writeln!(self.stdin, "{sql}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn sh(cmd: &mut Command) {
    let st = cmd.status().expect("runs");
    assert!(st.success(), "{cmd:?} failed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
