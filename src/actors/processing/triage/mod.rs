//! Importance triage of one message: what the workers of the processing pipeline run.
//!
//! - [`prefilter`]: bots (unless `triage.score_bots`), system messages, empty, emoji-only and
//!   very short chatter never reach a model; the rule engine scores them (`prefilter`).
//! - [`rules`]: the rule engine (keyword weights, mentions of the user's names and roles,
//!   patterns), also the fallback when no model may be called (`rules`).
//! - [`prompt`]: the versioned prompt (`prompts/triage/v1.txt`, compiled in), the compact
//!   numbered lines and the answer's schema; [`reply`]: matching answer items back to
//!   messages by number and checking every field.
//! - [`config`]: the `triage` section.

pub mod config;
pub mod prefilter;
pub mod prompt;
pub mod reply;
pub mod rules;
pub mod verdict;

pub use config::TriageConfig;
pub use prefilter::Skip;
pub use prompt::{PROMPT_VERSION, PromptUser};
pub use rules::{BadPattern, RuleEngine};
pub use verdict::{Category, Method, Score, Urgency};

use crate::actors::db::BacklogItem;

/// The `triage` section compiled for use: the rule engine and the user as the prompt names
/// them. Cheap to share behind an `Arc`.
pub struct Triage {
    config: TriageConfig,
    rules: RuleEngine,
    user: PromptUser,
}

impl Triage {
    pub fn new(config: TriageConfig) -> Result<Self, BadPattern> {
        let rules = RuleEngine::new(&config)?;
        let user = PromptUser::new(&config.user_names, &config.roles);
        Ok(Self {
            config,
            rules,
            user,
        })
    }

    /// Why `item` is not worth a model call, or `None` when it is.
    pub fn skip(&self, item: &BacklogItem) -> Option<Skip> {
        prefilter::skip(item, &self.config, &self.rules)
    }

    /// The rule engine's score; `why` says why rules score it (a prefilter's reason, "no
    /// model"), empty for nothing to say.
    pub fn score_by_rules(&self, item: &BacklogItem, why: &str) -> Score {
        self.rules.score(item, why)
    }

    pub fn prompt_user(&self) -> &PromptUser {
        &self.user
    }
}
