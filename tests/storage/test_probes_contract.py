"""The probe-history storage contract, run against every backend (real SQLite file, real PostgreSQL).

Query plans of both backends close the file.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errors import StorageError
from sidecar.probes._model import Resolution, Rollup, StoredResult
from sidecar.storage import PostgresStorage, SqliteStorage, Storage, _postgres_probes, _sqlite_probes
from tests.conftest import POSTGRES_DSN

T0 = 1_700_000_000.0
H0 = 1_699_999_200  # a multiple of 3600
EVERYTHING = {"since": 0.0, "until": 1e12, "limit": 1_000_000}


def result(probe: str = "api", at: float = T0, **fields: Any) -> StoredResult:
    """A successful result of ``probe`` at ``at``; ``fields`` override."""
    base: dict[str, Any] = {"ok": True, "duration": 0.125, "status_code": 200, "error": None, "offline": False}
    return StoredResult(probe, at, **{**base, **fields})


def rollup(probe: str, start: int, resolution: Resolution = "hour", **fields: Any) -> Rollup:
    """A rollup of ``probe`` for the period starting at ``start``; ``fields`` override."""
    base: dict[str, Any] = {"successes": 9, "total": 10, "sketch": b"sketch:" + probe.encode() + str(start).encode()}
    return Rollup(probe, resolution, start, **{**base, **fields})


async def every_result(storage: Storage, probe: str) -> list[StoredResult]:
    return await storage.probe_results(probe, **EVERYTHING)


async def stored_at(storage: Storage, *probes: str) -> list[float]:
    """When every stored result of ``probes`` ran, sorted."""
    found = [await every_result(storage, probe) for probe in probes]
    return sorted(r.at for results in found for r in results)


async def every_rollup(storage: Storage, resolution: Resolution = "hour", **kwargs: Any) -> list[Rollup]:
    return await storage.probe_rollups(resolution, since=-(2**62), until=2**62, **kwargs)


# ---------------------------------------------------------------- raw results


async def test_results_come_back_equal_oldest_first(storage: Storage) -> None:
    inserted = [
        result(at=T0 + 2, ok=False, duration=5.0, status_code=None, error="timed out after 5s"),
        result(at=T0),
        result(at=T0 + 1, ok=False, duration=0.0, status_code=503, error="HTTP 503: Dienst nicht verfügbar 🚨"),
        result(at=T0 + 3, ok=False, duration=0.001, status_code=None, error=None, offline=True),
    ]
    await storage.insert_probe_results(inserted)
    stored = await every_result(storage, "api")
    assert stored == [inserted[1], inserted[2], inserted[0], inserted[3]]
    assert all(type(r.at) is float and type(r.ok) is bool and type(r.offline) is bool for r in stored)


async def test_a_range_includes_since_and_excludes_until(storage: Storage) -> None:
    await storage.insert_probe_results([result(at=T0 + n) for n in range(10)])
    found = await storage.probe_results("api", since=T0 + 2, until=T0 + 5, limit=100)
    assert [r.at for r in found] == [T0 + 2, T0 + 3, T0 + 4]
    assert await storage.probe_results("api", since=T0 + 5, until=T0 + 5, limit=100) == []
    assert await storage.probe_results("api", since=T0 + 9.5, until=T0 + 100, limit=100) == []
    # Fractions of a second are kept exactly.
    await storage.insert_probe_results([result(at=T0 + 0.123456789)])
    found = await storage.probe_results("api", since=T0 + 0.123456789, until=T0 + 0.2, limit=100)
    assert [r.at for r in found] == [T0 + 0.123456789]


async def test_whole_seconds_given_as_integers_come_back_as_floats(storage: Storage) -> None:
    await storage.insert_probe_results([result(at=1_700_000_000, duration=1)])
    found = await storage.probe_results("api", since=1_700_000_000, until=1_700_000_001, limit=10)
    assert found == [result(at=1_700_000_000.0, duration=1.0)]
    assert type(found[0].at) is float and type(found[0].duration) is float


async def test_limit_keeps_the_oldest_and_ties_come_in_insertion_order(storage: Storage) -> None:
    await storage.insert_probe_results([result(at=T0 + 5 - n, error=f"e{n}") for n in range(6)])
    await storage.insert_probe_results([result(at=T0, error="tie 1"), result(at=T0, error="tie 2")])
    every = await every_result(storage, "api")
    assert [r.error for r in every] == ["e5", "tie 1", "tie 2", "e4", "e3", "e2", "e1", "e0"]
    for limit in range(10):
        assert await storage.probe_results("api", since=0, until=1e12, limit=limit) == every[:limit], limit
    assert await storage.probe_results("api", since=0, until=1e12, limit=-1) == []


async def test_probes_are_kept_apart(storage: Storage) -> None:
    await storage.insert_probe_results([result(name, T0 + n) for n in range(3) for name in ("api", "api2", "Api", "")])
    assert [r.probe for r in await every_result(storage, "api")] == ["api"] * 3
    assert [r.probe for r in await every_result(storage, "")] == [""] * 3
    assert await every_result(storage, "ap") == []
    assert await every_result(storage, "api%") == []


async def test_nul_characters_are_stored_as_replacement_characters(storage: Storage) -> None:
    await storage.insert_probe_results([result("a\x00b", error="bad \x00 byte\x00")])
    found = await every_result(storage, "a\x00b")
    assert found == [result("a\ufffdb", error="bad \ufffd byte\ufffd")]
    assert await every_result(storage, "a\ufffdb") == found


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", float("nan")),
        ("at", float("inf")),
        ("at", "1700000000"),
        ("duration", None),
        ("ok", 1),
        ("offline", None),
        ("status_code", 2**31),
        ("status_code", 200.0),
        ("error", b"bytes"),
        ("probe", None),
    ],
)
async def test_a_failed_result_batch_stores_nothing(storage: Storage, field: str, value: Any) -> None:
    await storage.insert_probe_results([result(at=T0)])
    broken = dataclasses.replace(result(at=T0 + 2), **{field: value})
    with pytest.raises(StorageError):
        await storage.insert_probe_results([result(at=T0 + 1), broken, result(at=T0 + 3)])
    assert [r.at for r in await every_result(storage, "api")] == [T0]
    await storage.insert_probe_results([result(at=T0 + 4)])  # usable afterwards
    assert [r.at for r in await every_result(storage, "api")] == [T0, T0 + 4]


async def test_a_large_batch_is_stored_whole(storage: Storage) -> None:
    batch = [result(f"p{n % 7}", T0 + n / 10, ok=n % 3 > 0, status_code=None if n % 5 else 500) for n in range(2_345)]
    await storage.insert_probe_results(batch)
    await storage.insert_probe_results([])
    assert await every_result(storage, "p3") == [r for r in batch if r.probe == "p3"]


async def test_delete_results_respects_the_cutoff_and_the_limit(storage: Storage) -> None:
    await storage.insert_probe_results([result(f"p{n % 3}", T0 + (n * 7) % 40) for n in range(40)])
    cutoff = T0 + 25
    assert [await storage.delete_probe_results(before=cutoff, limit=7) for _ in range(6)] == [7, 7, 7, 4, 0, 0]
    left = await stored_at(storage, "p0", "p1", "p2")
    assert left == [T0 + n for n in range(25, 40)]
    assert await storage.delete_probe_results(before=T0 + 30, limit=0) == 0
    # The oldest go first, whatever the probe.
    assert await storage.delete_probe_results(before=T0 + 1_000, limit=3) == 3
    left = await stored_at(storage, "p0", "p1", "p2")
    assert left == [T0 + n for n in range(28, 40)]


async def test_deleting_the_oldest_of_tied_results_is_deterministic(storage: Storage) -> None:
    await storage.insert_probe_results([result(at=T0, error=str(n)) for n in range(5)])
    assert await storage.delete_probe_results(before=T0 + 1, limit=2) == 2
    assert [r.error for r in await every_result(storage, "api")] == ["2", "3", "4"]


# ---------------------------------------------------------------- rollups


async def test_rollups_round_trip_and_an_upsert_replaces_wholesale(storage: Storage) -> None:
    first = [rollup("api", H0), rollup("api", H0 + 3600, successes=0, total=0, sketch=b"")]
    await storage.put_probe_rollups(first)
    assert await every_rollup(storage) == first
    replaced = rollup("api", H0, successes=3, total=4, sketch=b"\x00\xffnew")
    await storage.put_probe_rollups([replaced])
    assert await every_rollup(storage) == [replaced, first[1]]
    # Within one call the last of a key wins.
    await storage.put_probe_rollups([rollup("api", H0, successes=1), rollup("api", H0, successes=2, sketch=b"last")])
    assert await every_rollup(storage) == [rollup("api", H0, successes=2, sketch=b"last"), first[1]]
    await storage.put_probe_rollups([])


async def test_rollups_come_by_probe_then_start_in_code_point_order(storage: Storage) -> None:
    probes = ["b", "B", "a-x", "ax", "a x", "é", "e", "Z", "a"]
    await storage.put_probe_rollups([rollup(p, H0 + 3600 * n) for n in (2, 0, 1) for p in probes])
    found = await every_rollup(storage)
    assert [(r.probe, r.start) for r in found] == [(p, H0 + 3600 * n) for p in sorted(probes) for n in range(3)]
    assert found == sorted(found, key=lambda r: (r.probe, r.start))


async def test_rollups_of_one_probe_in_a_range(storage: Storage) -> None:
    await storage.put_probe_rollups([rollup(p, H0 + 3600 * n) for n in range(6) for p in ("api", "api2", "db")])
    found = await storage.probe_rollups("hour", since=H0 + 3600, until=H0 + 3 * 3600, probe="api")
    assert found == [rollup("api", H0 + 3600), rollup("api", H0 + 2 * 3600)]
    found = await storage.probe_rollups("hour", since=H0 + 3600, until=H0 + 3 * 3600)
    assert [(r.probe, r.start) for r in found] == [(p, H0 + 3600 * n) for p in ("api", "api2", "db") for n in (1, 2)]
    assert await storage.probe_rollups("hour", since=H0, until=H0 + 6 * 3600, probe="ap") == []
    assert await storage.probe_rollups("hour", since=H0 + 1, until=H0 + 3600, probe="api") == []


async def test_counts_only_come_without_sketches(storage: Storage) -> None:
    stored = [rollup(p, H0 + 3600 * n, successes=n, total=n + 1) for n in range(3) for p in ("db", "api")]
    await storage.put_probe_rollups(stored)
    for probe in (None, "api"):
        counts = await every_rollup(storage, probe=probe, sketches=False)
        wanted = sorted((r for r in stored if probe in (None, r.probe)), key=lambda r: (r.probe, r.start))
        assert counts == [dataclasses.replace(r, sketch=b"") for r in wanted]
        assert await every_rollup(storage, probe=probe) == wanted


async def test_resolutions_are_kept_apart(storage: Storage) -> None:
    minutes = [rollup("api", H0 + 60 * n, "minute", successes=1, total=1) for n in range(3)]
    hour = rollup("api", H0, "hour")
    await storage.put_probe_rollups([*minutes, hour])
    assert await every_rollup(storage, "minute") == minutes
    assert await every_rollup(storage, "hour") == [hour]
    assert await storage.delete_probe_rollups("minute", before=H0 + 3600, limit=100) == 3
    assert await every_rollup(storage, "hour") == [hour]
    assert await every_rollup(storage, "minute") == []


async def test_nul_in_a_probe_name_is_stored_as_a_replacement_character(storage: Storage) -> None:
    await storage.put_probe_rollups([rollup("a\x00", H0, sketch=b"")])
    assert await every_rollup(storage, probe="a\x00") == [rollup("a\ufffd", H0, sketch=b"")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resolution", "day"),
        ("start", H0 + 1),
        ("start", float(H0)),
        ("start", 2**63),
        ("successes", 11),
        ("successes", -1),
        ("total", True),
        ("sketch", "text"),
        ("probe", 7),
    ],
)
async def test_a_failed_rollup_batch_stores_nothing(storage: Storage, field: str, value: Any) -> None:
    await storage.put_probe_rollups([rollup("api", H0)])
    broken = dataclasses.replace(rollup("db", H0 + 3600), **{field: value})
    with pytest.raises(StorageError):
        await storage.put_probe_rollups([rollup("api", H0, successes=0), broken, rollup("db", H0)])
    assert await every_rollup(storage) == [rollup("api", H0)]


async def test_delete_rollups_respects_the_cutoff_and_the_limit(storage: Storage) -> None:
    await storage.put_probe_rollups([rollup(p, H0 + 3600 * n) for n in range(10) for p in ("b", "a", "c")])
    await storage.put_probe_rollups([rollup("a", H0 + 60 * n, "minute") for n in range(10)])
    cutoff = H0 + 7 * 3600
    assert [await storage.delete_probe_rollups("hour", before=cutoff, limit=5) for _ in range(6)] == [5, 5, 5, 5, 1, 0]
    left = await every_rollup(storage)
    assert [(r.probe, r.start) for r in left] == [(p, H0 + 3600 * n) for p in "abc" for n in (7, 8, 9)]
    assert len(await every_rollup(storage, "minute")) == 10
    assert await storage.delete_probe_rollups("hour", before=H0 + 10 * 3600, limit=0) == 0
    # The oldest go first, ties by probe.
    assert await storage.delete_probe_rollups("hour", before=H0 + 10 * 3600, limit=2) == 2
    assert [(r.probe, r.start) for r in await every_rollup(storage, probe="c")] == [
        (p, H0 + 3600 * n) for p in "c" for n in (7, 8, 9)
    ]
    assert [r.start for r in await every_rollup(storage, probe="a")] == [H0 + 3600 * n for n in (8, 9)]
    assert [r.start for r in await every_rollup(storage, probe="b")] == [H0 + 3600 * n for n in (8, 9)]


KEYS = st.tuples(st.sampled_from(["a", "b", "B", "é"]), st.sampled_from(["minute", "hour"]), st.integers(-3, 3))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(
        st.lists(st.tuples(KEYS, st.integers(0, 2**40), st.integers(0, 2**40), st.binary(max_size=64)), max_size=6),
        max_size=5,
    )
)
async def test_reading_back_gives_the_last_write_of_every_key(
    storage: Storage, writes: list[list[tuple[tuple[str, Resolution, int], int, int, bytes]]]
) -> None:
    await storage.delete_probe_rollups("minute", before=2**62, limit=10_000)
    await storage.delete_probe_rollups("hour", before=2**62, limit=10_000)
    last: dict[tuple[str, str, int], Rollup] = {}
    for batch in writes:
        rollups = []
        for (probe, resolution, n), a, b, sketch in batch:
            start = H0 + n * 3600
            rollups.append(Rollup(probe, resolution, start, min(a, b), max(a, b), sketch))
        await storage.put_probe_rollups(rollups)
        last |= {(r.probe, r.resolution, r.start): r for r in rollups}
    for resolution in ("minute", "hour"):
        wanted = sorted((r for r in last.values() if r.resolution == resolution), key=lambda r: (r.probe, r.start))
        assert await every_rollup(storage, resolution) == wanted
        assert await every_rollup(storage, resolution, sketches=False) == [
            dataclasses.replace(r, sketch=b"") for r in wanted
        ]


async def test_calls_on_a_closed_storage_raise_storage_error(storage: Storage) -> None:
    await storage.close()
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.insert_probe_results([result()]),
        lambda: storage.probe_results("api", **EVERYTHING),
        lambda: storage.delete_probe_results(before=T0, limit=10),
        lambda: storage.put_probe_rollups([rollup("api", H0)]),
        lambda: storage.probe_rollups("hour", since=0, until=H0),
        lambda: storage.delete_probe_rollups("hour", before=H0, limit=10),
    ]
    for call in calls:
        with pytest.raises(StorageError):
            await call()


# ---------------------------------------------------------------- query plans


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "probes.db")
    await store.open()
    await store.insert_probe_results([result(f"p{n % 10}", T0 + n) for n in range(1_000)])
    await store.put_probe_rollups([rollup(f"p{n % 10}", H0 + 3600 * n) for n in range(1_000)])
    yield store
    await store.close()


async def sqlite_plan(store: SqliteStorage, sql: str, *params: Any) -> list[str]:
    def explain(db: sqlite3.Connection) -> list[str]:
        return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]

    return await store.read(explain)


async def test_sqlite_serves_every_probe_query_from_an_index_without_sorting(sqlite: SqliteStorage) -> None:
    for analyzed in (False, True):
        if analyzed:
            await sqlite.write(lambda db: db.execute("ANALYZE"))
        plan = await sqlite_plan(sqlite, _sqlite_probes.SELECT_RESULTS, "p1", T0, T0 + 10, 10)
        assert plan == ["SEARCH probe_results USING INDEX probe_results_probe_at (probe=? AND at>? AND at<?)"], plan
        plan = await sqlite_plan(sqlite, _sqlite_probes.DELETE_RESULTS, T0 + 10, 10)
        assert any("USING COVERING INDEX probe_results_at (at<?)" in step for step in plan), plan
        assert not any(step.startswith(("SCAN", "USE TEMP")) for step in plan), plan
        plan = await sqlite_plan(sqlite, _sqlite_probes.rollups_sql(True, True), "hour", H0, H0 + 10, "p1")
        assert plan == ["SEARCH probe_rollups USING PRIMARY KEY (probe=? AND resolution=? AND start>? AND start<?)"], (
            plan
        )
        plan = await sqlite_plan(sqlite, _sqlite_probes.rollups_sql(False, False), "hour", H0, H0 + 10)
        assert "COVERING INDEX probe_rollups_resolution_start" in plan[0], plan
        plan = await sqlite_plan(sqlite, _sqlite_probes.DELETE_ROLLUPS, "hour", H0 + 10, 10)
        assert any("COVERING INDEX probe_rollups_resolution_start (resolution=? AND start<?)" in s for s in plan), plan
        assert not any(step.startswith(("SCAN", "USE TEMP")) for step in plan), plan


@pytest.fixture
async def postgres(pg_schema: str) -> AsyncIterator[PostgresStorage]:
    store = PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2)
    await store.open()
    await store.insert_probe_results([result(f"p{n % 10}", T0 + n) for n in range(3_000)])
    await store.put_probe_rollups([rollup(f"p{n % 10}", H0 + 3600 * n) for n in range(3_000)])
    await store.pool.execute("ANALYZE probe_results; ANALYZE probe_rollups")
    yield store
    await store.close()


async def postgres_plan(store: PostgresStorage, sql: str, *params: Any) -> str:
    async with store.pool.acquire() as connection:
        # With so few rows a sequential scan would be cheapest; forbid it to see which index the query can use.
        await connection.execute("SET enable_seqscan = off")
        rows = await connection.fetch("EXPLAIN " + sql, *params)
        await connection.execute("RESET enable_seqscan")
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
async def test_postgres_serves_every_probe_query_from_an_index(postgres: PostgresStorage) -> None:
    plan = await postgres_plan(postgres, _postgres_probes.SELECT_RESULTS, "p1", T0, T0 + 10, 10)
    assert "probe_results_probe_at" in plan and "Sort" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_probes.DELETE_RESULTS, T0 + 10, 10)
    assert "probe_results_at" in plan and "probe_results_pkey" in plan and "Sort" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_probes.rollups_sql(True, True), "hour", H0, H0 + 10, "p1")
    assert "Index Scan" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_probes.rollups_sql(False, False), "hour", H0, H0 + 10)
    assert "Index Only Scan using probe_rollups_resolution_start" in plan, plan
    plan = await postgres_plan(postgres, _postgres_probes.DELETE_ROLLUPS, "hour", H0 + 10, 10)
    assert "probe_rollups_resolution_start" in plan and "Tid Scan" in plan and "Sort" not in plan, plan
