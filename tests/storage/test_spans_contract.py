"""The span-storage contract, run against every backend (real SQLite file, real PostgreSQL).

The SQLite block layout's own promises (few blocks read, index rows kept exact) and
PostgreSQL's query plans close the file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errors import StorageError
from sidecar.storage import PostgresStorage, SqliteStorage, Storage, _postgres_spans, _sqlite_spans
from sidecar.traces import SpanRecord
from tests.conftest import POSTGRES_DSN

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
CHECKPOINT = ("ingest", "span_spool_checkpoint")


def trace_id() -> str:
    """A fresh trace id (32 lowercase hex)."""
    return uuid.uuid4().hex


def span(trace: str, number: int = 0, start: int = T0, **fields: Any) -> SpanRecord:
    """A span of ``trace`` with every field set; ``number`` makes its span id, ``fields`` override."""
    base: dict[str, Any] = {
        "trace_id": trace,
        "span_id": f"{number:016x}",
        "parent_span_id": None,
        "name": f"op {number}",
        "kind": "internal",
        "start": start,
        "end": start + 5 * MS,
        "duration_ms": 5.0,
        "status": "unset",
        "status_message": None,
        "service": "api",
        "scope": "tests",
        "attributes": {},
        "resource": {"service.name": "api"},
        "events": [],
    }
    return {**base, **fields}  # type: ignore[return-value]


def span_ids(spans: list[SpanRecord]) -> list[str]:
    return [s["span_id"] for s in spans]


async def test_spans_given_with_their_encoding_are_stored_the_same(storage: Storage) -> None:
    trace = trace_id()
    batch = [span(trace, number, start=T0 + number, attributes={"n": number, "nul": "a\x00b"}) for number in range(5)]
    await storage.insert_spans(batch, encoded=[orjson.dumps(s) for s in batch])
    stored = await storage.get_trace(trace)
    assert span_ids(stored) == span_ids(batch)
    assert stored[0]["attributes"] == {"n": 0, "nul": "a\ufffdb"}


async def test_get_trace_returns_spans_equal_to_those_inserted(storage: Storage) -> None:
    trace = trace_id()
    root = span(
        trace,
        1,
        T0,
        name="POST /pay 支付 🚨 'quoted' \"double\"",
        kind="server",
        end=T0 + 250 * MS,
        duration_ms=250.125,
        status="error",
        status_message="Zahlung fehlgeschlagen: déclinée",
        service="billing-ü",
        scope="opentelemetry.instrumentation.aiohttp_server",
        attributes={
            "http": {"status": 402, "path": "/pay"},
            "tags": ["a", "b", 3, None, True],
            "ratio": 0.1,
            "big": 2**53 + 1,
            "neg": -7,
            "empty": {},
            "unicode key é": "ok",
            "trace_id": "not the trace id",
        },
        resource={"service.name": "billing-ü", "host": {"name": "pod-1", "cores": 2}},
        events=[
            {"name": "exception", "ts": T0 + 10 * MS, "attributes": {"exception.type": "CardDeclined"}},
            {"name": "retry", "ts": T0 + 20 * MS, "attributes": {}},
        ],
    )
    child = span(trace, 2, T0 + MS, parent_span_id=root["span_id"], kind="client", status="ok", service=None)
    child |= {"scope": None, "resource": {}, "duration_ms": 0.0}  # type: ignore[typeddict-item]
    await storage.insert_spans([child, root])
    assert await storage.get_trace(trace) == [root, child]


# Any text PostgreSQL can store (no NUL) and UTF-8 can encode (no lone surrogates).
CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    # JSONB keeps numbers as decimals: a float past 2**53 can come back as the integer it prints as.
    | st.floats(-1e15, 1e15, allow_nan=False)
    | st.text(CHARS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(CHARS, max_size=5), inner, max_size=3),
    max_leaves=8,
)
ATTRIBUTES = st.dictionaries(st.text(CHARS, max_size=10), VALUES, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(CHARS, max_size=100),
    status_message=st.none() | st.text(CHARS, max_size=100),
    attributes=ATTRIBUTES,
    events=st.lists(
        st.fixed_dictionaries(
            {"name": st.text(CHARS, max_size=20), "ts": st.integers(0, 2**63 - 1), "attributes": ATTRIBUTES}
        ),
        max_size=3,
    ),
    start=st.integers(-(2**63), 2**63 - 1),
    duration=st.floats(0, 1e12, allow_nan=False),
)
async def test_any_span_round_trips(
    storage: Storage,
    name: str,
    status_message: str | None,
    attributes: dict[str, Any],
    events: list[Any],
    start: int,
    duration: float,
) -> None:
    trace = trace_id()
    inserted = span(trace, 7, start, name=name, status_message=status_message, attributes=attributes, events=events)
    inserted["duration_ms"] = duration
    await storage.insert_spans([inserted, span(trace_id())])
    assert await storage.get_trace(trace) == [inserted]


async def test_nul_characters_are_stored_as_replacement_characters_on_every_backend(storage: Storage) -> None:
    # PostgreSQL text cannot hold NUL; SQLite could, but both backends must return the same spans.
    trace = trace_id()
    inserted = span(
        trace,
        1,
        name="a\x00b",
        status_message="\x00",
        attributes={"k\x00": ["v\x00", {"x": "\x00y"}]},
        events=[{"name": "e\x00", "ts": T0, "attributes": {"n\x00": 1}}],
    )
    await storage.insert_spans([inserted, span(trace, 2, T0 + 1)])
    stored = (await storage.get_trace(trace))[0]
    assert (stored["name"], stored["status_message"]) == ("a\ufffdb", "\ufffd")
    assert stored["attributes"] == {"k\ufffd": ["v\ufffd", {"x": "\ufffdy"}]}
    assert stored["events"] == [{"name": "e\ufffd", "ts": T0, "attributes": {"n\ufffd": 1}}]
    assert await storage.count_spans() == 2


async def test_spans_come_ordered_by_start_then_span_id(storage: Storage) -> None:
    trace = trace_id()
    await storage.insert_spans([span(trace, 5, T0 + 3), span(trace, 9, T0 + 1), span(trace, 2, T0 + 3)])
    await storage.insert_spans([span(trace, 1, T0 + 3), span(trace, 8, T0 - 10), span(trace, 3, T0 + 2)])
    found = await storage.get_trace(trace)
    assert span_ids(found) == [f"{n:016x}" for n in (8, 9, 3, 1, 2, 5)]


async def test_traces_are_kept_apart(storage: Storage) -> None:
    # Ids sharing a prefix, interleaved in one batch, and an attribute naming the other trace.
    first, second = "a" * 31 + "b", "a" * 32
    mixed = [span(first if n % 2 else second, n, T0 + n) for n in range(10)]
    mixed.append(span(first, 99, T0 + 99, attributes={"trace_id": second, "link": {"trace_id": second}}))
    await storage.insert_spans(mixed)
    assert span_ids(await storage.get_trace(first)) == [f"{n:016x}" for n in (1, 3, 5, 7, 9, 99)]
    assert span_ids(await storage.get_trace(second)) == [f"{n:016x}" for n in (0, 2, 4, 6, 8)]
    assert await storage.get_trace("a" * 30) == []


async def test_a_trace_spread_over_several_inserts_comes_back_whole(storage: Storage) -> None:
    trace, other = trace_id(), trace_id()
    for batch in range(5):
        await storage.insert_spans([span(trace, batch * 10 + n, T0 + batch * 10 + n) for n in range(3)])
        await storage.insert_spans([span(other, batch, T0)])
    found = await storage.get_trace(trace)
    assert [s["start"] for s in found] == sorted(T0 + batch * 10 + n for batch in range(5) for n in range(3))
    assert len(await storage.get_trace(other)) == 5


async def test_an_unknown_trace_is_empty(storage: Storage) -> None:
    assert await storage.get_trace(trace_id()) == []
    await storage.insert_spans([span(trace_id())])
    assert await storage.get_trace(trace_id()) == []
    assert await storage.get_trace("") == []


async def test_limit_keeps_the_first_spans_in_order(storage: Storage) -> None:
    # Later inserts hold earlier spans, so the first spans are not in the first blocks.
    trace = trace_id()
    for batch in range(4):
        await storage.insert_spans([span(trace, 10 + batch * 3 + n, T0 + (3 - batch) * 100 + n) for n in range(3)])
    await storage.insert_spans([span(trace, 1, T0)])  # ties the first span's start, with a smaller span id
    every = await storage.get_trace(trace)
    assert len(every) == 13 and every[0]["span_id"] == f"{1:016x}"
    for limit in range(15):
        assert await storage.get_trace(trace, limit=limit) == every[:limit], limit


async def test_a_large_batch_is_stored_whole(storage: Storage) -> None:
    traces = [trace_id() for _ in range(7)]
    await storage.insert_spans([span(traces[n % 7], n, T0 + n) for n in range(2_345)])
    assert await storage.count_spans() == 2_345
    found = await storage.get_trace(traces[3])
    assert [s["start"] for s in found] == [T0 + n for n in range(3, 2_345, 7)]


async def test_count_spans(storage: Storage) -> None:
    assert await storage.count_spans() == 0
    await storage.insert_spans([span(trace_id(), n) for n in range(7)])
    await storage.insert_spans([])
    assert await storage.count_spans() == 7


async def test_checkpoint_is_written_with_the_spans(storage: Storage) -> None:
    assert await storage.get_state(*CHECKPOINT) is None
    await storage.insert_spans([span(trace_id())], checkpoint={"segment": 3, "offset": 4096})
    assert await storage.get_state(*CHECKPOINT) == {"segment": 3, "offset": 4096}
    await storage.insert_spans([span(trace_id())])
    assert await storage.get_state(*CHECKPOINT) == {"segment": 3, "offset": 4096}
    await storage.insert_spans([], checkpoint={"segment": 4, "offset": 0})
    assert await storage.get_state(*CHECKPOINT) == {"segment": 4, "offset": 0}
    assert await storage.get_state("ingest", "spool_checkpoint") is None  # the log spool's is another key
    assert await storage.count_spans() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("start", None), ("start", "1700000000"), ("start", 2**64), ("trace_id", None), ("span_id", None)],
)
async def test_a_failed_batch_stores_neither_spans_nor_checkpoint(storage: Storage, field: str, value: Any) -> None:
    trace = trace_id()
    await storage.insert_spans([span(trace, 1)], checkpoint={"offset": 1})
    broken = span(trace, 3, T0 + 3)
    broken[field] = value  # type: ignore[literal-required]
    with pytest.raises(StorageError):
        await storage.insert_spans([span(trace, 2, T0 + 2), broken, span(trace, 4, T0 + 4)], checkpoint={"offset": 2})
    assert await storage.get_state(*CHECKPOINT) == {"offset": 1}
    assert await storage.count_spans() == 1
    assert span_ids(await storage.get_trace(trace)) == [f"{1:016x}"]
    await storage.insert_spans([span(trace, 5, T0 + 5)], checkpoint={"offset": 3})  # usable afterwards
    assert await storage.get_state(*CHECKPOINT) == {"offset": 3}


async def test_concurrent_inserts_all_land(storage: Storage) -> None:
    traces = [trace_id() for _ in range(6)]

    async def batch(n: int) -> None:
        await storage.insert_spans([span(traces[n], i, T0 + i) for i in range(50)], checkpoint={"batch": n})

    await asyncio.gather(*(batch(n) for n in range(6)), storage.put_state("breakers", "x", {"open": True}))
    assert await storage.count_spans() == 300
    assert [len(await storage.get_trace(trace)) for trace in traces] == [50] * 6
    assert (await storage.get_state(*CHECKPOINT) or {})["batch"] in range(6)


async def test_delete_respects_the_cutoff_and_the_limit(storage: Storage) -> None:
    traces = [trace_id() for _ in range(3)]
    for batch in range(4):  # starts T0 .. T0 + 39, spread over three traces and four inserts
        await storage.insert_spans([span(traces[n % 3], batch * 10 + n, T0 + batch * 10 + n) for n in range(10)])
    cutoff = T0 + 25
    # Limits that end inside a block: SQLite rewrites it without the spans that went.
    assert await storage.delete_spans(before_ns=cutoff, limit=7) == 7
    assert await storage.count_spans() == 33
    assert await storage.delete_spans(before_ns=cutoff, limit=7) == 7
    assert await storage.delete_spans(before_ns=cutoff, limit=7) == 7
    assert await storage.delete_spans(before_ns=cutoff, limit=7) == 4
    assert await storage.delete_spans(before_ns=cutoff, limit=7) == 0
    assert await storage.count_spans() == 15
    left = [s["start"] for trace in traces for s in await storage.get_trace(trace)]
    assert sorted(left) == [T0 + n for n in range(25, 40)]


async def test_deleted_spans_leave_get_trace(storage: Storage) -> None:
    old, new = trace_id(), trace_id()
    await storage.insert_spans([span(old, n, T0 + n) for n in range(5)])
    await storage.insert_spans([span(new, n, T0 + 100 + n) for n in range(5)])
    assert await storage.delete_spans(before_ns=T0 + 100, limit=100) == 5
    assert await storage.get_trace(old) == []
    assert len(await storage.get_trace(new)) == 5
    # The same trace id stored again is found again, and only the new spans.
    await storage.insert_spans([span(old, 9, T0 + 200)])
    assert span_ids(await storage.get_trace(old)) == [f"{9:016x}"]


async def test_a_block_straddling_the_cutoff_keeps_its_newer_spans(storage: Storage) -> None:
    gone, straddling, kept = trace_id(), trace_id(), trace_id()
    batch = [span(gone, 1, T0 + 1), span(straddling, 2, T0 + 2), span(kept, 3, T0 + 30)]
    batch += [span(straddling, 4, T0 + 40), span(gone, 5, T0 + 5), span(kept, 6, T0 + 60)]
    await storage.insert_spans(batch)
    assert await storage.delete_spans(before_ns=T0 + 10, limit=100) == 3
    assert await storage.get_trace(gone) == []
    assert await storage.get_trace(straddling) == [batch[3]]
    assert await storage.get_trace(kept) == [batch[2], batch[5]]
    assert await storage.count_spans() == 3
    assert await storage.delete_spans(before_ns=T0 + 10, limit=100) == 0
    assert await storage.delete_spans(before_ns=T0 + 1_000, limit=100) == 3
    assert await storage.count_spans() == 0


async def test_calls_on_a_closed_storage_raise_storage_error(storage: Storage) -> None:
    await storage.close()
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.insert_spans([span(trace_id())], checkpoint={"x": 1}),
        lambda: storage.get_trace(trace_id()),
        lambda: storage.delete_spans(before_ns=T0, limit=10),
        storage.count_spans,
    ]
    for call in calls:
        with pytest.raises(StorageError):
            await call()


# ---------------------------------------------------------------- SQLite's block layout


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "spans.db")
    await store.open()
    yield store
    await store.close()


async def span_traces(store: SqliteStorage) -> list[tuple[str, int]]:
    return await store.read(lambda db: db.execute("SELECT trace_id, block_id FROM span_traces").fetchall())


async def test_sqlite_reads_only_the_blocks_holding_the_trace(
    sqlite: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = trace_id()
    for batch in range(20):
        spans = [span(trace_id(), n, T0 + n) for n in range(30)]
        if batch in (3, 11, 17):
            spans.append(span(wanted, batch, T0 + batch))
        await sqlite.insert_spans(spans)
    decoded: list[bytes] = []
    decompress = _sqlite_spans.decompress

    def counting(data: bytes) -> bytes:
        decoded.append(data)
        return decompress(data)

    monkeypatch.setattr(_sqlite_spans, "decompress", counting)
    assert [s["start"] for s in await sqlite.get_trace(wanted)] == [T0 + 3, T0 + 11, T0 + 17]
    assert len(decoded) == 3


async def test_sqlite_finds_a_trace_by_the_span_traces_primary_key(sqlite: SqliteStorage) -> None:
    for _ in range(3):
        await sqlite.insert_spans([span(trace_id(), n) for n in range(10)])
    for analyzed in (False, True):  # with statistics or without, the same plan
        if analyzed:
            await sqlite.write(lambda db: db.execute("ANALYZE"))
        plan = await sqlite.read(
            lambda db: [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + _sqlite_spans.TRACE_BLOCKS, ("a" * 32,))]
        )
        assert plan[0] == "SEARCH trace USING PRIMARY KEY (trace_id=?)", plan
        assert plan[1] == "SEARCH block USING INTEGER PRIMARY KEY (rowid=?)", plan
        assert not any(step.startswith("SCAN") for step in plan), plan


async def test_sqlite_writes_one_index_row_per_trace_per_block(sqlite: SqliteStorage) -> None:
    traces = [trace_id() for _ in range(4)]
    await sqlite.insert_spans([span(traces[n % 4], n, T0 + n) for n in range(512)])
    assert sorted(trace for trace, _ in await span_traces(sqlite)) == sorted(traces)
    blocks = _sqlite_spans.BLOCK_SPANS
    await sqlite.insert_spans([span(traces[0], n, T0 + n) for n in range(blocks + 1)])  # two blocks of one trace
    assert len(await span_traces(sqlite)) == 4 + 2


async def test_sqlite_retention_removes_the_index_rows_of_traces_that_left_a_block(sqlite: SqliteStorage) -> None:
    gone, straddling, kept = trace_id(), trace_id(), trace_id()
    await sqlite.insert_spans([span(gone, 1, T0 + 1), span(straddling, 2, T0 + 2), span(straddling, 3, T0 + 30)])
    await sqlite.insert_spans([span(kept, 4, T0 + 40)])
    await sqlite.insert_spans([span(gone, 5, T0 + 5)])  # a block that goes whole
    assert len(await span_traces(sqlite)) == 4
    assert await sqlite.delete_spans(before_ns=T0 + 10, limit=100) == 3
    assert sorted(trace for trace, _ in await span_traces(sqlite)) == sorted([straddling, kept])
    blocks = await sqlite.read(lambda db: db.execute("SELECT min_start, live FROM span_blocks ORDER BY id").fetchall())
    assert blocks == [(T0 + 30, 1), (T0 + 40, 1)]


# ---------------------------------------------------------------- PostgreSQL's plans


@pytest.fixture
async def postgres(pg_schema: str) -> AsyncIterator[PostgresStorage]:
    store = PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2)
    await store.open()
    await store.insert_spans([span(f"{n // 10:032x}", n, T0 + n) for n in range(3_000)])
    await store.pool.execute("ANALYZE spans")
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
async def test_postgres_finds_a_trace_and_expired_spans_through_their_indexes(postgres: PostgresStorage) -> None:
    plan = await postgres_plan(postgres, _postgres_spans.GET_TRACE, f"{7:032x}", 10_000)
    assert "spans_trace_id" in plan and "Seq Scan" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_spans.DELETE_EXPIRED, T0 + 1_000, 500)
    assert "spans_start_ns" in plan and "spans_pkey" in plan and "Seq Scan" not in plan, plan
