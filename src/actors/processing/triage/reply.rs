//! Reading a model's triage answer: items are matched back to messages by their number, and
//! every field is checked, because a reply that follows the schema can still say
//! `"imp": 837649`. What one item gets wrong costs only that message (a retry, then rules).

use serde_json::Value;

use super::verdict::{Category, Score, Urgency, one_line};

/// The answer for a batch of `count` messages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadReply {
    /// By position in the batch: the score, or `None` when the item was missing or unusable.
    pub scores: Vec<Option<Score>>,
    /// What was wrong, for the log and the retry's details (never message content).
    pub problems: Vec<String>,
}

impl ReadReply {
    /// Positions without a usable score.
    pub fn missing(&self) -> Vec<usize> {
        self.scores
            .iter()
            .enumerate()
            .filter(|(_, score)| score.is_none())
            .map(|(position, _)| position)
            .collect()
    }
}

/// Reads `answer` for a batch of `count` messages numbered `1..=count`.
pub fn read(answer: &Value, count: usize) -> ReadReply {
    let mut reply = ReadReply {
        scores: vec![None; count],
        problems: Vec::new(),
    };
    let Some(items) = answer.get("items").and_then(Value::as_array) else {
        reply.problems.push("no `items` list".to_owned());
        return reply;
    };
    for item in items {
        let number = item.get("i").and_then(Value::as_u64);
        let Some(position) = number
            .and_then(|number| usize::try_from(number).ok())
            .filter(|number| (1..=count).contains(number))
            .map(|number| number - 1)
        else {
            reply.problems.push(format!(
                "item for a message not in the batch: {}",
                item.get("i").unwrap_or(&Value::Null)
            ));
            continue;
        };
        if reply.scores[position].is_some() {
            reply
                .problems
                .push(format!("second item for message {}", position + 1));
            continue;
        }
        match score(item) {
            Ok(score) => reply.scores[position] = Some(score),
            Err(problem) => reply
                .problems
                .push(format!("message {}: {problem}", position + 1)),
        }
    }
    let missing = reply.missing().len();
    if missing > 0 {
        reply
            .problems
            .push(format!("{missing} message(s) without a usable item"));
    }
    reply
}

/// One item's fields, each checked. Importance 0 is read as 1 (models use it for "nothing"),
/// and a fraction is rounded; anything else outside 1..=10 is refused.
fn score(item: &Value) -> Result<Score, String> {
    let raw = item
        .get("imp")
        .and_then(Value::as_f64)
        .ok_or("importance is not a number")?;
    if !(raw.is_finite() && (0.0..=10.0).contains(&raw)) {
        return Err(format!("importance {raw} is out of range"));
    }
    // In range after the check.
    let importance = (raw.round() as u8).max(1);
    let urgency = item
        .get("urg")
        .and_then(Value::as_str)
        .and_then(Urgency::parse)
        .ok_or("unknown urgency")?;
    let category = item
        .get("cat")
        .and_then(Value::as_str)
        .and_then(Category::parse)
        .ok_or("unknown category")?;
    let needs_attention = item
        .get("att")
        .and_then(Value::as_bool)
        .ok_or("attention is not a boolean")?;
    let reason = item.get("why").and_then(Value::as_str).unwrap_or_default();
    Ok(Score {
        importance,
        urgency,
        category,
        needs_attention,
        reason: one_line(reason),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn good(number: u64) -> Value {
        json!({"i": number, "imp": 7, "urg": "high", "cat": "incident", "att": true,
               "why": "deploy failed"})
    }

    #[test]
    fn items_are_matched_by_number_in_any_order() {
        let reply = read(&json!({"items": [good(2), good(1)]}), 2);
        assert!(reply.problems.is_empty(), "{:?}", reply.problems);
        let score = reply.scores[0].as_ref().unwrap();
        assert_eq!(score.importance, 7);
        assert_eq!(score.category, Category::Incident);
        assert_eq!(score.urgency, Urgency::High);
        assert!(score.needs_attention);
        assert_eq!(score.reason, "deploy failed");
    }

    #[test]
    fn a_missing_number_and_an_extra_one_are_told_apart() {
        let reply = read(&json!({"items": [good(1), good(7), good(0)]}), 3);
        assert_eq!(reply.missing(), [1, 2]);
        assert!(
            reply
                .problems
                .iter()
                .any(|p| p.contains("not in the batch: 7"))
        );
        assert!(
            reply
                .problems
                .iter()
                .any(|p| p.contains("not in the batch: 0"))
        );
    }

    #[test]
    fn out_of_range_values_cost_only_their_message() {
        let mut huge = good(1);
        huge["imp"] = json!(837_649);
        let mut fraction = good(2);
        fraction["imp"] = json!(6.6);
        let mut zero = good(3);
        zero["imp"] = json!(0);
        let mut category = good(4);
        category["cat"] = json!("banana");
        let mut negative = good(5);
        negative["imp"] = json!(-2);
        let reply = read(
            &json!({"items": [huge, fraction, zero, category, negative, good(6)]}),
            6,
        );
        assert_eq!(reply.missing(), [0, 3, 4]);
        assert_eq!(reply.scores[1].as_ref().unwrap().importance, 7);
        assert_eq!(reply.scores[2].as_ref().unwrap().importance, 1);
        assert!(reply.problems.iter().any(|p| p.contains("837649")));
        assert!(
            reply
                .problems
                .iter()
                .any(|p| p.contains("unknown category"))
        );
    }

    #[test]
    fn a_duplicate_keeps_the_first_and_a_shapeless_answer_scores_nothing() {
        let mut second = good(1);
        second["imp"] = json!(2);
        let reply = read(&json!({"items": [good(1), second]}), 1);
        assert_eq!(reply.scores[0].as_ref().unwrap().importance, 7);
        assert!(reply.problems.iter().any(|p| p.contains("second item")));
        let prose = read(&json!("Sure! Everything looks fine."), 2);
        assert_eq!(prose.missing(), [0, 1]);
        assert_eq!(prose.problems[0], "no `items` list");
    }
}
