//! `discord check`.

use discord_monitor::app::config::Config;

use super::{Outcome, Output};

/// Needs an actix System for its rate limiter. Internal log lines are not wanted on a
/// terminal: everything worth saying is in the report, or in the error (exit 1).
pub fn check(config: &Config, json: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let report = actix_rt::System::new()
        .block_on(discord_monitor::app::discord::check(&config.discord, &log))?;
    if json {
        out.json_pretty(&report)?;
    } else {
        write!(out, "{report}")?;
    }
    Ok(Outcome::Success)
}
