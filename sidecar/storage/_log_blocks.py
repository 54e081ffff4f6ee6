"""Log records packed into compressed blocks: the SQLite layout, as pure functions.

A block holds up to :data:`BLOCK_RECORDS` records of one severity from one
write, as Zstandard-compressed NDJSON (line ``i`` is record ``block_id * 65536 + i``;
a deleted record leaves an empty line, so ids never move). Next to the data a
block carries its search terms: the distinct tokens of its messages and the
distinct values of its keys. The full-text index over those terms finds the
blocks that may hold a match; :class:`RecordFilter` then decides record by
record, exactly.

One index entry per block and term instead of several per record is what lets
a single SQLite writer keep up with ingest (see the README's benchmarks).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson

from sidecar.logs import LogQuery, LogRecord, StoredLog

from ._blocks import decompress, pack, unpack

BLOCK_RECORDS = 512
ID_SHIFT = 16  # record id = block id << 16 | line; BLOCK_RECORDS must stay below 2**16
KEYS = ("service", "request_id", "trace_id", "user", "action")  # indexed by value, compared exactly
# A token is a run of letters and digits, compared lowercased: blocks index the
# tokens of their messages, a text term matches the run of tokens it is made of.
_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """The lowercased tokens of ``text``, in order."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True, slots=True)
class Block:
    """One block, ready to insert."""

    severity: int
    min_ts: int
    max_ts: int
    live: int  # records not deleted
    data: bytes
    terms: tuple[str, ...]  # message tokens, then one space-joined value list per KEYS entry


@dataclass(frozen=True, slots=True)
class PreparedLogs:
    """Spool lines made into blocks (picklable: it may be built in another process)."""

    blocks: list[Block]
    errors: list[LogRecord]  # the records that carry an error, for error tracking
    count: int


def prepare_logs(lines: list[bytes]) -> PreparedLogs:
    """The blocks of orjson-encoded records (their lines stored as they are), and those records' errors."""
    records: list[LogRecord] = [orjson.loads(line) for line in lines]
    errors = [record for record in records if record["error"] is not None]
    return PreparedLogs(build_blocks(records, lines), errors, len(records))


def build_blocks(records: Sequence[LogRecord], encoded: Sequence[bytes] | None = None) -> list[Block]:
    """The blocks holding ``records``: grouped by severity, in arrival order within each.

    ``encoded``, when given, holds each record's orjson encoding (as the spool
    has it already), which saves encoding them again.
    """
    lines = [orjson.dumps(record) for record in records] if encoded is None else encoded
    blocks: list[Block] = []
    # A stable sort: arrival order is kept within a severity.
    order = sorted(range(len(records)), key=lambda index: records[index]["severity"])
    for severity, group in groupby(order, key=lambda index: records[index]["severity"]):
        members = list(group)
        for start in range(0, len(members), BLOCK_RECORDS):
            chunk = members[start : start + BLOCK_RECORDS]
            kept = [records[i] for i in chunk]
            blocks.append(_block(severity, [record["ts"] for record in kept], [lines[i] for i in chunk], kept))
    return blocks


def _block(severity: int, stamps: list[int], lines: list[bytes], kept: list[LogRecord]) -> Block:
    """A block of ``lines`` (empty where deleted); ``kept`` are the records of the others, in order."""
    live = [stamps[number] for number, line in enumerate(lines) if line]
    return Block(
        severity=severity,
        min_ts=min(live),
        max_ts=max(live),
        live=len(kept),
        data=pack(stamps, lines),
        terms=block_terms(kept),
    )


def block_terms(records: Sequence[LogRecord]) -> tuple[str, ...]:
    """The full-text documents of a block: the distinct tokens of its messages, then of each key's values.

    Searches look for the tokens of what they are given, made by the same
    :func:`tokens`, so the index and the queries always agree on what a token is.
    """
    documents = []
    for key in ("message", *KEYS):
        # One tokenizing pass per column: a line break is no token character.
        text = "\n".join({value for record in records if (value := record[key])})  # type: ignore[literal-required]
        documents.append(" ".join(set(tokens(text))))
    return tuple(documents)


def record_id(block_id: int, line: int) -> int:
    """The id of the record on ``line`` of block ``block_id``."""
    return block_id << ID_SHIFT | line


def block_of(record_id_: int) -> int:
    """The block holding record ``record_id_``."""
    return record_id_ >> ID_SHIFT


class RecordFilter:
    """The exact, per-record test of a :class:`LogQuery` (the block index only narrows it down).

    A block is first sifted without parsing: by the timestamps in its header
    and by byte patterns every matching line must contain. Only the lines that
    could make the page are parsed and tested exactly (see :func:`merge_page`).
    """

    def __init__(self, query: LogQuery) -> None:
        self._query = query
        self._keys = [(key, getattr(query, key)) for key in KEYS if getattr(query, key) is not None]
        # orjson writes a record's keys in one fixed form: a line without `"key":value` cannot match.
        self._needles = [f'"{key}":'.encode() + orjson.dumps(value) for key, value in self._keys]
        phrases = [tokens(term) for term in (query.text or "").split()]
        self._phrases = [f" {' '.join(phrase)} " for phrase in phrases if phrase]
        # Every token of the text is somewhere in a matching line; bytes.lower() folds ASCII only,
        # so only ASCII tokens can be looked for in the lowered line.
        words = {word for phrase in phrases for word in phrase if word.isascii()}
        self._words = [word.encode() for word in sorted(words)]
        self._lowest = (0, 0) if query.after is None else query.after

    def candidates(self, block_id: int, data: bytes) -> list[tuple[int, int, bytes]]:
        """``(ts, id, line)`` of every line of a block that may match, newest first."""
        head, _, body = decompress(data).partition(b"\n")
        stamps: list[int] = orjson.loads(head)
        # bytes.lower() keeps every byte where it was: a line of one is the same line of the other.
        lowered = body.lower() if self._words else body
        query = self._query
        out = []
        for number, line, low in self._lines(body, lowered):
            ts = stamps[number]
            if (query.since_ns is not None and ts < query.since_ns) or (
                query.until_ns is not None and ts >= query.until_ns
            ):
                continue
            id_ = record_id(block_id, number)
            if query.after is not None and (ts, id_) >= query.after:
                continue
            if all(needle in line for needle in self._needles) and all(word in low for word in self._words):
                out.append((ts, id_, line))
        out.sort(reverse=True)
        return out

    def _lines(self, body: bytes, lowered: bytes) -> Iterator[tuple[int, bytes, bytes]]:
        """``(number, line, lowered line)`` of the lines that hold the rarest-looking pattern (all, without one)."""
        if self._needles:
            yield from _lines_holding(body, lowered, body, self._needles[0])
        elif self._words:
            yield from _lines_holding(body, lowered, lowered, max(self._words, key=len))
        else:
            for number, line in enumerate(body.split(b"\n")):
                if line:
                    yield number, line, line

    def confirm(self, id_: int, line: bytes) -> StoredLog | None:
        """The record on ``line`` if it passes every filter, else None."""
        record: LogRecord = orjson.loads(line)
        query = self._query
        if query.min_severity is not None and record["severity"] < query.min_severity:
            return None
        if any(record[key] != value for key, value in self._keys):  # type: ignore[literal-required]
            return None
        if self._phrases:
            text = f" {' '.join(tokens(record['message'] or ''))} "
            if not all(phrase in text for phrase in self._phrases):
                return None
        return StoredLog(id_, record)


def merge_page(
    found: list[StoredLog], candidates: list[tuple[int, int, bytes]], matcher: RecordFilter, wanted: int
) -> None:
    """Add a block's matching records to ``found`` (newest first, at most ``wanted``), in place.

    Candidates come newest first, so parsing stops at the first one that
    could no longer make the page.
    """
    for ts, id_, line in candidates:
        if len(found) == wanted and (ts, id_) < _position(found[-1]):
            return
        stored = matcher.confirm(id_, line)
        if stored is None:
            continue
        index = bisect.bisect_left(found, (-ts, -id_), key=_descending)
        found.insert(index, stored)
        del found[wanted:]


def _lines_holding(body: bytes, lowered: bytes, hay: bytes, probe: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    # One bytes.find per occurrence: the lines without the probe cost no Python at all.
    number, counted, position = 0, 0, 0
    while (position := hay.find(probe, position)) >= 0:
        start = hay.rfind(b"\n", 0, position) + 1
        end = hay.find(b"\n", position)
        end = len(hay) if end < 0 else end
        number += hay.count(b"\n", counted, start)
        counted = start
        yield number, body[start:end], lowered[start:end]
        position = end + 1


def _descending(stored: StoredLog) -> tuple[int, int]:
    return -stored.record["ts"], -stored.id


def _position(stored: StoredLog) -> tuple[int, int]:
    return stored.record["ts"], stored.id


def expire(data: bytes, before_ns: int, limit: int) -> tuple[int, list[int], list[bytes]]:
    """Blank out up to ``limit`` records of a block older than ``before_ns``.

    Returns how many went, and the block's timestamps and lines afterwards.
    """
    stamps, lines = unpack(data)
    gone = 0
    for number, line in enumerate(lines):
        if gone == limit:
            break
        if line and stamps[number] < before_ns:
            lines[number] = b""
            gone += 1
    return gone, stamps, lines


def rebuilt(severity: int, stamps: list[int], lines: list[bytes]) -> Block | None:
    """The block left after some of its records were blanked out (None when none is left)."""
    kept = [orjson.loads(line) for line in lines if line]
    return _block(severity, stamps, lines, kept) if kept else None


def block_row(block: Block) -> tuple[Any, ...]:
    """The column values of ``block`` in :data:`BLOCK_COLUMNS` order."""
    return (block.severity, block.min_ts, block.max_ts, block.live, block.data, *block.terms)


BLOCK_COLUMNS = ("severity", "min_ts", "max_ts", "live", "data", "message", *KEYS)
