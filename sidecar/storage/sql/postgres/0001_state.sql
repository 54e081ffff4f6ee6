-- Small JSON documents keyed by (namespace, key): breaker states, alert states, cursors.
CREATE TABLE IF NOT EXISTS sidecar_state (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, key)
);
