//! Coder's real migration SQL, read for `index effects`: a `coder-sql.tar.gz` reference
//! tarball, the same tree unpacked in a folder, or a coder/coder clone's working tree.
//!
//! The tarball layout (`coder-sql/`): `migration-files.tsv` (file, version, name, direction,
//! blob, tag_count, first_tag, last_tag, tags), `migrations/<git blob>.sql` (every distinct
//! content of every file across release tags), `fixtures/NNNNNN_*.up.sql` (Coder's migration
//! test fixtures, inserted after migration NNNNNN). A clone gives one content per file (its
//! checked-out tree), `coderd/database/migrations/` and its `testdata/fixtures/`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::core::migration_set::Version;
use crate::error::{Error, Result};

/// One content of one migration file.
#[derive(Debug, Clone)]
pub struct FileContent {
    pub version: Version,
    pub name: String,
    pub up: bool,
    pub text: String,
    pub tag_count: u32,
    pub first_tag: String,
    pub last_tag: String,
    /// Every tag carrying this content (empty for a clone).
    pub tags: Vec<String>,
}

/// Everything the replay needs.
#[derive(Debug, Default)]
pub struct SqlSource {
    /// What was read, for the provenance (a file name, never a full path of the machine).
    pub label: String,
    /// Per version, every content of its `.up.sql` and `.down.sql`, newest last.
    pub files: BTreeMap<Version, Vec<FileContent>>,
    /// Fixtures by the migration they follow.
    pub fixtures: BTreeMap<Version, Vec<(String, String)>>,
}

impl FileContent {
    /// One of Coder's fixture files (rows inserted after migration `version`), runnable like a
    /// migration file.
    pub fn fixture(version: Version, name: &str, text: &str) -> FileContent {
        FileContent {
            version,
            name: name.to_string(),
            up: true,
            text: text.to_string(),
            tag_count: 0,
            first_tag: String::new(),
            last_tag: String::new(),
            tags: vec![],
        }
    }
}

impl SqlSource {
    /// Adds the files of another tag (from [`from_tag_files`]): a content this source holds
    /// already gains the tag, another content of the same file is added beside it (an older
    /// or newer content, as the tarball lists them).
    pub fn merge_tag(&mut self, other: SqlSource) {
        for (v, contents) in other.files {
            let mine = self.files.entry(v).or_default();
            for c in contents {
                match mine.iter_mut().find(|m| m.up == c.up && m.text == c.text) {
                    Some(m) => {
                        for t in c.tags {
                            if !m.tags.contains(&t) {
                                m.tags.push(t);
                            }
                        }
                    }
                    None => mine.push(c),
                }
            }
            for m in mine.iter_mut() {
                m.tags
                    .sort_by_key(|t| crate::core::index::parse_tag(t).ok());
                m.tag_count = m.tags.len() as u32;
                if let (Some(first), Some(last)) = (m.tags.first(), m.tags.last()) {
                    m.first_tag = first.clone();
                    m.last_tag = last.clone();
                }
            }
        }
    }

    /// The content of `v` in the newest tags (the main sequence replays it).
    pub fn newest(&self, v: Version, up: bool) -> Option<&FileContent> {
        self.files
            .get(&v)?
            .iter()
            .filter(|f| f.up == up)
            .max_by_key(|f| newest_key(f))
    }

    /// Older contents of `v`'s `.up.sql` than [`SqlSource::newest`].
    pub fn older_ups(&self, v: Version) -> Vec<&FileContent> {
        let Some(newest) = self.newest(v, true) else {
            return vec![];
        };
        let mut out: Vec<&FileContent> = self.files[&v]
            .iter()
            .filter(|f| f.up && !std::ptr::eq(*f, newest))
            .collect();
        out.sort_by_key(|f| newest_key(f));
        out
    }

    /// The content of `v`'s `.up.sql` shipped in `tag`.
    pub fn at_tag(&self, v: Version, tag: &str) -> Option<&FileContent> {
        self.files
            .get(&v)?
            .iter()
            .find(|f| f.up && f.tags.iter().any(|t| t == tag))
    }
}

fn newest_key(f: &FileContent) -> (Option<semver::Version>, u32) {
    (crate::core::index::parse_tag(&f.last_tag).ok(), f.tag_count)
}

/// Reads a tarball, a folder holding `migration-files.tsv` (or a `coder-sql/` with it), or a
/// clone of coder/coder.
pub fn load(path: &Path) -> Result<SqlSource> {
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if path.is_file() {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::invalid_input(format!("cannot open {}: {e}", path.display())))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let bad = |e: std::io::Error| {
            Error::invalid_input(format!("{} is not a readable .tar.gz: {e}", path.display()))
                .with_hint("pass the coder-sql.tar.gz reference tarball, its unpacked folder, or a coder/coder clone")
        };
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(bad)?;
            let name = name.strip_prefix("coder-sql/").unwrap_or(&name).to_string();
            entries.insert(name, data);
        }
    } else if path.join("coder-sql").join("migration-files.tsv").is_file() {
        read_dir_into(&path.join("coder-sql"), "", &mut entries)?;
    } else if path.join("migration-files.tsv").is_file() {
        read_dir_into(path, "", &mut entries)?;
    } else if path.join("coderd/database/migrations").is_dir() {
        return from_clone(path, label);
    } else {
        return Err(Error::invalid_input(format!(
            "{} holds neither migration-files.tsv nor coderd/database/migrations",
            path.display()
        ))
        .with_hint("pass the coder-sql.tar.gz reference tarball, its unpacked folder, or a coder/coder clone"));
    }
    from_entries(entries, label)
}

fn read_dir_into(root: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let dir = root.join(prefix);
    let rd = std::fs::read_dir(&dir)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", dir.display())))?;
    for e in rd.flatten() {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.path().is_dir() {
            read_dir_into(root, &format!("{name}/"), out)?;
        } else {
            let data = std::fs::read(e.path()).map_err(|err| {
                Error::invalid_input(format!("cannot read {}: {err}", e.path().display()))
            })?;
            out.insert(name, data);
        }
    }
    Ok(())
}

fn text(name: &str, data: &[u8]) -> Result<String> {
    String::from_utf8(data.to_vec())
        .map_err(|_| Error::invalid_input(format!("{name} is not UTF-8")))
}

fn from_entries(entries: BTreeMap<String, Vec<u8>>, label: String) -> Result<SqlSource> {
    let tsv = entries
        .get("migration-files.tsv")
        .ok_or_else(|| Error::invalid_input(format!("{label} has no migration-files.tsv")))?;
    let tsv = text("migration-files.tsv", tsv)?;
    let mut src = SqlSource {
        label,
        ..Default::default()
    };
    for (n, line) in tsv.lines().enumerate().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let bad = || {
            Error::invalid_input(format!(
                "migration-files.tsv line {}: expected 9 tab-separated columns",
                n + 1
            ))
        };
        if c.len() < 9 {
            return Err(bad());
        }
        let version: Version = c[1].parse().map_err(|_| bad())?;
        let blob = format!("migrations/{}.sql", c[4]);
        let data = entries.get(&blob).ok_or_else(|| {
            Error::invalid_input(format!(
                "migration-files.tsv names {blob}, which is not there"
            ))
        })?;
        src.files.entry(version).or_default().push(FileContent {
            version,
            name: c[2].to_string(),
            up: c[3] == "up",
            text: text(&blob, data)?,
            tag_count: c[5].parse().map_err(|_| bad())?,
            first_tag: c[6].to_string(),
            last_tag: c[7].to_string(),
            tags: c[8].split(',').map(str::to_string).collect(),
        });
    }
    for (name, data) in &entries {
        if let Some(file) = name.strip_prefix("fixtures/") {
            add_fixture(&mut src, file, text(name, data)?);
        }
    }
    Ok(src)
}

fn add_fixture(src: &mut SqlSource, file: &str, text: String) {
    if let Some(v) = file.get(..6).and_then(|d| d.parse::<Version>().ok()) {
        if file.ends_with(".up.sql") {
            src.fixtures
                .entry(v)
                .or_default()
                .push((file.to_string(), text));
        }
    }
}

fn from_clone(repo: &Path, label: String) -> Result<SqlSource> {
    let dir: PathBuf = repo.join("coderd/database/migrations");
    let mut entries = BTreeMap::new();
    read_dir_into(&dir, "", &mut entries)?;
    from_folder(entries, label, None)
}

/// One tag's migrations folder fetched from GitHub (paths relative to the folder, texts):
/// one content per file, as in a clone checked out at `tag`, each marked as shipped in it.
pub fn from_tag_files(files: Vec<(String, String)>, label: String, tag: &str) -> Result<SqlSource> {
    let entries = files
        .into_iter()
        .map(|(path, text)| (path, text.into_bytes()))
        .collect();
    from_folder(entries, label, Some(tag))
}

/// A migrations folder's files (relative path -> bytes): `NNNNNN_name.up.sql`/`.down.sql`
/// at its top, fixtures under `testdata/fixtures/`.
fn from_folder(
    entries: BTreeMap<String, Vec<u8>>,
    label: String,
    tag: Option<&str>,
) -> Result<SqlSource> {
    let mut src = SqlSource {
        label,
        ..Default::default()
    };
    let tags: Vec<String> = tag.map(str::to_string).into_iter().collect();
    for (name, data) in entries {
        if let Some(file) = name.strip_prefix("testdata/fixtures/") {
            add_fixture(&mut src, file, text(&name, &data)?);
            continue;
        }
        if name.contains('/') {
            continue;
        }
        let (stem, up) = match (name.strip_suffix(".up.sql"), name.strip_suffix(".down.sql")) {
            (Some(s), _) => (s, true),
            (_, Some(s)) => (s, false),
            _ => continue,
        };
        let Some((num, mname)) = stem.split_once('_') else {
            continue;
        };
        let Ok(version) = num.parse::<Version>() else {
            continue;
        };
        src.files.entry(version).or_default().push(FileContent {
            version,
            name: mname.to_string(),
            up,
            text: text(&name, &data)?,
            tag_count: tags.len() as u32,
            first_tag: tag.unwrap_or_default().to_string(),
            last_tag: tag.unwrap_or_default().to_string(),
            tags: tags.clone(),
        });
    }
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str, files: &[(&str, &str)]) -> SqlSource {
        let files = files
            .iter()
            .map(|(p, x)| (p.to_string(), x.to_string()))
            .collect();
        from_tag_files(files, format!("at {t}"), t).unwrap()
    }

    #[test]
    fn tags_merge_into_contents_with_their_tags() {
        let mut src = tag(
            "v2.38.0",
            &[
                ("000557_a.up.sql", "new;"),
                ("000557_a.down.sql", "down;"),
                ("testdata/fixtures/000557_a.up.sql", "INSERT;"),
            ],
        );
        src.merge_tag(tag("v2.37.1", &[("000557_a.up.sql", "new;")]));
        src.merge_tag(tag("v2.37.0", &[("000557_a.up.sql", "old;")]));
        let newest = src.newest(557, true).unwrap();
        assert_eq!(newest.text, "new;");
        assert_eq!(newest.tags, ["v2.37.1", "v2.38.0"]);
        assert_eq!(
            (newest.first_tag.as_str(), newest.tag_count),
            ("v2.37.1", 2)
        );
        let older = src.older_ups(557);
        assert_eq!(older.len(), 1);
        assert_eq!(
            (older[0].text.as_str(), older[0].last_tag.as_str()),
            ("old;", "v2.37.0")
        );
        assert_eq!(src.at_tag(557, "v2.37.0").unwrap().text, "old;");
        assert_eq!(src.newest(557, false).unwrap().text, "down;");
        assert_eq!(src.fixtures[&557].len(), 1);
    }
}
