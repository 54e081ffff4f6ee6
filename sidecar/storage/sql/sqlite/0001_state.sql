-- Small JSON documents keyed by (namespace, key): breaker states, alert states, cursors.
CREATE TABLE IF NOT EXISTS sidecar_state (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
