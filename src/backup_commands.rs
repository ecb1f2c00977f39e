//! `db backup`, `db backups`, `db restore`, `db vacuum` and `db repair`: terminal output
//! around [`discord_monitor::actors::backup`]. Progress goes to stderr, results to stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use discord_monitor::actors::backup::{
    BackupReason, BackupSettings, RepairReport, RestorePlan, list_backups, repair_database,
    take_backup, vacuum_database,
};
use discord_monitor::actors::db::{Database, DatabaseConfig};
use discord_monitor::app::config::Config;

/// Exit code for a command that cannot go ahead as invoked (e.g. no `--yes` without a
/// terminal to ask on).
const USAGE_EXIT: u8 = 2;

/// Connections the CLI needs: one for the snapshot, one for the `backups` row.
const CLI_POOL_SIZE: u32 = 2;

/// Problems printed per list by `db repair`: a damaged file can yield a hundred lines of
/// `Page N: never used`; `--json` has them all.
const REPAIR_PROBLEMS_SHOWN: usize = 10;

fn progress(line: &str) {
    eprintln!("{line}");
}

/// `db backup [--json]`.
pub fn backup(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let database = &config.database;
    if !database.path.is_file() {
        anyhow::bail!(
            "no database at {} (nothing to back up)",
            database.path.display()
        );
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
        println!("{}", serde_json::to_string_pretty(&record)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Backup written: {}", record.path);
    println!("  size:     {} bytes", record.size_bytes);
    println!("  sha256:   {}", record.sha256);
    println!("  duration: {} ms", record.duration_ms);
    println!(
        "  kept:     {} of at most {}",
        record.kept, settings.max_backups
    );
    for pruned in &record.pruned {
        println!("  removed:  {pruned}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `db backups [--json]`.
pub fn list(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let dir = &config.database.backup_dir;
    let entries =
        list_backups(dir).with_context(|| format!("cannot list backups in {}", dir.display()))?;
    if json {
        let value = serde_json::json!({
            "backup_dir": dir.display().to_string(),
            "max_backups": config.database.max_backups,
            "backups": entries,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("No backups in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<23}  {:<11}  {:>12}  {:<16}  file",
        "taken (UTC)", "kind", "bytes", "sha256"
    );
    for entry in &entries {
        let sha256 = match &entry.metadata {
            Some(metadata) => metadata.sha256.chars().take(16).collect(),
            None => "(no metadata)".to_owned(),
        };
        println!(
            "{:<23}  {:<11}  {:>12}  {:<16}  {}",
            entry.created_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            entry.kind,
            entry.size_bytes,
            sha256,
            entry.file_name
        );
    }
    let count = |kind: &str| entries.iter().filter(|entry| entry.kind == kind).count();
    let in_rotation = entries.iter().filter(|entry| entry.in_rotation).count();
    println!(
        "{in_rotation} in rotation (at most {} kept), {} pre-restore, {} pre-repair, in {}",
        config.database.max_backups,
        count(BackupReason::PreRestore.as_str()),
        count(BackupReason::PreRepair.as_str()),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `db restore FILE [--yes]`.
pub fn restore(config: &Config, file: &Path, yes: bool) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        eprintln!(
            "error: refusing to restore without confirmation: stdin is not a terminal; pass \
             --yes to replace {} with {}",
            config.database.path.display(),
            file.display()
        );
        return Ok(ExitCode::from(USAGE_EXIT));
    }
    let mut report = |line: &str| progress(line);
    let plan =
        RestorePlan::prepare(&config.database, file, &mut report).context("cannot restore")?;
    let source = plan.source();
    println!("Backup {}", source.path.display());
    if let Some(metadata) = &source.metadata {
        println!(
            "  taken:    {} by discord-monitor {} ({})",
            metadata
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            metadata.app_version,
            metadata.reason.as_str()
        );
    }
    println!(
        "  schema:   {}",
        source.schema_version.as_deref().unwrap_or("-")
    );
    println!(
        "  messages: {}",
        source.row_counts.get("messages").copied().unwrap_or(0)
    );
    println!(
        "  sha256:   {} ({})",
        source.sha256,
        if source.metadata.is_some() {
            "matches its metadata"
        } else {
            "no metadata sidecar to check against"
        }
    );
    if !yes && !confirm(plan.database())? {
        println!("Restore cancelled; nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let restored = plan.apply(&mut report).context("restore failed")?;
    println!(
        "Restored {} from {}",
        restored.database.display(),
        restored.restored_from.display()
    );
    match &restored.pre_restore_backup {
        Some(saved) => println!("  the replaced database is saved as {}", saved.display()),
        None => println!("  there was no database to save first"),
    }
    if !restored.pending_migrations.is_empty() {
        println!(
            "  {} migration(s) pending ({}); the service applies them at its next start (or \
             run `db migrate`)",
            restored.pending_migrations.len(),
            restored.pending_migrations.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
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
pub fn vacuum(config: &Config) -> anyhow::Result<ExitCode> {
    let mut report = |line: &str| progress(line);
    let done = vacuum_database(&config.database, &mut report).context("cannot vacuum")?;
    // It can grow by a page or two on a compact file: `PRAGMA optimize` stores statistics.
    let change = i128::from(done.after_bytes) - i128::from(done.before_bytes);
    println!(
        "Vacuumed {}: {} bytes before, {} bytes after ({change:+} bytes) in {} ms",
        done.database.display(),
        done.before_bytes,
        done.after_bytes,
        done.duration_ms
    );
    Ok(ExitCode::SUCCESS)
}

/// `db repair [--json]`: exit 1 when problems remain.
pub fn repair(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let mut report = |line: &str| progress(line);
    let done = repair_database(&config.database, &mut report).context("cannot repair")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        print_repair(&done);
    }
    Ok(if done.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_repair(done: &RepairReport) {
    let database = done.database.display();
    let found = done.problems_before.len();
    match (done.ok, found) {
        (true, 0) => println!("Repair of {database}: no problems found; indexes rebuilt"),
        (true, _) => println!("Repaired {database}: {found} problem(s) found, none left"),
        (false, _) => println!(
            "Repair of {database} failed: {} problem(s) left",
            done.problems_after.len()
        ),
    }
    print_problems("found:", &done.problems_before);
    for action in &done.actions {
        println!("  {:<12} {action}", "step:");
    }
    print_problems("still wrong:", &done.problems_after);
    if let Some(copy) = &done.safety_copy {
        println!("  {:<12} {}", "safety copy:", copy.display());
    }
    if let Some(next) = &done.next_step {
        println!("  {:<12} {next}", "next step:");
    }
    println!("  {:<12} {} ms", "duration:", done.duration_ms);
}

fn print_problems(label: &str, problems: &[String]) {
    for problem in problems.iter().take(REPAIR_PROBLEMS_SHOWN) {
        println!("  {label:<12} {problem}");
    }
    if problems.len() > REPAIR_PROBLEMS_SHOWN {
        println!(
            "  {label:<12} ... and {} more (--json lists them all)",
            problems.len() - REPAIR_PROBLEMS_SHOWN
        );
    }
}
