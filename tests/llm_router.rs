//! The LLM router against fake Gemini and OpenAI servers: fallback order, server delays,
//! circuits for dead keys, bad requests, the daily budget with its ledger across a restart,
//! free local targets, SAFETY blocks, the repair of invalid answers, and structured output
//! on the servers users run (llama-cpp-python, Ollama, vLLM, a model ignoring the schema),
//! with the learnt mode kept across a restart.

mod support;

use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use discord_monitor::actors::db::{Database, DatabaseConfig, DbActor};
use discord_monitor::actors::llm::budget::utc_day;
use discord_monitor::actors::llm::config::{
    LlmConfig, ModelConfig, ProviderConfig, ProviderKind, StructuredOutput,
};
use discord_monitor::actors::llm::schema::StructuredMode;
use discord_monitor::actors::llm::{
    FailureClass, LlmError, LlmRequest, RequestKind, Router, RouterSettings, Target,
};
use discord_monitor::circuit_breaker::{BreakerSettings, CircuitState};
use discord_monitor::config::Secret;
use discord_monitor::supervisor::ComponentRecipient;
use serde_json::json;
use support::fake_llm::{COMPLETION_TOKENS, FakeLlm, PROMPT_TOKENS, Scripted, Server};
use tempfile::TempDir;

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn provider(
    name: &str,
    kind: ProviderKind,
    base_url: &str,
    models: &[(&str, f64, f64)],
) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        kind,
        base_url: Some(base_url.to_owned()),
        api_key: Some(Secret::new("dmtest-llm-key")),
        timeout_secs: 10,
        max_output_tokens: 512,
        models: models
            .iter()
            .map(|&(model, input, output)| ModelConfig {
                name: model.to_owned(),
                input_usd_per_mtok: Some(input),
                output_usd_per_mtok: Some(output),
                context_tokens: Some(100_000),
                structured_output: StructuredOutput::Auto,
            })
            .collect(),
    }
}

/// Two paid targets on one fake (Gemini `g/gem`, OpenAI `o/gpt`) and a free local one.
fn config(fake: &FakeLlm, limit_usd: f64, route: &[&str]) -> LlmConfig {
    LlmConfig {
        daily_cost_limit: limit_usd,
        providers: vec![
            provider(
                "g",
                ProviderKind::Gemini,
                &fake.base_url,
                &[("gem", 1.0, 2.0)],
            ),
            provider(
                "o",
                ProviderKind::Openai,
                &fake.base_url,
                &[("gpt", 1.0, 2.0)],
            ),
            provider(
                "local",
                ProviderKind::OpenaiCompatible,
                &fake.base_url,
                &[("tiny", 0.0, 0.0)],
            ),
        ],
        routes: discord_monitor::actors::llm::config::RoutesConfig {
            default: route.iter().map(|target| (*target).to_owned()).collect(),
            ..Default::default()
        },
        ..LlmConfig::default()
    }
}

/// Short waits so the tests run in real time against real sockets.
fn fast_settings() -> RouterSettings {
    RouterSettings {
        attempts_per_target: 3,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        max_server_delay: Duration::from_secs(60),
        deadline: Duration::from_secs(60),
        breaker: BreakerSettings {
            consecutive_failures: 3,
            cooldown: Duration::from_secs(1),
            target_down_cooldown: Duration::from_secs(1),
            ..BreakerSettings::default()
        },
    }
}

struct Ledger {
    _dir: TempDir,
    db: Database,
    addr: Addr<DbActor>,
}

async fn ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let db_config = DatabaseConfig {
        path: dir.path().join("db.sqlite"),
        ..DatabaseConfig::default()
    };
    let db = Database::open(&db_config).unwrap();
    db.run_pending_migrations().unwrap();
    let addr = DbActor::new(db.clone(), logger(), Duration::from_secs(10)).start();
    Ledger {
        _dir: dir,
        db,
        addr,
    }
}

/// A router as the service builds one: today's spend and the learnt modes read from the
/// database, new modes saved to it.
fn router(config: &LlmConfig, ledger: &Ledger) -> Router {
    let spent = ledger.db.llm_cost_on_day(&utc_day()).unwrap();
    Router::new(
        config,
        fast_settings(),
        spent,
        ComponentRecipient::unsupervised("database", ledger.addr.clone().recipient()),
        None,
        &logger(),
    )
    .unwrap()
    .with_structured_output(
        ledger.db.learnt_structured_outputs().unwrap(),
        ComponentRecipient::unsupervised("database", ledger.addr.clone().recipient()),
    )
}

fn triage() -> LlmRequest {
    LlmRequest::new(RequestKind::Triage, "Rate each message.", vec!["hello world".to_owned()])
        .with_schema(
            "triage",
            json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}),
        )
}

fn target(text: &str) -> Target {
    Target::parse(text).unwrap()
}

/// What one default answer costs at $1 / $2 per million tokens.
fn default_call_cost() -> f64 {
    (PROMPT_TOKENS as f64 * 1.0 + COMPLETION_TOKENS as f64 * 2.0) / 1_000_000.0
}

#[actix_rt::test]
async fn fallback_order_is_honoured() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gem", (0..3).map(|_| Scripted::gemini_unavailable()));
    let router = router(
        &config(&fake, 10.0, &["g/gem", "o/gpt", "local/tiny"]),
        &ledger,
    );
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("o/gpt"));
    assert_eq!(answer.json.unwrap()["items"][0]["importance"], 2);
    assert_eq!(
        (fake.calls("gem"), fake.calls("gpt"), fake.calls("tiny")),
        (3, 1, 0)
    );
    let outcomes: Vec<(String, &str)> = answer
        .attempts
        .iter()
        .map(|attempt| (attempt.target.to_string(), attempt.outcome))
        .collect();
    assert_eq!(outcomes[0], ("g/gem".to_owned(), "failed"));
    assert_eq!(outcomes[3], ("o/gpt".to_owned(), "ok"));
    // The Gemini call asked for structured output in Gemini's dialect.
    let first = &fake.bodies()[0];
    assert_eq!(
        first["generationConfig"]["responseSchema"]["type"],
        "OBJECT"
    );
}

#[actix_rt::test]
async fn retry_waits_for_the_server_delay() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script(
        "gpt",
        [Scripted::openai_rate_limited().with_header("retry-after", "1")],
    );
    fake.script("gem", [Scripted::gemini_rate_limited("1s")]);
    let router = router(&config(&fake, 10.0, &["o/gpt", "local/tiny"]), &ledger);
    let started = Instant::now();
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("o/gpt"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.calls("gpt"), 2);

    let started = Instant::now();
    let answer = router
        .complete(triage(), Some(target("g/gem")))
        .await
        .unwrap();
    assert_eq!(answer.target, target("g/gem"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RetryInfo obeyed"
    );
    assert_eq!(fake.calls("gem"), 2);
}

#[actix_rt::test]
async fn dead_key_opens_the_circuit_until_a_probe_after_cooldown() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gem", [Scripted::gemini_bad_key()]);
    let router = router(&config(&fake, 10.0, &["g/gem", "local/tiny"]), &ledger);

    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("local/tiny"));
    assert_eq!(answer.attempts[0].class, Some(FailureClass::TargetDown));
    assert_eq!(fake.calls("gem"), 1, "a dead key is not retried");

    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("local/tiny"));
    assert_eq!(answer.attempts[0].outcome, "skipped_circuit_open");
    assert_eq!(fake.calls("gem"), 1, "no call while the circuit is open");
    let status = router.status();
    let gem = status.targets.iter().find(|t| t.target == "g/gem").unwrap();
    assert_eq!(gem.circuit, CircuitState::Open);
    assert!(gem.open_for_secs.is_some());
    assert_eq!(
        status.routes["ask"],
        ["g/gem", "local/tiny"],
        "a kind without its own route shows the default chain"
    );

    // The breaker runs on tokio's clock: skip its cooldown without sleeping. The clock runs
    // again before the probe, which talks to the fake server in real time.
    tokio::time::pause();
    tokio::time::advance(fast_settings().breaker.target_down_cooldown).await;
    tokio::time::resume();
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("g/gem"), "half-open probe succeeded");
    assert_eq!(fake.calls("gem"), 2);
    let status = router.status();
    let gem = status.targets.iter().find(|t| t.target == "g/gem").unwrap();
    assert_eq!(gem.circuit, CircuitState::Closed);
}

#[actix_rt::test]
async fn bad_request_is_neither_retried_nor_passed_on() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gpt", [Scripted::openai_bad_request()]);
    let router = router(&config(&fake, 10.0, &["o/gpt", "local/tiny"]), &ledger);
    let err = router.complete(triage(), None).await.unwrap_err();
    assert!(matches!(err, LlmError::RequestRejected { .. }), "{err:?}");
    assert_eq!((fake.calls("gpt"), fake.calls("tiny")), (1, 0));
}

#[actix_rt::test]
async fn budget_refuses_crossing_calls_keeps_the_ledger_and_spares_free_targets() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    // Each default answer costs $0.0012; the estimate of a call (tiny prompt + the provider's
    // 512 output tokens at $2/M, about $0.00106) fits twice, not a third time.
    let limit = 0.003;
    let paid_only = config(&fake, limit, &["o/gpt"]);
    let router = router(&paid_only, &ledger);
    router.complete(triage(), None).await.unwrap();
    router.complete(triage(), None).await.unwrap();
    let err = router.complete(triage(), None).await.unwrap_err();
    assert!(matches!(err, LlmError::BudgetExhausted { .. }), "{err:?}");
    assert_eq!(fake.calls("gpt"), 2, "the refused call never left");

    let booked = ledger.db.llm_cost_on_day(&utc_day()).unwrap();
    assert!(
        (booked - 2.0 * default_call_cost()).abs() < 1e-12,
        "{booked}"
    );

    // A restart reads the ledger: still refused.
    let restarted = router_after_restart(&paid_only, &ledger);
    assert!((restarted.status().spent_usd - booked).abs() < 1e-12);
    let err = restarted.complete(triage(), None).await.unwrap_err();
    assert!(matches!(err, LlmError::BudgetExhausted { .. }), "{err:?}");

    // The free local model still answers.
    let with_local = config(&fake, limit, &["o/gpt", "local/tiny"]);
    let answer = router_after_restart(&with_local, &ledger)
        .complete(triage(), None)
        .await
        .unwrap();
    assert_eq!(answer.target, target("local/tiny"));
    assert_eq!(answer.attempts[0].outcome, "skipped_budget");
    assert_eq!(answer.cost_usd, 0.0);
    let totals = ledger.db.llm_usage_since(&utc_day()).unwrap();
    let local = totals.iter().find(|row| row.provider == "local").unwrap();
    assert_eq!((local.calls, local.cost_usd), (1, 0.0));
}

fn router_after_restart(config: &LlmConfig, ledger: &Ledger) -> Router {
    router(config, ledger)
}

#[actix_rt::test]
async fn safety_blocks_fall_back_without_opening_the_circuit() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gem", (0..5).map(|_| Scripted::gemini_safety()));
    let router = router(&config(&fake, 10.0, &["g/gem", "local/tiny"]), &ledger);
    for _ in 0..5 {
        let answer = router.complete(triage(), None).await.unwrap();
        assert_eq!(answer.target, target("local/tiny"));
        assert_eq!(answer.attempts[0].class, Some(FailureClass::Blocked));
    }
    assert_eq!(fake.calls("gem"), 5, "never skipped");
    let status = router.status();
    let gem = status.targets.iter().find(|t| t.target == "g/gem").unwrap();
    assert_eq!(gem.circuit, CircuitState::Closed);
}

#[actix_rt::test]
async fn invalid_json_gets_one_repair_then_falls_back() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script(
        "gpt",
        [Scripted::openai_not_json(), Scripted::openai_truncated()],
    );
    let router = router(&config(&fake, 10.0, &["o/gpt", "local/tiny"]), &ledger);
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("local/tiny"));
    assert_eq!(fake.calls("gpt"), 2, "first answer plus one repair");
    let classes: Vec<_> = answer
        .attempts
        .iter()
        .map(|attempt| attempt.class)
        .collect();
    assert_eq!(
        classes,
        [
            Some(FailureClass::InvalidReply),
            Some(FailureClass::Truncated),
            None
        ]
    );
    let repair = &fake.bodies()[1];
    let prompt = repair["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("previous answer was rejected"), "{prompt}");

    // A repair that works is used.
    fake.script("gpt", [Scripted::openai_not_json()]);
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("o/gpt"));
}

#[actix_rt::test]
async fn openrouter_and_vllm_error_shapes_fall_back() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script(
        "gpt",
        [
            Scripted::openrouter_error_in_200(),
            Scripted::vllm_flat_error(503, "queue full"),
            Scripted::openrouter_no_credits(),
        ],
    );
    let router = router(&config(&fake, 10.0, &["o/gpt", "local/tiny"]), &ledger);
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(answer.target, target("local/tiny"));
    let classes: Vec<_> = answer
        .attempts
        .iter()
        .map(|attempt| attempt.class)
        .collect();
    assert_eq!(
        classes,
        [
            Some(FailureClass::Transient),
            Some(FailureClass::Transient),
            Some(FailureClass::TargetDown),
            None
        ]
    );
}

/// Runs against a real OpenAI-compatible server (Ollama, vLLM, llama.cpp, llama-cpp-python)
/// when `DM_REAL_LLM_URL` names its base URL, e.g. `http://127.0.0.1:11434/v1`;
/// `DM_REAL_LLM_MODEL` names the model (default `smollm2`). The model is configured `auto`:
/// whatever structured output the server takes, the answer must arrive validated, and a
/// second router built from the database starts in the mode the first one learnt.
#[actix_rt::test]
async fn real_openai_compatible_server_when_configured() {
    let Some(base_url) = std::env::var("DM_REAL_LLM_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!(
            "skipped: set DM_REAL_LLM_URL (and DM_REAL_LLM_MODEL) to run against a real server"
        );
        return;
    };
    let model = std::env::var("DM_REAL_LLM_MODEL").unwrap_or_else(|_| "smollm2".to_owned());
    let ledger = ledger().await;
    let config = LlmConfig {
        providers: vec![ProviderConfig {
            api_key: None,
            timeout_secs: 120,
            ..provider(
                "real",
                ProviderKind::OpenaiCompatible,
                &base_url,
                &[(&model, 0.0, 0.0)],
            )
        }],
        ..LlmConfig::default()
    };
    let request = || {
        LlmRequest::new(
            RequestKind::Triage,
            "You check that this API works.",
            vec!["Reply with status \"ok\" and the number 42.".to_owned()],
        )
        .with_schema(
            "health_check",
            json!({"type": "object", "required": ["status", "number"],
                   "properties": {"status": {"type": "string"}, "number": {"type": "integer"}}}),
        )
    };
    let answer = router(&config, &ledger)
        .complete(request(), None)
        .await
        .unwrap();
    let json = answer.json.as_ref().expect("validated JSON");
    assert!(
        json["status"].is_string() && json["number"].is_i64(),
        "{json}"
    );
    let mode = answer.structured_output.unwrap();
    eprintln!(
        "real server answered in {mode} mode after {} call(s): {} ({} tokens out, {} ms)",
        answer.attempts.len(),
        answer.text,
        answer.usage.output_tokens,
        answer.latency_ms
    );

    let again = router(&config, &ledger)
        .complete(request(), None)
        .await
        .unwrap();
    assert_eq!(
        again.structured_output,
        Some(mode),
        "the mode is remembered"
    );
    assert_eq!(again.attempts.len(), 1, "{:?}", again.attempts);
}

#[actix_rt::test]
async fn metrics_show_calls_failures_tokens_cost_and_open_circuits() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gem", [Scripted::gemini_bad_key()]);
    let metrics = std::sync::Arc::new(discord_monitor::metrics::Metrics::new());
    let config = config(&fake, 10.0, &["g/gem", "local/tiny"]);
    let llm_metrics =
        discord_monitor::actors::llm::LlmMetrics::register(&metrics, &config).unwrap();
    // Every target's series exist before the first call.
    let before = metrics.render_prometheus();
    for expected in [
        r#"discord_monitor_llm_requests_total{target="g/gem",outcome="ok"} 0"#,
        r#"discord_monitor_llm_failures_total{target="local/tiny",class="transient"} 0"#,
        r#"discord_monitor_llm_cost_usd_total{target="g/gem"} 0"#,
        r#"discord_monitor_llm_circuit_state{target="g/gem"} 0"#,
        "discord_monitor_llm_spent_today_usd 0",
        "discord_monitor_llm_daily_limit_usd 10",
    ] {
        assert!(
            before.contains(expected),
            "missing {expected} in:\n{before}"
        );
    }
    let router = router(&config, &ledger).with_metrics(llm_metrics);

    router.complete(triage(), None).await.unwrap();
    let text = metrics.render_prometheus();
    for expected in [
        r#"discord_monitor_llm_requests_total{target="g/gem",outcome="error"} 1"#,
        r#"discord_monitor_llm_requests_total{target="local/tiny",outcome="ok"} 1"#,
        r#"discord_monitor_llm_failures_total{target="g/gem",class="target_down"} 1"#,
        r#"discord_monitor_llm_circuit_state{target="g/gem"} 2"#,
        r#"discord_monitor_llm_circuit_state{target="local/tiny"} 0"#,
        r#"discord_monitor_llm_tokens_total{target="local/tiny",direction="in"}"#,
        "discord_monitor_llm_request_duration_seconds_count",
        "discord_monitor_llm_spent_today_usd 0",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

#[actix_rt::test]
async fn a_prompt_the_model_finds_too_long_is_shrunk_once_then_falls_back() {
    let fake = FakeLlm::start();
    let ledger = ledger().await;
    fake.script("gpt", [Scripted::openai_context_too_long()]);
    let router = router(&config(&fake, 10.0, &["o/gpt", "local/tiny"]), &ledger);
    // Many old parts and one new one: shrinking drops the oldest first.
    let mut parts: Vec<String> = (0..2_000)
        .map(|n| format!("old message {n} with some words in it"))
        .collect();
    parts.push("the newest message".to_owned());
    let request = LlmRequest::new(RequestKind::Triage, "Rate each message.", parts).with_schema(
        "triage",
        json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}),
    );

    let answer = router.complete(request, None).await.unwrap();
    assert_eq!(
        answer.target,
        target("o/gpt"),
        "the shorter retry succeeded"
    );
    assert!(answer.prompt_truncated);
    assert_eq!(fake.calls("gpt"), 2);
    let prompts: Vec<String> = fake
        .bodies()
        .iter()
        .map(|body| {
            body["messages"][1]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(prompts[1].len() < prompts[0].len(), "the retry is shorter");
    assert!(prompts[1].contains("the newest message"));

    fake.script(
        "gpt",
        [
            Scripted::openai_context_too_long(),
            Scripted::openai_context_too_long(),
        ],
    );
    let answer = router.complete(triage(), None).await.unwrap();
    assert_eq!(
        answer.target,
        target("local/tiny"),
        "still too long: fall back"
    );
}

/// Config with one local target served as `server` would, in `mode`.
fn local_config(fake: &FakeLlm, model: &str, mode: StructuredOutput) -> LlmConfig {
    let mut provider = provider(
        "local",
        ProviderKind::OpenaiCompatible,
        &fake.base_url,
        &[(model, 0.0, 0.0)],
    );
    provider.api_key = None;
    provider.models[0].structured_output = mode;
    LlmConfig {
        providers: vec![provider],
        ..LlmConfig::default()
    }
}

fn format_type(body: &serde_json::Value) -> Option<&str> {
    body.pointer("/response_format/type")
        .and_then(serde_json::Value::as_str)
}

#[actix_rt::test]
async fn llama_cpp_python_refuses_json_schema_once_and_a_restart_remembers_json_object() {
    let fake = FakeLlm::start();
    fake.serve("smollm2", Server::LlamaCppPython);
    let ledger = ledger().await;
    let config = local_config(&fake, "smollm2", StructuredOutput::Auto);

    let answer = router(&config, &ledger)
        .complete(triage(), None)
        .await
        .unwrap();
    assert_eq!(answer.json.unwrap()["items"], json!([{}]));
    assert_eq!(answer.structured_output, Some(StructuredMode::JsonObject));
    assert_eq!(
        answer
            .attempts
            .iter()
            .map(|attempt| attempt.class)
            .collect::<Vec<_>>(),
        [Some(FailureClass::UnsupportedFormat), None]
    );
    assert_eq!(
        fake.calls("smollm2"),
        2,
        "no transient retry of the refusal"
    );
    let bodies = fake.bodies_for("smollm2");
    assert_eq!(format_type(&bodies[0]), Some("json_schema"));
    assert_eq!(format_type(&bodies[1]), Some("json_object"));
    assert_eq!(
        bodies[1]["response_format"]["schema"]["required"],
        json!(["items"])
    );

    let learnt = ledger.db.learnt_structured_outputs().unwrap();
    assert_eq!(learnt.len(), 1);
    assert_eq!(
        (learnt[0].provider.as_str(), learnt[0].model.as_str()),
        ("local", "smollm2")
    );
    assert_eq!(learnt[0].mode, "json_object");
    assert_eq!(learnt[0].base_url, fake.base_url);
    let totals = ledger.db.llm_usage_since(&utc_day()).unwrap();
    assert_eq!(
        (totals[0].calls, totals[0].failures),
        (2, 1),
        "both calls booked"
    );

    // A restart reads the mode back: one call.
    let restarted = router(&config, &ledger);
    let status = restarted.status();
    assert_eq!(
        status.targets[0].structured_output.mode,
        StructuredMode::JsonObject
    );
    let answer = restarted.complete(triage(), None).await.unwrap();
    assert_eq!(answer.attempts.len(), 1);
    assert_eq!(fake.calls("smollm2"), 3);
    assert_eq!(
        format_type(&fake.bodies_for("smollm2")[2]),
        Some("json_object")
    );
}

#[actix_rt::test]
async fn ollama_and_vllm_take_json_schema_in_their_own_reply_shapes() {
    let fake = FakeLlm::start();
    fake.serve("llama3.2", Server::Ollama);
    fake.serve("qwen", Server::Vllm);
    let ledger = ledger().await;
    for (model, tokens_in) in [("llama3.2", 61), ("qwen", 75)] {
        let config = local_config(&fake, model, StructuredOutput::Auto);
        let answer = router(&config, &ledger)
            .complete(triage(), None)
            .await
            .unwrap();
        assert_eq!(answer.json.unwrap(), json!({"items": [{}]}), "{model}");
        assert_eq!(answer.structured_output, Some(StructuredMode::JsonSchema));
        assert_eq!(answer.usage.input_tokens, tokens_in, "{model}");
        assert_eq!(fake.calls(model), 1, "{model}");
        let body = &fake.bodies_for(model)[0];
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    }
    assert!(ledger.db.learnt_structured_outputs().unwrap().is_empty());
}

#[actix_rt::test]
async fn a_model_ignoring_the_schema_is_repaired_once_in_prompt_mode() {
    let fake = FakeLlm::start();
    fake.serve("chatty", Server::Chatty);
    let ledger = ledger().await;
    let config = local_config(
        &fake,
        "chatty",
        StructuredOutput::Fixed(StructuredMode::Prompt),
    );
    let answer = router(&config, &ledger)
        .complete(triage(), None)
        .await
        .unwrap();
    assert_eq!(answer.json.unwrap(), json!({"items": [{}]}));
    assert_eq!(
        answer
            .attempts
            .iter()
            .map(|attempt| attempt.class)
            .collect::<Vec<_>>(),
        [Some(FailureClass::InvalidReply), None]
    );
    let bodies = fake.bodies_for("chatty");
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        assert!(body.get("response_format").is_none(), "{body}");
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("JSON Schema:"), "{system}");
    }
}
