//! `discord-monitor demo`: the real pipeline against discord-sim started in-process (a small
//! live stream plus history for backfill), data under `./demo-data`, and a progress line on
//! stderr every few seconds until Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::Config;
use crate::actors::db::{CountMessagesPerChannel, DbActor};
use crate::actors::gateway::{GatewayActor, GetGatewayStatus};
use crate::actors::processing::ProcessingShared;
use crate::config::Secret;
use crate::discord::config::{Compression, TokenType};
use crate::supervisor::ComponentHandle;
use discord_sim::{Sim, SimConfig, SimError, SimHandle};

/// Where `demo` keeps its database, backups and logs, relative to the working directory.
pub const DEMO_DATA_DIR: &str = "demo-data";

/// Requests per minute the demo allows itself against the simulator.
const DEMO_REQUESTS_PER_MINUTE: u32 = 1_200;

/// Seconds between progress lines: often enough to watch messages arrive.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// A small world: two guilds of three channels and a thread, some history for backfill to
/// fetch, and a stream of about two messages a second (with edits and deletes) that lasts
/// days. Heartbeats every 10 s so the gateway's health is visible quickly.
fn demo_world() -> SimConfig {
    SimConfig {
        seed: 2026,
        guilds: 2,
        channels_per_guild: 3,
        threads_per_guild: 1,
        history_per_channel: 40,
        live_messages: 1_000_000,
        rate_per_sec: 2.0,
        heartbeat_interval_ms: 10_000,
        ..SimConfig::default()
    }
}

/// Starts discord-sim and points the Discord settings at it; keeps everything else of the
/// loaded configuration (environment overrides included), with data under `data_dir`.
pub fn start(
    config: &mut Config,
    data_dir: &Path,
    port: Option<u16>,
) -> Result<SimHandle, SimError> {
    let sim = Sim::start(demo_world())?;
    config.database.path = data_dir.join("db.sqlite");
    config.database.backup_dir = data_dir.join("backups");
    config.monitoring.log_dir = data_dir.join("logs");
    if let Some(port) = port {
        config.monitoring.health_check_port = port;
    }
    let discord = &mut config.discord;
    discord.api_base_url = sim.rest_base_url();
    discord.gateway_url = None;
    discord.token = Some(Secret::new(sim.token()));
    discord.token_type = TokenType::Bot;
    discord.compression = Compression::ZlibStream;
    // Our own ceiling is a courtesy to Discord; the simulator enforces Discord's real limits
    // (buckets, 50 requests/s), so the demo's first backfill need not crawl.
    discord.rate_limit_requests_per_minute = DEMO_REQUESTS_PER_MINUTE;
    // The simulated guilds are the whole world here: a selection from a real configuration
    // would match none of them.
    discord.guild_ids.clear();
    discord.channel_ids.clear();
    discord.ignored_channel_ids.clear();
    Ok(sim)
}

/// Prints a progress line (messages stored per channel, gateway state, reconnects, triage
/// verdicts) every few seconds; runs until the service stops.
pub async fn report_progress(
    db: ComponentHandle<DbActor>,
    gateway: ComponentHandle<GatewayActor>,
    processing: Arc<ProcessingShared>,
) {
    let started = Instant::now();
    let mut interval = tokio::time::interval(PROGRESS_INTERVAL);
    interval.tick().await;
    loop {
        interval.tick().await;
        let counts = db
            .send(CountMessagesPerChannel)
            .await
            .ok()
            .and_then(Result::ok);
        let gateway = gateway.send(GetGatewayStatus).await.ok();
        let Some(counts) = counts else {
            continue;
        };
        let total: u64 = counts.iter().map(|count| count.messages).sum();
        let channels = counts
            .iter()
            .map(|count| {
                let name = if count.name.is_empty() {
                    count.channel_id.to_string()
                } else {
                    format!("#{}", count.name)
                };
                format!("{name} {}", count.messages)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (state, reconnects) = gateway.map_or(("unknown".to_owned(), 0), |status| {
            (
                format!("{:?}", status.state).to_lowercase(),
                status.reconnects,
            )
        });
        let triage = processing.counts();
        let backlog = processing
            .backlog()
            .map_or_else(|| "?".to_owned(), |figures| figures.size.to_string());
        eprintln!(
            "[demo {:>4}s] {total} messages stored ({channels}); gateway {state}, {reconnects} reconnects; \
             triage {} scored (llm {}, rules {}, prefilter {}), {} need attention, backlog {backlog}",
            started.elapsed().as_secs(),
            triage.scored,
            triage.llm,
            triage.rules,
            triage.prefilter,
            triage.needs_attention,
        );
    }
}
