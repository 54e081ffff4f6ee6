"""Notification delivery over real loopback HTTP: apprise's json:// plugin and a fake Alertmanager."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import apprise
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, generate_latest

from sidecar.alerting._delivery import Delivery, DeliveryRecord
from sidecar.alerting._notify import (
    ALERTMANAGER_RESEND_INTERVAL,
    AlertInstance,
    Notification,
    Receiver,
    alertmanager_payload,
    notify_type_for,
    redact_alertmanager_url,
    redact_apprise_url,
    render,
    send_alertmanager,
    send_apprise,
)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SECRET = "s3cret"

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class FakeEndpoint:
    """A recording HTTP endpoint whose answers follow ``statuses`` (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses[min(len(self.bodies) - 1, len(self.statuses) - 1)]
        return web.Response(status=status, text="" if status < 300 else f"error {status}")


async def serve(aiohttp_server: ServerFactory, path: str, endpoint: FakeEndpoint) -> str:
    app = web.Application()
    app.router.add_post(path, endpoint.handle)
    server = await aiohttp_server(app)
    return f"127.0.0.1:{server.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alert(
    name: str = "DependencyDown",
    *,
    severity: str = "P1",
    status: str = "firing",
    component: str = "api",
    value: float | None = 0.93,
    fingerprint: str = "a1b2c3",
) -> AlertInstance:
    return AlertInstance(
        fingerprint=fingerprint,
        labels={"alertname": name, "severity": severity, "component": component, "dependency": "postgres"},
        annotations={
            "summary": f"{component} cannot reach postgres",
            "description": "Probe postgres failed 3 times in a row.",
            "runbook_url": "https://runbooks.example/dependency-down",
        },
        status=status,  # type: ignore[arg-type]
        starts_at=T0,
        ends_at=T0 + 300 if status == "resolved" else None,
        value=value,
    )


def notification(
    receiver: str = "ops", *alerts: AlertInstance, group_key: str = '{alertname="DependencyDown",component="api"}'
) -> Notification:
    alerts = alerts or (alert(),)
    return Notification(
        receiver=receiver,
        group_key=group_key,
        group_labels={"alertname": alerts[0].labels["alertname"], "component": "api"},
        status="firing" if any(a.status == "firing" for a in alerts) else "resolved",
        alerts=tuple(alerts),
        created_at=T0 + 10,
    )


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def sample(registry: CollectorRegistry, receiver: str, result: str) -> float:
    return registry.get_sample_value("sidecar_notifications_total", {"receiver": receiver, "result": result}) or 0.0


# -- render ------------------------------------------------------------------------------------------------------


def test_render_firing_group_title_and_body() -> None:
    second = alert(fingerprint="d4e5f6", severity="P2", value=None)
    title, body = render(notification("ops", alert(), second))
    assert title == "[FIRING:2] DependencyDown (api P1)"
    assert "api cannot reach postgres" in body
    assert "Probe postgres failed 3 times in a row." in body
    assert "Runbook: https://runbooks.example/dependency-down" in body
    assert "Started: 2026-01-01T00:00:00.000Z" in body
    assert "Value: 0.93" in body
    assert "component=api" in body and "dependency=postgres" in body and "severity=P1" in body
    assert body.count("[FIRING] DependencyDown") == 2


def test_render_resolved_and_mixed_groups() -> None:
    title, body = render(notification("ops", alert(status="resolved")))
    assert title == "[RESOLVED] DependencyDown (api P1)"
    assert "Resolved: 2026-01-01T00:05:00.000Z" in body
    title, body = render(notification("ops", alert(severity="P3"), alert(status="resolved", fingerprint="ff")))
    assert title == "[FIRING:1] DependencyDown (api P3)"
    assert "Firing (1):" in body and "Resolved (1):" in body


def test_notify_type_follows_status_and_severity() -> None:
    assert notify_type_for(notification("ops", alert(severity="P1"))) == apprise.NotifyType.FAILURE
    assert notify_type_for(notification("ops", alert(severity="P2"))) == apprise.NotifyType.FAILURE
    assert notify_type_for(notification("ops", alert(severity="P3"))) == apprise.NotifyType.WARNING
    assert notify_type_for(notification("ops", alert(severity="P4"))) == apprise.NotifyType.WARNING
    assert notify_type_for(notification("ops", alert(status="resolved"))) == apprise.NotifyType.SUCCESS


def test_redaction() -> None:
    assert redact_apprise_url("slack://T000/B000/XXXXsecret") == "slack://…"
    assert redact_apprise_url(f"json://user:{SECRET}@host/path") == "json://…"
    assert redact_apprise_url("not a url") == "invalid://…"
    assert redact_alertmanager_url(f"http://am:{SECRET}@alertmanager:9093/?token={SECRET}") == (
        "http://alertmanager:9093"
    )


# -- apprise over json:// ----------------------------------------------------------------------------------------


async def test_apprise_json_delivers_title_body_and_type(aiohttp_server: ServerFactory) -> None:
    hook = FakeEndpoint()
    host = await serve(aiohttp_server, "/hook", hook)
    firing = notification("ops", alert())
    title, body = render(firing)
    results = await send_apprise(
        [f"json://user:{SECRET}@{host}/hook"], title, body, timeout=5, notify_type=notify_type_for(firing)
    )
    assert [(r.target, r.ok) for r in results] == [("json://…", True)]
    (payload,) = hook.bodies
    assert payload["title"] == "[FIRING:1] DependencyDown (api P1)"
    assert "api cannot reach postgres" in payload["message"]
    assert "https://runbooks.example/dependency-down" in payload["message"]
    assert payload["type"] == "failure"
    assert hook.headers[0]["Authorization"] == "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()

    resolved = notification("ops", alert(status="resolved"))
    title, body = render(resolved)
    (result,) = await send_apprise(
        [f"json://{host}/hook"], title, body, timeout=5, notify_type=notify_type_for(resolved)
    )
    assert result.ok
    assert hook.bodies[1]["type"] == "success"
    assert hook.bodies[1]["title"].startswith("[RESOLVED] DependencyDown")


async def test_apprise_results_are_per_url(aiohttp_server: ServerFactory) -> None:
    good, bad = FakeEndpoint(), FakeEndpoint(statuses=[500])
    good_host = await serve(aiohttp_server, "/hook", good)
    bad_host = await serve(aiohttp_server, "/hook", bad)
    urls = [f"json://{good_host}/hook", f"json://{bad_host}/hook", "nosuchscheme://token@x", f"json://{good_host}/hook"]
    results = await send_apprise(urls, "t", "b", timeout=5)
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].retryable and results[1].detail == "apprise: failure"
    assert not results[2].retryable and results[2].detail == "invalid apprise URL nosuchscheme://"
    assert len(good.bodies) == 2 and len(bad.bodies) == 1


async def test_apprise_unreachable_target_is_retryable() -> None:
    (result,) = await send_apprise([f"json://127.0.0.1:{free_port()}/hook"], "t", "b", timeout=5)
    assert not result.ok and result.retryable


async def test_apprise_timeout_is_bounded(aiohttp_server: ServerFactory) -> None:
    slow = FakeEndpoint(delay=2.0)
    host = await serve(aiohttp_server, "/hook", slow)
    started = time.monotonic()
    (result,) = await send_apprise([f"json://{host}/hook"], "t", "b", timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert not result.ok and result.retryable and "timed out" in result.detail


# -- Alertmanager ------------------------------------------------------------------------------------------------


async def test_alertmanager_body_is_prometheus_shaped(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint()
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    alerts = (alert(), alert(status="resolved", fingerprint="ff", component="web"))
    now = T0 + 60
    async with aiohttp.ClientSession() as session:
        result = await send_alertmanager(
            session, f"http://{host}/", alerts, timeout=5, now=now, generator_url="http://sidecar:8080/alerts"
        )
    assert result.ok and result.target == f"http://{host}"
    (body,) = am.bodies
    assert body == [
        {
            "labels": dict(alerts[0].labels),
            "annotations": dict(alerts[0].annotations),
            "startsAt": "2026-01-01T00:00:00.000Z",
            "endsAt": "2026-01-01T00:05:00.000Z",  # now + 4 x 60 s
            "generatorURL": "http://sidecar:8080/alerts",
        },
        {
            "labels": dict(alerts[1].labels),
            "annotations": dict(alerts[1].annotations),
            "startsAt": "2026-01-01T00:00:00.000Z",
            "endsAt": "2026-01-01T00:05:00.000Z",  # the alert's own end
            "generatorURL": "http://sidecar:8080/alerts",
        },
    ]
    for item in body:
        assert RFC3339.match(item["startsAt"]) and RFC3339.match(item["endsAt"])
    assert am.headers[0]["Content-Type"].startswith("application/json")


def test_firing_ends_at_is_four_resend_intervals_ahead() -> None:
    (item,) = alertmanager_payload([alert()], now=T0)
    assert ALERTMANAGER_RESEND_INTERVAL == 60.0
    assert item["endsAt"] == "2026-01-01T00:04:00.000Z"


@pytest.mark.parametrize(("status", "ok", "retryable"), [(202, True, False), (400, False, False), (503, False, True)])
async def test_alertmanager_status_classes(
    aiohttp_server: ServerFactory, status: int, ok: bool, retryable: bool
) -> None:
    am = FakeEndpoint(statuses=[status])
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    async with aiohttp.ClientSession() as session:
        result = await send_alertmanager(session, f"http://am:{SECRET}@{host}", [alert()], timeout=5)
    assert (result.ok, result.retryable) == (ok, retryable)
    assert result.target == f"http://{host}" and SECRET not in result.detail
    assert am.headers[0]["Authorization"].startswith("Basic ")


async def test_alertmanager_connection_error_is_retryable() -> None:
    async with aiohttp.ClientSession() as session:
        result = await send_alertmanager(session, f"http://127.0.0.1:{free_port()}", [alert()], timeout=5)
    assert not result.ok and result.retryable and result.detail.startswith("connection failed")


# -- Delivery ----------------------------------------------------------------------------------------------------


def make_delivery(receivers: dict[str, Receiver], registry: CollectorRegistry, **kwargs: Any) -> Delivery:
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("resend_interval", None)
    kwargs.setdefault("timeout", 5.0)
    return Delivery(receivers, registry, **kwargs)


async def test_retries_deliver_once_the_receiver_is_back(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint(statuses=[503, 503, 200])
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    registry = CollectorRegistry()
    delivery = make_delivery({"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}, registry)
    await delivery.start()
    try:
        delivery.submit(notification())
        await eventually(lambda: bool(delivery.history(result="delivered")))
    finally:
        await delivery.stop()
    records = delivery.history(10)
    assert [(r.result, r.attempts) for r in records] == [("delivered", 3), ("retrying", 2), ("retrying", 1)]
    assert len({r.id for r in records}) == 1
    assert records[0].alert_names == ("DependencyDown",) and records[0].status == "firing"
    assert records[0].first_attempt_at is not None and records[0].last_attempt_at is not None
    assert records[0].first_attempt_at <= records[0].last_attempt_at
    assert len(am.bodies) == 3 and delivery.dead_letters() == []
    assert sample(registry, "ops", "delivered") == 1
    assert sample(registry, "ops", "failed_attempt") == 2
    assert sample(registry, "ops", "dead_letter") == 0
    assert registry.get_sample_value("sidecar_notification_duration_seconds_count", {"receiver": "ops"}) == 3
    assert registry.get_sample_value("sidecar_notification_queue") == 0


async def test_target_that_stays_down_is_dead_lettered(aiohttp_server: ServerFactory) -> None:
    hook = FakeEndpoint(statuses=[500])
    host = await serve(aiohttp_server, "/hook", hook)
    registry = CollectorRegistry()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    receivers = {"ops": Receiver("ops", apprise_urls=(f"json://{host}/hook",))}
    delivery = make_delivery(receivers, registry, max_attempts=4, backoff=1.0, sleep=sleep)
    await delivery.start()
    try:
        delivery.submit(notification())
        await eventually(lambda: bool(delivery.dead_letters()))
    finally:
        await delivery.stop()
    (dead,) = delivery.dead_letters()
    assert dead.attempts == 4 and dead.target == "json://…" and "gave up" in dead.detail
    assert [r.attempts for r in delivery.history(10)] == [4, 3, 2, 1]
    assert [r.result for r in delivery.history(10, result="retrying")] == ["retrying"] * 3
    assert len(hook.bodies) == 4
    assert len(delays) == 3 and all(0 <= d <= cap for d, cap in zip(delays, [1, 2, 4], strict=True))
    assert sample(registry, "ops", "failed_attempt") == 4
    assert sample(registry, "ops", "dead_letter") == 1
    assert sample(registry, "ops", "delivered") == 0


async def test_alertmanager_4xx_is_not_retried(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint(statuses=[422])
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    registry = CollectorRegistry()
    delivery = make_delivery({"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}, registry, sleep=no_sleep)
    await delivery.start()
    try:
        delivery.submit(notification())
        await eventually(lambda: bool(delivery.dead_letters()))
        await asyncio.sleep(0.1)
    finally:
        await delivery.stop()
    (dead,) = delivery.dead_letters()
    assert dead.attempts == 1 and dead.detail.startswith("HTTP 422")
    assert len(am.bodies) == 1 and len(delivery.history(10)) == 1


async def test_only_the_failing_target_is_retried(aiohttp_server: ServerFactory) -> None:
    hook = FakeEndpoint()
    am = FakeEndpoint(statuses=[500, 502, 200])
    hook_host = await serve(aiohttp_server, "/hook", hook)
    am_host = await serve(aiohttp_server, "/api/v2/alerts", am)
    registry = CollectorRegistry()
    receivers = {
        "ops": Receiver("ops", apprise_urls=(f"json://{hook_host}/hook",), alertmanager_urls=(f"http://{am_host}",))
    }
    delivery = make_delivery(receivers, registry, sleep=no_sleep)
    await delivery.start()
    try:
        delivery.submit(notification())
        await eventually(lambda: len(delivery.history(10, result="delivered")) == 2)
    finally:
        await delivery.stop()
    assert len(hook.bodies) == 1 and len(am.bodies) == 3
    by_target = {r.target: r.attempts for r in delivery.history(10, result="delivered")}
    assert by_target == {"json://…": 1, f"http://{am_host}": 3}
    assert sample(registry, "ops", "delivered") == 2 and sample(registry, "ops", "failed_attempt") == 2


async def test_notifications_are_delivered_concurrently(aiohttp_server: ServerFactory) -> None:
    slow = FakeEndpoint(delay=0.5)
    host = await serve(aiohttp_server, "/api/v2/alerts", slow)
    receivers = {"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}
    delivery = make_delivery(receivers, CollectorRegistry(), concurrency=8)
    await delivery.start()
    started = time.monotonic()
    try:
        for index in range(8):
            delivery.submit(notification(group_key=f"g{index}"))
        await eventually(lambda: len(delivery.history(20, result="delivered")) == 8)
    finally:
        await delivery.stop()
    assert time.monotonic() - started < 2.5


async def test_submit_never_blocks_and_overflow_dead_letters_the_oldest() -> None:
    registry = CollectorRegistry()
    receivers = {"ops": Receiver("ops", alertmanager_urls=("http://127.0.0.1:9",))}
    delivery = make_delivery(receivers, registry, queue_size=1000)
    started = time.perf_counter()
    for index in range(1000):
        delivery.submit(notification(group_key=f"g{index}"))
    assert time.perf_counter() - started < 0.5
    assert delivery.pending == 1000 and registry.get_sample_value("sidecar_notification_queue") == 1000

    delivery.submit(notification(group_key="g1000"))
    delivery.submit(notification(group_key="g1001"))
    assert delivery.pending == 1000
    dead = delivery.dead_letters()
    assert [(r.group_key, r.detail, r.attempts) for r in dead] == [("g1", "queue full", 0), ("g0", "queue full", 0)]
    assert sample(registry, "ops", "dead_letter") == 2

    await delivery.stop(grace=0)  # never started: everything still queued is dead-lettered
    assert delivery.pending == 0 and len(delivery.dead_letters()) == 1000
    assert {r.detail for r in delivery.dead_letters()[:998]} == {"shutdown"}


async def test_submit_never_raises_for_unknown_receiver() -> None:
    delivery = make_delivery({}, CollectorRegistry())
    delivery.submit(notification("nobody"))
    (dead,) = delivery.dead_letters()
    assert (dead.receiver, dead.detail, dead.target) == ("nobody", "unknown receiver", "-")


async def test_stop_dead_letters_what_is_left_after_the_grace_time(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint(statuses=[503])
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    registry = CollectorRegistry()
    receivers = {"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}
    delivery = make_delivery(receivers, registry, backoff=600.0, concurrency=1)
    await delivery.start()
    delivery.submit(notification(group_key="first"))
    delivery.submit(notification(group_key="second"))
    await eventually(lambda: bool(delivery.history(result="retrying")))
    started = time.monotonic()
    await delivery.stop(grace=0.2)
    assert time.monotonic() - started < 2
    dead = {r.group_key: r for r in delivery.dead_letters()}
    assert dead["first"].detail == "shutdown" and dead["first"].attempts == 1
    assert dead["second"].detail == "shutdown" and dead["second"].attempts == 0
    delivery.submit(notification(group_key="late"))
    assert delivery.dead_letters()[0].detail == "shutdown"


async def test_lifecycle_as_cleanup_context(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint()
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    delivery = make_delivery({"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}, CollectorRegistry())
    app = web.Application()
    app.cleanup_ctx.append(delivery.lifecycle)
    server = await aiohttp_server(app)
    delivery.submit(notification())
    await eventually(lambda: bool(am.bodies))
    await server.close()
    assert delivery.history(1)[0].result == "delivered"


async def test_secrets_never_leak(aiohttp_server: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    ok_hook, bad_hook = FakeEndpoint(), FakeEndpoint(statuses=[500])
    ok_host = await serve(aiohttp_server, "/hook", ok_hook)
    bad_host = await serve(aiohttp_server, "/hook", bad_hook)
    am = FakeEndpoint(statuses=[503, 200])
    am_host = await serve(aiohttp_server, "/api/v2/alerts", am)
    receiver = Receiver(
        "ops",
        apprise_urls=(
            f"json://user:{SECRET}@{ok_host}/hook",
            f"json://user:{SECRET}@{bad_host}/hook?token={SECRET}",
            f"nosuchscheme://{SECRET}@example",
            f"slack://{SECRET}",
        ),
        alertmanager_urls=(f"http://am:{SECRET}@{am_host}",),
    )
    registry = CollectorRegistry()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")
    delivery = make_delivery({"ops": receiver}, registry, max_attempts=2, sleep=no_sleep)
    with structlog.testing.capture_logs() as logs:
        await delivery.start()
        try:
            delivery.submit(notification())
            await eventually(
                lambda: len(delivery.history(20, result="delivered")) == 2 and len(delivery.dead_letters()) == 3
            )
        finally:
            await delivery.stop()
    records: list[DeliveryRecord] = delivery.history(100) + delivery.dead_letters()
    targets = {r.target for r in records}
    assert targets == {"json://…#1", "json://…#2", "nosuchscheme://…", "slack://…", f"http://{am_host}"}
    assert logs, "delivery logs something"
    assert SECRET not in repr(records)
    assert SECRET not in repr(logs)
    assert SECRET not in caplog.text
    assert SECRET not in generate_latest(registry).decode()
    assert SECRET not in repr(receiver)
    assert ok_hook.bodies and am.bodies


def test_apprise_log_messages_have_urls_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    logging.getLogger("apprise").error("Unparseable URL %s", f"discord://{SECRET}/{SECRET}")
    assert "Unparseable URL discord://…" in caplog.text and SECRET not in caplog.text


async def test_firing_alerts_are_resent_to_alertmanager_until_resolved(aiohttp_server: ServerFactory) -> None:
    am = FakeEndpoint()
    host = await serve(aiohttp_server, "/api/v2/alerts", am)
    registry = CollectorRegistry()
    receivers = {"ops": Receiver("ops", alertmanager_urls=(f"http://{host}",))}
    delivery = make_delivery(receivers, registry, resend_interval=0.05)
    await delivery.start()
    try:
        delivery.submit(notification())
        await eventually(lambda: len(am.bodies) >= 3)
        assert all(body[0]["labels"]["alertname"] == "DependencyDown" for body in am.bodies)
        delivery.submit(notification("ops", alert(status="resolved")))
        await eventually(lambda: any(body[0]["endsAt"] == "2026-01-01T00:05:00.000Z" for body in am.bodies))
        await asyncio.sleep(0.1)  # a resend possibly in flight when the resolved one was submitted
        settled = len(am.bodies)
        await asyncio.sleep(0.2)
        assert len(am.bodies) == settled
    finally:
        await delivery.stop()
    assert [r.result for r in delivery.history(10)] == ["delivered", "delivered"]
    resends = registry.get_sample_value("sidecar_alertmanager_resends_total", {"receiver": "ops", "result": "ok"})
    assert resends is not None and resends >= 2
