//! One record, one JSON object per line, in the shape the seed's `grep | jq` commands expect:
//! `ts`, `level`, `logger`, `message`, then `context` (every other key/value of the record and
//! its logger chain, omitted when empty) and `error_type` / `exception` lifted to the top.

use std::fmt;

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Number, Value};
use slog::{KV, Key, OwnedKVList, Record};

use super::level::level_name;
use super::redact::Redactor;

/// Logger name of records whose logger chain sets no `logger` key.
pub const DEFAULT_LOGGER: &str = "discord_monitor";

/// Key under which the pipeline's front drain carries the moment a record was logged (rather
/// than written, which may be later behind the async queue). Never written into `context`.
pub(crate) const LOGGED_AT_KEY: &str = "__discord_monitor_logged_at";

const LOGGER_KEY: &str = "logger";
const ERROR_TYPE_KEY: &str = "error_type";
const EXCEPTION_KEY: &str = "exception";

/// RFC 3339 UTC with milliseconds, e.g. `2026-03-01T12:00:00.123Z`.
pub(crate) fn timestamp_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LineFormatter {
    redactor: Redactor,
}

impl LineFormatter {
    pub(crate) fn new(redactor: Redactor) -> Self {
        Self { redactor }
    }

    /// The finished line, newline included, secrets already replaced.
    pub(crate) fn format(&self, record: &Record<'_>, logger_values: &OwnedKVList) -> String {
        // slog hands over each group of key/values last-written first, and the logger chain
        // newest child first: reversed, the record's keys read as written and the chain from
        // the root down. `FieldCollector` never fails, so neither result can be an error.
        let mut record_fields = FieldCollector::default();
        let _ = record.kv().serialize(record, &mut record_fields);
        let mut chain_fields = FieldCollector::default();
        let _ = logger_values.serialize(record, &mut chain_fields);

        let mut fields = Fields::default();
        for (key, value) in record_fields.pairs.into_iter().rev() {
            fields.insert(key, value, Source::Record);
        }
        for (key, value) in chain_fields.pairs.into_iter().rev() {
            fields.insert(key, value, Source::Chain);
        }

        let mut line = Map::new();
        line.insert(
            "ts".to_owned(),
            Value::String(fields.logged_at.unwrap_or_else(timestamp_now)),
        );
        line.insert("level".to_owned(), Value::from(level_name(record.level())));
        let logger = match fields.logger.map(|field| field.value) {
            Some(Value::String(name)) => name,
            Some(other) => other.to_string(),
            None => DEFAULT_LOGGER.to_owned(),
        };
        line.insert("logger".to_owned(), Value::String(logger));
        line.insert(
            "message".to_owned(),
            Value::String(record.msg().to_string()),
        );
        if !fields.context.is_empty() {
            let context = fields
                .context
                .into_iter()
                .map(|(key, field)| (key.to_owned(), field.value))
                .collect();
            line.insert("context".to_owned(), Value::Object(context));
        }
        if let Some(error_type) = fields.error_type {
            line.insert(ERROR_TYPE_KEY.to_owned(), error_type.value);
        }
        if let Some(exception) = fields.exception {
            line.insert(EXCEPTION_KEY.to_owned(), exception.value);
        }

        let mut text = self.redactor.redact(Value::Object(line).to_string());
        text.push('\n');
        text
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Record,
    Chain,
}

struct Field {
    value: Value,
    source: Source,
}

/// The line's fields with the precedence rules applied: a key set on the record wins over the
/// logger chain, a child logger's over its parent's (fed root first, so the later one wins),
/// and for a repeated key within the record the first one written.
#[derive(Default)]
struct Fields {
    logged_at: Option<String>,
    logger: Option<Field>,
    error_type: Option<Field>,
    exception: Option<Field>,
    /// In first-seen order: the record's keys, then the chain's from the root down.
    context: Vec<(Key, Field)>,
}

impl Fields {
    fn insert(&mut self, key: Key, value: Value, source: Source) {
        let slot = match key {
            LOGGED_AT_KEY => {
                if let Value::String(ts) = value {
                    self.logged_at.get_or_insert(ts);
                }
                return;
            }
            LOGGER_KEY => &mut self.logger,
            ERROR_TYPE_KEY => &mut self.error_type,
            EXCEPTION_KEY => &mut self.exception,
            _ => match self
                .context
                .iter_mut()
                .find(|(existing, _)| *existing == key)
            {
                Some((_, field)) => {
                    overwrite(field, value, source);
                    return;
                }
                None => {
                    self.context.push((key, Field { value, source }));
                    return;
                }
            },
        };
        match slot {
            Some(field) => overwrite(field, value, source),
            None => *slot = Some(Field { value, source }),
        }
    }
}

/// Only a newer logger in the chain replaces an earlier value; nothing replaces the record's.
fn overwrite(field: &mut Field, value: Value, source: Source) {
    if field.source == Source::Chain && source == Source::Chain {
        field.value = value;
    }
}

/// Collects slog key/values as JSON values in the order slog emits them, keeping each value's
/// type (numbers stay numbers, `slog::Serde` values become nested objects).
#[derive(Default)]
struct FieldCollector {
    pairs: Vec<(Key, Value)>,
}

impl FieldCollector {
    fn insert(&mut self, key: Key, value: Value) {
        self.pairs.push((key, value));
    }

    fn insert_float(&mut self, key: Key, value: f64) {
        // JSON has no NaN or infinity; their text keeps the information.
        let value =
            Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.insert(key, value);
    }
}

macro_rules! emit_as {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(&mut self, key: Key, value: $ty) -> slog::Result {
                self.insert(key, Value::from(value));
                Ok(())
            }
        )*
    };
}

impl slog::Serializer for FieldCollector {
    emit_as!(
        emit_bool: bool,
        emit_u8: u8,
        emit_i8: i8,
        emit_u16: u16,
        emit_i16: i16,
        emit_u32: u32,
        emit_i32: i32,
        emit_u64: u64,
        emit_i64: i64,
        emit_usize: usize,
        emit_isize: isize,
        emit_str: &str,
    );

    fn emit_u128(&mut self, key: Key, value: u128) -> slog::Result {
        let value =
            u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.insert(key, value);
        Ok(())
    }

    fn emit_i128(&mut self, key: Key, value: i128) -> slog::Result {
        let value =
            i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.insert(key, value);
        Ok(())
    }

    fn emit_f32(&mut self, key: Key, value: f32) -> slog::Result {
        self.insert_float(key, f64::from(value));
        Ok(())
    }

    fn emit_f64(&mut self, key: Key, value: f64) -> slog::Result {
        self.insert_float(key, value);
        Ok(())
    }

    fn emit_char(&mut self, key: Key, value: char) -> slog::Result {
        self.insert(key, Value::String(value.to_string()));
        Ok(())
    }

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        self.insert(key, Value::Null);
        Ok(())
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.insert(key, Value::Null);
        Ok(())
    }

    fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
        self.insert(key, Value::String(value.to_string()));
        Ok(())
    }

    fn emit_serde(&mut self, key: Key, value: &dyn slog::SerdeValue) -> slog::Result {
        let value = serde_json::to_value(value.as_serde())
            .unwrap_or_else(|err| Value::String(format!("<unserializable: {err}>")));
        self.insert(key, value);
        Ok(())
    }

    /// The error and its whole `source()` chain, as slog's default and slog-async's queue write
    /// it, so a line reads the same whichever path it took.
    fn emit_error(&mut self, key: Key, error: &(dyn std::error::Error + 'static)) -> slog::Result {
        self.insert(key, Value::String(super::error_chain(error)));
        Ok(())
    }
}
