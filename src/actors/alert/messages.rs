//! Messages the [`AlertActor`](super::AlertActor) handles, and the alert they carry.

use actix::Message;
use serde::{Deserialize, Serialize};

use super::config::Severity;
use super::error::AlertError;
use crate::actors::db::OutboxAlert;

/// A link shown with an alert (a button in Slack, a link in mail and webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLink {
    pub label: String,
    pub url: String,
}

/// Where a condition stands; decides the wording and whether it is sent at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// First notice of a condition.
    Firing,
    /// The condition still holds one cooldown after it was first sent.
    Reminder,
    /// The condition is over.
    Resolved,
    /// `POST /api/alerts/test` and `alert test`: not deduplicated.
    Test,
}

impl Phase {
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Firing => "firing",
            Phase::Reminder => "reminder",
            Phase::Resolved => "resolved",
            Phase::Test => "test",
        }
    }
}

/// Raise (or, with `resolved`, clear) a condition. Stored in the outbox before the reply,
/// so `Ok` means it will be delivered to every matching route, now or after a restart.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "Result<AlertAccepted, AlertError>")]
pub struct Alert {
    /// Machine name of what happened (`memory_high`, `watch_match`, `route_failing`).
    pub event: String,
    pub severity: Severity,
    pub title: String,
    /// Plain text; may span lines. Never logged.
    pub body: String,
    /// Name/value pairs shown as a table, in order.
    pub fields: Vec<(String, String)>,
    pub links: Vec<AlertLink>,
    /// Names the condition: the same key within the cooldown is one alert.
    pub dedup_key: String,
    /// The condition is over: a "resolved" message goes out if it was ever sent.
    pub resolved: bool,
}

impl Alert {
    pub fn new(
        event: impl Into<String>,
        severity: Severity,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        let event = event.into();
        Alert {
            dedup_key: event.clone(),
            event,
            severity,
            title: title.into(),
            body: body.into(),
            fields: Vec::new(),
            links: Vec::new(),
            resolved: false,
        }
    }

    pub fn with_key(mut self, dedup_key: impl Into<String>) -> Self {
        self.dedup_key = dedup_key.into();
        self
    }

    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn with_link(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(AlertLink {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    /// The same condition, now over.
    pub fn resolved(mut self) -> Self {
        self.resolved = true;
        self
    }
}

/// What [`Alert`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertAccepted {
    /// Routes that got a new outbox row.
    pub queued: Vec<String>,
    /// Routes where the same condition was already queued within its cooldown.
    pub duplicate: Vec<String>,
    /// How the rows describe the condition; `None` when nothing was queued because it
    /// resolved a condition that was never sent.
    pub phase: Option<Phase>,
}

/// Send a test alert through every route (or only `route`) now, bypassing the outbox's
/// retries, and answer each route's result.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "Result<Vec<RouteTestResult>, AlertError>")]
pub struct TestRoutes {
    pub route: Option<String>,
}

/// One route's answer to [`TestRoutes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTestResult {
    pub route: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// The newest outbox rows with their delivery state, for `GET /api/alerts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "Result<Vec<OutboxAlert>, AlertError>")]
pub struct ListAlerts {
    pub limit: i64,
}
