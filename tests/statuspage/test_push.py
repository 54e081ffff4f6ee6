"""Status-page pushes over real loopback HTTP: a fake Statuspage management API and a signature-checking webhook."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, generate_latest

from sidecar.statuspage._push import (
    ComponentChange,
    IncidentChange,
    Pusher,
    PushRecord,
    StatuspageTarget,
    WebhookTarget,
    sign,
    statuspage_incident_body,
    verify_signature,
    webhook_body,
)

ServerFactory = Callable[..., Awaitable[TestServer]]

API_KEY = "sk-live-API-KEY-0123456789"
HOOK_SECRET = "whsec-HOOK-SECRET-abcdef"
URL_SECRET = "url-TOKEN-SECRET-999"
PAGE = "page42"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# -- fakes -------------------------------------------------------------------------------------------------------


@dataclass
class FakeStatuspage:
    """The Statuspage management API routes the pusher uses, recording every request.

    ``failures`` are answered (in order) before normal service; ``delay`` slows every answer.
    """

    failures: list[int] = field(default_factory=list)
    retry_after: str | None = None
    delay: float = 0.0
    echo_credentials: bool = False
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_patch("/v1/pages/{page}/components/{component}", self.patch_component)
        app.router.add_post("/v1/pages/{page}/incidents", self.create_incident)
        app.router.add_patch("/v1/pages/{page}/incidents/{incident}", self.patch_incident)
        return app

    async def _check(self, request: web.Request) -> tuple[web.Response | None, Any]:
        body = await request.json()
        self.requests.append((request.method, request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.headers.get("Authorization") != f"OAuth {API_KEY}":
            return web.json_response({"error": "unauthorized"}, status=401), body
        if request.match_info["page"] != PAGE:
            return web.json_response({"error": "not found"}, status=404), body
        if self.failures:
            status = self.failures.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            text = f"failing; you sent {request.headers['Authorization']}" if self.echo_credentials else "failing"
            return web.json_response({"error": text}, status=status, headers=headers), body
        return None, body

    async def patch_component(self, request: web.Request) -> web.Response:
        error, body = await self._check(request)
        if error is not None:
            return error
        component = request.match_info["component"]
        self.components[component] = body["component"]["status"]
        return web.json_response({"id": component, "status": self.components[component]})

    async def create_incident(self, request: web.Request) -> web.Response:
        error, body = await self._check(request)
        if error is not None:
            return error
        self.created += 1
        incident_id = "sp123" if self.created == 1 else f"sp123-{self.created}"
        self.incidents[incident_id] = body["incident"]
        self.components.update(body["incident"]["components"])
        return web.json_response({"id": incident_id, **body["incident"]}, status=201)

    async def patch_incident(self, request: web.Request) -> web.Response:
        error, body = await self._check(request)
        if error is not None:
            return error
        incident_id = request.match_info["incident"]
        if incident_id not in self.incidents:
            return web.json_response({"error": "no such incident"}, status=404)
        self.incidents[incident_id] = body["incident"]
        self.components.update(body["incident"]["components"])
        return web.json_response({"id": incident_id, **body["incident"]})

    def paths(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]


@dataclass
class WebhookReceiver:
    """A webhook endpoint that verifies ``X-Sidecar-Signature`` the way a receiver would."""

    secret: str = HOOK_SECRET
    statuses: list[int] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    push_ids: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(
            self.secret,
            request.headers.get("X-Sidecar-Timestamp", ""),
            body,
            request.headers.get("X-Sidecar-Signature", ""),
            now=time.time(),
        )
        if not ok:
            self.rejected += 1
            return web.Response(status=401, text="bad signature")
        if self.statuses:
            return web.Response(status=self.statuses.pop(0), text="busy")
        assert request.headers["Content-Type"] == "application/json"
        self.push_ids.append(request.headers["X-Sidecar-Push-Id"])
        self.accepted.append(orjson.loads(body))
        return web.Response(status=204)


async def statuspage_server(aiohttp_server: ServerFactory, fake: FakeStatuspage) -> str:
    server = await aiohttp_server(fake.app())
    return f"http://127.0.0.1:{server.port}/v1"


def target(base_url: str, components: dict[str, str] | None = None) -> StatuspageTarget:
    return StatuspageTarget(
        api_key=API_KEY,
        page_id=PAGE,
        components={"api": "cmp_api", "web": "cmp_web"} if components is None else components,
        base_url=base_url,
    )


def component(
    status: str = "major_outage", name: str = "api", previous: str | None = "operational", at: float = T0
) -> ComponentChange:
    return ComponentChange(name, name.upper(), status, previous, at)  # type: ignore[arg-type]


def incident(
    status: str = "investigating",
    impact: str = "major",
    components: tuple[str, ...] = ("api", "db"),
    message: str = "We are looking into it.",
    incident_id: str = "inc_65a1f0c2ab12cd34",
) -> IncidentChange:
    return IncidentChange(incident_id, "API errors", status, impact, components, message, T0)  # type: ignore[arg-type]


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def count(registry: CollectorRegistry, target_name: str, result: str) -> float:
    value = registry.get_sample_value("sidecar_statuspage_pushes_total", {"target": target_name, "result": result})
    return value or 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def make_pusher(registry: CollectorRegistry) -> AsyncIterator[Callable[..., Awaitable[Pusher]]]:
    """Started pushers with fast retries; stopped after the test."""
    made: list[Pusher] = []

    async def make(statuspage: StatuspageTarget | None = None, webhooks: tuple[WebhookTarget, ...] = (), **kw: Any):
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 5.0)
        kw.setdefault("rng", random.Random(7))
        pusher = Pusher(statuspage, webhooks, registry, **kw)
        await pusher.start()
        made.append(pusher)
        return pusher

    yield make
    for pusher in made:
        await pusher.stop(grace=0.5)


def results(pusher: Pusher, **match: str) -> list[str]:
    """Results of matching records, oldest first."""
    return [r.result for r in reversed(pusher.history(1000)) if all(getattr(r, k) == v for k, v in match.items())]


# -- Statuspage --------------------------------------------------------------------------------------------------


async def test_component_status_is_pushed_with_the_mapped_id(
    aiohttp_server: ServerFactory, make_pusher: Any, registry: CollectorRegistry
) -> None:
    fake = FakeStatuspage()
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(component("major_outage"))
    await eventually(lambda: results(pusher) == ["delivered"])
    assert fake.requests == [
        ("PATCH", f"/v1/pages/{PAGE}/components/cmp_api", {"component": {"status": "major_outage"}})
    ]
    assert fake.components == {"cmp_api": "major_outage"}
    (record,) = pusher.history()
    assert (record.target, record.kind, record.subject, record.status) == (
        "statuspage",
        "component",
        "api",
        "major_outage",
    )
    assert record.attempts == 1 and record.detail == "HTTP 200"
    assert record.first_attempt_at is not None and record.last_attempt_at is not None
    assert record.id.startswith("push_")
    assert count(registry, "statuspage", "delivered") == 1


async def test_unmapped_component_is_skipped(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage()
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(component("major_outage", name="db"))
    pusher.submit(component("partial_outage", name="web"))
    await eventually(lambda: results(pusher) == ["delivered"])
    await asyncio.sleep(0.05)
    assert fake.paths() == [("PATCH", f"/v1/pages/{PAGE}/components/cmp_web")]
    assert [r.subject for r in pusher.history()] == ["web"]


async def test_incident_is_created_then_updated_then_resolved(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage()
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(incident("investigating", "major", message="Errors on the API."))
    await eventually(lambda: results(pusher) == ["delivered"])
    assert fake.requests == [
        (
            "POST",
            f"/v1/pages/{PAGE}/incidents",
            {
                "incident": {
                    "name": "API errors",
                    "status": "investigating",
                    "impact_override": "major",
                    "body": "Errors on the API.",
                    "component_ids": ["cmp_api"],  # "db" is not mapped
                    "components": {"cmp_api": "partial_outage"},
                }
            },
        )
    ]
    assert pusher.incident_ids() == {"inc_65a1f0c2ab12cd34": "sp123"}
    assert "sp123" in pusher.history()[0].detail

    pusher.submit(incident("identified", "critical", message="A bad deploy."))
    await eventually(lambda: results(pusher) == ["delivered"] * 2)
    method, path, body = fake.requests[-1]
    assert (method, path) == ("PATCH", f"/v1/pages/{PAGE}/incidents/sp123")
    assert body["incident"]["status"] == "identified" and body["incident"]["body"] == "A bad deploy."
    assert body["incident"]["components"] == {"cmp_api": "major_outage"}

    pusher.submit(incident("resolved", "critical", message="Fixed."))
    await eventually(lambda: results(pusher) == ["delivered"] * 3)
    method, path, body = fake.requests[-1]
    assert (method, path) == ("PATCH", f"/v1/pages/{PAGE}/incidents/sp123")
    assert body["incident"]["status"] == "resolved"
    assert body["incident"]["components"] == {"cmp_api": "operational"}
    assert fake.created == 1 and fake.components == {"cmp_api": "operational"}
    assert fake.incidents["sp123"]["status"] == "resolved"


async def test_known_incident_ids_are_updated_not_created(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage()
    fake.incidents["sp-old"] = {}
    pusher = await make_pusher(
        target(await statuspage_server(aiohttp_server, fake)), known={"inc_65a1f0c2ab12cd34": "sp-old"}
    )
    pusher.submit(incident("monitoring"))
    await eventually(lambda: results(pusher) == ["delivered"])
    assert fake.paths() == [("PATCH", f"/v1/pages/{PAGE}/incidents/sp-old")]
    assert fake.created == 0
    assert pusher.incident_ids() == {"inc_65a1f0c2ab12cd34": "sp-old"}


async def test_an_incident_missing_on_statuspage_is_created_again(
    aiohttp_server: ServerFactory, make_pusher: Any
) -> None:
    fake = FakeStatuspage()
    pusher = await make_pusher(
        target(await statuspage_server(aiohttp_server, fake)), known={"inc_65a1f0c2ab12cd34": "sp-deleted"}
    )
    pusher.submit(incident("identified"))
    await eventually(lambda: results(pusher) == ["delivered"])
    assert fake.paths() == [
        ("PATCH", f"/v1/pages/{PAGE}/incidents/sp-deleted"),
        ("POST", f"/v1/pages/{PAGE}/incidents"),
    ]
    assert pusher.incident_ids() == {"inc_65a1f0c2ab12cd34": "sp123"}
    assert pusher.history()[0].attempts == 2


@pytest.mark.parametrize(
    ("status", "impact", "expected"),
    [
        ("investigating", "critical", "major_outage"),
        ("identified", "major", "partial_outage"),
        ("monitoring", "minor", "degraded_performance"),
        ("investigating", "none", "operational"),
        ("resolved", "critical", "operational"),
    ],
)
def test_incident_component_status_follows_impact(status: str, impact: str, expected: str) -> None:
    body = statuspage_incident_body(
        incident(status, impact, components=("api", "web", "api")), {"api": "a", "web": "w"}
    )
    assert body["incident"]["component_ids"] == ["a", "w"]
    assert body["incident"]["components"] == {"a": expected, "w": expected}
    assert body["incident"]["impact_override"] == impact


async def test_wrong_api_key_fails_without_retry(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage()
    base = await statuspage_server(aiohttp_server, fake)
    pusher = await make_pusher(StatuspageTarget("wrong-key", PAGE, {"api": "cmp_api"}, base))
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["failed"])
    assert len(fake.requests) == 1
    assert pusher.history()[0].detail.startswith("HTTP 401")


# -- webhooks ----------------------------------------------------------------------------------------------------


async def test_webhook_is_signed_and_verifiable(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    receiver = WebhookReceiver()
    server = await aiohttp_server(receiver.app())
    hook = WebhookTarget("ops", f"http://127.0.0.1:{server.port}/hook", HOOK_SECRET)
    pusher = await make_pusher(None, (hook,))
    pusher.submit(component("degraded_performance", previous=None))
    pusher.submit(incident())
    await eventually(lambda: len(receiver.accepted) == 2)
    by_type = {body["type"]: body for body in receiver.accepted}
    assert by_type["component"] == {
        "type": "component",
        "at": "2026-01-01T00:00:00.000Z",
        "component": "api",
        "name": "API",
        "status": "degraded_performance",
        "previous": None,
    }
    assert by_type["incident"] == {
        "type": "incident",
        "at": "2026-01-01T00:00:00.000Z",
        "incident": "inc_65a1f0c2ab12cd34",
        "name": "API errors",
        "status": "investigating",
        "impact": "major",
        "components": ["api", "db"],
        "message": "We are looking into it.",
    }
    assert receiver.rejected == 0
    assert sorted(receiver.push_ids) == sorted(r.id for r in pusher.history())
    assert {(r.target, r.kind, r.result) for r in pusher.history()} == {
        ("ops", "component", "delivered"),
        ("ops", "incident", "delivered"),
    }


async def test_webhook_with_the_wrong_secret_is_rejected(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    receiver = WebhookReceiver(secret="another-secret")
    server = await aiohttp_server(receiver.app())
    pusher = await make_pusher(None, (WebhookTarget("ops", f"http://127.0.0.1:{server.port}/hook", HOOK_SECRET),))
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["failed"])
    assert receiver.rejected == 1 and not receiver.accepted  # 401 is not retried
    assert pusher.history()[0].detail == "HTTP 401: bad signature"


def test_verify_signature_accepts_the_right_signature_only() -> None:
    body = webhook_body(component())
    ts = str(int(T0))
    signature = sign(HOOK_SECRET, ts, body)
    assert re.fullmatch(r"v1=[0-9a-f]{64}", signature)
    assert verify_signature(HOOK_SECRET, ts, body, signature, now=T0)
    assert verify_signature(HOOK_SECRET, ts, body, signature, now=T0 + 300)
    assert verify_signature(HOOK_SECRET, ts, body, f"v1=deadbeef, {signature}", now=T0)  # rotation: any v1 matches
    tampered = body.replace(b"major_outage", b"operational")
    assert tampered != body
    assert not verify_signature(HOOK_SECRET, ts, tampered, signature, now=T0)
    assert not verify_signature("wrong-secret", ts, body, signature, now=T0)
    assert not verify_signature(HOOK_SECRET, ts, body, signature, now=T0 + 301)  # too old: a replay
    assert not verify_signature(HOOK_SECRET, ts, body, signature, now=T0 - 301)  # from the future
    assert not verify_signature(HOOK_SECRET, str(int(T0) + 1), body, signature, now=T0)  # timestamp is signed
    assert not verify_signature(HOOK_SECRET, ts, body, signature.removeprefix("v1="), now=T0)
    assert not verify_signature(HOOK_SECRET, ts, body, "v0=" + signature[3:], now=T0)
    assert not verify_signature(HOOK_SECRET, ts, body, "", now=T0)
    assert not verify_signature(HOOK_SECRET, "", body, signature, now=T0)
    assert not verify_signature(HOOK_SECRET, "1e9", body, signature, now=T0)
    assert not verify_signature(HOOK_SECRET, ts, body, "v1=\u00e9\u00e9", now=T0)
    assert verify_signature(HOOK_SECRET, ts, body, signature, now=T0 + 60, tolerance=60)
    assert not verify_signature(HOOK_SECRET, ts, body, signature, now=T0 + 61, tolerance=60)


def test_signature_matches_the_documented_scheme() -> None:
    import hashlib
    import hmac

    body = b'{"type":"component"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", body) == f"v1={expected}"


# -- retries, ordering -------------------------------------------------------------------------------------------


async def test_retries_deliver_once_the_target_is_back(
    aiohttp_server: ServerFactory, make_pusher: Any, registry: CollectorRegistry
) -> None:
    fake = FakeStatuspage(failures=[503, 500, 429])
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(component("partial_outage"))
    await eventually(lambda: results(pusher) == ["delivered"])
    record = pusher.history()[0]
    assert record.attempts == 4 and len(fake.requests) == 4
    assert record.first_attempt_at is not None and record.last_attempt_at is not None
    assert record.last_attempt_at >= record.first_attempt_at
    assert fake.components == {"cmp_api": "partial_outage"}
    assert count(registry, "statuspage", "failed_attempt") == 3
    assert count(registry, "statuspage", "delivered") == 1
    assert registry.get_sample_value("sidecar_statuspage_push_duration_seconds_count", {"target": "statuspage"}) == 4


async def test_webhook_down_for_a_while_then_back(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    port = free_port()
    hook = WebhookTarget("ops", f"http://127.0.0.1:{port}/hook", HOOK_SECRET)

    async def short_sleep(delay: float) -> None:
        await asyncio.sleep(min(delay, 0.02))

    pusher = await make_pusher(None, (hook,), max_attempts=1000, sleep=short_sleep)
    pusher.submit(component("major_outage"))
    await eventually(lambda: pusher.history() and pusher.history()[0].attempts >= 3)
    retrying = pusher.history()[0]
    assert retrying.result == "retrying" and retrying.detail.startswith("connection error")
    receiver = WebhookReceiver()
    await aiohttp_server(receiver.app(), port=port)
    await eventually(lambda: len(receiver.accepted) == 1)
    await eventually(lambda: results(pusher) == ["delivered"])
    assert receiver.accepted[0]["status"] == "major_outage"
    assert receiver.push_ids == [pusher.history()[0].id]  # one push id across every retry


async def test_a_400_is_not_retried(
    aiohttp_server: ServerFactory, make_pusher: Any, registry: CollectorRegistry
) -> None:
    fake = FakeStatuspage(failures=[400])
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["failed"])
    await asyncio.sleep(0.05)
    assert len(fake.requests) == 1
    record = pusher.history()[0]
    assert record.attempts == 1 and record.detail.startswith("HTTP 400")
    assert count(registry, "statuspage", "failed") == 1 and count(registry, "statuspage", "failed_attempt") == 1


async def test_gives_up_after_max_attempts(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage(failures=[503] * 10)
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)), max_attempts=3)
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["failed"])
    record = pusher.history()[0]
    assert record.attempts == 3 and "gave up" in record.detail and len(fake.requests) == 3


async def test_timeouts_are_retried(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage(delay=1.0)
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)), timeout=0.05, max_attempts=2)
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["failed"])
    record = pusher.history()[0]
    assert record.attempts == 2 and record.detail.startswith("timeout")


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7.0), ("100000", 300.0)])
async def test_retry_after_is_honoured_and_capped(
    aiohttp_server: ServerFactory, make_pusher: Any, retry_after: str, expected: float
) -> None:
    fake = FakeStatuspage(failures=[429], retry_after=retry_after)
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)), sleep=record_sleep)
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["delivered"])
    assert delays == [expected]


async def test_backoff_is_exponential_with_full_jitter(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage(failures=[503] * 5)
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)), sleep=record_sleep, backoff=1.0)
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["delivered"])
    assert len(delays) == 5
    for attempt, delay in enumerate(delays, start=1):
        assert 0 <= delay <= 2 ** (attempt - 1)


async def test_a_newer_change_supersedes_a_retrying_one(
    aiohttp_server: ServerFactory, make_pusher: Any, registry: CollectorRegistry
) -> None:
    fake = FakeStatuspage(failures=[503])

    async def long_sleep(delay: float) -> None:
        await asyncio.sleep(3600)

    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)), sleep=long_sleep)
    pusher.submit(component("major_outage"))
    await eventually(lambda: results(pusher) == ["retrying"])
    pusher.submit(component("operational", previous="major_outage"))
    await eventually(lambda: results(pusher) == ["superseded", "delivered"])
    assert [body["component"]["status"] for _, _, body in fake.requests] == ["major_outage", "operational"]
    assert fake.components == {"cmp_api": "operational"}
    older, newer = pusher.history()[1], pusher.history()[0]
    assert (older.status, older.attempts) == ("major_outage", 1)
    assert "HTTP 503" in older.detail
    assert newer.status == "operational"
    assert count(registry, "statuspage", "superseded") == 1


async def test_quick_changes_to_one_component_end_with_the_newest(
    aiohttp_server: ServerFactory, make_pusher: Any
) -> None:
    fake = FakeStatuspage(delay=0.1)
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    pusher.submit(component("major_outage"))
    await eventually(lambda: len(fake.requests) == 1)  # the first is in flight
    pusher.submit(component("partial_outage"))
    pusher.submit(component("degraded_performance"))
    await eventually(lambda: sorted(results(pusher)) == ["delivered", "delivered", "superseded"])
    await asyncio.sleep(0.15)
    statuses = [body["component"]["status"] for _, _, body in fake.requests]
    assert statuses == ["major_outage", "degraded_performance"]  # in order; the middle one never sent
    assert fake.components == {"cmp_api": "degraded_performance"}
    superseded = [r for r in pusher.history() if r.result == "superseded"]
    assert [(r.status, r.attempts) for r in superseded] == [("partial_outage", 0)]


async def test_subjects_are_independent(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage()
    receiver = WebhookReceiver()
    base = await statuspage_server(aiohttp_server, fake)
    server = await aiohttp_server(receiver.app())
    hook = WebhookTarget("ops", f"http://127.0.0.1:{server.port}/hook", HOOK_SECRET)
    pusher = await make_pusher(target(base), (hook,))
    pusher.submit(component("major_outage", name="api"))
    pusher.submit(component("partial_outage", name="web"))
    await eventually(lambda: results(pusher).count("delivered") == 4)
    assert fake.components == {"cmp_api": "major_outage", "cmp_web": "partial_outage"}
    assert {(b["component"], b["status"]) for b in receiver.accepted} == {
        ("api", "major_outage"),
        ("web", "partial_outage"),
    }


# -- submit, queue, lifecycle ------------------------------------------------------------------------------------


async def test_submit_never_blocks(aiohttp_server: ServerFactory, make_pusher: Any) -> None:
    fake = FakeStatuspage(delay=0.02)
    pusher = await make_pusher(target(await statuspage_server(aiohttp_server, fake)))
    statuses = ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
    started = time.perf_counter()
    for i in range(1000):
        pusher.submit(component(statuses[i % 5], at=T0 + i))
    assert time.perf_counter() - started < 0.5
    await eventually(lambda: pusher.pending == 0)
    assert fake.components == {"cmp_api": statuses[999 % 5]}  # the newest wins
    assert set(results(pusher)) == {"delivered", "superseded"}
    assert len(fake.requests) < 100  # superseded changes are not sent


async def test_queue_overflow_drops_the_oldest_with_a_record(registry: CollectorRegistry) -> None:
    pusher = Pusher(None, (WebhookTarget("ops", "http://127.0.0.1:9/hook", HOOK_SECRET),), registry)
    for i in range(10_005):
        pusher.submit(component(name=f"c{i}"))
    assert pusher.pending == 10_000
    dropped = pusher.history()
    assert [r.subject for r in reversed(dropped)] == [f"c{i}" for i in range(5)]
    assert all(r.result == "failed" and r.attempts == 0 and "queue full" in r.detail for r in dropped)
    assert count(registry, "ops", "failed") == 5


def test_submit_never_raises(registry: CollectorRegistry) -> None:
    pusher = Pusher(None, (), registry)
    pusher.submit("not a change")  # type: ignore[arg-type]
    pusher.submit(component())
    assert pusher.history() == []


async def test_stop_records_unfinished_pushes_and_later_submits(aiohttp_server: ServerFactory, registry: Any) -> None:
    fake = FakeStatuspage(failures=[503] * 100)

    async def long_sleep(delay: float) -> None:
        await asyncio.sleep(3600)

    pusher = Pusher(target(await statuspage_server(aiohttp_server, fake)), (), registry, sleep=long_sleep)
    await pusher.start()
    pusher.submit(component())
    await eventually(lambda: results(pusher) == ["retrying"])
    await pusher.stop(grace=0.05)
    record = pusher.history()[0]
    assert (record.result, record.detail, record.attempts) == ("failed", "shutdown", 1)
    pusher.submit(component("operational"))
    assert pusher.history()[0].detail == "shutdown" and pusher.history()[0].attempts == 0
    assert pusher.pending == 0


async def test_stop_waits_for_pending_pushes(aiohttp_server: ServerFactory, registry: CollectorRegistry) -> None:
    fake = FakeStatuspage(delay=0.05)
    pusher = Pusher(target(await statuspage_server(aiohttp_server, fake)), (), registry)
    pusher.submit(component())  # before start: waits in the queue
    await pusher.start()
    await pusher.stop(grace=5.0)
    assert results(pusher) == ["delivered"] and fake.components == {"cmp_api": "major_outage"}


async def test_lifecycle_as_a_cleanup_context(aiohttp_server: ServerFactory, registry: CollectorRegistry) -> None:
    receiver = WebhookReceiver()
    server = await aiohttp_server(receiver.app())
    hook = WebhookTarget("ops", f"http://127.0.0.1:{server.port}/hook", HOOK_SECRET)
    pusher = Pusher(None, (hook,), registry)
    app = web.Application()
    app.cleanup_ctx.append(pusher.lifecycle)
    sidecar = await aiohttp_server(app)
    pusher.submit(component())
    await eventually(lambda: len(receiver.accepted) == 1)
    await sidecar.close()
    assert results(pusher) == ["delivered"]


def test_invalid_targets_are_rejected(registry: CollectorRegistry) -> None:
    url = f"http://user:{URL_SECRET}@127.0.0.1/hook"
    with pytest.raises(ValueError, match="unique"):
        Pusher(None, (WebhookTarget("a", url, "s"), WebhookTarget("a", url, "s")), registry)
    with pytest.raises(ValueError, match="unique"):
        Pusher(None, (WebhookTarget("statuspage", url, "s"),), CollectorRegistry())
    with pytest.raises(ValueError, match="absolute") as info:
        Pusher(None, (WebhookTarget("a", f"ftp://{URL_SECRET}/x", "s"),), CollectorRegistry())
    assert URL_SECRET not in str(info.value)
    with pytest.raises(ValueError, match="secret"):
        Pusher(None, (WebhookTarget("a", url, ""),), CollectorRegistry())
    with pytest.raises(ValueError, match="API key"):
        Pusher(StatuspageTarget("", PAGE, {}), (), CollectorRegistry())


# -- secrets -----------------------------------------------------------------------------------------------------


async def test_secrets_never_leak(
    aiohttp_server: ServerFactory, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeStatuspage(failures=[503, 400], echo_credentials=True)  # error answers echo the API key
    base = await statuspage_server(aiohttp_server, fake)
    good, bad = WebhookReceiver(statuses=[500]), WebhookReceiver()
    good_server, bad_server = await aiohttp_server(good.app()), await aiohttp_server(bad.app())
    hooks = (
        WebhookTarget(
            "ops", f"http://user:{URL_SECRET}@127.0.0.1:{good_server.port}/hook?token={URL_SECRET}", HOOK_SECRET
        ),
        WebhookTarget("missing", f"http://127.0.0.1:{bad_server.port}/hook/{URL_SECRET}", HOOK_SECRET),
        WebhookTarget("down", f"http://127.0.0.1:{free_port()}/hook?token={URL_SECRET}", HOOK_SECRET),
    )
    sp_target = target(base)
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        pusher = Pusher(sp_target, hooks, registry, backoff=0.01, max_attempts=2)
        await pusher.start()
        try:
            pusher.submit(component())
            pusher.submit(incident())
            await eventually(lambda: len([r for r in pusher.history() if r.result != "retrying"]) == 8)
        finally:
            await pusher.stop(grace=0.5)
    records: list[PushRecord] = pusher.history()
    assert {r.target for r in records} == {"statuspage", "ops", "missing", "down"}
    assert any("***" in r.detail for r in records)  # the echoed API key was scrubbed
    assert len(good.accepted) == 2 and bad.rejected == 0
    assert logs, "the pusher logs"
    everything = "\n".join(
        [
            repr(records),
            repr(logs),
            # the fake receivers' own access logs show their URLs: only the sidecar's logs count
            "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access"),
            generate_latest(registry).decode(),
            repr(sp_target),
            repr(hooks),
            repr(pusher.incident_ids()),
        ]
    )
    for secret in (API_KEY, HOOK_SECRET, URL_SECRET):
        assert secret not in everything
