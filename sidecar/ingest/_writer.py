"""Draining the spool into storage, in order, recording how far it got in the same transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from prometheus_client import Counter, Gauge, Histogram

from sidecar._aio import cancel_and_wait
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._spool import Spool, SpoolPosition

log = structlog.get_logger("sidecar.ingest")

CHECKPOINT = ("ingest", "spool_checkpoint")
SPAN_CHECKPOINT = ("ingest", "span_spool_checkpoint")
# Something told of every batch once it is stored (statistics, error tracking, forwarding).
Sink = Callable[[Sequence[Any]], None]
# Stores a batch of decoded items (with their spool lines) and the checkpoint after them, in one transaction.
Store = Callable[[list[Any], list[bytes], dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WriterMetrics:
    """What a writer counts."""

    stored: Counter
    spool_bytes: Gauge
    storage_up: Gauge
    write_duration: Histogram


class SpoolWriter:
    """Moves frames from the spool to storage; survives storage outages by retrying with backoff."""

    def __init__(
        self,
        spool: Spool,
        storage: Storage,
        metrics: WriterMetrics,
        *,
        store: Store | None = None,
        checkpoint: tuple[str, str] = CHECKPOINT,
        batch_bytes: int = 4 * 1024 * 1024,
        sinks: Sequence[Sink] = (),
        backoff_max: float = 5.0,
    ) -> None:
        self._spool = spool
        self._storage = storage
        self._insert: Store = store or (
            lambda records, lines, end: storage.insert_logs(records, checkpoint=end, encoded=lines)
        )
        self._checkpoint = checkpoint
        self._metrics = metrics
        self._batch_bytes = batch_bytes
        self._sinks = sinks
        self._backoff_max = backoff_max
        self.position: SpoolPosition | None = None
        self.storage_healthy = True
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Resume from the position storage recorded, and start draining."""
        saved = await self._storage.get_state(*self._checkpoint)
        self.position = SpoolPosition.from_json(saved) if saved else None
        self._task = asyncio.create_task(self._run(), name="spool-writer")

    async def drain(self, seconds: float) -> bool:
        """Wait until everything durable in the spool is stored, for up to ``seconds``; whether it got there."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._spool.end_position is None or self.position == self._spool.end_position:
                return True
            await asyncio.sleep(0.01)
        return False

    async def stop(self) -> None:
        """Stop after the batch in progress (what remains is replayed at the next start)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            frames, end = await self._spool.read(self.position, self._batch_bytes)
            if end is None:
                await self._spool.wait_for_data(self.position, timeout=1.0)
                continue
            # Decoding thousands of lines takes tens of milliseconds: in a thread, the event
            # loop keeps answering meanwhile (the GIL is handed over every few milliseconds).
            records, lines = await asyncio.to_thread(_decode, frames)
            await self._store(records, lines, end)
            self.position = end
            self._spool.release(end)
            self._metrics.spool_bytes.set(self._spool.size_bytes)
            for sink in self._sinks:
                sink(records)

    async def _store(self, records: list[Any], lines: list[bytes], end: SpoolPosition) -> None:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                await self._insert(records, lines, end.to_json())
            except Exception as exc:
                if self.storage_healthy:
                    reason = exc.message if isinstance(exc, StorageError) else type(exc).__name__
                    log.warning(
                        "storage write failed; records stay in the spool",
                        error=reason,
                        exc_info=not isinstance(exc, StorageError),
                    )
                self.storage_healthy = False
                self._metrics.storage_up.set(0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            if not self.storage_healthy:
                log.info("storage write recovered")
            self.storage_healthy = True
            self._metrics.storage_up.set(1)
            self._metrics.write_duration.observe(time.perf_counter() - started)
            self._metrics.stored.inc(len(records))
            return


def _decode(frames: list[bytes]) -> tuple[list[Any], list[bytes]]:
    lines = [line for frame in frames for line in frame.splitlines() if line]
    return [orjson.loads(line) for line in lines], lines
