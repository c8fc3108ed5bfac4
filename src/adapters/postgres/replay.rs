//! `index effects`: replays Coder's real migration files on a scratch database that migtag
//! creates (and always drops), through one connection, and measures each migration inside
//! its own transaction before the commit: the catalog diff, the relation locks it holds
//! (`pg_locks` of our own backend), rewritten tables (relfilenode), indexes built on tables
//! that existed, and per-table scans and row changes (`pg_stat_xact_user_tables`).
//!
//! Files are run as golang-migrate runs them (one multi-statement string), minus their own
//! `BEGIN`/`COMMIT` (the files before v2.5.0 carry them), so the measurement sees the
//! transaction. Coder's fixtures are loaded after their migration so data migrations touch
//! rows. Writes go only to the database created here; the server must grant CREATEDB.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::{catalog, settings::ConnectSettings, tls, wire_config_without_options, Limits};
use crate::adapters::coder_sql::{FileContent, SqlSource};
use crate::core::effects::{
    rewind_point, shared_prefix, Effects, EffectsProvenance, Fingerprints, IrregularSet,
    MigrationEffects, Rehearsal, ReplayFailure, Step as WorkStep, StepKind, TableActivity, Variant,
    FORMAT_VERSION,
};
use crate::core::migration_set::{MigrationSet, Version};
use crate::core::schema::Catalog;
use crate::core::sql_text::{
    file_fingerprints, is_transaction_control, split_statements, statement_at, strip_comments,
};
use crate::error::{Error, Result};

/// An irregular release set to replay, and the releases to rehearse on top of it.
#[derive(Debug, Clone)]
pub struct IrregularPlan {
    pub set: MigrationSet,
    pub releases: Vec<String>,
    /// (tag, its set) of the releases to rehearse after it.
    pub targets: Vec<(String, MigrationSet)>,
}

/// What to replay.
pub struct Plan<'a> {
    pub source: &'a SqlSource,
    pub max: Version,
    pub irregular: Vec<IrregularPlan>,
    /// Migrations up to this one (0: none) are run, fixtures included, to build the schema
    /// and rows the next ones meet, but not measured: their effects are known already
    /// (`index update --effects` extends effects that stop there). The result holds the
    /// measured ones only, and [`Replayed::prefix`] the catalog the prefix left.
    pub known_up_to: Version,
}

/// What [`generate`] measured.
pub struct Replayed {
    pub effects: Effects,
    /// The catalog after the unmeasured prefix (`Plan::known_up_to`), to compare with the
    /// expected schema the known effects give.
    pub prefix: Option<Catalog>,
    /// The scratch database it ran in (dropped by now).
    pub scratch_database: Option<String>,
}

const FACTS_SQL: &str = "SELECT json_build_object(\
 'locks', coalesce((SELECT json_agg(DISTINCT c.relname || ' ' || l.mode) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
   WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
     AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'm', 'v')), '[]'::json), \
 'stats', coalesce((SELECT json_agg(json_build_array(s.relname, s.seq_scan, coalesce(s.idx_scan, 0), s.n_tup_ins, s.n_tup_upd, s.n_tup_del)) \
   FROM pg_stat_xact_user_tables s WHERE s.schemaname = current_schema()), '[]'::json), \
 'files', coalesce((SELECT json_object_agg(c.relname, c.relfilenode::bigint) FROM pg_class c \
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm')), '{}'::json), \
 'indexes', coalesce((SELECT json_object_agg(i.relname, t.relname) FROM pg_index x \
   JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
   WHERE t.relnamespace = current_schema()::regnamespace), '{}'::json))::text";

/// One row of `pg_stat_xact_user_tables`: table, seq_scan, idx_scan, inserted, updated,
/// deleted.
type StatRow = (String, u64, u64, u64, u64, u64);

#[derive(Deserialize, Default, Clone)]
struct Facts {
    locks: Vec<String>,
    stats: Vec<StatRow>,
    files: BTreeMap<String, u64>,
    /// Index name -> its table.
    #[serde(default)]
    indexes: BTreeMap<String, String>,
}

/// The schema and the transaction's counters after a step.
#[derive(Default, Clone)]
struct Step {
    catalog: Catalog,
    facts: Facts,
}

/// Creates the scratch database, replays, drops it (also on failure).
pub fn generate(settings: &ConnectSettings, plan: &Plan<'_>) -> Result<Replayed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(generate_async(settings, plan))
        .map_err(|e| super::errors::scrub(e, settings))
}

async fn open(settings: &ConnectSettings, dbname: &str) -> Result<Client> {
    let limits = Limits::new(settings, None, None, None);
    let plan = tls::plan(settings)?;
    let mut config = wire_config_without_options(settings, &limits, plan.mode);
    config.dbname(dbname);
    let at = super::errors::Where {
        settings,
        roots: &plan.roots,
    };
    let (client, conn) =
        tokio::time::timeout(limits.connect_timeout, config.connect(plan.connector))
            .await
            .map_err(|_| {
                super::errors::connect_timed_out(settings, limits.connect_timeout.as_secs_f64())
            })?
            .map_err(|e| super::errors::connect_failed(&e, &at))?;
    tokio::spawn(conn);
    Ok(client)
}

pub fn db_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// The first column of each row a simple query returns, as text.
pub(crate) async fn one_text(
    client: &Client,
    sql: &str,
) -> std::result::Result<Vec<String>, tokio_postgres::Error> {
    let msgs = client.simple_query(sql).await?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

async fn generate_async(settings: &ConnectSettings, plan: &Plan<'_>) -> Result<Replayed> {
    let mut scratch = Scratch::create(settings, "effects", "`index effects` replays").await?;
    let version_num = scratch.version_num;
    let name = scratch.name.clone();
    let result = async {
        // As for `gate --rehearse`: a superuser's replay runs as an unprivileged role, so
        // the SQL in --sql cannot reach beyond the scratch database (docs/verify.md).
        if scratch.superuser {
            scratch.sandbox().await?;
        }
        let (client, _) = scratch.connect_as_sandbox().await?;
        let r = replay(&client, plan, version_num / 10000).await;
        drop(client);
        r
    }
    .await;
    let mut replayed = scratch.drop_after(result).await?;
    replayed.scratch_database = Some(name);
    Ok(replayed)
}

/// A database migtag created on a server where the role has CREATEDB, dropped by
/// [`Scratch::drop_after`] whatever happened in it.
pub struct Scratch<'a> {
    settings: &'a ConnectSettings,
    admin: Client,
    pub name: String,
    /// The server's `server_version_num`.
    pub version_num: u32,
    /// The scratch role is a superuser (see [`Scratch::sandbox`]).
    pub superuser: bool,
    /// The unprivileged role [`Scratch::sandbox`] created (dropped with the database).
    pub sandbox: Option<Sandbox>,
}

/// A role migtag creates for one scratch database: no superuser, no CREATEDB/CREATEROLE, no
/// replication, no membership in any role; it owns the scratch database and nothing else.
pub struct Sandbox {
    pub role: String,
    password: super::settings::Secret,
}

impl<'a> Scratch<'a> {
    /// Creates `migtag_<purpose>_<pid>_<nanos>`; refuses when the role may not create
    /// databases (`why` says what the scratch database is for).
    pub async fn create(
        settings: &'a ConnectSettings,
        purpose: &str,
        why: &str,
    ) -> Result<Scratch<'a>> {
        let target = settings.target();
        let admin = open(settings, &settings.dbname).await?;
        let q = |e: tokio_postgres::Error| Error::database(format!("{target}: {}", db_error(&e)));
        let (version_num, pid, superuser) = may_create(&admin, settings, why).await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("migtag_{purpose}_{pid}_{nanos}");
        admin
            .simple_query(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))
            .await
            .map_err(q)?;
        Ok(Scratch {
            settings,
            admin,
            name,
            version_num,
            superuser,
            sandbox: None,
        })
    }

    /// Refuses, before anything else happens, when the scratch role may not create
    /// databases: `gate --rehearse` checks this before it reads the live database.
    pub async fn check(settings: &ConnectSettings, why: &str) -> Result<()> {
        let admin = open(settings, &settings.dbname).await?;
        may_create(&admin, settings, why).await.map(|_| ())
    }

    /// A new connection to the scratch database.
    pub async fn connect(&self) -> Result<Client> {
        open(self.settings, &self.name).await
    }

    /// For a superuser scratch role: creates an unprivileged login role with a random
    /// password, hands it the scratch database (and its `public` schema), so that SQL run
    /// as it cannot reach the server's files, programs, other databases or sessions. The
    /// statements are kept out of the server log (`log_statement = none` for them).
    pub async fn sandbox(&mut self) -> Result<()> {
        let target = self.settings.target();
        let q = |e: tokio_postgres::Error| {
            Error::database(format!(
                "{target}: creating the rehearsal's role: {}",
                db_error(&e)
            ))
        };
        let role = format!("{}_role", self.name);
        let password = random_password()?;
        self.admin
            .batch_execute(&format!(
                "SET log_statement = 'none'; \
                 CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
                 NOBYPASSRLS NOINHERIT CONNECTION LIMIT 4 PASSWORD {}; \
                 RESET log_statement; \
                 ALTER DATABASE {} OWNER TO {role}",
                crate::core::sql::literal(&password),
                self.name
            ))
            .await
            .map_err(q)?;
        self.sandbox = Some(Sandbox {
            role: role.clone(),
            password: super::settings::Secret::new(password),
        });
        // PostgreSQL 14 and older: `public` belongs to the bootstrap superuser.
        let scratch = self.connect().await?;
        scratch
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO {role}"))
            .await
            .map_err(q)?;
        Ok(())
    }

    /// A connection to the scratch database as the sandbox role (see [`Scratch::sandbox`]);
    /// without one, as the scratch role. When the server refuses the sandbox role's login
    /// (pg_hba.conf), the scratch role's session switches to it with `SET ROLE`, and the
    /// second value says so.
    pub async fn connect_as_sandbox(&self) -> Result<(Client, bool)> {
        let Some(sandbox) = &self.sandbox else {
            return Ok((self.connect().await?, false));
        };
        let mut as_role = self.settings.clone();
        as_role.user = sandbox.role.clone();
        as_role.password = Some(super::settings::Secret::new(sandbox.password.expose()));
        as_role.options = None;
        if let Ok(client) = open(&as_role, &self.name).await {
            return Ok((client, false));
        }
        let client = self.connect().await?;
        client
            .batch_execute(&format!("SET ROLE {}", sandbox.role))
            .await
            .map_err(|e| Error::database(format!("SET ROLE {}: {}", sandbox.role, db_error(&e))))?;
        Ok((client, true))
    }

    /// Drops the scratch database (after the caller's connections ended), then returns
    /// `result`; a failed drop is an error of its own.
    pub async fn drop_after<T>(self, result: Result<T>) -> Result<T> {
        // Wait for our session to end, then drop the database we created (and only it).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let dropped = self
            .admin
            .simple_query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
        let role_dropped = match &self.sandbox {
            Some(sandbox) => self
                .admin
                .simple_query(&format!("DROP ROLE IF EXISTS {}", sandbox.role))
                .await
                .map(|_| ()),
            None => Ok(()),
        };
        let value = result?;
        role_dropped.map_err(|e| {
            Error::database(format!(
                "{}: could not drop the rehearsal's role {}: {}",
                self.settings.target(),
                self.sandbox.as_ref().map_or("", |s| s.role.as_str()),
                db_error(&e)
            ))
        })?;
        dropped.map_err(|e| {
            Error::database(format!(
                "{}: could not drop the scratch database {}: {}",
                self.settings.target(),
                self.name,
                db_error(&e)
            ))
        })?;
        Ok(value)
    }
}

/// The server's `server_version_num`, the session's pid and whether the role is a
/// superuser; refused (exit 10) when the role may not create databases (`why` says what the
/// scratch database is for).
async fn may_create(
    admin: &Client,
    settings: &ConnectSettings,
    why: &str,
) -> Result<(u32, i32, bool)> {
    let target = settings.target();
    let info = one_text(
        admin,
        "SELECT json_build_array((SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user), \
         current_setting('server_version_num')::int, pg_backend_pid(), \
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))::text",
    )
    .await
    .map_err(|e| Error::database(format!("{target}: {}", db_error(&e))))?;
    let (can_create, version_num, pid, superuser): (bool, u32, i32, bool) =
        serde_json::from_str(info.first().map(String::as_str).unwrap_or("[]"))
            .map_err(|e| Error::internal(format!("unexpected answer: {e}")))?;
    if !can_create {
        return Err(Error::database(format!(
            "{target}: role {} may not create databases; {why} into a scratch database it creates and drops",
            settings.user
        ))
        .with_hint("use a throwaway server where the role has CREATEDB (never a production server)"));
    }
    Ok((version_num, pid, superuser))
}

/// 32 random bytes from the kernel, hex: the sandbox role's password (never shown).
fn random_password() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::internal(format!("cannot read /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file as the replay runs it: its statements without transaction control.
struct Prepared {
    text: String,
    statements: Vec<crate::core::sql_text::Statement>,
}

fn prepare(sql: &str) -> Prepared {
    let mut text = String::new();
    let mut statements = Vec::new();
    for s in split_statements(sql) {
        if is_transaction_control(&s.text) {
            continue;
        }
        statements.push(crate::core::sql_text::Statement {
            offset: text.len(),
            text: s.text.clone(),
        });
        text.push_str(&s.text);
        text.push_str(";\n");
    }
    Prepared { text, statements }
}

/// Runs one file (inside the caller's transaction) statement by statement, reading the
/// transaction's counters after each, and returns the work of each statement
/// ([`steps_of`]). The failure names the statement and the server's error.
async fn run_measured(
    client: &Client,
    f: &FileContent,
) -> Result<std::result::Result<Vec<WorkStep>, ReplayFailure>> {
    let p = prepare(&f.text);
    let mut steps = Vec::new();
    if p.statements.is_empty() {
        return Ok(Ok(steps));
    }
    exec(client, "SAVEPOINT migtag_file").await?;
    let mut before = facts(client).await?;
    for (n, stmt) in p.statements.iter().enumerate() {
        if let Err(e) = client.simple_query(&stmt.text).await {
            exec(client, "ROLLBACK TO SAVEPOINT migtag_file").await?;
            return Ok(Err(failure(f, Some(&stmt.text), db_error(&e))));
        }
        let after = facts(client).await?;
        let changed = activity(&before, &after);
        let target = dml_target(&stmt.text);
        // Tables the statement read or changed rows of (already counted as read, so the
        // count adds no read the data did not have), and the table an UPDATE or DELETE names.
        let mut counted: Vec<&str> = changed
            .iter()
            .filter(|(_, a)| a.updated + a.deleted > 0 || a.scanned)
            .map(|(t, _)| t.as_str())
            .collect();
        if let Some((_, t)) = &target {
            if after.files.contains_key(t) && !counted.contains(&t.as_str()) {
                counted.push(t);
            }
        }
        let counts = row_counts(client, &counted).await?;
        steps.extend(steps_of(
            n as u32 + 1,
            &stmt.text,
            target.as_ref(),
            &before,
            &after,
            &changed,
            &counts,
        ));
        // The counts' own reads and locks are not the migration's: read the counters again.
        before = facts(client).await?;
    }
    exec(client, "RELEASE SAVEPOINT migtag_file").await?;
    Ok(Ok(steps))
}

/// The table an `UPDATE` or `DELETE` statement names (`UPDATE [ONLY] t`, `DELETE FROM
/// [ONLY] t`, schema and quotes removed), with its kind; None for other statements and for
/// those that start with a `WITH`.
fn dml_target(text: &str) -> Option<(StepKind, String)> {
    let normal = crate::core::sql_text::normalize(text);
    let mut words = normal.split(' ');
    let first = words.next()?.to_ascii_uppercase();
    let kind = match first.as_str() {
        "UPDATE" => StepKind::Update,
        "DELETE" if words.next()?.eq_ignore_ascii_case("FROM") => StepKind::Delete,
        _ => return None,
    };
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("ONLY") {
        name = words.next()?;
    }
    let name = name.rsplit('.').next()?.trim_matches('"');
    (!name.is_empty()).then(|| (kind, name.to_string()))
}

/// How many times the statement's text names each table of the schema.
fn named_tables(text: &str, tables: &BTreeMap<String, u64>) -> BTreeMap<String, usize> {
    let mut named = BTreeMap::new();
    for word in crate::core::sql_text::identifiers(text) {
        if tables.contains_key(&word) {
            *named.entry(word).or_insert(0) += 1;
        }
    }
    named
}

/// Per table, what the transaction's counters say happened between two readings.
fn activity(before: &Facts, after: &Facts) -> BTreeMap<String, TableActivity> {
    let prior: BTreeMap<&str, &StatRow> = before.stats.iter().map(|s| (s.0.as_str(), s)).collect();
    after
        .stats
        .iter()
        .map(|s| {
            let p = prior.get(s.0.as_str());
            let d =
                |now: u64, f: fn(&StatRow) -> u64| now.saturating_sub(p.map(|p| f(p)).unwrap_or(0));
            (
                s.0.clone(),
                TableActivity {
                    table: s.0.clone(),
                    scanned: d(s.1, |p| p.1) + d(s.2, |p| p.2) > 0,
                    inserted: d(s.3, |p| p.3),
                    updated: d(s.4, |p| p.4),
                    deleted: d(s.5, |p| p.5),
                },
            )
        })
        .filter(|(_, a)| a.scanned || a.inserted + a.updated + a.deleted > 0)
        .collect()
}

/// The rows of each table now (inside the transaction); Coder's fixture tables are small.
async fn row_counts(client: &Client, tables: &[&str]) -> Result<BTreeMap<String, u64>> {
    if tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT {}, count(*)::text FROM ONLY {}",
                crate::core::sql::literal(t),
                crate::core::sql::identifier(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    // Under a savepoint that is rolled back, so the counts' ACCESS SHARE locks are released
    // and never recorded as the migration's.
    exec(client, "SAVEPOINT migtag_count").await?;
    let rows = client
        .simple_query(&sql)
        .await
        .map_err(|e| Error::database(format!("replay: counting rows failed: {}", db_error(&e))))?;
    exec(client, "ROLLBACK TO SAVEPOINT migtag_count").await?;
    exec(client, "RELEASE SAVEPOINT migtag_count").await?;
    Ok(rows
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((r.get(0)?.to_string(), r.get(1)?.parse().ok()?)),
            _ => None,
        })
        .collect())
}

/// The work one statement did, from the counters and the catalog before and after it:
/// tables given new storage, indexes built on tables that existed before it, rows updated,
/// deleted and inserted (with the rows present, so the forecast can apply the same share
/// to the live table), and validation scans (a table read by an `ALTER TABLE` that changed
/// none of its rows).
fn steps_of(
    statement: u32,
    text: &str,
    target: Option<&(StepKind, String)>,
    before: &Facts,
    after: &Facts,
    changed: &BTreeMap<String, TableActivity>,
    counts: &BTreeMap<String, u64>,
) -> Vec<WorkStep> {
    let mut steps = Vec::new();
    let step = |kind, table: &str, rows, of, detail: Option<String>| WorkStep {
        statement,
        kind,
        table: table.to_string(),
        rows,
        of,
        detail,
    };
    let rewritten: BTreeSet<&String> = after
        .files
        .iter()
        .filter(|(rel, node)| before.files.get(*rel).is_some_and(|b| b != *node))
        .map(|(rel, _)| rel)
        .collect();
    for t in &rewritten {
        steps.push(step(StepKind::Rewrite, t, 0, 0, None));
    }
    let count = |t: &str| counts.get(t).copied().unwrap_or(0);
    // The table an INSERT ... SELECT read: the largest other table the statement read.
    let source = |target: &str| {
        changed
            .values()
            .filter(|a| a.scanned && a.table != target)
            .max_by_key(|a| (count(&a.table), std::cmp::Reverse(a.table.clone())))
            .map(|a| (a.table.clone(), count(&a.table)))
    };
    let named = named_tables(text, &before.files);
    // The other tables an UPDATE or DELETE of `table` joins: every other table its text
    // names, and the table itself when named twice (`WHERE id IN (SELECT ... FROM table)`).
    let joins = |table: &str| {
        // A table changed by a cascade or a trigger is not the statement's: it joins nothing.
        named.get(table)?;
        let list: Vec<&str> = named
            .iter()
            .filter(|(t, n)| t.as_str() != table || **n > 1)
            .map(|(t, _)| t.as_str())
            .collect();
        (!list.is_empty()).then(|| list.join(","))
    };
    for a in changed.values() {
        if a.updated > 0 {
            steps.push(step(
                StepKind::Update,
                &a.table,
                a.updated,
                count(&a.table),
                joins(&a.table),
            ));
        }
        if a.deleted > 0 {
            steps.push(step(
                StepKind::Delete,
                &a.table,
                a.deleted,
                count(&a.table) + a.deleted,
                joins(&a.table),
            ));
        }
        if a.inserted > 0 && before.files.contains_key(&a.table) {
            let (from, of) = source(&a.table).map_or((None, 0), |(t, n)| (Some(t), n));
            steps.push(step(StepKind::Insert, &a.table, a.inserted, of, from));
        }
    }
    // An UPDATE or DELETE that changed no row (its WHERE matched none of the fixture rows,
    // or the table was empty): recorded with the rows present, so the forecast knows the
    // statement exists; with none present the share is unknown (0/0).
    if let Some((kind, table)) = target {
        if before.files.contains_key(table)
            && !steps.iter().any(|s| s.kind == *kind && &s.table == table)
        {
            steps.push(step(*kind, table, 0, count(table), joins(table)));
        }
    }
    let mut built: Vec<(&String, &String)> = after
        .indexes
        .iter()
        .filter(|(name, _)| !before.indexes.contains_key(*name))
        .filter(|(_, table)| before.files.contains_key(*table))
        .collect();
    built.sort();
    for (index, table) in built {
        steps.push(step(StepKind::IndexBuild, table, 0, 0, Some(index.clone())));
    }
    let alters = crate::core::sql_text::normalize(text)
        .to_ascii_uppercase()
        .starts_with("ALTER TABLE");
    if alters {
        for a in changed.values() {
            let worked = a.inserted + a.updated + a.deleted > 0
                || rewritten.contains(&a.table)
                || steps.iter().any(|s| s.table == a.table);
            if a.scanned && !worked && before.files.contains_key(&a.table) {
                steps.push(step(StepKind::Scan, &a.table, 0, 0, None));
            }
        }
    }
    steps
}

/// How a failing statement of `f` is reported: its text without comments, on one line (None:
/// the server did not say which statement failed), and the server's error as given.
fn failure(f: &FileContent, statement: Option<&str>, error: String) -> ReplayFailure {
    ReplayFailure {
        version: f.version,
        name: f.name.clone(),
        statement: statement
            .map(|s| crate::core::schema::collapse_ws(&strip_comments(s)))
            .unwrap_or_else(|| "(the server did not say which statement)".into()),
        error,
    }
}

/// Runs one file (inside the caller's transaction); the failure names the file, the
/// statement and the server's error. When the server gives no error position, the file is
/// run again statement by statement under a savepoint to find the one that fails.
pub async fn run_file(client: &Client, f: &FileContent) -> std::result::Result<(), ReplayFailure> {
    let p = prepare(&f.text);
    if p.text.is_empty() {
        return Ok(());
    }
    let savepoint = |sql: &'static str| async move { client.simple_query(sql).await.map(|_| ()) };
    let fail = |stmt: Option<&str>, e: &tokio_postgres::Error| failure(f, stmt, db_error(e));
    let _ = savepoint("SAVEPOINT migtag_file").await;
    let Err(e) = client.simple_query(&p.text).await else {
        let _ = savepoint("RELEASE SAVEPOINT migtag_file").await;
        return Ok(());
    };
    let positioned = e.as_db_error().and_then(|d| match d.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(pos)) => {
            let byte = p
                .text
                .char_indices()
                .nth((*pos as usize).saturating_sub(1))
                .map(|(b, _)| b)?;
            statement_at(&p.statements, byte)
        }
        _ => None,
    });
    let _ = savepoint("ROLLBACK TO SAVEPOINT migtag_file").await;
    if let Some(s) = positioned {
        return Err(fail(Some(&s.text), &e));
    }
    for s in &p.statements {
        if let Err(e2) = client.simple_query(&s.text).await {
            let _ = savepoint("ROLLBACK TO SAVEPOINT migtag_file").await;
            return Err(fail(Some(&s.text), &e2));
        }
    }
    let _ = savepoint("ROLLBACK TO SAVEPOINT migtag_file").await;
    Err(fail(None, &e))
}

/// Runs one file (inside the caller's transaction) statement by statement, as [`run_file`]
/// splits it, and appends each statement's text and seconds to `timed`. A failure names the
/// statement and the server's error as `error_text` words it (the sampled rehearsal keeps
/// row values out of it).
pub async fn run_file_timed(
    client: &Client,
    f: &FileContent,
    error_text: fn(&tokio_postgres::Error) -> String,
    timed: &mut Vec<(String, f64)>,
) -> std::result::Result<(), ReplayFailure> {
    for s in prepare(&f.text).statements {
        let started = std::time::Instant::now();
        if let Err(e) = client.simple_query(&s.text).await {
            return Err(failure(f, Some(&s.text), error_text(&e)));
        }
        timed.push((s.text, started.elapsed().as_secs_f64()));
    }
    Ok(())
}

fn failure_error(f: ReplayFailure) -> Error {
    Error::invalid_input(format!(
        "{:06}_{}.up.sql failed at `{}`: {}",
        f.version,
        f.name,
        shorten(&f.statement, 300),
        f.error
    ))
    .with_hint("the migration files do not replay in order on this server: check the SQL source and the PostgreSQL version")
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

async fn exec(client: &Client, sql: &str) -> Result<()> {
    client
        .simple_query(sql)
        .await
        .map(|_| ())
        .map_err(|e| Error::database(format!("replay: `{sql}` failed: {}", db_error(&e))))
}

async fn facts(client: &Client) -> Result<Facts> {
    let texts = one_text(client, FACTS_SQL).await.map_err(|e| {
        Error::database(format!(
            "replay: reading pg_locks and pg_stat_xact_user_tables failed: {}",
            db_error(&e)
        ))
    })?;
    serde_json::from_str(texts.first().map(String::as_str).unwrap_or("{}"))
        .map_err(|e| Error::internal(format!("facts: {e}")))
}

/// Reads the facts and the catalog (one round trip) inside the current transaction.
async fn measure(client: &Client) -> Result<Step> {
    let texts = one_text(client, &format!("{FACTS_SQL};\n{}", catalog::CATALOG_SQL))
        .await
        .map_err(|e| {
            Error::database(format!(
                "replay: reading the catalog failed: {}",
                db_error(&e)
            ))
        })?;
    let [facts, cat] = texts.as_slice() else {
        return Err(Error::internal(
            "the measurement returned an unexpected number of rows",
        ));
    };
    let facts: Facts =
        serde_json::from_str(facts).map_err(|e| Error::internal(format!("facts: {e}")))?;
    Ok(Step {
        catalog: catalog::parse(cat, "public")?,
        facts,
    })
}

/// The effects of the step from `before` to `after` (counters as deltas, so a step inside a
/// longer transaction counts only its own).
fn effects_of(f: &FileContent, before: &Step, after: &Step) -> MigrationEffects {
    let existed = |rel: &str| {
        ["table", "matview", "view"]
            .iter()
            .any(|k| before.catalog.0.contains_key(&format!("{k} {rel}")))
    };
    let held_before: BTreeSet<&String> = before.facts.locks.iter().collect();
    let mut locks: Vec<String> = after
        .facts
        .locks
        .iter()
        .filter(|l| !held_before.contains(l))
        .filter(|l| l.split_once(' ').is_some_and(|(rel, _)| existed(rel)))
        .cloned()
        .collect();
    locks.sort();
    let rewrites: Vec<String> = after
        .facts
        .files
        .iter()
        .filter(|(rel, node)| before.facts.files.get(*rel).is_some_and(|b| b != *node))
        .map(|(rel, _)| rel.clone())
        .collect();
    let diff = before.catalog.diff(&after.catalog);
    let mut index_builds: Vec<String> = diff
        .added
        .iter()
        .chain(diff.changed.iter())
        .filter(|(k, _)| k.starts_with("index "))
        .filter_map(|(k, def)| {
            let table = index_table(def)?;
            existed(table).then(|| format!("{} on {table}", &k["index ".len()..]))
        })
        .collect();
    index_builds.sort();
    // Sorted by table: `activity` is a map by name.
    let tables: Vec<TableActivity> = activity(&before.facts, &after.facts)
        .into_values()
        .filter(|t| existed(&t.table))
        .collect();
    MigrationEffects {
        version: f.version,
        name: f.name.clone(),
        diff,
        locks,
        rewrites,
        index_builds,
        tables,
        statements: Fingerprints(file_fingerprints(&f.text)),
        steps: Vec::new(),
    }
}

/// The table of `CREATE [UNIQUE] INDEX name ON [ONLY] table USING ...`.
fn index_table(def: &str) -> Option<&str> {
    let rest = &def[def.find(" ON ")? + 4..];
    let rest = rest.strip_prefix("ONLY ").unwrap_or(rest);
    rest.split(' ').next().map(|t| t.trim_matches('"'))
}

/// Runs `f` in a new transaction and measures it; the transaction is left open.
async fn step(
    client: &Client,
    f: &FileContent,
    before: &Step,
) -> Result<std::result::Result<(MigrationEffects, Step), ReplayFailure>> {
    exec(client, "BEGIN").await?;
    // The counters at the start of the transaction: since PostgreSQL 15 a backend's
    // pg_stat_xact_* views also show counts of earlier transactions not yet flushed, so the
    // migration's own are the difference.
    let start = facts(client).await?;
    let steps = match run_measured(client, f).await? {
        Ok(steps) => steps,
        Err(failure) => {
            exec(client, "ROLLBACK").await?;
            return Ok(Err(failure));
        }
    };
    let after = measure(client).await?;
    let before = Step {
        catalog: before.catalog.clone(),
        facts: Facts {
            files: before.facts.files.clone(),
            ..start
        },
    };
    let effects = MigrationEffects {
        steps,
        ..effects_of(f, &before, &after)
    };
    Ok(Ok((effects, after)))
}

/// Runs migrations 1..=`upto` and their fixtures, each file in its own transaction, without
/// measuring; returns the state the next migration starts from.
async fn run_prefix(client: &Client, src: &SqlSource, upto: Version) -> Result<Step> {
    for v in 1..=upto {
        let file = src.newest(v, true).ok_or_else(|| {
            Error::invalid_input(format!(
                "{} has no {:06}_*.up.sql, so the sequence 1..{} cannot be replayed",
                src.label, v, upto
            ))
        })?;
        exec(client, "BEGIN").await?;
        if let Err(failure) = run_file(client, file).await {
            exec(client, "ROLLBACK").await?;
            return Err(failure_error(failure));
        }
        exec(client, "COMMIT").await?;
        run_fixtures(client, src, v).await?;
    }
    exec(client, "BEGIN").await?;
    let step = measure(client).await?;
    exec(client, "ROLLBACK").await?;
    Ok(Step {
        catalog: step.catalog,
        facts: Facts {
            files: step.facts.files,
            ..Facts::default()
        },
    })
}

/// Loads Coder's fixtures that follow migration `v`, each in its own transaction.
async fn run_fixtures(client: &Client, src: &SqlSource, v: Version) -> Result<()> {
    for (name, sql) in src.fixtures.get(&v).map(Vec::as_slice).unwrap_or_default() {
        exec(client, "BEGIN").await?;
        let fixture = FileContent::fixture(v, name, sql);
        if let Err(f) = run_file(client, &fixture).await {
            exec(client, "ROLLBACK").await?;
            return Err(Error::invalid_input(format!(
                "fixture {name} failed at `{}`: {}",
                shorten(&f.statement, 300),
                f.error
            )));
        }
        exec(client, "COMMIT").await?;
    }
    Ok(())
}

async fn replay(client: &Client, plan: &Plan<'_>, major: u32) -> Result<Replayed> {
    let src = plan.source;
    // golang-migrate's table, as it creates it (some of Coder's fixtures write to it; the
    // catalog reader leaves it out).
    exec(client, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)").await?;
    let mut state = Step::default();
    let mut prefix = None;
    if plan.known_up_to > 0 {
        state = run_prefix(client, src, plan.known_up_to).await?;
        prefix = Some(state.catalog.clone());
    }
    let mut main = Vec::new();
    let mut irregular = Vec::new();
    let mut variants = Vec::new();
    let mut pending = Vec::new();
    let mut down = BTreeMap::new();
    let mut other_texts = BTreeMap::new();
    for v in plan.known_up_to + 1..=plan.max {
        let file = src.newest(v, true).ok_or_else(|| {
            Error::invalid_input(format!(
                "{} has no {:06}_*.up.sql, so the sequence 1..{} cannot be replayed",
                src.label, v, plan.max
            ))
        })?;
        for irr in plan
            .irregular
            .iter()
            .filter(|i| shared_prefix(&i.set) + 1 == v)
        {
            irregular.push(replay_irregular(client, src, irr, &state).await?);
        }
        for old in src.older_ups(v) {
            let outcome = step(client, old, &state).await?;
            let (effects, error) = match outcome {
                Ok((e, _)) => {
                    exec(client, "ROLLBACK").await?;
                    (e, None)
                }
                Err(f) => (
                    MigrationEffects {
                        version: v,
                        name: old.name.clone(),
                        statements: Fingerprints(file_fingerprints(&old.text)),
                        ..Default::default()
                    },
                    Some(format!("{}: {}", f.statement, f.error)),
                ),
            };
            pending.push((old, effects, error));
        }
        let (effects, after) = step(client, file, &state).await?.map_err(failure_error)?;
        exec(client, "COMMIT").await?;
        // Keep only the older contents whose effects differ from the content that replaced
        // them; of the others, the statements when their text differs (`watch` matches a
        // running file by its statements).
        for (old, e, error) in pending.drain(..) {
            if error.is_none() && e.same_effects(&effects) && e.statements != effects.statements {
                let texts: &mut Vec<Fingerprints> = other_texts.entry(v).or_default();
                if !texts.contains(&e.statements) {
                    texts.push(e.statements.clone());
                }
            }
            if error.is_some() || !e.same_effects(&effects) {
                variants.push(Variant {
                    first_tag: old.first_tag.clone(),
                    last_tag: old.last_tag.clone(),
                    tag_count: old.tag_count,
                    error,
                    effects: e,
                });
            }
        }
        main.push(effects);
        state = Step {
            catalog: after.catalog,
            facts: Facts {
                files: after.facts.files,
                ..Facts::default()
            },
        };
        run_fixtures(client, src, v).await?;
        if let Some(d) = src.newest(v, false) {
            let stmts: Vec<String> = split_statements(&d.text)
                .into_iter()
                .filter(|s| !is_transaction_control(&s.text))
                .map(|s| strip_comments(&s.text).trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if !stmts.is_empty() {
                down.insert(v, stmts);
            }
        }
    }
    let effects = Effects {
        format_version: FORMAT_VERSION,
        provenance: EffectsProvenance {
            source: src.label.clone(),
            postgres_major: major,
            max_migration: plan.max,
        },
        main,
        irregular,
        variants,
        down,
        other_texts,
    };
    Ok(Replayed {
        effects,
        prefix,
        scratch_database: None,
    })
}

/// The content of `v` the releases of a set shipped (the newest when the source has no tags).
pub fn content_at<'a>(src: &'a SqlSource, v: Version, tags: &[String]) -> Result<&'a FileContent> {
    tags.iter()
        .find_map(|t| src.at_tag(v, t))
        .or_else(|| src.newest(v, true))
        .ok_or_else(|| Error::invalid_input(format!("{} has no {v:06}_*.up.sql", src.label)))
}

/// Replays an irregular set on the main sequence at its shared prefix, in one transaction
/// that is rolled back; then, per target, the target's pending migrations (as Coder runs
/// them: one batch) and the rewind remedy, each under a savepoint.
async fn replay_irregular(
    client: &Client,
    src: &SqlSource,
    irr: &IrregularPlan,
    at_base: &Step,
) -> Result<IrregularSet> {
    let base = shared_prefix(&irr.set);
    exec(client, "BEGIN").await?;
    let start = facts(client).await?;
    let mut before = Step {
        catalog: at_base.catalog.clone(),
        facts: Facts {
            files: at_base.facts.files.clone(),
            ..start
        },
    };
    let mut migrations = Vec::new();
    for v in irr.set.above(base).iter() {
        let f = content_at(src, v, &irr.releases)?;
        let steps = match run_measured(client, f).await? {
            Ok(steps) => steps,
            Err(failure) => {
                exec(client, "ROLLBACK").await?;
                return Err(failure_error(failure));
            }
        };
        let after = measure(client).await?;
        migrations.push(MigrationEffects {
            steps,
            ..effects_of(f, &before, &after)
        });
        before = after;
    }
    let mut rehearsals = Vec::new();
    for (tag, target) in &irr.targets {
        let top = irr.set.max().unwrap_or(0);
        let pending = target.above(top);
        let fails_at = run_batch(client, src, &pending, tag).await?;
        let rewind_to = rewind_point(&irr.set, target);
        let remedy_runs = target.above(rewind_to);
        let remedy_fails_at = run_batch(client, src, &remedy_runs, tag).await?;
        rehearsals.push(Rehearsal {
            target: tag.clone(),
            pending,
            fails_at,
            rewind_to,
            remedy_runs,
            remedy_fails_at,
        });
    }
    exec(client, "ROLLBACK").await?;
    Ok(IrregularSet {
        set: irr.set.clone(),
        releases: irr.releases.clone(),
        base,
        migrations,
        rehearsals,
    })
}

/// Runs `batch` in order under a savepoint and rolls it back; the first failure, if any.
async fn run_batch(
    client: &Client,
    src: &SqlSource,
    batch: &MigrationSet,
    tag: &str,
) -> Result<Option<ReplayFailure>> {
    exec(client, "SAVEPOINT migtag_batch").await?;
    let mut failed = None;
    for v in batch.iter() {
        let f = content_at(src, v, &[tag.to_string()])?;
        if let Err(failure) = run_file(client, f).await {
            failed = Some(failure);
            break;
        }
    }
    exec(client, "ROLLBACK TO SAVEPOINT migtag_batch").await?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(tables: &[&str]) -> BTreeMap<String, u64> {
        tables.iter().map(|t| (t.to_string(), 1)).collect()
    }

    #[test]
    fn a_statement_names_the_tables_outside_its_literals_and_comments() {
        let known = schema(&["workspace_agents", "workspaces", "templates", "users"]);
        let named = named_tables(
            "-- from users\nUPDATE workspace_agents SET deleted = TRUE WHERE id IN (SELECT wa.id FROM workspace_agents wa JOIN \"workspaces\" w ON w.id = wa.w WHERE w.title = 'templates of users' || 'it''s templates')",
            &known,
        );
        assert_eq!(
            named.into_iter().collect::<Vec<_>>(),
            [
                ("workspace_agents".to_string(), 2),
                ("workspaces".to_string(), 1)
            ]
        );
    }

    #[test]
    fn only_update_and_delete_have_a_target() {
        assert_eq!(
            dml_target("UPDATE ONLY public.\"api_keys\" SET x = 1"),
            Some((StepKind::Update, "api_keys".to_string()))
        );
        assert_eq!(
            dml_target("delete from api_keys where true"),
            Some((StepKind::Delete, "api_keys".to_string()))
        );
        assert_eq!(dml_target("WITH x AS (SELECT 1) UPDATE t SET a = 1"), None);
        assert_eq!(dml_target("DELETE api_keys"), None);
        assert_eq!(dml_target("ALTER TABLE t ADD COLUMN c int"), None);
    }
}
