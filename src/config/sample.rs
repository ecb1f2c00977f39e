//! Documentation generated from the key catalogue and the env table: the commented sample that
//! `config sample` writes, and the configuration table for the README.

use serde_json::{Map, Value};

use super::Config;
use super::env::{EnvOverride, ValueKind, override_for_key};
use super::keys::{Allowed, key_doc};

/// Columns: comment lines are wrapped to stay readable in an 100-column editor.
const COMMENT_WIDTH: usize = 96;

const HEADER: &str = "\
discord-monitor configuration, written by `discord-monitor config sample`. Every value below is \
its default and every key is optional: delete what you do not change. Comments are allowed. \
Environment variables override keys (each key names its variable); NAME_FILE instead reads the \
value of NAME from a file (Docker and Kubernetes secrets); an empty variable counts as unset. \
The file is read from --config, else the environment variable DM_CONFIG, else ./config.json.";

/// The full default configuration as JSON with `//` comments: every key, its default, its
/// meaning and unit, the allowed values and the environment variable. Loads back unchanged.
pub fn sample_json() -> String {
    let defaults = default_tree();
    let mut out = String::new();
    push_comment(&mut out, "", HEADER);
    out.push_str("{\n");
    if let Value::Object(root) = &defaults {
        render_object(&mut out, root, "", 1);
    }
    out.push_str("}\n");
    out
}

/// A Markdown table of every key: default, environment variable and meaning.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "| Key | Default | Environment variable | Meaning |\n| --- | --- | --- | --- |\n",
    );
    let defaults = default_tree();
    let mut rows = Vec::new();
    collect_leaves(&defaults, "", &mut rows);
    for (key, default) in rows {
        let env = override_for_key(&key)
            .map(|entry| format!("`{}` ({})", entry.var, entry.kind.describe()))
            .unwrap_or_default();
        let meaning = key_doc(&key)
            .map(|doc| describe(doc.doc, doc.allowed, None))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{key}` | `{}` | {env} | {} |\n",
            default,
            meaning.replace('|', "\\|")
        ));
    }
    out
}

fn default_tree() -> Value {
    serde_json::to_value(Config::default()).unwrap_or(Value::Null)
}

fn render_object(out: &mut String, map: &Map<String, Value>, prefix: &str, depth: usize) {
    let indent = "  ".repeat(depth);
    for (index, (name, value)) in map.iter().enumerate() {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(doc) = key_doc(&key) {
            push_comment(
                out,
                &indent,
                &describe(doc.doc, doc.allowed, override_for_key(&key)),
            );
        }
        out.push_str(&format!("{indent}{}: ", Value::String(name.clone())));
        match value {
            Value::Object(section) => {
                out.push_str("{\n");
                render_object(out, section, &key, depth + 1);
                out.push_str(&indent);
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
        if index + 1 < map.len() {
            out.push(',');
        }
        out.push('\n');
    }
}

fn describe(doc: &str, allowed: Allowed, env: Option<&EnvOverride>) -> String {
    let mut text = doc.to_owned();
    match allowed {
        Allowed::Any => {}
        Allowed::Range { .. } => text.push_str(&format!(" Allowed: {allowed}.")),
        Allowed::OneOf(_) => text.push_str(&format!(" One of: {allowed}.")),
    }
    if let Some(entry) = env {
        match entry.kind {
            ValueKind::Secret => {
                text.push_str(&format!(" Env: {} or {}_FILE.", entry.var, entry.var))
            }
            ValueKind::List => text.push_str(&format!(" Env: {} (comma-separated).", entry.var)),
            _ => text.push_str(&format!(" Env: {}.", entry.var)),
        }
    }
    text
}

fn push_comment(out: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + 3 + line.len() + 1 + word.len() > COMMENT_WIDTH {
            out.push_str(&format!("{indent}// {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}// {line}\n"));
    }
}

fn collect_leaves(value: &Value, prefix: &str, rows: &mut Vec<(String, String)>) {
    if let Value::Object(map) = value {
        for (name, child) in map {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if child.is_object() {
                collect_leaves(child, &key, rows);
            } else {
                rows.push((key, child.to_string()));
            }
        }
    }
}
