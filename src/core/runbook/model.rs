//! What a runbook is: its input, its steps and commands, and each command's effect. This is
//! the JSON shape `runbook --format json` prints; the renderers read nothing else.

use serde::Serialize;

use super::commands::psql_line;
use crate::core::check::{CheckReport, Verdict};
use crate::core::deployment::{DeploymentFacts, Finding};
use crate::core::image_ref::ImageRef;
use crate::core::index::Index;
use crate::core::observation::DbObservation;
use crate::core::report::IndexView;
use crate::core::shell::ShellCommand;
use crate::core::state::{DbState, StateView};

/// What the runbook is built from.
#[derive(Debug, Clone)]
pub struct RunbookInput<'a> {
    pub index: &'a Index,
    pub check: &'a CheckReport,
    /// The full state (the check report only keeps its view).
    pub state: &'a DbState,
    /// What a live database showed: its name, schema and the other sessions.
    pub db: Option<&'a DbObservation>,
    pub deployment: Option<&'a DeploymentFacts>,
    pub findings: &'a [Finding],
    pub target: RunbookTarget<'a>,
    /// The schema checked against the row (live database, unless --no-schema): for a dirty
    /// row it replaces "compare the schema by hand" with the computed result.
    pub verification: Option<&'a crate::core::verify::Assessment>,
    /// What the replays showed for moving on from a row an irregular release wrote.
    pub irregular: &'a [String],
    /// What the migrations the runbook's image applies will lock and rewrite, and for how
    /// long; its window sizes the probe step.
    pub forecast: Option<&'a crate::core::forecast::Forecast>,
}

/// The names the commands address. Callers validate them (DNS-1123) before building.
#[derive(Debug, Clone)]
pub struct RunbookTarget<'a> {
    pub namespace: Option<&'a str>,
    pub deployment: &'a str,
    pub container: &'a str,
    /// The image repository the tag goes on.
    pub repo: &'a ImageRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    /// The situation, as `check` sums it up.
    pub summary: String,
    /// What the runbook does about it, in one line.
    pub plan: String,
    pub state: StateView,
    pub verdict: Verdict,
    pub target: RunbookTargetView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseView>,
    /// The image the Deployment must run at the end, when one is known.
    pub image: Option<String>,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
    /// About the index that answered (a damaged cache replaced, its age); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The upgrade forecast, when the runbook moves the database forward.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<crate::core::forecast::Forecast>,
    /// The row action the decision calls for (the same as `check`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::core::decide::RowAction>,
    #[serde(flatten)]
    pub schema: Option<crate::core::check::SchemaView>,
    pub index: IndexView,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunbookTargetView {
    pub namespace: Option<String>,
    pub deployment: String,
    pub container: String,
    /// From the manifest: replicas, current image, Helm release.
    pub replicas: Option<i32>,
    pub current_image: Option<String>,
    pub helm_release: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseView {
    pub name: String,
    pub schema: Option<String>,
    /// Other sessions on it when it was read.
    pub other_sessions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    Inspect,
    ScaleToZero,
    Sessions,
    TerminateSessions,
    SchemaMigrations,
    CleanUpDirty,
    SetImage,
    Probes,
    ScaleToOne,
    ScaleBack,
    WaitForMigration,
    V1Database,
    NoMatchingRelease,
    /// The row is not the schema's version (or missing): one compare-and-set puts it there.
    FixRow,
    /// The schema is no version's: what differs, for review.
    SchemaDrift,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: StepId,
    pub title: String,
    pub why: String,
    /// True when any command of the step is destructive.
    pub destructive: bool,
    /// Intrusive: only when nothing else helped.
    pub last_resort: bool,
    pub commands: Vec<RunbookCommand>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// A shell command line.
    Shell,
    /// An SQL statement for Coder's database; `shell` holds the psql line that runs it.
    Sql,
    /// Text for a file (a values or kustomization snippet), not a command.
    Snippet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Reads only; safe to run at any time.
    Read,
    /// Reads only, and runs until interrupted (follows logs).
    Watch,
    /// Changes the Deployment.
    Change,
    /// Stops Coder, ends sessions, or writes to the database.
    Destructive,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunbookCommand {
    pub kind: CommandKind,
    pub text: String,
    /// For SQL: the psql command line that runs it with `$CODER_PG_CONNECTION_URL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    pub effect: Effect,
    pub destructive: bool,
    /// When it applies, or what it is (`if the row was written by v2.21.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Another way to do what the step's first command does: run one of them, not all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub alternative: bool,
}

impl RunbookCommand {
    pub(super) fn shell(command: ShellCommand, effect: Effect) -> Self {
        Self::shell_text(command.text, effect)
    }

    pub(super) fn shell_text(text: String, effect: Effect) -> Self {
        RunbookCommand {
            kind: CommandKind::Shell,
            text,
            shell: None,
            effect,
            destructive: effect == Effect::Destructive,
            label: None,
            alternative: false,
        }
    }

    pub(super) fn sql(statement: String, effect: Effect) -> Self {
        RunbookCommand {
            kind: CommandKind::Sql,
            shell: Some(psql_line(&statement)),
            text: statement,
            effect,
            destructive: effect == Effect::Destructive,
            label: None,
            alternative: false,
        }
    }

    pub(super) fn snippet(text: String) -> Self {
        RunbookCommand {
            kind: CommandKind::Snippet,
            text,
            shell: None,
            effect: Effect::Change,
            destructive: false,
            label: None,
            alternative: false,
        }
    }

    pub(super) fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub(super) fn alternative(mut self) -> Self {
        self.alternative = true;
        self
    }
}
