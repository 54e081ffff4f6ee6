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
# Something told of every batch once it is stored (error tracking, forwarding).
Sink = Callable[[Sequence[Any]], None]


@dataclass(frozen=True, slots=True)
class Batch:
    """Spool lines made ready for storage: what to store, what to tell the sinks, how many items."""

    payload: Any
    for_sinks: Sequence[Any]
    count: int


# Makes a batch of spool lines ready for storage (the default: decode them, in a thread).
Prepare = Callable[[list[bytes]], Awaitable[Batch]]
# Stores a prepared batch's payload and the checkpoint after it, in one transaction.
Store = Callable[[Any, dict[str, Any]], Awaitable[None]]


async def decoded(lines: list[bytes]) -> Batch:
    """The default preparation: every line decoded (payload: the records and their lines)."""
    # Decoding thousands of lines takes tens of milliseconds: in a thread, the event
    # loop keeps answering meanwhile (the GIL is handed over every few milliseconds).
    records = await asyncio.to_thread(_decode, lines)
    return Batch((records, lines), records, len(records))


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
        prepare: Prepare = decoded,
        store: Store | None = None,
        checkpoint: tuple[str, str] = CHECKPOINT,
        batch_bytes: int = 4 * 1024 * 1024,
        sinks: Sequence[Sink] = (),
        backoff_max: float = 5.0,
    ) -> None:
        self._spool = spool
        self._storage = storage
        self._prepare = prepare
        self._insert: Store = store or (
            lambda decoded, end: storage.insert_logs(decoded[0], checkpoint=end, encoded=decoded[1])
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
        # One batch ahead: the next batch is prepared while this one is written.
        ahead = None
        try:
            while True:
                if ahead is None:
                    ahead = await self._read(self.position, wait=True)
                    if ahead is None:
                        continue
                task, end = ahead
                try:
                    batch = await task
                except Exception as exc:  # a worker lost while preparing: the lines are still in the spool
                    log.warning("preparing a stored batch failed; retrying", error=type(exc).__name__)
                    ahead = None
                    await asyncio.sleep(1.0)
                    continue
                ahead = await self._read(end, wait=False)
                await self._store(batch, end)
                self.position = end
                self._spool.release(end)
                self._metrics.spool_bytes.set(self._spool.size_bytes)
                for sink in self._sinks:
                    sink(batch.for_sinks)
        finally:
            if ahead is not None:
                await cancel_and_wait(ahead[0])

    async def _read(
        self, after: SpoolPosition | None, *, wait: bool
    ) -> tuple[asyncio.Task[Batch], SpoolPosition] | None:
        """The preparation of the batch after ``after``, started (None when there is none yet)."""
        frames, end = await self._spool.read(after, self._batch_bytes)
        if end is None:
            if wait:
                await self._spool.wait_for_data(after, timeout=1.0)
            return None
        lines = [line for frame in frames for line in frame.splitlines() if line]
        return asyncio.create_task(self._prepare(lines)), end

    async def _store(self, batch: Batch, end: SpoolPosition) -> None:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                await self._insert(batch.payload, end.to_json())
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
            self._metrics.stored.inc(batch.count)
            return


def _decode(lines: list[bytes]) -> list[Any]:
    return [orjson.loads(line) for line in lines]
