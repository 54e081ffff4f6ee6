"""Asynchronous notification delivery: a bounded queue, per-target retries with backoff, history and dead letters."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar._aio import cancel_and_wait
from sidecar._retry import backoff_delay
from sidecar.alerting._notify import (
    ALERTMANAGER_RESEND_INTERVAL,
    AlertInstance,
    Notification,
    Receiver,
    TargetResult,
    notify_type_for,
    redact_alertmanager_url,
    redact_apprise_url,
    render,
    send_alertmanager,
    send_apprise,
)

__all__ = ["Delivery", "DeliveryRecord", "DeliveryResult"]

log = structlog.get_logger("sidecar.alerting")

DeliveryResult = Literal["delivered", "retrying", "dead_letter"]

_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One attempt outcome for one notification to one target.

    ``id`` is shared by every record of the same delivery (one notification to one target). ``target`` is
    redacted. ``attempts`` is 0 and the attempt times are ``None`` when the notification was dead-lettered before
    any attempt (queue full, shutdown, unknown receiver); ``recorded_at`` is when the record was written.
    """

    id: str
    receiver: str
    target: str
    group_key: str
    status: Literal["firing", "resolved"]
    alert_names: tuple[str, ...]
    attempts: int
    result: DeliveryResult
    detail: str
    first_attempt_at: float | None
    last_attempt_at: float | None
    recorded_at: float


@dataclass(frozen=True, slots=True)
class _Target:
    kind: Literal["apprise", "alertmanager"]
    url: str  # secret for apprise: never logged or recorded
    label: str  # redacted


@dataclass(slots=True)
class _Job:
    delivery_id: str
    notification: Notification
    targets: tuple[_Target, ...]


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "sidecar_notifications",
            "Notification outcomes per receiver: delivered, failed_attempt (each failed attempt) and dead_letter.",
            ["receiver", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "sidecar_notification_duration_seconds",
            "Duration of one delivery attempt to one target.",
            ["receiver"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.queue = Gauge(
            "sidecar_notification_queue", "Notifications waiting for a delivery slot.", registry=registry
        )
        self.resends = Counter(
            "sidecar_alertmanager_resends",
            "Periodic re-sends of firing alerts to Alertmanager targets, by outcome (ok, failed).",
            ["receiver", "result"],
            registry=registry,
        )


def _targets(receiver: Receiver) -> tuple[_Target, ...]:
    apprise_labels = [redact_apprise_url(url) for url in receiver.apprise_urls]
    labels: list[_Target] = []
    for index, (url, label) in enumerate(zip(receiver.apprise_urls, apprise_labels, strict=True)):
        if apprise_labels.count(label) > 1:  # several URLs of one scheme: keep the records apart
            label = f"{label}#{apprise_labels[:index].count(label) + 1}"
        labels.append(_Target("apprise", url, label))
    for url in receiver.alertmanager_urls:
        labels.append(_Target("alertmanager", url, redact_alertmanager_url(url)))
    return tuple(labels)


def _alert_names(notification: Notification) -> tuple[str, ...]:
    return tuple(sorted({a.labels.get("alertname", "") for a in notification.alerts} - {""}))


class Delivery:
    """Delivers notifications in the background; ``submit`` only enqueues.

    Each notification goes to every target of its receiver. A target is retried on retryable failures with
    exponential backoff (``backoff`` x 2^(attempt-1), full jitter, capped at 5 min) until ``max_attempts``;
    a permanent failure or the last failed attempt dead-letters that target only. Targets that succeeded are
    not sent again.

    Firing alerts are sent to Alertmanager with ``endsAt`` four resend intervals ahead, so while a group's latest
    notification has firing alerts they are re-posted to its receiver's Alertmanager targets every
    ``resend_interval`` (one attempt each, counted in ``sidecar_alertmanager_resends_total``, not in the history).
    A group stops being re-sent when a notification for it has no firing alert, or after ``resend_max_age``
    without any notification for it.
    """

    def __init__(
        self,
        receivers: Mapping[str, Receiver],
        registry: CollectorRegistry,
        *,
        max_attempts: int = 6,
        backoff: float = 1.0,
        timeout: float = 10.0,
        history: int = 1000,
        queue_size: int = 10_000,
        concurrency: int = 16,
        shutdown_grace: float = 5.0,
        generator_url: str = "",
        resend_interval: float | None = ALERTMANAGER_RESEND_INTERVAL,
        resend_max_age: float = 24 * 3600.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if queue_size < 1 or concurrency < 1 or history < 1:
            raise ValueError("queue_size, concurrency and history must be positive")
        self._receivers = dict(receivers)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timeout = timeout
        self._queue_size = queue_size
        self._concurrency = concurrency
        self._shutdown_grace = shutdown_grace
        self._generator_url = generator_url
        self._resend_interval = resend_interval
        self._resend_max_age = resend_max_age
        self._active: dict[tuple[str, str], tuple[float, tuple[AlertInstance, ...]]] = {}
        self._resender: asyncio.Task[None] | None = None
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._metrics = _Metrics(registry)
        self._history: deque[DeliveryRecord] = deque(maxlen=history)
        self._dead: deque[DeliveryRecord] = deque(maxlen=history)
        self._pending: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._ids = itertools.count(1)
        self._session = session
        self._own_session = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = False
        self._stopped = False

    # -- public API --------------------------------------------------------------------------------------------

    def submit(self, notification: Notification) -> None:
        """Enqueue ``notification``; never blocks or raises. On overflow the oldest pending one is dead-lettered."""
        try:
            self._submit(notification)
        except Exception:
            log.exception("notification submit failed", receiver=getattr(notification, "receiver", None))

    def history(
        self, limit: int = 100, receiver: str | None = None, result: DeliveryResult | None = None
    ) -> list[DeliveryRecord]:
        """Attempt outcomes, newest first, optionally filtered by receiver and result."""
        out: list[DeliveryRecord] = []
        for record in self._history:
            if receiver is not None and record.receiver != receiver:
                continue
            if result is not None and record.result != result:
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out

    def dead_letters(self) -> list[DeliveryRecord]:
        """Deliveries that gave up, newest first."""
        return list(self._dead)

    @property
    def pending(self) -> int:
        """Notifications waiting for a delivery slot."""
        return len(self._pending)

    async def start(self) -> None:
        """Start the background dispatcher (and an HTTP session unless one was given)."""
        if self._dispatcher is not None:
            return
        self._stopping = self._stopped = False
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._concurrency * 4))
            self._own_session = True
        self._dispatcher = asyncio.create_task(self._dispatch(), name="alert-delivery")
        if self._resend_interval:
            self._resender = asyncio.create_task(self._resend_loop(self._resend_interval), name="alertmanager-resend")

    async def stop(self, grace: float | None = None) -> None:
        """Give pending deliveries up to ``grace`` seconds, then dead-letter the rest with reason "shutdown"."""
        if self._stopped:
            return
        self._stopping = True
        self._wakeup.set()
        grace = self._shutdown_grace if grace is None else grace
        if self._dispatcher is not None:
            try:
                async with asyncio.timeout(grace):
                    while self._pending or self._inflight:
                        if self._inflight:
                            await asyncio.wait(set(self._inflight))
                        else:
                            await asyncio.sleep(0.01)
            except TimeoutError:
                pass
        await cancel_and_wait(self._resender)
        self._resender = None
        await cancel_and_wait(self._dispatcher)
        self._dispatcher = None
        for task in list(self._inflight):
            await cancel_and_wait(task)
        while self._pending:
            self._dead_letter_unsent(self._pending.popleft(), "shutdown")
        self._metrics.queue.set(0)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._own_session = False
        self._stopped = True

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp cleanup-context: ``app.cleanup_ctx.append(delivery.lifecycle)``."""
        await self.start()
        yield
        await self.stop()

    # -- internals ---------------------------------------------------------------------------------------------

    def _submit(self, notification: Notification) -> None:
        job = _Job(f"n{next(self._ids)}", notification, ())
        receiver = self._receivers.get(notification.receiver)
        if receiver is None:
            self._dead_letter_unsent(job, "unknown receiver")
            return
        job.targets = _targets(receiver)
        if not job.targets:
            self._dead_letter_unsent(job, "receiver has no targets")
            return
        if receiver.alertmanager_urls:
            firing = tuple(a for a in notification.alerts if a.status == "firing")
            key = (notification.receiver, notification.group_key)
            if firing:
                self._active[key] = (self._clock(), firing)
            else:
                self._active.pop(key, None)
        if self._stopped or self._stopping:
            self._dead_letter_unsent(job, "shutdown")
            return
        self._pending.append(job)
        while len(self._pending) > self._queue_size:
            self._dead_letter_unsent(self._pending.popleft(), "queue full")
        self._metrics.queue.set(len(self._pending))
        self._wakeup.set()

    async def _dispatch(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._slots.acquire()
            if not self._pending:  # dead-lettered while waiting for a slot
                self._slots.release()
                continue
            job = self._pending.popleft()
            self._metrics.queue.set(len(self._pending))
            task = asyncio.create_task(self._deliver(job), name=f"alert-delivery-{job.delivery_id}")
            self._inflight.add(task)
            task.add_done_callback(self._finished)

    async def _resend_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._resend_once()
            except Exception as exc:
                log.error("alertmanager resend failed", error=type(exc).__name__)

    async def _resend_once(self) -> None:
        """Re-post every still-firing alert to its receiver's Alertmanager targets (one attempt each)."""
        now = self._clock()
        by_receiver: dict[str, dict[str, AlertInstance]] = {}
        for (receiver, group_key), (updated_at, alerts) in list(self._active.items()):
            if now - updated_at > self._resend_max_age:
                del self._active[(receiver, group_key)]
                continue
            merged = by_receiver.setdefault(receiver, {})
            for alert in alerts:
                merged[alert.fingerprint] = alert
        sends = []
        for name, alerts in by_receiver.items():
            receiver = self._receivers.get(name)
            if receiver is None or not alerts:
                continue
            for url in receiver.alertmanager_urls:
                sends.append(self._resend(name, url, tuple(alerts.values())))
        if sends:
            await asyncio.gather(*sends)

    async def _resend(self, receiver: str, url: str, alerts: tuple[AlertInstance, ...]) -> None:
        assert self._session is not None
        started = time.perf_counter()
        outcome = await send_alertmanager(
            self._session, url, alerts, timeout=self._timeout, now=self._clock(), generator_url=self._generator_url
        )
        self._metrics.duration.labels(receiver).observe(time.perf_counter() - started)
        self._metrics.resends.labels(receiver, "ok" if outcome.ok else "failed").inc()
        if not outcome.ok:
            log.warning(
                "alertmanager resend failed",
                receiver=receiver,
                target=outcome.target,
                alerts=len(alerts),
                detail=outcome.detail,
            )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("notification delivery crashed", error=type(task.exception()).__name__)

    async def _deliver(self, job: _Job) -> None:
        title, body = render(job.notification)
        await asyncio.gather(
            *(self._deliver_target(job, index, target, title, body) for index, target in enumerate(job.targets))
        )

    async def _deliver_target(self, job: _Job, index: int, target: _Target, title: str, body: str) -> None:
        notification = job.notification
        delivery_id = f"{job.delivery_id}.{index + 1}"
        first: float | None = None
        last: float | None = None
        attempts = 0
        try:
            while True:
                attempts += 1
                now = self._clock()
                first = now if first is None else first
                last = now
                outcome = await self._attempt(notification, target, title, body)
                last = self._clock()
                receiver = notification.receiver
                if outcome.ok:
                    self._metrics.total.labels(receiver, "delivered").inc()
                    self._record(job, delivery_id, target, attempts, "delivered", outcome.detail, first, last)
                    log.info(
                        "notification delivered",
                        receiver=receiver,
                        target=target.label,
                        group_key=notification.group_key,
                        attempts=attempts,
                    )
                    return
                self._metrics.total.labels(receiver, "failed_attempt").inc()
                if not outcome.retryable or attempts >= self._max_attempts:
                    reason = outcome.detail if not outcome.retryable else f"{outcome.detail} (gave up)"
                    self._record(job, delivery_id, target, attempts, "dead_letter", reason, first, last)
                    return
                self._record(job, delivery_id, target, attempts, "retrying", outcome.detail, first, last)
                await self._sleep(self._delay(attempts))
        except asyncio.CancelledError:
            reason = "shutdown" if self._stopping else "cancelled"
            self._record(job, delivery_id, target, attempts, "dead_letter", reason, first, last)
            raise

    async def _attempt(self, notification: Notification, target: _Target, title: str, body: str) -> TargetResult:
        started = time.perf_counter()
        try:
            if target.kind == "apprise":
                (outcome,) = await send_apprise(
                    [target.url], title, body, timeout=self._timeout, notify_type=notify_type_for(notification)
                )
                outcome = TargetResult(target.label, outcome.ok, outcome.retryable, outcome.detail)
            else:
                assert self._session is not None
                outcome = await send_alertmanager(
                    self._session,
                    target.url,
                    notification.alerts,
                    timeout=self._timeout,
                    now=self._clock(),
                    generator_url=self._generator_url,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = TargetResult(target.label, ok=False, retryable=True, detail=f"error: {type(exc).__name__}")
        finally:
            self._metrics.duration.labels(notification.receiver).observe(time.perf_counter() - started)
        return outcome

    def _delay(self, attempts: int) -> float:
        return backoff_delay(attempts, self._backoff, self._rng)

    def _record(
        self,
        job: _Job,
        delivery_id: str,
        target: _Target,
        attempts: int,
        result: DeliveryResult,
        detail: str,
        first: float | None,
        last: float | None,
    ) -> None:
        notification = job.notification
        record = DeliveryRecord(
            id=delivery_id,
            receiver=notification.receiver,
            target=target.label,
            group_key=notification.group_key,
            status=notification.status,
            alert_names=_alert_names(notification),
            attempts=attempts,
            result=result,
            detail=detail,
            first_attempt_at=first,
            last_attempt_at=last,
            recorded_at=self._clock(),
        )
        self._history.appendleft(record)
        if result == "dead_letter":
            self._dead.appendleft(record)
            self._metrics.total.labels(notification.receiver, "dead_letter").inc()
            log.warning(
                "notification dead-lettered",
                receiver=notification.receiver,
                target=target.label,
                group_key=notification.group_key,
                attempts=attempts,
                detail=detail,
            )
        elif result == "retrying":
            log.warning(
                "notification attempt failed",
                receiver=notification.receiver,
                target=target.label,
                group_key=notification.group_key,
                attempts=attempts,
                detail=detail,
            )

    def _dead_letter_unsent(self, job: _Job, reason: str) -> None:
        targets = job.targets or (_Target("apprise", "", "-"),)
        for index, target in enumerate(targets):
            self._record(job, f"{job.delivery_id}.{index + 1}", target, 0, "dead_letter", reason, None, None)
