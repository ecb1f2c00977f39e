//! What every command shares, through the real binary: a closed stdout ends quietly.

mod support;

use support::{run_cli, run_cli_closed_stdout};

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
}
