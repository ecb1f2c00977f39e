//! Fake LLM servers for router tests: one actix-web server on 127.0.0.1:0 speaking both wire
//! formats (Gemini `POST /v1beta/models/{model}:generateContent`, OpenAI-style
//! `POST /chat/completions`), answering from a per-model script (each error shape the providers
//! send, delays), else as the model's [`Server`] would (llama-cpp-python, Ollama, vLLM, a
//! model that ignores the schema), else with a good default answer, and counting calls per
//! model.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// Tokens every default answer reports, so tests can compute exact costs.
pub const PROMPT_TOKENS: u64 = 1000;
pub const COMPLETION_TOKENS: u64 = 100;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Raw body; `None` means "the default good answer of the wire format".
    pub body: Option<String>,
    pub delay: Option<Duration>,
}

impl Scripted {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body.to_string()),
            delay: None,
        }
    }

    pub fn ok() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: None,
            delay: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn gemini_text(text: &str) -> Self {
        Self::json(200, gemini_answer(text, "STOP"))
    }

    pub fn openai_text(text: &str) -> Self {
        Self::json(200, openai_answer(text, "stop"))
    }

    /// 429 RESOURCE_EXHAUSTED with a per-minute quota and `RetryInfo.retryDelay`.
    pub fn gemini_rate_limited(delay: &str) -> Self {
        Self::json(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "Resource has been exhausted", "details": [
              {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}}),
        )
    }

    pub fn gemini_bad_key() -> Self {
        Self::json(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "API key not valid. Please pass a valid API key.", "details": [
              {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
               "domain": "googleapis.com"}]}}),
        )
    }

    pub fn gemini_safety() -> Self {
        Self::json(200, gemini_answer("", "SAFETY"))
    }

    pub fn gemini_unavailable() -> Self {
        Self::json(
            503,
            json!({"error": {"code": 503, "status": "UNAVAILABLE",
            "message": "The model is overloaded."}}),
        )
    }

    pub fn openai_rate_limited() -> Self {
        Self::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests",
            "code": "rate_limit_exceeded"}}),
        )
    }

    pub fn openai_bad_request() -> Self {
        Self::json(
            400,
            json!({"error": {"message": "Unsupported parameter: 'foo'",
            "type": "invalid_request_error", "code": "unsupported_parameter"}}),
        )
    }

    pub fn openai_context_too_long() -> Self {
        Self::json(
            400,
            json!({"error": {"message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error", "code": "context_length_exceeded"}}),
        )
    }

    pub fn openrouter_no_credits() -> Self {
        Self::json(
            402,
            json!({"error": {"message": "Insufficient credits", "code": 402}}),
        )
    }

    /// OpenRouter: the generation failed after it started, reported as HTTP 200.
    pub fn openrouter_error_in_200() -> Self {
        Self::json(
            200,
            json!({"error": {"message": "Provider disconnected", "code": 502}}),
        )
    }

    /// vLLM's flat error form.
    pub fn vllm_flat_error(code: u16, message: &str) -> Self {
        Self::json(
            code,
            json!({"object": "error", "message": message,
            "type": "BadRequestError", "code": code}),
        )
    }

    pub fn openai_truncated() -> Self {
        Self::json(200, openai_answer("{\"items\": [", "length"))
    }

    pub fn openai_not_json() -> Self {
        Self::openai_text("Sure! Here is what I found: nothing important.")
    }
}

/// A good Gemini answer with the default usage.
pub fn gemini_answer(text: &str, finish: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": COMPLETION_TOKENS,
                          "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS}})
}

/// A good OpenAI-style answer with the default usage.
pub fn openai_answer(text: &str, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                  "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}})
}

/// The answer every model gives when its script is empty.
pub const DEFAULT_ANSWER: &str = r#"{"items": [{"id": "1", "importance": 2}]}"#;

/// How the server behind a model answers what it is sent, as measured on the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// llama-cpp-python 0.3.36 (`python -m llama_cpp.server`): `response_format` may be
    /// `text` or `json_object` (output constrained to the `schema` beside it); `json_schema`
    /// fails its request validation, which it reports as HTTP 500 in its own error envelope.
    LlamaCppPython,
    /// Ollama's `/v1` (0.5 and later): `json_schema` and `json_object` honoured.
    Ollama,
    /// vLLM's OpenAI server: `json_schema` through guided decoding.
    Vllm,
    /// A chat model on a server that ignores `response_format`: prose first, JSON inside a
    /// sentence once told its answer was rejected.
    Chatty,
}

/// llama-cpp-python 0.3.36's answer to `response_format: {"type": "json_schema", ...}`,
/// byte for byte as it sends it apart from the path of its source file.
pub const LLAMA_CPP_PYTHON_REFUSAL: &str = r#"{"error":{"message":"1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/venv/lib/python3.11/site-packages/llama_cpp/server/app.py\", line 376, in create_chat_completion\n    POST /v1/chat/completions","type":"internal_server_error","param":null,"code":null}}"#;

/// A value of `schema` as a constrained decoder would write it: required and listed
/// properties filled, strings `"ok"`, integers 42, one item per array, enums their first
/// value.
pub fn instance_of(schema: &Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    match schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
    {
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, property)| (name.clone(), instance_of(property)))
                .collect(),
        ),
        "array" => json!([instance_of(schema.get("items").unwrap_or(&json!({})))]),
        "string" => json!("ok"),
        "integer" => json!(42),
        "number" => json!(0.5),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

/// The schema a request describes: sent as `json_schema`, beside `json_object`, or in the
/// system prompt's instructions.
fn requested_schema(body: &Value) -> Option<Value> {
    if let Some(schema) = body
        .pointer("/response_format/json_schema/schema")
        .or_else(|| body.pointer("/response_format/schema"))
    {
        return Some(schema.clone());
    }
    let system = body.pointer("/messages/0/content")?.as_str()?;
    let (_, schema) = system.split_once("JSON Schema:\n")?;
    serde_json::from_str(schema.trim()).ok()
}

impl Server {
    /// Status and body for one OpenAI-style request.
    fn answer(self, body: &Value) -> (u16, String) {
        let format = body
            .pointer("/response_format/type")
            .and_then(Value::as_str);
        let schema = requested_schema(body);
        let instance = schema
            .as_ref()
            .map(|schema| instance_of(schema).to_string());
        match self {
            Server::LlamaCppPython => match format {
                Some("json_schema") => (500, LLAMA_CPP_PYTHON_REFUSAL.to_owned()),
                _ => {
                    let text = instance.unwrap_or_else(|| "Hello! How can I help?".to_owned());
                    let answer = json!({"id": "chatcmpl-ce55c3d6", "object": "chat.completion",
                        "created": 1_796_600_645, "model": body["model"],
                        "choices": [{"index": 0, "message": {"content": text, "role": "assistant"},
                                     "logprobs": null, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59}});
                    (200, answer.to_string())
                }
            },
            Server::Ollama => {
                let text = instance.unwrap_or_else(|| "Hello!".to_owned());
                let answer = json!({"id": "chatcmpl-512", "object": "chat.completion",
                    "created": 1_796_600_645, "model": body["model"],
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 61, "completion_tokens": 12, "total_tokens": 73}});
                (200, answer.to_string())
            }
            Server::Vllm => {
                let text = instance.unwrap_or_else(|| "Hello!".to_owned());
                let answer = json!({"id": "chatcmpl-9f2c", "object": "chat.completion",
                    "created": 1_796_600_645, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant",
                        "reasoning_content": null, "content": text, "tool_calls": []},
                        "logprobs": null, "finish_reason": "stop", "stop_reason": null}],
                    "usage": {"prompt_tokens": 75, "total_tokens": 89, "completion_tokens": 14,
                              "prompt_tokens_details": null},
                    "prompt_logprobs": null});
                (200, answer.to_string())
            }
            Server::Chatty => {
                let told = body
                    .pointer("/messages/1/content")
                    .and_then(Value::as_str)
                    .is_some_and(|prompt| prompt.contains("previous answer was rejected"));
                let text = match instance {
                    Some(json) if told => format!("Sorry about that! Here it is: {json}"),
                    _ => "Sure! Everything looks fine to me.".to_owned(),
                };
                (200, openai_answer(&text, "stop").to_string())
            }
        }
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Scripted>>,
    servers: HashMap<String, Server>,
    calls: HashMap<String, usize>,
    bodies: Vec<Value>,
}

/// The running fake; stops when dropped.
pub struct FakeLlm {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeLlm {
    /// Starts on 127.0.0.1:0; needs a running actix system (`#[actix_rt::test]`).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base_url,
            state,
            handle,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues answers for `model`, used in order before the default answer.
    pub fn script(&self, model: &str, answers: impl IntoIterator<Item = Scripted>) {
        self.state()
            .scripts
            .entry(model.to_owned())
            .or_default()
            .extend(answers);
    }

    /// Answers requests for `model` as `server` does once its script is used up.
    pub fn serve(&self, model: &str, server: Server) {
        self.state().servers.insert(model.to_owned(), server);
    }

    pub fn calls(&self, model: &str) -> usize {
        self.state().calls.get(model).copied().unwrap_or(0)
    }

    /// Every request body received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.state().bodies.clone()
    }

    /// The request bodies sent for `model`, in order.
    pub fn bodies_for(&self, model: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter(|body| body["model"] == model)
            .collect()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn answer(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let path = request.path().to_owned();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (model, gemini) = if let Some(rest) = path.strip_prefix("/v1beta/models/") {
        (rest.trim_end_matches(":generateContent").to_owned(), true)
    } else if path.ends_with("/chat/completions") {
        (
            parsed
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            false,
        )
    } else {
        return HttpResponse::NotFound().finish();
    };
    let scripted = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        *state.calls.entry(model.clone()).or_default() += 1;
        state.bodies.push(parsed.clone());
        let scripted = state.scripts.get_mut(&model).and_then(VecDeque::pop_front);
        match (scripted, state.servers.get(&model)) {
            (Some(scripted), _) => scripted,
            (None, Some(server)) if !gemini => {
                let (status, body) = server.answer(&parsed);
                Scripted {
                    status,
                    headers: Vec::new(),
                    body: Some(body),
                    delay: None,
                }
            }
            (None, _) => Scripted::ok(),
        }
    };
    if let Some(delay) = scripted.delay {
        actix_rt::time::sleep(delay).await;
    }
    let body = scripted.body.unwrap_or_else(|| {
        if gemini {
            gemini_answer(DEFAULT_ANSWER, "STOP").to_string()
        } else {
            openai_answer(DEFAULT_ANSWER, "stop").to_string()
        }
    });
    let mut response =
        HttpResponse::build(StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::OK));
    response.content_type("application/json");
    for (name, value) in &scripted.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(body)
}
