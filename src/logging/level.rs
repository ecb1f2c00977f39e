//! Level names as the deployment guide's log lines spell them (`WARNING`, not `WARN`) and
//! conversions from the configured [`LogLevel`] to slog's and the `log` facade's levels.

use crate::config::LogLevel;

impl From<LogLevel> for slog::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Critical => slog::Level::Critical,
            LogLevel::Error => slog::Level::Error,
            LogLevel::Warning => slog::Level::Warning,
            LogLevel::Info => slog::Level::Info,
            LogLevel::Debug => slog::Level::Debug,
        }
    }
}

/// The word written in a line's `level` field. Trace has no word of its own in the deployment
/// guide's vocabulary, so it reads as `DEBUG`.
pub fn level_name(level: slog::Level) -> &'static str {
    match level {
        slog::Level::Critical => "CRITICAL",
        slog::Level::Error => "ERROR",
        slog::Level::Warning => "WARNING",
        slog::Level::Info => "INFO",
        slog::Level::Debug | slog::Level::Trace => "DEBUG",
    }
}

/// The most verbose `log` facade level worth turning into a record at `level`. The facade has
/// no critical level, so `CRITICAL` lets its errors through and the slog filter drops them.
pub(crate) fn log_facade_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Critical | LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warning => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    }
}

pub(crate) fn slog_level_from_log(level: log::Level) -> slog::Level {
    match level {
        log::Level::Error => slog::Level::Error,
        log::Level::Warn => slog::Level::Warning,
        log::Level::Info => slog::Level::Info,
        log::Level::Debug => slog::Level::Debug,
        log::Level::Trace => slog::Level::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_its_word() {
        let words: Vec<_> = [
            slog::Level::Critical,
            slog::Level::Error,
            slog::Level::Warning,
            slog::Level::Info,
            slog::Level::Debug,
            slog::Level::Trace,
        ]
        .into_iter()
        .map(level_name)
        .collect();
        assert_eq!(
            words,
            ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "DEBUG"]
        );
    }

    #[test]
    fn configured_levels_map_to_the_same_slog_word() {
        for level in LogLevel::ALL {
            assert_eq!(level_name(slog::Level::from(level)), level.as_str());
        }
    }

    #[test]
    fn facade_filter_follows_the_configured_level() {
        assert_eq!(log_facade_filter(LogLevel::Info), log::LevelFilter::Info);
        assert_eq!(log_facade_filter(LogLevel::Debug), log::LevelFilter::Debug);
        assert_eq!(log_facade_filter(LogLevel::Warning), log::LevelFilter::Warn);
        assert_eq!(
            log_facade_filter(LogLevel::Critical),
            log::LevelFilter::Error
        );
    }
}
