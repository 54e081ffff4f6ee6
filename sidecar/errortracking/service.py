"""The error-tracking service: the tracker fed by stored logs and spans, persisted, observable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from sidecar._aio import cancel_and_wait
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._group import ErrorGroup
from ._metrics import ErrorTrackingCollector
from ._occurrence import occurrence_from_log, occurrences_from_span
from ._tracker import ErrorEvent, ErrorTracker, TrackerLimits

log = structlog.get_logger("sidecar.errors")

NAMESPACE = "error_groups"  # state documents: one per group, keyed by fingerprint
Listener = Callable[[ErrorEvent], None]


class ErrorTrackingService:
    """Groups the errors of every stored log record and span; saves changed groups every ``flush_interval``.

    Groups survive restarts through the storage's state documents. New groups
    and regressions go to the listeners (alerting subscribes).
    """

    def __init__(
        self,
        storage: Storage,
        registry: CollectorRegistry,
        *,
        limits: TrackerLimits | None = None,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 5.0,
    ) -> None:
        self.tracker = ErrorTracker(limits, clock=clock)
        self._storage = storage
        self._flush_interval = flush_interval
        self._listeners: list[Listener] = []
        registry.register(ErrorTrackingCollector(self.tracker))

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every ``new_group`` and ``regression`` event."""
        self._listeners.append(listener)

    def log_sink(self, records: Sequence[Any]) -> None:
        """Writer sink: the errors of stored log records."""
        self._emit(self.tracker.record(o for o in map(occurrence_from_log, records) if o is not None))

    def span_sink(self, spans: Sequence[Any]) -> None:
        """Writer sink: the exception events of stored spans."""
        self._emit(self.tracker.record(o for span in spans for o in occurrences_from_span(span)))

    def _emit(self, events: list[ErrorEvent]) -> None:
        for event in events:
            log.info("error group event", kind=event.kind, group=event.group_id, service=event.service)
            for listener in self._listeners:
                listener(event)

    async def load(self) -> int:
        """Restore the saved groups; how many were restored (damaged documents are skipped)."""
        states = await self._storage.list_state(NAMESPACE)
        groups = []
        for key, state in states.items():
            try:
                groups.append(ErrorGroup.from_state(state, max_exact_users=self.tracker.limits.max_exact_users))
            except (ValueError, KeyError, TypeError):
                log.warning("skipped a damaged error group document", group=key[:64])
        self.tracker.load(groups)
        return len(groups)

    async def flush(self) -> None:
        """Save every group changed since the last flush (kept for the next one if storage fails)."""
        changes = self.tracker.drain_dirty()
        if changes.empty:
            return
        try:
            await self._storage.put_states(NAMESPACE, changes.upserted, delete=changes.deleted)
        except StorageError as exc:
            self.tracker.requeue(changes)
            log.warning("error groups not saved; retrying at the next flush", error=exc.message)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: load, save periodically, save once more on shutdown."""
        await self.load()
        task = asyncio.create_task(self._loop(), name="error-groups-flush")
        yield
        await cancel_and_wait(task)
        await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()
