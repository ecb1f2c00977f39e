//! `run` and `demo`: the service itself, until a signal.

use std::path::Path;

use anyhow::Context;

use discord_monitor::app::config::Config;
use discord_monitor::app::{self, Mode};
use discord_monitor::logging::{self, LogSettings};

use super::Outcome;

/// `run`: refuses to start without a Discord token.
pub fn run(config: Config) -> anyhow::Result<Outcome> {
    config.require_discord_token()?;
    serve(config, Mode::Run)
}

/// `demo`: the service against a simulated Discord, its data under `./demo-data`.
pub fn demo(mut config: Config, port: Option<u16>) -> anyhow::Result<Outcome> {
    let sim = app::demo::start(&mut config, Path::new(app::demo::DEMO_DATA_DIR), port)
        .context("cannot start the simulated Discord")?;
    let outcome = serve(config, Mode::Demo);
    sim.shutdown();
    outcome
}

/// Starts logging, then the actix System that runs the service until a signal.
fn serve(config: Config, mode: Mode) -> anyhow::Result<Outcome> {
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
    Ok(Outcome::Success)
}
