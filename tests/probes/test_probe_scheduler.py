"""The probe scheduler in real time: intervals kept, first runs spread, no overlap, hanging targets isolated."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import Counter

import pytest

from sidecar.probes._checks_net import CheckOutcome
from sidecar.probes._scheduler import Check, Run, ScheduledProbe, Scheduler, first_offset
from tests.probes.conftest import Runs


def ok_after(seconds: float) -> Check:
    async def check() -> CheckOutcome:
        await asyncio.sleep(seconds)
        return CheckOutcome(True, seconds)

    return check


class Overlap:
    """A check that takes ``seconds`` and records how many of its runs were in flight at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = self.most = 0

    async def __call__(self) -> CheckOutcome:
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.active -= 1
        return CheckOutcome(True, self.seconds)


async def run_for(probes: list[ScheduledProbe], seconds: float, **kwargs: object) -> list[Run]:
    runs = Runs()
    scheduler = Scheduler(probes, runs, **kwargs)  # type: ignore[arg-type]
    await scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop()
    return runs


def test_first_runs_spread_over_the_interval_and_stay_put() -> None:
    offsets = [first_offset(f"probe-{i}", 5.0) for i in range(1000)]
    assert all(0 <= offset < 5.0 for offset in offsets)
    per_half_second = Counter(int(offset * 2) for offset in offsets)
    assert len(per_half_second) == 10 and max(per_half_second.values()) < 150  # ~100 each, none piled up
    assert first_offset("probe-1", 5.0) == offsets[1]


async def test_each_probe_runs_at_its_interval_on_time() -> None:
    runs = await run_for([ScheduledProbe(f"p{i}", 0.2, 0.1, ok_after(0.01)) for i in range(20)], 1.3)
    counts = Counter(run.probe for run in runs)
    assert set(counts) == {f"p{i}" for i in range(20)} and all(5 <= n <= 7 for n in counts.values()), counts
    for name in counts:
        starts = [run.started for run in runs if run.probe == name]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert statistics.median(gaps) == pytest.approx(0.2, abs=0.03)
    assert max(run.lag for run in runs) < 0.05


async def test_a_hanging_target_is_cut_off_and_delays_no_other_probe() -> None:
    async def hang() -> CheckOutcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    probes = [ScheduledProbe("stuck", 0.3, 0.1, hang), ScheduledProbe("fine", 0.1, 0.05, ok_after(0.0))]
    runs = await run_for(probes, 1.0)
    stuck = [run for run in runs if run.probe == "stuck"]
    assert stuck and all(not run.outcome.ok and "timed out" in (run.outcome.error or "") for run in stuck)
    assert all(run.outcome.duration < 0.7 for run in stuck)
    fine = [run for run in runs if run.probe == "fine"]
    assert len(fine) >= 8 and max(run.lag for run in fine) < 0.05


async def test_a_probe_never_overlaps_itself_even_when_run_by_hand() -> None:
    slow = Overlap(0.1)
    runs = Runs()
    scheduler = Scheduler([ScheduledProbe("slow", 0.15, 0.12, slow)], runs)
    await scheduler.start()
    manual = await asyncio.gather(*(scheduler.run_now("slow") for _ in range(3)))
    await asyncio.sleep(0.3)
    await scheduler.stop()
    assert slow.most == 1 and all(run.outcome.ok for run in manual)
    with pytest.raises(KeyError):
        await scheduler.run_now("nope")


async def test_a_check_that_raises_is_a_failed_run_and_the_probe_goes_on() -> None:
    calls = 0

    async def broken() -> CheckOutcome:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug")

    runs = await run_for([ScheduledProbe("broken", 0.1, 0.05, broken)], 0.45)
    assert calls >= 3 and all(run.outcome.error == "check failed: RuntimeError" for run in runs)


async def test_concurrency_is_bounded() -> None:
    check = Overlap(0.05)
    await run_for([ScheduledProbe(f"p{i}", 0.2, 0.1, check) for i in range(30)], 0.5, max_concurrency=4)
    assert check.most == 4


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="less than the interval"):
        ScheduledProbe("x", 1.0, 1.0, ok_after(0))
    with pytest.raises(ValueError, match="unique"):
        Scheduler([ScheduledProbe("x", 1.0, 0.5, ok_after(0))] * 2, Runs())
