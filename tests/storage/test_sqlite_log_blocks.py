"""SQLite's block layout: pruning by the block index, exact filtering, partial retention, schema 2 adoption."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar.logs import LogQuery
from sidecar.storage import SqliteStorage, _log_blocks, _sqlite_logs, load_migrations
from sidecar.storage._log_blocks import BLOCK_RECORDS, RecordFilter, block_of, build_blocks, tokens
from tests.storage.test_logs_contract import T0, everything, record
from tests.storage.test_logs_plans import QUERIES, records


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "blocks.db")
    await store.open()
    every = records(3_000)
    for start in range(0, len(every), 25):  # small writes: many blocks, as at a low ingest rate
        await store.insert_logs(every[start : start + 25])
    yield store
    await store.close()


async def plan(store: SqliteStorage, sql: str, params: list[Any]) -> list[str]:
    return await store.read(lambda db: [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)])


# ---------------------------------------------------------------- pure block functions


def test_tokens_are_lowercased_runs_of_letters_and_digits() -> None:
    assert tokens("GET /api/v1/orders_42 -> Été 500!") == ["get", "api", "v1", "orders", "42", "été", "500"]


def test_blocks_group_by_severity_keep_arrival_order_and_cap_their_size() -> None:
    batch = [record(T0 + i, severity=9 if i % 3 else 17, message=f"m{i}") for i in range(2 * BLOCK_RECORDS)]
    blocks = build_blocks(batch)
    assert [block.severity for block in blocks] == [9, 9, 17]
    assert sum(block.live for block in blocks) == len(batch) and max(block.live for block in blocks) == BLOCK_RECORDS
    stamps, lines = _log_blocks.unpack(blocks[0].data)
    assert [orjson.loads(line)["message"] for line in lines] == [f"m{i}" for i in range(len(batch)) if i % 3][:512]
    assert stamps == [orjson.loads(line)["ts"] for line in lines]


def test_block_terms_hold_the_distinct_tokens_of_each_column() -> None:
    batch = [
        record(T0, message="Payment declined", request_id="r-1", user="usr_1"),
        record(T0, message="payment OK", request_id="r-1", service="billing"),
    ]
    words, services, request_ids, _traces, users, actions = build_blocks(batch)[0].terms
    assert sorted(words.split()) == ["declined", "ok", "payment"]
    assert sorted(services.split()) == ["api", "billing"]
    assert (sorted(request_ids.split()), sorted(users.split()), actions) == (["1", "r"], ["1", "usr"], "")


async def test_a_token_fts5_would_split_falls_back_to_reading_the_records(tmp_path: Path) -> None:
    # U+19B0 (New Tai Lue vowel sign) is a letter to Python and no token character to FTS5's unicode61:
    # the query token would become a phrase of two, which a detail=column index refuses.
    store = SqliteStorage(tmp_path / "odd.db")
    await store.open()
    try:
        await store.insert_logs([record(T0, request_id="x\u19b0y"), record(T0 + 1, request_id="xy")])
        assert [s.record["request_id"] for s in await everything(store, request_id="x\u19b0y")] == ["x\u19b0y"]
    finally:
        await store.close()


def test_filter_checks_the_exact_value_not_the_tokens() -> None:
    block = build_blocks([record(T0, request_id="a-b"), record(T0 + 1, request_id="a b"), record(T0 + 2)])[0]
    matcher = RecordFilter(LogQuery(request_id="a-b"))
    found = [matcher.confirm(id_, line) for _, id_, line in matcher.candidates(7, block.data)]
    assert [stored.record["request_id"] for stored in found if stored] == ["a-b"]
    assert [block_of(stored.id) for stored in found if stored] == [7]


def test_text_terms_are_phrases_of_tokens_in_one_message() -> None:
    batch = [record(T0, message="order created"), record(T0 + 1, message="created order"), record(T0 + 2)]
    matcher = RecordFilter(LogQuery(text="ORDER-created"))
    block = build_blocks(batch)[0]
    found = [matcher.confirm(id_, line) for _, id_, line in matcher.candidates(1, block.data)]
    assert [stored.record["message"] for stored in found if stored] == ["order created"]


def test_a_key_inside_attributes_is_not_the_record_key() -> None:
    batch = [record(T0, service="api", attributes={"service": "billing"})]
    matcher = RecordFilter(LogQuery(service="billing"))
    block = build_blocks(batch)[0]
    assert [matcher.confirm(id_, line) for _, id_, line in matcher.candidates(1, block.data)] == [None]


# ---------------------------------------------------------------- through SQLite


async def test_records_keep_their_ids_when_retention_rewrites_their_block(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "x.db")
    await store.open()
    try:
        await store.insert_logs([record(T0 + i, message=f"m{i}", request_id=f"req-{i}") for i in range(10)])
        before = {stored.record["message"]: stored.id for stored in await everything(store)}
        assert len({block_of(id_) for id_ in before.values()}) == 1
        assert await store.delete_logs(min_severity=9, max_severity=9, before_ns=T0 + 4, limit=100) == 4
        after = {stored.record["message"]: stored.id for stored in await everything(store)}
        assert after == {message: id_ for message, id_ in before.items() if int(message[1:]) >= 4}
        # The block's index entry was rewritten: the deleted request ids are gone, the others found.
        assert await everything(store, request_id="req-2") == []
        assert [s.record["message"] for s in await everything(store, request_id="req-7")] == ["m7"]
        assert await store.read(lambda db: db.execute("SELECT min_ts FROM log_blocks").fetchone()[0]) == T0 + 4
    finally:
        await store.close()


async def test_a_page_reads_only_the_blocks_it_needs(sqlite: SqliteStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    await sqlite.insert_logs([record(T0 + 10_000 + i) for i in range(2_000)])  # newer than the fixture's records
    read: list[int] = []
    original = RecordFilter.candidates

    def counting(self: RecordFilter, block_id: int, data: bytes) -> list[tuple[int, int, bytes]]:
        read.append(block_id)
        return original(self, block_id, data)

    monkeypatch.setattr(RecordFilter, "candidates", counting)
    page = await sqlite.search_logs(LogQuery(limit=100))
    assert len(page.records) == 100 and len(read) == 1  # the newest block held the whole page


@pytest.mark.parametrize("analyzed", [False, True], ids=["no statistics", "after ANALYZE"])
@pytest.mark.parametrize("common", [False, True], ids=["few matches", "many matches"])
@pytest.mark.parametrize("name", QUERIES)
async def test_candidate_blocks_come_from_an_index(
    sqlite: SqliteStorage, name: str, common: bool, analyzed: bool
) -> None:
    if analyzed:
        await sqlite.write(lambda db: db.execute("ANALYZE"))
    query, _ = QUERIES[name]
    match = _sqlite_logs.fts_match(query)
    steps = await plan(sqlite, *_sqlite_logs.blocks_sql(query, match, common=common))
    assert not [step for step in steps if re.fullmatch(r"SCAN log_blocks", step)], steps
    if match is None:
        assert any("log_blocks_max_ts" in step for step in steps), steps
    else:
        assert any("log_blocks_fts VIRTUAL TABLE" in step for step in steps), steps
        # Few matches are fetched by id and sorted; many are tested while walking blocks newest first.
        assert any(("log_blocks_max_ts" if common else "INTEGER PRIMARY KEY") in step for step in steps), steps


async def test_walking_and_fetching_strategies_agree(sqlite: SqliteStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    queries = [q for q, _ in QUERIES.values()] + [LogQuery(text="request handled", min_severity=13, limit=7)]

    async def every_page(query: LogQuery) -> list[int]:
        found, query = [], replace(query, limit=query.limit if query.limit < 100 else 250)
        while True:
            page = await sqlite.search_logs(query)
            found += [stored.id for stored in page.records]
            if page.next_after is None:
                return found
            query = replace(query, after=page.next_after)

    fetched = [await every_page(query) for query in queries]
    monkeypatch.setattr(_sqlite_logs, "COMMON_MATCHES", 1)
    walked = [await every_page(query) for query in queries]
    assert walked == fetched
    assert sum(map(bool, fetched)) > len(fetched) // 2


@pytest.mark.parametrize(("low", "high"), [(1, 8), (17, 24), (9, 9), (0, 1000)])
async def test_retention_finds_old_blocks_through_the_severity_index(
    sqlite: SqliteStorage, low: int, high: int
) -> None:
    sql, params = _sqlite_logs.expired_sql(low, high, T0 + 1000)
    steps = await plan(sqlite, sql, [*params, 16])
    assert any("log_blocks_severity_min_ts" in step for step in steps), steps


# ---------------------------------------------------------------- schema 2 (one row per record)


async def test_records_of_schema_2_are_moved_into_blocks(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = [record(T0 + i, message=f"legacy {i}", request_id=f"req-{i}", severity=9 + 4 * (i % 2)) for i in range(50)]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sidecar_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL)")
        for migration in load_migrations("sqlite")[:2]:
            db.executescript(migration.sql)
            db.execute("INSERT INTO sidecar_migrations VALUES (?, ?, 0)", (migration.version, migration.name))
        columns = list(old[0])
        db.executemany(
            f"INSERT INTO logs ({', '.join(map(repr, columns))}) VALUES ({', '.join('?' for _ in columns)})",
            [[orjson.dumps(r[c]).decode() if c in ("error", "attributes") else r[c] for c in columns] for r in old],
        )
    store = SqliteStorage(path)
    await store.open()
    try:
        assert await store.count_logs() == 50
        assert [s.record for s in await everything(store)] == sorted(old, key=lambda r: r["ts"], reverse=True)
        assert [s.record["message"] for s in await everything(store, request_id="req-7")] == ["legacy 7"]
        tables = await store.read(lambda db: {row[0] for row in db.execute("SELECT name FROM sqlite_master")})
        assert "logs" not in tables and "log_blocks" in tables
    finally:
        await store.close()
