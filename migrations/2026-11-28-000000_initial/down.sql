-- Reverse of up.sql, children before parents.
DROP TABLE health_probe;
DROP TABLE backups;
DROP TABLE alert_attempts;
DROP TABLE alert_outbox;
DROP TABLE findings;
DROP TABLE digests;
DROP TABLE analyses;
DROP TABLE llm_usage;
DROP TRIGGER messages_fts_after_update;
DROP TRIGGER messages_fts_after_delete;
DROP TRIGGER messages_fts_after_insert;
DROP TABLE messages_fts;
DROP TABLE ingest_cursors;
DROP TABLE message_revisions;
DROP TABLE messages;
DROP TABLE channels;
DROP TABLE guilds;
