//! The token estimator against real token counts: a chat corpus counted with OpenAI's
//! cl100k_base vocabulary and with Gemma 3's SentencePiece model, the one Gemini shares (see
//! tests/thirdparty/token_counts.py, which wrote the fixture; no Python runs here).

use std::collections::BTreeMap;

use discord_monitor::actors::llm::tokens::{TokenizerFamily, estimate_raw};
use serde_json::Value;

/// Largest error allowed in each category of the corpus, relative to the real count.
const MAX_RELATIVE_ERROR: f64 = 0.15;

/// Real and estimated tokens summed per category of the fixture, for one family.
fn totals_per_category(family: TokenizerFamily, count_field: &str) -> BTreeMap<String, (f64, f64)> {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/token_counts.json")).expect("fixture");
    let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for sample in fixture["samples"].as_array().expect("samples") {
        let category = sample["category"].as_str().expect("category").to_owned();
        let text = sample["text"].as_str().expect("text");
        let real = sample[count_field].as_f64().expect(count_field);
        let entry = totals.entry(category).or_default();
        entry.0 += real;
        entry.1 += estimate_raw(text, family);
    }
    totals
}

/// Prints every category's error first, so one failing category still shows all of them.
fn assert_within_bound(family: TokenizerFamily, count_field: &str) {
    let totals = totals_per_category(family, count_field);
    assert!(totals.contains_key("en") && totals.contains_key("mixed"));
    let errors: Vec<(&String, f64, f64, f64)> = totals
        .iter()
        .map(|(category, &(real, estimated))| {
            (category, real, estimated, (estimated - real) / real)
        })
        .collect();
    for (category, real, estimated, error) in &errors {
        println!(
            "{family:?} {category}: real {real}, estimated {estimated:.1} ({:+.1}%)",
            error * 100.0
        );
    }
    for (category, real, estimated, error) in &errors {
        assert!(
            error.abs() <= MAX_RELATIVE_ERROR,
            "{family:?} {category}: estimated {estimated:.1} for {real} real tokens ({:+.1}%)",
            error * 100.0
        );
    }
}

#[test]
fn gpt_estimates_stay_within_15_percent_of_cl100k_per_category() {
    assert_within_bound(TokenizerFamily::Gpt, "cl100k_tokens");
}

#[test]
fn gemini_estimates_stay_within_15_percent_of_gemma3_per_category() {
    assert_within_bound(TokenizerFamily::Gemini, "gemini_tokens");
}
