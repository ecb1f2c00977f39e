//! REST rate limits the way Discord applies them: a bucket per route and major parameter
//! (`channel_id`, `guild_id`) whose window starts with its first request, a global limit of N
//! requests per second across all routes, and 429 windows opened by scripted faults. Every
//! request is checked *before* it is counted, so a request that arrives while its bucket or
//! the global limit is exhausted is recorded as a violation: what a correct client never sends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::config::SimConfig;

/// Who a 429 applies to (`X-RateLimit-Scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    /// This route's bucket for this token.
    User,
    /// Every route for this token.
    Global,
    /// A limit on the resource shared with other users; Discord does not count these toward
    /// the invalid-request ban.
    Shared,
}

impl RateLimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Global => "global",
            Self::Shared => "shared",
        }
    }
}

/// How a scripted 429 looks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitShape {
    /// JSON `{message, retry_after, global}` plus `Retry-After` and `X-RateLimit-*` headers.
    JsonBody,
    /// The same headers and an empty body.
    HeaderOnly,
    /// Cloudflare's HTML page with only `Retry-After` (an IP-level ban: blocks every route).
    CloudflareHtml,
}

/// A scripted answer replacing the normal one for the next matching requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestFault {
    /// A 429 that also opens a real window: requests inside it are violations.
    RateLimited {
        scope: RateLimitScope,
        retry_after: Duration,
        shape: RateLimitShape,
    },
    /// 500, 502, 503 or 504 with the body Discord's edge sends for it.
    ServerError { status: u16 },
}

/// Which limit a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitViolation {
    /// Sent while its route bucket was exhausted or inside a bucket 429 window.
    Bucket,
    /// Sent while the global limit was exhausted or inside a global 429 window.
    Global,
}

/// `X-RateLimit-*` values for one response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub reset_after: Duration,
    pub bucket: String,
}

/// Why a request was refused with 429.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Limited {
    pub violation: RateLimitViolation,
    pub scope: RateLimitScope,
    pub retry_after: Duration,
    /// Bucket headers, absent for global limits (Discord sends none then).
    pub headers: Option<BucketHeaders>,
}

#[derive(Debug)]
struct Bucket {
    limit: u32,
    window: Duration,
    /// First request of the current window; `None` when no window is open.
    started: Option<Instant>,
    used: u32,
    /// A scripted 429 window on this bucket.
    blocked: Option<(Instant, RateLimitScope)>,
}

impl Bucket {
    fn roll(&mut self, now: Instant) {
        if self.started.is_some_and(|start| now >= start + self.window) {
            self.started = None;
            self.used = 0;
        }
        if self.blocked.is_some_and(|(until, _)| now >= until) {
            self.blocked = None;
        }
    }

    fn reset_after(&self, now: Instant) -> Duration {
        match self.started {
            Some(start) => (start + self.window).saturating_duration_since(now),
            None => self.window,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    global_limit: u32,
    /// Start and count of the current one-second global window.
    global_window: Option<(Instant, u32)>,
    global_blocked_until: Option<Instant>,
    default_limit: (u32, Duration),
    overrides: HashMap<String, (u32, Duration)>,
    buckets: HashMap<(&'static str, String), Bucket>,
}

/// Length of the global window: Discord's limit is per second.
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

impl RateLimiter {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            global_limit: config.global_limit_per_sec,
            global_window: None,
            global_blocked_until: None,
            default_limit: (
                config.bucket_limit,
                Duration::from_millis(config.bucket_reset_ms),
            ),
            overrides: config
                .route_limits
                .iter()
                .map(|r| {
                    (
                        r.route.clone(),
                        (r.limit, Duration::from_millis(r.reset_ms)),
                    )
                })
                .collect(),
            buckets: HashMap::new(),
        }
    }

    fn bucket(&mut self, route: &'static str, major: &str, now: Instant) -> &mut Bucket {
        let (limit, window) = self
            .overrides
            .get(route)
            .copied()
            .unwrap_or(self.default_limit);
        let bucket = self
            .buckets
            .entry((route, major.to_owned()))
            .or_insert(Bucket {
                limit,
                window,
                started: None,
                used: 0,
                blocked: None,
            });
        bucket.roll(now);
        bucket
    }

    fn headers_of(route: &'static str, bucket: &Bucket, now: Instant) -> BucketHeaders {
        BucketHeaders {
            limit: bucket.limit,
            remaining: bucket.limit.saturating_sub(bucket.used),
            reset_after: bucket.reset_after(now),
            bucket: bucket_hash(route),
        }
    }

    /// Whether the request may go through, without counting it.
    pub(crate) fn check(
        &mut self,
        route: &'static str,
        major: &str,
        now: Instant,
    ) -> Result<(), Limited> {
        if let Some(until) = self.global_blocked_until {
            if now < until {
                return Err(Limited {
                    violation: RateLimitViolation::Global,
                    scope: RateLimitScope::Global,
                    retry_after: until - now,
                    headers: None,
                });
            }
            self.global_blocked_until = None;
        }
        if self.global_limit > 0
            && let Some((start, count)) = self.global_window
            && now < start + GLOBAL_WINDOW
            && count >= self.global_limit
        {
            return Err(Limited {
                violation: RateLimitViolation::Global,
                scope: RateLimitScope::Global,
                retry_after: start + GLOBAL_WINDOW - now,
                headers: None,
            });
        }
        let bucket = self.bucket(route, major, now);
        if let Some((until, scope)) = bucket.blocked {
            let headers = Self::headers_of(route, bucket, now);
            return Err(Limited {
                violation: RateLimitViolation::Bucket,
                scope,
                retry_after: until - now,
                headers: Some(BucketHeaders {
                    remaining: 0,
                    reset_after: until - now,
                    ..headers
                }),
            });
        }
        if bucket.started.is_some() && bucket.used >= bucket.limit {
            let headers = Self::headers_of(route, bucket, now);
            return Err(Limited {
                violation: RateLimitViolation::Bucket,
                scope: RateLimitScope::User,
                retry_after: headers.reset_after,
                headers: Some(headers),
            });
        }
        Ok(())
    }

    /// Counts an admitted request against the global window and its bucket.
    pub(crate) fn admit(
        &mut self,
        route: &'static str,
        major: &str,
        now: Instant,
    ) -> BucketHeaders {
        match &mut self.global_window {
            Some((start, count)) if now < *start + GLOBAL_WINDOW => *count += 1,
            window => *window = Some((now, 1)),
        }
        let bucket = self.bucket(route, major, now);
        if bucket.started.is_none() {
            bucket.started = Some(now);
        }
        bucket.used += 1;
        Self::headers_of(route, bucket, now)
    }

    /// Current headers of a bucket without counting anything (for scripted answers).
    pub(crate) fn peek(&mut self, route: &'static str, major: &str, now: Instant) -> BucketHeaders {
        let bucket = self.bucket(route, major, now);
        Self::headers_of(route, bucket, now)
    }

    /// Opens a 429 window: global, or on one bucket.
    pub(crate) fn block(
        &mut self,
        route: &'static str,
        major: &str,
        scope: RateLimitScope,
        until: Instant,
        now: Instant,
    ) {
        match scope {
            RateLimitScope::Global => {
                self.global_blocked_until =
                    Some(self.global_blocked_until.map_or(until, |u| u.max(until)));
            }
            RateLimitScope::User | RateLimitScope::Shared => {
                self.bucket(route, major, now).blocked = Some((until, scope));
            }
        }
    }

    /// Drops buckets whose window and block are over, so the map stays small.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, bucket| {
            bucket.roll(now);
            bucket.started.is_some() || bucket.blocked.is_some()
        });
    }
}

/// An opaque, stable bucket id per route, shaped like Discord's 32 hex characters.
pub(crate) fn bucket_hash(route: &str) -> String {
    let mut first: u64 = 0xcbf2_9ce4_8422_2325;
    let mut second: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in route.bytes() {
        first = (first ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        second = (second ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3) ^ first;
    }
    format!("{first:016x}{second:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteLimit;

    const ROUTE: &str = "GET /channels/{channel_id}/messages";

    fn limiter(bucket_limit: u32, global: u32) -> RateLimiter {
        RateLimiter::new(&SimConfig {
            bucket_limit,
            bucket_reset_ms: 1_000,
            global_limit_per_sec: global,
            ..SimConfig::default()
        })
    }

    #[test]
    fn bucket_counts_down_then_refuses_until_its_window_resets() {
        let mut limits = limiter(2, 0);
        let t0 = Instant::now();
        assert!(limits.check(ROUTE, "1", t0).is_ok());
        let first = limits.admit(ROUTE, "1", t0);
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert_eq!(first.reset_after, Duration::from_secs(1));

        let t1 = t0 + Duration::from_millis(300);
        assert!(limits.check(ROUTE, "1", t1).is_ok());
        let second = limits.admit(ROUTE, "1", t1);
        assert_eq!(second.remaining, 0);
        assert_eq!(second.reset_after, Duration::from_millis(700));

        let refused = limits
            .check(ROUTE, "1", t0 + Duration::from_millis(900))
            .expect_err("bucket is exhausted");
        assert_eq!(refused.violation, RateLimitViolation::Bucket);
        assert_eq!(refused.scope, RateLimitScope::User);
        assert_eq!(refused.retry_after, Duration::from_millis(100));

        // Another channel is another bucket; the same channel is free once the window ends.
        assert!(limits.check(ROUTE, "2", t1).is_ok());
        let later = t0 + Duration::from_secs(1);
        assert!(limits.check(ROUTE, "1", later).is_ok());
        assert_eq!(limits.admit(ROUTE, "1", later).remaining, 1);
    }

    #[test]
    fn global_limit_counts_every_route_per_second() {
        let mut limits = limiter(100, 3);
        let t0 = Instant::now();
        for channel in ["1", "2", "3"] {
            assert!(limits.check(ROUTE, channel, t0).is_ok());
            limits.admit(ROUTE, channel, t0);
        }
        let refused = limits
            .check(ROUTE, "4", t0 + Duration::from_millis(400))
            .expect_err("global limit reached");
        assert_eq!(refused.violation, RateLimitViolation::Global);
        assert_eq!(refused.retry_after, Duration::from_millis(600));
        assert!(refused.headers.is_none());
        assert!(limits.check(ROUTE, "4", t0 + GLOBAL_WINDOW).is_ok());
    }

    #[test]
    fn scripted_windows_block_their_scope() {
        let mut limits = limiter(100, 0);
        let t0 = Instant::now();
        limits.block(
            ROUTE,
            "1",
            RateLimitScope::Shared,
            t0 + Duration::from_secs(2),
            t0,
        );
        let refused = limits
            .check(ROUTE, "1", t0 + Duration::from_secs(1))
            .expect_err("blocked");
        assert_eq!(refused.scope, RateLimitScope::Shared);
        assert!(limits.check(ROUTE, "2", t0).is_ok());
        assert!(
            limits
                .check(ROUTE, "1", t0 + Duration::from_secs(2))
                .is_ok()
        );

        limits.block(
            ROUTE,
            "",
            RateLimitScope::Global,
            t0 + Duration::from_secs(5),
            t0,
        );
        let refused = limits
            .check("GET /users/@me", "", t0 + Duration::from_secs(4))
            .expect_err("global");
        assert_eq!(refused.violation, RateLimitViolation::Global);
        assert!(
            limits
                .check("GET /users/@me", "", t0 + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn route_overrides_and_pruning() {
        let mut limits = RateLimiter::new(&SimConfig {
            route_limits: vec![RouteLimit {
                route: ROUTE.to_owned(),
                limit: 1,
                reset_ms: 250,
            }],
            ..SimConfig::default()
        });
        let t0 = Instant::now();
        assert_eq!(limits.admit(ROUTE, "1", t0).limit, 1);
        assert_eq!(limits.admit("GET /users/@me", "", t0).limit, 5);
        assert_eq!(limits.buckets.len(), 2);
        limits.prune(t0 + Duration::from_secs(10));
        assert!(limits.buckets.is_empty());
        assert_eq!(bucket_hash(ROUTE).len(), 32);
        assert_ne!(bucket_hash(ROUTE), bucket_hash("GET /users/@me"));
    }
}
