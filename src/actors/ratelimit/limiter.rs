//! The limiter's arithmetic, free of actors and of the real clock: [`Limiter`] holds the
//! buckets, the global window, our own ceiling, the invalid-request budget and the queue of
//! waiting requests, and answers "who may go now, and when to look again". The
//! RateLimiterActor wraps it; tests drive it on tokio's paused clock.
//!
//! Buckets are keyed by Discord's bucket hash (learned per route from `X-RateLimit-Bucket`)
//! plus the route's major parameter. Until a route's hash is learned its requests share a
//! pending bucket per major parameter and go one at a time; a route that answers without
//! rate-limit headers has no per-route limit. Every grant also passes the global gate: a
//! global (or Cloudflare) 429 pause, Discord's 50 requests per second, our own
//! `rate_limit_requests_per_minute`, and pacing once invalid responses pile up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::config::RateLimiterSettings;
use crate::discord::rest::{
    MajorParameter, Permit, RateLimitError, RateLimitHeaders, RateLimitHit, ResponseOutcome,
    ResponseReport, Route, RouteId,
};

/// The window Discord's global limit counts requests in.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

/// Our ceiling lets this much of its per-minute allowance go at once (five seconds' worth),
/// so a backfill starting up is not spaced out from its first request, while a minute never
/// sees more than the ceiling plus this burst.
const CEILING_BURST_WINDOW: Duration = Duration::from_secs(5);

/// Discord bans an IP for a while after 10 000 responses of 401, 403 or 429 (shared-scope
/// 429s excepted) within 10 minutes.
pub const INVALID_REQUEST_WINDOW: Duration = Duration::from_secs(600);
pub const INVALID_REQUEST_BAN_THRESHOLD: u32 = 10_000;

/// Invalid responses in the window from which every request is paced: a tenth of the ban
/// threshold, far from it, so pacing starts while there is room to spare.
const INVALID_SLOWDOWN_FROM: u32 = 1_000;

/// Invalid responses in the window at which requests stop until old ones leave the window:
/// half the ban threshold. Between the two, requests are spaced so that even if every one
/// failed, this count would not be reached within a window.
const INVALID_PAUSE_AT: u32 = 5_000;

/// Granularity of the invalid-response count: 60 slots of 10 s cover the window.
const INVALID_SLOT: Duration = Duration::from_secs(10);

/// How often idle buckets and expired permits are looked for (on the next request or report;
/// the limiter runs no timer of its own).
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Share of `max_buckets` evicted at once when the map is full, so eviction (a sort) runs
/// once per many inserts.
const EVICTION_BATCH_DIVISOR: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketId {
    /// Not learned yet: shared by every unlearned route with this major parameter, so their
    /// requests go one at a time.
    Pending,
    /// Discord's `X-RateLimit-Bucket`.
    Hash(Arc<str>),
    /// The route answered without rate-limit headers: it has no per-route limit (a bucket is
    /// still kept, for a 429 on it).
    Unlimited(RouteId),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    id: BucketId,
    major: Option<MajorParameter>,
}

/// What a route is known to map to.
#[derive(Debug, Clone)]
enum RouteBucket {
    Hash(Arc<str>),
    Unlimited,
}

#[derive(Debug)]
struct Bucket {
    /// `X-RateLimit-Limit`; `None` until a response says.
    limit: Option<u32>,
    /// Requests left in the current window, counting those granted and not yet answered.
    remaining: u32,
    reset_at: Option<Instant>,
    /// Set by a 429 on this bucket.
    blocked_until: Option<Instant>,
    in_flight: u32,
    unlimited: bool,
    last_used: Instant,
}

enum Readiness {
    Ready,
    NotBefore(Instant),
    /// Only an answer to a request in flight can tell more.
    AwaitingResponse,
}

impl Bucket {
    fn new(unlimited: bool, now: Instant) -> Self {
        Self {
            limit: None,
            remaining: 0,
            reset_at: None,
            blocked_until: None,
            in_flight: 0,
            unlimited,
            last_used: now,
        }
    }

    fn readiness(&mut self, now: Instant) -> Readiness {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Readiness::NotBefore(until);
            }
            self.blocked_until = None;
        }
        if self.unlimited {
            return Readiness::Ready;
        }
        let Some(limit) = self.limit else {
            return if self.in_flight == 0 {
                Readiness::Ready
            } else {
                Readiness::AwaitingResponse
            };
        };
        if let Some(reset) = self.reset_at
            && now >= reset
        {
            // Requests still in flight may land in the new window: count them there.
            self.remaining = limit.saturating_sub(self.in_flight);
            self.reset_at = None;
        }
        if self.remaining > 0 {
            Readiness::Ready
        } else if let Some(reset) = self.reset_at {
            Readiness::NotBefore(reset)
        } else if self.in_flight > 0 {
            Readiness::AwaitingResponse
        } else {
            // Exhausted with no known reset and nothing in flight: one request relearns it.
            Readiness::Ready
        }
    }

    fn take(&mut self, now: Instant) {
        self.remaining = self.remaining.saturating_sub(1);
        self.in_flight += 1;
        self.last_used = now;
    }

    fn release(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.last_used = now;
    }

    fn learn(&mut self, headers: &RateLimitHeaders, now: Instant) {
        if let Some(limit) = headers.limit {
            self.limit = Some(limit);
            self.unlimited = false;
        }
        if let Some(remaining) = headers.remaining {
            // The answer counts the requests the server had seen; those we granted since may
            // not be in it yet. Assuming they are not errs on the side of waiting.
            self.remaining = remaining.saturating_sub(self.in_flight);
            if self.limit.is_none() {
                self.limit = Some(remaining);
                self.unlimited = false;
            }
        }
        if let Some(after) = headers.reset_after {
            self.reset_at = Some(now + after);
        }
        self.last_used = now;
    }

    /// Nothing in it would be lost by forgetting it now.
    fn is_evictable(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.blocked_until.is_none_or(|until| until <= now)
            && self.reset_at.is_none_or(|reset| reset <= now)
    }

    fn is_idle(&self, now: Instant, ttl: Duration) -> bool {
        self.is_evictable(now) && now.saturating_duration_since(self.last_used) >= ttl
    }
}

/// Discord's global limit as a sliding log: at most `capacity` grants in any window.
#[derive(Debug)]
struct GlobalWindow {
    capacity: usize,
    grants: VecDeque<Instant>,
}

impl GlobalWindow {
    fn new(capacity: u32) -> Self {
        let capacity = usize::try_from(capacity.max(1)).unwrap_or(usize::MAX);
        Self {
            capacity,
            grants: VecDeque::with_capacity(capacity),
        }
    }

    fn ready_at(&mut self, now: Instant) -> Instant {
        while self
            .grants
            .front()
            .is_some_and(|&at| at + GLOBAL_WINDOW <= now)
        {
            self.grants.pop_front();
        }
        match self.grants.front() {
            Some(&oldest) if self.grants.len() >= self.capacity => oldest + GLOBAL_WINDOW,
            _ => now,
        }
    }

    fn record(&mut self, now: Instant) {
        self.grants.push_back(now);
    }
}

/// Our own ceiling, a token bucket in its GCRA form (one theoretical arrival time instead of
/// a fractional token count, so the arithmetic is exact on whole nanoseconds).
#[derive(Debug)]
struct Ceiling {
    /// Time one request "costs": a minute divided by the ceiling.
    interval: Duration,
    /// How far ahead of the steady pace requests may run: the burst minus one interval.
    tolerance: Duration,
    theoretical_arrival: Option<Instant>,
}

impl Ceiling {
    fn new(requests_per_minute: u32) -> Self {
        let per_minute = requests_per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        let burst_window_secs = u32::try_from(CEILING_BURST_WINDOW.as_secs()).unwrap_or(1);
        let burst = (per_minute.saturating_mul(burst_window_secs) / 60).max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            theoretical_arrival: None,
        }
    }

    fn ready_at(&self, now: Instant) -> Instant {
        match self.theoretical_arrival {
            Some(arrival) => arrival
                .checked_sub(self.tolerance)
                .map_or(now, |earliest| earliest.max(now)),
            None => now,
        }
    }

    fn record(&mut self, now: Instant) {
        let base = self
            .theoretical_arrival
            .map_or(now, |arrival| arrival.max(now));
        self.theoretical_arrival = Some(base + self.interval);
    }
}

/// 401/403/429 answers in the last ten minutes, in ten-second slots.
#[derive(Debug, Default)]
struct InvalidRequestBudget {
    slots: VecDeque<(Instant, u32)>,
}

impl InvalidRequestBudget {
    fn prune(&mut self, now: Instant) {
        while self
            .slots
            .front()
            .is_some_and(|&(start, _)| start + INVALID_REQUEST_WINDOW <= now)
        {
            self.slots.pop_front();
        }
    }

    fn record(&mut self, now: Instant) {
        self.prune(now);
        match self.slots.back_mut() {
            Some((start, count)) if *start + INVALID_SLOT > now => *count += 1,
            _ => self.slots.push_back((now, 1)),
        }
    }

    fn count(&mut self, now: Instant) -> u32 {
        self.prune(now);
        self.slots.iter().map(|&(_, count)| count).sum()
    }

    /// The earliest the next request may go, given the last grant.
    fn ready_at(&mut self, now: Instant, last_grant: Option<Instant>) -> Instant {
        let count = self.count(now);
        if count < INVALID_SLOWDOWN_FROM {
            return now;
        }
        if count >= INVALID_PAUSE_AT {
            return self
                .slots
                .front()
                .map_or(now, |&(oldest, _)| oldest + INVALID_REQUEST_WINDOW);
        }
        let spacing = INVALID_REQUEST_WINDOW / (INVALID_PAUSE_AT - count);
        last_grant.map_or(now, |last| (last + spacing).max(now))
    }
}

#[derive(Debug, Clone, Copy)]
struct QueuedWaiter {
    id: u64,
    enqueued: Instant,
}

#[derive(Debug)]
struct InFlight {
    key: BucketKey,
    granted_at: Instant,
    waited: Duration,
}

/// The answer of one [`Limiter::poll`].
#[derive(Debug, Default)]
pub(super) struct Poll {
    pub granted: Vec<Permit>,
    pub rejected: Vec<(u64, RateLimitError)>,
    /// When something waiting may become ready without any report arriving.
    pub next_wake: Option<Instant>,
}

/// What one reported response changed.
#[derive(Debug, Clone)]
pub(super) struct ResponseEffects {
    pub waited: Duration,
    pub rate_limited: Option<RateLimitHit>,
    /// This answer is the 401 that marked the token dead.
    pub token_rejected: bool,
    pub counted_invalid: bool,
}

/// Figures for `/status` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LimiterFigures {
    pub buckets: usize,
    pub waiting: usize,
    pub in_flight: usize,
    pub invalid_requests: u32,
    pub global_pause: Option<Duration>,
    pub token_rejected: bool,
}

#[derive(Debug)]
pub(super) struct Limiter {
    settings: RateLimiterSettings,
    route_buckets: HashMap<RouteId, RouteBucket>,
    buckets: HashMap<BucketKey, Bucket>,
    global: GlobalWindow,
    ceiling: Ceiling,
    invalid: InvalidRequestBudget,
    /// A global or Cloudflare 429: nothing goes before this.
    global_blocked_until: Option<Instant>,
    last_grant: Option<Instant>,
    token_rejected: bool,
    queues: HashMap<Route, VecDeque<QueuedWaiter>>,
    waiting: usize,
    in_flight: HashMap<u64, InFlight>,
    next_id: u64,
    last_sweep: Instant,
}

fn earliest(current: Option<Instant>, candidate: Instant) -> Option<Instant> {
    Some(current.map_or(candidate, |current| current.min(candidate)))
}

impl Limiter {
    pub(super) fn new(settings: RateLimiterSettings, now: Instant) -> Self {
        Self {
            global: GlobalWindow::new(settings.global_requests_per_second),
            ceiling: Ceiling::new(settings.requests_per_minute),
            settings,
            route_buckets: HashMap::new(),
            buckets: HashMap::new(),
            invalid: InvalidRequestBudget::default(),
            global_blocked_until: None,
            last_grant: None,
            token_rejected: false,
            queues: HashMap::new(),
            waiting: 0,
            in_flight: HashMap::new(),
            next_id: 0,
            last_sweep: now,
        }
    }

    /// Queues a request for `route`; the id it returns comes back from [`poll`](Self::poll)
    /// as a permit's ticket (or with a rejection).
    pub(super) fn enqueue(&mut self, route: Route, now: Instant) -> Result<u64, RateLimitError> {
        if self.token_rejected {
            return Err(RateLimitError::TokenRejected);
        }
        if self.waiting >= self.settings.max_waiters {
            return Err(RateLimitError::Overloaded {
                waiting: self.waiting,
            });
        }
        self.next_id += 1;
        let id = self.next_id;
        self.queues
            .entry(route)
            .or_default()
            .push_back(QueuedWaiter { id, enqueued: now });
        self.waiting += 1;
        Ok(id)
    }

    /// Forgets a waiter whose caller gave up.
    pub(super) fn cancel(&mut self, id: u64, route: &Route) {
        if let Some(queue) = self.queues.get_mut(route) {
            let before = queue.len();
            queue.retain(|waiter| waiter.id != id);
            self.waiting -= before - queue.len();
            if queue.is_empty() {
                self.queues.remove(route);
            }
        }
    }

    /// Grants every waiting request that may go at `now`, oldest first and round-robin across
    /// routes, and says when to look again.
    pub(super) fn poll(&mut self, now: Instant) -> Poll {
        let mut poll = Poll::default();
        if self.token_rejected {
            for (_, queue) in self.queues.drain() {
                poll.rejected.extend(
                    queue
                        .into_iter()
                        .map(|waiter| (waiter.id, RateLimitError::TokenRejected)),
                );
            }
            self.waiting = 0;
            return poll;
        }
        let mut round: Vec<(u64, Route)> = self
            .queues
            .iter()
            .filter_map(|(route, queue)| queue.front().map(|waiter| (waiter.id, *route)))
            .collect();
        round.sort_unstable_by_key(|&(id, _)| id);
        while !round.is_empty() {
            let mut next_round = Vec::new();
            for (_, route) in round {
                if let Some(until) = self.global_gate(now) {
                    poll.next_wake = earliest(poll.next_wake, until);
                    return poll;
                }
                let key = self.bucket_key(&route);
                let bucket = self.bucket_mut(&key, now);
                match bucket.readiness(now) {
                    Readiness::Ready => bucket.take(now),
                    Readiness::NotBefore(until) => {
                        poll.next_wake = earliest(poll.next_wake, until);
                        continue;
                    }
                    Readiness::AwaitingResponse => continue,
                }
                let Some(queue) = self.queues.get_mut(&route) else {
                    continue;
                };
                let Some(waiter) = queue.pop_front() else {
                    continue;
                };
                match queue.front() {
                    Some(next) => next_round.push((next.id, route)),
                    None => {
                        self.queues.remove(&route);
                    }
                }
                self.waiting -= 1;
                self.global.record(now);
                self.ceiling.record(now);
                self.last_grant = Some(now);
                let waited = now.saturating_duration_since(waiter.enqueued);
                self.in_flight.insert(
                    waiter.id,
                    InFlight {
                        key,
                        granted_at: now,
                        waited,
                    },
                );
                poll.granted.push(Permit {
                    ticket: waiter.id,
                    route,
                    waited,
                });
            }
            next_round.sort_unstable_by_key(|&(id, _)| id);
            round = next_round;
        }
        poll
    }

    /// When the next request may go as far as the limits shared by all routes are
    /// concerned, if not now.
    fn global_gate(&mut self, now: Instant) -> Option<Instant> {
        if self.global_blocked_until.is_some_and(|until| until <= now) {
            self.global_blocked_until = None;
        }
        let ready_at = [
            self.global_blocked_until.unwrap_or(now),
            self.global.ready_at(now),
            self.ceiling.ready_at(now),
            self.invalid.ready_at(now, self.last_grant),
        ]
        .into_iter()
        .max()
        .unwrap_or(now);
        (ready_at > now).then_some(ready_at)
    }

    fn bucket_key(&self, route: &Route) -> BucketKey {
        let id = match self.route_buckets.get(&route.id) {
            Some(RouteBucket::Hash(hash)) => BucketId::Hash(Arc::clone(hash)),
            Some(RouteBucket::Unlimited) => BucketId::Unlimited(route.id),
            None => BucketId::Pending,
        };
        BucketKey {
            id,
            major: route.major,
        }
    }

    fn bucket_mut(&mut self, key: &BucketKey, now: Instant) -> &mut Bucket {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.settings.max_buckets {
            self.evict_for_room(now);
        }
        let unlimited = matches!(key.id, BucketId::Unlimited(_));
        self.buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::new(unlimited, now))
    }

    /// The map is full: forgets the least recently used buckets that hold nothing worth
    /// keeping. Buckets with a request in flight or a future reset stay, so the map can
    /// exceed its bound only by what is in use right now.
    fn evict_for_room(&mut self, now: Instant) {
        let mut evictable: Vec<(Instant, BucketKey)> = self
            .buckets
            .iter()
            .filter(|(_, bucket)| bucket.is_evictable(now))
            .map(|(key, bucket)| (bucket.last_used, key.clone()))
            .collect();
        evictable.sort_unstable_by_key(|(last_used, _)| *last_used);
        let batch = (self.settings.max_buckets / EVICTION_BATCH_DIVISOR).max(1);
        for (_, key) in evictable.into_iter().take(batch) {
            self.buckets.remove(&key);
        }
    }

    /// Learns from the answer to permit `ticket` and frees its slot.
    pub(super) fn on_response(
        &mut self,
        ticket: u64,
        route: &Route,
        outcome: &ResponseOutcome,
        now: Instant,
    ) -> ResponseEffects {
        let granted = self.in_flight.remove(&ticket);
        if let Some(granted) = &granted
            && let Some(bucket) = self.buckets.get_mut(&granted.key)
        {
            bucket.release(now);
        }
        let mut effects = ResponseEffects {
            waited: granted.map_or(Duration::ZERO, |granted| granted.waited),
            rate_limited: None,
            token_rejected: false,
            counted_invalid: false,
        };
        let ResponseOutcome::Answered(report) = outcome else {
            return effects;
        };
        self.learn(route, report, now);
        match report.status {
            401 => {
                effects.counted_invalid = true;
                effects.token_rejected = !self.token_rejected;
                self.token_rejected = true;
            }
            403 => effects.counted_invalid = true,
            429 => {
                let hit = RateLimitHit::from_response(report);
                let until = now + hit.wait;
                if hit.scope.blocks_everything() {
                    self.global_blocked_until = Some(
                        self.global_blocked_until
                            .map_or(until, |current| current.max(until)),
                    );
                } else {
                    let key = self.bucket_key(route);
                    let bucket = self.bucket_mut(&key, now);
                    bucket.blocked_until = Some(
                        bucket
                            .blocked_until
                            .map_or(until, |current| current.max(until)),
                    );
                }
                effects.counted_invalid = hit.scope.counts_as_invalid();
                effects.rate_limited = Some(hit);
            }
            _ => {}
        }
        if effects.counted_invalid {
            self.invalid.record(now);
        }
        effects
    }

    fn learn(&mut self, route: &Route, report: &ResponseReport, now: Instant) {
        let headers = &report.headers;
        if let Some(hash) = &headers.bucket {
            let known = matches!(
                self.route_buckets.get(&route.id),
                Some(RouteBucket::Hash(current)) if **current == **hash
            );
            if !known {
                self.route_buckets
                    .insert(route.id, RouteBucket::Hash(Arc::from(hash.as_str())));
            }
        } else if (200..300).contains(&report.status) && !headers.from_discord() {
            self.route_buckets
                .entry(route.id)
                .or_insert(RouteBucket::Unlimited);
        }
        let describes_bucket =
            headers.limit.is_some() || headers.remaining.is_some() || headers.reset_after.is_some();
        if describes_bucket {
            let key = self.bucket_key(route);
            self.bucket_mut(&key, now).learn(headers, now);
        }
    }

    /// Frees the slots of permits never reported within the lease, and forgets buckets idle
    /// for longer than the idle time; at most every [`SWEEP_INTERVAL`].
    pub(super) fn maybe_sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.sweep(now);
    }

    pub(super) fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        let lease = self.settings.in_flight_lease;
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, granted)| now.saturating_duration_since(granted.granted_at) >= lease)
            .map(|(&ticket, _)| ticket)
            .collect();
        for ticket in expired {
            if let Some(granted) = self.in_flight.remove(&ticket)
                && let Some(bucket) = self.buckets.get_mut(&granted.key)
            {
                bucket.release(now);
            }
        }
        let ttl = self.settings.bucket_idle_ttl;
        self.buckets.retain(|_, bucket| !bucket.is_idle(now, ttl));
    }

    pub(super) fn figures(&mut self, now: Instant) -> LimiterFigures {
        LimiterFigures {
            buckets: self.buckets.len(),
            waiting: self.waiting,
            in_flight: self.in_flight.len(),
            invalid_requests: self.invalid.count(now),
            global_pause: self
                .global_blocked_until
                .filter(|&until| until > now)
                .map(|until| until - now),
            token_rejected: self.token_rejected,
        }
    }

    /// Marks the token dead without a response (it died in an earlier run of the actor).
    pub(super) fn reject_token(&mut self) {
        self.token_rejected = true;
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    use tokio::time::advance;

    use super::*;
    use crate::discord::Snowflake;

    const MESSAGES: Route = Route::get("/channels/{channel_id}/messages");
    const CHANNEL: Route = Route::get("/channels/{channel_id}");

    fn settings() -> RateLimiterSettings {
        RateLimiterSettings {
            // Out of the way unless a test is about it.
            requests_per_minute: 3_000,
            ..RateLimiterSettings::default()
        }
    }

    fn channel(id: u64) -> Route {
        MESSAGES.for_channel(Snowflake(id))
    }

    fn answered(status: u16, pairs: &[(&str, &str)], body: &str) -> ResponseOutcome {
        let headers: HeaderMap = pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect();
        ResponseOutcome::Answered(ResponseReport {
            status,
            headers: RateLimitHeaders::parse(&headers, std::time::SystemTime::now()),
            body: crate::discord::rest::RateLimitBody::parse(body.as_bytes()),
        })
    }

    fn bucket_headers(
        hash: &'static str,
        limit: u32,
        remaining: u32,
        reset_after: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("X-RateLimit-Bucket", hash.to_owned()),
            ("X-RateLimit-Limit", limit.to_string()),
            ("X-RateLimit-Remaining", remaining.to_string()),
            ("X-RateLimit-Reset-After", reset_after.to_owned()),
        ]
    }

    fn ok_with(headers: &[(&'static str, String)]) -> ResponseOutcome {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        answered(200, &pairs, "[]")
    }

    /// Queues one request per route and returns their ids.
    fn enqueue_all(limiter: &mut Limiter, routes: &[Route]) -> Vec<u64> {
        let now = Instant::now();
        routes
            .iter()
            .map(|route| limiter.enqueue(*route, now).unwrap())
            .collect()
    }

    fn granted_tickets(poll: &Poll) -> Vec<u64> {
        poll.granted.iter().map(|permit| permit.ticket).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn unlearned_routes_go_one_at_a_time_per_major_parameter() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(
            &mut limiter,
            &[
                channel(1),
                channel(1),
                CHANNEL.for_channel(Snowflake(1)),
                channel(2),
            ],
        );
        let poll = limiter.poll(Instant::now());
        // Channel 1's first request and channel 2's go; the rest of channel 1 waits for an
        // answer, with no timer (only the answer can tell).
        assert_eq!(granted_tickets(&poll), [ids[0], ids[3]]);
        assert_eq!(poll.next_wake, None);

        limiter.on_response(
            ids[0],
            &channel(1),
            &ok_with(&bucket_headers("msgs", 5, 4, "10")),
            Instant::now(),
        );
        // The messages route is learned; the channel route is still pending, so it goes
        // alone, alongside the learned bucket's next request.
        let poll = limiter.poll(Instant::now());
        assert_eq!(granted_tickets(&poll), [ids[1], ids[2]]);
    }

    #[tokio::test(start_paused = true)]
    async fn learned_bucket_waits_for_its_reset_after() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let first = enqueue_all(&mut limiter, &[channel(1)]);
        assert_eq!(granted_tickets(&limiter.poll(Instant::now())), first);
        limiter.on_response(
            first[0],
            &channel(1),
            &ok_with(&bucket_headers("msgs", 3, 2, "2.5")),
            Instant::now(),
        );

        let ids = enqueue_all(&mut limiter, &[channel(1), channel(1), channel(1)]);
        let poll = limiter.poll(Instant::now());
        assert_eq!(granted_tickets(&poll), ids[..2]);
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_millis(2_500))
        );

        advance(Duration::from_millis(2_499)).await;
        assert!(limiter.poll(Instant::now()).granted.is_empty());
        advance(Duration::from_millis(1)).await;
        let poll = limiter.poll(Instant::now());
        assert_eq!(granted_tickets(&poll), ids[2..]);
        assert_eq!(poll.granted[0].waited, Duration::from_millis(2_500));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_requests_still_in_flight() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let first = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        limiter.on_response(
            first[0],
            &channel(1),
            &ok_with(&bucket_headers("msgs", 5, 4, "5")),
            Instant::now(),
        );
        let ids = enqueue_all(&mut limiter, &[channel(1); 4]);
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 4);
        // The server answers the first of the four having seen only it: remaining 3, but
        // three more are on their way, so nothing is left.
        limiter.on_response(
            ids[0],
            &channel(1),
            &ok_with(&bucket_headers("msgs", 5, 3, "5")),
            Instant::now(),
        );
        enqueue_all(&mut limiter, &[channel(1)]);
        let poll = limiter.poll(Instant::now());
        assert!(poll.granted.is_empty());
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn routes_answering_the_same_bucket_hash_share_its_limit() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let other = Route::get("/channels/{channel_id}/pins");
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        limiter.on_response(
            ids[0],
            &channel(1),
            &ok_with(&bucket_headers("shared", 2, 1, "3")),
            Instant::now(),
        );
        let ids = enqueue_all(&mut limiter, &[other.for_channel(Snowflake(1))]);
        limiter.poll(Instant::now());
        limiter.on_response(
            ids[0],
            &other.for_channel(Snowflake(1)),
            &ok_with(&bucket_headers("shared", 2, 0, "3")),
            Instant::now(),
        );
        // Both routes now map to the exhausted bucket of channel 1; channel 2 is separate.
        let ids = enqueue_all(
            &mut limiter,
            &[channel(1), other.for_channel(Snowflake(1)), channel(2)],
        );
        let poll = limiter.poll(Instant::now());
        assert_eq!(granted_tickets(&poll), [ids[2]]);
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_secs(3))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn routes_without_rate_limit_headers_are_not_serialised() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let me = Route::get("/users/@me");
        let ids = enqueue_all(&mut limiter, &[me]);
        limiter.poll(Instant::now());
        limiter.on_response(ids[0], &me, &answered(200, &[], "{}"), Instant::now());
        enqueue_all(&mut limiter, &[me, me, me]);
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn global_limit_is_fifty_per_second() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let routes: Vec<Route> = (1..=120).map(channel).collect();
        enqueue_all(&mut limiter, &routes);
        let start = Instant::now();
        let poll = limiter.poll(start);
        assert_eq!(poll.granted.len(), 50);
        assert_eq!(poll.next_wake, Some(start + Duration::from_secs(1)));
        advance(Duration::from_millis(999)).await;
        assert!(limiter.poll(Instant::now()).granted.is_empty());
        advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 50);
        advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn our_ceiling_allows_a_burst_then_the_configured_pace() {
        let mut limiter = Limiter::new(
            RateLimiterSettings {
                requests_per_minute: 60,
                ..settings()
            },
            Instant::now(),
        );
        let routes: Vec<Route> = (1..=10).map(channel).collect();
        enqueue_all(&mut limiter, &routes);
        // Five seconds' worth at once, then one a second.
        let poll = limiter.poll(Instant::now());
        assert_eq!(poll.granted.len(), 5);
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_secs(1))
        );
        for _ in 0..5 {
            advance(Duration::from_millis(999)).await;
            assert!(limiter.poll(Instant::now()).granted.is_empty());
            advance(Duration::from_millis(1)).await;
            assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_global_429_stops_every_route_for_the_announced_time() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        let effects = limiter.on_response(
            ids[0],
            &channel(1),
            &answered(
                429,
                &[("X-RateLimit-Global", "true"), ("Retry-After", "2")],
                r#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": true}"#,
            ),
            Instant::now(),
        );
        assert_eq!(
            effects.rate_limited.map(|hit| hit.wait),
            Some(Duration::from_secs(2))
        );
        assert!(effects.counted_invalid);
        enqueue_all(&mut limiter, &[channel(2), channel(3)]);
        let poll = limiter.poll(Instant::now());
        assert!(poll.granted.is_empty());
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_secs(2))
        );
        advance(Duration::from_millis(1_999)).await;
        assert!(limiter.poll(Instant::now()).granted.is_empty());
        advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_429_stops_only_that_bucket_and_shared_scope_is_not_invalid() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        let effects = limiter.on_response(
            ids[0],
            &channel(1),
            &answered(
                429,
                &[
                    ("X-RateLimit-Scope", "shared"),
                    ("X-RateLimit-Bucket", "msgs"),
                    ("X-RateLimit-Limit", "5"),
                    ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset-After", "3"),
                    ("Retry-After", "3"),
                ],
                r#"{"message": "busy", "retry_after": 3.0, "global": false}"#,
            ),
            Instant::now(),
        );
        assert!(!effects.counted_invalid);
        assert_eq!(limiter.figures(Instant::now()).invalid_requests, 0);
        let ids = enqueue_all(&mut limiter, &[channel(1), channel(2)]);
        let poll = limiter.poll(Instant::now());
        assert_eq!(granted_tickets(&poll), [ids[1]]);
        advance(Duration::from_secs(3)).await;
        assert_eq!(granted_tickets(&limiter.poll(Instant::now())), [ids[0]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cloudflare_page_pauses_everything() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        let effects = limiter.on_response(
            ids[0],
            &channel(1),
            &answered(
                429,
                &[("Retry-After", "4"), ("Content-Type", "text/html")],
                "<html><body>Error 1015: You are being rate limited.</body></html>",
            ),
            Instant::now(),
        );
        assert!(effects.counted_invalid);
        enqueue_all(&mut limiter, &[channel(7)]);
        assert!(limiter.poll(Instant::now()).granted.is_empty());
        assert_eq!(
            limiter.figures(Instant::now()).global_pause,
            Some(Duration::from_secs(4))
        );
        advance(Duration::from_secs(4)).await;
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_401_rejects_everything_waiting_and_everything_after() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(&mut limiter, &[channel(1), channel(1), channel(2)]);
        let poll = limiter.poll(Instant::now());
        assert_eq!(poll.granted.len(), 2);
        let effects = limiter.on_response(
            ids[0],
            &channel(1),
            &answered(401, &[], r#"{"message": "401: Unauthorized", "code": 0}"#),
            Instant::now(),
        );
        assert!(effects.token_rejected);
        let poll = limiter.poll(Instant::now());
        assert_eq!(poll.rejected.len(), 1);
        assert!(poll.rejected[0].1.is_fatal());
        assert!(matches!(
            limiter.enqueue(channel(3), Instant::now()),
            Err(RateLimitError::TokenRejected)
        ));
        // A second 401 (from a request already in flight) is not a new rejection.
        let effects =
            limiter.on_response(ids[2], &channel(2), &answered(401, &[], ""), Instant::now());
        assert!(!effects.token_rejected);
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_answers_slow_requests_down_long_before_the_ban() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let forbidden = answered(403, &[], r#"{"message": "Missing Access", "code": 50001}"#);
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        let effects = limiter.on_response(ids[0], &channel(1), &forbidden, Instant::now());
        assert!(effects.counted_invalid);
        // Below the slowdown threshold nothing changes.
        for _ in 1..INVALID_SLOWDOWN_FROM - 1 {
            limiter.invalid.record(Instant::now());
        }
        enqueue_all(&mut limiter, &[channel(2), channel(3)]);
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 2);

        // From 1 000 on, requests are spaced: 600 s / (5 000 - 1 000) = 150 ms.
        limiter.invalid.record(Instant::now());
        assert_eq!(
            limiter.figures(Instant::now()).invalid_requests,
            INVALID_SLOWDOWN_FROM
        );
        enqueue_all(&mut limiter, &[channel(4), channel(5)]);
        let poll = limiter.poll(Instant::now());
        assert!(poll.granted.is_empty());
        assert_eq!(
            poll.next_wake,
            Some(Instant::now() + Duration::from_millis(150))
        );
        advance(Duration::from_millis(150)).await;
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);

        // At half the ban threshold everything waits until old answers leave the window.
        for _ in INVALID_SLOWDOWN_FROM..INVALID_PAUSE_AT {
            limiter.invalid.record(Instant::now());
        }
        advance(Duration::from_secs(60)).await;
        let poll = limiter.poll(Instant::now());
        assert!(poll.granted.is_empty());
        let pause_ends = poll.next_wake.unwrap();
        assert!(pause_ends > Instant::now() + Duration::from_secs(400));
        tokio::time::advance(pause_ends - Instant::now()).await;
        assert!(limiter.figures(Instant::now()).invalid_requests < INVALID_PAUSE_AT);
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_evicted_and_the_map_stays_bounded() {
        let mut limiter = Limiter::new(
            RateLimiterSettings {
                max_buckets: 100,
                bucket_idle_ttl: Duration::from_secs(60),
                ..settings()
            },
            Instant::now(),
        );
        for id in 1..=300_u64 {
            let route = channel(id);
            let ids = enqueue_all(&mut limiter, &[route]);
            assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
            limiter.on_response(
                ids[0],
                &route,
                &ok_with(&bucket_headers("msgs", 5, 4, "0.5")),
                Instant::now(),
            );
            // 40 requests a second: under the global limit.
            advance(Duration::from_millis(25)).await;
            assert!(limiter.buckets.len() <= 101, "{}", limiter.buckets.len());
        }
        advance(Duration::from_secs(61)).await;
        limiter.maybe_sweep(Instant::now());
        assert_eq!(limiter.figures(Instant::now()).buckets, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_in_use_are_not_evicted() {
        let mut limiter = Limiter::new(
            RateLimiterSettings {
                bucket_idle_ttl: Duration::from_secs(60),
                ..settings()
            },
            Instant::now(),
        );
        let ids = enqueue_all(&mut limiter, &[channel(1)]);
        limiter.poll(Instant::now());
        limiter.on_response(
            ids[0],
            &channel(1),
            &ok_with(&bucket_headers("msgs", 1, 0, "600")),
            Instant::now(),
        );
        advance(Duration::from_secs(120)).await;
        limiter.sweep(Instant::now());
        // Its reset is still ahead: forgetting it would let a request through too early.
        assert_eq!(limiter.figures(Instant::now()).buckets, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreported_permit_frees_its_slot_after_the_lease() {
        let lease = Duration::from_secs(70);
        let mut limiter = Limiter::new(
            RateLimiterSettings {
                in_flight_lease: lease,
                ..settings()
            },
            Instant::now(),
        );
        enqueue_all(&mut limiter, &[channel(1), channel(1)]);
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
        // The first caller vanished without reporting; its unlearned bucket stays blocked...
        advance(lease - Duration::from_secs(1)).await;
        limiter.sweep(Instant::now());
        assert!(limiter.poll(Instant::now()).granted.is_empty());
        // ...until the lease runs out.
        advance(Duration::from_secs(1)).await;
        limiter.sweep(Instant::now());
        assert_eq!(limiter.poll(Instant::now()).granted.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let mut limiter = Limiter::new(settings(), Instant::now());
        let ids = enqueue_all(&mut limiter, &[channel(1), channel(1)]);
        limiter.poll(Instant::now());
        limiter.cancel(ids[1], &channel(1));
        assert_eq!(limiter.figures(Instant::now()).waiting, 0);
        limiter.on_response(
            ids[0],
            &channel(1),
            &ResponseOutcome::NoAnswer,
            Instant::now(),
        );
        assert!(limiter.poll(Instant::now()).granted.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_bounded() {
        let mut limiter = Limiter::new(
            RateLimiterSettings {
                max_waiters: 2,
                ..settings()
            },
            Instant::now(),
        );
        enqueue_all(&mut limiter, &[channel(1), channel(1)]);
        assert!(matches!(
            limiter.enqueue(channel(1), Instant::now()),
            Err(RateLimitError::Overloaded { waiting: 2 })
        ));
    }
}
