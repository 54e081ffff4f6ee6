-- Spans in compressed blocks (see sidecar/storage/_sqlite_spans.py): one row per
-- block of up to 1024 spans of one insert.
CREATE TABLE span_blocks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a stale span_traces row cannot name a new block
    min_start INTEGER NOT NULL,
    max_start INTEGER NOT NULL,
    live      INTEGER NOT NULL,  -- spans in the block
    data      BLOB NOT NULL      -- Zstandard-compressed start times and NDJSON spans; last, so index walks never read it
);

-- Retention: `min_start < cutoff` is exactly the set of blocks holding an expired span,
-- whether the whole block goes or it straddles the cutoff and is rewritten.
CREATE INDEX span_blocks_min_start ON span_blocks (min_start);

-- Which blocks hold a trace's spans: one row per distinct trace per block, so a
-- batch of 512 spans adds far fewer index entries than spans. No index on
-- block_id: retention reads a block's trace ids from its data and deletes by key.
CREATE TABLE span_traces (
    trace_id TEXT NOT NULL,
    block_id INTEGER NOT NULL,
    PRIMARY KEY (trace_id, block_id)
) WITHOUT ROWID;
