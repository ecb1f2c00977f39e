//! The structured-output modes the LLM router learnt (one row per provider and model): the
//! router reads them at start and saves one when a server refuses a mode, so a restart does
//! not pay for the refusal again. The [`DbActor`] messages live here too.

use actix::prelude::*;
use diesel::prelude::*;

use super::actor::DbActor;
use super::database::Database;
use super::error::DbError;
use super::schema::llm_structured_output;

/// A mode learnt for one model.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = llm_structured_output, check_for_backend(diesel::sqlite::Sqlite))]
pub struct LearntStructuredOutput {
    pub provider: String,
    pub model: String,
    /// `json_object` or `prompt` (storage does not interpret it).
    pub mode: String,
    /// The provider's endpoint at the time: the mode belongs to that server.
    pub base_url: String,
    /// Which mode was refused, in the server's words.
    pub reason: String,
    pub learnt_at_ms: i64,
}

impl Database {
    /// Stores `row`, replacing what was learnt for its provider and model.
    pub fn save_learnt_structured_output(
        &self,
        row: &LearntStructuredOutput,
    ) -> Result<(), DbError> {
        let mut conn = self.connection()?;
        diesel::replace_into(llm_structured_output::table)
            .values(row)
            .execute(&mut conn)?;
        Ok(())
    }

    /// Every learnt mode, by provider and model.
    pub fn learnt_structured_outputs(&self) -> Result<Vec<LearntStructuredOutput>, DbError> {
        let mut conn = self.connection()?;
        let rows = llm_structured_output::table
            .order((
                llm_structured_output::provider,
                llm_structured_output::model,
            ))
            .load(&mut conn)?;
        Ok(rows)
    }

    /// Forgets what was learnt for one model; answers whether there was anything.
    pub fn forget_learnt_structured_output(
        &self,
        provider: &str,
        model: &str,
    ) -> Result<bool, DbError> {
        let mut conn = self.connection()?;
        let deleted = diesel::delete(
            llm_structured_output::table
                .filter(llm_structured_output::provider.eq(provider))
                .filter(llm_structured_output::model.eq(model)),
        )
        .execute(&mut conn)?;
        Ok(deleted > 0)
    }
}

/// Store a learnt mode (see [`Database::save_learnt_structured_output`]).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct SaveLearntStructuredOutput {
    pub row: LearntStructuredOutput,
}

/// Every learnt mode.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<LearntStructuredOutput>, DbError>")]
pub struct LoadLearntStructuredOutputs;

impl Handler<SaveLearntStructuredOutput> for DbActor {
    type Result = ResponseActFuture<Self, Result<(), DbError>>;

    fn handle(
        &mut self,
        msg: SaveLearntStructuredOutput,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        self.run("save_learnt_structured_output", move |db| {
            db.save_learnt_structured_output(&msg.row)
        })
    }
}

impl Handler<LoadLearntStructuredOutputs> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<LearntStructuredOutput>, DbError>>;

    fn handle(&mut self, _: LoadLearntStructuredOutputs, _ctx: &mut Self::Context) -> Self::Result {
        self.run("learnt_structured_outputs", |db| {
            db.learnt_structured_outputs()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::test_support::migrated_db;

    fn row(model: &str, mode: &str) -> LearntStructuredOutput {
        LearntStructuredOutput {
            provider: "local".into(),
            model: model.into(),
            mode: mode.into(),
            base_url: "http://127.0.0.1:8000/v1".into(),
            reason: "the server refused json_schema".into(),
            learnt_at_ms: 1,
        }
    }

    #[test]
    fn one_mode_per_model_replaced_and_forgotten() {
        let (_dir, db) = migrated_db();
        db.save_learnt_structured_output(&row("b", "json_object"))
            .unwrap();
        db.save_learnt_structured_output(&row("a", "json_object"))
            .unwrap();
        db.save_learnt_structured_output(&row("a", "prompt"))
            .unwrap();
        let rows = db.learnt_structured_outputs().unwrap();
        assert_eq!(rows, [row("a", "prompt"), row("b", "json_object")]);
        assert!(db.forget_learnt_structured_output("local", "a").unwrap());
        assert!(!db.forget_learnt_structured_output("local", "a").unwrap());
        assert_eq!(db.learnt_structured_outputs().unwrap().len(), 1);
    }
}
