"""The breaker service over real storage with a controllable clock: failover, recovery, probes, overrides, restarts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sidecar.breakers import BreakerTransition, Outcome, Switch
from sidecar.breakers.service import BreakerService
from sidecar.config import parse_config
from sidecar.probes import Transition
from sidecar.storage import SqliteStorage, Storage
from tests.helpers import Clock

T0 = 1_700_000_000.0


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = SqliteStorage(tmp_path / "sidecar.db")
    await store.open()
    yield store
    await store.close()


Make = Callable[..., BreakerService]


@pytest.fixture
def make(storage: Storage) -> Make:
    def build(clock: Clock, registry: CollectorRegistry | None = None, **breakers: Any) -> BreakerService:
        raw = {
            "groups": {"ai": ["anthropic", "openai"], "email": ["resend", "sendgrid"], "payment": ["stripe"]},
            "providers": {
                "anthropic": {"fail_max": 3, "reset_timeout": "30s", "success_threshold": 2, "probe": "anthropic-api"},
                "openai": {"fail_max": 3, "reset_timeout": "30s"},
            },
            "min_dwell": "60s",
            **breakers,
        }
        probes = [{"name": "anthropic-api", "kind": "tcp", "host": "127.0.0.1", "port": 1}]
        config = parse_config({"breakers": raw, "probes": probes})
        return BreakerService(config.breakers, registry or CollectorRegistry(), storage, clock=clock)

    return build


def fail(provider: str, clock: Clock, times: int = 3) -> list[Outcome]:
    return [Outcome(provider, False, clock.now, 1200.0, "timeout")] * times


async def test_anthropic_failing_switches_to_openai_and_back_after_trial_and_dwell(make: Make) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    service = make(clock, registry)
    events: list[Any] = []
    service.subscribe(events.append)
    await service.start()
    try:
        assert service.view("ai")["active"] == "anthropic"
        await service.record(fail("anthropic", clock, 2))
        assert service.view("ai")["active"] == "anthropic"  # below the threshold
        await service.record(fail("anthropic", clock, 1))
        view = service.view("ai")
        assert view["active"] == "openai" and "anthropic open" in view["reason"]
        anthropic = view["providers"][0]
        assert anthropic["state"] == "open" and anthropic["next_attempt_at"] == "2023-11-14T22:13:50.000Z"
        assert [type(e).__name__ for e in events] == ["BreakerTransition", "Switch"]

        clock.now += 30
        await service.tick()
        assert service.view("ai")["providers"][0]["state"] == "half_open"
        assert service.view("ai")["active"] == "openai"  # openai is closed: no trial traffic needed
        await service.record([Outcome("anthropic", True, clock.now)] * 2)
        assert service.view("ai")["providers"][0]["state"] == "closed"
        assert service.view("ai")["active"] == "openai"  # closed, but not yet for min_dwell
        clock.now += 59
        await service.tick()
        assert service.view("ai")["active"] == "openai"
        clock.now += 1
        await service.tick()
        assert service.view("ai")["active"] == "anthropic"
        switches = [e for e in events if isinstance(e, Switch)]
        assert [(s.previous, s.current) for s in switches] == [("anthropic", "openai"), ("openai", "anthropic")]
        text = generate_latest(registry).decode()
        assert 'sidecar_failover_switches_total{group="ai"} 2.0' in text
        assert 'sidecar_failover_active{group="ai",provider="anthropic"} 1.0' in text
        assert 'sidecar_circuit_breaker_transitions_total{group="ai",provider="anthropic",to="open"} 1.0' in text
        assert 'sidecar_circuit_breaker_outcomes_total{provider="anthropic",result="failure"} 3.0' in text
    finally:
        await service.stop()


@pytest.mark.parametrize(("policy", "active"), [("fail_static", "resend"), ("fail_closed", None)])
async def test_every_provider_open(make: Make, policy: str, active: str | None) -> None:
    clock = Clock(T0)
    service = make(clock, all_open=policy)
    await service.start()
    try:
        await service.record(fail("resend", clock, 5) + fail("sendgrid", clock, 5))
        view = service.view("email")
        assert view["active"] == active and view["reason"].startswith("every provider is open")
    finally:
        await service.stop()


async def test_a_probe_going_down_opens_the_breaker_and_its_successes_are_trials(make: Make) -> None:
    clock = Clock(T0)
    service = make(clock)
    await service.start()
    try:
        service.on_probe_transition(Transition("anthropic-api", "healthy", "down", clock.now, "3 consecutive failures"))
        await service.settled()
        assert service.view("ai")["providers"][0]["state"] == "open" and service.view("ai")["active"] == "openai"
        clock.now += 30
        await service.tick()
        for _ in range(2):
            service.on_probe_result("anthropic-api", True)
            await service.settled()
        assert service.view("ai")["providers"][0]["state"] == "closed"
    finally:
        await service.stop()


async def test_an_override_holds_until_it_expires(make: Make) -> None:
    clock = Clock(T0)
    service = make(clock)
    events: list[Any] = []
    service.subscribe(events.append)
    await service.start()
    try:
        await service.force("anthropic", "open", reason="incident 42", actor="oncall", expires_at=clock.now + 600)
        view = service.view("ai")
        assert view["active"] == "openai" and view["providers"][0]["override"]["actor"] == "oncall"
        assert isinstance(events[0], BreakerTransition) and events[0].reason == "forced open by oncall: incident 42"
        await service.record([Outcome("anthropic", True, clock.now)] * 5)
        assert service.view("ai")["providers"][0]["state"] == "open"  # held, whatever the outcomes say
        clock.now += 600
        await service.tick()
        assert service.view("ai")["providers"][0]["state"] == "closed"
        assert service.view("ai")["providers"][0]["override"] is None
    finally:
        await service.stop()


async def test_states_and_overrides_survive_a_restart(make: Make) -> None:
    clock = Clock(T0)
    first = make(clock)
    await first.start()
    await first.record(fail("anthropic", clock))
    await first.force("stripe", "open", reason="maintenance", actor="oncall", expires_at=None)
    await first.stop()

    clock.now += 10
    second = make(clock)
    await second.start()
    try:
        anthropic = second.view("ai")["providers"][0]
        assert anthropic["state"] == "open" and anthropic["next_attempt_at"] == "2023-11-14T22:13:50.000Z"
        assert second.view("ai")["active"] == "openai"
        assert second.view("payment")["providers"][0]["override"]["reason"] == "maintenance"
    finally:
        await second.stop()


async def test_client_spans_feed_the_breakers(make: Make) -> None:
    clock = Clock(T0)
    service = make(clock, providers={"anthropic": {"fail_max": 2, "match": ["api.anthropic.com"]}})
    await service.start()
    try:
        spans = [
            {"kind": "client", "status": "error", "end": int(clock.now * 1e9), "duration_ms": 30.0, "events": [],
             "attributes": {"server.address": "api.anthropic.com", "http.response.status_code": status}}
            for status in (400, 503, 500)
        ]  # fmt: skip
        service.span_sink(spans)
        await service.settled()
        assert service.view("ai")["providers"][0]["state"] == "open"  # the 400 was the caller's, not a failure
    finally:
        await service.stop()


async def test_a_long_poll_wakes_on_a_change(make: Make) -> None:
    import asyncio

    clock = Clock(T0)
    service = make(clock)
    await service.start()
    try:
        seen = service.etag("ai")
        assert await service.wait("ai", seen, 0.05) is False
        waiter = asyncio.create_task(service.wait("ai", seen, 5))
        await asyncio.sleep(0.01)
        await service.record(fail("anthropic", clock))
        assert await asyncio.wait_for(waiter, 1) is True and service.etag("ai") != seen
    finally:
        await service.stop()


async def test_replicas_sharing_postgresql_adopt_each_others_states(pg_schema: str) -> None:
    import asyncio

    from sidecar.storage import PostgresStorage
    from tests.conftest import POSTGRES_DSN

    stores = [PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2) for _ in range(2)]
    for store in stores:
        await store.open()
    config = parse_config({"breakers": {"groups": {"ai": ["anthropic", "openai"]}}}).breakers
    one, two = (
        BreakerService(config, CollectorRegistry(), store, instance=name, shared_storage=True)
        for name, store in zip(("one", "two"), stores, strict=True)
    )
    await one.start()
    await two.start()
    try:
        await one.record([Outcome("anthropic", False, time.time())] * 5)
        assert one.view("ai")["active"] == "openai"
        for _ in range(50):  # saved within a timer round, read by the other within its next poll
            if two.view("ai")["active"] == "openai":
                break
            await asyncio.sleep(0.1)
        assert two.view("ai")["active"] == "openai" and two.view("ai")["providers"][0]["state"] == "open"
        await two.force("anthropic", "closed", reason="verified by hand", actor="oncall", expires_at=None)
        assert two.view("ai")["active"] == "openai"  # dwell time before traffic goes back
        for _ in range(50):
            if one.breakers["anthropic"].override is not None:
                break
            await asyncio.sleep(0.1)
        assert one.view("ai")["providers"][0]["override"]["reason"] == "verified by hand"
        assert one.view("ai")["providers"][0]["state"] == "closed"
    finally:
        await one.stop()
        await two.stop()
        for store in stores:
            await store.close()
