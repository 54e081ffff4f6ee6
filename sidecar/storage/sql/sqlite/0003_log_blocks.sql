-- Log records in compressed blocks (see sidecar/storage/_log_blocks.py): one row,
-- and one full-text document, per block of up to 512 records of one severity.
-- The records of schema 2's `logs` table are moved here by the migration step
-- that follows this file (SqliteStorage), which then drops `logs`.
CREATE TABLE log_blocks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: record ids are derived from it
    severity   INTEGER NOT NULL,
    min_ts     INTEGER NOT NULL,
    max_ts     INTEGER NOT NULL,
    live       INTEGER NOT NULL,  -- records not deleted
    -- The search terms: distinct message tokens, then distinct values of each key, space-separated.
    message    TEXT NOT NULL,
    service    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id   TEXT NOT NULL,
    "user"     TEXT NOT NULL,
    action     TEXT NOT NULL,
    data       BLOB NOT NULL      -- Zstandard-compressed NDJSON; last, so index walks never read it
);

-- Newest first, time ranges and cursors walk blocks by their newest record.
CREATE INDEX log_blocks_max_ts ON log_blocks (max_ts);
-- Retention: severity IN (...) AND min_ts < cutoff.
CREATE INDEX log_blocks_severity_min_ts ON log_blocks (severity, min_ts);

CREATE VIRTUAL TABLE log_blocks_fts USING fts5 (
    message,
    service,
    request_id,
    trace_id,
    "user",
    action,
    content = 'log_blocks',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0',
    detail = column
);

CREATE TRIGGER log_blocks_fts_insert AFTER INSERT ON log_blocks BEGIN
    INSERT INTO log_blocks_fts (rowid, message, service, request_id, trace_id, "user", action)
    VALUES (new.id, new.message, new.service, new.request_id, new.trace_id, new."user", new.action);
END;

-- An external-content index forgets a row only when told the exact values it indexed.
CREATE TRIGGER log_blocks_fts_delete AFTER DELETE ON log_blocks BEGIN
    INSERT INTO log_blocks_fts (log_blocks_fts, rowid, message, service, request_id, trace_id, "user", action)
    VALUES ('delete', old.id, old.message, old.service, old.request_id, old.trace_id, old."user", old.action);
END;

-- Retention rewrites a block that straddles its cutoff: the index follows.
CREATE TRIGGER log_blocks_fts_update AFTER UPDATE ON log_blocks BEGIN
    INSERT INTO log_blocks_fts (log_blocks_fts, rowid, message, service, request_id, trace_id, "user", action)
    VALUES ('delete', old.id, old.message, old.service, old.request_id, old.trace_id, old."user", old.action);
    INSERT INTO log_blocks_fts (rowid, message, service, request_id, trace_id, "user", action)
    VALUES (new.id, new.message, new.service, new.request_id, new.trace_id, new."user", new.action);
END;
