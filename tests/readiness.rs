//! Readiness over HTTP follows the supervisor: the real actor system (HealthActor, supervised
//! DbActor, a supervised component that fails on demand) behind the real admin server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web;
use discord_monitor::actors::db::DatabaseConfig;
use discord_monitor::actors::db::{Database, DbActor};
use discord_monitor::actors::health::HealthActor;
use discord_monitor::admin::auth::AccessPolicy;
use discord_monitor::admin::{AdminState, HttpMetrics, ProbeRefresh, ServiceFacts};
use discord_monitor::config::LogLevel;
use discord_monitor::logging::memory_logger;
use discord_monitor::metrics::Metrics;
use discord_monitor::supervisor::{ComponentSupervisor, Lifecycle, Readiness, RestartPolicy};
use serde_json::{Value, json};
use support::{free_port, get_json};

/// Far above what an idle machine needs, so a busy one does not fail the test.
const GENEROUS_WAIT: Duration = Duration::from_secs(30);

/// A component that fails (through `ctx.stop()`, the supervised way) when asked to.
struct Flaky {
    lifecycle: Lifecycle,
    starts: Arc<AtomicUsize>,
}

impl Actor for Flaky {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.lifecycle.up();
    }
}

impl Supervised for Flaky {}

#[derive(Message)]
#[rtype(result = "Result<(), String>")]
struct FailNow;

impl Handler<FailNow> for Flaky {
    type Result = Result<(), String>;

    fn handle(&mut self, _: FailNow, ctx: &mut Context<Self>) -> Self::Result {
        let error = "upstream connection refused".to_owned();
        self.lifecycle.fail(ctx, &error);
        Err(error)
    }
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + GENEROUS_WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn restarts_are_reported_and_a_spent_budget_turns_readiness_off() {
    let dir = tempfile::tempdir().unwrap();
    let (log, logs) = memory_logger(LogLevel::Debug);
    let health = HealthActor::new(Duration::from_millis(200), &log).start();
    let metrics = Arc::new(Metrics::new());
    let mut components = ComponentSupervisor::new(health.clone().recipient(), Arc::clone(&metrics));

    let database = Database::open(&DatabaseConfig {
        path: dir.path().join("db.sqlite"),
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
                DbActor::new(database.clone(), db_log.clone(), Duration::from_secs(1))
                    .with_lifecycle(lifecycle)
            },
        )
        .unwrap();

    let starts = Arc::new(AtomicUsize::new(0));
    let flaky_starts = Arc::clone(&starts);
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_restarts: 2,
        window: Duration::from_secs(600),
    };
    let flaky = components
        .supervise("flaky", Readiness::Required, policy, move |lifecycle| {
            Flaky {
                lifecycle,
                starts: Arc::clone(&flaky_starts),
            }
        })
        .unwrap();

    let port = free_port();
    let state = web::Data::new(AdminState {
        health: health.clone(),
        db,
        alerts: None,
        http_metrics: HttpMetrics::register(&metrics).unwrap(),
        metrics,
        policy: AccessPolicy::new(None, Vec::new()),
        service: ServiceFacts {
            name: "discord-monitor",
            version: "test",
            environment: "development",
            mode: "test",
            started_at: chrono::Utc::now(),
            started: Instant::now(),
        },
        sanitized_config: json!({}),
        discord: None,
        processing_limits: json!({}),
        processing: None,
        llm: None,
        backup: None,
        sampler: None,
        log: log.new(slog::o!("logger" => "http")),
        slow_threshold: Duration::from_secs(1),
        probe_refresh: ProbeRefresh::default(),
    });
    let (server, handle) = discord_monitor::admin::start(
        state,
        ("127.0.0.1".to_owned(), port),
        1024,
        Duration::from_secs(1),
    )
    .unwrap();
    actix_rt::spawn(server);
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let detailed = async || get_json(&url("/health/detailed"), None).await.1;
    let flaky_field =
        |report: &Value, field: &str| report["health"]["components"]["flaky"][field].clone();

    wait_until("ready", async || {
        get_json(&url("/health/ready"), None).await.0 == 200
    })
    .await;

    // One failure: restarted after the backoff, counted, and ready again.
    assert!(flaky.send(FailNow).await.unwrap().is_err());
    wait_until("first restart", async || {
        let report = detailed().await;
        flaky_field(&report, "restarts") == json!(1)
            && flaky_field(&report, "status") == json!("up")
    })
    .await;
    let report = detailed().await;
    assert_eq!(
        flaky_field(&report, "last_error"),
        json!("upstream connection refused")
    );
    wait_until("ready again", async || {
        get_json(&url("/health/ready"), None).await.0 == 200
    })
    .await;

    // Two more failures: the budget (2 restarts) is spent, the component is failed for good.
    assert!(flaky.send(FailNow).await.unwrap().is_err());
    wait_until("second restart", async || {
        flaky_field(&detailed().await, "restarts") == json!(2)
    })
    .await;
    wait_until("up after the second restart", async || {
        flaky_field(&detailed().await, "status") == json!("up")
    })
    .await;
    assert!(flaky.send(FailNow).await.unwrap().is_err());
    wait_until("failed", async || {
        flaky_field(&detailed().await, "status") == json!("failed")
    })
    .await;

    let (status, body) = get_json(&url("/health/ready"), None).await;
    assert_eq!(status, 503, "{body}");
    let reasons = body["failing"].to_string();
    assert!(reasons.contains("flaky"), "{body}");
    let (status, _) = get_json(&url("/health/live"), None).await;
    assert_eq!(
        status, 503,
        "a required component failed for good: restart the process"
    );

    // No restart loop: the starts stay put and sends answer at once.
    let starts_when_failed = starts.load(Ordering::SeqCst);
    assert_eq!(starts_when_failed, 3);
    assert!(flaky.send(FailNow).await.is_err());
    // Past any backoff of the policy on tokio's clock, paused meanwhile: no request is on the
    // way to the admin server, whose threads keep real time.
    tokio::time::pause();
    actix_rt::time::sleep(policy.max_backoff * 4).await;
    tokio::time::resume();
    assert_eq!(starts.load(Ordering::SeqCst), starts_when_failed);

    // The database stayed up throughout.
    assert_eq!(
        detailed().await["health"]["components"]["database"]["status"],
        "up"
    );
    handle.stop(true).await;
    components.stop_all().await;
    support::assert_no_secrets(&logs.text(), "in-process logs");
}
