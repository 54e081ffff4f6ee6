"""Probe history in SQLite: raw results and per-minute and per-hour rollups, with bounded deletes.

NUL characters are stored as U+FFFD, as PostgreSQL has to: both backends
return the same values.

Every function takes a plain ``sqlite3.Connection`` and runs on that
connection's own thread (see :mod:`._sqlite`); the writing ones run inside the
caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sidecar.probes._model import Resolution, Rollup, StoredResult

from ._base import probe_result_row, probe_rollup_row, without_nul

_INSERT_RESULT = (
    "INSERT INTO probe_results (probe, at, ok, duration, status_code, error, offline) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Through probe_results_probe_at, whose entries end with the rowid: no sort.
SELECT_RESULTS = (
    "SELECT probe, at, ok, duration, status_code, error, offline FROM probe_results"
    " WHERE probe = ? AND at >= ? AND at < ? ORDER BY at, rowid LIMIT ?"
)
# The oldest rows through probe_results_at, deleted by rowid.
DELETE_RESULTS = (
    "DELETE FROM probe_results WHERE rowid IN (SELECT rowid FROM probe_results WHERE at < ? ORDER BY at, rowid LIMIT ?)"
)
_PUT_ROLLUP = (
    "INSERT INTO probe_rollups (probe, resolution, start, successes, total, sketch) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (probe, resolution, start) DO UPDATE SET"
    " successes = excluded.successes, total = excluded.total, sketch = excluded.sketch"
)
_ROLLUP_COLUMNS = "probe, resolution, start, successes, total"
# The oldest rollups through probe_rollups_resolution_start (it holds the whole key), deleted by key.
DELETE_ROLLUPS = (
    "DELETE FROM probe_rollups WHERE (probe, resolution, start) IN"
    " (SELECT probe, resolution, start FROM probe_rollups WHERE resolution = ? AND start < ?"
    " ORDER BY start, probe LIMIT ?)"
)


def rollups_sql(one_probe: bool, sketches: bool) -> str:
    """The query reading rollups: one probe's through the primary key, every probe's through the
    (resolution, start) index (covering, without sketches)."""
    columns = _ROLLUP_COLUMNS + (", sketch" if sketches else "")
    where = "resolution = ? AND start >= ? AND start < ?" + (" AND probe = ?" if one_probe else "")
    return f"SELECT {columns} FROM probe_rollups WHERE {where} ORDER BY probe, start"  # noqa: S608 (no input)


def insert_probe_results(db: sqlite3.Connection, results: Sequence[StoredResult]) -> None:
    """Insert ``results`` inside the caller's transaction."""
    db.executemany(_INSERT_RESULT, [probe_result_row(result) for result in results])


def probe_results(db: sqlite3.Connection, probe: str, since: float, until: float, limit: int) -> list[StoredResult]:
    """The first ``limit`` results of ``probe`` with ``since <= at < until``, oldest first."""
    if limit <= 0:
        return []
    rows = db.execute(SELECT_RESULTS, (without_nul(probe), since, until, limit)).fetchall()
    return [
        StoredResult(name, at, bool(ok), duration, status_code, error, bool(offline))
        for name, at, ok, duration, status_code, error, offline in rows
    ]


def delete_probe_results(db: sqlite3.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` results with ``at < before`` inside the caller's transaction; how many went."""
    if limit <= 0:
        return 0
    return db.execute(DELETE_RESULTS, (before, limit)).rowcount


def put_probe_rollups(db: sqlite3.Connection, rollups: Sequence[Rollup]) -> None:
    """Upsert ``rollups`` inside the caller's transaction (the last of a key wins)."""
    db.executemany(_PUT_ROLLUP, [probe_rollup_row(rollup) for rollup in rollups])


def probe_rollups(
    db: sqlite3.Connection, resolution: Resolution, since: int, until: int, probe: str | None, sketches: bool
) -> list[Rollup]:
    """The rollups of ``resolution`` with ``since <= start < until`` (of ``probe``, or of all), by (probe, start)."""
    params: list[Any] = [resolution, since, until]
    if probe is not None:
        params.append(without_nul(probe))
    rows = db.execute(rollups_sql(probe is not None, sketches), params).fetchall()
    if sketches:
        return [Rollup(*row) for row in rows]
    return [Rollup(*row, sketch=b"") for row in rows]


def delete_probe_rollups(db: sqlite3.Connection, resolution: Resolution, before: int, limit: int) -> int:
    """Delete up to ``limit`` rollups of ``resolution`` with ``start < before``; how many went."""
    if limit <= 0:
        return 0
    return db.execute(DELETE_ROLLUPS, (resolution, before, limit)).rowcount
