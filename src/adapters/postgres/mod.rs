//! Reads the state of a live Coder database, safely: one connection, read-only, bounded in
//! time, and never behind a running migration.
//!
//! - Every session is read-only (`default_transaction_read_only=on`), with `lock_timeout` and
//!   `statement_timeout`, all sent in the startup packet, so no `SET` is ever sent; the whole
//!   connect is bounded; `application_name` is always `migtag` (one the user names is not
//!   sent), so operators can tell migtag apart in `pg_stat_activity`.
//! - Behind a pooler that refuses the `options` startup parameter (PgBouncer without
//!   `ignore_startup_parameters = options`), the settings go per transaction instead: see
//!   [`Delivery`].
//! - Before reading `schema_migrations`, one survey query looks in `pg_locks` for Coder's
//!   migration lock and for ACCESS EXCLUSIVE locks on the table (held or queued). When one is
//!   there, the state is `InProgress` and the table is not read at all.
//! - At most two query round trips: the survey (state, locks and sessions as one JSON
//!   document), then `SELECT version, dirty`. A third happens only when a migration starts
//!   between the two, to say who took the lock.
//!
//! What lives elsewhere: settings parsing (`settings`, `pgpass`), TLS (`tls`), error wording
//! (`errors`), the SQL (`survey`). The decision about what the state means is in `core`.

pub mod catalog;
pub mod errors;
pub mod pgpass;
pub mod probe;
pub mod rehearse;
pub mod replay;
pub mod sample;
pub mod settings;
pub mod sizes;
pub mod survey;
pub mod tls;
pub mod watch;

use std::time::Duration;

use tokio_postgres::{SimpleQueryMessage, SimpleQueryRow};

use crate::core::observation::{CatalogRead, DatabaseInfo, DbObservation, Sessions};
use crate::core::sql;
use crate::core::state::{migration_in_progress, DbState, MigrationInProgress, MigrationLock};
use crate::error::{Error, Result};

pub use settings::{resolve, ConnectSettings, Env, Origin, ProcessEnv};
use survey::{ActivityRow, Survey};
use tls::Verification;

/// What every migtag session is called in `pg_stat_activity` and the server log, whatever
/// the connection string or `PGAPPNAME` say: operators must be able to tell migtag apart from
/// Coder (which may share the same URL, and with it its `application_name`).
pub const APPLICATION_NAME: &str = "migtag";

/// Coder's supported servers start at 13; older ones lack what the survey reads.
pub const MIN_SERVER_MAJOR: u32 = 13;

/// The bounds of one observation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole connect: DNS, TCP, TLS, authentication.
    pub connect_timeout: Duration,
    /// How long any statement may wait for a lock (server-side `lock_timeout`).
    pub lock_timeout: Duration,
    /// How long any statement may run (server-side `statement_timeout`).
    pub statement_timeout: Duration,
}

impl Limits {
    pub const DEFAULT_CONNECT: Duration = Duration::from_secs(10);
    pub const DEFAULT_LOCK: Duration = Duration::from_secs(2);
    pub const DEFAULT_STATEMENT: Duration = Duration::from_secs(10);

    /// Flags first, then the connection string's `connect_timeout`, then the defaults.
    pub fn new(
        settings: &ConnectSettings,
        connect: Option<Duration>,
        lock: Option<Duration>,
        statement: Option<Duration>,
    ) -> Limits {
        Limits {
            connect_timeout: connect
                .or(settings.connect_timeout)
                .unwrap_or(Self::DEFAULT_CONNECT),
            lock_timeout: lock.unwrap_or(Self::DEFAULT_LOCK),
            statement_timeout: statement.unwrap_or(Self::DEFAULT_STATEMENT),
        }
    }

    /// The settings sent in the startup packet; the user's options cannot override them.
    pub(crate) fn session_settings(&self) -> Vec<(&'static str, String)> {
        let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
        vec![
            ("default_transaction_read_only", "on".into()),
            ("lock_timeout", ms(self.lock_timeout)),
            ("statement_timeout", ms(self.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.statement_timeout),
            ),
        ]
    }
}

/// Connects, looks, disconnects.
pub fn observe(settings: &ConnectSettings, limits: &Limits) -> Result<DbObservation> {
    observe_with(settings, limits, false)
}

/// Like [`observe`]; with `read_catalog`, also reads the schema's catalog objects (a third
/// round trip, only when no migration holds the lock) for verification.
pub fn observe_with(
    settings: &ConnectSettings,
    limits: &Limits,
    read_catalog: bool,
) -> Result<DbObservation> {
    observe_reads(
        settings,
        limits,
        Reads {
            catalog: read_catalog,
            sizes: false,
        },
    )
}

/// What one session reads beyond the survey and the row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads {
    /// The schema's catalog objects (verification, identity).
    pub catalog: bool,
    /// The tables' sizes (the upgrade forecast): one more round trip in the same session,
    /// so a command opens one session, not one per fact.
    pub sizes: bool,
}

/// Connects, reads what `reads` asks for in one session, disconnects.
pub fn observe_reads(
    settings: &ConnectSettings,
    limits: &Limits,
    reads: Reads,
) -> Result<DbObservation> {
    block_on(settings, async {
        let conn = connect(settings, limits, true).await?;
        let result = read(&conn, settings, limits, reads).await;
        close(conn.client, conn.driver).await;
        result
    })
}

/// Runs a session's work on a one-thread runtime; every error leaving it is scrubbed of the
/// password. The read and the repairs both go through here.
pub(crate) fn block_on<T>(
    settings: &ConnectSettings,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(work)
        .map_err(|e| errors::scrub(e, settings))
}

/// Closes politely (Terminate), so the server logs a normal disconnection.
pub(crate) async fn close(client: tokio_postgres::Client, driver: Driver) {
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(1), driver).await;
}

/// The task that drives a connection.
pub(crate) type Driver = tokio::task::JoinHandle<std::result::Result<(), tokio_postgres::Error>>;

/// How long one statement may take before migtag gives up on it: the server's own timeouts
/// plus a margin, so the server's error (which says which) normally comes first.
pub(crate) fn statement_bound(limits: &Limits) -> Duration {
    limits.statement_timeout + limits.lock_timeout + Duration::from_secs(2)
}

/// Where the session was, as the reports print it (`tls (verify-full)`, `unix socket`, ...).
pub(crate) fn database_info(
    settings: &ConnectSettings,
    survey: &Survey,
    verification: Verification,
) -> DatabaseInfo {
    let transport = if settings.only_unix_sockets() {
        "unix socket".to_string()
    } else if survey.ssl == Some(true) {
        match verification {
            Verification::None => "tls (certificate not verified)".to_string(),
            Verification::Ca => "tls (verify-ca)".to_string(),
            Verification::Full => "tls (verify-full)".to_string(),
        }
    } else {
        "plain tcp (no tls)".to_string()
    };
    DatabaseInfo {
        target: settings.target(),
        database: survey.database.clone(),
        user: survey.user.clone(),
        schema: survey.schema.clone(),
        server_version: survey.server_version.clone(),
        server_version_num: survey.server_version_num,
        transport,
        backend_pid: survey.pid,
        notes: settings.notes.clone(),
    }
}

/// How migtag's session settings (read-only, timeouts, the user's `options` and run-time
/// parameters) reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// In the startup packet's `options`: the normal path, where no `SET` is ever sent.
    StartupOptions,
    /// The server (a pooler such as PgBouncer) refused the `options` startup parameter. Every
    /// query then runs in its own `BEGIN READ ONLY` transaction whose first statement sets the
    /// same settings transaction-locally (`set_config(name, value, true)`, i.e. `SET LOCAL`),
    /// all in the query's one round trip. A session-level `SET` would outlive migtag's
    /// transaction on the pooled server connection: under transaction pooling it would make
    /// Coder's next transaction on that connection read-only, and migtag's own next query
    /// could run on another server connection without it.
    PerTransaction {
        /// `BEGIN READ ONLY; SELECT set_config(...), ...; `, to put before each query.
        prelude: String,
    },
}

impl Delivery {
    /// The text sent for `sql`, and which statement of it gives the rows.
    fn wrap(&self, sql: &str) -> (String, usize) {
        match self {
            Delivery::StartupOptions => (sql.to_string(), 0),
            Delivery::PerTransaction { prelude } => (
                format!("{prelude}{}; COMMIT", sql.trim_end().trim_end_matches(';')),
                2,
            ),
        }
    }

    /// The settings of [`Delivery::PerTransaction`]: the user's options, their run-time
    /// parameters, then migtag's safety settings last (as in the startup `options`).
    pub fn per_transaction(settings: &ConnectSettings, limits: &Limits) -> Result<Delivery> {
        let mut all = match &settings.options {
            Some(o) => crate::input::conninfo::option_settings(o)?,
            None => Vec::new(),
        };
        all.extend(settings.runtime_params.iter().cloned());
        all.extend(
            limits
                .session_settings()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        let calls: Vec<String> = all
            .iter()
            .map(|(k, v)| format!("set_config({}, {}, true)", sql::literal(k), sql::literal(v)))
            .collect();
        Ok(Delivery::PerTransaction {
            prelude: format!("BEGIN READ ONLY; SELECT {}; ", calls.join(", ")),
        })
    }
}

/// True for PgBouncer's answer to a startup packet carrying `options` when its
/// `ignore_startup_parameters` does not list it: SQLSTATE 08P01, "unsupported startup
/// parameter: options". Nothing else triggers the fallback.
pub fn pooler_refuses_options(code: &tokio_postgres::error::SqlState, message: &str) -> bool {
    *code == tokio_postgres::error::SqlState::PROTOCOL_VIOLATION
        && message
            .strip_prefix("unsupported startup parameter")
            .is_some_and(|rest| rest.contains("options"))
}

/// One open session: the client, its connection task, and how its settings are applied.
pub(crate) struct Connection {
    pub client: tokio_postgres::Client,
    pub driver: Driver,
    pub verification: Verification,
    pub delivery: Delivery,
}

/// Connects within `limits.connect_timeout` (both attempts together). When the server
/// refuses the `options` startup parameter and `allow_per_transaction` is set, connects again
/// without it and returns [`Delivery::PerTransaction`].
pub(crate) async fn connect(
    settings: &ConnectSettings,
    limits: &Limits,
    allow_per_transaction: bool,
) -> Result<Connection> {
    let deadline = tokio::time::Instant::now() + limits.connect_timeout;
    let plan = tls::plan(settings)?;
    let at = errors::Where {
        settings,
        roots: &plan.roots,
    };
    let timed_out = || errors::connect_timed_out(settings, limits.connect_timeout.as_secs_f64());
    let config = wire_config(settings, limits, plan.mode);
    let first =
        match tokio::time::timeout_at(deadline, config.connect(plan.connector.clone())).await {
            Ok(r) => r,
            Err(_) => return Err(not_postgres_or(settings, timed_out()).await),
        };
    let (pair, delivery) = match first {
        Ok(pair) => (pair, Delivery::StartupOptions),
        Err(e)
            if e.as_db_error()
                .is_some_and(|db| pooler_refuses_options(db.code(), db.message())) =>
        {
            if !allow_per_transaction {
                return Err(errors::pooler_refused_options(settings));
            }
            let delivery = Delivery::per_transaction(settings, limits)?;
            let config = wire_config_without_options(settings, limits, plan.mode);
            let again = tokio::time::timeout_at(deadline, config.connect(plan.connector))
                .await
                .map_err(|_| timed_out())?;
            (
                again.map_err(|e| errors::connect_failed(&e, &at))?,
                delivery,
            )
        }
        Err(e) if e.as_db_error().is_some() => return Err(errors::connect_failed(&e, &at)),
        Err(e) => return Err(not_postgres_or(settings, errors::connect_failed(&e, &at)).await),
    };
    let (client, connection) = pair;
    let server_version = connection
        .parameter("server_version")
        .unwrap_or_default()
        .to_string();
    check_server_version(&server_version, &settings.target())?;
    Ok(Connection {
        client,
        driver: tokio::spawn(connection),
        verification: plan.verification,
        delivery,
    })
}

/// `fallback`, unless the server is certainly not PostgreSQL ([`probe`]): then that.
async fn not_postgres_or(settings: &ConnectSettings, fallback: Error) -> Error {
    match probe::not_postgres(settings).await {
        Some((at, what)) => errors::scrub(
            Error::database(format!(
                "cannot connect to {}: the server at {at} did not answer as PostgreSQL: {what}",
                settings.target()
            ))
            .with_hint("check the port: it should be PostgreSQL's (5432 by default), not an HTTP service's or another proxy's"),
            settings,
        ),
        None => fallback,
    }
}

pub(crate) fn wire_config(
    settings: &ConnectSettings,
    limits: &Limits,
    mode: tokio_postgres::config::SslMode,
) -> tokio_postgres::Config {
    let mut c = wire_config_without_options(settings, limits, mode);
    c.options(settings.startup_options(&limits.session_settings()));
    c
}

/// The startup packet without the `options` parameter (tokio-postgres cannot unset it).
fn wire_config_without_options(
    settings: &ConnectSettings,
    limits: &Limits,
    mode: tokio_postgres::config::SslMode,
) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    for h in &settings.hosts {
        match h {
            settings::Host::Tcp(name) => c.host(name),
            settings::Host::Unix(path) => c.host_path(path),
        };
    }
    for a in &settings.hostaddrs {
        c.hostaddr(*a);
    }
    for p in &settings.ports {
        c.port(*p);
    }
    c.user(&settings.user);
    if let Some(p) = &settings.password {
        c.password(p.expose());
    }
    c.dbname(&settings.dbname);
    c.application_name(APPLICATION_NAME);
    c.ssl_mode(mode);
    c.connect_timeout(limits.connect_timeout);
    c
}

/// Refuses servers older than [`MIN_SERVER_MAJOR`], from the version the server announced.
pub fn check_server_version(announced: &str, target: &str) -> Result<()> {
    let major: Option<u32> = announced
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok());
    match major {
        Some(m) if m >= MIN_SERVER_MAJOR => Ok(()),
        Some(_) => Err(Error::database(format!(
            "{target} runs PostgreSQL {announced}, older than {MIN_SERVER_MAJOR}: migtag (and Coder) need PostgreSQL {MIN_SERVER_MAJOR} or newer"
        ))
        .with_hint("read the state with `psql -c 'SELECT * FROM schema_migrations'` and pass it with --psql -")),
        None => Ok(()),
    }
}

async fn read(
    conn: &Connection,
    settings: &ConnectSettings,
    limits: &Limits,
    reads: Reads,
) -> Result<DbObservation> {
    let bound = statement_bound(limits);
    let survey = run_survey(conn, settings, bound).await?;
    if survey.read_only != "on" {
        return Err(Error::database(format!(
            "{}: the session is not read-only (transaction_read_only = {}); migtag stops rather than risk a write",
            settings.target(),
            survey.read_only
        ))
        .with_hint("a connection pooler may drop startup options; connect to PostgreSQL directly"));
    }
    let state = match in_progress(&survey) {
        Some(m) => DbState::InProgress(m),
        None => match read_table(conn, settings, &survey, bound).await {
            Err(e) if errors::is_lock_timeout(&e) => {
                // A migration took the lock between the survey and the read: say who.
                let again = run_survey(conn, settings, bound).await?;
                match in_progress(&again) {
                    Some(m) => DbState::InProgress(m),
                    None => {
                        return Err(errors::query_failed(
                            &e,
                            settings,
                            "reading schema_migrations",
                        ))
                    }
                }
            }
            Err(e) => {
                return Err(errors::query_failed(
                    &e,
                    settings,
                    "reading schema_migrations",
                ))
            }
            Ok(state) => state?,
        },
    };
    let catalog = match (&state, &survey.schema) {
        _ if !reads.catalog => None,
        // The state already says a migration runs and to decide nothing.
        (DbState::InProgress(_), _) => None,
        (_, None) => None,
        (_, Some(schema)) => Some(read_live_catalog(conn, schema, limits, bound).await),
    };
    let rows: Vec<_> = survey
        .sessions
        .iter()
        .map(ActivityRow::to_session)
        .collect();
    let mut database = database_info(settings, &survey, conn.verification);
    if conn.delivery != Delivery::StartupOptions {
        database.notes.push(PER_TRANSACTION_NOTE.into());
    }
    let sizes = match &state {
        // A running migration: nothing is forecast, and its tables are locked.
        DbState::InProgress(_) => None,
        _ if !reads.sizes => None,
        _ => Some(sizes::read_in(conn, settings, bound).await),
    };
    Ok(DbObservation {
        state,
        database,
        sessions: Sessions::summarise(&rows, &survey.user),
        catalog,
        sizes,
    })
}

/// The third round trip: the catalog objects of `schema`. A lock that outlasts
/// `lock_timeout` (only `pg_get_viewdef` takes one) or any error skips verification with the
/// reason; the state already read stays valid.
async fn read_live_catalog(
    conn: &Connection,
    schema: &str,
    limits: &Limits,
    bound: Duration,
) -> CatalogRead {
    match simple(conn, catalog::CATALOG_SQL, bound).await {
        None => CatalogRead::Skipped("the catalog query did not answer in time".into()),
        Some(Err(e)) if errors::is_lock_timeout(&e) => {
            CatalogRead::Skipped(format!(
            "another session holds a lock on a table or view of the schema (such as a migration's ACCESS EXCLUSIVE; waited lock_timeout = {}ms): {}",
            limits.lock_timeout.as_millis(),
            e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default()
        ))
        }
        Some(Err(e)) => CatalogRead::Skipped(format!(
            "the catalog query failed: {}",
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        )),
        Some(Ok(rows)) => match rows.first().and_then(|r| r.get(0)) {
            Some(text) => match catalog::parse(text, schema) {
                Ok(c) => CatalogRead::Read(c),
                Err(e) => CatalogRead::Skipped(e.message().to_string()),
            },
            None => CatalogRead::Skipped("the catalog query returned no row".into()),
        },
    }
}

/// Said in the output when the settings went [`Delivery::PerTransaction`].
pub const PER_TRANSACTION_NOTE: &str = "the server (a connection pooler such as PgBouncer) refuses the options startup \
     parameter, so each query ran in its own READ ONLY transaction that set migtag's timeouts and the connection's \
     settings with SET LOCAL";

async fn run_survey(
    conn: &Connection,
    settings: &ConnectSettings,
    bound: Duration,
) -> Result<Survey> {
    let rows = simple(conn, &survey::survey_sql(), bound)
        .await
        .ok_or_else(|| errors::statement_timed_out(settings, None))?
        .map_err(|e| errors::query_failed(&e, settings, "reading pg_locks and pg_stat_activity"))?;
    let text = rows
        .first()
        .and_then(|r| r.get(0))
        .ok_or_else(|| Error::internal("the survey returned no row"))?;
    survey::parse_survey(text)
}

/// Reads the state from the table, or says there is none. The outer `Result` is the query,
/// the inner one the meaning of what it returned.
async fn read_table(
    conn: &Connection,
    settings: &ConnectSettings,
    survey: &Survey,
    bound: Duration,
) -> std::result::Result<Result<DbState>, tokio_postgres::Error> {
    if survey.schema.is_none() {
        return Ok(Err(Error::database(format!(
            "{}: search_path names no existing schema, so Coder would have nowhere to keep schema_migrations",
            settings.target()
        ))
        .with_hint("check search_path in the connection string against the schemas of the database")));
    }
    if survey.v1 {
        return Ok(Ok(DbState::V1));
    }
    let Some(table) = &survey.table else {
        return Ok(Ok(DbState::Fresh));
    };
    if let Err(e) = survey::check_shape(table) {
        return Ok(Err(e));
    }
    if !table.can_select {
        return Ok(Err(Error::database(format!(
            "{}: role {} may not read {} (permission denied)",
            settings.target(),
            survey.user,
            table.qualified
        ))
        .with_hint(format!(
            "GRANT SELECT ON {} TO {};",
            table.qualified,
            sql::identifier(&survey.user)
        ))));
    }
    let rows = match simple(conn, &survey::rows_sql(&table.qualified), bound).await {
        None => return Ok(Err(errors::statement_timed_out(settings, None))),
        Some(r) => r?,
    };
    let pairs: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0).map(str::to_string), r.get(1).map(str::to_string)))
        .collect();
    Ok(
        survey::parse_rows(&table.qualified, &pairs).map(|row| match row {
            None => DbState::Fresh,
            Some((v, dirty)) => DbState::from_row(v, dirty),
        }),
    )
}

/// One simple-protocol query: one round trip (wrapped in its transaction when the settings go
/// [`Delivery::PerTransaction`]). `None` when it outlives `bound`.
async fn simple(
    conn: &Connection,
    sql: &str,
    bound: Duration,
) -> Option<std::result::Result<Vec<SimpleQueryRow>, tokio_postgres::Error>> {
    let (text, statement) = conn.delivery.wrap(sql);
    let msgs = tokio::time::timeout(bound, conn.client.simple_query(&text))
        .await
        .ok()?;
    match msgs {
        Ok(m) => Some(Ok(rows_of_statement(m, statement))),
        Err(e) => {
            if conn.delivery != Delivery::StartupOptions {
                // The failed transaction stays open (and holds its pooled server connection)
                // until it is ended.
                let _ = tokio::time::timeout(bound, conn.client.simple_query("ROLLBACK")).await;
            }
            Some(Err(e))
        }
    }
}

/// The rows of the `index`-th statement of a simple query (statements end at their
/// CommandComplete).
fn rows_of_statement(messages: Vec<SimpleQueryMessage>, index: usize) -> Vec<SimpleQueryRow> {
    let mut current = 0;
    let mut rows = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::Row(r) if current == index => rows.push(r),
            SimpleQueryMessage::CommandComplete(_) => current += 1,
            _ => {}
        }
    }
    rows
}

/// The migration holding the lock, from the survey: the survey's rows turned into core types
/// for [`migration_in_progress`], which decides.
pub fn in_progress(s: &Survey) -> Option<MigrationInProgress> {
    let locks: Vec<MigrationLock> = s
        .locks
        .iter()
        .map(|l| MigrationLock {
            pid: l.pid,
            granted: l.granted,
            advisory: l.kind == "advisory",
        })
        .collect();
    let sessions: Vec<_> = s.sessions.iter().map(ActivityRow::to_session).collect();
    let table = s
        .table
        .as_ref()
        .map(|t| t.qualified.clone())
        .unwrap_or_else(|| "schema_migrations".into());
    migration_in_progress(&locks, &sessions, &table, survey::CODER_LOCK_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_servers_are_refused_with_their_version() {
        let e =
            check_server_version("12.17 (Debian 12.17-1)", "postgres://u@h:5432/d").unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Database);
        assert!(e.message().contains("PostgreSQL 12.17"), "{e}");
        assert!(e.message().contains("13 or newer"), "{e}");
        assert!(check_server_version("9.6.24", "t").is_err());
        assert!(check_server_version("13.0", "t").is_ok());
        assert!(check_server_version("15.6 (Debian 15.6-1)", "t").is_ok());
        assert!(check_server_version("17beta1", "t").is_ok());
    }

    #[test]
    fn safety_settings_come_last_in_the_options() {
        let env = settings::tests::MapEnv::new(&[]);
        let s = resolve(
            Some("postgres://u@h/d?options=-c%20default_transaction_read_only%3Doff"),
            &env,
        )
        .unwrap()
        .unwrap();
        let limits = Limits::new(&s, None, Some(Duration::from_millis(1500)), None);
        let opts = s.startup_options(&limits.session_settings());
        assert!(
            opts.starts_with("-c default_transaction_read_only=off"),
            "{opts}"
        );
        assert!(opts.ends_with(
            "-c default_transaction_read_only=on -c lock_timeout=1500ms -c statement_timeout=10000ms -c idle_in_transaction_session_timeout=10000ms"
        ), "{opts}");
        assert_eq!(limits.connect_timeout, Limits::DEFAULT_CONNECT);
    }

    #[test]
    fn application_name_is_always_migtag() {
        for (url, vars) in [
            ("postgres://u@h/d?application_name=coderd", vec![]),
            ("postgres://u@h/d", vec![("PGAPPNAME", "coderd")]),
            ("postgres://u@h/d", vec![]),
        ] {
            let s = resolve(Some(url), &settings::tests::MapEnv::new(&vars))
                .unwrap()
                .unwrap();
            let limits = Limits::new(&s, None, None, None);
            let c = wire_config(&s, &limits, tokio_postgres::config::SslMode::Disable);
            assert_eq!(c.get_application_name(), Some("migtag"), "{url} {vars:?}");
            assert!(c.get_options().is_some());
            let c =
                wire_config_without_options(&s, &limits, tokio_postgres::config::SslMode::Disable);
            assert_eq!(
                c.get_options(),
                None,
                "the fallback sends no options at all"
            );
            assert_eq!(c.get_application_name(), Some("migtag"));
        }
    }

    #[test]
    fn only_pgbouncers_refusal_of_options_triggers_the_fallback() {
        use tokio_postgres::error::SqlState;
        assert!(pooler_refuses_options(
            &SqlState::PROTOCOL_VIOLATION,
            "unsupported startup parameter: options"
        ));
        for (code, msg) in [
            (
                SqlState::PROTOCOL_VIOLATION,
                "unsupported startup parameter: extra_float_digits",
            ),
            (SqlState::PROTOCOL_VIOLATION, "no such user: coder"),
            (
                SqlState::INVALID_PASSWORD,
                "unsupported startup parameter: options",
            ),
            (
                SqlState::UNDEFINED_OBJECT,
                "unrecognized configuration parameter \"options\"",
            ),
            (
                SqlState::INVALID_PARAMETER_VALUE,
                "invalid value for parameter \"lock_timeout\"",
            ),
        ] {
            assert!(!pooler_refuses_options(&code, msg), "{code:?} {msg}");
        }
    }

    #[test]
    fn per_transaction_settings_are_local_and_safety_comes_last() {
        let env = settings::tests::MapEnv::new(&[]);
        let s = resolve(
            Some("postgres://u@h/d?options=-c%20default_transaction_read_only%3Doff&search_path=co'de"),
            &env,
        )
        .unwrap()
        .unwrap();
        let limits = Limits::new(&s, None, Some(Duration::from_millis(1500)), None);
        let d = Delivery::per_transaction(&s, &limits).unwrap();
        let (text, statement) = d.wrap("SELECT 1;");
        assert_eq!(statement, 2);
        assert_eq!(
            text,
            "BEGIN READ ONLY; SELECT set_config('default_transaction_read_only', 'off', true), \
             set_config('search_path', 'co''de', true), \
             set_config('default_transaction_read_only', 'on', true), \
             set_config('lock_timeout', '1500ms', true), set_config('statement_timeout', '10000ms', true), \
             set_config('idle_in_transaction_session_timeout', '10000ms', true); SELECT 1; COMMIT"
        );
        assert!(!text.contains("SET "), "no session-level SET: {text}");
        assert_eq!(
            Delivery::StartupOptions.wrap("SELECT 1"),
            ("SELECT 1".into(), 0)
        );
        let s = resolve(Some("postgres://u@h/d?options=-e"), &env)
            .unwrap()
            .unwrap();
        assert!(Delivery::per_transaction(&s, &limits).is_err());
    }

    fn survey_with(locks: &str, sessions: &str) -> Survey {
        survey::parse_survey(&format!(
            r#"{{"server_version_num":150006,"server_version":"15.6","database":"coder","user":"coder",
               "schema":"public","pid":1,"read_only":"on","ssl":false,
               "table":{{"relkind":"r","schema":"public","qualified":"public.schema_migrations","can_select":true,
                         "columns":[{{"name":"version","type":"bigint"}},{{"name":"dirty","type":"boolean"}}]}},
               "v1":false,"locks":{locks},"sessions":{sessions}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn in_progress_prefers_the_advisory_holder_and_fills_details() {
        let s = survey_with(
            r#"[{"pid":42,"granted":true,"kind":"advisory"},{"pid":42,"granted":true,"kind":"relation"},{"pid":43,"granted":false,"kind":"advisory"}]"#,
            r#"[{"pid":42,"user":"coder","application_name":"coderd","client_addr":"10.0.0.7","state":"active",
                 "xact_seconds":61.6,"state_seconds":1.0,"xact_start":"2026-01-01T00:00:00Z","wait_event_type":null,
                 "wait_event":null,"query":"ALTER TABLE api_keys\n   ADD COLUMN x int","hidden":false,"blocked_by":null}]"#,
        );
        let m = in_progress(&s).unwrap();
        assert_eq!(m.pid, Some(42));
        assert!(
            m.lock.contains("1037453835920848937") && m.lock.contains("ACCESS EXCLUSIVE"),
            "{}",
            m.lock
        );
        assert_eq!(m.xact_seconds, Some(62));
        assert_eq!(
            m.query.as_deref(),
            Some("ALTER TABLE api_keys ADD COLUMN x int")
        );
        assert_eq!(m.application_name.as_deref(), Some("coderd"));
        assert_eq!(m.client_addr.as_deref(), Some("10.0.0.7"));
    }

    #[test]
    fn queued_exclusive_request_counts_and_no_lock_means_not_in_progress() {
        let s = survey_with(r#"[{"pid":7,"granted":false,"kind":"relation"}]"#, "[]");
        let m = in_progress(&s).unwrap();
        assert!(m.lock.contains("queued"), "{}", m.lock);
        assert_eq!(m.query, None);
        assert!(in_progress(&survey_with("[]", "[]")).is_none());
        assert!(in_progress(&survey_with(
            r#"[{"pid":7,"granted":false,"kind":"advisory"}]"#,
            "[]"
        ))
        .is_none());
    }
}
