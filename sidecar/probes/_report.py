"""Pure summaries of probe state: the overall health, per-component statuses, history points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any, Literal

from sidecar._time import rfc3339
from sidecar.stats import LatencySketch

from ._model import Rollup, Status

Overall = Literal["healthy", "degraded", "down"]
HISTORY_QUANTILES = (0.5, 0.95, 0.99)
DAY = 86400
# Worst first: a component shows the worst status among its probes that have one.
_SEVERITY: dict[Status, int] = {"down": 3, "degraded": 2, "healthy": 1, "unknown": 0}


def overall_status(probes: Iterable[tuple[Status, bool]]) -> Overall:
    """The backend's health from each probe's (status, critical).

    Down when a critical dependency is down; degraded when any dependency is
    degraded or a non-critical one is down; healthy otherwise. ``unknown``
    (not yet decided, or the sidecar offline) counts as nothing.
    """
    overall: Overall = "healthy"
    for status, critical in probes:
        if status == "down" and critical:
            return "down"
        if status in ("down", "degraded"):
            overall = "degraded"
    return overall


def component_statuses(probes: Iterable[tuple[str | None, Status]]) -> dict[str, Status]:
    """Each component's status: the worst among its probes (``unknown`` only if all are); sorted by name."""
    worst: dict[str, Status] = {}
    for component, status in probes:
        if component is None:
            continue
        current = worst.get(component)
        if current is None or _SEVERITY[status] > _SEVERITY[current]:
            worst[component] = status
    return dict(sorted(worst.items()))


def by_day(hours: Sequence[Rollup]) -> list[Rollup]:
    """Hourly roll-ups of one probe (ordered by start) added up per UTC day."""
    days = []
    for start, group in groupby(hours, key=lambda rollup: rollup.start // DAY * DAY):
        rollups = list(group)
        days.append(
            Rollup(
                rollups[0].probe,
                "hour",  # the stored resolution it was made of; the day is the caller's view
                start,
                sum(rollup.successes for rollup in rollups),
                sum(rollup.total for rollup in rollups),
                LatencySketch.merged(rollup.sketch for rollup in rollups).to_bytes(),
            )
        )
    return days


def rollup_point(rollup: Rollup) -> dict[str, Any]:
    """One roll-up as a history point: counts, uptime, and response-time quantiles of the successes."""
    quantiles = LatencySketch(rollup.sketch).quantiles(HISTORY_QUANTILES) if rollup.sketch else None
    p50, p95, p99 = quantiles if quantiles is not None else (None, None, None)
    return {
        "start": rfc3339(rollup.start),
        "successes": rollup.successes,
        "total": rollup.total,
        "uptime": rollup.successes / rollup.total if rollup.total else None,
        "p50": p50,
        "p95": p95,
        "p99": p99,
    }
