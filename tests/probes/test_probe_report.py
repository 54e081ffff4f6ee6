"""The overall health, per-component statuses and history points."""

from __future__ import annotations

import pytest

from sidecar._time import rfc3339
from sidecar.probes._model import Rollup, Status
from sidecar.probes._report import by_day, component_statuses, overall_status, rollup_point
from sidecar.stats import LatencySketch

T0 = 1_700_000_000 // 86400 * 86400


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        ([], "healthy"),
        ([("healthy", True), ("unknown", True)], "healthy"),
        ([("healthy", True), ("degraded", False)], "degraded"),
        ([("degraded", True), ("healthy", True)], "degraded"),
        ([("down", False), ("healthy", True)], "degraded"),
        ([("down", True), ("healthy", False)], "down"),
        ([("degraded", False), ("down", True)], "down"),
    ],
)
def test_overall_status(probes: list[tuple[Status, bool]], expected: str) -> None:
    assert overall_status(probes) == expected


def test_a_component_shows_the_worst_of_its_probes_and_unknown_only_when_all_are() -> None:
    statuses = component_statuses(
        [("payments", "healthy"), ("ai", "unknown"), ("payments", "down"), ("ai", "degraded"),
         ("email", "unknown"), (None, "down"), ("payments", "degraded")]
    )  # fmt: skip
    assert statuses == {"ai": "degraded", "email": "unknown", "payments": "down"}
    assert list(statuses) == ["ai", "email", "payments"]


def test_hours_add_up_per_utc_day() -> None:
    def hour(start: int, ok: int, total: int, *durations: float) -> Rollup:
        sketch = LatencySketch()
        for duration in durations:
            sketch.add(duration)
        return Rollup("db", "hour", start, ok, total, sketch.to_bytes())

    days = by_day([hour(T0, 1, 2, 0.1), hour(T0 + 23 * 3600, 2, 2, 0.2, 0.3), hour(T0 + 86400, 0, 1)])
    assert [(d.start, d.successes, d.total) for d in days] == [(T0, 3, 4), (T0 + 86400, 0, 1)]
    assert LatencySketch(days[0].sketch).count == 3 and days[1].sketch == b""


def test_a_point_gives_uptime_and_quantiles_of_the_successes() -> None:
    sketch = LatencySketch()
    for ms in range(1, 101):
        sketch.add(ms / 1000)
    point = rollup_point(Rollup("db", "minute", T0, 100, 125, sketch.to_bytes()))
    assert point["start"] == rfc3339(T0) and point["start"].endswith("T00:00:00.000Z")
    assert point["uptime"] == 0.8 and point["total"] == 125
    assert point["p50"] == pytest.approx(0.050, rel=0.03) and point["p99"] == pytest.approx(0.099, rel=0.02)
    empty = rollup_point(Rollup("db", "minute", T0, 0, 0))
    assert empty["uptime"] is None and empty["p95"] is None
