//! The search language people type, turned into an FTS5 `MATCH` expression that FTS5 always
//! accepts, and the times that bound a search.
//!
//! A query holds:
//! - words, every one of which must match (`deploy failed`). A word matches the way the index
//!   splits text: case and diacritics do not matter, and `e-mail` is the phrase `e mail`;
//! - `"quoted phrases"`: those words next to each other, in that order;
//! - `prefix*` and `"a phrase ending in a prefi"*`: the last word as a prefix;
//! - `OR` between two words or phrases: either one. It binds tighter than the words' AND, so
//!   `deploy OR release failed` is `(deploy OR release) AND failed`;
//! - `-word`, `-"a phrase"` or `NOT word`: no match contains it;
//! - `AND`, which changes nothing.
//!
//! `OR`, `AND` and `NOT` are operators only in capitals. Everything else is text: FTS5's own
//! syntax (`NEAR(`, `content:`, `^`, `+`, parentheses) has no effect, because every word and
//! phrase reaches FTS5 as a quoted string. A word with no letter or digit (punctuation, emoji)
//! is not in the index and is left out of the search.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use thiserror::Error;

use super::error::InvalidInput;

/// Longest query, in characters: far above what anyone types, low enough that one request
/// cannot make FTS5 parse and run an expression of thousands of terms.
pub const MAX_QUERY_CHARS: usize = 512;

/// Most words and phrases in one query; each one is a separate lookup in the index.
pub const MAX_QUERY_TERMS: usize = 32;

/// A query FTS5 would not understand, or that cannot be answered, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchSyntax {
    #[error("a quote is not closed")]
    UnbalancedQuote,

    #[error("OR is missing a word on one side")]
    DanglingOr,

    #[error("NOT is missing the word it excludes")]
    DanglingNot,

    #[error("an excluded word cannot be one side of OR")]
    ExclusionInOr,

    #[error("it only excludes words")]
    OnlyExclusions,

    #[error("it is {got} characters long, more than {max}")]
    TooLong { got: usize, max: usize },

    #[error("it has {got} words and phrases, more than {max}")]
    TooManyTerms { got: usize, max: usize },

    /// SQLite's full-text engine refused the translated expression. The translation is built
    /// never to produce one; this keeps a gap in it a 400 for the caller, not a server error.
    #[error("the full-text index refused it ({reason})")]
    Refused { reason: String },
}

impl SearchSyntax {
    /// What to change for the query to be accepted.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::UnbalancedQuote => {
                "close the phrase with a second \", or remove the quote to search the words \
                 on their own"
            }
            Self::DanglingOr => "put OR between two words or phrases, as in: deploy OR release",
            Self::DanglingNot => "put the word to exclude after NOT, or write it as -word",
            Self::ExclusionInOr => {
                "-word and NOT exclude from the whole search; write them outside the OR, as \
                 in: deploy OR release -staging"
            }
            Self::OnlyExclusions => {
                "add a word to look for; -word only removes matches, as in: deploy -staging"
            }
            Self::TooLong { .. } => "shorten the search",
            Self::TooManyTerms { .. } => "search for fewer words and phrases",
            Self::Refused { .. } => {
                "search for plain words, \"a phrase\", prefix*, a OR b, or -word"
            }
        }
    }
}

/// Turns what a person typed into an FTS5 `MATCH` expression (see the module documentation
/// for the language). The answer is built only from quoted strings, `*`, `AND`, `OR`, `NOT`
/// and parentheses, so FTS5 accepts it whatever the input held.
pub(super) fn match_expression(text: &str) -> Result<String, InvalidInput> {
    let text = text.trim();
    let length = text.chars().count();
    if length > MAX_QUERY_CHARS {
        return Err(SearchSyntax::TooLong {
            got: length,
            max: MAX_QUERY_CHARS,
        }
        .into());
    }
    let query = Query::parse(lex(text)?)?;
    let terms = query.groups.iter().map(Vec::len).sum::<usize>() + query.excluded.len();
    if terms > MAX_QUERY_TERMS {
        return Err(SearchSyntax::TooManyTerms {
            got: terms,
            max: MAX_QUERY_TERMS,
        }
        .into());
    }
    Ok(query.render())
}

/// A word or phrase to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    text: String,
    /// The last word is matched as a prefix.
    prefix: bool,
}

impl Term {
    /// Words without a letter or digit are not in the index: as a phrase they would match
    /// nothing, and so make every search that requires them empty. (The index's tokenizer
    /// and Rust disagree on what a letter is only at the edges, such as a lone combining
    /// mark; such a word is kept and matches nothing.)
    fn is_indexed(&self) -> bool {
        self.text.chars().any(char::is_alphanumeric)
    }

    /// An FTS5 string (quotes doubled inside), so nothing in it is an operator.
    fn render(&self) -> String {
        let quoted = format!("\"{}\"", self.text.replace('"', "\"\""));
        if self.prefix { quoted + "*" } else { quoted }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Term { term: Term, excluded: bool },
    Or,
    And,
    Not,
}

/// Splits the text into words, phrases and operators. Control characters (a NUL included)
/// separate words like spaces do.
fn lex(text: &str) -> Result<Vec<Token>, SearchSyntax> {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        if chars[at].is_whitespace() {
            at += 1;
            continue;
        }
        // A `-` right before a word or phrase excludes it; a lone `-` is punctuation.
        let excluded = chars[at] == '-' && chars.get(at + 1).is_some_and(|c| !c.is_whitespace());
        if excluded {
            at += 1;
        }
        if chars[at] == '"' {
            let start = at + 1;
            let length = chars[start..]
                .iter()
                .position(|&c| c == '"')
                .ok_or(SearchSyntax::UnbalancedQuote)?;
            at = start + length + 1;
            let prefix = chars.get(at) == Some(&'*');
            while chars.get(at) == Some(&'*') {
                at += 1;
            }
            let text = chars[start..start + length].iter().collect();
            tokens.push(Token::Term {
                term: Term { text, prefix },
                excluded,
            });
            continue;
        }
        let start = at;
        while at < chars.len() && !chars[at].is_whitespace() && chars[at] != '"' {
            at += 1;
        }
        let word: String = chars[start..at].iter().collect();
        tokens.push(match (excluded, word.as_str()) {
            (false, "OR") => Token::Or,
            (false, "AND") => Token::And,
            (false, "NOT") => Token::Not,
            _ => {
                let stem = word.trim_end_matches('*');
                Token::Term {
                    term: Term {
                        text: stem.to_owned(),
                        prefix: stem.len() < word.len(),
                    },
                    excluded,
                }
            }
        })
    }
    Ok(tokens)
}

/// What was read last, which decides what may come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    Wanted,
    Excluded,
    Or,
    Not,
}

/// A parsed query: every group must match (one of its terms), no excluded term may.
#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    groups: Vec<Vec<Term>>,
    excluded: Vec<Term>,
}

impl Query {
    fn parse(tokens: Vec<Token>) -> Result<Self, InvalidInput> {
        let mut query = Query::default();
        let mut last = Last::Start;
        for token in tokens {
            last = match token {
                Token::Term { term, excluded } if excluded || last == Last::Not => {
                    if last == Last::Or {
                        return Err(SearchSyntax::ExclusionInOr.into());
                    }
                    if term.is_indexed() {
                        query.excluded.push(term);
                    }
                    Last::Excluded
                }
                Token::Term { term, .. } => {
                    // An unindexed word still takes its place, so that `a OR 🎉` is `a`.
                    let indexed = term.is_indexed().then_some(term);
                    match (last, query.groups.last_mut()) {
                        (Last::Or, Some(group)) => group.extend(indexed),
                        _ => query.groups.push(indexed.into_iter().collect()),
                    }
                    Last::Wanted
                }
                Token::Or => match last {
                    Last::Wanted => Last::Or,
                    Last::Excluded | Last::Not => return Err(SearchSyntax::ExclusionInOr.into()),
                    Last::Start | Last::Or => return Err(SearchSyntax::DanglingOr.into()),
                },
                Token::And => match last {
                    Last::Or => return Err(SearchSyntax::DanglingOr.into()),
                    Last::Not => return Err(SearchSyntax::DanglingNot.into()),
                    other => other,
                },
                Token::Not => match last {
                    Last::Or => return Err(SearchSyntax::ExclusionInOr.into()),
                    Last::Not => return Err(SearchSyntax::DanglingNot.into()),
                    _ => Last::Not,
                },
            };
        }
        match last {
            Last::Or => return Err(SearchSyntax::DanglingOr.into()),
            Last::Not => return Err(SearchSyntax::DanglingNot.into()),
            _ => {}
        }
        query.groups.retain(|group| !group.is_empty());
        if query.groups.is_empty() {
            return Err(if query.excluded.is_empty() {
                InvalidInput::EmptySearch
            } else {
                SearchSyntax::OnlyExclusions.into()
            });
        }
        Ok(query)
    }

    /// Parenthesized wherever two operators meet, so FTS5's own precedence plays no part.
    fn render(&self) -> String {
        let any_of = |terms: &[Term]| {
            let rendered: Vec<String> = terms.iter().map(Term::render).collect();
            match rendered.as_slice() {
                [one] => one.clone(),
                _ => format!("({})", rendered.join(" OR ")),
            }
        };
        let wanted: Vec<String> = self.groups.iter().map(|group| any_of(group)).collect();
        match (wanted.as_slice(), self.excluded.is_empty()) {
            (_, true) => wanted.join(" AND "),
            ([one], false) => format!("{one} NOT {}", any_of(&self.excluded)),
            (_, false) => format!("({}) NOT {}", wanted.join(" AND "), any_of(&self.excluded)),
        }
    }
}

/// Reads a time bound given as RFC 3339 (`2026-01-31T18:00:00Z`, any offset), a date
/// (`2026-01-31`, midnight UTC) or Unix milliseconds; answers Unix milliseconds.
pub fn parse_time(field: &'static str, value: &str) -> Result<i64, InvalidInput> {
    let text = value.trim();
    let invalid = || InvalidInput::InvalidTime {
        field,
        value: value.to_owned(),
    };
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let ms: i64 = text.parse().map_err(|_| invalid())?;
        return DateTime::from_timestamp_millis(ms)
            .map(|_| ms)
            .ok_or_else(invalid);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc().timestamp_millis())
        .ok_or_else(invalid)
}

/// Unix milliseconds as RFC 3339 in UTC, for messages; the number itself when out of range.
pub(super) fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(text: &str) -> String {
        match_expression(text).unwrap_or_else(|err| panic!("{text:?}: {err}"))
    }

    fn refused(text: &str) -> InvalidInput {
        match_expression(text).expect_err(text)
    }

    #[test]
    fn words_phrases_and_prefixes_become_quoted_strings() {
        assert_eq!(translated("deploy"), r#""deploy""#);
        assert_eq!(translated("  deploy   failed "), r#""deploy" AND "failed""#);
        assert_eq!(
            translated(r#""deploy failed" staging"#),
            r#""deploy failed" AND "staging""#
        );
        assert_eq!(translated("depl*"), r#""depl"*"#);
        assert_eq!(translated("depl***"), r#""depl"*"#);
        assert_eq!(translated(r#""deploy fai"*"#), r#""deploy fai"*"#);
        // Operators only in capitals; `AND` changes nothing.
        assert_eq!(translated("this or that"), r#""this" AND "or" AND "that""#);
        assert_eq!(translated("a AND b"), r#""a" AND "b""#);
        // A quote inside a word ends it and opens a phrase.
        assert_eq!(
            translated(r#"say"hello there""#),
            r#""say" AND "hello there""#
        );
    }

    #[test]
    fn or_binds_tighter_than_the_words_and() {
        assert_eq!(
            translated("deploy OR release failed"),
            r#"("deploy" OR "release") AND "failed""#
        );
        assert_eq!(
            translated(r#"a OR "b c" OR d* e"#),
            r#"("a" OR "b c" OR "d"*) AND "e""#
        );
    }

    #[test]
    fn exclusions_apply_to_the_whole_search() {
        assert_eq!(translated("deploy -staging"), r#""deploy" NOT "staging""#);
        assert_eq!(
            translated(r#"a OR b -c NOT "d e" -f*"#),
            r#"("a" OR "b") NOT ("c" OR "d e" OR "f"*)"#
        );
        assert_eq!(translated("a b -c"), r#"("a" AND "b") NOT "c""#);
        // A dash inside a word, or a lone one, is punctuation.
        assert_eq!(translated("e-mail - x"), r#""e-mail" AND "x""#);
        assert_eq!(translated("--x y"), r#""y" NOT "-x""#);
    }

    #[test]
    fn fts5_syntax_in_the_input_is_only_text() {
        assert_eq!(
            translated("NEAR(a b) content:secret ^start +x (y)"),
            r#""NEAR(a" AND "b)" AND "content:secret" AND "^start" AND "+x" AND "(y)""#
        );
        assert_eq!(translated(r#"a""b"#), r#""a" AND "b""#);
        assert_eq!(translated("it's"), r#""it's""#);
        assert_eq!(translated("a\0b\tc"), r#""a" AND "b" AND "c""#);
    }

    #[test]
    fn words_with_nothing_indexed_are_left_out() {
        assert_eq!(translated("deploy 🎉 !!"), r#""deploy""#);
        assert_eq!(translated("🎉 OR deploy"), r#""deploy""#);
        assert_eq!(translated("deploy OR 🎉 -🎉"), r#""deploy""#);
        assert_eq!(
            translated("déjà vu 日本語"),
            r#""déjà" AND "vu" AND "日本語""#
        );
        assert_eq!(translated("party🎉"), r#""party🎉""#);
        for nothing in ["", "   ", "🎉", "-", "*", "\"\"", "-🎉", "?!", "\" \""] {
            assert_eq!(refused(nothing), InvalidInput::EmptySearch, "{nothing:?}");
        }
    }

    #[test]
    fn syntax_errors_name_the_problem_and_a_hint() {
        let cases = [
            (r#""unclosed phrase"#, SearchSyntax::UnbalancedQuote),
            (r#"a "b" "c"#, SearchSyntax::UnbalancedQuote),
            ("OR deploy", SearchSyntax::DanglingOr),
            ("deploy OR", SearchSyntax::DanglingOr),
            ("a OR OR b", SearchSyntax::DanglingOr),
            ("a OR AND b", SearchSyntax::DanglingOr),
            ("deploy NOT", SearchSyntax::DanglingNot),
            ("a NOT NOT b", SearchSyntax::DanglingNot),
            ("a OR -b", SearchSyntax::ExclusionInOr),
            ("-a OR b", SearchSyntax::ExclusionInOr),
            ("a OR NOT b", SearchSyntax::ExclusionInOr),
            ("-staging", SearchSyntax::OnlyExclusions),
            ("NOT staging -prod", SearchSyntax::OnlyExclusions),
        ];
        for (text, expected) in cases {
            let err = refused(text);
            assert_eq!(err, InvalidInput::Search(expected.clone()), "{text:?}");
            let message = err.to_string();
            assert!(
                message.starts_with("invalid search query: ") && message.contains("(hint: "),
                "{message}"
            );
            assert_eq!(err.hint(), Some(expected.hint()));
        }
        assert!(InvalidInput::EmptySearch.hint().is_some());
    }

    #[test]
    fn long_queries_are_refused_before_parsing() {
        let longest = "a".repeat(MAX_QUERY_CHARS);
        assert_eq!(translated(&longest), format!("\"{longest}\""));
        assert_eq!(
            refused(&"é".repeat(MAX_QUERY_CHARS + 1)),
            InvalidInput::Search(SearchSyntax::TooLong {
                got: MAX_QUERY_CHARS + 1,
                max: MAX_QUERY_CHARS
            })
        );
        let words = |n: usize| vec!["w"; n].join(" ");
        translated(&words(MAX_QUERY_TERMS));
        assert_eq!(
            refused(&words(MAX_QUERY_TERMS + 1)),
            InvalidInput::Search(SearchSyntax::TooManyTerms {
                got: MAX_QUERY_TERMS + 1,
                max: MAX_QUERY_TERMS
            })
        );
    }

    #[test]
    fn times_are_rfc3339_dates_or_unix_milliseconds() {
        assert_eq!(parse_time("since", "1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("since", " 0 "), Ok(0));
        assert_eq!(
            parse_time("since", "2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("since", "2023-11-14T23:13:20.5+01:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_time("until", "2023-11-14"), Ok(1_699_920_000_000));
        for bad in [
            "",
            "yesterday",
            "-5",
            "1.5",
            "2023-11-14T22:13:20",
            "2023-13-01",
            "99999999999999999999",
            "9223372036854775807",
        ] {
            let err = parse_time("until", bad).expect_err(bad);
            assert_eq!(
                err,
                InvalidInput::InvalidTime {
                    field: "until",
                    value: bad.to_owned()
                }
            );
            assert!(err.to_string().starts_with("until must be"), "{err}");
        }
    }

    #[test]
    fn times_in_messages_are_rfc3339() {
        assert_eq!(rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_ms(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
        assert_eq!(rfc3339_ms(i64::MAX), format!("{} ms", i64::MAX));
    }
}
