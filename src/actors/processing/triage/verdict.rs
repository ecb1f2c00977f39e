//! What triage says of one message, whoever said it: a model, the rule engine or a prefilter.

use serde::{Deserialize, Serialize};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A question to the user (or one the user can answer).
    Question,
    Decision,
    /// An event or a deadline.
    Event,
    /// A purchase or a group buy.
    Purchase,
    Announcement,
    Incident,
    Chatter,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Question,
        Category::Decision,
        Category::Event,
        Category::Purchase,
        Category::Announcement,
        Category::Incident,
        Category::Chatter,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Question => "question",
            Category::Decision => "decision",
            Category::Event => "event",
            Category::Purchase => "purchase",
            Category::Announcement => "announcement",
            Category::Incident => "incident",
            Category::Chatter => "chatter",
        }
    }

    /// Our names, and the spellings models give them when they paraphrase the prompt.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let text = text.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == text)
            .or(match text {
                "deadline" | "event/deadline" | "event_deadline" | "meeting" => {
                    Some(Category::Event)
                }
                "group buy" | "group_buy" | "groupbuy" | "purchase/group buy" | "buy" => {
                    Some(Category::Purchase)
                }
                "question to the user" | "request" | "ask" => Some(Category::Question),
                "other" | "social" | "smalltalk" | "small talk" | "none" => Some(Category::Chatter),
                "outage" | "alert" | "problem" => Some(Category::Incident),
                "news" | "update" => Some(Category::Announcement),
                _ => None,
            })
    }
}

/// How soon the user should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Medium,
    High,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Low, Urgency::Medium, Urgency::High];

    pub const fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Medium => "medium",
            Urgency::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" | "none" | "no" => Some(Urgency::Low),
            "medium" | "normal" | "moderate" | "med" => Some(Urgency::Medium),
            "high" | "urgent" | "critical" | "now" | "immediate" => Some(Urgency::High),
            _ => None,
        }
    }

    /// The urgency rules give an importance.
    pub fn from_importance(importance: u8) -> Self {
        match importance {
            8.. => Urgency::High,
            5..=7 => Urgency::Medium,
            _ => Urgency::Low,
        }
    }
}

/// Who scored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Llm,
    /// The rule engine, for want of a model (none configured, none allowed, or its answer
    /// for this message was unusable twice).
    Rules,
    /// The rule engine, for a message not worth a call (see `prefilter`).
    Prefilter,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Llm, Method::Rules, Method::Prefilter];

    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Llm => "llm",
            Method::Rules => "rules",
            Method::Prefilter => "prefilter",
        }
    }
}

/// One message's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// 1 ..= 10.
    pub importance: u8,
    pub urgency: Urgency,
    pub category: Category,
    pub needs_attention: bool,
    /// One line.
    pub reason: String,
}

/// Characters of a reason kept: one line in a digest or a notification.
pub const MAX_REASON_CHARS: usize = 200;

/// `text` on one line, cut to [`MAX_REASON_CHARS`].
pub fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_REASON_CHARS {
        line
    } else {
        let mut cut: String = line.chars().take(MAX_REASON_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_urgencies_read_as_models_write_them() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Some(category));
        }
        assert_eq!(Category::parse(" Incident "), Some(Category::Incident));
        assert_eq!(Category::parse("group buy"), Some(Category::Purchase));
        assert_eq!(Category::parse("deadline"), Some(Category::Event));
        assert_eq!(Category::parse("banana"), None);
        assert_eq!(Urgency::parse("URGENT"), Some(Urgency::High));
        assert_eq!(Urgency::parse("whenever"), None);
        assert_eq!(Urgency::from_importance(9), Urgency::High);
        assert_eq!(Urgency::from_importance(2), Urgency::Low);
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        let long = "x ".repeat(400);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS);
        assert!(cut.ends_with('…'));
    }
}
