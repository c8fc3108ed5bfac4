//! The release index: which tag ships which migrations, their names, and where those facts
//! came from. Parsing and writing the versioned JSON format lives here too, as pure functions
//! on strings; reading files is the caller's business.
//!
//! The on-disk format (`format_version: 1`) is written one release and one migration name a
//! line, so that a refresh shows up as a readable diff and the same facts always give the
//! same bytes.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::migration_set::{MigrationSet, Version};
use crate::error::{Error, Result};

/// Migration files are `NNNNNN_name.up.sql`: six digits. Anything larger in an index is
/// corrupt (and would make every per-migration list enormous).
pub const MAX_MIGRATION: Version = 999_999;

/// The only on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The project the index describes (Coder by default; forks may differ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// `owner/name` on GitHub.
    pub repo: String,
    /// Folder of the migration files inside the repository.
    pub migrations_path: String,
    /// Further folders, tried in order at tags where `migrations_path` does not exist (the
    /// first that exists wins): Coder's v0.1/v0.2 kept theirs in `database/migrations`.
    /// Omitted from the file when empty, so single-path indexes keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_migrations_paths: Vec<String>,
    /// Container image repository; a release's image is `image:tag`.
    pub image: String,
}

impl Project {
    pub fn coder() -> Self {
        Project {
            repo: "coder/coder".into(),
            migrations_path: "coderd/database/migrations".into(),
            fallback_migrations_paths: Vec::new(),
            image: "ghcr.io/coder/coder".into(),
        }
    }

    /// Every migrations folder, in the order they are tried at a tag.
    pub fn migrations_paths(&self) -> Vec<&str> {
        std::iter::once(self.migrations_path.as_str())
            .chain(self.fallback_migrations_paths.iter().map(String::as_str))
            .collect()
    }

    /// The folders for messages: `a` or `a (else b)`.
    pub fn describe_paths(&self) -> String {
        let mut text = self.migrations_path.clone();
        for p in &self.fallback_migrations_paths {
            text.push_str(&format!(" (else {p})"));
        }
        text
    }
}

/// Where the facts came from, and whether they claim to be complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// A short name of the source: `github`, `git`, `bundled`.
    pub source: String,
    /// What exactly the source was (an API URL, a clone path, a reference table).
    pub detail: String,
    /// When the facts were gathered (RFC 3339 or a date).
    pub generated_at: String,
    /// Whether the index claims to hold every release of the project.
    pub complete: bool,
}

/// One release tag and the exact set of migrations in its tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub prerelease: bool,
    pub max_migration: Version,
    pub migrations: MigrationSet,
    /// Parsed from `tag` on load; never serialised.
    #[serde(skip)]
    version: Option<semver::Version>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Release {
    /// Builds a release, computing `max_migration` and `prerelease` from the set and the tag.
    pub fn new(tag: &str, migrations: MigrationSet) -> Result<Self> {
        let version = parse_tag(tag)?;
        Ok(Release {
            tag: tag.to_string(),
            commit: None,
            date: None,
            prerelease: !version.pre.is_empty(),
            max_migration: migrations.max().unwrap_or(0),
            migrations,
            version: Some(version),
        })
    }

    pub fn with_commit(mut self, commit: impl Into<String>) -> Self {
        self.commit = Some(commit.into());
        self
    }

    pub fn with_date(mut self, date: impl Into<String>) -> Self {
        self.date = Some(date.into());
        self
    }

    /// The semantic version of the tag (validated on load, so always present).
    pub fn version(&self) -> &semver::Version {
        self.version
            .as_ref()
            .expect("releases are only built through Release::new or Index::from_json")
    }

    /// The release line, `(major, minor)`: patches of one line share a release branch.
    pub fn line(&self) -> (u64, u64) {
        let v = self.version();
        (v.major, v.minor)
    }

    pub fn contains(&self, v: Version) -> bool {
        self.migrations.contains(v)
    }
}

/// Parses a release tag `vMAJOR.MINOR.PATCH[-PRE]`; the `v` may be left out (`2.36.0`, as
/// Helm's appVersion writes it). Tags that are not versions are refused.
pub fn parse_tag(tag: &str) -> Result<semver::Version> {
    let rest = tag.strip_prefix('v').unwrap_or(tag);
    let version = semver::Version::parse(rest).map_err(|e| {
        Error::invalid_input(format!(
            "tag `{tag}` is not a release tag ({e}): expected vMAJOR.MINOR.PATCH, such as v2.3.1"
        ))
    })?;
    if !version.build.is_empty() {
        return Err(Error::invalid_input(format!(
            "tag `{tag}` carries build metadata, which release tags never do"
        )));
    }
    Ok(version)
}

/// The tag as Coder writes it (`2.36.0` -> `v2.36.0`); text that is not a tag is returned
/// unchanged, for [`parse_tag`] to refuse where it is used.
pub fn canonical_tag(tag: &str) -> String {
    match parse_tag(tag) {
        Ok(v) if !tag.starts_with('v') => format!("v{v}"),
        _ => tag.to_string(),
    }
}

/// The whole index: project, provenance, releases in semver order, and migration names.
#[derive(Debug, Clone)]
pub struct Index {
    pub project: Project,
    pub provenance: Provenance,
    /// Where this copy was loaded from (`--index` file, cache, bundled), set by the loader;
    /// never serialised, never compared.
    pub loaded_from: Option<String>,
    /// What the loader has to say about this copy (a damaged cache it replaced, its age);
    /// every report carries these in its `warnings`. Never serialised, never compared.
    pub notices: Vec<String>,
    /// Whole days since `generated_at`, when the loader knows the time. Never serialised.
    pub age_days: Option<i64>,
    releases: Vec<Release>,
    names: BTreeMap<Version, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    format_version: u32,
    project: Project,
    provenance: Provenance,
    releases: Vec<Release>,
    #[serde(default)]
    migrations: BTreeMap<String, String>,
}

impl Index {
    /// Builds an index from parts, validating it exactly like a file on load.
    pub fn new(
        project: Project,
        provenance: Provenance,
        releases: Vec<Release>,
        names: BTreeMap<Version, String>,
    ) -> Result<Self> {
        let mut index = Index {
            project,
            provenance,
            loaded_from: None,
            notices: Vec::new(),
            age_days: None,
            releases,
            names,
        };
        index.validate()?;
        Ok(index)
    }

    /// Parses and validates the on-disk JSON format.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::invalid_input("the index is empty"));
        }
        // Read the version first, so that a newer format gets a precise message rather than
        // a complaint about some field this build has never heard of.
        #[derive(Deserialize)]
        struct Probe {
            format_version: Option<u32>,
        }
        let probe: Probe = serde_json::from_str(text).map_err(json_error)?;
        match probe.format_version {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(Error::invalid_input(format!(
                    "index format version {other} is not supported; this migtag reads version {FORMAT_VERSION}"
                ))
                .with_hint("upgrade migtag, or rebuild the index with this one (`migtag index update`)"))
            }
            None => {
                return Err(Error::invalid_input(
                    "not a migtag index: the field `format_version` is missing",
                ))
            }
        }
        let file: IndexFile = serde_json::from_str(text).map_err(json_error)?;
        let mut names = BTreeMap::new();
        for (key, name) in file.migrations {
            let v: Version = key.parse().map_err(|_| {
                Error::invalid_input(format!(
                    "migration name key `{key}` is not a migration number"
                ))
            })?;
            names.insert(v, name);
        }
        Index::new(file.project, file.provenance, file.releases, names)
    }

    fn validate(&mut self) -> Result<()> {
        let mut seen = HashSet::new();
        for r in &mut self.releases {
            let version = parse_tag(&r.tag)?;
            if !seen.insert(r.tag.clone()) {
                return Err(Error::invalid_input(format!(
                    "tag {} appears twice in the index",
                    r.tag
                )));
            }
            if let Some(date) = &r.date {
                if !is_date(date) {
                    return Err(Error::invalid_input(format!(
                        "release {}: date `{}` is not a date (RFC 3339, or YYYY-MM-DD)",
                        r.tag,
                        date.chars().take(40).collect::<String>()
                    )));
                }
            }
            let expected_max = r.migrations.max().unwrap_or(0);
            if r.max_migration != expected_max {
                return Err(Error::invalid_input(format!(
                    "release {}: max_migration is {} but its migrations `{}` end at {}",
                    r.tag, r.max_migration, r.migrations, expected_max
                )));
            }
            if r.max_migration > MAX_MIGRATION {
                return Err(Error::invalid_input(format!(
                    "release {}: migration {} is out of range: migration files are numbered with six digits (at most {MAX_MIGRATION})",
                    r.tag, r.max_migration
                )));
            }
            if r.migrations.min() == Some(0) {
                return Err(Error::invalid_input(format!(
                    "release {}: migration 0 does not exist (golang-migrate numbers start at 1)",
                    r.tag
                )));
            }
            if r.prerelease == version.pre.is_empty() {
                return Err(Error::invalid_input(format!(
                    "release {}: prerelease is {} but the tag says otherwise",
                    r.tag, r.prerelease
                )));
            }
            if let Some(commit) = &r.commit {
                if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::invalid_input(format!(
                        "release {}: commit `{commit}` is not a 40-digit hex SHA",
                        r.tag
                    )));
                }
            }
            r.version = Some(version);
        }
        for (v, name) in &self.names {
            if *v == 0 || name.is_empty() || name.chars().any(|c| c.is_control()) {
                return Err(Error::invalid_input(format!(
                    "migration {v}: name `{}` is empty or not printable",
                    name.escape_debug()
                )));
            }
        }
        if let Err(e) = super::image_ref::ImageRef::parse_repository(&self.project.image) {
            return Err(Error::invalid_input(format!(
                "project.image is not an image repository: {}",
                e.message()
            )));
        }
        if self
            .names
            .keys()
            .next_back()
            .is_some_and(|v| *v > MAX_MIGRATION)
        {
            return Err(Error::invalid_input(format!(
                "a migration name is keyed above {MAX_MIGRATION}: migration files are numbered with six digits"
            )));
        }
        for (field, value) in [
            ("project.repo", &self.project.repo),
            ("project.migrations_path", &self.project.migrations_path),
            ("project.image", &self.project.image),
            ("provenance.source", &self.provenance.source),
            ("provenance.generated_at", &self.provenance.generated_at),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid_input(format!("{field} is empty")));
            }
        }
        if self
            .project
            .fallback_migrations_paths
            .iter()
            .any(|p| p.trim().is_empty())
        {
            return Err(Error::invalid_input(
                "project.fallback_migrations_paths holds an empty path",
            ));
        }
        self.releases.sort_by(|a, b| a.version().cmp(b.version()));
        Ok(())
    }

    /// Writes the canonical JSON form: same facts, same bytes.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        out.push_str("{\n");
        let _ = writeln!(out, "  \"format_version\": {FORMAT_VERSION},");
        let _ = writeln!(out, "  \"project\": {},", j(&self.project));
        let _ = writeln!(out, "  \"provenance\": {},", j(&self.provenance));
        out.push_str("  \"releases\": [");
        for (i, r) in self.releases.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            out.push_str(&j(r));
        }
        out.push_str(if self.releases.is_empty() {
            "],\n"
        } else {
            "\n  ],\n"
        });
        out.push_str("  \"migrations\": {");
        for (i, (v, name)) in self.names.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            let _ = write!(out, "\"{v}\": {}", j(name));
        }
        out.push_str(if self.names.is_empty() {
            "}\n"
        } else {
            "\n  }\n"
        });
        out.push_str("}\n");
        out
    }

    /// Releases in ascending semver order.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// The release of `tag`, written with or without its `v` (`2.36.0` finds `v2.36.0`).
    pub fn release(&self, tag: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.tag == tag).or_else(|| {
            let canonical = canonical_tag(tag);
            self.releases.iter().find(|r| r.tag == canonical)
        })
    }

    pub fn names(&self) -> &BTreeMap<Version, String> {
        &self.names
    }

    pub fn name(&self, v: Version) -> Option<&str> {
        self.names.get(&v).map(String::as_str)
    }

    /// The full image reference of a tag.
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{}", self.project.image, tag)
    }

    /// The highest migration any release in the index ships.
    pub fn max_known_migration(&self) -> Option<Version> {
        self.releases.iter().map(|r| r.max_migration).max()
    }

    /// The newest final (non-prerelease) release by semver.
    pub fn newest_final(&self) -> Option<&Release> {
        self.releases.iter().rev().find(|r| !r.prerelease)
    }

    /// The newest tag date in the index, as stored.
    pub fn newest_date(&self) -> Option<&str> {
        self.releases
            .iter()
            .filter_map(|r| r.date.as_deref())
            .max_by(|a, b| {
                // Dates carry offsets (`-05:00`); compare as instants where they parse.
                let pa =
                    time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339);
                let pb =
                    time::OffsetDateTime::parse(b, &time::format_description::well_known::Rfc3339);
                match (pa, pb) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => a.cmp(b),
                }
            })
    }
}

fn json_error(e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "the index ends early (truncated file?)",
        Category::Syntax => "the index is not valid JSON",
        Category::Data => "the index does not have the expected fields",
        Category::Io => "the index could not be read",
    };
    Error::invalid_input(format!(
        "{what}: {e} (line {}, column {})",
        e.line(),
        e.column()
    ))
    .with_hint("pass a valid file with --index, or rebuild one with `migtag index update` or `migtag index build`")
}

/// Two indexes are equal when their facts are: where each copy was loaded from does not count.
impl PartialEq for Index {
    fn eq(&self, other: &Self) -> bool {
        self.project == other.project
            && self.provenance == other.provenance
            && self.releases == other.releases
            && self.names == other.names
    }
}

impl Eq for Index {}

/// One value of the canonical writer on one line.
fn j<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("index values always serialise")
}

/// An RFC 3339 time or a `YYYY-MM-DD` day, as index dates are written.
pub fn is_date(text: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339).is_ok()
        || time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_without_v_are_accepted_and_find_their_release() {
        assert_eq!(parse_tag("2.36.0").unwrap(), parse_tag("v2.36.0").unwrap());
        assert_eq!(canonical_tag("2.34.0-rc.0"), "v2.34.0-rc.0");
        assert_eq!(canonical_tag("v2.3.1"), "v2.3.1");
        assert_eq!(canonical_tag("latest"), "latest");
        assert!(parse_tag("latest").is_err());
        assert!(parse_tag("2.3").is_err());
        let index = sample();
        assert_eq!(index.release("1.1.0").unwrap().tag, "v1.1.0");
        assert!(index.release("1.9.9").is_none());
    }

    fn sample() -> Index {
        let releases = vec![
            Release::new("v1.1.0", MigrationSet::parse("1-5").unwrap()).unwrap(),
            Release::new("v1.0.0", MigrationSet::parse("1-3").unwrap())
                .unwrap()
                .with_commit("b23a58c8fe12398abc74963c4661ac4b9211feb6")
                .with_date("2022-03-11T20:30:12Z"),
            Release::new("v1.2.0-rc.0", MigrationSet::parse("1-4,6").unwrap()).unwrap(),
        ];
        let names = BTreeMap::from([(1, "base".to_string()), (2, "two".to_string())]);
        let provenance = Provenance {
            source: "test".into(),
            detail: "unit test".into(),
            generated_at: "2026-01-01".into(),
            complete: true,
        };
        Index::new(Project::coder(), provenance, releases, names).unwrap()
    }

    #[test]
    fn json_round_trips_to_the_same_bytes_in_semver_order() {
        let index = sample();
        let text = index.to_json();
        let again = Index::from_json(&text).unwrap();
        assert_eq!(again, index);
        assert_eq!(again.to_json(), text);
        let tags: Vec<_> = again.releases().iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(tags, ["v1.0.0", "v1.1.0", "v1.2.0-rc.0"]);
        assert!(again.release("v1.2.0-rc.0").unwrap().prerelease);
    }

    #[test]
    fn inconsistent_indexes_are_rejected_with_what_is_wrong() {
        let good = sample().to_json();
        let cases = [
            (
                good.replace("\"format_version\": 1", "\"format_version\": 2"),
                "format version 2",
            ),
            (good.replace("v1.1.0", "v1.0.0"), "appears twice"),
            (
                good.replace("\"v1.1.0\"", "\"release-1\""),
                "not a release tag",
            ),
            (
                good.replace("\"max_migration\":5", "\"max_migration\":6"),
                "max_migration is 6",
            ),
            (good[..good.len() / 2].to_string(), "ends early"),
            (good.replace("\"base\"", "\"\""), "empty or not printable"),
            ("{}".to_string(), "format_version"),
            ("".to_string(), "empty"),
            (good.replace("b23a58c8", "zzzzzzzz"), "40-digit hex"),
        ];
        for (text, expected) in cases {
            let err = Index::from_json(&text).expect_err(expected);
            assert!(
                err.to_string().contains(expected),
                "expected `{expected}` in `{err}`"
            );
            assert_eq!(err.exit_code(), crate::error::ExitCode::InvalidInput);
        }
    }
}
