//! The LLM ledger: one `llm_usage` row per provider call (tokens, cost, latency, outcome),
//! and the per-day totals the router's daily budget and `llm usage` read back. The router
//! reads today's total at start, so a restart does not reset the budget.

use diesel::dsl::sum;
use diesel::prelude::*;

use super::database::Database;
use super::error::DbError;
use super::schema::llm_usage;

/// One call to book.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = llm_usage)]
pub struct NewLlmUsage {
    pub at_ms: i64,
    /// UTC day `YYYY-MM-DD` of `at_ms`.
    pub day: String,
    pub provider: String,
    pub model: String,
    /// Request kind: `triage`, `digest`, `ask`, `check`.
    pub kind: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub thinking_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms: i64,
    /// `ok` or `error`.
    pub outcome: String,
    pub error_class: Option<String>,
}

/// Totals of one (day, provider, model).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LlmUsageTotal {
    pub day: String,
    pub provider: String,
    pub model: String,
    pub calls: i64,
    pub failures: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

impl Database {
    /// Books one call; answers the row id.
    pub fn insert_llm_usage(&self, row: &NewLlmUsage) -> Result<i64, DbError> {
        let mut conn = self.connection()?;
        let id = diesel::insert_into(llm_usage::table)
            .values(row)
            .returning(llm_usage::id)
            .get_result(&mut conn)?;
        Ok(id)
    }

    /// US dollars booked on one UTC day (`YYYY-MM-DD`).
    pub fn llm_cost_on_day(&self, day: &str) -> Result<f64, DbError> {
        let mut conn = self.connection()?;
        let total: Option<f64> = llm_usage::table
            .filter(llm_usage::day.eq(day))
            .select(sum(llm_usage::cost_usd))
            .first(&mut conn)?;
        Ok(total.unwrap_or(0.0))
    }

    /// Totals per day, provider and model from `first_day` on, newest day first.
    pub fn llm_usage_since(&self, first_day: &str) -> Result<Vec<LlmUsageTotal>, DbError> {
        let mut conn = self.connection()?;
        let rows = diesel::sql_query(
            "SELECT day, provider, model, COUNT(*) AS calls, \
                    SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS failures, \
                    SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
                    SUM(cost_usd) AS cost_usd \
             FROM llm_usage WHERE day >= ? GROUP BY day, provider, model \
             ORDER BY day DESC, provider, model",
        )
        .bind::<diesel::sql_types::Text, _>(first_day)
        .load::<TotalSqlRow>(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|row| LlmUsageTotal {
                day: row.day,
                provider: row.provider,
                model: row.model,
                calls: row.calls,
                failures: row.failures,
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                cost_usd: row.cost_usd,
            })
            .collect())
    }
}

#[derive(QueryableByName)]
struct TotalSqlRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    day: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    provider: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    model: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    calls: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failures: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    input_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    output_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    cost_usd: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::test_support::migrated_db;

    fn row(day: &str, model: &str, cost: f64, outcome: &str) -> NewLlmUsage {
        NewLlmUsage {
            at_ms: 1,
            day: day.into(),
            provider: "gemini".into(),
            model: model.into(),
            kind: "triage".into(),
            input_tokens: 100,
            output_tokens: 10,
            thinking_tokens: 0,
            cost_usd: cost,
            latency_ms: 5,
            outcome: outcome.into(),
            error_class: None,
        }
    }

    #[test]
    fn totals_per_day_and_model() {
        let (_dir, db) = migrated_db();
        db.insert_llm_usage(&row("2026-11-27", "a", 0.5, "ok"))
            .unwrap();
        db.insert_llm_usage(&row("2026-11-28", "a", 0.25, "ok"))
            .unwrap();
        db.insert_llm_usage(&row("2026-11-28", "a", 0.125, "error"))
            .unwrap();
        db.insert_llm_usage(&row("2026-11-28", "b", 1.0, "ok"))
            .unwrap();
        assert_eq!(db.llm_cost_on_day("2026-11-28").unwrap(), 1.375);
        assert_eq!(db.llm_cost_on_day("2026-11-01").unwrap(), 0.0);
        let totals = db.llm_usage_since("2026-11-28").unwrap();
        assert_eq!(totals.len(), 2);
        assert_eq!((totals[0].calls, totals[0].failures), (2, 1));
        assert_eq!(totals[0].input_tokens, 200);
        assert_eq!(totals[1].model, "b");
    }
}
