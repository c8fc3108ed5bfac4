//! `migtag index`: show the index in use, or import the bundled one from the reference tables.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cli::{ImportArgs, IndexCommand};
use crate::core::report::IndexView;
use crate::error::{Error, ExitCode, Result};
use crate::input::tables;
use crate::render;

use super::context::Context;

pub fn run(ctx: &Context, cmd: IndexCommand) -> Result<ExitCode> {
    match cmd {
        IndexCommand::Show => show(ctx),
        IndexCommand::Import(args) => import(ctx, args),
    }
}

#[derive(Serialize)]
struct IndexShow {
    #[serde(flatten)]
    view: IndexView,
    repo: String,
    migrations_path: String,
    image: String,
    lines: usize,
    prereleases: usize,
    named_migrations: usize,
    /// Releases whose set is not 1..max (irregular tags).
    irregular: Vec<String>,
}

fn show(ctx: &Context) -> Result<ExitCode> {
    let index = ctx.load_index()?;
    let mut lines: Vec<(u64, u64)> = index.releases().iter().map(|r| r.line()).collect();
    lines.dedup();
    let report = IndexShow {
        view: IndexView::new(&index),
        repo: index.project.repo.clone(),
        migrations_path: index.project.migrations_path.clone(),
        image: index.project.image.clone(),
        lines: lines.len(),
        prereleases: index.releases().iter().filter(|r| r.prerelease).count(),
        named_migrations: index.names().len(),
        irregular: index
            .releases()
            .iter()
            .filter(|r| !r.migrations.gaps().is_empty())
            .map(|r| format!("{} ({})", r.tag, r.migrations))
            .collect(),
    };
    ctx.emit(
        || render::json(&report),
        |_| {
            let v = &report.view;
            let mut out = String::new();
            let _ = writeln!(
                out,
                "source:        {} ({})",
                v.source,
                if v.complete {
                    "complete"
                } else {
                    "partial: releases after its newest tag are missing"
                }
            );
            let _ = writeln!(out, "detail:        {}", v.detail);
            let _ = writeln!(out, "generated at:  {}", v.generated_at);
            let _ = writeln!(
                out,
                "project:       {} ({}), image {}",
                report.repo, report.migrations_path, report.image
            );
            let _ = writeln!(
                out,
                "releases:      {} in {} lines ({} pre-releases)",
                v.releases, report.lines, report.prereleases
            );
            if let (Some(t), Some(d)) = (&v.newest_tag, &v.newest_tag_date) {
                let _ = writeln!(out, "newest tag:    {t} (newest tag date {d})");
            }
            if let Some(m) = v.max_migration {
                let _ = writeln!(
                    out,
                    "migrations:    up to {m:06}, {} named",
                    report.named_migrations
                );
            }
            if !report.irregular.is_empty() {
                let _ = writeln!(out, "irregular:     {}", report.irregular.join(", "));
            }
            out
        },
    );
    Ok(ExitCode::Success)
}

fn import(ctx: &Context, args: ImportArgs) -> Result<ExitCode> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", p.display())))
    };
    let index = tables::import(
        &read(&args.tags)?,
        &read(&args.migrations)?,
        &args.generated_at,
    )?;
    let json = index.to_json();
    write_atomically(&args.out, json.as_bytes())?;
    ctx.info(&format!(
        "imported {} and {}",
        args.tags.display(),
        args.migrations.display()
    ));
    eprintln!(
        "wrote {}: {} releases, {} migration names, {} bytes",
        args.out.display(),
        index.releases().len(),
        index.names().len(),
        json.len()
    );
    Ok(ExitCode::Success)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// that readers never see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| {
        Error::invalid_input(format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("index.json");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
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
