"""Log records in SQLite: batched inserts, keyset search over indexes and FTS5, bounded deletes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import aiosqlite
import orjson

from sidecar.logs import LogPage, LogQuery, LogRecord, StoredLog

from ._base import LOG_COLUMNS, record_from_row, searchable, severity_values

# Statements are assembled from fixed column names only; every value is a bound parameter.
_SELECT = "SELECT id, " + ", ".join(f'"{column}"' for column in LOG_COLUMNS) + " FROM logs"  # noqa: S608
_COLUMNS = ", ".join(f'"{column}"' for column in LOG_COLUMNS)
# A batch is staged in a temporary table, then moved by one INSERT ... SELECT.
_STAGING = f"CREATE TEMP TABLE IF NOT EXISTS logs_batch ({_COLUMNS})"
_STAGE = f"INSERT INTO temp.logs_batch ({_COLUMNS}) VALUES ({', '.join('?' for _ in LOG_COLUMNS)})"  # noqa: S608
_MOVE = f"INSERT INTO logs ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.logs_batch ORDER BY rowid"  # noqa: S608
# Equality filters from the most to the least selective. The random keys are
# found through the full-text index, then checked on the row for the exact value.
_BY_SELECTIVITY = ("request_id", "trace_id", "user", "action", "service")
_FTS_KEYS = ("request_id", "trace_id", "user")
_INDEXED = frozenset({"action", "service"})
# Past this many full-text matches, walking newest first beats sorting every match
# (measured at 1M records: 50k matches cost ~100 ms sorted, ~20 ms walked).
COMMON_MATCHES = 20_000
_PUT_STATE = (
    "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


def _row(record: LogRecord) -> tuple[Any, ...]:
    error = record.get("error")
    return (
        record["ts"],
        record["observed"],
        record["severity"],
        record["level"],
        record.get("service"),
        record.get("message"),
        record.get("request_id"),
        record.get("trace_id"),
        record.get("span_id"),
        record.get("user"),
        record.get("action"),
        record.get("duration_ms"),
        None if error is None else orjson.dumps(error).decode(),
        orjson.dumps(record.get("attributes") or {}).decode(),
    )


async def insert_logs(
    db: aiosqlite.Connection, records: Sequence[LogRecord], checkpoint: dict[str, Any] | None
) -> None:
    """Insert ``records`` (and the checkpoint) inside the caller's transaction.

    The records reach ``logs`` in one statement: FTS5 flushes its pending terms
    at the end of every statement, so ``executemany`` straight into ``logs``
    would write one tiny index segment per row (measured four times slower).
    """
    await db.execute(_STAGING)
    await db.executemany(_STAGE, [_row(record) for record in records])
    await db.execute(_MOVE)
    await db.execute("DELETE FROM temp.logs_batch")
    if checkpoint is not None:
        await db.execute(_PUT_STATE, ("ingest", "spool_checkpoint", orjson.dumps(checkpoint).decode(), time.time()))


def _phrase(column: str, text: str) -> str:
    # Inside double quotes FTS5 syntax has no meaning: the text is a phrase of its tokens.
    return f'{column} : "{text.replace(chr(34), chr(34) * 2)}"'


def fts_match(query: LogQuery) -> str | None:
    """The FTS5 expression for the text and random-key filters (None when there is nothing to match).

    Every searchable whitespace-separated term must be in the message; a term
    without letters or digits is dropped. Keys go in whole, as a phrase of their
    tokens, and the row is checked for the exact value; a key without letters or
    digits has no tokens, and only that check (a walk of the ts index) finds it.
    """
    phrases = [_phrase("message", term) for term in (query.text or "").split() if searchable(term)]
    for column in _FTS_KEYS:
        value = getattr(query, column)
        if value is not None and searchable(value):
            phrases.append(_phrase(column, value))
    return " AND ".join(phrases) or None


def _conditions(query: LogQuery) -> tuple[list[str], list[Any]]:
    """The WHERE terms of every filter but the full-text ones."""
    conditions: list[str] = []
    params: list[Any] = []
    if query.since_ns is not None:
        conditions.append("ts >= ?")
        params.append(query.since_ns)
    if query.until_ns is not None:
        conditions.append("ts < ?")
        params.append(query.until_ns)
    if query.min_severity is not None:
        conditions.append("severity >= ?")
        params.append(query.min_severity)
    # Without statistics SQLite cannot tell which equality is the selective one:
    # the most selective column present walks its index, `+` makes the others plain filters.
    walked = False
    for name in _BY_SELECTIVITY:
        value = getattr(query, name)
        if value is not None:
            conditions.append(f'{"+" if walked else ""}"{name}" = ?')
            params.append(value)
            walked = walked or name in _INDEXED
    if query.after is not None:
        # `ts <= ?` bounds the index range; the OR only sorts out ties on the boundary ts.
        ts, row_id = query.after
        conditions.append("ts <= ? AND (ts < ? OR id < ?)")
        params += [ts, ts, row_id]
    return conditions, params


def search_sql(query: LogQuery, match: str | None, *, common: bool = False) -> tuple[str, list[Any]]:
    """The statement (and its parameters) answering ``query``, fetching one row past the page.

    ``match`` is the query's FTS5 expression. When it matches few rows (not
    ``common``) they are fetched by id and sorted; when it matches many, the
    ts (or other filter's) index is walked newest first, testing each row against
    the set of matching ids, and the walk stops after a page.
    """
    conditions, params = _conditions(query)
    order = " ORDER BY ts DESC, id DESC"
    if match is None or common:
        if match is not None:
            conditions.append("+id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)")
            params.append(match)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        return f"{_SELECT}{where}{order} LIMIT ?", [*params, query.limit + 1]
    conditions.insert(0, "id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)")
    # NOT INDEXED leaves one access path, by id; only (ts, id) is sorted, whole rows are read for one page.
    page = f"SELECT id FROM logs NOT INDEXED WHERE {' AND '.join(conditions)}{order} LIMIT ?"  # noqa: S608
    return f"{_SELECT} WHERE id IN ({page}){order}", [match, *params, query.limit + 1]


async def _is_common(db: aiosqlite.Connection, match: str) -> bool:
    # Counting stops at the threshold: cheap (FTS5 reads ids only), whatever the term.
    async with db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ? LIMIT ?)", (match, COMMON_MATCHES)
    ) as cursor:
        row = await cursor.fetchone()
    return row is not None and row[0] >= COMMON_MATCHES


async def search_logs(db: aiosqlite.Connection, query: LogQuery) -> LogPage:
    """One page of matching records, newest first."""
    if query.text is not None and not searchable(query.text):
        return LogPage([], None)
    match = fts_match(query)
    common = match is not None and await _is_common(db, match)
    sql, params = search_sql(query, match, common=common)
    async with db.execute(sql, params) as cursor:
        rows = await cursor.fetchall()
    found = [StoredLog(row[0], record_from_row(row[1:], orjson.loads)) for row in rows[: query.limit]]
    more = len(rows) > query.limit and found
    return LogPage(found, (found[-1].record["ts"], found[-1].id) if more else None)


def delete_sql(min_severity: int, max_severity: int, before_ns: int, limit: int) -> tuple[str, list[Any]]:
    """The statement (and its parameters) deleting one bounded batch."""
    values = severity_values(min_severity, max_severity)
    if values is None:
        severity, params = "severity BETWEEN ? AND ?", [min_severity, max_severity]
    else:
        severity, params = f"severity IN ({', '.join('?' for _ in values)})", list(values)
    sql = f"DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE {severity} AND ts < ? LIMIT ?)"  # noqa: S608
    return sql, [*params, before_ns, limit]


async def delete_logs(
    db: aiosqlite.Connection, min_severity: int, max_severity: int, before_ns: int, limit: int
) -> int:
    """Delete one bounded batch inside the caller's transaction; how many rows went."""
    cursor = await db.execute(*delete_sql(min_severity, max_severity, before_ns, limit))
    return cursor.rowcount


async def count_logs(db: aiosqlite.Connection) -> int:
    """How many records are stored."""
    async with db.execute("SELECT count(*) FROM logs") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
