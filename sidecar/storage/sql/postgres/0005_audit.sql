-- The audit trail: one row per operator action, appended and never updated
-- (see sidecar/storage/_postgres_audit.py). Retention deletes the oldest rows.
--
-- Not partitioned: operators act a few times a day, not thousands of times a second.
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- newest-first order and paging; never reused
    at      DOUBLE PRECISION NOT NULL,  -- wall-clock Unix seconds
    actor   TEXT NOT NULL,              -- the token name that acted
    action  TEXT NOT NULL,              -- e.g. 'breaker.force'
    target  TEXT NOT NULL,              -- e.g. 'anthropic'
    details JSONB NOT NULL              -- a JSON object
);

-- Newest-first paging over every entry (id < before_id ORDER BY id DESC) reads the
-- primary key backwards: no index of its own.
-- One action's or one target's entries, newest first: action = $1 AND id < $2
-- ORDER BY id DESC, read backwards in index order, no sort. Both filters at once
-- use one of them and check the other on the rows it finds.
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
-- Retention: at < cutoff, oldest first, ids listed from the index alone. A time
-- range without an action or target uses it too (then sorted by id: a range of an
-- audit trail is small).
CREATE INDEX audit_log_at ON audit_log (at, id);
