"""Spans in SQLite, as compressed blocks: batched inserts, trace lookups that read few blocks, bounded deletes.

A block holds up to :data:`BLOCK_SPANS` spans of one insert, packed by
:func:`._blocks.pack` (their start times, then one JSON line per span).
``span_traces`` holds one row per distinct trace per block: a batch adds far
fewer index entries than it has spans, which is what keeps inserts cheap, and
a trace lookup decodes only the blocks holding that trace.

NUL characters are stored as U+FFFD, as PostgreSQL has to: both backends
return the same spans.

Every function takes a plain ``sqlite3.Connection`` and runs on that
connection's own thread (see :mod:`._sqlite`); the writing ones run inside the
caller's transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sidecar.traces import SpanRecord

from ._base import SPAN_CHECKPOINT, span_key, without_nul
from ._blocks import decompress, pack, unpack
from ._sqlite_logs import PUT_STATE

BLOCK_SPANS = 1024
_NUL_JSON = b"\\u0000"
_CANDIDATES = 16  # blocks examined per retention round trip
# The blocks holding a trace, oldest first: a lookup by the span_traces primary key, then by block id.
# CROSS JOIN and NOT INDEXED leave SQLite that one plan: with statistics of a small database
# it chose to scan the min_start index for every trace row instead.
TRACE_BLOCKS = (
    "SELECT block.id, block.min_start FROM span_traces AS trace"
    " CROSS JOIN span_blocks AS block NOT INDEXED ON block.id = trace.block_id"
    " WHERE trace.trace_id = ? ORDER BY block.min_start"
)
_INSERT_BLOCK = "INSERT INTO span_blocks (min_start, max_start, live, data) VALUES (?, ?, ?, ?)"
_UPDATE_BLOCK = "UPDATE span_blocks SET min_start = ?, max_start = ?, live = ?, data = ? WHERE id = ?"
_INSERT_TRACE = "INSERT INTO span_traces (trace_id, block_id) VALUES (?, ?)"
_DELETE_TRACE = "DELETE FROM span_traces WHERE trace_id = ? AND block_id = ?"


@dataclass(frozen=True, slots=True)
class SpanBlock:
    """One block, ready to insert."""

    min_start: int
    max_start: int
    live: int  # spans in the block
    data: bytes
    traces: tuple[str, ...]  # the distinct trace ids, sorted

    def row(self) -> tuple[int, int, int, bytes]:
        """The ``span_blocks`` column values, in ``_INSERT_BLOCK`` order."""
        return self.min_start, self.max_start, self.live, self.data


def line_of(span: SpanRecord) -> bytes:
    """The JSON line storing ``span`` (NUL characters replaced by U+FFFD)."""
    line = orjson.dumps(span)
    if _NUL_JSON in line:
        line = orjson.dumps(without_nul(span))
    return line


def build_block(spans: Sequence[SpanRecord], encoded: Sequence[bytes] | None = None) -> SpanBlock:
    """The block holding ``spans`` (at least one), in their arrival order.

    ``encoded``, when given, holds each span's orjson encoding (as the spool has it),
    used as it is unless it holds a NUL character.
    """
    keys = [span_key(span) for span in spans]
    stamps = [start for _, _, start in keys]
    traces = sorted({without_nul(trace_id) for trace_id, _, _ in keys})
    if encoded is None:
        lines = [line_of(span) for span in spans]
    else:
        lines = [line_of(span) if _NUL_JSON in line else line for span, line in zip(spans, encoded, strict=True)]
    data = pack(stamps, lines)
    return SpanBlock(min(stamps), max(stamps), len(spans), data, tuple(traces))


def chunks(total: int) -> Iterator[tuple[int, int]]:
    """``(first, last)`` ranges cutting ``total`` spans into as few even blocks as :data:`BLOCK_SPANS` allows."""
    if not total:
        return
    count = -(-total // BLOCK_SPANS)
    size = -(-total // count)
    for first in range(0, total, size):
        yield first, min(first + size, total)


def spans_of_trace(data: bytes, trace_id: str) -> list[SpanRecord]:
    """The spans of ``trace_id`` in a block, in block order.

    Lines are found by the bytes every one of them holds (orjson writes the
    key as ``"trace_id":"<id>"``), so only those are parsed; the parsed
    span's own ``trace_id`` decides, as an attribute could hold the same bytes.
    """
    _, _, body = decompress(data).partition(b"\n")
    needle = b'"trace_id":' + orjson.dumps(trace_id)
    found: list[SpanRecord] = []
    position = 0
    while (position := body.find(needle, position)) >= 0:
        start = body.rfind(b"\n", 0, position) + 1
        end = body.find(b"\n", position)
        end = len(body) if end < 0 else end
        span: SpanRecord = orjson.loads(body[start:end])
        if span["trace_id"] == trace_id:
            found.append(span)
        position = end + 1
    return found


def insert_spans(
    db: sqlite3.Connection,
    spans: Sequence[SpanRecord],
    checkpoint: dict[str, Any] | None,
    encoded: Sequence[bytes] | None = None,
) -> None:
    """Insert ``spans`` as blocks (and the checkpoint) inside the caller's transaction."""
    for first, last in chunks(len(spans)):
        block = build_block(spans[first:last], None if encoded is None else encoded[first:last])
        block_id = db.execute(_INSERT_BLOCK, block.row()).lastrowid
        db.executemany(_INSERT_TRACE, [(trace_id, block_id) for trace_id in block.traces])
    if checkpoint is not None:
        db.execute(PUT_STATE, (*SPAN_CHECKPOINT, orjson.dumps(checkpoint).decode(), time.time()))


def get_trace(db: sqlite3.Connection, trace_id: str, limit: int) -> list[SpanRecord]:
    """The first ``limit`` spans of a trace by ``(start, span_id)``, decoding only the blocks holding it."""
    if limit <= 0:
        return []
    trace_id = without_nul(trace_id)
    # (start, span_id, block id, position, span): the last two keep full ties in insertion order.
    found: list[tuple[int, str, int, int, SpanRecord]] = []
    for block_id, min_start in db.execute(TRACE_BLOCKS, (trace_id,)).fetchall():
        # Blocks come oldest first: once `limit` spans start before this block's oldest, none of it can make it.
        if len(found) >= limit and found[limit - 1][0] < min_start:
            break
        row = db.execute("SELECT data FROM span_blocks WHERE id = ?", (block_id,)).fetchone()
        if row is not None:
            spans = spans_of_trace(row[0], trace_id)
            found += [(span["start"], span["span_id"], block_id, n, span) for n, span in enumerate(spans)]
            found.sort(key=lambda entry: entry[:4])
            del found[limit:]
    return [entry[4] for entry in found]


def trace_ids(lines: Iterable[bytes]) -> set[str]:
    """The trace ids of the spans on ``lines``."""
    return {orjson.loads(line)["trace_id"] for line in lines}


def delete_spans(db: sqlite3.Connection, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` spans starting before ``before_ns`` inside the caller's transaction; how many went.

    A block whose spans have all expired goes whole; one straddling the cutoff
    (or the limit) is rewritten without its expired spans. Either way the
    ``span_traces`` rows of traces no longer in the block go, by primary key.
    """
    deleted = 0
    while deleted < limit:
        rows = db.execute(
            "SELECT id, data FROM span_blocks WHERE min_start < ? ORDER BY min_start LIMIT ?",
            (before_ns, _CANDIDATES),
        ).fetchall()
        if not rows:
            break
        for block_id, data in rows:
            if deleted == limit:
                break
            deleted += _expire_block(db, block_id, data, before_ns, limit - deleted)
    return deleted


def _expire_block(db: sqlite3.Connection, block_id: int, data: bytes, before_ns: int, limit: int) -> int:
    """Remove up to ``limit`` expired spans from one block; how many went."""
    stamps, lines = unpack(data)
    kept_stamps: list[int] = []
    kept: list[bytes] = []
    gone: list[bytes] = []
    for stamp, line in zip(stamps, lines, strict=True):
        if stamp < before_ns and len(gone) < limit:
            gone.append(line)
        else:
            kept_stamps.append(stamp)
            kept.append(line)
    if not kept:
        db.execute("DELETE FROM span_blocks WHERE id = ?", (block_id,))
        departed = trace_ids(gone)
    else:
        db.execute(_UPDATE_BLOCK, (min(kept_stamps), max(kept_stamps), len(kept), pack(kept_stamps, kept), block_id))
        departed = trace_ids(gone) - trace_ids(kept)
    db.executemany(_DELETE_TRACE, [(trace_id, block_id) for trace_id in sorted(departed)])
    return len(gone)


def count_spans(db: sqlite3.Connection) -> int:
    """How many spans are stored."""
    row = db.execute("SELECT coalesce(sum(live), 0) FROM span_blocks").fetchone()
    return int(row[0]) if row else 0
