//! JSON with comments: `config sample` writes `//` comments, so the loader must read them back.
//! Comments and trailing commas are blanked out with spaces (newlines kept), so the line and
//! column of any syntax error still point into the file as written.

/// `text` with `//` and `/* */` comments outside strings, a leading byte-order mark and commas
/// directly before `}` or `]` replaced by spaces.
pub fn strip_comments(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    // Index in `out` of a comma that a following `}`/`]` would make trailing.
    let mut pending_comma: Option<usize> = None;

    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                out.push(' ');
                while let Some(&next) = chars.peek() {
                    if next == '\n' {
                        break;
                    }
                    chars.next();
                    out.push(blank(next));
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str("  ");
                let mut previous = ' ';
                for next in chars.by_ref() {
                    out.push(blank(next));
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            '}' | ']' => {
                if let Some(index) = pending_comma.take() {
                    out.replace_range(index..index + 1, " ");
                }
                out.push(c);
            }
            ',' => {
                pending_comma = Some(out.len());
                out.push(c);
            }
            _ => {
                if !c.is_whitespace() {
                    pending_comma = None;
                }
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
            }
        }
    }
    out
}

/// Keeps line breaks so line numbers survive; every other char becomes one space so columns
/// (which serde_json counts in chars) survive too.
fn blank(c: char) -> char {
    if c == '\n' || c == '\r' { c } else { ' ' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(&strip_comments(text)).unwrap()
    }

    #[test]
    fn line_and_block_comments_are_ignored() {
        let value = parse(
            "// header\n{\n  /* block\n  spanning lines */ \"a\": 1, // trailing\n  \"b\": /* inline */ 2\n}\n",
        );
        assert_eq!(value, serde_json::json!({"a": 1, "b": 2}));
    }

    #[test]
    fn comment_markers_inside_strings_are_kept() {
        let value = parse(r#"{"url": "https://example.org/a/*b*/", "q": "say \"//hi\""}"#);
        assert_eq!(value["url"], "https://example.org/a/*b*/");
        assert_eq!(value["q"], "say \"//hi\"");
    }

    #[test]
    fn trailing_commas_are_accepted() {
        let value = parse("{\"a\": [1, 2,], \"b\": {\"c\": 3, // note\n},}");
        assert_eq!(value, serde_json::json!({"a": [1, 2], "b": {"c": 3}}));
    }

    #[test]
    fn error_positions_match_the_original_text() {
        let text = "{\n  // comment\n  \"a\": 1\n  \"b\": 2\n}";
        let err = serde_json::from_str::<serde_json::Value>(&strip_comments(text)).unwrap_err();
        assert_eq!((err.line(), err.column()), (4, 3));
    }
}
