//! Logging: slog JSON lines to stdout and to rotated files under `monitoring.log_dir`, in the
//! shape the deployment guide's log-analysis commands (`grep .. | jq ..`) read. Each line is one
//! object:
//!
//! ```text
//! {"ts":"2026-03-01T12:00:00.123Z","level":"ERROR","logger":"database","message":"Write failed",
//!  "context":{"table":"messages"},"error_type":"DatabaseError","exception":"database is locked"}
//! ```
//!
//! - `ts` is the moment the record was logged (not written), UTC with milliseconds.
//! - `level` is a full word (`CRITICAL`, `ERROR`, `WARNING`, `INFO`, `DEBUG`).
//! - `logger` names the component: `log.new(o!("logger" => "database"))`; default
//!   `discord_monitor`.
//! - `error_type` and `exception` keys are lifted to the top; every other key of the record and
//!   its logger chain lands in `context` (left out when empty).
//!
//! The path of a record: a front drain (level filter, `ts` stamp) -> slog-async's queue -> one
//! writer thread that encodes the line with slog-json's `Json` drain (`encode`: the record and
//! logger chain merged into our keys first, see there why), scrubs configured secrets from it
//! (`redact`) and writes it to stdout, the file of every line and, from WARNING up, the file
//! of warnings (`output`, size-rotated by `rotate`).
//!
//! [`init`] builds the root logger from [`LogSettings`]; keep the returned [`Logging`] alive
//! until shutdown, dropping it flushes every queued line. [`install_log_bridge`] routes records
//! of crates using the `log` facade (actix-web, reqwest, rustls, ...) into the same logger.
//! [`install_panic_hook`] turns panics into CRITICAL lines. [`log_if_slow`] writes the
//! `performance` lines; [`memory_logger`] gives tests the exact lines a file would get.

mod bridge;
mod chain;
mod encode;
mod error;
mod level;
mod memory;
mod output;
mod panic;
mod pipeline;
mod redact;
mod rotate;
mod slow;

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::o;

use crate::config::{LogLevel, MonitoringConfig, Secret};

pub use bridge::{LogBridge, install_log_bridge, logger_name_for_target};
pub use chain::error_chain;
pub use encode::DEFAULT_LOGGER;
pub use error::LoggingError;
pub use level::level_name;
pub use memory::{LogBuffer, memory_logger};
pub use output::LogStats;
pub use panic::{PANIC_LOGGER, install_panic_hook};
pub use rotate::RotationPolicy;
pub use slow::{PERFORMANCE_LOGGER, log_if_slow};

use encode::LineEncoder;
use output::{Outputs, WriterDrain};
use pipeline::FrontDrain;
use redact::Redactor;
use rotate::RotatingFile;

/// File of every line at or above the configured level.
pub const MAIN_LOG_FILE: &str = "discord_monitor.jsonl";
/// File of warnings and worse only.
pub const ERROR_LOG_FILE: &str = "errors.jsonl";

/// Lines; absorbs a burst of records while the disk catches up, after which callers block
/// rather than lose lines.
const QUEUE_CAPACITY_LINES: usize = 4096;

/// Everything [`init`] needs. Built from the `monitoring` config section, or field by field
/// (tests set small byte sizes to see rotation).
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Records below this level are dropped.
    pub level: LogLevel,
    /// Directory of `discord_monitor.jsonl` and `errors.jsonl` (created if missing); `None`
    /// writes no files.
    pub dir: Option<PathBuf>,
    /// Also write every line to stdout.
    pub stdout: bool,
    pub main_file: RotationPolicy,
    pub error_file: RotationPolicy,
    /// Values replaced by `<redacted>` wherever they appear in a line.
    pub secrets: Vec<Secret>,
}

impl LogSettings {
    pub fn from_config(config: &MonitoringConfig) -> Self {
        Self {
            level: config.log_level,
            dir: Some(config.log_dir.clone()),
            stdout: config.log_to_stdout,
            main_file: RotationPolicy::from_mib(config.log_file_max_mb, config.log_file_count),
            error_file: RotationPolicy::from_mib(config.error_log_max_mb, config.error_log_count),
            secrets: Vec::new(),
        }
    }

    /// Adds secrets to scrub; empty ones and ones shorter than 4 characters are ignored.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = Secret>) -> Self {
        self.secrets.extend(secrets);
        self
    }
}

/// The root logger and the guard that flushes it. Drop it last, after everything that logs.
pub struct Logging {
    pub logger: slog::Logger,
    pub guard: LoggingGuard,
}

/// Flushes every queued line to the outputs when dropped. Records logged afterwards (from
/// threads still shutting down) are written directly instead of through the queue.
pub struct LoggingGuard {
    queue: Option<slog_async::AsyncGuard>,
    closed: Arc<AtomicBool>,
    writer: Arc<WriterDrain>,
    stats: LogStats,
}

impl LoggingGuard {
    pub fn stats(&self) -> LogStats {
        self.stats.clone()
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        // Closing first sends later records down the direct path; they may land before the
        // queue's last lines, but none is lost.
        self.closed.store(true, Ordering::Release);
        drop(self.queue.take());
        self.writer.flush();
    }
}

/// Opens the outputs and starts the writer thread.
pub fn init(settings: LogSettings) -> Result<Logging, LoggingError> {
    let stats = LogStats::default();
    let (all_lines, warnings) = match &settings.dir {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|source| LoggingError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            (
                Some(open_rotating(dir.join(MAIN_LOG_FILE), settings.main_file)?),
                Some(open_rotating(
                    dir.join(ERROR_LOG_FILE),
                    settings.error_file,
                )?),
            )
        }
        None => (None, None),
    };
    let console = settings
        .stdout
        .then(|| Box::new(io::stdout()) as Box<dyn Write + Send>);
    let outputs = Outputs::new(console, all_lines, warnings, stats.clone());
    let encoder = LineEncoder::new(Redactor::new(&settings.secrets));
    Ok(start(settings.level, encoder, outputs, stats))
}

fn open_rotating(path: PathBuf, policy: RotationPolicy) -> Result<RotatingFile, LoggingError> {
    RotatingFile::open(path.clone(), policy)
        .map_err(|source| LoggingError::OpenFile { path, source })
}

fn start(level: LogLevel, encoder: LineEncoder, outputs: Outputs, stats: LogStats) -> Logging {
    let writer = Arc::new(WriterDrain::new(encoder, outputs));
    let (queue, queue_guard) = slog_async::Async::new(Arc::clone(&writer))
        .chan_size(QUEUE_CAPACITY_LINES)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .thread_name("log-writer".to_owned())
        .build_with_guard();
    let closed = Arc::new(AtomicBool::new(false));
    let front = FrontDrain {
        min_level: level.into(),
        queue,
        direct: Arc::clone(&writer),
        closed: Arc::clone(&closed),
    };
    Logging {
        logger: slog::Logger::root(front, o!()),
        guard: LoggingGuard {
            queue: Some(queue_guard),
            closed,
            writer,
            stats,
        },
    }
}

#[cfg(test)]
mod tests;
