//! What a key means and which values it allows. Each section lists its keys as [`KeyDoc`]s
//! (see [`super::Section`]); the list feeds range validation, the hints of problems, the
//! commented sample and the README table, so the four never disagree.

use std::fmt;

/// One key (or section) of the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyDoc {
    /// Dotted path, `database.connection_pool_size`; a section is its bare name.
    pub key: &'static str,
    /// Meaning, with the unit where there is one.
    pub doc: &'static str,
    pub allowed: Allowed,
}

impl KeyDoc {
    pub const fn new(key: &'static str, doc: &'static str, allowed: Allowed) -> Self {
        Self { key, doc, allowed }
    }
}

/// Which values a key accepts beyond its JSON type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    Any,
    /// Inclusive bounds unless `min_exclusive`; `max: None` means unbounded above.
    Range {
        min: f64,
        min_exclusive: bool,
        max: Option<f64>,
    },
    OneOf(&'static [&'static str]),
}

impl Allowed {
    /// A TCP port.
    pub const PORT: Allowed = Allowed::range(1.0, 65_535.0);

    /// `min` to `max`, both included.
    pub const fn range(min: f64, max: f64) -> Allowed {
        Allowed::Range {
            min,
            min_exclusive: false,
            max: Some(max),
        }
    }

    /// `min` or more.
    pub const fn at_least(min: f64) -> Allowed {
        Allowed::Range {
            min,
            min_exclusive: false,
            max: None,
        }
    }

    /// Above `min`, at most `max`.
    pub const fn above_at_most(min: f64, max: f64) -> Allowed {
        Allowed::Range {
            min,
            min_exclusive: true,
            max: Some(max),
        }
    }

    pub fn permits(&self, number: f64) -> bool {
        match *self {
            Allowed::Range {
                min,
                min_exclusive,
                max,
            } => {
                let above_min = if min_exclusive {
                    number > min
                } else {
                    number >= min
                };
                above_min && max.is_none_or(|max| number <= max)
            }
            Allowed::Any | Allowed::OneOf(_) => true,
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Allowed::Any => f.write_str("any value of its type"),
            Allowed::Range {
                min,
                min_exclusive: false,
                max: Some(max),
            } => write!(f, "{min} to {max}"),
            Allowed::Range {
                min,
                min_exclusive: true,
                max: Some(max),
            } => write!(f, "above {min}, at most {max}"),
            Allowed::Range {
                min,
                min_exclusive: false,
                max: None,
            } => write!(f, "at least {min}"),
            Allowed::Range {
                min,
                min_exclusive: true,
                max: None,
            } => write!(f, "above {min}"),
            Allowed::OneOf(values) => f.write_str(&values.join(", ")),
        }
    }
}

/// The closest of `candidates` to `typed`, when close enough to be a likely typo.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed_lower = typed.to_ascii_lowercase();
    // A third of the word, at least 2 edits: catches transpositions and dropped letters without
    // proposing unrelated short keys.
    let limit = (typed.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&typed_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The allowed values, led by the likely intended one when `typed` is close to one of them.
pub fn one_of_hint(values: &[&str], typed: Option<&str>) -> String {
    let suggestion = typed
        .and_then(|typed| closest(typed, values.iter().copied()))
        .map(|value| format!("did you mean `{value}`? "))
        .unwrap_or_default();
    format!("{suggestion}allowed values: {}", values.join(", "))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("log_levl", "log_level"), 1);
        assert_eq!(edit_distance("tokne", "token"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn closest_proposes_typos_not_strangers() {
        let keys = ["log_level", "log_dir", "health_check_port"];
        assert_eq!(closest("log_levl", keys), Some("log_level"));
        assert_eq!(closest("LOG_LEVEL", keys), Some("log_level"));
        assert_eq!(closest("colour", keys), None);
    }

    #[test]
    fn ranges_describe_themselves() {
        assert_eq!(Allowed::range(1.0, 64.0).to_string(), "1 to 64");
        assert_eq!(
            Allowed::above_at_most(0.0, 300.0).to_string(),
            "above 0, at most 300"
        );
        assert_eq!(Allowed::at_least(64.0).to_string(), "at least 64");
        assert!(!Allowed::above_at_most(0.0, 300.0).permits(0.0));
        assert!(Allowed::above_at_most(0.0, 300.0).permits(300.0));
        assert!(Allowed::at_least(0.0).permits(1e12));
    }
}
