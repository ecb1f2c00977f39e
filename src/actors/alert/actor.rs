//! [`AlertActor`]: outbox first, delivery after.
//!
//! An [`Alert`] is answered only once one outbox row per matching route (severity at or above
//! the route's `min_severity`) is stored; delivery happens in passes that read due rows from
//! the outbox, so rows left by a previous process (crash, restart, receiver down) are
//! delivered too. A pass runs after every accepted alert, when the earliest pending row comes
//! due, and at least every [`POLL_INTERVAL`].
//!
//! Dedup and cooldown, decided by the outbox in one transaction
//! ([`Database::enqueue_condition`](crate::actors::db::Database::enqueue_condition)), so they
//! hold across restarts: a condition (its `dedup_key`) raised again within `cooldown_secs` of
//! its last notice is collapsed; raised later while it was not resolved it is a reminder;
//! resolved, it sends one resolved message (only if it was ever sent, and once). So a
//! flapping condition sends one alert, a reminder per cooldown while it lasts, and a resolved
//! message.
//!
//! Per route, a delivery first passes the circuit breaker and the rate limit (else the row is
//! postponed without counting an attempt), then is tried; a failure is recorded and retried
//! after an exponential backoff with jitter (honouring a receiver's `Retry-After`). When a
//! route's breaker opens, an `alert_route_failing` alert goes to the other routes, resolved
//! when the route delivers again. Routes deliver concurrently; rows of one route in order.
//!
//! Two clocks: the outbox's times (due rows, retries, cooldowns) are wall-clock data that
//! outlive the process, read from the actor's [`WallClock`]; the breakers, rate limits and
//! wake-up timers live only in memory and run on tokio's clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use slog::{Logger, debug, info, o, warn};
use tokio::time::Instant;

use super::clock::WallClock;
use super::config::{AlertsConfig, Route, Severity};
use super::error::{AlertError, SendError};
use super::messages::{Alert, AlertAccepted, ListAlerts, Phase, RouteTestResult, TestRoutes};
use super::metrics::AlertMetrics;
use super::rate_limit::RateLimit;
use super::render::{Notice, StoredExtras};
use super::sender::RouteSender;
use crate::actors::db::{
    AttemptOutcome, ConditionDecision, DbActor, DueAlerts, EnqueueCondition, NewCondition,
    NewOutboxAlert, NextAlertDue, OutboxAlert, PostponeAlert, PruneAlerts, RecentAlerts,
    RecordAlertAttempt,
};
use crate::circuit_breaker::{BreakerSettings, CircuitBreaker, CircuitState, Failure, Transition};
use crate::logging::error_chain;
use crate::metrics::MetricsError;
use crate::supervisor::{ComponentHandle, Lifecycle};

/// Safety net between passes: a pass also runs after each alert and when a row comes due, so
/// this only matters if a wake-up was lost (a DB error during scheduling).
const POLL_INTERVAL: Duration = Duration::from_secs(30);
/// Finished outbox rows past their retention are deleted this often (hourly: retention is
/// counted in days).
const PRUNE_INTERVAL: Duration = Duration::from_secs(3_600);
/// Rows read per pass: a pass finishes in bounded time; the next pass takes the rest.
const ROWS_PER_PASS: i64 = 200;
/// Event name of the alert raised on the other routes when one route keeps failing.
pub const ROUTE_FAILING_EVENT: &str = "alert_route_failing";

/// Everything the actor needs from the config, checked.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub routes: Vec<Route>,
    pub cooldown: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub breaker_failure_threshold: u32,
    pub breaker_open: Duration,
    /// How long finished outbox rows are kept.
    pub retention: Duration,
}

impl AlertSettings {
    pub fn from_config(config: &AlertsConfig) -> Self {
        AlertSettings {
            routes: config.routes(),
            cooldown: Duration::from_secs(config.cooldown_secs.max(1)),
            retry_initial: Duration::from_secs(config.retry_initial_secs.max(1)),
            retry_max: Duration::from_secs(config.retry_max_secs.max(1)),
            breaker_failure_threshold: config.breaker_failure_threshold,
            breaker_open: Duration::from_secs(config.breaker_open_secs),
            retention: Duration::from_secs(config.outbox_retention_days.saturating_mul(86_400)),
        }
    }

    /// Delay before retry number `attempts` (1 after the first failure): doubling from
    /// `retry_initial` up to `retry_max`, less up to half at random so that many rows failed
    /// together do not retry together.
    pub fn retry_delay(&self, attempts: u32, random: f64) -> Duration {
        let doubling = 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
        let full = self.retry_initial.mul_f64(doubling).min(self.retry_max);
        full.mul_f64(1.0 - 0.5 * random.clamp(0.0, 1.0))
    }
}

/// A route's sender (or why it could not be built) and its guards.
struct RouteEntry {
    route: Route,
    sender: Result<RouteSender, SendError>,
}

struct Guard {
    breaker: CircuitBreaker,
    rate: RateLimit,
}

type Guards = Arc<Mutex<BTreeMap<String, Guard>>>;

pub struct AlertActor {
    settings: Arc<AlertSettings>,
    routes: Arc<BTreeMap<String, RouteEntry>>,
    guards: Guards,
    db: ComponentHandle<DbActor>,
    lifecycle: Lifecycle,
    log: Logger,
    metrics: AlertMetrics,
    /// The outbox's times: due rows, retries, cooldowns, pruning.
    clock: WallClock,
    /// A pass is running; another request sets `pass_requested` instead of starting a second.
    passing: bool,
    pass_requested: bool,
    wake: Option<SpawnHandle>,
}

impl AlertActor {
    pub fn new(
        settings: Arc<AlertSettings>,
        db: ComponentHandle<DbActor>,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        let log = log.new(o!("logger" => "alerts"));
        let routes = route_entries(&settings.routes, &log);
        AlertActor {
            guards: Arc::new(Mutex::new(new_guards(&settings))),
            settings,
            routes: Arc::new(routes),
            db,
            lifecycle,
            log,
            metrics: AlertMetrics::default(),
            clock: WallClock::system(),
            passing: false,
            pass_requested: false,
            wake: None,
        }
    }

    /// Counts deliveries, failures and open breakers in `metrics`.
    pub fn with_metrics(mut self, metrics: AlertMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads the outbox's times from `clock` instead of the system's.
    pub fn with_wall_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }

    fn request_pass(&mut self, ctx: &mut Context<Self>) {
        if self.passing {
            self.pass_requested = true;
            return;
        }
        if let Some(wake) = self.wake.take() {
            ctx.cancel_future(wake);
        }
        self.passing = true;
        let pass = delivery_pass(PassInput {
            db: self.db.clone(),
            routes: Arc::clone(&self.routes),
            guards: Arc::clone(&self.guards),
            settings: Arc::clone(&self.settings),
            log: self.log.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock,
        });
        ctx.spawn(pass.into_actor(self).map(|report, actor, ctx| {
            actor.passing = false;
            actor.after_pass(report, ctx);
        }));
    }

    fn after_pass(&mut self, report: PassReport, ctx: &mut Context<Self>) {
        let open: Vec<String> = self
            .guards
            .lock()
            .map(|guards| {
                guards
                    .iter()
                    .filter(|(_, guard)| guard.breaker.state() != CircuitState::Closed)
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        match (&report.error, open.is_empty()) {
            (Some(err), _) => self.lifecycle.degraded(format!("alert outbox: {err}")),
            (None, false) => self
                .lifecycle
                .degraded(format!("alert routes failing: {}", open.join(", "))),
            (None, true) => self.lifecycle.up(),
        }
        for (route, error) in report.opened {
            warn!(self.log, "Alert route failing, telling the other routes";
                "route" => &route, "error" => &error);
            let alert = Alert::new(
                ROUTE_FAILING_EVENT,
                Severity::Error,
                format!("Alert route `{route}` is failing"),
                format!(
                    "Deliveries to route `{route}` keep failing; its alerts stay in the outbox \
                     and are retried.\nLast error: {error}"
                ),
            )
            .with_key(format!("{ROUTE_FAILING_EVENT}:{route}"))
            .with_field("route", route.clone());
            self.enqueue_detached(alert, Some(route), ctx);
        }
        for route in report.recovered {
            info!(self.log, "Alert route delivers again"; "route" => &route);
            let alert = Alert::new(
                ROUTE_FAILING_EVENT,
                Severity::Error,
                format!("Alert route `{route}` delivers again"),
                format!("Route `{route}` delivered an alert; queued alerts follow."),
            )
            .with_key(format!("{ROUTE_FAILING_EVENT}:{route}"))
            .with_field("route", route.clone())
            .resolved();
            self.enqueue_detached(alert, Some(route), ctx);
        }
        if std::mem::take(&mut self.pass_requested) || report.more {
            self.request_pass(ctx);
            return;
        }
        let now = self.clock.now_ms();
        let wait = report
            .next_due_ms
            .map(|due| Duration::from_millis(u64::try_from(due - now).unwrap_or(0)))
            .unwrap_or(POLL_INTERVAL)
            .min(POLL_INTERVAL);
        self.wake = Some(ctx.run_later(wait, |actor, ctx| {
            actor.wake = None;
            actor.request_pass(ctx);
        }));
    }

    /// Enqueues an alert the actor raised itself; errors are logged (the next pass retries
    /// nothing here: the condition is raised again at its next transition).
    fn enqueue_detached(&mut self, alert: Alert, exclude: Option<String>, ctx: &mut Context<Self>) {
        let future = enqueue(
            self.db.clone(),
            Arc::clone(&self.settings),
            self.clock,
            alert,
            exclude,
        );
        ctx.spawn(
            future
                .into_actor(self)
                .map(|result, actor, ctx| match result {
                    Ok(accepted) if !accepted.queued.is_empty() => actor.request_pass(ctx),
                    Ok(_) => {}
                    Err(err) => {
                        warn!(actor.log, "Cannot queue route alert"; "error" => error_chain(&err))
                    }
                }),
        );
    }
}

/// One sender per route, by name; a route whose sender cannot be built (unreadable CA file)
/// keeps the reason, and every delivery to it fails with it.
fn route_entries(routes: &[Route], log: &Logger) -> BTreeMap<String, RouteEntry> {
    routes
        .iter()
        .map(|route| {
            let sender = RouteSender::new(route);
            if let Err(err) = &sender {
                warn!(log, "Alert route unusable"; "route" => &route.name,
                    "error" => error_chain(err));
            }
            (
                route.name.clone(),
                RouteEntry {
                    route: route.clone(),
                    sender,
                },
            )
        })
        .collect()
}

fn new_guards(settings: &AlertSettings) -> BTreeMap<String, Guard> {
    let now = Instant::now();
    // A fixed open period: an alert receiver is ours to fix, and the outbox keeps the rows.
    let breaker = BreakerSettings {
        consecutive_failures: settings.breaker_failure_threshold,
        failure_rate: None,
        cooldown: settings.breaker_open,
        target_down_cooldown: settings.breaker_open,
        max_cooldown: settings.breaker_open,
    };
    settings
        .routes
        .iter()
        .map(|route| {
            (
                route.name.clone(),
                Guard {
                    breaker: CircuitBreaker::new(&breaker),
                    rate: RateLimit::per_minute(route.max_per_minute, now),
                },
            )
        })
        .collect()
}

impl Actor for AlertActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        info!(self.log, "Alert actor started"; "routes" => self.routes.len());
        // Rows left by a previous run are due now: deliver them first thing.
        self.request_pass(ctx);
        ctx.run_interval(PRUNE_INTERVAL, |actor, ctx| {
            let retention_ms =
                i64::try_from(actor.settings.retention.as_millis()).unwrap_or(i64::MAX);
            let prune = PruneAlerts {
                before_ms: actor.clock.now_ms().saturating_sub(retention_ms),
            };
            let db = actor.db.clone();
            ctx.spawn(
                async move { db.ask(prune).await.map_err(AlertError::from) }
                    .into_actor(actor)
                    .map(|result, actor, _ctx| match result {
                        Ok(0) => {}
                        Ok(pruned) => info!(actor.log, "Old alerts pruned"; "rows" => pruned),
                        Err(err) => {
                            warn!(actor.log, "Cannot prune alerts"; "error" => error_chain(&err))
                        }
                    }),
            );
        });
    }
}

impl Supervised for AlertActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.passing = false;
        self.pass_requested = false;
        self.wake = None;
        if let Ok(mut guards) = self.guards.lock() {
            *guards = new_guards(&self.settings);
        }
    }
}

impl Handler<Alert> for AlertActor {
    type Result = ResponseActFuture<Self, Result<AlertAccepted, AlertError>>;

    fn handle(&mut self, alert: Alert, _ctx: &mut Self::Context) -> Self::Result {
        debug!(self.log, "Alert raised"; "event" => &alert.event, "severity" => %alert.severity,
            "dedup_key" => &alert.dedup_key, "resolved" => alert.resolved);
        let future = enqueue(
            self.db.clone(),
            Arc::clone(&self.settings),
            self.clock,
            alert,
            None,
        );
        Box::pin(future.into_actor(self).map(|result, actor, ctx| {
            if let Ok(accepted) = &result
                && !accepted.queued.is_empty()
            {
                actor.request_pass(ctx);
            }
            result
        }))
    }
}

impl Handler<TestRoutes> for AlertActor {
    type Result = ResponseFuture<Result<Vec<RouteTestResult>, AlertError>>;

    fn handle(&mut self, msg: TestRoutes, _ctx: &mut Self::Context) -> Self::Result {
        let routes = Arc::clone(&self.routes);
        let log = self.log.clone();
        Box::pin(async move { send_tests(&routes, msg.route.as_deref(), &log).await })
    }
}

/// Sends a test alert through every route of `routes` (or only `only`) now, without the
/// outbox, and answers each route's result: `alert test` on the command line uses this
/// without an actor system or database.
pub async fn test_routes(
    routes: &[Route],
    only: Option<&str>,
    log: &Logger,
) -> Result<Vec<RouteTestResult>, AlertError> {
    send_tests(&route_entries(routes, log), only, log).await
}

async fn send_tests(
    routes: &BTreeMap<String, RouteEntry>,
    only: Option<&str>,
    log: &Logger,
) -> Result<Vec<RouteTestResult>, AlertError> {
    let chosen: Vec<(&String, &RouteEntry)> = match only {
        Some(name) => match routes.get_key_value(name) {
            Some(chosen) => vec![chosen],
            None => return Err(AlertError::UnknownRoute(name.to_owned())),
        },
        None if routes.is_empty() => return Err(AlertError::NoRoutes),
        None => routes.iter().collect(),
    };
    let created_at_ms = WallClock::system().now_ms();
    let tests = chosen.into_iter().map(|(name, entry)| async move {
        let notice = Notice {
            id: format!("test#{created_at_ms}@{name}"),
            event: "alert_test".to_owned(),
            severity: Severity::Info,
            phase: Phase::Test,
            title: "Test alert from discord-monitor".to_owned(),
            body: format!(
                "This is a test of the alert route `{name}`. If you read this, the route works."
            ),
            fields: vec![("route".to_owned(), name.clone())],
            links: Vec::new(),
            created_at_ms,
        };
        let result = match &entry.sender {
            Ok(sender) => sender
                .send(&notice, Duration::from_secs(entry.route.timeout_secs))
                .await
                .map_err(|err| error_chain(&err)),
            Err(err) => Err(error_chain(err)),
        };
        match &result {
            Ok(()) => info!(log, "Test alert delivered"; "route" => name),
            Err(err) => warn!(log, "Test alert failed"; "route" => name, "error" => err),
        }
        RouteTestResult {
            route: name.clone(),
            ok: result.is_ok(),
            error: result.err(),
        }
    });
    Ok(join_all(tests).await)
}

impl Handler<ListAlerts> for AlertActor {
    type Result = ResponseFuture<Result<Vec<OutboxAlert>, AlertError>>;

    fn handle(&mut self, msg: ListAlerts, _ctx: &mut Self::Context) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move { Ok(db.ask(RecentAlerts { limit: msg.limit }).await?) })
    }
}

/// Splits the alert into outbox rows (one per matching route, `exclude` left out) and stores
/// them.
async fn enqueue(
    db: ComponentHandle<DbActor>,
    settings: Arc<AlertSettings>,
    clock: WallClock,
    alert: Alert,
    exclude: Option<String>,
) -> Result<AlertAccepted, AlertError> {
    let now = clock.now_ms();
    let key = &alert.dedup_key;
    let kind = if alert.resolved { "resolved" } else { "fire" };
    let routes: Vec<&Route> = settings
        .routes
        .iter()
        .filter(|route| alert.severity >= route.min_severity)
        .filter(|route| route.events.is_empty() || route.events.contains(&alert.event))
        .filter(|route| exclude.as_deref() != Some(route.name.as_str()))
        .collect();
    let rows_for = |phase: Phase| -> Vec<NewOutboxAlert> {
        let extras = StoredExtras {
            phase,
            fields: alert.fields.clone(),
            links: alert.links.clone(),
        };
        let fields_json = serde_json::to_string(&extras).unwrap_or_else(|_| "{}".to_owned());
        routes
            .iter()
            .map(|route| NewOutboxAlert {
                dedup_key: format!("{key}#{kind}#{now}@{}", route.name),
                event: alert.event.clone(),
                severity: alert.severity.as_str().to_owned(),
                title: alert.title.clone(),
                body: alert.body.clone(),
                fields_json: fields_json.clone(),
                route: route.name.clone(),
                next_attempt_at_ms: now,
                created_at_ms: now,
            })
            .collect()
    };
    let condition = NewCondition {
        key: key.clone(),
        resolved: alert.resolved,
        now_ms: now,
        cooldown_ms: i64::try_from(settings.cooldown.as_millis()).unwrap_or(i64::MAX),
        first: rows_for(if alert.resolved {
            Phase::Resolved
        } else {
            Phase::Firing
        }),
        reminder: if alert.resolved {
            Vec::new()
        } else {
            rows_for(Phase::Reminder)
        },
    };
    let (decision, stored) = db.ask(EnqueueCondition(condition)).await?;
    let names = routes.iter().map(|route| route.name.clone());
    let phase = match decision {
        ConditionDecision::First => Some(Phase::Firing),
        ConditionDecision::Reminder => Some(Phase::Reminder),
        ConditionDecision::Resolved => Some(Phase::Resolved),
        ConditionDecision::Duplicate if alert.resolved => Some(Phase::Resolved),
        ConditionDecision::Duplicate => Some(Phase::Firing),
        ConditionDecision::NeverFired => None,
    };
    let (queued, duplicate) = match decision {
        ConditionDecision::Duplicate => (Vec::new(), names.collect()),
        ConditionDecision::NeverFired => (Vec::new(), Vec::new()),
        _ => {
            let (mut queued, mut duplicate) = (Vec::new(), Vec::new());
            for (name, enqueued) in names.zip(stored) {
                if enqueued.inserted {
                    queued.push(name);
                } else {
                    duplicate.push(name);
                }
            }
            (queued, duplicate)
        }
    };
    Ok(AlertAccepted {
        queued,
        duplicate,
        phase,
    })
}

/// Logs a delivery the metrics could not count (a route they were not registered with).
fn counted(log: &Logger, recorded: Result<(), MetricsError>) {
    if let Err(err) = recorded {
        warn!(log, "Alert delivery not counted"; "error" => error_chain(&err));
    }
}

struct PassInput {
    db: ComponentHandle<DbActor>,
    routes: Arc<BTreeMap<String, RouteEntry>>,
    guards: Guards,
    settings: Arc<AlertSettings>,
    log: Logger,
    metrics: AlertMetrics,
    clock: WallClock,
}

#[derive(Default)]
struct PassReport {
    next_due_ms: Option<i64>,
    /// Routes whose breaker opened in this pass, with the last error.
    opened: Vec<(String, String)>,
    /// Routes whose breaker closed again.
    recovered: Vec<String>,
    /// The pass read a full page: more rows may be due.
    more: bool,
    error: Option<String>,
}

/// One delivery pass: every due row, routes concurrently.
async fn delivery_pass(input: PassInput) -> PassReport {
    let mut report = PassReport::default();
    let due = match input
        .db
        .ask(DueAlerts {
            now_ms: input.clock.now_ms(),
            limit: ROWS_PER_PASS,
        })
        .await
        .map_err(AlertError::from)
    {
        Ok(due) => due,
        Err(err) => {
            warn!(input.log, "Cannot read alert outbox"; "error" => error_chain(&err));
            report.error = Some(error_chain(&err));
            return report;
        }
    };
    report.more = due.len() as i64 == ROWS_PER_PASS;
    let mut by_route: BTreeMap<String, Vec<OutboxAlert>> = BTreeMap::new();
    for row in due {
        by_route.entry(row.route.clone()).or_default().push(row);
    }
    let results = join_all(
        by_route
            .into_iter()
            .map(|(route, rows)| deliver_route(&input, route, rows)),
    )
    .await;
    for outcome in results {
        report.opened.extend(outcome.opened);
        report.recovered.extend(outcome.recovered);
        if report.error.is_none() {
            report.error = outcome.error;
        }
    }
    match input.db.ask(NextAlertDue).await.map_err(AlertError::from) {
        Ok(next) => report.next_due_ms = next,
        Err(err) => report.error = Some(error_chain(&err)),
    }
    report
}

#[derive(Default)]
struct RouteOutcome {
    opened: Option<(String, String)>,
    recovered: Option<String>,
    error: Option<String>,
}

async fn deliver_route(input: &PassInput, route: String, rows: Vec<OutboxAlert>) -> RouteOutcome {
    let mut outcome = RouteOutcome::default();
    let Some(entry) = input.routes.get(&route) else {
        // The config no longer has this route: nobody can ever deliver these rows.
        for row in rows {
            let give_up = AttemptOutcome::GiveUp {
                error: format!("route `{route}` is not configured"),
            };
            if let Err(err) = record(input, row.id, give_up).await {
                outcome.error = Some(error_chain(&err));
            }
        }
        return outcome;
    };
    for row in rows {
        let gate = {
            let Ok(mut guards) = input.guards.lock() else {
                return outcome;
            };
            let now = Instant::now();
            match guards.get_mut(&route) {
                Some(guard) => guard.breaker.try_acquire().and_then(|()| {
                    // Not sent after all: a half-open breaker's trial stays available.
                    guard
                        .rate
                        .take(now)
                        .inspect_err(|_| guard.breaker.release())
                }),
                None => Ok(()),
            }
        };
        if let Err(wait) = gate {
            // Breaker open or rate limit: this row and the route's later rows wait.
            let next =
                input.clock.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            if let Err(err) = input
                .db
                .ask(PostponeAlert {
                    outbox_id: row.id,
                    next_attempt_at_ms: next,
                })
                .await
                .map_err(AlertError::from)
            {
                outcome.error = Some(error_chain(&err));
            }
            continue;
        }
        let notice = notice_of(&row);
        let result = match &entry.sender {
            Ok(sender) => sender
                .send(&notice, Duration::from_secs(entry.route.timeout_secs))
                .await
                .map_err(|err| (error_chain(&err), retry_after(&err))),
            Err(err) => Err((error_chain(err), None)),
        };
        let attempt =
            match result {
                Ok(()) => {
                    info!(input.log, "Alert delivered"; "route" => &route, "event" => &row.event,
                    "outbox_id" => row.id, "attempt" => row.attempts + 1);
                    let recovered =
                        input.guards.lock().ok().and_then(|mut guards| {
                            guards.get_mut(&route)?.breaker.record_success()
                        }) == Some(Transition::Closed);
                    counted(&input.log, input.metrics.delivered(&route));
                    if recovered {
                        counted(&input.log, input.metrics.breaker_open(&route, false));
                        outcome.recovered = Some(route.clone());
                    }
                    AttemptOutcome::Delivered
                }
                Err((error, retry_after)) => {
                    let attempts = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
                    let delay = input
                        .settings
                        .retry_delay(attempts, rand::random::<f64>())
                        .max(retry_after.unwrap_or_default());
                    warn!(input.log, "Alert delivery failed"; "route" => &route,
                    "event" => &row.event, "outbox_id" => row.id, "attempt" => attempts,
                    "retry_in_ms" => delay.as_millis() as u64, "error" => &error);
                    let transition = input.guards.lock().ok().and_then(|mut guards| {
                        guards
                            .get_mut(&route)?
                            .breaker
                            .record_failure(Failure::Transient)
                    });
                    counted(&input.log, input.metrics.failed(&route));
                    if transition == Some(Transition::Opened) {
                        counted(&input.log, input.metrics.breaker_open(&route, true));
                        outcome.opened = Some((route.clone(), error.clone()));
                    }
                    AttemptOutcome::Retry {
                        error,
                        next_attempt_at_ms: input.clock.now_ms()
                            + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
                    }
                }
            };
        if let Err(err) = record(input, row.id, attempt).await {
            outcome.error = Some(error_chain(&err));
        }
    }
    outcome
}

fn retry_after(err: &SendError) -> Option<Duration> {
    match err {
        SendError::Status {
            retry_after_secs: Some(secs),
            ..
        } => Some(Duration::from_secs(*secs)),
        _ => None,
    }
}

async fn record(
    input: &PassInput,
    outbox_id: i64,
    outcome: AttemptOutcome,
) -> Result<(), AlertError> {
    input
        .db
        .ask(RecordAlertAttempt { outbox_id, outcome })
        .await
        .map_err(AlertError::from)
        .inspect_err(|err| {
            warn!(input.log, "Cannot record alert attempt"; "outbox_id" => outbox_id,
                "error" => error_chain(err));
        })
}

/// The notice an outbox row describes; unreadable extras (a row written by a future version)
/// still deliver title and body.
fn notice_of(row: &OutboxAlert) -> Notice {
    let extras: StoredExtras =
        serde_json::from_str(&row.fields_json).unwrap_or_else(|_| StoredExtras {
            phase: Phase::Firing,
            fields: Vec::new(),
            links: Vec::new(),
        });
    Notice {
        id: row.dedup_key.clone(),
        event: row.event.clone(),
        severity: Severity::parse(&row.severity).unwrap_or(Severity::Error),
        phase: extras.phase,
        title: row.title.clone(),
        body: row.body.clone(),
        fields: extras.fields,
        links: extras.links,
        created_at_ms: row.created_at_ms,
    }
}
