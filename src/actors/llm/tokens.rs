//! Token estimates before a call (for the budget check and for truncation to the context
//! window) and truncation that keeps the newest content.
//!
//! # Accuracy
//! The estimate counts characters by script: ASCII at 4 per token (the usual figure for
//! English under both GPT's o200k and Gemini's SentencePiece vocabularies), whitespace runs
//! free, CJK / kana / Hangul at about 1 token per character, other non-ASCII letters (Cyrillic,
//! accented Latin, emoji) at 2 per token, and a per-message overhead. It then adds
//! [`SAFETY_MARGIN`]. The 15% target of the issue has **not** been measured against the real
//! tokenizers here (no tokenizer files or network were available in this session); the
//! router books the provider's real counts after each call, so the estimate only decides the
//! budget pre-check and truncation, and errs high on purpose. `llm check` prints estimate and
//! real count side by side, which is how to check it against a live provider.

use super::config::ProviderKind;

/// Fraction added to every estimate so the budget check and truncation err on the safe side.
pub const SAFETY_MARGIN: f64 = 0.10;
/// Tokens of chat framing per message (role markers, separators).
const MESSAGE_OVERHEAD_TOKENS: u64 = 4;

/// Which tokenizer a provider's models use, roughly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerFamily {
    /// Gemini's SentencePiece vocabulary: slightly more compact on non-English text.
    Gemini,
    /// GPT-style byte-pair vocabularies, and the local models served through the OpenAI format.
    Gpt,
}

impl From<ProviderKind> for TokenizerFamily {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Gemini => TokenizerFamily::Gemini,
            _ => TokenizerFamily::Gpt,
        }
    }
}

/// Estimated tokens of `text`, margin included.
pub fn estimate(text: &str, family: TokenizerFamily) -> u64 {
    let (mut ascii, mut wide, mut other) = (0u64, 0u64, 0u64);
    let mut previous_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            // A run of whitespace folds into the next word's token.
            if !previous_space {
                ascii += 1;
            }
            previous_space = true;
            continue;
        }
        previous_space = false;
        if ch.is_ascii() {
            ascii += 1;
        } else if is_wide_script(ch) {
            wide += 1;
        } else {
            other += 1;
        }
    }
    let other_per_token = match family {
        TokenizerFamily::Gemini => 2.5,
        TokenizerFamily::Gpt => 2.0,
    };
    let raw = ascii as f64 / 4.0 + wide as f64 + other as f64 / other_per_token;
    (raw * (1.0 + SAFETY_MARGIN)).ceil() as u64 + MESSAGE_OVERHEAD_TOKENS
}

fn is_wide_script(ch: char) -> bool {
    matches!(ch as u32,
        0x3040..=0x30FF // kana
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF // CJK ideographs
        | 0xAC00..=0xD7AF // Hangul
    )
}

/// The parts that fit `budget_tokens` together with `system`, newest kept: drops the oldest
/// parts, and cuts the oldest kept part from its start when even the newest alone is too long.
/// Returns the prompt and whether anything was dropped.
pub fn fit_newest(
    system: &str,
    parts: &[String],
    budget_tokens: u64,
    family: TokenizerFamily,
) -> (String, bool) {
    let mut left = budget_tokens.saturating_sub(estimate(system, family));
    let mut kept: Vec<&str> = Vec::new();
    let mut cut_part = None;
    for part in parts.iter().rev() {
        let cost = estimate(part, family);
        if cost <= left {
            left -= cost;
            kept.push(part);
            continue;
        }
        // Keep the tail of this part that fits: newest lines are at its end.
        let chars: Vec<char> = part.chars().collect();
        let (mut low, mut high) = (0usize, chars.len());
        while low < high {
            let mid = (low + high) / 2;
            let tail: String = chars[mid..].iter().collect();
            if estimate(&tail, family) <= left {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        if low < chars.len() {
            cut_part = Some(chars[low..].iter().collect::<String>());
        }
        break;
    }
    let truncated =
        kept.len() + usize::from(cut_part.is_some()) < parts.len() || cut_part.is_some();
    let mut pieces: Vec<&str> = Vec::new();
    if let Some(cut) = &cut_part {
        pieces.push(cut);
    }
    pieces.extend(kept.iter().rev());
    (pieces.join("\n"), truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_about_four_characters_per_token() {
        let text = "The deployment failed again because the database migration timed out.";
        let tokens = estimate(text, TokenizerFamily::Gpt);
        // 71 characters, 10 words: the 4-characters rule says about 18, margin included.
        assert!((13..=30).contains(&tokens), "{tokens}");
    }

    #[test]
    fn cjk_counts_per_character() {
        let tokens = estimate("今日は会議があります", TokenizerFamily::Gpt);
        assert!(tokens >= 10, "{tokens}");
    }

    #[test]
    fn truncation_keeps_the_newest_parts() {
        let parts: Vec<String> = (0..50)
            .map(|i| format!("message number {i} says hello"))
            .collect();
        let (prompt, truncated) = fit_newest("sys", &parts, 100, TokenizerFamily::Gpt);
        assert!(truncated);
        assert!(prompt.ends_with("message number 49 says hello"), "{prompt}");
        assert!(!prompt.contains("message number 0 "), "{prompt}");
        let (all, truncated) = fit_newest("sys", &parts[..2], 10_000, TokenizerFamily::Gpt);
        assert!(!truncated);
        assert_eq!(all, format!("{}\n{}", parts[0], parts[1]));
    }
}
