"""``POST /api/v1/logs`` and ``GET /api/v1/logs`` over real HTTP, on both storage backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from sidecar.storage import Storage

INGEST, READ = "ingest-token-0123456789abcdef", "read-token-0123456789abcdef"
KEY = "pseudonym-key-for-tests-0123456789"
AUTH_IN = {"Authorization": f"Bearer {INGEST}"}
AUTH_READ = {"Authorization": f"Bearer {READ}"}
NDJSON = {"Content-Type": "application/x-ndjson"}
HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def base_config(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "auth": {
            "tokens": [
                {"name": "backend", "scopes": ["ingest"], "sha256": hash_token(INGEST)},
                {"name": "reader", "scopes": ["read"], "sha256": hash_token(READ)},
            ],
            "per_token": {"rate": 10_000, "burst": 10_000},
        },
        "ingest": {"workers": 0},
        "spool": {"fsync": False},
        "redaction": {"pseudonymize": {"enabled": True, "key": "${KEY}"}},
        **sections,
    }


async def start(aiohttp_client: Any, tmp_path: Path, store: Storage | None = None, **sections: Any) -> TestClient:
    config = parse_config(base_config(tmp_path, **sections), env={"KEY": KEY})
    return await aiohttp_client(create_app(config, storage=store))


async def wait_stored(client: TestClient, count: int, seconds: float = 10, **params: str) -> list[dict[str, Any]]:
    """The writer stores asynchronously after the ack: poll the search until ``count`` records show."""
    for _ in range(int(seconds / 0.02)):
        response = await client.get("/api/v1/logs", params={"limit": "1000", **params}, headers=AUTH_READ)
        records = (await response.json())["records"]
        if len(records) >= count:
            return records
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {len(records)} of {count} records were stored")


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, storage_factory: Callable[[], Storage]) -> TestClient:
    """The app on each storage backend in turn (the app opens and closes the storage)."""
    return await start(aiohttp_client, tmp_path, store=storage_factory())


async def test_object_array_and_ndjson_are_accepted_and_searchable(client: TestClient) -> None:
    one = await client.post("/api/v1/logs", json={"message": "single", "service": "api"}, headers=AUTH_IN)
    assert one.status == 200 and await one.json() == {"accepted": 1, "rejected": []}
    many = await client.post("/api/v1/logs", json=[{"message": f"arr {i}"} for i in range(3)], headers=AUTH_IN)
    assert (await many.json())["accepted"] == 3
    lines = b"\n".join(orjson.dumps({"message": f"line {i}", "level": "error"}) for i in range(4)) + b"\n"
    nd = await client.post("/api/v1/logs", data=lines, headers={**AUTH_IN, **NDJSON})
    assert (await nd.json())["accepted"] == 4
    records = await wait_stored(client, 8)
    assert records[0]["message"] == "line 3"  # newest first
    errors = await wait_stored(client, 4, level="error")
    assert {r["message"] for r in errors} == {f"line {i}" for i in range(4)}


async def test_bad_records_are_rejected_without_disturbing_good_ones(client: TestClient) -> None:
    body = b'{"message": "good 1"}\n{not json}\n[1]\n{"message": "good 2", "level": "loud"}\n{"message": "good 3"}\n'
    response = await client.post("/api/v1/logs", data=body, headers={**AUTH_IN, **NDJSON})
    assert response.status == 200
    result = await response.json()
    assert result["accepted"] == 2
    assert [r["index"] for r in result["rejected"]] == [1, 2, 3]
    assert "JSON" in result["rejected"][0]["reason"]
    stored = await wait_stored(client, 2)
    assert {r["message"] for r in stored} == {"good 1", "good 3"}


async def test_pii_is_redacted_before_storage(client: TestClient) -> None:
    record = {
        "message": "payment by jane.doe@example.com card 4111 1111 1111 1111 from 203.0.113.7",
        "userId": "user-1234",
        "requestId": "req_8f3a9c",
        "metadata": {"password": "hunter2", "auth": {"token": "abc"}, "order": "ORD-2024-000123"},
        "error": {"type": "StripeError", "message": "key sk_live_51H8abcdefghijklmnopqrstuv rejected"},
    }
    assert (await client.post("/api/v1/logs", json=record, headers=AUTH_IN)).status == 200
    stored = (await wait_stored(client, 1))[0]
    text = orjson.dumps(stored).decode()
    for secret in ("jane.doe", "4111", "203.0.113.7", "user-1234", "hunter2", "sk_live_51H8"):
        assert secret not in text
    assert "[REDACTED:email]" in stored["message"] and "[REDACTED:card]" in stored["message"]
    assert stored["user"].startswith("usr_") and stored["request_id"] == "req_8f3a9c"
    assert stored["attributes"]["order"] == "ORD-2024-000123"
    by_raw_id = await wait_stored(client, 1, user="user-1234")
    assert by_raw_id[0]["id"] == stored["id"]


async def test_search_filters_and_pagination(client: TestClient) -> None:
    records = [
        {
            "message": f"checkout step {i}",
            "service": "api" if i % 2 else "worker",
            "requestId": f"r{i % 3}",
            "action": "checkout",
            "timestamp": f"{HOUR_AGO}:{i:02d}Z",
        }
        for i in range(25)
    ]
    assert (await (await client.post("/api/v1/logs", json=records, headers=AUTH_IN)).json())["accepted"] == 25
    await wait_stored(client, 25)
    api = await wait_stored(client, 12, service="api")
    assert all(r["service"] == "api" for r in api) and len(api) == 12
    assert len(await wait_stored(client, 9, request_id="r0")) == 9
    # Recent times: records past their retention would be deleted by the retention pass.
    window = await wait_stored(client, 5, since=f"{HOUR_AGO}:10Z", until=f"{HOUR_AGO}:15Z")
    assert [r["message"] for r in window] == [f"checkout step {i}" for i in range(14, 9, -1)]
    seen, cursor = [], None
    while True:
        params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/api/v1/logs", params=params, headers=AUTH_READ)).json()
        seen += [r["message"] for r in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"checkout step {i}" for i in range(24, -1, -1)]
    text = await (await client.get("/api/v1/logs", params={"q": "STEP 7"}, headers=AUTH_READ)).json()
    assert [r["message"] for r in text["records"]] == ["checkout step 7"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limit": "5000"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"level": "loud"}, "level"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
async def test_bad_search_parameters_are_400(client: TestClient, params: dict[str, str], words: str) -> None:
    response = await client.get("/api/v1/logs", params=params, headers=AUTH_READ)
    assert response.status == 400
    assert words in (await response.json())["error"]["message"]


async def test_scopes(client: TestClient) -> None:
    assert (await client.post("/api/v1/logs", json={}, headers=AUTH_READ)).status == 403
    assert (await client.get("/api/v1/logs", headers=AUTH_IN)).status == 403
    assert (await client.post("/api/v1/logs", json={})).status == 401
