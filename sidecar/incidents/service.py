"""The incident service: the book fed by alert changes and people, saved in the state store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar.config import IncidentsConfig
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._book import IncidentBook
from ._model import STATUSES, Impact, Incident, IncidentStatus

log = structlog.get_logger("sidecar.incidents")

NAMESPACE = "incidents"
Listener = Callable[[Incident], None]


class _Collector(Collector):
    def __init__(self, book: IncidentBook) -> None:
        self._book = book

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily("sidecar_incidents", "Incidents by status.", labels=["status"])

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("sidecar_incidents", "Incidents by status.", labels=["status"])
        counts = dict.fromkeys(STATUSES, 0)
        for incident in self._book.incidents.values():
            counts[incident.status] += 1
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


class IncidentService:
    """Opens, joins and resolves incidents from alert changes; takes declarations and updates; saves them."""

    def __init__(
        self,
        config: IncidentsConfig,
        public_components: Sequence[str],
        registry: CollectorRegistry,
        storage: Storage,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = IncidentBook(
            public_components, open_severities=config.open_severities, auto_resolve=config.auto_resolve
        )
        self._storage = storage
        self._clock = clock
        self._dirty: set[str] = set()
        self._listeners: list[Listener] = []
        self._saving: asyncio.Task[None] | None = None
        registry.register(_Collector(self.book))

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every incident that changed (the status page)."""
        self._listeners.append(listener)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: load the saved incidents; save what changed at the end."""
        await self.load()
        yield
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)
        await self.save()

    async def load(self) -> None:
        """Take back saved incidents (damaged documents are skipped)."""
        try:
            saved = await self._storage.list_state(NAMESPACE)
        except StorageError as exc:
            log.warning("incidents not restored", error=str(exc))
            return
        incidents = []
        for key, state in saved.items():
            try:
                incidents.append(Incident.from_state(state))
            except (KeyError, TypeError, ValueError):
                log.warning("damaged incident skipped", incident=key)
        self.book.load(incidents)

    def on_alert_change(self, change: Any) -> None:
        """Alerting listener: an alert that started firing or resolved after firing."""
        alert = change.alert
        if alert.status == "firing" and change.previous != "firing":
            incident = self.book.on_alert(
                alert.fingerprint, alert.labels, alert.annotations, True, alert.fired_at or self._clock(),
                active_since=alert.active_at,
            )  # fmt: skip
        elif alert.status == "resolved" and change.previous == "firing":
            incident = self.book.on_alert(
                alert.fingerprint, alert.labels, alert.annotations, False, alert.resolved_at or self._clock()
            )
        else:
            return
        if incident is not None:
            self._changed(incident)

    async def declare(
        self, title: str, components: Sequence[str], impact: Impact, message: str, actor: str
    ) -> Incident:
        """Open an incident by hand."""
        incident = self.book.declare(title, components, impact, message, actor, self._clock())
        self._changed(incident)
        await self.save()
        return incident

    async def update(self, incident_id: str, status: IncidentStatus, message: str, actor: str) -> Incident:
        """A human update (KeyError if unknown)."""
        incident = self.book.update(incident_id, status, message, actor, self._clock())
        self._changed(incident)
        await self.save()
        return incident

    def _changed(self, incident: Incident) -> None:
        log.info("incident", incident=incident.id, status=incident.status, impact=incident.impact)
        self._dirty.add(incident.id)
        for listener in self._listeners:
            listener(incident)
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self.save())

    async def save(self) -> None:
        """Write the incidents that changed since the last save."""
        if not self._dirty:
            return
        keys, self._dirty = self._dirty, set()
        try:
            await self._storage.put_states(NAMESPACE, {key: self.book.get(key).to_state() for key in keys})
        except StorageError as exc:
            self._dirty |= keys
            log.warning("incidents not saved", error=str(exc))
