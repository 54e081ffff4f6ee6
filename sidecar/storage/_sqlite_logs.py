"""Log records in SQLite, as compressed blocks: batched inserts, block-pruned search, bounded deletes.

Every function takes a plain ``sqlite3.Connection`` and runs on that
connection's own thread (see :mod:`._sqlite`); the writing ones run inside the
caller's transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from sidecar.logs import LogPage, LogQuery, LogRecord, StoredLog

from ._base import LOG_COLUMNS, record_from_row, searchable, severity_values
from ._log_blocks import (
    BLOCK_COLUMNS,
    KEYS,
    Block,
    RecordFilter,
    block_row,
    build_blocks,
    expire,
    merge_page,
    rebuilt,
    tokens,
)

# Statements are assembled from fixed column names only; every value is a bound parameter.
_COLUMNS = ", ".join(f'"{column}"' for column in BLOCK_COLUMNS)
_INSERT = f"INSERT INTO log_blocks ({_COLUMNS}) VALUES ({', '.join('?' for _ in BLOCK_COLUMNS)})"  # noqa: S608
_UPDATE = f"UPDATE log_blocks SET ({_COLUMNS}) = ({', '.join('?' for _ in BLOCK_COLUMNS)}) WHERE id = ?"  # noqa: S608
# Past this many matching blocks, walking blocks newest first and testing each
# against the matches beats fetching and sorting every match.
COMMON_MATCHES = 2_000
_CANDIDATES = 16  # blocks examined per retention round trip
PUT_STATE = (
    "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


def insert_logs(
    db: sqlite3.Connection,
    records: Sequence[LogRecord],
    checkpoint: dict[str, Any] | None,
    encoded: Sequence[bytes] | None = None,
) -> None:
    """Insert ``records`` as blocks (and the checkpoint) inside the caller's transaction."""
    insert_blocks(db, build_blocks(records, encoded), checkpoint)


def insert_blocks(db: sqlite3.Connection, blocks: Sequence[Block], checkpoint: dict[str, Any] | None) -> None:
    """Insert built blocks (and the checkpoint) inside the caller's transaction."""
    db.executemany(_INSERT, [block_row(block) for block in blocks])
    if checkpoint is not None:
        db.execute(PUT_STATE, ("ingest", "spool_checkpoint", orjson.dumps(checkpoint).decode(), time.time()))


def _phrase(column: str, text: str) -> str:
    # Inside double quotes FTS5 syntax has no meaning: the text is a phrase of its tokens.
    return f'{column} : "{text.replace(chr(34), chr(34) * 2)}"'


def fts_match(query: LogQuery) -> str | None:
    """The FTS5 expression selecting the blocks that may hold a match (None: no index helps).

    The index keeps which tokens each column of a block holds, not where
    (``detail = column``: smaller and faster to write), so every filter asks
    for each of its tokens in its column; the records decide the rest. A key
    without letters or digits has no tokens: only the records can tell.
    """
    wanted = {("message", token) for term in (query.text or "").split() for token in tokens(term)}
    for column in KEYS:
        value = getattr(query, column)
        if value is not None:
            wanted.update((column, token) for token in tokens(value))
    return " AND ".join(_phrase(f'"{column}"', token) for column, token in sorted(wanted)) or None


def _conditions(query: LogQuery) -> tuple[list[str], list[Any]]:
    """The WHERE terms on blocks for every filter but the full-text ones."""
    conditions: list[str] = []
    params: list[Any] = []
    if query.since_ns is not None:
        conditions.append("max_ts >= ?")
        params.append(query.since_ns)
    if query.until_ns is not None:
        conditions.append("min_ts < ?")
        params.append(query.until_ns)
    if query.min_severity is not None:
        # Unary + keeps SQLite from sorting every block of a severity range: blocks are walked newest first.
        conditions.append("+severity >= ?")
        params.append(query.min_severity)
    if query.after is not None:
        conditions.append("min_ts <= ?")
        params.append(query.after[0])
    return conditions, params


def blocks_sql(query: LogQuery, match: str | None, *, common: bool = False) -> tuple[str, list[Any]]:
    """The statement listing the candidate blocks newest first (by their newest record).

    When the full-text index matches few blocks (not ``common``) they are
    fetched by id and sorted; when it matches many, the ``max_ts`` index is
    walked newest first, testing each block against the matches, and the
    caller stops once a page is certain.
    """
    conditions, params = _conditions(query)
    table = "log_blocks"
    if match is not None:
        conditions.append(
            f"{'+' if common else ''}id IN (SELECT rowid FROM log_blocks_fts WHERE log_blocks_fts MATCH ?)"  # noqa: S608
        )
        params.append(match)
        if not common:
            table = "log_blocks NOT INDEXED"  # one access path left: by id
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    return f"SELECT id, max_ts FROM {table}{where} ORDER BY max_ts DESC", params  # noqa: S608


def _is_common(db: sqlite3.Connection, match: str) -> bool:
    # Counting stops at the threshold: cheap (FTS5 reads ids only), whatever the term.
    row = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM log_blocks_fts WHERE log_blocks_fts MATCH ? LIMIT ?)",
        (match, COMMON_MATCHES),
    ).fetchone()
    return row is not None and row[0] >= COMMON_MATCHES


def search_logs(db: sqlite3.Connection, query: LogQuery) -> LogPage:
    """One page of matching records, newest first."""
    if query.text is not None and not searchable(query.text):
        return LogPage([], None)
    match = fts_match(query)
    try:
        common = match is not None and _is_common(db, match)
    except sqlite3.OperationalError:
        # A token FTS5 would cut in two makes a phrase, which this index cannot answer:
        # without the index, the records alone decide (slower, still exact).
        match, common = None, False
    wanted = query.limit + 1  # one past the page tells whether another exists
    matcher = RecordFilter(query)
    found: list[StoredLog] = []
    for block_id, max_ts in _candidates(db, query, match, common):
        # Every later block's records are no newer than its max_ts: once a full page is newer, stop.
        if len(found) == wanted and found[-1].record["ts"] > max_ts:
            break
        row = db.execute("SELECT data FROM log_blocks WHERE id = ?", (block_id,)).fetchone()
        if row is not None:
            merge_page(found, matcher.candidates(block_id, row[0]), matcher, wanted)
    page = found[: query.limit]
    more = len(found) > query.limit
    return LogPage(page, (page[-1].record["ts"], page[-1].id) if more else None)


def _candidates(db: sqlite3.Connection, query: LogQuery, match: str | None, common: bool) -> Iterator[tuple[int, int]]:
    cursor = db.execute(*blocks_sql(query, match, common=common))
    try:
        while rows := cursor.fetchmany(64):
            yield from rows
    finally:
        cursor.close()


def expired_sql(min_severity: int, max_severity: int, before_ns: int) -> tuple[str, list[Any]]:
    """The statement (and its parameters but the last, a LIMIT) finding blocks holding expired records."""
    values = severity_values(min_severity, max_severity)
    if values is None:
        severity, params = "severity BETWEEN ? AND ?", [min_severity, max_severity]
    else:
        severity, params = f"severity IN ({', '.join('?' for _ in values)})", list(values)
    sql = f"SELECT id, severity, max_ts, live, data FROM log_blocks WHERE {severity} AND min_ts < ? LIMIT ?"  # noqa: S608
    return sql, [*params, before_ns]


def delete_logs(db: sqlite3.Connection, min_severity: int, max_severity: int, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` records inside the caller's transaction; how many went.

    Whole blocks go when every record in them is old enough; a block that
    straddles the cutoff (or the limit) is rewritten without its expired records.
    """
    select, params = expired_sql(min_severity, max_severity, before_ns)
    deleted = 0
    while deleted < limit:
        rows = db.execute(select, [*params, _CANDIDATES]).fetchall()
        if not rows:
            break
        for block_id, block_severity, max_ts, live, data in rows:
            left = limit - deleted
            if left == 0:
                break
            if max_ts < before_ns and live <= left:
                db.execute("DELETE FROM log_blocks WHERE id = ?", (block_id,))
                deleted += live
                continue
            gone, stamps, lines = expire(data, before_ns, left)
            deleted += gone
            block = rebuilt(block_severity, stamps, lines)
            if block is None:
                db.execute("DELETE FROM log_blocks WHERE id = ?", (block_id,))
            else:
                db.execute(_UPDATE, (*block_row(block), block_id))
    return deleted


def count_logs(db: sqlite3.Connection) -> int:
    """How many records are stored."""
    row = db.execute("SELECT coalesce(sum(live), 0) FROM log_blocks").fetchone()
    return int(row[0]) if row else 0


def adopt_row_table(db: sqlite3.Connection, chunk: int = 20_000) -> None:
    """Move the records of the one-row-per-record ``logs`` table of schema 2 into blocks, then drop it."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'logs'").fetchone() is None:
        return
    columns = ", ".join(f'"{column}"' for column in LOG_COLUMNS)
    last = 0
    while True:
        rows = db.execute(
            f"SELECT id, {columns} FROM logs WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
            (last, chunk),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        blocks: list[Block] = build_blocks([record_from_row(row[1:], orjson.loads) for row in rows])
        db.executemany(_INSERT, [block_row(block) for block in blocks])
    for statement in (
        "DROP TRIGGER IF EXISTS logs_fts_insert",
        "DROP TRIGGER IF EXISTS logs_fts_delete",
        "DROP TRIGGER IF EXISTS logs_fts_update",
        "DROP TABLE IF EXISTS logs_fts",
        "DROP TABLE logs",
    ):
        db.execute(statement)
