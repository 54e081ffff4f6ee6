"""The probe service over real storage, with a controllable wall clock: history, uptime across restarts, offline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sidecar.config import parse_config
from sidecar.probes import Run
from sidecar.probes._checks_net import CheckOutcome
from sidecar.probes.service import ProbeService
from sidecar.storage import SqliteStorage, Storage
from tests.helpers import Clock
from tests.probes.conftest import closed_port

T0 = 1_700_000_000 // 86400 * 86400  # a UTC midnight
MINUTE, HOUR, DAY = 60, 3600, 86400


def config(**probing: Any) -> Any:
    timing = {"interval": "1m", "timeout": "5s", "failures_to_down": 2, "successes_to_recover": 1}
    return parse_config(
        {
            "probing": probing,
            "probes": [
                {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 5432, "component": "database", **timing},
                {"name": "mail", "kind": "tcp", "host": "127.0.0.1", "port": 25, "critical": False, **timing},
            ],
        }
    )


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = SqliteStorage(tmp_path / "sidecar.db")
    await store.open()
    yield store
    await store.close()


Make = Callable[..., ProbeService]


@pytest.fixture
def make(storage: Storage) -> Make:
    def build(clock: Clock, **probing: Any) -> ProbeService:
        loaded = config(**probing)
        return ProbeService(loaded.probes, CollectorRegistry(), storage, loaded.probing, wall_clock=clock)

    return build


async def run(service: ProbeService, probe: str, ok: bool, duration: float = 0.05) -> None:
    await service.record(Run(probe, 0.0, 0.0, CheckOutcome(ok, duration, None if ok else "connection refused")))


async def test_uptime_and_daily_response_times_survive_a_restart(make: Make) -> None:
    clock = Clock(T0)
    first = make(clock)
    # Three days and one hour of runs, one a minute; db fails for 30 minutes on the second day.
    for minute in range(3 * 24 * 60 + 60):
        clock.now = T0 + minute * MINUTE + 7
        failing = 24 * 60 + 600 <= minute < 24 * 60 + 630
        await run(first, "db", ok=not failing, duration=0.040 if minute < 24 * 60 else 0.080)
        if minute % 240 == 0:
            await first.flush()
    await first.flush()
    before = first.history.uptime("db", clock.now)
    assert before["24h"] == 1.0 and before["7d"] == pytest.approx(1 - 30 / (3 * 24 * 60 + 60))

    clock.now += 20  # a restart in the same minute and hour
    second = make(clock)
    await second.restore()
    assert second.history.uptime("db", clock.now) == before
    days = await second.rollups("db", "day", since=T0, until=clock.now)
    assert [(d["successes"], d["total"]) for d in days] == [(1440, 1440), (1410, 1440), (1440, 1440), (60, 60)]
    assert days[0]["p50"] == pytest.approx(0.040, rel=0.01) and days[2]["p95"] == pytest.approx(0.080, rel=0.01)

    # The open minute and hour continue where the first process left them.
    await run(second, "db", ok=False)
    await second.flush()
    third = make(clock)
    await third.restore()
    minutes = await third.rollups("db", "minute", since=clock.now - MINUTE, until=clock.now + 1)
    assert [(m["successes"], m["total"]) for m in minutes] == [(1, 1), (1, 2)]
    hours = await third.rollups("db", "hour", since=clock.now - HOUR, until=clock.now + 1)
    assert (hours[-1]["successes"], hours[-1]["total"]) == (60, 61)
    assert third.history.uptime("db", clock.now)["24h"] == pytest.approx(1440 / 1441)


async def test_history_reads_lay_unsaved_results_over_stored_ones(make: Make) -> None:
    clock = Clock(T0 + 30)
    service = make(clock)
    await run(service, "db", ok=True)
    await service.flush()
    clock.now += 5
    await run(service, "db", ok=False)  # not flushed yet
    results = await service.results("db", since=T0, until=T0 + MINUTE, limit=10)
    assert [(r["ok"], r["error"]) for r in results] == [(True, None), (False, "connection refused")]
    assert results[0]["at"].endswith("Z")
    minutes = await service.rollups("db", "minute", since=T0, until=T0 + MINUTE)
    assert [(m["successes"], m["total"], m["uptime"]) for m in minutes] == [(1, 2, 0.5)]
    with pytest.raises(KeyError):
        await service.results("nope", since=T0, until=T0 + 1, limit=1)
    with pytest.raises(ValueError, match="coarser"):
        await service.rollups("db", "minute", since=T0, until=T0 + 30 * DAY)


async def test_failures_while_the_sidecar_is_offline_leave_probes_unknown(make: Make) -> None:
    clock = Clock(T0)
    service = make(clock, connectivity={"targets": [f"127.0.0.1:{closed_port()}"], "timeout": "1s"})
    await run(service, "db", ok=True)
    for _ in range(3):
        clock.now += MINUTE
        await run(service, "db", ok=False)
    health = service.health["db"]
    assert (health.status, health.reason, health.consecutive_failures) == ("unknown", "sidecar offline", 0)
    assert service.history.uptime("db", clock.now)["24h"] == 1.0  # offline failures count toward nothing
    await service.flush()
    stored = await service.results("db", since=T0, until=clock.now + 1, limit=10)
    assert [r["offline"] for r in stored] == [False, True, True, True]
    assert service.report(full=False)["status"] == "healthy"


async def test_the_health_report_has_a_public_and_a_full_view(make: Make) -> None:
    clock = Clock(T0)
    service = make(clock)
    await run(service, "db", ok=True, duration=0.012)
    for _ in range(2):
        await run(service, "mail", ok=False)
    public = service.report(full=False)
    assert public == {
        "status": "degraded",  # mail is down, but not critical
        "checked_at": "2023-11-14T00:00:00.000Z",
        "components": [{"name": "database", "status": "healthy"}],
    }
    full = service.report(full=True)
    mail = next(d for d in full["dependencies"] if d["name"] == "mail")
    assert mail["status"] == "down" and mail["last_error"] == "connection refused" and mail["critical"] is False
    db = next(d for d in full["dependencies"] if d["name"] == "db")
    assert db["response_time"] == 0.012 and db["uptime"]["24h"] == 1.0
    for _ in range(2):
        await run(service, "db", ok=False)
    assert service.report(full=False)["status"] == "down"


async def test_retention_prunes_results_and_rollups(make: Make, storage: Storage) -> None:
    clock = Clock(T0)
    service = make(clock)
    await run(service, "db", ok=True)
    clock.now = T0 + 3 * DAY
    await run(service, "db", ok=True)
    await service.flush()
    assert await service.prune() == 2  # the old result and the old minute; the hour is kept 400 days
    results = await storage.probe_results("db", since=0, until=clock.now + 1, limit=10)
    assert [r.at for r in results] == [T0 + 3 * DAY]
    hours = await storage.probe_rollups("hour", since=0, until=int(clock.now) + 1, probe="db")
    assert [h.start for h in hours] == [T0, T0 + 3 * DAY]


async def test_daily_counts_add_up_hours_per_utc_day_saved_or_not(make: Make) -> None:
    clock = Clock(T0 + 23 * HOUR)
    service = make(clock)
    await run(service, "db", ok=True)
    await run(service, "db", ok=False)
    await service.flush()
    clock.now = T0 + DAY + 5
    await run(service, "db", ok=True)  # not flushed: read from memory
    assert await service.daily_counts("db", since=T0, until=clock.now) == {T0: (1, 2), T0 + DAY: (1, 1)}
    with pytest.raises(KeyError):
        await service.daily_counts("nope", since=T0, until=clock.now)
