-- The audit trail: one row per operator action, appended and never updated
-- (see sidecar/storage/_sqlite_audit.py). Retention deletes the oldest rows.
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
    details TEXT NOT NULL   -- a JSON object
);

-- Newest-first paging over every entry (id < before_id ORDER BY id DESC) walks the
-- table b-tree itself, which id (the rowid) keys: no index needed.
-- One action's or one target's entries, newest first: the index entries end with
-- the rowid, so action = ? AND id < ? ORDER BY id DESC reads them in order, no sort.
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_target ON audit_log (target);
-- Retention: at < cutoff, oldest first. A time range without an action or target
-- uses it too (then sorted by id: a range of an audit trail is small).
CREATE INDEX audit_log_at ON audit_log (at);
