//! Hostile and faulty inputs, round 3 (issue 20): bounded reads of certificates, HTTP bodies
//! and SQL sources, symbolic links in SQL sources, writes only to regular files, and the
//! messages and validations the sweep found unclear.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use crate::common::{migtag, run};

/// What the loopback HTTP stand-in answers.
#[derive(Clone)]
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// Zeros, chunk after chunk, until the client hangs up.
    Endless,
}

/// A loopback HTTP/1.1 server on a thread: `answer(path)` gives the status line, extra headers
/// and body for each request (one request per connection). Lives as long as the test process;
/// it serves 127.0.0.1 only.
pub fn http_stub(
    answer: impl Fn(&str, u16) -> (u16, Vec<(String, String)>, Body) + Send + Sync + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let head = line.starts_with("HEAD ");
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (status, headers, body) = answer(&path, port);
                let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                match body {
                    Body::Bytes(b) => {
                        out.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
                        let _ = stream.write_all(out.as_bytes());
                        if !head {
                            let _ = stream.write_all(&b);
                        }
                    }
                    Body::Endless => {
                        out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                        if stream.write_all(out.as_bytes()).is_err() || head {
                            return;
                        }
                        let chunk = vec![b'0'; 1 << 20];
                        let framed = [
                            format!("{:x}\r\n", chunk.len()).into_bytes(),
                            chunk,
                            b"\r\n".to_vec(),
                        ]
                        .concat();
                        // Bounded: 64 GiB at most, far past every limit; stops when the
                        // client hangs up.
                        for _ in 0..(64 << 10) {
                            if stream.write_all(&framed).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

/// `--db` URLs whose certificate or key file is `/dev/zero`: refused at the read limit (exit
/// 12), before any connection, instead of reading without end.
#[test]
fn certificate_and_key_files_are_read_with_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::make_ca(dir.path(), "ca");
    let ca = dir.path().join("ca.crt");
    let key = dir.path().join("ca.key");
    for query in [
        "sslmode=verify-full&sslrootcert=/dev/zero".to_string(),
        format!(
            "sslmode=verify-full&sslrootcert={}&sslcert=/dev/zero&sslkey={}",
            ca.display(),
            key.display()
        ),
        format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey=/dev/zero",
            ca.display(),
            ca.display()
        ),
    ] {
        let url = format!("postgresql://u@127.0.0.1:1/db?{query}");
        let (out, err, code) = run(migtag().args(["check", "--db", &url]));
        assert_eq!((out.as_str(), code), ("", 12), "{query}: {err}");
        assert!(
            err.contains("/dev/zero: more than 4 MiB, the limit for a certificate or key file"),
            "{query}: {err}"
        );
    }
}

/// A registry's token service that answers a huge token, or an endless error body: exit 11
/// at the body limit, never a read to the end.
#[test]
fn registry_token_and_error_bodies_are_bounded() {
    for (status, body) in [
        (200, Body::Bytes(vec![b' '; (16 << 20) + 10])),
        (403, Body::Endless),
    ] {
        let port = http_stub(move |path, port| {
            if path.starts_with("/token") {
                (status, vec![], body.clone())
            } else {
                let challenge =
                    format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"stub\"");
                (
                    401,
                    vec![("WWW-Authenticate".to_string(), challenge)],
                    Body::Bytes(vec![]),
                )
            }
        });
        let (out, err, code) = run(migtag().args([
            "patch",
            "--tag",
            "v2.22.1",
            "--pin-digest",
            "--emit",
            "--image-repo",
            &format!("127.0.0.1:{port}/coder/coder"),
        ]));
        assert_eq!((out.as_str(), code), ("", 11), "{status}: {err}");
        assert!(
            err.contains("more than 16 MiB, the limit for an HTTP response body"),
            "{status}: {err}"
        );
    }
}

/// A GitHub stand-in whose tag list never ends: exit 11 at the body limit.
#[test]
fn an_endless_github_tag_page_stops_at_the_limit() {
    let port = http_stub(|_, _| (200, vec![], Body::Endless));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("index.json");
    let (_, err, code) = run(migtag()
        .args(["index", "update", "--github-api-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--out")
        .arg(&out_file));
    assert_eq!(code, 11, "{err}");
    assert!(
        err.contains("more than 32 MiB, the limit for a GitHub answer"),
        "{err}"
    );
    assert!(!out_file.exists());
}

/// Writes `members` (name, bytes) as a .tar.gz at `path`.
fn tar_gz(path: &Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// A gzip bomb as `--sql`: a member that decompresses past the per-file limit, and many
/// members that together pass the total, are refused (exit 12) while decompressing.
#[test]
fn a_gzip_bomb_as_sql_is_refused_while_it_decompresses() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'-'; (8 << 20) + 1];
    let one = dir.path().join("one.tar.gz");
    tar_gz(&one, &[("coder-sql/migrations/a.sql", &big)]);
    assert!(std::fs::metadata(&one).unwrap().len() < 100 << 10);
    let per_file = vec![b'-'; 8 << 20];
    let names: Vec<String> = (0..33)
        .map(|i| format!("coder-sql/migrations/{i}.sql"))
        .collect();
    let members: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), per_file.as_slice()))
        .collect();
    let many = dir.path().join("many.tar.gz");
    tar_gz(&many, &members);
    for (bomb, words) in [
        (&one, "more than 8 MiB, the limit for a migration SQL file"),
        (&many, "more than 256 MiB, the limit for a SQL source"),
    ] {
        let (_, err, code) = run(migtag()
            .args([
                "index",
                "effects",
                "--scratch-db",
                "postgresql://u@127.0.0.1:1/x",
            ])
            .arg("--sql")
            .arg(bomb));
        assert_eq!(code, 12, "{err}");
        assert!(err.contains(words), "{err}");
    }
}

/// A missing `--sql` path is called missing; NUL bytes in a SQL file are invalid input (12).
#[test]
fn a_missing_sql_path_says_missing_and_nul_bytes_are_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.tar.gz");
    let (_, err, code) = run(migtag()
        .args([
            "index",
            "effects",
            "--scratch-db",
            "postgresql://u@127.0.0.1:1/x",
        ])
        .arg("--sql")
        .arg(&missing));
    assert_eq!(code, 12, "{err}");
    assert!(
        err.contains(&format!("--sql: {} is missing", missing.display())),
        "{err}"
    );

    // A clone whose one file is past the per-file limit (a 170 MB file took 977 MB).
    let big = dir.path().join("big");
    let big_migrations = big.join("coderd/database/migrations");
    std::fs::create_dir_all(&big_migrations).unwrap();
    let file = std::fs::File::create(big_migrations.join("000001_init.up.sql")).unwrap();
    file.set_len((8 << 20) + 1).unwrap();
    let (_, err, code) = run(migtag()
        .args([
            "index",
            "effects",
            "--scratch-db",
            "postgresql://u@127.0.0.1:1/x",
        ])
        .arg("--sql")
        .arg(&big));
    assert_eq!(code, 12, "{err}");
    assert!(
        err.contains("more than 8 MiB, the limit for a migration SQL file"),
        "{err}"
    );

    let clone = dir.path().join("clone");
    let migrations = clone.join("coderd/database/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("000001_init.up.sql"), b"SELECT 1;\0\n").unwrap();
    let (_, err, code) = run(migtag()
        .args([
            "index",
            "effects",
            "--scratch-db",
            "postgresql://u@127.0.0.1:1/x",
        ])
        .arg("--sql")
        .arg(&clone));
    assert_eq!(code, 12, "{err}");
    assert!(err.contains("a NUL byte at offset 9"), "{err}");
}

/// A clone (or unpacked folder) whose migration file is a link to a file outside it: refused,
/// naming the link; the target's content is never printed.
#[test]
fn a_symlinked_migration_file_is_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root:TOPSECRETHASH:19000::::::\n").unwrap();
    let clone = dir.path().join("clone");
    let migrations = clone.join("coderd/database/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("000001_init.up.sql"), "SELECT 1;\n").unwrap();
    std::os::unix::fs::symlink(&secret, migrations.join("000002_x.up.sql")).unwrap();
    // A linked folder too.
    let clone2 = dir.path().join("clone2");
    std::fs::create_dir_all(clone2.join("coderd/database/migrations")).unwrap();
    std::os::unix::fs::symlink(
        dir.path(),
        clone2.join("coderd/database/migrations/testdata"),
    )
    .unwrap();
    for (c, link) in [
        (&clone, migrations.join("000002_x.up.sql")),
        (&clone2, clone2.join("coderd/database/migrations/testdata")),
    ] {
        let (out, err, code) = run(migtag()
            .args([
                "index",
                "effects",
                "--scratch-db",
                "postgresql://u@127.0.0.1:1/x",
            ])
            .arg("--sql")
            .arg(c));
        assert_eq!(code, 12, "{err}");
        assert!(
            err.contains(&format!(
                "{} is a symbolic link: migtag does not follow links in a SQL source",
                link.display()
            )),
            "{err}"
        );
        assert!(!out.contains("TOPSECRET") && !err.contains("TOPSECRET"));
    }
}

/// `index import` with the bundled tables, writing to `out`.
fn import_to(out: &Path) -> (String, String, i32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(migtag()
        .args(["--format", "json", "index", "import"])
        .arg("--tags")
        .arg(root.join("data/reference/coder-tags.tsv"))
        .arg("--migrations")
        .arg(root.join("data/reference/coder-migrations.tsv"))
        .args(["--generated-at", "2026-08-10"])
        .arg("--out")
        .arg(out))
}

/// `--out` writes only regular files (or new ones), atomically: a FIFO, a device node, a
/// folder, a symbolic link and a missing folder are each refused as a write failure (exit 1,
/// JSON kind `write`), and nothing they point to changes.
#[test]
fn out_writes_only_regular_files_never_through_links_nor_onto_devices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let target = d.join("target.json");
    std::fs::write(&target, "keep me").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::fs::create_dir(d.join("folder")).unwrap();
    let mut cases = vec![
        (fifo.clone(), "it is not a regular file"),
        (
            link.clone(),
            "it is a symbolic link; migtag never writes through one",
        ),
        (d.join("folder"), "it is not a regular file"),
        (
            d.join("missing/index.json"),
            "the folder {d}/missing does not exist",
        ),
    ];
    // A character device (the null device's numbers) made here, never /dev itself: as root.
    let null = d.join("null");
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if is_root {
        assert!(std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .unwrap()
            .success());
        cases.push((null.clone(), "it is not a regular file"));
    }
    for (out, words) in cases {
        let words = words.replace("{d}", &d.display().to_string());
        let (stdout, err, code) = import_to(&out);
        assert_eq!(code, 1, "{}: {err}", out.display());
        assert!(err.contains(&words), "{}: {err}", out.display());
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["error"]["kind"], "write", "{doc:#}");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(!d.join("missing").exists());
    if is_root {
        assert!(std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // A regular file is replaced, and no temporary file is left.
    let (_, err, code) = import_to(&target);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&target).unwrap().starts_with('{'));
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

/// `man --out-dir`: a page that is a link is refused (exit 1), a missing folder says so
/// (exit 1, not 12), and the pages carry "EXIT STATUS", not clap's "EXTRA", and name no
/// `migtag-help(1)`.
#[test]
fn man_out_dir_never_writes_through_a_link_and_fails_as_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "keep me").unwrap();
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    std::os::unix::fs::symlink(&target, pages.join("migtag-check.1")).unwrap();
    let (_, err, code) = run(migtag().args(["man", "--out-dir"]).arg(&pages));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("migtag-check.1: it is a symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");

    let missing = dir.path().join("nope/man1");
    let (_, err, code) = run(migtag().args(["man", "--out-dir"]).arg(&missing));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");

    std::fs::remove_file(pages.join("migtag-check.1")).unwrap();
    let (_, err, code) = run(migtag().args(["man", "--out-dir"]).arg(&pages));
    assert_eq!(code, 0, "{err}");
    assert!(!pages.join("migtag-help.1").exists());
    for entry in std::fs::read_dir(&pages).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(".SH EXTRA"));
        assert!(!text.contains("migtag\\-help(1)"));
    }
    let main = std::fs::read_to_string(pages.join("migtag.1")).unwrap();
    assert!(main.contains(".SH \"EXIT STATUS\"\nExit codes:"), "{main}");
    let (page, _, _) = run(migtag().arg("man"));
    assert!(!page.contains(".SH EXTRA") && !page.contains("migtag\\-help(1)"));
}

/// 200 KB of nested brackets as a manifest (YAML and JSON): refused before parsing, fast,
/// exit 12. The bound is generous for two busy cores: the parsers took 18-20 s.
#[test]
fn deeply_nested_manifests_fail_fast_before_parsing() {
    for text in [
        "[".repeat(200_000),
        format!("a: {}", "{a: ".repeat(50_000)),
        format!("{}{}", "{\"a\":".repeat(40_000), "[1]"),
    ] {
        let started = std::time::Instant::now();
        let out = crate::common::output_with_stdin(
            std::process::Command::new(assert_cmd::cargo::cargo_bin("migtag"))
                .env_clear()
                .env("HOME", crate::common::scratch_home())
                .args(["patch", "--tag", "v2.22.1", "--manifest", "-"]),
            &text,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{err}");
        assert!(err.contains("nests brackets more than 100 deep"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

/// A manifest saved with a byte-order mark reads like one without.
#[test]
fn a_manifest_with_a_byte_order_mark_is_accepted() {
    let text =
        std::fs::read_to_string(crate::common::fixture("manifests/coder-helm.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_bom = dir.path().join("bom.yaml");
    std::fs::write(&with_bom, format!("\u{feff}{text}")).unwrap();
    let plain = run(migtag()
        .args(["patch", "--tag", "v2.22.1", "--manifest"])
        .arg(crate::common::fixture("manifests/coder-helm.yaml")));
    let bom = run(migtag()
        .args(["patch", "--tag", "v2.22.1", "--manifest"])
        .arg(&with_bom));
    assert_eq!(plain.2, 0, "{}", plain.1);
    assert_eq!(bom.0, plain.0, "{}", bom.1);
    assert_eq!(bom.2, 0, "{}", bom.1);
}

/// A password inside `--github-api-url` is never printed nor stored: refused (exit 2) with
/// the credentials masked, before any request, cache file or index is written.
#[test]
fn a_password_in_the_github_api_url_is_refused_and_never_printed() {
    let port = http_stub(|_, _| (500, vec![], Body::Bytes(b"should not be asked".to_vec())));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("index.json");
    for format in ["human", "json"] {
        let (out, err, code) = run(migtag()
            .args(["--format", format, "index", "update", "--github-api-url"])
            .arg(format!("http://alice:hunter2secret@127.0.0.1:{port}/api"))
            .arg("--out")
            .arg(&out_file));
        assert_eq!(code, 2, "{out}{err}");
        assert!(!out.contains("hunter2secret") && !err.contains("hunter2secret"));
        assert!(!out.contains("alice") && !err.contains("alice"));
        assert!(
            err.contains("--github-api-url must not carry credentials"),
            "{err}"
        );
        assert!(
            err.contains(&format!("http://***@127.0.0.1:{port}/api")),
            "{err}"
        );
    }
    assert!(!out_file.exists());
    let cache = crate::common::scratch_home().join(".cache");
    let leaked = std::process::Command::new("grep")
        .args(["-rl", "hunter2secret"])
        .arg(&cache)
        .output()
        .unwrap();
    assert!(leaked.stdout.is_empty(), "{leaked:?}");
}

/// Colour escapes (`ESC [ 31 m`) from a paste and from `--line` are printed escaped even with
/// `--color always`, while migtag's own colours still reach the terminal.
#[test]
fn colour_escapes_from_input_are_escaped_and_own_colours_stay() {
    let (out, err, code) =
        run(migtag().args(["--color", "always", "releases", "--line", "2.21\u{1b}[31mX"]));
    assert_eq!(code, 12, "{out}{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("2.21\\u{1b}[31mX"), "{err}");
    let out = crate::common::output_with_stdin(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("migtag"))
            .env_clear()
            .env("HOME", crate::common::scratch_home())
            .env("GITHUB_ACTIONS", "true")
            .args(["--color", "always", "check", "--psql", "-"]),
        " version | dirty \n---------+-------\n     165\u{1b}[31m | f\n(1 row)\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(
        !err.contains('\u{1b}') && err.contains("165\\u{1b}[31m"),
        "{err:?}"
    );
    let (out, _, code) = run(migtag().args(["--color", "always", "check", "--version", "165"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("\u{1b}[1m\u{1b}[32mexact:"), "{out:?}");
}

/// The sweep's unclear messages, each with its clear form: a prompt-only paste, a duplicate
/// YAML key, a 1 ms connect timeout, GitHub's rate limit without its limit header.
#[test]
fn unclear_messages_now_say_what_happened() {
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    let with_stdin = |args: &[&str], stdin: &str| {
        let out = crate::common::output_with_stdin(
            std::process::Command::new(&bin)
                .env_clear()
                .env("HOME", crate::common::scratch_home())
                .args(args),
            stdin,
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = with_stdin(
        &["check", "--psql", "-"],
        "coder=> SELECT * FROM schema_migrations;\n",
    );
    assert_eq!(code, Some(12), "{err}");
    assert!(err.contains("holds only psql's prompt"), "{err}");
    assert!(!err.contains("the input is empty"), "{err}");

    let (code, err) = with_stdin(
        &["patch", "--tag", "v2.22.1", "--manifest", "-"],
        "apiVersion: apps/v1\nkind: Deployment\nkind: Deployment\n",
    );
    assert_eq!(code, Some(12), "{err}");
    assert!(err.contains("duplicate entry with key \"kind\""), "{err}");

    // A listener that accepts and never answers.
    let silent = http_stub(|_, _| {
        std::thread::sleep(std::time::Duration::from_secs(30));
        (200, vec![], Body::Bytes(vec![]))
    });
    let (_, err, code) = run(migtag().args([
        "check",
        "--db",
        &format!("postgresql://u@127.0.0.1:{silent}/db?sslmode=disable"),
        "--connect-timeout",
        "1ms",
    ]));
    assert_eq!(code, 10, "{err}");
    assert!(err.contains("no answer within 1 ms"), "{err}");

    let limited = http_stub(|_, _| {
        (
            403,
            vec![("x-ratelimit-remaining".to_string(), "0".to_string())],
            Body::Bytes(b"{\"message\":\"API rate limit exceeded\"}".to_vec()),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = run(migtag()
        .args(["index", "update", "--github-api-url"])
        .arg(format!("http://127.0.0.1:{limited}"))
        .arg("--out")
        .arg(dir.path().join("i.json")));
    assert_eq!(code, 11, "{err}");
    assert!(err.contains("GitHub rate limit reached"), "{err}");
    assert!(!err.contains("(? requests"), "{err}");
}

/// Validation: a blank CODER_PG_CONNECTION_URL is an error (not a silent fall-through to
/// DATABASE_URL), `--generated-at` must be a date, and an index whose generated_at is not a
/// date says its age is unknown.
#[test]
fn blank_connection_variables_bad_dates_are_refused_or_said() {
    for var in ["CODER_PG_CONNECTION_URL", "DATABASE_URL"] {
        let (_, err, code) = run(migtag()
            .arg("check")
            .env(var, "  ")
            .env("PGHOST", "127.0.0.1"));
        assert_eq!(code, 12, "{err}");
        assert!(err.contains(&format!("{var} is set but blank")), "{err}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = run(migtag()
        .args(["index", "import", "--generated-at", "last tuesday"])
        .arg("--tags")
        .arg(root.join("data/reference/coder-tags.tsv"))
        .arg("--migrations")
        .arg(root.join("data/reference/coder-migrations.tsv"))
        .arg("--out")
        .arg(dir.path().join("i.json")));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--generated-at `last tuesday` is not a date"),
        "{err}"
    );

    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("data/coder-index.json")).unwrap())
            .unwrap();
    index["provenance"]["generated_at"] = "yesterday".into();
    let file = dir.path().join("odd.json");
    std::fs::write(&file, index.to_string()).unwrap();
    let (out, err, code) = run(migtag()
        .args(["--format", "json", "--index"])
        .arg(&file)
        .args(["check", "--version", "165"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("`yesterday`, which is not a date")),
        "{doc:#}"
    );
}

/// A password file with group or world access is ignored as libpq does, and the failed login
/// says so; `service=` is noted as not looked up.
#[test]
fn an_ignored_password_file_and_service_are_said() {
    let c = crate::pg::PgCluster::shared();
    let (db, role) = crate::db::coder_db(c, Some((165, false)));
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{}:{db}:{role}:{}\n", c.port, crate::db::PW),
    )
    .unwrap();
    let url = format!(
        "postgresql://{role}@127.0.0.1:{}/{db}?passfile={}",
        c.port,
        passfile.display()
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err, code) = run(migtag().args(["check", "--db", &url]));
    assert_eq!(code, 10, "{err}");
    assert!(
        err.contains("has group or world access and is ignored"),
        "{err}"
    );
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, err, code) = run(migtag().args([
        "--format",
        "json",
        "check",
        "--no-schema",
        "--db",
        &format!("{url}&service=coderdb"),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("service=coderdb is not looked up"), "{out}");
}

/// `verify` while a Coder migration runs says why the schema was not read (the migration),
/// not only that it was not.
#[test]
fn verify_during_a_running_migration_says_the_migration_is_why() {
    let c = crate::pg::PgCluster::shared();
    let (db, role) = crate::db::coder_db(c, Some((167, false)));
    let mut coder = c.session_as(&db, "coder-migration-sim", &role, crate::db::PW);
    coder.run(
        "BEGIN; SELECT pg_advisory_xact_lock(1037453835920848937); TRUNCATE schema_migrations;",
    );
    let (out, err, code) = run(migtag().args([
        "verify",
        "--lock-timeout",
        "1s",
        "--db",
        &c.url(&role, crate::db::PW, &db),
    ]));
    coder.run("ROLLBACK;");
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        out.contains("a migration is running and the schema is changing"),
        "{out}\n{err}"
    );
}

/// A command's `-h` is short: its own flags, without the five global ones; `--help` lists the
/// globals once, last, under "Global options".
#[test]
fn short_help_leaves_out_the_global_flags_and_long_help_lists_them_last() {
    for cmd in ["gate", "check", "index update"] {
        let words: Vec<&str> = cmd.split(' ').collect();
        let (short, _, code) = run(migtag().args(&words).arg("-h"));
        assert_eq!(code, 0);
        let (long, _, _) = run(migtag().args(&words).arg("--help"));
        for global in [
            "--index <FILE>",
            "--offline",
            "--format <FORMAT>",
            "--color <COLOR>",
            "--verbose",
        ] {
            assert!(!short.contains(global), "{cmd} -h: {global}\n{short}");
            let at = long
                .find(global)
                .unwrap_or_else(|| panic!("{cmd} --help: {global}"));
            let heading = long.find("Global options:").unwrap();
            assert!(at > heading, "{cmd} --help: {global} before the heading");
        }
        assert!(
            short.lines().count() < long.lines().count() / 2 + 10,
            "{cmd}: {short}"
        );
    }
}

/// No test passes while doing nothing: no test returns early or prints "skipping" when a
/// tool or Coder's SQL is missing. Such a test carries `#[cfg_attr(migtag_no_*, ignore =
/// "reason")]` (build.rs sets the flag outside CI), and under CI=true it runs and fails.
#[test]
fn no_test_skips_silently_when_a_tool_is_missing() {
    let mut files = vec![];
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20);
    let quiet_skip = regex::Regex::new(
        r#"(?s)eprintln!\(\s*"skip|\.is_none\(\)\s*\{\s*return;|else\s*\{\s*return;\s*//\s*not installed"#,
    )
    .unwrap();
    for path in files {
        if path.ends_with("harden.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !quiet_skip.is_match(&text),
            "{} skips a test silently: use #[cfg_attr(migtag_no_..., ignore = \"...\")]",
            path.display()
        );
        // Every test that needs PostgreSQL 13/16/17/18 names the flag for its major.
        for major in [13, 16, 17, 18] {
            if text.contains(&format!("shared_major({major})")) {
                assert!(
                    text.contains(&format!("migtag_no_pg{major}")),
                    "{}: PostgreSQL {major} without its ignore flag",
                    path.display()
                );
            }
        }
    }
}

/// `gate --format json` lists the partial-index warning as `check` does, and `--strict
/// --max-duration` offline (no sizes, so no times) is not safe.
#[test]
fn gate_warns_of_the_partial_index_and_a_strict_unchecked_limit_fails() {
    let (out, _, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "401",
        "--target",
        "v2.34.0",
    ]));
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("the index knows releases up to"),
        "{warnings}"
    );
    let (out, _, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "401",
        "--target",
        "v2.34.0",
        "--max-duration",
        "10m",
    ]));
    assert_eq!(
        code, 0,
        "without --strict the unchecked limit is a warning: {out}"
    );
    let (out, _, code) = run(migtag().args([
        "--format",
        "json",
        "gate",
        "--version",
        "401",
        "--target",
        "v2.34.0",
        "--max-duration",
        "10m",
        "--strict",
    ]));
    assert_eq!(code, 3, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["safe"], false);
    assert!(
        doc["reasons"][0]
            .as_str()
            .unwrap()
            .contains("--max-duration needs the table sizes"),
        "{doc:#}"
    );
}

/// Under GitHub Actions an error that stops the gate (here: nothing listens on the port) is
/// an `::error` annotation and a section of the job summary, with the exit code.
#[test]
fn gate_errors_are_annotated_and_summarised_under_github_actions() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (_, err, code) = run(migtag()
        .args([
            "gate",
            "--target",
            "v2.36.0",
            "--connect-timeout",
            "5s",
            "--db",
            &format!("postgresql://nobody@127.0.0.1:{port}/coder"),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(code, 10, "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("::error title=migtag gate%3A exit 10::cannot connect")),
        "{err}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("### ❌ migtag gate: error (exit 10)"),
        "{md}"
    );
    assert!(md.contains("cannot connect"), "{md}");
    // Outside GitHub Actions: the error alone, no workflow command.
    let (_, err, _) = run(migtag().args([
        "gate",
        "--target",
        "v2.36.0",
        "--db",
        &format!("postgresql://nobody@127.0.0.1:{port}/coder"),
    ]));
    assert!(!err.contains("::error"), "{err}");
}
