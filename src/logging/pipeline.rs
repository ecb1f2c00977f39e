//! The drain in front of the async queue: filters by level, stamps the time the record was
//! logged, and writes directly once the queue has shut down so late records are not lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::{BorrowedKV, Drain, Never, OwnedKVList, Record, RecordStatic, SingleKV};

use super::encode::{LOGGED_AT_KEY, timestamp_now};
use super::output::WriterDrain;

pub(crate) struct FrontDrain {
    pub(crate) min_level: slog::Level,
    pub(crate) queue: slog_async::Async,
    /// Writes on the caller's thread when the queue is closed or refuses the record.
    pub(crate) direct: Arc<WriterDrain>,
    /// Set by the guard before it drains the queue at shutdown.
    pub(crate) closed: Arc<AtomicBool>,
}

impl Drain for FrontDrain {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record<'_>, logger_values: &OwnedKVList) -> Result<(), Never> {
        if !record.level().is_at_least(self.min_level) {
            return Ok(());
        }
        let stamped_kv = (SingleKV(LOGGED_AT_KEY, timestamp_now()), record.kv());
        let record_static = RecordStatic {
            location: record.location(),
            level: record.level(),
            tag: record.tag(),
        };
        let stamped = Record::new(&record_static, record.msg(), BorrowedKV(&stamped_kv));
        if self.closed.load(Ordering::Acquire) || self.queue.log(&stamped, logger_values).is_err() {
            let _ = self.direct.log(&stamped, logger_values);
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        level.is_at_least(self.min_level)
    }
}
