//! Structured answers: the modes a model can be asked in ([`StructuredMode`]), the JSON
//! schema in each provider's dialect and as prompt instructions, and a check of the parsed
//! answer against it (types, `required`, `properties`, `items`, `enum`: the subset both
//! providers enforce, so a reply that passes here is what the caller asked for).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::request::ReplySchema;

/// How one call asks for a structured answer, richest first. Servers differ: OpenAI, vLLM,
/// Ollama (0.5 and later) and llama.cpp's `llama-server` take `json_schema`;
/// llama-cpp-python's server refuses it but constrains `json_object` to a `schema` sent
/// beside it; any chat model can at least be told the schema in its instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredMode {
    /// No constraint: the schema is described in the system prompt.
    Prompt,
    /// JSON mode (`response_format: json_object`; Gemini `responseMimeType` alone), the
    /// schema described in the system prompt and, where the server takes it, sent beside.
    JsonObject,
    /// The schema enforced by the server (`response_format: json_schema`, strict; Gemini
    /// `responseSchema`).
    JsonSchema,
}

impl StructuredMode {
    pub const ALL: [StructuredMode; 3] = [
        StructuredMode::JsonSchema,
        StructuredMode::JsonObject,
        StructuredMode::Prompt,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StructuredMode::JsonSchema => "json_schema",
            StructuredMode::JsonObject => "json_object",
            StructuredMode::Prompt => "prompt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == text)
    }

    /// The next weaker mode; `None` below `prompt`.
    pub const fn step_down(self) -> Option<Self> {
        match self {
            StructuredMode::JsonSchema => Some(StructuredMode::JsonObject),
            StructuredMode::JsonObject => Some(StructuredMode::Prompt),
            StructuredMode::Prompt => None,
        }
    }

    /// Whether the system prompt must carry the schema: only `json_schema` hands it to the
    /// server in full.
    pub const fn schema_in_prompt(self) -> bool {
        !matches!(self, StructuredMode::JsonSchema)
    }
}

impl fmt::Display for StructuredMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `system` followed by the instructions that describe `schema` to the model, for the modes
/// in which the server does not enforce it.
pub fn with_instructions(system: &str, schema: &ReplySchema) -> String {
    let instructions = format!(
        "Answer with one JSON document and nothing else: no prose before or after it, no \
         Markdown code fence. It must follow this JSON Schema:\n{}",
        schema.schema
    );
    if system.trim().is_empty() {
        instructions
    } else {
        format!("{}\n\n{instructions}", system.trim_end())
    }
}

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
/// models add even when asked not to, and, failing that, a sentence before or after one JSON
/// object (what a model asked through its prompt alone tends to write). The schema check
/// that follows decides whether what was found is the answer.
pub fn parse_answer(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let error = match serde_json::from_str(unfenced) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let embedded = unfenced
        .find('{')
        .zip(unfenced.rfind('}'))
        .filter(|(start, end)| start < end)
        .and_then(|(start, end)| serde_json::from_str::<Value>(&unfenced[start..=end]).ok());
    embedded.ok_or(error)
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

    #[test]
    fn an_object_inside_prose_parses_and_prose_alone_does_not() {
        assert_eq!(
            parse_answer("Sure! Here it is: {\"a\": {\"b\": 1}} Hope that helps.").unwrap(),
            json!({"a": {"b": 1}})
        );
        assert!(parse_answer("The status is ok and the number is 42.").is_err());
        assert!(parse_answer("{oops} and {\"a\": 1}").is_err());
    }

    #[test]
    fn modes_step_down_to_prompt_and_no_further() {
        let mut steps = vec![StructuredMode::JsonSchema];
        while let Some(next) = steps.last().and_then(|mode| mode.step_down()) {
            steps.push(next);
        }
        assert_eq!(steps, StructuredMode::ALL);
        assert!(StructuredMode::Prompt < StructuredMode::JsonObject);
        assert_eq!(
            StructuredMode::parse("json_object"),
            Some(StructuredMode::JsonObject)
        );
        assert_eq!(StructuredMode::parse("auto"), None);
    }

    #[test]
    fn instructions_carry_the_schema_after_the_system_prompt() {
        let schema = ReplySchema {
            name: "t".into(),
            schema: json!({"type": "object", "required": ["a"]}),
        };
        let system = with_instructions("Rate each message.", &schema);
        assert!(system.starts_with("Rate each message.\n\nAnswer with one JSON document"));
        assert!(
            system.ends_with(r#"{"type":"object","required":["a"]}"#),
            "{system}"
        );
        assert!(with_instructions("", &schema).starts_with("Answer"));
    }
}
