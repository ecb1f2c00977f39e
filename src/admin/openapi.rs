//! The OpenAPI 3.1 description served at `/openapi.json`. A test checks that every route the
//! server registers is described here and nothing else is.

use serde_json::{Value, json};

use crate::actors::db::{MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchQuery};

/// Every route the admin server answers, as (method, path). The server registers exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/detailed"),
    ("GET", "/metrics"),
    ("GET", "/config"),
    ("GET", "/status"),
    ("GET", "/api/messages"),
    ("GET", "/api/search"),
    ("GET", "/api/findings"),
    ("GET", "/api/alerts"),
    ("POST", "/api/alerts/test"),
    ("GET", "/api/backups"),
    ("POST", "/api/backups"),
    ("GET", "/openapi.json"),
];

pub fn document(version: &str) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let json_error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
    let admin_security = json!([{"bearer": []}]);
    let snowflake_param = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}})
    };
    let api_alerts = json!({"get": {
                "summary": "Recent alerts with their delivery state, newest first",
                "description": "One row per alert and route from the durable outbox: \
                    `state` is pending (waiting for its next try at `next_attempt_at_ms`), \
                    delivered or failed (its route is no longer configured).",
                "security": admin_security,
                "parameters": [
                    {"name": "limit", "in": "query", "required": false,
                     "description": "at most this many alerts (default 100)",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": {"200": {"description": "alerts", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["alerts"], "properties": {
                        "alerts": {"type": "array", "items": {"type": "object", "properties": {
                            "id": {"type": "integer"}, "dedup_key": {"type": "string"},
                            "event": {"type": "string"}, "severity": {"type": "string",
                                "enum": ["info", "warning", "error", "critical"]},
                            "phase": {"type": "string",
                                "enum": ["firing", "reminder", "resolved", "test"]},
                            "title": {"type": "string"}, "route": {"type": "string"},
                            "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                            "attempts": {"type": "integer"},
                            "next_attempt_at_ms": {"type": "integer"},
                            "last_error": {"type": ["string", "null"]},
                            "created_at_ms": {"type": "integer"},
                            "delivered_at_ms": {"type": ["integer", "null"]}}}}}}}}},
                    "400": json_error("invalid limit"),
                    "401": json_error("missing or wrong bearer token"),
                    "503": json_error("alerting or the database is unavailable")}}});
    let finding = json!({"type": "object", "properties": {
                            "id": {"type": "integer"}, "message_id": {"type": "string"},
                            "channel_id": {"type": "string"}, "channel_name": {"type": "string"},
                            "guild_id": {"type": ["string", "null"]},
                            "author_name": {"type": "string"}, "excerpt": {"type": "string"},
                            "message_created_at": {"type": "string", "format": "date-time"},
                            "importance": {"type": "integer", "minimum": 1, "maximum": 10},
                            "urgency": {"type": "string", "enum": ["low", "medium", "high"]},
                            "category": {"type": "string"},
                            "needs_attention": {"type": "boolean"},
                            "reason": {"type": "string"},
                            "method": {"type": "string", "enum": ["llm", "rules", "prefilter"]},
                            "degraded": {"type": "boolean"},
                            "model": {"type": ["string", "null"]},
                            "prompt_version": {"type": ["string", "null"]},
                            "cost_usd": {"type": "number"},
                            "scored_at": {"type": "string", "format": "date-time"}}});
    let api_findings = json!({"get": {
                "summary": "Triage verdicts with their messages, newest message first",
                "description": "One finding per triaged message: importance 1-10, urgency, \
                    category, whether it needs attention, a one-line reason, and who scored it \
                    (`method`: llm, rules or prefilter; `degraded`: scored by rules while no \
                    model could be called) with the model, prompt version and cost share. \
                    Page back with `before` (the last `message_id` seen). Ids are strings.",
                "security": admin_security,
                "parameters": [
                    {"name": "min_importance", "in": "query", "required": false,
                     "description": "only findings at least this important (default 1)",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1}},
                    {"name": "category", "in": "query", "required": false,
                     "description": "only this category",
                     "schema": {"type": "string", "enum": ["question", "decision", "event",
                        "purchase", "announcement", "incident", "chatter"]}},
                    {"name": "since", "in": "query", "required": false,
                     "description": "only messages created at or after this RFC 3339 time",
                     "schema": {"type": "string", "format": "date-time"}},
                    snowflake_param("channel_id", "only this channel"),
                    snowflake_param("before", "only messages with ids less than this snowflake"),
                    {"name": "limit", "in": "query", "required": false,
                     "description": "at most this many findings (default 100)",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": {"200": {"description": "findings", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["findings"], "properties": {
                        "findings": {"type": "array", "items": finding}}}}}},
                    "400": json_error("a parameter is malformed or out of range"),
                    "401": json_error("missing or wrong bearer token"),
                    "403": json_error("not allowed from this address"),
                    "503": json_error("the database is unavailable")}}});
    let api_alerts_test = json!({"post": {
                "summary": "Send a test alert through every route (or one) now",
                "description": "Bypasses the outbox so that the answer says whether each \
                    route delivers. Body (optional): `{\"route\": \"name\"}`.",
                "security": admin_security,
                "requestBody": {"required": false, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"route": {"type": "string"}}}}}},
                "responses": {"200": {"description": "one result per route", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["results"], "properties": {
                        "results": {"type": "array", "items": {"type": "object",
                            "required": ["route", "ok", "error"], "properties": {
                            "route": {"type": "string"}, "ok": {"type": "boolean"},
                            "error": {"type": ["string", "null"]}}}}}}}}},
                    "400": json_error("unknown route, or no route configured"),
                    "401": json_error("missing or wrong bearer token"),
                    "503": json_error("alerting is unavailable")}}});
    let api_backups = json!({
        "get": {
            "summary": "The database backup schedule and the backups kept, newest first",
            "description": "`state`: when the next backup is due, the last success and the \
                last error. `backups`: the files in `database.backup_dir` with their \
                metadata sidecar (sha256, schema version, row counts). Safety copies taken by \
                `db restore` (`kind: pre_restore`) and `db repair` (`kind: pre_repair`) are \
                outside retention.",
            "security": admin_security,
            "responses": {"200": {"description": "state and backups", "content": {"application/json": {
                "schema": {"type": "object", "required": ["state", "backups"], "properties": {
                    "state": {"$ref": "#/components/schemas/BackupState"},
                    "backups": {"type": "array", "items": {"$ref": "#/components/schemas/BackupFile"}}}}}}},
                "401": json_error("missing or wrong bearer token"),
                "403": json_error("not allowed from this address"),
                "500": json_error("the backup directory cannot be read"),
                "503": json_error("the backup component is unavailable")}},
        "post": {
            "summary": "Take a database backup now",
            "description": "Answers once the backup is written, verified and renamed into \
                place, after retention. No body (or `{}`). The next scheduled backup moves \
                to one interval after this one.",
            "security": admin_security,
            "responses": {"201": {"description": "the backup", "content": {"application/json": {
                "schema": {"type": "object", "required": ["backup"], "properties": {
                    "backup": {"$ref": "#/components/schemas/BackupRecord"}}}}}},
                "400": json_error("a body was sent"),
                "401": json_error("missing or wrong bearer token"),
                "403": json_error("not allowed from this address"),
                "409": json_error("a backup is already running"),
                "500": json_error("the backup failed (the error names the cause)"),
                "503": json_error("the backup component is unavailable")}}
    });
    let time_param = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": {"type": "string", "examples": ["2026-01-31T18:00:00Z", "2026-01-31",
                   "1769882400000"]}})
    };
    let api_search = json!({"get": {
        "summary": "Full-text search over the stored messages, best hits first",
        "description": "Ranked by FTS5's bm25 (the newest first among equally good hits) over \
            the current content of messages not deleted. `q` takes words (all must match), \
            `\"quoted phrases\"`, `prefix*`, `OR` between two words or phrases (binding \
            tighter than the words' AND), and `-word` or `NOT word` to exclude; operators \
            only in capitals, anything else (FTS5 syntax such as `NEAR(` or `content:` \
            included) is plain text, and punctuation and emoji are not indexed. In `snippet` \
            matched words are between `⟦` and `⟧`, and `…` stands for text left out. \
            Times are RFC 3339.",
        "security": admin_security,
        "parameters": [
            {"name": "q", "in": "query", "required": true,
             "description": format!("what to search for, at most {MAX_QUERY_CHARS} \
                 characters and {MAX_QUERY_TERMS} words and phrases"),
             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
             "examples": {"words": {"value": "deploy failed"},
                          "phrase_or_exclusion": {"value": "\"rolled back\" OR revert* -staging"}}},
            snowflake_param("guild_id", "only messages of this guild"),
            snowflake_param("channel_id", "only messages of this channel or thread"),
            snowflake_param("author_id", "only messages by this user"),
            time_param("since", "only messages created at or after this time: RFC 3339, a \
                date (midnight UTC) or Unix milliseconds"),
            time_param("until", "only messages created before this time (after `since`)"),
            {"name": "limit", "in": "query", "required": false,
             "description": format!("at most this many hits (default {})",
                 SearchQuery::DEFAULT_LIMIT),
             "schema": {"type": "integer", "minimum": SearchQuery::MIN_LIMIT,
                 "maximum": SearchQuery::MAX_LIMIT, "default": SearchQuery::DEFAULT_LIMIT}}
        ],
        "responses": {"200": {"description": "the best hits and how many matched in all",
            "content": {"application/json": {"schema": {"type": "object",
                "required": ["query", "total", "has_more", "hits"], "properties": {
                "query": {"type": "string", "description": "`q`, trimmed"},
                "total": {"type": "integer", "description": "messages that matched"},
                "has_more": {"type": "boolean",
                    "description": "more messages matched than `hits` holds"},
                "hits": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}}}}}}},
            "400": {"description": "a parameter is malformed or out of range, or `q` cannot be \
                    searched; for a query problem `hint` says what to change",
                    "content": {"application/json": {"schema": error}}},
            "401": json_error("missing or wrong bearer token"),
            "403": json_error("not allowed from this address"),
            "503": json_error("the database is unavailable")}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "discord-monitor admin API",
            "version": version,
            "description": "Health probes, metrics, and reading and searching the stored \
                messages. `/config`, `/status` and `/api/*` need `Authorization: Bearer \
                <admin.token>`; without a configured token they answer loopback callers only. \
                When `admin.allowed_cidrs` is set, every route but the three probes is limited \
                to those networks."
        },
        "paths": {
            "/health": {"get": {
                "summary": "Liveness (cheap): the process is up and serving",
                "responses": {"200": {"description": "alive", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Probe"}}}}}}},
            "/health/live": {"get": {
                "summary": "Liveness probe for Kubernetes",
                "responses": {"200": {"description": "alive", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Probe"}}}}}}},
            "/health/ready": {"get": {
                "summary": "Readiness: every required component is up and the database is writable",
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Probe"}}}},
                    "503": {"description": "not ready; `failing` names the reasons",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Probe"}}}}}}},
            "/health/detailed": {"get": {
                "summary": "Health of every component: status, last error, restarts, probes",
                "responses": {"200": {"description": "report; `.health.components.<name>`",
                    "content": {"application/json": {"schema": {"type": "object",
                        "required": ["status", "health"]}}}},
                    "403": json_error("caller outside admin.allowed_cidrs")}}},
            "/metrics": {"get": {
                "summary": "Metrics: Prometheus text exposition, or JSON with `Accept: application/json`",
                "responses": {"200": {"description": "metrics", "content": {
                    "text/plain; version=0.0.4": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object", "required": ["metrics"]}}}},
                    "403": json_error("caller outside admin.allowed_cidrs")}}},
            "/config": {"get": {
                "summary": "Effective configuration with every secret replaced by `<redacted>`",
                "security": admin_security,
                "responses": {"200": {"description": "sanitized configuration",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": json_error("missing or wrong bearer token"),
                    "403": json_error("not allowed from this address")}}},
            "/status": {"get": {
                "summary": "Service status: Discord client health, processing, database, LLM and backup summaries",
                "security": admin_security,
                "responses": {"200": {"description": "status", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["service", "discord_client_health",
                        "processing_status", "database", "llm"]}}}},
                    "401": json_error("missing or wrong bearer token"),
                    "403": json_error("not allowed from this address")}}},
            "/api/alerts": api_alerts,
            "/api/alerts/test": api_alerts_test,
            "/api/findings": api_findings,
            "/api/backups": api_backups,
            "/api/search": api_search,
            "/api/messages": {"get": {
                "summary": "Stored messages, ascending by id",
                "description": "Pages like Discord's history: with `after`, the oldest \
                    `limit` messages above it; without, the newest `limit` messages (below \
                    `before` when given). Ids are strings (snowflakes exceed JSON's safe \
                    integers).",
                "security": admin_security,
                "parameters": [
                    snowflake_param("channel_id", "only this channel"),
                    snowflake_param("after", "only ids greater than this snowflake"),
                    snowflake_param("before", "only ids less than this snowflake"),
                    {"name": "limit", "in": "query", "required": false,
                     "description": "at most this many messages (default 100)",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": {"200": {"description": "messages", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["messages"], "properties": {
                        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}}}},
                    "400": json_error("a parameter is malformed or out of range"),
                    "401": json_error("missing or wrong bearer token"),
                    "403": json_error("not allowed from this address"),
                    "503": json_error("the database is unavailable")}}},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"},
                    "hint": {"type": "string",
                        "description": "what to change; only for a search query at fault"}}},
                "Probe": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string"},
                    "failing": {"type": "array", "items": {"type": "string"}}}},
                "BackupState": {"type": "object", "properties": {
                    "state": {"type": "string", "enum": ["starting", "idle", "running"]},
                    "backup_dir": {"type": "string"}, "interval_secs": {"type": "number"},
                    "max_backups": {"type": "integer"},
                    "running_since": {"type": ["string", "null"], "format": "date-time"},
                    "next_due_at": {"type": ["string", "null"], "format": "date-time"},
                    "last_success_at": {"type": ["string", "null"], "format": "date-time"},
                    "last_success_path": {"type": ["string", "null"]},
                    "last_outcome": {"type": ["string", "null"], "enum": ["ok", "failed", null]},
                    "last_error": {"type": ["string", "null"]},
                    "last_error_at": {"type": ["string", "null"], "format": "date-time"},
                    "kept": {"type": "integer"},
                    "newest_size_bytes": {"type": ["integer", "null"]},
                    "successes": {"type": "integer"}, "failures": {"type": "integer"}}},
                "BackupFile": {"type": "object", "required": ["file_name", "path", "created_at",
                    "kind", "size_bytes"], "properties": {
                    "file_name": {"type": "string"}, "path": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "kind": {"type": "string",
                        "enum": ["scheduled", "manual", "pre_restore", "pre_repair", "unknown"]},
                    "in_rotation": {"type": "boolean"},
                    "size_bytes": {"type": "integer"},
                    "metadata": {"type": ["object", "null"], "properties": {
                        "sha256": {"type": "string"}, "schema_version": {"type": ["string", "null"]},
                        "app_version": {"type": "string"}, "source_path": {"type": "string"},
                        "row_counts": {"type": "object",
                            "additionalProperties": {"type": "integer"}}}},
                    "metadata_error": {"type": ["string", "null"]}}},
                "BackupRecord": {"type": "object", "required": ["id", "path", "created_at",
                    "size_bytes", "sha256"], "properties": {
                    "id": {"type": "integer"}, "path": {"type": "string"},
                    "file_name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string", "enum": ["scheduled", "manual", "pre_restore",
                        "pre_repair"]},
                    "size_bytes": {"type": "integer"}, "sha256": {"type": "string"},
                    "duration_ms": {"type": "integer"},
                    "schema_version": {"type": ["string", "null"]},
                    "kept": {"type": "integer"},
                    "pruned": {"type": "array", "items": {"type": "string"}},
                    "warnings": {"type": "array", "items": {"type": "string"}}}},
                "Message": {"type": "object", "required": ["id", "channel_id", "author_id",
                    "author_name", "content", "created_at_ms", "deleted"], "properties": {
                    "id": {"type": "string"}, "channel_id": {"type": "string"},
                    "guild_id": {"type": ["string", "null"]}, "author_id": {"type": "string"},
                    "author_name": {"type": "string"}, "content": {"type": "string"},
                    "created_at_ms": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "edited_at_ms": {"type": ["integer", "null"]},
                    "edited_at": {"type": ["string", "null"], "format": "date-time"},
                    "deleted": {"type": "boolean"},
                    "attachments": {"type": "array"}, "embeds": {"type": "array"},
                    "reply_to_message_id": {"type": ["string", "null"]}}},
                "SearchHit": {"type": "object", "required": ["message_id", "guild_id",
                    "guild_name", "channel_id", "channel_name", "author_id", "author_name",
                    "created_at", "edited_at", "snippet", "jump_url"], "properties": {
                    "message_id": {"type": "string"},
                    "guild_id": {"type": ["string", "null"],
                        "description": "null for a direct message"},
                    "guild_name": {"type": ["string", "null"],
                        "description": "null while only the id is known"},
                    "channel_id": {"type": "string"},
                    "channel_name": {"type": ["string", "null"],
                        "description": "null while only the id is known"},
                    "author_id": {"type": "string"}, "author_name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "edited_at": {"type": ["string", "null"], "format": "date-time"},
                    "snippet": {"type": "string",
                        "description": "the best-matching stretch of the current content, \
                            matched words between ⟦ and ⟧, … where text is left out"},
                    "jump_url": {"type": "string", "format": "uri",
                        "description": "https://discord.com/channels/<guild_id or @me>/<channel_id>/<message_id>"}}}
            }
        }
    })
}
