//! HealthActor behaviour through its messages: readiness from components, probes and
//! shutdown, and the level each change is logged at.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use slog::{Drain, Level, Logger, Never, OwnedKVList, Record, o};

use super::*;
use crate::supervisor::{ComponentStatus, ComponentStatusChanged, Readiness};

/// Long enough that no scheduled probe run interferes with a test; runs are requested with
/// `refresh_probes` instead.
const QUIET_PROBE_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<(Level, String)>>>);

impl Drain for CapturedLog {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record<'_>, _values: &OwnedKVList) -> Result<(), Never> {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.msg().to_string()));
        Ok(())
    }
}

impl CapturedLog {
    fn logger(&self) -> Logger {
        Logger::root(self.clone(), o!())
    }

    fn level_of(&self, message: &str) -> Option<Level> {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .find(|(_, logged)| logged == message)
            .map(|(level, _)| *level)
    }
}

fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

/// A report of a required component.
fn status(name: &str, status: ComponentStatus, error: Option<&str>) -> ComponentStatusChanged {
    ComponentStatusChanged {
        name: name.to_owned(),
        readiness: Readiness::Required,
        status,
        error: error.map(str::to_owned),
        restarts: 0,
        needs_reconfiguration: false,
    }
}

async fn report(health: &Addr<HealthActor>, refresh_probes: bool) -> HealthReport {
    health.send(GetHealth { refresh_probes }).await.unwrap()
}

#[actix_rt::test]
async fn readiness_follows_required_components() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    for (name, readiness) in [("db", Readiness::Required), ("alerts", Readiness::Optional)] {
        health
            .send(ComponentStatusChanged {
                readiness,
                ..status(name, ComponentStatus::Starting, None)
            })
            .await
            .unwrap();
    }

    let starting = report(&health, false).await;
    assert!(!starting.ready, "a required component that is starting");
    assert!(!starting.components["alerts"].required);
    assert!(starting.live);
    assert_eq!(
        starting.not_ready_reasons,
        vec!["component db is starting".to_owned()]
    );

    health
        .send(status("db", ComponentStatus::Up, None))
        .await
        .unwrap();
    health
        .send(ComponentStatusChanged {
            readiness: Readiness::Optional,
            ..status("alerts", ComponentStatus::Failed, Some("smtp refused"))
        })
        .await
        .unwrap();
    let optional_failed = report(&health, false).await;
    assert!(
        optional_failed.ready,
        "an optional component does not gate readiness"
    );
    assert!(optional_failed.live);
    assert_eq!(
        optional_failed.components["alerts"].last_error.as_deref(),
        Some("smtp refused")
    );

    health
        .send(status("db", ComponentStatus::Degraded, None))
        .await
        .unwrap();
    assert!(report(&health, false).await.ready, "degraded still serves");

    health
        .send(ComponentStatusChanged {
            restarts: 5,
            ..status("db", ComponentStatus::Failed, Some("disk full"))
        })
        .await
        .unwrap();
    let failed = report(&health, false).await;
    assert!(!failed.ready);
    assert!(!failed.live, "a required component failed for good");
    let db = &failed.components["db"];
    assert_eq!(db.status, ComponentStatus::Failed);
    assert_eq!(db.restarts, 5);
    assert_eq!(db.last_error.as_deref(), Some("disk full"));
    assert!(db.last_error_at.is_some());
}

#[actix_rt::test]
async fn a_component_that_needs_reconfiguration_is_not_ready_but_keeps_the_process_live() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    health
        .send(ComponentStatusChanged {
            needs_reconfiguration: true,
            ..status(
                "gateway",
                ComponentStatus::Failed,
                Some("4004: token rejected"),
            )
        })
        .await
        .unwrap();
    let failed = report(&health, false).await;
    assert!(!failed.ready);
    assert!(failed.live, "a pod restart would only retry the same token");
    assert!(failed.components["gateway"].needs_reconfiguration);
}

#[actix_rt::test]
async fn a_component_is_known_from_its_first_report_and_keeps_its_last_error() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    health
        .send(status(
            "gateway",
            ComponentStatus::Restarting,
            Some("reset by peer"),
        ))
        .await
        .unwrap();
    let restarting = report(&health, false).await;
    assert!(restarting.components["gateway"].required);
    assert!(!restarting.ready);

    health
        .send(status("gateway", ComponentStatus::Up, None))
        .await
        .unwrap();
    let up = report(&health, false).await;
    assert!(up.ready);
    assert_eq!(
        up.components["gateway"].last_error.as_deref(),
        Some("reset by peer"),
        "the last error stays visible after recovery"
    );
}

#[actix_rt::test]
async fn probes_flip_readiness() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    let writable = Arc::new(AtomicBool::new(true));
    let probe_writable = Arc::clone(&writable);
    health
        .send(RegisterProbe {
            name: "database_writable".to_owned(),
            required: true,
            probe: Probe::new(move || {
                let writable = probe_writable.load(Ordering::SeqCst);
                async move {
                    if writable {
                        Ok(())
                    } else {
                        Err("attempt to write a readonly database")
                    }
                }
            }),
        })
        .await
        .unwrap();

    let passing = report(&health, true).await;
    assert!(passing.ready, "{:?}", passing.not_ready_reasons);
    let probe = &passing.probes["database_writable"];
    assert_eq!(probe.status, ProbeStatus::Passing);
    assert!(probe.latency_ms.is_some());

    writable.store(false, Ordering::SeqCst);
    let failing = report(&health, true).await;
    assert!(!failing.ready);
    assert!(failing.live, "probes decide readiness, not liveness");
    assert_eq!(
        failing.probes["database_writable"].status,
        ProbeStatus::Failing
    );
    assert_eq!(
        failing.not_ready_reasons,
        vec![
            "probe database_writable: probe failed: attempt to write a readonly database"
                .to_owned()
        ]
    );
    assert!(!report(&health, false).await.ready, "the result is kept");

    writable.store(true, Ordering::SeqCst);
    let recovered = report(&health, true).await;
    assert!(recovered.ready);
    assert!(
        recovered.probes["database_writable"].last_error.is_some(),
        "the last error stays visible after recovery"
    );
}

#[actix_rt::test]
async fn scheduled_probe_runs_update_readiness_without_refresh() {
    let health = HealthActor::new(Duration::from_millis(20), &discard()).start();
    let passing = Arc::new(AtomicBool::new(false));
    let probe_passing = Arc::clone(&passing);
    health
        .send(RegisterProbe {
            name: "upstream".to_owned(),
            required: true,
            probe: Probe::new(move || {
                let ok = probe_passing.load(Ordering::SeqCst);
                async move { if ok { Ok(()) } else { Err("down") } }
            }),
        })
        .await
        .unwrap();
    passing.store(true, Ordering::SeqCst);

    let mut ready = false;
    for _ in 0..500 {
        if report(&health, false).await.ready {
            ready = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "a scheduled run should have seen the probe pass");
}

#[actix_rt::test]
async fn hung_probe_times_out_and_optional_probe_does_not_gate_readiness() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard())
        .with_probe_timeout(Duration::from_millis(50))
        .start();
    health
        .send(RegisterProbe {
            name: "hung".to_owned(),
            required: true,
            probe: Probe::new(std::future::pending::<Result<(), String>>),
        })
        .await
        .unwrap();
    health
        .send(RegisterProbe {
            name: "optional".to_owned(),
            required: false,
            probe: Probe::new(|| async { Err::<(), _>("unreachable") }),
        })
        .await
        .unwrap();

    let hung = report(&health, true).await;
    assert!(!hung.ready);
    let probe = &hung.probes["hung"];
    assert_eq!(probe.status, ProbeStatus::Failing);
    assert_eq!(
        probe.last_error.as_deref(),
        Some("probe timed out after 50ms")
    );
    assert_eq!(
        hung.not_ready_reasons.len(),
        1,
        "{:?}",
        hung.not_ready_reasons
    );
    assert_eq!(hung.probes["optional"].status, ProbeStatus::Failing);
}

#[actix_rt::test]
async fn shutting_down_turns_readiness_off() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    health
        .send(status("db", ComponentStatus::Up, None))
        .await
        .unwrap();
    assert!(report(&health, false).await.ready);

    health.send(SetShuttingDown).await.unwrap();
    let draining = report(&health, false).await;
    assert!(!draining.ready);
    assert!(draining.live, "draining is not dead");
    assert!(draining.shutting_down);
    assert_eq!(draining.not_ready_reasons, vec!["shutting down".to_owned()]);
}

#[actix_rt::test]
async fn status_changes_are_logged_at_their_level() {
    let captured = CapturedLog::default();
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &captured.logger()).start();
    health
        .send(status("llm", ComponentStatus::Restarting, Some("429")))
        .await
        .unwrap();
    health
        .send(status("llm", ComponentStatus::Failed, Some("429")))
        .await
        .unwrap();

    assert_eq!(
        captured.level_of("Component restarting"),
        Some(Level::Warning)
    );
    assert_eq!(captured.level_of("Component failed"), Some(Level::Error));
}

#[actix_rt::test]
async fn report_serializes_for_the_admin_api() {
    let health = HealthActor::new(QUIET_PROBE_INTERVAL, &discard()).start();
    health
        .send(ComponentStatusChanged {
            restarts: 2,
            ..status("db", ComponentStatus::Up, Some("busy"))
        })
        .await
        .unwrap();
    let json = serde_json::to_value(report(&health, false).await).unwrap();

    let db = &json["components"]["db"];
    assert_eq!(db["status"], "up");
    assert_eq!(db["restarts"], 2);
    assert_eq!(db["last_error"], "busy");
    let since = db["since"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(since).is_ok(),
        "since is RFC 3339: {since}"
    );
    assert!(since.ends_with('Z'));
    assert_eq!(json["ready"], true);
    assert!(json["uptime_secs"].is_u64());

    let parsed: HealthReport = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.components["db"].status, ComponentStatus::Up);
}
