//! Which steps the observed state needs, in order, with why and the exact commands: the
//! decisions of the runbook.

use super::commands::{repair_clear_dirty, repair_fix_row, GUIDE_LIVENESS_PROBE, LOCK_HOLDER_SQL};
use super::model::*;
use super::notes::{holder_text, session_notes};
use crate::core::check::Verdict;
use crate::core::decide::RowAction;
use crate::core::deployment::{Finding, FindingKind};
use crate::core::dirty::{image_after_cleanup, CleanupKind, DirtyActionKind, DirtyAdvice};
use crate::core::image_ref::ImageRef;
use crate::core::index::Release;
use crate::core::migration_set::Version;
use crate::core::patch::{self, PatchForm, PatchTarget};
use crate::core::report::{short_tags, SHORT_TAGS};
use crate::core::session_text;
use crate::core::shell::{kubectl, ShellCommand};
use crate::core::sql::{self, migrations_table};
use crate::core::state::{DbState, MigrationInProgress};

pub(super) struct Builder<'a> {
    input: &'a RunbookInput<'a>,
    table: String,
    /// The database name as an SQL expression: the observed name as a literal, else
    /// `current_database()` (psql connects to Coder's database through the same variable).
    datname: String,
    steps: Vec<Step>,
    notes: Vec<String>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(input: &'a RunbookInput<'a>) -> Self {
        let schema = input.db.and_then(|d| d.database.schema.as_deref());
        Builder {
            input,
            table: migrations_table(schema),
            datname: input
                .db
                .map(|d| sql::literal(&d.database.database))
                .unwrap_or_else(|| "current_database()".to_string()),
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn ns(&self) -> Option<&'a str> {
        self.input.target.namespace
    }

    fn deployment_ref(&self) -> String {
        format!("deployment/{}", self.input.target.deployment)
    }

    fn scale(&self, n: i32) -> ShellCommand {
        kubectl(
            self.ns(),
            &["scale", &self.deployment_ref(), &format!("--replicas={n}")],
        )
    }

    fn finding(&self, kind: FindingKind) -> Option<&'a Finding> {
        self.input.findings.iter().find(|f| f.kind == kind)
    }

    fn db_name(&self) -> String {
        self.input
            .db
            .map(|d| format!("`{}`", d.database.database))
            .unwrap_or_else(|| "Coder's database".to_string())
    }

    /// The images the Deployment may run at the end, each with the condition it needs (one
    /// per dirty clean-up candidate when they need different images).
    fn images(&self) -> Vec<(Option<String>, ImageRef)> {
        let c = self.input.check;
        let repo = self.input.target.repo;
        match (c.verdict, self.input.state) {
            (Verdict::Exact | Verdict::UpgradeNeededToStart | Verdict::Fresh, _) => c
                .recommended
                .iter()
                .map(|r| (None, repo.with_tag(&r.release.tag)))
                .collect(),
            (Verdict::RowAheadOfSchema | Verdict::RowBehindSchema | Verdict::PartialRestore, _) => {
                c.after_action
                    .iter()
                    .map(|r| (None, repo.with_tag(&r.release.tag)))
                    .collect()
            }
            (Verdict::Dirty, DbState::Dirty(v)) => {
                let Some(advice) = &c.dirty else {
                    return Vec::new();
                };
                let per: Vec<(Vec<String>, Option<&Release>)> = advice
                    .cleanups
                    .iter()
                    .map(|cl| {
                        (
                            cl.assumes.clone(),
                            image_after_cleanup(
                                self.input.index,
                                *v,
                                cl.previous.as_ref().map(|p| p.version),
                            ),
                        )
                    })
                    .collect();
                let mut tags: Vec<&str> = per
                    .iter()
                    .filter_map(|(_, r)| r.map(|r| r.tag.as_str()))
                    .collect();
                tags.dedup();
                if tags.len() == 1 && per.iter().all(|(_, r)| r.is_some()) {
                    return vec![(None, repo.with_tag(tags[0]))];
                }
                per.into_iter()
                    .filter_map(|(assumes, r)| {
                        r.map(|r| {
                            (
                                Some(format!(
                                    "only if the row was written by {}",
                                    short_tags(&assumes, SHORT_TAGS)
                                )),
                                repo.with_tag(&r.tag),
                            )
                        })
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn finish(mut self) -> Runbook {
        let c = self.input.check;
        let images = self.images();
        let image = match images.as_slice() {
            [(None, img)] => Some(img.clone()),
            _ => None,
        };
        let plan = match (self.input.state, &image) {
            (DbState::InProgress(_), _) => {
                "wait for the running migration to end; change nothing meanwhile".to_string()
            }
            (DbState::V1, _) => {
                "no Coder v2 image can use this database: point Coder at a new, empty one"
                    .to_string()
            }
            _ if c.verdict == Verdict::Drift => {
                "the schema is no Coder version's: restore it (or a backup) before any image runs".to_string()
            }
            _ if c.verdict == Verdict::ForeignVersion => {
                "this schema_migrations is another tool's: point migtag and Coder at Coder's own database or schema".to_string()
            }
            (_, Some(img)) if c.action.is_some() && !matches!(self.input.state, DbState::Dirty(_)) => format!(
                "stop Coder, put the row where the schema is (one compare-and-set), then run {img} alone and scale back"
            ),
            (DbState::Dirty(v), Some(img)) => format!(
                "stop Coder, clean up the dirty row at {v} after checking the schema, then run {img} alone"
            ),
            (DbState::Dirty(v), None) if !images.is_empty() => format!(
                "stop Coder, clean up the dirty row at {v} after checking the schema, then run alone the image that fits the release that wrote it"
            ),
            (DbState::Dirty(v), None) => format!(
                "stop Coder and clean up the dirty row at {v}; migtag cannot name the image to run after it"
            ),
            (_, Some(img)) => format!("stop Coder, then run {img} alone and scale back"),
            (_, None) => {
                "no release in the index matches: find the image before changing anything"
                    .to_string()
            }
        };

        match self.input.state {
            DbState::InProgress(m) => self.in_progress(m),
            DbState::V1 => self.v1(),
            DbState::Dirty(v) => self.recovery(&images, Some(*v)),
            DbState::Clean(_) | DbState::Fresh => match c.verdict {
                Verdict::AheadOfIndex | Verdict::UnknownVersion | Verdict::ForeignVersion => {
                    self.no_match()
                }
                Verdict::Drift => self.drift(),
                _ => self.recovery(&images, None),
            },
        }

        let mut notes = Vec::new();
        if let Some(a) = self.input.verification {
            notes.push(format!("schema: {}", a.schema.summary));
        }
        notes.extend(c.warnings.iter().cloned());
        notes.append(&mut self.notes);
        if let Some(d) = self.input.db {
            notes.extend(d.database.notes.iter().cloned());
        }
        notes.extend(self.input.irregular.iter().cloned());
        let t = &self.input.target;
        Runbook {
            warnings: self.input.index.notices.clone(),
            summary: c.summary.clone(),
            plan,
            state: c.state.clone(),
            verdict: c.verdict,
            target: RunbookTargetView {
                namespace: t.namespace.map(str::to_string),
                deployment: t.deployment.to_string(),
                container: t.container.to_string(),
                replicas: self.input.deployment.map(|d| d.replicas),
                current_image: self.input.deployment.map(|d| d.container.image.to_string()),
                helm_release: self.input.deployment.and_then(|d| d.helm_release.clone()),
            },
            database: self.input.db.map(|d| DatabaseView {
                name: d.database.database.clone(),
                schema: d.database.schema.clone(),
                other_sessions: d.sessions.total,
            }),
            image: image.map(|i| i.to_string()),
            steps: self.steps,
            notes,
            forecast: self.input.forecast.cloned(),
            action: c.action.clone(),
            schema: c.schema.clone(),
            index: c.index.clone(),
        }
    }

    // ---- whole procedures ----

    /// Coder's "recovering from a failed migration": stop, look, clean up, run the right
    /// image alone, scale back.
    fn recovery(&mut self, images: &[(Option<String>, ImageRef)], dirty: Option<Version>) {
        self.inspect();
        self.scale_to_zero();
        self.sessions(false);
        self.terminate(None);
        self.schema_migrations(dirty.is_some());
        if let (Some(v), Some(advice)) = (dirty, self.input.check.dirty.as_ref()) {
            self.clean_up(v, advice);
        } else if let Some(action) = &self.input.check.action {
            self.fix_row(action);
        }
        if !images.is_empty() {
            self.set_image(images);
            self.probes();
            self.scale_to_one();
            self.scale_back();
        }
        self.deployment_notes();
    }

    fn in_progress(&mut self, m: &MigrationInProgress) {
        let mut notes = vec![holder_text(m)];
        if let Some(q) = &m.query {
            notes.push(format!("it is running: {q}"));
        }
        notes.push(
            "do not change the Deployment now: any change rolls the pods, which kills the migrating pod and rolls the whole batch back (Coder >= v2.5 migrates in one transaction)"
                .into(),
        );
        notes.push(
            "when the lock is gone, run `migtag runbook` again: the recorded version is final only then"
                .into(),
        );
        let lock_holder = LOCK_HOLDER_SQL.to_string();
        let mut commands = vec![RunbookCommand::sql(lock_holder, Effect::Read)
            .labelled("who holds Coder's migration lock (empty once it is done)")];
        commands.push(
            RunbookCommand::shell(
                kubectl(self.ns(), &["get", &self.deployment_ref(), "-o", "wide"]),
                Effect::Read,
            )
            .labelled("which pods run now"),
        );
        commands.push(self.logs().labelled("follow the migrating pod's log"));
        self.steps.push(Step {
            id: StepId::WaitForMigration,
            title: "Wait: a migration is running".into(),
            why: "A migration batch holds Coder's migration lock right now, so schema_migrations is locked and its version is not final. \
                  Stopping it rolls back everything it did so far; letting it finish is the fastest way out."
                .into(),
            destructive: false,
            last_resort: false,
            commands,
            notes,
        });
        if let Some(f) = self.finding(FindingKind::ProbeShorterThanMigration) {
            self.notes.push(format!(
                "{}; if Kubernetes restarts the pod mid-migration, raise the probe (`migtag runbook` shows the patch once the lock is gone)",
                f.message
            ));
        }
        self.sessions(true);
        self.terminate(Some(m));
    }

    fn v1(&mut self) {
        self.steps.push(Step {
            id: StepId::V1Database,
            title: "This is a Coder v1 database: do not run Coder v2 on it".into(),
            why: "The table migration_cursor exists. Coder v2 refuses such a database (`currently connected to a Coder v1 database, \
                  aborting database setup`) and v1 data does not migrate in place."
                .into(),
            destructive: false,
            last_resort: false,
            commands: vec![RunbookCommand::sql(
                "SELECT to_regclass('migration_cursor') AS v1_table, to_regclass('schema_migrations') AS v2_table;".into(),
                Effect::Read,
            )
            .labelled("confirm which tables exist")],
            notes: vec![
                "instead: create a new, empty database for Coder v2 and point CODER_PG_CONNECTION_URL (the Secret the chart reads) at it; \
                 keep the v1 database untouched until you no longer need it"
                    .into(),
                "no step of this runbook changes anything: there is no image that can run here".into(),
            ],
        });
    }

    fn no_match(&mut self) {
        self.inspect();
        self.schema_migrations(false);
        let v = self.input.check.state.version.unwrap_or_default();
        let ahead = self.input.check.verdict == Verdict::AheadOfIndex;
        let why = if ahead {
            format!(
                "The database is at {v}, beyond every release in the index: a newer release or a preview build \
                 (ghcr.io/coder/coder-preview) migrated it. Every image in the index would crash-loop with \
                 `no migration found for version {v}`."
            )
        } else {
            format!(
                "No release in the index ships migration {v}, so no image in the index can start on it \
                 (`no migration found for version {v}`)."
            )
        };
        self.steps.push(Step {
            id: StepId::NoMatchingRelease,
            title: "Find the image that wrote the database before changing anything".into(),
            why,
            destructive: false,
            last_resort: false,
            commands: Vec::new(),
            notes: vec![
                "refresh the index (`migtag index update`, or `--index FILE` with a newer one) and run `migtag runbook` again".into(),
                "if a preview build wrote it, run that same build again: there is no way back to a release without restoring a backup".into(),
                "do not run an older image and do not edit schema_migrations to an older version: that only hides the schema it already has".into(),
            ],
        });
    }

    // ---- single steps ----

    fn inspect(&mut self) {
        let mut notes = Vec::new();
        if let Some(d) = self.input.deployment {
            notes.push(format!(
                "the manifest shows {} replica{}, image {}",
                d.replicas,
                if d.replicas == 1 { "" } else { "s" },
                d.container.image
            ));
        }
        self.steps.push(Step {
            id: StepId::Inspect,
            title: "Check which cluster, namespace and Deployment you are about to change".into(),
            why: "Every later command uses this kubectl context and namespace; look at the image and replica count before changing them."
                .into(),
            destructive: false,
            last_resort: false,
            commands: vec![RunbookCommand::shell(
                kubectl(self.ns(), &["get", &self.deployment_ref(), "-o", "wide"]),
                Effect::Read,
            )],
            notes,
        });
    }

    fn scale_to_zero(&mut self) {
        self.steps.push(Step {
            id: StepId::ScaleToZero,
            title: "Scale Coder to 0 replicas".into(),
            why: "Old replicas keep database connections and locks that stop a migration, and crash-looping pods retry the migration \
                  over and over (Coder issues #5933, #20763, #21309). With no Coder pod running, the database can be checked and \
                  fixed without anything racing you. Coder is down from here until the scale-up step."
                .into(),
            destructive: true,
            last_resort: false,
            commands: vec![RunbookCommand::shell(self.scale(0), Effect::Destructive)],
            notes: vec![format!(
                "wait until no pod of {} is left: `{}`",
                self.deployment_ref(),
                kubectl(self.ns(), &["get", &self.deployment_ref()]).text
            )],
        });
    }

    fn sessions(&mut self, in_progress: bool) {
        let statement = format!(
            "SELECT pid, usename, application_name, client_addr, state, now() - xact_start AS xact_age, wait_event_type, left(query, 80) AS query \
             FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid() ORDER BY xact_start NULLS LAST;",
            self.datname
        );
        let notes = match self.input.db {
            Some(d) => session_notes(d),
            None => vec!["run `migtag runbook --db ...` to list them here".into()],
        };
        self.steps.push(Step {
            id: StepId::Sessions,
            title: format!("See who is still connected to {}", self.db_name()),
            why: if in_progress {
                "Sessions of old pods, or idle inside a transaction, can hold locks the running migration waits for; \
                 pg_stat_activity shows them with wait_event_type Lock. Find out who before ending anything."
                    .into()
            } else {
                "Sessions left by old pods, or idle inside a transaction, can hold locks that a migration waits for until probes \
                 kill it. Once Coder is at 0 replicas, what is left is someone else: find out who before ending anything."
                    .into()
            },
            destructive: false,
            last_resort: false,
            commands: vec![RunbookCommand::sql(statement, Effect::Read)],
            notes,
        });
    }

    fn terminate(&mut self, holder: Option<&MigrationInProgress>) {
        let statement = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid();",
            self.datname
        );
        let mut notes = Vec::new();
        match self.input.db {
            Some(d) if d.sessions.total == 0 => notes.push(format!(
                "when migtag looked, no other session was connected to `{}`: this step would end nothing",
                d.database.database
            )),
            Some(d) => {
                notes.push(format!(
                    "when migtag looked, it would have ended {} on `{}`: {}",
                    if d.sessions.total == 1 {
                        "the 1 other session".to_string()
                    } else {
                        format!("all {} other sessions", d.sessions.total)
                    },
                    d.database.database,
                    session_text::counts(&d.sessions.by_application)
                ));
                if !d.sessions.idle_in_transaction.is_empty() {
                    notes.push(format!(
                        "including {} idle in a transaction: {}",
                        d.sessions.idle_in_transaction.len(),
                        d.sessions
                            .idle_in_transaction
                            .iter()
                            .map(|s| format!("pid {}", s.pid))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            None => notes.push(
                "it ends every other session on the database, whoever holds it (the sessions step lists them)"
                    .into(),
            ),
        }
        if let Some(m) = holder {
            notes.push(format!(
                "this includes the migration itself ({}): ending it rolls the whole batch back, and the next start runs it again from the beginning",
                holder_text(m)
            ));
        }
        notes.push(
            "it needs a superuser, the sessions' own role, or pg_signal_backend; sessions that reconnect (a pod still running) come back"
                .into(),
        );
        self.steps.push(Step {
            id: StepId::TerminateSessions,
            title: format!("LAST RESORT: end the other sessions on {}", self.db_name()),
            why: if holder.is_some() {
                "Only if the migration stays stuck behind a lock that another session will not release (Coder's troubleshooting \
                 guide: \"as a last resort\"). It cuts off every other client of the database mid-work, the migration included; \
                 their open transactions roll back."
                    .into()
            } else {
                "Only if the migration keeps waiting for locks after Coder is scaled to 0 (Coder's troubleshooting guide: \
                 \"as a last resort\"). It cuts off every other client of the database mid-work; their open transactions roll back."
                    .into()
            },
            destructive: true,
            last_resort: true,
            commands: vec![RunbookCommand::sql(statement, Effect::Destructive)],
            notes,
        });
    }

    fn schema_migrations(&mut self, dirty: bool) {
        let observed = match self.input.state {
            DbState::Clean(v) => format!("version {v}, dirty false"),
            DbState::Dirty(v) => format!("version {v}, dirty true"),
            DbState::Fresh => "no row (or no table)".to_string(),
            _ => "a row".to_string(),
        };
        let mut notes = vec![format!(
            "migtag saw {observed}; if it shows something else now, stop and run `migtag runbook` again"
        )];
        if self.table != "schema_migrations" {
            notes.push(format!(
                "Coder's tables live in schema {}, so the statements name it; psql rejects a search_path parameter in the URL: \
                 run the psql lines with the URL without it (the script's sql() moves it into PGOPTIONS=\"-c search_path=...\" itself)",
                self.table.trim_end_matches(".schema_migrations")
            ));
        }
        self.steps.push(Step {
            id: StepId::SchemaMigrations,
            title: "Read schema_migrations".into(),
            why: if dirty {
                "The row says where the schema stands and whether a migration was left half-done (dirty = true). The clean-up \
                 below is written for the row migtag saw; it must still say the same."
                    .into()
            } else {
                "The recorded version decides which image can start: one whose migrations folder contains that version \
                 (Coder's troubleshooting guide, step 3)."
                    .into()
            },
            destructive: false,
            last_resort: false,
            commands: vec![RunbookCommand::sql(
                format!("SELECT * FROM {};", self.table),
                Effect::Read,
            )],
            notes,
        });
    }

    fn clean_up(&mut self, v: Version, advice: &DirtyAdvice) {
        let m = &advice.migration;
        let several = advice.cleanups.len() > 1;
        let review = advice.action == Some(DirtyActionKind::Review);
        let mut commands = Vec::new();
        for c in &advice.cleanups {
            let mut cmd = RunbookCommand::sql(c.statement(&self.table, v), Effect::Destructive);
            if several {
                cmd = cmd.labelled(format!(
                    "only if the row was written by {}",
                    short_tags(&c.assumes, SHORT_TAGS)
                ));
            }
            if review {
                cmd = cmd.labelled(
                    "only after undoing by hand what the half-run migration created (see the notes)",
                );
            }
            commands.push(cmd);
        }
        let mut notes = Vec::new();
        let evidence = self
            .input
            .verification
            .and_then(|a| Some((a.dirty.as_ref()?, a.dirty_action.as_ref()?)));
        if let Some((e, action)) = evidence {
            notes.push(format!(
                "schema evidence: {}; {}",
                e.summary, action.explanation
            ));
            if review {
                notes.push(format!("in place: {}", e.present.join("; ")));
                notes.push(format!("not in place: {}", e.not_present.join("; ")));
                notes.push(format!(
                    "for review, not run: the statements of {v:06}_{}.down.sql: {}",
                    e.name,
                    e.down_statements
                        .iter()
                        .map(|d| format!("{d};"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        } else if advice.in_index {
            if let Some(first) = self.first_release_tag(advice) {
                notes.push(format!(
                    "before clearing the flag, compare the schema with what coderd/database/migrations/{:06}_{}.up.sql of {first} does: \
                     a pre-2.5 binary ran it without a transaction, so part of it may be there",
                    v,
                    m.name.as_deref().unwrap_or("*")
                ));
            }
        }
        if several {
            notes.push(format!(
                "the releases that contain {v} disagree on the migration before it: run only the statement for the release that \
                 wrote the row (`migtag runbook --deployed TAG` picks one); each statement changes the row only while it is still \
                 ({v}, dirty), so at most one of them can apply"
            ));
        }
        for c in &advice.cleanups {
            let prefix = if several {
                format!("if written by {}: ", short_tags(&c.assumes, SHORT_TAGS))
            } else {
                String::new()
            };
            match (c.kind, &c.previous, &c.restore_image) {
                (CleanupKind::KeepAndClear, _, _) => notes.push(format!(
                    "{prefix}the row keeps {v} and only the flag is cleared: {v:06} finished"
                )),
                (_, Some(p), Some(img)) => notes.push(format!(
                    "{prefix}the row goes back to {p}; {} stops exactly there, if you would rather go back than forward",
                    img.image
                )),
                (_, Some(p), None) => notes.push(format!("{prefix}the row goes back to {p}")),
                (_, None, _) => notes.push(format!(
                    "{prefix}{v} is the first migration: the row is removed, and whatever the half-run migration created must be dropped by hand"
                )),
            }
        }
        if advice.cleanups.is_empty() {
            notes.push(format!(
                "migration {v} is in no release of the index, so migtag cannot name the version before it: refresh the index \
                 (`migtag index update`) or read the migrations folder of the image that wrote it"
            ));
        } else if !review {
            commands.push(
                RunbookCommand::shell(repair_clear_dirty(v), Effect::Destructive)
                    .labelled(format!(
                        "with migtag: one transaction, only while the row is still ({v}, dirty), after you confirm"
                    ))
                    .alternative(),
            );
        }
        self.steps.push(Step {
            id: StepId::CleanUpDirty,
            title: format!("Clean up the dirty row: migration {m} did not finish"),
            why: format!(
                "golang-migrate refuses a dirty database (`Dirty database version {v}. Fix and force version.`), so every Coder \
                 image crash-loops until the row is cleared. The statement is a compare-and-set: it changes the row only while it \
                 still says ({v}, dirty). Coder >= v2.5 does not leave dirty rows, so this one comes from a pre-2.5 binary or a \
                 hand edit."
            ),
            destructive: true,
            last_resort: false,
            commands,
            notes,
        });
    }

    /// The row action the schema evidence calls for (the row is not the schema's version, or
    /// the table is missing): one compare-and-set, or `repair fix-row`.
    fn fix_row(&mut self, action: &RowAction) {
        let commands = vec![
            RunbookCommand::sql(action.statement(&self.table), Effect::Destructive),
            RunbookCommand::shell(repair_fix_row(), Effect::Destructive)
                .labelled(
                    "with migtag: one transaction under Coder's migration lock, only while the row and the schema are still \
                     what migtag read, after you confirm",
                )
                .alternative(),
        ];
        self.steps.push(Step {
            id: StepId::FixRow,
            title: match action.to {
                Some(to) => format!("Put the row where the schema is: ({}, false)", to.version),
                None => "Fix the row".into(),
            },
            why: format!(
                "{}. golang-migrate trusts the row: until it says what the schema is, every image either skips migrations or \
                 re-runs ones whose objects exist. The statement changes the row only while it is still what migtag read.",
                action.explanation
            ),
            destructive: true,
            last_resort: false,
            commands,
            notes: Vec::new(),
        });
    }

    /// The schema is no version's: what differs, with the DDL that would restore it, for a
    /// human to review. No image is named.
    fn drift(&mut self) {
        let c = self.input.check;
        self.inspect();
        self.schema_migrations(false);
        self.steps.push(Step {
            id: StepId::SchemaDrift,
            title: "Restore the schema: it is no Coder version's".into(),
            why: format!(
                "{}. No image can be named until the schema is a version's: the statements are suggestions from the recorded \
                 definitions, to review (or restore a backup), never run by migtag.",
                c.summary
            ),
            destructive: false,
            last_resort: false,
            commands: Vec::new(),
            notes: c.why.clone(),
        });
    }

    /// A release whose migration file shows what the half-run migration does: the agreed
    /// image after the clean-up, else the first candidate's.
    fn first_release_tag(&self, advice: &DirtyAdvice) -> Option<String> {
        advice
            .run_after_cleanup
            .as_ref()
            .or_else(|| advice.cleanups.iter().find_map(|c| c.run_after.as_ref()))
            .map(|r| r.tag.clone())
    }

    fn set_image(&mut self, images: &[(Option<String>, ImageRef)]) {
        let facts = self.input.deployment;
        let current = facts.map(|f| &f.container.image);
        let c = self.input.check;
        let several = images.len() > 1;
        let mut why = match (c.verdict, self.input.state) {
            (Verdict::Dirty, DbState::Dirty(v)) if several => format!(
                "After the clean-up, the image must contain the version the row went back to (or it crash-loops) and run {v} next. \
                 The candidates need different images: use the one for the release that wrote the row."
            ),
            (Verdict::Dirty, DbState::Dirty(v)) => format!(
                "After the clean-up, {} contains the version the row went back to and runs {v} next: it re-runs the migration \
                 that did not finish, then the ones after it.",
                images[0].1
            ),
            (Verdict::Exact, _) => format!(
                "{} stops exactly at the recorded version: it starts without migrating anything (Coder's guide, step 4: match \
                 the tag's migrations to the recorded version).",
                images[0].1
            ),
            (Verdict::UpgradeNeededToStart, _) => {
                let n = c.recommended.as_ref().map(|r| r.applies.len()).unwrap_or(0);
                format!(
                    "No release stops exactly at the recorded version; {} contains it and applies the fewest migrations ({n}) when it starts.",
                    images[0].1
                )
            }
            _ => format!("{} can start on this database.", images[0].1),
        };
        let mut notes = Vec::new();
        let mut commands = Vec::new();
        for (condition, image) in images {
            let up_to_date = current.is_some_and(|c| {
                c.canonical_name() == image.canonical_name() && c.tag == image.tag
            });
            if up_to_date {
                let text = format!("the manifest already runs {image}: nothing to change");
                notes.push(match condition {
                    Some(cond) => format!("{cond}: {text}"),
                    None => text,
                });
                continue;
            }
            let t = PatchTarget {
                namespace: self.ns(),
                deployment: self.input.target.deployment,
                container: self.input.target.container,
                container_index: facts.map(|f| f.container.index),
                current_name: current.map(|c| c.name()),
                helm_release: facts.and_then(|f| f.helm_release.as_deref()),
                image,
            };
            let mut forms = vec![PatchForm::Kubectl, PatchForm::Strategic];
            if t.container_index.is_some() {
                forms.push(PatchForm::JsonPatch);
            }
            forms.extend([PatchForm::Helm, PatchForm::Kustomize]);
            let cond = |label: &str| match condition {
                Some(c) => format!("{c}, {label}"),
                None => label.to_string(),
            };
            for form in forms {
                // Only the JSON patch can fail (no container index), and it is left out then.
                let Ok(p) = patch::build(form, &t) else {
                    continue;
                };
                match &p {
                    patch::Patch::Kustomize { text } => commands.push(
                        RunbookCommand::snippet(text.clone())
                            .labelled(cond("with kustomize, in kustomization.yaml"))
                            .alternative(),
                    ),
                    patch::Patch::Helm { command, values } => {
                        commands.push(
                            RunbookCommand::shell(command.clone(), Effect::Change)
                                .labelled(cond("with helm"))
                                .alternative(),
                        );
                        commands.push(
                            RunbookCommand::snippet(values.clone())
                                .labelled(cond("the same in the Helm values file"))
                                .alternative(),
                        );
                    }
                    other => {
                        let mut cmd = RunbookCommand::shell_text(other.text(), Effect::Change)
                            .labelled(cond(match form {
                                PatchForm::Kubectl => "with kubectl set image",
                                PatchForm::Strategic => "with a strategic-merge patch",
                                _ => "with a JSON patch (it first tests that the container is still at that position)",
                            }));
                        cmd.alternative = form != PatchForm::Kubectl;
                        commands.push(cmd);
                    }
                }
            }
        }
        if !commands.is_empty() {
            if facts.is_none() {
                notes.push(
                    "pass --manifest (kubectl get deploy -o yaml) to get the JSON-patch form and the Helm release name"
                        .into(),
                );
            }
            notes.push(
                "a `helm upgrade` also applies the chart's coder.replicaCount and starts that many pods at once: during the recovery \
                 use the kubectl form, and put the same tag into your values so that the next helm upgrade keeps it"
                    .into(),
            );
        }
        if let Some(f) = self.finding(FindingKind::FloatingImage) {
            notes.push(f.message.clone());
        }
        let title = if several {
            let list: Vec<String> = images.iter().map(|(_, i)| i.to_string()).collect();
            format!(
                "Set the image: {}, depending on which release wrote the row",
                list.join(" or ")
            )
        } else {
            format!("Set the image to {}", images[0].1)
        };
        if several {
            why.push_str(" Each statement of the clean-up step names the release it assumes.");
        }
        self.steps.push(Step {
            id: StepId::SetImage,
            title,
            why,
            destructive: false,
            last_resort: false,
            commands,
            notes,
        });
    }

    /// The probe settings: the fix from the findings, or the guide's values when the
    /// Deployment is not known.
    /// The guide's liveness probe (90 x 10 s = 15 minutes), or, when the upgrade forecast
    /// asks for a longer window, the same probe with a failureThreshold that covers it.
    fn guide_probe(&self) -> RunbookCommand {
        let window = self
            .input
            .forecast
            .and_then(|f| f.migration_window.as_ref())
            .map(|w| w.seconds)
            .unwrap_or(crate::core::forecast::MIN_WINDOW_SECONDS);
        if window <= crate::core::forecast::MIN_WINDOW_SECONDS {
            return RunbookCommand::snippet(GUIDE_LIVENESS_PROBE.into())
                .labelled("the liveness probe of Coder's troubleshooting guide (15 minutes)");
        }
        let threshold = window.div_ceil(10);
        RunbookCommand::snippet(
            GUIDE_LIVENESS_PROBE.replace("failureThreshold: 90", &format!("failureThreshold: {threshold}")),
        )
        .labelled(format!(
            "the guide's liveness probe with failureThreshold {threshold} x 10 s, the upgrade forecast's window of {}",
            crate::core::duration::exact(window)
        ))
    }

    fn probes(&mut self) {
        let (commands, notes, why) = match (
            self.input.deployment,
            self.finding(FindingKind::ProbeShorterThanMigration),
        ) {
            (_, Some(f)) => {
                let commands = f
                    .fix
                    .iter()
                    .filter_map(|s| s.command.clone())
                    .map(|c| RunbookCommand::shell(c, Effect::Change))
                    .collect();
                let notes = f.fix.iter().map(|s| s.description.clone()).collect();
                (commands, notes, f.message.clone())
            }
            (Some(_), None) => return,
            (None, None) => (
                vec![self.guide_probe()],
                vec![
                    "pass --manifest to get the exact patch for your Deployment's probes (liveness, or startup when it has one)".into(),
                    "while a long migration runs, the guide suggests failureThreshold 200-300 with periodSeconds above 10".into(),
                ],
                "A migration can outlast the liveness probe; Kubernetes then restarts the pod mid-migration and it starts over \
                 (CrashLoopBackOff with a migration in the logs, Coder issues #20899, #21309). Give the pod at least as long as \
                 the migration may take."
                    .to_string(),
            ),
        };
        self.steps.push(Step {
            id: StepId::Probes,
            title: "Give the migration time before probes restart the pod".into(),
            why: format!(
                "{}. Change it now, while no pod runs, so the change starts nothing.",
                why.trim_end_matches('.')
            ),
            destructive: false,
            last_resort: false,
            commands,
            notes,
        });
    }

    fn logs(&self) -> RunbookCommand {
        let mut args = vec!["logs".to_string(), self.deployment_ref()];
        if self
            .input
            .deployment
            .is_some_and(|d| d.containers.len() > 1)
        {
            args.extend(["-c".into(), self.input.target.container.to_string()]);
        }
        args.push("-f".into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        RunbookCommand::shell(kubectl(self.ns(), &refs), Effect::Watch)
    }

    fn scale_to_one(&mut self) {
        self.steps.push(Step {
            id: StepId::ScaleToOne,
            title: "Scale to 1 replica and watch the migration".into(),
            why: "One pod migrates alone: no second replica races it for the lock, no old pod holds locks (Coder's guide, step 5). \
                  Its log shows each migration and ends with the server listening; `migrate up` errors show here first."
                .into(),
            destructive: false,
            last_resort: false,
            commands: vec![
                RunbookCommand::shell(self.scale(1), Effect::Change),
                self.logs().labelled("follow the log until the server is up (Ctrl-C stops following, not the pod)"),
            ],
            notes: vec![
                "`no migration found for version N` means the image is older than the database; `Dirty database version N` means a \
                 migration failed: stop (scale to 0) and run `migtag runbook` again"
                    .into(),
            ],
        });
    }

    fn scale_back(&mut self) {
        let (command, notes) = match self.input.deployment.map(|d| d.replicas) {
            Some(n) if n <= 1 => {
                self.notes.push(format!(
                    "the manifest runs {n} replica{}: there is nothing to scale back",
                    if n == 1 { "" } else { "s" }
                ));
                return;
            }
            Some(n) => (
                RunbookCommand::shell(self.scale(n), Effect::Change),
                vec![format!("{n} replicas, as the manifest had")],
            ),
            None => {
                let text = format!(
                    "{} --replicas=\"${{REPLICAS:?set REPLICAS to your usual replica count}}\"",
                    kubectl(self.ns(), &["scale", &self.deployment_ref()]).text
                );
                (
                    RunbookCommand::shell_text(text, Effect::Change),
                    vec![
                        "migtag does not know your usual replica count: set REPLICAS first, or pass --manifest".into(),
                    ],
                )
            }
        };
        self.steps.push(Step {
            id: StepId::ScaleBack,
            title: "Scale back once the pod is healthy".into(),
            why: "The migration is done once the pod is ready; more replicas now only start, they do not migrate.".into(),
            destructive: false,
            last_resort: false,
            commands: vec![command],
            notes,
        });
    }

    fn deployment_notes(&mut self) {
        if let Some(f) = self.finding(FindingKind::RollingUpdateKeepsOldPods) {
            // This runbook scales to 0 first, so the strategy matters only for later upgrades.
            self.notes
                .push(format!("for later upgrades: {}", f.message));
        }
        if self.input.deployment.is_some()
            && self
                .finding(FindingKind::ProbeShorterThanMigration)
                .is_none()
        {
            self.notes.push(
                "the Deployment's probes already allow the migration window (--migration-window)"
                    .into(),
            );
        }
    }
}
