//! `GET /api/findings?min_importance=&category=&since=&channel_id=&before=&limit=`: triage
//! verdicts with their messages, newest message first. Times are RFC 3339.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use serde_json::json;

use super::error::AdminError;
use super::routes::AdminAccess;
use super::state::AdminState;
use crate::actors::db::{
    DEFAULT_FINDING_LIMIT, Disposition, FindingQuery, FindingView, QueryFindings,
};
use crate::actors::processing::triage::Category;
use crate::supervisor::AskError;

/// Parameters the route knows, for the message about one it does not.
const KNOWN: &str = "min_importance, category, since, channel_id, before, limit";

/// One finding as the route answers it.
#[derive(Debug, Serialize)]
struct Finding {
    #[serde(flatten)]
    view: FindingView,
    message_created_at: String,
    scored_at: String,
}

pub async fn findings(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    let query = parse_finding_query(req.query_string())?;
    let found = state
        .db
        .ask(QueryFindings(query))
        .await
        .map_err(|err| match err {
            AskError::Reply(err) if err.disposition() == Disposition::Reject => {
                AdminError::BadRequest(err.to_string())
            }
            err => AdminError::Unavailable("database", err.to_string()),
        })?;
    let findings: Vec<Finding> = found
        .into_iter()
        .map(|view| Finding {
            message_created_at: rfc3339(view.message_created_at_ms),
            scored_at: rfc3339(view.scored_at_ms),
            view,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "findings": findings })))
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Every mistake gets its own message, unknown parameters included.
pub fn parse_finding_query(query_string: &str) -> Result<FindingQuery, AdminError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|err| AdminError::BadRequest(format!("malformed query string: {err}")))?
        .into_inner();
    let mut min_importance = 1u8;
    let mut category = None;
    let mut since_ms = None;
    let mut channel_id = None;
    let mut before = None;
    let mut limit = DEFAULT_FINDING_LIMIT;
    let mut problems = Vec::new();
    let snowflake =
        |name: &str, value: &str, problems: &mut Vec<String>| match value.trim().parse::<u64>() {
            Ok(parsed) if parsed <= i64::MAX as u64 => Some(parsed),
            _ => {
                problems.push(format!(
                    "{name} must be a Discord snowflake (a decimal id), got {value:?}"
                ));
                None
            }
        };
    for (name, value) in pairs {
        match name.as_str() {
            "min_importance" => match value.trim().parse::<u8>() {
                Ok(parsed) if (1..=10).contains(&parsed) => min_importance = parsed,
                _ => problems.push(format!(
                    "min_importance must be an integer from 1 to 10, got {value:?}"
                )),
            },
            "category" => match Category::ALL
                .into_iter()
                .find(|known| known.as_str() == value.trim())
            {
                Some(known) => category = Some(known.as_str().to_owned()),
                None => problems.push(format!(
                    "category must be one of {}, got {value:?}",
                    Category::ALL.map(Category::as_str).join(", ")
                )),
            },
            "since" => match DateTime::parse_from_rfc3339(value.trim()) {
                Ok(at) => since_ms = Some(at.timestamp_millis()),
                Err(_) => problems.push(format!(
                    "since must be an RFC 3339 time such as 2026-12-01T08:00:00Z, got {value:?}"
                )),
            },
            "channel_id" => channel_id = snowflake(&name, &value, &mut problems),
            "before" => before = snowflake(&name, &value, &mut problems),
            "limit" => match value.trim().parse::<u32>() {
                Ok(parsed) if (1..=1000).contains(&parsed) => limit = parsed,
                _ => problems.push(format!(
                    "limit must be an integer from 1 to 1000, got {value:?}"
                )),
            },
            other => problems.push(format!("unknown parameter {other:?} (known: {KNOWN})")),
        }
    }
    if !problems.is_empty() {
        return Err(AdminError::BadRequest(problems.join("; ")));
    }
    FindingQuery::new(
        min_importance,
        category,
        since_ms,
        channel_id,
        before,
        limit,
    )
    .map_err(|err| AdminError::BadRequest(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_bad_parameter() {
        assert_eq!(
            parse_finding_query("").unwrap(),
            FindingQuery::new(1, None, None, None, None, DEFAULT_FINDING_LIMIT).unwrap()
        );
        let parsed = parse_finding_query(
            "min_importance=7&category=incident&since=2026-12-01T08:00:00%2B01:00&channel_id=42&limit=5",
        )
        .unwrap();
        let expected = FindingQuery::new(
            7,
            Some("incident".to_owned()),
            Some(1_796_108_400_000),
            Some(42),
            None,
            5,
        )
        .unwrap();
        assert_eq!(parsed, expected);
        let Err(AdminError::BadRequest(message)) = parse_finding_query(
            "min_importance=11&category=gossip&since=yesterday&channel_id=x&limit=0&sort=asc",
        ) else {
            panic!("bad parameters accepted");
        };
        for expected in [
            "min_importance must be",
            "category must be one of question",
            "since must be an RFC 3339 time",
            "channel_id must be a Discord snowflake",
            "limit must be an integer",
            "unknown parameter \"sort\"",
        ] {
            assert!(message.contains(expected), "{expected} in {message}");
        }
    }
}
