//! `config sample`, `config validate` and `config show`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use discord_monitor::app::config::{self, Config};
use discord_monitor::config::ConfigError;

use super::{Outcome, Output};

/// `config sample [--output FILE]`: never overwrites a file.
pub fn sample(output: Option<&Path>, out: &mut Output) -> anyhow::Result<Outcome> {
    let sample = config::sample_json();
    match output {
        None => out.write_bytes(sample.as_bytes())?,
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
    Ok(Outcome::Success)
}

/// `config validate`: every problem on stderr, exit 1.
pub fn validate(
    path: &Path,
    loaded: Result<Config, ConfigError>,
    out: &mut Output,
) -> anyhow::Result<Outcome> {
    let config = match loaded {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err:#}");
            return Ok(Outcome::Failure);
        }
    };
    let source = if path.exists() {
        path.display().to_string()
    } else {
        format!("defaults ({} not found) and environment", path.display())
    };
    writeln!(out, "Configuration OK: {source}")?;
    if config.require_discord_token().is_err() {
        writeln!(
            out,
            "note: discord.token is not set: `run` needs it (env DISCORD_TOKEN or \
             DISCORD_TOKEN_FILE); other commands do not"
        )?;
    }
    Ok(Outcome::Success)
}

/// `config show`: the effective configuration, secrets masked.
pub fn show(config: &Config, out: &mut Output) -> anyhow::Result<Outcome> {
    writeln!(out, "{}", config.show_json())?;
    Ok(Outcome::Success)
}
