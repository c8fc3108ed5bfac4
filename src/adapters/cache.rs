//! The user's cache folder (`$XDG_CACHE_HOME/migtag`, else `~/.cache/migtag` on Linux,
//! `dirs::cache_dir()` elsewhere): the index fetched by `index update` or built by
//! `index build`, and what the GitHub adapter remembers between runs (ETags, commits, trees).
//!
//! Also the blob store (`blobs/ab/cdef...`): migration files fetched from GitHub, each
//! under its git blob SHA, verified against it when written and when read, so a file is
//! fetched once and never trusted when damaged. And `effects.json`: the effects extended by
//! `index update --effects` beyond the bundled ones.
//!
//! Every write goes through a temporary file in the same folder and a rename, so a reader
//! sees the old file or the new one, never half of one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::core::index::Index;
use crate::error::{Error, Result};

/// The cache folder of migtag, or `None` when the platform has no cache dir (no HOME).
pub fn root() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("migtag"))
}

/// Where the fetched or built index lives.
pub fn index_path() -> Option<PathBuf> {
    root().map(|r| r.join("index.json"))
}

/// The cache folder, or an error that says how to get one.
pub fn require_root() -> Result<PathBuf> {
    root().ok_or_else(|| {
        Error::usage("no cache folder: neither XDG_CACHE_HOME nor HOME is set")
            .with_hint("set HOME or XDG_CACHE_HOME, or write the index elsewhere with --out FILE")
    })
}

/// The cached index, if there is one. A cache file that does not parse is an error that
/// names the file, so that it is never silently ignored.
pub fn load_index() -> Option<Result<(Index, PathBuf)>> {
    let path = index_path()?;
    let text = match super::bounded::read_path(&path, super::bounded::INDEX) {
        Ok(t) => t,
        Err(super::bounded::Failure::Refused(e)) => {
            return Some(Err(e.with_hint(
                "delete that file to fall back to the bundled index, or rebuild it with `migtag index update`",
            )))
        }
        Err(super::bounded::Failure::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return None
        }
        Err(super::bounded::Failure::Io(e)) => {
            return Some(Err(Error::invalid_input(format!(
                "cannot read the cached index {}: {e}",
                path.display()
            ))))
        }
    };
    Some(
        Index::from_json(&text)
            .map(|index| (index, path.clone()))
            .map_err(|e| {
                e.context(format!("cached index {}", path.display())).with_hint(
                    "delete that file to fall back to the bundled index, or rebuild it with `migtag index update`",
                )
            }),
    )
}

/// Reads a file of the cache folder (`None` when absent or unreadable: a cache may vanish).
pub fn read(name: &str) -> Option<String> {
    super::bounded::read_path(&root()?.join(name), super::bounded::INDEX).ok()
}

/// Writes a file of the cache folder atomically.
pub fn write(name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = require_root()?.join(name);
    write_atomically(&path, bytes)?;
    Ok(path)
}

/// Git's blob SHA of `content`: SHA-1 of `blob <len>\0` followed by the content.
pub fn git_blob_sha(content: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(format!("blob {}\0", content.len()).as_bytes());
    ctx.update(content);
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the blob `sha` (40 lowercase hex digits) is kept; `None` without a cache folder or
/// for a name that is not a SHA.
pub fn blob_path(sha: &str) -> Option<PathBuf> {
    if !crate::core::upstream::is_sha(sha) || sha.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(root()?.join("blobs").join(&sha[..2]).join(&sha[2..]))
}

/// The cached text of blob `sha`, read within [`super::bounded::MIGRATION_FILE`] and checked
/// against the SHA; `None` when absent, unreadable or damaged (then it is fetched again).
pub fn read_blob(sha: &str) -> Option<String> {
    let path = blob_path(sha)?;
    let text = super::bounded::read_path(&path, super::bounded::MIGRATION_FILE).ok()?;
    (git_blob_sha(text.as_bytes()) == sha).then_some(text)
}

/// Stores a blob under its SHA, after checking that `content` is that blob.
pub fn write_blob(sha: &str, content: &str) -> Result<PathBuf> {
    if git_blob_sha(content.as_bytes()) != sha {
        return Err(Error::upstream(format!(
            "blob {sha}: the content does not hash to its SHA; not stored"
        )));
    }
    let path = blob_path(sha).ok_or_else(|| {
        require_root()
            .err()
            .unwrap_or_else(|| Error::internal(format!("`{sha}` is not a blob SHA")))
    })?;
    write_atomically(&path, content.as_bytes())?;
    Ok(path)
}

/// Where `index update --effects` keeps the extended effects.
pub fn effects_path() -> Option<PathBuf> {
    root().map(|r| r.join("effects.json"))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// that readers never see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| {
        Error::new(
            crate::ErrorKind::Write,
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("index.json");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/index.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["index.json"]);
    }

    #[test]
    fn blob_shas_are_git_s() {
        // `printf 'hello\n' | git hash-object --stdin`, and the empty blob.
        assert_eq!(
            git_blob_sha(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            git_blob_sha(b""),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        write_atomically(&path, b"old").unwrap();
        // Renaming onto a non-empty folder fails: the old content must survive.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        assert!(write_atomically(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
