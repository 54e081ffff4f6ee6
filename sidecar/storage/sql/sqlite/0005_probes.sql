-- Probe history: raw results (kept probing.results_retention) and per-minute and
-- per-hour rollups (see sidecar/storage/_sqlite_probes.py).
--
-- An ordinary rowid table, not WITHOUT ROWID: no column set is a natural key (two
-- runs of a probe may share a timestamp), and results arrive in time order, so
-- new rows append at the end of the table b-tree. Full ties in `at` come back in
-- rowid (insertion) order, as PostgreSQL's come back in id order.
CREATE TABLE probe_results (
    probe       TEXT NOT NULL,
    at          REAL NOT NULL,     -- wall-clock Unix seconds
    ok          INTEGER NOT NULL,  -- 0 or 1
    duration    REAL NOT NULL,     -- seconds
    status_code INTEGER,
    error       TEXT,
    offline     INTEGER NOT NULL   -- 0 or 1
);

-- History of one probe: probe = ? AND at in [since, until), oldest first. The
-- index entries end with the rowid, so ORDER BY at, rowid needs no sort.
CREATE INDEX probe_results_probe_at ON probe_results (probe, at);
-- Retention: at < cutoff over every probe, oldest first (the probe_at index
-- would need one seek per probe for that).
CREATE INDEX probe_results_at ON probe_results (at);

-- WITHOUT ROWID, clustered by the key: a probe's rollups of one resolution are
-- stored side by side in time order, so a range read walks consecutive pages and
-- an upsert finds its row with one b-tree search. Rows stay small (sketches are a
-- few hundred bytes at most), which is what WITHOUT ROWID tables want.
CREATE TABLE probe_rollups (
    probe      TEXT NOT NULL,
    resolution TEXT NOT NULL,     -- 'minute' or 'hour'
    start      INTEGER NOT NULL,  -- the period's first second (Unix), a multiple of its length
    successes  INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    sketch     BLOB NOT NULL,     -- packed latency sketch of the successes; empty when none
    PRIMARY KEY (probe, resolution, start)
) WITHOUT ROWID;

-- Retention (resolution = ? AND start < cutoff, oldest first), and the counts of
-- every probe without their sketches (resolution = ? AND start in a range): the
-- index covers both, so neither reads the table.
CREATE INDEX probe_rollups_resolution_start ON probe_rollups (resolution, start, probe, successes, total);
