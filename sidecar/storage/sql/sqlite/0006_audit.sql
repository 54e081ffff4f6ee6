-- The audit trail: one row per operator action, appended and never updated
-- (see sidecar/storage/_sqlite_audit.py). Retention deletes the oldest rows.
-- Rows are hash-chained: prev_hash is the hash of the row before (by id), hash
-- the SHA-256 of the row's canonical form (sidecar.audit.canonical_bytes).
--
-- AUTOINCREMENT: ids are never reused, even once retention (or deleting the
-- newest rows) has emptied the table, so an id names one entry for good and a
-- page boundary (id < before_id) stays meaningful. Appends are rare enough that
-- the extra sqlite_sequence update costs nothing.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,  -- wall-clock Unix seconds
    actor   TEXT NOT NULL,  -- the token name that acted
    action  TEXT NOT NULL,  -- e.g. 'breaker.force'
    target  TEXT NOT NULL,  -- e.g. 'anthropic'
    details TEXT NOT NULL,  -- a JSON object
    ip           TEXT,      -- the client's network (e.g. '203.0.113.0/24'), never a full address
    user_agent   TEXT,      -- at most 256 characters
    before_state TEXT,      -- a JSON object: the target before the action
    after_state  TEXT,      -- a JSON object: the target after the action
    prev_hash    TEXT NOT NULL,  -- hex SHA-256: the previous row's hash (or the anchor's, or 64 zeros)
    hash         TEXT NOT NULL   -- hex SHA-256 of this row's canonical form
);

-- The chain's start once retention has deleted its oldest rows: the hash and id of
-- the newest row deleted (the oldest remaining row's prev_hash), upserted by the
-- deleting transaction. At most one row.
CREATE TABLE audit_anchor (
    only_row        INTEGER PRIMARY KEY CHECK (only_row = 1),
    hash            TEXT NOT NULL,
    last_deleted_id INTEGER NOT NULL,
    at              REAL NOT NULL   -- when retention wrote it, Unix seconds
);

-- Newest-first paging over every entry (id < before_id ORDER BY id DESC) walks the
-- table b-tree itself, which id (the rowid) keys: no index needed.
-- One action's or one target's entries, newest first: the index entries end with
-- the rowid, so action = ? AND id < ? ORDER BY id DESC reads them in order, no sort.
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_target ON audit_log (target);
-- A time range without an action or target (then sorted by id: a range of an
-- audit trail is small). Retention reads the oldest rows by id instead.
CREATE INDEX audit_log_at ON audit_log (at);
