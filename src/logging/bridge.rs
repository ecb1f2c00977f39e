//! Bridge from the `log` facade (used by actix-web, reqwest, rustls, tungstenite, diesel's
//! helpers, lettre) into our slog logger, so their warnings reach the same JSON lines. Each
//! record's logger name comes from its crate; the full target is kept in `context`.

use slog::{RecordLocation, RecordStatic, b};

use super::error::LoggingError;
use super::level::{log_facade_filter, slog_level_from_log};
use crate::config::LogLevel;

/// `log` records carry their location as runtime strings, slog wants `'static` ones; the
/// target in `context` says where a bridged record came from instead.
static BRIDGED_LOCATION: RecordLocation = RecordLocation {
    file: "",
    line: 0,
    column: 0,
    function: "",
    module: "",
};

/// The logger name for a `log` target: the component the crate serves, else the crate's name.
pub fn logger_name_for_target(target: &str) -> &str {
    let crate_name = target.split("::").next().unwrap_or(target);
    match crate_name {
        "actix_web" | "actix_server" | "actix_http" => "http",
        "reqwest" | "hyper" | "hyper_util" | "h2" | "rustls" => "http.client",
        "diesel" => "database",
        "lettre" => "alerts",
        "tungstenite" | "tokio_tungstenite" => "discord.gateway",
        other => other,
    }
}

/// A `log::Log` that forwards to a slog logger.
pub struct LogBridge {
    logger: slog::Logger,
    max_level: log::LevelFilter,
}

impl LogBridge {
    /// Third-party records pass at the configured level, so their DEBUG records (hyper logs
    /// every connection) only show when `level` is DEBUG, and TRACE never does.
    pub fn new(logger: &slog::Logger, level: LogLevel) -> Self {
        Self {
            logger: logger.clone(),
            max_level: log_facade_filter(level),
        }
    }

    pub fn max_level(&self) -> log::LevelFilter {
        self.max_level
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.max_level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = record.target();
        let record_static = RecordStatic {
            location: &BRIDGED_LOCATION,
            level: slog_level_from_log(record.level()),
            tag: "",
        };
        // A `logger` key on the record wins over the one of the logger chain.
        self.logger.log(&slog::Record::new(
            &record_static,
            record.args(),
            b!("logger" => logger_name_for_target(target), "target" => target),
        ));
    }

    fn flush(&self) {}
}

/// Installs the bridge as the process's `log` logger. The facade takes one logger per process:
/// a second call leaves the first bridge in place and returns
/// [`LoggingError::BridgeAlreadyInstalled`], which callers that may run twice (tests) ignore.
pub fn install_log_bridge(logger: &slog::Logger, level: LogLevel) -> Result<(), LoggingError> {
    let bridge = LogBridge::new(logger, level);
    let max_level = bridge.max_level();
    log::set_boxed_logger(Box::new(bridge)).map_err(|_| LoggingError::BridgeAlreadyInstalled)?;
    log::set_max_level(max_level);
    Ok(())
}
