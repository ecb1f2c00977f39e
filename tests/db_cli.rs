//! `db migrate|stats|integrity|backup|backups|restore|vacuum|repair` and `search` on real
//! SQLite files, empty and pre-existing, and restore, vacuum and repair refused while a
//! service runs on the database.

mod support;

use std::path::Path;

use discord_monitor::actors::db::{ChannelRecord, Database, DatabaseConfig, MessageQuery};
use serde_json::{Value, json};
use support::{Service, message, run_cli};

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

/// A migrated database under `dir/data` holding `contents` as messages 1.. in channel 1.
fn database_with(dir: &Path, contents: &[&str]) -> Database {
    let db = Database::open(&config_for(dir)).unwrap();
    db.run_pending_migrations().unwrap();
    let messages: Vec<_> = contents
        .iter()
        .zip(1..)
        .map(|(content, id)| message(id, 1, content))
        .collect();
    db.store_messages(&messages).unwrap();
    db
}

fn stored(dir: &Path) -> Vec<String> {
    let db = Database::open(&config_for(dir)).unwrap();
    let query = MessageQuery::new(Some(1), None, None, 1_000).unwrap();
    db.query_messages(&query)
        .unwrap()
        .into_iter()
        .map(|message| message.content)
        .collect()
}

fn json_of(out: &support::CliOutput) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {out:?}"))
}

#[test]
fn backup_list_modify_restore_brings_the_data_back() {
    let dir = tempfile::tempdir().unwrap();
    drop(database_with(dir.path(), &["first", "second"]));

    let out = run_cli(dir.path(), &["db", "backup"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stdout.contains("Backup written: data/backups/db-"),
        "{out:?}"
    );
    assert!(out.stdout.contains("sha256:"), "{out:?}");
    let out = run_cli(dir.path(), &["db", "backup", "--json"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let record = json_of(&out);
    let file_name = record["file_name"].as_str().unwrap().to_owned();
    assert_eq!(record["reason"], "manual");
    assert_eq!(record["sha256"].as_str().unwrap().len(), 64);
    assert!(dir.path().join(record["path"].as_str().unwrap()).is_file());

    let out = run_cli(dir.path(), &["db", "backups", "--json"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let listed = json_of(&out);
    let backups = listed["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{listed}");
    assert_eq!(backups[0]["file_name"], json!(file_name), "newest first");
    assert_eq!(backups[0]["metadata"]["sha256"], record["sha256"]);
    assert_eq!(backups[0]["metadata"]["row_counts"]["messages"], 2);
    let out = run_cli(dir.path(), &["db", "backups"], &[]);
    assert!(out.stdout.contains(&file_name), "{out:?}");
    assert!(out.stdout.contains("2 in rotation"), "{out:?}");

    // Changes after the backup: one message edited away, one added.
    {
        let db = Database::open(&config_for(dir.path())).unwrap();
        db.store_messages(&[message(1, 1, "rewritten"), message(3, 1, "third")])
            .unwrap();
    }
    assert_eq!(stored(dir.path()), ["rewritten", "second", "third"]);

    let out = run_cli(dir.path(), &["db", "restore", &file_name, "--yes"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("Restored data/db.sqlite"), "{out:?}");
    assert!(out.stdout.contains("matches its metadata"), "{out:?}");
    assert!(
        out.stderr.contains("Verifying"),
        "progress is shown: {out:?}"
    );
    assert_eq!(stored(dir.path()), ["first", "second"]);

    // The replaced database was kept, outside retention.
    let out = run_cli(dir.path(), &["db", "backups", "--json"], &[]);
    let listed = json_of(&out);
    let pre_restore: Vec<&Value> = listed["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|backup| backup["kind"] == "pre_restore")
        .collect();
    assert_eq!(pre_restore.len(), 1, "{listed}");
    assert_eq!(pre_restore[0]["metadata"]["row_counts"]["messages"], 3);

    let out = run_cli(dir.path(), &["db", "integrity"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let out = run_cli(dir.path(), &["db", "vacuum"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("bytes before"), "{out:?}");
    assert_eq!(stored(dir.path()), ["first", "second"]);
}

#[test]
fn backup_retention_follows_max_backups() {
    let dir = tempfile::tempdir().unwrap();
    drop(database_with(dir.path(), &["only"]));
    std::fs::create_dir_all(dir.path().join("data/backups")).unwrap();
    std::fs::write(dir.path().join("data/backups/README.txt"), "mine").unwrap();
    for _ in 0..4 {
        let out = run_cli(
            dir.path(),
            &["db", "backup"],
            &[("DATABASE_MAX_BACKUPS", "2")],
        );
        assert_eq!(out.code(), 0, "{out:?}");
    }
    let out = run_cli(dir.path(), &["db", "backups", "--json"], &[]);
    assert_eq!(json_of(&out)["backups"].as_array().unwrap().len(), 2);
    assert!(dir.path().join("data/backups/README.txt").exists());
}

#[test]
fn bad_restores_are_refused_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    drop(database_with(dir.path(), &["keep me"]));
    let out = run_cli(dir.path(), &["db", "backup", "--json"], &[]);
    let record = json_of(&out);
    let backup = dir.path().join(record["path"].as_str().unwrap());
    let refused = |file: &str, expected: &str| {
        let out = run_cli(dir.path(), &["db", "restore", file, "--yes"], &[]);
        assert_eq!(out.code(), 1, "{file}: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{file}: expected {expected:?}: {out:?}"
        );
    };

    refused("missing.sqlite", "no such file");

    std::fs::write(
        dir.path().join("notes.sqlite"),
        "plain text, not a database",
    )
    .unwrap();
    refused("notes.sqlite", "is not an SQLite database");

    // Half of a real backup: the header is right, the pages are not all there.
    let bytes = std::fs::read(&backup).unwrap();
    std::fs::write(
        dir.path().join("truncated.sqlite"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let out = run_cli(
        dir.path(),
        &["db", "restore", "truncated.sqlite", "--yes"],
        &[],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("truncated.sqlite"), "{out:?}");
    assert!(out.stderr.contains("failed its integrity check"), "{out:?}");

    // A copy whose sidecar records another checksum.
    std::fs::copy(&backup, dir.path().join("copy.sqlite")).unwrap();
    let mut sidecar: Value =
        serde_json::from_slice(&std::fs::read(backup.with_extension("json")).unwrap()).unwrap();
    sidecar["sha256"] = json!("0".repeat(64));
    std::fs::write(dir.path().join("copy.json"), sidecar.to_string()).unwrap();
    refused("copy.sqlite", "checksum mismatch");

    // Without --yes and without a terminal to ask on: a usage error naming --yes.
    let out = run_cli(
        dir.path(),
        &["db", "restore", record["file_name"].as_str().unwrap()],
        &[],
    );
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(out.stderr.contains("--yes"), "{out:?}");

    assert_eq!(stored(dir.path()), ["keep me"], "nothing was replaced");
}

#[tokio::test]
async fn restore_vacuum_and_repair_are_refused_while_the_service_runs() {
    let mut service = Service::start(&["demo"], &json!({}), &[]);
    service.wait_ready().await;
    let env = [
        ("DATABASE_PATH", "demo-data/db.sqlite"),
        ("DATABASE_BACKUP_DIR", "demo-data/backups"),
    ];
    let dir = service.dir.path().to_path_buf();

    // A backup works while the service writes.
    let out = run_cli(&dir, &["db", "backup", "--json"], &env);
    assert_eq!(out.code(), 0, "{out:?}");
    let file_name = json_of(&out)["file_name"].as_str().unwrap().to_owned();

    let out = run_cli(&dir, &["db", "restore", &file_name, "--yes"], &env);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("in use by a running discord-monitor"),
        "{out:?}"
    );
    assert!(out.stderr.contains("stop the service first"), "{out:?}");
    let out = run_cli(&dir, &["db", "vacuum"], &env);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("stop the service first"), "{out:?}");
    let out = run_cli(&dir, &["db", "repair"], &env);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("stop the service first"), "{out:?}");
    assert!(
        !dir.join("demo-data/backups").exists()
            || std::fs::read_dir(dir.join("demo-data/backups"))
                .unwrap()
                .all(|entry| !entry
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("pre-repair")),
        "a refused repair saves nothing"
    );

    // A second service on the same database does not start.
    let port = support::free_port().to_string();
    let second = run_cli(&dir, &["demo"], &[("HEALTH_CHECK_PORT", &port)]);
    assert_eq!(second.code(), 1, "{second:?}");
    assert!(
        format!("{}{}", second.stdout, second.stderr).contains("in use by a running"),
        "{second:?}"
    );

    service.terminate();
    let out = run_cli(&dir, &["db", "restore", &file_name, "--yes"], &env);
    assert_eq!(out.code(), 0, "once the service stopped: {out:?}");
    service.finish();
}

/// The full-text index out of step with the messages (content changed while the update
/// trigger was away), the schema itself intact.
fn break_search_index(dir: &Path, content: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};
    let path = config_for(dir).path;
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    conn.batch_execute(&format!(
        "DROP TRIGGER messages_fts_after_update;
         UPDATE messages SET content = '{content}' WHERE id = 2;
         CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages BEGIN
             INSERT INTO messages_fts (messages_fts, rowid, content)
                 VALUES ('delete', old.id, old.content);
             INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
         END;"
    ))
    .unwrap();
}

#[test]
fn repair_fixes_a_broken_search_index_and_keeps_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    drop(database_with(dir.path(), &["first", "second", "third"]));

    // Nothing wrong: said so, exit 0, nothing saved.
    let out = run_cli(dir.path(), &["db", "repair"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Repair of data/db.sqlite: no problems found; indexes rebuilt"),
        "{out:?}"
    );
    assert!(!dir.path().join("data/backups").exists(), "{out:?}");

    break_search_index(dir.path(), "rewritten behind the index");
    let out = run_cli(dir.path(), &["db", "integrity"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");

    let out = run_cli(dir.path(), &["db", "repair"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    for line in [
        "Repaired data/db.sqlite: 1 problem(s) found, none left",
        "found:       messages_fts integrity-check",
        "step:        rebuilt every index (REINDEX)",
        "step:        rebuilt the full-text index (messages_fts)",
        "safety copy: data/backups/db-",
    ] {
        assert!(out.stdout.contains(line), "{line:?} missing: {out:?}");
    }
    for progress in [
        "Checking ",
        "Saving a copy ",
        "Rebuilding indexes",
        "Checking again",
    ] {
        assert!(
            out.stderr.contains(progress),
            "{progress:?} missing: {out:?}"
        );
    }
    let out = run_cli(dir.path(), &["db", "integrity"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");

    // Broken again, repaired again, as JSON.
    break_search_index(dir.path(), "rewritten once more");
    let out = run_cli(dir.path(), &["db", "repair", "--json"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let report = json_of(&out);
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "database",
        "ok",
        "problems_before",
        "problems_after",
        "actions",
        "safety_copy",
        "rebuilt",
        "duration_ms",
    ] {
        assert!(keys.contains(&key), "{key} missing: {report}");
    }
    assert_eq!(report["database"], "data/db.sqlite");
    assert_eq!(report["ok"], true);
    assert_eq!(report["rebuilt"], false);
    assert_eq!(report["problems_after"], json!([]));
    assert!(
        report["problems_before"][0]
            .as_str()
            .unwrap()
            .contains("messages_fts"),
        "{report}"
    );
    let copy = report["safety_copy"].as_str().unwrap();
    assert!(copy.ends_with("-pre-repair.sqlite"), "{report}");
    assert!(dir.path().join(copy).is_file());
    assert!(report["duration_ms"].is_u64());

    // Both copies are listed as pre-repair, outside retention.
    let out = run_cli(dir.path(), &["db", "backups", "--json"], &[]);
    let listed = json_of(&out);
    let backups = listed["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{listed}");
    for backup in backups {
        assert_eq!(backup["kind"], "pre_repair", "{listed}");
        assert_eq!(backup["in_rotation"], false, "{listed}");
    }
    let out = run_cli(dir.path(), &["db", "backups"], &[]);
    assert!(
        out.stdout
            .contains("0 in rotation (at most 48 kept), 0 pre-restore, 2 pre-repair"),
        "{out:?}"
    );
    assert_eq!(
        stored(dir.path()),
        ["first", "rewritten once more", "third"]
    );
}

#[test]
fn repair_without_a_database_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["db", "repair"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("no database at"), "{out:?}");
    assert!(out.stderr.contains("data/db.sqlite"), "{out:?}");
}

#[test]
fn search_prints_a_line_per_hit_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_with(
        dir.path(),
        &[
            "the deploy failed\non node seven",
            "nothing here",
            "deploy deploy, deploy done",
            "a deploy\u{1b}[2J with a terminal escape",
            "deploy plan, then deleted",
        ],
    );
    db.upsert_channels(&[ChannelRecord {
        id: 1,
        guild_id: Some(7),
        parent_id: None,
        kind: 0,
        name: "ops".to_owned(),
        topic: None,
        is_thread: false,
        archived: false,
    }])
    .unwrap();
    db.mark_deleted(1, &[5]).unwrap();
    drop(db);

    let out = run_cli(dir.path(), &["search", "deploy"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Best first; the deleted message is not found.
    assert_eq!(
        lines,
        [
            "2023-11-14T22:13:20Z  #ops  alice: ⟦deploy⟧ ⟦deploy⟧, ⟦deploy⟧ done  \
             https://discord.com/channels/7/1/3",
            "2023-11-14T22:13:20Z  #ops  alice: the ⟦deploy⟧ failed on node seven  \
             https://discord.com/channels/7/1/1",
            // A message cannot send the terminal an escape sequence.
            "2023-11-14T22:13:20Z  #ops  alice: a ⟦deploy⟧ [2J with a terminal escape  \
             https://discord.com/channels/7/1/4",
        ],
        "{out:?}"
    );
    assert_eq!(out.stderr, "3 matches\n", "{out:?}");

    // Several words are one query; quotes kept from the shell make a phrase.
    let out = run_cli(
        dir.path(),
        &["search", "deploy", "node", "--limit", "5"],
        &[],
    );
    assert!(out.stdout.ends_with("/7/1/1\n"), "{out:?}");
    let out = run_cli(dir.path(), &["search", "\"node seven\""], &[]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let out = run_cli(dir.path(), &["search", "--", "-failed -escape deploy"], &[]);
    assert!(out.stdout.ends_with("/7/1/3\n"), "{out:?}");

    let out = run_cli(dir.path(), &["search", "deploy", "--limit", "1"], &[]);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("1 of 3 matches shown"), "{out:?}");
    let out = run_cli(dir.path(), &["search", "deploy", "--channel", "2"], &[]);
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
    assert!(out.stderr.contains("No messages match"), "{out:?}");
    // Creation times are 1_700_000_000_000 + id: --since inclusive, --until exclusive.
    let out = run_cli(
        dir.path(),
        &[
            "search",
            "deploy",
            "--since",
            "1700000000002",
            "--until",
            "2023-11-14T22:13:20.004Z",
        ],
        &[],
    );
    assert!(out.stdout.ends_with("/7/1/3\n"), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");

    let out = run_cli(
        dir.path(),
        &[
            "search", "deploy", "--guild", "7", "--author", "99", "--json",
        ],
        &[],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let json = json_of(&out);
    assert_eq!(json["query"], "deploy");
    assert_eq!(
        (&json["total"], &json["has_more"]),
        (&json!(3), &json!(false))
    );
    let hit = &json["hits"][0];
    assert_eq!(hit["message_id"], "3");
    assert_eq!(hit["channel_name"], "ops");
    assert_eq!(hit["created_at"], "2023-11-14T22:13:20.003Z");
    assert_eq!(hit["jump_url"], "https://discord.com/channels/7/1/3");
}

#[test]
fn search_refuses_bad_queries_and_a_missing_database_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // The query is checked before the database is looked for.
    for (args, expected) in [
        (
            &["search", "\"unclosed"][..],
            "a quote is not closed (hint: close the phrase",
        ),
        (
            &["search", "--", "-deploy"],
            "it only excludes words (hint: add a word",
        ),
        (
            &["search", "deploy", "OR"],
            "OR is missing a word on one side (hint: ",
        ),
        (&["search", "🎉"], "search text has no words (hint: "),
        (
            &["search", "x", "--since", "tomorrow"],
            "--since must be an RFC 3339 time",
        ),
        (
            &[
                "search",
                "x",
                "--since",
                "2024-01-02",
                "--until",
                "2024-01-01",
            ],
            "must be before until",
        ),
    ] {
        let out = run_cli(dir.path(), args, &[]);
        assert_eq!(out.code(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{args:?}: {out:?}");
        assert!(out.stderr.contains(expected), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}: {out:?}");
    }
    for args in [
        &["search", "x", "--limit", "0"][..],
        &["search", "x", "--limit", "101"],
        &["search", "x", "--guild", "abc"],
        &["search"],
    ] {
        assert_eq!(
            run_cli(dir.path(), args, &[]).code(),
            2,
            "{args:?}: bad usage"
        );
    }

    let out = run_cli(dir.path(), &["search", "deploy"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("no database at data/db.sqlite"),
        "{out:?}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "searching creates nothing"
    );
}
