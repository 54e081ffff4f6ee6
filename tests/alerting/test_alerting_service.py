"""The alerting service over real storage and a real webhook, clock in hand: a restart pages nobody twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from sidecar.alerting.service import AlertingService
from sidecar.alerting.sources import Source
from sidecar.config import parse_config
from sidecar.storage import SqliteStorage, Storage
from tests.helpers import Clock

T0 = 1_700_000_000.0
RULES = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    labels: {severity: P1}
    annotations: {summary: "{{ $labels.probe }} is down"}
"""


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = SqliteStorage(tmp_path / "sidecar.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def webhook(aiohttp_server: Any) -> tuple[str, list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = await aiohttp_server(app)
    return f"json://127.0.0.1:{server.port}/hook", bodies


def service(tmp_path: Path, storage: Storage, clock: Clock, hook: str, state: dict[str, Any], **alerting: Any):  # type: ignore[no-untyped-def]
    rules = tmp_path / "alerts"
    rules.mkdir(exist_ok=True)
    (rules / "rules.yaml").write_text(RULES)
    raw = {
        "rules_dir": str(rules),
        "route": {"receiver": "oncall", "group_wait": "0s", "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [{"name": "oncall", "apprise": ["${HOOK}"]}],
        **alerting,
    }
    config = parse_config({"alerting": raw}, env={"HOOK": hook}).alerting
    source = Source(frozenset({"probe_state"}), lambda wanted: state)
    return AlertingService(config, CollectorRegistry(), storage, sources=[source], clock=clock)


async def delivered(bodies: list[dict[str, Any]], count: int) -> None:
    for _ in range(250):
        if len(bodies) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(bodies)} notifications arrived, expected {count}")


async def test_a_restart_while_firing_neither_forgets_nor_pages_again(
    tmp_path: Path, storage: Storage, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    hook, bodies = webhook
    clock = Clock(T0)
    down = {"probe_state": [({"probe": "db", "component": "api", "kind": "postgres"}, 2.0)]}
    first = service(tmp_path, storage, clock, hook, down)
    await first.restore()
    await first.delivery.start()
    [change] = await first.evaluate()
    assert change.alert.status == "firing"
    await delivered(bodies, 1)
    await first.save()
    await first.delivery.stop()

    clock.now += 30
    second = service(tmp_path, storage, clock, hook, down)
    await second.restore()
    await second.delivery.start()
    try:
        assert [alert.status for alert in second.alerts()] == ["firing"]
        assert await second.evaluate() == []  # still firing: no change, and no page
        clock.now += 120
        await second.evaluate()
        await asyncio.sleep(0.3)
        assert len(bodies) == 1
        clock.now = T0 + 4 * 3600
        await second.evaluate()  # the repeat interval, counted from the first page
        await delivered(bodies, 2)
        down["probe_state"] = []
        clock.now += 60
        [resolved] = await second.evaluate()
        assert resolved.alert.status == "resolved"
        await delivered(bodies, 3)
        assert bodies[2]["type"] == "success" and bodies[2]["title"].startswith("[RESOLVED]")
    finally:
        await second.delivery.stop()


async def test_a_maintenance_window_in_the_config_mutes_its_components(
    tmp_path: Path, storage: Storage, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    hook, bodies = webhook
    clock = Clock(T0)
    window = {"name": "db-upgrade", "components": ["api"], "start": "2023-11-14T22:00:00Z",
              "end": "2023-11-14T23:00:00Z"}  # fmt: skip
    down = {"probe_state": [({"probe": "db", "component": "api", "kind": "postgres"}, 2.0)]}
    muted = service(tmp_path, storage, clock, hook, down, maintenance=[window])
    await muted.delivery.start()
    try:
        [change] = await muted.evaluate()
        assert muted.muted_reason(change.alert.fingerprint) == "maintenance db-upgrade"
        await asyncio.sleep(0.3)
        assert bodies == []
        clock.now = T0 + 3600  # the window is over: the alert is sent
        await muted.evaluate()
        await delivered(bodies, 1)
    finally:
        await muted.delivery.stop()


async def test_a_broken_source_does_not_stop_the_others(tmp_path: Path, storage: Storage) -> None:
    clock = Clock(T0)
    down = {"probe_state": [({"probe": "db", "component": "api", "kind": "postgres"}, 2.0)]}
    alerting = service(tmp_path, storage, clock, "json://127.0.0.1:9/x", down)

    def broken(wanted: frozenset[str]) -> dict[str, Any]:
        raise RuntimeError("source down")

    alerting.add_source(Source(frozenset({"probe_state"}), broken, threaded=True))
    assert [change.alert.status for change in await alerting.evaluate()] == ["firing"]


async def test_only_the_sources_the_rules_use_are_read(tmp_path: Path, storage: Storage) -> None:
    reads: list[str] = []
    down = {"probe_state": [({"probe": "db", "component": "api", "kind": "postgres"}, 2.0)]}
    alerting = service(tmp_path, storage, Clock(T0), "json://127.0.0.1:9/x", down)

    def unused(wanted: frozenset[str]) -> dict[str, Any]:
        reads.append("latency")
        return {}

    alerting.add_source(Source(frozenset({"latency_p95"}), unused, threaded=True))
    await alerting.evaluate()
    assert reads == []  # no rule names latency_p95
