//! Small checks and hints that several sections' validators share.

use super::env::EnvOverride;

/// `http://` or `https://` (any case) followed by something.
pub fn is_http_url(url: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// The hint for a required key: the file, or the variable among `overrides` that sets it.
pub fn how_to_set(key: &str, overrides: &[EnvOverride]) -> String {
    match overrides.iter().find(|entry| entry.key == key) {
        Some(entry) => format!(
            "set `{key}` in the config file or the environment variable {}",
            entry.var
        ),
        None => format!("set `{key}` in the config file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_scheme() {
        assert!(is_http_url("https://hooks.slack.com/services/x"));
        assert!(is_http_url("HTTP://internal/hook"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("hooks.slack.com/services/x"));
    }
}
