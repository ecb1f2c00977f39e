//! The `discord-monitor` binary: parses the command line, loads the configuration and hands
//! over to the library. This is the only place that uses `anyhow` and decides exit codes:
//! 0 success, 1 a reported failure (bad config, not ready, integrity problems), 2 bad usage.

mod backup_commands;
mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use cli::{
    AlertCommand, Cli, Command, ConfigCommand, DbCommand, DiscordCommand, HealthcheckArgs,
    LlmCommand,
};
use discord_monitor::actors::db::Database;
use discord_monitor::app::config::{self, Config};
use discord_monitor::app::{self, Mode};
use discord_monitor::config::{ConfigError, ProcessEnv};
use discord_monitor::logging::{self, LogSettings};

fn main() -> ExitCode {
    discord_monitor::tls::install_crypto_provider();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let (path, explicit) = config::config_path(cli.config.clone(), &ProcessEnv);
    match cli.command {
        Command::Config(ConfigCommand::Sample { output }) => {
            write_sample(output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Validate) => Ok(validate(&path, explicit)),
        Command::Config(ConfigCommand::Show) => {
            let config = load(&path, explicit)?;
            println!("{}", config.show_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck(args) => {
            let config = load(&path, explicit)?;
            healthcheck(&config, &args)
        }
        Command::Db(command) => {
            let config = load(&path, explicit)?;
            db_command(&config, command)
        }
        Command::Llm(command) => {
            let config = load(&path, explicit)?;
            llm_command(&config, command)
        }
        Command::Discord(DiscordCommand::Check { json }) => {
            let config = load(&path, explicit)?;
            discord_check(&config, json)
        }
        Command::Alert(AlertCommand::Test { route, json }) => {
            let config = load(&path, explicit)?;
            alert_test(&config, route.as_deref(), json)
        }
        Command::Run => {
            let config = load(&path, explicit)?;
            config.require_discord_token()?;
            serve(config, Mode::Run)
        }
        Command::Demo(args) => {
            let mut config = load(&path, explicit)?;
            let sim = app::demo::start(&mut config, Path::new(app::demo::DEMO_DATA_DIR), args.port)
                .context("cannot start the simulated Discord")?;
            let outcome = serve(config, Mode::Demo);
            sim.shutdown();
            outcome
        }
    }
}

fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
    Config::load(path, explicit, &ProcessEnv)
}

fn write_sample(output: Option<&Path>) -> anyhow::Result<()> {
    let sample = config::sample_json();
    match output {
        None => {
            std::io::stdout().write_all(sample.as_bytes())?;
        }
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| {
                    format!("cannot create {} (it must not exist yet)", path.display())
                })?;
            file.write_all(sample.as_bytes())?;
            eprintln!("Wrote a sample configuration to {}", path.display());
        }
    }
    Ok(())
}

fn validate(path: &Path, explicit: bool) -> ExitCode {
    match load(path, explicit) {
        Ok(config) => {
            let source = if path.exists() {
                path.display().to_string()
            } else {
                format!("defaults ({} not found) and environment", path.display())
            };
            println!("Configuration OK: {source}");
            if config.require_discord_token().is_err() {
                println!(
                    "note: discord.token is not set: `run` needs it (env DISCORD_TOKEN or \
                     DISCORD_TOKEN_FILE); other commands do not"
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `alert test`: one line (or JSON entry) per route; exit 1 when any route failed.
fn alert_test(config: &Config, route: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let routes = config.alerts.routes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let results = runtime.block_on(discord_monitor::actors::alert::test_routes(
        &routes, route, &log,
    ))?;
    if json {
        println!("{}", serde_json::json!({ "results": results }));
    } else {
        for result in &results {
            match &result.error {
                None => println!("ok      {}", result.route),
                Some(error) => println!("FAILED  {}: {error}", result.route),
            }
        }
    }
    Ok(if results.iter().all(|result| result.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn healthcheck(config: &Config, args: &HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.clone().unwrap_or_else(|| {
        format!(
            "http://127.0.0.1:{}/health/ready",
            config.monitoring.health_check_port
        )
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let outcome = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, body))
    });
    match outcome {
        Ok((status, _)) if status.is_success() => {
            println!("ready: {url} answered {status}");
            Ok(ExitCode::SUCCESS)
        }
        Ok((status, body)) => {
            println!("not ready: {url} answered {status}: {}", body.trim());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            println!("not ready: {url}: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn db_command(config: &Config, command: DbCommand) -> anyhow::Result<ExitCode> {
    let open = || {
        Database::open(&config.database)
            .with_context(|| format!("cannot open {}", config.database.path.display()))
    };
    match command {
        DbCommand::Backup { json } => backup_commands::backup(config, json),
        DbCommand::Backups { json } => backup_commands::list(config, json),
        DbCommand::Restore { file, yes } => backup_commands::restore(config, &file, yes),
        DbCommand::Vacuum => backup_commands::vacuum(config),
        DbCommand::Repair { json } => backup_commands::repair(config, json),
        DbCommand::Migrate => {
            let db = open()?;
            let applied = db.run_pending_migrations()?;
            if applied.is_empty() {
                println!("Schema is up to date ({})", config.database.path.display());
            } else {
                for name in &applied {
                    println!("Applied {name}");
                }
                println!("{} migration(s) applied", applied.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Stats { json } => {
            let db = open()?;
            let pending = db.pending_migrations()?;
            let stats = db.stats()?;
            if json {
                let mut value = serde_json::to_value(&stats)?;
                value["pending_migrations"] = serde_json::json!(pending);
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("Database: {}", stats.path);
                println!("File size: {} bytes", stats.file_size_bytes);
                println!("WAL size: {} bytes", stats.wal_size_bytes);
                println!(
                    "Pages: {} x {} bytes ({} free)",
                    stats.page_count, stats.page_size_bytes, stats.freelist_count
                );
                println!("Journal mode: {}", stats.journal_mode);
                if !pending.is_empty() {
                    println!(
                        "Pending migrations: {} (run `db migrate`)",
                        pending.join(", ")
                    );
                }
                println!("{:<24} {:>12}", "table", "rows");
                for (table, rows) in &stats.tables {
                    println!("{table:<24} {rows:>12}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Integrity => {
            let report = open()?.integrity()?;
            if report.ok {
                println!("Integrity OK: {}", config.database.path.display());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("Integrity problems in {}:", config.database.path.display());
                for problem in &report.problems {
                    println!("  {problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// `discord check`: needs an actix System for its rate limiter. Internal log lines are not
/// wanted on a terminal: everything worth saying is in the report.
fn discord_check(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let outcome = actix_rt::System::new().block_on(discord_monitor::discord::check::run_check(
        &config.discord,
        &log,
    ));
    match outcome {
        Ok(report) if json => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Ok(report) => {
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {}", logging::error_chain(&err));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `llm check` (through the router; costs are booked like any call) and `llm usage`.
fn llm_command(config: &Config, command: LlmCommand) -> anyhow::Result<ExitCode> {
    use discord_monitor::actors::llm::RequestKind;
    use discord_monitor::actors::llm::check;
    let db = Database::open(&config.database)
        .with_context(|| format!("cannot open {}", config.database.path.display()))?;
    db.run_pending_migrations()?;
    match command {
        LlmCommand::Check { target, kind, json } => {
            let kind = RequestKind::parse(&kind).unwrap_or(RequestKind::Triage);
            let log = slog::Logger::root(slog::Discard, slog::o!());
            let report = actix_rt::System::new().block_on(check::run_check(
                &config.llm,
                db,
                kind,
                target.as_deref(),
                &log,
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LlmCommand::Usage { days } => {
            let rows = check::usage(&db, days)?;
            if rows.is_empty() {
                println!("No LLM calls booked in the last {days} day(s)");
            } else {
                println!(
                    "{:<10} {:<14} {:<24} {:>6} {:>6} {:>10} {:>10} {:>10}",
                    "day",
                    "provider",
                    "model",
                    "calls",
                    "fails",
                    "tokens_in",
                    "tokens_out",
                    "cost_usd"
                );
                for row in &rows {
                    println!(
                        "{:<10} {:<14} {:<24} {:>6} {:>6} {:>10} {:>10} {:>10.4}",
                        row.day,
                        row.provider,
                        row.model,
                        row.calls,
                        row.failures,
                        row.input_tokens,
                        row.output_tokens,
                        row.cost_usd
                    );
                }
                let total: f64 = rows.iter().map(|row| row.cost_usd).sum();
                println!("total: ${total:.4}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Starts logging, then the actix System that runs the service until a signal.
fn serve(config: Config, mode: Mode) -> anyhow::Result<ExitCode> {
    let settings = LogSettings::from_config(&config.monitoring)
        .with_secrets(config.secrets().into_iter().cloned());
    let logging = logging::init(settings).context("cannot start logging")?;
    // A second bridge (never in this binary) would only mean records go to the first one.
    let _ = logging::install_log_bridge(&logging.logger, config.monitoring.log_level);
    logging::install_panic_hook(&logging.logger);
    if mode == Mode::Demo {
        eprintln!(
            "discord-monitor demo: storing a simulated Discord ({api}); admin API on \
             http://127.0.0.1:{port} (try /status, /health/detailed, /metrics, \
             /api/messages); data and logs under ./{dir}; Ctrl-C to stop",
            api = config.discord.api_base_url,
            port = config.monitoring.health_check_port,
            dir = app::demo::DEMO_DATA_DIR,
        );
    }
    let log = logging.logger.clone();
    let result = actix_rt::System::new().block_on(app::serve(config, mode, log.clone()));
    if let Err(err) = &result {
        slog::crit!(log, "Service failed"; "error_type" => err.error_type(), "exception" => format!("{err:#}"));
    }
    drop(log);
    drop(logging);
    result?;
    Ok(ExitCode::SUCCESS)
}
