//! `--format openmetrics` for `check`, `verify` and `gate`: every exposition is accepted by
//! `promtool check metrics` (Debian's `prometheus` package; missing under `CI=true` is a
//! failure), carries the identity labels escaped as the specification says and never a
//! password, offline and on a live schema built from Coder's real SQL.

use std::process::Command;

use crate::coder_sql::{database_with, set_row};
use crate::common::{migtag, output_with_stdin, run};
use crate::pg::{encode, PgCluster};

/// Runs `promtool check metrics` on `text`; panics with its words when it refuses.
fn promtool_accepts(text: &str) {
    let out = output_with_stdin(Command::new("promtool").args(["check", "metrics"]), text);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics refused:\n{said}\n--- exposition ---\n{text}"
    );
}

fn metrics(args: &[&str]) -> (String, String, i32) {
    run(migtag().args(["--format", "openmetrics"]).args(args))
}

#[test]
#[cfg_attr(
    migtag_no_promtool,
    ignore = "needs promtool (apt-get install -y prometheus; bash .ci/test installs it)"
)]
fn offline_check_and_gate_expose_valid_metrics() {
    let (out, err, code) = metrics(&["check", "--version", "165"]);
    assert_eq!(code, 0, "{err}");
    promtool_accepts(&out);
    assert!(
        out.contains("migtag_schema_migrations_version 165\n"),
        "{out}"
    );
    assert!(out.contains("migtag_schema_migrations_dirty 0\n"), "{out}");
    assert!(
        out.contains("migtag_verdict{verdict=\"exact\"} 1\n"),
        "{out}"
    );
    assert!(out.ends_with("# EOF\n"), "{out}");
    // The index age at MIGTAG_NOW, in seconds.
    assert!(out.contains("\nmigtag_index_age_seconds "), "{out}");

    let (out, err, code) = metrics(&["gate", "--version", "362", "--target", "v2.27.0"]);
    assert_eq!(code, 0, "{err}");
    promtool_accepts(&out);
    assert!(
        out.contains("migtag_pending_migrations{target=\"v2.27.0\"} 14\n"),
        "{out}"
    );
    assert!(
        out.contains("migtag_verdict{verdict=\"safe\"} 1\n"),
        "{out}"
    );
    // Offline there are no sizes, so no estimate: the family is absent, not zero.
    assert!(!out.contains("migtag_upgrade_estimate_seconds"), "{out}");

    // The Deployment's identity, from -n (and --deployment, default coder).
    let (out, err, code) = metrics(&[
        "gate",
        "--version",
        "362",
        "--target",
        "v2.27.0",
        "-n",
        "coder-prod",
    ]);
    assert_eq!(code, 0, "{err}");
    promtool_accepts(&out);
    assert!(
        out.contains(
            "migtag_verdict{verdict=\"safe\",namespace=\"coder-prod\",deployment=\"coder\"} 1\n"
        ),
        "{out}"
    );

    let (out, err, code) = metrics(&["check", "--version", "316", "--dirty"]);
    assert_eq!(code, 4, "{err}");
    promtool_accepts(&out);
    assert!(out.contains("migtag_schema_migrations_dirty 1\n"), "{out}");
}

#[test]
fn other_commands_refuse_openmetrics_with_a_usage_error() {
    for args in [
        vec!["releases"],
        vec!["patch", "--version", "165"],
        vec!["watch", "--db", "postgres://u@127.0.0.1:1/d"],
        vec!["index", "show"],
    ] {
        let (out, err, code) = metrics(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.contains("--format openmetrics is printed by check, verify and gate only"),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[cfg_attr(
    migtag_no_coder_sql,
    ignore = "needs ../shared/reference/coder-sql.tar.gz (Coder's SQL)"
)]
#[cfg_attr(
    migtag_no_promtool,
    ignore = "needs promtool (apt-get install -y prometheus; bash .ci/test installs it)"
)]
fn live_check_verify_and_gate_expose_valid_metrics_without_the_password() {
    let c = PgCluster::shared();
    let db = database_with(c, "forecast-v2.26.0", (1..=362).collect(), Some("v2.26.0"));
    set_row(c, &db, 362, false);
    c.sql(&db, "ANALYZE");
    let password = "s3cr\"et\\pw";
    let role = c.create_role("metrics", password);
    c.sql(
        &db,
        &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
    );
    let url = format!("{}?sslmode=disable", c.url(&role, password, &db));

    let (out, err, code) = metrics(&["check", "--db", &url]);
    assert_eq!(code, 0, "{out}\n{err}");
    promtool_accepts(&out);
    let database = format!("database=\"postgres://{role}@127.0.0.1:{}/{db}\"", c.port);
    assert!(
        out.contains(&format!(
            "migtag_schema_migrations_version{{{database}}} 362\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("migtag_schema_drift_objects{{{database}}} 0\n")),
        "{out}"
    );

    let (out, err, code) = metrics(&["verify", "--db", &url]);
    assert_eq!(code, 0, "{out}\n{err}");
    promtool_accepts(&out);
    assert!(
        out.contains(&format!(
            "migtag_verdict{{verdict=\"match\",{database}}} 1\n"
        )),
        "{out}"
    );

    let (out, err, code) = metrics(&["gate", "--db", &url, "--target", "v2.27.0"]);
    assert_eq!(code, 0, "{out}\n{err}");
    promtool_accepts(&out);
    assert!(
        out.contains(&format!(
            "migtag_pending_migrations{{target=\"v2.27.0\",{database}}} 14\n"
        )),
        "{out}"
    );
    for bound in ["low", "high"] {
        assert!(
            out.contains(&format!(
                "migtag_upgrade_estimate_seconds{{bound=\"{bound}\",{database}}} "
            )),
            "{out}"
        );
    }
    for text in [&out, &err] {
        assert!(!text.contains("s3cr"), "the password leaked: {text}");
    }

    // A database name with a quote and a backslash: escaped in the label, still valid.
    let odd = "we\"ird\\db";
    c.sql(
        "postgres",
        &format!("CREATE DATABASE \"{}\"", odd.replace('"', "\"\"")),
    );
    let odd_url = format!(
        "postgresql://postgres@/{}?host={}&port={}",
        encode(odd),
        c.socket_dir.display(),
        c.port
    );
    let (out, err, code) = metrics(&["check", "--db", &odd_url]);
    assert_eq!(code, 0, "{out}\n{err}");
    promtool_accepts(&out);
    assert!(out.contains("/we\\\"ird\\\\db"), "{out}");
}
