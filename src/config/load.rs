//! From file text and environment to a checked configuration, collecting every problem on the
//! way. Generic over the aggregate ([`Root`]): everything about keys comes from its catalogue.
//!
//! The file is parsed to a `serde_json::Value`, environment overrides are written into that
//! value, and the result is deserialized with `serde_path_to_error` in a loop: each error is
//! recorded with its key path and the offending key removed (so its default applies) until
//! deserialization succeeds. The catalogue's ranges and allowed values, then the sections' own
//! checks, run on the typed configuration.

use std::path::Path;

use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::catalogue::{Catalogue, Root};
use super::env::{self, EnvSource};
use super::error::{ConfigError, ConfigProblem, ProblemSource};
use super::jsonc;
use super::keys::{self, Allowed};
use super::problems::Problems;

/// Reads `path`, applies the environment and validates everything. A missing file is an error
/// only when `explicit`; otherwise the defaults and the environment alone make the
/// configuration, so a container can run from env variables.
pub fn load_file<C: Root>(
    path: &Path,
    explicit: bool,
    env: &dyn EnvSource,
) -> Result<C, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_text(Some(&text), path, env),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => {
            load_text(None, path, env)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::NotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Parses `text` (the contents of `path`, or `None` when there is no file) and applies `env`.
pub fn load_text<C: Root>(
    text: Option<&str>,
    path: &Path,
    env: &dyn EnvSource,
) -> Result<C, ConfigError> {
    let catalogue = C::CATALOGUE;
    let file_value = match text {
        Some(text) => parse_file(text, path)?,
        None => Value::Object(Map::new()),
    };
    let mut problems = Problems::new(file_value.clone(), path);

    let mut merged = ensure_sections(file_value, &catalogue, &mut problems);
    apply_env(&mut merged, env, &catalogue, &mut problems);

    drop_blank_optionals::<C>(&mut merged);

    let Some(config) = deserialize_collecting::<C>(merged, &catalogue, &mut problems) else {
        return Err(ConfigError::Invalid(problems.into_vec()));
    };
    check_catalogue(&config, &catalogue, &mut problems);
    config.validate(&mut problems);

    let problems = problems.into_vec();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn parse_file(text: &str, path: &Path) -> Result<Value, ConfigError> {
    let stripped = jsonc::strip_comments(text);
    if stripped.trim().is_empty() {
        // An empty file (say, a ConfigMap not filled in yet) means "all defaults".
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(&stripped).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        line: source.line(),
        column: source.column(),
        source,
    })
}

/// The root must be an object and so must each section; anything else is reported and replaced
/// by an empty object so overrides and the other sections still get checked.
fn ensure_sections(value: Value, catalogue: &Catalogue, problems: &mut Problems) -> Value {
    let mut root = match value {
        Value::Object(map) => map,
        other => {
            problems.push(ConfigProblem {
                key: "(root)".to_owned(),
                message: format!("expected a JSON object, found {}", kind_of(&other)),
                source: ProblemSource::File(problems.path().to_owned()),
                hint: Some("start from `discord-monitor config sample`".to_owned()),
            });
            Map::new()
        }
    };
    for section in catalogue.keys().filter(|doc| catalogue.is_section(doc.key)) {
        if let Some(value) = root.get_mut(section.key)
            && !value.is_object()
        {
            problems.report(
                section.key,
                format!("expected a section (JSON object), found {}", kind_of(value)),
                Some(format!(
                    "valid keys in `{}`: {}",
                    section.key,
                    catalogue.child_keys(section.key).join(", ")
                )),
            );
            *value = Value::Object(Map::new());
        }
    }
    Value::Object(root)
}

fn apply_env(
    merged: &mut Value,
    env: &dyn EnvSource,
    catalogue: &Catalogue,
    problems: &mut Problems,
) {
    for entry in catalogue.env_overrides() {
        match env::resolve(entry, env) {
            Ok(None) => {}
            Ok(Some(resolved)) => {
                set_key(merged, entry.key, resolved.value);
                problems.set_by_env(entry.key, resolved.var);
            }
            Err(rejected) => problems.push(ConfigProblem {
                key: entry.key.to_owned(),
                message: rejected.message,
                source: ProblemSource::Env(rejected.var),
                hint: rejected.hint,
            }),
        }
    }
}

/// A blank string for a key whose default is `null` (secrets, SMTP host, addresses) counts as
/// unset, so `"token": ""` from a template means "no token" rather than an empty credential.
fn drop_blank_optionals<C: Root>(merged: &mut Value) {
    let defaults = serde_json::to_value(C::default()).unwrap_or(Value::Null);
    let Some(root) = merged.as_object_mut() else {
        return;
    };
    for (section_name, section) in root.iter_mut() {
        let Some(section) = section.as_object_mut() else {
            continue;
        };
        section.retain(|name, value| {
            let blank = value.as_str().is_some_and(|text| text.trim().is_empty());
            let optional = defaults
                .get(section_name.as_str())
                .and_then(|section| section.get(name.as_str()))
                .is_some_and(Value::is_null);
            !(blank && optional)
        });
    }
}

/// Writes `value` at a dotted `key`; sections are objects by now (see [`ensure_sections`]).
fn set_key(root: &mut Value, key: &str, value: Value) {
    let mut segments: Vec<&str> = key.split('.').collect();
    let Some(last) = segments.pop() else { return };
    let mut node = root;
    for segment in segments {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        node = map
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = node.as_object_mut() {
        map.insert(last.to_owned(), value);
    }
}

fn deserialize_collecting<C: Root>(
    mut merged: Value,
    catalogue: &Catalogue,
    problems: &mut Problems,
) -> Option<C> {
    // Each failed attempt removes one key, so this many attempts always suffice; the bound only
    // guards against a path that could not be removed.
    let attempts = count_keys(&merged) + 1;
    for _ in 0..attempts {
        let err = match serde_path_to_error::deserialize::<_, C>(&merged) {
            Ok(config) => return Some(config),
            Err(err) => err,
        };
        let segments = err.path().iter().cloned().collect::<Vec<_>>();
        let key = render_path(&segments);
        let (message, hint) = describe_serde_error(&key, &err.into_inner().to_string(), catalogue);
        problems.report(&key, message, hint);
        if !remove_offending_key(&mut merged, &segments) {
            return None;
        }
    }
    None
}

fn render_path(segments: &[Segment]) -> String {
    let mut key = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: name } | Segment::Enum { variant: name } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(name);
            }
            Segment::Unknown => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push('?');
            }
        }
    }
    if key.is_empty() {
        "(root)".to_owned()
    } else {
        key
    }
}

/// Removes the deepest object key on the path (a bad list element drops the whole list, so the
/// list's default applies). False when there is nothing to remove.
fn remove_offending_key(root: &mut Value, segments: &[Segment]) -> bool {
    let Some(last_key) = segments
        .iter()
        .rposition(|segment| matches!(segment, Segment::Map { .. }))
    else {
        return false;
    };
    let mut node = root;
    for segment in &segments[..last_key] {
        let next = match segment {
            Segment::Map { key } => node.get_mut(key.as_str()),
            Segment::Seq { index } => node.get_mut(*index),
            Segment::Enum { .. } | Segment::Unknown => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    let Segment::Map { key } = &segments[last_key] else {
        return false;
    };
    node.as_object_mut()
        .and_then(|map| map.shift_remove(key.as_str()))
        .is_some()
}

/// Turns serde's wording into the key's own, as a message and a hint: unknown keys get the
/// valid keys and a likely correction, enums their allowed values, and type errors a plain
/// description. Values of secret keys are never repeated.
fn describe_serde_error(
    key: &str,
    message: &str,
    catalogue: &Catalogue,
) -> (String, Option<String>) {
    let without_indexes = strip_indexes(key);
    // Inside a list of objects (`alerts.routes[0].smtp_port`) the key is named without its
    // index; elsewhere an index names an element of a plain list (`alerts.email_to[1]`).
    let plain = if catalogue.list_holding(&without_indexes).is_some() {
        without_indexes.as_str()
    } else {
        key.split('[').next().unwrap_or(key)
    };
    let (parent, leaf) = match plain.rsplit_once('.') {
        Some((parent, leaf)) => (parent, leaf),
        None => ("", plain),
    };

    if message.starts_with("unknown field") {
        let hint = unknown_key_hint(parent, leaf, catalogue);
        return ("unknown key".to_owned(), Some(hint));
    }

    let allowed_hint = match catalogue.key_doc(plain).map(|doc| doc.allowed) {
        Some(Allowed::OneOf(values)) => Some(keys::one_of_hint(values, found_text(message))),
        _ => None,
    };

    if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        let found = if catalogue.is_secret_key(plain) {
            found.split('`').next().unwrap_or(found).trim_end()
        } else {
            found
        };
        return (
            format!(
                "wrong type: expected {}, found {found}",
                plain_type(expected)
            ),
            allowed_hint,
        );
    }
    if let Some((found, expected)) = message
        .strip_prefix("invalid value: ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        // Negative or too large for the type: with a catalogued range, say it as a range.
        if let Some(doc) = catalogue.key_doc(plain)
            && let Allowed::Range { .. } = doc.allowed
        {
            return (
                format!("{found} is out of range"),
                Some(format!("allowed: {}", doc.allowed)),
            );
        }
        return (
            format!("invalid value ({found}): expected {}", plain_type(expected)),
            allowed_hint,
        );
    }
    if message.starts_with("unknown variant") {
        let value = found_text(message).unwrap_or_default();
        return (format!("unknown value `{value}`"), allowed_hint);
    }
    // Custom messages (such as the log level's) may already list the choices.
    let hint = allowed_hint.filter(|_| !message.contains("expected"));
    (message.to_owned(), hint)
}

/// Text between the first pair of backquotes: serde's way of quoting the offending value.
fn found_text(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// `alerts.routes[2].smtp_port` as `alerts.routes.smtp_port`.
fn strip_indexes(key: &str) -> String {
    let mut plain = String::with_capacity(key.len());
    let mut in_index = false;
    for character in key.chars() {
        match character {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => plain.push(character),
            _ => {}
        }
    }
    plain
}

fn unknown_key_hint(parent: &str, leaf: &str, catalogue: &Catalogue) -> String {
    let siblings = match catalogue.list(parent) {
        Some(list) => list.entry_keys.to_vec(),
        None => catalogue.child_keys(parent),
    };
    let section = if parent.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{parent}`")
    };
    let valid = format!("valid keys in {section}: {}", siblings.join(", "));
    if let Some(close) = keys::closest(leaf, siblings.iter().copied()) {
        return format!("did you mean `{close}`? {valid}");
    }
    // Right name, wrong section: `log_level` at the top level belongs in `monitoring`.
    let elsewhere = catalogue.keys().find(|doc| {
        doc.key
            .rsplit_once('.')
            .is_some_and(|(_, name)| name == leaf)
    });
    match elsewhere {
        Some(doc) => format!("`{leaf}` belongs in `{}`; {valid}", doc.key),
        None => valid,
    }
}

/// serde's type names in words a config author knows.
fn plain_type(expected: &str) -> String {
    match expected {
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a non-negative whole number".to_owned(),
        "f64" => "a number".to_owned(),
        "a sequence" => "a list".to_owned(),
        other if other.starts_with("struct ") => "a section (JSON object)".to_owned(),
        other => other.to_owned(),
    }
}

/// Ranges and allowed values, read from the serialized configuration so the catalogue alone
/// decides.
fn check_catalogue<C: Root>(config: &C, catalogue: &Catalogue, problems: &mut Problems) {
    let Ok(tree) = serde_json::to_value(config) else {
        return;
    };
    for doc in catalogue.keys() {
        let Some(value) = doc
            .key
            .split('.')
            .try_fold(&tree, |node, segment| node.get(segment))
        else {
            continue;
        };
        match (doc.allowed, value) {
            (Allowed::Range { .. }, Value::Number(number)) => {
                if let Some(number) = number.as_f64()
                    && !doc.allowed.permits(number)
                {
                    problems.report(
                        doc.key,
                        format!("{value} is out of range"),
                        Some(format!("allowed: {}", doc.allowed)),
                    );
                }
            }
            (Allowed::OneOf(values), Value::String(text)) if !values.contains(&text.as_str()) => {
                problems.report(
                    doc.key,
                    format!("unknown value `{text}`"),
                    Some(keys::one_of_hint(values, Some(text))),
                );
            }
            _ => {}
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn count_keys(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len() + map.values().map(count_keys).sum::<usize>(),
        Value::Array(items) => items.iter().map(count_keys).sum(),
        _ => 0,
    }
}
