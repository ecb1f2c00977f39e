//! Supervision end to end on a real actix System: an actor counting its starts, restarts and
//! stops with atomics (as actix's own `tests/test_supervisor.rs` does), failing on demand by
//! `ctx.stop()` or by panicking, reported to a real HealthActor. The System runs on a paused
//! clock ([`PausedSystem`]), so backoffs take no real time and are measured exactly.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use slog::{Logger, o};
use tokio::time::Instant;

use super::*;
use crate::actors::health::{GetHealth, HealthActor, HealthReport};
use crate::metrics::Metrics;

/// Deadline for anything the tests wait for. On the paused clock only timers move time, so
/// it bounds the backoffs waited out; the one test in real time needs the margin on a busy
/// machine.
const GENEROUS_WAIT: Duration = Duration::from_secs(20);

/// No scheduled probe runs during a test.
const QUIET_PROBE_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Default)]
struct Counters {
    built: AtomicUsize,
    started: AtomicUsize,
    restarting: AtomicUsize,
    stopped: AtomicUsize,
    started_at: Mutex<Vec<Instant>>,
    /// Names of stopped actors, in stop order.
    stop_order: Mutex<Vec<String>>,
}

impl Counters {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

struct Worker {
    lifecycle: Lifecycle,
    counters: Arc<Counters>,
    /// State that `restarting()` must reset.
    handled: u32,
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4);
        self.counters.started.fetch_add(1, Ordering::SeqCst);
        self.counters
            .started_at
            .lock()
            .unwrap()
            .push(Instant::now());
        self.lifecycle.up();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.counters.stopped.fetch_add(1, Ordering::SeqCst);
        self.counters
            .stop_order
            .lock()
            .unwrap()
            .push(self.lifecycle.name().to_owned());
    }
}

impl Supervised for Worker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.counters.restarting.fetch_add(1, Ordering::SeqCst);
        self.handled = 0;
    }
}

/// Counts handled messages since the last (re)start.
#[derive(Message)]
#[rtype(result = "u32")]
struct Work;

impl Handler<Work> for Worker {
    type Result = u32;

    fn handle(&mut self, _msg: Work, _ctx: &mut Context<Self>) -> u32 {
        self.handled += 1;
        self.handled
    }
}

/// Fails the way handlers should: records the error, stops, still answers.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
struct Fail;

impl Handler<Fail> for Worker {
    type Result = Result<(), String>;

    fn handle(&mut self, _msg: Fail, ctx: &mut Context<Self>) -> Self::Result {
        let error = "disk full".to_owned();
        self.lifecycle.fail(ctx, &error);
        Err(error)
    }
}

/// Fails the way handlers must not, but sometimes do.
#[derive(Message)]
#[rtype(result = "()")]
struct Panic;

impl Handler<Panic> for Worker {
    type Result = ();

    fn handle(&mut self, _msg: Panic, _ctx: &mut Context<Self>) {
        panic!("handler bug");
    }
}

/// Keeps the actor busy (no message handled) for the given time.
#[derive(Message)]
#[rtype(result = "()")]
struct Stall(Duration);

impl Handler<Stall> for Worker {
    type Result = ();

    fn handle(&mut self, msg: Stall, ctx: &mut Context<Self>) {
        ctx.wait(fut::wrap_future(actix_rt::time::sleep(msg.0)));
    }
}

/// The System of these tests, on a runtime whose clock starts paused: time moves only when
/// every task waits (tokio then jumps to the next timer) or a test sleeps. Starting paused,
/// rather than calling `tokio::time::pause()` in the test, puts the clock on tokio's
/// millisecond timer grid, so a timer fires at its deadline rather than up to a millisecond
/// after it.
struct PausedSystem;

impl PausedSystem {
    #[allow(clippy::new_ret_no_self)] // `#[actix_rt::test(system = ..)]` calls `new()` for a runner
    fn new() -> actix_rt::SystemRunner {
        actix_rt::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("a current-thread runtime")
        })
    }
}

fn worker_factory(counters: &Arc<Counters>) -> impl Fn(Lifecycle) -> Worker + Send + 'static {
    let counters = Arc::clone(counters);
    move |lifecycle| {
        counters.built.fetch_add(1, Ordering::SeqCst);
        Worker {
            lifecycle,
            counters: Arc::clone(&counters),
            handled: 0,
        }
    }
}

fn fast_policy() -> RestartPolicy {
    RestartPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_restarts: 10,
        window: Duration::from_secs(60),
    }
}

/// Longer than any backoff of [`fast_policy`]: a restart that was coming has happened.
fn past_any_backoff() -> Duration {
    fast_policy().max_backoff * 2
}

fn health_actor() -> Addr<HealthActor> {
    HealthActor::new(QUIET_PROBE_INTERVAL, &Logger::root(slog::Discard, o!())).start()
}

async fn health_report(health: &Addr<HealthActor>) -> HealthReport {
    health
        .send(GetHealth {
            refresh_probes: false,
        })
        .await
        .unwrap()
}

/// Polls `check` until it yields a value, failing the test after [`GENEROUS_WAIT`].
async fn eventually<T, Fut>(what: &str, mut check: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + GENEROUS_WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the HealthActor shows `name` in `status`.
async fn health_shows(
    health: &Addr<HealthActor>,
    name: &str,
    status: ComponentStatus,
) -> HealthReport {
    eventually(
        &format!("{name} to be {status} in the health report"),
        || async {
            let report = health_report(health).await;
            (report.components.get(name)?.status == status).then_some(report)
        },
    )
    .await
}

#[actix_rt::test(system = "PausedSystem")]
async fn stopped_actor_is_restarted_with_its_state_reset_and_mailbox_kept() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let worker = supervise(
        "worker",
        Readiness::Required,
        fast_policy(),
        health.clone().recipient(),
        worker_factory(&counters),
    );

    assert_eq!(worker.send(Work).await.unwrap(), 1);
    assert_eq!(worker.send(Work).await.unwrap(), 2);
    assert_eq!(worker.status(), ComponentStatus::Up);
    let raw_addr = worker.addr().unwrap();

    assert_eq!(
        worker.send(Fail).await.unwrap(),
        Err("disk full".to_owned())
    );
    // Queued while the actor backs off, handled after the restart.
    let queued = worker.send(Work);
    assert_eq!(queued.await.unwrap(), 1, "restarting() reset the state");
    assert_eq!(worker.send(Work).await.unwrap(), 2);
    assert_eq!(
        raw_addr.send(Work).await.unwrap(),
        3,
        "the same instance and mailbox serve after a stop"
    );

    assert_eq!(Counters::get(&counters.built), 1);
    assert_eq!(Counters::get(&counters.started), 2);
    assert_eq!(Counters::get(&counters.restarting), 1);
    assert_eq!(Counters::get(&counters.stopped), 1);
    assert_eq!(worker.restarts(), 1);

    let report = health_shows(&health, "worker", ComponentStatus::Up).await;
    let component = &report.components["worker"];
    assert_eq!(component.restarts, 1);
    assert_eq!(component.last_error.as_deref(), Some("disk full"));
    assert!(report.ready);
}

#[actix_rt::test(system = "PausedSystem")]
async fn panicked_actor_is_rebuilt_from_its_factory() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let worker = supervise(
        "worker",
        Readiness::Required,
        fast_policy(),
        health.clone().recipient(),
        worker_factory(&counters),
    );
    let work_recipient = worker.recipient::<Work>();
    assert_eq!(worker.send(Work).await.unwrap(), 1);
    assert_eq!(work_recipient.send(Work).await.unwrap(), 2);
    let first_addr = worker.addr().unwrap();

    let error = worker.send(Panic).await.unwrap_err();
    assert!(
        matches!(error, ComponentError::Unavailable(ref name) if name == "worker"),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(
        !first_addr.connected(),
        "the dead actor's mailbox is closed"
    );

    let handled = eventually("the rebuilt worker to answer", || async {
        worker.send(Work).await.ok()
    })
    .await;
    assert_eq!(handled, 1, "a fresh instance");
    assert_eq!(
        work_recipient.send(Work).await.unwrap(),
        2,
        "recipients follow the rebuilt actor"
    );

    assert_eq!(Counters::get(&counters.built), 2);
    assert_eq!(Counters::get(&counters.started), 2);
    assert_eq!(
        Counters::get(&counters.restarting),
        0,
        "a panicked instance is never reused"
    );
    let report = health_shows(&health, "worker", ComponentStatus::Up).await;
    let component = &report.components["worker"];
    assert_eq!(component.restarts, 1);
    assert_eq!(
        component.last_error.as_deref(),
        Some("panicked: handler bug")
    );
}

#[actix_rt::test(system = "PausedSystem")]
async fn backoff_grows_between_consecutive_restarts() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(5),
        ..fast_policy()
    };
    let worker = supervise(
        "worker",
        Readiness::Required,
        policy,
        health.clone().recipient(),
        worker_factory(&counters),
    );

    for _ in 0..4 {
        assert_eq!(
            worker.send(Fail).await.unwrap(),
            Err("disk full".to_owned())
        );
    }
    assert_eq!(worker.send(Work).await.unwrap(), 1);

    let started_at = counters.started_at.lock().unwrap().clone();
    assert_eq!(started_at.len(), 5);
    let gaps: Vec<Duration> = started_at.windows(2).map(|w| w[1] - w[0]).collect();
    for (nth, gap) in (1..).zip(&gaps) {
        // Each start follows the previous one by its jittered backoff, up to a quarter
        // shorter than the policy's and rounded up to tokio's millisecond tick (the Fail
        // queued meanwhile is handled at once).
        let (floor, ceiling) = (policy.backoff(nth).mul_f64(0.75), policy.backoff(nth));
        assert!(
            floor <= *gap && *gap <= ceiling,
            "restart {nth}: {gap:?} not in {floor:?}..={ceiling:?} ({gaps:?})"
        );
    }
    assert!(
        gaps.windows(2).all(|pair| pair[0] < pair[1]),
        "each wait longer than the last: {gaps:?}"
    );
    assert_eq!(worker.restarts(), 4);
}

#[actix_rt::test(system = "PausedSystem")]
async fn spent_budget_marks_the_component_failed_and_stops_restarting() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let policy = RestartPolicy {
        max_restarts: 2,
        ..fast_policy()
    };
    let worker = supervise(
        "worker",
        Readiness::Required,
        policy,
        health.clone().recipient(),
        worker_factory(&counters),
    );
    let raw_addr = worker.addr().unwrap();
    assert!(
        health_shows(&health, "worker", ComponentStatus::Up)
            .await
            .ready
    );

    for _ in 0..3 {
        assert!(matches!(
            worker.ask(Fail).await,
            Err(AskError::Reply(error)) if error == "disk full"
        ));
    }
    eventually("the worker to be marked failed", || async {
        (worker.status() == ComponentStatus::Failed).then_some(())
    })
    .await;

    let report = health_shows(&health, "worker", ComponentStatus::Failed).await;
    assert!(!report.ready);
    assert!(!report.live);
    assert_eq!(report.components["worker"].restarts, 2);
    assert_eq!(
        report.components["worker"].last_error.as_deref(),
        Some("disk full")
    );
    assert_eq!(
        report.not_ready_reasons,
        vec!["component worker is failed".to_owned()]
    );

    assert!(matches!(
        worker.send(Work).await,
        Err(ComponentError::Failed(_))
    ));
    assert!(matches!(
        worker.try_send(Work),
        Err(ComponentError::Failed(_))
    ));
    assert!(matches!(
        worker.recipient::<Work>().send(Work).await,
        Err(ComponentError::Failed(_))
    ));
    assert!(matches!(
        worker.ask(Fail).await,
        Err(AskError::Component(ComponentError::Failed(_)))
    ));
    assert!(matches!(
        worker.recipient::<Fail>().ask(Fail).await,
        Err(AskError::Component(ComponentError::Failed(_)))
    ));
    assert!(
        raw_addr.send(Work).await.is_err(),
        "raw addresses are closed too, not restarted"
    );
    let failure = worker.addr().unwrap_err();
    assert!(!failure.is_retryable());
    assert_eq!(
        failure.to_string(),
        "component worker has failed and is no longer restarted"
    );

    actix_rt::time::sleep(past_any_backoff()).await;
    assert_eq!(
        Counters::get(&counters.started),
        3,
        "no restart after failing"
    );
    assert_eq!(Counters::get(&counters.restarting), 2);
    assert_eq!(Counters::get(&counters.stopped), 3);

    worker.stop().await;
    assert_eq!(
        worker.status(),
        ComponentStatus::Failed,
        "failed stays failed"
    );
}

#[actix_rt::test(system = "PausedSystem")]
async fn factory_panic_counts_as_a_failure_and_is_retried() {
    let health = health_actor();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counters = Arc::new(Counters::default());
    let build_worker = worker_factory(&counters);
    let factory_attempts = Arc::clone(&attempts);
    let worker = supervise(
        "worker",
        Readiness::Required,
        fast_policy(),
        health.clone().recipient(),
        move |lifecycle| {
            if factory_attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("configuration not loaded");
            }
            build_worker(lifecycle)
        },
    );

    let handled = eventually("the worker to be built", || async {
        worker.send(Work).await.ok()
    })
    .await;
    assert_eq!(handled, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let report = health_shows(&health, "worker", ComponentStatus::Up).await;
    assert_eq!(
        report.components["worker"].last_error.as_deref(),
        Some("panicked while being built: configuration not loaded")
    );
}

#[actix_rt::test(system = "PausedSystem")]
async fn try_send_reports_a_full_mailbox() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let worker = supervise(
        "worker",
        Readiness::Required,
        fast_policy(),
        health.recipient(),
        worker_factory(&counters),
    );
    assert_eq!(worker.send(Work).await.unwrap(), 1);
    worker.send(Stall(Duration::from_secs(2))).await.unwrap();

    let mut accepted = 0;
    let error = loop {
        match worker.try_send(Work) {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted < 100, "the mailbox (capacity 4) never filled");
    };
    assert!(
        matches!(error, ComponentError::MailboxFull(ref name) if name == "worker"),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[actix_rt::test(system = "PausedSystem")]
async fn stop_all_stops_every_component_in_reverse_order_without_restart() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let metrics = Arc::new(Metrics::new());
    let mut components = ComponentSupervisor::new(health.clone().recipient(), Arc::clone(&metrics));
    let storage = components
        .supervise(
            "storage",
            Readiness::Required,
            fast_policy(),
            worker_factory(&counters),
        )
        .unwrap();
    let intake = components
        .supervise(
            "intake",
            Readiness::Optional,
            fast_policy(),
            worker_factory(&counters),
        )
        .unwrap();
    assert_eq!(storage.send(Work).await.unwrap(), 1);
    assert_eq!(intake.send(Work).await.unwrap(), 1);
    let report = health_shows(&health, "intake", ComponentStatus::Up).await;
    assert!(report.components["storage"].required);
    assert!(
        !report.components["intake"].required,
        "the readiness given to supervise reaches the HealthActor with the first report"
    );
    let text = metrics.render_prometheus();
    for series in [
        r#"discord_monitor_component_up{component="storage"} 1"#,
        r#"discord_monitor_component_up{component="intake"} 1"#,
        r#"discord_monitor_component_restarts_total{component="storage"} 0"#,
        r#"discord_monitor_component_restarts_total{component="intake"} 0"#,
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }

    actix_rt::time::timeout(GENEROUS_WAIT, components.stop_all())
        .await
        .expect("stop_all finished");

    assert_eq!(storage.status(), ComponentStatus::Stopped);
    assert_eq!(intake.status(), ComponentStatus::Stopped);
    assert_eq!(
        *counters.stop_order.lock().unwrap(),
        ["intake", "storage"],
        "last started, first stopped"
    );
    assert!(matches!(
        storage.send(Work).await,
        Err(ComponentError::Stopped(_))
    ));
    actix_rt::time::sleep(past_any_backoff()).await;
    assert_eq!(
        Counters::get(&counters.started),
        2,
        "no restart after a stop"
    );
    assert_eq!(Counters::get(&counters.restarting), 0);
    health_shows(&health, "intake", ComponentStatus::Stopped).await;
    health_shows(&health, "storage", ComponentStatus::Stopped).await;
}

#[actix_rt::test(system = "PausedSystem")]
async fn stop_during_backoff_ends_without_restart() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let policy = RestartPolicy {
        initial_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        ..fast_policy()
    };
    let worker = supervise(
        "worker",
        Readiness::Required,
        policy,
        health.recipient(),
        worker_factory(&counters),
    );
    assert_eq!(
        worker.send(Fail).await.unwrap(),
        Err("disk full".to_owned())
    );
    assert_eq!(worker.status(), ComponentStatus::Restarting);

    let asked = Instant::now();
    worker.stop().await;
    assert_eq!(
        asked.elapsed(),
        Duration::ZERO,
        "stop did not wait out the minute of backoff"
    );
    assert_eq!(worker.status(), ComponentStatus::Stopped);
    assert_eq!(Counters::get(&counters.started), 1);
    assert_eq!(Counters::get(&counters.restarting), 0);
}

#[actix_rt::test(system = "PausedSystem")]
async fn degraded_and_up_are_reported() {
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let lifecycle_out = Arc::new(Mutex::new(None));
    let build_worker = worker_factory(&counters);
    let keep_lifecycle = Arc::clone(&lifecycle_out);
    let worker = supervise(
        "llm",
        Readiness::Optional,
        fast_policy(),
        health.clone().recipient(),
        move |lifecycle: Lifecycle| {
            *keep_lifecycle.lock().unwrap() = Some(lifecycle.clone());
            build_worker(lifecycle)
        },
    );
    assert_eq!(worker.send(Work).await.unwrap(), 1);
    let lifecycle = lifecycle_out.lock().unwrap().clone().unwrap();
    assert_eq!(lifecycle.name(), "llm");

    lifecycle.degraded("primary provider rate limited; using fallback");
    assert_eq!(worker.status(), ComponentStatus::Degraded);
    let report = health_shows(&health, "llm", ComponentStatus::Degraded).await;
    assert!(report.ready, "degraded still serves");
    assert_eq!(
        report.components["llm"].last_error.as_deref(),
        Some("primary provider rate limited; using fallback")
    );

    lifecycle.up();
    health_shows(&health, "llm", ComponentStatus::Up).await;
}

/// In real time: the component runs on another arbiter's thread, whose runtime has a clock of
/// its own; a paused clock here would jump ahead whenever this thread waits for that one.
#[actix_rt::test]
async fn component_on_another_arbiter_is_supervised_there() {
    let arbiter = Arbiter::new();
    let health = health_actor();
    let counters = Arc::new(Counters::default());
    let worker = supervise_in(
        &arbiter.handle(),
        "worker",
        Readiness::Required,
        fast_policy(),
        health.clone().recipient(),
        worker_factory(&counters),
    );
    assert_eq!(worker.send(Work).await.unwrap(), 1);
    assert!(worker.send(Panic).await.is_err());
    let handled = eventually("the rebuilt worker to answer", || async {
        worker.send(Work).await.ok()
    })
    .await;
    assert_eq!(handled, 1);
    assert_eq!(Counters::get(&counters.built), 2);

    actix_rt::time::timeout(GENEROUS_WAIT, worker.stop())
        .await
        .expect("stopped");
    health_shows(&health, "worker", ComponentStatus::Stopped).await;
    arbiter.stop();
}

/// A HealthActor stand-in whose mailbox holds one message and which handles nothing for a
/// while, so status reports pile up.
struct SlowStatusSink {
    stall: Duration,
    seen: Arc<Mutex<Vec<ComponentStatusChanged>>>,
}

impl Actor for SlowStatusSink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1);
        ctx.wait(fut::wrap_future(actix_rt::time::sleep(self.stall)));
    }
}

impl Handler<ComponentStatusChanged> for SlowStatusSink {
    type Result = ();

    fn handle(&mut self, msg: ComponentStatusChanged, _ctx: &mut Context<Self>) {
        self.seen.lock().unwrap().push(msg);
    }
}

#[actix_rt::test(system = "PausedSystem")]
async fn newest_status_reaches_a_busy_health_actor() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = SlowStatusSink {
        stall: Duration::from_millis(300),
        seen: Arc::clone(&seen),
    }
    .start();
    let counters = Arc::new(Counters::default());
    let worker = supervise(
        "worker",
        Readiness::Required,
        fast_policy(),
        sink.recipient(),
        worker_factory(&counters),
    );
    for _ in 0..3 {
        assert_eq!(
            worker.send(Fail).await.unwrap(),
            Err("disk full".to_owned())
        );
    }
    assert_eq!(worker.send(Work).await.unwrap(), 1);

    let newest = eventually("the newest status to be delivered", || async {
        let seen = seen.lock().unwrap();
        seen.last()
            .filter(|newest| newest.status == ComponentStatus::Up && newest.restarts == 3)
            .cloned()
    })
    .await;
    assert_eq!(newest.name, "worker");
    let seen = seen.lock().unwrap();
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].restarts <= pair[1].restarts),
        "snapshots arrive in order: {seen:?}"
    );
}

/// A plain actor that stops on any message after the first.
struct OneShot;

impl Actor for OneShot {
    type Context = Context<Self>;
}

impl Handler<Work> for OneShot {
    type Result = u32;

    fn handle(&mut self, _msg: Work, ctx: &mut Context<Self>) -> u32 {
        ctx.stop();
        1
    }
}

#[actix_rt::test(system = "PausedSystem")]
async fn an_unsupervised_recipient_answers_and_reports_a_stopped_actor() {
    let recipient = ComponentRecipient::unsupervised("plain", OneShot.start().recipient::<Work>());
    assert_eq!(recipient.send(Work).await.unwrap(), 1);
    let error = eventually("the stopped actor to be reported", || async {
        recipient.send(Work).await.err()
    })
    .await;
    assert!(
        matches!(error, ComponentError::Stopped(ref name) if name == "plain"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}
