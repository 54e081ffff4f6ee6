"""PostgreSQL: every log search and retention delete reaches its rows through an index, never a full scan.

SQLite's block layout has its own plan tests in ``test_sqlite_log_blocks.py``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sidecar.logs import LogQuery, LogRecord, level_of
from sidecar.storage import PostgresStorage, _postgres_logs
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
