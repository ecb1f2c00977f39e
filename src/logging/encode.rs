//! One record, one JSON line, in the shape the deployment guide's `grep | jq` commands read:
//! `ts`, `level`, `logger`, `message`, then `context` (every other key/value of the record and
//! its logger chain, omitted when empty) and `error_type` / `exception` lifted to the top.
//!
//! slog-json's [`Json`] drain writes the line. Left to itself it writes every key where it finds
//! it: its builder's values, then the logger chain's, then the record's, all at the top level,
//! a repeated key as often as it occurs. Our keys need the record and the whole chain at once
//! (the `logger` name, the nesting under `context`, which value of a repeated key wins), so
//! [`LineEncoder`] first merges them into [`Fields`], then hands the drain a record whose only
//! key/values are the line's, in order ([`LineKV`]), with an empty chain. Secrets are scrubbed
//! from the finished text.

use std::fmt;

use chrono::{SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap};
use serde_json::{Number, Value};
use slog::{BorrowedKV, Drain, KV, Key, OwnedKVList, Record, RecordStatic};
use slog_json::Json;

use super::level::level_name;
use super::redact::Redactor;

/// Logger name of records whose logger chain sets no `logger` key.
pub const DEFAULT_LOGGER: &str = "discord_monitor";

/// Key under which the pipeline's front drain carries the moment a record was logged (rather
/// than written, which may be later behind the async queue). Never written into `context`.
pub(crate) const LOGGED_AT_KEY: &str = "__discord_monitor_logged_at";

const TS_KEY: &str = "ts";
const LEVEL_KEY: &str = "level";
const LOGGER_KEY: &str = "logger";
const MESSAGE_KEY: &str = "message";
const CONTEXT_KEY: &str = "context";
const ERROR_TYPE_KEY: &str = "error_type";
const EXCEPTION_KEY: &str = "exception";

/// Bytes; a typical line fits without the buffer growing.
const LINE_CAPACITY_BYTES: usize = 512;

/// RFC 3339 UTC with milliseconds, e.g. `2026-03-01T12:00:00.123Z`.
pub(crate) fn timestamp_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Clone)]
pub(crate) struct LineEncoder {
    redactor: Redactor,
    /// What slog-json is given as the logger chain: the chain's values are already in the line.
    no_chain: OwnedKVList,
}

impl Default for LineEncoder {
    fn default() -> Self {
        Self::new(Redactor::default())
    }
}

impl LineEncoder {
    pub(crate) fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            no_chain: OwnedKVList::from(slog::o!()),
        }
    }

    /// The finished line, newline included, secrets already replaced.
    pub(crate) fn encode(&self, record: &Record<'_>, logger_values: &OwnedKVList) -> String {
        let line = LineKV::new(Fields::gather(record, logger_values));
        let text = match self.write(record, &line) {
            Ok(text) => text,
            // Unreachable with the values `Fields` holds (JSON values, which always serialize),
            // but a line that says so beats a lost record.
            Err(err) => self
                .write(record, &line.unencodable(&err))
                .unwrap_or_default(),
        };
        self.redactor.redact(text)
    }

    fn write(&self, record: &Record<'_>, line: &LineKV) -> std::io::Result<String> {
        let record_static = RecordStatic {
            location: record.location(),
            level: record.level(),
            tag: record.tag(),
        };
        let shaped = Record::new(&record_static, record.msg(), BorrowedKV(line));
        let mut text = Vec::with_capacity(LINE_CAPACITY_BYTES);
        // Built per line, around the line's own buffer: with no builder values that costs
        // nothing, and the drain needs no lock of its own.
        Json::new(&mut text)
            .set_newlines(true)
            .build()
            .log(&shaped, &self.no_chain)?;
        // serde_json writes UTF-8 only.
        String::from_utf8(text).map_err(std::io::Error::other)
    }
}

/// The line's keys in order, as the only key/values of the record slog-json encodes.
struct LineKV {
    ts: String,
    logger: String,
    context: Option<slog::Serde<Context>>,
    error_type: Option<slog::Serde<Value>>,
    exception: Option<slog::Serde<Value>>,
}

impl LineKV {
    fn new(fields: Fields) -> Self {
        let logger = match fields.logger.map(|field| field.value) {
            Some(Value::String(name)) => name,
            Some(other) => other.to_string(),
            None => DEFAULT_LOGGER.to_owned(),
        };
        let context: Vec<_> = fields
            .context
            .into_iter()
            .map(|(key, field)| (key, field.value))
            .collect();
        Self {
            ts: fields.logged_at.unwrap_or_else(timestamp_now),
            logger,
            context: (!context.is_empty()).then(|| slog::Serde(Context(context))),
            error_type: fields.error_type.map(|field| slog::Serde(field.value)),
            exception: fields.exception.map(|field| slog::Serde(field.value)),
        }
    }

    /// The same line with only its plain keys and `exception` saying why it could not be
    /// encoded whole.
    fn unencodable(&self, err: &std::io::Error) -> Self {
        Self {
            ts: self.ts.clone(),
            logger: self.logger.clone(),
            context: None,
            error_type: None,
            exception: Some(slog::Serde(Value::String(format!(
                "log line could not be encoded: {err}"
            )))),
        }
    }
}

impl KV for LineKV {
    fn serialize(
        &self,
        record: &Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(TS_KEY, &self.ts)?;
        serializer.emit_str(LEVEL_KEY, level_name(record.level()))?;
        serializer.emit_str(LOGGER_KEY, &self.logger)?;
        serializer.emit_arguments(MESSAGE_KEY, record.msg())?;
        if let Some(context) = &self.context {
            serializer.emit_serde(CONTEXT_KEY, context)?;
        }
        if let Some(error_type) = &self.error_type {
            serializer.emit_serde(ERROR_TYPE_KEY, error_type)?;
        }
        if let Some(exception) = &self.exception {
            serializer.emit_serde(EXCEPTION_KEY, exception)?;
        }
        Ok(())
    }
}

/// The `context` object: its keys in first-seen order.
#[derive(Clone)]
struct Context(Vec<(Key, Value)>);

impl Serialize for Context {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
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
    fn gather(record: &Record<'_>, logger_values: &OwnedKVList) -> Self {
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
        fields
    }

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
/// type (numbers stay numbers, `slog::Serde` values become nested objects). The values are
/// settled here rather than by slog-json, which would write NaN as `null`, an `f32` at `f32`
/// precision and a large `u128` as a bare number: lines keep the values they always had.
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
