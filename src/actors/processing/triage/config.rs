//! `triage` section: who the user is (names, ids, roles whose mention matters), which
//! messages are not worth a model call, and the rule engine's keywords and patterns.

use serde::{Deserialize, Serialize};

use super::verdict::Category;
use crate::config::{
    Allowed, EnvOverride, KeyDoc, ObjectList, Problems, Section, SectionDoc, ValueKind,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TriageConfig {
    /// The user's names and handles (a mention of one raises a message's importance); an
    /// all-digit entry is a Discord user id, matched as a `<@id>` mention. Env
    /// `TRIAGE_USER_NAMES`.
    pub user_names: Vec<String>,
    /// The user's roles, by name (`@oncall`) or id (matched as `<@&id>`). Env `TRIAGE_ROLES`.
    pub roles: Vec<String>,
    /// Words or phrases the rule engine weighs, matched as whole words, any case.
    pub keywords: Vec<KeywordRule>,
    /// Whether the rule engine also weighs [`builtin_keywords`] (English words of incidents,
    /// deadlines, decisions, group buys, announcements); `keywords` entries come first.
    pub builtin_keywords: bool,
    /// Patterns (Rust regex syntax) the rule engine weighs.
    pub regexes: Vec<RegexRule>,
    /// Whether bot messages go to the model; otherwise the rule engine scores them.
    pub score_bots: bool,
    /// Messages shorter than this (characters) with no question mark, mention or keyword are
    /// scored by the rule engine without a call.
    pub min_llm_chars: usize,
    /// Importance from which a rule-scored message needs the user's attention.
    pub attention_importance: u8,
}

/// One weighted keyword of the rule engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeywordRule {
    pub word: String,
    /// Added to the importance when the word occurs (negative lowers it).
    pub weight: f64,
    /// The category a match suggests; the heaviest match's wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

/// One weighted pattern of the rule engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegexRule {
    pub pattern: String,
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self {
            user_names: Vec::new(),
            roles: Vec::new(),
            keywords: Vec::new(),
            builtin_keywords: default_builtin_keywords(),
            regexes: Vec::new(),
            score_bots: false,
            min_llm_chars: default_min_llm_chars(),
            attention_importance: default_attention_importance(),
        }
    }
}

impl TriageConfig {
    /// `keywords`, then the built-in ones when `builtin_keywords` (a configured word wins
    /// over a built-in one of the same spelling).
    pub fn effective_keywords(&self) -> Vec<KeywordRule> {
        let mut keywords = self.keywords.clone();
        if self.builtin_keywords {
            for builtin in builtin_keywords() {
                let known = keywords
                    .iter()
                    .any(|rule| rule.word.trim().eq_ignore_ascii_case(&builtin.word));
                if !known {
                    keywords.push(builtin);
                }
            }
        }
        keywords
    }
}

const KEYWORD_KEYS: &[&str] = &["word", "weight", "category"];
const REGEX_KEYS: &[&str] = &["pattern", "weight", "category"];

impl Section for TriageConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: &[
            KeyDoc::new(
                "triage",
                "Importance triage: the user, and the rule engine that scores messages when \
                 no model is called.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.user_names",
                "The user's names and handles; a mention raises importance. An all-digit \
                 entry is a Discord user id (`<@id>`).",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.roles",
                "The user's roles by name or id (`<@&id>`); a mention raises importance.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.keywords",
                "Weighted words of the rule engine: [{`word`, `weight` (added to the \
                 importance), `category` (optional: question, decision, event, purchase, \
                 announcement, incident, chatter)}], matched as whole words in any case.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.builtin_keywords",
                "Also weigh the built-in English keywords (outage 5, incident 4, failed 3, \
                 deadline 4, meeting 2, decided 3, group buy 4, announcement 3, ...); an entry \
                 of `keywords` with the same word replaces one.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.regexes",
                "Weighted patterns of the rule engine: [{`pattern` (Rust regex syntax), \
                 `weight`, `category` (optional)}].",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.score_bots",
                "Send bot messages to the model too; otherwise rules score them.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "triage.min_llm_chars",
                "Characters below which a message without a question, mention or keyword is \
                 scored by rules, without a call.",
                Allowed::range(0.0, 2_000.0),
            ),
            KeyDoc::new(
                "triage.attention_importance",
                "Importance from which a rule-scored message needs the user's attention.",
                Allowed::range(1.0, 10.0),
            ),
        ],
        env_overrides: &[
            EnvOverride::new("TRIAGE_USER_NAMES", "triage.user_names", ValueKind::List),
            EnvOverride::new("TRIAGE_ROLES", "triage.roles", ValueKind::List),
        ],
        lists: &[
            ObjectList {
                key: "triage.keywords",
                entry_keys: KEYWORD_KEYS,
                secret_keys: &[],
            },
            ObjectList {
                key: "triage.regexes",
                entry_keys: REGEX_KEYS,
                secret_keys: &[],
            },
        ],
    };

    fn check_not_empty(&self, problems: &mut Problems) {
        for (key, values) in [
            ("triage.user_names", &self.user_names),
            ("triage.roles", &self.roles),
        ] {
            for (index, value) in values.iter().enumerate() {
                if value.trim().trim_start_matches('@').is_empty() {
                    problems.report(&format!("{key}[{index}]"), "must not be empty", None);
                }
            }
        }
        for (index, keyword) in self.keywords.iter().enumerate() {
            if keyword.word.trim().is_empty() {
                problems.report(
                    &format!("triage.keywords[{index}].word"),
                    "must not be empty",
                    None,
                );
            }
        }
    }

    /// Weights must be numbers a score can add, and every pattern must compile.
    fn validate(&self, problems: &mut Problems) {
        let weights =
            self.keywords
                .iter()
                .enumerate()
                .map(|(index, rule)| (format!("triage.keywords[{index}].weight"), rule.weight))
                .chain(
                    self.regexes.iter().enumerate().map(|(index, rule)| {
                        (format!("triage.regexes[{index}].weight"), rule.weight)
                    }),
                );
        for (key, weight) in weights {
            if !(weight.is_finite() && (-10.0..=10.0).contains(&weight)) {
                problems.report(
                    &key,
                    format!("{weight} is out of range"),
                    Some("allowed: -10 to 10".to_owned()),
                );
            }
        }
        for (index, rule) in self.regexes.iter().enumerate() {
            if let Err(err) = regex_lite::Regex::new(&rule.pattern) {
                problems.report(
                    &format!("triage.regexes[{index}].pattern"),
                    format!("not a valid pattern: {err}"),
                    Some("Rust regex syntax, e.g. (?i)\\bdeploy(ed)?\\b".to_owned()),
                );
            }
        }
    }
}

/// Characters: "ok", "lol", "thanks!" and their kind say nothing a model needs to read.
pub const fn default_min_llm_chars() -> usize {
    12
}

/// Out of 10: "look at it soon" starts where incidents, deadlines and direct questions land.
pub const fn default_attention_importance() -> u8 {
    7
}

pub const fn default_builtin_keywords() -> bool {
    true
}

/// What the rule engine weighs out of the box: the words of incidents, deadlines, decisions,
/// group buys and announcements, in English.
pub fn builtin_keywords() -> Vec<KeywordRule> {
    let rule = |word: &str, weight: f64, category: Category| KeywordRule {
        word: word.to_owned(),
        weight,
        category: Some(category),
    };
    vec![
        rule("outage", 5.0, Category::Incident),
        rule("incident", 4.0, Category::Incident),
        rule("down", 2.0, Category::Incident),
        rule("failed", 3.0, Category::Incident),
        rule("broken", 3.0, Category::Incident),
        rule("rollback", 3.0, Category::Incident),
        rule("urgent", 4.0, Category::Incident),
        rule("asap", 3.0, Category::Incident),
        rule("deadline", 4.0, Category::Event),
        rule("due", 2.0, Category::Event),
        rule("tomorrow", 1.0, Category::Event),
        rule("meeting", 2.0, Category::Event),
        rule("decided", 3.0, Category::Decision),
        rule("decision", 3.0, Category::Decision),
        rule("vote", 2.0, Category::Decision),
        rule("group buy", 4.0, Category::Purchase),
        rule("preorder", 3.0, Category::Purchase),
        rule("announcement", 3.0, Category::Announcement),
        rule("released", 2.0, Category::Announcement),
        rule("release", 1.0, Category::Announcement),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_patterns_are_checked() {
        let config = TriageConfig {
            keywords: vec![KeywordRule {
                word: "x".to_owned(),
                weight: 50.0,
                category: None,
            }],
            regexes: vec![RegexRule {
                pattern: "(unclosed".to_owned(),
                weight: 1.0,
                category: None,
            }],
            ..TriageConfig::default()
        };
        let mut problems = Problems::new(serde_json::Value::Null, std::path::Path::new("c"));
        config.validate(&mut problems);
        assert!(problems.is_reported("triage.keywords[0].weight"));
        assert!(problems.is_reported("triage.regexes[0].pattern"));
        assert_eq!(problems.into_vec().len(), 2);
    }
}
