//! The `discord-sim` binary: a simulated Discord on loopback for manual runs, other clients
//! and scripts. It prints `KEY=value` lines (REST base URL, gateway URL, token) once it is
//! listening, a status line every `--status-every-secs` on stderr, and stops on Ctrl-C or
//! SIGTERM. Exit codes: 0 after a signal, 1 when the sim cannot start, 2 bad usage.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use discord_sim::{
    MessageContentApproval, RouteLimit, Sim, SimConfig, SimHandle, StreamStart, TokenKind,
};

#[derive(Debug, Parser)]
#[command(
    name = "discord-sim",
    version,
    about = "A simulated Discord (REST API v10 + gateway) on loopback, with seeded traffic"
)]
struct Args {
    /// Seed for names, history, live traffic and every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 2)]
    guilds: usize,
    /// Text channels per guild.
    #[arg(long, default_value_t = 3)]
    channels: usize,
    /// Threads per guild at start.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Text channels per guild the bot may not read (403 Missing Access).
    #[arg(long, default_value_t = 0)]
    forbidden: usize,
    /// Live messages to generate in total.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Messages per channel that exist before any client connects (REST backfill only).
    #[arg(long, default_value_t = 50)]
    history: usize,
    /// Live messages per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    #[arg(long, value_enum, default_value_t = StartArg::OnFirstReady)]
    stream_start: StartArg,
    #[arg(long, default_value_t = 0.1)]
    edit_ratio: f64,
    #[arg(long, default_value_t = 0.05)]
    delete_ratio: f64,
    /// Pad the first guild's GUILD_CREATE to at least this many megabytes.
    #[arg(long)]
    big_guild_mb: Option<f64>,
    /// Address to bind every listener on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// REST port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value_t = 0)]
    gateway_port: u16,
    /// Port of READY's resume_gateway_url.
    #[arg(long, default_value_t = 0)]
    resume_port: u16,
    /// The token the sim accepts (a fixed fake bot token by default).
    #[arg(long)]
    token: Option<String>,
    /// Expect a user token (`Authorization: <token>` without `Bot `).
    #[arg(long)]
    user_token: bool,
    #[arg(long, value_enum, default_value_t = ContentArg::Limited)]
    message_content: ContentArg,
    /// HELLO's heartbeat_interval in milliseconds.
    #[arg(long, default_value_t = 41_250)]
    heartbeat_ms: u64,
    /// Minimum milliseconds between IDENTIFYs (Discord: 5000).
    #[arg(long, default_value_t = 5_000)]
    identify_spacing_ms: u64,
    /// Requests per window in each REST bucket.
    #[arg(long, default_value_t = 5)]
    bucket_limit: u32,
    #[arg(long, default_value_t = 5_000)]
    bucket_reset_ms: u64,
    /// Bucket size for GET /channels/{id}/messages only (`LIMIT/RESET_MS`), e.g. `2/1000`.
    #[arg(long)]
    messages_bucket: Option<String>,
    /// Global REST requests per second (0 = off).
    #[arg(long, default_value_t = 50)]
    global_limit: u32,
    /// Print the connect URL with `&compress=zlib-stream` (the sim always honours whatever
    /// the client asks for in its query string).
    #[arg(long)]
    zlib: bool,
    /// Seconds between status lines on stderr (0 = none).
    #[arg(long, default_value_t = 10)]
    status_every_secs: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StartArg {
    Immediately,
    OnFirstReady,
    Manual,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ContentArg {
    Enabled,
    Limited,
    Disabled,
}

fn config(args: &Args) -> anyhow::Result<SimConfig> {
    let mut route_limits = Vec::new();
    if let Some(spec) = &args.messages_bucket {
        let (limit, reset) = spec
            .split_once('/')
            .context("--messages-bucket must look like LIMIT/RESET_MS, e.g. 2/1000")?;
        route_limits.push(RouteLimit {
            route: "GET /channels/{channel_id}/messages".to_owned(),
            limit: limit.trim().parse().context("--messages-bucket LIMIT")?,
            reset_ms: reset.trim().parse().context("--messages-bucket RESET_MS")?,
        });
    }
    Ok(SimConfig {
        seed: args.seed,
        token: args
            .token
            .clone()
            .unwrap_or_else(discord_sim::default_token),
        token_kind: if args.user_token {
            TokenKind::User
        } else {
            TokenKind::Bot
        },
        bind_ip: args.bind,
        rest_port: args.port,
        gateway_port: args.gateway_port,
        resume_gateway_port: args.resume_port,
        guilds: args.guilds,
        channels_per_guild: args.channels,
        threads_per_guild: args.threads,
        forbidden_channels_per_guild: args.forbidden,
        history_per_channel: args.history,
        live_messages: args.messages,
        rate_per_sec: args.rate,
        stream_start: match args.stream_start {
            StartArg::Immediately => StreamStart::Immediately,
            StartArg::OnFirstReady => StreamStart::OnFirstReady,
            StartArg::Manual => StreamStart::Manual,
        },
        edit_ratio: args.edit_ratio,
        delete_ratio: args.delete_ratio,
        big_guild_bytes: args.big_guild_mb.map(|mb| (mb * 1_000_000.0) as usize),
        heartbeat_interval_ms: args.heartbeat_ms,
        identify_spacing_ms: args.identify_spacing_ms,
        message_content: match args.message_content {
            ContentArg::Enabled => MessageContentApproval::Enabled,
            ContentArg::Limited => MessageContentApproval::Limited,
            ContentArg::Disabled => MessageContentApproval::Disabled,
        },
        bucket_limit: args.bucket_limit,
        bucket_reset_ms: args.bucket_reset_ms,
        route_limits,
        global_limit_per_sec: args.global_limit,
        ..SimConfig::default()
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let sim = Sim::start(config(args)?).context("starting discord-sim")?;
    let query = if args.zlib {
        "?v=10&encoding=json&compress=zlib-stream"
    } else {
        "?v=10&encoding=json"
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "REST_BASE_URL={}", sim.rest_base_url())?;
    writeln!(out, "GATEWAY_URL={}", sim.gateway_url())?;
    writeln!(out, "RESUME_GATEWAY_URL={}", sim.resume_gateway_url())?;
    writeln!(out, "CONNECT_URL={}/{query}", sim.gateway_url())?;
    writeln!(out, "TOKEN={}", sim.token())?;
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    runtime.block_on(wait_for_signal(&sim, args.status_every_secs))?;
    eprintln!("discord-sim: stopping");
    sim.shutdown();
    Ok(())
}

async fn wait_for_signal(sim: &SimHandle, status_every_secs: u64) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let period = Duration::from_secs(status_every_secs.max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => {
                result.context("waiting for Ctrl-C")?;
                return Ok(());
            }
            _ = terminate.recv() => return Ok(()),
            _ = ticker.tick(), if status_every_secs > 0 => {
                let stream = sim.stream_status();
                let stats = sim.gateway_stats();
                eprintln!(
                    "discord-sim: live {}/{} (edits {}, deletes {}), connections open {}, identifies {}, resumes {}, rest requests {}",
                    stream.created,
                    stream.target,
                    stream.edits,
                    stream.deletes,
                    sim.open_connections(),
                    stats.identifies,
                    stats.resumes,
                    sim.rest_log().len(),
                );
            }
        }
    }
}
