//! The cheap checks that keep a message from the model: what they catch is scored by the rule
//! engine (`method: prefilter`), so a bot's "deploy failed" still rises while "ok 👍" costs
//! nothing.

use super::config::TriageConfig;
use super::rules::RuleEngine;
use crate::actors::db::BacklogItem;

/// Discord message types a person writes: 0 (default) and 19 (reply). The others are system
/// messages (joins, pins, boosts, thread notices).
const USER_MESSAGE_KINDS: [i32; 2] = [0, 19];

/// Why a message is scored without a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Deleted before it could be scored.
    Deleted,
    System,
    /// Written by a bot, and `triage.score_bots` is off.
    Bot,
    /// No text (attachments or embeds only).
    Empty,
    EmojiOnly,
    /// Shorter than `triage.min_llm_chars`, with no question, mention or keyword.
    ShortChatter,
}

impl Skip {
    /// Says why in a finding's reason.
    pub const fn describe(self) -> &'static str {
        match self {
            Skip::Deleted => "deleted before triage",
            Skip::System => "system message",
            Skip::Bot => "bot message",
            Skip::Empty => "no text",
            Skip::EmojiOnly => "emoji only",
            Skip::ShortChatter => "short chatter",
        }
    }
}

/// Why `item` is not worth a model call, or `None` when it is.
pub fn skip(item: &BacklogItem, config: &TriageConfig, rules: &RuleEngine) -> Option<Skip> {
    let text = item.content.trim();
    if item.deleted {
        return Some(Skip::Deleted);
    }
    if !USER_MESSAGE_KINDS.contains(&item.kind) {
        return Some(Skip::System);
    }
    if item.author_is_bot && !config.score_bots {
        return Some(Skip::Bot);
    }
    if text.is_empty() {
        return Some(Skip::Empty);
    }
    if is_emoji_only(text) {
        return Some(Skip::EmojiOnly);
    }
    let short = text.chars().count() < config.min_llm_chars;
    if short && !text.contains('?') && !rules.mentions_user(text) && !rules.matches_any(text) {
        return Some(Skip::ShortChatter);
    }
    None
}

/// Whether `text` holds only emoji (Unicode or Discord's `<:name:id>` custom ones),
/// punctuation and spaces: reactions typed as messages.
pub fn is_emoji_only(text: &str) -> bool {
    let mut rest = text;
    let mut plain = String::with_capacity(text.len());
    while let Some(start) = rest.find('<') {
        plain.push_str(&rest[..start]);
        let tail = &rest[start..];
        match custom_emoji_len(tail) {
            Some(len) => rest = &tail[len..],
            None => {
                plain.push('<');
                rest = &tail[1..];
            }
        }
    }
    plain.push_str(rest);
    plain
        .chars()
        .all(|c| c.is_whitespace() || c.is_ascii_punctuation() || is_emoji_char(c))
}

/// Length of a `<:name:id>` or `<a:name:id>` at the start of `text`.
fn custom_emoji_len(text: &str) -> Option<usize> {
    let end = text.find('>')?;
    let inner = &text[1..end];
    let inner = inner.strip_prefix('a').unwrap_or(inner);
    let mut parts = inner.strip_prefix(':')?.split(':');
    let name = parts.next()?;
    let id = parts.next()?;
    let well_formed = !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && parts.next().is_none();
    well_formed.then_some(end + 1)
}

/// Pictographs, symbols, flags, skin tones and the joiners and selectors that glue them.
fn is_emoji_char(c: char) -> bool {
    matches!(u32::from(c),
        0x1F000..=0x1FAFF   // pictographs, emoticons, transport, flags, skin tones
        | 0x2600..=0x27BF   // miscellaneous symbols and dingbats
        | 0x2B00..=0x2BFF   // arrows, stars
        | 0x2190..=0x21FF   // arrows
        | 0x2300..=0x23FF   // technical (⌚, ⏰)
        | 0xFE00..=0xFE0F   // variation selectors
        | 0x200D            // zero-width joiner
        | 0x20E3            // keycap
        | 0xE0020..=0xE007F // tag sequences
        | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x00A9 | 0x00AE | 0x2122)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::processing::triage::rules::tests::item;

    fn check(item: &BacklogItem) -> Option<Skip> {
        let config = TriageConfig {
            user_names: vec!["maria".to_owned()],
            ..TriageConfig::default()
        };
        let rules = RuleEngine::new(&config).unwrap();
        skip(item, &config, &rules)
    }

    #[test]
    fn emoji_only_is_recognised() {
        for text in [
            "👍🏽",
            "🎉 🎉!",
            "<:sim_blob:812345678901234567>",
            "<a:d:1> 🏳️‍🌈",
            ":)",
            "👨‍👩‍👧‍👦",
        ] {
            assert!(is_emoji_only(text), "{text}");
        }
        for text in ["ok 👍", "<:broken:abc>", "日本語", "a"] {
            assert!(!is_emoji_only(text), "{text}");
        }
    }

    #[test]
    fn what_is_kept_from_the_model() {
        assert_eq!(check(&item("🔥🔥")), Some(Skip::EmojiOnly));
        assert_eq!(check(&item("   ")), Some(Skip::Empty));
        assert_eq!(check(&item("lol ok")), Some(Skip::ShortChatter));
        let mut bot = item("Build #42 failed on main");
        bot.author_is_bot = true;
        assert_eq!(check(&bot), Some(Skip::Bot));
        let mut system = item("pinned a message");
        system.kind = 6;
        assert_eq!(check(&system), Some(Skip::System));
        let mut gone = item("whatever");
        gone.deleted = true;
        assert_eq!(check(&gone), Some(Skip::Deleted));
    }

    #[test]
    fn short_but_meaningful_messages_go_to_the_model() {
        assert_eq!(check(&item("ship it?")), None, "a question");
        assert_eq!(check(&item("maria pls")), None, "a mention");
        assert_eq!(check(&item("outage!")), None, "a keyword");
        assert_eq!(check(&item("the deploy to prod-eu failed twice")), None);
        let mut reply = item("sounds good to me, let's go");
        reply.kind = 19;
        assert_eq!(check(&reply), None);
    }
}
