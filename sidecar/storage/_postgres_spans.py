"""Spans in PostgreSQL, one row per span: COPY inserts, trace lookups by index, bounded deletes.

PostgreSQL text and JSONB cannot hold NUL: every NUL character is stored as
U+FFFD (the JSONB codec of the connection does it for ``data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from sidecar.traces import SpanRecord

from ._base import SPAN_CHECKPOINT, span_key, without_nul

_COLUMNS = ("trace_id", "span_id", "start_ns", "data")
_PUT_CHECKPOINT = (
    "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES ($1, $2, $3, now())"
    " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()"
)
# id last: full ties come back in insertion order, as on SQLite.
GET_TRACE = "SELECT data FROM spans WHERE trace_id = $1 ORDER BY start_ns, span_id, id LIMIT $2"
# The ids are listed once (an init plan) and deleted through the primary key, whatever the statistics say.
DELETE_EXPIRED = "DELETE FROM spans WHERE id = ANY(ARRAY(SELECT id FROM spans WHERE start_ns < $1 LIMIT $2))"


def _row(span: SpanRecord) -> tuple[Any, ...]:
    trace_id, span_id, start = span_key(span)
    return without_nul(trace_id), without_nul(span_id), start, span


async def insert_spans(
    connection: asyncpg.Connection, spans: Sequence[SpanRecord], checkpoint: dict[str, Any] | None
) -> None:
    """COPY ``spans`` (and upsert the checkpoint) inside the caller's transaction."""
    if spans:
        await connection.copy_records_to_table("spans", records=[_row(span) for span in spans], columns=_COLUMNS)
    if checkpoint is not None:
        await connection.execute(_PUT_CHECKPOINT, *SPAN_CHECKPOINT, checkpoint)


async def get_trace(connection: asyncpg.Connection, trace_id: str, limit: int) -> list[SpanRecord]:
    """The first ``limit`` spans of a trace by ``(start, span_id)``."""
    if limit <= 0:
        return []
    rows = await connection.fetch(GET_TRACE, without_nul(trace_id), limit)
    return [row[0] for row in rows]


async def delete_spans(connection: asyncpg.Connection, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` spans starting before ``before_ns``; how many went."""
    status = await connection.execute(DELETE_EXPIRED, before_ns, limit)
    return int(status.split()[-1])


async def count_spans(connection: asyncpg.Connection) -> int:
    """How many spans are stored."""
    return int(await connection.fetchval("SELECT count(*) FROM spans"))
