-- Stored spans, one row per span; `data` is the whole SpanRecord.
--
-- Not partitioned, like logs: retention deletes in bounded batches through
-- spans_start_ns and autovacuum reclaims the space for new rows.
CREATE TABLE spans (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id  TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    data     JSONB NOT NULL
);

-- A trace holds few spans: sorting them is cheaper than a wider index.
CREATE INDEX spans_trace_id ON spans (trace_id);
-- Retention: start_ns < cutoff.
CREATE INDEX spans_start_ns ON spans (start_ns);
