//! The AlertActor against real receivers: loopback HTTP servers for Slack, webhooks and
//! Discord webhooks, a real SQLite outbox in a temporary directory, and (in `smtp_tests`) a
//! real SMTP server.
//!
//! These tests run in real time: the receivers answer from threads of their own, and a paused
//! clock would jump to the next timer (a request's timeout, a retry) whenever this thread
//! waits for them. The actor's outbox clock follows tokio's, so a test that must skip time
//! (a cooldown) pauses the clock while no request is on the way, advances it, and resumes it
//! before the next request leaves.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use super::actor::{AlertActor, AlertSettings, ROUTE_FAILING_EVENT};
use super::clock::WallClock;
use super::config::{Route, RouteTarget, Severity, WebhookTarget};
use super::messages::{Alert, Phase, TestRoutes};
use super::metrics::AlertMetrics;
use super::signature;
use crate::actors::db::{
    Database, DatabaseConfig, DbActor, OutboxAlert, OutboxState, RecentAlerts,
};
use crate::actors::health::HealthActor;
use crate::config::{LogLevel, Secret};
use crate::logging::memory_logger;
use crate::supervisor::{ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy};

/// Generous: the machine is shared by several builds, and the waits are real.
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub(super) struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

/// A loopback HTTP receiver that records every POST and answers `status`.
pub(super) struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<AtomicU16>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::on(listener)
    }

    pub fn on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (log, status_code) = (Arc::clone(&received), Arc::clone(&status));
        let server = HttpServer::new(move || {
            let log = Arc::clone(&log);
            let status_code = Arc::clone(&status_code);
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let log = Arc::clone(&log);
                let status_code = Arc::clone(&status_code);
                async move {
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_owned(),
                                value.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    let status = status_code.load(Ordering::SeqCst);
                    if status == 200 {
                        log.lock().unwrap().push(Received {
                            path: request.path().to_owned(),
                            headers,
                            body: body.to_vec(),
                        });
                    }
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver {
            addr,
            received,
            status,
            server: handle,
        }
    }

    pub fn url(&self, path: &str) -> Secret {
        Secret::new(format!("http://{}{path}", self.addr))
    }

    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|request| request.path == path)
            .cloned()
            .collect()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

pub(super) async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) fn route(name: &str, target: RouteTarget) -> Route {
    Route {
        name: name.to_owned(),
        min_severity: Severity::Info,
        events: Vec::new(),
        max_per_minute: 600,
        timeout_secs: 10,
        target,
    }
}

pub(super) fn settings(routes: Vec<Route>) -> AlertSettings {
    AlertSettings {
        routes,
        cooldown: Duration::from_secs(3_600),
        retry_initial: Duration::from_millis(200),
        retry_max: Duration::from_millis(800),
        breaker_failure_threshold: 100,
        breaker_open: Duration::from_millis(500),
        retention: Duration::from_secs(30 * 86_400),
    }
}

/// A DbActor and an AlertActor on the database file `path`, supervised.
pub(super) struct Service {
    pub db: ComponentHandle<DbActor>,
    pub alerts: ComponentHandle<AlertActor>,
    pub components: ComponentSupervisor,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The AlertActor's outbox clock, following tokio's.
    pub clock: WallClock,
}

impl Service {
    pub fn start(path: &Path, settings: AlertSettings) -> Service {
        crate::tls::install_crypto_provider();
        let (log, _) = memory_logger(LogLevel::Info);
        let health = HealthActor::new(Duration::from_secs(600), &log).start();
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let mut components = ComponentSupervisor::new(health.recipient(), Arc::clone(&metrics));
        let database = Database::open(&DatabaseConfig {
            path: path.to_path_buf(),
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
                    DbActor::new(database.clone(), db_log.clone(), Duration::from_secs(5))
                        .with_lifecycle(lifecycle)
                },
            )
            .unwrap();
        let settings = Arc::new(settings);
        let alert_db = db.clone();
        let alert_metrics = AlertMetrics::register(
            &metrics,
            settings.routes.iter().map(|route| route.name.as_str()),
        )
        .unwrap();
        let clock = WallClock::following_tokio();
        let alerts = components
            .supervise(
                "alerts",
                Readiness::Optional,
                RestartPolicy::default(),
                move |lifecycle| {
                    AlertActor::new(Arc::clone(&settings), alert_db.clone(), lifecycle, &log)
                        .with_metrics(alert_metrics.clone())
                        .with_wall_clock(clock)
                },
            )
            .unwrap();
        Service {
            db,
            alerts,
            components,
            metrics,
            clock,
        }
    }

    pub async fn outbox(&self) -> Vec<OutboxAlert> {
        self.db
            .send(RecentAlerts { limit: 100 })
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn stop(self) {
        self.components.stop_all().await;
    }
}

/// A webhook route named `hook` posting to the receiver's `/hook`.
fn hook_route(receiver: &Receiver) -> Route {
    route(
        "hook",
        RouteTarget::Webhook(WebhookTarget {
            url: receiver.url("/hook"),
            headers: BTreeMap::new(),
            hmac_secret: None,
        }),
    )
}

fn disk_alert() -> Alert {
    Alert::new(
        "disk_full",
        Severity::Warning,
        "Disk almost full",
        "92% of /data used",
    )
    .with_field("volume", "/data")
    .with_link("Dashboard", "https://grafana.example/d/1")
}

#[actix_rt::test]
async fn slack_webhook_and_discord_receive_their_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let mut headers = BTreeMap::new();
    headers.insert("X-Env".to_owned(), Secret::new("prod"));
    let routes = vec![
        route(
            "slack",
            RouteTarget::Slack {
                webhook_url: receiver.url("/slack"),
            },
        ),
        route(
            "hook",
            RouteTarget::Webhook(WebhookTarget {
                url: receiver.url("/hook"),
                headers,
                hmac_secret: Some(Secret::new("zq-shared-secret")),
            }),
        ),
        route(
            "discord",
            RouteTarget::DiscordWebhook {
                url: receiver.url("/discord"),
            },
        ),
        Route {
            events: vec!["watch_match".to_owned()],
            ..route(
                "watches",
                RouteTarget::DiscordWebhook {
                    url: receiver.url("/watches"),
                },
            )
        },
        Route {
            min_severity: Severity::Critical,
            ..route(
                "pager",
                RouteTarget::DiscordWebhook {
                    url: receiver.url("/pager"),
                },
            )
        },
    ];
    let service = Service::start(&dir.path().join("db.sqlite"), settings(routes));

    let accepted = service.alerts.send(disk_alert()).await.unwrap().unwrap();
    assert_eq!(
        accepted.queued,
        ["slack", "hook", "discord"],
        "pager filters warnings"
    );
    assert_eq!(accepted.phase, Some(Phase::Firing));
    wait_until("three deliveries", || async {
        ["/slack", "/hook", "/discord"]
            .iter()
            .all(|path| !receiver.at(path).is_empty())
    })
    .await;

    let slack = receiver.at("/slack")[0].json();
    assert_eq!(slack["text"], "[WARNING] Disk almost full");
    let blocks = &slack["attachments"][0]["blocks"];
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[1]["text"]["text"], "92% of /data used");
    assert_eq!(blocks[2]["fields"][0]["text"], "*volume*\n/data");
    assert_eq!(
        blocks[3]["elements"][0]["url"],
        "https://grafana.example/d/1"
    );

    let hook = &receiver.at("/hook")[0];
    let payload = hook.json();
    assert_eq!(payload["event"], "disk_full");
    assert_eq!(payload["severity"], "warning");
    assert_eq!(payload["phase"], "firing");
    assert_eq!(payload["fields"]["volume"], "/data");
    assert_eq!(payload["links"][0]["label"], "Dashboard");
    assert_eq!(hook.headers["x-env"], "prod");
    assert_eq!(hook.headers["content-type"], "application/json");
    assert_eq!(
        hook.headers["idempotency-key"],
        payload["id"].as_str().unwrap()
    );
    assert_eq!(
        hook.headers["x-signature-256"],
        signature(&Secret::new("zq-shared-secret"), &hook.body)
    );

    let discord = receiver.at("/discord")[0].json();
    assert_eq!(discord["embeds"][0]["title"], "WARNING: Disk almost full");
    assert_eq!(discord["embeds"][0]["description"], "92% of /data used");
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(receiver.at("/pager").is_empty());
    assert!(receiver.at("/watches").is_empty());

    wait_until("rows marked delivered", || async {
        let rows = service.outbox().await;
        rows.len() == 3 && rows.iter().all(|row| row.state == OutboxState::Delivered)
    })
    .await;

    let results = service
        .alerts
        .send(TestRoutes {
            route: Some("hook".to_owned()),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].ok, "{results:?}");
    assert_eq!(receiver.at("/hook").last().unwrap().json()["phase"], "test");
    service.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn duplicates_collapse_then_one_resolved_message() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let routes = vec![hook_route(&receiver)];
    let service = Service::start(&dir.path().join("db.sqlite"), settings(routes));

    let never_fired = service
        .alerts
        .send(disk_alert().resolved())
        .await
        .unwrap()
        .unwrap();
    assert!(never_fired.queued.is_empty() && never_fired.phase.is_none());
    for round in 0..3 {
        let accepted = service.alerts.send(disk_alert()).await.unwrap().unwrap();
        assert_eq!(
            accepted.queued.len(),
            usize::from(round == 0),
            "round {round}"
        );
    }
    for round in 0..2 {
        let accepted = service
            .alerts
            .send(disk_alert().resolved())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(accepted.queued.len(), usize::from(round == 0));
        assert_eq!(accepted.phase, Some(Phase::Resolved));
    }
    // Once every outbox row is delivered nothing else can be sent.
    wait_until("the two notices delivered", || async {
        let rows = service.outbox().await;
        rows.len() == 2 && rows.iter().all(|row| row.state == OutboxState::Delivered)
    })
    .await;
    let phases: Vec<Value> = receiver
        .at("/hook")
        .iter()
        .map(|request| request.json()["phase"].clone())
        .collect();
    assert_eq!(phases, ["firing", "resolved"]);
    service.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_down_receiver_gets_the_alert_after_it_and_the_service_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db.sqlite");
    // Reserve a port, then free it: nothing listens there until the receiver comes back.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Secret::new(format!("http://127.0.0.1:{port}/hook"));
    let hook = |url: &Secret| {
        route(
            "hook",
            RouteTarget::Webhook(WebhookTarget {
                url: url.clone(),
                headers: BTreeMap::new(),
                hmac_secret: None,
            }),
        )
    };

    let service = Service::start(&db_path, settings(vec![hook(&url)]));
    service.alerts.send(disk_alert()).await.unwrap().unwrap();
    wait_until("two failed attempts", || async {
        service
            .outbox()
            .await
            .first()
            .is_some_and(|row| row.attempts >= 2 && row.state == OutboxState::Pending)
    })
    .await;
    let failed = service.outbox().await.remove(0);
    assert!(failed.last_error.is_some());
    service.stop().await;

    // The service restarts on the same file while the receiver is back.
    let receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let service = Service::start(&db_path, settings(vec![hook(&url)]));
    wait_until("delivery after the restart", || async {
        !receiver.at("/hook").is_empty()
    })
    .await;
    wait_until("the row marked delivered", || async {
        service.outbox().await[0].state == OutboxState::Delivered
    })
    .await;
    let row = service.outbox().await.remove(0);
    assert_eq!(row.id, failed.id);
    assert!(row.attempts > failed.attempts);
    assert_eq!(receiver.at("/hook").len(), 1);
    service.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_failing_route_raises_an_alert_on_the_others_and_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = Receiver::start();
    let flaky = Receiver::start();
    flaky.status.store(503, Ordering::SeqCst);
    let hook = |name: &str, receiver: &Receiver| {
        route(
            name,
            RouteTarget::Webhook(WebhookTarget {
                url: receiver.url("/hook"),
                headers: BTreeMap::new(),
                hmac_secret: None,
            }),
        )
    };
    let mut settings = settings(vec![hook("good", &good), hook("flaky", &flaky)]);
    settings.breaker_failure_threshold = 2;
    let service = Service::start(&dir.path().join("db.sqlite"), settings);
    service.alerts.send(disk_alert()).await.unwrap().unwrap();

    let events = |receiver: &Receiver| -> Vec<(String, String)> {
        receiver
            .at("/hook")
            .iter()
            .map(|request| {
                let payload = request.json();
                (
                    payload["event"].as_str().unwrap().to_owned(),
                    payload["phase"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    wait_until("the route-failing alert on the good route", || async {
        events(&good).contains(&(ROUTE_FAILING_EVENT.to_owned(), "firing".to_owned()))
    })
    .await;
    assert!(flaky.at("/hook").is_empty());
    let rendered = service.metrics.render_prometheus();
    assert!(
        rendered.contains("discord_monitor_alert_route_breaker_open{route=\"flaky\"} 1"),
        "{rendered}"
    );
    let failures: f64 = rendered
        .lines()
        .find_map(|line| {
            line.strip_prefix("discord_monitor_alert_delivery_failures_total{route=\"flaky\"} ")
        })
        .and_then(|value| value.parse().ok())
        .unwrap_or_default();
    assert!(failures >= 2.0, "{rendered}");

    flaky.status.store(200, Ordering::SeqCst);
    wait_until(
        "the flaky route catches up and the alert resolves",
        || async {
            !flaky.at("/hook").is_empty()
                && events(&good).contains(&(ROUTE_FAILING_EVENT.to_owned(), "resolved".to_owned()))
        },
    )
    .await;
    assert_eq!(events(&flaky)[0].0, "disk_full");
    let rendered = service.metrics.render_prometheus();
    assert!(
        rendered.contains("discord_monitor_alert_route_breaker_open{route=\"flaky\"} 0"),
        "{rendered}"
    );
    assert!(
        events(&flaky)
            .iter()
            .all(|(event, _)| event != ROUTE_FAILING_EVENT),
        "the failing route is not told about itself"
    );
    service.stop().await;
    good.stop().await;
    flaky.stop().await;
}

#[actix_rt::test]
async fn the_admin_api_tests_routes_and_lists_alerts() {
    use crate::admin::auth::AccessPolicy;
    use crate::admin::{AdminState, ProbeRefresh, ServiceFacts};
    use actix_web::test;

    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let hook = hook_route(&receiver);
    let service = Service::start(&dir.path().join("db.sqlite"), settings(vec![hook]));
    service.alerts.send(disk_alert()).await.unwrap().unwrap();
    let (log, _) = memory_logger(LogLevel::Info);
    let state = web::Data::new(AdminState {
        health: HealthActor::new(Duration::from_secs(600), &log).start(),
        db: service.db.clone(),
        alerts: Some(service.alerts.clone()),
        metrics: Arc::clone(&service.metrics),
        http_metrics: crate::admin::HttpMetrics::register(&service.metrics).unwrap(),
        policy: AccessPolicy::new(Some(Secret::new("zq-admin")), Vec::new()),
        service: ServiceFacts {
            name: "discord-monitor",
            version: "test",
            environment: "development",
            mode: "test",
            started_at: chrono::Utc::now(),
            started: std::time::Instant::now(),
        },
        sanitized_config: serde_json::json!({}),
        discord: None,
        processing_limits: serde_json::json!({}),
        processing: None,
        llm: None,
        backup: None,
        sampler: None,
        log,
        slow_threshold: Duration::from_secs(1),
        probe_refresh: ProbeRefresh::default(),
    });
    let app = test::init_service(
        App::new()
            .app_data(state)
            .configure(crate::admin::configure),
    )
    .await;
    let admin = ("Authorization", "Bearer zq-admin");

    let request = test::TestRequest::post()
        .uri("/api/alerts/test")
        .insert_header(admin)
        .to_request();
    let answer: Value = test::call_and_read_body_json(&app, request).await;
    assert_eq!(
        answer,
        serde_json::json!({"results": [{"route": "hook", "ok": true, "error": null}]})
    );
    let request = test::TestRequest::post()
        .uri("/api/alerts/test")
        .insert_header(admin)
        .set_payload(r#"{"route": "nope"}"#)
        .to_request();
    assert_eq!(test::call_service(&app, request).await.status(), 400);
    let request = test::TestRequest::post()
        .uri("/api/alerts/test")
        .to_request();
    assert_eq!(test::call_service(&app, request).await.status(), 401);
    let request = test::TestRequest::get()
        .uri("/api/alerts/test")
        .insert_header(admin)
        .to_request();
    assert_eq!(test::call_service(&app, request).await.status(), 405);

    wait_until("the alert delivered", || async {
        service.outbox().await[0].state == OutboxState::Delivered
    })
    .await;
    let request = test::TestRequest::get()
        .uri("/api/alerts?limit=5")
        .insert_header(admin)
        .to_request();
    let answer: Value = test::call_and_read_body_json(&app, request).await;
    let alert = &answer["alerts"][0];
    assert_eq!(alert["event"], "disk_full");
    assert_eq!(alert["route"], "hook");
    assert_eq!(alert["state"], "delivered");
    assert_eq!(alert["phase"], "firing");
    assert_eq!(alert["attempts"], 1);
    service.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn ops_rules_reach_the_routes_and_resolve() {
    use crate::actors::backup::BackupOutcome;
    use crate::actors::health::{EnableOpsRules, EvaluateNow, LlmSpend, OpsSources, OpsThresholds};
    use crate::supervisor::{ComponentStatus, ComponentStatusChanged, Readiness};

    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let hook = hook_route(&receiver);
    let service = Service::start(&dir.path().join("db.sqlite"), settings(vec![hook]));
    let (log, _) = memory_logger(LogLevel::Info);
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    let stall = Arc::new(Mutex::new(Duration::ZERO));
    let stall_reading = Arc::clone(&stall);
    let sources = OpsSources {
        pipeline_stall: Some(Arc::new(move || *stall_reading.lock().unwrap())),
        cpu_limit_cores: 1.0,
        ..OpsSources::default()
    };
    let thresholds = OpsThresholds::from_config(&super::config::AlertsConfig::default());
    let ops = health.clone();
    assert_eq!(ops.send(EvaluateNow).await.unwrap(), 0, "not enabled yet");
    health
        .send(EnableOpsRules {
            thresholds,
            // An hour between scheduled evaluations: the test drives them with EvaluateNow.
            interval: Duration::from_secs(3_600),
            sources,
            alerts: service.alerts.recipient(),
        })
        .await
        .unwrap();
    assert_eq!(ops.send(EvaluateNow).await.unwrap(), 0, "all quiet");
    // What the LLM router sends at 80% of its budget.
    ops.send(crate::actors::llm::LlmAlert::Budget {
        level: crate::actors::llm::budget::BudgetLevel::Warning,
        day: "2026-11-28".to_owned(),
        spent_usd: 8.5,
        limit_usd: 10.0,
    })
    .await
    .unwrap();
    ops.send(BackupOutcome {
        error: Some("no space left on device".to_owned()),
    })
    .await
    .unwrap();
    *stall.lock().unwrap() = Duration::from_secs(900);
    health
        .send(ComponentStatusChanged {
            name: "gateway".to_owned(),
            readiness: Readiness::Required,
            status: ComponentStatus::Failed,
            error: Some("token rejected".to_owned()),
            restarts: 5,
            needs_reconfiguration: false,
        })
        .await
        .unwrap();
    assert_eq!(ops.send(EvaluateNow).await.unwrap(), 4);

    let events = |receiver: &Receiver| -> Vec<(String, String)> {
        let mut events: Vec<(String, String)> = receiver
            .at("/hook")
            .iter()
            .map(|request| {
                let payload = request.json();
                (
                    payload["event"].as_str().unwrap().to_owned(),
                    payload["phase"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        events.sort();
        events
    };
    let expected_firing: Vec<(String, String)> = [
        "backup_failed",
        "component_failed",
        "llm_budget_warning",
        "pipeline_stalled",
    ]
    .iter()
    .map(|event| ((*event).to_owned(), "firing".to_owned()))
    .collect();
    wait_until("four ops alerts", || async {
        events(&receiver) == expected_firing
    })
    .await;
    // Raised again while they hold: collapsed, nothing new is sent.
    assert_eq!(ops.send(EvaluateNow).await.unwrap(), 4);

    // A dead LLM key is an alert at once, not at the next evaluation.
    ops.send(crate::actors::llm::LlmAlert::TargetDown {
        target: crate::actors::llm::Target::new("gemini", "gemini-2.5-flash"),
        message: "API_KEY_INVALID".to_owned(),
    })
    .await
    .unwrap();
    wait_until("the llm target alert", || async {
        events(&receiver).contains(&("llm_target_down".to_owned(), "firing".to_owned()))
    })
    .await;

    ops.send(LlmSpend {
        spent_usd: 0.0,
        limit_usd: 10.0,
    })
    .await
    .unwrap();
    ops.send(BackupOutcome { error: None }).await.unwrap();
    *stall.lock().unwrap() = Duration::ZERO;
    health
        .send(ComponentStatusChanged {
            name: "gateway".to_owned(),
            readiness: Readiness::Required,
            status: ComponentStatus::Up,
            error: None,
            restarts: 5,
            needs_reconfiguration: false,
        })
        .await
        .unwrap();
    assert_eq!(ops.send(EvaluateNow).await.unwrap(), 4);
    wait_until("four resolved messages", || async {
        events(&receiver)
            .iter()
            .filter(|(_, phase)| phase == "resolved")
            .count()
            == 4
    })
    .await;
    // Four firing, four resolved, and the LLM target alert (still holding).
    assert_eq!(receiver.at("/hook").len(), 9);
    service.components.stop_all().await;
    receiver.stop().await;
}

/// Facts reach the HealthActor as soon as their producers start, which can be before the
/// wiring enables the rules: they must still count at the first evaluation.
#[actix_rt::test]
async fn facts_pushed_before_the_rules_are_enabled_are_kept() {
    use crate::actors::backup::BackupOutcome;
    use crate::actors::health::{EnableOpsRules, EvaluateNow, OpsSources, OpsThresholds};

    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let hook = hook_route(&receiver);
    let service = Service::start(&dir.path().join("db.sqlite"), settings(vec![hook]));
    let (log, _) = memory_logger(LogLevel::Info);
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    health
        .send(BackupOutcome {
            error: Some("no space left on device".to_owned()),
        })
        .await
        .unwrap();
    health
        .send(EnableOpsRules {
            thresholds: OpsThresholds::from_config(&super::config::AlertsConfig::default()),
            interval: Duration::from_secs(3_600),
            sources: OpsSources::default(),
            alerts: service.alerts.recipient(),
        })
        .await
        .unwrap();
    assert_eq!(health.send(EvaluateNow).await.unwrap(), 1);
    wait_until("the backup alert", || async {
        receiver
            .at("/hook")
            .iter()
            .any(|request| request.json()["event"] == "backup_failed")
    })
    .await;
    service.stop().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_lasting_condition_gets_a_reminder_after_its_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let routes = vec![hook_route(&receiver)];
    let mut settings = settings(routes);
    // Far longer than the real time the first delivery takes, which counts towards it.
    settings.cooldown = Duration::from_secs(600);
    let cooldown_ms = i64::try_from(settings.cooldown.as_millis()).unwrap();
    let service = Service::start(&dir.path().join("db.sqlite"), settings);
    let first = service.alerts.send(disk_alert()).await.unwrap().unwrap();
    assert_eq!(first.phase, Some(Phase::Firing));
    wait_until("the firing notice delivered", || async {
        service.outbox().await[0].state == OutboxState::Delivered
    })
    .await;
    let fired_at_ms = service.outbox().await[0].created_at_ms;

    // Nothing is on the way to the receiver: hold the clock still and skip to the cooldown's
    // last millisecond, then to its end. Raising the alert only writes to the outbox (on the
    // blocking pool, during which a paused clock does not jump).
    tokio::time::pause();
    let to_last_ms = fired_at_ms + cooldown_ms - 1 - service.clock.now_ms();
    tokio::time::advance(Duration::from_millis(u64::try_from(to_last_ms).unwrap())).await;
    let within = service.alerts.send(disk_alert()).await.unwrap().unwrap();
    assert_eq!(within.phase, Some(Phase::Firing));
    assert!(within.queued.is_empty(), "collapsed within the cooldown");
    assert_eq!(within.duplicate, ["hook"]);
    tokio::time::advance(Duration::from_millis(1)).await;
    let reminder = service.alerts.send(disk_alert()).await.unwrap().unwrap();
    // The reminder's delivery starts now: let real time run again before it waits for the
    // receiver.
    tokio::time::resume();
    assert_eq!(reminder.phase, Some(Phase::Reminder));
    assert_eq!(reminder.queued, ["hook"]);
    wait_until("firing and reminder delivered", || async {
        receiver.at("/hook").len() == 2
    })
    .await;
    let second = receiver.at("/hook")[1].json();
    assert_eq!(second["phase"], "reminder");
    assert_ne!(second["id"], receiver.at("/hook")[0].json()["id"]);
    service.stop().await;
    receiver.stop().await;
}
