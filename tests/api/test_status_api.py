"""The public status page over HTTP: Statuspage v2 documents field for field, HTML, Atom, caching, and no leaks."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from tests.api.test_errors_api import ADMIN, AUTH_ADMIN
from tests.api.test_logs import AUTH_IN, AUTH_READ, KEY, base_config
from tests.probes.conftest import closed_port

PAGE = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT = {"id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
             "group_id", "page_id", "group", "only_show_if_degraded"}  # fmt: skip
INCIDENT = {"id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink",
            "started_at", "page_id", "incident_updates", "components"}  # fmt: skip
UPDATE = {"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components",
          "deliver_notifications", "custom_tweet", "tweet_id"}  # fmt: skip
MAINTENANCE = INCIDENT | {"scheduled_for", "scheduled_until"}
DOCUMENTS = {
    "summary.json": {"page", "components", "incidents", "scheduled_maintenances", "status"},
    "status.json": {"page", "status"},
    "components.json": {"page", "components"},
    "incidents.json": {"page", "incidents"},
    "incidents/unresolved.json": {"page", "incidents"},
    "scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}
RULE = """\
rules:
  - name: PaymentsDown
    expr: probe_state{component="payments"} == down
    labels: {severity: P1}
    annotations: {summary: "probe {{ $labels.probe }} failed: internal detail"}
"""


async def start(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> tuple[TestClient, int, int]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    target = web.Application()
    target.router.add_get("/internal/health", ok)
    server = await aiohttp_server(target)
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULE)
    gone = closed_port()
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    timing = {"interval": "300ms", "timeout": "200ms", "failures_to_down": 1}
    raw["probes"] = [
        {"name": "api-gateway", "kind": "http", "url": f"http://127.0.0.1:{server.port}/internal/health",
         "component": "api", **timing},
        {"name": "stripe-secret-probe", "kind": "tcp", "host": "127.0.0.1", "port": gone, "component": "payments",
         **timing},
    ]  # fmt: skip
    raw["alerting"] = {"rules_dir": str(rules), "evaluation_interval": "1s"}
    raw["statuspage"] = {"title": "Acme status", "url": "https://status.acme.example", "debounce": "50ms",
                         "components": [{"id": "api", "name": "API"}, {"id": "payments", "name": "Payments",
                                        "description": "Checkout and billing"}]}  # fmt: skip
    client = await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY})))
    return client, server.port, gone


async def summary_when(client: TestClient, predicate: Any) -> dict[str, Any]:
    for _ in range(300):
        body = await (await client.get("/api/v2/summary.json")).json()
        if predicate(body):
            return body
        await asyncio.sleep(0.03)
    raise AssertionError(f"never reached: {body}")


async def test_every_document_has_the_statuspage_fields_and_an_incident_in_public_words(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    summary = await summary_when(client, lambda body: body["incidents"])
    statuses = {c["id"]: c["status"] for c in summary["components"]}
    assert statuses == {"api": "operational", "payments": "major_outage"}
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert summary["page"]["name"] == "Acme status" and set(summary["page"]) == PAGE
    for name, keys in DOCUMENTS.items():
        response = await client.get(f"/api/v2/{name}")
        body = await response.json()
        assert response.status == 200 and set(body) == keys, name
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        for component in body.get("components", []):
            assert set(component) == COMPONENT
    incident = summary["incidents"][0]
    assert set(incident) == INCIDENT and incident["impact"] == "critical" and incident["status"] == "investigating"
    assert incident["name"] == "Major outage: Payments"
    assert set(incident["incident_updates"][0]) == UPDATE
    assert incident["incident_updates"][0]["body"] == "We are investigating a problem affecting Payments."
    assert [c["id"] for c in incident["components"]] == ["payments"]

    update = {"status": "identified", "message": "Our card processor is failing; payments are queued."}
    await client.post(f"/api/v1/incidents/{incident['id']}/updates", json=update, headers=AUTH_ADMIN)
    later = await summary_when(client, lambda body: body["incidents"][0]["status"] == "identified")
    assert later["incidents"][0]["incident_updates"][0]["body"] == update["message"]

    feed = await client.get("/status/feed.atom")
    root = ET.fromstring(await feed.read())
    atom = "{http://www.w3.org/2005/Atom}"
    assert feed.content_type == "application/atom+xml"
    assert root.find(f"{atom}entry/{atom}title").text == "Major outage: Payments"  # type: ignore[union-attr]


async def test_maintenance_shows_on_the_components_it_names(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    now = time.time()
    window = {"name": "Database upgrade", "components": ["api"], "comment": "Read-only for 30 minutes.",
              "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
              "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))}  # fmt: skip
    window["name"] = "db-upgrade"
    assert (await client.post("/api/v1/maintenance", json=window, headers=AUTH_ADMIN)).status == 201
    summary = await summary_when(client, lambda body: body["scheduled_maintenances"])
    assert {c["id"]: c["status"] for c in summary["components"]}["api"] == "under_maintenance"
    maintenance = summary["scheduled_maintenances"][0]
    assert set(maintenance) == MAINTENANCE and maintenance["status"] == "in_progress"
    active = await (await client.get("/api/v2/scheduled-maintenances/active.json")).json()
    assert [m["name"] for m in active["scheduled_maintenances"]] == ["db-upgrade"]


async def test_etags_and_cache_headers(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    for path in ("/status", "/status/feed.atom", "/api/v2/summary.json"):
        first = await client.get(path)
        etag = first.headers["ETag"]
        assert first.status == 200 and first.headers["Cache-Control"] == "public, max-age=10"
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status in (200, 304)  # 200 only if the page changed in between
        if again.headers["ETag"] == etag:
            assert again.status == 304 and await again.read() == b""
    assert (await client.get("/status")).content_type == "text/html"


async def test_no_public_route_leaks_internals(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    client, target_port, gone = await start(aiohttp_client, aiohttp_server, tmp_path)
    record = {"message": "checkout failed for jane.doe@example.com", "level": "error", "service": "api",
              "error": {"type": "CardError", "message": "card 4111 1111 1111 1111 declined"}}  # fmt: skip
    assert (await client.post("/api/v1/logs", json=record, headers=AUTH_IN)).status == 200
    await summary_when(client, lambda body: body["incidents"])
    forbidden = ["127.0.0.1", str(target_port), str(gone), "internal", "api-gateway", "stripe-secret-probe",
                 "refused", "jane.doe", "4111", "PaymentsDown", "severity", "P1", "tcp", "http://"]  # fmt: skip
    paths = ["/status", "/status/feed.atom", "/api/health"] + [f"/api/v2/{name}" for name in DOCUMENTS]
    for path in paths:
        text = (await (await client.get(path)).text()).replace("http://www.w3.org/2005/Atom", "")
        leaks = [word for word in forbidden if word in text]
        assert not leaks, f"{path} shows {leaks}"
    # The probe list, with a token, does name them: the check above can fail.
    assert "stripe-secret-probe" in await (await client.get("/api/v1/probes", headers=AUTH_READ)).text()


async def test_the_html_page_has_components_bars_and_no_scripts(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    await summary_when(client, lambda body: body["incidents"])
    html = await (await client.get("/status")).text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "Payments" in html and "Major outage" in html and 'lang="en"' in html
    assert html.count('tabindex="0"') == 2 * 90  # a focusable cell per day and component
    assert "prefers-color-scheme:dark" in html


async def test_a_component_change_is_pushed_to_a_signed_webhook(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    from sidecar.statuspage import verify_signature

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-Sidecar-Timestamp"]
        if not verify_signature("whsec-test-0123", timestamp, body, request.headers["X-Sidecar-Signature"],
                                now=time.time()):  # fmt: skip
            return web.Response(status=401)
        received.append(await request.json())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/status-hook", hook)
    server = await aiohttp_server(receiver)
    gone = closed_port()
    raw = base_config(tmp_path)
    raw["probes"] = [{"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": gone, "component": "api",
                      "interval": "300ms", "timeout": "200ms", "failures_to_down": 1}]  # fmt: skip
    raw["alerting"] = {"rules_dir": str(tmp_path / "no-rules")}
    raw["statuspage"] = {"debounce": "50ms", "webhooks": [
        {"name": "ops", "url": f"http://127.0.0.1:{server.port}/status-hook", "secret": "${SECRET}"}]}  # fmt: skip
    client = await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY, "SECRET": "whsec-test-0123"})))
    for _ in range(300):
        if received:
            break
        await asyncio.sleep(0.03)
    assert received and received[0]["type"] == "component" and received[0]["component"] == "api"
    assert received[0]["status"] == "major_outage" and received[0]["previous"] == "operational"
    pushes = (await (await client.get("/api/v1/statuspage/pushes", headers=AUTH_READ)).json())["pushes"]
    assert pushes[0]["target"] == "ops" and pushes[0]["result"] == "delivered"
    assert "whsec" not in str(pushes) and str(server.port) not in str(pushes)


async def test_a_refresh_with_nothing_changed_keeps_the_etag(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    from sidecar.api import STATUSPAGE

    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    await summary_when(client, lambda body: body["incidents"])
    service = client.app[STATUSPAGE]  # type: ignore[index]
    await service.refresh()
    before = {path: service.rendered(path).etag for path in ("status", "feed.atom", "api/v2/summary.json")}
    await asyncio.sleep(1.1)  # the clock moves on; what the page shows does not
    await service.refresh()
    after = {path: service.rendered(path).etag for path in before}
    assert after == before


async def test_an_incident_open_across_a_restart_is_updated_on_statuspage_not_created_again(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    calls: list[tuple[str, str]] = []

    async def create(request: web.Request) -> web.Response:
        calls.append(("POST", request.path))
        return web.json_response({"id": "sp-1"}, status=201)

    async def update(request: web.Request) -> web.Response:
        calls.append(("PATCH", request.path))
        return web.json_response({"id": request.match_info["id"]})

    fake = web.Application()
    fake.router.add_post("/v1/pages/acme/incidents", create)
    fake.router.add_patch("/v1/pages/acme/incidents/{id}", update)
    server = await aiohttp_server(fake)
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    raw["alerting"] = {"rules_dir": str(tmp_path / "no-rules")}
    raw["statuspage"] = {
        "debounce": "50ms", "components": [{"id": "payments", "name": "Payments"}],
        "statuspage": {"api_key": "${SP_KEY}", "page_id": "acme", "components": {"payments": "cmp-pay"},
                       "base_url": f"http://127.0.0.1:{server.port}/v1"},
    }  # fmt: skip
    config = parse_config(raw, env={"KEY": KEY, "SP_KEY": "sp-secret-key"})

    async def pushed(count: int) -> None:
        for _ in range(300):
            if len(calls) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"pushes: {calls}")

    first = await aiohttp_client(create_app(config))
    declared = {"title": "Card payments failing", "components": ["payments"], "impact": "major", "message": "Looking"}
    incident = await (await first.post("/api/v1/incidents", json=declared, headers=AUTH_ADMIN)).json()
    await pushed(1)
    await first.close()  # a restart: the incident and the id Statuspage gave it are saved

    second = await aiohttp_client(create_app(config))
    update = {"status": "monitoring", "message": "A fix is rolling out"}
    assert (await second.post(f"/api/v1/incidents/{incident['id']}/updates", json=update,
                              headers=AUTH_ADMIN)).status == 200  # fmt: skip
    await pushed(2)
    assert calls == [("POST", "/v1/pages/acme/incidents"), ("PATCH", "/v1/pages/acme/incidents/sp-1")]


async def test_anonymous_pollers_are_rate_limited_per_address(aiohttp_client: Any, tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    raw["auth"]["per_ip"] = {"rate": 1, "burst": 5}
    raw["alerting"] = {"rules_dir": str(tmp_path / "no-rules")}
    client = await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY})))
    statuses = [(await client.get("/api/v2/summary.json")).status for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    refused = await client.get("/api/v2/status.json")
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
