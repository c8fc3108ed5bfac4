//! Coder's SQL on demand: the migration files of a release the bundled effects do not cover,
//! fetched from a GitHub stand-in by blob SHA, replayed by `index update --effects` on a
//! scratch database, and then used by `verify`, the forecast and `gate --rehearse`.
//!
//! The stand-in answers from a real git repository built here from
//! `../shared/reference/coder-sql.tar.gz`, which stops at v2.36.0 (migration 000556); it
//! holds no file of a later release. So the repository has:
//! - `v2.36.0`: every migration file the tarball lists for v2.36.0 (000001-000556, up and
//!   down, Coder's real bytes, so git's blob SHAs are the tarball's) and Coder's fixtures;
//! - `v2.99.0`, a tag of this test (Coder has no such release): v2.36.0 plus 000557-000560,
//!   whose contents are real Coder files run again under new numbers: 000557 is 000556's
//!   `.down.sql` (drops `user_secrets.enabled`), 000558 is 000556's `.up.sql` (adds it back
//!   with its check constraint), 000559 is 000554's `.down.sql` (drops an index of
//!   `aibridge_token_usages`), 000560 is 000554's `.up.sql` (builds it again); each has the
//!   other half as its `.down.sql`. Names say where they come from (`replay_of_000556_down`).
//!   The schema after 000560 is v2.36.0's again, reached through real DDL that takes real
//!   locks (ACCESS EXCLUSIVE on user_secrets and aibridge_token_usages).
//! - `v2.98.0`, another tag of this test, between them: v2.36.0 plus an earlier content of
//!   000557 (000553's real `.down.sql`, which deletes two notification templates), as Coder
//!   sometimes changes a migration file in a later release (000371 did).

use serde_json::Value;

use super::fake_github::{self, FakeGithub};
use super::gitrepo::{GitRepo, MIGRATIONS};
use crate::coder_sql::{database_with, run_script, set_row, source};
use crate::common::{migtag, run};
use crate::pg::PgCluster;

const NEW_TAG: &str = "v2.99.0";

/// (version, name, up = the file's content, down) of the test tag's new migrations.
fn new_migrations() -> Vec<(u64, String, String, String)> {
    let src = source().expect("checked by the caller");
    let file = |v: u64, up: bool| {
        src.files[&v]
            .iter()
            .find(|f| f.up == up && f.tags.iter().any(|t| t == "v2.36.0"))
            .unwrap()
            .text
            .clone()
    };
    vec![
        (
            557,
            "replay_of_000556_down".into(),
            file(556, false),
            file(556, true),
        ),
        (
            558,
            "replay_of_000556_up".into(),
            file(556, true),
            file(556, false),
        ),
        (
            559,
            "replay_of_000554_down".into(),
            file(554, false),
            file(554, true),
        ),
        (
            560,
            "replay_of_000554_up".into(),
            file(554, true),
            file(554, false),
        ),
    ]
}

/// 000553's `.down.sql`: `v2.98.0`'s content of 000557.
fn earlier_557() -> String {
    let src = source().expect("checked by the caller");
    src.files[&553]
        .iter()
        .find(|f| !f.up && f.tags.iter().any(|t| t == "v2.36.0"))
        .unwrap()
        .text
        .clone()
}

/// The repository described at the top of this file, with `new` as the test tag's new
/// migrations, and `v2.98.0` when `earlier` is set.
fn coder_release_repo(new: Vec<(u64, String, String, String)>, earlier: bool) -> GitRepo {
    let src = source().expect("checked by the caller");
    let r = GitRepo::new();
    r.write("README.md", "coder\n");
    for (v, contents) in &src.files {
        for f in contents
            .iter()
            .filter(|f| f.tags.iter().any(|t| t == "v2.36.0"))
        {
            let side = if f.up { "up" } else { "down" };
            r.write(
                &format!("{MIGRATIONS}/{v:06}_{}.{side}.sql", f.name),
                &f.text,
            );
        }
    }
    for fixtures in src.fixtures.values() {
        for (name, text) in fixtures {
            r.write(&format!("{MIGRATIONS}/testdata/fixtures/{name}"), text);
        }
    }
    r.commit("v2.36.0", "2026-07-01T12:00:00Z");
    r.tag("v2.36.0");
    if earlier {
        let (v, name, _, down) = &new[0];
        r.write(
            &format!("{MIGRATIONS}/{v:06}_{name}.up.sql"),
            &earlier_557(),
        );
        r.write(&format!("{MIGRATIONS}/{v:06}_{name}.down.sql"), down);
        r.commit("v2.98.0", "2026-07-15T12:00:00Z");
        r.tag("v2.98.0");
    }
    for (v, name, up, down) in new {
        r.write(&format!("{MIGRATIONS}/{v:06}_{name}.up.sql"), &up);
        r.write(&format!("{MIGRATIONS}/{v:06}_{name}.down.sql"), &down);
    }
    r.commit(NEW_TAG, "2026-08-01T12:00:00Z");
    r.tag(NEW_TAG);
    r
}

struct Env {
    rt: tokio::runtime::Runtime,
    fake: FakeGithub,
    server: wiremock::MockServer,
    home: tempfile::TempDir,
    _repo: GitRepo,
}

impl Env {
    fn new() -> Self {
        Self::with(new_migrations(), true)
    }

    fn with(new: Vec<(u64, String, String, String)>, earlier: bool) -> Self {
        let repo = coder_release_repo(new, earlier);
        let mut model = repo.model("coder/coder");
        repo.load_blobs(&mut model);
        let fake = FakeGithub::new(model);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(fake_github::serve(&fake));
        Env {
            rt,
            fake,
            server,
            home: tempfile::tempdir().unwrap(),
            _repo: repo,
        }
    }

    fn migtag(&self) -> assert_cmd::Command {
        let mut cmd = migtag();
        cmd.env("HOME", self.home.path());
        cmd.env("XDG_CACHE_HOME", self.home.path().join(".cache"));
        cmd
    }

    fn cache(&self) -> std::path::PathBuf {
        self.home.path().join(".cache/migtag")
    }

    fn requests(&self) -> Vec<wiremock::Request> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    /// Runs migtag with `args` (JSON output); returns (document, stderr, exit code, the
    /// paths of the requests it sent).
    fn json(&self, args: &[&str]) -> (Value, String, i32, Vec<String>) {
        let before = self.requests().len();
        let (out, err, code) = run(self.migtag().args(["--format", "json"]).args(args));
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        let sent = self
            .requests()
            .split_off(before)
            .into_iter()
            .map(|r| r.url.path().to_string())
            .collect();
        (doc, err, code, sent)
    }

    fn update(&self, extra: &[&str]) -> (Value, String, i32, Vec<String>) {
        let uri = self.server.uri();
        let mut args = vec!["index", "update", "--github-api-url", uri.as_str()];
        args.extend_from_slice(extra);
        self.json(&args)
    }
}

fn url(c: &PgCluster, db: &str) -> String {
    format!(
        "postgresql://postgres@/{db}?host={}&port={}",
        c.socket_dir.display(),
        c.port
    )
}

/// Whether the scratch database a run reported is still there (other tests run their own
/// on the same server at the same time, so each run's own is checked).
fn scratch_exists(c: &PgCluster, doc: &Value) -> bool {
    let name = doc
        .as_str()
        .unwrap_or_else(|| panic!("no scratch database named: {doc}"));
    assert!(name.starts_with("migtag_"), "{name}");
    c.sql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )
    .trim()
        != "0"
}

fn blob_requests(sent: &[String]) -> usize {
    sent.iter().filter(|p| p.contains("/git/blobs/")).count()
}

/// A database at v2.36.0's schema (000556, clean), from the real SQL.
fn v2_36_0(c: &'static PgCluster) -> String {
    let db = database_with(c, "v2.36.0", (1..=556).collect(), Some("v2.36.0"));
    set_row(c, &db, 556, false);
    db
}

#[test]
fn a_release_beyond_the_bundle_is_replayed_verified_forecast_and_rehearsed_from_fetched_files() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let env = Env::new();
    // The replays' scratch server: its own, since tests/cli/effects.rs checks that no
    // `migtag_effects_*` database stays on the shared one while these run.
    let replays = PgCluster::shared_without_tls();
    let scratch = url(replays, "postgres");

    // Without --effects: the new index, and what its newest release lacks.
    let (doc, err, code, sent) = env.update(&[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 0, "{sent:?}");
    let e = &doc["effects"];
    assert_eq!(e["covered_to"], 556, "{e:#}");
    assert_eq!(e["missing"], serde_json::json!([557, 558, 559, 560]));
    assert_eq!(e["release"], NEW_TAG);
    assert!(e["written_to"].is_null());
    let note = e["notes"][0].as_str().unwrap();
    assert!(
        note.contains("000557-000560")
            && note.contains("migtag index update --effects --scratch-db URL"),
        "{note}"
    );
    let (out, _, code) = run(env.migtag().args([
        "index",
        "update",
        "--github-api-url",
        &env.server.uri(),
        "--color",
        "never",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("effects:    stop at 000556: 4 new migrations of the index lack them"),
        "{out}"
    );
    // A database replayed to v2.99.0's set: verified, and identified as v2.99.0.
    let db = v2_36_0(c);
    let mut script = String::new();
    for (_, _, up, _) in new_migrations() {
        script.push_str(&format!("BEGIN;\n{up}\nCOMMIT;\n"));
    }
    run_script(c, &db, &script);
    set_row(c, &db, 560, false);
    // Until the effects reach 560, verify says what they lack and how to add it.
    let (doc, err, code, _) = env.json(&["verify", "--db", &url(c, &db)]);
    assert_eq!(code, 10, "{doc:#}\n{err}");
    let summary = doc["schema"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("the effects in use (up to 000556) have no replay of the set 1-560")
            && summary.contains("migtag index update --effects --scratch-db URL"),
        "{summary}"
    );
    // Until they are added, the forecast says which migrations it lacks and how to add them.
    let (doc, err, code, _) = env.json(&["gate", "--version", "556", "--target", NEW_TAG]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(
        doc["forecast"]["unknown_migrations"],
        serde_json::json!([557, 558, 559, 560]),
        "{doc:#}"
    );
    let notes = doc["forecast"]["notes"].to_string();
    assert!(
        notes.contains("557-560") && notes.contains("index update --effects"),
        "{notes}"
    );

    // --effects: the files fetched by blob SHA, the sequence replayed on a scratch database.
    let (doc, err, code, sent) = env.update(&["--effects", "--scratch-db", &scratch]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let e = &doc["effects"];
    let fetched = blob_requests(&sent);
    // 000001-000560 up, the fixtures, and the new migrations' down files: distinct blobs.
    assert!(fetched > 560, "{fetched} blobs: {e:#}");
    assert_eq!(e["files_fetched"], fetched);
    assert_eq!(e["files_cached"], 0);
    assert!(
        e["notes"].as_array().unwrap().is_empty(),
        "the fetched files rebuild the schema the bundled effects expect: {e:#}"
    );
    assert_eq!(e["extended_to"], 560);
    let written = std::path::PathBuf::from(e["written_to"].as_str().unwrap());
    assert_eq!(written, env.cache().join("effects.json"));
    assert!(
        !scratch_exists(replays, &e["scratch_database"]),
        "no scratch database is left behind"
    );
    let effects =
        migtag::core::effects::Effects::from_json(&std::fs::read_to_string(&written).unwrap())
            .unwrap();
    assert_eq!(effects.provenance.max_migration, 560);
    let bundled = migtag::bundled::effects().unwrap();
    assert_eq!(
        effects.main[..556],
        bundled.main[..],
        "the bundled part is kept"
    );
    let m557 = &effects.main[556];
    assert_eq!(
        (m557.version, m557.name.as_str()),
        (557, "replay_of_000556_down")
    );
    assert!(
        m557.locks
            .contains(&"user_secrets AccessExclusiveLock".to_string()),
        "{:?}",
        m557.locks
    );
    // v2.98.0's earlier content of 000557 is a variant, measured on the schema at 000556.
    let variant = effects.variants.last().unwrap();
    assert_eq!(
        (
            variant.first_tag.as_str(),
            variant.last_tag.as_str(),
            variant.tag_count
        ),
        ("v2.98.0", "v2.98.0", 1)
    );
    assert_eq!(variant.effects.version, 557);
    let templates = variant
        .effects
        .tables
        .iter()
        .find(|t| t.table == "notification_templates")
        .unwrap_or_else(|| panic!("{:?}", variant.effects));
    assert_eq!(templates.deleted, 2, "{:?}", variant.effects);
    let m560 = &effects.main[559];
    assert_eq!(
        m560.index_builds,
        ["idx_aibridge_token_usages_effective_group_id_created_at on aibridge_token_usages"]
    );
    // Every blob is in the blob cache under its SHA, and hashes to it.
    let blobs = env.cache().join("blobs");
    let mut stored = 0;
    for dir in std::fs::read_dir(&blobs).unwrap() {
        let dir = dir.unwrap();
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let f = f.unwrap();
            let sha = format!(
                "{}{}",
                dir.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            assert_eq!(
                migtag::adapters::cache::git_blob_sha(&std::fs::read(f.path()).unwrap()),
                sha
            );
            stored += 1;
        }
    }
    assert_eq!(stored, fetched);

    // Again: nothing is missing, so nothing is replayed or fetched.
    let (doc, err, code, sent) = env.update(&["--effects", "--scratch-db", &scratch]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 0, "{sent:?}");
    assert_eq!(doc["effects"]["covered_to"], 560);
    assert_eq!(doc["effects"]["missing"], serde_json::json!([]));
    // With the extended effects gone, the replay runs again from the blob cache alone.
    std::fs::remove_file(&written).unwrap();
    let (doc, err, code, sent) = env.update(&["--effects", "--scratch-db", &scratch]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(
        blob_requests(&sent),
        0,
        "a blob is never fetched twice: {sent:?}"
    );
    assert_eq!(doc["effects"]["files_fetched"], 0);
    // Every file from the blob cache (files with the same content share one blob).
    assert!(
        doc["effects"]["files_cached"].as_u64().unwrap() >= fetched as u64,
        "{doc:#}"
    );
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        effects.to_json(),
        "the same files replay to the same effects"
    );
    assert!(!scratch_exists(
        replays,
        &doc["effects"]["scratch_database"]
    ));

    // A database replayed to v2.99.0's set: verified, and identified as v2.99.0.
    let (doc, err, code, _) = env.json(&["verify", "--db", &url(c, &db)]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(doc["schema"]["status"], "match", "{doc:#}");
    let (doc, err, code, _) = env.json(&["check", "--db", &url(c, &db)]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(doc["verdict"], "exact");
    assert_eq!(doc["recommended"]["tag"], NEW_TAG);

    // gate from v2.36.0 to the new tag, written without its `v`: a complete forecast.
    let live = v2_36_0(c);
    c.sql(&live, "ANALYZE");
    let (doc, err, code, _) = env.json(&["gate", "--db", &url(c, &live), "--target", "2.99.0"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(doc["target"]["tag"], NEW_TAG);
    let f = &doc["forecast"];
    assert_eq!(f["migrations"], 4, "{f:#}");
    assert_eq!(f["estimate"]["complete"], true, "{f:#}");
    let locks = f["locks"].as_array().unwrap();
    let lock = |table: &str| {
        locks
            .iter()
            .find(|l| l["table"] == table)
            .unwrap_or_else(|| panic!("no lock on {table}: {f:#}"))
    };
    // ALTER TABLE ... DROP/ADD COLUMN; DROP INDEX locks its table as strongly (the index
    // build after it takes SHARE, weaker, so 000559 is the one named).
    assert_eq!(lock("user_secrets")["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(
        lock("user_secrets")["migrations"],
        serde_json::json!([557, 558])
    );
    assert_eq!(lock("aibridge_token_usages")["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(
        lock("aibridge_token_usages")["migrations"],
        serde_json::json!([559])
    );
    assert_eq!(
        f["index_builds"][0]["index"],
        "idx_aibridge_token_usages_effective_group_id_created_at"
    );

    // To v2.98.0, the forecast takes 000557 as v2.98.0 shipped it (the variant).
    let (doc, err, code, _) = env.json(&["gate", "--version", "556", "--target", "v2.98.0"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let locks = doc["forecast"]["locks"].as_array().unwrap();
    assert!(
        locks.iter().any(|l| l["table"] == "notification_templates")
            && locks.iter().all(|l| l["table"] != "user_secrets"),
        "{locks:#?}"
    );

    // gate --rehearse without --sql: v2.99.0's pending files come through the cache.
    let (doc, err, code, sent) = env.json(&[
        "gate",
        "--db",
        &url(c, &live),
        "--target",
        NEW_TAG,
        "--rehearse",
        "--scratch-db",
        &url(c, "postgres"),
    ]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 0, "{sent:?}");
    let r = &doc["rehearsal"];
    assert_eq!(r["clean"], true, "{r:#}");
    assert_eq!(r["pending"], 4);
    assert!(
        r["sql_source"]
            .as_str()
            .unwrap()
            .ends_with("/repos/coder/coder at v2.99.0"),
        "{r:#}"
    );
    assert!(!scratch_exists(c, &r["scratch_database"]));

    // `index effects` without --sql: the newest release's files through the cache (the down
    // files are new to it), replayed and measured from 1: the same main sequence as the
    // bundled effects extended by `index update --effects`.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("effects.json");
    let (stdout, err, code) = run(env.migtag().args([
        "index",
        "effects",
        "--scratch-db",
        &scratch,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}\n{err}");
    let replayed =
        migtag::core::effects::Effects::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        replayed
            .provenance
            .source
            .ends_with("/repos/coder/coder at v2.99.0"),
        "{:?}",
        replayed.provenance
    );
    assert_eq!(replayed.main, effects.main);
    assert_eq!(replayed.down, effects.down);
}

#[test]
fn rehearsal_files_are_fetched_once_offline_names_what_the_cache_lacks_and_a_rate_limit_stops() {
    if source().is_none() {
        return;
    }
    let c = PgCluster::shared();
    let env = Env::new();
    let scratch = url(c, "postgres");
    let (doc, err, code, _) = env.update(&[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    let live = v2_36_0(c);
    let rehearse = |extra: &[&str]| {
        let mut args = vec![
            "gate",
            "--db",
            &url(c, &live),
            "--target",
            NEW_TAG,
            "--rehearse",
            "--scratch-db",
            &scratch,
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.json(&args)
    };

    // Offline with an empty blob cache: nothing is sent, and the missing files are named.
    let (doc, err, code, sent) = rehearse(&["--offline"]);
    assert_eq!(code, 11, "{doc:#}\n{err}");
    assert!(sent.is_empty(), "{sent:?}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--offline: the blob cache lacks 4 of the 4 files of v2.99.0")
            && message.contains("000557_replay_of_000556_down.up.sql (blob "),
        "{message}"
    );
    assert!(doc["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("without --offline"));

    // A rate limit while fetching: exit 11, saying when it resets and that a token helps.
    env.fake.faults.lock().unwrap().rate_limited = true;
    let (doc, err, code, sent) = rehearse(&[]);
    assert_eq!(code, 11, "{doc:#}\n{err}");
    assert!(blob_requests(&sent) > 0, "{sent:?}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rate limit reached (60 requests an hour)"),
        "{message}"
    );
    assert!(doc["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("GITHUB_TOKEN"));
    env.fake.faults.lock().unwrap().rate_limited = false;

    // Online: exactly the 4 pending files, by blob SHA; then again and offline: none.
    let (doc, err, code, sent) = rehearse(&[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 4, "{sent:?}");
    assert_eq!(doc["rehearsal"]["clean"], true, "{doc:#}");
    let (doc, err, code, sent) = rehearse(&[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 0, "{sent:?}");
    let (doc, err, code, sent) = rehearse(&["--offline"]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(doc["rehearsal"]["clean"], true);

    // A damaged blob in the cache is not trusted: it is fetched again.
    let blobs = env.cache().join("blobs");
    let dir = std::fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, "DROP TABLE users;\n").unwrap();
    let (doc, err, code, sent) = rehearse(&[]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(blob_requests(&sent), 1, "{sent:?}");
    assert_eq!(doc["rehearsal"]["clean"], true);
    assert_ne!(
        std::fs::read_to_string(&file).unwrap(),
        "DROP TABLE users;\n"
    );
    assert!(!scratch_exists(c, &doc["rehearsal"]["scratch_database"]));
}

#[test]
fn a_new_migration_that_fails_is_named_and_nothing_half_written_is_kept() {
    if source().is_none() {
        return;
    }
    // 000557 runs 000556's real `.up.sql` a second time: its column exists already.
    let src = source().unwrap();
    let again = src.newest(556, true).unwrap().text.clone();
    let env = Env::with(
        vec![(
            557,
            "replay_of_000556_up".into(),
            again,
            "SELECT 1;\n".into(),
        )],
        false,
    );
    let c = PgCluster::start(false);
    let scratch = url(&c, "postgres");
    let (doc, err, code, _) = env.update(&["--effects", "--scratch-db", &scratch]);
    assert_eq!(code, 12, "{doc:#}\n{err}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "000557_replay_of_000556_up.up.sql failed at `ALTER TABLE user_secrets ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true`"
        ) && message.ends_with("column \"enabled\" of relation \"user_secrets\" already exists"),
        "{message}"
    );
    assert!(
        !env.cache().join("effects.json").exists(),
        "nothing half-written is kept"
    );
    assert_eq!(
        c.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'migtag%'"
        )
        .trim(),
        "0",
        "the scratch database is dropped"
    );
    // The answers go on with the bundled effects, and say what they lack.
    let (doc, err, code, _) = env.json(&["gate", "--version", "556", "--target", NEW_TAG]);
    assert_eq!(code, 0, "{doc:#}\n{err}");
    assert_eq!(
        doc["forecast"]["unknown_migrations"],
        serde_json::json!([557])
    );

    // `index effects` without --sql takes the newest release's files through the cache:
    // offline, with none cached, it names what it lacks and sends nothing.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("effects.json");
    let (doc, err, code, sent) = env.json(&[
        "--offline",
        "index",
        "effects",
        "--scratch-db",
        &scratch,
        "--out",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, 11, "{doc:#}\n{err}");
    assert!(sent.is_empty(), "{sent:?}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("of v2.99.0 wanted here: 000001_")
            && message.contains("and ")
            && message.contains(" more"),
        "{message}"
    );
    assert!(!target.exists());
}
