//! Environment variables: an injectable source (tests pass a map, nothing calls
//! `std::env::set_var`) and how a variable overrides a key. Each section lists the variables
//! of its keys as [`EnvOverride`]s (see [`super::Section`]).
//!
//! Rules for every variable `NAME` of an [`EnvOverride`]:
//! - `NAME` overrides the key; `NAME_FILE` names a file holding the value instead (Docker and
//!   Kubernetes mount secrets as files). Setting both is a problem.
//! - Surrounding whitespace is removed (this drops the trailing newline of secret files).
//! - An empty value counts as unset: docker-compose passes `NAME=` for variables the host lacks,
//!   and that must not blank a key set in the file.

use std::collections::HashMap;
use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where environment variables are read from.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment. Values that are not valid UTF-8 are converted lossily, so a broken
/// value is reported by validation instead of silently ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }
}

/// A fixed set of variables, for tests and for callers that build the environment themselves.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(HashMap<String, String>);

impl MapEnv {
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// How a variable's text becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A credential: taken verbatim, never echoed in any message.
    Secret,
    Text,
    Path,
    /// `true/false`, `1/0`, `yes/no`, `on/off`, any case.
    Bool,
    /// A whole number.
    Integer,
    /// A finite decimal number.
    Number,
    /// Comma-separated; blank entries dropped.
    List,
}

impl ValueKind {
    /// How the kind is described in the sample's comments and the README.
    pub const fn describe(self) -> &'static str {
        match self {
            ValueKind::Secret => "secret",
            ValueKind::Text => "text",
            ValueKind::Path => "path",
            ValueKind::Bool => "boolean: true/false, 1/0, yes/no, on/off",
            ValueKind::Integer => "whole number",
            ValueKind::Number => "number",
            ValueKind::List => "comma-separated list",
        }
    }
}

/// One environment variable and the key it overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvOverride {
    pub var: &'static str,
    /// Dotted key path, `database.connection_pool_size`.
    pub key: &'static str,
    pub kind: ValueKind,
}

impl EnvOverride {
    pub const fn new(var: &'static str, key: &'static str, kind: ValueKind) -> Self {
        Self { var, key, kind }
    }
}

/// Bytes: secret files hold a token or a password; anything larger means `NAME_FILE` points at
/// the wrong file, and reading it whole would be a waste.
const MAX_VALUE_FILE_BYTES: u64 = 64 * 1024;

/// A variable that was set, converted to the JSON value its key expects.
pub(crate) struct Resolved {
    /// The variable the value came from (`NAME` or `NAME_FILE`).
    pub var: String,
    pub value: Value,
}

/// Why a set variable could not be used. Messages never include a secret's value.
pub(crate) struct Rejected {
    pub var: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Reads `NAME` / `NAME_FILE` for one override. `Ok(None)` when neither is set (or both are
/// empty).
pub(crate) fn resolve(
    entry: &EnvOverride,
    env: &dyn EnvSource,
) -> Result<Option<Resolved>, Rejected> {
    let file_var = format!("{}_FILE", entry.var);
    let direct = env.var(entry.var).filter(|value| !value.trim().is_empty());
    let file = env.var(&file_var).filter(|value| !value.trim().is_empty());
    let (var, raw) = match (direct, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Rejected {
                var: entry.var.to_owned(),
                message: format!("both {} and {file_var} are set", entry.var),
                hint: Some(format!("set only one of {} and {file_var}", entry.var)),
            });
        }
        (Some(value), None) => (entry.var.to_owned(), value),
        (None, Some(path)) => {
            let contents = read_value_file(Path::new(path.trim())).map_err(|err| Rejected {
                var: file_var.clone(),
                message: with_causes(&err),
                hint: Some(format!(
                    "{file_var} must name a readable file holding the value of {}",
                    entry.var
                )),
            })?;
            (file_var, contents)
        }
    };
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let value = convert(entry.kind, text).map_err(|(message, hint)| Rejected {
        var: var.clone(),
        message,
        hint,
    })?;
    Ok(Some(Resolved { var, value }))
}

/// Why a `NAME_FILE` could not give a value. The path is the variable's own value; the
/// contents, which may be a secret, are never part of it.
#[derive(Debug, thiserror::Error)]
pub enum ValueFileError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{}` is larger than {MAX_VALUE_FILE_BYTES} bytes, too large for a single value",
        path.display()
    )]
    TooLarge { path: PathBuf },
}

fn read_value_file(path: &Path) -> Result<String, ValueFileError> {
    let read_error = |source| ValueFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut contents = String::new();
    let read = file
        .take(MAX_VALUE_FILE_BYTES + 1)
        .read_to_string(&mut contents)
        .map_err(read_error)?;
    if read as u64 > MAX_VALUE_FILE_BYTES {
        return Err(ValueFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(contents)
}

/// `err` and its causes on one line, for a problem's message (which has no room for a chain).
fn with_causes(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// Text to JSON for one kind. The error is (message, hint).
fn convert(kind: ValueKind, text: &str) -> Result<Value, (String, Option<String>)> {
    match kind {
        ValueKind::Secret | ValueKind::Text | ValueKind::Path => Ok(Value::String(text.to_owned())),
        ValueKind::Bool => parse_bool(text).map(Value::Bool).ok_or_else(|| {
            (
                format!("`{text}` is not a boolean"),
                Some("use true/false, 1/0, yes/no or on/off".to_owned()),
            )
        }),
        ValueKind::Integer => {
            if let Ok(number) = text.parse::<u64>() {
                Ok(Value::from(number))
            } else if let Ok(number) = text.parse::<i64>() {
                // Negative: the key's own type check reports it with the allowed range.
                Ok(Value::from(number))
            } else {
                Err((
                    format!("`{text}` is not a whole number"),
                    Some("write digits only, such as 4".to_owned()),
                ))
            }
        }
        ValueKind::Number => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(Value::from(number)),
            _ => Err((
                format!("`{text}` is not a finite number"),
                Some("write a decimal number, such as 10.5".to_owned()),
            )),
        },
        ValueKind::List => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: EnvOverride = EnvOverride::new("TOKEN", "section.token", ValueKind::Secret);
    const COUNT: EnvOverride = EnvOverride::new("COUNT", "section.count", ValueKind::Integer);
    const TO: EnvOverride = EnvOverride::new("TO", "section.to", ValueKind::List);

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for text in ["true", "TRUE", "1", "yes", "On"] {
            assert_eq!(parse_bool(text), Some(true), "{text}");
        }
        for text in ["false", "0", "No", "off"] {
            assert_eq!(parse_bool(text), Some(false), "{text}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = MapEnv::new([("TOKEN", "  "), ("COUNT", "")]);
        assert!(matches!(resolve(&TOKEN, &env), Ok(None)));
        assert!(matches!(resolve(&COUNT, &env), Ok(None)));
    }

    #[test]
    fn lists_split_on_commas_and_drop_blanks() {
        let env = MapEnv::new([("TO", " a@x.org, ,b@y.org ,")]);
        let resolved = resolve(&TO, &env).ok().flatten().unwrap();
        assert_eq!(resolved.value, serde_json::json!(["a@x.org", "b@y.org"]));
    }

    #[test]
    fn oversized_value_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        std::fs::write(&path, vec![b'a'; MAX_VALUE_FILE_BYTES as usize + 10]).unwrap();
        let env = MapEnv::new([("TOKEN_FILE", path.to_str().unwrap())]);
        let rejected = resolve(&TOKEN, &env).err().unwrap();
        assert_eq!(rejected.var, "TOKEN_FILE");
        assert!(
            rejected.message.contains("too large"),
            "{}",
            rejected.message
        );
    }

    #[test]
    fn an_unreadable_value_file_names_the_path_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let env = MapEnv::new([("TOKEN_FILE", path.to_str().unwrap())]);
        let rejected = resolve(&TOKEN, &env).err().unwrap();
        assert_eq!(rejected.var, "TOKEN_FILE");
        assert_eq!(
            rejected.message,
            format!(
                "cannot read `{}`: {}",
                path.display(),
                std::fs::File::open(&path).unwrap_err()
            )
        );
    }
}
