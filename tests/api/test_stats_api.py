"""``GET /api/v1/stats`` and the RED metrics on ``/metrics``, fed by real OTLP spans and timed log records."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_logs import AUTH_IN, AUTH_READ, start

JSON = {"Content-Type": "application/json"}
T0 = 1_700_000_000_000_000_000


def span(number: int, ms: float, *, kind: int = 2, status: int = 200, **attributes: Any) -> dict[str, Any]:
    attrs = {"http.route": "/orders/{id}", "http.request.method": "GET", "http.response.status_code": status}
    attrs |= attributes
    return {
        "traceId": f"{number + 1:032x}",
        "spanId": f"{number + 1:016x}",
        "name": "GET /orders/{id}",
        "kind": kind,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + int(ms * 1e6)),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items() if v is not None],
    }


def value(v: Any) -> dict[str, Any]:
    return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}


async def send(client: TestClient, spans: list[dict[str, Any]], service: str = "shop") -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    response = await client.post("/v1/traces", data=orjson.dumps(body), headers={**AUTH_IN, **JSON})
    assert response.status == 200, await response.text()


async def series(client: TestClient, count: int, **params: str) -> list[dict[str, Any]]:
    for _ in range(500):
        response = await client.get("/api/v1/stats", params=params, headers=AUTH_READ)
        assert response.status == 200, await response.text()
        found = (await response.json())["series"]
        if sum(one["count"] for one in found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"stats never reached {count} observations")


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await start(aiohttp_client, tmp_path)


async def test_server_spans_give_rate_errors_and_quantiles_per_route(client: TestClient) -> None:
    # 100 requests of 1..100 ms, two of them answered 500.
    await send(client, [span(i, i + 1, status=500 if i in (10, 20) else 200) for i in range(100)])
    [one] = await series(client, 100, service="shop", window="1m")
    assert (one["kind"], one["route"], one["method"], one["count"]) == ("request", "/orders/{id}", "GET", 100)
    assert one["error_ratio"] == pytest.approx(0.02)
    assert one["p50"] == pytest.approx(0.050, rel=0.03) and one["p99"] == pytest.approx(0.099, rel=0.03)
    assert one["rate"] > 0


async def test_client_spans_are_dependencies_and_logs_with_duration_are_actions(client: TestClient) -> None:
    db = [span(i, 3.0, kind=3, **{"db.system": "postgresql"}) for i in range(10)]
    deprecated = {"peer.service": "stripe", "http.status_code": 503, "http.response.status_code": None}
    legacy = [span(100 + i, 200.0, kind=3, **deprecated) for i in range(4)]
    await send(client, db + legacy)
    logs = [{"service": "worker", "action": "invoice.send", "duration": 40 + i, "level": "info"} for i in range(5)]
    assert (await client.post("/api/v1/logs", json=logs, headers=AUTH_IN)).status == 200
    deps = await series(client, 14, kind="dependency")
    by_name = {one["service"]: one for one in deps}
    assert by_name["postgresql"]["count"] == 10 and by_name["postgresql"]["error_ratio"] == 0
    assert by_name["stripe"]["error_ratio"] == 1.0
    [action] = await series(client, 5, service="worker")
    assert (action["route"], action["method"], action["count"]) == ("invoice.send", "log", 5)


async def test_bad_parameters_are_400(client: TestClient) -> None:
    for params in ({"window": "2m"}, {"kind": "cats"}, {"limit": "0"}):
        response = await client.get("/api/v1/stats", params=params, headers=AUTH_READ)
        assert response.status == 400, params


async def test_metrics_carry_histograms_quantiles_and_error_ratios(client: TestClient) -> None:
    await send(
        client, [span(i, 5.0 + i) for i in range(20)] + [span(50, 9.0, kind=3, **{"server.address": "api.openai.com"})]
    )
    await series(client, 20, service="shop")
    text = await (await client.get("/metrics")).text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    buckets = [s for s in families["sidecar_request_duration_seconds"].samples if s.name.endswith("_count")]
    assert buckets[0].labels == {"service": "shop", "route": "/orders/{id}", "method": "GET", "status_class": "2xx"}
    assert buckets[0].value == 20
    quantiles = {
        (s.labels["quantile"], s.labels["window"]) for s in families["sidecar_request_latency_seconds"].samples
    }
    assert ("0.99", "5m") in quantiles and ("0.5", "1m") in quantiles
    assert any(
        s.labels["dependency"] == "api.openai.com" for s in families["sidecar_dependency_latency_seconds"].samples
    )
    assert "sidecar_request_error_ratio" in families
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("SKIPPING PROMTOOL CHECK: promtool is absent")
    result = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result
