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
use crate::discord::Snowflake;
use crate::discord::rest::{DiscordRest, MAX_ARCHIVED_THREADS_PER_PAGE};
use crate::logging::memory_logger;
use crate::metrics::Metrics;
use crate::sim::{Sim, SimConfig, SimHandle, StreamStart};
use crate::supervisor::{ComponentHandle, ComponentSupervisor, RestartPolicy, supervise};

/// Far above what a pass over a tiny world takes, for a busy machine.
const GENEROUS_WAIT: Duration = Duration::from_secs(30);

struct Harness {
    sim: SimHandle,
    db: Database,
    backfill: ComponentHandle<BackfillActor>,
    status: SharedBackfillStatus,
    /// What [`Harness::new_process`] builds another BackfillActor from.
    parts: Parts,
    _dir: tempfile::TempDir,
    _components: ComponentSupervisor,
}

struct Parts {
    rest: DiscordRest,
    db: ComponentHandle<DbActor>,
    settings: Arc<BackfillSettings>,
    health: Addr<HealthActor>,
    log: slog::Logger,
}

impl Harness {
    fn start(world: SimConfig) -> Harness {
        let sim = Sim::start(world).expect("start discord-sim");
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = memory_logger(LogLevel::Info);
        let health = HealthActor::new(Duration::from_secs(600), &log).start();
        let mut components = ComponentSupervisor::new(health.clone().recipient());
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
            concurrent_channels: 4,
        });
        let parts = Parts {
            rest,
            db,
            settings,
            health,
            log,
        };
        let (backfill, status) = parts.start_backfill();
        Harness {
            sim,
            db: database,
            backfill,
            status,
            parts,
            _dir: dir,
            _components: components,
        }
    }

    /// A new BackfillActor on the same database and sim, as a restarted process has (the
    /// old one stays idle: its next pass is a day away).
    fn new_process(&mut self) {
        let (backfill, status) = self.parts.start_backfill();
        self.backfill = backfill;
        self.status = status;
    }

    fn listings(&self, parent: u64, visibility: &str) -> usize {
        let path = format!("/channels/{parent}/threads/archived/{visibility}");
        self.sim
            .rest_log()
            .iter()
            .filter(|request| request.path.ends_with(&path))
            .count()
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

impl Parts {
    fn start_backfill(&self) -> (ComponentHandle<BackfillActor>, SharedBackfillStatus) {
        let status: SharedBackfillStatus = Arc::new(Mutex::new(BackfillStatus::default()));
        let (rest, db, settings, log) = (
            self.rest.clone(),
            self.db.clone(),
            Arc::clone(&self.settings),
            self.log.clone(),
        );
        let backfill_status = Arc::clone(&status);
        let backfill = supervise(
            "backfill",
            RestartPolicy::default(),
            self.health.clone().recipient(),
            move |lifecycle| {
                BackfillActor::new(
                    rest.clone(),
                    db.clone(),
                    ChannelDirectory::default(),
                    Arc::clone(&settings),
                    Arc::clone(&backfill_status),
                    Arc::new(Metrics::new()),
                    lifecycle,
                    &log,
                )
            },
        );
        (backfill, status)
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

#[actix_rt::test]
async fn archive_marks_are_saved_and_a_restarted_actor_continues_from_them() {
    let mut harness = Harness::start(SimConfig {
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
        .expect("a text channel")
        .id;
    assert!(
        harness.db.archived_thread_marks().unwrap().is_empty(),
        "nothing listed yet"
    );

    // More archived threads than one listing page holds, none seen by anyone.
    for _ in 0..=MAX_ARCHIVED_THREADS_PER_PAGE {
        let thread = harness.sim.create_thread(parent).unwrap();
        harness.sim.update_thread(thread, None, Some(true)).unwrap();
    }
    let before = harness.listings(parent, "public");
    harness.run_pass(1).await;
    assert_eq!(
        harness.listings(parent, "public") - before,
        2,
        "no mark: the bounded first listing"
    );
    let marks = harness.db.archived_thread_marks().unwrap();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!((marks[0].parent_id, marks[0].private), (parent, false));

    // A new process reads the mark: its listing stops at the first thread it already has.
    harness.new_process();
    harness.wait_passes(1).await;
    assert_eq!(
        harness.listings(parent, "public") - before,
        3,
        "one listing request, stopped at the saved mark"
    );

    // The mark is the newest archive timestamp, to the microsecond.
    let newest = harness
        .parts
        .rest
        .archived_public_threads(Snowflake(parent), None, 2)
        .await
        .unwrap()
        .threads
        .into_iter()
        .next()
        .and_then(|thread| thread.thread_metadata?.archive_timestamp)
        .expect("the newest archived thread");
    let newest = chrono::DateTime::parse_from_rfc3339(&newest).unwrap();
    assert_eq!(marks[0].newest_archived_at_us, newest.timestamp_micros());
    harness.sim.shutdown();
}
