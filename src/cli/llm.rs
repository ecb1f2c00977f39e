//! `llm check` (through the router; costs are booked like any call) and `llm usage`.

use anyhow::Context;

use discord_monitor::actors::db::Database;
use discord_monitor::actors::llm::RequestKind;
use discord_monitor::actors::llm::check;
use discord_monitor::app::config::Config;

use super::args::LlmCommand;
use super::{Outcome, Output};

pub fn run(config: &Config, command: LlmCommand, out: &mut Output) -> anyhow::Result<Outcome> {
    let db = Database::open(&config.database)
        .with_context(|| format!("cannot open {}", config.database.path.display()))?;
    db.run_pending_migrations()?;
    match command {
        LlmCommand::Check {
            target,
            kind,
            relearn,
            json,
        } => {
            let kind = RequestKind::parse(&kind).unwrap_or(RequestKind::Triage);
            run_check(config, db, kind, target.as_deref(), relearn, json, out)
        }
        LlmCommand::Usage { days } => usage(&db, days, out),
    }
}

/// Exit 1 when no target answered.
fn run_check(
    config: &Config,
    db: Database,
    kind: RequestKind,
    target: Option<&str>,
    relearn: bool,
    json: bool,
    out: &mut Output,
) -> anyhow::Result<Outcome> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let report = actix_rt::System::new().block_on(check::run_check(
        &config.llm,
        db,
        kind,
        target,
        relearn,
        &log,
    ))?;
    if json {
        out.json_pretty(&report)?;
    } else {
        write!(out, "{report}")?;
    }
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn usage(db: &Database, days: u32, out: &mut Output) -> anyhow::Result<Outcome> {
    let rows = check::usage(db, days)?;
    if rows.is_empty() {
        writeln!(out, "No LLM calls booked in the last {days} day(s)")?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{:<10} {:<14} {:<24} {:>6} {:>6} {:>10} {:>10} {:>10}",
        "day", "provider", "model", "calls", "fails", "tokens_in", "tokens_out", "cost_usd"
    )?;
    for row in &rows {
        writeln!(
            out,
            "{:<10} {:<14} {:<24} {:>6} {:>6} {:>10} {:>10} {:>10.4}",
            row.day,
            row.provider,
            row.model,
            row.calls,
            row.failures,
            row.input_tokens,
            row.output_tokens,
            row.cost_usd
        )?;
    }
    let total: f64 = rows.iter().map(|row| row.cost_usd).sum();
    writeln!(out, "total: ${total:.4}")?;
    Ok(Outcome::Success)
}
