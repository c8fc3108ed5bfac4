//! Reading what users hand to migtag (a file, or stdin for `-`) with a bound: the one place
//! that reads such input, and the one place its limits are written down.
//!
//! The limits are far above any real input (the bundled index is about 80 KB, a psql paste of
//! `schema_migrations` a few hundred bytes, `helm template` of Coder's chart about 100 KB) and
//! far below what would hurt: `--psql /dev/zero` or `yes | migtag check --psql -` stop at the
//! first NUL or at the limit instead of growing until memory runs out. Encoding is checked as
//! the bytes arrive, so random bytes on a pipe that never ends are refused at once.

use std::io::{IsTerminal, Read};

use crate::error::{Error, Result};

/// A kind of input and the most bytes migtag reads of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What it is, for messages: `a psql paste`.
    pub what: &'static str,
    pub bytes: usize,
}

/// `--psql`: the output of `SELECT * FROM schema_migrations;` is one row.
pub const PSQL_PASTE: Limit = Limit {
    what: "a psql paste",
    bytes: 64 << 10,
};

/// `--index`, the cached index, the GitHub adapter's cache file.
pub const INDEX: Limit = Limit {
    what: "an index file",
    bytes: 16 << 20,
};

/// `--manifest`: a Deployment, a List, or all of `helm template`.
pub const MANIFEST: Limit = Limit {
    what: "a manifest",
    bytes: 16 << 20,
};

/// `index import`/`export`: the reference tables.
pub const TABLES: Limit = Limit {
    what: "a reference table",
    bytes: 16 << 20,
};

/// One migration file fetched from GitHub (a git blob), and its copy in the blob cache.
pub const MIGRATION_FILE: Limit = Limit {
    what: "a migration file",
    bytes: 4 << 20,
};

/// One answer of GitHub's API (a page of tags, a tree listing, a blob).
pub const GITHUB_ANSWER: Limit = Limit {
    what: "a GitHub answer",
    bytes: 32 << 20,
};

/// The effects in the cache (`index update --effects`), like `data/coder-effects.json`.
pub const EFFECTS: Limit = Limit {
    what: "an effects file",
    bytes: 64 << 20,
};

/// The password file (`~/.pgpass`, `PGPASSFILE`).
pub const PASSFILE: Limit = Limit {
    what: "a password file",
    bytes: 1 << 20,
};

/// Every limit, for the documentation test.
pub const ALL: [Limit; 8] = [
    PSQL_PASTE,
    INDEX,
    MANIFEST,
    TABLES,
    MIGRATION_FILE,
    GITHUB_ANSWER,
    EFFECTS,
    PASSFILE,
];

/// `64 KiB`, `16 MiB`.
pub fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Where the input comes from, for messages: `standard input` or the path.
pub fn source_name(path: &str) -> String {
    if path == "-" {
        "standard input".to_string()
    } else {
        path.to_string()
    }
}

/// Why a read gave no text.
#[derive(Debug)]
pub enum Failure {
    /// The file could not be opened or read: the caller words it (its flag, its hint).
    Io(std::io::Error),
    /// The content was refused (too large, NUL, not UTF-8): the message says which limit.
    Refused(Error),
}

impl Failure {
    /// The error, with `io` wording an I/O failure.
    pub fn or_io(self, io: impl FnOnce(std::io::Error) -> Error) -> Error {
        match self {
            Failure::Io(e) => io(e),
            Failure::Refused(e) => e,
        }
    }
}

/// Reads `path` (or stdin for `-`) as UTF-8 text of at most `limit` bytes, with I/O failures
/// worded `cannot read <source>: <reason>`.
pub fn read_text(path: &str, limit: Limit) -> Result<String> {
    let source = source_name(path);
    read(path, limit)
        .map_err(|f| f.or_io(|e| Error::invalid_input(format!("cannot read {source}: {e}"))))
}

/// [`read_text`] with the I/O failure left to the caller. On a terminal, says on stderr that
/// it waits for input (a FIFO nobody writes to blocks, like `cat`).
pub fn read(path: &str, limit: Limit) -> std::result::Result<String, Failure> {
    if path == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            crate::ewriteln!(
                "migtag: waiting for input on stdin ({}; end it with Ctrl-D)",
                limit.what
            );
        }
        return read_from(stdin.lock(), "standard input", limit);
    }
    let file = std::fs::File::open(path).map_err(Failure::Io)?;
    read_from(file, path, limit)
}

/// [`read`] for a path.
pub fn read_path(path: &std::path::Path, limit: Limit) -> std::result::Result<String, Failure> {
    let file = std::fs::File::open(path).map_err(Failure::Io)?;
    read_from(file, &path.display().to_string(), limit)
}

/// Reads a stream as text, stopping at the limit, the first NUL, or the first byte that
/// cannot be UTF-8.
pub fn read_from(
    mut reader: impl Read,
    source: &str,
    limit: Limit,
) -> std::result::Result<String, Failure> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    // Everything before `valid` is known to be complete UTF-8.
    let mut valid = 0usize;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Io(e)),
        };
        if bytes.len() + n > limit.bytes {
            return Err(Failure::Refused(too_large(source, limit)));
        }
        if let Some(at) = chunk[..n].iter().position(|b| *b == 0) {
            return Err(Failure::Refused(
                Error::invalid_input(format!(
                    "{source}: a NUL byte at offset {}: this is not text ({} expected)",
                    bytes.len() + at,
                    limit.what
                ))
                .with_hint("check the path: a binary file or a device such as /dev/zero was given"),
            ));
        }
        bytes.extend_from_slice(&chunk[..n]);
        match std::str::from_utf8(&bytes[valid..]) {
            Ok(_) => valid = bytes.len(),
            // An incomplete sequence at the end may complete with the next read.
            Err(e) if e.error_len().is_none() => valid += e.valid_up_to(),
            Err(e) => return Err(Failure::Refused(not_utf8(source, valid + e.valid_up_to()))),
        }
    }
    String::from_utf8(bytes)
        .map_err(|e| Failure::Refused(not_utf8(source, e.utf8_error().valid_up_to())))
}

fn too_large(source: &str, limit: Limit) -> Error {
    Error::invalid_input(format!(
        "{source}: more than {}, the limit for {} (docs/limits.md)",
        size_text(limit.bytes),
        limit.what
    ))
    .with_hint("check that the right file was given; real inputs are far smaller")
}

fn not_utf8(source: &str, offset: usize) -> Error {
    Error::invalid_input(format!("{source}: not UTF-8 text at byte offset {offset}"))
        .with_hint("give the text as psql, kubectl or migtag wrote it (UTF-8)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit {
        what: "a test input",
        bytes: 10,
    };

    fn refused(f: Failure) -> Error {
        f.or_io(|e| panic!("an I/O error: {e}"))
    }

    #[test]
    fn the_limit_is_enforced_while_streaming() {
        assert_eq!(
            read_from(&b"0123456789"[..], "x", SMALL).unwrap(),
            "0123456789"
        );
        let e = refused(read_from(std::io::repeat(b'y'), "x", SMALL).unwrap_err());
        assert!(e.message().contains("more than 10 bytes"), "{e}");
        assert_eq!(e.exit_code(), crate::ExitCode::InvalidInput);
    }

    #[test]
    fn nul_and_bad_utf8_are_refused_with_the_offset() {
        let e = refused(read_from(std::io::repeat(0), "x", INDEX).unwrap_err());
        assert!(e.message().contains("NUL byte at offset 0"), "{e}");
        let e = refused(read_from(&b"ok \xff"[..], "x", SMALL).unwrap_err());
        assert!(e.message().contains("offset 3"), "{e}");
        // A character split across reads is fine.
        let text = "é".repeat(3);
        let r = std::io::Read::chain(&text.as_bytes()[..1], &text.as_bytes()[1..]);
        assert_eq!(read_from(r, "x", SMALL).unwrap(), text);
        // Cut off inside a character at the end: refused.
        assert!(read_from(&"é".as_bytes()[..1], "x", SMALL).is_err());
    }

    /// docs/limits.md states every limit as it is here.
    #[test]
    fn the_documentation_states_every_limit() {
        let doc = include_str!("../../docs/limits.md");
        for l in ALL {
            let row = doc
                .lines()
                .find(|line| line.starts_with(&format!("| {} |", l.what)))
                .unwrap_or_else(|| panic!("docs/limits.md has no row for {}", l.what));
            assert!(
                row.contains(&format!("| {} |", size_text(l.bytes))),
                "{row}"
            );
        }
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(PSQL_PASTE.bytes), "64 KiB");
        assert_eq!(size_text(INDEX.bytes), "16 MiB");
        assert_eq!(size_text(10), "10 bytes");
    }
}
