//! What an alert looks like on each route: mail subject, text and HTML; Slack Block Kit;
//! the generic webhook's JSON; Discord webhook messages. Pure functions, so every limit is
//! tested without a receiver.
//!
//! Generic webhook schema (one JSON object per POST, `Content-Type: application/json`):
//!
//! ```json
//! {"id": "disk_full#fire#493@hook", "event": "disk_full", "severity": "warning",
//!  "phase": "firing", "title": "Disk almost full", "body": "92% used",
//!  "fields": {"volume": "/data"}, "links": [{"label": "Dashboard", "url": "https://..."}],
//!  "created_at": "2026-11-28T22:00:00Z"}
//! ```
//!
//! `id` is stable across retries (also sent as `Idempotency-Key`); `phase` is `firing`,
//! `reminder`, `resolved` or `test`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::config::Severity;
use super::messages::{AlertLink, Phase};

/// An outbox row as the senders see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The outbox row's unique key: the idempotency key receivers may deduplicate on.
    pub id: String,
    pub event: String,
    pub severity: Severity,
    pub phase: Phase,
    pub title: String,
    pub body: String,
    pub fields: Vec<(String, String)>,
    pub links: Vec<AlertLink>,
    pub created_at_ms: i64,
}

/// The parts of a [`Notice`] stored in the outbox's `fields_json` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredExtras {
    pub phase: Phase,
    pub fields: Vec<(String, String)>,
    pub links: Vec<AlertLink>,
}

impl Notice {
    fn label(&self) -> String {
        match self.phase {
            Phase::Resolved => "RESOLVED".to_owned(),
            Phase::Reminder => format!("{} (reminder)", self.severity.as_str().to_uppercase()),
            Phase::Test => "TEST".to_owned(),
            Phase::Firing => self.severity.as_str().to_uppercase(),
        }
    }

    fn created_at(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.created_at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// Severity colours: green when resolved, then blue, amber, red, dark red.
fn colour(notice: &Notice) -> u32 {
    if notice.phase == Phase::Resolved {
        return 0x2E_B6_7D;
    }
    match notice.severity {
        Severity::Info => 0x36_7F_D9,
        Severity::Warning => 0xEC_B2_2E,
        Severity::Error => 0xE0_1E_5A,
        Severity::Critical => 0x8B_00_00,
    }
}

pub fn email_subject(notice: &Notice) -> String {
    truncate(&format!("[{}] {}", notice.label(), notice.title), 200)
}

pub fn email_text(notice: &Notice) -> String {
    let mut text = format!("{}\n\n{}\n", notice.title, notice.body);
    if !notice.fields.is_empty() {
        text.push('\n');
        for (name, value) in &notice.fields {
            text.push_str(&format!("{name}: {value}\n"));
        }
    }
    for link in &notice.links {
        text.push_str(&format!("\n{}: {}", link.label, link.url));
    }
    text.push_str(&format!(
        "\n\n-- discord-monitor, event {} ({}), {}\n",
        notice.event,
        notice.severity,
        notice.created_at()
    ));
    text
}

pub fn email_html(notice: &Notice) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif;line-height:1.4\">\
         <div style=\"border-left:6px solid #{:06X};padding:4px 12px\">\
         <p style=\"color:#666;margin:0\">{}</p><h2 style=\"margin:4px 0\">{}</h2></div>",
        colour(notice),
        escape_html(&notice.label()),
        escape_html(&notice.title)
    );
    for paragraph in notice.body.split("\n\n") {
        html.push_str(&format!(
            "<p>{}</p>",
            escape_html(paragraph).replace('\n', "<br>")
        ));
    }
    if !notice.fields.is_empty() {
        html.push_str("<table style=\"border-collapse:collapse\">");
        for (name, value) in &notice.fields {
            html.push_str(&format!(
                "<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">{}</th><td>{}</td></tr>",
                escape_html(name),
                escape_html(value)
            ));
        }
        html.push_str("</table>");
    }
    if !notice.links.is_empty() {
        html.push_str("<p>");
        for link in &notice.links {
            html.push_str(&format!(
                "<a href=\"{}\">{}</a> ",
                escape_html(&link.url),
                escape_html(&link.label)
            ));
        }
        html.push_str("</p>");
    }
    html.push_str(&format!(
        "<p style=\"color:#888;font-size:small\">discord-monitor &middot; {} &middot; {}</p>\
         </body></html>",
        escape_html(&notice.event),
        escape_html(&notice.created_at())
    ));
    html
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Slack limits (chars): header text 150, section text 3000, section field 2000 and at most
/// 10 fields per section, button text 75 and at most 25 elements per actions block,
/// top-level fallback text 40 000 (we keep it short: notifications show it).
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_SECTION_CHARS: usize = 3_000;
const SLACK_FIELD_CHARS: usize = 2_000;
const SLACK_FIELDS_PER_SECTION: usize = 10;
const SLACK_BUTTON_CHARS: usize = 75;
const SLACK_BUTTONS: usize = 25;
/// Slack's ceiling on blocks per message.
const SLACK_MAX_BLOCKS: usize = 50;

/// An incoming-webhook payload: fallback `text` plus a coloured attachment with Block Kit
/// blocks (header, body, fields, link buttons).
pub fn slack_payload(notice: &Notice) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&format!("{}: {}", notice.label(), notice.title), SLACK_HEADER_CHARS)}
    })];
    for chunk in split_text(&notice.body, SLACK_SECTION_CHARS) {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": escape_slack(&chunk)}}),
        );
    }
    for fields in notice.fields.chunks(SLACK_FIELDS_PER_SECTION) {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(name, value)| {
                json!({"type": "mrkdwn", "text": truncate(&format!("*{}*\n{}", escape_slack(name), escape_slack(value)), SLACK_FIELD_CHARS)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !notice.links.is_empty() {
        let buttons: Vec<Value> = notice
            .links
            .iter()
            .take(SLACK_BUTTONS)
            .map(|link| {
                json!({"type": "button", "text": {"type": "plain_text", "text": truncate(&link.label, SLACK_BUTTON_CHARS)}, "url": link.url})
            })
            .collect();
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("discord-monitor · `{}` · {}", escape_slack(&notice.event), notice.created_at())}]
    }));
    if blocks.len() > SLACK_MAX_BLOCKS {
        // Keep the header and the context line; an enormous body loses its tail.
        let context = blocks.pop();
        blocks.truncate(SLACK_MAX_BLOCKS - 1);
        blocks.extend(context);
    }
    json!({
        "text": truncate(&format!("[{}] {}", notice.label(), notice.title), SLACK_SECTION_CHARS),
        "attachments": [{"color": format!("#{:06X}", colour(notice)), "blocks": blocks}]
    })
}

/// Slack mrkdwn treats `&`, `<` and `>` as control characters.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The generic webhook's body (schema in the module doc).
pub fn webhook_payload(notice: &Notice) -> Value {
    let fields: Map<String, Value> = notice
        .fields
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({
        "id": notice.id,
        "event": notice.event,
        "severity": notice.severity,
        "phase": notice.phase,
        "title": notice.title,
        "body": notice.body,
        "fields": fields,
        "links": notice.links,
        "created_at": notice.created_at(),
    })
}

/// Discord limits: message content 2000 chars; embed title 256, description 4096, at most 25
/// fields with name 256 and value 1024, and 6000 chars over the whole embed.
pub const DISCORD_CONTENT_CHARS: usize = 2_000;
const DISCORD_TITLE_CHARS: usize = 256;
const DISCORD_DESCRIPTION_CHARS: usize = 4_096;
const DISCORD_FIELDS: usize = 25;
const DISCORD_FIELD_NAME_CHARS: usize = 256;
const DISCORD_FIELD_VALUE_CHARS: usize = 1_024;
const DISCORD_EMBED_TOTAL_CHARS: usize = 6_000;

/// The messages to post, in order: one embed (title, colour, fields, short body), then the
/// body in 2000-character messages when it does not fit the embed. Mentions are disabled so
/// an alert never pings `@everyone`.
pub fn discord_messages(notice: &Notice) -> Vec<Value> {
    let title = truncate(
        &format!("{}: {}", notice.label(), notice.title),
        DISCORD_TITLE_CHARS,
    );
    let footer = format!("discord-monitor · {}", notice.event);
    let mut budget = DISCORD_EMBED_TOTAL_CHARS
        .saturating_sub(title.chars().count())
        .saturating_sub(footer.chars().count());
    let body_fits = notice.body.chars().count() <= DISCORD_DESCRIPTION_CHARS.min(budget);
    let mut embed = Map::new();
    embed.insert("title".to_owned(), Value::String(title));
    embed.insert("color".to_owned(), json!(colour(notice)));
    if body_fits {
        budget -= notice.body.chars().count();
        embed.insert("description".to_owned(), Value::String(notice.body.clone()));
    }
    let mut fields = Vec::new();
    for (name, value) in notice.fields.iter().take(DISCORD_FIELDS) {
        let name = truncate(name, DISCORD_FIELD_NAME_CHARS);
        let value = truncate(value, DISCORD_FIELD_VALUE_CHARS);
        let cost = name.chars().count() + value.chars().count();
        if cost > budget {
            break;
        }
        budget -= cost;
        fields.push(json!({"name": name, "value": value, "inline": true}));
    }
    embed.insert("fields".to_owned(), Value::Array(fields));
    embed.insert("footer".to_owned(), json!({"text": footer}));
    embed.insert("timestamp".to_owned(), Value::String(notice.created_at()));
    let links = notice
        .links
        .iter()
        .map(|link| format!("[{}]({})", link.label, link.url))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut messages = vec![json!({
        "content": truncate(&links, DISCORD_CONTENT_CHARS),
        "embeds": [Value::Object(embed)],
        "allowed_mentions": {"parse": []}
    })];
    if !body_fits {
        for chunk in split_text(&notice.body, DISCORD_CONTENT_CHARS) {
            messages.push(json!({"content": chunk, "allowed_mentions": {"parse": []}}));
        }
    }
    messages
}

/// At most `max` chars, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Pieces of at most `max` chars, cut at the last line break (else space) of each piece so
/// that paragraphs stay whole where possible. Never returns an empty piece.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let window = &rest[..max];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .or_else(|| window.iter().rposition(|c| *c == ' '))
            .filter(|position| *position > 0)
            .map_or(max, |position| position + 1);
        let piece: String = rest[..cut].iter().collect();
        let piece = piece.trim_end().to_owned();
        if !piece.is_empty() {
            pieces.push(piece);
        }
        rest.drain(..cut);
    }
    let last: String = rest.into_iter().collect();
    if !last.trim().is_empty() || pieces.is_empty() {
        pieces.push(last);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(body: &str) -> Notice {
        Notice {
            id: "disk#fire#1@r".to_owned(),
            event: "disk_full".to_owned(),
            severity: Severity::Warning,
            phase: Phase::Firing,
            title: "Disk <almost> full".to_owned(),
            body: body.to_owned(),
            fields: vec![("volume".to_owned(), "/data".to_owned())],
            links: vec![AlertLink {
                label: "Dashboard".to_owned(),
                url: "https://grafana.example/d/1".to_owned(),
            }],
            created_at_ms: 1_764_367_200_000,
        }
    }

    #[test]
    fn split_keeps_lines_and_limits() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1500));
        let pieces = split_text(&text, 2000);
        assert_eq!(pieces, ["a".repeat(1500), "b".repeat(1500)]);
        let long = "x".repeat(4500);
        let pieces = split_text(&long, 2000);
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
        assert_eq!(split_text("", 2000), [""]);
    }

    #[test]
    fn html_escapes_and_shows_fields() {
        let html = email_html(&notice("line one\nline two"));
        assert!(html.contains("Disk &lt;almost&gt; full"), "{html}");
        assert!(html.contains("line one<br>line two"), "{html}");
        assert!(html.contains(
            "<th style=\"text-align:left;padding:2px 12px 2px 0\">volume</th><td>/data</td>"
        ));
        assert_eq!(email_subject(&notice("")), "[WARNING] Disk <almost> full");
    }

    #[test]
    fn slack_payload_stays_within_limits() {
        let mut long = notice(&"word ".repeat(40_000));
        long.title = "t".repeat(500);
        long.fields = (0..30)
            .map(|i| (format!("f{i}"), "v".repeat(3000)))
            .collect();
        let payload = slack_payload(&long);
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        assert!(blocks.len() <= SLACK_MAX_BLOCKS);
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        for block in blocks {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= SLACK_SECTION_CHARS);
            }
            if let Some(fields) = block["fields"].as_array() {
                assert!(fields.len() <= 10);
                for field in fields {
                    assert!(field["text"].as_str().unwrap().chars().count() <= 2000);
                }
            }
        }
        assert_eq!(blocks.last().unwrap()["type"], "context");
        assert_eq!(payload["attachments"][0]["color"], "#ECB22E");
    }

    #[test]
    fn discord_messages_respect_content_and_embed_limits() {
        let short = discord_messages(&notice("short body"));
        assert_eq!(short.len(), 1);
        assert_eq!(short[0]["embeds"][0]["description"], "short body");
        assert_eq!(short[0]["allowed_mentions"]["parse"], json!([]));

        let mut long = notice(&"paragraph of text\n".repeat(500));
        long.fields = (0..40)
            .map(|i| (format!("f{i}"), "v".repeat(1500)))
            .collect();
        let messages = discord_messages(&long);
        assert!(messages.len() > 2);
        let embed = &messages[0]["embeds"][0];
        assert!(embed.get("description").is_none());
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= 25);
        let total: usize = fields
            .iter()
            .map(|f| f["name"].as_str().unwrap().len() + f["value"].as_str().unwrap().len())
            .sum::<usize>()
            + embed["title"].as_str().unwrap().len()
            + embed["footer"]["text"].as_str().unwrap().chars().count();
        assert!(total <= DISCORD_EMBED_TOTAL_CHARS, "{total}");
        for message in &messages {
            assert!(message["content"].as_str().unwrap().chars().count() <= 2000);
        }
        let rebuilt: String = messages[1..]
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(rebuilt.trim_end(), long.body.trim_end());
    }

    #[test]
    fn webhook_payload_follows_the_schema() {
        let payload = webhook_payload(&notice("b"));
        assert_eq!(
            payload,
            json!({"id": "disk#fire#1@r", "event": "disk_full", "severity": "warning",
                   "phase": "firing", "title": "Disk <almost> full", "body": "b",
                   "fields": {"volume": "/data"},
                   "links": [{"label": "Dashboard", "url": "https://grafana.example/d/1"}],
                   "created_at": "2025-11-28T22:00:00Z"})
        );
    }
}
