"""``/api/v1/probes`` and the probe metrics, with probes running against real local targets."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from tests.api.test_errors_api import ADMIN, AUTH_ADMIN
from tests.api.test_logs import AUTH_READ, KEY, base_config
from tests.probes.conftest import closed_port


async def start(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, *, gone_critical: bool = False) -> TestClient:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    target = web.Application()
    target.router.add_get("/health", health)
    server = await aiohttp_server(target)
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    timing = {"interval": "300ms", "timeout": "200ms", "failures_to_down": 1}
    raw["probes"] = [
        {"name": "api", "kind": "http", "url": f"http://127.0.0.1:{server.port}/health", "component": "api", **timing},
        {"name": "gone", "kind": "tcp", "host": "127.0.0.1", "port": closed_port(), "component": "mail",
         "critical": gone_critical, **timing},
    ]  # fmt: skip
    return await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY})))


async def states(client: TestClient) -> dict[str, dict[str, Any]]:
    for _ in range(100):
        response = await client.get("/api/v1/probes", headers=AUTH_READ)
        found = {probe["name"]: probe for probe in (await response.json())["probes"]}
        if all(probe["status"] != "unknown" for probe in found.values()):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"probes never ran: {found}")


async def test_probes_run_on_schedule_and_report_their_health(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, aiohttp_server, tmp_path)
    found = await states(client)
    assert found["api"]["status"] == "healthy" and found["api"]["last_run"]["status_code"] == 200
    assert found["gone"]["status"] == "down" and found["gone"]["last_error"]
    assert found["gone"]["since"].endswith("Z") and found["api"]["last_run"]["at"].endswith("Z")
    metrics = await (await client.get("/metrics")).text()
    assert 'sidecar_probe_state{probe="api"} 0.0' in metrics and 'sidecar_probe_state{probe="gone"} 2.0' in metrics
    assert 'sidecar_probe_success{kind="http",probe="api"} 1.0' in metrics
    assert 'sidecar_probe_duration_seconds{phase="ttfb",probe="api"}' in metrics
    assert "sidecar_probe_schedule_lag_seconds_count" in metrics


async def test_an_admin_runs_a_probe_now(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, aiohttp_server, tmp_path)
    ran = await client.post("/api/v1/probes/api/run", headers=AUTH_ADMIN)
    assert ran.status == 200 and (await ran.json())["last_run"]["ok"] is True
    assert (await client.post("/api/v1/probes/api/run", headers=AUTH_READ)).status == 403
    assert (await client.post("/api/v1/probes/nope/run", headers=AUTH_ADMIN)).status == 404


async def test_promtool_accepts_the_probe_metrics(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("SKIPPING PROMTOOL CHECK: promtool is absent")
    client = await start(aiohttp_client, aiohttp_server, tmp_path)
    await states(client)
    text = await (await client.get("/metrics")).read()
    result = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result


async def test_history_gives_raw_results_and_rollups(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, aiohttp_server, tmp_path)
    await states(client)
    raw = await (await client.get("/api/v1/probes/gone/history?resolution=raw", headers=AUTH_READ)).json()
    assert raw["resolution"] == "raw" and raw["results"][0]["ok"] is False and raw["results"][0]["error"]
    reply = await client.get("/api/v1/probes/api/history", headers=AUTH_READ)
    history = await reply.json()
    assert reply.status == 200 and history["resolution"] == "hour"  # the default for the last 24 hours
    point = history["points"][-1]
    assert point["total"] >= 1 and point["uptime"] == 1.0 and 0 < point["p50"] < 1
    day = await (await client.get("/api/v1/probes/api/history?resolution=day", headers=AUTH_READ)).json()
    assert day["points"][-1]["start"].endswith("T00:00:00.000Z")
    assert (await client.get("/api/v1/probes/api/history")).status == 401
    assert (await client.get("/api/v1/probes/nope/history", headers=AUTH_READ)).status == 404
    for bad in ("resolution=week", "since=yesterday", "since=2030-01-01T00:00:00Z", "limit=0"):
        response = await client.get(f"/api/v1/probes/api/history?{bad}", headers=AUTH_READ)
        assert response.status == 400, bad
        assert (await response.json())["error"]["code"]
    too_fine = "resolution=minute&since=2020-01-01T00:00:00Z"
    assert (await client.get(f"/api/v1/probes/api/history?{too_fine}", headers=AUTH_READ)).status == 400


async def test_health_is_public_in_summary_and_complete_for_readers(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, aiohttp_server, tmp_path)
    await states(client)
    response = await client.get("/api/health")
    public = await response.json()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert set(public) == {"status", "checked_at", "components"} and public["status"] == "degraded"
    assert public["components"] == [{"name": "api", "status": "healthy"}, {"name": "mail", "status": "down"}]
    text = await response.text()
    assert "127.0.0.1" not in text and "refused" not in text.lower() and "gone" not in text
    full = await (await client.get("/api/health", headers=AUTH_READ)).json()
    gone = next(d for d in full["dependencies"] if d["name"] == "gone")
    assert gone["status"] == "down" and gone["last_error"] and gone["critical"] is False
    assert (await client.get("/api/health", headers={"Authorization": "Bearer wrong"})).status == 401


async def test_health_is_503_when_a_critical_dependency_is_down(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, aiohttp_server, tmp_path, gone_critical=True)
    await states(client)
    response = await client.get("/api/health")
    assert response.status == 503 and (await response.json())["status"] == "down"
    metrics = await (await client.get("/metrics")).text()
    assert 'sidecar_uptime_ratio{probe="gone",window="24h"} 0.0' in metrics
    assert 'sidecar_uptime_ratio{probe="api",window="90d"} 1.0' in metrics
