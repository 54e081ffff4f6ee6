-- Stored log records, newest first by (ts, id).
--
-- Not partitioned, on purpose: retention keeps each severity range for its own
-- period, so whole day partitions could rarely be dropped, and partitions made
-- ahead by a maintenance job (plus a default partition that clock-skewed records
-- fill and that blocks creating an overlapping partition) add failure modes for
-- little gain. Retention deletes in bounded batches through logs_severity_ts;
-- autovacuum reclaims the space for new rows.
CREATE TABLE logs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          BIGINT NOT NULL,
    observed    BIGINT NOT NULL,
    severity    INTEGER NOT NULL,
    level       TEXT NOT NULL,
    service     TEXT,
    message     TEXT,
    request_id  TEXT,
    trace_id    TEXT,
    span_id     TEXT,
    "user"      TEXT,
    action      TEXT,
    duration_ms DOUBLE PRECISION,
    error       JSONB,
    attributes  JSONB NOT NULL
);

-- Every index costs ingest throughput; each one serves one search filter, with
-- (ts, id) last so that newest-first + LIMIT is a backward index walk.
CREATE INDEX logs_ts ON logs (ts, id);
-- Retention (severity = ANY(...) AND ts < cutoff) and the minimum-severity filter.
CREATE INDEX logs_severity_ts ON logs (severity, ts, id);
CREATE INDEX logs_service_ts ON logs (service, ts, id);
-- A request or a trace holds few records: sorting them is cheaper than a wider index.
CREATE INDEX logs_request_id ON logs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX logs_trace_id ON logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_user_ts ON logs ("user", ts, id) WHERE "user" IS NOT NULL;
CREATE INDEX logs_action_ts ON logs (action, ts, id) WHERE action IS NOT NULL;
-- Full text over the message; queries must use this exact expression.
CREATE INDEX logs_message_fts ON logs USING gin (to_tsvector('simple', coalesce(message, '')));
