//! Documentation generated from a catalogue and the defaults: the commented sample that
//! `config sample` writes, and the configuration table for the README.

use serde_json::{Map, Value};

use super::catalogue::{Catalogue, Root};
use super::env::{EnvOverride, ValueKind};
use super::keys::Allowed;

/// Columns: comment lines are wrapped to stay readable in an 100-column editor.
const COMMENT_WIDTH: usize = 96;

/// `C`'s default configuration as JSON with `//` comments, `header` first: every key, its
/// default, its meaning and unit, the allowed values and the environment variable. Loads back
/// unchanged.
pub fn render_sample<C: Root>(header: &str) -> String {
    let catalogue = C::CATALOGUE;
    let defaults = default_tree::<C>();
    let mut out = String::new();
    push_comment(&mut out, "", header);
    out.push_str("{\n");
    if let Value::Object(root) = &defaults {
        render_object(&mut out, root, "", 1, &catalogue);
    }
    out.push_str("}\n");
    out
}

/// A Markdown table of every key of `C`: default, environment variable and meaning.
pub fn render_reference<C: Root>() -> String {
    let catalogue = C::CATALOGUE;
    let mut out = String::from(
        "| Key | Default | Environment variable | Meaning |\n| --- | --- | --- | --- |\n",
    );
    let defaults = default_tree::<C>();
    let mut rows = Vec::new();
    collect_leaves(&defaults, "", &mut rows);
    for (key, default) in rows {
        let env = catalogue
            .override_for_key(&key)
            .map(|entry| format!("`{}` ({})", entry.var, entry.kind.describe()))
            .unwrap_or_default();
        let meaning = catalogue
            .key_doc(&key)
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

fn default_tree<C: Root>() -> Value {
    serde_json::to_value(C::default()).unwrap_or(Value::Null)
}

fn render_object(
    out: &mut String,
    map: &Map<String, Value>,
    prefix: &str,
    depth: usize,
    catalogue: &Catalogue,
) {
    let indent = "  ".repeat(depth);
    for (index, (name, value)) in map.iter().enumerate() {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(doc) = catalogue.key_doc(&key) {
            push_comment(
                out,
                &indent,
                &describe(doc.doc, doc.allowed, catalogue.override_for_key(&key)),
            );
        }
        out.push_str(&format!("{indent}{}: ", Value::String(name.clone())));
        match value {
            Value::Object(section) => {
                out.push_str("{\n");
                render_object(out, section, &key, depth + 1, catalogue);
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
