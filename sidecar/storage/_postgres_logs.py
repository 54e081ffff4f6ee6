"""Log records in PostgreSQL: COPY inserts, keyset search over indexes and a GIN text index, bounded deletes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from sidecar.logs import LogPage, LogQuery, LogRecord, StoredLog

from ._base import EQUALITY_FILTERS, LOG_COLUMNS, record_from_row, searchable, severity_values, without_nul

# Statements are assembled from fixed column names only; every value is a bound parameter.
_SELECT = "SELECT id, " + ", ".join(f'"{column}"' for column in LOG_COLUMNS) + " FROM logs"  # noqa: S608
# The same expression as the logs_message_fts index, or the index is not used.
_TSVECTOR = "to_tsvector('simple', coalesce(message, ''))"
_PUT_CHECKPOINT = (
    "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES ('ingest', 'spool_checkpoint', $1, now())"
    " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()"
)
_NUL = "\x00"
_NUL_JSON = b"\\u0000"


def encode_jsonb(value: Any) -> bytes:
    """JSONB in the binary wire format (what COPY needs): a version byte, then the JSON text."""
    data = orjson.dumps(value)
    if _NUL_JSON in data:
        data = orjson.dumps(without_nul(value))
    return b"\x01" + data


def decode_jsonb(data: bytes) -> Any:
    """The value of a binary-format JSONB datum."""
    return orjson.loads(data[1:])


def _text(value: str | None) -> str | None:
    return value.replace(_NUL, "\ufffd") if value is not None and _NUL in value else value


def _row(record: LogRecord) -> tuple[Any, ...]:
    return (
        record["ts"],
        record["observed"],
        record["severity"],
        record["level"],
        _text(record.get("service")),
        _text(record.get("message")),
        _text(record.get("request_id")),
        _text(record.get("trace_id")),
        _text(record.get("span_id")),
        _text(record.get("user")),
        _text(record.get("action")),
        record.get("duration_ms"),
        record.get("error"),
        record.get("attributes") or {},
    )


async def insert_logs(
    connection: asyncpg.Connection, records: Sequence[LogRecord], checkpoint: dict[str, Any] | None
) -> None:
    """COPY ``records`` (and upsert the checkpoint) inside the caller's transaction."""
    if records:
        await connection.copy_records_to_table("logs", records=[_row(r) for r in records], columns=LOG_COLUMNS)
    if checkpoint is not None:
        await connection.execute(_PUT_CHECKPOINT, checkpoint)


def search_sql(query: LogQuery) -> tuple[str, list[Any]]:
    """The statement (and its parameters) answering ``query``, fetching one row past the page."""
    conditions: list[str] = []
    params: list[Any] = []

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.since_ns is not None:
        conditions.append(f"ts >= {bind(query.since_ns)}")
    if query.until_ns is not None:
        conditions.append(f"ts < {bind(query.until_ns)}")
    if query.min_severity is not None:
        conditions.append(f"severity >= {bind(query.min_severity)}")
    for name in EQUALITY_FILTERS:
        value = getattr(query, name)
        if value is not None:
            conditions.append(f'"{name}" = {bind(value)}')
    if query.after is not None:
        ts, row_id = query.after
        conditions.append(f"(ts, id) < ({bind(ts)}, {bind(row_id)})")
    if query.text is not None:
        # plainto_tsquery reads operators and punctuation as plain separators: no input is a syntax error.
        conditions.append(f"{_TSVECTOR} @@ plainto_tsquery('simple', {bind(query.text)})")
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    return f"{_SELECT}{where} ORDER BY ts DESC, id DESC LIMIT {bind(query.limit + 1)}", params


async def search_logs(connection: asyncpg.Connection, query: LogQuery) -> LogPage:
    """One page of matching records, newest first."""
    if query.text is not None and not searchable(query.text):
        return LogPage([], None)
    sql, params = search_sql(query)
    rows = await connection.fetch(sql, *params)
    found = [StoredLog(row[0], record_from_row(row[1:], _decoded)) for row in rows[: query.limit]]
    more = len(rows) > query.limit and found
    return LogPage(found, (found[-1].record["ts"], found[-1].id) if more else None)


def _decoded(value: Any) -> Any:
    return value  # the connection's JSONB codec has decoded it already


def delete_sql(min_severity: int, max_severity: int, before_ns: int, limit: int) -> tuple[str, list[Any]]:
    """The statement (and its parameters) deleting one bounded batch."""
    values = severity_values(min_severity, max_severity)
    if values is None:
        severity, params = "severity BETWEEN $3 AND $4", [min_severity, max_severity]
    else:
        severity, params = "severity = ANY($3::integer[])", [values]
    # Deleting by ctid makes the plan a TID scan of the batch, whatever the statistics say.
    sql = f"DELETE FROM logs WHERE ctid = ANY(ARRAY(SELECT ctid FROM logs WHERE {severity} AND ts < $1 LIMIT $2))"  # noqa: S608
    return sql, [before_ns, limit, *params]


async def delete_logs(
    connection: asyncpg.Connection, min_severity: int, max_severity: int, before_ns: int, limit: int
) -> int:
    """Delete one bounded batch; how many rows went."""
    sql, params = delete_sql(min_severity, max_severity, before_ns, limit)
    status = await connection.execute(sql, *params)
    return int(status.split()[-1])


async def count_logs(connection: asyncpg.Connection) -> int:
    """How many records are stored."""
    return int(await connection.fetchval("SELECT count(*) FROM logs"))
