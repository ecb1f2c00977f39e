//! Panics as log lines. The supervisor survives a panicking actor (it rebuilds it), so without
//! this the only trace would be a line on stderr that log shipping may not collect.

/// Logger name of panic lines.
pub const PANIC_LOGGER: &str = "panic";

/// Logs every panic at CRITICAL (`error_type` `Panic`, `exception` the message and location),
/// then runs the previous hook (which prints to stderr). The line goes through the normal
/// drain, so secrets are scrubbed from it like from any other.
pub fn install_panic_hook(logger: &slog::Logger) {
    let logger = logger.new(slog::o!("logger" => PANIC_LOGGER));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        slog::crit!(logger, "Panic";
            "error_type" => "Panic",
            "exception" => info.to_string(),
            "thread" => thread.name().unwrap_or("unnamed"));
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogLevel;
    use crate::logging::memory_logger;

    #[test]
    fn a_panic_becomes_a_critical_line() {
        let (logger, buffer) = memory_logger(LogLevel::Info);
        install_panic_hook(&logger);
        let outcome = std::thread::Builder::new()
            .name("doomed".to_owned())
            .spawn(|| panic!("handler exploded"))
            .unwrap()
            .join();
        assert!(outcome.is_err());
        let records = buffer.records();
        let line = records
            .iter()
            .find(|record| record["logger"] == PANIC_LOGGER)
            .expect("a panic line");
        assert_eq!(line["level"], "CRITICAL");
        assert_eq!(line["error_type"], "Panic");
        assert!(
            line["exception"]
                .as_str()
                .unwrap()
                .contains("handler exploded")
        );
        assert_eq!(line["context"]["thread"], "doomed");
    }
}
