//! `migtag repair clear-dirty` and `migtag repair terminate`: the only commands that change a
//! database. Each decides what it can before connecting (the previous migration comes from
//! the index), lets the adapter look, shows exactly what will run, and asks: a line typed on
//! the terminal must say `yes`, or `--yes` confirms for scripts. Without a terminal and
//! without `--yes` nothing is changed (exit 2).

use std::io::{BufRead, IsTerminal, Write};

use crate::adapters::postgres::{self, Limits, ProcessEnv};
use crate::adapters::repair;
use crate::cli::{ClearDirtyArgs, DbArgs, FixRowArgs, Format, RepairCommand, TerminateArgs};
use crate::core::check::{check_with, CheckOptions};
use crate::core::dirty::DirtyActionKind;
use crate::core::index::parse_tag;
use crate::core::observation::CatalogRead;
use crate::core::repair::{plan_clear_dirty, Outcome, PlanProblem};
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;
use super::facts::Facts;

pub fn run(ctx: &Context, cmd: RepairCommand) -> Result<ExitCode> {
    match cmd {
        RepairCommand::ClearDirty(args) => clear_dirty(ctx, args),
        RepairCommand::FixRow(args) => fix_row(ctx, args),
        RepairCommand::Terminate(args) => terminate(ctx, args),
    }
}

/// How the operator confirms, decided once before connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    /// `--yes`.
    Flag,
    /// Standard input is a terminal: ask there.
    Terminal,
    /// Neither: show the plan, change nothing.
    Nobody,
}

impl Asker {
    fn new(yes: bool) -> Asker {
        if yes {
            Asker::Flag
        } else if std::io::stdin().is_terminal() {
            Asker::Terminal
        } else {
            Asker::Nobody
        }
    }

    /// Asks; true only for `--yes` or a typed `yes`.
    fn confirm(self, question: &str) -> bool {
        match self {
            Asker::Flag => true,
            Asker::Nobody => false,
            Asker::Terminal => {
                crate::ewrite!("{question} Type yes to go ahead (anything else cancels): ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(_) => line.trim() == "yes",
                    Err(_) => false,
                }
            }
        }
    }

    /// What to say when the answer was not yes.
    fn not_confirmed_note(self) -> &'static str {
        match self {
            Asker::Nobody => {
                "not confirmed: standard input is not a terminal, so migtag cannot ask; nothing was changed. \
                 Read the plan above and pass --yes to go ahead"
            }
            _ => "cancelled: nothing was changed",
        }
    }
}

/// Prints the plan where a human sees it: stdout in human mode, stderr beside a JSON report.
/// False when stdout could not be written (a full disk): a plan nobody could read is never
/// confirmed, not even by --yes.
fn show(ctx: &Context, text: &str) -> bool {
    match ctx.format {
        // (`commands::run` refuses openmetrics for repair.)
        Format::Human | Format::Openmetrics => {
            crate::render::out(text);
            crate::render::stdout_failure().is_none()
        }
        Format::Json => {
            crate::ewrite!("{text}");
            true
        }
    }
}

/// The live database and the bounds of its session, from `--db` and the timeouts (also
/// `watch`'s).
pub(super) fn settings_and_limits(db: &DbArgs) -> Result<(postgres::ConnectSettings, Limits)> {
    let Some(settings) = postgres::resolve(db.db.as_deref(), &ProcessEnv)? else {
        return Err(Error::usage(
            "no database given: pass --db URL, or set CODER_PG_CONNECTION_URL, DATABASE_URL or the PG* variables",
        ));
    };
    let limits = Limits::new(
        &settings,
        db.connect_timeout,
        db.lock_timeout,
        db.statement_timeout,
    );
    Ok((settings, limits))
}

fn clear_dirty(ctx: &Context, args: ClearDirtyArgs) -> Result<ExitCode> {
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, false);
    let deployed = deployed_release(&index, args.deployed.as_deref())?;
    let v = args.expect_version;
    let plan = plan_clear_dirty(&index, v, args.to, deployed).map_err(|p| {
        let e = match &p {
            PlanProblem::NotInIndex(_) => Error::no_match(p.message(v)),
            _ => Error::usage(p.message(v)),
        };
        e.with_hint(p.hint())
    })?;
    let (settings, limits) = settings_and_limits(&args.db)?;
    let mut plan = plan;
    if !args.no_schema {
        // The evidence first, in its own read-only session: resetting the row to P is right
        // only when V's effects are absent; when they are complete, V is kept.
        let observation = postgres::observe_with(&settings, &limits, true)?;
        let reading = super::source::SourceReading {
            state: observation.state.clone(),
            db: Some(observation),
            notes: Vec::new(),
        };
        let facts = Facts::from_reading(&index, reading, deployed)?;
        if let Some(a) = &facts.assessment {
            crate::ewrite!("{}", render::verify::evidence(a, ctx.style));
            if let Some(action) = &a.dirty_action {
                if facts.reading.state == crate::core::state::DbState::Dirty(v) {
                    match action.kind {
                        DirtyActionKind::KeepAndClear => plan = plan.keeping(&index),
                        DirtyActionKind::Review => {
                            return Err(Error::needs_human(format!(
                                "not resetting the row to the previous migration: {}",
                                action.explanation
                            ))
                            .with_hint("review what exists and the .down.sql statements above; --no-schema skips this check"));
                        }
                        DirtyActionKind::CleanupToPrevious | DirtyActionKind::Unknown => {}
                    }
                }
            }
        }
    }
    let asker = Asker::new(args.yes);
    let mut shown = false;
    let mut ask = |report: &crate::core::repair::ClearDirtyReport| {
        shown = true;
        show(ctx, &render::repair::clear_dirty_preview(report, ctx.style))
            && asker.confirm("Change the row?")
    };
    let report = repair::clear_dirty(&settings, &limits, plan, &mut ask)?;
    if report.outcome == Outcome::NotConfirmed {
        crate::ewriteln!("migtag: {}", asker.not_confirmed_note());
    }
    ctx.emit(
        || render::json(&report),
        |s| render::repair::clear_dirty_result(&report, s, shown),
    );
    Ok(report.exit_code())
}

/// `fix-row`: decide as `check` does from the row and the schema, then run the decision's
/// row action (and only that) in one transaction.
fn fix_row(ctx: &Context, args: FixRowArgs) -> Result<ExitCode> {
    let index = ctx.load_index()?;
    ctx.warn_index_notices(&index, false);
    let deployed = deployed_release(&index, args.deployed.as_deref())?;
    let (settings, limits) = settings_and_limits(&args.db)?;
    let observation = postgres::observe_with(&settings, &limits, true)?;
    let fingerprint = match &observation.catalog {
        Some(CatalogRead::Read(c)) => c.fingerprint(),
        Some(CatalogRead::Skipped(why)) => {
            return Err(Error::needs_human(format!(
                "the schema was not read ({why}): fix-row decides from the schema, so it changes nothing"
            ))
            .with_hint("run it again when no migration or lock holds the schema"))
        }
        None => return Err(Error::internal("the catalog was asked for and not read")),
    };
    let reading = super::source::SourceReading {
        state: observation.state.clone(),
        db: Some(observation),
        notes: Vec::new(),
    };
    let facts = Facts::from_reading(&index, reading, deployed)?;
    let decision = check_with(
        &index,
        &facts.reading.state,
        facts.assessment.as_ref(),
        &CheckOptions {
            deployed: args.deployed.clone(),
            ..CheckOptions::default()
        },
    );
    let Some(action) = decision.action.clone() else {
        return match decision.exit_code() {
            ExitCode::Success => {
                crate::ewriteln!(
                    "migtag: nothing to fix: {} (the row already agrees with the schema)",
                    decision.summary
                );
                Ok(ExitCode::Success)
            }
            _ => Err(
                Error::needs_human(format!("no row action fits: {}", decision.summary))
                    .with_hint("`migtag runbook` shows the steps for a human"),
            ),
        };
    };
    let asker = Asker::new(args.yes);
    let mut shown = false;
    let mut ask = |report: &crate::core::repair::FixRowReport| {
        shown = true;
        show(ctx, &render::repair::fix_row_preview(report, ctx.style))
            && asker.confirm("Change the row?")
    };
    let report = repair::fix_row(&settings, &limits, action, fingerprint, &mut ask)?;
    if report.outcome == Outcome::NotConfirmed {
        crate::ewriteln!("migtag: {}", asker.not_confirmed_note());
    }
    ctx.emit(
        || render::json(&report),
        |s| render::repair::fix_row_result(&report, s, shown),
    );
    Ok(report.exit_code())
}

/// `--deployed TAG` of the repairs: a valid tag the index knows (the repairs change a row
/// on its word, so an unknown tag is an error, not a warning).
fn deployed_release<'i>(
    index: &'i crate::core::index::Index,
    tag: Option<&str>,
) -> Result<Option<&'i crate::core::index::Release>> {
    let Some(tag) = tag else {
        return Ok(None);
    };
    parse_tag(tag).map_err(|e| e.context("--deployed"))?;
    index.release(tag).map(Some).ok_or_else(|| {
        Error::no_match(format!("--deployed {tag} is not in the index"))
            .with_hint("refresh the index, or leave --deployed out")
    })
}

fn terminate(ctx: &Context, args: TerminateArgs) -> Result<ExitCode> {
    let (settings, limits) = settings_and_limits(&args.db)?;
    let asker = Asker::new(args.yes);
    let mut shown = false;
    let mut ask = |report: &crate::core::repair::TerminateReport| {
        shown = true;
        let n = report.targets.len();
        show(ctx, &render::repair::terminate_preview(report, ctx.style))
            && asker.confirm(&format!(
                "End {n} session{}?",
                if n == 1 { "" } else { "s" }
            ))
    };
    let report = repair::terminate(&settings, &limits, args.older_than, &mut ask)?;
    if report.outcome == Outcome::NotConfirmed {
        crate::ewriteln!("migtag: {}", asker.not_confirmed_note());
    }
    ctx.emit(
        || render::json(&report),
        |s| render::repair::terminate_result(&report, s, shown),
    );
    Ok(report.exit_code())
}
