//! The clap definitions: what `discord-monitor --help`, the completion scripts and the man
//! page show.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use discord_monitor::actors::db::SearchQuery;

#[derive(Debug, Parser)]
#[command(
    name = "discord-monitor",
    version,
    about = "Watches Discord servers, keeps every message, and tells you what matters",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file [default: env DM_CONFIG, else ./config.json]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (needs a Discord token)
    Run,
    /// Run the service with its data under ./demo-data; no credentials needed
    Demo(DemoArgs),
    /// Write, check or print the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Database maintenance
    #[command(subcommand)]
    Db(DbCommand),
    /// Discord troubleshooting
    #[command(subcommand)]
    Discord(DiscordCommand),
    /// LLM router checks and the cost ledger
    #[command(subcommand)]
    Llm(LlmCommand),
    /// Alert routes
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Full-text search over the stored messages, best hits first (reads the database; works
    /// while the service runs)
    Search(SearchArgs),
    /// Exit 0 when the running service answers ready (for container health checks)
    Healthcheck(HealthcheckArgs),
    /// Print a shell completion script (e.g. `discord-monitor completions bash >
    /// /etc/bash_completion.d/discord-monitor`)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff; e.g. `discord-monitor man > discord-monitor.1`), or write
    /// it with one page per subcommand into a directory
    Man {
        /// Write discord-monitor.1 and the subcommands' pages into this directory
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// Whether `--json` was given: a failure is then reported as JSON on stdout as well.
    pub fn json(&self) -> bool {
        match self {
            Command::Db(
                DbCommand::Stats { json }
                | DbCommand::Backup { json }
                | DbCommand::Backups { json }
                | DbCommand::Repair { json },
            )
            | Command::Discord(DiscordCommand::Check { json })
            | Command::Llm(LlmCommand::Check { json, .. })
            | Command::Alert(AlertCommand::Test { json, .. })
            | Command::Search(SearchArgs { json, .. }) => *json,
            Command::Db(
                DbCommand::Migrate
                | DbCommand::Integrity
                | DbCommand::Restore { .. }
                | DbCommand::Vacuum,
            )
            | Command::Llm(LlmCommand::Usage { .. })
            | Command::Run
            | Command::Demo(_)
            | Command::Config(_)
            | Command::Healthcheck(_)
            | Command::Completions { .. }
            | Command::Man { .. } => false,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Query: words (all must match), \"quoted phrases\", prefix*, OR between \
    two words or phrases, -word or NOT word to exclude. Quote the whole query so that the \
    shell keeps its quotes and the options parser its dashes: \
    discord-monitor search '\"deploy failed\" -staging'; one that starts with a dash goes \
    after --: discord-monitor search --limit 5 -- '-staging deploy'. Matched words are shown \
    between ⟦ and ⟧ (bold on a terminal); the match count goes to stderr."
)]
pub struct SearchArgs {
    /// What to search for (several words are joined with spaces)
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
    /// Only messages of this guild
    #[arg(long, value_name = "ID")]
    pub guild: Option<u64>,
    /// Only messages of this channel or thread
    #[arg(long, value_name = "ID")]
    pub channel: Option<u64>,
    /// Only messages by this user
    #[arg(long, value_name = "ID")]
    pub author: Option<u64>,
    /// Only messages created at or after this time: RFC 3339 (2026-01-31T18:00:00Z), a date
    /// (2026-01-31, midnight UTC) or Unix milliseconds
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only messages created before this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Hits to show
    #[arg(
        long,
        value_name = "N",
        default_value_t = SearchQuery::DEFAULT_LIMIT,
        value_parser = clap::value_parser!(u32)
            .range(i64::from(SearchQuery::MIN_LIMIT)..=i64::from(SearchQuery::MAX_LIMIT))
    )]
    pub limit: u32,
    /// Print JSON (`{"query", "total", "has_more", "hits"}`, as `GET /api/search` answers)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Admin API port [default: monitoring.health_check_port, 8080]
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a configuration file with every key at its default, with comments
    Sample {
        /// Write to this file instead of stdout (refuses to overwrite)
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check the configuration; exit 1 listing every problem
    Validate,
    /// Print the effective configuration (file + environment), secrets masked
    Show,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending schema migrations
    Migrate,
    /// Rows per table, database file and WAL sizes
    Stats {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Run SQLite's integrity and foreign-key checks and the full-text index check
    Integrity,
    /// Take a backup now into database.backup_dir (safe while the service runs), then apply
    /// retention (database.max_backups)
    Backup {
        /// Print the backup as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the backups in database.backup_dir with their metadata, newest first
    Backups {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Replace the database with a backup, after verifying it and saving the current
    /// database as a pre-restore backup; refused while the service runs on the database
    Restore {
        /// Backup file: a path, or a file name from `db backups`
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Do not ask for confirmation (needed when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Rebuild the database file without free space and refresh the query planner's
    /// statistics; refused while the service runs on the database
    Vacuum,
    /// Check the database, fold in the write-ahead log, rebuild every index and the
    /// full-text index, and rebuild the file when damage remains; a copy is saved first when
    /// problems are found; exit 1 naming the backup to restore when it cannot be repaired;
    /// refused while the service runs on the database
    Repair {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DiscordCommand {
    /// Verify the token and show the gateway, the MESSAGE_CONTENT intent, and which guilds
    /// and channels are visible, monitored or forbidden
    Check {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Send one small structured request through the router (or to one target) and show who
    /// answered, the reply, tokens, cost and latency, or each target's classified failure
    Check {
        /// Only this target, as provider/model
        #[arg(long)]
        target: Option<String>,
        /// Which route to use
        #[arg(long, default_value = "triage", value_parser = ["triage", "digest", "ask"])]
        kind: String,
        /// Forget the structured-output modes learnt for the targets checked and probe again
        /// from json_schema (after upgrading a model server); a running service keeps its
        /// modes until it restarts
        #[arg(long)]
        relearn: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Calls, tokens and cost per day, provider and model
    Usage {
        /// Days back, today included
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a test alert through every configured route now; exit 1 if any route failed
    Test {
        /// Only this route (`email` and `slack` are the flat `email_*` and `slack_*` keys)
        #[arg(long, value_name = "NAME")]
        route: Option<String>,
        /// Print JSON (`{"results": [{"route", "ok", "error"}]}`) instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Readiness URL [default: http://127.0.0.1:<monitoring.health_check_port>/health/ready]
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}
