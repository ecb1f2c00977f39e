//! Diesel table definitions for `migrations/`, written by hand (see `diesel.toml` for why).
//!
//! Snowflake primary keys are `INTEGER PRIMARY KEY` in SQL (rowid aliases) but `BigInt` here:
//! SQLite integers are 64-bit, so both describe the same values. The FTS5 table
//! `messages_fts` is only reached through raw SQL and is not declared.

diesel::table! {
    guilds (id) {
        id -> BigInt,
        name -> Text,
        icon -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    channels (id) {
        id -> BigInt,
        guild_id -> Nullable<BigInt>,
        parent_id -> Nullable<BigInt>,
        kind -> Integer,
        name -> Text,
        topic -> Nullable<Text>,
        is_thread -> Bool,
        archived -> Bool,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        channel_id -> BigInt,
        guild_id -> Nullable<BigInt>,
        author_id -> BigInt,
        author_name -> Text,
        author_is_bot -> Bool,
        content -> Text,
        created_at_ms -> BigInt,
        edited_at_ms -> Nullable<BigInt>,
        deleted -> Bool,
        deleted_at_ms -> Nullable<BigInt>,
        kind -> Integer,
        attachments_json -> Text,
        embeds_json -> Text,
        reply_to_message_id -> Nullable<BigInt>,
        reply_to_channel_id -> Nullable<BigInt>,
        source -> Text,
        stored_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    message_revisions (id) {
        id -> BigInt,
        message_id -> BigInt,
        kind -> Text,
        previous_content -> Nullable<Text>,
        previous_edited_at_ms -> Nullable<BigInt>,
        new_edited_at_ms -> Nullable<BigInt>,
        recorded_at_ms -> BigInt,
    }
}

diesel::table! {
    ingest_cursors (channel_id) {
        channel_id -> BigInt,
        last_message_id -> BigInt,
        backfill_complete -> Bool,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    llm_usage (id) {
        id -> BigInt,
        at_ms -> BigInt,
        day -> Text,
        provider -> Text,
        model -> Text,
        kind -> Text,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        thinking_tokens -> BigInt,
        cost_usd -> Double,
        latency_ms -> BigInt,
        outcome -> Text,
        error_class -> Nullable<Text>,
    }
}

diesel::table! {
    analyses (id) {
        id -> BigInt,
        kind -> Text,
        guild_id -> Nullable<BigInt>,
        channel_id -> Nullable<BigInt>,
        first_message_id -> Nullable<BigInt>,
        last_message_id -> Nullable<BigInt>,
        message_count -> Integer,
        provider -> Nullable<Text>,
        model -> Nullable<Text>,
        llm_usage_id -> Nullable<BigInt>,
        status -> Text,
        error -> Nullable<Text>,
        result_json -> Nullable<Text>,
        started_at_ms -> BigInt,
        finished_at_ms -> Nullable<BigInt>,
        method -> Text,
        prompt_version -> Nullable<Text>,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        cost_usd -> Double,
    }
}

diesel::table! {
    digests (id) {
        id -> BigInt,
        kind -> Text,
        period_start_ms -> BigInt,
        period_end_ms -> BigInt,
        title -> Text,
        body -> Text,
        finding_count -> Integer,
        llm_usage_id -> Nullable<BigInt>,
        created_at_ms -> BigInt,
        delivered_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    findings (id) {
        id -> BigInt,
        analysis_id -> BigInt,
        message_id -> Nullable<BigInt>,
        channel_id -> Nullable<BigInt>,
        guild_id -> Nullable<BigInt>,
        importance -> Integer,
        category -> Text,
        summary -> Text,
        watch_name -> Nullable<Text>,
        details_json -> Text,
        digest_id -> Nullable<BigInt>,
        created_at_ms -> BigInt,
        urgency -> Text,
        needs_attention -> Bool,
        method -> Text,
        degraded -> Bool,
        model -> Nullable<Text>,
        prompt_version -> Nullable<Text>,
        cost_usd -> Double,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    analysis_backlog (message_id) {
        message_id -> BigInt,
        reason -> Text,
        enqueued_at_ms -> BigInt,
    }
}

diesel::table! {
    alert_outbox (id) {
        id -> BigInt,
        dedup_key -> Text,
        event -> Text,
        severity -> Text,
        title -> Text,
        body -> Text,
        fields_json -> Text,
        route -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at_ms -> BigInt,
        last_error -> Nullable<Text>,
        created_at_ms -> BigInt,
        delivered_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    alert_attempts (id) {
        id -> BigInt,
        outbox_id -> BigInt,
        route -> Text,
        attempt -> Integer,
        at_ms -> BigInt,
        ok -> Bool,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    backups (id) {
        id -> BigInt,
        path -> Text,
        created_at_ms -> BigInt,
        size_bytes -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        status -> Text,
        error -> Nullable<Text>,
        duration_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    health_probe (id) {
        id -> BigInt,
        probed_at_ms -> BigInt,
        probe_count -> BigInt,
    }
}

diesel::table! {
    gateway_sessions (shard_id) {
        shard_id -> BigInt,
        shard_count -> BigInt,
        session_id -> Text,
        resume_url -> Text,
        seq -> BigInt,
        user_id -> BigInt,
        user_name -> Text,
        token_fingerprint -> Text,
        saved_at_ms -> BigInt,
    }
}

diesel::table! {
    archived_thread_marks (parent_id, private) {
        parent_id -> BigInt,
        private -> Bool,
        newest_archived_at_us -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    llm_structured_output (provider, model) {
        provider -> Text,
        model -> Text,
        mode -> Text,
        base_url -> Text,
        reason -> Text,
        learnt_at_ms -> BigInt,
    }
}

diesel::joinable!(channels -> guilds (guild_id));
diesel::joinable!(messages -> channels (channel_id));
diesel::joinable!(messages -> guilds (guild_id));
diesel::joinable!(message_revisions -> messages (message_id));
diesel::joinable!(analyses -> llm_usage (llm_usage_id));
diesel::joinable!(digests -> llm_usage (llm_usage_id));
diesel::joinable!(findings -> analyses (analysis_id));
diesel::joinable!(findings -> messages (message_id));
diesel::joinable!(findings -> digests (digest_id));
diesel::joinable!(alert_attempts -> alert_outbox (outbox_id));
diesel::joinable!(analysis_backlog -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    guilds,
    channels,
    messages,
    message_revisions,
    ingest_cursors,
    llm_usage,
    analyses,
    digests,
    findings,
    analysis_backlog,
    alert_outbox,
    alert_attempts,
    backups,
    health_probe,
    gateway_sessions,
    archived_thread_marks,
    llm_structured_output,
);

/// Every table, for row counts in `db stats`. FTS5 shadow tables are left out on purpose.
pub const TABLE_NAMES: &[&str] = &[
    "guilds",
    "channels",
    "messages",
    "message_revisions",
    "ingest_cursors",
    "llm_usage",
    "analyses",
    "digests",
    "findings",
    "analysis_backlog",
    "alert_outbox",
    "alert_attempts",
    "backups",
    "health_probe",
    "gateway_sessions",
    "archived_thread_marks",
    "llm_structured_output",
];
