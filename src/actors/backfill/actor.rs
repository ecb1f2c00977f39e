//! [`BackfillActor`]: runs backfill passes one at a time (a request during a pass is
//! remembered and runs right after it), reporting progress to the log and `/status`.
//!
//! A pass pages up to `concurrent_channels` channels at once: each channel's history is its
//! own Discord bucket, so channels paged one after another would wait on one bucket while
//! the global limit and our ceiling sit idle. Every request still asks the RateLimiterActor,
//! which keeps the buckets, the global limit and the ceiling. Within a channel pages go one
//! after another, as before; across channels the order of storage does not matter. The
//! channels in flight are futures of the pass's one future (polled together on the actor's
//! arbiter, so the pass's counters need no lock); when the pass ends early (a dead token,
//! the database) or the actor stops, those still in flight are dropped between two awaits,
//! and their cursors stay where their last committed page left them.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use slog::{Logger, debug, error, info, o, warn};

use super::error::BackfillError;
use super::metrics::BackfillMetrics;
use super::status::{ChannelProgress, PassSummary, SharedBackfillStatus};
use crate::actors::db::{
    ArchivedThreadMark, ChannelRecord, DbActor, GetCursors, GetOpenThreads,
    LoadArchivedThreadMarks, MessageSource, SaveArchivedThreadMark, SetCursor, StoreMessages,
    UpsertChannels, UpsertGuilds,
};
use crate::actors::ingest::{self, SessionGap};
use crate::discord::config::DiscordConfig;
use crate::discord::rest::{
    ArchivedThreads, DiscordRest, MAX_ARCHIVED_THREADS_PER_PAGE, RestError,
};
use crate::discord::{Channel, ChannelDirectory, Message, Snowflake, channel_type};
use crate::logging::error_chain;
use crate::supervisor::{ComponentHandle, Lifecycle};

/// Messages per history request: Discord's maximum.
const PAGE_LIMIT: u8 = 100;
/// A progress line every this many channels, so a long first pass shows it is moving.
const PROGRESS_EVERY_CHANNELS: usize = 25;
/// Mailbox: `RunBackfill` requests only.
const MAILBOX_CAPACITY: usize = 16;
/// Archived-thread pages read per parent channel without a mark for it (a channel never
/// listed to the end, e.g. new or on the first pass): the 200 most recently archived
/// threads. Discord auto-archives a thread only after an hour or more without messages, so
/// the threads archived while we were down or without a session are the newest ones, and a
/// gap of hours rarely archives more than a handful per channel. Each listed thread costs
/// at most one history request when it is already at its cursor, so the bound caps a
/// restart's extra cost at 2 listing + 200 history requests per channel, about what
/// `backfill_max_messages_per_channel` (default 1000, 10 pages) costs for a few channels.
const FIRST_LISTING_MAX_PAGES: usize = 2;
/// Archived-thread pages read per parent when a mark says where the last listing ended: a
/// guard against a server that keeps answering `has_more`, far above what one interval
/// archives.
const MARKED_LISTING_MAX_PAGES: usize = 20;

pub struct BackfillSettings {
    pub selection: DiscordConfig,
    /// Messages fetched per channel on its first pass (0: start from now).
    pub first_run_max_messages: u32,
    /// Between scheduled passes.
    pub interval: Duration,
    /// Channels paged at once (0 counts as 1).
    pub concurrent_channels: usize,
}

/// Asks for a pass. `reason` shows in the log and `/status` (`start`, `schedule`,
/// `new gateway session`, ...).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RunBackfill {
    pub reason: String,
}

pub struct BackfillActor {
    rest: DiscordRest,
    db: ComponentHandle<DbActor>,
    directory: ChannelDirectory,
    settings: Arc<BackfillSettings>,
    status: SharedBackfillStatus,
    metrics: BackfillMetrics,
    lifecycle: Lifecycle,
    log: Logger,
    running: bool,
    /// A pass asked for while one was running; runs when it ends.
    queued: Option<String>,
    archives: SharedArchiveMarks,
}

/// What the archived-thread listings of earlier passes found, so that the next pass reads
/// only what was archived since. The marks are saved in the database as they advance and
/// loaded by the first pass of a (re)started actor, so a restart continues where it was;
/// without a mark a listing is bounded ([`FIRST_LISTING_MAX_PAGES`]).
#[derive(Debug, Default)]
struct ArchiveMarks {
    /// The database's marks have been merged in.
    loaded: bool,
    /// Newest `archive_timestamp` of a listing whose threads were all paged, per parent
    /// channel and visibility (`true`: private).
    newest: HashMap<(Snowflake, bool), DateTime<Utc>>,
    /// Parents whose private archived threads answered 403 (no MANAGE_THREADS): not asked
    /// again by this process. Not saved: the permission may be granted, and a restart then
    /// notices at the cost of one request per parent.
    private_forbidden: HashSet<Snowflake>,
}

type SharedArchiveMarks = Arc<Mutex<ArchiveMarks>>;

impl BackfillActor {
    #[allow(clippy::too_many_arguments)] // every one is a dependency handed in by the wiring
    pub fn new(
        rest: DiscordRest,
        db: ComponentHandle<DbActor>,
        directory: ChannelDirectory,
        settings: Arc<BackfillSettings>,
        status: SharedBackfillStatus,
        metrics: BackfillMetrics,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        Self {
            rest,
            db,
            directory,
            settings,
            status,
            metrics,
            lifecycle,
            log: log.new(o!("logger" => "discord.backfill")),
            running: false,
            queued: None,
            archives: SharedArchiveMarks::default(),
        }
    }

    fn pass(&self, reason: String) -> Pass {
        Pass {
            rest: self.rest.clone(),
            db: self.db.clone(),
            directory: self.directory.clone(),
            settings: Arc::clone(&self.settings),
            status: Arc::clone(&self.status),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
            archives: Arc::clone(&self.archives),
            pending_marks: RefCell::default(),
            reason,
            started_at: Utc::now(),
            tally: Tally::default(),
        }
    }

    fn halted(&self) -> bool {
        self.status
            .lock()
            .map(|status| status.halted.is_some())
            .unwrap_or(false)
    }
}

impl Actor for BackfillActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.lifecycle.up();
        ctx.notify(RunBackfill {
            reason: "start".to_owned(),
        });
        ctx.run_interval(self.settings.interval, |_, ctx| {
            ctx.notify(RunBackfill {
                reason: "schedule".to_owned(),
            });
        });
    }
}

impl Supervised for BackfillActor {
    /// The pass in progress died with the old run; the next `started()` begins a new one.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.running = false;
        self.queued = None;
        self.archives = SharedArchiveMarks::default();
    }
}

/// A new gateway session began: the gap before it is only in REST history.
impl Handler<SessionGap> for BackfillActor {
    type Result = ();

    fn handle(&mut self, _gap: SessionGap, ctx: &mut Context<Self>) {
        let run = RunBackfill {
            reason: "new gateway session".to_owned(),
        };
        <Self as Handler<RunBackfill>>::handle(self, run, ctx);
    }
}

impl Handler<RunBackfill> for BackfillActor {
    type Result = ();

    fn handle(&mut self, msg: RunBackfill, ctx: &mut Context<Self>) {
        if self.halted() {
            return;
        }
        if self.running {
            debug!(self.log, "Backfill pass queued behind the running one"; "reason" => &msg.reason);
            self.queued.get_or_insert(msg.reason);
            return;
        }
        self.running = true;
        let pass = self.pass(msg.reason);
        ctx.spawn(pass.run().into_actor(self).map(|outcome, actor, ctx| {
            actor.running = false;
            if let Err(err) = outcome {
                if err.is_fatal() {
                    error!(actor.log, "Backfill halted: Discord rejected the token";
                        "error" => %err, "error_type" => "DiscordAuthError");
                    if let Ok(mut status) = actor.status.lock() {
                        status.halted = Some(err.to_string());
                    }
                    actor.lifecycle.degraded(&err);
                    return;
                }
                warn!(actor.log, "Backfill pass ended early; the next pass continues from the cursors";
                    "error" => %error_chain(&err));
            }
            if let Some(reason) = actor.queued.take() {
                ctx.notify(RunBackfill { reason });
            }
        }));
    }
}

/// One pass, with clones of what it needs so it runs as a single future. Its methods take
/// `&self` so that the channels in flight can run side by side; what they change lives in
/// cells, never borrowed across an await.
struct Pass {
    rest: DiscordRest,
    db: ComponentHandle<DbActor>,
    directory: ChannelDirectory,
    settings: Arc<BackfillSettings>,
    status: SharedBackfillStatus,
    metrics: BackfillMetrics,
    log: Logger,
    archives: SharedArchiveMarks,
    /// Archive marks waiting for their listing's threads to be paged.
    pending_marks: RefCell<HashMap<(Snowflake, bool), PendingMark>>,
    reason: String,
    started_at: DateTime<Utc>,
    tally: Tally,
}

/// What the pass has done so far, added to by every channel in flight.
#[derive(Debug, Default)]
struct Tally {
    channels_total: Cell<usize>,
    channels_done: Cell<usize>,
    messages_fetched: Cell<u64>,
    requests: Cell<u64>,
    errors: Cell<u64>,
    /// Channels being paged; once the pass is over, those it cut short.
    in_flight: RefCell<BTreeSet<Snowflake>>,
}

fn add(counter: &Cell<u64>, amount: u64) {
    counter.set(counter.get().saturating_add(amount));
}

/// A listing's newest archive timestamp, recorded once all `remaining` threads are paged.
struct PendingMark {
    newest: DateTime<Utc>,
    remaining: usize,
    failed: bool,
}

/// A monitored channel that can have threads (text, announcement, forum, media).
struct ThreadParent {
    id: Snowflake,
    guild_id: Snowflake,
}

/// A channel to page, with what the pass learned about it.
struct Target {
    channel: Channel,
    guild_id: Option<Snowflake>,
    /// Set for a thread the database holds as open that Discord no longer lists as active
    /// (see [`Pass::closed_threads`]): recorded as archived once paged.
    closed: Option<ChannelRecord>,
    /// Found by an archived-thread listing (parent, private): its mark waits for this.
    listed_under: Option<(Snowflake, bool)>,
}

impl Pass {
    async fn run(self) -> Result<(), BackfillError> {
        let started = Instant::now();
        info!(self.log, "Backfill pass started";
            "reason" => &self.reason, "concurrent_channels" => self.concurrency());
        let result = self.run_inner().await;
        let summary = self.summary(Some(Utc::now()));
        if let Ok(mut status) = self.status.lock() {
            status.running = None;
            status.passes += 1;
            status.last_pass = Some(summary);
        }
        self.metrics.count_pass();
        info!(self.log, "Backfill pass finished";
            "reason" => &self.reason,
            "channels" => self.tally.channels_done.get(),
            "messages_fetched" => self.tally.messages_fetched.get(),
            "requests" => self.tally.requests.get(),
            "errors" => self.tally.errors.get(),
            "duration_ms" => started.elapsed().as_millis() as u64,
            "complete" => result.is_ok());
        result
    }

    async fn run_inner(&self) -> Result<(), BackfillError> {
        let cursors: HashMap<u64, u64> = self
            .db
            .ask(GetCursors)
            .await?
            .into_iter()
            .map(|cursor| (cursor.channel_id, cursor.last_message_id))
            .collect();
        self.load_marks().await?;
        let targets = self.discover(&cursors).await?;
        self.tally.channels_total.set(targets.len());
        self.publish();
        let mut waiting = targets.iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.concurrency()
                && let Some(target) = waiting.next()
            {
                let cursor = cursors.get(&target.channel.id.get()).copied();
                in_flight.push(self.channel(target, cursor));
            }
            let Some(outcome) = in_flight.next().await else {
                return Ok(());
            };
            // A dead token or the database ends the pass here, once: the channels still in
            // flight are dropped with it, their cursors where their last committed page left
            // them.
            outcome?;
            let done = self.tally.channels_done.get() + 1;
            self.tally.channels_done.set(done);
            if done.is_multiple_of(PROGRESS_EVERY_CHANNELS) {
                info!(self.log, "Backfill progress";
                    "channels_done" => done, "channels_total" => targets.len(),
                    "messages_fetched" => self.tally.messages_fetched.get());
            }
            self.publish();
        }
    }

    fn concurrency(&self) -> usize {
        self.settings.concurrent_channels.max(1)
    }

    /// Pages one channel and records how it went: in `/status`, towards its listing's
    /// archive mark, and (a thread no longer active) as archived. Fails only with what ends
    /// the pass, a dead token or the database; anything else is this channel's own trouble
    /// and is retried next pass.
    async fn channel(&self, target: &Target, cursor: Option<u64>) -> Result<(), BackfillError> {
        let id = target.channel.id;
        if let Ok(mut in_flight) = self.tally.in_flight.try_borrow_mut() {
            in_flight.insert(id);
        }
        self.publish();
        let paged = match self.backfill_channel(target, cursor).await {
            Ok((fetched, cursor)) => {
                self.record_channel(target, fetched, None);
                self.record_cursor(target, cursor);
                self.settle(target).await?;
                true
            }
            // A thread that is gone: nothing left to fetch, stop asking.
            Err(BackfillError::Rest(RestError::NotFound { .. }))
                if target.closed.is_some() || target.listed_under.is_some() =>
            {
                self.record_channel(target, 0, Some("not found (404): deleted".to_owned()));
                self.settle(target).await?;
                true
            }
            Err(BackfillError::Rest(RestError::Forbidden { .. })) => {
                self.rest.forbidden_channels().insert(id);
                self.record_channel(target, 0, Some("forbidden (403): no access".to_owned()));
                true
            }
            Err(err) if err.is_fatal() => return Err(err),
            Err(err @ (BackfillError::DatabaseUnavailable(_) | BackfillError::Database(_))) => {
                return Err(err);
            }
            Err(err) => {
                add(&self.tally.errors, 1);
                warn!(self.log, "Backfill of a channel failed; it is retried next pass";
                    "channel_id" => id.get(), "error" => %error_chain(&err));
                self.record_channel(target, 0, Some(error_chain(&err)));
                false
            }
        };
        if let Some(listing) = target.listed_under {
            let advanced = self.thread_paged(listing, paged);
            self.save_mark(advanced).await;
        }
        if let Ok(mut in_flight) = self.tally.in_flight.try_borrow_mut() {
            in_flight.remove(&id);
        }
        Ok(())
    }

    /// Lists the guilds, channels and active threads the token can see, records them, and
    /// returns the monitored channels that hold messages and are not known to be forbidden,
    /// then the [`Pass::closed_threads`].
    async fn discover(&self, cursors: &HashMap<u64, u64>) -> Result<Vec<Target>, BackfillError> {
        let selection = &self.settings.selection;
        add(&self.tally.requests, 1);
        let guilds = self.rest.current_user_guilds().await?;
        let mut targets = Vec::new();
        let mut listed = HashSet::new();
        let mut threads_listed_in = HashSet::new();
        let mut parents = Vec::new();
        for guild in guilds {
            if !selection.guild_ids.is_empty() && !selection.guild_ids.contains(&guild.id) {
                continue;
            }
            add(&self.tally.requests, 2);
            let channels = self.rest.guild_channels(guild.id).await?;
            let threads = match self.rest.active_threads(guild.id).await {
                Ok(threads) => {
                    threads_listed_in.insert(guild.id);
                    threads
                }
                // User tokens cannot list threads: nothing can be concluded about them.
                Err(RestError::Forbidden { .. }) => Vec::new(),
                Err(err) => return Err(err.into()),
            };
            self.db
                .ask(UpsertGuilds {
                    guilds: vec![ingest::guild_record(&guild)],
                })
                .await?;
            let records = channels
                .iter()
                .chain(&threads)
                .map(|channel| ingest::channel_record(channel, Some(guild.id.get())))
                .collect();
            self.db.ask(UpsertChannels { channels: records }).await?;
            for channel in channels.into_iter().chain(threads) {
                self.directory.remember(&channel, Some(guild.id));
                listed.insert(channel.id);
                let visible = selection.monitors(Some(guild.id), channel.id, channel.parent_id)
                    && !self.rest.forbidden_channels().contains(channel.id);
                if visible && has_threads(channel.kind) {
                    parents.push(ThreadParent {
                        id: channel.id,
                        guild_id: guild.id,
                    });
                }
                if visible && channel_type::holds_messages(channel.kind) {
                    targets.push(Target {
                        channel,
                        guild_id: Some(guild.id),
                        closed: None,
                        listed_under: None,
                    });
                }
            }
        }
        targets.extend(self.closed_threads(&listed, &threads_listed_in).await?);
        // Each parent's listings are buckets of their own, so they are read like channels
        // are paged: several at once, in a fixed order so the targets come out the same way.
        // A thread is listed under one parent only, as public or private, so the listings
        // need only what was targeted before them.
        let before_listings: HashSet<Snowflake> = targets.iter().map(|t| t.channel.id).collect();
        let mut listings = futures_util::stream::iter(
            parents
                .iter()
                .flat_map(|parent| [false, true].map(|private| (parent, private))),
        )
        .map(|(parent, private)| self.archived_threads(parent, private, cursors, &before_listings))
        .buffered(self.concurrency());
        let mut targeted = before_listings.clone();
        while let Some(found) = listings.next().await {
            targets.extend(
                found?
                    .into_iter()
                    .filter(|target| targeted.insert(target.channel.id)),
            );
        }
        Ok(targets)
    }

    /// Threads of `parent` archived since its mark (the newest archive timestamp an earlier
    /// complete listing saw, saved across restarts, or a bounded first listing), oldest
    /// first, recorded as archived channels: those created *and* archived while we were not
    /// listening are found nowhere else. A thread whose cursor is newer than its archiving
    /// holds nothing new and is left out; one already targeted is paged once, as that target.
    async fn archived_threads(
        &self,
        parent: &ThreadParent,
        private: bool,
        cursors: &HashMap<u64, u64>,
        targeted: &HashSet<Snowflake>,
    ) -> Result<Vec<Target>, BackfillError> {
        let (mark, private_forbidden) = match self.archives.lock() {
            Ok(archives) => (
                archives.newest.get(&(parent.id, private)).copied(),
                archives.private_forbidden.contains(&parent.id),
            ),
            Err(_) => (None, false),
        };
        if private && private_forbidden {
            return Ok(Vec::new());
        }
        let max_pages = if mark.is_some() {
            MARKED_LISTING_MAX_PAGES
        } else {
            FIRST_LISTING_MAX_PAGES
        };
        let mut found: Vec<(Channel, DateTime<Utc>)> = Vec::new();
        let mut seen: HashSet<Snowflake> = HashSet::new();
        let mut before: Option<String> = None;
        for _ in 0..max_pages {
            add(&self.tally.requests, 1);
            let page = match self.list_archived(parent.id, private, before.take()).await {
                Ok(page) => page,
                Err(RestError::Forbidden { .. }) if private => {
                    debug!(self.log, "No access to private archived threads (MANAGE_THREADS); not asked again";
                        "channel_id" => parent.id.get());
                    if let Ok(mut archives) = self.archives.lock() {
                        archives.private_forbidden.insert(parent.id);
                    }
                    return Ok(Vec::new());
                }
                // Deleted, or no access to its history: nothing to list.
                Err(RestError::NotFound { .. } | RestError::Forbidden { .. }) => {
                    return Ok(Vec::new());
                }
                Err(err) if err.is_fatal() => return Err(err.into()),
                Err(err) => {
                    add(&self.tally.errors, 1);
                    warn!(self.log, "Listing archived threads failed; it is retried next pass";
                        "channel_id" => parent.id.get(), "private" => private,
                        "error" => %error_chain(&err));
                    return Ok(Vec::new());
                }
            };
            let mut reached_mark = false;
            let mut oldest: Option<DateTime<Utc>> = None;
            let mut new_in_page = 0_usize;
            for thread in page.threads {
                let stamp = thread
                    .thread_metadata
                    .as_ref()
                    .and_then(|metadata| metadata.archive_timestamp.as_deref())
                    .and_then(parse_timestamp);
                let Some(archived_at) = stamp else {
                    continue;
                };
                if mark.is_some_and(|mark| archived_at <= mark) {
                    reached_mark = true;
                    break;
                }
                oldest = Some(archived_at);
                if seen.insert(thread.id) {
                    new_in_page += 1;
                    found.push((thread, archived_at));
                }
            }
            // `before` is exclusive, and threads archived together can share a timestamp
            // across a page boundary: the next page starts a millisecond after the oldest
            // one seen (a server may compare whole milliseconds), so those come again (and
            // are skipped as seen) instead of being lost. A page of nothing new means more
            // threads share one millisecond than a page holds.
            match oldest {
                Some(oldest) if page.has_more && !reached_mark && new_in_page > 0 => {
                    let just_after = oldest + chrono::Duration::milliseconds(1);
                    before = Some(just_after.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
                }
                _ => break,
            }
        }
        let Some(newest) = found.iter().map(|(_, at)| *at).max() else {
            return Ok(Vec::new());
        };
        let guild_id = parent.guild_id;
        let selection = &self.settings.selection;
        let fresh: Vec<(Channel, DateTime<Utc>)> = found
            .into_iter()
            .filter(|(thread, _)| !targeted.contains(&thread.id))
            .collect();
        let records = fresh
            .iter()
            .map(|(thread, _)| ingest::channel_record(thread, Some(guild_id.get())))
            .collect::<Vec<_>>();
        if !records.is_empty() {
            self.db.ask(UpsertChannels { channels: records }).await?;
        }
        let mut targets = Vec::new();
        // Oldest archived first: a pass cut short leaves the newest unpaged, and those are
        // what the next listing reads first.
        for (thread, archived_at) in fresh.into_iter().rev() {
            self.directory.remember(&thread, Some(guild_id));
            let settled = cursors.get(&thread.id.get()).is_some_and(|cursor| {
                Snowflake(*cursor).timestamp_ms() >= timestamp_ms(archived_at)
            });
            let wanted = !settled
                && channel_type::holds_messages(thread.kind)
                && selection.monitors(Some(guild_id), thread.id, thread.parent_id)
                && !self.rest.forbidden_channels().contains(thread.id);
            if wanted {
                targets.push(Target {
                    channel: thread,
                    guild_id: Some(guild_id),
                    closed: None,
                    listed_under: Some((parent.id, private)),
                });
            }
        }
        if !targets.is_empty() {
            info!(self.log, "Archived threads to page";
                "channel_id" => parent.id.get(), "private" => private, "threads" => targets.len());
        }
        if let Ok(mut pending_marks) = self.pending_marks.try_borrow_mut() {
            pending_marks.insert(
                (parent.id, private),
                PendingMark {
                    newest,
                    remaining: targets.len(),
                    failed: false,
                },
            );
        }
        let advanced = self.thread_paged_none((parent.id, private));
        self.save_mark(advanced).await;
        Ok(targets)
    }

    async fn list_archived(
        &self,
        parent: Snowflake,
        private: bool,
        before: Option<String>,
    ) -> Result<ArchivedThreads, RestError> {
        if private {
            self.rest
                .archived_private_threads(parent, before, MAX_ARCHIVED_THREADS_PER_PAGE)
                .await
        } else {
            self.rest
                .archived_public_threads(parent, before, MAX_ARCHIVED_THREADS_PER_PAGE)
                .await
        }
    }

    /// One thread of a listing is done (`paged`) or failed; the listing's mark is kept once
    /// all of them are paged. Answers the mark if it moved.
    fn thread_paged(&self, listing: (Snowflake, bool), paged: bool) -> Option<ArchivedThreadMark> {
        if let Ok(mut pending_marks) = self.pending_marks.try_borrow_mut()
            && let Some(pending) = pending_marks.get_mut(&listing)
        {
            pending.remaining = pending.remaining.saturating_sub(1);
            pending.failed |= !paged;
        }
        self.thread_paged_none(listing)
    }

    /// Keeps the mark of a listing with nothing left to page; answers it if it moved.
    fn thread_paged_none(&self, listing: (Snowflake, bool)) -> Option<ArchivedThreadMark> {
        let pending = {
            let mut pending_marks = self.pending_marks.try_borrow_mut().ok()?;
            let done = pending_marks
                .get(&listing)
                .is_some_and(|pending| pending.remaining == 0);
            if !done {
                return None;
            }
            pending_marks.remove(&listing)?
        };
        if pending.failed {
            return None;
        }
        let mut archives = self.archives.lock().ok()?;
        let mark = archives
            .newest
            .entry(listing)
            .or_insert(DateTime::<Utc>::MIN_UTC);
        if pending.newest <= *mark {
            return None;
        }
        *mark = pending.newest;
        Some(ArchivedThreadMark {
            parent_id: listing.0.get(),
            private: listing.1,
            newest_archived_at_us: pending.newest.timestamp_micros(),
        })
    }

    /// Saves a mark that moved. A failure is only logged: the mark holds in memory, and the
    /// next one saved for the listing covers it (marks only move forward).
    async fn save_mark(&self, advanced: Option<ArchivedThreadMark>) {
        let Some(mark) = advanced else {
            return;
        };
        if let Err(err) = self
            .db
            .ask(SaveArchivedThreadMark(mark))
            .await
            .map_err(BackfillError::from)
        {
            warn!(self.log, "Could not save an archived-thread mark; a restart lists that channel further back";
                "channel_id" => mark.parent_id, "private" => mark.private,
                "error" => %error_chain(&err));
        }
    }

    /// Merges the saved marks in, once per (re)start of the actor.
    async fn load_marks(&self) -> Result<(), BackfillError> {
        let loaded = self
            .archives
            .lock()
            .map(|archives| archives.loaded)
            .unwrap_or(false);
        if loaded {
            return Ok(());
        }
        let saved = self.db.ask(LoadArchivedThreadMarks).await?;
        if let Ok(mut archives) = self.archives.lock() {
            for mark in &saved {
                let Some(at) = DateTime::<Utc>::from_timestamp_micros(mark.newest_archived_at_us)
                else {
                    continue;
                };
                let newest = archives
                    .newest
                    .entry((Snowflake(mark.parent_id), mark.private))
                    .or_insert(at);
                *newest = (*newest).max(at);
            }
            archives.loaded = true;
        }
        debug!(self.log, "Archived-thread marks loaded"; "marks" => saved.len());
        Ok(())
    }

    /// Threads the database holds as open that Discord no longer lists as active: archived
    /// (or deleted) while we were not listening (a lost session, the process down), perhaps
    /// right after messages we never received. Each is paged once more, then recorded as
    /// archived so that later passes leave it ([`Pass::settle`]); if it is unarchived,
    /// Discord lists it again and discovery records it open.
    async fn closed_threads(
        &self,
        listed: &HashSet<Snowflake>,
        threads_listed_in: &HashSet<Snowflake>,
    ) -> Result<Vec<Target>, BackfillError> {
        let selection = &self.settings.selection;
        let open = self.db.ask(GetOpenThreads).await?;
        let closed = open.into_iter().filter_map(|record| {
            let id = Snowflake(record.id);
            let guild_id = Snowflake(record.guild_id?);
            let parent_id = record.parent_id.map(Snowflake);
            let wanted = !listed.contains(&id)
                && threads_listed_in.contains(&guild_id)
                && selection.monitors(Some(guild_id), id, parent_id)
                && !self.rest.forbidden_channels().contains(id);
            wanted.then(|| Target {
                channel: Channel {
                    id,
                    kind: record.kind,
                    guild_id: Some(guild_id),
                    name: Some(record.name.clone()),
                    topic: record.topic.clone(),
                    parent_id,
                    position: None,
                    last_message_id: None,
                    thread_metadata: None,
                },
                guild_id: Some(guild_id),
                closed: Some(record),
                listed_under: None,
            })
        });
        Ok(closed.collect())
    }

    /// Records a closed thread as archived once it has been paged.
    async fn settle(&self, target: &Target) -> Result<(), BackfillError> {
        let Some(record) = &target.closed else {
            return Ok(());
        };
        info!(self.log, "Thread no longer active, paged once more; recorded as archived";
            "channel_id" => record.id);
        self.db
            .ask(UpsertChannels {
                channels: vec![ChannelRecord {
                    archived: true,
                    ..record.clone()
                }],
            })
            .await?;
        Ok(())
    }

    /// Brings one channel up to date; returns the messages fetched and the new cursor.
    async fn backfill_channel(
        &self,
        target: &Target,
        cursor: Option<u64>,
    ) -> Result<(u64, Snowflake), BackfillError> {
        match cursor {
            Some(cursor) => self.page_forward(target, Snowflake(cursor)).await,
            None => self.first_run(target).await,
        }
    }

    /// Pages `after=cursor` until a short page; the cursor moves after each stored page.
    async fn page_forward(
        &self,
        target: &Target,
        mut cursor: Snowflake,
    ) -> Result<(u64, Snowflake), BackfillError> {
        let mut fetched = 0;
        loop {
            add(&self.tally.requests, 1);
            let page = self
                .rest
                .channel_messages(target.channel.id, Some(cursor), PAGE_LIMIT)
                .await?;
            let full_page = page.len() >= usize::from(PAGE_LIMIT);
            let Some(newest) = page.iter().map(|message| message.id).max() else {
                return Ok((fetched, cursor));
            };
            fetched += self.store(target, &page).await?;
            self.db
                .ask(SetCursor {
                    channel_id: target.channel.id.get(),
                    last_message_id: newest.get(),
                })
                .await?;
            cursor = newest;
            if !full_page {
                return Ok((fetched, cursor));
            }
        }
    }

    /// A channel seen for the first time: its newest messages, up to the configured number,
    /// paging backwards; the cursor starts at the newest one (or at "now" for an empty
    /// channel or `0` configured), so the next pass continues forward from there.
    async fn first_run(&self, target: &Target) -> Result<(u64, Snowflake), BackfillError> {
        let limit = u64::from(self.settings.first_run_max_messages);
        let mut fetched = 0;
        let mut newest: Option<Snowflake> = None;
        let mut before: Option<Snowflake> = None;
        while fetched < limit {
            let want =
                u8::try_from((limit - fetched).min(u64::from(PAGE_LIMIT))).unwrap_or(PAGE_LIMIT);
            add(&self.tally.requests, 1);
            let page = self
                .rest
                .channel_messages_before(target.channel.id, before, want)
                .await?;
            let Some(oldest) = page.iter().map(|message| message.id).min() else {
                break;
            };
            let page_newest = page.iter().map(|message| message.id).max();
            newest = newest.max(page_newest);
            fetched += self.store(target, &page).await?;
            before = Some(oldest);
            if page.len() < usize::from(want) {
                break;
            }
        }
        let start = newest.unwrap_or_else(|| {
            Snowflake::from_timestamp_ms(u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0))
        });
        self.db
            .ask(SetCursor {
                channel_id: target.channel.id.get(),
                last_message_id: start.get(),
            })
            .await?;
        Ok((fetched, start))
    }

    async fn store(&self, target: &Target, page: &[Message]) -> Result<u64, BackfillError> {
        let guild_id = target.guild_id.map(Snowflake::get);
        let mut rows = Vec::with_capacity(page.len());
        for message in page {
            match ingest::new_message(message, guild_id, MessageSource::Backfill) {
                Ok(row) => rows.push(row),
                Err(err) => {
                    add(&self.tally.errors, 1);
                    warn!(self.log, "Skipped a message that could not be converted";
                        "message_id" => message.id.get(), "error" => %err);
                }
            }
        }
        let count = rows.len() as u64;
        if !rows.is_empty() {
            self.db.ask(StoreMessages { messages: rows }).await?;
        }
        add(&self.tally.messages_fetched, count);
        self.metrics.count_messages(count);
        Ok(count)
    }

    fn record_channel(&self, target: &Target, fetched: u64, error: Option<String>) {
        let Ok(mut status) = self.status.lock() else {
            return;
        };
        let forbidden = self.rest.forbidden_channels().contains(target.channel.id);
        let entry = status
            .channels
            .entry(target.channel.id.to_string())
            .or_insert_with(ChannelProgress::default);
        entry.guild_id = target.guild_id.map(|id| id.to_string());
        entry.name = target.channel.name.clone().unwrap_or_default();
        entry.last_fetched = fetched;
        entry.last_run_at = Some(Utc::now());
        entry.forbidden = forbidden;
        entry.last_error = error;
    }

    fn record_cursor(&self, target: &Target, cursor: Snowflake) {
        if let Ok(mut status) = self.status.lock()
            && let Some(entry) = status.channels.get_mut(&target.channel.id.to_string())
        {
            entry.cursor = Some(cursor.to_string());
        }
    }

    /// The pass as `/status` shows it.
    fn summary(&self, finished_at: Option<DateTime<Utc>>) -> PassSummary {
        let channels_in_flight = self
            .tally
            .in_flight
            .try_borrow()
            .map(|in_flight| in_flight.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        PassSummary {
            reason: self.reason.clone(),
            started_at: self.started_at,
            finished_at,
            concurrent_channels: self.concurrency(),
            channels_total: self.tally.channels_total.get(),
            channels_done: self.tally.channels_done.get(),
            channels_in_flight,
            messages_fetched: self.tally.messages_fetched.get(),
            requests: self.tally.requests.get(),
            errors: self.tally.errors.get(),
        }
    }

    fn publish(&self) {
        let summary = self.summary(None);
        if let Ok(mut status) = self.status.lock() {
            status.running = Some(summary);
        }
    }
}

/// Channels whose threads Discord lists per channel: text, announcement, forum and media.
const fn has_threads(kind: i32) -> bool {
    matches!(
        kind,
        channel_type::GUILD_TEXT
            | channel_type::GUILD_ANNOUNCEMENT
            | channel_type::GUILD_FORUM
            | channel_type::GUILD_MEDIA
    )
}

fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

fn timestamp_ms(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}
