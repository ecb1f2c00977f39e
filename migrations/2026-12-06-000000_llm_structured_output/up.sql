-- The structured-output mode the LLM router learnt for a model configured with `auto`: the
-- server refused a richer mode (an HTTP 400/422 naming `response_format`, `json_schema`,
-- `grammar`, ...), so calls to it start at this one after a restart too.
CREATE TABLE llm_structured_output (
    provider       TEXT   NOT NULL,
    model          TEXT   NOT NULL,
    -- `json_object` or `prompt`.
    mode           TEXT   NOT NULL,
    -- The provider's endpoint when the mode was learnt: pointed elsewhere, the model is
    -- another server's and the mode is learnt anew.
    base_url       TEXT   NOT NULL,
    -- Which mode the server refused and its words (clipped).
    reason         TEXT   NOT NULL,
    learnt_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);
