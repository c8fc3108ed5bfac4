//! `gate --rehearse`: copies the live schema (no data) into a scratch database with
//! `pg_dump --schema-only` (a read-only client run against the live database, its connection
//! passed in PG* environment variables so the password is on no command line), then runs the
//! target's pending migrations there in one transaction, as Coder does, and reports the first
//! failure. The scratch database is created and always dropped by [`replay::Scratch`].
//!
//! With `--sample` the schema comes in pg_dump's two sections, and the rows of a sample
//! ([`super::sample`]) go between them; each statement of the batch is then timed on its own.
//! Either way the scratch role's CREATEDB is checked before pg_dump reads the live database.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::replay::{self, run_file, Scratch};
use super::settings::{ConnectSettings, Host, RootCert};
use super::{survey::CODER_LOCK_KEY, Limits};
use crate::adapters::coder_sql::SqlSource;
use crate::core::effects::ReplayFailure;
use crate::core::forecast::rehearsed::{SampleRun, TimedStatement};
use crate::core::migration_set::MigrationSet;
use crate::error::{Error, Result};

/// What to rehearse.
pub struct Request<'a> {
    /// The live database (read by pg_dump only).
    pub live: &'a ConnectSettings,
    pub limits: &'a Limits,
    /// Where the scratch database is created.
    pub scratch: &'a ConnectSettings,
    pub source: &'a SqlSource,
    pub target_tag: &'a str,
    pub pending: &'a MigrationSet,
    /// The schema Coder's tables live in.
    pub schema: &'a str,
    /// How long loading the copy and running the batch may take (`--rehearse-timeout`);
    /// also each statement's `statement_timeout`.
    pub timeout: Duration,
    /// `--sample`: copy a sample of the rows too, and time each statement.
    pub sample: Option<SampleRequest>,
}

/// What to sample (docs/forecast.md, "Sampled rehearsal").
pub struct SampleRequest {
    /// More than 0, at most 100.
    pub percent: f64,
    /// The tables the pending migrations read or write.
    pub tables: BTreeSet<String>,
}

/// The schema as pg_dump gave it: whole (no data), or in the two parts the rows go between.
enum Dump {
    Whole(String),
    Sections { pre: String, post: String },
}

/// What the scratch database is for, in the refusal when the scratch role may not create it.
const WHY: &str = "`gate --rehearse` copies the schema";

/// How the batch went on the copy.
pub struct Outcome {
    pub seconds: f64,
    pub failure: Option<ReplayFailure>,
    /// The pg_dump that copied the schema (`pg_dump (PostgreSQL) 15.x`).
    pub dumped_with: String,
    /// The scratch database it ran in (dropped by now).
    pub scratch_database: String,
    /// Migrations `--sql` has no file for at the target tag (`000363_name`): their newest
    /// content ran instead.
    pub fell_back: Vec<String>,
    /// The `--scratch-db` role is a superuser: the batch ran as an unprivileged role migtag
    /// created for the scratch database (and dropped with it).
    pub scratch_superuser: bool,
    /// That role was reached with `SET ROLE` (the server refused its login).
    pub set_role: bool,
    /// `--sample`: what was copied and each statement's time.
    pub sample: Option<SampleRun>,
}

pub fn rehearse(req: &Request<'_>) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    // Before anything is read from the live database: a scratch role that may not create
    // the scratch database is refused first.
    runtime
        .block_on(Scratch::check(req.scratch, WHY))
        .map_err(|e| super::errors::scrub(e, req.scratch))?;
    let dump_section = |section: &str| {
        dump_schema(req.live, req.limits, req.schema, section)
            .map_err(|e| super::errors::scrub(e, req.live))
    };
    let (dump, dumped_with) = match &req.sample {
        None => {
            let (whole, with) = dump_section("--schema-only")?;
            (Dump::Whole(whole), with)
        }
        Some(_) => {
            let (pre, with) = dump_section("--section=pre-data")?;
            let (post, _) = dump_section("--section=post-data")?;
            (Dump::Sections { pre, post }, with)
        }
    };
    let fell_back = fell_back(req);
    let ran = runtime
        .block_on(run(req, &dump))
        .map_err(|e| super::errors::scrub(e, req.scratch))?;
    Ok(Outcome {
        seconds: ran.seconds,
        failure: ran.failure,
        dumped_with,
        scratch_database: ran.scratch_database,
        fell_back,
        scratch_superuser: ran.superuser,
        set_role: ran.set_role,
        sample: ran.sample,
    })
}

/// The warning for a superuser `--scratch-db` role.
pub fn superuser_warning(role: &str, set_role: bool) -> String {
    format!(
        "rehearsal: the --scratch-db role {role} is a superuser; the batch ran as an \
         unprivileged role migtag created for the scratch database and dropped with it{}; \
         give --scratch-db a role with only CREATEDB",
        if set_role {
            " (reached with SET ROLE: the server refused that role's login)"
        } else {
            ""
        }
    )
}

struct Ran {
    seconds: f64,
    failure: Option<ReplayFailure>,
    sample: Option<SampleRun>,
    scratch_database: String,
    superuser: bool,
    set_role: bool,
}

/// The pending migrations whose content at the target tag the source lacks while it does
/// know tags (a clone carries none: it is checked out at the target), so [`replay::content_at`]
/// picks the newest content instead.
fn fell_back(req: &Request<'_>) -> Vec<String> {
    req.pending
        .iter()
        .filter(|&v| req.source.at_tag(v, req.target_tag).is_none())
        .filter_map(|v| req.source.newest(v, true))
        .filter(|f| !f.tags.is_empty())
        .map(|f| format!("{:06}_{}", f.version, f.name))
        .collect()
}

/// Creates the scratch database (and, for a superuser scratch role, the unprivileged role the
/// batch runs as), loads the copy and runs the batch within `req.timeout`, and drops both on
/// every path: success, failure, the time limit, SIGINT and SIGTERM. A busy session is ended
/// by the drop itself (`DROP DATABASE ... WITH (FORCE)` from the second, admin connection).
async fn run(req: &Request<'_>, dump: &Dump) -> Result<Ran> {
    // Listening before the scratch database exists: a signal from here on drops it.
    let mut signals = Signals::listen()?;
    let mut scratch = Scratch::create(req.scratch, "rehearse", WHY).await?;
    let name = scratch.name.clone();
    let superuser = scratch.superuser;
    let mut set_role = false;
    let work = async {
        if scratch.superuser {
            scratch.sandbox().await?;
        }
        let (client, via_set_role) = scratch.connect_as_sandbox().await?;
        set_role = via_set_role;
        // The server's statement_timeout (req.timeout) names the migration that ran too
        // long (a failing file runs a second time, statement by statement, to find the
        // statement); this bound stops everything else (a slow load, many statements each
        // under the limit): twice the limit and a grace.
        let whole = req.timeout * 2 + TIMEOUT_GRACE;
        let r = tokio::time::timeout(whole, load_and_run(&client, req, dump)).await;
        drop(client);
        r.unwrap_or_else(|_| {
            Err(Error::database(format!(
                "the rehearsal did not finish within {} (twice --rehearse-timeout {}, and {} s); it was stopped",
                crate::core::duration::exact(whole.as_secs()),
                crate::core::duration::exact(req.timeout.as_secs()),
                TIMEOUT_GRACE.as_secs()
            ))
            .with_hint("raise --rehearse-timeout for a very large schema"))
        })
    };
    // A signal drops the work (and its busy connection) here; the drop below then runs.
    let mut stopped_by = None;
    let result = tokio::select! {
        r = work => r,
        signal = signals.next() => {
            stopped_by = Some(signal);
            Err(Error::database(format!("the rehearsal was interrupted by {signal}")))
        }
    };
    let (seconds, failure, sample) =
        scratch
            .drop_after(result)
            .await
            .map_err(|e| match stopped_by {
                Some(_) => e.context(format!("the scratch database {name} was dropped")),
                None => e,
            })?;
    Ok(Ran {
        seconds,
        failure,
        sample,
        scratch_database: name,
        superuser,
        set_role,
    })
}

/// How much longer than twice `--rehearse-timeout` the whole may take, so that the server's
/// statement_timeout, which names the migration, fires first.
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);

/// SIGINT and SIGTERM, while a scratch database exists.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let fail = |e: std::io::Error| Error::internal(format!("cannot listen for signals: {e}"));
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            term: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Loads the schema (no data) into the scratch database; the `pre-data` part of a
/// sectioned dump is loaded the same way.
async fn load_schema(client: &tokio_postgres::Client, dump: &str, schema: &str) -> Result<()> {
    client
        .batch_execute(&if_not_exists(&without_meta_commands(dump), schema))
        .await
        .map_err(|e| {
            Error::database(format!(
                "loading the schema copy into the scratch database failed: {}",
                replay::db_error(&e)
            ))
            .with_hint("the scratch server must be able to hold this schema: use the same PostgreSQL major as the live server or newer")
        })
}

/// The sample: tables, rows, sequences past the copied rows, then the indexes, constraints
/// (every foreign key validated) and triggers, then ANALYZE; the sampled tables' row counts.
async fn load_sample(
    client: &tokio_postgres::Client,
    req: &Request<'_>,
    sample: &SampleRequest,
    pre: &str,
    post: &str,
) -> Result<(
    super::sample::Copied,
    std::collections::BTreeMap<String, u64>,
)> {
    let schema = crate::core::sql::identifier(req.schema);
    load_schema(client, pre, &schema).await?;
    let copied = super::sample::copy(
        req.live,
        req.limits,
        client,
        req.schema,
        &sample.tables,
        sample.percent,
    )
    .await?;
    let step = |what: &'static str| {
        move |e: tokio_postgres::Error| {
            Error::database(format!(
                "sampled rehearsal: {what} failed: {}",
                super::sample::safe_error(&e)
            ))
        }
    };
    client
        .batch_execute(SEQUENCES_PAST_ROWS)
        .await
        .map_err(step("moving the sequences past the copied rows"))?;
    client
        .batch_execute(&without_meta_commands(post))
        .await
        .map_err(step(
            "loading the indexes, constraints and triggers onto the sample",
        ))?;
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(step("ANALYZE of the sample"))?;
    let mut counts = std::collections::BTreeMap::new();
    for (t, qualified) in &copied.sampled {
        let n = replay::one_text(client, &format!("SELECT count(*) FROM {qualified}"))
            .await
            .map_err(step("counting the sample's rows"))?;
        counts.insert(
            t.clone(),
            n.first().and_then(|n| n.parse().ok()).unwrap_or(0),
        );
    }
    Ok((copied, counts))
}

/// Every sequence owned by a column (serial, identity) set past the largest copied value,
/// so a migration that inserts does not collide with a copied row.
const SEQUENCES_PAST_ROWS: &str = "DO $migtag$ DECLARE r record; BEGIN \
 FOR r IN SELECT s.oid::regclass AS seq, t.oid::regclass AS tbl, a.attname FROM pg_depend d \
   JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_class t ON t.oid = d.refobjid \
   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
   WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
     AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) LOOP \
   EXECUTE format('SELECT setval(%L, coalesce((SELECT max(%I) FROM %s), 0) + 1, false)', r.seq, r.attname, r.tbl); \
 END LOOP; END $migtag$";

async fn load_and_run(
    client: &tokio_postgres::Client,
    req: &Request<'_>,
    dump: &Dump,
) -> Result<(f64, Option<ReplayFailure>, Option<SampleRun>)> {
    let schema = crate::core::sql::identifier(req.schema);
    let copy_started = Instant::now();
    let loaded = match (dump, &req.sample) {
        (Dump::Sections { pre, post }, Some(sample)) => {
            Some(load_sample(client, req, sample, pre, post).await?)
        }
        (Dump::Whole(whole), _) => {
            load_schema(client, whole, &schema).await?;
            None
        }
        (Dump::Sections { .. }, None) => {
            return Err(Error::internal("a sectioned dump without a sample"))
        }
    };
    let copy_seconds = copy_started.elapsed().as_secs_f64();
    let exec = |sql: String| async move {
        client.batch_execute(&sql).await.map_err(|e| {
            Error::database(format!(
                "rehearsal: `{sql}` failed: {}",
                replay::db_error(&e)
            ))
        })
    };
    // The dump's session settings (an empty search_path, check_function_bodies = false, ...)
    // are not Coder's: back to the defaults, then the migrations run unqualified in Coder's
    // schema.
    exec(format!(
        "RESET ALL; SET search_path TO {schema}; SET statement_timeout = {}",
        req.timeout.as_millis().max(1)
    ))
    .await?;
    let started = Instant::now();
    // As Coder runs a batch since v2.5.0: one transaction under its migration lock.
    exec("BEGIN".into()).await?;
    exec(format!("SELECT pg_advisory_xact_lock({CODER_LOCK_KEY})")).await?;
    let mut failure = None;
    let mut statements = Vec::new();
    for v in req.pending.iter() {
        let f = replay::content_at(req.source, v, &[req.target_tag.to_string()])?;
        let ran = match &loaded {
            // Each statement on its own, timed; errors without row values.
            Some(_) => {
                let mut timed = Vec::new();
                let r =
                    replay::run_file_timed(client, f, super::sample::safe_error, &mut timed).await;
                statements.extend(timed.into_iter().map(|(text, seconds)| TimedStatement {
                    version: f.version,
                    name: f.name.clone(),
                    text,
                    seconds,
                }));
                r
            }
            None => run_file(client, f).await,
        };
        if let Err(e) = ran {
            failure = Some(e);
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // A scratch database: nothing to keep.
    exec("ROLLBACK".into()).await?;
    let sample = match (loaded, &req.sample) {
        (Some((copied, sample_rows)), Some(s)) => Some(SampleRun {
            percent: s.percent,
            sample_rows,
            copied_rows: copied.rows,
            parent_rows: copied.parents,
            closure_rounds: copied.rounds,
            copy_seconds,
            statements,
        }),
        _ => None,
    };
    Ok((seconds, failure, sample))
}

/// The dump without psql's meta-commands (`\restrict KEY` and `\unrestrict KEY` of newer
/// pg_dump versions), which the server does not understand.
pub fn without_meta_commands(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The dump with its `CREATE SCHEMA <schema>;` made `CREATE SCHEMA IF NOT EXISTS` and the
/// schema's `COMMENT ON SCHEMA` left out: a new database already has `public`, and on
/// PostgreSQL 14 and older it belongs to the bootstrap superuser, so a CREATEDB-only scratch
/// role can neither create, drop nor comment on it (a comment changes no migration).
fn if_not_exists(dump: &str, schema: &str) -> String {
    let create = format!("CREATE SCHEMA {schema};");
    let comment = format!("COMMENT ON SCHEMA {schema} IS ");
    dump.lines()
        .filter(|l| !l.starts_with(&comment))
        .map(|l| {
            if l == create {
                format!("CREATE SCHEMA IF NOT EXISTS {schema};")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs pg_dump against the live database: schema only, one schema, no owners or grants.
///
/// pg_dump sets `statement_timeout = 0` and `lock_timeout = 0` itself after connecting (our
/// PGOPTIONS do not hold), then takes ACCESS SHARE on every table it dumps: behind a Coder
/// migration holding ACCESS EXCLUSIVE it would wait forever, and hold its locks on the tables
/// the migration needs next. So its lock waits are bounded by `--lock-wait-timeout` (our
/// `lock_timeout`), and its whole run by our `statement_timeout` plus a margin, after which
/// it is killed.
fn dump_schema(
    settings: &ConnectSettings,
    limits: &Limits,
    schema: &str,
    section: &str,
) -> Result<(String, String)> {
    let (pg_dump, version) = find_pg_dump()?;
    let mut cmd = Command::new(&pg_dump);
    cmd.args([section, "--no-owner", "--no-privileges", "--no-password"])
        .arg(format!(
            "--lock-wait-timeout={}ms",
            limits.lock_timeout.as_millis().max(1)
        ))
        .arg(format!("--schema={}", schema_pattern(schema)))
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in pg_env(settings, limits) {
        cmd.env(k, v);
    }
    let bound = limits.connect_timeout + limits.statement_timeout + DUMP_MARGIN;
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::database(format!("cannot run {}: {e}", pg_dump.display())))?;
    // Both pipes drained on their own threads, so a full pipe never stalls the child, and
    // with a bound (docs/limits.md): past it the rest is dropped and the dump refused.
    use crate::adapters::bounded;
    let stdout = bounded::drain(child.stdout.take().expect("piped"), bounded::PROGRAM_OUTPUT);
    let stderr = bounded::drain(child.stderr.take().expect("piped"), bounded::PROGRAM_STDERR);
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= bound => {
                // Killed and reaped: no pg_dump is left holding locks on the live database.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::database(format!("waiting for pg_dump failed: {e}")));
            }
        }
    };
    let (out, too_much) = stdout.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default().0).to_string();
    if too_much {
        return Err(bounded::program_output_too_large(
            &format!("pg_dump {section}"),
            crate::ErrorKind::Database,
        ));
    }
    let Some(status) = status else {
        return Err(Error::database(format!(
            "pg_dump {section} of {} did not finish within {} s and was stopped; the rehearsal did not run",
            settings.target(),
            bound.as_secs()
        ))
        .with_hint("raise --statement-timeout for a large schema, or retry when the database is quieter"));
    };
    if !status.success() {
        let err = err.trim();
        // pg_dump 15 bounds its LOCK TABLE with statement_timeout, newer ones with lock_timeout.
        let lock = err.contains("Query was: LOCK TABLE")
            || err.contains("lock timeout")
            || err.contains("could not obtain lock");
        let e = Error::database(format!(
            "pg_dump {section} of {} failed: {err}",
            settings.target(),
        ));
        return Err(if lock {
            e.context(format!(
                "the rehearsal did not run: pg_dump could not take its ACCESS SHARE locks within --lock-timeout ({} ms); a session (a running migration?) holds a conflicting lock",
                limits.lock_timeout.as_millis()
            ))
            .with_hint("retry when no migration or DDL is running, or raise --lock-timeout")
        } else {
            e.with_hint(
                "pg_dump must be at least the live server's major version and reach it as migtag does",
            )
        });
    }
    let text =
        String::from_utf8(out).map_err(|_| Error::database("pg_dump's output is not UTF-8"))?;
    Ok((text, version))
}

/// How long pg_dump may run beyond connecting and our statement_timeout before it is killed.
const DUMP_MARGIN: Duration = Duration::from_secs(5);

/// `--schema`'s value for exactly this schema: pg_dump's patterns fold case and treat `*`,
/// `?` and `.` as wildcards unless double-quoted (an embedded `"` doubled).
fn schema_pattern(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The connection as libpq's environment variables (the password never on a command line).
fn pg_env(s: &ConnectSettings, limits: &Limits) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGUSER", s.user.clone()),
        ("PGDATABASE", s.dbname.clone()),
        ("PGSSLMODE", s.sslmode.as_str().to_string()),
        ("PGAPPNAME", "migtag".to_string()),
        ("PGOPTIONS", s.startup_options(&limits.session_settings())),
        (
            "PGCONNECT_TIMEOUT",
            limits.connect_timeout.as_secs().max(1).to_string(),
        ),
    ];
    if let Some(h) = s.hosts.first() {
        let host = match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        };
        env.push(("PGHOST", host));
        env.push(("PGPORT", s.port_of(0).to_string()));
    }
    if let Some(addr) = s.hostaddrs.first() {
        env.push(("PGHOSTADDR", addr.to_string()));
    }
    if let Some(pw) = &s.password {
        env.push(("PGPASSWORD", pw.expose().to_string()));
    }
    match &s.sslrootcert {
        Some(RootCert::File(p)) => env.push(("PGSSLROOTCERT", p.display().to_string())),
        Some(RootCert::System) => env.push(("PGSSLROOTCERT", "system".to_string())),
        None => {}
    }
    if let Some(p) = &s.sslcert {
        env.push(("PGSSLCERT", p.display().to_string()));
    }
    if let Some(p) = &s.sslkey {
        env.push(("PGSSLKEY", p.display().to_string()));
    }
    env
}

/// The newest pg_dump among PATH's and /usr/lib/postgresql/*/bin's, with its `--version`
/// line (a pg_dump older than the server refuses to dump it, a newer one dumps older servers).
fn find_pg_dump() -> Result<(PathBuf, String)> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("pg_dump"))
        .filter(|p| p.is_file())
        .take(1)
        .collect();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(
            rd.flatten()
                .map(|e| e.path().join("bin/pg_dump"))
                .filter(|p| p.is_file()),
        );
    }
    candidates
        .into_iter()
        .filter_map(|p| {
            let out = Command::new(&p).arg("--version").output().ok()?;
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Some((major_of(&line)?, p, line))
        })
        .max_by_key(|(major, _, _)| *major)
        .map(|(_, p, line)| (p, line))
        .ok_or_else(|| {
            Error::usage("--rehearse needs pg_dump to copy the live schema, and none was found on PATH or in /usr/lib/postgresql/*/bin")
                .with_hint("install the PostgreSQL client (apt-get install postgresql-client), at least the live server's major version")
        })
}

/// The major of `pg_dump (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)`.
fn major_of(version_line: &str) -> Option<u32> {
    let rest = version_line.strip_prefix("pg_dump (PostgreSQL) ")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_meta_commands_of_newer_pg_dump_are_left_out() {
        let dump = "\\restrict abc123\nSET lock_timeout = 0;\nCREATE TABLE t (a int);\n\\unrestrict abc123\n";
        assert_eq!(
            without_meta_commands(dump),
            "SET lock_timeout = 0;\nCREATE TABLE t (a int);"
        );
    }

    #[test]
    fn the_schema_s_create_gets_if_not_exists_and_its_comment_is_left_out() {
        let dump = "CREATE SCHEMA public;\nCOMMENT ON SCHEMA public IS 'standard public schema';\nCREATE SCHEMA other;\n-- CREATE SCHEMA public;";
        assert_eq!(
            if_not_exists(dump, "public"),
            "CREATE SCHEMA IF NOT EXISTS public;\nCREATE SCHEMA other;\n-- CREATE SCHEMA public;"
        );
    }

    #[test]
    fn the_major_comes_from_pg_dump_s_version_line() {
        assert_eq!(
            major_of("pg_dump (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of("pg_dump (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(major_of("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_of("something else 15.1"), None);
    }
}
