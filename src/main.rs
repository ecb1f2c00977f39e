//! The `discord-monitor` binary: parses the command line, hands the command to [`cli`] and
//! turns its outcome into the exit code: 0 success (a closed stdout included), 1 a reported
//! failure (bad config, not ready, integrity problems), 2 bad usage. Only the binary uses
//! `anyhow`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Outcome, Output};

/// Exit code of bad usage, as clap uses for a wrong command line.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    discord_monitor::tls::install_crypto_provider();
    let cli = Cli::parse();
    let json = cli.command.json();
    let mut out = Output::stdout();
    let result = cli::run(cli, &mut out).and_then(|outcome| {
        out.flush()?;
        Ok(outcome)
    });
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Ok(Outcome::Refused) => ExitCode::from(USAGE_EXIT),
        Err(err) if cli::is_closed(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if json {
                // Best effort: the stderr line has said it, and a closed stdout takes nothing.
                let _ = writeln!(out, "{}", cli::error_json(&err)).and_then(|()| out.flush());
            }
            ExitCode::FAILURE
        }
    }
}
