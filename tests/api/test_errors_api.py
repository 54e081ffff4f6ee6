"""``/api/v1/errors`` over real HTTP: errors from logs and spans grouped, the workflow, persistence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from tests.api.test_logs import AUTH_IN, AUTH_READ, KEY, base_config

ADMIN = "admin-token-0123456789abcdef"
AUTH_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
STACK = 'Traceback (most recent call last):\n  File "/app/shop/orders.py", line {line}, in create\n    charge()\n'
STACK += '  File "/app/shop/payments.py", line 20, in charge\n    raise CardDeclined(msg)\nCardDeclined: card declined'


async def start(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    return await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY})))


def failing(user: str, amount: int, line: int = 12) -> dict[str, Any]:
    return {
        "level": "error",
        "service": "api",
        "userId": user,
        "message": "payment failed",
        "error": {
            "type": "shop.errors.CardDeclined",
            "message": f"card declined for order ord_{amount} amount '{amount}.00'",
            "stack": STACK.format(line=line),
        },
    }


async def groups(client: TestClient, count: int, **params: str) -> list[dict[str, Any]]:
    for _ in range(500):
        response = await client.get("/api/v1/errors", params=params, headers=AUTH_READ)
        assert response.status == 200
        found = (await response.json())["groups"]
        if sum(group["count"] for group in found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} grouped errors")


async def test_the_same_error_from_different_users_and_numbers_is_one_group(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, tmp_path)
    body = [failing("alice", 10, line=12), failing("bob", 99, line=13), failing("carol", 7)]
    assert (await client.post("/api/v1/logs", json=body, headers=AUTH_IN)).status == 200
    [group] = await groups(client, 3)
    assert group["count"] == 3 and group["users"] == 3 and group["services"] == ["api"]
    assert group["status"] == "unresolved" and group["regressed"] is False
    assert "alice" not in str(group) and "ord_10" not in group["title"]
    one = await client.get(f"/api/v1/errors/{group['id']}", headers=AUTH_READ)
    assert (await one.json())["id"] == group["id"]


async def test_resolve_then_regress_and_permissions(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    await client.post("/api/v1/logs", json=[failing("alice", 1)], headers=AUTH_IN)
    [group] = await groups(client, 1)
    path = f"/api/v1/errors/{group['id']}"
    assert (await client.patch(path, json={"status": "resolved"}, headers=AUTH_READ)).status == 403
    assert (await client.patch(path, json={"status": "gone"}, headers=AUTH_ADMIN)).status == 400
    assert (await client.patch(path, json={"state": "resolved"}, headers=AUTH_ADMIN)).status == 400
    assert (await client.patch("/api/v1/errors/nope", json={"status": "resolved"}, headers=AUTH_ADMIN)).status == 404
    resolved = await client.patch(path, json={"status": "resolved"}, headers=AUTH_ADMIN)
    assert resolved.status == 200 and (await resolved.json())["status"] == "resolved"
    assert await groups(client, 0, status="unresolved") == []
    await client.post("/api/v1/logs", json=[failing("bob", 2)], headers=AUTH_IN)
    [again] = await groups(client, 2, status="unresolved")
    assert again["id"] == group["id"] and again["regressed"] is True and again["count"] == 2


async def test_groups_survive_a_restart(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    await client.post("/api/v1/logs", json=[failing("alice", 1), failing("bob", 2)], headers=AUTH_IN)
    [group] = await groups(client, 2)
    await client.patch(f"/api/v1/errors/{group['id']}", json={"status": "ignored"}, headers=AUTH_ADMIN)
    await client.close()  # shutdown saves every changed group
    restarted = await start(aiohttp_client, tmp_path)
    [restored] = await groups(restarted, 2)
    assert (restored["id"], restored["count"], restored["status"]) == (group["id"], 2, "ignored")


async def test_exception_events_of_spans_are_grouped_and_counted(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    event = {
        "name": "exception",
        "timeUnixNano": "1700000000000000000",
        "attributes": [
            {"key": "exception.type", "value": {"stringValue": "TimeoutError"}},
            {"key": "exception.message", "value": {"stringValue": "upstream timed out after 30s"}},
        ],
    }
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "GET /", "startTimeUnixNano": "1700000000000000000"}
    span |= {"endTimeUnixNano": "1700000000100000000", "events": [event]}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "gateway"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    response = await client.post("/v1/traces", json=body, headers=AUTH_IN)
    assert response.status == 200
    [group] = await groups(client, 1, service="gateway")
    assert group["error_type"] == "TimeoutError" and group["category"] == "timeout"
    metrics = await (await client.get("/metrics")).text()
    assert 'sidecar_errors_total{category="timeout",service="gateway"} 1.0' in metrics
