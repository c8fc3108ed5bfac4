//! Real git repositories made by the tests, and the fake GitHub model read back from them
//! with plain git commands, so that both sources see the same content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fake_github::{Entry, Model};

pub const MIGRATIONS: &str = "coderd/database/migrations";
/// Where Coder's v0.1/v0.2 kept their migrations.
pub const OLD_MIGRATIONS: &str = "database/migrations";

pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new() -> Self {
        let repo = GitRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository with a fixed identity and no user configuration.
    pub fn git_at(&self, date: &str, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Coder Release")
            .env("GIT_AUTHOR_EMAIL", "release@example.com")
            .env("GIT_COMMITTER_NAME", "Coder Release")
            .env("GIT_COMMITTER_EMAIL", "release@example.com")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_at("2024-01-01T00:00:00Z", args)
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn remove(&self, path: &str) {
        let p: PathBuf = self.path().join(path);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// Writes `NNNNNN_name.up.sql` and `.down.sql` under `dir` (relative to the migrations
    /// folder, "" for flat).
    pub fn migration(&self, dir: &str, n: u32, name: &str) {
        let base = if dir.is_empty() {
            MIGRATIONS.to_string()
        } else {
            format!("{MIGRATIONS}/{dir}")
        };
        self.write(
            &format!("{base}/{n:06}_{name}.up.sql"),
            &format!("-- up {n}\n"),
        );
        self.write(
            &format!("{base}/{n:06}_{name}.down.sql"),
            &format!("-- down {n}\n"),
        );
    }

    pub fn commit(&self, message: &str, date: &str) -> String {
        self.git_at(date, &["add", "-A"]);
        self.git_at(date, &["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    pub fn tag_annotated(&self, name: &str, date: &str) {
        self.git_at(date, &["tag", "-a", "-m", name, name]);
    }

    /// The fake GitHub's model of this repository, read with git.
    pub fn model(&self, repo: &str) -> Model {
        let mut model = Model {
            repo: repo.to_string(),
            ..Default::default()
        };
        let refs = self.git(&[
            "for-each-ref",
            "refs/tags",
            "--format=%(refname:strip=2) %(*objectname) %(objectname)",
        ]);
        let mut tags: Vec<(String, String)> = refs
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                let commit = if parts[1].is_empty() {
                    parts[2]
                } else {
                    parts[1]
                };
                (parts[0].to_string(), commit.to_string())
            })
            .collect();
        // GitHub lists newest versions first.
        tags.sort_by(|a, b| {
            version_key(&b.0)
                .cmp(&version_key(&a.0))
                .then(b.0.cmp(&a.0))
        });
        for (_, commit) in &tags {
            if model.commit_dates.contains_key(commit) {
                continue;
            }
            let unix: i64 = self
                .git(&["log", "-1", "--format=%ct", commit])
                .trim()
                .parse()
                .unwrap();
            let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
            model.commit_dates.insert(
                commit.clone(),
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                ),
            );
            for folder in [MIGRATIONS, OLD_MIGRATIONS] {
                let parent = folder.rsplit_once('/').unwrap().0;
                // Every folder on the way to the migrations folder, for the contents API.
                let mut dir = String::new();
                for part in std::iter::once("").chain(parent.split('/')) {
                    if !part.is_empty() {
                        dir = if dir.is_empty() {
                            part.to_string()
                        } else {
                            format!("{dir}/{part}")
                        };
                    }
                    if let Some(entries) = self.ls_tree(&format!("{commit}:{dir}")) {
                        model.folders.insert((commit.clone(), dir.clone()), entries);
                    }
                }
                if let Some(sha) = self.rev_parse(&format!("{commit}:{folder}")) {
                    self.load_tree(&sha, &mut model.trees);
                }
            }
        }
        model.tags = tags;
        model
    }

    /// Adds the content of every blob the model's trees list (one `git cat-file --batch`),
    /// so the fake serves `git/blobs/{sha}`.
    pub fn load_blobs(&self, model: &mut Model) {
        use std::io::{Read, Write};
        let shas: Vec<String> = model
            .trees
            .values()
            .flatten()
            .filter(|e| e.kind == "blob")
            .map(|e| e.sha.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut child = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(["cat-file", "--batch"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = shas.join("\n") + "\n";
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        writer.join().unwrap();
        assert!(child.wait().unwrap().success());
        let mut at = 0;
        for sha in shas {
            let nl = at + out[at..].iter().position(|b| *b == b'\n').unwrap();
            let header = std::str::from_utf8(&out[at..nl]).unwrap();
            let size: usize = header.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(header.starts_with(&sha), "{header}");
            model.blobs.insert(sha, out[nl + 1..nl + 1 + size].to_vec());
            at = nl + 1 + size + 1;
        }
    }

    fn rev_parse(&self, spec: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(["rev-parse", "--verify", "-q", spec])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    fn ls_tree(&self, spec: &str) -> Option<Vec<Entry>> {
        self.rev_parse(spec)?;
        let text = self.git(&["ls-tree", spec]);
        Some(
            text.lines()
                .map(|l| {
                    let (meta, name) = l.split_once('\t').unwrap();
                    let m: Vec<&str> = meta.split(' ').collect();
                    Entry {
                        name: name.to_string(),
                        kind: m[1].to_string(),
                        sha: m[2].to_string(),
                    }
                })
                .collect(),
        )
    }

    fn load_tree(&self, sha: &str, trees: &mut BTreeMap<String, Vec<Entry>>) {
        if trees.contains_key(sha) {
            return;
        }
        let entries = self.ls_tree(sha).unwrap();
        trees.insert(sha.to_string(), entries.clone());
        for e in entries.iter().filter(|e| e.kind == "tree") {
            self.load_tree(&e.sha, trees);
        }
    }
}

fn version_key(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v')?).ok()
}

/// A Coder-like repository:
/// - v0.1.0: the old layout (`database/migrations`), so no `coderd/database/migrations` yet;
/// - v1.0.0: 1-3, with Go code and `testdata/` fixtures named like migrations beside them;
/// - v1.0.1: a patch without migration changes (same migrations tree, another commit);
/// - v1.0.2: a patch that adds 4 (cherry-picked);
/// - v1.1.0 (annotated tag): 1-6; v1.1.1: 1-6 again; v1.1.2: lacks 5 (irregular);
/// - v1.2.0-rc.0: 1-7, renames 7 later; v1.2.0: range sub-folders 1-5 / 6-10, 1-8, and a stray
///   `notes.sql`;
/// - `rm` and `weird;touch_pwned`: tags that are not versions;
/// - `extra` patch tags v1.0.3.. on the v1.0.2 commit (to make the tag list paginate).
///   Commit dates carry non-UTC offsets.
pub fn coder_like(extra: usize) -> GitRepo {
    let r = GitRepo::new();
    r.write("database/migrations/000001_init.up.sql", "-- old layout\n");
    r.write("README.md", "coder\n");
    r.commit("v0.1.0", "2022-03-11T20:30:12+02:00");
    r.tag("v0.1.0");

    r.remove("database");
    for (n, name) in [(1, "initial"), (2, "users"), (3, "workspaces")] {
        r.migration("", n, name);
    }
    r.write(&format!("{MIGRATIONS}/migrate.go"), "package migrations\n");
    r.write(
        &format!("{MIGRATIONS}/testdata/fixtures/000002_users.up.sql"),
        "insert\n",
    );
    r.write(
        &format!("{MIGRATIONS}/testdata/full_dumps/v0.8.15/000049_dump_v0.8.15.up.sql"),
        "dump\n",
    );
    r.write("coderd/database/dump.sql", "-- dump\n");
    r.commit("v1.0.0", "2023-01-10T09:00:00-05:00");
    r.tag("v1.0.0");

    r.write("README.md", "coder 1.0.1\n");
    r.commit("v1.0.1", "2023-01-20T09:00:00-05:00");
    r.tag("v1.0.1");
    r.tag("rm");

    r.migration("", 4, "cherry_picked");
    r.commit("v1.0.2", "2023-02-01T12:00:00+05:30");
    r.tag("v1.0.2");
    for i in 0..extra {
        r.tag(&format!("v1.0.{}", i + 3));
    }

    r.migration("", 5, "templates");
    r.migration("", 6, "audit");
    r.commit("v1.1.0", "2023-03-01T00:00:00Z");
    r.tag_annotated("v1.1.0", "2023-03-02T00:00:00Z");
    r.tag("weird;touch_pwned");

    r.write("README.md", "coder 1.1.1\n");
    r.commit("v1.1.1", "2023-03-10T00:00:00Z");
    r.tag("v1.1.1");

    r.remove(&format!("{MIGRATIONS}/000005_templates.up.sql"));
    r.remove(&format!("{MIGRATIONS}/000005_templates.down.sql"));
    r.commit("v1.1.2", "2023-03-20T00:00:00Z");
    r.tag("v1.1.2");

    r.migration("", 5, "templates");
    r.migration("", 7, "old_name");
    r.commit("v1.2.0-rc.0", "2023-04-01T00:00:00Z");
    r.tag("v1.2.0-rc.0");

    // Range sub-folders, as proposed upstream (PR #27691).
    for n in 1..=7u32 {
        for side in ["up", "down"] {
            let from = std::fs::read_dir(r.path().join(MIGRATIONS))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .find(|f| {
                    f.starts_with(&format!("{n:06}_")) && f.ends_with(&format!(".{side}.sql"))
                })
                .unwrap();
            let folder = if n <= 5 {
                "000001-000005"
            } else {
                "000006-000010"
            };
            let to = from.replace("old_name", "new_name");
            r.write(&format!("{MIGRATIONS}/{folder}/{to}"), "--\n");
            r.remove(&format!("{MIGRATIONS}/{from}"));
        }
    }
    r.migration("000006-000010", 8, "range_folder");
    r.write(&format!("{MIGRATIONS}/notes.sql"), "-- not a migration\n");
    r.commit("v1.2.0", "2023-05-01T00:00:00Z");
    r.tag("v1.2.0");
    r
}
