//! `migtag index`: show the index in use, fetch it from GitHub (`update`), build it from a
//! clone (`build`), import the bundled one from the reference tables (`import`), or merge an
//! index into those tables (`export`).

use std::path::Path;

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::adapters::{bounded, cache, git, github};
use crate::cli::{
    BuildArgs, ExportArgs, Format, ImportArgs, IndexCommand, ProjectArgs, UpdateArgs,
};
use crate::core::index::{Index, Project};
use crate::core::report::IndexView;
use crate::error::{Error, ExitCode, Result};
use crate::input::tables;
use crate::render;
use crate::render::index::{FirstReleaseMoved, IndexExported, IndexShow, IndexWritten};

use super::context::Context;

pub fn run(ctx: &Context, cmd: IndexCommand) -> Result<ExitCode> {
    match cmd {
        IndexCommand::Show => show(ctx),
        IndexCommand::Import(args) => import(ctx, args),
        IndexCommand::Export(args) => export(ctx, args),
        IndexCommand::Update(args) => update(ctx, args),
        IndexCommand::Build(args) => build(ctx, args),
        IndexCommand::Effects(args) => super::effects::run(ctx, args),
    }
}

fn show(ctx: &Context) -> Result<ExitCode> {
    let (index, origin) = ctx.load_index_with_origin()?;
    ctx.warn_index_notices(&index, false);
    let mut lines: Vec<(u64, u64)> = index.releases().iter().map(|r| r.line()).collect();
    lines.dedup();
    let report = IndexShow {
        view: IndexView::new(&index),
        used: origin.describe(),
        repo: index.project.repo.clone(),
        migrations_path: index.project.migrations_path.clone(),
        image: index.project.image.clone(),
        lines: lines.len(),
        prereleases: index.releases().iter().filter(|r| r.prerelease).count(),
        named_migrations: index.names().len(),
        warnings: index.notices.clone(),
        irregular: index
            .releases()
            .iter()
            .filter(|r| !r.migrations.gaps().is_empty())
            .map(|r| format!("{} ({})", r.tag, r.migrations))
            .collect(),
    };
    ctx.emit(|| render::json(&report), |_| render::index::show(&report));
    Ok(ExitCode::Success)
}

fn import(ctx: &Context, args: ImportArgs) -> Result<ExitCode> {
    let read = |p: &Path| {
        bounded::read_path(p, bounded::TABLES).map_err(|f| {
            f.or_io(|e| Error::invalid_input(format!("cannot read {}: {e}", p.display())))
        })
    };
    let generated_at = match args.generated_at {
        Some(date) => date,
        None if args.out.exists() => {
            super::context::load_index_file(&args.out)?
                .provenance
                .generated_at
        }
        None => {
            return Err(Error::usage(format!(
                "{} does not exist yet, so there is no generated_at to keep",
                args.out.display()
            ))
            .with_hint("pass --generated-at DATE: when the tables' facts were gathered"))
        }
    };
    let index = tables::import(&read(&args.tags)?, &read(&args.migrations)?, &generated_at)?;
    let json = index.to_json();
    write_atomically(&args.out, json.as_bytes())?;
    ctx.info(&format!(
        "imported {} and {}",
        args.tags.display(),
        args.migrations.display()
    ));
    crate::ewriteln!(
        "wrote {}: {} releases, {} migration names, {} bytes",
        args.out.display(),
        index.releases().len(),
        index.names().len(),
        json.len()
    );
    Ok(ExitCode::Success)
}

fn export(ctx: &Context, args: ExportArgs) -> Result<ExitCode> {
    let (index, origin) = ctx.load_index_with_origin()?;
    let read = |p: &Path| match bounded::read_path(p, bounded::TABLES) {
        Ok(text) => Ok(Some(text)),
        Err(bounded::Failure::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(f) => {
            Err(f.or_io(|e| Error::invalid_input(format!("cannot read {}: {e}", p.display()))))
        }
    };
    let existing = match (read(&args.tags)?, read(&args.migrations)?) {
        (Some(t), Some(m)) => Some((t, m)),
        (None, None) => None,
        _ => {
            return Err(Error::invalid_input(format!(
                "only one of {} and {} exists; they are one pair",
                args.tags.display(),
                args.migrations.display()
            )))
        }
    };
    let done = tables::export(
        &index,
        existing.as_ref().map(|(t, m)| (t.as_str(), m.as_str())),
    )?;
    let changed = !existing
        .as_ref()
        .is_some_and(|(t, m)| *t == done.tags_tsv && *m == done.migrations_tsv);
    // Written even when unchanged: the files are then regenerated from the index, byte for
    // byte, which is what the round-trip test relies on.
    let written = !args.check;
    if written {
        write_atomically(&args.tags, done.tags_tsv.as_bytes())?;
        write_atomically(&args.migrations, done.migrations_tsv.as_bytes())?;
    }
    let report = IndexExported {
        index: IndexView::new(&index),
        used: origin.describe(),
        tags_file: args.tags,
        migrations_file: args.migrations,
        written,
        changed,
        agreed: done.agreed,
        added: done.added,
        kept: done.kept,
        added_migrations: done.added_migrations,
        first_release_moved: done
            .first_release_moved
            .into_iter()
            .map(|(version, before, after)| FirstReleaseMoved {
                version,
                before,
                after,
            })
            .collect(),
    };
    ctx.emit(
        || render::json(&report),
        |style| render::index::exported(&report, style),
    );
    Ok(ExitCode::Success)
}

/// Kept here for callers of the foundation; the implementation lives with the cache.
pub use crate::adapters::cache::write_atomically;

/// The project from the flags: the first `--migrations-path` is the index's
/// `migrations_path`, the others its fallbacks (repeats dropped).
fn project(args: &ProjectArgs) -> Project {
    let mut paths: Vec<String> = Vec::new();
    for p in &args.migrations_paths {
        let p = p.trim_end_matches('/').to_string();
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    let mut paths = paths.into_iter();
    Project {
        repo: args.repo.clone(),
        migrations_path: paths.next().unwrap_or_default(),
        fallback_migrations_paths: paths.collect(),
        image: args.image.clone(),
    }
}

/// The folders an existing index read. The bundled index says `coderd/database/migrations`
/// but its tables were read from `database/migrations` where that folder did not exist yet
/// (v0.1/v0.2; see its provenance), so it matches the two-folder default.
pub(super) fn paths_read(index: &Index, bundled: bool) -> Vec<String> {
    if bundled {
        crate::bundled::MIGRATIONS_PATHS
            .iter()
            .map(|p| p.to_string())
            .collect()
    } else {
        index
            .project
            .migrations_paths()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// Seeds for `index update`: the indexes the lookup order would use (`--index FILE`, the
/// cache, the bundled one) that describe the same repository read from the same folders.
/// One that does not load is skipped: it only costs requests, and the update replaces it.
fn seeds(ctx: &Context, project: &Project) -> Vec<github::Seed> {
    let mut candidates: Vec<(String, Result<Index>, bool)> = Vec::new();
    if let Some(path) = &ctx.index_path {
        candidates.push((
            format!("the index {} (--index)", path.display()),
            super::context::load_index_file(path),
            false,
        ));
    }
    if let Some(found) = cache::load_index() {
        let label = cache::index_path()
            .map(|p| format!("the cached index {}", p.display()))
            .unwrap_or_else(|| "the cached index".into());
        candidates.push((label, found.map(|(i, _)| i), false));
    }
    candidates.push(("the bundled index".into(), crate::bundled::load(), true));
    let wanted: Vec<&str> = project.migrations_paths();
    let mut out = Vec::new();
    for (label, loaded, bundled) in candidates {
        let index = match loaded {
            Ok(i) => i,
            Err(e) => {
                ctx.info(&format!("not reusing {label}: {e}"));
                continue;
            }
        };
        if index.project.repo != project.repo || paths_read(&index, bundled) != wanted {
            ctx.info(&format!(
                "not reusing {label}: it describes {} ({}), not {} ({})",
                index.project.repo,
                paths_read(&index, bundled).join(", "),
                project.repo,
                wanted.join(", ")
            ));
            continue;
        }
        let facts = crate::core::upstream::known_facts(&index);
        if !facts.is_empty() {
            out.push(github::Seed { label, facts });
        }
    }
    out
}

fn now_rfc3339() -> String {
    // MIGTAG_NOW when set (tests), like the index's age; a bad value falls back to the clock
    // here, and is reported by the index loader of every answering command.
    let now = super::context::now().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    crate::core::upstream::normalise_date(
        &now.format(&time::format_description::well_known::Rfc3339)
            .expect("the current time formats"),
    )
    .expect("the current time parses back")
}

/// Writes the index to `--out`, else to the cache; returns where.
fn store(index: &Index, out: Option<PathBuf>) -> Result<PathBuf> {
    let path = match out {
        Some(p) => p,
        None => cache::require_root()?.join("index.json"),
    };
    write_atomically(&path, index.to_json().as_bytes())?;
    Ok(path)
}

pub(super) fn github_token() -> Option<String> {
    ["GITHUB_TOKEN", "GH_TOKEN"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|t| t.trim().to_string())
        .find(|t| !t.is_empty())
}

fn update(ctx: &Context, args: UpdateArgs) -> Result<ExitCode> {
    if ctx.offline {
        return Err(Error::usage(
            "`index update` fetches from GitHub, and --offline forbids the network",
        )
        .with_hint(
            "drop --offline, or build the index from a clone: `migtag index build --from-git PATH`",
        ));
    }
    let source = github::GithubSource {
        api_url: args.github_api_url.trim_end_matches('/').to_string(),
        project: project(&args.project),
        token: github_token(),
    };
    let cache_name = github::GithubCache::file_name(&source);
    let mut state = if args.refresh {
        None
    } else {
        cache::read(&cache_name).and_then(|t| github::GithubCache::from_json(&t, &source))
    }
    .unwrap_or_else(|| github::GithubCache::new(&source));
    let before = state.clone();
    let opts = github::FetchOptions {
        progress: ctx.format == Format::Human && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    ctx.info(&format!(
        "fetching {}/repos/{} ({}), {}",
        source.api_url,
        source.project.repo,
        source.project.migrations_path,
        if source.token.is_some() {
            "with a token"
        } else {
            "anonymously (60 requests an hour)"
        }
    ));
    // --refresh ignores every remembered fact: the adapter's cache and the indexes alike.
    let seeds = if args.refresh {
        Vec::new()
    } else {
        seeds(ctx, &source.project)
    };
    let result = github::update(&source, &mut state, &seeds, &opts, &now_rfc3339());
    // Keep what was fetched even when the run failed half-way, so the next one resumes.
    if state != before && cache::root().is_some() {
        if let Err(e) = cache::write(&cache_name, state.to_json().as_bytes()) {
            ctx.warn(&format!("could not save the GitHub cache: {e}"));
        }
    }
    let done = result?;
    let written_to = store(&done.index, args.out.clone())?;
    let effects = super::effects::extend(ctx, &args, &source, &done.index)?;
    let report = IndexWritten {
        source: "github".into(),
        written_to,
        unchanged: Some(done.unchanged),
        requests: Some(done.stats),
        git_calls: None,
        notes: done.notes,
        index: IndexView::new(&done.index),
        effects: Some(effects),
    };
    ctx.emit(
        || render::json(&report),
        |s| render::index::written(&report, s),
    );
    Ok(ExitCode::Success)
}

fn build(ctx: &Context, args: BuildArgs) -> Result<ExitCode> {
    let done = git::build(&args.from_git, project(&args.project), &now_rfc3339())?;
    let written_to = store(&done.index, args.out)?;
    let report = IndexWritten {
        source: "git".into(),
        written_to,
        unchanged: None,
        requests: None,
        git_calls: Some(done.git_calls),
        notes: done.notes,
        index: IndexView::new(&done.index),
        effects: None,
    };
    ctx.emit(
        || render::json(&report),
        |s| render::index::written(&report, s),
    );
    Ok(ExitCode::Success)
}
