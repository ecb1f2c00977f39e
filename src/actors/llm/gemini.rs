//! Gemini v1beta `generateContent`: the request body and the reading of every answer shape
//! (reply, blocked prompt, finish reasons, `{"error": ...}` with RetryInfo / QuotaFailure /
//! ErrorInfo details).

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::failure::{
    CallFailure, FailureClass, ProviderReply, Usage, clip, header_delay, mentions_context_overflow,
    parse_proto_duration, refused_field, until_utc_midnight,
};
use super::request::PreparedCall;
use super::schema::{self, StructuredMode};

/// `{base}/v1beta/models/{model}:generateContent`.
pub fn url(base_url: &str, model: &str) -> String {
    format!("{base_url}/v1beta/models/{model}:generateContent")
}

/// The request body; `call.mode` decides what asks for the schema: `json_schema` is Gemini's
/// native `responseSchema`, `json_object` its JSON mime type alone, `prompt` neither (the
/// system instruction describes the schema in both of the latter).
pub fn body(model: &str, call: &PreparedCall) -> Value {
    let mut generation = json!({
        "temperature": call.temperature,
        "maxOutputTokens": call.max_output_tokens,
    });
    if let Some(reply_schema) = &call.schema {
        if call.mode != StructuredMode::Prompt {
            generation["responseMimeType"] = json!("application/json");
        }
        if call.mode == StructuredMode::JsonSchema {
            generation["responseSchema"] = schema::to_gemini(&reply_schema.schema);
        }
    }
    // 2.5 Flash thinks by default and bills it as output; structured triage does not need it.
    // 2.5 Pro cannot turn thinking off and older models reject the field.
    if model.starts_with("gemini-2.5-flash") {
        generation["thinkingConfig"] = json!({"thinkingBudget": 0});
    }
    let mut body = json!({
        "contents": [{"role": "user", "parts": [{"text": call.prompt}]}],
        "generationConfig": generation,
    });
    if !call.system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": call.system}]});
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
    if let Some(error) = parsed.as_ref().and_then(|value| value.get("error")) {
        return Err(classify_error(status, headers, error));
    }
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(body);
        let class =
            refused_field(status, &text).unwrap_or_else(|| super::failure::class_of_status(status));
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
    if let Some(reason) = answer
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(CallFailure::new(
            FailureClass::Blocked,
            Some(status),
            format!("prompt blocked: {reason}"),
        )
        .with_usage(usage));
    }
    let Some(candidate) = answer.pointer("/candidates/0") else {
        return Err(CallFailure::new(
            FailureClass::InvalidReply,
            Some(status),
            "answer has no candidates",
        )
        .with_usage(usage));
    };
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|part| {
            !part
                .get("thought")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    match finish {
        "STOP" => Ok(ProviderReply { text, usage }),
        "MAX_TOKENS" => Err(CallFailure::new(
            FailureClass::Truncated,
            Some(status),
            "answer cut at the output token limit (MAX_TOKENS)",
        )
        .with_usage(usage)),
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            Err(CallFailure::new(
                FailureClass::Blocked,
                Some(status),
                format!("answer blocked: {finish}"),
            )
            .with_usage(usage))
        }
        other => Err(CallFailure::new(
            FailureClass::InvalidReply,
            Some(status),
            format!("answer ended with {other}"),
        )
        .with_usage(usage)),
    }
}

/// Thinking tokens are billed as output; `promptTokenCount` already includes cached tokens.
fn usage(answer: &Value) -> Usage {
    let count = |name: &str| {
        answer
            .pointer(&format!("/usageMetadata/{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let thinking = count("thoughtsTokenCount");
    Usage {
        input_tokens: count("promptTokenCount"),
        output_tokens: count("candidatesTokenCount") + thinking,
        thinking_tokens: thinking,
        cached_tokens: count("cachedContentTokenCount"),
        reported_cost_usd: None,
    }
}

/// `{"code", "message", "status", "details": [...]}`.
fn classify_error(http_status: u16, headers: &HeaderMap, error: &Value) -> CallFailure {
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|_| (200..300).contains(&http_status))
        .unwrap_or(http_status);
    let full_message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let message = clip(full_message);
    let details: &[Value] = error
        .get("details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let detail_of = |suffix: &'static str| {
        details.iter().filter(move |detail| {
            detail
                .get("@type")
                .and_then(Value::as_str)
                .is_some_and(|kind| kind.ends_with(suffix))
        })
    };
    let reason_is = |wanted: &str| {
        detail_of("ErrorInfo")
            .any(|detail| detail.get("reason").and_then(Value::as_str) == Some(wanted))
    };
    let server_delay = detail_of("RetryInfo")
        .find_map(|detail| detail.get("retryDelay").and_then(Value::as_str))
        .and_then(parse_proto_duration)
        .or_else(|| header_delay(headers));
    let per_day = detail_of("QuotaFailure").any(|detail| {
        detail
            .get("violations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|violation| violation.get("quotaId").and_then(Value::as_str))
            .any(|quota| quota.contains("PerDay"))
    });

    // `BadRequest.fieldViolations[].field` names what was refused
    // (`generation_config.response_schema...`).
    let violated_fields: Vec<&str> = detail_of("BadRequest")
        .filter_map(|detail| detail.get("fieldViolations").and_then(Value::as_array))
        .flatten()
        .filter_map(|violation| violation.get("field").and_then(Value::as_str))
        .collect();
    let refused = || {
        refused_field(
            code,
            &format!("{full_message} {}", violated_fields.join(" ")),
        )
    };
    let class = match code {
        400 if reason_is("API_KEY_INVALID") => FailureClass::TargetDown,
        400 if mentions_context_overflow(&message) => FailureClass::TooLong,
        429 if per_day => {
            return CallFailure::new(FailureClass::TargetDown, Some(code), message)
                .with_retry_after(Some(until_utc_midnight()));
        }
        other => refused().unwrap_or_else(|| super::failure::class_of_status(other)),
    };
    CallFailure::new(class, Some(code), message).with_retry_after(server_delay)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::actors::llm::request::ReplySchema;

    fn classify(status: u16, body: Value) -> CallFailure {
        interpret(status, &HeaderMap::new(), body.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn body_carries_schema_and_thinking_budget() {
        let mut call = PreparedCall {
            system: "be brief".into(),
            prompt: "hello".into(),
            schema: Some(ReplySchema {
                name: "t".into(),
                schema: json!({"type": "object"}),
            }),
            mode: StructuredMode::JsonSchema,
            max_output_tokens: 100,
            temperature: 0.2,
        };
        let body = body("gemini-2.5-flash", &call);
        assert_eq!(body["generationConfig"]["responseSchema"]["type"], "OBJECT");
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            body["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            0
        );
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "be brief");
        assert!(
            super::body("gemini-2.5-pro", &call)["generationConfig"]
                .get("thinkingConfig")
                .is_none()
        );

        call.mode = StructuredMode::JsonObject;
        let json_mode = super::body("gemini-2.5-pro", &call)["generationConfig"].clone();
        assert_eq!(json_mode["responseMimeType"], "application/json");
        assert!(json_mode.get("responseSchema").is_none());
        call.mode = StructuredMode::Prompt;
        let prompt = super::body("gemini-2.5-pro", &call)["generationConfig"].clone();
        assert!(prompt.get("responseMimeType").is_none());
        assert!(prompt.get("responseSchema").is_none());
    }

    #[test]
    fn reply_text_and_usage_include_thinking() {
        let answer = json!({"candidates": [{"content": {"parts": [
                {"text": "pondering", "thought": true}, {"text": "{\"ok\":"}, {"text": "true}"}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                              "thoughtsTokenCount": 7, "totalTokenCount": 22}});
        let reply = interpret(200, &HeaderMap::new(), answer.to_string().as_bytes()).unwrap();
        assert_eq!(reply.text, "{\"ok\":true}");
        assert_eq!(reply.usage.input_tokens, 10);
        assert_eq!(reply.usage.output_tokens, 12);
        assert_eq!(reply.usage.thinking_tokens, 7);
    }

    #[test]
    fn every_error_shape_is_classified() {
        let bad_key = classify(
            400,
            json!({"error": {"code": 400, "message": "API key not valid.",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        );
        assert_eq!(bad_key.class, FailureClass::TargetDown);

        let per_minute = classify(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "quota", "details": [
              {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"}]}}),
        );
        assert_eq!(per_minute.class, FailureClass::Transient);
        assert_eq!(per_minute.retry_after, Some(Duration::from_secs(34)));

        let per_day = classify(
            429,
            json!({"error": {"code": 429, "message": "quota", "details": [
              {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}),
        );
        assert_eq!(per_day.class, FailureClass::TargetDown);
        assert!(per_day.retry_after.is_some());

        let too_long = classify(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}}),
        );
        assert_eq!(too_long.class, FailureClass::TooLong);
        let bad = classify(
            400,
            json!({"error": {"code": 400, "message": "Invalid JSON payload"}}),
        );
        assert_eq!(bad.class, FailureClass::RequestBad);
        let schema_refused = classify(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "Invalid JSON payload received.", "details": [
              {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                {"field": "generation_config.response_schema.properties[0].value",
                 "description": "Unknown name \"const\""}]}]}}),
        );
        assert_eq!(schema_refused.class, FailureClass::UnsupportedFormat);
        for status in [500, 503, 504] {
            assert_eq!(
                classify(status, json!({"error": {"code": status}})).class,
                FailureClass::Transient
            );
        }

        let blocked = classify(200, json!({"promptFeedback": {"blockReason": "SAFETY"}}));
        assert_eq!(blocked.class, FailureClass::Blocked);
        let safety = classify(200, json!({"candidates": [{"finishReason": "SAFETY"}]}));
        assert_eq!(safety.class, FailureClass::Blocked);
        let cut = classify(
            200,
            json!({"candidates": [{"content": {"parts": [{"text": "{\"a\""}]},
            "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9}}),
        );
        assert_eq!(cut.class, FailureClass::Truncated);
        assert_eq!(cut.usage.unwrap().output_tokens, 9);
        let in_body = classify(
            200,
            json!({"error": {"code": 503, "message": "overloaded"}}),
        );
        assert_eq!(in_body.class, FailureClass::Transient);
        assert_eq!(
            classify(502, json!("<html>")).class,
            FailureClass::Transient
        );
    }
}
