-- Probe history: raw results (kept probing.results_retention) and per-minute and
-- per-hour rollups (see sidecar/storage/_postgres_probes.py).
--
-- `probe` is COLLATE "C": probes order by code point, as on SQLite, whatever the
-- database's collation, and the indexes serve that order.
--
-- Not partitioned, like logs and spans: retention deletes in bounded batches
-- and autovacuum reclaims the space for new rows.
CREATE TABLE probe_results (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- retention deletes by it; orders full ties
    probe       TEXT COLLATE "C" NOT NULL,
    at          DOUBLE PRECISION NOT NULL,  -- wall-clock Unix seconds
    ok          BOOLEAN NOT NULL,
    duration    DOUBLE PRECISION NOT NULL,  -- seconds
    status_code INTEGER,
    error       TEXT,
    offline     BOOLEAN NOT NULL
);

-- History of one probe: probe = $1 AND at in [since, until) ORDER BY at, id, read in index order.
CREATE INDEX probe_results_probe_at ON probe_results (probe, at, id);
-- Retention: at < cutoff over every probe, oldest first.
CREATE INDEX probe_results_at ON probe_results (at, id);

CREATE TABLE probe_rollups (
    probe      TEXT COLLATE "C" NOT NULL,
    resolution TEXT NOT NULL,    -- 'minute' or 'hour'
    start      BIGINT NOT NULL,  -- the period's first second (Unix), a multiple of its length
    successes  BIGINT NOT NULL,
    total      BIGINT NOT NULL,
    sketch     BYTEA NOT NULL,   -- packed latency sketch of the successes; empty when none
    -- Upserts, and the rollups of one probe: probe = $1 AND resolution = $2 AND start in a range.
    PRIMARY KEY (probe, resolution, start)
);

-- Retention (resolution = $1 AND start < cutoff, oldest first), and the counts of
-- every probe without their sketches (resolution = $1 AND start in a range): the
-- INCLUDE columns let that read be an index-only scan.
CREATE INDEX probe_rollups_resolution_start ON probe_rollups (resolution, start, probe) INCLUDE (successes, total);
