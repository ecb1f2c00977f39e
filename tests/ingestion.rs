//! End to end: discord-sim in-process, the real `discord-monitor run` binary pointed at it,
//! and every test asserting what the service STORED against the sim's ground truth (ids,
//! channels, guilds filled in for REST messages, content, edits as revisions, deletions with
//! their last content, threads). Each test drives one failure the ingestion path must
//! survive; waits poll with generous timeouts, never a fixed sleep as proof.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use discord_monitor::discord::config::Compression;
use discord_sim::{
    ConnectFault, GatewayListener, IdentifyOutcome, MessageOrigin, RateLimitScope, RateLimitShape,
    RateLimitViolation, RestFault, ResumeOutcome, RouteLimit, SimConfig, SimHandle, StreamStart,
};
use serde_json::Value;
use support::pipeline::{
    Check, Pipeline, Stored, component, sim_config, status_code, thread_messages,
};
use support::{ADMIN_TOKEN, DISCORD_TOKEN, get_json, get_text, run_cli};

/// The history route, as discord-sim names its bucket.
const MESSAGES_ROUTE: &str = "GET /channels/{channel_id}/messages";

/// A stream the test starts itself once the service is connected and the start-up backfill
/// is over, so that the live part reaches the service through the gateway only.
fn live_world(live_messages: usize, rate_per_sec: f64) -> SimConfig {
    SimConfig {
        guilds: 2,
        channels_per_guild: 2,
        threads_per_guild: 1,
        history_per_channel: 15,
        live_messages,
        rate_per_sec,
        stream_start: StreamStart::Manual,
        edit_ratio: 0.15,
        delete_ratio: 0.08,
        unfurl_ratio: 0.5,
        structure_event_ratio: 0.05,
        unknown_event_ratio: 0.02,
        ..sim_config()
    }
}

/// Service connected (ready) and both backfill passes of a start done (the one at start
/// and the one the first session asks for): history stored, backfill idle.
async fn connected_and_caught_up(pipeline: &mut Pipeline) {
    pipeline.service.wait_ready().await;
    let status = pipeline.wait_backfill_passes(2).await;
    let last = &status["discord_client_health"]["backfill"]["last_pass"];
    assert_eq!(last["reason"], "new gateway session", "{last}");
}

/// Structure changes while the service is not listening: a known thread gets messages and
/// is archived (Discord then no longer lists it as active), a new channel and a new thread
/// get messages, and another new thread gets more than a page of messages and is archived
/// (listed nowhere but `GET /channels/{id}/threads/archived/public`). Returns the ids of
/// those messages.
fn change_structure_unseen(sim: &SimHandle) -> Vec<u64> {
    let thread = sim
        .channels()
        .into_iter()
        .find(|channel| channel.is_thread() && !channel.archived && !channel.deleted)
        .expect("an open thread");
    let parent = thread.parent_id.expect("a thread has a parent");
    let mut posted = Vec::new();
    for n in 0..3 {
        posted.push(
            sim.post_message(thread.id, format!("before the archive {n}"))
                .unwrap(),
        );
    }
    sim.update_thread(thread.id, None, Some(true)).unwrap();
    let channel = sim.create_channel(thread.guild_id, None).unwrap();
    let new_thread = sim.create_thread(parent).unwrap();
    for n in 0..3 {
        posted.push(
            sim.post_message(channel, format!("in a new channel {n}"))
                .unwrap(),
        );
        posted.push(
            sim.post_message(new_thread, format!("in a new thread {n}"))
                .unwrap(),
        );
    }
    let unseen_thread = sim.create_thread(parent).unwrap();
    for n in 0..120 {
        posted.push(
            sim.post_message(unseen_thread, format!("in a thread archived unseen {n}"))
                .unwrap(),
        );
    }
    sim.update_thread(unseen_thread, None, Some(true)).unwrap();
    posted
}

fn assert_all_stored(stored: &Stored, ids: &[u64]) {
    for id in ids {
        assert!(
            stored.messages.contains_key(id),
            "message {id} is not stored"
        );
    }
}

async fn wait_created(pipeline: &Pipeline, at_least: usize) {
    pipeline
        .wait_sim(&format!("{at_least} live messages"), |sim| {
            sim.stream_status().created >= at_least
        })
        .await;
}

/// Every stored message as `/api/messages` pages them (ascending, `after` cursor).
async fn api_messages(pipeline: &Pipeline) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let url = pipeline
            .service
            .url(&format!("/api/messages?after={after}&limit=1000"));
        let (status, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        let page = body["messages"].as_array().expect("messages array").clone();
        let Some(last) = page.last() else {
            return all;
        };
        after = last["id"].as_str().expect("string id").to_owned();
        all.extend(page);
    }
}

/// `/api/messages` answers exactly what is stored, every message with the fields below.
async fn assert_api_matches_store(pipeline: &mut Pipeline) {
    let stored = Stored::load(pipeline.db());
    let listed = api_messages(pipeline).await;
    let expected: Vec<Value> = stored
        .messages
        .values()
        .map(|message| serde_json::to_value(message).expect("serialize"))
        .collect();
    assert_eq!(listed.len(), expected.len());
    for (api, row) in listed.iter().zip(&expected) {
        assert_eq!(api, row, "/api/messages and the database differ");
        for field in [
            "id",
            "channel_id",
            "guild_id",
            "author_id",
            "author_name",
            "content",
            "created_at_ms",
            "edited_at_ms",
            "deleted",
            "attachments",
            "embeds",
            "reply_to_message_id",
        ] {
            assert!(api.get(field).is_some(), "{field} missing from {api}");
        }
        assert!(api["id"].is_string(), "snowflakes are strings: {api}");
    }
}

/// The whole live path, start-up backfill then gateway stream with edits, deletes, unfurls,
/// thread and channel events and unknown dispatches, on one connection.
async fn live_stream_is_stored_completely(compression: Compression) {
    let mut pipeline = Pipeline::start(live_world(400, 150.0), compression);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    let stored = pipeline.wait_consistent(Check::ExactRevisions).await;

    let stream = pipeline.sim.stream_status();
    assert!(
        stream.edits > 0 && stream.deletes > 0 && stream.unfurls > 0,
        "{stream:?}"
    );
    let edited = stored
        .revisions
        .values()
        .flatten()
        .filter(|(kind, _)| kind == "edit")
        .count();
    let deleted = stored.messages.values().filter(|m| m.deleted).count();
    assert!(
        edited > 0 && deleted > 0,
        "{edited} edits, {deleted} deletes"
    );
    // History came by REST (no guild id on the wire), the stream by the gateway.
    let sources: Vec<&str> = stored
        .messages
        .values()
        .map(|m| m.source.as_str())
        .collect();
    assert!(sources.contains(&"backfill") && sources.contains(&"gateway"));
    let threads = thread_messages(&pipeline.sim);
    assert!(!threads.is_empty());
    for message in &threads {
        assert_eq!(stored.get(message.id).channel_id, message.channel_id);
    }
    pipeline.wait_structure_consistent().await;

    let connections = pipeline.sim.connections();
    assert_eq!(
        connections.len(),
        1,
        "one connection, never lost: {connections:#?}"
    );
    assert_eq!(
        connections[0].compress,
        compression == Compression::ZlibStream
    );
    assert_api_matches_store(&mut pipeline).await;
    pipeline.finish();
}

#[tokio::test]
async fn live_stream_is_stored_completely_over_zlib_stream() {
    live_stream_is_stored_completely(Compression::ZlibStream).await;
}

#[tokio::test]
async fn live_stream_is_stored_completely_without_compression() {
    live_stream_is_stored_completely(Compression::None).await;
}

#[tokio::test]
async fn op_7_resumes_on_the_resume_url_with_the_last_sequence_and_loses_nothing() {
    let mut pipeline = Pipeline::start(live_world(500, 150.0), Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    let sim = &pipeline.sim;

    // Mid-stream: the client resumes from what it processed, whatever was in flight.
    sim.start_stream();
    wait_created(&pipeline, 150).await;
    let before = sim.connections().last().cloned().expect("a connection");
    sim.send_reconnect();
    pipeline
        .wait_sim("a resume", |sim| !sim.resumes().is_empty())
        .await;
    let stored = pipeline.wait_consistent(Check::ExactRevisions).await;
    let sim = &pipeline.sim;
    let resume = sim.resumes()[0].clone();
    assert!(
        matches!(resume.outcome, discord_sim::ResumeOutcome::Resumed { .. }),
        "{resume:?}"
    );
    assert_eq!(resume.listener, GatewayListener::Resume);
    assert!(
        resume.path_and_query.contains("v=10")
            && resume.path_and_query.contains("encoding=json")
            && resume.path_and_query.contains("compress=zlib-stream"),
        "the resume keeps the query string: {}",
        resume.path_and_query
    );
    let closed = sim
        .connections()
        .into_iter()
        .find(|c| c.id == before.id)
        .unwrap();
    let seq = resume.seq.expect("RESUME carries a sequence");
    assert!(
        seq <= closed.last_seq_written.unwrap_or(0),
        "resumed from {seq}, beyond the last written {:?}",
        closed.last_seq_written
    );
    assert!(
        Some(seq) >= closed.last_heartbeat_seq,
        "resumed from {seq}, before the last sequence it heartbeat {:?}",
        closed.last_heartbeat_seq
    );
    assert_eq!(sim.identifies().len(), 1, "resumed, never identified again");
    assert!(stored.messages.len() > 150);

    // Quiet: once the client has heartbeaten the last sequence it read, RESUME carries
    // exactly that one.
    let current = sim.connections().last().cloned().unwrap();
    pipeline
        .wait_sim("a heartbeat with the last sequence", |sim| {
            let now = sim
                .connections()
                .into_iter()
                .find(|c| c.id == current.id)
                .unwrap();
            now.last_seq_written.is_some() && now.last_heartbeat_seq == now.last_seq_written
        })
        .await;
    let last_written = pipeline
        .sim
        .connections()
        .into_iter()
        .find(|c| c.id == current.id)
        .unwrap()
        .last_seq_written;
    pipeline.sim.send_reconnect();
    pipeline
        .wait_sim("a second resume", |sim| sim.resumes().len() >= 2)
        .await;
    let second = pipeline.sim.resumes()[1].clone();
    assert_eq!(second.seq, last_written, "{second:?}");
    assert_eq!(second.listener, GatewayListener::Resume);
    assert!(matches!(
        second.outcome,
        discord_sim::ResumeOutcome::Resumed { replayed: 0 }
    ));
    pipeline.sim.extend_stream(50);
    pipeline.wait_consistent(Check::ExactRevisions).await;
    pipeline.finish();
}

#[tokio::test]
async fn op_9_not_resumable_identifies_again_and_backfill_recovers_the_gap() {
    // Deletions of messages the gateway never delivered could not be recovered by anyone:
    // none here, so every message must be present. Structure changes in the gap are
    // scripted (see `change_structure_unseen`).
    let world = SimConfig {
        delete_ratio: 0.0,
        structure_event_ratio: 0.0,
        ..live_world(700, 100.0)
    };
    let mut pipeline = Pipeline::start(world, Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    wait_created(&pipeline, 100).await;
    pipeline.sim.invalidate_session(false);
    // Nobody listens for at least a second now (Discord asks for 1-5 s before identifying).
    let unseen = change_structure_unseen(&pipeline.sim);
    pipeline
        .wait_sim("a second READY", |sim| {
            sim.identifies()
                .iter()
                .filter(|identify| matches!(identify.outcome, IdentifyOutcome::Ready { .. }))
                .count()
                >= 2
        })
        .await;
    let stored = pipeline.wait_consistent(Check::RevisionsInOrder).await;
    assert_all_stored(&stored, &unseen);
    pipeline.wait_structure_consistent().await;

    let lost = pipeline.sim.gateway_stats().events_without_session;
    assert!(lost > 0, "the gap held events no session received");
    // Live messages the gateway never delivered can only have come from backfill.
    let live: BTreeSet<u64> = pipeline
        .sim
        .messages()
        .iter()
        .filter(|message| message.origin == MessageOrigin::Live)
        .map(|message| message.id)
        .collect();
    let recovered = stored
        .messages
        .values()
        .filter(|row| row.source == "backfill" && live.contains(&row.id))
        .count();
    assert!(
        recovered > 0,
        "no live message was recovered by backfill ({lost} events lost)"
    );
    assert!(
        pipeline.sim.resumes().is_empty(),
        "op 9 false means no resume"
    );
    assert_eq!(pipeline.sim.identifies().len(), 2, "one new IDENTIFY");
    pipeline.finish();
}

#[tokio::test]
async fn zombie_connection_is_replaced_within_two_heartbeat_intervals_without_loss() {
    let interval = Duration::from_millis(700);
    let world = SimConfig {
        heartbeat_interval_ms: interval.as_millis() as u64,
        // The sim itself never closes for missed heartbeats: the client must notice.
        heartbeat_grace_ms: None,
        ..live_world(500, 120.0)
    };
    let mut pipeline = Pipeline::start(world, Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    wait_created(&pipeline, 100).await;

    let went_silent = Instant::now();
    pipeline.sim.become_zombie();
    // Counted from after the zombie began: a beat already on its way when it began is
    // either acknowledged before (and counted before) or never acknowledged.
    let zombie = pipeline.sim.connections().last().cloned().unwrap();
    let beats_before = zombie.heartbeats;
    pipeline
        .wait_sim("a new connection", |sim| sim.connections().len() >= 2)
        .await;
    let replaced_after = pipeline.sim.connections()[1]
        .opened_at
        .duration_since(went_silent);
    let zombie = pipeline
        .sim
        .connections()
        .into_iter()
        .find(|c| c.id == zombie.id)
        .unwrap();
    // At most one beat goes unanswered: the next one due finds it unacknowledged and the
    // client reconnects, so at most two intervals pass, however slow the machine is.
    let unanswered = zombie.heartbeats - beats_before;
    assert!(
        unanswered <= 1,
        "{unanswered} heartbeats sent into the zombie connection before giving up"
    );
    // Wall clock, with room for a busy machine: two intervals plus scheduling slack.
    let bound = interval * 2 + Duration::from_secs(5);
    assert!(
        replaced_after <= bound,
        "reconnected {replaced_after:?} after the zombie began (bound {bound:?})"
    );

    pipeline.wait_consistent(Check::ExactRevisions).await;
    let resumes = pipeline.sim.resumes();
    assert!(
        matches!(
            resumes.first().map(|r| &r.outcome),
            Some(discord_sim::ResumeOutcome::Resumed { .. })
        ),
        "{resumes:#?}"
    );
    assert_eq!(pipeline.sim.identifies().len(), 1);
    pipeline.finish();
}

#[tokio::test]
async fn tcp_drop_mid_burst_loses_nothing() {
    // As fast as the sim can produce: the drop lands in the middle of a burst.
    let mut pipeline = Pipeline::start(live_world(1500, 0.0), Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.drop_connections_after(300);
    pipeline.sim.start_stream();
    pipeline
        .wait_sim("an abrupt drop", |sim| {
            sim.gateway_stats().abrupt_drops >= 1
        })
        .await;
    pipeline.wait_consistent(Check::ExactRevisions).await;

    let stats = pipeline.sim.gateway_stats();
    assert_eq!(stats.abrupt_drops, 1);
    let resumes = pipeline.sim.resumes();
    assert!(
        matches!(
            resumes.first().map(|r| &r.outcome),
            Some(discord_sim::ResumeOutcome::Resumed { .. })
        ),
        "{resumes:#?}"
    );
    assert_eq!(
        pipeline.sim.identifies().len(),
        1,
        "resumed, no new session"
    );
    pipeline.finish();
}

#[tokio::test]
async fn close_4004_is_fatal_after_one_attempt_and_only_readiness_goes_off() {
    let world = SimConfig {
        live_messages: 0,
        ..sim_config()
    };
    let sim_faults = |sim: &SimHandle| {
        sim.queue_connect_fault(ConnectFault::CloseBeforeHello { code: 4004 });
    };
    let mut pipeline = Pipeline::start_with(world, Compression::ZlibStream, sim_faults);
    pipeline.service.wait_serving().await;
    pipeline
        .wait_status("the gateway to fail", |status| {
            status["discord_client_health"]["gateway"]["state"] == "failed"
        })
        .await;
    let gateway = component(&pipeline.service, "discord_gateway").await;
    assert_eq!(gateway["status"], "failed", "{gateway}");
    assert_eq!(status_code(&pipeline.service, "/health/ready").await, 503);
    // A restart cannot fix a token: the process stays live for its operator to look at.
    assert_eq!(status_code(&pipeline.service, "/health/live").await, 200);
    let status = pipeline.status().await;
    assert_eq!(
        status["discord_client_health"]["gateway"]["last_close_code"], 4004,
        "{status:#}"
    );

    // Nothing more is attempted: watch for a while (a retry would come at once, the first
    // reconnect has no backoff).
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        assert_eq!(
            pipeline.sim.connections().len(),
            1,
            "a second attempt was made"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pipeline.service.is_running());
    assert_eq!(pipeline.sim.gateway_stats().connections_opened, 1);
    assert_eq!(
        component(&pipeline.service, "discord_gateway").await["status"],
        "failed"
    );
    let output = pipeline.finish();
    assert!(output.contains("4004"), "the fatal close is logged");
}

#[tokio::test]
async fn a_3_mb_guild_create_arrives_in_one_frame_and_is_stored() {
    let world = SimConfig {
        big_guild_bytes: Some(3_000_000),
        ..live_world(150, 100.0)
    };
    // Uncompressed, the 3 MB payload is one WebSocket frame as it is.
    let mut pipeline = Pipeline::start(world, Compression::None);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    pipeline.wait_consistent(Check::ExactRevisions).await;
    pipeline.wait_structure_consistent().await;
    let (_, _, metrics) = get_text(&pipeline.service.url("/metrics")).await;
    let guild_creates = metric(
        &metrics,
        "discord_monitor_ingest_events_total{kind=\"GUILD_CREATE\"}",
    );
    assert_eq!(guild_creates, 2.0, "both GUILD_CREATEs reached storage");
    assert_eq!(
        pipeline.sim.connections().len(),
        1,
        "the big frame did not break the connection"
    );
    pipeline.finish();
}

/// The value of one sample line of Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

#[tokio::test]
async fn backfill_under_tight_buckets_and_a_global_429_sends_nothing_inside_a_window() {
    let world = SimConfig {
        guilds: 1,
        channels_per_guild: 2,
        threads_per_guild: 1,
        // Three pages per channel, so every channel runs into its bucket.
        history_per_channel: 250,
        live_messages: 0,
        stream_start: StreamStart::Manual,
        bucket_limit: 2,
        bucket_reset_ms: 1_000,
        route_limits: vec![RouteLimit {
            route: MESSAGES_ROUTE.to_owned(),
            limit: 2,
            reset_ms: 1_000,
        }],
        ..sim_config()
    };
    let global_429 = |sim: &SimHandle| {
        sim.inject_rest_fault_matching(
            "/messages",
            RestFault::RateLimited {
                scope: RateLimitScope::Global,
                retry_after: Duration::from_millis(1_500),
                shape: RateLimitShape::JsonBody,
            },
            1,
        );
    };
    let mut pipeline = Pipeline::start_with(world, Compression::ZlibStream, global_429);
    connected_and_caught_up(&mut pipeline).await;
    let stored = pipeline.wait_consistent(Check::RevisionsInOrder).await;

    let history = pipeline.sim.messages().len();
    assert_eq!(history, 3 * 250);
    assert_eq!(stored.messages.len(), history);
    assert!(stored.messages.values().all(|m| m.source == "backfill"));
    let log = pipeline.sim.rest_log();
    let scripted: Vec<_> = log.iter().filter(|r| r.scripted).collect();
    assert_eq!(
        scripted.len(),
        1,
        "the global 429 was served: {scripted:#?}"
    );
    assert_eq!(scripted[0].status, 429);
    let pages = log
        .iter()
        .filter(|r| r.route == Some(MESSAGES_ROUTE) && r.status == 200)
        .count();
    assert!(pages >= 9, "{pages} history pages");
    // The buckets were the limit: some channel had both of a window's requests within one
    // second (and so its next page waited for the reset).
    let mut by_channel: BTreeMap<&str, Vec<Instant>> = BTreeMap::new();
    for request in log
        .iter()
        .filter(|r| r.route == Some(MESSAGES_ROUTE) && r.status == 200)
    {
        by_channel
            .entry(&request.major)
            .or_default()
            .push(request.at);
    }
    let full_window = by_channel.values().any(|times| {
        times
            .windows(2)
            .any(|pair| pair[1].duration_since(pair[0]) < Duration::from_secs(1))
    });
    assert!(
        full_window,
        "no bucket was used to its limit: {by_channel:#?}"
    );
    // Channels are paged concurrently: requests of other channels already on the wire when
    // the global 429 came back land inside its window, and nothing else may. Each is then
    // its channel's next history request after the 429, at most one per other channel.
    let scripted_at = log.iter().position(|r| r.scripted).expect("the 429");
    let scripted_channel = &log[scripted_at].major;
    let violations: Vec<usize> = (0..log.len())
        .filter(|&at| log[at].violation.is_some())
        .collect();
    let channels = by_channel.len();
    assert!(
        violations.len() < channels,
        "requests sent inside a rate-limit window: {:#?}",
        pipeline.sim.rest_violations()
    );
    for at in violations {
        let request = &log[at];
        let next_of_channel = (scripted_at + 1..log.len()).find(|&later| {
            log[later].route == Some(MESSAGES_ROUTE) && log[later].major == request.major
        });
        assert!(
            request.violation == Some(RateLimitViolation::Global)
                && request.major != *scripted_channel
                && next_of_channel == Some(at),
            "sent inside a window, not just in flight when the 429 came: {request:#?}"
        );
    }
    pipeline.finish();
}

/// No edits, deletes or unfurls: when a new process cannot resume, what the killed one had
/// received but not stored is gone from the gateway, and REST has no feed of changes (nor of
/// deletions), so only messages can be compared after such a restart.
fn messages_only_world(live_messages: usize) -> SimConfig {
    SimConfig {
        edit_ratio: 0.0,
        delete_ratio: 0.0,
        unfurl_ratio: 0.0,
        structure_event_ratio: 0.0,
        ..live_world(live_messages, 150.0)
    }
}

/// The sequence number the service has saved for a restart to resume from.
fn saved_seq(status: &Value) -> Option<u64> {
    status["discord_client_health"]["persisted_session"]["seq"].as_u64()
}

/// Waits until everything the sim wrote on the current connection is committed and saved.
async fn everything_committed(pipeline: &Pipeline) -> u64 {
    let status = pipeline
        .wait_status("the last sequence written to be saved", |status| {
            let written = pipeline
                .sim
                .connections()
                .last()
                .and_then(|connection| connection.last_seq_written);
            written.is_some() && saved_seq(status) == written
        })
        .await;
    saved_seq(&status).expect("a saved sequence")
}

#[tokio::test]
async fn kill_9_with_edits_and_deletes_still_queued_resumes_the_saved_session_and_loses_none() {
    let mut pipeline = Pipeline::start(live_world(300, 150.0), Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    let saved_before = everything_committed(&pipeline).await;

    // Someone else holds the database's write lock: the service keeps receiving the stream
    // (creates, edits, deletes, unfurls, structure changes) but can store none of it.
    let lock = pipeline.hold_write_lock();
    pipeline.sim.start_stream();
    pipeline
        .wait_sim("the whole stream", |sim| sim.stream_status().done())
        .await;
    let status = pipeline
        .wait_status("every frame read into the queue", |status| {
            let read = status["discord_client_health"]["gateway"]["sequence"].as_u64();
            read.is_some()
                && read
                    == pipeline
                        .sim
                        .connections()
                        .last()
                        .and_then(|connection| connection.last_seq_written)
        })
        .await;
    let queued = status["processing_status"]["storage"]["queue_depth"]
        .as_u64()
        .unwrap_or(0);
    assert!(queued > 0, "nothing queued: {status:#}");
    assert_eq!(
        saved_seq(&status),
        Some(saved_before),
        "nothing new committed"
    );
    let stream = pipeline.sim.stream_status();
    assert!(stream.edits > 0 && stream.deletes > 0, "{stream:?}");

    pipeline.kill_and_restart(|sim| {
        sim.wait_until(Duration::from_secs(30), |sim| sim.open_connections() == 0)
            .expect("the killed process's connection ends");
        drop(lock);
        // Changes while the service is down reach its session too (Discord buffers them).
        sim.extend_stream(50);
        sim.wait_until(Duration::from_secs(30), |sim| sim.stream_status().done())
            .expect("the stream continues");
    });
    pipeline.service.wait_ready().await;
    let stored = pipeline.wait_consistent(Check::RevisionsInOrder).await;

    let truth = pipeline.sim.messages();
    assert!(
        truth.iter().all(|message| !message.gateway_missed_change),
        "the gateway lost no change, so every content and deletion was compared"
    );
    let edited: Vec<_> = truth
        .iter()
        .filter(|message| message.visible && !message.previous_contents.is_empty())
        .collect();
    let deleted: Vec<_> = truth
        .iter()
        .filter(|message| message.visible && message.deleted)
        .collect();
    assert!(!edited.is_empty() && !deleted.is_empty());
    for message in edited {
        assert_eq!(stored.get(message.id).content, message.content, "edit lost");
    }
    for message in deleted {
        assert!(
            stored.get(message.id).deleted,
            "delete of {} lost",
            message.id
        );
    }
    let resumes = pipeline.sim.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:#?}");
    assert!(
        matches!(resumes[0].outcome, ResumeOutcome::Resumed { replayed } if replayed > 0),
        "{resumes:#?}"
    );
    assert_eq!(
        resumes[0].seq,
        Some(saved_before),
        "from the committed sequence"
    );
    assert_eq!(resumes[0].listener, GatewayListener::Resume);
    assert_eq!(pipeline.sim.identifies().len(), 1, "never identified again");
    let resumed = pipeline.log_lines("Gateway session resumed");
    assert!(
        resumed
            .iter()
            .any(|line| line["context"]["resumed_from"] == "database"),
        "{resumed:#?}"
    );

    // A clean shutdown (a deployment) flushes, saves the last sequence and closes
    // resumably: the next process resumes from exactly there, with nothing to replay.
    let last = everything_committed(&pipeline).await;
    pipeline.stop_and_restart(|_| {});
    pipeline
        .wait_sim("a second resume", |sim| sim.resumes().len() >= 2)
        .await;
    let second = pipeline.sim.resumes()[1].clone();
    assert_eq!(second.seq, Some(last), "{second:?}");
    assert!(
        matches!(second.outcome, ResumeOutcome::Resumed { replayed: 0 }),
        "{second:?}"
    );
    pipeline.service.wait_ready().await;
    pipeline.sim.extend_stream(30);
    pipeline.wait_consistent(Check::RevisionsInOrder).await;
    assert_eq!(pipeline.sim.identifies().len(), 1);
    pipeline.finish();
}

#[tokio::test]
async fn kill_9_then_a_saved_session_discord_no_longer_has_identifies_and_backfills() {
    // Structure changes while the service is down are scripted (see
    // `change_structure_unseen`).
    let mut pipeline = Pipeline::start(messages_only_world(900), Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    wait_created(&pipeline, 200).await;
    let mut unseen = Vec::new();
    pipeline.kill_and_restart(|sim| {
        // Discord drops the dead process's session (it waited too long, say) once the sim
        // has seen its connection go, so what is posted from now on reaches no session and
        // the new process's RESUME is refused.
        sim.wait_until(Duration::from_secs(30), |sim| sim.open_connections() == 0)
            .expect("the killed process's connection ends");
        sim.expire_sessions();
        unseen = change_structure_unseen(sim);
        // The stream goes on while the service is down.
        let created = sim.stream_status().created;
        sim.wait_until(Duration::from_secs(30), |sim| {
            sim.stream_status().created >= created + 100
        })
        .expect("the stream continues");
        // A slow gateway at start-up: the start-up backfill pass is over before READY, and
        // what is posted in between reaches neither.
        sim.queue_connect_fault(ConnectFault::DelayHello(Duration::from_millis(1_500)));
    });
    pipeline.service.wait_ready().await;
    let stored = pipeline.wait_consistent(Check::RevisionsInOrder).await;

    assert_all_stored(&stored, &unseen);
    pipeline.wait_structure_consistent().await;
    let visible = pipeline.sim.messages().iter().filter(|m| m.visible).count();
    assert_eq!(stored.messages.len(), visible, "every message exactly once");
    let unreceived = pipeline.sim.gateway_stats().events_without_session;
    assert!(
        unreceived >= 100,
        "only {unreceived} events were posted while no one listened"
    );
    let resumes = pipeline.sim.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:#?}");
    assert_eq!(resumes[0].outcome, ResumeOutcome::Invalid, "tried, refused");
    assert_eq!(
        pipeline.sim.identifies().len(),
        2,
        "the new process identified once"
    );
    pipeline.finish();
}

#[tokio::test]
async fn a_saved_session_too_old_to_resume_is_not_tried_and_backfill_keeps_every_message() {
    let mut pipeline = Pipeline::start(messages_only_world(600), Compression::ZlibStream);
    connected_and_caught_up(&mut pipeline).await;
    pipeline.sim.start_stream();
    wait_created(&pipeline, 150).await;
    pipeline.service.kill_hard();
    pipeline
        .wait_sim("the killed process's connection to end", |sim| {
            sim.open_connections() == 0
        })
        .await;
    // As if the process had been down for ten minutes: Discord would refuse the RESUME.
    pipeline.execute_sql("UPDATE gateway_sessions SET saved_at_ms = saved_at_ms - 600000");
    pipeline.start_again();
    pipeline.service.wait_ready().await;
    let stored = pipeline.wait_consistent(Check::RevisionsInOrder).await;
    let visible = pipeline.sim.messages().iter().filter(|m| m.visible).count();
    assert_eq!(stored.messages.len(), visible, "every message exactly once");
    assert!(pipeline.sim.resumes().is_empty(), "not even tried");
    assert_eq!(pipeline.sim.identifies().len(), 2);
    let skipped = pipeline.log_lines("Saved gateway session not resumable; identifying");
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0]["context"]["reason"], "too_old");
    pipeline.finish();
}

#[test]
fn discord_check_lists_what_the_token_sees_and_explains_a_rejected_token() {
    let sim = discord_sim::Sim::start(SimConfig {
        forbidden_channels_per_guild: 1,
        live_messages: 0,
        ..sim_config()
    })
    .expect("start discord-sim");
    let dir = tempfile::tempdir().unwrap();
    let base = sim.rest_base_url();
    let token = sim.token();

    let good = run_cli(
        dir.path(),
        &["discord", "check"],
        &[
            ("DISCORD_TOKEN", &token),
            ("DISCORD_API_BASE_URL", &base),
            // The default 50 a minute would pace the channel probes a second apart.
            ("DISCORD_RATE_LIMIT_RPM", "3000"),
        ],
    );
    assert_eq!(good.code(), 0, "{good:?}");
    assert!(
        good.stdout.contains("Token: accepted (bot token)"),
        "{}",
        good.stdout
    );
    assert!(good.stdout.contains(&sim.gateway_url()), "{}", good.stdout);
    for guild in sim.guilds() {
        assert!(
            good.stdout.contains(&guild.name),
            "{} missing:\n{}",
            guild.name,
            good.stdout
        );
    }
    for channel in sim.channels() {
        let line = good
            .stdout
            .lines()
            .find(|line| line.contains(&channel.id.to_string()))
            .unwrap_or_else(|| panic!("channel {} missing:\n{}", channel.id, good.stdout));
        if channel.forbidden {
            assert!(line.contains("FORBIDDEN"), "{line}");
        } else if channel.holds_messages() {
            assert!(line.contains("monitored, readable"), "{line}");
        }
    }

    let bad = run_cli(
        dir.path(),
        &["discord", "check"],
        &[
            ("DISCORD_TOKEN", DISCORD_TOKEN),
            ("DISCORD_API_BASE_URL", &base),
        ],
    );
    assert_eq!(bad.code(), 1, "{bad:?}");
    assert_eq!(
        bad.stderr.trim().lines().count(),
        1,
        "one line: {}",
        bad.stderr
    );
    assert!(bad.stderr.contains("rejected the token"), "{}", bad.stderr);
    sim.shutdown();
}
