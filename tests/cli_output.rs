//! What every command shares, through the real binary: completion scripts, the man page,
//! `--json` failures as one JSON object on stdout, and a closed stdout ending quietly.

mod support;

use serde_json::Value;
use support::{run_cli, run_cli_closed_stdout};

/// Every top-level command, as `--help` lists them.
const COMMANDS: &[&str] = &[
    "run",
    "demo",
    "config",
    "db",
    "discord",
    "llm",
    "alert",
    "search",
    "healthcheck",
    "completions",
    "man",
];

#[test]
fn completion_scripts_offer_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["completions", "bash"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("complete -F"), "{}", out.stdout);
    for command in COMMANDS
        .iter()
        .chain(&["backups", "restore", "repair", "usage"])
    {
        assert!(out.stdout.contains(command), "bash lacks {command}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run_cli(dir.path(), &["completions", shell], &[]);
        assert_eq!(out.code(), 0, "{out:?}");
        assert!(out.stdout.contains("discord-monitor"), "{shell}: {out:?}");
        assert!(out.stdout.contains("healthcheck"), "{shell}: {out:?}");
    }
    let out = run_cli(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(out.code(), 2, "an unknown shell is bad usage: {out:?}");
}

#[test]
fn the_man_page_is_roff_naming_every_command_and_the_directory_has_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["man"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    // clap_mangen opens with two lines defining the quote glyph, then the title.
    assert!(
        out.stdout
            .lines()
            .take(3)
            .any(|line| line.starts_with(".TH discord-monitor 1")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(".SH SUBCOMMANDS"), "{}", out.stdout);
    for command in COMMANDS {
        let reference = format!("discord\\-monitor\\-{command}(1)");
        assert!(out.stdout.contains(&reference), "no {reference}");
    }
    assert!(
        !out.stdout.contains("monitor\\-help(1)"),
        "`help` has no page to refer to"
    );

    let out = run_cli(dir.path(), &["man", "--dir", "man1"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let page = std::fs::read_to_string(dir.path().join("man1/discord-monitor-db-backup.1"))
        .expect("a page per subcommand");
    assert!(page.contains(".TH discord-monitor-db-backup 1"), "{page}");
    assert!(page.contains("\\-\\-json"), "{page}");
    for command in COMMANDS {
        let file = dir.path().join(format!("man1/discord-monitor-{command}.1"));
        assert!(file.is_file(), "no {}", file.display());
    }
}

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

    let error = json_error(&["search", "\"unclosed", "--json"], &[]);
    assert_eq!(error["error_type"], "InvalidQuery", "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid search query: a quote is not closed (hint: "),
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
        &["completions", "bash"],
        &["man"],
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
