//! `migtag watch`: follows the batch that holds Coder's migration lock until it commits,
//! rolls back or `--timeout` passes (docs/watch.md). The adapter polls, the core matches and
//! decides, the renderer draws; this file only wires and keeps time.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::adapters::postgres::watch::Watcher;
use crate::cli::{Format, WatchArgs};
use crate::core::deployment::start_up_killer;
use crate::core::index::parse_tag;
use crate::core::state::DbState;
use crate::core::watch::{self, Ending, Running, Target, Tracker};
use crate::error::{Error, ExitCode, Result};
use crate::render;

use super::context::Context;

/// The shortest `--interval`.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How often plain lines repeat an unchanged frame.
const HEARTBEAT: Duration = Duration::from_secs(30);

pub fn run(ctx: &Context, args: WatchArgs) -> Result<ExitCode> {
    match follow(ctx, args) {
        // JSON lines stay JSON lines: the error is the last line (and the message on stderr),
        // not the pretty error document of the other commands.
        Err(e) if ctx.format == Format::Json => {
            crate::ewriteln!("error: {e}");
            render::out(&render::watch::error_json(&e));
            Ok(e.exit_code())
        }
        other => other,
    }
}

fn follow(ctx: &Context, args: WatchArgs) -> Result<ExitCode> {
    let interval = args.interval.unwrap_or(Duration::from_secs(1));
    if interval < MIN_INTERVAL {
        return Err(Error::usage(format!(
            "--interval {}ms polls too often: at least {}ms (each poll is a query on the server Coder migrates)",
            interval.as_millis(),
            MIN_INTERVAL.as_millis()
        )));
    }
    if let Some(t) = &args.target {
        parse_tag(t).map_err(|e| e.context("--target"))?;
    }
    let selector = super::manifest::Selector {
        manifest: args.manifest.as_deref(),
        namespace: None,
        deployment: &args.deployment,
        container: &args.container,
    };
    super::manifest::check_names(selector)?;
    let index = ctx.load_index()?;
    let deployment = super::manifest::read(ctx, selector)?.facts;
    // Without --target, the release the Deployment runs (when the index knows its tag).
    let wanted = args.target.clone().or_else(|| {
        let tag = deployment.as_ref()?.container.image.tag.clone()?;
        match index.release(&tag) {
            Some(_) => Some(tag),
            None => {
                ctx.warn(&format!(
                    "the Deployment's image tag {tag} is not in the index: no k of N or batch forecast (give --target)"
                ));
                None
            }
        }
    });
    let target = match &wanted {
        Some(t) => {
            let r = index.release(t).ok_or_else(|| {
                Error::no_match(format!("--target {t} is not in the index")).with_hint(
                    "`migtag releases` lists the tags; `migtag index update` refreshes the index",
                )
            })?;
            Some(Target {
                tag: r.tag.clone(),
                migrations: r.migrations.clone(),
            })
        }
        None => None,
    };
    let (settings, limits) = super::repair::settings_and_limits(&args.db)?;
    let watcher = Watcher::open(&settings, limits)?;
    let mut out = Output::new(ctx);

    let started = Instant::now();
    let mut sample = watcher.poll()?;
    if sample.holder.is_none() {
        let state = watcher.observe()?.state;
        if !matches!(state, DbState::InProgress(_)) {
            return Ok(out.end(&watch::nothing_running(&state, target.as_ref())));
        }
    }
    // The sizes come from pg_class statistics, which no migration lock blocks; without them
    // the frames have no forecast, nothing else changes.
    let live = watcher.sizes().ok();
    let effects = super::context::load_effects()?;
    let mut plan = watch::plan(effects, target, live.as_ref().map(|l| &l.tables));
    plan.probe = deployment
        .as_ref()
        .and_then(|d| start_up_killer(&d.container))
        .map(|(field, p)| (field, p.budget_seconds));
    let mut tracker = Tracker::new(plan);
    loop {
        match &sample.holder {
            Some(h) => {
                if let Some(ending) = tracker.retried(h) {
                    return Ok(out.end(&ending));
                }
                let frame = tracker.observe(h, &sample);
                out.frame(&frame);
            }
            None => {
                let state = watcher.observe()?.state;
                if !matches!(state, DbState::InProgress(_)) {
                    return Ok(out.end(&tracker.finish(&state)));
                }
            }
        }
        if let Some(t) = args.timeout {
            if started.elapsed() >= t {
                return Ok(out.end(&Ending::TimedOut {
                    seconds: started.elapsed().as_secs_f64(),
                }));
            }
        }
        std::thread::sleep(interval);
        sample = watcher.poll()?;
    }
}

/// Where frames go: a redrawn block on a terminal, plain lines when something changes (or
/// every [`HEARTBEAT`]), or one JSON line per poll.
struct Output<'a> {
    ctx: &'a Context,
    live: bool,
    drawn_lines: usize,
    last_line: Option<(String, Instant)>,
}

impl<'a> Output<'a> {
    fn new(ctx: &'a Context) -> Self {
        Output {
            ctx,
            live: ctx.format == Format::Human && std::io::stdout().is_terminal(),
            drawn_lines: 0,
            last_line: None,
        }
    }

    fn frame(&mut self, f: &Running) {
        match self.ctx.format {
            Format::Json => render::out(&render::watch::running_json(f)),
            _ if self.live => {
                let block = render::watch::running_block(f, self.ctx.style);
                render::out_over(self.drawn_lines, &block);
                self.drawn_lines = block.lines().count();
            }
            _ => {
                let key = render::watch::line_key(f);
                let due = match &self.last_line {
                    Some((k, at)) => *k != key || at.elapsed() >= HEARTBEAT,
                    None => true,
                };
                if due {
                    render::out(&render::watch::running_line(f));
                    self.last_line = Some((key, Instant::now()));
                }
            }
        }
    }

    fn end(&mut self, e: &Ending) -> ExitCode {
        match self.ctx.format {
            Format::Json => render::out(&render::watch::ending_json(e)),
            _ => render::out(&render::watch::ending_text(e, self.ctx.style)),
        }
        e.exit_code()
    }
}
