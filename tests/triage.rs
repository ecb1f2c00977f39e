//! Importance triage end to end: the real binary against discord-sim and a fake model server
//! that counts its calls, with every verdict read back from the service's SQLite file.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use discord_monitor::discord::config::Compression;
use discord_sim::SimConfig;
use serde_json::{Value, json};
use support::fake_triage::{FakeTriage, MODEL};
use support::pipeline::{DATABASE_PATH, GENEROUS_WAIT, Pipeline, sim_config};
use support::{ADMIN_TOKEN, get_json};

/// 4 channels of history, no live stream: the whole backlog arrives at once through backfill.
fn history_world(per_channel: usize) -> SimConfig {
    SimConfig {
        guilds: 1,
        channels_per_guild: 4,
        threads_per_guild: 0,
        history_per_channel: per_channel,
        live_messages: 0,
        ..sim_config()
    }
}

fn processing(batch_size: u64, workers: u64) -> Value {
    json!({"batch_size": batch_size, "batch_max_wait_secs": 2, "worker_count": workers})
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// One number from the service's database (WAL lets us read while it writes).
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

/// Stored messages that can be triaged (tombstones are not).
const SCORABLE: &str = "SELECT COUNT(*) AS value FROM messages WHERE source != 'tombstone'";
const FINDINGS: &str = "SELECT COUNT(*) AS value FROM findings";
const BACKLOG: &str = "SELECT COUNT(*) AS value FROM analysis_backlog";

/// Waits until `expected` messages are stored and every one has its verdict.
async fn wait_all_scored(pipeline: &Pipeline, expected: i64) {
    let dir = pipeline.service.dir.path();
    let deadline = Instant::now() + GENEROUS_WAIT;
    loop {
        let (stored, findings, backlog) = (
            count(dir, SCORABLE),
            count(dir, FINDINGS),
            count(dir, BACKLOG),
        );
        if stored >= expected && backlog == 0 && findings == stored {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored {stored} of {expected}, {findings} findings, backlog {backlog}\nstderr:\n{}",
            pipeline.service.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every message has exactly one verdict, and the batches recorded exactly as many.
fn assert_exactly_once(dir: &Path) {
    assert_eq!(count(dir, FINDINGS), count(dir, SCORABLE));
    assert_eq!(
        count(
            dir,
            "SELECT COUNT(*) AS value FROM (SELECT message_id FROM findings \
             GROUP BY message_id HAVING COUNT(*) > 1)"
        ),
        0,
        "a message scored twice"
    );
    assert_eq!(
        count(
            dir,
            "SELECT COALESCE(SUM(message_count), 0) AS value FROM analyses"
        ),
        count(dir, FINDINGS),
        "batches recorded more verdicts than there are"
    );
}

#[tokio::test]
async fn batches_go_to_the_model_and_every_message_is_scored_once() {
    let model = FakeTriage::start();
    model.corrupt_first_of_each_batch();
    let config = json!({"llm": model.llm_config(), "processing": processing(40, 2)});
    let mut pipeline =
        Pipeline::start_configured(history_world(150), Compression::ZlibStream, config, |_| {});
    pipeline.service.wait_ready().await;
    wait_all_scored(&pipeline, 600).await;
    let dir = pipeline.service.dir.path().to_owned();
    assert_exactly_once(&dir);

    let by_model = count(
        &dir,
        "SELECT COUNT(*) AS value FROM findings WHERE method = 'llm'",
    );
    let messages = count(&dir, SCORABLE);
    assert!(
        by_model > messages / 2,
        "{by_model} of {messages} scored by the model"
    );
    // One call per full batch, a few partial ones while backfill pages arrive, and one
    // retry per batch for the message whose item was out of range.
    let batches = count(
        &dir,
        "SELECT COUNT(*) AS value FROM analyses WHERE method = 'llm'",
    ) as u64;
    let calls = model.calls();
    assert!(
        calls <= 2 * batches && batches <= (by_model as u64).div_ceil(40) + 4,
        "{calls} calls, {batches} model batches for {by_model} messages"
    );
    assert!(
        calls * 1000 / messages as u64 <= 60,
        "{calls} calls for {messages} messages"
    );
    assert_eq!(
        count(
            &dir,
            &format!(
                "SELECT COUNT(*) AS value FROM findings WHERE method = 'llm' AND \
                 (model != 'fake/{MODEL}' OR prompt_version != 'triage/v1' OR cost_usd <= 0)"
            )
        ),
        0,
        "every model verdict carries its model, prompt version and cost"
    );
    assert!(
        count(
            &dir,
            "SELECT COUNT(*) AS value FROM findings WHERE details_json LIKE '%\"retried\":true%'"
        ) > 0,
        "out-of-range items were asked again"
    );
    assert!(
        count(
            &dir,
            "SELECT COUNT(*) AS value FROM findings WHERE importance > 10"
        ) == 0
    );

    let status = pipeline.status().await;
    let triage = &status["processing_status"]["triage"];
    assert_eq!(triage["scoring"], "llm", "{triage}");
    assert_eq!(triage["triage"]["scored"], json!(messages), "{triage}");
    assert!(
        triage["triage"]["model_retries"].as_u64().unwrap() > 0,
        "{triage}"
    );
    assert_eq!(triage["workers"].as_array().unwrap().len(), 2, "{triage}");
    assert!(triage["backlog_size"].is_u64(), "{triage}");

    let url = pipeline
        .service
        .url("/api/findings?min_importance=8&limit=5");
    let (code, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let findings = body["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|finding| finding["importance"].as_u64() >= Some(8))
    );
    if let Some(first) = findings.first() {
        assert!(first["message_created_at"].as_str().unwrap().ends_with('Z'));
        assert!(first["message_id"].is_string());
    }
    let (code, body) = get_json(
        &pipeline.service.url("/api/findings?since=yesterday"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("RFC 3339"));
    assert_eq!(model.calls(), calls, "nothing more to score");
    pipeline.finish();
}

#[tokio::test]
async fn a_spent_budget_scores_by_rules_without_a_single_call() {
    let model = FakeTriage::start();
    let mut llm = model.llm_config();
    llm["daily_cost_limit"] = json!(0.0);
    let config = json!({"llm": llm, "processing": processing(40, 2)});
    let mut pipeline =
        Pipeline::start_configured(history_world(50), Compression::ZlibStream, config, |_| {});
    pipeline.service.wait_ready().await;
    wait_all_scored(&pipeline, 200).await;
    let dir = pipeline.service.dir.path().to_owned();
    assert_exactly_once(&dir);
    assert_eq!(model.calls(), 0, "the budget allows no call");
    assert_eq!(
        count(
            &dir,
            "SELECT COUNT(*) AS value FROM findings WHERE method = 'llm'"
        ),
        0
    );
    let degraded = count(
        &dir,
        "SELECT COUNT(*) AS value FROM findings WHERE method = 'rules' AND degraded \
         AND summary LIKE 'rules: llm budget spent%'",
    );
    assert!(degraded > 0, "rule scores marked for rescoring");
    let status = pipeline.status().await;
    assert_eq!(
        status["components"]["processing"]["status"], "up",
        "{status}"
    );
    pipeline.finish();
}

#[tokio::test]
async fn kill_9_mid_backlog_then_every_message_is_scored_exactly_once() {
    let model = FakeTriage::start();
    // Slow answers: the backlog is still being worked through when the process dies.
    model.set_delay(Duration::from_millis(400));
    let config = json!({"llm": model.llm_config(), "processing": processing(20, 2)});
    let mut pipeline =
        Pipeline::start_configured(history_world(150), Compression::ZlibStream, config, |_| {});
    pipeline.service.wait_ready().await;
    let dir = pipeline.service.dir.path().to_owned();
    let deadline = Instant::now() + GENEROUS_WAIT;
    while count(&dir, FINDINGS) < 100 {
        assert!(Instant::now() < deadline, "{}", pipeline.service.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pipeline.service.kill_hard();
    let (findings, backlog) = (count(&dir, FINDINGS), count(&dir, BACKLOG));
    assert!(backlog > 0, "killed mid-backlog ({findings} scored)");
    model.set_delay(Duration::ZERO);
    pipeline.start_again();
    pipeline.service.wait_ready().await;
    wait_all_scored(&pipeline, 600).await;
    assert_exactly_once(&dir);
    pipeline.finish();
}
