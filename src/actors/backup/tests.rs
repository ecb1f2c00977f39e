//! The BackupActor under the real supervisor, on real SQLite files: the schedule on its own,
//! backups on demand, failures recorded and reported, the first due time after a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::*;
use crate::actors::backup::BackupOutcome;
use crate::actors::db::{BackupRowStatus, Database, DatabaseConfig};
use crate::actors::health::HealthActor;
use crate::config::LogLevel;
use crate::logging::memory_logger;
use crate::metrics::Metrics;
use crate::supervisor::ComponentStatus;
use crate::supervisor::{ComponentHandle, Readiness, RestartPolicy, supervise};

/// Generous: the machine is shared and busy.
const WAIT: Duration = Duration::from_secs(60);

/// Stands in for the ops rules: keeps every outcome it is sent.
#[derive(Default, Clone)]
struct Outcomes(Arc<Mutex<Vec<Option<String>>>>);

impl Actor for Outcomes {
    type Context = Context<Self>;
}

impl Handler<BackupOutcome> for Outcomes {
    type Result = ();

    fn handle(&mut self, msg: BackupOutcome, _ctx: &mut Self::Context) {
        self.0.lock().unwrap().push(msg.error);
    }
}

impl Outcomes {
    fn seen(&self) -> Vec<Option<String>> {
        self.0.lock().unwrap().clone()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: DatabaseConfig,
    db: Database,
    outcomes: Outcomes,
    metrics: Arc<Metrics>,
}

fn fixture(hours: f64, max_backups: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        path: dir.path().join("data/db.sqlite"),
        backup_dir: dir.path().join("data/backups"),
        connection_pool_size: 2,
        backup_interval_hours: hours,
        max_backups,
        ..DatabaseConfig::default()
    };
    let db = Database::open(&config).unwrap();
    db.run_pending_migrations().unwrap();
    Fixture {
        _dir: dir,
        config,
        db,
        outcomes: Outcomes::default(),
        metrics: Arc::new(Metrics::new()),
    }
}

fn start(fixture: &Fixture, settings: BackupSettings) -> ComponentHandle<BackupActor> {
    let (log, _) = memory_logger(LogLevel::Debug);
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    let outcomes = fixture.outcomes.clone().start().recipient();
    let (db, metrics) = (fixture.db.clone(), Arc::clone(&fixture.metrics));
    supervise(
        "backup",
        Readiness::Required,
        RestartPolicy::default(),
        health.recipient(),
        move |lifecycle| {
            BackupActor::new(
                db.clone(),
                settings.clone(),
                Some(outcomes.clone()),
                lifecycle,
                &log,
            )
            .with_metrics(BackupMetrics::register(&metrics).unwrap())
        },
    )
}

async fn status(backup: &ComponentHandle<BackupActor>) -> BackupStatus {
    backup.send(GetBackupStatus).await.unwrap()
}

async fn wait_for_status(
    backup: &ComponentHandle<BackupActor>,
    what: &str,
    done: impl Fn(&BackupStatus) -> bool,
) -> BackupStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let current = status(backup).await;
        if done(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "waited {WAIT:?} for {what}: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn backup_files(dir: &Path) -> Vec<PathBuf> {
    list_backups(dir)
        .unwrap()
        .into_iter()
        .map(|entry| PathBuf::from(entry.path))
        .collect()
}

#[actix_rt::test]
async fn scheduled_backups_run_on_their_own_and_keep_max_backups() {
    // 1.8 s between backups; the first comes one interval after the start.
    let fixture = fixture(0.0005, 2);
    let foreign = fixture.config.backup_dir.join("keep-me.txt");
    std::fs::create_dir_all(&fixture.config.backup_dir).unwrap();
    std::fs::write(&foreign, b"not a backup").unwrap();
    let backup = start(&fixture, BackupSettings::from_config(&fixture.config));

    let done = wait_for_status(&backup, "three scheduled backups", |status| {
        status.successes >= 3 && status.state == "idle"
    })
    .await;
    assert_eq!(done.kept, 2);
    assert_eq!(done.failures, 0);
    assert_eq!(done.last_outcome, Some("ok"));
    assert!(done.next_due_at > done.last_success_at);
    assert_eq!(backup.status(), ComponentStatus::Up);
    assert_eq!(backup_files(&fixture.config.backup_dir).len(), 2);
    assert!(foreign.exists());
    let listed = backup.send(ListBackups).await.unwrap().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|entry| entry.kind == "scheduled"));
    assert_eq!(listed[0].path, done.last_success_path.clone().unwrap());
    assert!(fixture.outcomes.seen().iter().all(Option::is_none));
    assert!(fixture.outcomes.seen().len() >= 3);

    let rendered = fixture.metrics.render_prometheus();
    for name in [
        "discord_monitor_backup_last_success_timestamp_seconds",
        "discord_monitor_backup_last_duration_seconds",
        "discord_monitor_backup_failures_total 0",
        "discord_monitor_backup_files 2",
        "discord_monitor_backup_newest_size_bytes",
    ] {
        assert!(rendered.contains(name), "{name} missing:\n{rendered}");
    }
}

#[actix_rt::test]
async fn backup_now_answers_the_record_and_refuses_a_second_at_once() {
    // Six hours: the schedule stays out of the way.
    let fixture = fixture(6.0, 48);
    let backup = start(&fixture, BackupSettings::from_config(&fixture.config));
    wait_for_status(&backup, "the start", |status| status.state != "starting").await;

    let (first, second) = tokio::join!(backup.send(BackupNow), backup.send(BackupNow));
    let (first, second) = (first.unwrap(), second.unwrap());
    let record = first.unwrap();
    let refused = second.unwrap_err();
    assert!(refused.is_conflict(), "{refused}");
    assert_eq!(record.reason, BackupReason::Manual);
    assert!(Path::new(&record.path).is_file());

    let status = status(&backup).await;
    assert_eq!(status.successes, 1);
    assert_eq!(status.kept, 1);
    // The next scheduled one is an interval after this one.
    let next = status.next_due_at.unwrap();
    let expected = record.created_at + chrono::Duration::hours(6);
    assert!(
        next.signed_duration_since(expected).num_seconds().abs() < 60,
        "{next} vs {expected}"
    );
    let listed = backup.send(ListBackups).await.unwrap().unwrap();
    assert_eq!(listed[0].kind, "manual");
    assert_eq!(listed[0].metadata.as_ref().unwrap().sha256, record.sha256);
}

#[actix_rt::test]
async fn an_unusable_backup_dir_fails_is_recorded_and_reported() {
    let fixture = fixture(6.0, 48);
    let blocker = fixture.config.path.with_file_name("blocker");
    std::fs::write(&blocker, b"a file where the directory should be").unwrap();
    let settings = BackupSettings {
        dir: blocker.clone(),
        ..BackupSettings::from_config(&fixture.config)
    };
    let backup = start(&fixture, settings);

    let error = backup.send(BackupNow).await.unwrap().unwrap_err();
    assert!(
        matches!(error, BackupError::NotADirectory { .. }),
        "{error}"
    );
    let status = status(&backup).await;
    assert_eq!(status.failures, 1);
    assert_eq!(status.last_outcome, Some("failed"));
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("not a directory")
    );
    assert_eq!(status.state, "idle");
    // The retry comes within the failure retry delay, not a whole interval later.
    let retry = status.next_due_at.unwrap() - status.last_error_at.unwrap();
    assert!(retry <= chrono::Duration::minutes(31), "{retry}");
    assert_eq!(backup.status(), ComponentStatus::Degraded);

    let row = fixture
        .db
        .newest_backup_row(BackupRowStatus::Failed)
        .unwrap()
        .unwrap();
    assert!(row.error.unwrap().contains("not a directory"));
    let deadline = Instant::now() + WAIT;
    while fixture.outcomes.seen().is_empty() {
        assert!(Instant::now() < deadline, "no outcome reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reported = fixture.outcomes.seen();
    assert!(
        reported[0].as_deref().unwrap().contains("not a directory"),
        "{reported:?}"
    );
    assert!(
        fixture
            .metrics
            .render_prometheus()
            .contains("discord_monitor_backup_failures_total 1")
    );
    assert_eq!(
        std::fs::read(&blocker).unwrap(),
        b"a file where the directory should be"
    );
}

#[actix_rt::test]
async fn a_restart_schedules_from_the_last_success_and_cleans_leftovers() {
    let fixture = fixture(6.0, 48);
    let settings = BackupSettings::from_config(&fixture.config);
    let earlier = take_backup(&fixture.db, &settings, BackupReason::Scheduled).unwrap();
    // A crash left a partial file long ago.
    let leftover = fixture
        .config
        .backup_dir
        .join("db-20200101T000000.000Z.sqlite.partial");
    std::fs::write(&leftover, b"half a backup").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 3_600))
        .unwrap();

    let backup = start(&fixture, settings);
    let status = wait_for_status(&backup, "the start", |status| status.state != "starting").await;
    assert_eq!(status.last_success_at, Some(earlier.created_at));
    assert_eq!(
        status.next_due_at,
        Some(earlier.created_at + chrono::Duration::hours(6)),
        "one interval after the last success: no backup at start, none skipped"
    );
    assert_eq!(status.kept, 1);
    assert_eq!(status.successes, 0);
    assert!(!leftover.exists());
    assert_eq!(
        backup_files(&fixture.config.backup_dir),
        [PathBuf::from(&earlier.path)]
    );
    // The last attempt succeeded: the ops rules hear so (clears an alert from before).
    let deadline = Instant::now() + WAIT;
    while fixture.outcomes.seen().is_empty() {
        assert!(Instant::now() < deadline, "no outcome reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fixture.outcomes.seen(), [None]);
}
