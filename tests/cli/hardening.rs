//! Hostile input and failing outputs (issue 12): each test here failed before its fix.
//! Output streams that fail (full disk, closed pipe), unbounded inputs, ambiguous pastes,
//! workflow-command injection, connection strings, and panics reachable by input.

use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{run, scratch_home};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("migtag")
}

/// The binary with a cleared environment (as `common::migtag`), as a std Command so that
/// the streams can be any file.
fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch_home())
        .env("XDG_CACHE_HOME", scratch_home().join(".cache"))
        .stdin(Stdio::null());
    c
}

fn full() -> Stdio {
    Stdio::from(File::options().write(true).open("/dev/full").unwrap())
}

/// Class 1: stderr on a full disk never aborts the process; the exit code stays the
/// decision's, and the JSON document still reaches stdout.
#[test]
fn a_full_stderr_never_aborts() {
    for (args, expected) in [
        (vec!["check", "--psql", "/dev/null"], 12),
        (vec!["-vvv", "check", "--version", "165"], 0),
        (vec!["check", "--version", "168", "--dirty"], 4),
        (vec!["check", "--bogus-flag"], 2),
    ] {
        let out = cmd(&args).stderr(full()).output().unwrap();
        assert_eq!(out.status.code(), Some(expected), "{args:?}");
    }
    let out = cmd(&["--format", "json", "check", "--psql", "/dev/null"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["error"]["kind"], "invalid_input", "{doc:#}");
}

/// Class 1: stderr into a pipe whose reader has gone keeps the decision's exit code.
#[test]
fn a_closed_stderr_pipe_keeps_the_exit_code() {
    for (args, expected) in [
        (vec!["-vvv", "check", "--version", "165"], 0),
        (vec!["check", "--psql", "/dev/null"], 12),
        (vec!["check", "--version", "168", "--dirty"], 4),
    ] {
        let mut child = cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(expected), "{args:?}");
    }
}

/// Class 1: a full disk on stdout is not success: exit 1 (a write error) with the reason.
#[test]
fn a_full_stdout_is_a_write_error() {
    for args in [
        vec!["--format", "json", "check", "--version", "165"],
        vec!["check", "--version", "165"],
        vec!["releases"],
    ] {
        let out = cmd(&args).stdout(full()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output") && err.contains("No space left"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("internal error"), "{err}");
    }
}

fn write_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

/// Class 3: a header with no rows and no `(N rows)` footer is a paste that may have been cut
/// off, not a fresh database: the gate must not say safe. Only `(0 rows)`, or CSV (which has
/// no footer), means no row.
#[test]
fn a_cut_paste_is_ambiguous_not_fresh() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("aligned", " version | dirty\n---------+-------\n"),
        ("aligned-no-rule", " version | dirty\n"),
        ("unaligned", "version|dirty\n"),
    ] {
        let p = write_file(dir.path(), name, text);
        let out = cmd(&["gate", "--target", "v2.36.0", "--psql"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{name}: {err}");
        assert!(err.contains("(0 rows)"), "{name}: {err}");
    }
    for (name, text) in [
        (
            "explicit",
            " version | dirty\n---------+-------\n(0 rows)\n",
        ),
        ("unaligned-explicit", "version|dirty\n(0 rows)\n"),
        ("csv", "version,dirty\n"),
        ("expanded", "(0 rows)\n"),
    ] {
        let p = write_file(dir.path(), name, text);
        let (out, err, code) = run(crate::common::migtag()
            .args(["--format", "json", "check", "--psql"])
            .arg(&p));
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("\"fresh\""), "{name}: {out}");
    }
}
