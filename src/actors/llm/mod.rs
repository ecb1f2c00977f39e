//! The LLM router component: for now its `llm` config section; the LlmRouterActor arrives with
//! the LLM issue.

pub mod config;
