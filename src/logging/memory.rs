//! An in-memory logger for tests: the lines it keeps are formatted exactly as the files get
//! them (written synchronously, so a line is there as soon as the logging call returns).

use std::sync::{Arc, Mutex, PoisonError};

use slog::{Drain, Never, OwnedKVList, Record, o};

use super::encode::LineEncoder;
use crate::config::LogLevel;

/// The lines a [`memory_logger`] has written so far.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<String>>>,
}

impl LogBuffer {
    /// Each line without its newline, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|line| line.trim_end_matches('\n').to_owned())
            .collect()
    }

    /// The text a log file would hold: every line with its newline.
    pub fn text(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .concat()
    }

    /// Each line parsed as JSON (every line is one JSON object).
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    pub fn clear(&self) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

struct MemoryDrain {
    min_level: slog::Level,
    encoder: LineEncoder,
    buffer: LogBuffer,
}

impl Drain for MemoryDrain {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record<'_>, logger_values: &OwnedKVList) -> Result<(), Never> {
        if record.level().is_at_least(self.min_level) {
            let line = self.encoder.encode(record, logger_values);
            self.buffer
                .lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        level.is_at_least(self.min_level)
    }
}

/// A root logger writing into memory at `level`. No secret scrubbing: tests that check that no
/// secret is ever logged see what the code really logged.
pub fn memory_logger(level: LogLevel) -> (slog::Logger, LogBuffer) {
    let buffer = LogBuffer::default();
    let drain = MemoryDrain {
        min_level: level.into(),
        encoder: LineEncoder::default(),
        buffer: buffer.clone(),
    };
    (slog::Logger::root(drain, o!()), buffer)
}
