//! Backfill passes against discord-sim in-process, through the real REST client and rate
//! limiter into a real SQLite file.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::*;
use crate::actors::db::{Database, DbActor, MessageQuery};
use crate::actors::health::HealthActor;
use crate::actors::ingest::ChannelDirectory;
use crate::actors::ratelimit::{
    RateLimiterActor, RateLimiterHandle, RateLimiterSettings, TokenState,
};
use crate::config::{DatabaseConfig, DiscordConfig, LogLevel, Secret};
use crate::discord::rest::DiscordRest;
use crate::logging::memory_logger;
use crate::metrics::Metrics;
use crate::sim::{Sim, SimConfig, SimHandle, StreamStart};
use crate::supervisor::{ComponentHandle, ComponentSupervisor, RestartPolicy};

/// Far above what a pass over a tiny world takes, for a busy machine.
const GENEROUS_WAIT: Duration = Duration::from_secs(30);

struct Harness {
    sim: SimHandle,
    db: Database,
    backfill: ComponentHandle<BackfillActor>,
    status: SharedBackfillStatus,
    _dir: tempfile::TempDir,
    _components: ComponentSupervisor,
}

impl Harness {
    fn start(world: SimConfig) -> Harness {
        let sim = Sim::start(world).expect("start discord-sim");
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = memory_logger(LogLevel::Info);
        let health = HealthActor::new(Duration::from_secs(600), &log).start();
        let mut components = ComponentSupervisor::new(health.recipient());
        let database = Database::open(&DatabaseConfig {
            path: dir.path().join("db.sqlite"),
            ..DatabaseConfig::default()
        })
        .unwrap();
        let db_database = database.clone();
        let db_log = log.clone();
        let db = components.supervise("database", RestartPolicy::default(), move |lifecycle| {
            DbActor::new(db_database.clone(), db_log.clone(), Duration::from_secs(5))
                .with_lifecycle(lifecycle)
        });
        let config = DiscordConfig {
            token: Some(Secret::new(sim.token())),
            api_base_url: sim.rest_base_url(),
            rate_limit_requests_per_minute: 3_000,
            ..DiscordConfig::default()
        };
        let metrics = Arc::new(Metrics::new());
        let limiter = RateLimiterActor::new(
            RateLimiterSettings::from_config(&config),
            TokenState::new(),
            Arc::clone(&metrics),
            &log,
        )
        .start();
        let rest = DiscordRest::new(&config, RateLimiterHandle::from(limiter), &log).unwrap();
        let settings = Arc::new(BackfillSettings {
            selection: config,
            first_run_max_messages: 1_000,
            // Only the passes a test asks for (and the one at start).
            interval: Duration::from_secs(86_400),
        });
        let status: SharedBackfillStatus = Arc::new(Mutex::new(BackfillStatus::default()));
        let backfill_status = Arc::clone(&status);
        let backfill =
            components.supervise("backfill", RestartPolicy::default(), move |lifecycle| {
                BackfillActor::new(
                    rest.clone(),
                    db.clone(),
                    ChannelDirectory::default(),
                    Arc::clone(&settings),
                    Arc::clone(&backfill_status),
                    Arc::clone(&metrics),
                    lifecycle,
                    &log,
                )
            });
        Harness {
            sim,
            db: database,
            backfill,
            status,
            _dir: dir,
            _components: components,
        }
    }

    async fn wait_passes(&self, passes: u64) {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            let done = self
                .status
                .lock()
                .map(|status| status.passes >= passes && status.running.is_none())
                .unwrap_or(false);
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for pass {passes}"
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn run_pass(&self, passes_before: u64) {
        self.backfill
            .send(RunBackfill {
                reason: "test".to_owned(),
            })
            .await
            .expect("backfill actor");
        self.wait_passes(passes_before + 1).await;
    }

    fn stored_in(&self, channel_id: u64) -> Vec<u64> {
        let query = MessageQuery::new(Some(channel_id), Some(0), None, 1_000).unwrap();
        self.db
            .query_messages(&query)
            .unwrap()
            .iter()
            .map(|message| message.id)
            .collect()
    }

    /// (parent, is_thread, archived) as stored for `channel_id`.
    fn channel_row(&self, channel_id: u64) -> Option<(Option<i64>, bool, bool)> {
        use crate::actors::db::schema::channels;
        use diesel::prelude::*;
        let path = self.db.path().to_string_lossy().into_owned();
        let mut conn = SqliteConnection::establish(&path).unwrap();
        channels::table
            .filter(channels::id.eq(channel_id as i64))
            .select((channels::parent_id, channels::is_thread, channels::archived))
            .first(&mut conn)
            .optional()
            .unwrap()
    }

    /// History requests the sim answered for `channel_id`.
    fn pages_of(&self, channel_id: u64) -> usize {
        let path = format!("/channels/{channel_id}/messages");
        self.sim
            .rest_log()
            .iter()
            .filter(|request| request.path.ends_with(&path))
            .count()
    }
}

#[actix_rt::test]
async fn a_thread_archived_while_not_listening_is_paged_once_more_then_left_alone() {
    let harness = Harness::start(SimConfig {
        guilds: 1,
        channels_per_guild: 1,
        threads_per_guild: 1,
        history_per_channel: 5,
        live_messages: 0,
        stream_start: StreamStart::Manual,
        ..SimConfig::default()
    });
    harness.wait_passes(1).await;
    let thread = harness
        .sim
        .channels()
        .into_iter()
        .find(|channel| channel.is_thread())
        .expect("a thread");
    assert_eq!(harness.stored_in(thread.id).len(), 5);
    assert_eq!(harness.db.open_threads().unwrap().len(), 1);

    // Messages the gateway did not deliver (we were not listening), then the thread is
    // archived: Discord no longer lists it as active.
    let missed: Vec<u64> = (0..3)
        .map(|n| {
            harness
                .sim
                .post_message(thread.id, format!("missed {n}"))
                .unwrap()
        })
        .collect();
    harness
        .sim
        .update_thread(thread.id, None, Some(true))
        .unwrap();
    harness.run_pass(1).await;
    let stored = harness.stored_in(thread.id);
    for id in &missed {
        assert!(
            stored.contains(id),
            "message {id} of the archived thread not fetched"
        );
    }
    assert!(
        harness.db.open_threads().unwrap().is_empty(),
        "recorded as archived"
    );

    // Settled: later passes do not ask for it again.
    let pages = harness.pages_of(thread.id);
    harness.run_pass(2).await;
    assert_eq!(harness.pages_of(thread.id), pages);

    // Unarchived, it is listed as active again and paged as usual.
    harness
        .sim
        .update_thread(thread.id, None, Some(false))
        .unwrap();
    let later = harness.sim.post_message(thread.id, "back").unwrap();
    harness.run_pass(3).await;
    assert!(harness.stored_in(thread.id).contains(&later));
    assert_eq!(harness.db.open_threads().unwrap().len(), 1);
    harness.sim.shutdown();
}

#[actix_rt::test]
async fn a_thread_created_and_archived_between_passes_is_found_in_the_archive_listing() {
    let harness = Harness::start(SimConfig {
        guilds: 1,
        channels_per_guild: 1,
        threads_per_guild: 0,
        history_per_channel: 3,
        live_messages: 0,
        stream_start: StreamStart::Manual,
        ..SimConfig::default()
    });
    harness.wait_passes(1).await;
    let parent = harness
        .sim
        .channels()
        .into_iter()
        .find(|channel| channel.holds_messages() && !channel.is_thread())
        .expect("a text channel");
    let listings = |visibility: &str| {
        let path = format!("/channels/{}/threads/archived/{visibility}", parent.id);
        harness
            .sim
            .rest_log()
            .iter()
            .filter(|request| request.path.ends_with(&path))
            .count()
    };
    assert_eq!(listings("public"), 1);
    assert_eq!(listings("private"), 1, "asked once, answered 403");

    // Never listed as active, never seen by a gateway: only the archive knows it.
    let thread = harness.sim.create_thread(parent.id).unwrap();
    let posted: Vec<u64> = (0..130)
        .map(|n| {
            harness
                .sim
                .post_message(thread, format!("unseen {n}"))
                .unwrap()
        })
        .collect();
    harness.sim.update_thread(thread, None, Some(true)).unwrap();
    harness.run_pass(1).await;
    let mut stored = harness.stored_in(thread);
    stored.sort_unstable();
    assert_eq!(stored, posted, "every message of the archived thread");
    assert_eq!(
        harness.channel_row(thread),
        Some((Some(parent.id as i64), true, true)),
        "recorded as an archived thread of its parent"
    );

    // The mark stops the next listing at the thread: one listing request, no history.
    let pages = harness.pages_of(thread);
    harness.run_pass(2).await;
    assert_eq!(harness.pages_of(thread), pages);
    assert_eq!(listings("public"), 3);
    assert_eq!(listings("private"), 1, "a 403 is not asked again");
    assert!(
        harness.status.lock().unwrap().channels[&parent.id.to_string()]
            .last_error
            .is_none(),
        "a private 403 does not make the channel forbidden"
    );
    let last = harness.status.lock().unwrap().last_pass.clone().unwrap();
    assert_eq!(last.errors, 0);
    harness.sim.shutdown();
}
