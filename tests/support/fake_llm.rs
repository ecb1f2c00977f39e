//! Fake LLM servers for router tests: one actix-web server on 127.0.0.1:0 speaking both wire
//! formats (Gemini `POST /v1beta/models/{model}:generateContent`, OpenAI-style
//! `POST /chat/completions`), answering from a per-model script (each error shape the providers
//! send, delays) and a good default answer, and counting calls per model.

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

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Scripted>>,
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

    pub fn calls(&self, model: &str) -> usize {
        self.state().calls.get(model).copied().unwrap_or(0)
    }

    /// Every request body received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.state().bodies.clone()
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
        state.bodies.push(parsed);
        state
            .scripts
            .get_mut(&model)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(Scripted::ok)
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
