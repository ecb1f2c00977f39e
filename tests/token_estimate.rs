//! The token estimator against real token counts: a chat corpus counted with OpenAI's
//! cl100k_base vocabulary (see tests/thirdparty/token_counts.py, which wrote the fixture).

use std::collections::BTreeMap;

use discord_monitor::actors::llm::tokens::{TokenizerFamily, estimate_raw};
use serde_json::Value;

/// The bound for English and mixed-language chat.
const MAX_RELATIVE_ERROR: f64 = 0.15;

#[test]
fn estimates_stay_within_15_percent_of_cl100k_per_category() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/token_counts.json")).expect("fixture");
    let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for sample in fixture["samples"].as_array().expect("samples") {
        let category = sample["category"].as_str().unwrap().to_owned();
        let text = sample["text"].as_str().unwrap();
        let real = sample["cl100k_tokens"].as_f64().unwrap();
        let entry = totals.entry(category).or_default();
        entry.0 += real;
        entry.1 += estimate_raw(text, TokenizerFamily::Gpt);
    }
    assert!(totals.contains_key("en") && totals.contains_key("mixed"));
    for (category, (real, estimated)) in &totals {
        let error = (estimated - real) / real;
        println!(
            "{category}: real {real}, estimated {estimated:.1} ({:+.1}%)",
            error * 100.0
        );
        assert!(
            error.abs() <= MAX_RELATIVE_ERROR,
            "{category}: estimated {estimated:.1} for {real} real tokens ({:+.1}%)",
            error * 100.0
        );
    }
}
