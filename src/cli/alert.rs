//! `alert test`.

use discord_monitor::app::config::Config;

use super::{Outcome, Output};

/// One line (or JSON entry) per route; exit 1 when any route failed.
pub fn test(
    config: &Config,
    route: Option<&str>,
    json: bool,
    out: &mut Output,
) -> anyhow::Result<Outcome> {
    let routes = config.alerts.routes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let results = runtime.block_on(discord_monitor::actors::alert::test_routes(
        &routes, route, &log,
    ))?;
    if json {
        writeln!(out, "{}", serde_json::json!({ "results": results }))?;
    } else {
        for result in &results {
            match &result.error {
                None => writeln!(out, "ok      {}", result.route)?,
                Some(error) => writeln!(out, "FAILED  {}: {error}", result.route)?,
            }
        }
    }
    Ok(if results.iter().all(|result| result.ok) {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
