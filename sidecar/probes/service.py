"""The probe service: configured probes scheduled, their health tracked, their results on /metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram

from sidecar.config import ProbeConfig

from ._build import policy_of, scheduled
from ._checks_http import trace_config
from ._model import ProbeResult, Transition
from ._scheduler import Run, Scheduler
from ._state import ProbeHealth

log = structlog.get_logger("sidecar.probes")

STATE_VALUES = {"healthy": 0, "degraded": 1, "down": 2}  # unknown has no sample
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
Listener = Callable[[Transition], None]


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.success = Gauge(
            "sidecar_probe_success", "1 if the last run succeeded.", ["probe", "kind"], registry=registry
        )
        self.duration = Gauge(
            "sidecar_probe_duration_seconds",
            "The last run, overall and by phase.",
            ["probe", "phase"],
            registry=registry,
        )
        self.state = Gauge(
            "sidecar_probe_state", "0 healthy, 1 degraded, 2 down (no sample: unknown).", ["probe"], registry=registry
        )
        self.status_code = Gauge(
            "sidecar_probe_http_status_code", "HTTP status of the last run.", ["probe"], registry=registry
        )
        self.cert_expiry = Gauge(
            "sidecar_probe_tls_cert_expiry_timestamp_seconds", "The peer certificate's notAfter.", ["probe"],
            registry=registry,
        )  # fmt: skip
        self.lag = Histogram(
            "sidecar_probe_schedule_lag_seconds", "How late probe runs start.", buckets=LAG_BUCKETS, registry=registry
        )


class ProbeService:
    """Runs every configured probe and keeps each one's health; transitions go to the listeners."""

    def __init__(
        self, probes: Sequence[ProbeConfig], registry: CollectorRegistry, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._configs = {probe.name: probe for probe in probes}
        self.health = {probe.name: ProbeHealth(probe.name, policy_of(probe)) for probe in probes}
        self._metrics = _Metrics(registry)
        self._wall_clock = wall_clock
        self._listeners: list[Listener] = []
        self._scheduler: Scheduler | None = None

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every health transition."""
        self._listeners.append(listener)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: schedule the probes while the app runs."""
        if not self._configs:
            yield
            return
        async with aiohttp.ClientSession(trace_configs=[trace_config()]) as session:
            self._scheduler = Scheduler([scheduled(probe, session) for probe in self._configs.values()], self.record)
            await self._scheduler.start()
            yield
            await self._scheduler.stop()
            self._scheduler = None

    async def run_now(self, name: str) -> Run:
        """Run probe ``name`` at once; KeyError when there is no such probe or probes are not running."""
        if self._scheduler is None or name not in self._configs:
            raise KeyError(name)
        return await self._scheduler.run_now(name)

    def record(self, run: Run) -> None:
        """Fold one run into its probe's health and metrics."""
        outcome = run.outcome
        status_code: int | None = getattr(outcome, "status_code", None)
        cert_expiry: float | None = getattr(outcome, "cert_expiry", None)
        result = ProbeResult(
            outcome.ok, outcome.duration, self._wall_clock(), outcome.error, outcome.phases, status_code, cert_expiry
        )
        health = self.health[run.probe]
        transition = health.observe(result)
        self._observe(run, result, health)
        if transition is not None:
            log.info("probe state changed", probe=run.probe, previous=transition.previous, current=transition.current)
            for listener in self._listeners:
                listener(transition)

    def _observe(self, run: Run, result: ProbeResult, health: ProbeHealth) -> None:
        metrics, name = self._metrics, run.probe
        metrics.success.labels(name, self._configs[name].kind).set(1 if result.ok else 0)
        metrics.duration.labels(name, "total").set(result.duration)
        for phase, seconds in result.phases.items():
            metrics.duration.labels(name, phase).set(seconds)
        if health.status in STATE_VALUES:
            metrics.state.labels(name).set(STATE_VALUES[health.status])
        if result.status_code is not None:
            metrics.status_code.labels(name).set(result.status_code)
        if result.cert_expiry is not None:
            metrics.cert_expiry.labels(name).set(result.cert_expiry)
        metrics.lag.observe(run.lag)

    def view(self, name: str) -> dict[str, Any]:
        """One probe's state as the API shows it to a ``read`` token (errors are already shortened)."""
        health, config = self.health[name], self._configs[name]
        last = health.last_result
        return {
            "name": name,
            "kind": config.kind,
            "component": config.component,
            "critical": config.critical,
            "status": health.status,
            "since": _rfc3339(health.since),
            "reason": health.reason,
            "last_error": health.last_error,
            "consecutive_failures": health.consecutive_failures,
            "consecutive_successes": health.consecutive_successes,
            "last_run": None
            if last is None
            else {"ok": last.ok, "at": _rfc3339(last.at), "duration": last.duration, "phases": last.phases,
                  "status_code": last.status_code, "cert_expiry": last.cert_expiry},
        }  # fmt: skip


def _rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
