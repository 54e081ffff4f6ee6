"""The alerting service: rules evaluated over the signals, alerts routed, grouped, muted and delivered."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar._aio import cancel_and_wait
from sidecar._time import rfc3339
from sidecar.config import AlertingConfig
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._delivery import Delivery
from ._dispatch import Dispatcher, Inhibition, Route, Silence, Window, muted, parse_label_matcher
from ._notify import Receiver
from ._rules import SEVERITIES, Rule, load_rules
from ._state import Alert, AlertTable, Change
from .sources import Source

log = structlog.get_logger("sidecar.alerting")

ALERTS, GROUPS, SILENCES, WINDOWS = "alerts", "alert_groups", "silences", "maintenance"
EXPIRED_KEPT = 86400.0  # ended silences and windows stay listed this long
TRIGGER_DEBOUNCE = 0.1  # seconds a triggered round waits for more changes
Listener = Callable[[Change], None]


class _AlertsCollector(Collector):
    """``sidecar_alerts{state,severity}`` from the alert table at scrape time."""

    def __init__(self, service: AlertingService) -> None:
        self._service = service

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        counts = {(state, severity): 0 for state in ("pending", "firing") for severity in SEVERITIES}
        for alert in self._service.alerts():
            if alert.status != "resolved" and (alert.status, alert.severity) in counts:
                counts[(alert.status, alert.severity)] += 1
        for (state, severity), count in counts.items():
            family.add_metric([state, severity], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("sidecar_alerts", "Active alerts by state and severity.", labels=["state", "severity"])


class AlertingService:
    """Evaluates every rule each ``evaluation_interval`` (and at once when :meth:`trigger` is called).

    Alerts, notification groups, silences and maintenance windows are saved in the
    state store after each change and restored at start, so a restart neither
    forgets a firing alert nor pages for it again. ``subscribe`` listeners (incidents)
    hear every status change.
    """

    def __init__(
        self,
        config: AlertingConfig,
        registry: CollectorRegistry,
        storage: Storage,
        *,
        sources: Sequence[Source] = (),
        clock: Callable[[], float] = time.time,
        delivery: Delivery | None = None,
    ) -> None:
        self._config = config
        self._storage = storage
        self._sources = list(sources)
        self._clock = clock
        self.rules: list[Rule] = load_rules(config.rules_dir)  # a bad rule is a start-up error (ConfigError)
        self._table = AlertTable()
        receivers = {
            r.name: Receiver(r.name, tuple(url.get_secret_value() for url in r.apprise), r.alertmanager)
            for r in config.receivers
        }
        self._receivers = set(receivers)
        self._dispatcher = Dispatcher(
            Route.build(config.route), send_resolved={r.name: r.send_resolved for r in config.receivers}
        )
        self._inhibitions = [Inhibition.build(rule) for rule in config.inhibit_rules]
        self._config_windows = [
            Window(w.name, w.components, w.start.timestamp(), w.end.timestamp(), w.comment) for w in config.maintenance
        ]
        self.silences: dict[str, Silence] = {}
        self.windows: dict[str, Window] = {}  # created through the API
        self.delivery = delivery or Delivery(receivers, registry, generator_url=config.external_url or "")
        self._listeners: list[Listener] = []
        self._mutes: dict[str, str] = {}
        self._saved_alerts: set[str] = set()
        self._saved_groups: set[str] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._duration = Histogram(
            "sidecar_alert_evaluation_seconds", "One evaluation of every rule.", registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
        )  # fmt: skip
        registry.register(_AlertsCollector(self))

    # --- lifecycle -----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every alert status change."""
        self._listeners.append(listener)

    def add_source(self, source: Source) -> None:
        """Read ``source``'s signals at every evaluation."""
        self._sources.append(source)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: restore, evaluate in the background, deliver; save at the end."""
        await self.restore()
        await self.delivery.start()
        self._loop_task = asyncio.create_task(self._run(), name="alerting")
        yield
        await cancel_and_wait(self._loop_task)
        await self.save()
        await self.delivery.stop()

    async def restore(self) -> None:
        """Take back alerts, groups, silences and maintenance windows saved before (damaged ones skipped)."""
        try:
            alerts = await self._storage.list_state(ALERTS)
            groups = await self._storage.list_state(GROUPS)
            silences = await self._storage.list_state(SILENCES)
            windows = await self._storage.list_state(WINDOWS)
        except StorageError as exc:
            log.warning("alert state not restored", error=str(exc))
            return
        restored = []
        for key, state in alerts.items():
            try:
                restored.append(Alert.from_state(key, state))
            except (KeyError, TypeError, ValueError):
                log.warning("damaged alert state skipped", fingerprint=key)
        self._table = AlertTable(restored)
        self._dispatcher.restore(groups)
        for key, state in silences.items():
            try:
                self.silences[key] = _silence(key, state)
            except (KeyError, TypeError, ValueError):
                log.warning("damaged silence skipped", silence=key)
        for key, state in windows.items():
            try:
                self.windows[key] = Window(key, tuple(state["components"]), state["starts_at"], state["ends_at"],
                                           state.get("comment", ""))  # fmt: skip
            except (KeyError, TypeError, ValueError):
                log.warning("damaged maintenance window skipped", window=key)
        self._saved_alerts, self._saved_groups = set(alerts), set(groups)

    def trigger(self) -> None:
        """Evaluate as soon as possible (a signal changed: a probe went down, a breaker opened)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # The next round comes at the interval, or sooner when a notification group falls due
            # (group_wait, group_interval): a group's timing does not wait for the rules' interval.
            wait = self._config.evaluation_interval
            due = self._dispatcher.next_flush()
            if due is not None:
                wait = min(wait, max(0.01, due - self._clock()))
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
                # A burst of changes (many probes going down together) is taken in one round.
                await asyncio.sleep(TRIGGER_DEBOUNCE)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.evaluate()
            except Exception:  # one failed round must not end alerting
                log.error("alert evaluation failed", exc_info=True)

    # --- evaluation ----------------------------------------------------------------------------

    async def evaluate(self) -> list[Change]:
        """One round: every rule, then routing, muting and delivery; the changes it made."""
        async with self._lock:
            started = time.perf_counter()
            now = self._clock()
            snapshot = await self._snapshot()
            changes: list[Change] = []
            for rule in self.rules:
                changes += self._table.evaluate(rule, rule.expr.evaluate(snapshot), now)
                await asyncio.sleep(0)  # other work (probe timings) goes on between rules
            alerts = list(self._table)
            self._mutes = muted(alerts, now, self.silences.values(), self.all_windows(), self._inhibitions)
            notifications = self._dispatcher.tick(alerts, self._mutes, now)
            for notification in notifications:
                if notification.receiver in self._receivers:
                    self.delivery.submit(notification)
            self._table.prune(now, self._config.resolved_retention)
            self._prune_ended(now)
            for change in changes:
                log.info("alert", alert=change.alert.rule, status=change.alert.status, previous=change.previous,
                         fingerprint=change.alert.fingerprint)  # fmt: skip
                for listener in self._listeners:
                    listener(change)
            self._duration.observe(time.perf_counter() - started)
        if changes or notifications:
            await self.save()
        return changes

    async def _snapshot(self) -> dict[str, Any]:
        used = frozenset().union(*(rule.expr.signals() for rule in self.rules))
        snapshot: dict[str, Any] = {}
        for source in self._sources:
            if not source.names & used:
                continue
            try:
                if source.threaded:
                    part = await asyncio.to_thread(source.read, used)
                else:
                    part = source.read(used)
            except Exception:  # a broken source must not stop the other rules
                log.error("signal source failed", exc_info=True)
                continue
            for name, series in part.items():
                snapshot.setdefault(name, []).extend(series)
            await asyncio.sleep(0)
        return snapshot

    def _prune_ended(self, now: float) -> None:
        for store in (self.silences, self.windows):
            for key in [key for key, item in store.items() if now - item.ends_at >= EXPIRED_KEPT]:
                del store[key]

    async def save(self) -> None:
        """Write alerts and notification groups (what is gone is deleted)."""
        alerts = {alert.fingerprint: alert.to_state() for alert in self._table}
        groups = {key: group.to_state() for key, group in self._dispatcher.groups.items()}
        try:
            await self._storage.put_states(ALERTS, alerts, delete=sorted(self._saved_alerts - set(alerts)))
            await self._storage.put_states(GROUPS, groups, delete=sorted(self._saved_groups - set(groups)))
        except StorageError as exc:
            log.warning("alert state not saved", error=str(exc))
            return
        self._saved_alerts, self._saved_groups = set(alerts), set(groups)

    # --- reading -------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Every current alert (pending, firing, and recently resolved)."""
        return list(self._table)

    def muted_reason(self, fingerprint: str) -> str | None:
        """Why an alert is muted (silence, maintenance, inhibition), as of the last evaluation."""
        return self._mutes.get(fingerprint)

    def all_windows(self) -> list[Window]:
        """Maintenance windows from the config and the API."""
        return [*self._config_windows, *self.windows.values()]

    def view(self, alert: Alert) -> dict[str, Any]:
        """An alert as the API shows it."""
        return {
            "fingerprint": alert.fingerprint, "rule": alert.rule, "status": alert.status,
            "labels": dict(alert.labels), "annotations": dict(alert.annotations), "value": alert.value,
            "active_at": rfc3339(alert.active_at), "fired_at": rfc3339(alert.fired_at),
            "resolved_at": rfc3339(alert.resolved_at), "muted": self._mutes.get(alert.fingerprint),
        }  # fmt: skip

    # --- silences and maintenance --------------------------------------------------------------

    async def add_silence(
        self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
    ) -> Silence:
        """A new silence (matchers already validated)."""
        silence = Silence(
            f"sil_{secrets.token_hex(6)}",
            tuple(map(parse_label_matcher, matchers)),
            starts_at,
            ends_at,
            created_by,
            comment,
        )
        self.silences[silence.id] = silence
        await self._storage.put_state(SILENCES, silence.id, _silence_state(silence))
        self.trigger()
        return silence

    async def expire_silence(self, silence_id: str) -> Silence:
        """End a silence now (KeyError if unknown); it stays listed for a day."""
        silence = self.silences[silence_id]
        now = self._clock()
        if silence.ends_at > now:
            silence = Silence(silence.id, silence.matchers, min(silence.starts_at, now), now, silence.created_by,
                              silence.comment)  # fmt: skip
            self.silences[silence.id] = silence
            await self._storage.put_state(SILENCES, silence.id, _silence_state(silence))
        self.trigger()
        return silence

    async def add_window(
        self, name: str, components: Sequence[str], starts_at: float, ends_at: float, comment: str
    ) -> Window:
        """A maintenance window created through the API."""
        window = Window(name, tuple(components), starts_at, ends_at, comment)
        self.windows[name] = window
        await self._storage.put_state(WINDOWS, name, {"components": list(components), "starts_at": starts_at,
                                                      "ends_at": ends_at, "comment": comment})  # fmt: skip
        self.trigger()
        return window

    async def delete_window(self, name: str) -> Window:
        """Remove an API-created window (KeyError if unknown)."""
        window = self.windows.pop(name)
        await self._storage.delete_state(WINDOWS, name)
        self.trigger()
        return window

    def reload(self) -> int:
        """Read the rules again (SIGHUP); on an error the current rules stay. How many rules now."""
        rules = load_rules(self._config.rules_dir)
        self.rules = rules
        self._table.forget(rule.name for rule in rules)
        self.trigger()
        return len(rules)


def _silence_state(silence: Silence) -> dict[str, Any]:
    return {"matchers": [str(m) for m in silence.matchers], "starts_at": silence.starts_at, "ends_at": silence.ends_at,
            "created_by": silence.created_by, "comment": silence.comment}  # fmt: skip


def _silence(key: str, state: dict[str, Any]) -> Silence:
    return Silence(key, tuple(map(parse_label_matcher, state["matchers"])), float(state["starts_at"]),
                   float(state["ends_at"]), state["created_by"], state["comment"])  # fmt: skip


def timestamp(value: datetime) -> float:
    """A timezone-aware datetime as Unix seconds."""
    return value.timestamp()
