//! [`RateLimiterActor`]: serves the [`Limiter`] to every REST caller. A request for a permit
//! is queued and answered through a oneshot channel when the limiter lets it go; the actor
//! wakes itself with a timer at the next moment something may become ready, so it never
//! sleeps and never blocks its arbiter. Reports of responses teach it buckets and pauses.
//!
//! A 401 marks the token dead ([`TokenState`], which outlives restarts): every waiting and
//! later request is refused without being sent, the lifecycle turns degraded with the reason,
//! and the optional [`TokenRejected`] recipient is told once.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use slog::{Logger, debug, error, o, warn};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::config::RateLimiterSettings;
use super::limiter::{Limiter, ResponseEffects};
use super::messages::{
    AcquirePermit, GetRateLimitStatus, RateLimitStatus, ReportResponse, RequestRecord,
    TokenRejected,
};
use super::metrics::RateLimiterMetrics;
use super::token::TokenState;
use crate::discord::rest::{Permit, RateLimitError, ResponseOutcome, ResponseReport, Route};
use crate::logging::error_chain;
use crate::supervisor::Lifecycle;

/// Messages queued at most before `try_send` (used for reports of unused permits) is refused;
/// `send` callers are not limited by it. Far above the number of concurrent REST callers.
const MAILBOX_CAPACITY: usize = 1_024;

/// What a 401 means for the operator, in the log and in health.
const TOKEN_REJECTED_REASON: &str =
    "Discord rejected the token (401): check DISCORD_TOKEN and discord.token_type";

struct Waiter {
    route: Route,
    reply: oneshot::Sender<Result<Permit, RateLimitError>>,
}

pub struct RateLimiterActor {
    settings: RateLimiterSettings,
    limiter: Limiter,
    /// Callers waiting for a permit, by the id the limiter queued them under.
    waiters: HashMap<u64, Waiter>,
    /// The pending wake-up timer and when it fires.
    wake: Option<(Instant, SpawnHandle)>,
    /// The last requests, newest at the back.
    history: VecDeque<RequestRecord>,
    token: TokenState,
    /// `None`: nothing is counted (`discord check`).
    metrics: Option<RateLimiterMetrics>,
    /// `logger = discord_rest`.
    log: Logger,
    lifecycle: Option<Lifecycle>,
    token_rejected_to: Option<Recipient<TokenRejected>>,
}

impl RateLimiterActor {
    /// `token` is shared with whatever reports health; keep one per token for the process.
    pub fn new(settings: RateLimiterSettings, token: TokenState, log: &Logger) -> Self {
        Self {
            limiter: Limiter::new(settings.clone(), Instant::now()),
            history: VecDeque::with_capacity(settings.history_len),
            settings,
            waiters: HashMap::new(),
            wake: None,
            token,
            metrics: None,
            log: log.new(o!("logger" => "discord_rest")),
            lifecycle: None,
            token_rejected_to: None,
        }
    }

    /// Counts requests, 429s and waits in `metrics`.
    pub fn with_metrics(mut self, metrics: RateLimiterMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reports to the supervisor (and through it the HealthActor).
    pub fn with_lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Tells `recipient` once when Discord rejects the token (e.g. to raise an alert).
    pub fn notify_token_rejected(mut self, recipient: Recipient<TokenRejected>) -> Self {
        self.token_rejected_to = Some(recipient);
        self
    }

    /// Grants what may go now, answers the callers, and sets the timer for what may go later.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.limiter.maybe_sweep(now);
        let limiter = &mut self.limiter;
        self.waiters.retain(|&id, waiter| {
            let gone = waiter.reply.is_closed();
            if gone {
                limiter.cancel(id, &waiter.route);
            }
            !gone
        });
        loop {
            let poll = self.limiter.poll(now);
            for (id, error) in poll.rejected {
                if let Some(waiter) = self.waiters.remove(&id) {
                    // The caller may have given up meanwhile; nothing to undo for a refusal.
                    let _ = waiter.reply.send(Err(error));
                }
            }
            let mut freed_slot = false;
            for permit in poll.granted {
                let delivered = match self.waiters.remove(&permit.ticket) {
                    Some(waiter) => waiter.reply.send(Ok(permit)).is_ok(),
                    None => false,
                };
                if delivered {
                    self.observe_wait(permit.waited);
                } else {
                    self.limiter.on_response(
                        permit.ticket,
                        &permit.route,
                        &ResponseOutcome::Unused,
                        now,
                    );
                    freed_slot = true;
                }
            }
            if !freed_slot {
                self.schedule_wake(poll.next_wake, ctx);
                break;
            }
        }
        self.publish_figures(now);
    }

    fn schedule_wake(&mut self, next: Option<Instant>, ctx: &mut Context<Self>) {
        let Some(at) = next else {
            return;
        };
        if let Some((scheduled, _)) = self.wake
            && scheduled <= at
        {
            return;
        }
        if let Some((_, handle)) = self.wake.take() {
            ctx.cancel_future(handle);
        }
        let delay = at.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |actor, ctx| {
            actor.wake = None;
            actor.drive(ctx);
        });
        self.wake = Some((at, handle));
    }

    fn record(&mut self, permit: &Permit, outcome: &ResponseOutcome, effects: &ResponseEffects) {
        let report = match outcome {
            ResponseOutcome::Unused => return,
            ResponseOutcome::NoAnswer => None,
            ResponseOutcome::Answered(report) => Some(report),
        };
        let route = permit.route.label();
        let status = report.map(|report| report.status);
        if let Some(metrics) = &self.metrics {
            let counted = metrics.count_request(&route, status).and_then(|()| {
                effects
                    .rate_limited
                    .map_or(Ok(()), |hit| metrics.count_rate_limited(hit.scope))
            });
            if let Err(err) = counted {
                warn!(self.log, "Request not counted"; "error" => error_chain(&err));
            }
        }
        if let Some(hit) = effects.rate_limited {
            warn!(self.log, "Rate limited by Discord";
                "route" => &route,
                "scope" => hit.scope.as_str(),
                "retry_after_ms" => millis(hit.wait),
                "bucket" => report.and_then(|report| report.headers.bucket.as_deref()));
        } else if let Some(ResponseReport { status, .. }) = report {
            debug!(self.log, "Discord answered";
                "route" => &route, "status" => status, "wait_ms" => millis(effects.waited));
        }
        if self.history.len() >= self.settings.history_len {
            self.history.pop_front();
        }
        if self.settings.history_len > 0 {
            self.history.push_back(RequestRecord {
                route,
                status,
                wait_ms: millis(effects.waited),
                at: Utc::now(),
                rate_limit_scope: effects.rate_limited.map(|hit| hit.scope),
            });
        }
    }

    fn token_died(&mut self) {
        let at = Utc::now();
        if !self.token.reject(at) {
            return;
        }
        error!(self.log, "Discord rejected the token; no further requests are sent";
            "hint" => TOKEN_REJECTED_REASON);
        if let Some(lifecycle) = &self.lifecycle {
            lifecycle.degraded(TOKEN_REJECTED_REASON);
        }
        if let Some(recipient) = &self.token_rejected_to
            && let Err(err) = recipient.try_send(TokenRejected { at })
        {
            warn!(self.log, "Could not report the rejected token"; "error" => %err);
        }
    }

    fn observe_wait(&self, waited: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.observe_wait(waited);
        }
    }

    fn publish_figures(&mut self, now: Instant) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let figures = self.limiter.figures(now);
        metrics.set_figures(figures.buckets, figures.invalid_requests);
    }

    fn status(&mut self) -> RateLimitStatus {
        let figures = self.limiter.figures(Instant::now());
        RateLimitStatus {
            token_rejected: figures.token_rejected || self.token.is_rejected(),
            buckets: figures.buckets,
            waiting: figures.waiting,
            in_flight: figures.in_flight,
            invalid_requests_last_10_minutes: figures.invalid_requests,
            global_pause_ms: figures.global_pause.map(millis),
            recent_requests: self.history.iter().rev().cloned().collect(),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Actor for RateLimiterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        if self.token.is_rejected() {
            self.limiter.reject_token();
        }
        if let Some(lifecycle) = &self.lifecycle {
            if self.token.is_rejected() {
                lifecycle.degraded(TOKEN_REJECTED_REASON);
            } else {
                lifecycle.up();
            }
        }
    }
}

impl Supervised for RateLimiterActor {
    /// Forgets buckets, waiters (their callers get [`RateLimitError::Interrupted`] and may ask
    /// again) and history; the token's state is kept, in [`TokenState`].
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        warn!(self.log, "Rate limiter restarting");
        self.limiter = Limiter::new(self.settings.clone(), Instant::now());
        self.waiters.clear();
        self.wake = None;
        self.history.clear();
    }
}

impl Handler<AcquirePermit> for RateLimiterActor {
    type Result = ResponseFuture<Result<Permit, RateLimitError>>;

    fn handle(&mut self, msg: AcquirePermit, ctx: &mut Self::Context) -> Self::Result {
        let id = match self.limiter.enqueue(msg.route, Instant::now()) {
            Ok(id) => id,
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        let (reply, answer) = oneshot::channel();
        self.waiters.insert(
            id,
            Waiter {
                route: msg.route,
                reply,
            },
        );
        self.drive(ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(RateLimitError::Interrupted)) })
    }
}

impl Handler<ReportResponse> for RateLimiterActor {
    type Result = ();

    fn handle(&mut self, msg: ReportResponse, ctx: &mut Self::Context) {
        let effects = self.limiter.on_response(
            msg.permit.ticket,
            &msg.permit.route,
            &msg.outcome,
            Instant::now(),
        );
        self.record(&msg.permit, &msg.outcome, &effects);
        if effects.token_rejected {
            self.token_died();
        }
        self.drive(ctx);
    }
}

impl Handler<GetRateLimitStatus> for RateLimiterActor {
    type Result = MessageResult<GetRateLimitStatus>;

    fn handle(&mut self, _msg: GetRateLimitStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.status())
    }
}
