-- Importance triage: the durable backlog of messages waiting for it, and its results in
-- `analyses` (one row per scored batch) and `findings` (one verdict per message). Same
-- conventions as the initial migration.

-- Messages waiting to be triaged, filled by the trigger below in the transaction that stores
-- the message, and emptied in the transaction that writes its verdict: a crash can neither
-- skip a message nor have it scored twice. Messages stored before this migration are not
-- queued (scoring a whole history at once would spend a day's LLM budget on old news).
CREATE TABLE analysis_backlog (
    message_id      INTEGER PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    -- 'new' (never scored) or 'rescore' (scored by rules while no model could be called).
    reason          TEXT    NOT NULL DEFAULT 'new' CHECK (reason IN ('new', 'rescore')),
    enqueued_at_ms  BIGINT  NOT NULL
);

-- A tombstone (a delete seen before its message) has nothing to score.
CREATE TRIGGER analysis_backlog_after_message_insert AFTER INSERT ON messages
WHEN new.source != 'tombstone' BEGIN
    INSERT OR IGNORE INTO analysis_backlog (message_id, reason, enqueued_at_ms)
    VALUES (new.id, 'new', CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

-- How a batch was scored: 'llm', 'rules' (the rule engine, when no model could be called) or
-- 'prefilter' (messages not worth a call, scored by the rule engine).
ALTER TABLE analyses ADD COLUMN method TEXT NOT NULL DEFAULT 'llm';
-- The prompt file the batch was sent with, e.g. 'triage/v1'.
ALTER TABLE analyses ADD COLUMN prompt_version TEXT;
ALTER TABLE analyses ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE analyses ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE analyses ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;

-- 'low', 'medium' or 'high'.
ALTER TABLE findings ADD COLUMN urgency TEXT NOT NULL DEFAULT 'low';
ALTER TABLE findings ADD COLUMN needs_attention BOOLEAN NOT NULL DEFAULT FALSE;
-- As `analyses.method`.
ALTER TABLE findings ADD COLUMN method TEXT NOT NULL DEFAULT 'llm';
-- Scored by rules because no model could be called (budget spent, circuits open): a model
-- may score it again later.
ALTER TABLE findings ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT FALSE;
-- `provider/model` of an LLM verdict.
ALTER TABLE findings ADD COLUMN model TEXT;
ALTER TABLE findings ADD COLUMN prompt_version TEXT;
-- This message's share of its call's cost, US dollars.
ALTER TABLE findings ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN updated_at_ms BIGINT NOT NULL DEFAULT 0;

-- One triage verdict per message (watch findings carry a `watch_name`).
CREATE UNIQUE INDEX findings_triage_message ON findings (message_id) WHERE watch_name IS NULL;
CREATE INDEX findings_importance ON findings (importance, message_id);
CREATE INDEX findings_degraded ON findings (message_id) WHERE degraded;
