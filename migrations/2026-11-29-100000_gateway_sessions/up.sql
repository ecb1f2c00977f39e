-- What a restart needs to continue where the process stopped (same conventions as the
-- initial migration: snowflakes BIGINT, timestamps unix milliseconds in `_ms` columns).

-- The gateway session of each shard and the sequence number of the last event whose effects
-- are committed: a new process RESUMEs it and Discord replays everything after `seq`.
CREATE TABLE gateway_sessions (
    shard_id           INTEGER PRIMARY KEY NOT NULL,
    shard_count        INTEGER NOT NULL,
    session_id         TEXT    NOT NULL,
    resume_url         TEXT    NOT NULL,
    seq                BIGINT  NOT NULL,
    user_id            BIGINT  NOT NULL,
    user_name          TEXT    NOT NULL,
    -- A truncated SHA-256 of the token the session was opened with: tells a changed token
    -- without keeping anything that could be used as one.
    token_fingerprint  TEXT    NOT NULL,
    -- Rewritten on every commit and while idle, so its age tells how long ago the process
    -- that held the session was last alive.
    saved_at_ms        BIGINT  NOT NULL
);

-- Per thread parent channel and visibility, the newest `archive_timestamp` of an
-- archived-thread listing whose threads were all paged: the next listing stops there.
CREATE TABLE archived_thread_marks (
    parent_id              BIGINT  NOT NULL,
    private                BOOLEAN NOT NULL,
    -- Microseconds, Discord's precision for archive timestamps: a mark must compare equal to
    -- the timestamp it came from.
    newest_archived_at_us  BIGINT  NOT NULL,
    updated_at_ms          BIGINT  NOT NULL,
    PRIMARY KEY (parent_id, private)
);
