-- Initial schema. Conventions:
-- * Discord snowflakes are 64-bit integers (BIGINT; the Rust API exposes them as u64).
--   Primary keys that are snowflakes are declared `INTEGER PRIMARY KEY` so they alias the
--   rowid: the table is then clustered by snowflake (i.e. by time) and FTS5 can use it as
--   its content rowid. SQLite integers are 64-bit, so nothing is lost.
-- * Every timestamp is unix milliseconds (UTC) in a BIGINT column whose name ends in `_ms`.
-- * Surrogate keys use AUTOINCREMENT so an id seen in an old log line never points at a
--   different row after deletions.

CREATE TABLE guilds (
    id             INTEGER PRIMARY KEY NOT NULL,
    name           TEXT    NOT NULL,
    icon           TEXT,
    owner_id       BIGINT,
    -- 0 while the row is a placeholder created for a message that arrived first.
    updated_at_ms  BIGINT  NOT NULL
);

CREATE TABLE channels (
    id             INTEGER PRIMARY KEY NOT NULL,
    guild_id       BIGINT  REFERENCES guilds (id) ON DELETE CASCADE,
    -- Thread/forum post parent or category. No foreign key: a thread can be announced before
    -- its parent, and a deleted category must not take its children with it.
    parent_id      BIGINT,
    -- Discord channel type; -1 while the row is a placeholder.
    kind           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    topic          TEXT,
    is_thread      BOOLEAN NOT NULL DEFAULT FALSE,
    archived       BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at_ms  BIGINT  NOT NULL
);
CREATE INDEX channels_guild_id ON channels (guild_id);
CREATE INDEX channels_parent_id ON channels (parent_id);

CREATE TABLE messages (
    id                   INTEGER PRIMARY KEY NOT NULL,
    channel_id           BIGINT  NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    guild_id             BIGINT  REFERENCES guilds (id) ON DELETE CASCADE,
    author_id            BIGINT  NOT NULL,
    author_name          TEXT    NOT NULL,
    author_is_bot        BOOLEAN NOT NULL DEFAULT FALSE,
    content              TEXT    NOT NULL,
    created_at_ms        BIGINT  NOT NULL,
    edited_at_ms         BIGINT,
    deleted              BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at_ms        BIGINT,
    -- Discord message type (0 default, 19 reply, ...).
    kind                 INTEGER NOT NULL DEFAULT 0,
    attachments_json     TEXT    NOT NULL DEFAULT '[]',
    embeds_json          TEXT    NOT NULL DEFAULT '[]',
    -- No foreign key: the referenced message may predate what we stored.
    reply_to_message_id  BIGINT,
    reply_to_channel_id  BIGINT,
    -- How the first copy arrived: 'gateway', 'backfill', or 'tombstone' for a delete that
    -- arrived before (or without) the message itself.
    source               TEXT    NOT NULL,
    stored_at_ms         BIGINT  NOT NULL,
    updated_at_ms        BIGINT  NOT NULL
);
CREATE INDEX messages_channel_id_id ON messages (channel_id, id);
CREATE INDEX messages_guild_id_id ON messages (guild_id, id);
CREATE INDEX messages_author_id ON messages (author_id);

CREATE TABLE message_revisions (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    message_id             BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind                   TEXT    NOT NULL CHECK (kind IN ('edit', 'delete')),
    -- NULL for the delete of a message we never saw (tombstone).
    previous_content       TEXT,
    previous_edited_at_ms  BIGINT,
    new_edited_at_ms       BIGINT,
    recorded_at_ms         BIGINT  NOT NULL
);
CREATE INDEX message_revisions_message_id ON message_revisions (message_id, id);

CREATE TABLE ingest_cursors (
    channel_id         INTEGER PRIMARY KEY NOT NULL,
    last_message_id    BIGINT  NOT NULL,
    backfill_complete  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at_ms      BIGINT  NOT NULL
);

-- Full-text index over message content, stored once (external content) and kept in sync by
-- the triggers below.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

-- One row per LLM call: the cost ledger the daily budget is enforced from.
CREATE TABLE llm_usage (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at_ms            BIGINT  NOT NULL,
    -- UTC calendar day 'YYYY-MM-DD' of at_ms: the unit of the daily cost limit.
    day              TEXT    NOT NULL,
    provider         TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    -- What the call was for, e.g. 'analysis', 'digest', 'check'.
    kind             TEXT    NOT NULL,
    input_tokens     BIGINT  NOT NULL DEFAULT 0,
    output_tokens    BIGINT  NOT NULL DEFAULT 0,
    thinking_tokens  BIGINT  NOT NULL DEFAULT 0,
    cost_usd         REAL    NOT NULL DEFAULT 0,
    latency_ms       BIGINT  NOT NULL,
    -- 'ok' or 'error'.
    outcome          TEXT    NOT NULL,
    error_class      TEXT
);
CREATE INDEX llm_usage_day ON llm_usage (day);

-- One LLM analysis over a span of messages.
CREATE TABLE analyses (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind              TEXT    NOT NULL,
    guild_id          BIGINT,
    channel_id        BIGINT,
    first_message_id  BIGINT,
    last_message_id   BIGINT,
    message_count     INTEGER NOT NULL DEFAULT 0,
    provider          TEXT,
    model             TEXT,
    llm_usage_id      BIGINT  REFERENCES llm_usage (id) ON DELETE SET NULL,
    -- 'running', 'ok' or 'failed'.
    status            TEXT    NOT NULL,
    error             TEXT,
    result_json       TEXT,
    started_at_ms     BIGINT  NOT NULL,
    finished_at_ms    BIGINT
);
CREATE INDEX analyses_channel_last_message ON analyses (channel_id, last_message_id);
CREATE INDEX analyses_started_at_ms ON analyses (started_at_ms);

-- Periodic summaries of findings.
CREATE TABLE digests (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind             TEXT    NOT NULL,
    period_start_ms  BIGINT  NOT NULL,
    period_end_ms    BIGINT  NOT NULL,
    title            TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    finding_count    INTEGER NOT NULL DEFAULT 0,
    llm_usage_id     BIGINT  REFERENCES llm_usage (id) ON DELETE SET NULL,
    created_at_ms    BIGINT  NOT NULL,
    delivered_at_ms  BIGINT
);
CREATE INDEX digests_period_end_ms ON digests (period_end_ms);

-- Something an analysis judged worth the user's attention.
CREATE TABLE findings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    analysis_id    BIGINT  NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    message_id     BIGINT  REFERENCES messages (id) ON DELETE SET NULL,
    channel_id     BIGINT,
    guild_id       BIGINT,
    -- 1 (trivia) .. 10 (act now).
    importance     INTEGER NOT NULL,
    category       TEXT    NOT NULL,
    summary        TEXT    NOT NULL,
    -- The configured watch (keyword/topic rule) that matched, if any.
    watch_name     TEXT,
    details_json   TEXT    NOT NULL DEFAULT '{}',
    digest_id      BIGINT  REFERENCES digests (id) ON DELETE SET NULL,
    created_at_ms  BIGINT  NOT NULL
);
CREATE INDEX findings_analysis_id ON findings (analysis_id);
CREATE INDEX findings_message_id ON findings (message_id);
CREATE INDEX findings_created_at_ms ON findings (created_at_ms);
CREATE INDEX findings_digest_id ON findings (digest_id);

-- Alerts waiting for (or done with) delivery: written in the same transaction as what caused
-- them, delivered by the alert actor with retries.
CREATE TABLE alert_outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- The same event raised twice is delivered once.
    dedup_key           TEXT    NOT NULL UNIQUE,
    event               TEXT    NOT NULL,
    severity            TEXT    NOT NULL,
    title               TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    fields_json         TEXT    NOT NULL DEFAULT '{}',
    -- Delivery route name, e.g. 'email' or 'slack'.
    route               TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT  NOT NULL,
    last_error          TEXT,
    created_at_ms       BIGINT  NOT NULL,
    delivered_at_ms     BIGINT
);
CREATE INDEX alert_outbox_state_next_attempt ON alert_outbox (state, next_attempt_at_ms);

CREATE TABLE alert_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    outbox_id  BIGINT  NOT NULL REFERENCES alert_outbox (id) ON DELETE CASCADE,
    route      TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    at_ms      BIGINT  NOT NULL,
    ok         BOOLEAN NOT NULL,
    error      TEXT
);
CREATE INDEX alert_attempts_outbox_id ON alert_attempts (outbox_id);

CREATE TABLE backups (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    path           TEXT    NOT NULL,
    created_at_ms  BIGINT  NOT NULL,
    size_bytes     BIGINT,
    sha256         TEXT,
    -- 'running', 'ok' or 'failed'.
    status         TEXT    NOT NULL,
    error          TEXT,
    duration_ms    BIGINT
);
CREATE INDEX backups_created_at_ms ON backups (created_at_ms);

-- A single row rewritten by the readiness probe to prove the database accepts writes.
CREATE TABLE health_probe (
    id            INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    probed_at_ms  BIGINT  NOT NULL,
    probe_count   BIGINT  NOT NULL
);
INSERT INTO health_probe (id, probed_at_ms, probe_count) VALUES (1, 0, 0);
