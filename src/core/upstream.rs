//! What an upstream source (GitHub or a git clone) saw at each tag, and how those
//! observations become an [`Index`]. Pure: the adapters gather file paths, commits and dates;
//! everything that decides what counts as a migration, which tags count as releases and which
//! name a migration gets lives here, so that both sources give the same index for the same
//! repository content.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::index::{parse_tag, Index, Project, Provenance, Release};
use super::migration_set::{MigrationSet, Version};
use crate::error::{Error, Result};

/// golang-migrate's file naming as Coder uses it: six ASCII digits, a name, up or down.
/// `[0-9]`, not `\d`: the regex crate's `\d` also matches other scripts' digits.
fn migration_file() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^([0-9]{6})_(.+)\.(up|down)\.sql$").expect("the pattern is valid")
    })
}

/// The folder holding test fixtures named like migrations; never migrations themselves.
pub const FIXTURE_DIR: &str = "testdata";

/// True when a path (relative to the migrations folder) lies under a `testdata/` folder.
pub fn is_fixture(path: &str) -> bool {
    path.split('/').any(|part| part == FIXTURE_DIR)
}

/// The migrations found in one migrations folder (its files, sub-folders included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderMigrations {
    /// Migration version -> name (from the `.up.sql` file when there is one).
    pub names: BTreeMap<Version, String>,
    /// `.sql` files that do not follow the naming, relative to the migrations folder.
    pub skipped: Vec<String>,
}

impl FolderMigrations {
    pub fn set(&self) -> MigrationSet {
        self.names.keys().copied().collect()
    }
}

/// Reads migration files from paths relative to the migrations folder. Fixtures under
/// `testdata/` are excluded; files that are not `.sql` (Go code, READMEs) are ignored; `.sql`
/// files that do not match `NNNNNN_name.(up|down).sql` are reported in `skipped`.
pub fn migrations_from_paths<'a, I: IntoIterator<Item = &'a str>>(paths: I) -> FolderMigrations {
    // version -> (name of the up file, names of down files)
    let mut ups: BTreeMap<Version, BTreeSet<String>> = BTreeMap::new();
    let mut downs: BTreeMap<Version, BTreeSet<String>> = BTreeMap::new();
    let mut skipped = BTreeSet::new();
    for path in paths {
        if is_fixture(path) {
            continue;
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        if !file.ends_with(".sql") {
            continue;
        }
        let Some(caps) = migration_file().captures(file) else {
            skipped.insert(path.to_string());
            continue;
        };
        let Ok(version) = caps[1].parse::<Version>() else {
            skipped.insert(path.to_string());
            continue;
        };
        let name = caps[2].to_string();
        if version == 0 || name.chars().any(char::is_control) {
            skipped.insert(path.to_string());
            continue;
        }
        let side = if &caps[3] == "up" {
            &mut ups
        } else {
            &mut downs
        };
        side.entry(version).or_default().insert(name);
    }
    let mut names = BTreeMap::new();
    for (version, down_names) in downs {
        names.insert(version, first(&down_names));
    }
    // The up file names the migration when both exist; the smallest name wins a tie so that
    // the answer never depends on listing order.
    for (version, up_names) in ups {
        names.insert(version, first(&up_names));
    }
    FolderMigrations {
        names,
        skipped: skipped.into_iter().collect(),
    }
}

fn first(names: &BTreeSet<String>) -> String {
    names.iter().next().cloned().unwrap_or_default()
}

/// One tag as a source saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSnapshot {
    pub tag: String,
    /// The commit the tag points at (peeled), 40 hex digits.
    pub commit: String,
    /// The commit's committer date, RFC 3339 (any offset; normalised to UTC here).
    pub date: String,
    /// The migrations folder at that commit; `None` when the folder does not exist there.
    pub migrations: Option<FolderMigrations>,
}

/// Splits tag names into release tags and the rest (`rm`, `list`, `nightly`...), which are
/// skipped with a note and never reach a command line.
pub fn release_tags<'a, I: IntoIterator<Item = &'a str>>(tags: I) -> (Vec<String>, Vec<String>) {
    let mut releases = Vec::new();
    let mut others = Vec::new();
    for tag in tags {
        // Release tags in a repository carry the `v` (Coder's do): `2.3.0` there is another
        // tag. Users may leave the `v` out (`parse_tag`); a repository's names are kept as-is.
        if tag.starts_with('v') && parse_tag(tag).is_ok() {
            releases.push(tag.to_string());
        } else {
            others.push(tag.to_string());
        }
    }
    (releases, others)
}

/// A commit date in one spelling: UTC, seconds, `Z` (`git log %cI` keeps the committer's
/// offset, GitHub answers in UTC; the same instant must give the same bytes).
pub fn normalise_date(date: &str) -> Result<String> {
    let parsed = OffsetDateTime::parse(date.trim(), &Rfc3339)
        .map_err(|e| Error::upstream(format!("commit date `{date}` is not RFC 3339: {e}")))?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

/// Checks a migrations path (`coderd/database/migrations`): relative, plain folder names
/// only, so that it is safe in a URL and as a git pathspec.
pub fn validate_migrations_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.starts_with('-')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--migrations-path `{}` is not a relative folder path such as coderd/database/migrations",
            path.escape_debug()
        )))
    }
}

/// Checks `owner/name` as GitHub spells repositories.
pub fn validate_repo(repo: &str) -> Result<()> {
    let ok = repo.split_once('/').is_some_and(|(owner, name)| {
        [owner, name].iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--repo `{}` is not owner/name, such as coder/coder",
            repo.escape_debug()
        )))
    }
}

/// True when `text` is a full, lowercase or uppercase, 40-digit hex object name.
pub fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What an existing index already says, in the form a refresh can reuse instead of asking
/// upstream again.
///
/// Content is keyed by commit: a commit SHA fixes every folder at that commit, so a release's
/// migration set and names hold for any tag on the same commit. Dates are keyed by (tag,
/// commit): the bundled tables record each tag's own date (two tags on one commit carry two
/// dates), so a date is only reused for the same tag still at the same commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownFacts {
    /// Commit SHA (lowercase) -> the migrations at that commit.
    pub folders: BTreeMap<String, FolderMigrations>,
    /// (tag, commit SHA) -> the release date recorded for that tag, normalised to UTC.
    pub dates: BTreeMap<(String, String), String>,
}

impl KnownFacts {
    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }
}

/// The facts of `index` that can stand in for fetching. A release counts when it has a commit
/// and a name for every migration of its set; a commit that two releases describe with
/// different sets is left out (the index contradicts itself, so neither is trusted). The
/// caller checks that the index is of the same repository and read the same folders.
pub fn known_facts(index: &Index) -> KnownFacts {
    let mut known = KnownFacts::default();
    let mut contradicted = BTreeSet::new();
    for r in index.releases() {
        let Some(commit) = &r.commit else {
            continue;
        };
        let names: Option<BTreeMap<Version, String>> = r
            .migrations
            .iter()
            .map(|v| index.name(v).map(|n| (v, n.to_string())))
            .collect();
        let Some(names) = names else {
            continue;
        };
        let commit = commit.to_ascii_lowercase();
        let folder = FolderMigrations {
            names,
            skipped: Vec::new(),
        };
        match known.folders.get(&commit) {
            Some(seen) if *seen != folder => {
                contradicted.insert(commit.clone());
            }
            Some(_) => {}
            None => {
                known.folders.insert(commit.clone(), folder);
            }
        }
        if let Some(date) = r.date.as_deref().and_then(|d| normalise_date(d).ok()) {
            known.dates.insert((r.tag.clone(), commit), date);
        }
    }
    for c in &contradicted {
        known.folders.remove(c);
    }
    known.dates.retain(|(_, c), _| !contradicted.contains(c));
    known
}

/// Turns the snapshots into an index. Tags without the migrations folder, or with no
/// migration in it, are left out with a note. A migration's name comes from the newest tag
/// (by semver) that ships it, so a later rename wins and the order of snapshots is irrelevant.
/// Returns the index and the notes (skipped tags and files), sorted and deduplicated.
pub fn assemble(
    project: Project,
    provenance: Provenance,
    snapshots: &[TagSnapshot],
) -> Result<(Index, Vec<String>)> {
    let mut notes = BTreeSet::new();
    let mut ordered: Vec<(semver::Version, &TagSnapshot)> = Vec::new();
    for s in snapshots {
        match parse_tag(&s.tag) {
            Ok(v) => ordered.push((v, s)),
            Err(_) => {
                notes.insert(format!(
                    "tag `{}` is not a release tag; skipped",
                    s.tag.escape_debug()
                ));
            }
        }
    }
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    let mut releases = Vec::new();
    let mut names = BTreeMap::new();
    for (_, s) in ordered {
        let Some(folder) = &s.migrations else {
            notes.insert(format!(
                "{}: no {} folder at this tag (older layout); skipped",
                s.tag,
                project.migrations_paths().join(" or ")
            ));
            continue;
        };
        for path in &folder.skipped {
            notes.insert(format!(
                "file `{}` in {} does not look like NNNNNN_name.up.sql or .down.sql; skipped",
                path.escape_debug(),
                project.migrations_path
            ));
        }
        if folder.names.is_empty() {
            notes.insert(format!(
                "{}: {} holds no migration files; skipped",
                s.tag, project.migrations_path
            ));
            continue;
        }
        if !is_sha(&s.commit) {
            return Err(Error::upstream(format!(
                "tag {}: commit `{}` is not a 40-digit hex SHA",
                s.tag,
                s.commit.escape_debug()
            )));
        }
        let release = Release::new(&s.tag, folder.set())?
            .with_commit(s.commit.to_ascii_lowercase())
            .with_date(normalise_date(&s.date)?);
        releases.push(release);
        for (v, name) in &folder.names {
            names.insert(*v, name.clone());
        }
    }
    if releases.is_empty() {
        return Err(Error::upstream(format!(
            "no release tag of {} has migrations under {}",
            project.repo,
            project.migrations_paths().join(" or ")
        ))
        .with_hint("check --repo and --migrations-path"));
    }
    let index = Index::new(project, provenance, releases, names)?;
    Ok((index, notes.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `\d` in the regex crate is Unicode-aware: a file named with Arabic-Indic digits from a
    /// clone or fork matched, then failed to parse as a number and panicked. Only ASCII
    /// digits name a migration.
    #[test]
    fn unicode_digits_do_not_name_a_migration() {
        let found = migrations_from_paths([
            "\u{661}\u{662}\u{663}\u{664}\u{665}\u{666}_x.up.sql",
            "000001_a.up.sql",
        ]);
        assert_eq!(found.set().iter().collect::<Vec<_>>(), vec![1]);
        assert_eq!(found.skipped.len(), 1);
    }

    fn provenance() -> Provenance {
        Provenance {
            source: "test".into(),
            detail: "unit test".into(),
            generated_at: "2026-01-01T00:00:00Z".into(),
            complete: true,
        }
    }

    #[test]
    fn files_become_migrations_and_fixtures_and_strays_do_not() {
        let m = migrations_from_paths([
            "000001_init.up.sql",
            "000001_init.down.sql",
            "000002_two.down.sql",
            "000003_three.up.sql",
            "000003_three_renamed.down.sql",
            "000101-000200/000101_in_range.up.sql",
            "testdata/fixtures/000004_fixture.up.sql",
            "testdata/full_dumps/v0.8.15/000049_dump_v0.8.15.up.sql",
            "migrate.go",
            "README.md",
            "notes.sql",
            "1_short.up.sql",
            "000000_zero.up.sql",
        ]);
        assert_eq!(m.set().to_string(), "1-3,101");
        assert_eq!(m.names[&3], "three", "the up file names the migration");
        assert_eq!(m.names[&2], "two", "a lone down file still counts");
        assert_eq!(m.names[&101], "in_range");
        assert_eq!(
            m.skipped,
            ["000000_zero.up.sql", "1_short.up.sql", "notes.sql"]
        );
    }

    #[test]
    fn tags_that_are_not_versions_are_set_apart() {
        let (rel, other) = release_tags([
            "v2.3.1",
            "rm",
            "list",
            "v2.34.0-rc.0",
            "2.3.0",
            "v1.0.0+build",
        ]);
        assert_eq!(rel, ["v2.3.1", "v2.34.0-rc.0"]);
        assert_eq!(other, ["rm", "list", "2.3.0", "v1.0.0+build"]);
    }

    #[test]
    fn paths_and_repos_are_validated() {
        for ok in ["coderd/database/migrations", "migrations", "a-b/c_d/e.f"] {
            validate_migrations_path(ok).unwrap();
        }
        for bad in [
            "", "/abs", "a//b", "../up", "a/../b", "-rf", "a b", "a/", "x;rm",
        ] {
            assert!(validate_migrations_path(bad).is_err(), "{bad}");
        }
        validate_repo("coder/coder").unwrap();
        for bad in [
            "coder", "coder/", "/coder", "a/b/c", "../x", "a/b c", "a/b?x=1",
        ] {
            assert!(validate_repo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_normalise_to_utc() {
        assert_eq!(
            normalise_date("2023-11-02T15:04:05-05:00").unwrap(),
            "2023-11-02T20:04:05Z"
        );
        assert_eq!(
            normalise_date("2023-11-02T20:04:05Z").unwrap(),
            "2023-11-02T20:04:05Z"
        );
        assert!(normalise_date("yesterday").is_err());
    }

    #[test]
    fn assemble_skips_tags_without_the_folder_and_names_from_the_newest_tag() {
        let folder = |paths: &[&str]| Some(migrations_from_paths(paths.iter().copied()));
        let sha = |c: char| c.to_string().repeat(40);
        let snaps = vec![
            TagSnapshot {
                tag: "v1.1.0".into(),
                commit: sha('b'),
                date: "2024-02-01T00:00:00+01:00".into(),
                migrations: folder(&["000001_init.up.sql", "000002_renamed.up.sql"]),
            },
            TagSnapshot {
                tag: "v1.0.0".into(),
                commit: sha('a'),
                date: "2024-01-01T00:00:00Z".into(),
                migrations: folder(&["000001_init.up.sql", "000002_old.up.sql"]),
            },
            TagSnapshot {
                tag: "v0.1.0".into(),
                commit: sha('c'),
                date: "2023-01-01T00:00:00Z".into(),
                migrations: None,
            },
        ];
        let (index, notes) = assemble(Project::coder(), provenance(), &snaps).unwrap();
        let tags: Vec<_> = index.releases().iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(tags, ["v1.0.0", "v1.1.0"]);
        assert_eq!(index.name(2), Some("renamed"));
        assert_eq!(
            index.release("v1.1.0").unwrap().date.as_deref(),
            Some("2024-01-31T23:00:00Z")
        );
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("v0.1.0: no coderd/database/migrations folder"),
            "{notes:?}"
        );
        let mut reversed = snaps.clone();
        reversed.reverse();
        let (again, _) = assemble(Project::coder(), provenance(), &reversed).unwrap();
        assert_eq!(
            again.to_json(),
            index.to_json(),
            "snapshot order does not matter"
        );
    }

    #[test]
    fn known_facts_key_content_by_commit_and_dates_by_tag_and_commit() {
        let sha = |c: char| c.to_string().repeat(40);
        let release = |tag: &str, commit: char, set: &str, date: &str| {
            Release::new(tag, MigrationSet::parse(set).unwrap())
                .unwrap()
                .with_commit(sha(commit))
                .with_date(date)
        };
        let names: BTreeMap<Version, String> = (1..=4).map(|v| (v, format!("m{v}"))).collect();
        let mut project = Project::coder();
        project.fallback_migrations_paths = vec!["database/migrations".into()];
        let index = Index::new(
            project,
            provenance(),
            vec![
                // Two tags on one commit, each with its own date (as in the bundled tables).
                release("v1.0.0", 'a', "1-3", "2024-01-01T10:00:00-05:00"),
                release("v1.0.1", 'a', "1-3", "2024-01-02T00:00:00Z"),
                // Two tags on one commit that disagree: neither is trusted.
                release("v1.1.0", 'b', "1-4", "2024-02-01T00:00:00Z"),
                release("v1.1.1", 'b', "1-3", "2024-02-02T00:00:00Z"),
                // A migration without a name: not enough to stand in for a fetch.
                release("v1.2.0", 'c', "1-5", "2024-03-01T00:00:00Z"),
                // No commit: nothing to key it by.
                Release::new("v1.3.0", MigrationSet::parse("1-4").unwrap()).unwrap(),
            ],
            names,
        )
        .unwrap();
        let again = Index::from_json(&index.to_json()).unwrap();
        assert_eq!(again.project, index.project, "fallback folders round-trip");

        let known = known_facts(&index);
        assert_eq!(known.folders.keys().collect::<Vec<_>>(), [&sha('a')]);
        assert_eq!(known.folders[&sha('a')].set().to_string(), "1-3");
        assert_eq!(known.folders[&sha('a')].names[&2], "m2");
        assert_eq!(
            known.dates.get(&("v1.0.0".to_string(), sha('a'))).unwrap(),
            "2024-01-01T15:00:00Z",
            "normalised to UTC"
        );
        assert_eq!(
            known.dates.get(&("v1.0.1".to_string(), sha('a'))).unwrap(),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(known.dates.len(), 2, "no date for an untrusted commit");
    }

    #[test]
    fn assemble_refuses_an_empty_result() {
        let err = assemble(Project::coder(), provenance(), &[]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::Upstream);
    }
}
