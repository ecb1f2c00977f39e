//! The rule engine: scores a message without a model, from configurable keyword weights,
//! mentions of the user's names and roles, and patterns. It scores what the prefilters keep
//! from the model, and everything while no model may be called.
//!
//! Importance starts at 2; each matched keyword or pattern adds its weight once, a mention of
//! the user adds 4 (a role 3), and a question mark adds 1; the sum is rounded and clamped to 1..=10. The
//! category is that of the heaviest match with one (a question addressed to the user makes it
//! a question), else chatter.

use regex_lite::Regex;

use super::config::TriageConfig;
use super::verdict::{Category, Score, Urgency, one_line};
use crate::actors::db::BacklogItem;

/// Where every message starts: ordinary chatter.
const BASE_IMPORTANCE: f64 = 2.0;
const USER_MENTION_WEIGHT: f64 = 4.0;
const ROLE_MENTION_WEIGHT: f64 = 3.0;
const QUESTION_WEIGHT: f64 = 1.0;

struct Weighted {
    label: String,
    weight: f64,
    category: Option<Category>,
}

/// The compiled rules of a [`TriageConfig`].
pub struct RuleEngine {
    keywords: Vec<(String, Weighted)>,
    patterns: Vec<(Regex, Weighted)>,
    /// Lowercase names (`maria`) and mention tokens (`<@123>`) of the user.
    user_names: Vec<String>,
    user_ids: Vec<String>,
    role_names: Vec<String>,
    role_ids: Vec<String>,
    attention_importance: u8,
}

/// Why a rule engine cannot be built: a pattern that does not compile (the configuration
/// check reports it first, so only a configuration built in code gets here).
#[derive(Debug, thiserror::Error)]
#[error("triage pattern `{pattern}` does not compile")]
pub struct BadPattern {
    pub pattern: String,
    #[source]
    pub source: regex_lite::Error,
}

impl RuleEngine {
    pub fn new(config: &TriageConfig) -> Result<Self, BadPattern> {
        let keywords = config
            .effective_keywords()
            .iter()
            .map(|rule| {
                let word = rule.word.trim().to_lowercase();
                (
                    word.clone(),
                    Weighted {
                        label: word,
                        weight: rule.weight,
                        category: rule.category,
                    },
                )
            })
            .collect();
        let patterns = config
            .regexes
            .iter()
            .map(|rule| {
                let regex = Regex::new(&rule.pattern).map_err(|source| BadPattern {
                    pattern: rule.pattern.clone(),
                    source,
                })?;
                Ok((
                    regex,
                    Weighted {
                        label: format!("/{}/", rule.pattern),
                        weight: rule.weight,
                        category: rule.category,
                    },
                ))
            })
            .collect::<Result<_, BadPattern>>()?;
        let (user_ids, user_names) = split_ids(&config.user_names);
        let (role_ids, role_names) = split_ids(&config.roles);
        Ok(Self {
            keywords,
            patterns,
            user_names,
            user_ids: user_ids.iter().map(|id| format!("<@{id}>")).collect(),
            role_names,
            role_ids: role_ids.iter().map(|id| format!("<@&{id}>")).collect(),
            attention_importance: config.attention_importance,
        })
    }

    /// Whether the message names the user or one of the user's roles.
    pub fn mentions_user(&self, content: &str) -> bool {
        let lower = content.to_lowercase();
        self.user_mention(content, &lower) || self.role_mention(content, &lower)
    }

    /// Whether any keyword or pattern matches.
    pub fn matches_any(&self, content: &str) -> bool {
        let lower = content.to_lowercase();
        self.keywords
            .iter()
            .any(|(word, _)| contains_word(&lower, word))
            || self
                .patterns
                .iter()
                .any(|(regex, _)| regex.is_match(content))
    }

    fn user_mention(&self, content: &str, lower: &str) -> bool {
        self.user_ids.iter().any(|token| {
            content.contains(token.as_str()) || content.contains(&token.replace("<@", "<@!"))
        }) || self
            .user_names
            .iter()
            .any(|name| contains_word(lower, name))
    }

    fn role_mention(&self, content: &str, lower: &str) -> bool {
        self.role_ids
            .iter()
            .any(|token| content.contains(token.as_str()))
            || self
                .role_names
                .iter()
                .any(|name| contains_word(lower, name))
    }

    /// The rule engine's score of `item`; `why` prefixes the reason (e.g. what made the
    /// prefilter keep it from the model).
    pub fn score(&self, item: &BacklogItem, why: &str) -> Score {
        let content = item.content.as_str();
        let lower = content.to_lowercase();
        let mut importance = BASE_IMPORTANCE;
        let mut matched: Vec<&Weighted> = Vec::new();
        for (word, weighted) in &self.keywords {
            if contains_word(&lower, word) {
                importance += weighted.weight;
                matched.push(weighted);
            }
        }
        for (regex, weighted) in &self.patterns {
            if regex.is_match(content) {
                importance += weighted.weight;
                matched.push(weighted);
            }
        }
        let mut signals: Vec<String> = Vec::new();
        let user = self.user_mention(content, &lower);
        let role = self.role_mention(content, &lower);
        let question = content.contains('?');
        if user {
            importance += USER_MENTION_WEIGHT;
            signals.push("mentions you".to_owned());
        }
        if role {
            importance += ROLE_MENTION_WEIGHT;
            signals.push("mentions your role".to_owned());
        }
        if question {
            importance += QUESTION_WEIGHT;
        }
        let heaviest = matched
            .iter()
            .filter(|weighted| weighted.category.is_some() && weighted.weight > 0.0)
            .max_by(|a, b| a.weight.total_cmp(&b.weight));
        let category = if question && (user || role) {
            Category::Question
        } else {
            heaviest
                .and_then(|weighted| weighted.category)
                .unwrap_or(if question {
                    Category::Question
                } else {
                    Category::Chatter
                })
        };
        // In range after the clamp.
        let importance = importance.round().clamp(1.0, 10.0) as u8;
        signals.extend(matched.iter().map(|weighted| weighted.label.clone()));
        let reason = match (why.is_empty(), signals.is_empty()) {
            (true, true) => "rules: no signal".to_owned(),
            (true, false) => format!("rules: {}", signals.join(", ")),
            (false, true) => format!("rules: {why}"),
            (false, false) => format!("rules: {why}; {}", signals.join(", ")),
        };
        Score {
            importance,
            urgency: Urgency::from_importance(importance),
            category,
            needs_attention: user || importance >= self.attention_importance,
            reason: one_line(&reason),
        }
    }
}

/// All-digit entries are ids; the rest names, lowercase and without a leading `@`.
fn split_ids(entries: &[String]) -> (Vec<String>, Vec<String>) {
    let (ids, names): (Vec<&String>, Vec<&String>) = entries
        .iter()
        .filter(|entry| !entry.trim().is_empty())
        .partition(|entry| entry.trim().chars().all(|c| c.is_ascii_digit()));
    (
        ids.into_iter().map(|id| id.trim().to_owned()).collect(),
        names
            .into_iter()
            .map(|name| name.trim().trim_start_matches('@').to_lowercase())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

/// Whether `word` (lowercase, maybe several words) occurs in `haystack` (lowercase) as a
/// whole: `down` is in "the site is down!" but not in "download".
pub fn contains_word(haystack: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = haystack[from..].find(word) {
        let start = from + found;
        let end = start + word.len();
        let before_ok = haystack[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        let after_ok = haystack[end..]
            .chars()
            .next()
            .is_none_or(|c| !is_word_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actors::db::BacklogReason;
    use crate::actors::processing::triage::config::RegexRule;

    pub(crate) fn item(content: &str) -> BacklogItem {
        BacklogItem {
            message_id: 1_250_000_000_000_000_001,
            channel_id: 1_250_000_000_000_000_000,
            guild_id: None,
            channel_name: "ops".to_owned(),
            author_id: 42,
            author_name: "bob".to_owned(),
            author_is_bot: false,
            content: content.to_owned(),
            created_at_ms: 1_700_000_000_000,
            kind: 0,
            deleted: false,
            has_attachments: false,
            reply_to_message_id: None,
            reason: BacklogReason::New,
        }
    }

    fn engine() -> RuleEngine {
        RuleEngine::new(&TriageConfig {
            user_names: vec!["Maria".to_owned(), "123456789".to_owned()],
            roles: vec!["@oncall".to_owned(), "555".to_owned()],
            regexes: vec![RegexRule {
                pattern: r"(?i)\bsev[ -]?1\b".to_owned(),
                weight: 5.0,
                category: Some(Category::Incident),
            }],
            ..TriageConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn words_match_whole() {
        assert!(contains_word("the site is down!", "down"));
        assert!(!contains_word("download it", "down"));
        assert!(contains_word("join the group buy now", "group buy"));
        assert!(contains_word("préférence down", "down"));
        assert!(!contains_word("", "down"));
    }

    #[test]
    fn chatter_stays_low_and_incidents_rise() {
        let engine = engine();
        let chatter = engine.score(&item("nice weather today"), "");
        assert_eq!(chatter.importance, 2);
        assert_eq!(chatter.category, Category::Chatter);
        assert!(!chatter.needs_attention);
        assert_eq!(chatter.reason, "rules: no signal");

        let outage = engine.score(&item("Outage: the API is down, rollback started"), "");
        assert_eq!(outage.importance, 10, "2 + 5 + 2 + 3, clamped");
        assert_eq!(outage.category, Category::Incident);
        assert_eq!(outage.urgency, Urgency::High);
        assert!(outage.needs_attention);
        assert!(outage.reason.contains("outage"), "{}", outage.reason);

        let pattern = engine.score(&item("this is a SEV 1"), "");
        assert_eq!(pattern.category, Category::Incident);
        assert_eq!(pattern.importance, 7);
    }

    #[test]
    fn mentions_of_the_user_and_roles_matter() {
        let engine = engine();
        let asked = engine.score(&item("@maria can you review this?"), "");
        assert_eq!(asked.category, Category::Question);
        assert_eq!(asked.importance, 7);
        assert!(asked.needs_attention);
        assert!(asked.reason.contains("mentions you"));
        assert!(engine.mentions_user("ping <@123456789>"));
        assert!(engine.mentions_user("ping <@!123456789>"));
        assert!(engine.mentions_user("<@&555> please look"));
        assert!(engine.mentions_user("paging ONCALL"));
        assert!(!engine.mentions_user("mariachi band"));
    }

    #[test]
    fn negative_weights_lower_and_the_floor_is_one() {
        let engine = RuleEngine::new(&TriageConfig {
            keywords: vec![crate::actors::processing::triage::config::KeywordRule {
                word: "lunch".to_owned(),
                weight: -5.0,
                category: None,
            }],
            ..TriageConfig::default()
        })
        .unwrap();
        assert_eq!(engine.score(&item("lunch?"), "").importance, 1);
    }
}
