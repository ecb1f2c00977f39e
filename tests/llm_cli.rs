//! `llm check` and `llm usage` through the real binary against a fake provider.

mod support;

use serde_json::{Value, json};
use support::fake_llm::{FakeLlm, Scripted, Server};
use support::run_cli;

/// A config whose only route is a Gemini target on the fake, then a free local one.
fn config(fake: &FakeLlm) -> Value {
    json!({
        "llm": {
            "daily_cost_limit": 5.0,
            "providers": [
                {"name": "g", "kind": "gemini", "base_url": fake.base_url, "api_key": "dmtest-llm-key",
                 "models": [{"name": "gem", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}]},
                {"name": "local", "kind": "openai-compatible", "base_url": fake.base_url,
                 "models": [{"name": "tiny", "input_usd_per_mtok": 0, "output_usd_per_mtok": 0}]}
            ],
            "routes": {"default": ["g/gem", "local/tiny"]}
        }
    })
}

async fn cli(dir: &std::path::Path, args: &[&str]) -> support::CliOutput {
    let (dir, args) = (
        dir.to_path_buf(),
        args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>(),
    );
    actix_rt::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&dir, &args, &[])
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn check_reports_the_answer_and_usage_books_it() {
    let fake = FakeLlm::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config(&fake).to_string()).unwrap();
    fake.script(
        "gem",
        [Scripted::gemini_text(r#"{"status":"ok","number":42}"#)],
    );

    let out = cli(dir.path(), &["llm", "check", "--json"]).await;
    assert_eq!(out.code(), 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["target"],
        json!({"provider": "g", "model": "gem"}),
        "{report}"
    );
    assert_eq!(report["reply"]["number"], 42);
    assert!(report["tokens_in"].as_u64().unwrap() > 0);
    assert!(report["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(!out.stdout.contains("dmtest-llm-key"));

    let out = cli(dir.path(), &["llm", "usage", "--days", "1"]).await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("gem"), "{out:?}");
    assert!(out.stdout.contains("total: $"), "{out:?}");
}

#[actix_rt::test]
async fn a_dead_key_falls_back_and_a_target_alone_fails_with_its_class() {
    let fake = FakeLlm::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config(&fake).to_string()).unwrap();
    fake.script(
        "gem",
        [Scripted::gemini_bad_key(), Scripted::gemini_bad_key()],
    );
    fake.script(
        "tiny",
        [Scripted::openai_text(r#"{"status":"ok","number":42}"#)],
    );

    let out = cli(dir.path(), &["llm", "check"]).await;
    assert_eq!(out.code(), 0, "the free local target answers: {out:?}");
    assert!(out.stdout.contains("OK: local/tiny"), "{out:?}");

    let out = cli(dir.path(), &["llm", "check", "--target", "g/gem", "--json"]).await;
    assert_eq!(out.code(), 1, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["attempts"][0]["outcome"], "failed", "{report}");
    assert!(report["attempts"][0]["class"].is_string(), "{report}");
}

/// A new user's setup: llama-cpp-python's server as an `openai-compatible` provider.
fn llama_cpp_python_config(fake: &FakeLlm) -> Value {
    json!({
        "llm": {
            "providers": [
                {"name": "local", "kind": "openai-compatible", "base_url": fake.base_url,
                 "models": [{"name": "smollm2"}]}
            ]
        }
    })
}

#[actix_rt::test]
async fn check_learns_what_llama_cpp_python_takes_once_and_remembers_it() {
    let fake = FakeLlm::start();
    fake.serve("smollm2", Server::LlamaCppPython);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        llama_cpp_python_config(&fake).to_string(),
    )
    .unwrap();

    let out = cli(dir.path(), &["llm", "check", "--json"]).await;
    assert_eq!(out.code(), 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        report["reply"],
        json!({"status": "ok", "number": 42}),
        "{report}"
    );
    assert_eq!(
        fake.calls("smollm2"),
        2,
        "json_schema refused, then json_object: {report}"
    );
    assert_eq!(
        report["attempts"][0]["class"], "unsupported_format",
        "{report}"
    );
    assert_eq!(report["attempts"][1]["outcome"], "ok", "{report}");
    let mode = &report["structured_output"]["local/smollm2"];
    assert_eq!(mode["mode"], "json_object", "{report}");
    assert_eq!(mode["source"], "learnt", "{report}");
    assert!(
        mode["reason"]
            .as_str()
            .unwrap()
            .starts_with("the server refused json_schema"),
        "{report}"
    );

    // A new process starts in the learnt mode.
    let out = cli(dir.path(), &["llm", "check"]).await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(fake.calls("smollm2"), 3, "{out:?}");
    assert!(
        out.stdout
            .contains("structured output of local/smollm2: json_object (learnt "),
        "{out:?}"
    );

    // `--relearn` probes from json_schema again.
    let out = cli(dir.path(), &["llm", "check", "--relearn", "--json"]).await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(fake.calls("smollm2"), 5, "{out:?}");
    let bodies = fake.bodies_for("smollm2");
    let formats: Vec<&str> = bodies
        .iter()
        .map(|body| body["response_format"]["type"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        formats,
        [
            "json_schema",
            "json_object",
            "json_object",
            "json_schema",
            "json_object"
        ]
    );
}

#[actix_rt::test]
async fn a_bad_structured_output_mode_is_reported_with_the_allowed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"llm": {"providers": [{"name": "local", "kind": "openai-compatible",
        "models": [{"name": "m", "structured_output": "grammar"}]}]}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let out = cli(dir.path(), &["config", "validate"]).await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "llm.providers[0].models[0].structured_output: unknown structured output mode \
             `grammar` (expected one of auto, json_schema, json_object, prompt)"
        ),
        "{out:?}"
    );
}
