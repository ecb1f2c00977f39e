//! Ingestion end to end, the release binary against discord-sim (in this process): how fast messages reach the
//! database and what it costs in memory and CPU.
//!
//! `cargo bench --bench ingest` runs each scenario once and prints one line per scenario:
//! messages stored, wall seconds, messages per second, the service's peak resident memory
//! (VmHWM) and its CPU seconds. `BENCH_SCALE=0.1` shrinks every scenario (a quick look).
//!
//! - `live`: the gateway streams messages as fast as the simulator makes them (no history).
//! - `backfill`: a restart's worth of history, paged over REST through the rate limiter (the
//!   simulator enforces Discord's real bucket limits; our own ceiling is raised as `demo`
//!   does, since the default 50 requests a minute measures the ceiling, not us). Each
//!   channel's bucket (5 requests per 5 s in the simulator, as Discord's) allows about one
//!   page a second, so `discord.backfill_concurrent_channels` (default 4) bounds this figure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use discord_sim::{Sim, SimConfig};

/// Longest a scenario may take before the bench gives up: far above any sane run, so a hang
/// is reported instead of waiting forever.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the stored count is read; small against a scenario's seconds.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

struct Scenario {
    name: &'static str,
    sim: SimConfig,
    /// Messages the database must hold when the scenario is done.
    expected: i64,
}

fn scenarios(scale: f64) -> Vec<Scenario> {
    let scaled = |count: f64| ((count * scale).round() as i64).max(10);
    let live = scaled(50_000.0);
    let per_channel = scaled(5_000.0);
    // The shape both scenarios share: 2 guilds x 5 channels, no threads.
    let world = SimConfig {
        guilds: 2,
        channels_per_guild: 5,
        threads_per_guild: 0,
        ..SimConfig::default()
    };
    vec![
        Scenario {
            name: "live",
            sim: SimConfig {
                history_per_channel: 0,
                live_messages: live as usize,
                // As fast as the simulator makes them.
                rate_per_sec: 0.0,
                edit_ratio: 0.0,
                delete_ratio: 0.0,
                ..world.clone()
            },
            expected: live,
        },
        Scenario {
            name: "backfill",
            sim: SimConfig {
                history_per_channel: per_channel as usize,
                live_messages: 0,
                ..world
            },
            // Every channel of the world: 2 guilds x 5.
            expected: per_channel * 10,
        },
    ]
}

fn main() {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1.0);
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>13} {:>8}",
        "scenario", "messages", "seconds", "msg/s", "peak RSS MB", "CPU s"
    );
    for scenario in scenarios(scale) {
        let result = run(&scenario);
        println!(
            "{:<10} {:>9} {:>9.2} {:>10.0} {:>13.1} {:>8.2}",
            scenario.name,
            result.stored,
            result.elapsed.as_secs_f64(),
            result.stored as f64 / result.elapsed.as_secs_f64(),
            result.peak_rss_kib as f64 / 1024.0,
            result.cpu_secs,
        );
    }
}

struct Outcome {
    stored: i64,
    elapsed: Duration,
    peak_rss_kib: u64,
    cpu_secs: f64,
}

/// Kills the process when dropped, so a failed scenario leaves nothing running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(scenario: &Scenario) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    // The simulator runs in this process, on threads of its own: its CPU and memory are not
    // the service's, which is measured through its own pid.
    let sim = Sim::start(scenario.sim.clone()).expect("start discord-sim");
    let (rest_base_url, token) = (sim.rest_base_url(), sim.token());

    let database = dir.path().join("db.sqlite");
    let config = serde_json::json!({
        // The highest ceiling the configuration allows, and every message of history.
        "discord": {"rate_limit_requests_per_minute": 3_000,
                    "backfill_max_messages_per_channel": 1_000_000},
        "database": {"path": database},
        "monitoring": {"log_dir": dir.path().join("logs")},
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
    let port = free_port();
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let started = Instant::now();
    let mut service = Guard(
        Command::new(env!("CARGO_BIN_EXE_discord-monitor"))
            .args(["--config", "config.json", "run"])
            .current_dir(dir.path())
            .env_clear()
            .env("DISCORD_TOKEN", &token)
            .env("DISCORD_API_BASE_URL", &rest_base_url)
            .env("HEALTH_CHECK_HOST", "127.0.0.1")
            .env("HEALTH_CHECK_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start discord-monitor"),
    );
    let pid = service.0.id();

    let mut stored = 0;
    while stored < scenario.expected {
        assert!(
            started.elapsed() < SCENARIO_TIMEOUT,
            "{}: only {stored} of {} messages stored after {SCENARIO_TIMEOUT:?}",
            scenario.name,
            scenario.expected
        );
        std::thread::sleep(POLL_INTERVAL);
        if let Ok(Some(status)) = service.0.try_wait() {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!(
                "{}: the service exited ({status}):\n{stderr}",
                scenario.name
            );
        }
        stored = count_messages(&database).unwrap_or(stored);
    }
    let elapsed = started.elapsed();
    let outcome = Outcome {
        stored,
        elapsed,
        peak_rss_kib: peak_rss_kib(pid),
        cpu_secs: cpu_secs(pid),
    };
    assert!(
        health_answers(port),
        "{}: the service stopped answering",
        scenario.name
    );
    drop(service);
    sim.shutdown();
    outcome
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// `None` until the service has created the table (or while a write holds the file briefly).
fn count_messages(database: &Path) -> Option<i64> {
    let url = format!("file:{}?mode=ro", database.display());
    let mut conn = SqliteConnection::establish(&url).ok()?;
    diesel::sql_query("SELECT COUNT(*) AS value FROM messages")
        .get_result::<Count>(&mut conn)
        .ok()
        .map(|count| count.value)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn health_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = "GET /health/live HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// Peak resident memory in KiB (`VmHWM`), 0 where `/proc` is not available.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds so far, from `/proc/<pid>/stat` (fields 14 and 15, in clock
/// ticks of 1/100 s on Linux).
fn cpu_secs(pid: u32) -> f64 {
    /// Clock ticks per second; `sysconf(_SC_CLK_TCK)` is 100 on every Linux we run on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; fields after its `)` are plain.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // `rest` starts at field 3, so fields 14 and 15 are at 11 and 12.
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}
