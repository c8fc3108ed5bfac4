//! Hostile input and failing outputs (issue 12): each test here failed before its fix.
//! Output streams that fail (full disk, closed pipe), unbounded inputs, ambiguous pastes,
//! workflow-command injection, connection strings, and panics reachable by input.

use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{fixture, run, scratch_home};

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

#[allow(dead_code)]
fn write_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

#[allow(dead_code)]
fn unused() -> (String, String, i32) {
    let _ = fixture("x");
    run(&mut crate::common::migtag())
}

/// Class 5: a local file that cannot be written (the job summary, an index file) is a write
/// error (exit 1), not "invalid input" (exit 12).
#[test]
fn local_write_failures_are_write_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let under_a_file = file.join("summary.md");

    let out = cmd(&["gate", "--version", "165", "--target", "v2.21.0"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &under_a_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("GITHUB_STEP_SUMMARY"), "{err}");

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = cmd(&["index", "import", "--generated-at", "2026-12-01", "--tags"])
        .arg(root.join("data/reference/coder-tags.tsv"))
        .arg("--migrations")
        .arg(root.join("data/reference/coder-migrations.tsv"))
        .arg("--out")
        .arg(file.join("index.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the folder of"), "{err}");
}

/// Class 2: every input is bounded while it streams: /dev/zero and an endless `yes` stop at
/// the first NUL or at the documented limit, exit 12, naming the limit.
#[test]
fn endless_inputs_stop_at_a_documented_limit() {
    let deadline = std::time::Duration::from_secs(20);
    for (args, needle) in [
        (vec!["check", "--psql", "/dev/zero"], "NUL"),
        (vec!["--index", "/dev/zero", "releases"], "NUL"),
        (
            vec!["patch", "--version", "165", "--manifest", "/dev/zero"],
            "NUL",
        ),
        (
            vec![
                "gate",
                "--version",
                "165",
                "--target",
                "v2.21.0",
                "--manifest",
                "/dev/zero",
            ],
            "NUL",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = cmd(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(started.elapsed() < deadline, "{args:?} took too long");
        assert_eq!(out.status.code(), Some(12), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // `yes | migtag check --psql -`: text that never ends stops at the paste limit.
    let mut child = cmd(&["check", "--psql", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let line = b"y\n".repeat(4096);
        let mut sent = 0usize;
        // Stops when migtag closes its end (it stopped reading) or after 64 MiB.
        while sent < 64 << 20 && stdin.write_all(&line).is_ok() {
            sent += line.len();
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = feeder.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("64 KiB"), "{err}");
    assert!(sent < 64 << 20, "migtag kept reading: {sent} bytes");
    // Invalid UTF-8 is refused as it arrives, with where.
    let mut child = cmd(&["check", "--psql", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b" version | dirty\n\xff\xfe garbage");
    // stdin stays open: migtag must answer without waiting for the end.
    let started = std::time::Instant::now();
    let out = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < deadline,
            "migtag waited for the end of the input"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(out.code(), Some(12), "{err}");
    assert!(err.contains("UTF-8"), "{err}");
}
