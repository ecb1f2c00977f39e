//! Where finished lines go: stdout (for log shipping), the rotated file of every line and the
//! rotated file of warnings and worse. A failed write is counted and reported once on stderr;
//! it never stops the service.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use slog::{Drain, Never, OwnedKVList, Record};

use super::encode::LineEncoder;
use super::rotate::RotatingFile;

/// Counts of what went wrong while writing lines, readable while the service runs (e.g. to
/// publish as a metric).
#[derive(Debug, Clone, Default)]
pub struct LogStats {
    write_failures: Arc<AtomicU64>,
}

impl LogStats {
    /// Failed writes (or rotations) to any output since start.
    pub fn write_failures(&self) -> u64 {
        self.write_failures.load(Ordering::Relaxed)
    }
}

/// One output plus whether its first failure has been reported yet.
struct Output<W> {
    writer: W,
    failure_reported: AtomicBool,
}

impl<W> Output<W> {
    fn new(writer: W) -> Self {
        Self {
            writer,
            failure_reported: AtomicBool::new(false),
        }
    }

    fn record_failure(&self, stats: &LogStats, target: &dyn std::fmt::Display, err: &io::Error) {
        stats.write_failures.fetch_add(1, Ordering::Relaxed);
        if !self.failure_reported.swap(true, Ordering::Relaxed) {
            // stderr is the one place left to say that logging itself is failing.
            eprintln!(
                "discord-monitor: cannot write log line to {target}: {err} (further failures are only counted)"
            );
        }
    }
}

pub(crate) struct Outputs {
    console: Option<Output<Box<dyn Write + Send>>>,
    all_lines: Option<Output<RotatingFile>>,
    warnings: Option<Output<RotatingFile>>,
    stats: LogStats,
}

impl Outputs {
    pub(crate) fn new(
        console: Option<Box<dyn Write + Send>>,
        all_lines: Option<RotatingFile>,
        warnings: Option<RotatingFile>,
        stats: LogStats,
    ) -> Self {
        Self {
            console: console.map(Output::new),
            all_lines: all_lines.map(Output::new),
            warnings: warnings.map(Output::new),
            stats,
        }
    }

    fn write(&mut self, level: slog::Level, line: &str) {
        let bytes = line.as_bytes();
        if let Some(console) = self.console.as_mut()
            && let Err(err) = console.writer.write_all(bytes)
        {
            console.record_failure(&self.stats, &"stdout", &err);
        }
        let warnings = self
            .warnings
            .as_mut()
            .filter(|_| level.is_at_least(slog::Level::Warning));
        for file in [self.all_lines.as_mut(), warnings].into_iter().flatten() {
            if let Err(err) = file.writer.write_line(bytes) {
                file.record_failure(&self.stats, &file.writer.path().display(), &err);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(console) = self.console.as_mut()
            && let Err(err) = console.writer.flush()
        {
            console.record_failure(&self.stats, &"stdout", &err);
        }
        for file in [self.all_lines.as_mut(), self.warnings.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Err(err) = file.writer.flush() {
                file.record_failure(&self.stats, &file.writer.path().display(), &err);
            }
        }
    }
}

/// Encodes records and writes them to the outputs. Runs on the async writer thread, and on the
/// logging thread itself once the queue has shut down.
pub(crate) struct WriterDrain {
    encoder: LineEncoder,
    outputs: Mutex<Outputs>,
}

impl WriterDrain {
    pub(crate) fn new(encoder: LineEncoder, outputs: Outputs) -> Self {
        Self {
            encoder,
            outputs: Mutex::new(outputs),
        }
    }

    pub(crate) fn flush(&self) {
        self.outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush();
    }
}

impl Drain for WriterDrain {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record<'_>, logger_values: &OwnedKVList) -> Result<(), Never> {
        let line = self.encoder.encode(record, logger_values);
        self.outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(record.level(), &line);
        Ok(())
    }
}
