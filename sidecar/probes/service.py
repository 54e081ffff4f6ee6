"""The probe service: configured probes scheduled, their health tracked and kept as history, on /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar._time import rfc3339
from sidecar.config import ProbeConfig, ProbingConfig
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._build import policy_of, scheduled
from ._checks_http import trace_config
from ._connectivity import Connectivity, parse_target
from ._history import WINDOW_PERIODS, ProbeHistory, period_start
from ._model import RESOLUTION_SECONDS, ProbeResult, Rollup, StoredResult, Transition
from ._report import DAY, by_day, component_statuses, overall_status, rollup_point
from ._scheduler import Run, Scheduler
from ._state import ProbeHealth, shorten_error

log = structlog.get_logger("sidecar.probes")

STATE_VALUES = {"healthy": 0, "degraded": 1, "down": 2}  # unknown has no sample
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PRUNE_EVERY = 3600.0  # seconds between retention rounds
PRUNE_BATCH = 5000
MAX_HISTORY_POINTS = 10_000
FLUSH_CHUNK = 250  # roll-ups packed and written at a time
Listener = Callable[[Transition], None]
ResultListener = Callable[[str, bool], None]  # probe, ok (results seen while offline are not passed on)
HistoryResolution = Literal["raw", "minute", "hour", "day"]


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
        self.connectivity = Gauge(
            "sidecar_connectivity_up",
            "1 if the last connectivity self-check reached a target, 0 if the sidecar was cut off.",
            registry=registry,
        )
        self.history_errors = Counter(
            "sidecar_probe_history_write_errors_total",
            "Failed writes of probe results and roll-ups (retried at the next flush).",
            registry=registry,
        )


class _Bound:
    """One probe's metric children, looked up once (``labels()`` costs a lock and a dict lookup per call)."""

    def __init__(self, metrics: _Metrics, probe: str, kind: str) -> None:
        self._metrics, self._probe = metrics, probe
        self.success = metrics.success.labels(probe, kind)
        self.state = metrics.state.labels(probe)
        self._phases: dict[str, Any] = {}

    def phase(self, name: str) -> Any:
        child = self._phases.get(name)
        if child is None:
            child = self._phases[name] = self._metrics.duration.labels(self._probe, name)
        return child


class _UptimeCollector(Collector):
    """``sidecar_uptime_ratio{probe,window}``, computed at scrape time from the history."""

    def __init__(self, service: ProbeService) -> None:
        self._service = service

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        service = self._service
        now = service.now()
        for name in service.names:
            for window, ratio in service.history.uptime(name, now).items():
                if ratio is not None:
                    family.add_metric([name, window], ratio)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "sidecar_uptime_ratio",
            "Share of successful probe runs over the window (runs while the sidecar was offline excluded).",
            labels=["probe", "window"],
        )


class ProbeService:
    """Runs every configured probe, keeps each one's health and history; transitions go to the listeners."""

    def __init__(
        self,
        probes: Sequence[ProbeConfig],
        registry: CollectorRegistry,
        storage: Storage,
        probing: ProbingConfig,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._configs = {probe.name: probe for probe in probes}
        self.health = {probe.name: ProbeHealth(probe.name, policy_of(probe)) for probe in probes}
        self.history = ProbeHistory(self._configs)
        self._storage = storage
        self._probing = probing
        self._metrics = _Metrics(registry)
        self._bound: dict[str, _Bound] = {}
        registry.register(_UptimeCollector(self))
        connectivity = probing.connectivity
        self._connectivity = Connectivity(
            [parse_target(target) for target in connectivity.targets],
            timeout=connectivity.timeout,
            max_age=connectivity.max_age,
            on_verdict=self._metrics.connectivity.set,
        )
        self._wall_clock = wall_clock
        self._listeners: list[Listener] = []
        self._result_listeners: list[ResultListener] = []
        self._scheduler: Scheduler | None = None
        self._pruned_at = float("-inf")

    @property
    def configs(self) -> Mapping[str, ProbeConfig]:
        """Every probe's configuration by name."""
        return self._configs

    @property
    def names(self) -> list[str]:
        """Every probe's name, sorted."""
        return sorted(self._configs)

    def now(self) -> float:
        """The service's wall clock (Unix seconds)."""
        return self._wall_clock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every health transition."""
        self._listeners.append(listener)

    def subscribe_results(self, listener: ResultListener) -> None:
        """Call ``listener`` with every result (probe name, success) not seen while offline."""
        self._result_listeners.append(listener)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: restore the history, schedule the probes, save the history at the end."""
        if not self._configs:
            yield
            return
        await self.restore()
        async with aiohttp.ClientSession(trace_configs=[trace_config()]) as session:
            probes = [scheduled(probe, session) for probe in self._configs.values()]
            self._scheduler = Scheduler(probes, self.record, max_concurrency=self._probing.max_concurrency)
            await self._scheduler.start()
            flusher = asyncio.create_task(self._flush_loop(), name="probe history")
            yield
            await self._scheduler.stop()
            self._scheduler = None
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        await self.flush()

    async def restore(self) -> None:
        """Load the uptime counts and the still-open periods from storage (a failure leaves the history empty)."""
        now = self._wall_clock()
        try:
            counts: list[Rollup] = []
            current: list[Rollup] = []
            for resolution, periods in WINDOW_PERIODS.items():
                length, opened = RESOLUTION_SECONDS[resolution], period_start(now, resolution)
                since = opened - (periods - 1) * length
                counts += await self._storage.probe_rollups(resolution, since=since, until=opened, sketches=False)
                current += await self._storage.probe_rollups(resolution, since=opened, until=opened + length)
        except StorageError as exc:
            log.warning("probe history not restored", error=str(exc))
            return
        self.history.restore([*counts, *current], current)

    async def run_now(self, name: str) -> Run:
        """Run probe ``name`` at once; KeyError when there is no such probe or probes are not running."""
        if self._scheduler is None or name not in self._configs:
            raise KeyError(name)
        return await self._scheduler.run_now(name)

    async def record(self, run: Run) -> None:
        """Fold one run into its probe's health, history and metrics."""
        outcome = run.outcome
        at = self._wall_clock()
        # A failure may be the sidecar's own: ask the self-check before blaming the dependency.
        offline = not outcome.ok and await self._connectivity.offline()
        status_code: int | None = getattr(outcome, "status_code", None)
        cert_expiry: float | None = getattr(outcome, "cert_expiry", None)
        result = ProbeResult(outcome.ok, outcome.duration, at, outcome.error, outcome.phases, status_code, cert_expiry)
        health = self.health[run.probe]
        transition = health.observe(result, offline=offline)
        error = None if result.ok else shorten_error(result.error)
        self.history.record(StoredResult(run.probe, at, result.ok, result.duration, status_code, error, offline))
        self._observe(run, result, health)
        if not offline:
            for result_listener in self._result_listeners:
                result_listener(run.probe, result.ok)
        if transition is not None:
            log.info("probe state changed", probe=run.probe, previous=transition.previous, current=transition.current)
            for listener in self._listeners:
                listener(transition)

    async def flush(self) -> None:
        """Write the results and roll-ups gathered since the last flush; on failure keep them for the next.

        Roll-ups go in chunks, so that packing them never holds the event loop for long.
        """
        now = self._wall_clock()
        while True:
            results, rollups = self.history.drain(now, limit=FLUSH_CHUNK)
            if not await self._write(results, rollups) or len(rollups) < FLUSH_CHUNK:
                return

    async def _write(self, results: list[StoredResult], rollups: list[Rollup]) -> bool:
        try:
            if results:
                await self._storage.insert_probe_results(results)
        except StorageError as exc:
            self._metrics.history_errors.inc()
            log.warning("probe results not written", error=str(exc), results=len(results))
            self.history.requeue(results, rollups)
            return False
        try:
            if rollups:
                await self._storage.put_probe_rollups(rollups)
        except StorageError as exc:
            self._metrics.history_errors.inc()
            log.warning("probe roll-ups not written", error=str(exc), rollups=len(rollups))
            self.history.requeue([], rollups)
            return False
        return True

    async def prune(self) -> int:
        """Delete results and roll-ups past their retention; how many rows went."""
        now, probing, store = self._wall_clock(), self._probing, self._storage
        deleted = 0
        for delete in (
            lambda: store.delete_probe_results(before=now - probing.results_retention, limit=PRUNE_BATCH),
            lambda: store.delete_probe_rollups("minute", before=int(now - probing.minute_retention), limit=PRUNE_BATCH),
            lambda: store.delete_probe_rollups("hour", before=int(now - probing.hour_retention), limit=PRUNE_BATCH),
        ):
            while True:
                count = await delete()
                deleted += count
                if count < PRUNE_BATCH:
                    break
        return deleted

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._probing.flush_interval)
            await self.flush()
            if loop.time() - self._pruned_at >= PRUNE_EVERY:
                try:
                    await self.prune()
                except StorageError as exc:
                    log.warning("probe history retention failed", error=str(exc))
                self._pruned_at = loop.time()

    def _observe(self, run: Run, result: ProbeResult, health: ProbeHealth) -> None:
        bound = self._bound.get(run.probe)
        if bound is None:
            bound = self._bound[run.probe] = _Bound(self._metrics, run.probe, self._configs[run.probe].kind)
        bound.success.set(1 if result.ok else 0)
        bound.phase("total").set(result.duration)
        for phase, seconds in result.phases.items():
            bound.phase(phase).set(seconds)
        if health.status in STATE_VALUES:
            bound.state.set(STATE_VALUES[health.status])
        if result.status_code is not None:
            self._metrics.status_code.labels(run.probe).set(result.status_code)
        if result.cert_expiry is not None:
            self._metrics.cert_expiry.labels(run.probe).set(result.cert_expiry)
        self._metrics.lag.observe(run.lag)

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
            "since": rfc3339(health.since),
            "reason": health.reason,
            "last_error": health.last_error,
            "consecutive_failures": health.consecutive_failures,
            "consecutive_successes": health.consecutive_successes,
            "uptime": self.history.uptime(name, self._wall_clock()),
            "last_run": None
            if last is None
            else {"ok": last.ok, "at": rfc3339(last.at), "duration": last.duration, "phases": last.phases,
                  "status_code": last.status_code, "cert_expiry": last.cert_expiry},
        }  # fmt: skip

    def report(self, *, full: bool) -> dict[str, Any]:
        """The backend's health: overall and per component; ``full`` adds every dependency's details."""
        statuses = [(self.health[name].status, self._configs[name]) for name in self.names]
        report: dict[str, Any] = {
            "status": overall_status((status, config.critical) for status, config in statuses),
            "checked_at": rfc3339(self._wall_clock()),
            "components": [
                {"name": component, "status": status}
                for component, status in component_statuses(
                    (config.component, status) for status, config in statuses
                ).items()
            ],
        }
        if full:
            report["dependencies"] = [self._dependency(name) for name in self.names]
        return report

    def _dependency(self, name: str) -> dict[str, Any]:
        view = self.view(name)
        last = view["last_run"]
        shown = ("name", "kind", "component", "critical", "status", "since", "reason", "last_error", "uptime")
        return {
            **{key: view[key] for key in shown},
            "response_time": None if last is None else last["duration"],
            "checked_at": None if last is None else last["at"],
        }

    async def results(self, name: str, *, since: float, until: float, limit: int) -> list[dict[str, Any]]:
        """Raw results of ``name`` in ``[since, until)``, oldest first, at most ``limit`` (KeyError if unknown)."""
        if name not in self._configs:
            raise KeyError(name)
        stored = await self._storage.probe_results(name, since=since, until=until, limit=limit)
        unsaved = [result for result in self.history.unsaved_results(name) if since <= result.at < until]
        found = sorted([*stored, *unsaved], key=lambda result: result.at)[:limit]
        return [
            {"at": rfc3339(result.at), "ok": result.ok, "duration": result.duration,
             "status_code": result.status_code, "error": result.error, "offline": result.offline}
            for result in found
        ]  # fmt: skip

    async def daily_counts(self, name: str, *, since: float, until: float) -> dict[int, tuple[int, int]]:
        """Successes and runs of ``name`` per UTC day (day start -> counts), from its hourly counts only."""
        if name not in self._configs:
            raise KeyError(name)
        first = int(since // DAY * DAY)
        hours = {r.start: r for r in await self._storage.probe_rollups("hour", since=first, until=int(until) + 1,
                                                                       probe=name, sketches=False)}  # fmt: skip
        for rollup in self.history.unsaved_rollups(name, "hour"):
            if first <= rollup.start <= until:
                hours[rollup.start] = rollup
        days: dict[int, tuple[int, int]] = {}
        for start, rollup in hours.items():
            day = start // DAY * DAY
            successes, total = days.get(day, (0, 0))
            days[day] = (successes + rollup.successes, total + rollup.total)
        return days

    async def rollups(
        self, name: str, resolution: Literal["minute", "hour", "day"], *, since: float, until: float
    ) -> list[dict[str, Any]]:
        """Roll-ups of ``name`` per minute, hour or UTC day whose start is in ``[since, until)`` (KeyError if unknown).

        ValueError when that is more than :data:`MAX_HISTORY_POINTS` periods.
        """
        if name not in self._configs:
            raise KeyError(name)
        stored_resolution = "minute" if resolution == "minute" else "hour"
        length = DAY if resolution == "day" else RESOLUTION_SECONDS[stored_resolution]
        first = int(since // length * length)
        if (until - first) / length > MAX_HISTORY_POINTS:
            raise ValueError(f"more than {MAX_HISTORY_POINTS} {resolution}s: choose a coarser resolution")
        stored = await self._storage.probe_rollups(stored_resolution, since=first, until=int(until), probe=name)
        merged: dict[int, Rollup] = {rollup.start: rollup for rollup in stored}
        for rollup in self.history.unsaved_rollups(name, stored_resolution):
            if first <= rollup.start < until:
                merged[rollup.start] = rollup
        rollups = [merged[start] for start in sorted(merged)]
        if resolution == "day":
            rollups = by_day(rollups)
        return [rollup_point(rollup) for rollup in rollups]
