-- The audit trail: one row per operator action, appended and never updated
-- (see sidecar/storage/_postgres_audit.py). Retention deletes the oldest rows.
-- Rows are hash-chained: prev_hash is the hash of the row before (by id), hash
-- the SHA-256 of the row's canonical form (sidecar.audit.canonical_bytes).
-- Appends and retention serialise on a transaction advisory lock.
--
-- Not partitioned: operators act a few times a day, not thousands of times a second.
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- newest-first order and paging; never reused
    at      DOUBLE PRECISION NOT NULL,  -- wall-clock Unix seconds
    actor   TEXT NOT NULL,              -- the token name that acted
    action  TEXT NOT NULL,              -- e.g. 'breaker.force'
    target  TEXT NOT NULL,              -- e.g. 'anthropic'
    details JSONB NOT NULL,             -- a JSON object
    ip           TEXT,                  -- the client's network (e.g. '203.0.113.0/24'), never a full address
    user_agent   TEXT,                  -- at most 256 characters
    before_state JSONB,                 -- a JSON object: the target before the action
    after_state  JSONB,                 -- a JSON object: the target after the action
    prev_hash    TEXT NOT NULL,         -- hex SHA-256: the previous row's hash (or the anchor's, or 64 zeros)
    hash         TEXT NOT NULL          -- hex SHA-256 of this row's canonical form
);

-- The chain's start once retention has deleted its oldest rows: the hash and id of
-- the newest row deleted (the oldest remaining row's prev_hash), upserted by the
-- deleting transaction. At most one row.
CREATE TABLE audit_anchor (
    only_row        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    hash            TEXT NOT NULL,
    last_deleted_id BIGINT NOT NULL,
    at              DOUBLE PRECISION NOT NULL  -- when retention wrote it, Unix seconds
);

-- Newest-first paging over every entry (id < before_id ORDER BY id DESC) reads the
-- primary key backwards: no index of its own.
-- One action's or one target's entries, newest first: action = $1 AND id < $2
-- ORDER BY id DESC, read backwards in index order, no sort. Both filters at once
-- use one of them and check the other on the rows it finds.
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
-- A time range without an action or target (then sorted by id: a range of an
-- audit trail is small). Retention reads the oldest rows by id instead.
CREATE INDEX audit_log_at ON audit_log (at, id);
