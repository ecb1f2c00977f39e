DROP TABLE llm_structured_output;
