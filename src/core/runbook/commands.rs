//! The command lines and SQL text the runbook's steps print: the variable psql reads the
//! connection string from, the psql wrapper, the opt-in repair, the lock-holder query and the
//! guide's liveness probe.

use crate::core::migration_set::Version;
use crate::core::shell::{quote, ShellCommand};

/// The variable the script and the psql lines read the connection string from: the same
/// one Coder reads.
pub const CONNECTION_VARIABLE: &str = "CODER_PG_CONNECTION_URL";

/// The opt-in repair that runs the dirty-row clean-up as a checked compare-and-set. Kept in
/// one place: the wording follows the `migtag repair` command.
pub fn repair_clear_dirty(v: Version) -> ShellCommand {
    ShellCommand::new(vec![
        "migtag".into(),
        "repair".into(),
        "clear-dirty".into(),
        "--expect-version".into(),
        v.to_string(),
    ])
}

/// `migtag repair fix-row`: the row action the evidence decides, in one transaction.
pub fn repair_fix_row() -> ShellCommand {
    ShellCommand::new(vec!["migtag".into(), "repair".into(), "fix-row".into()])
}

/// `psql "$CODER_PG_CONNECTION_URL" -v ON_ERROR_STOP=1 -c '<statement>'`: the variable is
/// expanded by the shell on purpose (the password stays out of the text); the statement is
/// one quoted word.
pub fn psql_line(statement: &str) -> String {
    format!(
        "psql \"${CONNECTION_VARIABLE}\" -v ON_ERROR_STOP=1 -c {}",
        quote(statement)
    )
}

/// Who holds Coder's migration lock: `pg_advisory_xact_lock(1037453835920848937)` shows in
/// `pg_locks` as classid 241551044, objid 1626191913, objsubid 1.
pub(super) const LOCK_HOLDER_SQL: &str = "SELECT a.pid, a.application_name, a.client_addr, a.state, now() - a.xact_start AS running_for, left(a.query, 120) AS query \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.classid = 241551044 AND l.objid = 1626191913 AND l.objsubid = 1;";

/// The liveness probe of Coder's upgrade-troubleshooting guide: 90 x 10 s = 15 minutes.
pub const GUIDE_LIVENESS_PROBE: &str = "\
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  failureThreshold: 90
  timeoutSeconds: 1
  successThreshold: 1
";
