//! Structured answers: the JSON schema in each provider's dialect, and a check of the parsed
//! answer against it (types, `required`, `properties`, `items`, `enum`: the subset both
//! providers enforce, so a reply that passes here is what the caller asked for).

use serde_json::{Map, Value};

/// Gemini's `responseSchema` is an OpenAPI subset: upper-case `type`s and no
/// `additionalProperties` / `$schema`.
pub fn to_gemini(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "additionalProperties" | "$schema" | "strict" => {}
                    "type" => {
                        let upper = value
                            .as_str()
                            .map(|text| Value::String(text.to_ascii_uppercase()))
                            .unwrap_or_else(|| value.clone());
                        out.insert(key.clone(), upper);
                    }
                    "properties" => {
                        let properties = value
                            .as_object()
                            .map(|props| {
                                props
                                    .iter()
                                    .map(|(name, prop)| (name.clone(), to_gemini(prop)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(properties));
                    }
                    _ => {
                        out.insert(key.clone(), to_gemini(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_gemini).collect()),
        other => other.clone(),
    }
}

/// The first way `value` breaks `schema`, as `path: problem`; `None` when it conforms.
pub fn violation(schema: &Value, value: &Value) -> Option<String> {
    check(schema, value, "$")
}

fn check(schema: &Value, value: &Value, path: &str) -> Option<String> {
    let schema = schema.as_object()?;
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let fits = match expected.to_ascii_lowercase().as_str() {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        };
        if !fits {
            return Some(format!("{path}: expected {expected}"));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        return Some(format!("{path}: not one of the allowed values"));
    }
    if let Some(object) = value.as_object() {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Some(format!("{path}: missing `{name}`"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, child) in object {
                if let Some(child_schema) = properties.get(name)
                    && let Some(problem) = check(child_schema, child, &format!("{path}.{name}"))
                {
                    return Some(problem);
                }
            }
        }
    }
    if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            if let Some(problem) = check(schema_items, item, &format!("{path}[{index}]")) {
                return Some(problem);
            }
        }
    }
    None
}

/// Parses a model's answer: tolerates a Markdown code fence around the JSON, which small local
/// models add even when asked not to.
pub fn parse_answer(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn triage_schema() -> Value {
        json!({"type": "object", "additionalProperties": false, "required": ["items"],
               "properties": {"items": {"type": "array", "items": {"type": "object",
                 "required": ["id", "importance"],
                 "properties": {"id": {"type": "string"},
                                "importance": {"type": "integer", "enum": [1, 2, 3]}}}}}})
    }

    #[test]
    fn answers_are_checked_against_the_schema() {
        let schema = triage_schema();
        assert_eq!(
            violation(&schema, &json!({"items": [{"id": "a", "importance": 2}]})),
            None
        );
        assert_eq!(
            violation(&schema, &json!({"items": [{"id": "a", "importance": 9}]})).unwrap(),
            "$.items[0].importance: not one of the allowed values"
        );
        assert_eq!(
            violation(&schema, &json!({})).unwrap(),
            "$: missing `items`"
        );
        assert!(violation(&schema, &json!([1])).is_some());
    }

    #[test]
    fn gemini_dialect_upper_cases_types_and_drops_extras() {
        let gemini = to_gemini(&triage_schema());
        assert_eq!(gemini["type"], "OBJECT");
        assert!(gemini.get("additionalProperties").is_none());
        assert_eq!(
            gemini["properties"]["items"]["items"]["properties"]["id"]["type"],
            "STRING"
        );
    }

    #[test]
    fn fenced_answers_parse() {
        assert_eq!(
            parse_answer("```json\n{\"a\":1}\n```").unwrap(),
            json!({"a": 1})
        );
        assert!(parse_answer("{\"a\":").is_err());
    }
}
