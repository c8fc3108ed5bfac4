//! The command line, as clap derive structs. This is the only module that knows about clap;
//! `commands` turns these into plain inputs for the core and the adapters.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success; gate: the upgrade is safe
  1   internal error (a bug)
  2   usage error
  3   gate: the upgrade is not safe
  4   the database needs a human: dirty, migration in progress, or a v1 database
  5   no release in the index matches (database ahead of the index, or unknown target)
  10  database unreachable, authentication or TLS failure, query error
  11  upstream (GitHub API, git) unreachable, rate-limited or malformed
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

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Use this index file instead of the cached or bundled one.
    #[arg(long, global = true, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// Never touch the network.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Output format: human text, or one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// When to use colour (NO_COLOR is honoured by `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Say more about what migtag does (to stderr).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
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
    /// Releases in the index with their highest migration, newest first.
    Releases(ReleasesArgs),
    /// Show, refresh or build the release index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// Where the database state comes from. Exactly one of these, or the environment for --db.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// A recorded migration version, as in `schema_migrations.version`.
    #[arg(long = "version", value_name = "N", conflicts_with = "psql")]
    pub version: Option<u64>,
    /// With --version: the row is dirty (the migration started and did not finish).
    #[arg(long, requires = "version")]
    pub dirty: bool,
    /// Pasted output of `SELECT * FROM schema_migrations;` (a file, or - for stdin).
    #[arg(long, value_name = "FILE|-")]
    pub psql: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (it wrote the database, as far as you know).
    #[arg(long, value_name = "TAG")]
    pub deployed: Option<String>,
    /// Consider release candidates too.
    #[arg(long)]
    pub include_prereleases: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The release tag to upgrade to, such as v2.22.0.
    #[arg(long, value_name = "TAG")]
    pub target: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tag deployed now (it wrote the database, as far as you know).
    #[arg(long, value_name = "TAG")]
    pub deployed: Option<String>,
    /// Fail on warnings too (harmless skipped migrations, Deployment findings).
    #[arg(long)]
    pub strict: bool,
    /// Fail when the upgrade applies more than N migrations.
    #[arg(long, value_name = "N")]
    pub max_pending: Option<u64>,
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
    /// Fetch the index from GitHub into the cache (or --out FILE). Uses GITHUB_TOKEN or
    /// GH_TOKEN when set; a refresh with nothing new costs one request.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Update(UpdateArgs),
    /// Build the index from a local git clone (for air-gapped sites), into the cache or --out.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Build(BuildArgs),
}

/// Which project the index describes (forks differ from coder/coder).
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// The repository, owner/name.
    #[arg(long, value_name = "OWNER/NAME", default_value = "coder/coder")]
    pub repo: String,
    /// Folder of the migration files in the repository (sub-folders count, testdata/ not).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "coderd/database/migrations"
    )]
    pub migrations_path: String,
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
    /// When the tables' facts were gathered (kept in the provenance; fixed so that the
    /// import gives the same bytes every time).
    #[arg(long, value_name = "DATE", default_value = crate::bundled::GATHERED_AT)]
    pub generated_at: String,
    /// Where to write the index.
    #[arg(long, value_name = "FILE", default_value = "data/coder-index.json")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
