//! Connection settings the way libpq (and Coder's lib/pq) read them: a `postgres://` URL or a
//! `key=value` string, then the `PG*` environment variables for whatever the string leaves
//! out, then libpq's defaults; the password from the string, else `PGPASSWORD`, else the
//! password file (`passfile`, `PGPASSFILE`, `~/.pgpass`).
//!
//! Which string: `--db`, else `CODER_PG_CONNECTION_URL`, else `DATABASE_URL`, else none (only
//! the `PG*` variables). A string that does not parse, or a value libpq would refuse (port,
//! `sslmode`, `connect_timeout`, ...), is invalid input (exit 12), not a database failure;
//! those errors never echo a value from the string, because a malformed URL can put part of
//! the password anywhere.
//!
//! Parameters libpq does not know (such as `search_path`) are sent as run-time parameters,
//! as lib/pq does, so `?search_path=coder` reads `schema_migrations` in Coder's schema.
//!
//! The text itself is split into pairs by [`crate::input::conninfo`]; this file decides what
//! the pairs, the environment and the defaults add up to.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

use super::pgpass;
use crate::input::conninfo::{is_parameter_name, is_server_parameter, parse_conninfo};

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return Err(Error::invalid_input(
                "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full",
            )),
        })
    }
}

/// Where the server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file (`sslrootcert=FILE`, or `~/.postgresql/root.crt` when it exists).
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`, or no file at all).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// A folder holding the server's socket (`host=/var/run/postgresql`).
    Unix(PathBuf),
}

impl Host {
    fn parse(s: &str) -> Host {
        if s.starts_with('/') || s.starts_with('@') {
            Host::Unix(PathBuf::from(s))
        } else {
            Host::Tcp(s.to_string())
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(h) if h.contains(':') => write!(f, "[{h}]"),
            Host::Tcp(h) => f.write_str(h),
            Host::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Which configuration the settings came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    CoderPgConnectionUrl,
    DatabaseUrl,
    PgVariables,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Flag => "--db",
            Origin::CoderPgConnectionUrl => "CODER_PG_CONNECTION_URL",
            Origin::DatabaseUrl => "DATABASE_URL",
            Origin::PgVariables => "the PG* environment variables",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    ConnectionString,
    PgPassword,
    PassFile,
    None,
}

/// Resolved settings for one connection.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub origin: Origin,
    pub hosts: Vec<Host>,
    pub hostaddrs: Vec<IpAddr>,
    pub ports: Vec<u16>,
    pub user: String,
    pub password: Option<Secret>,
    pub password_source: PasswordSource,
    pub dbname: String,
    /// The libpq `options` string as given (`-c search_path=coder`).
    pub options: Option<String>,
    /// Other run-time parameters (`search_path`), sent like lib/pq does.
    pub runtime_params: Vec<(String, String)>,
    /// The `application_name` the user gave; never sent (see `postgres::APPLICATION_NAME`).
    pub application_name: Option<String>,
    pub sslmode: SslMode,
    /// Only set when `sslrootcert` was given or `~/.postgresql/root.crt` exists.
    pub sslrootcert: Option<RootCert>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    /// Things worth telling the user (an ignored password file, an ignored parameter).
    pub notes: Vec<String>,
}

/// What the process environment offers; a trait object so that tests pass a map.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    /// The operating-system user name, libpq's default user.
    fn os_user(&self) -> Option<String>;
}

/// The real environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn home(&self) -> Option<PathBuf> {
        dirs::home_dir()
    }
    fn os_user(&self) -> Option<String> {
        effective_user_name()
    }
}

/// Variables that, when set, mean "the database is configured through the PG* variables".
const PG_VARIABLES: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGSSLMODE",
];

/// libpq keywords and their environment variables.
const ENV_FALLBACK: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("dbname", "PGDATABASE"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("options", "PGOPTIONS"),
    ("application_name", "PGAPPNAME"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
];

/// libpq keywords migtag accepts and does not need (they change nothing for one read).
const IGNORED_KEYWORDS: &[&str] = &[
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "client_encoding",
    "channel_binding",
    "gssencmode",
    "sslcompression",
    "sslsni",
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "krbsrvname",
    "gsslib",
    "service",
    "replication",
    // lib/pq's own keywords (Coder's driver); they are not server parameters.
    "binary_parameters",
    "disable_prepared_binary_result",
    "sslinline",
    "sslappname",
];

/// Finds the connection settings: `--db`, else the environment chain. `Ok(None)` when
/// nothing at all is configured.
pub fn resolve(flag: Option<&str>, env: &dyn Env) -> Result<Option<ConnectSettings>> {
    let nonempty = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    let (origin, conninfo) = if let Some(s) = flag {
        if s.trim().is_empty() {
            return Err(Error::invalid_input(
                "--db was given an empty value; the usual cause is an unset CI secret or variable \
                 (`--db \"$SECRET\"` with SECRET missing)",
            )
            .with_hint(
                "set the secret, or leave --db out to use CODER_PG_CONNECTION_URL, DATABASE_URL or the PG* variables",
            ));
        }
        (Origin::Flag, s.to_string())
    } else if let Some(blank) = ["CODER_PG_CONNECTION_URL", "DATABASE_URL"]
        .into_iter()
        .find(|v| env.var(v).is_some_and(|s| s.trim().is_empty()))
    {
        // Set but blank: an unset CI secret, as for `--db ''`. Falling through to the next
        // variable would read another database without a word.
        return Err(Error::invalid_input(format!(
            "{blank} is set but blank; the usual cause is an unset CI secret or variable"
        ))
        .with_hint(format!(
            "set {blank} to the connection string, or unset it (then the next source is used: --db, CODER_PG_CONNECTION_URL, DATABASE_URL, the PG* variables)"
        )));
    } else if let Some(s) = nonempty("CODER_PG_CONNECTION_URL") {
        (Origin::CoderPgConnectionUrl, s)
    } else if let Some(s) = nonempty("DATABASE_URL") {
        (Origin::DatabaseUrl, s)
    } else if PG_VARIABLES.iter().any(|v| nonempty(v).is_some()) {
        (Origin::PgVariables, String::new())
    } else {
        return Ok(None);
    };
    let params = parse_conninfo(&conninfo).map_err(|e| e.context(origin.describe()))?;
    build(origin, params, env).map(Some)
}

/// Applies libpq's precedence: string, then environment, then defaults; then the password file.
fn build(origin: Origin, params: Vec<(String, String)>, env: &dyn Env) -> Result<ConnectSettings> {
    let mut known: std::collections::HashMap<&'static str, String> = Default::default();
    let mut runtime_params = Vec::new();
    let mut notes = Vec::new();
    for (key, value) in params {
        if let Some((k, _)) = ENV_FALLBACK.iter().find(|(k, _)| *k == key) {
            known.insert(k, value);
        } else if IGNORED_KEYWORDS.contains(&key.as_str()) {
            if key == "channel_binding" && value == "require" {
                notes.push("channel_binding=require is not enforced by migtag".into());
            }
            if key == "service" {
                notes.push(format!(
                    "service={} is not looked up (migtag reads no pg_service.conf): host, port, dbname and user come from the string and the PG* variables",
                    value.escape_debug()
                ));
            }
        } else if is_server_parameter(&key) {
            runtime_params.push((key, value));
        } else {
            let what = if is_parameter_name(&key) {
                format!("`{key}` is not a connection keyword libpq knows, nor a PostgreSQL setting a connection may set")
            } else {
                "a key is neither a connection keyword libpq knows nor a PostgreSQL setting"
                    .to_string()
            };
            let keywords: Vec<&str> = ENV_FALLBACK
                .iter()
                .map(|(k, _)| *k)
                .chain(IGNORED_KEYWORDS.iter().copied())
                .collect();
            return Err(Error::invalid_input(what)
                .context(origin.describe())
                .with_hint(format!(
                    "check the spelling; libpq's keywords are {}; server settings such as search_path are also accepted (docs/db.md)",
                    keywords.join(", ")
                )));
        }
    }
    let get = |k: &str| -> Option<String> {
        known.get(k).cloned().or_else(|| {
            let var = ENV_FALLBACK
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)?;
            env.var(var)
        })
    };
    let password_given = known.contains_key("password");

    let hosts: Vec<Host> = match get("host").filter(|h| !h.is_empty()) {
        Some(h) => h
            .split(',')
            .map(|h| {
                if h.is_empty() {
                    default_host()
                } else {
                    Host::parse(h)
                }
            })
            .collect(),
        None => vec![default_host()],
    };
    let hostaddrs = match get("hostaddr").filter(|h| !h.is_empty()) {
        Some(h) => h
            .split(',')
            .map(|a| a.parse::<IpAddr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::invalid_input("hostaddr must be a numeric IP address"))?,
        None => Vec::new(),
    };
    let ports: Vec<u16> = match get("port").filter(|p| !p.is_empty()) {
        Some(p) => p
            .split(',')
            .map(|p| {
                if p.is_empty() {
                    Ok(5432)
                } else {
                    p.parse::<u16>()
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::invalid_input("the port must be a number between 1 and 65535"))?,
        None => vec![5432],
    };
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(Error::invalid_input(format!(
            "{} ports given for {} hosts: give one port, or one per host",
            ports.len(),
            hosts.len()
        )));
    }
    let user = get("user")
        .filter(|u| !u.is_empty())
        .or_else(|| env.os_user())
        .ok_or_else(|| {
            Error::database("no user name: the connection string, PGUSER and the system give none")
                .with_hint("put the user in the URL (postgres://USER@HOST/DB) or set PGUSER")
        })?;
    let dbname = get("dbname")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    let sslmode = match get("sslmode").filter(|s| !s.is_empty()) {
        Some(s) => SslMode::parse(&s)?,
        None => SslMode::Prefer,
    };
    let home_file = |name: &str| env.home().map(|h| h.join(".postgresql").join(name));
    let sslrootcert = match get("sslrootcert").filter(|s| !s.is_empty()) {
        Some(s) if s == "system" => Some(RootCert::System),
        Some(s) => Some(RootCert::File(PathBuf::from(s))),
        None => home_file("root.crt")
            .filter(|p| p.is_file())
            .map(RootCert::File),
    };
    let sslcert = get("sslcert")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.crt").filter(|p| p.is_file()));
    let sslkey = get("sslkey")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            sslcert
                .as_ref()
                .and_then(|_| home_file("postgresql.key"))
                .filter(|p| p.is_file())
        });
    let connect_timeout = match get("connect_timeout").filter(|s| !s.is_empty()) {
        Some(s) => {
            let secs: i64 = s.trim().parse().map_err(|_| {
                Error::invalid_input("connect_timeout must be a whole number of seconds")
            })?;
            // libpq: zero or less means "wait forever", and less than 2 counts as 2.
            (secs > 0).then(|| Duration::from_secs(secs.max(2) as u64))
        }
        None => None,
    };

    let application_name = get("application_name").filter(|a| !a.is_empty());
    if application_name.is_some() {
        notes.push(
            "the application_name given (connection string or PGAPPNAME) is not used: migtag always \
             connects as application_name migtag, so that it stands apart in pg_stat_activity"
                .into(),
        );
    }
    let (password, password_source) = if let Some(p) = get("password") {
        let source = if password_given {
            PasswordSource::ConnectionString
        } else {
            PasswordSource::PgPassword
        };
        (Some(Secret::new(p)), source)
    } else {
        let file = get("passfile")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .or_else(|| env.home().map(|h| h.join(".pgpass")));
        match file {
            Some(file) => match pgpass::lookup(&file, &hosts[0], ports[0], &dbname, &user)? {
                pgpass::Lookup::Found(p) => (Some(p), PasswordSource::PassFile),
                pgpass::Lookup::Ignored(why) => {
                    notes.push(why);
                    (None, PasswordSource::None)
                }
                pgpass::Lookup::NotFound => (None, PasswordSource::None),
            },
            None => (None, PasswordSource::None),
        }
    };

    Ok(ConnectSettings {
        origin,
        hosts,
        hostaddrs,
        ports,
        user,
        password,
        password_source,
        dbname,
        options: get("options").filter(|o| !o.is_empty()),
        runtime_params,
        application_name,
        sslmode,
        sslrootcert,
        sslcert,
        sslkey,
        connect_timeout,
        notes,
    })
}

/// libpq's default: the socket folder the local server uses, else localhost.
fn default_host() -> Host {
    for dir in ["/var/run/postgresql", "/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return Host::Unix(PathBuf::from(dir));
        }
    }
    if Path::new("/var/run/postgresql").is_dir() {
        return Host::Unix(PathBuf::from("/var/run/postgresql"));
    }
    Host::Tcp("localhost".into())
}

/// The effective user's name: `USER`/`LOGNAME` when they agree with the real uid is too
/// strict for containers, so libpq's answer is approximated with the variables, then
/// `/etc/passwd` for the effective uid.
fn effective_user_name() -> Option<String> {
    if let Some(u) = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
    {
        if !u.is_empty() {
            return Some(u);
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == euid).then(|| f[0].to_string())
    })
}

impl ConnectSettings {
    /// `postgres://user@host:port/dbname`: where migtag connects, never with the password.
    pub fn target(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| match h {
                Host::Tcp(_) => Some(format!("{h}:{}", self.port_of(i))),
                Host::Unix(_) => None,
            })
            .collect();
        let sockets: Vec<String> = self
            .hosts
            .iter()
            .filter_map(|h| match h {
                Host::Unix(p) => Some(p.display().to_string()),
                Host::Tcp(_) => None,
            })
            .collect();
        let mut s = format!(
            "postgres://{}@{}/{}",
            self.user,
            hosts.join(","),
            self.dbname
        );
        if !sockets.is_empty() {
            s.push_str(&format!("?host={}", sockets.join(",")));
            if let Some(Host::Unix(_)) = self.hosts.first() {
                s.push_str(&format!("&port={}", self.ports[0]));
            }
        }
        s
    }

    pub fn port_of(&self, i: usize) -> u16 {
        *self.ports.get(i).unwrap_or(&self.ports[0])
    }

    /// True when every host is a Unix socket (libpq never uses TLS on those).
    pub fn only_unix_sockets(&self) -> bool {
        self.hosts.iter().all(|h| matches!(h, Host::Unix(_)))
    }

    /// The `search_path` the connection asks for, if any (for messages).
    pub fn search_path(&self) -> Option<&str> {
        self.runtime_params
            .iter()
            .find(|(k, _)| k == "search_path")
            .map(|(_, v)| v.as_str())
    }

    /// The `options` startup parameter: the user's options, their run-time parameters, then
    /// migtag's safety settings last, so that nothing the user passes can undo them.
    pub fn startup_options(&self, safety: &[(&str, String)]) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(o) = &self.options {
            parts.push(o.clone());
        }
        for (k, v) in &self.runtime_params {
            parts.push(format!("-c {}", escape_option(&format!("{k}={v}"))));
        }
        for (k, v) in safety {
            parts.push(format!("-c {}", escape_option(&format!("{k}={v}"))));
        }
        parts.join(" ")
    }
}

/// Escapes a value for the server's `options` string: spaces and backslashes are escaped
/// with a backslash.
fn escape_option(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ' ' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub struct MapEnv {
        pub vars: HashMap<String, String>,
        pub home: Option<PathBuf>,
    }

    impl MapEnv {
        pub fn new(vars: &[(&str, &str)]) -> Self {
            MapEnv {
                vars: vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                home: None,
            }
        }
    }

    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            self.home.clone()
        }
        fn os_user(&self) -> Option<String> {
            Some("osuser".into())
        }
    }

    fn resolve_ok(flag: Option<&str>, env: &MapEnv) -> ConnectSettings {
        resolve(flag, env).unwrap().unwrap()
    }

    #[test]
    fn url_with_everything() {
        let s = resolve_ok(
            Some("postgres://coder:p%40ss%3Aword@db.example:6432/coderdb?sslmode=verify-full&search_path=coder&connect_timeout=5&application_name=x"),
            &MapEnv::new(&[]),
        );
        assert_eq!(s.origin, Origin::Flag);
        assert_eq!(s.hosts, vec![Host::Tcp("db.example".into())]);
        assert_eq!(s.ports, vec![6432]);
        assert_eq!(s.user, "coder");
        assert_eq!(s.password.as_ref().unwrap().expose(), "p@ss:word");
        assert_eq!(s.password_source, PasswordSource::ConnectionString);
        assert_eq!(s.dbname, "coderdb");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.search_path(), Some("coder"));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.application_name.as_deref(), Some("x"));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("application_name given") && n.contains("migtag")),
            "{:?}",
            s.notes
        );
        assert_eq!(s.target(), "postgres://coder@db.example:6432/coderdb");
        assert!(
            !format!("{s:?}").contains("p@ss"),
            "Debug must not show the password"
        );
    }

    #[test]
    fn unix_socket_hosts_in_url_and_key_values() {
        let s = resolve_ok(
            Some("postgresql://coder@%2Fvar%2Frun%2Fpostgresql/coder"),
            &MapEnv::new(&[]),
        );
        assert_eq!(s.hosts, vec![Host::Unix("/var/run/postgresql".into())]);
        assert!(s.only_unix_sockets());
        let s = resolve_ok(
            Some("postgres:///coder?host=/tmp/pg&port=5433&user=u"),
            &MapEnv::new(&[]),
        );
        assert_eq!(s.hosts, vec![Host::Unix("/tmp/pg".into())]);
        assert_eq!(s.ports, vec![5433]);
        assert_eq!(s.target(), "postgres://u@/coder?host=/tmp/pg&port=5433");
        let s = resolve_ok(
            Some("host=/tmp/pg dbname='my db' user=u password='a b\\'c'"),
            &MapEnv::new(&[]),
        );
        assert_eq!(s.hosts, vec![Host::Unix("/tmp/pg".into())]);
        assert_eq!(s.dbname, "my db");
        assert_eq!(s.password.unwrap().expose(), "a b'c");
    }

    #[test]
    fn ipv6_and_multiple_hosts() {
        let s = resolve_ok(
            Some("postgres://u@[::1]:5433,db2:5434/d"),
            &MapEnv::new(&[]),
        );
        assert_eq!(
            s.hosts,
            vec![Host::Tcp("::1".into()), Host::Tcp("db2".into())]
        );
        assert_eq!(s.ports, vec![5433, 5434]);
        assert_eq!(s.target(), "postgres://u@[::1]:5433,db2:5434/d");
    }

    #[test]
    fn environment_chain_order() {
        let env = MapEnv::new(&[
            ("CODER_PG_CONNECTION_URL", "postgres://a@h1/d1"),
            ("DATABASE_URL", "postgres://b@h2/d2"),
            ("PGHOST", "h3"),
        ]);
        let s = resolve_ok(None, &env);
        assert_eq!(
            (s.origin, s.user.as_str()),
            (Origin::CoderPgConnectionUrl, "a")
        );
        let s = resolve_ok(Some("postgres://c@h0/d0"), &env);
        assert_eq!(s.origin, Origin::Flag);
        let env = MapEnv::new(&[("DATABASE_URL", "postgres://b@h2/d2"), ("PGHOST", "h3")]);
        assert_eq!(resolve_ok(None, &env).origin, Origin::DatabaseUrl);
        let env = MapEnv::new(&[
            ("PGHOST", "h3"),
            ("PGUSER", "pu"),
            ("PGPASSWORD", "pw"),
            ("PGSSLMODE", "require"),
        ]);
        let s = resolve_ok(None, &env);
        assert_eq!(s.origin, Origin::PgVariables);
        assert_eq!(s.hosts, vec![Host::Tcp("h3".into())]);
        assert_eq!((s.user.as_str(), s.dbname.as_str()), ("pu", "pu"));
        assert_eq!(s.password_source, PasswordSource::PgPassword);
        assert_eq!(s.sslmode, SslMode::Require);
        assert!(resolve(None, &MapEnv::new(&[("HOME", "/x")]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn string_wins_over_environment_which_fills_gaps() {
        let env = MapEnv::new(&[
            ("PGPORT", "7000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
        ]);
        let s = resolve_ok(Some("postgres://urluser@h/d"), &env);
        assert_eq!(s.user, "urluser");
        assert_eq!(s.ports, vec![7000]);
        assert_eq!(s.password.unwrap().expose(), "envpw");
        let s = resolve_ok(Some("postgres://h/d"), &MapEnv::new(&[]));
        assert_eq!(s.user, "osuser");
    }

    #[test]
    fn options_carry_user_settings_then_safety_last() {
        let s = resolve_ok(
            Some("postgres://u@h/d?options=-c%20search_path%3Dcoder&search_path=other%20schema"),
            &MapEnv::new(&[]),
        );
        let opts = s.startup_options(&[("default_transaction_read_only", "on".into())]);
        assert_eq!(opts, "-c search_path=coder -c search_path=other\\ schema -c default_transaction_read_only=on");
    }

    #[test]
    fn lib_pq_keywords_are_ignored_not_sent() {
        let s = resolve_ok(
            Some("postgres://u@h/d?binary_parameters=yes&sslmode=disable"),
            &MapEnv::new(&[]),
        );
        assert!(s.runtime_params.is_empty());
        assert_eq!(s.sslmode, SslMode::Disable);
    }

    #[test]
    fn errors_never_echo_the_string() {
        let sentinel = "S3ntinel-Pw";
        for bad in [
            format!("postgres://u:{sentinel}@h:notaport/d"),
            format!("postgres://u:{sentinel}/x@h/d"),
            format!("postgres://u:{sentinel}%zz@h/d"),
            format!("postgres://u:{sentinel}@h/d?sslmode={sentinel}"),
            format!("postgres://u:{sentinel}@h/d?{sentinel}"),
            format!("postgres://u:{sentinel}@[::1/d"),
            format!("host=h password='{sentinel}"),
            format!("host=h {sentinel}"),
            format!("mysql://u:{sentinel}@h/d"),
            format!("postgres://u:{sentinel}@h/d#frag"),
            format!("postgres://u:{sentinel}@h/d?connect_timeout={sentinel}"),
            format!("postgres://u:{sentinel}@h/d?hostaddr={sentinel}"),
            format!("postgres://u:{sentinel}@h/d?a-b={sentinel}"),
        ] {
            let err = match resolve(Some(&bad), &MapEnv::new(&[])) {
                Err(e) => e,
                Ok(_) => continue, // parsed: then the password never reaches a message anyway
            };
            let text = format!("{err}");
            assert!(!text.contains(sentinel), "{bad:?} -> {text}");
            assert!(!text.contains("S3nt"), "{bad:?} -> {text}");
        }
    }

    /// Malformed strings and values libpq would refuse are invalid input (exit 12), never a
    /// database failure (exit 10, which means the server could not be reached or refused).
    #[test]
    fn bad_values_are_invalid_input() {
        let env = MapEnv::new(&[]);
        for bad in [
            "postgres://u@h:99999/d",
            "postgres://u@h:notaport/d",
            "postgres://u@h/d?sslmode=bogus",
            "postgres://u@h/d?connect_timeout=soon",
            "postgres://u@[::1/d",
            "postgres://u@[::1]x/d",
            "postgres://u@h/d#frag",
            "postgres://u@h/d?noequals",
            "postgres://u:p%zz@h/d",
            "mysql://u@h/d",
            "host=a,b port=1,2,3",
            "postgres://u@h/d?x-y=1",
            "postgres://u@h/d?hostaddr=not-an-ip",
            "host=h password='unterminated",
            "host=h lonelyword",
            "host=h port=x",
        ] {
            match resolve(Some(bad), &env) {
                Ok(_) => panic!("{bad:?} was accepted"),
                Err(e) => assert_eq!(e.exit_code(), crate::ExitCode::InvalidInput, "{bad:?}: {e}"),
            }
        }
        let env = MapEnv::new(&[("PGSSLMODE", "bogus")]);
        assert_eq!(
            resolve(Some("postgres://u@h/d"), &env)
                .unwrap_err()
                .exit_code(),
            crate::ExitCode::InvalidInput
        );
    }

    #[test]
    fn sslrootcert_system_and_connect_timeout_floor() {
        let s = resolve_ok(
            Some("host=h user=u sslrootcert=system connect_timeout=1"),
            &MapEnv::new(&[]),
        );
        assert_eq!(s.sslrootcert, Some(RootCert::System));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
        let s = resolve_ok(Some("host=h user=u connect_timeout=0"), &MapEnv::new(&[]));
        assert_eq!(s.connect_timeout, None);
    }
}
