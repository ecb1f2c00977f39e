//! Last line of defence against leaked credentials: every configured secret value is replaced
//! by `<redacted>` in a finished line, whatever field or message carried it.

use crate::config::{REDACTED, Secret};

/// Characters; shorter values would blank out ordinary words and numbers in every line.
const MIN_SECRET_CHARS: usize = 4;

#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Texts to replace, longest first so a secret that contains another is replaced whole.
    needles: Vec<String>,
}

impl Redactor {
    pub(crate) fn new(secrets: &[Secret]) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let value = secret.expose().trim();
            if value.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            needles.push(value.to_owned());
            // Inside a JSON string a quote, backslash or control character appears escaped.
            let escaped = serde_json::Value::from(value).to_string();
            let escaped = &escaped[1..escaped.len() - 1];
            if escaped != value {
                needles.push(escaped.to_owned());
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    pub(crate) fn redact(&self, mut line: String) -> String {
        for needle in &self.needles {
            if line.contains(needle.as_str()) {
                line = line.replace(needle.as_str(), REDACTED);
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_of_each_secret() {
        let redactor = Redactor::new(&[Secret::new("tok-123456"), Secret::new("sk-abcdef")]);
        assert_eq!(
            redactor.redact("a tok-123456 b sk-abcdef c tok-123456".to_owned()),
            "a <redacted> b <redacted> c <redacted>"
        );
    }

    #[test]
    fn ignores_empty_and_short_secrets() {
        let redactor = Redactor::new(&[Secret::new(""), Secret::new("   "), Secret::new("abc")]);
        assert_eq!(redactor.redact("abc def".to_owned()), "abc def");
    }

    #[test]
    fn longer_secret_is_replaced_before_its_prefix() {
        let redactor = Redactor::new(&[Secret::new("abcd"), Secret::new("abcdefgh")]);
        assert_eq!(redactor.redact("x abcdefgh y".to_owned()), "x <redacted> y");
    }

    #[test]
    fn finds_the_json_escaped_form() {
        let redactor = Redactor::new(&[Secret::new("pa\"ss\\word")]);
        let line = serde_json::json!({ "message": "pa\"ss\\word" }).to_string();
        assert_eq!(redactor.redact(line), r#"{"message":"<redacted>"}"#);
    }

    #[test]
    fn surrounding_whitespace_of_a_secret_does_not_matter() {
        let redactor = Redactor::new(&[Secret::new("  token-from-file\n")]);
        assert_eq!(
            redactor.redact("Bearer token-from-file".to_owned()),
            "Bearer <redacted>"
        );
    }
}
