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
        .env("MIGTAG_NOW", crate::common::TEST_NOW)
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

/// Class 4: under GitHub Actions, input echoed on stdout or stderr never starts a line with
/// `::` (the runner would execute it as a workflow command); raw control characters (ANSI
/// and OSC escapes, BEL, NUL is impossible in argv) never reach the terminal.
#[test]
fn echoed_input_cannot_inject_workflow_commands_or_escapes() {
    let injected = "v2.21.0\n::add-mask::hunter2\n  ::error::pwned\r::warning::x";
    let escapes = "v2\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m";
    let cases: Vec<Vec<&str>> = vec![
        vec!["gate", "--version", "165", "--target", injected],
        vec!["gate", "--version", "165", "--target", escapes],
        vec![
            "--format",
            "json",
            "gate",
            "--version",
            "165",
            "--target",
            injected,
        ],
        vec!["check", "--version", injected],
        vec!["check", "--psql", injected],
        vec!["check", "--psql", escapes],
        vec![
            "gate",
            "--version",
            "165",
            "--target",
            "v2.21.0",
            "--deployed",
            injected,
        ],
        vec!["patch", "--version", "165", "--deployment", injected],
        vec!["patch", "--tag", escapes],
        vec!["check", "--version", "165", "--deployed", escapes],
    ];
    for args in cases {
        let out = cmd(&args).env("GITHUB_ACTIONS", "true").output().unwrap();
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            for line in text.lines() {
                let t = line.trim_start();
                assert!(
                    !t.starts_with("::")
                        || t.starts_with("::error title=migtag gate::")
                        || t.starts_with("::warning title=migtag gate::")
                        // An error that stopped the gate (its text escaped like the others).
                        || t.starts_with("::error title=migtag gate%3A exit "),
                    "{args:?}: {stream} line `{line}`"
                );
            }
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{args:?}: {stream} has a raw control character: {text:?}"
            );
        }
    }
}

/// Class 4: annotation data is escaped as GitHub documents (`%`, CR, LF), so a reason that
/// holds a newline stays one annotation.
#[test]
fn annotations_escape_percent_and_newlines() {
    let out = cmd(&["gate", "--version", "100%", "--target", "v2.21.0"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        migtag::render::gate::escape_annotation("50% a\r\nb"),
        "50%25 a%0D%0Ab"
    );
    assert_eq!(
        migtag::render::gate::escape_property("migtag: gate, v2"),
        "migtag%3A gate%2C v2"
    );
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
    assert!(err.contains("a-file is not a folder"), "{err}");
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

/// Class 5: a key libpq does not know is refused locally (exit 12) with the known keys,
/// before any connection; an empty --db says it was empty.
#[test]
fn connection_strings_are_checked_locally() {
    for db in [
        "host=127.0.0.1 port=1 foo=bar",
        "postgres://u@127.0.0.1:1/coder?foo=bar",
    ] {
        let out = cmd(&["check", "--db", db]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{db}: {err}");
        assert!(
            err.contains("`foo`") && err.contains("sslmode"),
            "{db}: {err}"
        );
        assert!(!err.contains("cannot connect"), "{db}: {err}");
    }
    // Parameters PostgreSQL knows still pass (lib/pq sends them as run-time parameters).
    let out = cmd(&[
        "check",
        "--db",
        "host=127.0.0.1 port=1 search_path=coder connect_timeout=2",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(10));
    for args in [
        vec!["check", "--db", ""],
        vec!["check", "--db", "   "],
        vec![
            "repair",
            "clear-dirty",
            "--expect-version",
            "68",
            "--db",
            "",
        ],
    ] {
        let out = cmd(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{args:?}: {err}");
        assert!(
            err.contains("empty") && err.contains("secret"),
            "{args:?}: {err}"
        );
    }
}

/// Class 5: a server that is not PostgreSQL (an HTTP server, or one that closes after
/// accepting) is named as such, exit 10, not a timeout or a TLS refusal.
#[test]
fn a_server_that_is_not_postgresql_is_named() {
    use std::io::Read;
    use std::net::TcpListener;
    for (name, reply) in [
        (
            "http",
            Some(
                &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
            ),
        ),
        ("close", None),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let server = std::thread::spawn(move || {
            // Serves until told to stop, 30 s at most (the test's own bound).
            listener.set_nonblocking(true).unwrap();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !stopped.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < until
            {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .unwrap();
                let mut buf = [0u8; 512];
                if let Some(r) = reply {
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(r);
                }
                drop(s);
            }
        });
        for mode in ["prefer", "disable", "require"] {
            let url =
                format!("postgres://u:p@127.0.0.1:{port}/coder?sslmode={mode}&connect_timeout=5");
            let started = std::time::Instant::now();
            let out = cmd(&["check", "--db", &url]).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(10), "{name} {mode}: {err}");
            assert!(
                err.contains(&format!("127.0.0.1:{port} did not answer as PostgreSQL")),
                "{name} {mode}: {err}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(4),
                "{name} {mode}: waited for the timeout"
            );
            if mode == "require" {
                break;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = server.join();
    }
}

/// Class 5: manifests refused for a structural reason say it; a container without a name
/// is named as the problem.
#[test]
fn manifest_refusals_give_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
        let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    let deep = format!("a: {}{}\n", "[".repeat(300), "]".repeat(300));
    let deep_json = format!("{}{}\n", "[".repeat(300), "]".repeat(300));
    for (name, text, reason) in [
        ("bomb.yaml", bomb.as_str(), "repetition limit"),
        // Refused before parsing (docs/limits.md): the parsers' own limit came after seconds.
        (
            "deep.yaml",
            deep.as_str(),
            "nests brackets more than 100 deep",
        ),
        (
            "deep.json",
            deep_json.as_str(),
            "nests brackets more than 100 deep",
        ),
    ] {
        let p = write_file(dir.path(), name, text);
        let out = cmd(&["patch", "--version", "165", "--manifest"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
    }
    let p = write_file(
        dir.path(),
        "noname.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: coder\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/coder/coder:v2.21.0\n",
    );
    let out = cmd(&["patch", "--version", "165", "--manifest"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("container 1 has no name"), "{err}");
}

/// Class 6: JSON is the machine's view of everything: warnings about the index (a damaged
/// cache, its age) are in `warnings[]` of every report, and the age is in `index.age_days`.
/// `MIGTAG_NOW` fixes the clock (docs/limits.md names it for reproducible output).
#[test]
fn index_warnings_and_age_are_in_the_json() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join(".cache");
    std::fs::create_dir_all(cache.join("migtag")).unwrap();
    std::fs::write(cache.join("migtag/index.json"), "{ not an index").unwrap();
    let json = |args: &[&str], now: &str| -> serde_json::Value {
        let out = cmd(args)
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", &cache)
            .env("MIGTAG_NOW", now)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not one JSON document ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    for args in [
        vec!["--format", "json", "check", "--version", "165"],
        vec![
            "--format",
            "json",
            "gate",
            "--version",
            "165",
            "--target",
            "v2.21.0",
        ],
        vec!["--format", "json", "patch", "--version", "165"],
        vec!["--format", "json", "runbook", "--version", "168", "--dirty"],
        vec!["--format", "json", "releases", "--line", "2.21"],
        vec!["--format", "json", "index", "show"],
    ] {
        let doc = json(&args, "2027-06-01T00:00:00Z");
        let warnings = doc["warnings"]
            .as_array()
            .unwrap_or_else(|| panic!("{args:?}: no warnings[]: {doc:#}"));
        let has = |needle: &str| {
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains(needle))
        };
        assert!(
            has("answering from the bundled index"),
            "{args:?}: {warnings:#?}"
        );
        assert!(has("days old"), "{args:?}: {warnings:#?}");
        let index = if doc["index"].is_object() {
            &doc["index"]
        } else {
            &doc
        };
        assert_eq!(index["age_days"], 186, "{args:?}: {doc:#}");
    }
    let doc = json(
        &["--format", "json", "check", "--version", "165"],
        "2026-11-30T12:00:00Z",
    );
    assert_eq!(doc["index"]["age_days"], 3);
    assert!(!doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("days old")));
}

/// Class 7: an index whose dates are not dates (here non-ASCII, which byte slicing used to
/// split inside a character) is refused on load, exit 12, naming the release; no panic.
#[test]
fn index_dates_are_validated_not_sliced() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/coder-index.json"),
    )
    .unwrap();
    for bad in [
        "2026-08-0\u{e9}T00:00:00Z",
        "\u{ff12}\u{ff10}\u{ff12}\u{ff16}-08-01",
        "yesterday",
    ] {
        let text = bundled.replacen(
            "\"date\":\"2022-03-11T20:30:12Z\"",
            &format!("\"date\":\"{bad}\""),
            1,
        );
        assert_ne!(text, bundled);
        let p = write_file(dir.path(), "index.json", &text);
        for args in [
            vec!["releases"],
            vec!["check", "--version", "165"],
            vec!["index", "show"],
        ] {
            let out = cmd(&["--index", p.to_str().unwrap()])
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(12), "{bad:?} {args:?}: {err}");
            assert!(
                err.contains("v0.1.0") && err.contains("date"),
                "{bad:?} {args:?}: {err}"
            );
        }
    }
}
