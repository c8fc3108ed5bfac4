//! Turns what tokio-postgres reports into migtag errors (exit 10) that say what happened, to
//! which target, and what to do. The target is always the redacted one, and every message
//! is scrubbed of the password as a last line of defence.

use std::error::Error as _;
use std::io::ErrorKind as Io;

use tokio_postgres::error::SqlState;

use crate::error::Error;

use super::settings::{ConnectSettings, Host, PasswordSource};
use super::tls;

/// Context the messages need.
pub struct Where<'a> {
    pub settings: &'a ConnectSettings,
    pub roots: &'a str,
}

/// A connection pooler refused the `options` startup parameter, for a command that needs
/// PostgreSQL itself (the repairs).
pub fn pooler_refused_options(s: &ConnectSettings) -> Error {
    finish(
        format!(
            "cannot connect to {}: the server refuses the `options` startup parameter (a connection pooler \
             such as PgBouncer whose ignore_startup_parameters does not list options); repairs do not run \
             through a pooler",
            s.target()
        ),
        "connect to PostgreSQL directly (the pooler's upstream host and port) for the repair".to_string(),
        s,
    )
}

/// A failure while connecting (DNS, TCP, TLS, authentication, startup).
pub fn connect_failed(e: &tokio_postgres::Error, at: &Where<'_>) -> Error {
    let target = at.settings.target();
    let s = at.settings;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let msg = db.message();
        let (what, hint) = if *code == SqlState::INVALID_PASSWORD {
            (
                format!("authentication failed for user {}: {msg}", s.user),
                password_hint(s),
            )
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            (
                format!("the server refused user {}: {msg}", s.user),
                "the server's pg_hba.conf has no entry for this user, database, address and TLS \
                 setting; ask its administrator, or try another sslmode"
                    .to_string(),
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            (
                format!("database `{}` does not exist on the server", s.dbname),
                "check the database name in the URL (the path after the host) or PGDATABASE"
                    .to_string(),
            )
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            (
                format!("permission denied: {msg}"),
                format!("the role {} needs CONNECT on database {}", s.user, s.dbname),
            )
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            (
                format!("the server accepts no more connections: {msg}"),
                "retry later, or free a connection slot".to_string(),
            )
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            (
                format!("the server is not accepting connections now: {msg}"),
                "it is starting, stopping or in recovery; retry shortly".to_string(),
            )
        } else if *code == SqlState::UNDEFINED_OBJECT || *code == SqlState::INVALID_PARAMETER_VALUE
        {
            (
                format!("the server refused a connection setting: {msg}"),
                "check search_path, options and other parameters in the connection string"
                    .to_string(),
            )
        } else if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED {
            (
                format!("setting up the session waited too long: {msg} (SQLSTATE {})", code.code()),
                "another session holds a lock the connection needs (a migration or DDL?), or a statement ran past its timeout; retry when it is done, or raise --lock-timeout / --statement-timeout".to_string(),
            )
        } else {
            (
                format!(
                    "the server refused the connection: {msg} (SQLSTATE {})",
                    code.code()
                ),
                String::new(),
            )
        };
        return finish(format!("cannot connect to {target}: {what}"), hint, s);
    }

    let text = chain(e);
    if text.contains("TLS handshake") || text.contains("server does not support TLS") {
        let (what, hint) = if text.contains("server does not support TLS") {
            (
                format!("the server does not accept TLS, but sslmode={} requires it", s.sslmode.as_str()),
                "enable ssl on the server, or use sslmode=prefer / disable if an unencrypted connection is acceptable".to_string(),
            )
        } else if let Some(r) = tls::find_rustls_error(e) {
            let host = first_tcp_host(s);
            tls::describe_failure(r, &host, at.roots)
        } else {
            (
                format!("TLS handshake failed: {}", chain(e)),
                "check the server's TLS settings".to_string(),
            )
        };
        return finish(
            format!("cannot connect to {target}: TLS failure: {what}"),
            hint,
            s,
        );
    }
    if text.contains("password missing") {
        return finish(
            format!(
                "cannot connect to {target}: the server asks for a password and none was given"
            ),
            password_hint(s),
            s,
        );
    }
    if let Some(io) = find_io(e) {
        let detail = io.to_string();
        let (what, hint) = match io.kind() {
            Io::ConnectionRefused => (
                "connection refused: nothing listens on that host and port".to_string(),
                "check the host and port, and that PostgreSQL is running and listens on that address".to_string(),
            ),
            Io::NotFound if s.only_unix_sockets() => (
                format!("no server socket in {} for port {}", first_host(s), s.ports[0]),
                "check the socket folder (host=/path) and port, and that PostgreSQL is running".to_string(),
            ),
            Io::TimedOut => (
                "the host did not answer in time".to_string(),
                "check the host name, firewalls and network policies between here and the database".to_string(),
            ),
            Io::PermissionDenied => (
                format!("permission denied opening the connection: {detail}"),
                "check the socket folder's permissions".to_string(),
            ),
            _ if detail.contains("lookup address") || detail.contains("resolve") => (
                format!("cannot resolve host name {}: {detail}", first_host(s)),
                "check the host name (inside Kubernetes: the Service name and namespace)".to_string(),
            ),
            _ if detail.contains("unreachable") => (
                format!("the host is unreachable: {detail}"),
                "check the host and the network route to it".to_string(),
            ),
            _ => (detail.to_string(), "check the host, port and network".to_string()),
        };
        return finish(format!("cannot connect to {target}: {what}"), hint, s);
    }
    finish(
        format!("cannot connect to {target}: {}", chain(e)),
        String::new(),
        s,
    )
}

/// The connect did not finish within the bound.
pub fn connect_timed_out(settings: &ConnectSettings, secs: f64) -> Error {
    finish(
        format!(
            "cannot connect to {}: no answer within {} (the whole connect, TLS and authentication included)",
            settings.target(),
            seconds_text(secs)
        ),
        "check the host, port and network; raise --connect-timeout if the server is just slow".into(),
        settings,
    )
}

/// `1 ms`, `250 ms`, `1.5 s`, `10 s`: a short timeout is not rounded to `0.0s`.
pub fn seconds_text(secs: f64) -> String {
    if secs < 1.0 {
        format!("{} ms", (secs * 1000.0).round().max(1.0) as u64)
    } else if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// A failed query after the connection was up.
pub fn query_failed(e: &tokio_postgres::Error, settings: &ConnectSettings, what: &str) -> Error {
    statement_failed(e, settings, what, Purpose::Read)
}

/// What the session was for: the hints differ (a read can be retried as is; a repair's
/// transaction rolled back and needs the owner's role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The read-only look at the database.
    Read,
    /// A repair's read-write transaction.
    Repair,
}

/// A statement that failed on an open session (read or repair), with what it was doing.
pub fn statement_failed(
    e: &tokio_postgres::Error,
    settings: &ConnectSettings,
    what: &str,
    purpose: Purpose,
) -> Error {
    let target = settings.target();
    let repair = purpose == Purpose::Repair;
    let (msg, hint) = match e.as_db_error() {
        Some(db) if *db.code() == SqlState::QUERY_CANCELED && repair => (
            format!("{what} was cancelled: {}", db.message()),
            "raise --statement-timeout".to_string(),
        ),
        Some(db) if *db.code() == SqlState::QUERY_CANCELED => (
            format!("{what} was cancelled by statement_timeout: {}", db.message()),
            "the server is slow or overloaded; raise --statement-timeout to wait longer".to_string(),
        ),
        Some(db) if *db.code() == SqlState::LOCK_NOT_AVAILABLE && !repair => (
            format!("{what} waited longer than lock_timeout for a lock"),
            "something holds a lock on schema_migrations; look at the sessions with --format json, or retry".to_string(),
        ),
        Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE && repair => (
            format!("{what}: permission denied: {}", db.message()),
            format!(
                "connect as the role Coder uses (it owns schema_migrations), or grant {} what the message names",
                settings.user
            ),
        ),
        Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => (
            format!("{what}: permission denied: {}", db.message()),
            format!("grant the role {} SELECT on schema_migrations", settings.user),
        ),
        Some(db) if *db.code() == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT && repair => (
            format!("{what}: the server ended the transaction: {}", db.message()),
            "nothing was changed; run the command again".to_string(),
        ),
        Some(db) => (format!("{what} failed: {} (SQLSTATE {})", db.message(), db.code().code()), String::new()),
        None if e.is_closed() && repair => (
            format!("{what}: the server closed the connection"),
            "the transaction was rolled back, so nothing was changed; run the command again".to_string(),
        ),
        None if e.is_closed() => (
            format!("{what}: the server closed the connection"),
            "the server may have restarted or terminated the session; retry".to_string(),
        ),
        None if repair => (format!("{what} failed: {e}"), String::new()),
        None => (format!("{what} failed: {}", chain(e)), String::new()),
    };
    let message = if repair {
        format!("{target}: {msg}")
    } else {
        format!("reading {target}: {msg}")
    };
    finish(message, hint, settings)
}

/// A statement outlived its bound (statement and lock timeouts plus a margin). `what` names
/// the statement when the message should.
pub fn statement_timed_out(settings: &ConnectSettings, what: Option<&str>) -> Error {
    let what = what.map(|w| format!("{w}: ")).unwrap_or_default();
    Error::database(format!(
        "{}: {what}the server did not answer in time",
        settings.target()
    ))
    .with_hint("the server or the network is slow; raise --statement-timeout")
}

/// PostgreSQL's lock_timeout fired (SQLSTATE 55P03).
pub fn is_lock_timeout(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

fn password_hint(s: &ConnectSettings) -> String {
    match s.password_source {
        PasswordSource::ConnectionString => {
            "check the password in the connection string (percent-encode special characters)".into()
        }
        PasswordSource::PgPassword => "check PGPASSWORD".into(),
        PasswordSource::PassFile => {
            "check the matching line of the password file (~/.pgpass or PGPASSFILE)".into()
        }
        PasswordSource::None => {
            "give a password in the URL (postgres://USER:PASSWORD@...), PGPASSWORD, or ~/.pgpass"
                .into()
        }
    }
}

fn first_host(s: &ConnectSettings) -> String {
    s.hosts.first().map(|h| h.to_string()).unwrap_or_default()
}

fn first_tcp_host(s: &ConnectSettings) -> String {
    s.hosts
        .iter()
        .find_map(|h| match h {
            Host::Tcp(t) => Some(t.clone()),
            Host::Unix(_) => None,
        })
        .unwrap_or_default()
}

fn find_io(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// Builds the error and removes the password from it, whatever produced the text.
fn finish(message: String, hint: String, settings: &ConnectSettings) -> Error {
    // What the settings noted (a password file ignored for its permissions, say) is often
    // why the connection failed: said with the error, since no report will carry it.
    let message = if settings.notes.is_empty() {
        message
    } else {
        format!("{message} (note: {})", settings.notes.join("; "))
    };
    let err = Error::database(message);
    let err = if hint.is_empty() {
        err
    } else {
        err.with_hint(hint)
    };
    scrub(err, settings)
}

/// Replaces the password (and its percent-encoded form) wherever it appears.
pub fn scrub(err: Error, settings: &ConnectSettings) -> Error {
    let Some(pw) = settings.password.as_ref().map(|p| p.expose()) else {
        return err;
    };
    if pw.len() < 4 {
        return err;
    }
    let clean = |s: &str| s.replace(pw, "***").replace(&percent_encode(pw), "***");
    let message = clean(err.message());
    let hint = err.hint().map(clean);
    let mut out = Error::new(err.kind(), message);
    if let Some(h) = hint {
        out = out.with_hint(h);
    }
    out
}

fn percent_encode(s: &str) -> String {
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
