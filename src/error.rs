//! The one error type of migtag, and its mapping onto the exit codes of `docs/rules.md`.
//!
//! Every failure carries a [`ErrorKind`] (which decides the exit code), a message that says
//! what happened, and optionally a hint that says what to do next. Decisions that are not
//! failures (an unsafe gate, a dirty database) are reports, not errors: they choose their exit
//! code through [`ExitCode`] directly.

use std::fmt;

/// Process exit codes, exactly as documented in `docs/rules.md`, the README and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Success; for `gate`, the upgrade is safe.
    Success = 0,
    /// migtag itself failed: a bug, or it could not write its output or a local file (a full
    /// disk, a read-only folder). The message says which.
    Internal = 1,
    /// Usage error (bad flags or arguments).
    Usage = 2,
    /// `gate`: the upgrade is not safe.
    Unsafe = 3,
    /// The database needs a human: dirty, migration in progress, or a v1 database.
    NeedsHuman = 4,
    /// No release in the index matches (database ahead of the index, or unknown target).
    NoMatch = 5,
    /// The schema does not match the recorded version (drift).
    Drift = 6,
    /// Database unreachable, authentication or TLS failure, query error.
    Database = 10,
    /// Upstream (GitHub API, git, container registry) unreachable, rate-limited, refused or
    /// malformed.
    Upstream = 11,
    /// Invalid input: index file, psql output, manifest, tag, image reference.
    InvalidInput = 12,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// What kind of failure happened; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Internal,
    Usage,
    NoMatch,
    Database,
    Upstream,
    InvalidInput,
    /// migtag could not write its output or a local file (stdout on a full disk, the cache,
    /// the job summary, an index file). Exit 1: not the user's input, not a decision.
    Write,
    /// A refusal that needs a person's judgement (exit 4).
    NeedsHuman,
}

impl ErrorKind {
    pub fn exit_code(self) -> ExitCode {
        match self {
            ErrorKind::Internal => ExitCode::Internal,
            ErrorKind::Usage => ExitCode::Usage,
            ErrorKind::NoMatch => ExitCode::NoMatch,
            ErrorKind::Database => ExitCode::Database,
            ErrorKind::Upstream => ExitCode::Upstream,
            ErrorKind::InvalidInput => ExitCode::InvalidInput,
            ErrorKind::Write => ExitCode::Internal,
            ErrorKind::NeedsHuman => ExitCode::NeedsHuman,
        }
    }

    /// A stable snake_case name, used in JSON error documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal",
            ErrorKind::Usage => "usage",
            ErrorKind::NoMatch => "no_match",
            ErrorKind::Database => "database",
            ErrorKind::Upstream => "upstream",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Write => "write",
            ErrorKind::NeedsHuman => "needs_human",
        }
    }
}

/// A failure: what happened, and what the user can do about it.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    pub fn database(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Database, message)
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Upstream, message)
    }

    pub fn no_match(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NoMatch, message)
    }

    /// A local write failed: `what` is what was being written (`standard output`, a path).
    pub fn write(what: impl fmt::Display, e: &std::io::Error) -> Self {
        Self::new(ErrorKind::Write, format!("cannot write to {what}: {e}"))
    }

    pub fn needs_human(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NeedsHuman, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Adds what the user should do next.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with where the problem was found (a file name, a field).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn exit_code(&self) -> ExitCode {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
