//! The index from a local clone, through the `git` command line (for air-gapped sites).
//!
//! Three kinds of git calls, each with arguments passed one by one (never through a shell):
//! `git for-each-ref refs/tags` (every tag with its commit and committer date, one process),
//! `git cat-file --batch-check` (the migrations folder's tree at each commit, one process),
//! and `git ls-tree -r -z` once per distinct migrations tree. Tag names are validated as
//! release tags before any of them is used; the rest is decided by [`crate::core::upstream`],
//! exactly as for GitHub.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::adapters::bounded;
use crate::core::index::{Index, Project, Provenance};
use crate::core::upstream::{
    assemble, is_sha, migrations_from_paths, release_tags, validate_migrations_path,
    FolderMigrations, TagSnapshot,
};
use crate::error::{Error, Result};

/// What `index build --from-git` produced.
pub struct GitBuild {
    pub index: Index,
    /// Skipped tags and files.
    pub notes: Vec<String>,
    /// How many `git` processes ran.
    pub git_calls: usize,
}

/// Builds the index of `project` from the clone at `repo`.
pub fn build(repo: &Path, project: Project, generated_at: &str) -> Result<GitBuild> {
    for path in project.migrations_paths() {
        validate_migrations_path(path)?;
    }
    let git = Git::open(repo)?;
    let refs = git.tag_refs()?;
    let (release, others) = release_tags(refs.iter().map(|r| r.name.as_str()));
    let mut notes: Vec<String> = others
        .iter()
        .map(|t| format!("tag `{}` is not a release tag; skipped", t.escape_debug()))
        .collect();
    let by_name: HashMap<&str, &TagRef> = refs.iter().map(|r| (r.name.as_str(), r)).collect();

    let mut wanted: Vec<&TagRef> = Vec::new();
    for tag in &release {
        let r = by_name[tag.as_str()];
        if r.commit.is_none() {
            notes.push(format!("tag {tag} does not point at a commit; skipped"));
            continue;
        }
        wanted.push(r);
    }
    let commits: Vec<&str> = wanted.iter().filter_map(|r| r.commit.as_deref()).collect();
    let trees = git.folder_trees(&commits, &project.migrations_paths())?;
    let mut folders: BTreeMap<String, FolderMigrations> = BTreeMap::new();
    for tree in trees.values().flatten() {
        if !folders.contains_key(tree) {
            let paths = git.tree_paths(tree)?;
            folders.insert(
                tree.clone(),
                migrations_from_paths(paths.iter().map(String::as_str)),
            );
        }
    }
    let snapshots: Vec<TagSnapshot> = wanted
        .iter()
        .map(|r| {
            let commit = r.commit.clone().expect("filtered above");
            let migrations = trees
                .get(&commit)
                .and_then(|t| t.as_ref())
                .map(|t| folders[t].clone());
            TagSnapshot {
                tag: r.name.clone(),
                commit,
                date: r.date.clone(),
                migrations,
            }
        })
        .collect();
    let shown = std::fs::canonicalize(repo).unwrap_or_else(|_| repo.to_path_buf());
    let provenance = Provenance {
        source: "git".into(),
        detail: format!(
            "git clone {} ({}), tags as of its last fetch",
            shown.display(),
            project.describe_paths()
        ),
        generated_at: generated_at.to_string(),
        complete: true,
    };
    let (index, more) = assemble(project, provenance, &snapshots)?;
    notes.extend(more);
    notes.sort();
    notes.dedup();
    Ok(GitBuild {
        index,
        notes,
        git_calls: git.calls.get(),
    })
}

struct TagRef {
    name: String,
    /// The commit the tag peels to, when it is a commit.
    commit: Option<String>,
    /// That commit's committer date (RFC 3339 with the committer's offset).
    date: String,
}

struct Git<'a> {
    repo: &'a Path,
    calls: std::cell::Cell<usize>,
}

impl<'a> Git<'a> {
    fn open(repo: &'a Path) -> Result<Self> {
        if !repo.is_dir() {
            return Err(Error::usage(format!(
                "--from-git {}: no such folder",
                repo.display()
            )));
        }
        let git = Git {
            repo,
            calls: std::cell::Cell::new(0),
        };
        git.run(&["rev-parse", "--git-dir"], None).map_err(|e| {
            e.context(format!("{} is not a git repository", repo.display()))
                .with_hint("pass the folder of a clone of the project (git clone --bare works too)")
        })?;
        Ok(git)
    }

    /// Runs git with these arguments (no shell), optionally feeding stdin; returns stdout.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
        self.calls.set(self.calls.get() + 1);
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(self.repo)
            .args(args)
            // The user's pager, colour or replace refs must not change what we read.
            .env("GIT_PAGER", "cat")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            Error::upstream(format!("cannot run git: {e}"))
                .with_hint("install git, or build the index elsewhere and pass it with --index")
        })?;
        // Written from a thread so that a large answer on stdout cannot deadlock us.
        let writer = stdin.map(|input| {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            let input = input.to_vec();
            std::thread::spawn(move || pipe.write_all(&input))
        });
        // Both pipes read with a bound (docs/limits.md), each on its own thread.
        let stdout = bounded::drain(child.stdout.take().expect("piped"), bounded::PROGRAM_OUTPUT);
        let stderr = bounded::drain(child.stderr.take().expect("piped"), bounded::PROGRAM_STDERR);
        let status = child.wait();
        if let Some(w) = writer {
            let _ = w.join();
        }
        let (stdout, too_much) = stdout.join().unwrap_or_default();
        let (stderr, _) = stderr.join().unwrap_or_default();
        if too_much {
            return Err(bounded::program_output_too_large(
                &format!("git {}", args[0]),
                crate::ErrorKind::InvalidInput,
            ));
        }
        finish(
            args,
            status.map(|status| std::process::Output {
                status,
                stdout,
                stderr,
            }),
        )
    }

    /// Every tag with the commit it peels to and that commit's date: one process.
    fn tag_refs(&self) -> Result<Vec<TagRef>> {
        let format =
            "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(committerdate:iso-strict)\
                      %00%(*objecttype)%00%(*objectname)%00%(*committerdate:iso-strict)";
        let out = self.run(
            &["for-each-ref", &format!("--format={format}"), "refs/tags"],
            None,
        )?;
        let text = String::from_utf8(out).map_err(|_| {
            Error::upstream("git for-each-ref printed a tag name that is not UTF-8")
        })?;
        let mut refs = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\0').collect();
            let [name, ty, sha, date, pty, psha, pdate] = f[..] else {
                return Err(Error::upstream(format!(
                    "unexpected line from git for-each-ref: `{}`",
                    line.escape_debug()
                )));
            };
            let (commit, date) = match (ty, pty) {
                ("commit", _) => (Some(sha), date),
                ("tag", "commit") => (Some(psha), pdate),
                _ => (None, ""),
            };
            let commit = commit.filter(|c| is_sha(c)).map(str::to_string);
            refs.push(TagRef {
                name: name.to_string(),
                commit,
                date: date.to_string(),
            });
        }
        Ok(refs)
    }

    /// The tree of the first of `paths` that is a folder at each commit (`None` where none
    /// is): one `git cat-file --batch-check` for all commits and paths.
    fn folder_trees(
        &self,
        commits: &[&str],
        paths: &[&str],
    ) -> Result<HashMap<String, Option<String>>> {
        let mut unique: Vec<&str> = commits.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(HashMap::new());
        }
        let pairs: Vec<(&str, &str)> = unique
            .iter()
            .flat_map(|c| paths.iter().map(move |p| (*c, *p)))
            .collect();
        let input: String = pairs.iter().map(|(c, p)| format!("{c}:{p}\n")).collect();
        let out = self.run(
            &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            Some(input.as_bytes()),
        )?;
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != pairs.len() {
            return Err(Error::upstream(format!(
                "git cat-file answered {} lines for {} questions",
                lines.len(),
                pairs.len()
            )));
        }
        let mut trees: HashMap<String, Option<String>> = HashMap::new();
        for ((commit, _), line) in pairs.iter().zip(lines) {
            let tree = match line.split_once(' ') {
                Some((sha, "tree")) if is_sha(sha) => Some(sha.to_string()),
                _ => None, // "<commit>:<path> missing", or not a folder
            };
            // Paths come in order for each commit: keep the first folder found.
            let slot = trees.entry(commit.to_string()).or_insert(None);
            if slot.is_none() {
                *slot = tree;
            }
        }
        Ok(trees)
    }

    /// Every file path under a tree, relative to it (`-z`: names are not quoted).
    fn tree_paths(&self, tree: &str) -> Result<Vec<String>> {
        let out = self.run(&["ls-tree", "-r", "-z", "--name-only", tree], None)?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }
}

fn finish(args: &[&str], out: std::io::Result<std::process::Output>) -> Result<Vec<u8>> {
    let out = out.map_err(|e| Error::upstream(format!("git {} failed to run: {e}", args[0])))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::upstream(format!(
            "git {} failed ({}): {}",
            args[0],
            out.status,
            stderr.trim()
        )));
    }
    Ok(out.stdout)
}
