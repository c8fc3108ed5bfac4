//! Coder's SQL from GitHub for the commands that replay it without `--sql` (`gate
//! --rehearse`, `index effects`, `index update --effects`): the source recorded with the
//! index in use (or `--github-api-url`), a tag's files through the adapter's caches, and the
//! adapter's cache saved afterwards, also when the fetch failed half-way.

use crate::adapters::coder_sql::{self, SqlSource};
use crate::adapters::{cache, github};
use crate::core::index::{Index, Project};
use crate::core::migration_set::Version;
use crate::error::Result;

use super::context::Context;

/// The GitHub source of an index: `api_url` when given, else the API the index was fetched
/// from (its provenance), else GitHub's. The folders are the ones the index was read from.
pub fn source_of(index: &Index, api_url: Option<&str>) -> github::GithubSource {
    let bundled = index.loaded_from.as_deref()
        == Some(super::context::IndexOrigin::Bundled.describe().as_str());
    let api_url = api_url
        .map(str::to_string)
        .or_else(|| recorded_api_url(index))
        .unwrap_or_else(|| github::DEFAULT_API_URL.to_string());
    let mut paths = super::index::paths_read(index, bundled).into_iter();
    github::GithubSource {
        api_url: api_url.trim_end_matches('/').to_string(),
        project: Project {
            repo: index.project.repo.clone(),
            migrations_path: paths.next().unwrap_or_default(),
            fallback_migrations_paths: paths.collect(),
            image: index.project.image.clone(),
        },
        token: super::index::github_token(),
    }
}

/// The API root an index fetched by `index update` names in its provenance
/// (`github api URL/repos/OWNER/NAME tags ...`).
fn recorded_api_url(index: &Index) -> Option<String> {
    if index.provenance.source != "github" {
        return None;
    }
    let rest = index.provenance.detail.strip_prefix("github api ")?;
    let (url, _) = rest.split_once(&format!("/repos/{} ", index.project.repo))?;
    Some(url.to_string())
}

/// What a migration file's path (relative to the migrations folder) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Up(Version),
    Down(Version),
    /// Rows Coder's tests insert after this migration (`testdata/fixtures/`).
    Fixture(Version),
}

pub fn kind_of(path: &str) -> Option<FileKind> {
    let version = |name: &str| name.get(..6).and_then(|d| d.parse::<Version>().ok());
    if let Some(name) = path.strip_prefix("testdata/fixtures/") {
        return (!name.contains('/') && name.ends_with(".up.sql"))
            .then(|| version(name).map(FileKind::Fixture))
            .flatten();
    }
    if path.contains('/') {
        return None;
    }
    let v = version(path)?;
    if path.ends_with(".up.sql") {
        Some(FileKind::Up(v))
    } else if path.ends_with(".down.sql") {
        Some(FileKind::Down(v))
    } else {
        None
    }
}

/// The SQL of `tag` whose files `wanted` accepts, with what fetching it cost.
pub struct Fetched {
    pub sql: SqlSource,
    pub files: github::TagFiles,
}

/// Fetches (or, `--offline`, reads from the cache) the files of `tag` that `wanted` accepts.
pub fn fetch(
    ctx: &Context,
    source: &github::GithubSource,
    tag: &str,
    wanted: &dyn Fn(FileKind) -> bool,
) -> Result<Fetched> {
    let mut all = fetch_tags(ctx, source, &[(tag, wanted)])?;
    let files = all.remove(0);
    let sql = coder_sql::from_tag_files(files.files.clone(), label(source, tag), tag)?;
    Ok(Fetched { sql, files })
}

/// What the SQL read from `tag` of `source` is called (provenance, reports).
pub fn label(source: &github::GithubSource, tag: &str) -> String {
    format!(
        "{}/repos/{} at {tag}",
        source.api_url.trim_end_matches('/'),
        source.project.repo
    )
}

/// The files of several tags, each with its own filter; the adapter's cache is read once and
/// saved once (also when a fetch failed half-way, so the next run resumes).
pub fn fetch_tags(
    ctx: &Context,
    source: &github::GithubSource,
    wanted: &[(&str, &dyn Fn(FileKind) -> bool)],
) -> Result<Vec<github::TagFiles>> {
    let cache_name = github::GithubCache::file_name(source);
    let mut state = cache::read(&cache_name)
        .and_then(|t| github::GithubCache::from_json(&t, source))
        .unwrap_or_else(|| github::GithubCache::new(source));
    let before = state.clone();
    let mut out = Vec::new();
    let mut result = Ok(());
    for (tag, filter) in wanted {
        ctx.info(&format!(
            "migration files of {tag} from {}/repos/{}{}",
            source.api_url,
            source.project.repo,
            if ctx.offline {
                " (offline: the cache only)"
            } else {
                ""
            }
        ));
        match github::tag_files(
            source,
            &mut state,
            &github::FetchOptions::default(),
            tag,
            ctx.offline,
            &|path| kind_of(path).is_some_and(filter),
        ) {
            Ok(files) => {
                for n in &files.notes {
                    ctx.warn(n);
                }
                ctx.info(&format!(
                    "{} files: {} from the blob cache, {} fetched ({} requests)",
                    files.files.len(),
                    files.from_cache,
                    files.stats.blobs_fetched,
                    files.stats.requests
                ));
                out.push(files);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if state != before && cache::root().is_some() {
        if let Err(e) = cache::write(&cache_name, state.to_json().as_bytes()) {
            ctx.warn(&format!("could not save the GitHub cache: {e}"));
        }
    }
    result.map(|()| out)
}

/// The files `gate --rehearse` runs without `--sql`: the `.up.sql` of each pending
/// migration as `tag` ships it.
pub fn for_rehearsal(
    ctx: &Context,
    index: &Index,
    api_url: Option<&str>,
    tag: &str,
    pending: &crate::core::migration_set::MigrationSet,
) -> Result<SqlSource> {
    let source = source_of(index, api_url);
    let tag = index.release(tag).map(|r| r.tag.as_str()).unwrap_or(tag);
    Ok(fetch(
        ctx,
        &source,
        tag,
        &|k| matches!(k, FileKind::Up(v) if pending.contains(v)),
    )?
    .sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_follow_coder_s_layout() {
        assert_eq!(kind_of("000557_x.up.sql"), Some(FileKind::Up(557)));
        assert_eq!(kind_of("000557_x.down.sql"), Some(FileKind::Down(557)));
        assert_eq!(
            kind_of("testdata/fixtures/000022_initial_v0.6.6.up.sql"),
            Some(FileKind::Fixture(22))
        );
        assert_eq!(kind_of("testdata/other/000001_x.up.sql"), None);
        assert_eq!(kind_of("sub/000001_x.up.sql"), None);
        assert_eq!(kind_of("README.sql"), None);
    }

    #[test]
    fn the_api_url_is_read_back_from_the_provenance() {
        let mut index = crate::bundled::load().unwrap();
        assert_eq!(recorded_api_url(&index), None);
        index.provenance.source = "github".into();
        index.provenance.detail =
            "github api http://127.0.0.1:4000/repos/coder/coder tags (coderd/database/migrations)"
                .into();
        assert_eq!(
            recorded_api_url(&index).as_deref(),
            Some("http://127.0.0.1:4000")
        );
        let source = source_of(&index, None);
        assert_eq!(source.api_url, "http://127.0.0.1:4000");
        assert_eq!(
            source_of(&index, Some("https://ghe.example/api/v3/")).api_url,
            "https://ghe.example/api/v3"
        );
    }
}
