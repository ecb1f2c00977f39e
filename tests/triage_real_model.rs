//! Importance triage against a **real** OpenAI-compatible model server, when one is named:
//! `DM_REAL_LLM_URL` (its base URL, e.g. `http://127.0.0.1:8000/v1`) and `DM_REAL_LLM_MODEL`
//! (default `smollm2`). Skipped, saying so, when unset. A small local model writes poor
//! judgements, so this asserts what must hold whatever it answers: 200 simulated messages all
//! get exactly one valid verdict (from the model, or from the rules where its answers were
//! unusable), the backlog drains, and the service stays up.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use discord_monitor::discord::config::Compression;
use discord_sim::SimConfig;
use serde_json::json;
use support::pipeline::{DATABASE_PATH, Pipeline, sim_config};

/// Messages the simulated history holds: 4 channels of 50.
const MESSAGES: i64 = 200;

/// A 135M model on two shared cores answers a batch in seconds to tens of seconds, and an
/// unusable answer is asked again once: minutes, not hours.
const DEADLINE: Duration = Duration::from_secs(15 * 60);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

fn count(dir: &Path, sql: &str) -> i64 {
    let path = dir.join(DATABASE_PATH);
    let mut conn =
        SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open database");
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .expect("busy timeout");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .expect("count")
        .value
}

#[tokio::test]
async fn a_real_model_server_triages_200_messages_without_a_stuck_backlog() {
    let Some(base_url) = std::env::var("DM_REAL_LLM_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
    else {
        eprintln!(
            "skipped: set DM_REAL_LLM_URL (and DM_REAL_LLM_MODEL) to run against a real server"
        );
        return;
    };
    let model = std::env::var("DM_REAL_LLM_MODEL").unwrap_or_else(|_| "smollm2".to_owned());
    let world = SimConfig {
        guilds: 1,
        channels_per_guild: 4,
        threads_per_guild: 0,
        history_per_channel: 50,
        live_messages: 0,
        ..sim_config()
    };
    let config = json!({
        "llm": {
            "providers": [{
                "name": "local",
                "kind": "openai-compatible",
                "base_url": base_url.trim(),
                "timeout_secs": 300,
                "models": [{"name": model, "context_tokens": 4096}]
            }],
            "routes": {"triage": [format!("local/{model}")]}
        },
        // Small batches keep each prompt inside a small model's context window.
        "processing": {"batch_size": 10, "batch_max_wait_secs": 2, "worker_count": 1}
    });
    let mut pipeline = Pipeline::start_configured(world, Compression::ZlibStream, config, |_| {});
    pipeline.service.wait_ready().await;
    let dir = pipeline.service.dir.path().to_owned();
    let started = Instant::now();
    loop {
        let stored = count(
            &dir,
            "SELECT COUNT(*) AS value FROM messages WHERE source != 'tombstone'",
        );
        let findings = count(&dir, "SELECT COUNT(*) AS value FROM findings");
        let backlog = count(&dir, "SELECT COUNT(*) AS value FROM analysis_backlog");
        if stored >= MESSAGES && backlog == 0 && findings == stored {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "after {DEADLINE:?}: stored {stored}, {findings} verdicts, backlog {backlog}\n{}",
            pipeline.service.stderr()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let invalid = count(
        &dir,
        "SELECT COUNT(*) AS value FROM findings WHERE importance NOT BETWEEN 1 AND 10 \
         OR method NOT IN ('llm', 'rules', 'prefilter')",
    );
    assert_eq!(
        invalid, 0,
        "every verdict is in range and says how it was made"
    );
    let twice = count(
        &dir,
        "SELECT COUNT(*) AS value FROM (SELECT message_id FROM findings \
         GROUP BY message_id HAVING COUNT(*) > 1)",
    );
    assert_eq!(twice, 0, "a message scored twice");
    let by_model = count(
        &dir,
        "SELECT COUNT(*) AS value FROM findings WHERE method = 'llm'",
    );
    eprintln!(
        "real model {model}: {by_model} of {MESSAGES} verdicts from the model, the rest by \
         rules, in {:.0?}",
        started.elapsed()
    );
    assert!(
        pipeline.service.is_running(),
        "the service stopped:\n{}",
        pipeline.service.stderr()
    );
}
