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


async def start(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> TestClient:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    target = web.Application()
    target.router.add_get("/health", health)
    server = await aiohttp_server(target)
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    timing = {"interval": "300ms", "timeout": "200ms", "failures_to_down": 1}
    raw["probes"] = [
        {"name": "api", "kind": "http", "url": f"http://127.0.0.1:{server.port}/health", **timing},
        {"name": "gone", "kind": "tcp", "host": "127.0.0.1", "port": closed_port(), **timing},
    ]
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
