//! The triage call: the versioned prompt (a file under `prompts/` at the repository root,
//! compiled in), one compact line per message, and the JSON schema of the answer.
//!
//! Token economy: messages are referred to by a short number (`[12]`, never a snowflake: far
//! cheaper, and a model cannot invent a valid id), the channel is named once per group of
//! lines, mentions, custom emoji and links are shortened, and content is cut at
//! [`CONTENT_CHARS`]. With the instruction block shared by a whole batch, a batch of 40
//! ordinary messages costs well under 60 prompt tokens a message.
//!
//! The schema only fixes the shape (every field of every item present, with its type): an
//! out-of-range value or an unknown index is judged per message by `reply`, so one bad entry
//! costs one message a retry, not the whole batch.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::actors::db::BacklogItem;
use crate::actors::llm::{LlmRequest, RequestKind};

/// Recorded with every verdict scored through this prompt: change the file, bump the version.
pub const PROMPT_VERSION: &str = "triage/v1";
const PROMPT: &str = include_str!("../../../../prompts/triage/v1.txt");

/// Characters of a message's text sent to the model: enough for the gist of a long message.
pub const CONTENT_CHARS: usize = 280;
/// Output tokens per message of a batch: one compact item is about 25.
const OUTPUT_TOKENS_PER_MESSAGE: u32 = 40;
/// Temperature 0: the same messages should get the same verdicts.
const TEMPERATURE: f32 = 0.0;

/// Who the user is, as the prompt says it, and the mention ids to rewrite.
#[derive(Debug, Clone, Default)]
pub struct PromptUser {
    names: Vec<String>,
    roles: Vec<String>,
    user_ids: Vec<String>,
    role_ids: Vec<String>,
}

impl PromptUser {
    /// From `triage.user_names` / `triage.roles` (all-digit entries are ids).
    pub fn new(user_names: &[String], roles: &[String]) -> Self {
        let split = |entries: &[String]| -> (Vec<String>, Vec<String>) {
            let (ids, names): (Vec<String>, Vec<String>) = entries
                .iter()
                .map(|entry| entry.trim().trim_start_matches('@').to_owned())
                .filter(|entry| !entry.is_empty())
                .partition(|entry| entry.chars().all(|c| c.is_ascii_digit()));
            (ids, names)
        };
        let (user_ids, names) = split(user_names);
        let (role_ids, roles) = split(roles);
        Self {
            names,
            roles,
            user_ids,
            role_ids,
        }
    }

    /// The ` (known as ...; roles: ...)` the prompt's `{user}` becomes.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.names.is_empty() || !self.user_ids.is_empty() {
            let mut names = self.names.clone();
            if !self.user_ids.is_empty() {
                names.push("@you".to_owned());
            }
            parts.push(format!("known as {}", names.join(", ")));
        }
        if !self.roles.is_empty() || !self.role_ids.is_empty() {
            let mut roles = self.roles.clone();
            if !self.role_ids.is_empty() {
                roles.push("@your-role".to_owned());
            }
            parts.push(format!("roles: {}", roles.join(", ")));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }
}

/// The request for `items`, numbered 1.. in the order given.
pub fn request(items: &[&BacklogItem], user: &PromptUser) -> LlmRequest {
    let system = PROMPT.replace("{user}", &user.describe());
    let numbers: HashMap<u64, usize> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (item.message_id, index + 1))
        .collect();
    let mut parts = Vec::with_capacity(items.len() + 4);
    let mut channel = None;
    for (index, item) in items.iter().enumerate() {
        if channel != Some(item.channel_id) {
            channel = Some(item.channel_id);
            let name = if item.channel_name.is_empty() {
                "channel".to_owned()
            } else {
                item.channel_name.clone()
            };
            parts.push(format!("#{name}"));
        }
        parts.push(line(index + 1, item, &numbers, user));
    }
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let mut request =
        LlmRequest::new(RequestKind::Triage, system, parts).with_schema("triage", reply_schema());
    request.max_output_tokens = Some(
        OUTPUT_TOKENS_PER_MESSAGE
            .saturating_mul(count)
            .max(RequestKind::Triage.default_max_output_tokens()),
    );
    request.temperature = TEMPERATURE;
    request
}

/// `[3] @alice 14:02 re [1]: the text`.
fn line(
    number: usize,
    item: &BacklogItem,
    numbers: &HashMap<u64, usize>,
    user: &PromptUser,
) -> String {
    let time = Utc
        .timestamp_millis_opt(item.created_at_ms)
        .single()
        .map(|at| at.format("%H:%M").to_string())
        .unwrap_or_default();
    let reply = item
        .reply_to_message_id
        .and_then(|id| numbers.get(&id))
        .map(|to| format!(" re [{to}]"))
        .unwrap_or_default();
    let mut text = compact(&item.content, user);
    if item.has_attachments {
        text.push_str(" [file]");
    }
    format!("[{number}] @{} {time}{reply}: {text}", item.author_name)
}

/// The text on one line, mentions, custom emoji and links shortened, cut at
/// [`CONTENT_CHARS`].
pub fn compact(content: &str, user: &PromptUser) -> String {
    let mut words = Vec::new();
    for word in content.split_whitespace() {
        words.push(compact_word(word, user));
    }
    let text = words.join(" ");
    if text.chars().count() <= CONTENT_CHARS {
        text
    } else {
        let mut cut: String = text.chars().take(CONTENT_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

fn compact_word(word: &str, user: &PromptUser) -> String {
    if let Some(rest) = word
        .strip_prefix("https://")
        .or_else(|| word.strip_prefix("http://"))
    {
        let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        return format!("<{}>", host.trim_start_matches("www."));
    }
    if !word.contains('<') {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('>') else {
            out.push_str(tail);
            return out;
        };
        out.push_str(&token(&tail[1..end], user).unwrap_or_else(|| tail[..=end].to_owned()));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Discord's `<...>` tokens: `@id`, `@!id`, `@&id`, `#id`, `:name:id`, `a:name:id`.
fn token(inner: &str, user: &PromptUser) -> Option<String> {
    if let Some(id) = inner.strip_prefix("@&") {
        let mine = user.role_ids.iter().any(|role| role == id);
        return Some(if mine { "@your-role" } else { "@role" }.to_owned());
    }
    if let Some(id) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
        let mine = user.user_ids.iter().any(|own| own == id);
        return Some(if mine { "@you" } else { "@someone" }.to_owned());
    }
    if inner.starts_with('#') {
        return Some("#channel".to_owned());
    }
    let emoji = inner.strip_prefix('a').unwrap_or(inner);
    let mut parts = emoji.strip_prefix(':')?.split(':');
    let name = parts.next()?;
    Some(format!(":{name}:"))
}

/// Every item: its number and all five fields, each typed (`imp` a number, since some models
/// write `7.0`); values are judged per item afterwards.
pub fn reply_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["i", "imp", "urg", "cat", "att", "why"],
                    "properties": {
                        "i": {"type": "integer"},
                        "imp": {"type": "number"},
                        "urg": {"type": "string"},
                        "cat": {"type": "string"},
                        "att": {"type": "boolean"},
                        "why": {"type": "string"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::llm::tokens::{TokenizerFamily, estimate};
    use crate::actors::processing::triage::rules::tests::item;

    fn user() -> PromptUser {
        PromptUser::new(
            &["maria".to_owned(), "123".to_owned()],
            &["oncall".to_owned()],
        )
    }

    #[test]
    fn lines_are_compact_and_number_the_messages() {
        let mut first = item("deploy failed on <#99>, see https://ci.example.com/run/5?x=1");
        first.created_at_ms = 1_700_000_000_000; // 22:13 UTC
        let mut second = item("<@123> <@!77> can you look? <:blob:812> \n thanks");
        second.message_id += 1;
        second.reply_to_message_id = Some(first.message_id);
        second.has_attachments = true;
        let mut other = item("elsewhere");
        other.message_id += 2;
        other.channel_id += 1;
        other.channel_name = "random".to_owned();
        let request = request(&[&first, &second, &other], &user());
        assert_eq!(
            request.parts,
            [
                "#ops",
                "[1] @bob 22:13: deploy failed on #channel, see <ci.example.com>",
                "[2] @bob 22:13 re [1]: @you @someone can you look? :blob: thanks [file]",
                "#random",
                "[3] @bob 22:13: elsewhere",
            ]
        );
        assert!(
            request
                .system
                .contains("for one user (known as maria, @you; roles: oncall)."),
            "{}",
            request.system
        );
        assert_eq!(request.kind, RequestKind::Triage);
        assert_eq!(request.schema.as_ref().unwrap().name, "triage");
    }

    #[test]
    fn long_content_is_cut() {
        let long = "word ".repeat(200);
        let text = compact(&long, &PromptUser::default());
        assert_eq!(text.chars().count(), CONTENT_CHARS);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn a_batch_of_forty_stays_under_sixty_prompt_tokens_a_message() {
        let items: Vec<BacklogItem> = (0..40)
            .map(|n| {
                let mut message = item(&format!(
                    "the deploy of release {n} is done, please check the dashboard before lunch"
                ));
                message.message_id += n;
                message
            })
            .collect();
        let refs: Vec<&BacklogItem> = items.iter().collect();
        let request = request(&refs, &PromptUser::default());
        let tokens = estimate(&request.system, TokenizerFamily::Gemini)
            + estimate(&request.parts.join("\n"), TokenizerFamily::Gemini);
        assert!(tokens / 40 < 60, "{} tokens a message", tokens / 40);
    }
}
