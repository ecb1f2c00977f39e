//! The route handlers. Each answers JSON (or Prometheus text for `/metrics`); every failure
//! is an [`AdminError`] and so a `{"error": ..}` body with the right status code.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::error::AdminError;
use super::openapi;
use super::state::{AdminState, DiscordStatusSources};
use crate::actors::alert::{AlertError, ListAlerts, TestRoutes};
use crate::actors::backup::{BackupError, BackupNow, GetBackupStatus, ListBackups};
use crate::actors::db::{
    DbError, Disposition, GetStats, MessageQuery, QueryMessages, SearchMessages, SearchParams,
    SearchQuery, parse_time,
};
use crate::actors::gateway::GetGatewayStatus;
use crate::actors::health::{GetHealth, HealthReport};
use crate::actors::llm::GetRouterStatus;
use crate::metrics::ExpositionFormat;
use crate::supervisor::AskError;

/// Messages per `/api/messages` answer when `limit` is not given.
pub const DEFAULT_MESSAGE_LIMIT: u32 = 100;

/// Proof that the caller passed the admin check (bearer token, or loopback when no token is
/// configured). Taking it as a handler argument is what protects a route.
pub struct AdminAccess;

impl FromRequest for AdminAccess {
    type Error = AdminError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AdminState>>() else {
            return ready(Err(AdminError::Internal("admin state missing".to_owned())));
        };
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let caller: Option<IpAddr> = req.peer_addr().map(|addr| addr.ip());
        ready(
            state
                .policy
                .check_admin(authorization, caller)
                .map(|()| AdminAccess),
        )
    }
}

async fn health_report(
    state: &AdminState,
    refresh_probes: bool,
) -> Result<HealthReport, AdminError> {
    state
        .health
        .send(GetHealth { refresh_probes })
        .await
        .map_err(|err| AdminError::Unavailable("health", err.to_string()))
}

/// `/health` and `/health/live`: the process serves requests and no required component has
/// failed for good (then only a process restart helps, which is what a liveness probe is for).
pub async fn live(state: web::Data<AdminState>) -> HttpResponse {
    match health_report(&state, false).await {
        Ok(report) if report.live => HttpResponse::Ok().json(json!({"status": "alive"})),
        Ok(report) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "failed", "failing": report.not_ready_reasons})),
        Err(err) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "failed", "failing": [err.to_string()]})),
    }
}

/// `/health/ready`: every required component up and the database writable.
pub async fn ready_probe(state: web::Data<AdminState>) -> HttpResponse {
    let refresh = state.probe_refresh.due();
    match health_report(&state, refresh).await {
        Ok(report) if report.ready => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(report) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not_ready", "failing": report.not_ready_reasons})),
        Err(err) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not_ready", "failing": [err.to_string()]})),
    }
}

/// `/health/detailed`: every component and probe, plus this process's memory and CPU.
pub async fn detailed(state: web::Data<AdminState>) -> Result<HttpResponse, AdminError> {
    let report = health_report(&state, false).await?;
    let status = if !report.live {
        "unhealthy"
    } else if report.ready {
        "healthy"
    } else {
        "degraded"
    };
    Ok(HttpResponse::Ok().json(json!({
        "status": status,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "health": report,
        "system": process_figures(&state),
    })))
}

fn process_figures(state: &AdminState) -> Value {
    match state.sampler.as_ref().map(|sampler| sampler.figures()) {
        Some(Ok(figures)) => json!(figures),
        Some(Err(err)) => json!({"error": err.to_string()}),
        None => Value::Null,
    }
}

/// `/metrics`: Prometheus text, or JSON for `Accept: application/json` or `?format=json`
/// (the deployment guide's `curl /metrics | jq` sends no Accept header, so it needs the parameter).
pub async fn metrics(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = if req
        .query_string()
        .split('&')
        .any(|pair| pair == "format=json")
    {
        ExpositionFormat::Json
    } else {
        ExpositionFormat::from_accept(accept)
    };
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(state.metrics.render(format))
}

/// `/config`: the effective configuration, secrets masked.
pub async fn config(_: AdminAccess, state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.sanitized_config)
}

/// Longest `/status` waits for any one component before showing it as unavailable.
const STATUS_PART_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Seconds: row counts in `/status` may be this old, so a dashboard polling it does not count
/// every table of a large database (and hold a pool connection) on each call.
const STATUS_STATS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15);

/// `/status`: one look at everything an operator asks first.
pub async fn status(_: AdminAccess, state: web::Data<AdminState>) -> HttpResponse {
    let report = health_report(&state, false).await.ok();
    let database = match timed(state.db.send(GetStats {
        max_age: STATUS_STATS_MAX_AGE,
    }))
    .await
    {
        Some(Ok(Ok(stats))) => json!({"status": "ok", "stats": stats}),
        Some(Ok(Err(err))) => json!({"status": "error", "error": err.to_string()}),
        Some(Err(err)) => json!({"status": "unavailable", "error": err.to_string()}),
        None => json!({"status": "unavailable", "error": "no answer within 2 s"}),
    };
    let (discord, ingest) = match &state.discord {
        Some(sources) => (
            discord_client_health(sources).await,
            json!(sources.ingest_stats.status(&sources.queue)),
        ),
        None => (
            json!({"state": "disabled", "connected": false}),
            Value::Null,
        ),
    };
    let llm = match &state.llm {
        Some(router) => match timed(router.send(GetRouterStatus)).await {
            Some(Ok(Some(status))) => json!(status),
            Some(Ok(None)) => json!({"state": "starting"}),
            Some(Err(err)) => json!({"state": "unavailable", "error": err.to_string()}),
            None => json!({"state": "unavailable", "error": "no answer within 2 s"}),
        },
        None => json!({"state": "disabled"}),
    };
    let backup = match &state.backup {
        Some(backup) => match timed(backup.send(GetBackupStatus)).await {
            Some(Ok(status)) => json!(status),
            Some(Err(err)) => json!({"state": "unavailable", "error": err.to_string()}),
            None => json!({"state": "unavailable", "error": "no answer within 2 s"}),
        },
        None => json!({"state": "disabled"}),
    };
    let mut service = json!(state.service);
    service["uptime_secs"] = json!(state.service.started.elapsed().as_secs());
    service["ready"] = json!(report.as_ref().map(|report| report.ready));
    HttpResponse::Ok().json(json!({
        "service": service,
        "discord_client_health": discord,
        "processing_status": {
            "storage": ingest,
            "triage": state.processing.as_ref().map(|processing| {
                json!(processing.shared.status(processing.model_configured))
            }),
            "limits": state.processing_limits,
        },
        "database": database,
        "llm": llm,
        "backup": backup,
        "components": report.map(|report| report.components),
        "system": process_figures(&state),
    }))
}

/// The gateway's connection, the session saved for a restart to resume, the REST limiter
/// (buckets, recent requests), forbidden channels and backfill progress: what the deployment
/// guide's `/status | jq .discord_client_health` shows.
async fn discord_client_health(sources: &DiscordStatusSources) -> Value {
    let gateway = match timed(sources.gateway.send(GetGatewayStatus)).await {
        Some(Ok(status)) => json!(status),
        Some(Err(err)) => json!({"state": "unavailable", "error": err.to_string()}),
        None => json!({"state": "unavailable", "error": "no answer within 2 s"}),
    };
    let connected = gateway["state"] == "ready";
    let rest = match timed(sources.limiter.status()).await {
        Some(Ok(status)) => json!(status),
        Some(Err(err)) => json!({"error": err.to_string()}),
        None => json!({"error": "no answer within 2 s"}),
    };
    let backfill = sources
        .backfill
        .lock()
        .map(|status| json!(*status))
        .unwrap_or(Value::Null);
    // What a restart would resume from: every event up to `seq` is committed.
    let persisted_session = sources.ingest_stats.saved_session().map(|saved| {
        json!({
            "seq": saved.seq,
            "shard": saved.shard,
            "saved_at": saved.saved_at,
            "age_secs": (chrono::Utc::now() - saved.saved_at).num_seconds().max(0),
        })
    });
    json!({
        "connected": connected,
        "gateway": gateway,
        "persisted_session": persisted_session,
        "rest": rest,
        "forbidden_channels": sources.rest.forbidden_channels().snapshot(),
        "backfill": backfill,
    })
}

async fn timed<T>(request: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(STATUS_PART_TIMEOUT, request)
        .await
        .ok()
}

/// `/api/messages?channel_id=&after=&before=&limit=`: stored messages ascending by id.
pub async fn messages(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    let query = parse_message_query(req.query_string())?;
    let messages = state
        .db
        .ask(QueryMessages(query))
        .await
        .map_err(database_error)?;
    Ok(HttpResponse::Ok().json(json!({ "messages": messages })))
}

/// `/api/search?q=&guild_id=&channel_id=&author_id=&since=&until=&limit=`: full-text search,
/// best hits first.
pub async fn search(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    let query = parse_search_query(req.query_string())?;
    let text = query.text().to_owned();
    let results = state
        .db
        .ask(SearchMessages(query))
        .await
        .map_err(database_error)?;
    Ok(HttpResponse::Ok().json(json!({
        "query": text,
        "total": results.total,
        "has_more": results.has_more,
        "hits": results.hits,
    })))
}

/// A request the storage layer refused is the caller's to fix (400); anything else means the
/// database cannot answer now.
fn database_error(err: AskError<DbError>) -> AdminError {
    match err {
        AskError::Reply(DbError::InvalidInput(input)) => AdminError::from(input),
        AskError::Reply(err) if err.disposition() == Disposition::Reject => {
            AdminError::BadRequest(err.to_string())
        }
        err => AdminError::Unavailable("database", err.to_string()),
    }
}

/// Alerts per `/api/alerts` answer when `limit` is not given.
pub const DEFAULT_ALERT_LIMIT: i64 = 100;

/// `/api/alerts?limit=`: the newest outbox rows with their delivery state.
pub async fn alerts(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|err| AdminError::BadRequest(format!("malformed query string: {err}")))?
        .into_inner();
    let mut limit = DEFAULT_ALERT_LIMIT;
    for (name, value) in pairs {
        match (name.as_str(), value.trim().parse::<i64>()) {
            ("limit", Ok(parsed)) if (1..=1000).contains(&parsed) => limit = parsed,
            ("limit", _) => {
                return Err(AdminError::BadRequest(format!(
                    "limit must be an integer from 1 to 1000, got {value:?}"
                )));
            }
            _ => {
                return Err(AdminError::BadRequest(format!(
                    "unknown query parameter `{name}` (allowed: limit)"
                )));
            }
        }
    }
    let alerts = alert_handle(&state)?
        .send(ListAlerts { limit })
        .await
        .map_err(|err| AdminError::Unavailable("alerts", err.to_string()))?
        .map_err(alert_error)?;
    let alerts: Vec<Value> = alerts
        .into_iter()
        .map(|row| {
            let phase = serde_json::from_str::<Value>(&row.fields_json)
                .ok()
                .and_then(|extras| extras.get("phase").cloned())
                .unwrap_or(Value::Null);
            json!({
                "id": row.id, "dedup_key": row.dedup_key, "event": row.event,
                "severity": row.severity, "phase": phase, "title": row.title,
                "route": row.route, "state": row.state, "attempts": row.attempts,
                "next_attempt_at_ms": row.next_attempt_at_ms, "last_error": row.last_error,
                "created_at_ms": row.created_at_ms, "delivered_at_ms": row.delivered_at_ms,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "alerts": alerts })))
}

/// Body of `POST /api/alerts/test`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestAlertsRequest {
    pub route: Option<String>,
}

/// `POST /api/alerts/test`: a test alert through every route (or `route`) now.
pub async fn test_alerts(
    _: AdminAccess,
    state: web::Data<AdminState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let request: TestAlertsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TestAlertsRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| AdminError::BadRequest(format!("invalid body: {err}")))?
    };
    let results = alert_handle(&state)?
        .send(TestRoutes {
            route: request.route,
        })
        .await
        .map_err(|err| AdminError::Unavailable("alerts", err.to_string()))?
        .map_err(alert_error)?;
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

fn alert_handle(
    state: &AdminState,
) -> Result<&crate::supervisor::ComponentHandle<crate::actors::alert::AlertActor>, AdminError> {
    state
        .alerts
        .as_ref()
        .ok_or_else(|| AdminError::Unavailable("alerts", "not running".to_owned()))
}

fn alert_error(err: AlertError) -> AdminError {
    match err {
        AlertError::UnknownRoute(_) | AlertError::NoRoutes => {
            AdminError::BadRequest(err.to_string())
        }
        other => AdminError::Unavailable("alerts", crate::logging::error_chain(&other)),
    }
}

/// `GET /api/backups`: the schedule's state and the backups in `backup_dir`, newest first.
pub async fn backups(
    _: AdminAccess,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    let backup = backup_handle(&state)?;
    let status = backup
        .send(GetBackupStatus)
        .await
        .map_err(|err| AdminError::Unavailable("backups", err.to_string()))?;
    let backups = backup
        .send(ListBackups)
        .await
        .map_err(|err| AdminError::Unavailable("backups", err.to_string()))?
        .map_err(|err| backup_error("cannot list backups", &err))?;
    Ok(HttpResponse::Ok().json(json!({ "state": status, "backups": backups })))
}

/// `POST /api/backups`: takes a backup now and answers it once it is written and verified
/// (201), or 409 while another one runs.
pub async fn create_backup(
    _: AdminAccess,
    state: web::Data<AdminState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Map<String, Value>>(&body)
            .is_ok_and(|object| object.is_empty());
    if !empty {
        return Err(AdminError::BadRequest(
            "POST /api/backups takes no body (or `{}`)".to_owned(),
        ));
    }
    let record = backup_handle(&state)?
        .send(BackupNow)
        .await
        .map_err(|err| AdminError::Unavailable("backups", err.to_string()))?
        .map_err(|err| backup_error("backup failed", &err))?;
    Ok(HttpResponse::Created().json(json!({ "backup": record })))
}

fn backup_handle(
    state: &AdminState,
) -> Result<&crate::supervisor::ComponentHandle<crate::actors::backup::BackupActor>, AdminError> {
    state
        .backup
        .as_ref()
        .ok_or_else(|| AdminError::Unavailable("backups", "not running".to_owned()))
}

fn backup_error(what: &str, err: &BackupError) -> AdminError {
    if err.is_conflict() {
        AdminError::Conflict(err.to_string())
    } else {
        AdminError::Internal(format!("{what}: {}", crate::logging::error_chain(err)))
    }
}

/// Parses the query string by hand so every mistake gets its own clear message, including
/// parameters we do not know (a typo like `chanel_id` must not silently return everything).
pub fn parse_message_query(query_string: &str) -> Result<MessageQuery, AdminError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|err| AdminError::BadRequest(format!("malformed query string: {err}")))?
        .into_inner();
    let mut channel_id = None;
    let mut after = None;
    let mut before = None;
    let mut limit = DEFAULT_MESSAGE_LIMIT;
    let mut problems = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "channel_id" => channel_id = parse_snowflake(&name, &value, &mut problems),
            "after" => after = parse_snowflake(&name, &value, &mut problems),
            "before" => before = parse_snowflake(&name, &value, &mut problems),
            "limit" => match value.trim().parse::<u32>() {
                Ok(parsed) if (1..=1000).contains(&parsed) => limit = parsed,
                _ => problems.push(format!(
                    "limit must be an integer from 1 to 1000, got {value:?}"
                )),
            },
            other => problems.push(format!(
                "unknown parameter {other:?} (known: channel_id, after, before, limit)"
            )),
        }
    }
    if !problems.is_empty() {
        return Err(AdminError::BadRequest(problems.join("; ")));
    }
    MessageQuery::new(channel_id, after, before, limit).map_err(AdminError::from)
}

/// Parses `/api/search`'s parameters, reporting every malformed or unknown one at once; the
/// query text itself is checked once the rest is well-formed.
pub fn parse_search_query(query_string: &str) -> Result<SearchQuery, AdminError> {
    const KNOWN: &str = "q, guild_id, channel_id, author_id, since, until, limit";
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|err| AdminError::BadRequest(format!("malformed query string: {err}")))?
        .into_inner();
    let mut params = SearchParams::default();
    let mut text = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (name, value) in pairs {
        if !seen.insert(name.clone()) {
            problems.push(format!("parameter {name:?} is given more than once"));
            continue;
        }
        let mut time = |field: &'static str| {
            parse_time(field, &value)
                .map_err(|err| problems.push(err.to_string()))
                .ok()
        };
        match name.as_str() {
            "q" => text = Some(value),
            "since" => params.since_ms = time("since"),
            "until" => params.until_ms = time("until"),
            "guild_id" => params.guild_id = parse_snowflake(&name, &value, &mut problems),
            "channel_id" => params.channel_id = parse_snowflake(&name, &value, &mut problems),
            "author_id" => params.author_id = parse_snowflake(&name, &value, &mut problems),
            "limit" => match value.trim().parse::<u32>() {
                Ok(parsed)
                    if (SearchQuery::MIN_LIMIT..=SearchQuery::MAX_LIMIT).contains(&parsed) =>
                {
                    params.limit = Some(parsed);
                }
                _ => problems.push(format!(
                    "limit must be an integer from {} to {}, got {value:?}",
                    SearchQuery::MIN_LIMIT,
                    SearchQuery::MAX_LIMIT
                )),
            },
            other => problems.push(format!("unknown parameter {other:?} (known: {KNOWN})")),
        }
    }
    match text {
        Some(text) => params.text = text,
        None => problems
            .push("q is required: the text to search for, as in ?q=deploy+failed".to_owned()),
    }
    if !problems.is_empty() {
        return Err(AdminError::BadRequest(problems.join("; ")));
    }
    SearchQuery::new(params).map_err(AdminError::from)
}

fn parse_snowflake(name: &str, value: &str, problems: &mut Vec<String>) -> Option<u64> {
    match value.trim().parse::<u64>() {
        Ok(parsed) if parsed <= i64::MAX as u64 => Some(parsed),
        _ => {
            problems.push(format!(
                "{name} must be a Discord snowflake (a decimal id), got {value:?}"
            ));
            None
        }
    }
}

/// `/openapi.json`.
pub async fn openapi(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(openapi::document(state.service.version))
}

/// Any path we do not serve.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AdminError> {
    Err(AdminError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// A served path with the wrong method.
/// 405 for a POST-only route.
pub async fn post_only(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .json(json!({"error": format!("{} is not allowed on {} (use POST)", req.method(), req.path())}))
}

/// A route with GET and POST, asked with another method.
pub async fn get_or_post_only(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, POST"))
        .json(json!({"error": format!("{} is not allowed on {} (use GET or POST)", req.method(), req.path())}))
}

pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET"))
        .json(json!({"error": format!("{} is not allowed on {} (use GET)", req.method(), req.path())}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_query_defaults_and_bounds() {
        let query = parse_message_query("").unwrap();
        assert_eq!(query.limit(), DEFAULT_MESSAGE_LIMIT);
        let query = parse_message_query("channel_id=42&after=5&before=9&limit=1000").unwrap();
        assert_eq!(query.channel_id(), Some(42));
        assert_eq!(query.after(), Some(5));
        assert_eq!(query.before(), Some(9));
        assert_eq!(query.limit(), 1000);
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let err = parse_message_query("limit=0&channel_id=abc&chanel_id=1").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("limit must be an integer from 1 to 1000"),
            "{text}"
        );
        assert!(
            text.contains("channel_id must be a Discord snowflake"),
            "{text}"
        );
        assert!(text.contains("unknown parameter \"chanel_id\""), "{text}");
        assert!(parse_message_query("limit=1001").is_err());
        assert!(parse_message_query("after=10&before=10").is_err());
        assert!(parse_message_query("after=-1").is_err());
        assert!(parse_message_query("after=99999999999999999999999").is_err());
    }

    #[test]
    fn search_parameters_are_all_read() {
        let query = parse_search_query(
            "q=%22deploy+failed%22+-staging&guild_id=1&channel_id=2&author_id=3\
             &since=2023-11-14T22:13:20Z&until=1700000001000&limit=100",
        )
        .unwrap();
        assert_eq!(query.text(), "\"deploy failed\" -staging");
        assert_eq!(
            (query.guild_id(), query.channel_id(), query.author_id()),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!(query.since_ms(), Some(1_700_000_000_000));
        assert_eq!(query.until_ms(), Some(1_700_000_001_000));
        assert_eq!(query.limit(), 100);
        assert_eq!(
            parse_search_query("q=x").unwrap().limit(),
            SearchQuery::DEFAULT_LIMIT
        );
    }

    #[test]
    fn every_bad_search_parameter_is_reported_and_query_problems_carry_a_hint() {
        let text = parse_search_query("guild_id=x&since=soon&limit=101&sort=new&q=a&q=b")
            .unwrap_err()
            .to_string();
        for expected in [
            "guild_id must be a Discord snowflake",
            "since must be an RFC 3339 time",
            "limit must be an integer from 1 to 100",
            "unknown parameter \"sort\"",
            "parameter \"q\" is given more than once",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        let missing = parse_search_query("limit=5").unwrap_err().to_string();
        assert!(missing.contains("q is required"), "{missing}");
        let range = parse_search_query("q=x&since=2024-01-02&until=2024-01-01").unwrap_err();
        assert!(matches!(range, AdminError::BadRequest(_)), "{range:?}");
        assert!(
            range.to_string().contains("must be before until"),
            "{range}"
        );

        for (query, hint) in [
            ("q=%22open", "close the phrase"),
            ("q=+++", "punctuation and emoji are not indexed"),
            ("q=-staging", "add a word to look for"),
            ("q=deploy+OR", "put OR between two words"),
        ] {
            match parse_search_query(query).unwrap_err() {
                AdminError::BadRequestWithHint {
                    message,
                    hint: given,
                } => {
                    assert!(given.contains(hint), "{query}: {given}");
                    assert!(message.contains(given), "{query}: {message}");
                }
                other => panic!("{query}: {other:?}"),
            }
        }
    }
}
