//! What every command shares, through the real binary: `--json` failures as one JSON object
//! on stdout, and a closed stdout ending quietly.

mod support;

use serde_json::Value;
use support::{run_cli, run_cli_closed_stdout};

/// Checks the `--json` failure shape: exit 1, one object on stdout with exactly `error` and
/// `error_type`, its message the stderr line's; answers the object.
fn json_error(args: &[&str], env: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let out = run_cli(dir.path(), args, env);
    assert_eq!(out.code(), 1, "{out:?}");
    let error: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {out:?}"));
    let fields: Vec<&str> = error
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["error", "error_type"], "{error}");
    let message = error["error"].as_str().unwrap();
    assert_eq!(out.stderr, format!("error: {message}\n"), "{out:?}");

    let without_json: Vec<&str> = args
        .iter()
        .copied()
        .filter(|arg| *arg != "--json")
        .collect();
    let text = run_cli(dir.path(), &without_json, env);
    assert_eq!(text.code(), 1, "{text:?}");
    assert_eq!(text.stdout, "", "the text form prints nothing on stdout");
    assert_eq!(text.stderr, out.stderr, "the same message either way");
    error
}

#[test]
fn json_failures_are_one_object_on_stdout_with_the_stderr_message() {
    let unopenable = [("DATABASE_PATH", "blocker/db.sqlite")];
    let error = json_error(&["db", "stats", "--json"], &unopenable);
    assert_eq!(error["error_type"], "DatabaseError", "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot open blocker/db.sqlite: "),
        "{error}"
    );

    let error = json_error(&["discord", "check", "--json"], &[]);
    assert_eq!(error["error_type"], "DiscordError", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("DISCORD_TOKEN"),
        "{error}"
    );

    let error = json_error(&["db", "backup", "--json"], &[]);
    assert_eq!(error["error_type"], "DatabaseError", "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("no database at"),
        "{error}"
    );

    let error = json_error(&["--config", "nope.json", "alert", "test", "--json"], &[]);
    assert_eq!(error["error_type"], "ConfigError", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("nope.json"),
        "{error}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_cli(dir.path(), &["db", "migrate"], &[]).code(), 0);
    for args in [
        &["config", "show"][..],
        &["config", "sample"],
        &["config", "validate"],
        &["db", "stats"],
        &["db", "stats", "--json"],
        &["db", "backups"],
        &["--help"],
    ] {
        let out = run_cli_closed_stdout(dir.path(), args, &[]);
        assert_eq!(out.code(), 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}: no message, no panic");
    }

    // A failure still says so on stderr when its JSON copy has nowhere to go.
    let out = run_cli_closed_stdout(dir.path(), &["discord", "check", "--json"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.starts_with("error: discord.token"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
}
