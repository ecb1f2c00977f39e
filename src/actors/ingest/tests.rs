//! The storage path end to end on a real actor system: events in the queue come out as rows
//! in a real SQLite file, in order, filtered, and none are lost while the database actor is
//! away.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::*;
use crate::actors::db::DatabaseConfig;
use crate::actors::db::{Database, DbActor, LoadGatewaySession, MessageQuery, QueryMessages};
use crate::actors::health::HealthActor;
use crate::config::LogLevel;
use crate::discord::config::DiscordConfig;
use crate::discord::gateway::{GatewayEvent, ResumableSession, SequencedEvent};
use crate::discord::{ChannelDirectory, Message, MessageDelete, Snowflake, User};
use crate::logging::memory_logger;
use crate::metrics::Metrics;
use crate::supervisor::{ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy};

const GENEROUS_WAIT: Duration = Duration::from_secs(30);

fn message(id: u64, channel: u64, content: &str) -> Message {
    serde_json::from_value(serde_json::json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "guild_id": "1",
        "author": {"id": "5", "username": "ann"}, "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00", "type": 0, "nonce": 12345
    }))
    .unwrap()
}

struct Pipeline {
    dir: tempfile::TempDir,
    sender: IngestSender,
    db: ComponentHandle<DbActor>,
    ingest: ComponentHandle<IngestActor>,
    stats: Arc<IngestStats>,
    _components: ComponentSupervisor,
}

fn pipeline(selection: DiscordConfig, capacity: usize) -> Pipeline {
    pipeline_with(
        selection,
        capacity,
        DatabaseConfig::default().busy_timeout_ms,
    )
}

/// [`pipeline`] whose database waits `busy_timeout_ms` for a lock held elsewhere.
fn pipeline_with(selection: DiscordConfig, capacity: usize, busy_timeout_ms: u64) -> Pipeline {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = memory_logger(LogLevel::Info);
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    let registry = Arc::new(Metrics::new());
    let mut components = ComponentSupervisor::new(health.recipient(), Arc::clone(&registry));
    let database = Database::open(&DatabaseConfig {
        path: dir.path().join("db.sqlite"),
        busy_timeout_ms,
        ..DatabaseConfig::default()
    })
    .unwrap();
    let db_log = log.clone();
    let db = components
        .supervise(
            "database",
            Readiness::Required,
            RestartPolicy::default(),
            move |lifecycle| {
                DbActor::new(database.clone(), db_log.clone(), Duration::from_secs(5))
                    .with_lifecycle(lifecycle)
            },
        )
        .unwrap();
    let (sender, receiver) = queue(capacity);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let stats = Arc::new(IngestStats::default());
    let settings = Arc::new(IngestSettings {
        selection,
        max_batch_events: 500,
        slow_threshold: Duration::from_secs(5),
        backfill: None,
    });
    let (queue_probe, ingest_db, ingest_stats) = (sender.clone(), db.clone(), Arc::clone(&stats));
    let metrics = IngestMetrics::register(&registry, &sender).unwrap();
    let ingest = components
        .supervise(
            "ingest",
            Readiness::Required,
            RestartPolicy::default(),
            move |lifecycle| {
                IngestActor::new(
                    Arc::clone(&receiver),
                    queue_probe.clone(),
                    ingest_db.clone(),
                    ChannelDirectory::default(),
                    Arc::clone(&settings),
                    Arc::clone(&ingest_stats),
                    metrics.clone(),
                    lifecycle,
                    &log,
                )
            },
        )
        .unwrap();
    Pipeline {
        dir,
        sender,
        db,
        ingest,
        stats,
        _components: components,
    }
}

async fn stored(db: &ComponentHandle<DbActor>, channel: u64) -> Vec<(u64, String, bool)> {
    let query = MessageQuery::new(Some(channel), Some(0), None, 1000).unwrap();
    db.send(QueryMessages(query))
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.content, m.deleted))
        .collect()
}

#[actix_rt::test]
async fn events_become_rows_in_order_with_edits_and_deletes() {
    let pipeline = pipeline(DiscordConfig::default(), 64);
    let mut edited = message(101, 10, "b, edited");
    edited.edited_timestamp = Some("2026-01-01T00:01:00+00:00".to_owned());
    for event in [
        GatewayEvent::MessageCreate(message(100, 10, "a")),
        GatewayEvent::MessageCreate(message(101, 10, "b")),
        GatewayEvent::MessageUpdate(edited),
        GatewayEvent::MessageDelete(MessageDelete {
            id: Snowflake(100),
            channel_id: Snowflake(10),
            guild_id: Some(Snowflake(1)),
        }),
        GatewayEvent::MessageCreate(message(100, 10, "a")), // a late duplicate
    ] {
        pipeline.sender.send(event.into()).await.unwrap();
    }
    let status = pipeline
        .ingest
        .send(Flush {
            timeout: GENEROUS_WAIT,
        })
        .await
        .unwrap();
    assert_eq!(status.queue_depth, 0);
    assert_eq!(status.events, 5);
    assert_eq!(
        stored(&pipeline.db, 10).await,
        [
            (100, "a".to_owned(), true),
            (101, "b, edited".to_owned(), false)
        ]
    );
    let status = pipeline.stats.status(&pipeline.sender);
    assert_eq!((status.revisions, status.deletions), (1, 1));
}

#[actix_rt::test]
async fn a_full_queue_makes_the_sender_wait_and_loses_nothing() {
    let pipeline = pipeline(DiscordConfig::default(), 4);
    let sender = pipeline.sender.clone();
    let producer = actix_rt::spawn(async move {
        for id in 1_000..1_300 {
            sender
                .send(GatewayEvent::MessageCreate(message(id, 20, "burst")).into())
                .await
                .unwrap();
        }
    });
    producer.await.unwrap();
    pipeline
        .ingest
        .send(Flush {
            timeout: GENEROUS_WAIT,
        })
        .await
        .unwrap();
    assert_eq!(stored(&pipeline.db, 20).await.len(), 300);
}

#[actix_rt::test]
async fn unmonitored_channels_are_not_stored() {
    let pipeline = pipeline(
        DiscordConfig {
            ignored_channel_ids: vec![Snowflake(30)],
            ..DiscordConfig::default()
        },
        16,
    );
    pipeline
        .sender
        .send(GatewayEvent::MessageCreate(message(1, 30, "ignored")).into())
        .await
        .unwrap();
    pipeline
        .sender
        .send(GatewayEvent::MessageCreate(message(2, 31, "kept")).into())
        .await
        .unwrap();
    let status = pipeline
        .ingest
        .send(Flush {
            timeout: GENEROUS_WAIT,
        })
        .await
        .unwrap();
    assert_eq!(status.unmonitored, 1);
    assert!(stored(&pipeline.db, 30).await.is_empty());
    assert_eq!(stored(&pipeline.db, 31).await.len(), 1);
}

fn session(id: &str) -> Arc<ResumableSession> {
    Arc::new(ResumableSession {
        session_id: id.to_owned(),
        resume_url: "wss://resume.example".to_owned(),
        user: User {
            id: Snowflake(900),
            username: "monitor".to_owned(),
            global_name: None,
            bot: true,
        },
        shard: [0, 1],
        token_fingerprint: "0123456789abcdef".to_owned(),
    })
}

fn numbered(session: &Arc<ResumableSession>, seq: u64, event: GatewayEvent) -> SequencedEvent {
    SequencedEvent {
        session: Some(Arc::clone(session)),
        seq: Some(seq),
        event,
    }
}

#[actix_rt::test]
async fn the_session_is_saved_with_the_sequence_of_the_last_committed_event() {
    let pipeline = pipeline(DiscordConfig::default(), 64);
    let flush = || {
        pipeline.ingest.send(Flush {
            timeout: GENEROUS_WAIT,
        })
    };
    let saved = || pipeline.db.send(LoadGatewaySession { shard_id: 0 });
    flush().await.unwrap();
    assert_eq!(
        saved().await.unwrap().unwrap(),
        None,
        "nothing committed yet"
    );

    let first = session("session-a");
    let ready = GatewayEvent::Ready {
        session_id: "session-a".to_owned(),
        user: first.user.clone(),
        resumed: false,
    };
    pipeline
        .sender
        .send(numbered(&first, 1, ready))
        .await
        .unwrap();
    for seq in 2..=4 {
        let event = GatewayEvent::MessageCreate(message(100 + seq, 10, "a"));
        pipeline
            .sender
            .send(numbered(&first, seq, event))
            .await
            .unwrap();
    }
    // Ours, unnumbered: does not move the position.
    pipeline
        .sender
        .send(SequencedEvent {
            session: Some(Arc::clone(&first)),
            seq: None,
            event: GatewayEvent::SessionLost,
        })
        .await
        .unwrap();
    flush().await.unwrap();
    let record = saved().await.unwrap().unwrap().expect("saved");
    assert_eq!(record.session_id, "session-a");
    assert_eq!(record.seq, 4);
    assert_eq!(record.shard, [0, 1]);
    assert_eq!(record.user_id, 900);
    assert_eq!(record.resume_url, "wss://resume.example");
    assert_eq!(
        stored(&pipeline.db, 10).await.len(),
        3,
        "saved after the rows"
    );
    let shown = pipeline.stats.saved_session().expect("shown in /status");
    assert_eq!((shown.seq, shown.shard), (4, [0, 1]));

    // A new session replaces the saved one, from its own first sequence number.
    let second = session("session-b");
    let delete = GatewayEvent::MessageDelete(MessageDelete {
        id: Snowflake(102),
        channel_id: Snowflake(10),
        guild_id: Some(Snowflake(1)),
    });
    pipeline
        .sender
        .send(numbered(&second, 2, delete))
        .await
        .unwrap();
    flush().await.unwrap();
    let record = saved().await.unwrap().unwrap().expect("saved");
    assert_eq!((record.session_id.as_str(), record.seq), ("session-b", 2));
    assert!(record.saved_at_ms >= shown.saved_at.timestamp_millis());
}

#[actix_rt::test]
async fn a_write_lock_held_elsewhere_delays_the_batch_and_its_saved_position_loses_nothing() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    // The lock is held far longer than the database waits for it, many times over.
    let pipeline = pipeline_with(DiscordConfig::default(), 64, 50);
    let first = session("session-a");
    pipeline
        .sender
        .send(numbered(
            &first,
            1,
            GatewayEvent::MessageCreate(message(1, 10, "a")),
        ))
        .await
        .unwrap();
    let flushed = pipeline
        .ingest
        .send(Flush {
            timeout: GENEROUS_WAIT,
        })
        .await
        .unwrap();
    assert_eq!(flushed.messages_inserted, 1);

    let path = pipeline.dir.path().join("db.sqlite");
    let mut holder = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();
    let delete = GatewayEvent::MessageDelete(MessageDelete {
        id: Snowflake(1),
        channel_id: Snowflake(10),
        guild_id: Some(Snowflake(1)),
    });
    pipeline
        .sender
        .send(numbered(&first, 2, delete))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + GENEROUS_WAIT;
    while pipeline
        .stats
        .retries
        .load(std::sync::atomic::Ordering::Relaxed)
        < 5
    {
        assert!(std::time::Instant::now() < deadline, "no retries");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    // Still the position before the delete: a restart now would replay it.
    let saved = pipeline
        .db
        .send(LoadGatewaySession { shard_id: 0 })
        .await
        .unwrap()
        .unwrap()
        .expect("saved");
    assert_eq!(saved.seq, 1);
    holder.batch_execute("ROLLBACK").unwrap();

    let status = pipeline
        .ingest
        .send(Flush {
            timeout: GENEROUS_WAIT,
        })
        .await
        .unwrap();
    assert_eq!((status.deletions, status.dropped_writes), (1, 0));
    assert_eq!(stored(&pipeline.db, 10).await, [(1, "a".to_owned(), true)]);
    let saved = pipeline
        .db
        .send(LoadGatewaySession { shard_id: 0 })
        .await
        .unwrap()
        .unwrap()
        .expect("saved");
    assert_eq!(saved.seq, 2);
}
