"""The signals alert rules read, gathered from the other domain services' public views.

Each function returns ``signal name -> series`` for one service; the composition
root passes them to :class:`~sidecar.alerting.service.AlertingService`, which
calls them at every evaluation. See :mod:`._signals` for the catalog.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sidecar.breakers import STATE_VALUES as BREAKER_VALUES
from sidecar.breakers.service import BreakerService
from sidecar.errortracking import ErrorEvent
from sidecar.errortracking.service import ErrorTrackingService
from sidecar.ingest.service import IngestService
from sidecar.probes.service import ProbeService
from sidecar.stats import Stats

Series = list[tuple[dict[str, str], float]]
Read = Callable[[frozenset[str]], Mapping[str, Series]]  # the signals wanted -> their series


@dataclass(frozen=True, slots=True)
class Source:
    """Where some signals come from: their names, and how to read them.

    ``read`` is given the names the rules use and may leave the others out.
    ``threaded`` sources are safe to read from a worker thread and slow enough
    (the RED statistics: tens of milliseconds per thousand series) to be kept
    off the event loop. A source none of whose signals a rule uses is not read.
    """

    names: frozenset[str]
    read: Read
    threaded: bool = False


PROBE_VALUES = {"healthy": 0.0, "degraded": 1.0, "down": 2.0, "unknown": -1.0}
STATS_WINDOWS = ("1m", "5m", "1h")
DAY = 86400.0


def probe_signals(probes: ProbeService) -> Source:
    """probe_state, probe_success, probe_response_seconds, uptime_ratio, cert_expiry_days."""
    names = ("probe_state", "probe_success", "probe_response_seconds", "uptime_ratio", "cert_expiry_days")

    def read(wanted: frozenset[str]) -> Mapping[str, Series]:
        now = probes.now()
        found: dict[str, Series] = {name: [] for name in names}
        state, success, seconds = found["probe_state"], found["probe_success"], found["probe_response_seconds"]
        expiry, uptime = found["cert_expiry_days"], found["uptime_ratio"]
        last_wanted = bool(wanted & {"probe_success", "probe_response_seconds", "cert_expiry_days"})
        uptime_wanted = "uptime_ratio" in wanted
        for name, config in probes.configs.items():
            health = probes.health[name]
            component = config.component or ""
            labels = {"probe": name, "component": component, "kind": config.kind}
            state.append((labels, PROBE_VALUES[health.status]))
            last = health.last_result
            if last is not None and last_wanted:
                success.append((labels, 1.0 if last.ok else 0.0))
                seconds.append((labels, last.duration))
                if last.cert_expiry is not None:
                    expiry.append(({"probe": name, "component": component}, (last.cert_expiry - now) / DAY))
            if uptime_wanted:
                for window, ratio in probes.history.uptime(name, now).items():
                    if ratio is not None:
                        uptime.append(({"probe": name, "component": component, "window": window}, ratio))
        return found

    return Source(frozenset(names), read)


def stats_signals(stats: Stats) -> Source:
    """latency_p50/p95/p99, error_ratio, request_rate per route; dependency_latency_p95, dependency_error_ratio.

    Read in a worker thread (``Stats`` takes its own lock).
    """
    names = ("latency_p50", "latency_p95", "latency_p99", "error_ratio", "request_rate", "dependency_latency_p95",
             "dependency_error_ratio")  # fmt: skip

    def read(wanted: frozenset[str]) -> Mapping[str, Series]:
        found: dict[str, Series] = {name: [] for name in names}
        for window in STATS_WINDOWS:
            for row in stats.route_stats(window):
                if row.count == 0:
                    continue
                if row.kind == "dependency":
                    labels = {"dependency": row.service, "window": window}
                    _add(found, "dependency_latency_p95", labels, row.p95)
                    _add(found, "dependency_error_ratio", labels, row.error_ratio)
                    continue
                labels = {"service": row.service, "route": row.route, "window": window}
                for name, value in (("latency_p50", row.p50), ("latency_p95", row.p95), ("latency_p99", row.p99),
                                    ("error_ratio", row.error_ratio), ("request_rate", row.rate)):  # fmt: skip
                    _add(found, name, labels, value)
        return found

    return Source(frozenset(names), read, threaded=True)


def _add(found: dict[str, Series], name: str, labels: dict[str, str], value: float | None) -> None:
    if value is not None:
        found[name].append((labels, value))


def breaker_signals(breakers: BreakerService) -> Source:
    """breaker_state, failover_all_open, failover_degraded."""

    def read(wanted: frozenset[str]) -> Mapping[str, Series]:
        found: dict[str, Series] = {"breaker_state": [], "failover_all_open": [], "failover_degraded": []}
        for group in breakers.groups:
            view = breakers.view(group)
            providers = view["providers"]
            for provider in providers:
                labels = {"group": group, "provider": provider["name"]}
                found["breaker_state"].append((labels, float(BREAKER_VALUES[provider["state"]])))
            all_open = all(provider["state"] == "open" for provider in providers)
            found["failover_all_open"].append(({"group": group}, 1.0 if all_open else 0.0))
            preferred = providers[0]["name"] if providers else None
            found["failover_degraded"].append(({"group": group}, 1.0 if view["active"] != preferred else 0.0))
        return found

    return Source(frozenset(("breaker_state", "failover_all_open", "failover_degraded")), read)


def ingest_signals(ingest: IngestService) -> Source:
    """ingest_queue_ratio, storage_up."""

    def read(wanted: frozenset[str]) -> Mapping[str, Series]:
        healthy = ingest.writer.storage_healthy and ingest.span_writer.storage_healthy
        return {"ingest_queue_ratio": [({}, ingest.fill_ratio())], "storage_up": [({}, 1.0 if healthy else 0.0)]}

    return Source(frozenset(("ingest_queue_ratio", "storage_up")), read)


class ErrorSignals:
    """error_group_new, error_group_regressed (events of the last minute) and error_rate (errors/s over it)."""

    def __init__(self, errors: ErrorTrackingService, *, clock: Callable[[], float] = time.time) -> None:
        self._errors = errors
        self._clock = clock
        self._events: deque[tuple[float, str, str, str]] = deque()  # at, kind, service, category
        self._totals: deque[tuple[float, dict[tuple[str, str], int]]] = deque()
        errors.subscribe(self.on_event)

    def on_event(self, event: ErrorEvent) -> None:
        """Error-tracking listener."""
        self._events.append((self._clock(), event.kind, event.service or "", event.category))

    def __call__(self, wanted: frozenset[str] = frozenset()) -> Mapping[str, Series]:
        now = self._clock()
        while self._events and now - self._events[0][0] > 60:
            self._events.popleft()
        counts: dict[tuple[str, str, str], int] = {}
        for _, kind, service, category in self._events:
            counts[(kind, service, category)] = counts.get((kind, service, category), 0) + 1
        found: dict[str, Series] = {"error_group_new": [], "error_group_regressed": [], "error_rate": []}
        for (kind, service, category), count in counts.items():
            name = "error_group_new" if kind == "new_group" else "error_group_regressed"
            found[name].append(({"service": service, "category": category}, float(count)))
        totals = self._errors.tracker.error_totals()
        self._totals.append((now, totals))
        while len(self._totals) > 1 and now - self._totals[1][0] >= 60:
            self._totals.popleft()
        then, before = self._totals[0]
        if now > then:
            for (service, category), total in totals.items():
                rate = (total - before.get((service, category), 0)) / max(now - then, 1.0)
                found["error_rate"].append(({"service": service, "category": category}, rate))
        return found


def error_signals(errors: ErrorTrackingService) -> Source:
    """error_group_new, error_group_regressed, error_rate (see :class:`ErrorSignals`)."""
    return Source(frozenset(("error_group_new", "error_group_regressed", "error_rate")), ErrorSignals(errors))
