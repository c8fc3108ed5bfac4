//! What every command shares: output format, colour, verbosity, and how to find the index.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::adapters::{bounded, cache};
use crate::bundled;
use crate::cli::{ColorChoice, Format, GlobalArgs};
use crate::core::index::Index;
use crate::core::migration_set::Version;
use crate::error::{Error, Result};
use crate::render::style::Style;

pub struct Context {
    pub format: Format,
    pub style: Style,
    pub verbose: u8,
    pub offline: bool,
    pub index_path: Option<PathBuf>,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> Self {
        Context {
            format: global.format,
            style: Style {
                color: use_color(global.color, global.format),
            },
            verbose: global.verbose,
            offline: global.offline,
            index_path: global.index.clone(),
        }
    }

    /// The index to decide with: `--index FILE`, else the cached one (`index update` or
    /// `index build`), else the bundled one. Warns on stderr when it is older than
    /// [`STALE_AFTER_DAYS`].
    pub fn load_index(&self) -> Result<Index> {
        self.load_index_with_origin().map(|(index, _)| index)
    }

    /// Like [`Context::load_index`], also saying which file it came from.
    pub fn load_index_with_origin(&self) -> Result<(Index, IndexOrigin)> {
        let mut notices = Vec::new();
        let (index, origin) = if let Some(path) = &self.index_path {
            (load_index_file(path)?, IndexOrigin::File(path.clone()))
        } else {
            match cache::load_index() {
                Some(Ok((index, path))) => (index, IndexOrigin::Cache(path)),
                // A damaged cache (or one a newer migtag wrote) must not stop a gate or a
                // recovery: say so loudly and answer from the bundled index.
                Some(Err(e)) => {
                    notices.push(format!(
                        "{}; answering from the bundled index instead",
                        e.message()
                    ));
                    (bundled::load()?, IndexOrigin::Bundled)
                }
                None => (bundled::load()?, IndexOrigin::Bundled),
            }
        };
        let mut index = index;
        index.loaded_from = Some(origin.describe());
        index.notices = notices;
        self.info(&format!("index: {}", origin.describe()));
        let now = now()?;
        index.age_days = index_age_days(&index, now);
        if let Some(w) = stale_index_warning(&index, now) {
            index.notices.push(w);
        }
        Ok((index, origin))
    }

    /// A warning for humans: always on stderr, so that `--format json` stays one document.
    pub fn warn(&self, text: &str) {
        crate::ewriteln!("warning: {text}");
    }

    /// The index's notices (a damaged cache replaced, its age) on stderr. Every JSON report
    /// carries them in `warnings` too; the human text of `check` and `gate` lists them with
    /// its other warnings (`text_lists_them`), so they are not said twice there.
    pub fn warn_index_notices(&self, index: &Index, text_lists_them: bool) {
        if self.format != Format::Human || !text_lists_them {
            for n in &index.notices {
                self.warn(n);
            }
        }
    }

    /// Prints a report: JSON on stdout, or the human text on stdout. (`--format openmetrics`
    /// reaches only the commands that print metrics, see `commands::run`; they call
    /// [`Context::emit_or_metrics`].)
    pub fn emit(&self, json: impl FnOnce() -> String, human: impl FnOnce(Style) -> String) {
        match self.format {
            Format::Json => crate::render::out(&json()),
            Format::Human | Format::Openmetrics => crate::render::out(&human(self.style)),
        }
    }

    /// Like [`Context::emit`], with the OpenMetrics exposition for `--format openmetrics`.
    pub fn emit_or_metrics(
        &self,
        json: impl FnOnce() -> String,
        human: impl FnOnce(Style) -> String,
        metrics: impl FnOnce() -> String,
    ) {
        match self.format {
            Format::Openmetrics => crate::render::out(&metrics()),
            _ => self.emit(json, human),
        }
    }

    /// A note for humans on stderr, shown with -v.
    pub fn info(&self, text: &str) {
        if self.verbose > 0 {
            crate::ewriteln!("migtag: {text}");
        }
    }
}

/// Where the index in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOrigin {
    /// `--index FILE`.
    File(PathBuf),
    /// The user's cache folder.
    Cache(PathBuf),
    /// Embedded in the binary.
    Bundled,
}

impl IndexOrigin {
    pub fn describe(&self) -> String {
        match self {
            IndexOrigin::File(p) => format!("{} (--index)", p.display()),
            IndexOrigin::Cache(p) => format!("{} (cache)", p.display()),
            IndexOrigin::Bundled => "bundled in the binary".into(),
        }
    }
}

/// The time the answer is given: `MIGTAG_NOW` (RFC 3339) when set, for reproducible output
/// (tests, documentation), else the clock.
pub fn now() -> Result<time::OffsetDateTime> {
    match std::env::var("MIGTAG_NOW") {
        Ok(text) if !text.is_empty() => parse_instant(&text).ok_or_else(|| {
            Error::usage(format!("MIGTAG_NOW=`{text}` is not an RFC 3339 time"))
                .with_hint("use a time like 2026-11-30T00:00:00Z, or unset MIGTAG_NOW")
        }),
        _ => Ok(time::OffsetDateTime::now_utc()),
    }
}

/// An index older than this many days gets a warning with every answer.
pub const STALE_AFTER_DAYS: i64 = 30;

/// Whole days between the index's `generated_at` and `now` (`None` when it does not parse).
pub fn index_age_days(index: &Index, now: time::OffsetDateTime) -> Option<i64> {
    let at = parse_instant(&index.provenance.generated_at)?;
    Some((now - at).whole_days())
}

/// Seconds between the index's `generated_at` and `now` (`None` when it does not parse).
pub fn index_age_seconds(index: &Index, now: time::OffsetDateTime) -> Option<i64> {
    let at = parse_instant(&index.provenance.generated_at)?;
    Some((now - at).whole_seconds())
}

pub fn parse_instant(text: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
}

/// The warning an old index earns, if it is old, or whose age cannot be known.
pub fn stale_index_warning(index: &Index, now: time::OffsetDateTime) -> Option<String> {
    let Some(age) = index_age_days(index, now) else {
        return Some(format!(
            "the index ({}) says it was generated `{}`, which is not a date: its age, and so whether releases are missing, is unknown; run `migtag index update`",
            index.provenance.source,
            index.provenance.generated_at.escape_debug()
        ));
    };
    (age > STALE_AFTER_DAYS).then(|| {
        format!(
            "the index ({}) is {age} days old (generated {}); releases since then are missing: run `migtag index update`",
            index.provenance.source, index.provenance.generated_at
        )
    })
}

/// The warning when the database has run a migration no release in the index ships.
pub fn beyond_index_warning(index: &Index, version: Version) -> Option<String> {
    let max = index.max_known_migration()?;
    (version > max).then(|| {
        format!(
            "the database is at migration {version:06}, beyond the index (highest {max:06}, {} index generated {}): run `migtag index update`",
            index.provenance.source, index.provenance.generated_at
        )
    })
}

/// The effects to verify, forecast and rehearse with: the one place every command loads them
/// (docs/verify.md). The effects `index update --effects` extended in the cache when they
/// extend the bundled ones and agree with the cached index; else the bundled
/// `data/coder-effects.json`. Read once per run.
pub fn load_effects() -> Result<&'static crate::core::effects::Effects> {
    EFFECTS
        .get_or_init(read_effects)
        .as_ref()
        .map_err(Clone::clone)
}

/// The effects of this run, read at most once (a second thread may start the read early:
/// [`prefetch_effects`]; whoever comes second waits for it).
static EFFECTS: std::sync::OnceLock<Result<crate::core::effects::Effects>> =
    std::sync::OnceLock::new();

/// Starts reading the effects on a second thread, for a command that will need them, so
/// that inflating and parsing them overlaps with its other work (the catalog query, the
/// index, the decision). `load_effects` takes the result.
pub fn prefetch_effects() {
    std::thread::spawn(|| {
        let _ = load_effects();
    });
}

fn read_effects() -> Result<crate::core::effects::Effects> {
    let bundled = bundled::effects()?;
    Ok(match cached_effects(&bundled) {
        Some(Ok(extended)) => extended,
        Some(Err(why)) => {
            crate::ewriteln!("warning: {why}; using the bundled effects");
            bundled
        }
        None => bundled,
    })
}

/// The effects in the cache (`index update --effects`): `None` when there are none, an
/// explanation when they cannot be used (unreadable, or not an extension of `base` that
/// agrees with the cached index).
pub fn cached_effects(
    base: &crate::core::effects::Effects,
) -> Option<std::result::Result<crate::core::effects::Effects, String>> {
    let path = cache::effects_path()?;
    let text = match bounded::read_path(&path, bounded::EFFECTS) {
        Ok(t) => t,
        Err(bounded::Failure::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(f) => {
            let e = f.or_io(|e| Error::invalid_input(e.to_string()));
            return Some(Err(format!(
                "the cached effects {} cannot be read: {}",
                path.display(),
                e.message()
            )));
        }
    };
    let effects = match crate::core::effects::Effects::from_json(&text) {
        Ok(e) => e,
        Err(e) => {
            return Some(Err(format!(
                "the cached effects {} do not parse: {e}",
                path.display()
            )))
        }
    };
    let index = match cache::load_index() {
        Some(Ok((index, _))) => index,
        _ => {
            return Some(Err(format!(
                "the cached effects {} have no cached index to agree with",
                path.display()
            )))
        }
    };
    match extension_problem(&effects, base, &index) {
        None => Some(Ok(effects)),
        Some(why) => Some(Err(format!("the cached effects {}: {why}", path.display()))),
    }
}

/// Why `effects` is not `base` extended with migrations `index` names alike; `None` when it is.
pub fn extension_problem(
    effects: &crate::core::effects::Effects,
    base: &crate::core::effects::Effects,
    index: &Index,
) -> Option<String> {
    let n = base.main.len();
    if effects.main.len() < n || effects.main[..n] != base.main[..] {
        return Some(format!(
            "they do not start with the {n} migrations of the effects they extend (a newer migtag bundles other effects: run `migtag index update --effects --scratch-db URL` again)"
        ));
    }
    if let Some(m) = effects.main[n..]
        .iter()
        .find(|m| index.name(m.version) != Some(m.name.as_str()))
    {
        return Some(format!(
            "migration {:06} is `{}` there but {} in the cached index",
            m.version,
            m.name,
            index
                .name(m.version)
                .map(|n| format!("`{n}`"))
                .unwrap_or_else(|| "absent".into())
        ));
    }
    None
}

pub fn load_index_file(path: &std::path::Path) -> Result<Index> {
    let text = bounded::read_path(path, bounded::INDEX).map_err(|f| {
        f.or_io(|e| {
            Error::invalid_input(format!(
                "cannot read the index file {}: {e}",
                path.display()
            ))
            .with_hint("check the path given to --index")
        })
    })?;
    Index::from_json(&text).map_err(|e| e.context(format!("index file {}", path.display())))
}

fn use_color(choice: ColorChoice, format: Format) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            format == Format::Human
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_warnings_follow_generated_at() {
        let mut index = bundled::load().unwrap();
        let now = time::macros::datetime!(2026-12-01 00:00 UTC);
        index.provenance.generated_at = "2026-11-27".into();
        assert_eq!(index_age_days(&index, now), Some(4));
        assert!(stale_index_warning(&index, now).is_none());
        index.provenance.generated_at = "2026-10-01T12:00:00Z".into();
        let w = stale_index_warning(&index, now).unwrap();
        assert!(
            w.contains("60 days old") && w.contains("index update"),
            "{w}"
        );
        index.provenance.generated_at = "not a date".into();
        let w = stale_index_warning(&index, now).unwrap();
        assert!(w.contains("`not a date`, which is not a date"), "{w}");
    }

    #[test]
    fn cached_effects_must_extend_the_bundle_and_agree_with_the_index() {
        let bundled = bundled::effects().unwrap();
        let mut index = bundled::load().unwrap();
        let n = bundled.main.len();
        assert_eq!(extension_problem(&bundled, &bundled, &index), None);
        let mut extended = bundled.clone();
        let mut next = bundled.main[n - 1].clone();
        next.version = bundled.provenance.max_migration + 1;
        next.name = "next".into();
        extended.main.push(next);
        // The bundled index does not know the new migration.
        let why = extension_problem(&extended, &bundled, &index).unwrap();
        assert!(why.contains("absent in the cached index"), "{why}");
        index = {
            let mut doc: serde_json::Value = serde_json::from_str(&index.to_json()).unwrap();
            doc["migrations"][(n + 1).to_string()] = "next".into();
            Index::from_json(&doc.to_string()).unwrap()
        };
        assert_eq!(extension_problem(&extended, &bundled, &index), None);
        // Effects that changed a bundled migration do not extend the bundle.
        extended.main[0].name = "other".into();
        assert!(extension_problem(&extended, &bundled, &index)
            .unwrap()
            .contains("do not start with"));
    }

    #[test]
    fn beyond_index_is_flagged() {
        let index = bundled::load().unwrap();
        let max = index.max_known_migration().unwrap();
        assert!(beyond_index_warning(&index, max).is_none());
        assert!(beyond_index_warning(&index, max + 1)
            .unwrap()
            .contains("index update"));
    }
}
