//! The user's cache folder (`$XDG_CACHE_HOME/migtag`, else `~/.cache/migtag` on Linux,
//! `dirs::cache_dir()` elsewhere): the index fetched by `index update` or built by
//! `index build`, and what the GitHub adapter remembers between runs (ETags, commits, trees).
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
