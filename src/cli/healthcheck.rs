//! `healthcheck`: the container's health check, with no curl in the image.

use std::time::Duration;

use discord_monitor::app::config::Config;

use super::args::HealthcheckArgs;
use super::{Outcome, Output};

/// Exit 0 when the readiness URL answers 2xx; exit 1 with the answer (or the failure)
/// otherwise.
pub fn run(config: &Config, args: &HealthcheckArgs, out: &mut Output) -> anyhow::Result<Outcome> {
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
            writeln!(out, "ready: {url} answered {status}")?;
            Ok(Outcome::Success)
        }
        Ok((status, body)) => {
            writeln!(out, "not ready: {url} answered {status}: {}", body.trim())?;
            Ok(Outcome::Failure)
        }
        Err(err) => {
            writeln!(out, "not ready: {url}: {err}")?;
            Ok(Outcome::Failure)
        }
    }
}
