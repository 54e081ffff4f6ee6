"""Every log search and retention delete reaches its rows through an index, never a full scan of ``logs``."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sidecar.logs import LogQuery, LogRecord, level_of
from sidecar.storage import PostgresStorage, SqliteStorage, _postgres_logs, _sqlite_logs
from tests.conftest import POSTGRES_DSN

T0 = 1_700_000_000_000_000_000

# Each search, and the indexes that may serve it (any one of them).
QUERIES: dict[str, tuple[LogQuery, set[str]]] = {
    "newest first": (LogQuery(), {"logs_ts"}),
    "time range": (LogQuery(since_ns=T0 + 100, until_ns=T0 + 900), {"logs_ts"}),
    "since": (LogQuery(since_ns=T0 + 100), {"logs_ts"}),
    "until": (LogQuery(until_ns=T0 + 100), {"logs_ts"}),
    "min_severity": (LogQuery(min_severity=17), {"logs_ts", "logs_severity_ts"}),
    "service": (LogQuery(service="svc-3"), {"logs_service_ts"}),
    "request_id": (LogQuery(request_id="req-17"), {"logs_fts", "logs_request_id"}),
    "trace_id": (LogQuery(trace_id="ab" * 16), {"logs_fts", "logs_trace_id"}),
    "user": (LogQuery(user="usr_7"), {"logs_fts", "logs_user_ts"}),
    "action": (LogQuery(action="order.create"), {"logs_action_ts"}),
    "text": (LogQuery(text="payment declined"), {"logs_fts", "logs_message_fts"}),
    "after": (LogQuery(after=(T0 + 500, 10**9)), {"logs_ts"}),
    "service+time": (LogQuery(service="svc-3", since_ns=T0 + 10), {"logs_service_ts"}),
    "service+severity+time": (
        LogQuery(service="svc-3", min_severity=17, until_ns=T0 + 900),
        {"logs_service_ts", "logs_severity_ts"},
    ),
    "user+action": (LogQuery(user="usr_7", action="order.create"), {"logs_fts", "logs_user_ts", "logs_action_ts"}),
    "action+service+after": (
        LogQuery(action="order.create", service="svc-3", after=(T0 + 500, 10**9)),
        {"logs_action_ts", "logs_service_ts"},
    ),
    "text+service": (LogQuery(text="declined", service="svc-3"), {"logs_fts", "logs_message_fts", "logs_service_ts"}),
    "request_id+text": (
        LogQuery(request_id="req-17", text="declined"),
        {"logs_fts", "logs_request_id", "logs_message_fts"},
    ),
}


ACTIONS = ("order.create", None, *(f"action.{n}" for n in range(30)))


def records(count: int) -> list[LogRecord]:
    rng = random.Random(3)
    out = []
    for i in range(count):
        severity = rng.choice((5, 9, 9, 9, 13, 17, 21))
        out.append({
            "ts": T0 + i, "observed": T0 + i, "severity": severity, "level": level_of(severity),
            "service": f"svc-{i % 12}", "message": rng.choice(("payment declined", "request handled", "cache miss")),
            "request_id": f"req-{i // 3}", "trace_id": f"{i // 5:032x}", "span_id": None,
            "user": f"usr_{i % 400}" if i % 2 else None, "action": rng.choice(ACTIONS),
            "duration_ms": None, "error": None, "attributes": {},
        })  # fmt: skip
    return out


# ---------------------------------------------------------------- SQLite


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "plans.db")
    await store.open()
    await store.insert_logs(records(3_000))
    yield store
    await store.close()


async def sqlite_plan(store: SqliteStorage, sql: str, params: list[Any]) -> list[str]:
    async with store.db.execute("EXPLAIN QUERY PLAN " + sql, params) as cursor:
        return [row[3] for row in await cursor.fetchall()]


def assert_sqlite_indexed(plan: list[str], allowed: set[str]) -> None:
    # "SCAN logs" alone reads the whole table; "SCAN logs USING INDEX x" walks an index in order.
    assert not [step for step in plan if re.fullmatch(r"SCAN logs( NOT INDEXED)?", step)], plan
    used = {name for name in allowed if any(name in step for step in plan)}
    assert used, (plan, allowed)
    if "logs_fts" in used:  # matching ids are then fetched by id (or tested while walking an index)
        assert any("logs_fts VIRTUAL TABLE" in step for step in plan), plan


@pytest.mark.parametrize("analyzed", [False, True], ids=["no statistics", "after ANALYZE"])
@pytest.mark.parametrize("common", [False, True], ids=["few matches", "many matches"])
@pytest.mark.parametrize("name", QUERIES)
async def test_sqlite_search_plans_use_indexes(sqlite: SqliteStorage, name: str, common: bool, analyzed: bool) -> None:
    if analyzed:
        await sqlite.db.execute("ANALYZE")
    query, allowed = QUERIES[name]
    sql, params = _sqlite_logs.search_sql(query, _sqlite_logs.fts_match(query), common=common)
    plan = await sqlite_plan(sqlite, sql, params)
    assert_sqlite_indexed(plan, allowed)


async def test_sqlite_prefers_the_most_selective_equality(sqlite: SqliteStorage) -> None:
    query = LogQuery(action="order.create", service="svc-3")
    plan = await sqlite_plan(sqlite, *_sqlite_logs.search_sql(query, None))
    assert any("logs_action_ts" in step for step in plan) and not any("logs_service_ts" in step for step in plan)


async def test_sqlite_few_full_text_matches_are_fetched_by_id_not_walked(sqlite: SqliteStorage) -> None:
    query = LogQuery(text="declined", service="svc-3")
    plan = await sqlite_plan(sqlite, *_sqlite_logs.search_sql(query, _sqlite_logs.fts_match(query)))
    assert any("INTEGER PRIMARY KEY" in step for step in plan) and not any("logs_service_ts" in step for step in plan)


@pytest.mark.parametrize(("low", "high"), [(1, 8), (17, 24), (9, 9), (0, 1000)])
async def test_sqlite_retention_delete_uses_the_severity_index(sqlite: SqliteStorage, low: int, high: int) -> None:
    sql, params = _sqlite_logs.delete_sql(low, high, T0 + 1000, 500)
    plan = await sqlite_plan(sqlite, sql, params)
    assert any("logs_severity_ts" in step for step in plan), plan
    assert not [step for step in plan if re.fullmatch(r"SCAN logs", step)], plan


async def test_sqlite_walking_and_fetching_strategies_agree(
    sqlite: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    assert any(fetched)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
async def postgres(pg_schema: str) -> AsyncIterator[PostgresStorage]:
    store = PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2)
    await store.open()
    await store.insert_logs(records(3_000))
    await store.pool.execute("ANALYZE logs")
    yield store
    await store.close()


async def postgres_plan(store: PostgresStorage, sql: str, params: list[Any]) -> str:
    async with store.pool.acquire() as connection:
        # With so few rows a sequential scan would be cheapest; forbid it to see which index the query can use.
        await connection.execute("SET enable_seqscan = off")
        rows = await connection.fetch("EXPLAIN " + sql, *params)
        await connection.execute("RESET enable_seqscan")
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
@pytest.mark.parametrize("name", QUERIES)
async def test_postgres_search_plans_use_indexes(postgres: PostgresStorage, name: str) -> None:
    query, allowed = QUERIES[name]
    plan = await postgres_plan(postgres, *_postgres_logs.search_sql(query))
    assert "Seq Scan on logs" not in plan, plan
    assert any(index in plan for index in allowed), (plan, allowed)


@pytest.mark.postgres
@pytest.mark.parametrize(("low", "high"), [(1, 8), (17, 24), (9, 9), (0, 1000)])
async def test_postgres_retention_delete_uses_the_severity_index(
    postgres: PostgresStorage, low: int, high: int
) -> None:
    plan = await postgres_plan(postgres, *_postgres_logs.delete_sql(low, high, T0 + 1000, 500))
    assert "Seq Scan on logs" not in plan, plan
    assert "Tid Scan on logs" in plan, plan
    # A range spanning every severity is as well served walking ts alone.
    assert "logs_severity_ts" in plan or (high - low > 24 and "logs_ts" in plan), plan
