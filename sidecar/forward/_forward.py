"""Forwarding of redacted log records to an OpenTelemetry collector over OTLP/HTTP.

:meth:`LogForwarder.offer` puts records in a bounded in-memory buffer and returns at
once; a background task sends them in batches as gzip-compressed protobuf, retrying
what the OTLP specification calls retryable (connection errors, 429, 502, 503, 504)
with exponential backoff and full jitter. Delivery is at least once: a batch whose
response was lost is sent again. Nothing here ever logs record contents.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import aiohttp
import structlog
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar.logs import LogRecord

from ._otlp import to_export_request

log = structlog.get_logger("sidecar.logs.forward")

DROP_REASONS = ("buffer_full", "rejected", "retries_exhausted", "shutdown")
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

# Level 9 costs several times the CPU of 5 for a few percent of size.
_GZIP_LEVEL = 5


class _Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one POST came to; ``rejected`` counts records refused in a partial success."""

    outcome: _Outcome
    retry_after: float | None = None
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class _Metrics:
    forwarded: Counter
    dropped: Counter
    buffered: Gauge
    duration: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry) -> _Metrics:
        dropped = Counter(
            "sidecar_logs_forward_dropped",
            "Log records given up on by the forwarder.",
            ["reason"],
            registry=registry,
        )
        for reason in DROP_REASONS:
            dropped.labels(reason)  # every reason shows, at zero, from the start
        return cls(
            forwarded=Counter("sidecar_logs_forwarded", "Log records the collector accepted.", registry=registry),
            dropped=dropped,
            buffered=Gauge(
                "sidecar_logs_forward_buffer_records", "Log records waiting to be forwarded.", registry=registry
            ),
            duration=Histogram(
                "sidecar_logs_forward_request_duration_seconds",
                "Time of one export request to the collector, failed ones included.",
                registry=registry,
            ),
        )


class LogForwarder:
    """Sends offered log records to an OTLP/HTTP logs endpoint in the background.

    A batch is sent once ``batch_size`` records wait or ``flush_interval`` seconds pass;
    a failed batch is tried at most ``max_retries`` more times. ``clock`` (seconds,
    monotonic), ``sleep`` (backoff and the flush timer) and ``jitter`` (uniform in [0, 1)) are
    injectable so tests control time; ``session_factory`` builds the one
    :class:`aiohttp.ClientSession`, which the forwarder owns and closes. With no
    ``registry`` the metrics go to a private one.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 512,
        max_buffer: int = 10_000,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size or max_retries < 0:
            raise ValueError("need batch_size >= 1, max_buffer >= batch_size and max_retries >= 0")
        self._endpoint = endpoint
        self._headers = {
            **(headers or {}),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        }
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._session_factory = session_factory or aiohttp.ClientSession
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._metrics = _Metrics.register(registry if registry is not None else CollectorRegistry())
        self._buffer: deque[LogRecord] = deque(maxlen=max_buffer)
        self._in_flight: list[LogRecord] = []
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._forwarded = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)

    @property
    def forwarded(self) -> int:
        """Records the collector accepted so far."""
        return self._forwarded

    @property
    def dropped(self) -> dict[str, int]:
        """Records given up on so far, by reason (a copy)."""
        return dict(self._dropped)

    @property
    def buffered(self) -> int:
        """Records waiting in the buffer (not counting the batch being sent)."""
        return len(self._buffer)

    def offer(self, records: Sequence[LogRecord]) -> None:
        """Queue ``records`` for forwarding; never blocks, never raises.

        Call it on the event loop, and do not change the records afterwards: they are
        encoded later, in a worker thread.
        """
        if self._closing:
            self._drop(len(records), "shutdown")
            return
        # The deque drops the oldest when full: while the collector is away, the newest
        # records are the ones that explain what is happening now, so they are kept.
        overflow = len(self._buffer) + len(records) - (self._buffer.maxlen or 0)
        self._buffer.extend(records)
        if overflow > 0:
            self._drop(overflow, "buffer_full")
        self._metrics.buffered.set(len(self._buffer))
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    async def start(self) -> None:
        """Open the HTTP session and start the background sender."""
        if self._task is not None or self._closing:
            raise RuntimeError("LogForwarder.start() called twice or after close()")
        self._session = self._session_factory()
        self._task = asyncio.create_task(self._run(), name="sidecar-log-forwarder")

    # A timeout parameter rather than asyncio.timeout(): on expiry the forwarder must
    # still count what it gives up on and close its session, which cancelling close() would skip.
    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Send what can be sent within ``timeout`` seconds, then stop; the rest counts as dropped."""
        if self._closing and self._task is None:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                await asyncio.wait({self._task})
            self._task = None
        self._drop(len(self._in_flight) + len(self._buffer), "shutdown")
        self._in_flight = []
        self._buffer.clear()
        self._metrics.buffered.set(0)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        """Send batches until closing and the buffer is empty."""
        while True:
            if len(self._buffer) < self._batch_size and not self._closing:
                await self._wait_for_records(self._flush_interval)
            if not self._buffer:
                if self._closing:
                    return
                continue
            # Offers during this delivery set it again if they fill another batch.
            self._wake.clear()
            self._in_flight = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
            self._metrics.buffered.set(len(self._buffer))
            try:
                await self._deliver(self._in_flight)
            except Exception as exc:  # a bug in encoding must not stop forwarding for good
                log.error("log forwarding: cannot send batch", records=len(self._in_flight), error=type(exc).__name__)
                self._drop(len(self._in_flight), "rejected")
            self._in_flight = []

    async def _wait_for_records(self, seconds: float) -> None:
        """Return when a full batch is buffered, on close, or after ``seconds``."""
        waiter = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()

    async def _deliver(self, batch: list[LogRecord]) -> None:
        """Send one batch, retrying as the OTLP specification says; count the outcome."""
        # Encoding costs ~30 us a record in Python: in a thread, a big batch does not
        # hold up request handling on the loop for tens of milliseconds.
        body = await asyncio.to_thread(_encode, batch)
        for attempt in range(self._max_retries + 1):
            result = await self._post(body)
            if result.outcome is _Outcome.DELIVERED:
                rejected = min(result.rejected, len(batch))
                self._drop(rejected, "rejected")
                self._forwarded += len(batch) - rejected
                self._metrics.forwarded.inc(len(batch) - rejected)
                return
            if result.outcome is _Outcome.REJECTED:
                self._drop(len(batch), "rejected")
                return
            if attempt < self._max_retries:
                await self._sleep(self._backoff(attempt, result.retry_after))
        log.warning("log forwarding: retries exhausted", records=len(batch), attempts=self._max_retries + 1)
        self._drop(len(batch), "retries_exhausted")

    async def _post(self, body: bytes) -> _Attempt:
        """One export request and what it came to."""
        assert self._session is not None
        started = self._clock()
        try:
            async with self._session.post(
                self._endpoint, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                payload = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("log forwarding: collector unreachable", error=type(exc).__name__)
            return _Attempt(_Outcome.RETRY)
        finally:
            self._metrics.duration.observe(max(0.0, self._clock() - started))
        if 200 <= status < 300:
            return _Attempt(_Outcome.DELIVERED, rejected=_rejected_count(payload))
        if status in RETRYABLE_STATUSES:
            return _Attempt(_Outcome.RETRY, retry_after=parse_retry_after(retry_after))
        # The body may echo records back: log the status only.
        log.warning("log forwarding: collector rejected a batch", status=status)
        return _Attempt(_Outcome.REJECTED)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry number ``attempt + 1``; capped so a collector cannot stall us for hours."""
        if retry_after is not None:
            return min(retry_after, self._backoff_max)
        return self._jitter() * min(self._backoff_max, self._backoff_base * 2**attempt)

    def _drop(self, count: int, reason: str) -> None:
        if count > 0:
            self._dropped[reason] += count
            self._metrics.dropped.labels(reason).inc(count)


def _encode(batch: list[LogRecord]) -> bytes:
    """The gzip-compressed OTLP protobuf body of ``batch``."""
    return gzip.compress(to_export_request(batch).SerializeToString(), compresslevel=_GZIP_LEVEL)


def _rejected_count(payload: bytes) -> int:
    """``partial_success.rejected_log_records`` of an export response (0 when unreadable)."""
    if not payload:
        return 0
    try:
        response = ExportLogsServiceResponse.FromString(payload)
    except DecodeError:
        return 0
    rejected = response.partial_success.rejected_log_records
    if rejected > 0:
        log.warning("log forwarding: collector rejected part of a batch", rejected=rejected)
    return max(0, rejected)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or HTTP-date); None when unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
