"""Probe history in PostgreSQL: COPY inserts of results, upserted rollups, bounded deletes.

PostgreSQL text cannot hold NUL: every NUL character is stored as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sidecar.probes._model import Resolution, Rollup, StoredResult

from ._base import probe_result_row, probe_rollup_row, without_nul

_RESULT_COLUMNS = ("probe", "at", "ok", "duration", "status_code", "error", "offline")
# Through probe_results_probe_at (probe, at, id): read in index order, no sort.
SELECT_RESULTS = (
    "SELECT probe, at, ok, duration, status_code, error, offline FROM probe_results"
    " WHERE probe = $1 AND at >= $2 AND at < $3 ORDER BY at, id LIMIT $4"
)
# The ids of the oldest rows are listed once (an init plan) and deleted through the primary key.
DELETE_RESULTS = (
    "DELETE FROM probe_results WHERE id = ANY(ARRAY("
    "SELECT id FROM probe_results WHERE at < $1 ORDER BY at, id LIMIT $2))"
)
_PUT_ROLLUP = (
    "INSERT INTO probe_rollups (probe, resolution, start, successes, total, sketch) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (probe, resolution, start) DO UPDATE SET"
    " successes = excluded.successes, total = excluded.total, sketch = excluded.sketch"
)
_ROLLUP_COLUMNS = "probe, resolution, start, successes, total"
# The oldest rollups through probe_rollups_resolution_start, listed once and deleted by tuple id.
DELETE_ROLLUPS = (
    "DELETE FROM probe_rollups WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM probe_rollups WHERE resolution = $1 AND start < $2 ORDER BY start, probe LIMIT $3))"
)


def rollups_sql(one_probe: bool, sketches: bool) -> str:
    """The query reading rollups: one probe's through the primary key, every probe's through the
    (resolution, start) index (index-only, without sketches)."""
    columns = _ROLLUP_COLUMNS + (", sketch" if sketches else "")
    where = "resolution = $1 AND start >= $2 AND start < $3" + (" AND probe = $4" if one_probe else "")
    return f"SELECT {columns} FROM probe_rollups WHERE {where} ORDER BY probe, start"  # noqa: S608 (no input)


async def insert_probe_results(connection: asyncpg.Connection, results: Sequence[StoredResult]) -> None:
    """COPY ``results`` inside the caller's transaction."""
    rows = [probe_result_row(result) for result in results]
    if rows:
        await connection.copy_records_to_table("probe_results", records=rows, columns=_RESULT_COLUMNS)


async def probe_results(
    connection: asyncpg.Connection, probe: str, since: float, until: float, limit: int
) -> list[StoredResult]:
    """The first ``limit`` results of ``probe`` with ``since <= at < until``, oldest first."""
    if limit <= 0:
        return []
    rows = await connection.fetch(SELECT_RESULTS, without_nul(probe), since, until, limit)
    return [StoredResult(*row) for row in rows]


async def delete_probe_results(connection: asyncpg.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` results with ``at < before``; how many went."""
    if limit <= 0:
        return 0
    status = await connection.execute(DELETE_RESULTS, before, limit)
    return int(status.split()[-1])


async def put_probe_rollups(connection: asyncpg.Connection, rollups: Sequence[Rollup]) -> None:
    """Upsert ``rollups`` inside the caller's transaction (the last of a key wins)."""
    rows = [probe_rollup_row(rollup) for rollup in rollups]
    if rows:
        await connection.executemany(_PUT_ROLLUP, rows)


async def probe_rollups(
    connection: asyncpg.Connection,
    resolution: Resolution,
    since: int,
    until: int,
    probe: str | None,
    sketches: bool,
) -> list[Rollup]:
    """The rollups of ``resolution`` with ``since <= start < until`` (of ``probe``, or of all), by (probe, start)."""
    params: list[object] = [resolution, since, until]
    if probe is not None:
        params.append(without_nul(probe))
    rows = await connection.fetch(rollups_sql(probe is not None, sketches), *params)
    if sketches:
        return [Rollup(*row) for row in rows]
    return [Rollup(*row, sketch=b"") for row in rows]


async def delete_probe_rollups(connection: asyncpg.Connection, resolution: Resolution, before: int, limit: int) -> int:
    """Delete up to ``limit`` rollups of ``resolution`` with ``start < before``; how many went."""
    if limit <= 0:
        return 0
    status = await connection.execute(DELETE_ROLLUPS, resolution, before, limit)
    return int(status.split()[-1])
