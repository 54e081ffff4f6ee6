"""The periodic job that deletes log records past their level's retention, and old spans, in bounded batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Counter

from sidecar._aio import cancel_and_wait
from sidecar.logs import LEVELS, SEVERITY, Level

if TYPE_CHECKING:
    from sidecar.storage import Storage

log = structlog.get_logger("sidecar.logs")


class RetentionJob:
    """Deletes, per level, the records older than that level's retention.

    Deletes go in batches of ``batch_size`` so that no single statement holds
    a lock for long; the job yields to the event loop between batches.
    """

    def __init__(
        self,
        storage: Storage,
        retention: Mapping[Level, float],
        *,
        batch_size: int,
        interval: float,
        registry: CollectorRegistry,
        span_retention: float | None = None,
        audit_retention: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._retention = retention
        self._span_retention = span_retention
        self._audit_retention = audit_retention
        self._batch_size = batch_size
        self._interval = interval
        self._clock = clock
        self.deleted = Counter(
            "sidecar_logs_retention_deleted",
            "Log records deleted by retention.",
            ["level"],
            registry=registry,
        )
        for level in LEVELS:
            self.deleted.labels(level)
        self.spans_deleted = Counter(
            "sidecar_spans_retention_deleted", "Spans deleted by retention.", registry=registry
        )
        self.audit_deleted = Counter(
            "sidecar_audit_retention_deleted",
            "Audit records deleted by retention (the chain keeps its anchor).",
            registry=registry,
        )

    async def run_once(self) -> int:
        """One pass over every level; how many records were deleted."""
        total = 0
        now_ns = int(self._clock() * 1e9)
        for level in LEVELS:
            before_ns = now_ns - int(self._retention[level] * 1e9)
            # Each level owns its OpenTelemetry severity range; TRACE (1-4) is kept as debug.
            low, high = (1 if level == "debug" else SEVERITY[level]), SEVERITY[level] + 3
            while True:
                deleted = await self._storage.delete_logs(
                    min_severity=low, max_severity=high, before_ns=before_ns, limit=self._batch_size
                )
                self.deleted.labels(level).inc(deleted)
                total += deleted
                if deleted < self._batch_size:
                    break
                await asyncio.sleep(0)
        if self._span_retention is not None:
            cutoff_ns, limit = now_ns - int(self._span_retention * 1e9), self._batch_size
            spans = self._storage.delete_spans
            total += await self._batches(lambda: spans(before_ns=cutoff_ns, limit=limit), self.spans_deleted)
        if self._audit_retention is not None:
            cutoff, limit = now_ns / 1e9 - self._audit_retention, self._batch_size
            audit = self._storage.delete_audit
            total += await self._batches(lambda: audit(before=cutoff, limit=limit), self.audit_deleted)
        return total

    async def _batches(self, delete: Callable[[], Awaitable[int]], counter: Counter) -> int:
        total = 0
        while True:
            deleted = await delete()
            counter.inc(deleted)
            total += deleted
            if deleted < self._batch_size:
                return total
            await asyncio.sleep(0)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: run every ``interval`` until shutdown."""
        task = asyncio.create_task(self._loop(), name="log-retention")
        yield
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await self.run_once()
                if deleted:
                    log.info("retention deleted old records", records=deleted)
            except Exception as exc:
                log.warning("retention pass failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)
