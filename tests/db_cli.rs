//! `db migrate|stats|integrity` on real SQLite files, empty and pre-existing.

mod support;

use discord_monitor::actors::db::Database;
use discord_monitor::config::DatabaseConfig;
use support::{message, run_cli};

fn config_for(dir: &std::path::Path) -> DatabaseConfig {
    DatabaseConfig {
        path: dir.join("data/db.sqlite"),
        ..DatabaseConfig::default()
    }
}

#[test]
fn migrate_on_an_empty_database_then_again_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["db", "migrate"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("Applied"), "{out:?}");
    assert!(dir.path().join("data/db.sqlite").exists());
    let again = run_cli(dir.path(), &["db", "migrate"], &[]);
    assert_eq!(again.code(), 0, "{again:?}");
    assert!(again.stdout.contains("up to date"), "{again:?}");
}

#[test]
fn an_existing_database_keeps_its_rows_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config_for(dir.path())).unwrap();
    db.run_pending_migrations().unwrap();
    db.store_messages(&[message(10, 1, "hello"), message(11, 1, "world")])
        .unwrap();
    drop(db);

    let out = run_cli(dir.path(), &["db", "migrate"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("up to date"), "{out:?}");

    let out = run_cli(dir.path(), &["db", "stats", "--json"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let stats: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stats["tables"]["messages"], 2, "{stats}");
    assert!(stats["file_size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["journal_mode"], "wal");

    let out = run_cli(dir.path(), &["db", "stats"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("WAL size"), "{out:?}");

    let out = run_cli(dir.path(), &["db", "integrity"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("Integrity OK"), "{out:?}");
}

#[test]
fn a_database_path_that_cannot_exist_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let out = run_cli(
        dir.path(),
        &["db", "stats"],
        &[("DATABASE_PATH", "blocker/db.sqlite")],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("blocker/db.sqlite"), "{out:?}");
}
