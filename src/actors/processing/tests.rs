//! The pipeline with its real parts (a supervised DbActor on a SQLite file, supervised
//! workers, the manager) and a model actor that the test scripts: a wedged call and the
//! restart that frees the batch. The clock is the real one with short intervals: SQLite works
//! on the blocking pool, which a paused clock would race past.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};

use super::triage::{Triage, TriageConfig};
use super::{
    ProcessingActor, ProcessingMetrics, ProcessingSettings, ProcessingShared, ProcessingStalled,
    TriageWorker, WorkerSettings,
};
use crate::actors::db::test_support::{CHANNEL_A, message};
use crate::actors::db::{Database, DatabaseConfig, DbActor, FindingQuery, StoreMessages};
use crate::actors::health::HealthActor;
use crate::actors::llm::{Complete, LlmAnswer, LlmError, StructuredMode, Target, Usage};
use crate::config::LogLevel;
use crate::logging::memory_logger;
use crate::metrics::Metrics;
use crate::supervisor::{ComponentRecipient, ComponentSupervisor, Readiness, RestartPolicy};

/// A model whose first call never returns (a wedged connection); later calls answer every
/// numbered line with importance 6.
struct WedgedOnce {
    calls: Arc<AtomicUsize>,
}

impl Actor for WedgedOnce {
    type Context = Context<Self>;
}

impl Handler<Complete> for WedgedOnce {
    type Result = ResponseFuture<Result<LlmAnswer, LlmError>>;

    fn handle(&mut self, msg: Complete, _ctx: &mut Context<Self>) -> Self::Result {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if call == 0 {
                std::future::pending::<()>().await;
            }
            let items: Vec<Value> = msg
                .request
                .parts
                .iter()
                .filter_map(|line| line.strip_prefix('[')?.split_once(']'))
                .filter_map(|(number, _)| number.parse::<u64>().ok())
                .map(|number| {
                    json!({"i": number, "imp": 6, "urg": "medium", "cat": "decision",
                           "att": false, "why": "fine"})
                })
                .collect();
            Ok(LlmAnswer {
                target: Target::new("fake", "model"),
                text: String::new(),
                json: Some(json!({ "items": items })),
                usage: Usage::default(),
                cost_usd: 0.003,
                latency_ms: 1,
                attempts: Vec::new(),
                prompt_truncated: false,
                structured_output: Some(StructuredMode::JsonSchema),
            })
        })
    }
}

/// Keeps every stall the manager reports.
struct Stalls(Arc<Mutex<Vec<ProcessingStalled>>>);

impl Actor for Stalls {
    type Context = Context<Self>;
}

impl Handler<ProcessingStalled> for Stalls {
    type Result = ();

    fn handle(&mut self, msg: ProcessingStalled, _ctx: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg);
    }
}

#[actix_rt::test]
async fn a_wedged_worker_is_restarted_and_its_messages_are_scored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = memory_logger(LogLevel::Info);
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    let registry = Arc::new(Metrics::new());
    let mut components = ComponentSupervisor::new(health.recipient(), Arc::clone(&registry));
    let database = Database::open(&DatabaseConfig {
        path: dir.path().join("db.sqlite"),
        ..DatabaseConfig::default()
    })
    .unwrap();
    let reader = database.clone();
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
    let stored = (1..=3)
        .map(|n| message(n, CHANNEL_A, &format!("should we ship release {n} today?")))
        .collect();
    db.ask(StoreMessages { messages: stored }).await.unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let model = WedgedOnce {
        calls: Arc::clone(&calls),
    }
    .start();
    let stalls = Arc::new(Mutex::new(Vec::new()));
    let stall_recipient = Stalls(Arc::clone(&stalls)).start().recipient();

    let shared = ProcessingShared::new(100, 2, &["triage_worker_0".to_owned()]);
    let metrics = ProcessingMetrics::register(&registry, &shared).unwrap();
    let triage = Arc::new(Triage::new(TriageConfig::default()).unwrap());
    let settings = Arc::new(WorkerSettings {
        triage: Arc::clone(&triage),
        model: Some(ComponentRecipient::unsupervised(
            "llm_router",
            model.recipient(),
        )),
    });
    let fast = RestartPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(20),
        max_restarts: 5,
        window: Duration::from_secs(60),
    };
    let worker = {
        let (shared, db, log) = (Arc::clone(&shared), db.clone(), log.clone());
        components
            .supervise(
                "triage_worker_0",
                Readiness::Optional,
                fast,
                move |lifecycle| {
                    TriageWorker::new(
                        0,
                        Arc::clone(&shared),
                        Arc::clone(&settings),
                        db.clone(),
                        metrics.clone(),
                        lifecycle,
                        &log,
                    )
                },
            )
            .unwrap()
    };
    let manager_settings = ProcessingSettings {
        batch_size: 10,
        batch_max_wait: Duration::ZERO,
        stall_timeout: Duration::from_millis(300),
        rescore_after_degraded: false,
        model_configured: true,
        watch_interval: Duration::from_millis(50),
        full_sweep_interval: Duration::from_millis(200),
    };
    let _manager = {
        let (shared, db, workers) = (Arc::clone(&shared), db.clone(), vec![worker.clone()]);
        components
            .supervise("processing", Readiness::Optional, fast, move |lifecycle| {
                ProcessingActor::new(
                    Arc::clone(&shared),
                    Arc::clone(&triage),
                    db.clone(),
                    manager_settings.clone(),
                    workers.clone(),
                    None,
                    Some(stall_recipient.clone()),
                    lifecycle,
                    &log,
                )
            })
            .unwrap()
    };

    let all = FindingQuery::new(1, None, None, None, None, 100).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let found = reader.query_findings(&all).unwrap();
            if found.len() == 3 {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the batch is scored after the restart");
    assert!(
        found.iter().all(|finding| finding.method == "llm"),
        "{found:?}"
    );
    assert!(found.iter().all(|finding| finding.importance == 6));
    assert_eq!(worker.restarts(), 1, "restarted through its supervisor");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the wedged call, then one more"
    );
    assert_eq!(shared.counters.stalls.load(Ordering::SeqCst), 1);
    let reported = stalls.lock().unwrap().clone();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].worker, "triage_worker_0");
    assert!(reported[0].stalled_for >= Duration::from_millis(300));
    assert_eq!(reader.backlog_figures().unwrap().size, 0);
    assert_eq!(shared.depth(), 0, "the room of the dropped batch came back");
}
