//! `discord-monitor llm check` and `llm usage`: one small structured request through the
//! router (or straight to one target), and the ledger per day, provider and model. The check
//! starts from the structured-output modes learnt before and saves what it learns, as the
//! service does.

use std::collections::BTreeMap;
use std::fmt;

use actix::Actor;
use serde::Serialize;
use serde_json::{Value, json};
use slog::Logger;

use super::budget::utc_day;
use super::config::LlmConfig;
use super::error::{Attempt, LlmError};
use super::request::{LlmRequest, RequestKind, Target};
use super::router::{ModeSource, Router, RouterSettings, StructuredOutputStatus};
use crate::actors::db::{Database, DbActor, LlmUsageTotal};
use crate::supervisor::ComponentRecipient;

/// What `llm check` prints (text or `--json`): `ok`, the target that answered, every
/// attempt with its outcome and failure class, tokens, cost and latency.
#[derive(Debug, Clone, Serialize)]
pub struct LlmCheckReport {
    pub ok: bool,
    pub kind: RequestKind,
    pub target: Option<Target>,
    pub reply: Option<Value>,
    pub attempts: Vec<Attempt>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The structured-output mode of each target tried, after the check (a refusal during the
    /// check shows as the mode learnt from it).
    pub structured_output: BTreeMap<String, StructuredOutputStatus>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmCheckError {
    #[error("unknown target `{0}`: use provider/model as listed in llm.providers")]
    UnknownTarget(String),
    #[error("cannot start the llm router")]
    Router(#[source] LlmError),
    #[error("cannot read the llm ledger")]
    Ledger(#[source] crate::actors::db::DbError),
}

/// The request `llm check` sends: tiny, structured, and cheap on every model.
fn check_request(kind: RequestKind) -> LlmRequest {
    LlmRequest::new(
        kind,
        "You check that this API works. Answer only with the JSON the schema asks for.",
        vec!["Reply with status \"ok\" and the number 42.".to_owned()],
    )
    .with_schema(
        "health_check",
        json!({
            "type": "object",
            "properties": {"status": {"type": "string"}, "number": {"type": "integer"}},
            "required": ["status", "number"],
            "additionalProperties": false
        }),
    )
}

/// Sends the check request. Costs are booked in the ledger like any other call, so the
/// budget sees them. With `relearn`, the structured-output modes learnt for the targets of the
/// check are forgotten first, so it probes from `json_schema` again (after a server upgrade).
/// Runs inside an actix System (it starts a DbActor for the ledger).
pub async fn run_check(
    config: &LlmConfig,
    db: Database,
    kind: RequestKind,
    target: Option<&str>,
    relearn: bool,
    log: &Logger,
) -> Result<LlmCheckReport, LlmCheckError> {
    let target = match target {
        Some(text) => {
            Some(Target::parse(text).ok_or_else(|| LlmCheckError::UnknownTarget(text.to_owned()))?)
        }
        None => None,
    };
    let spent_today = db
        .llm_cost_on_day(&utc_day())
        .map_err(LlmCheckError::Ledger)?;
    let ledger = DbActor::new(db.clone(), log.clone(), std::time::Duration::from_secs(5)).start();
    let router = Router::new(
        config,
        RouterSettings::default(),
        spent_today,
        ComponentRecipient::unsupervised("database", ledger.clone().recipient()),
        None,
        log,
    )
    .map_err(LlmCheckError::Router)?;
    let chain = match &target {
        Some(target) => vec![target.clone()],
        None => router.chain(kind),
    };
    if relearn {
        for target in &chain {
            db.forget_learnt_structured_output(&target.provider, &target.model)
                .map_err(LlmCheckError::Ledger)?;
        }
    }
    let learnt = db
        .learnt_structured_outputs()
        .map_err(LlmCheckError::Ledger)?;
    let router = router.with_structured_output(
        learnt,
        ComponentRecipient::unsupervised("database", ledger.recipient()),
    );
    let result = router.complete(check_request(kind), target).await;
    let attempts = match &result {
        Ok(answer) => answer.attempts.as_slice(),
        Err(err) => err.attempts(),
    };
    let structured_output = attempts
        .iter()
        .filter_map(|attempt| {
            let status = router.structured_output(&attempt.target)?;
            Some((attempt.target.to_string(), status))
        })
        .collect();
    Ok(match result {
        Ok(answer) => LlmCheckReport {
            ok: true,
            kind,
            target: Some(answer.target),
            reply: answer.json.or(Some(Value::String(answer.text))),
            attempts: answer.attempts,
            tokens_in: answer.usage.input_tokens,
            tokens_out: answer.usage.output_tokens,
            cost_usd: answer.cost_usd,
            latency_ms: answer.latency_ms,
            error: None,
            structured_output,
        },
        Err(err) => LlmCheckReport {
            ok: false,
            kind,
            target: None,
            reply: None,
            attempts: err.attempts().to_vec(),
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            latency_ms: 0,
            error: Some(crate::logging::error_chain(&err)),
            structured_output,
        },
    })
}

impl fmt::Display for LlmCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(target) if self.ok => {
                writeln!(f, "OK: {target} answered the {} check", self.kind.as_str())?;
                if let Some(reply) = &self.reply {
                    writeln!(f, "  reply: {reply}")?;
                }
                writeln!(
                    f,
                    "  tokens: {} in, {} out; cost ${:.6}; latency {} ms",
                    self.tokens_in, self.tokens_out, self.cost_usd, self.latency_ms
                )?;
            }
            _ => writeln!(
                f,
                "FAILED: no target answered: {}",
                self.error.as_deref().unwrap_or("unknown error")
            )?,
        }
        for (target, status) in &self.structured_output {
            let source = match status.source {
                ModeSource::Configured => "configured".to_owned(),
                ModeSource::Default => "auto".to_owned(),
                ModeSource::Learnt => format!(
                    "learnt {}: {}",
                    status.learnt_at.as_deref().unwrap_or("earlier"),
                    status
                        .reason
                        .as_deref()
                        .unwrap_or("the server refused a richer mode")
                ),
            };
            writeln!(
                f,
                "  structured output of {target}: {} ({source})",
                status.mode
            )?;
        }
        if !self.attempts.is_empty() {
            writeln!(f, "  attempts:")?;
            for attempt in &self.attempts {
                let class = attempt
                    .class
                    .map(|class| format!(" [{class}]"))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "    {} {}{}: {}",
                    attempt.target, attempt.outcome, class, attempt.detail
                )?;
            }
        }
        Ok(())
    }
}

/// `llm usage --days N`: the ledger per day, provider and model, oldest day first.
pub fn usage(db: &Database, days: u32) -> Result<Vec<LlmUsageTotal>, LlmCheckError> {
    let first =
        chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days.max(1)) - 1);
    db.llm_usage_since(&first.format("%Y-%m-%d").to_string())
        .map_err(LlmCheckError::Ledger)
}
