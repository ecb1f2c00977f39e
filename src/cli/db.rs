//! `db migrate|stats|integrity`, and `db backup|backups|restore|vacuum|repair`: terminal
//! output around [`discord_monitor::actors::backup`]. Progress goes to stderr, results to
//! stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

use discord_monitor::actors::backup::{
    BackupReason, BackupSettings, RepairReport, RestorePlan, list_backups, repair_database,
    take_backup, vacuum_database,
};
use discord_monitor::actors::db::{Database, DatabaseConfig};
use discord_monitor::app::config::Config;

use super::args::DbCommand;
use super::error::CliError;
use super::output::OutputError;
use super::{Outcome, Output};

/// Connections the CLI needs: one for the snapshot, one for the `backups` row.
const CLI_POOL_SIZE: u32 = 2;

/// Problems printed per list by `db repair`: a damaged file can yield a hundred lines of
/// `Page N: never used`; `--json` has them all.
const REPAIR_PROBLEMS_SHOWN: usize = 10;

pub fn run(config: &Config, command: DbCommand, out: &mut Output) -> anyhow::Result<Outcome> {
    match command {
        DbCommand::Migrate => migrate(config, out),
        DbCommand::Stats { json } => stats(config, json, out),
        DbCommand::Integrity => integrity(config, out),
        DbCommand::Backup { json } => backup(config, json, out),
        DbCommand::Backups { json } => list(config, json, out),
        DbCommand::Restore { file, yes } => restore(config, &file, yes, out),
        DbCommand::Vacuum => vacuum(config, out),
        DbCommand::Repair { json } => repair(config, json, out),
    }
}

fn open(config: &Config) -> anyhow::Result<Database> {
    Database::open(&config.database)
        .with_context(|| format!("cannot open {}", config.database.path.display()))
}

fn progress(line: &str) {
    eprintln!("{line}");
}

/// `db migrate`.
fn migrate(config: &Config, out: &mut Output) -> anyhow::Result<Outcome> {
    let applied = open(config)?.run_pending_migrations()?;
    if applied.is_empty() {
        writeln!(
            out,
            "Schema is up to date ({})",
            config.database.path.display()
        )?;
    } else {
        for name in &applied {
            writeln!(out, "Applied {name}")?;
        }
        writeln!(out, "{} migration(s) applied", applied.len())?;
    }
    Ok(Outcome::Success)
}

/// `db stats [--json]`.
fn stats(config: &Config, json: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let db = open(config)?;
    let pending = db.pending_migrations()?;
    let stats = db.stats()?;
    if json {
        let mut value = serde_json::to_value(&stats)?;
        value["pending_migrations"] = serde_json::json!(pending);
        out.json_pretty(&value)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "Database: {}", stats.path)?;
    writeln!(out, "File size: {} bytes", stats.file_size_bytes)?;
    writeln!(out, "WAL size: {} bytes", stats.wal_size_bytes)?;
    writeln!(
        out,
        "Pages: {} x {} bytes ({} free)",
        stats.page_count, stats.page_size_bytes, stats.freelist_count
    )?;
    writeln!(out, "Journal mode: {}", stats.journal_mode)?;
    if !pending.is_empty() {
        writeln!(
            out,
            "Pending migrations: {} (run `db migrate`)",
            pending.join(", ")
        )?;
    }
    writeln!(out, "{:<24} {:>12}", "table", "rows")?;
    for (table, rows) in &stats.tables {
        writeln!(out, "{table:<24} {rows:>12}")?;
    }
    Ok(Outcome::Success)
}

/// `db integrity`: exit 1 on problems.
fn integrity(config: &Config, out: &mut Output) -> anyhow::Result<Outcome> {
    let report = open(config)?.integrity()?;
    let path = config.database.path.display();
    if report.ok {
        writeln!(out, "Integrity OK: {path}")?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "Integrity problems in {path}:")?;
    for problem in &report.problems {
        writeln!(out, "  {problem}")?;
    }
    Ok(Outcome::Failure)
}

/// `db backup [--json]`.
fn backup(config: &Config, json: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let database = &config.database;
    if !database.path.is_file() {
        return Err(CliError::NoDatabase(database.path.clone()).into());
    }
    let db = Database::open(&DatabaseConfig {
        connection_pool_size: CLI_POOL_SIZE,
        ..database.clone()
    })
    .with_context(|| format!("cannot open {}", database.path.display()))?;
    let settings = BackupSettings::from_config(database);
    progress(&format!(
        "Backing up {} into {}",
        database.path.display(),
        settings.dir.display()
    ));
    let record = take_backup(&db, &settings, BackupReason::Manual).context("backup failed")?;
    for warning in &record.warnings {
        eprintln!("warning: {warning}");
    }
    if json {
        out.json_pretty(&record)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "Backup written: {}", record.path)?;
    writeln!(out, "  size:     {} bytes", record.size_bytes)?;
    writeln!(out, "  sha256:   {}", record.sha256)?;
    writeln!(out, "  duration: {} ms", record.duration_ms)?;
    writeln!(
        out,
        "  kept:     {} of at most {}",
        record.kept, settings.max_backups
    )?;
    for pruned in &record.pruned {
        writeln!(out, "  removed:  {pruned}")?;
    }
    Ok(Outcome::Success)
}

/// `db backups [--json]`.
fn list(config: &Config, json: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let dir = &config.database.backup_dir;
    let entries =
        list_backups(dir).with_context(|| format!("cannot list backups in {}", dir.display()))?;
    if json {
        let value = serde_json::json!({
            "backup_dir": dir.display().to_string(),
            "max_backups": config.database.max_backups,
            "backups": entries,
        });
        out.json_pretty(&value)?;
        return Ok(Outcome::Success);
    }
    if entries.is_empty() {
        writeln!(out, "No backups in {}", dir.display())?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{:<23}  {:<11}  {:>12}  {:<16}  file",
        "taken (UTC)", "kind", "bytes", "sha256"
    )?;
    for entry in &entries {
        let sha256 = match &entry.metadata {
            Some(metadata) => metadata.sha256.chars().take(16).collect(),
            None => "(no metadata)".to_owned(),
        };
        writeln!(
            out,
            "{:<23}  {:<11}  {:>12}  {:<16}  {}",
            entry.created_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            entry.kind,
            entry.size_bytes,
            sha256,
            entry.file_name
        )?;
    }
    let count = |kind: &str| entries.iter().filter(|entry| entry.kind == kind).count();
    let in_rotation = entries.iter().filter(|entry| entry.in_rotation).count();
    writeln!(
        out,
        "{in_rotation} in rotation (at most {} kept), {} pre-restore, {} pre-repair, in {}",
        config.database.max_backups,
        count(BackupReason::PreRestore.as_str()),
        count(BackupReason::PreRepair.as_str()),
        dir.display()
    )?;
    Ok(Outcome::Success)
}

/// `db restore FILE [--yes]`.
fn restore(config: &Config, file: &Path, yes: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        eprintln!(
            "error: refusing to restore without confirmation: stdin is not a terminal; pass \
             --yes to replace {} with {}",
            config.database.path.display(),
            file.display()
        );
        return Ok(Outcome::Refused);
    }
    let mut report = |line: &str| progress(line);
    let plan =
        RestorePlan::prepare(&config.database, file, &mut report).context("cannot restore")?;
    let source = plan.source();
    writeln!(out, "Backup {}", source.path.display())?;
    if let Some(metadata) = &source.metadata {
        writeln!(
            out,
            "  taken:    {} by discord-monitor {} ({})",
            metadata
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            metadata.app_version,
            metadata.reason.as_str()
        )?;
    }
    writeln!(
        out,
        "  schema:   {}",
        source.schema_version.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  messages: {}",
        source.row_counts.get("messages").copied().unwrap_or(0)
    )?;
    writeln!(
        out,
        "  sha256:   {} ({})",
        source.sha256,
        if source.metadata.is_some() {
            "matches its metadata"
        } else {
            "no metadata sidecar to check against"
        }
    )?;
    if !yes && !confirm(plan.database())? {
        writeln!(out, "Restore cancelled; nothing changed")?;
        return Ok(Outcome::Failure);
    }
    let restored = plan.apply(&mut report).context("restore failed")?;
    writeln!(
        out,
        "Restored {} from {}",
        restored.database.display(),
        restored.restored_from.display()
    )?;
    match &restored.pre_restore_backup {
        Some(saved) => writeln!(
            out,
            "  the replaced database is saved as {}",
            saved.display()
        )?,
        None => writeln!(out, "  there was no database to save first")?,
    }
    if !restored.pending_migrations.is_empty() {
        writeln!(
            out,
            "  {} migration(s) pending ({}); the service applies them at its next start (or \
             run `db migrate`)",
            restored.pending_migrations.len(),
            restored.pending_migrations.join(", ")
        )?;
    }
    Ok(Outcome::Success)
}

fn confirm(database: &Path) -> anyhow::Result<bool> {
    eprint!(
        "Replace {} with this backup? The current database is saved first. [y/N] ",
        database.display()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `db vacuum`.
fn vacuum(config: &Config, out: &mut Output) -> anyhow::Result<Outcome> {
    let mut report = |line: &str| progress(line);
    let done = vacuum_database(&config.database, &mut report).context("cannot vacuum")?;
    // It can grow by a page or two on a compact file: `PRAGMA optimize` stores statistics.
    let change = i128::from(done.after_bytes) - i128::from(done.before_bytes);
    writeln!(
        out,
        "Vacuumed {}: {} bytes before, {} bytes after ({change:+} bytes) in {} ms",
        done.database.display(),
        done.before_bytes,
        done.after_bytes,
        done.duration_ms
    )?;
    Ok(Outcome::Success)
}

/// `db repair [--json]`: exit 1 when problems remain.
fn repair(config: &Config, json: bool, out: &mut Output) -> anyhow::Result<Outcome> {
    let mut report = |line: &str| progress(line);
    let done = repair_database(&config.database, &mut report).context("cannot repair")?;
    if json {
        out.json_pretty(&done)?;
    } else {
        print_repair(&done, out)?;
    }
    Ok(if done.ok {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn print_repair(done: &RepairReport, out: &mut Output) -> Result<(), OutputError> {
    let database = done.database.display();
    let found = done.problems_before.len();
    match (done.ok, found) {
        (true, 0) => writeln!(
            out,
            "Repair of {database}: no problems found; indexes rebuilt"
        )?,
        (true, _) => writeln!(
            out,
            "Repaired {database}: {found} problem(s) found, none left"
        )?,
        (false, _) => writeln!(
            out,
            "Repair of {database} failed: {} problem(s) left",
            done.problems_after.len()
        )?,
    }
    print_problems("found:", &done.problems_before, out)?;
    for action in &done.actions {
        writeln!(out, "  {:<12} {action}", "step:")?;
    }
    print_problems("still wrong:", &done.problems_after, out)?;
    if let Some(copy) = &done.safety_copy {
        writeln!(out, "  {:<12} {}", "safety copy:", copy.display())?;
    }
    if let Some(next) = &done.next_step {
        writeln!(out, "  {:<12} {next}", "next step:")?;
    }
    writeln!(out, "  {:<12} {} ms", "duration:", done.duration_ms)
}

fn print_problems(label: &str, problems: &[String], out: &mut Output) -> Result<(), OutputError> {
    for problem in problems.iter().take(REPAIR_PROBLEMS_SHOWN) {
        writeln!(out, "  {label:<12} {problem}")?;
    }
    if problems.len() > REPAIR_PROBLEMS_SHOWN {
        writeln!(
            out,
            "  {label:<12} ... and {} more (--json lists them all)",
            problems.len() - REPAIR_PROBLEMS_SHOWN
        )?;
    }
    Ok(())
}
