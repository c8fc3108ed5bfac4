//! The command line, as clap derive structs. This is the only module that knows about clap;
//! `commands` turns these into plain inputs for the core and the adapters.

use std::path::PathBuf;

use crate::core::duration;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success; gate: the upgrade is safe
  1   a bug, or a local write failed (stdout on a full disk, cache, files)
  2   usage error
  3   gate: the upgrade is not safe
  4   the database needs a human: dirty, migration in progress, a v1 database, a row the
      schema contradicts (forced, or missing: a partial restore), another tool's version
  5   no release in the index matches (database ahead of the index, or unknown target)
  6   the schema is no Coder version's, or not the recorded one (drift): check, patch, verify
  10  database unreachable, authentication or TLS failure, query error
  11  upstream (GitHub API, git, container registry) unreachable, rate-limited or malformed
  12  invalid input (index file, psql output, manifest, tag, image reference)";

/// Which Coder image matches this database, is this upgrade safe, and what to change.
#[derive(Debug, Parser)]
#[command(
    name = "migtag",
    version,
    about = "Match a Coder database's schema_migrations to the Coder image that can run it",
    long_about = "migtag reads Coder's golang-migrate table schema_migrations (from the database, a \
                  version number, or pasted psql output), knows which release tag ships which \
                  migrations, and says which image to run, whether an upgrade is safe, and the exact \
                  Deployment change to apply.",
    after_long_help = EXIT_CODES_HELP,
    after_help = "Run `migtag --help` for the exit codes."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the flags every command takes: listed once, last, by `--help`, and left out
/// of `-h` (the short help), so that a command's own flags come first.
const GLOBAL: &str = "Global options";

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Use this index file instead of the cached or bundled one.
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL, hide_short_help = true)]
    pub index: Option<PathBuf>,
    /// Never touch the network.
    #[arg(long, global = true, help_heading = GLOBAL, hide_short_help = true)]
    pub offline: bool,
    /// Output format: human text, one JSON document on stdout (`watch`: one JSON line per
    /// update), or OpenMetrics text (`check`, `verify` and `gate` only).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human, help_heading = GLOBAL, hide_short_help = true)]
    pub format: Format,
    /// When to use colour (NO_COLOR is honoured by `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = GLOBAL, hide_short_help = true)]
    pub color: ColorChoice,
    /// Say more about what migtag does (to stderr).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL, hide_short_help = true)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    // The OpenMetrics text format (docs/metrics.md): `check`, `verify` and `gate`.
    Openmetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Which image matches the database now.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Check(CheckArgs),
    /// CI gate: is an upgrade from the database's state to --target safe?
    #[command(after_long_help = EXIT_CODES_HELP)]
    Gate(GateArgs),
    /// The Deployment change that runs the right image, and what to fix in the Deployment first.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Patch(PatchArgs),
    /// Recovery steps of Coder's upgrade-troubleshooting guide, concrete for this database.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Runbook(RunbookArgs),
    /// Verify the schema against the recorded version: the row is a claim, the catalog is the
    /// evidence (exit 6 on drift). Needs a live database (--db).
    #[command(after_long_help = EXIT_CODES_HELP)]
    Verify(VerifyArgs),
    /// Releases in the index with their highest migration, newest first.
    Releases(ReleasesArgs),
    /// Show, refresh or build the release index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff, generated from this command line), or write one page per
    /// command into a folder.
    Man(ManArgs),
    /// Opt-in repairs that change the database: only after you confirm (or pass --yes).
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Follow a running migration batch (read-only): which migration, how long against the
    /// forecast, who blocks it and who waits for it; ends when the batch commits (exit 0),
    /// rolls back (3) or --timeout passes (4). Needs a live database.
    #[command(after_long_help = WATCH_EXIT_HELP)]
    Watch(WatchArgs),
}

pub const WATCH_EXIT_HELP: &str = "\
Exit codes of watch:
  0   the batch committed (the row moved to its last migration); or nothing runs and the row
      is clean with nothing of --target pending
  3   the batch rolled back (the lock went, the row did not move), or left a dirty row
  4   --timeout passed while the batch ran; nothing runs but the row is dirty or --target's
      migrations are pending; or the lock went and whether it committed cannot be told
  2, 5, 10, 12 as for every command (usage, unknown target, database, invalid input)";

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The release being rolled out: gives "k of N", the batch forecast, and decides
    /// commit or rollback when no running migration was recognised.
    #[arg(long, value_name = "TAG")]
    pub target: Option<String>,
    /// How often to look, at least 100ms [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// Give up (exit 4) when the batch still runs after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// The Deployment (`kubectl get deploy coder -o yaml|json`, a file or -): its image's tag
    /// is the target when --target is not given, and its probe's budget is shown against
    /// the batch's age.
    #[arg(long, value_name = "FILE|-", help_heading = "Deployment")]
    pub manifest: Option<String>,
    /// The Deployment's name in the manifest.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "coder",
        help_heading = "Deployment"
    )]
    pub deployment: String,
    /// The container that runs Coder.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "coder",
        help_heading = "Deployment"
    )]
    pub container: String,
}

/// The file name kubectl's plugin lookup runs: `kubectl migtag ...` executes `kubectl-migtag`
/// from PATH (a copy of, or a symlink to, this binary).
pub const KUBECTL_PLUGIN_NAME: &str = "kubectl-migtag";

/// How the user invoked migtag: `kubectl migtag` when argv[0] is the plugin's file name, else
/// `migtag`. Usage lines and help say it this way, so that what they show can be typed back.
pub fn invoked_as(argv0: Option<&std::ffi::OsStr>) -> &'static str {
    let file = argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .and_then(|f| f.to_str());
    match file {
        Some(KUBECTL_PLUGIN_NAME) => "kubectl migtag",
        _ => "migtag",
    }
}

/// Parses the process's command line, naming the binary as it was invoked.
pub fn parse_args() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let name = invoked_as(std::env::args_os().next().as_deref());
    let matches = Cli::command()
        .bin_name(name)
        .after_help(format!("Run `{name} --help` for the exit codes."))
        .try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// Where the database state comes from. Exactly one of these, or the environment for --db.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// A recorded migration version, as in `schema_migrations.version`.
    #[arg(long = "version", value_name = "N", conflicts_with = "psql",
          allow_negative_numbers = true, value_parser = parse_migration_version)]
    pub version: Option<u64>,
    /// With --version: the row is dirty (the migration started and did not finish).
    #[arg(long, requires = "version")]
    pub dirty: bool,
    /// Pasted output of `SELECT * FROM schema_migrations;` (a file, or - for stdin).
    #[arg(long, value_name = "FILE|-")]
    pub psql: Option<String>,
    /// Read the live database: a postgres:// URL or a libpq `key=value` string. Without any
    /// source flag, CODER_PG_CONNECTION_URL, then DATABASE_URL, then the PG* variables (and
    /// ~/.pgpass) are used. Read-only; prefer PGPASSWORD or ~/.pgpass to a password on the
    /// command line.
    #[arg(long, value_name = "URL", conflicts_with_all = ["version", "psql"], help_heading = "Live database")]
    pub db: Option<String>,
    /// With a database: bound on the whole connect (DNS, TCP, TLS, authentication).
    /// Default: connect_timeout of the URL, else 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["version", "psql"], help_heading = "Live database")]
    pub connect_timeout: Option<std::time::Duration>,
    /// With a database: how long any statement may wait for a lock (lock_timeout) [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["version", "psql"], help_heading = "Live database")]
    pub lock_timeout: Option<std::time::Duration>,
    /// With a database: how long any statement may run (statement_timeout) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["version", "psql"], help_heading = "Live database")]
    pub statement_timeout: Option<std::time::Duration>,
    /// With a database: do not read the catalog. By default check, gate, patch and runbook
    /// weigh the schema against the row (its identity decides when they disagree; see
    /// `migtag verify`); without it the row alone decides.
    #[arg(long, conflicts_with_all = ["version", "psql"], help_heading = "Live database")]
    pub no_schema: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (it wrote the database, as far as you know).
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub deployed: Option<String>,
    /// Consider release candidates too.
    #[arg(long)]
    pub include_prereleases: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The release tag to upgrade to, such as v2.22.0.
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub target: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (it wrote the database, as far as you know).
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub deployed: Option<String>,
    /// Fail on warnings too (harmless skipped migrations, Deployment findings).
    #[arg(long)]
    pub strict: bool,
    /// Fail when the upgrade applies more than N migrations.
    #[arg(long, value_name = "N")]
    pub max_pending: Option<u64>,
    /// Fail when the forecast's high estimate of the migrations' duration exceeds this
    /// (needs a live database for the table sizes).
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub max_duration: Option<u64>,
    /// Copy the live schema (no data, with pg_dump) into a scratch database, run the
    /// target's pending migrations there in one transaction as Coder does, and fail on the
    /// first error (needs --db and --scratch-db; the files come from --sql, else GitHub).
    #[arg(long, requires = "scratch_db", help_heading = "Rehearsal")]
    pub rehearse: bool,
    /// A server where migtag may create (and then drops) its own scratch database: the role
    /// needs CREATEDB. It may be the live server; nothing else on it is written.
    #[arg(
        long,
        value_name = "URL",
        requires = "rehearse",
        help_heading = "Rehearsal"
    )]
    pub scratch_db: Option<String>,
    /// Coder's SQL for the rehearsal: the coder-sql.tar.gz reference tarball, its unpacked
    /// folder, or a coder/coder clone at the target. Without it, the target's files come
    /// from GitHub through the cache (docs/index-sources.md).
    #[arg(
        long,
        value_name = "TARBALL|DIR|GIT_CLONE",
        requires = "rehearse",
        help_heading = "Rehearsal"
    )]
    pub sql: Option<PathBuf>,
    /// How long one statement of the rehearsal may run (its statement_timeout: a migration
    /// that runs longer fails the rehearsal); the whole stops at twice this plus 5 s, and the
    /// scratch database is dropped either way.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_window,
        default_value = "10m",
        requires = "rehearse",
        help_heading = "Rehearsal"
    )]
    pub rehearse_timeout: u64,
    /// With --rehearse: also copy P% of the rows of every table the pending migrations read
    /// or write (and the parent rows their foreign keys need) from the live database, time
    /// each statement of the batch on them, and estimate the duration scaled by each
    /// table's live-to-sample row ratio (10, 10% or 2.5%; docs/forecast.md).
    #[arg(
        long,
        value_name = "P%",
        value_parser = parse_sample,
        requires = "rehearse",
        help_heading = "Rehearsal"
    )]
    pub sample: Option<f64>,
    /// Where the target's files are fetched without --sql (default: the API the index in
    /// use was fetched from, else GitHub's).
    #[arg(
        long,
        value_name = "URL",
        requires = "rehearse",
        conflicts_with = "sql",
        help_heading = "Rehearsal"
    )]
    pub github_api_url: Option<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

/// The Coder Deployment a command checks or addresses (`gate`, `runbook`).
#[derive(Debug, Args, Clone)]
pub struct DeploymentArgs {
    /// The Deployment as `kubectl get deploy coder -o yaml|json`, a List, or `helm template`
    /// output (a file, or - for stdin): enables the Deployment checks (replicas, strategy,
    /// probes, floating tags).
    #[arg(long, value_name = "FILE|-", help_heading = "Deployment")]
    pub manifest: Option<String>,
    /// The namespace of the Deployment (default: the manifest's, else kubectl's current one).
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        help_heading = "Deployment"
    )]
    pub namespace: Option<String>,
    /// The Deployment's name (Coder's Helm chart names it `coder`).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "coder",
        help_heading = "Deployment"
    )]
    pub deployment: String,
    /// The container that runs Coder.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "coder",
        help_heading = "Deployment"
    )]
    pub container: String,
    /// How long the migration may run; probes that would kill the pod sooner are reported.
    /// Default: the upgrade forecast's window (at least 15m), else 15m.
    #[arg(long, value_name = "DURATION", value_parser = parse_window, help_heading = "Deployment")]
    pub migration_window: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunbookArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (default: the manifest's image tag, when the index knows it).
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub deployed: Option<String>,
    /// Markdown to read, or a bash script whose changing steps each ask before they run.
    #[arg(long = "as", value_enum, default_value_t = RunbookAs::Markdown)]
    pub as_: RunbookAs,
    /// The image repository, without tag [default: the index's, ghcr.io/coder/coder].
    #[arg(long, value_name = "REPO")]
    pub image_repo: Option<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunbookAs {
    /// A Markdown document: each step with why, commands and notes.
    Markdown,
    /// A bash script: read-only steps run, every change asks for `yes` first.
    Script,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Patch to this release tag instead of deciding from the database state.
    #[arg(long, value_name = "TAG", value_parser = tag_arg, conflicts_with = "SourceArgs")]
    pub tag: Option<String>,
    /// The form of the change.
    #[arg(long = "to", value_enum, default_value_t = PatchTo::Kubectl)]
    pub to: PatchTo,
    /// The namespace of the Deployment (default: the manifest's, else kubectl's current one).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The Deployment's name (Coder's Helm chart names it `coder`).
    #[arg(long, value_name = "NAME", default_value = "coder")]
    pub deployment: String,
    /// The container that runs Coder.
    #[arg(long, value_name = "NAME", default_value = "coder")]
    pub container: String,
    /// The image repository, without tag [default: the index's, ghcr.io/coder/coder].
    #[arg(long, value_name = "REPO")]
    pub image_repo: Option<String>,
    /// The Deployment as `kubectl get deploy coder -o yaml|json`, a List, or `helm template`
    /// output (a file, or - for stdin): enables the checks and the JSON patch.
    #[arg(long, value_name = "FILE|-")]
    pub manifest: Option<String>,
    /// How long the migration may run; probes that would kill the pod sooner are reported.
    /// Default: the upgrade forecast's window (at least 15m), else 15m.
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub migration_window: Option<u64>,
    /// Print only the change on stdout, exactly what kubectl, helm or kustomize reads (the
    /// patch document, the `kubectl set image` line, the Helm values, the kustomize entry);
    /// the report, warnings and checks go to stderr. Nothing on stdout when nothing changes.
    #[arg(long)]
    pub emit: bool,
    /// Pin the image by digest (REPO:TAG@sha256:...), resolved from the registry. Automatic
    /// when the Deployment's image is pinned by digest.
    #[arg(long, help_heading = "Registry")]
    pub pin_digest: bool,
    /// Check in the registry that the image tag exists before showing the change.
    #[arg(long, help_heading = "Registry")]
    pub verify_image: bool,
}

fn parse_window(text: &str) -> Result<u64, String> {
    duration::parse_seconds(text)
}

fn parse_sample(text: &str) -> Result<f64, String> {
    crate::core::forecast::rehearsed::parse_percent(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatchTo {
    /// `kubectl set image` command.
    Kubectl,
    /// Strategic-merge patch for `kubectl patch --type strategic`.
    Strategic,
    /// RFC 6902 JSON patch for `kubectl patch --type json` (needs --manifest).
    JsonPatch,
    /// `helm upgrade --reuse-values --set coder.image.tag=...` and a values snippet.
    Helm,
    /// An `images:` entry for kustomization.yaml.
    Kustomize,
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// Only this release line, such as 2.21.
    #[arg(long, value_name = "MAJOR.MINOR")]
    pub line: Option<String>,
    /// Include release candidates.
    #[arg(long)]
    pub include_prereleases: bool,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Show where the index comes from, how old it is, and what it covers.
    Show,
    /// Build the bundled index from the verified reference tables (a maintainer command).
    Import(ImportArgs),
    /// Merge the index in use (--index FILE, else the cache or the bundled one) into the
    /// reference tables: rows already there must agree with it (else nothing is written), new
    /// tags are appended.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Export(ExportArgs),
    /// Fetch the index from GitHub into the cache (or --out FILE). Uses GITHUB_TOKEN or
    /// GH_TOKEN when set; a refresh with nothing new costs one request.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Update(UpdateArgs),
    /// Build the index from a local git clone (for air-gapped sites), into the cache or --out.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Build(BuildArgs),
    /// Replay Coder's real migration files on a scratch database and record each one's
    /// effects (catalog diff, locks, rewrites, index builds, scans) (a maintainer command).
    #[command(after_long_help = EXIT_CODES_HELP)]
    Effects(EffectsArgs),
}

#[derive(Debug, Args)]
pub struct EffectsArgs {
    /// Coder's SQL: the coder-sql.tar.gz reference tarball, its unpacked folder, or a
    /// coder/coder clone (one content per file, no history). Without it, the files of the
    /// index's newest release come from GitHub through the cache, one content per file.
    #[arg(long, value_name = "TARBALL|DIR|GIT_CLONE")]
    pub sql: Option<PathBuf>,
    /// Where the files are fetched without --sql (default: the API the index in use was
    /// fetched from, else GitHub's).
    #[arg(long, value_name = "URL", conflicts_with = "sql")]
    pub github_api_url: Option<String>,
    /// A server where migtag may create (and then drops) its own scratch database: the role
    /// needs CREATEDB. Nothing else on that server is written.
    #[arg(long, value_name = "URL")]
    pub scratch_db: String,
    /// Where to write the effects data.
    #[arg(long, value_name = "FILE", default_value = "data/coder-effects.json")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (taken as the writer when it stops at the recorded version).
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub deployed: Option<String>,
}

/// Which project the index describes (forks differ from coder/coder).
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// The repository, owner/name.
    #[arg(long, value_name = "OWNER/NAME", default_value = "coder/coder")]
    pub repo: String,
    /// Folder of the migration files in the repository (sub-folders count, testdata/ not).
    /// Repeat it to try several folders in order; at each tag the first that exists wins
    /// (Coder's v0.1/v0.2 kept migrations in database/migrations).
    #[arg(
        long = "migrations-path",
        value_name = "PATH",
        action = clap::ArgAction::Append,
        default_values = ["coderd/database/migrations", "database/migrations"]
    )]
    pub migrations_paths: Vec<String>,
    /// Container image repository of the releases (image = REPO:TAG).
    #[arg(long, value_name = "REPO", default_value = "ghcr.io/coder/coder")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// GitHub API root: GitHub Enterprise is https://HOST/api/v3; a mirror works too.
    #[arg(long, value_name = "URL", default_value = crate::adapters::github::DEFAULT_API_URL)]
    pub github_api_url: String,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Write the index to this file instead of the cache (for example data/coder-index.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Ignore what the cache remembers (ETags, commits, trees) and fetch everything again.
    #[arg(long)]
    pub refresh: bool,
    /// Also replay the migrations the effects do not cover yet (fetched from GitHub through
    /// the cache) on a scratch database, and extend the effects with them (docs/verify.md).
    #[arg(long, requires = "scratch_db")]
    pub effects: bool,
    /// With --effects: a server where migtag may create (and then drops) its own scratch
    /// database: the role needs CREATEDB. Nothing else on that server is written.
    #[arg(long, value_name = "URL", requires = "effects")]
    pub scratch_db: Option<String>,
    /// With --effects: write the extended effects to this file instead of the cache (the
    /// maintainers' refresh writes data/coder-effects.json).
    #[arg(long, value_name = "FILE", requires = "effects")]
    pub effects_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A clone of the project (with its tags: `git fetch --tags`).
    #[arg(long, value_name = "PATH")]
    pub from_git: PathBuf,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Write the index to this file instead of the cache.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tag table (tag, commit, tag_date, max_migration, migrations, prerelease, ...).
    #[arg(
        long,
        value_name = "TSV",
        default_value = "data/reference/coder-tags.tsv"
    )]
    pub tags: PathBuf,
    /// The migration table (version, name, first_release).
    #[arg(
        long,
        value_name = "TSV",
        default_value = "data/reference/coder-migrations.tsv"
    )]
    pub migrations: PathBuf,
    /// When the tables' facts were gathered (kept in the provenance). Default: the
    /// generated_at of the existing --out file, so that a re-run gives the same bytes; pass
    /// it when the tables gained rows.
    #[arg(long, value_name = "DATE")]
    pub generated_at: Option<String>,
    /// Where to write the index.
    #[arg(long, value_name = "FILE", default_value = "data/coder-index.json")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tag table to merge into (read if it exists, then rewritten).
    #[arg(
        long,
        value_name = "TSV",
        default_value = "data/reference/coder-tags.tsv"
    )]
    pub tags: PathBuf,
    /// The migration table to merge into (read if it exists, then rewritten).
    #[arg(
        long,
        value_name = "TSV",
        default_value = "data/reference/coder-migrations.tsv"
    )]
    pub migrations: PathBuf,
    /// Compare and report only; write nothing.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepairCommand {
    /// Clear a dirty schema_migrations row with a compare-and-set, in one transaction.
    ///
    /// Takes Coder's migration lock (refuses if a migration holds it), locks and reads the row,
    /// refuses unless it is exactly (--expect-version, dirty), shows the statement, asks for
    /// confirmation, then sets the row to the previous migration (or removes it for a first
    /// migration) and commits only if exactly one row changed.
    #[command(after_long_help = REPAIR_EXIT_CODES_HELP)]
    ClearDirty(ClearDirtyArgs),
    /// Put the row where the schema is: the row action the evidence decides.
    ///
    /// Reads the row and the schema (read-only), decides as `check` does, and when the row
    /// and the schema disagree (a forced version, a partial restore, a dirty row whose
    /// migration finished or never started) runs that one row action: in one transaction
    /// under Coder's migration lock, re-reading the row FOR UPDATE and the schema's
    /// fingerprint first, after confirmation, committing only if exactly one row changed.
    #[command(after_long_help = REPAIR_EXIT_CODES_HELP)]
    FixRow(FixRowArgs),
    /// End sessions of the database that have been idle (or idle in a transaction) too long.
    ///
    /// Lists the other sessions of the same database, then, after confirmation, ends those
    /// idle for longer than --older-than, each with one statement that re-checks on the server
    /// that the session is still the same, still idle, and still over the bound.
    #[command(after_long_help = REPAIR_EXIT_CODES_HELP)]
    Terminate(TerminateArgs),
}

pub const REPAIR_EXIT_CODES_HELP: &str = "\
Exit codes:
  0   the change was made (terminate: or nothing was old enough to end)
  2   usage error, or not confirmed (no terminal and no --yes, or an answer other than yes)
  4   refused: a migration holds the lock, the row is not (V, dirty), the table is locked,
      clear-dirty: the schema shows V half-applied;
      fix-row: the row or the schema changed since migtag read them, or no row action fits;
      terminate: a session could not be ended
  5   --expect-version or --deployed is not in the index
  10  database unreachable, authentication or TLS failure, query error
  12  invalid input (schema_migrations is not golang-migrate's table)";

/// The live database a repair changes (the same settings as --db elsewhere).
#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// A postgres:// URL or a libpq `key=value` string. Without it, CODER_PG_CONNECTION_URL,
    /// then DATABASE_URL, then the PG* variables (and ~/.pgpass) are used. Prefer PGPASSWORD
    /// or ~/.pgpass to a password on the command line.
    #[arg(long, value_name = "URL", help_heading = "Live database")]
    pub db: Option<String>,
    /// Bound on the whole connect (DNS, TCP, TLS, authentication).
    /// Default: connect_timeout of the URL, else 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Live database")]
    pub connect_timeout: Option<std::time::Duration>,
    /// How long any statement may wait for a lock (lock_timeout) [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Live database")]
    pub lock_timeout: Option<std::time::Duration>,
    /// How long any statement may run (statement_timeout) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Live database")]
    pub statement_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ClearDirtyArgs {
    /// The dirty version you saw (`migtag check`): migtag changes the row only while it is
    /// exactly (V, dirty).
    #[arg(long, value_name = "V", value_parser = parse_migration_version)]
    pub expect_version: u64,
    /// The version to set: required when the releases that contain V disagree on the
    /// migration before it, and it must be one of those; `none` removes the row.
    #[arg(long, value_name = "P|none", value_parser = parse_cleanup_target)]
    pub to: Option<crate::core::repair::CleanupTarget>,
    /// The release that wrote the row, when you know it (narrows the previous migration).
    #[arg(long, value_name = "TAG", value_parser = tag_arg)]
    pub deployed: Option<String>,
    /// Confirm without a prompt (for scripts; a piped `yes` does not count).
    #[arg(long)]
    pub yes: bool,
    /// Do not read the catalog first. By default the schema evidence decides: the clean-up
    /// runs only when migration V's effects are absent (or V changes no catalog object).
    #[arg(long)]
    pub no_schema: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct FixRowArgs {
    /// The release that wrote the row, when you know it (narrows the previous migration of a
    /// dirty row).
    #[arg(long, value_name = "TAG")]
    pub deployed: Option<String>,
    /// Confirm without a prompt (for scripts; a piped `yes` does not count).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct TerminateArgs {
    /// End only sessions idle (or idle in a transaction) for longer than this: 90s, 10m, 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_idle_bound)]
    pub older_than: u64,
    /// Confirm without a prompt (for scripts; a piped `yes` does not count).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

fn parse_cleanup_target(text: &str) -> Result<crate::core::repair::CleanupTarget, String> {
    crate::core::repair::CleanupTarget::parse(text)
}

fn parse_idle_bound(text: &str) -> Result<u64, String> {
    match duration::parse_seconds(text)? {
        0 => Err(format!("`{text}` must be more than zero")),
        s => Ok(s),
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write migtag.1 and a page per command (migtag-check.1, ...) into this folder instead of
    /// printing migtag.1 (the release archive ships them under man/man1).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Every timeout flag: more than zero, at most a day (see [`duration::parse`]).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    duration::parse_timeout(text)
}

/// A release tag flag, written as Coder does (`2.36.0` -> `v2.36.0`); anything else is kept
/// for the command to refuse with its own message (`core::index::parse_tag`).
fn tag_arg(text: &str) -> Result<String, String> {
    Ok(crate::core::index::canonical_tag(text))
}

/// A `schema_migrations.version` value: golang-migrate stores a migration number in a
/// `bigint`, so it is never negative and never above `i64::MAX`.
pub fn parse_migration_version(text: &str) -> Result<u64, String> {
    if text.trim_start().starts_with('-') {
        return Err(
            "migration versions are never negative (golang-migrate records the number of the last migration)"
                .into(),
        );
    }
    let v: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a migration number"))?;
    if v > i64::MAX as u64 {
        return Err(format!(
            "{v} is beyond what schema_migrations.version (a bigint) can hold"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plugin_name_is_kubectl_migtag() {
        use std::ffi::OsStr;
        assert_eq!(
            super::invoked_as(Some(OsStr::new("/tmp/bin/kubectl-migtag"))),
            "kubectl migtag"
        );
        assert_eq!(super::invoked_as(Some(OsStr::new("./migtag"))), "migtag");
        assert_eq!(super::invoked_as(None), "migtag");
    }
}
