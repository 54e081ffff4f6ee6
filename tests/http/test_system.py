"""Liveness, readiness, metrics (checked by promtool), OpenAPI and the docs page."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import parse_config
from sidecar.http import READINESS, create_app
from sidecar.storage import SqliteStorage
from tests.conftest import MakeClient

from .routes import TEST_ROUTES

PROMTOOL = shutil.which("promtool")


async def test_healthz(make_client: MakeClient) -> None:
    response = await (await make_client()).get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_readyz_reports_storage_and_queues(aiohttp_client, tmp_path) -> None:
    config = parse_config({"data_dir": str(tmp_path)}, env={})
    storage = SqliteStorage(tmp_path / "x.db")
    app = create_app(config, storage=storage)
    queue_full = False

    async def queue_check() -> str | None:
        return "ingest queue is full" if queue_full else None

    app[READINESS].append(("ingest_queue", queue_check))
    client = await aiohttp_client(app)
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "checks": {"storage": "ok", "ingest_queue": "ok"}}
    queue_full = True
    busy = await client.get("/readyz")
    assert busy.status == 503 and "Retry-After" in busy.headers
    body = await busy.json()
    assert body["error"]["code"] == "unavailable"
    assert "ingest queue is full" in body["error"]["message"]
    queue_full = False
    await storage.close()  # storage gone
    down = await client.get("/readyz")
    assert down.status == 503
    assert (await down.json())["error"]["details"]["storage"] != "ok"


async def test_metrics_cover_the_sidecars_own_api(make_client: MakeClient) -> None:
    client = await make_client()
    await client.get("/healthz")
    await client.get("/no/such/path/42")
    text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["sidecar_http_requests"]
    labels = {(s.labels["route"], s.labels["status"]) for s in requests.samples if s.name.endswith("_total")}
    assert ("/healthz", "200") in labels
    assert ("unmatched", "404") in labels  # raw paths never become label values
    assert "sidecar_http_request_duration_seconds" in families
    assert "process_resident_memory_bytes" in families


async def test_metrics_speak_openmetrics_when_asked(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).rstrip().endswith("# EOF")


async def test_promtool_finds_nothing_to_report(make_client: MakeClient) -> None:
    if PROMTOOL is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("SKIPPING PROMTOOL TEST: promtool is absent (apt-get install prometheus)")
    client = await make_client(routes=TEST_ROUTES)
    for path in ("/healthz", "/readyz", "/nope", "/test/boom"):
        await client.get(path)
    text = await (await client.get("/metrics")).read()
    result = await asyncio.to_thread(
        subprocess.run, [PROMTOOL, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


async def test_openapi_is_valid_31_and_lists_every_route(make_client: MakeClient) -> None:
    client = await make_client(routes=TEST_ROUTES)
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.server.app.router.routes()
        if route.method != "HEAD"
    }
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
    echo = document["paths"]["/test/echo"]["post"]
    assert echo["security"] == [{"bearer": []}]
    assert {"401", "403", "413", "415", "429"} <= set(echo["responses"])
    assert document["components"]["schemas"]["ErrorBody"]["properties"]["error"]


async def test_docs_page_works_offline(make_client: MakeClient) -> None:
    client = await make_client()
    page = await client.get("/docs")
    html = await page.text()
    assert page.status == 200 and "SwaggerUIBundle" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        response = await client.get(asset)
        assert response.status == 200
        assert len(await response.read()) > 10_000
    assert (await client.get("/docs/static/..%2Fcore.py")).status == 404
    assert (await client.get("/docs/static/index.css")).status == 404
