//! OpenAI-style `chat/completions` (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp server): the
//! request body and the reading of every answer shape (`{"error": {...}}`, vLLM's flat
//! `{"object": "error", ...}`, OpenRouter's HTTP 200 with an error body, finish reasons).

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::failure::{
    CallFailure, FailureClass, ProviderReply, Usage, class_of_status, clip, header_delay,
    mentions_context_overflow, refused_field,
};
use super::request::PreparedCall;
use super::schema::StructuredMode;

/// `{base}/chat/completions`.
pub fn url(base_url: &str) -> String {
    format!("{base_url}/chat/completions")
}

/// Whether a server reads a `schema` beside `response_format: json_object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonObjectSchema {
    /// llama-cpp-python and llama.cpp's `llama-server` constrain their output to it; vLLM and
    /// Ollama ignore it.
    Sent,
    /// OpenAI and OpenRouter document no such field: it is left out.
    Omitted,
}

/// The request body; `call.mode` decides what asks for the schema: `response_format`
/// json_schema (strict), json_object (with the schema beside it when `json_object_schema`
/// says so), or nothing in `prompt` mode, where the system prompt alone describes it.
pub fn body(model: &str, call: &PreparedCall, json_object_schema: JsonObjectSchema) -> Value {
    let mut messages = Vec::new();
    if !call.system.is_empty() {
        messages.push(json!({"role": "system", "content": call.system}));
    }
    messages.push(json!({"role": "user", "content": call.prompt}));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": call.temperature,
        "max_completion_tokens": call.max_output_tokens,
        // Older servers (llama.cpp, vLLM before 0.6) only know the deprecated name.
        "max_tokens": call.max_output_tokens,
    });
    if let Some(schema) = &call.schema {
        match call.mode {
            StructuredMode::JsonSchema => {
                body["response_format"] = json!({"type": "json_schema", "json_schema": {
                    "name": schema.name, "strict": true, "schema": schema.schema}});
            }
            StructuredMode::JsonObject => {
                body["response_format"] = match json_object_schema {
                    JsonObjectSchema::Sent => {
                        json!({"type": "json_object", "schema": schema.schema})
                    }
                    JsonObjectSchema::Omitted => json!({"type": "json_object"}),
                };
            }
            StructuredMode::Prompt => {}
        }
    }
    body
}

/// Reads an answer of any status.
pub fn interpret(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ProviderReply, CallFailure> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(answer) = &parsed {
        if let Some(error) = answer.get("error").filter(|error| error.is_object()) {
            return Err(classify_error(status, headers, error));
        }
        if answer.get("object").and_then(Value::as_str) == Some("error") {
            return Err(classify_error(status, headers, answer));
        }
    }
    if !(200..300).contains(&status) {
        // FastAPI's own 422 (`{"detail": [...]}`) and plain-text errors land here.
        let text = String::from_utf8_lossy(body);
        let class = refused_field(status, &text).unwrap_or_else(|| class_of_status(status));
        return Err(CallFailure::new(class, Some(status), clip(&text))
            .with_retry_after(header_delay(headers)));
    }
    let Some(answer) = parsed else {
        return Err(CallFailure::new(
            FailureClass::InvalidReply,
            Some(status),
            "answer is not JSON",
        ));
    };
    let usage = usage(&answer);
    let Some(choice) = answer.pointer("/choices/0") else {
        return Err(CallFailure::new(
            FailureClass::InvalidReply,
            Some(status),
            "answer has no choices",
        )
        .with_usage(usage));
    };
    let message = choice.get("message");
    let text = message
        .and_then(|message| message.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let refusal = message
        .and_then(|message| message.get("refusal"))
        .and_then(Value::as_str);
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => Err(CallFailure::new(
            FailureClass::Truncated,
            Some(status),
            "answer cut at the output token limit (length)",
        )
        .with_usage(usage)),
        Some("content_filter") => Err(CallFailure::new(
            FailureClass::Blocked,
            Some(status),
            "answer blocked: content_filter",
        )
        .with_usage(usage)),
        _ if refusal.is_some() && text.is_empty() => {
            Err(
                CallFailure::new(FailureClass::Blocked, Some(status), "model refused")
                    .with_usage(usage),
            )
        }
        _ => Ok(ProviderReply { text, usage }),
    }
}

/// `completion_tokens` already includes reasoning tokens; `usage.cost` is OpenRouter's USD.
fn usage(answer: &Value) -> Usage {
    let count = |pointer: &str| answer.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: count("/usage/prompt_tokens"),
        output_tokens: count("/usage/completion_tokens"),
        thinking_tokens: count("/usage/completion_tokens_details/reasoning_tokens"),
        cached_tokens: count("/usage/prompt_tokens_details/cached_tokens"),
        reported_cost_usd: answer
            .pointer("/usage/cost")
            .and_then(Value::as_f64)
            .filter(|cost| cost.is_finite() && *cost >= 0.0),
    }
}

/// `{"message", "type", "code"}`; `code` is a string (OpenAI), a number (OpenRouter, vLLM) or
/// absent. A numeric code in an HTTP 200 body is the real status.
fn classify_error(http_status: u16, headers: &HeaderMap, error: &Value) -> CallFailure {
    let numeric_code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code));
    let status = if (200..300).contains(&http_status) {
        // OpenRouter: "an error after generation started can arrive as HTTP 200"; without a
        // code it is an interrupted generation, worth another try.
        numeric_code.unwrap_or(502)
    } else {
        http_status
    };
    let text_code = error
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| error.get("type").and_then(Value::as_str))
        .unwrap_or("");
    let full_message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let message = clip(full_message);
    let class = if text_code == "insufficient_quota" {
        FailureClass::TargetDown
    } else if text_code == "context_length_exceeded" || mentions_context_overflow(&message) {
        FailureClass::TooLong
    } else if text_code == "invalid_api_key" {
        FailureClass::TargetDown
    } else {
        // OpenAI names the refused field in `param`.
        let param = error.get("param").and_then(Value::as_str).unwrap_or("");
        refused_field(status, &format!("{full_message} {param}"))
            .unwrap_or_else(|| class_of_status(status))
    };
    CallFailure::new(class, Some(status), message).with_retry_after(header_delay(headers))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::HeaderValue;

    use super::*;

    fn classify_with(status: u16, headers: &HeaderMap, body: Value) -> CallFailure {
        interpret(status, headers, body.to_string().as_bytes()).unwrap_err()
    }

    fn classify(status: u16, body: Value) -> CallFailure {
        classify_with(status, &HeaderMap::new(), body)
    }

    fn call(mode: StructuredMode) -> PreparedCall {
        PreparedCall {
            system: "be brief".into(),
            prompt: "hello".into(),
            schema: Some(crate::actors::llm::request::ReplySchema {
                name: "t".into(),
                schema: json!({"type": "object"}),
            }),
            mode,
            max_output_tokens: 100,
            temperature: 0.2,
        }
    }

    #[test]
    fn each_mode_asks_for_the_schema_its_own_way() {
        let strict = body(
            "m",
            &call(StructuredMode::JsonSchema),
            JsonObjectSchema::Sent,
        );
        assert_eq!(strict["response_format"]["type"], "json_schema");
        assert_eq!(strict["response_format"]["json_schema"]["strict"], true);
        assert_eq!(
            strict["response_format"]["json_schema"]["schema"]["type"],
            "object"
        );

        let local = body(
            "m",
            &call(StructuredMode::JsonObject),
            JsonObjectSchema::Sent,
        );
        assert_eq!(
            local["response_format"],
            json!({"type": "json_object", "schema": {"type": "object"}})
        );
        let hosted = body(
            "m",
            &call(StructuredMode::JsonObject),
            JsonObjectSchema::Omitted,
        );
        assert_eq!(hosted["response_format"], json!({"type": "json_object"}));

        let prompt = body("m", &call(StructuredMode::Prompt), JsonObjectSchema::Sent);
        assert!(prompt.get("response_format").is_none(), "{prompt}");
        assert_eq!(prompt["messages"][0]["content"], "be brief");

        let mut plain = call(StructuredMode::JsonSchema);
        plain.schema = None;
        assert!(
            body("m", &plain, JsonObjectSchema::Sent)
                .get("response_format")
                .is_none()
        );
    }

    #[test]
    fn refusals_of_the_format_are_told_from_bad_requests_and_outages() {
        // llama-cpp-python 0.3.36 refusing json_schema: HTTP 500, its own error envelope.
        let refused = classify(
            500,
            json!({"error": {"message": "1 validation error:\n  {'type': 'literal_error', \
                'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' \
                or 'json_object'\", 'input': 'json_schema'}",
                "type": "internal_server_error", "param": null, "code": null}}),
        );
        assert_eq!(refused.class, FailureClass::UnsupportedFormat);
        let fastapi = classify(
            422,
            json!({"detail": [{"type": "literal_error",
                "loc": ["body", "response_format", "type"],
                "msg": "Input should be 'text' or 'json_object'", "input": "json_schema"}]}),
        );
        assert_eq!(fastapi.class, FailureClass::UnsupportedFormat);
        let strict = classify(
            400,
            json!({"error": {"message": "Invalid schema for response_format 'triage'",
                "type": "invalid_request_error", "param": "response_format", "code": null}}),
        );
        assert_eq!(strict.class, FailureClass::UnsupportedFormat);
        let parameter = classify(
            400,
            json!({"error": {"message": "Unsupported value: does not support 0.2",
                "type": "invalid_request_error", "param": "temperature",
                "code": "unsupported_value"}}),
        );
        assert_eq!(parameter.class, FailureClass::UnsupportedParameter);
        assert_eq!(
            classify(500, json!({"error": {"message": "CUDA out of memory"}})).class,
            FailureClass::Transient
        );
    }

    #[test]
    fn reply_usage_and_openrouter_cost() {
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": "{}"},
            "finish_reason": "stop"}], "usage": {"prompt_tokens": 12, "completion_tokens": 4,
            "total_tokens": 16, "prompt_tokens_details": {"cached_tokens": 2}, "cost": 0.00042}});
        let reply = interpret(200, &HeaderMap::new(), answer.to_string().as_bytes()).unwrap();
        assert_eq!(reply.text, "{}");
        assert_eq!(reply.usage.input_tokens, 12);
        assert_eq!(reply.usage.output_tokens, 4);
        assert_eq!(reply.usage.cached_tokens, 2);
        assert_eq!(reply.usage.reported_cost_usd, Some(0.00042));
    }

    #[test]
    fn every_error_shape_is_classified() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        let limited = classify_with(
            429,
            &headers,
            json!({"error": {"message": "slow down",
            "type": "requests", "code": "rate_limit_exceeded"}}),
        );
        assert_eq!(limited.class, FailureClass::Transient);
        assert_eq!(limited.retry_after, Some(Duration::from_millis(250)));

        let quota = classify(
            429,
            json!({"error": {"message": "You exceeded your current quota",
            "type": "insufficient_quota", "code": "insufficient_quota"}}),
        );
        assert_eq!(quota.class, FailureClass::TargetDown);
        assert_eq!(
            classify(
                401,
                json!({"error": {"message": "bad key", "code": "invalid_api_key"}})
            )
            .class,
            FailureClass::TargetDown
        );
        assert_eq!(
            classify(
                402,
                json!({"error": {"message": "Insufficient credits", "code": 402}})
            )
            .class,
            FailureClass::TargetDown
        );
        assert_eq!(
            classify(
                404,
                json!({"error": {"message": "model \"x\" not found, try pulling it first"}})
            )
            .class,
            FailureClass::TargetDown
        );
        assert_eq!(
            classify(
                400,
                json!({"error": {"message": "This model's maximum context length is 8192 tokens",
            "code": "context_length_exceeded"}})
            )
            .class,
            FailureClass::TooLong
        );
        assert_eq!(
            classify(400, json!({"error": {"message": "Unsupported parameter"}})).class,
            FailureClass::RequestBad
        );
        let flat = classify(
            400,
            json!({"object": "error", "message":
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
            "type": "BadRequestError", "code": 400}),
        );
        assert_eq!(flat.class, FailureClass::TooLong);
        assert_eq!(
            classify(
                503,
                json!({"object": "error", "message": "busy", "code": 503})
            )
            .class,
            FailureClass::Transient
        );
        let in_body = classify(
            200,
            json!({"error": {"message": "provider disconnected", "code": 502}}),
        );
        assert_eq!(
            (in_body.class, in_body.status),
            (FailureClass::Transient, Some(502))
        );
        let credits_in_body = classify(
            200,
            json!({"error": {"message": "no credits", "code": 402}}),
        );
        assert_eq!(credits_in_body.class, FailureClass::TargetDown);
        assert_eq!(
            classify(
                200,
                json!({"choices": [{"message": {"content": "{\"a\""},
            "finish_reason": "length"}]})
            )
            .class,
            FailureClass::Truncated
        );
        assert_eq!(
            classify(
                200,
                json!({"choices": [{"message": {"content": ""},
            "finish_reason": "content_filter"}]})
            )
            .class,
            FailureClass::Blocked
        );
        assert_eq!(
            classify(502, json!("bad gateway")).class,
            FailureClass::Transient
        );
    }
}
