"""Alerting end to end: a dependency goes down, a local webhook hears it through apprise, an incident opens;
silences, maintenance, notifications, incidents and the audit trail over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from tests.api.test_errors_api import ADMIN, AUTH_ADMIN
from tests.api.test_logs import AUTH_READ, KEY, base_config

RULE = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    labels: {severity: P1}
    annotations:
      summary: "{{ $labels.probe }} is down"
      runbook_url: alerts/runbooks/dependency-down.md
"""


class Webhook:
    """A local HTTP receiver apprise's json:// plugin posts to."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        self.event = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.arrived.append(time.perf_counter())
        self.event.set()
        return web.json_response({})


async def start(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> tuple[TestClient, TestServer, Webhook]:
    webhook = Webhook()
    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", webhook.handle)
    receiver = await aiohttp_server(receiver_app)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    target_app = web.Application()
    target_app.router.add_get("/health", ok)
    target = await aiohttp_server(target_app)
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULE)
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    url = f"http://127.0.0.1:{target.port}/health"
    raw["probes"] = [{"name": "payments-api", "kind": "http", "url": url, "interval": "1s", "timeout": "500ms",
                      "failures_to_down": 1, "component": "payments"}]  # fmt: skip
    raw["alerting"] = {
        "rules_dir": str(rules),
        "evaluation_interval": "30s",  # the probe's transition triggers the evaluation, not the timer
        "route": {"receiver": "oncall", "group_wait": "0s", "group_interval": "1s", "group_by": ["alertname"]},
        "receivers": [{"name": "oncall", "apprise": ["${HOOK}"]}],
    }
    hook = f"json://127.0.0.1:{receiver.port}/hook"
    client = await aiohttp_client(create_app(parse_config(raw, env={"KEY": KEY, "HOOK": hook})))
    return client, target, webhook


async def test_a_dependency_going_down_reaches_the_webhook_within_the_probe_interval_plus_a_second(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client, target, webhook = await start(aiohttp_client, aiohttp_server, tmp_path)

    async def healthy() -> bool:
        probes = await (await client.get("/api/v1/probes", headers=AUTH_READ)).json()
        return probes["probes"][0]["status"] == "healthy"

    for _ in range(200):
        if await healthy():
            break
        await asyncio.sleep(0.02)
    await target.close()
    went_down = time.perf_counter()
    await asyncio.wait_for(webhook.event.wait(), 5)
    assert webhook.arrived[0] - went_down <= 1.0 + 1.0  # probe interval + 1 s
    body = webhook.bodies[0]
    assert body["type"] == "failure" and body["title"].startswith("[FIRING:1] DependencyDown")
    assert "payments-api is down" in body["message"] and "alerts/runbooks/dependency-down.md" in body["message"]

    alerts = await (await client.get("/api/v1/alerts", headers=AUTH_READ)).json()
    assert [a["status"] for a in alerts["alerts"]] == ["firing"]
    incidents = (await (await client.get("/api/v1/incidents", headers=AUTH_READ)).json())["incidents"]
    assert len(incidents) == 1 and incidents[0]["components"] == ["payments"] and incidents[0]["impact"] == "critical"
    for _ in range(250):  # the record is written once apprise has its answer, just after the webhook's
        sent = (await (await client.get("/api/v1/notifications", headers=AUTH_READ)).json())["notifications"]
        if sent:
            break
        await asyncio.sleep(0.02)
    assert (
        sent[0]["result"] == "delivered" and sent[0]["target"].startswith("json://") and "hook" not in sent[0]["target"]
    )

    incident_id = incidents[0]["id"]
    update = {"status": "identified", "message": "Upstream outage at the provider"}
    assert (await client.post(f"/api/v1/incidents/{incident_id}/updates", json=update, headers=AUTH_READ)).status == 403
    updated = await client.post(f"/api/v1/incidents/{incident_id}/updates", json=update, headers=AUTH_ADMIN)
    assert updated.status == 200 and (await updated.json())["status"] == "identified"
    review = await client.get(f"/api/v1/incidents/{incident_id}/postmortem.md", headers=AUTH_READ)
    assert review.content_type == "text/markdown" and "Upstream outage at the provider" in await review.text()


async def test_silences_maintenance_and_the_audit_trail(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    client, _, _ = await start(aiohttp_client, aiohttp_server, tmp_path)
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    silence = {"matchers": ['alertname="DependencyDown"', 'probe=~"pay.*"'], "ends_at": ends,
               "comment": "provider maintenance, ticket 7 (ops@example.com)"}  # fmt: skip
    assert (await client.post("/api/v1/silences", json=silence, headers=AUTH_READ)).status == 403
    created = await client.post("/api/v1/silences", json=silence, headers={**AUTH_ADMIN, "User-Agent": "curl/8"})
    body = await created.json()
    assert created.status == 201 and body["state"] == "active" and body["created_by"] == "oncall"
    listed = (await (await client.get("/api/v1/silences", headers=AUTH_ADMIN)).json())["silences"]
    assert [s["id"] for s in listed] == [body["id"]]
    bad = {**silence, "matchers": ["alertname=DependencyDown"]}
    assert (await client.post("/api/v1/silences", json=bad, headers=AUTH_ADMIN)).status == 422
    ended = await client.delete(f"/api/v1/silences/{body['id']}", headers=AUTH_ADMIN)
    assert (await ended.json())["state"] == "expired"
    assert (await client.delete("/api/v1/silences/sil_nope", headers=AUTH_ADMIN)).status == 404

    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
    window = {"name": "db-upgrade", "components": ["payments"], "starts_at": starts, "ends_at": ends}
    assert (await client.post("/api/v1/maintenance", json=window, headers=AUTH_ADMIN)).status == 201
    windows = (await (await client.get("/api/v1/maintenance", headers=AUTH_READ)).json())["maintenance"]
    assert windows[0]["name"] == "db-upgrade" and windows[0]["source"] == "api"
    assert (await client.delete("/api/v1/maintenance/db-upgrade", headers=AUTH_ADMIN)).status == 200

    assert (await client.get("/api/v1/audit", headers=AUTH_READ)).status == 403
    audit = (await (await client.get("/api/v1/audit", headers=AUTH_ADMIN)).json())["records"]
    assert [r["action"] for r in audit] == [
        "maintenance.delete",
        "maintenance.create",
        "silence.expire",
        "silence.create",
    ]
    first = audit[-1]
    assert first["actor"] == "oncall" and first["ip"] == "127.0.0.0/24" and first["user_agent"] == "curl/8"
    assert "ops@example.com" not in str(first) and "[REDACTED:email]" in first["after"]["comment"]
    assert all(len(record["hash"]) == 64 for record in audit) and audit[0]["prev_hash"] == audit[1]["hash"]
    only = (await (await client.get("/api/v1/audit?action=silence.create", headers=AUTH_ADMIN)).json())["records"]
    assert [r["target"] for r in only] == [body["id"]]
