//! Backfill passes against discord-sim in-process, through the real REST client and rate
//! limiter into a real SQLite file.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::*;
use crate::actors::db::DatabaseConfig;
use crate::actors::db::{Database, DbActor, MessageQuery};
use crate::actors::health::HealthActor;
use crate::actors::ratelimit::{
    RateLimiterActor, RateLimiterHandle, RateLimiterSettings, TokenState,
};
use crate::config::{LogLevel, Secret};
use crate::discord::ChannelDirectory;
use crate::discord::Snowflake;
use crate::discord::config::DiscordConfig;
use crate::discord::config::default_backfill_concurrent_channels;
use crate::discord::rest::{DiscordRest, MAX_ARCHIVED_THREADS_PER_PAGE};
use crate::logging::{LogBuffer, memory_logger};
use crate::metrics::Metrics;
use crate::supervisor::{
    ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy, supervise,
};
use discord_sim::{RouteLimit, Sim, SimConfig, SimHandle, StreamStart};

/// Far above what a pass over a tiny world takes, for a busy machine.
const GENEROUS_WAIT: Duration = Duration::from_secs(30);

/// The history route as the sim's request log names it.
const MESSAGES_ROUTE: &str = "GET /channels/{channel_id}/messages";
/// The public archived-thread listing, likewise.
const ARCHIVED_PUBLIC_ROUTE: &str = "GET /channels/{channel_id}/threads/archived/public";

struct Harness {
    sim: SimHandle,
    db: Database,
    backfill: ComponentHandle<BackfillActor>,
    status: SharedBackfillStatus,
    logs: LogBuffer,
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
        let concurrent_channels = usize::try_from(default_backfill_concurrent_channels()).unwrap();
        Harness::start_with(world, concurrent_channels)
    }

    fn start_with(world: SimConfig, concurrent_channels: usize) -> Harness {
        let sim = Sim::start(world).expect("start discord-sim");
        let dir = tempfile::tempdir().unwrap();
        let (log, logs) = memory_logger(LogLevel::Info);
        let health = HealthActor::new(Duration::from_secs(600), &log).start();
        let registry = Arc::new(Metrics::new());
        let mut components =
            ComponentSupervisor::new(health.clone().recipient(), Arc::clone(&registry));
        let database = Database::open(&DatabaseConfig {
            path: dir.path().join("db.sqlite"),
            ..DatabaseConfig::default()
        })
        .unwrap();
        let db_database = database.clone();
        let db_log = log.clone();
        let db = components
            .supervise(
                "database",
                Readiness::Required,
                RestartPolicy::default(),
                move |lifecycle| {
                    DbActor::new(db_database.clone(), db_log.clone(), Duration::from_secs(5))
                        .with_lifecycle(lifecycle)
                },
            )
            .unwrap();
        let config = DiscordConfig {
            token: Some(Secret::new(sim.token())),
            api_base_url: sim.rest_base_url(),
            rate_limit_requests_per_minute: 3_000,
            ..DiscordConfig::default()
        };
        let limiter = RateLimiterActor::new(
            RateLimiterSettings::from_config(&config),
            TokenState::new(),
            &log,
        )
        .start();
        let rest =
            DiscordRest::new(&config, Arc::new(RateLimiterHandle::from(limiter)), &log).unwrap();
        let settings = Arc::new(BackfillSettings {
            selection: config,
            first_run_max_messages: 1_000,
            // Only the passes a test asks for (and the one at start).
            interval: Duration::from_secs(86_400),
            concurrent_channels,
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
            logs,
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

    /// The channel of each history request the sim answered, in the order they came.
    fn history_requests(&self) -> Vec<(u64, u16)> {
        self.sim
            .rest_log()
            .iter()
            .filter(|request| request.route == Some(MESSAGES_ROUTE))
            .map(|request| (request.major.parse().unwrap(), request.status))
            .collect()
    }

    /// Text and announcement channels (not threads), with the ids of their messages.
    fn sim_channels(&self) -> Vec<(u64, Vec<u64>)> {
        self.sim
            .channels()
            .into_iter()
            .filter(|channel| channel.holds_messages() && !channel.is_thread())
            .map(|channel| {
                let mut ids: Vec<u64> = self
                    .sim
                    .messages_in(channel.id)
                    .iter()
                    .map(|message| message.id)
                    .collect();
                ids.sort_unstable();
                (channel.id, ids)
            })
            .collect()
    }

    /// Every message of every channel is stored, and each channel's cursor (in the database
    /// and in `/status`) is its newest message.
    fn assert_complete(&self) {
        let cursors: std::collections::HashMap<u64, u64> = self
            .db
            .get_cursors()
            .unwrap()
            .into_iter()
            .map(|cursor| (cursor.channel_id, cursor.last_message_id))
            .collect();
        let status = self.status.lock().unwrap().clone();
        for (channel, ids) in self.sim_channels() {
            let mut stored = self.stored_in(channel);
            stored.sort_unstable();
            assert_eq!(stored, ids, "messages of channel {channel}");
            let newest = *ids.last().expect("history");
            assert_eq!(cursors.get(&channel), Some(&newest), "cursor of {channel}");
            assert_eq!(
                status.channels[&channel.to_string()].cursor,
                Some(newest.to_string()),
                "/status cursor of {channel}"
            );
        }
    }

    fn last_pass(&self) -> PassSummary {
        self.status
            .lock()
            .unwrap()
            .last_pass
            .clone()
            .expect("a finished pass")
    }

    /// Log lines whose message is `message`.
    fn logged(&self, message: &str) -> usize {
        self.logs
            .records()
            .iter()
            .filter(|record| record["message"] == message)
            .count()
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
        let metrics = BackfillMetrics::register(&Arc::new(Metrics::new()), &status).unwrap();
        let backfill = supervise(
            "backfill",
            Readiness::Required,
            RestartPolicy::default(),
            self.health.clone().recipient(),
            move |lifecycle| {
                BackfillActor::new(
                    rest.clone(),
                    db.clone(),
                    ChannelDirectory::default(),
                    Arc::clone(&settings),
                    Arc::clone(&backfill_status),
                    metrics.clone(),
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

/// Most channels being paged at one time, from the order of their history requests: a
/// channel is in flight from its first request to its last (its pages go one after
/// another), so the channels whose first and last requests enclose a request were all in
/// flight when it was logged. Counts only, no clock.
fn most_channels_in_flight(requests: &[(u64, u16)]) -> usize {
    let mut spans: std::collections::HashMap<u64, (usize, usize)> =
        std::collections::HashMap::new();
    for (position, (channel, _)) in requests.iter().enumerate() {
        spans
            .entry(*channel)
            .and_modify(|span| span.1 = position)
            .or_insert((position, position));
    }
    (0..requests.len())
        .map(|position| {
            spans
                .values()
                .filter(|(first, last)| (*first..=*last).contains(&position))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Six channels of 250 messages (three pages each on a first run), with a history bucket of
/// two requests a second: a channel paged alone waits on its bucket.
fn six_channels_with_tight_buckets(per_second: u32) -> SimConfig {
    SimConfig {
        guilds: 1,
        channels_per_guild: 6,
        threads_per_guild: 0,
        history_per_channel: 250,
        live_messages: 0,
        stream_start: StreamStart::Manual,
        route_limits: vec![RouteLimit {
            route: MESSAGES_ROUTE.to_owned(),
            limit: per_second,
            reset_ms: 1_000,
        }],
        ..SimConfig::default()
    }
}

#[actix_rt::test]
async fn several_channels_are_paged_at_once_never_more_than_configured_each_message_once() {
    let harness = Harness::start_with(six_channels_with_tight_buckets(2), 3);
    harness.wait_passes(1).await;
    let first = harness.history_requests();
    let in_flight = most_channels_in_flight(&first);
    assert!(
        (2..=3).contains(&in_flight),
        "{in_flight} channels in flight at most: {first:?}"
    );
    assert!(
        harness.sim.rest_violations().is_empty(),
        "the limiter kept every bucket: {:?}",
        harness.sim.rest_violations()
    );
    // 100 + 100 + 50: each page asked for once.
    for (channel, _) in harness.sim_channels() {
        let pages = first.iter().filter(|(id, _)| *id == channel).count();
        assert_eq!(pages, 3, "history requests of channel {channel}: {first:?}");
    }
    harness.assert_complete();
    let pass = harness.last_pass();
    assert_eq!(pass.concurrent_channels, 3);
    assert_eq!((pass.channels_done, pass.channels_total), (6, 6));
    assert_eq!(pass.messages_fetched, 6 * 250);
    assert!(pass.channels_in_flight.is_empty(), "{pass:?}");
    assert_eq!(pass.errors, 0);

    // The next pass pages forward from each cursor: two channels have news.
    let channels = harness.sim_channels();
    for (channel, _) in &channels[..2] {
        for n in 0..120 {
            harness
                .sim
                .post_message(*channel, format!("news {n}"))
                .unwrap();
        }
    }
    harness.run_pass(1).await;
    harness.assert_complete();
    let pass = harness.last_pass();
    assert_eq!(pass.messages_fetched, 2 * 120);
    assert_eq!(pass.channels_done, 6);
    let second = &harness.history_requests()[first.len()..];
    assert!(most_channels_in_flight(second) <= 3, "{second:?}");
    for (index, (channel, _)) in channels.iter().enumerate() {
        let pages = second.iter().filter(|(id, _)| id == channel).count();
        // 100 + 20 after the cursor; an empty page for the others.
        let expected = if index < 2 { 2 } else { 1 };
        assert_eq!(pages, expected, "channel {channel}: {second:?}");
    }
    harness.sim.shutdown();
}

#[actix_rt::test]
async fn one_channel_at_a_time_pages_each_channel_to_the_end_before_the_next() {
    let harness = Harness::start_with(six_channels_with_tight_buckets(2), 1);
    harness.wait_passes(1).await;
    let requests = harness.history_requests();
    assert_eq!(most_channels_in_flight(&requests), 1, "{requests:?}");
    assert_eq!(requests.len(), 6 * 3);
    harness.assert_complete();
    let pass = harness.last_pass();
    assert_eq!(pass.concurrent_channels, 1);
    assert_eq!((pass.channels_done, pass.messages_fetched), (6, 6 * 250));
    harness.sim.shutdown();
}

#[actix_rt::test]
async fn a_token_rejected_while_several_channels_are_in_flight_halts_the_pass_once() {
    // One history request a second per channel: the pass is still paging when the token dies.
    let harness = Harness::start_with(six_channels_with_tight_buckets(1), 3);
    let deadline = Instant::now() + GENEROUS_WAIT;
    while harness.history_requests().is_empty() {
        assert!(Instant::now() < deadline, "no history request");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    harness.sim.set_token("reset-by-discord");
    harness.wait_passes(1).await;

    let status = harness.status.lock().unwrap().clone();
    assert!(status.halted.is_some(), "{status:?}");
    assert_eq!(
        harness.logged("Backfill halted: Discord rejected the token"),
        1
    );
    assert_eq!(
        harness.logged("Backfill of a channel failed; it is retried next pass"),
        0,
        "the other channels in flight were dropped, not failed one by one"
    );
    // Only requests already granted when the first 401 came back reach Discord: at most
    // one per channel in flight.
    let rejected = harness
        .history_requests()
        .iter()
        .filter(|(_, status)| *status == 401)
        .count();
    assert!(
        (1..=3).contains(&rejected),
        "{rejected} history requests got 401"
    );
    let pass = status.last_pass.expect("the halted pass");
    assert!(pass.channels_done < 6, "{pass:?}");

    // A halted actor starts no pass.
    harness
        .backfill
        .send(RunBackfill {
            reason: "test".to_owned(),
        })
        .await
        .expect("backfill actor");
    let status = harness.status.lock().unwrap().clone();
    assert!(status.running.is_none());
    assert_eq!(status.passes, 1);
    harness.sim.shutdown();
}

/// Two parents each with more archived threads than one listing page holds, and a listing
/// bucket of one request a second: a parent listed alone waits between its two pages, so
/// listings read one after another never interleave, and listings read together do. The
/// threads are archived within a few milliseconds, so some share a timestamp across the page
/// boundary: none may be lost to `before` being exclusive.
#[actix_rt::test]
async fn archived_thread_listings_of_several_parents_are_read_at_once_and_lose_nothing() {
    let harness = Harness::start(SimConfig {
        guilds: 1,
        channels_per_guild: 2,
        threads_per_guild: 0,
        history_per_channel: 1,
        live_messages: 0,
        stream_start: StreamStart::Manual,
        route_limits: vec![RouteLimit {
            route: ARCHIVED_PUBLIC_ROUTE.to_owned(),
            limit: 1,
            reset_ms: 1_000,
        }],
        ..SimConfig::default()
    });
    harness.wait_passes(1).await;
    let parents: Vec<u64> = harness
        .sim
        .channels()
        .into_iter()
        .filter(|channel| channel.holds_messages() && !channel.is_thread())
        .map(|channel| channel.id)
        .collect();
    assert_eq!(parents.len(), 2);
    let mut archived = Vec::new();
    for parent in &parents {
        for _ in 0..=MAX_ARCHIVED_THREADS_PER_PAGE {
            let thread = harness.sim.create_thread(*parent).unwrap();
            harness.sim.update_thread(thread, None, Some(true)).unwrap();
            archived.push(thread);
        }
    }
    let listed_before = harness.sim.rest_log().len();

    harness.run_pass(1).await;
    let listings: Vec<(u64, u16)> = harness.sim.rest_log()[listed_before..]
        .iter()
        .filter(|request| request.route == Some(ARCHIVED_PUBLIC_ROUTE))
        .map(|request| (request.major.parse().unwrap(), request.status))
        .collect();
    assert_eq!(listings.len(), 4, "two pages per parent: {listings:?}");
    assert!(
        most_channels_in_flight(&listings) >= 2,
        "listings of different parents interleave: {listings:?}"
    );
    let missing: Vec<_> = archived
        .iter()
        .filter(|thread| {
            harness
                .channel_row(**thread)
                .map(|(_, thread, archived)| (thread, archived))
                != Some((true, true))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not recorded: {} of {}: {missing:?}",
        missing.len(),
        archived.len()
    );
    harness.sim.shutdown();
}
