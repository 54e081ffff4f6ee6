"""Pushes public status changes (component statuses, incidents) to an Atlassian Statuspage page and to webhooks.

``Pusher.submit`` only enqueues: a background dispatcher hands every change to each configured target, and the
changes to one subject (one component or one incident) on one target are delivered one at a time, in order.
When a newer change for a subject arrives while an older one is waiting to be retried (or has not started yet),
the older one is dropped and recorded as ``superseded``, so a target never ends with an older status over a newer
one. Retryable failures (HTTP 429, 5xx, connection errors, timeouts) are retried with exponential backoff and full
jitter (honouring ``Retry-After``); other 4xx answers fail at once.

Statuspage
----------
A component change becomes ``PATCH {base_url}/pages/{page_id}/components/{id}`` with
``{"component": {"status": ...}}`` for the mapped Statuspage component id (unmapped components are skipped). The
first change of an incident becomes ``POST {base_url}/pages/{page_id}/incidents``; the ``id`` in the answer is
remembered and later changes become ``PATCH .../incidents/{id}`` (an update answered 404, e.g. for an incident
deleted on Statuspage, forgets the id and the retry creates the incident again). That mapping lives in memory:
pass ``known`` to restore it after a restart and persist ``Pusher.incident_ids()``. Without it, an incident still
open across a restart is created again on Statuspage the next time it changes. A create whose answer is lost
(timeout) is retried and may create a duplicate incident.

Webhook signatures
------------------
Every webhook is a ``POST`` of a JSON object: ``type`` (``"component"`` or ``"incident"``), ``at`` (RFC 3339,
UTC) and the change's fields (component: ``component``, ``name``, ``status``, ``previous``; incident:
``incident``, ``name``, ``status``, ``impact``, ``components``, ``message``). Each request carries::

    Content-Type: application/json
    X-Sidecar-Timestamp: <Unix seconds, an integer>
    X-Sidecar-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Sidecar-Push-Id: <the push id; the same on every retry of one push>

To verify a request, take the raw body bytes exactly as received (before any JSON parsing), compute
HMAC-SHA256 keyed with the shared secret over the timestamp header, a ``.`` and the body, hex-encode it and
compare it with the ``v1=`` value in constant time. Reject the request when the timestamp is more than five
minutes away from your clock: a captured request cannot be replayed later. Retries are signed again with a fresh
timestamp; use ``X-Sidecar-Push-Id`` to ignore a retry you already processed. ``verify_signature`` in this module
is a self-contained reference implementation (standard library only) that receivers can copy.

Secrets (the Statuspage API key, webhook secrets) and webhook URLs are never logged, recorded or used as metric
labels: records and metrics name a target ``statuspage`` or by the webhook's configured name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import random
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp
import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from yarl import URL

from sidecar._aio import cancel_and_wait
from sidecar._retry import BACKOFF_CAP, backoff_delay
from sidecar._time import rfc3339

__all__ = [
    "STATUSPAGE_TARGET",
    "ComponentChange",
    "ComponentStatus",
    "IncidentChange",
    "IncidentImpact",
    "IncidentStatus",
    "PushRecord",
    "PushResult",
    "Pusher",
    "StatusChange",
    "StatuspageTarget",
    "WebhookTarget",
    "sign",
    "statuspage_incident_body",
    "verify_signature",
    "webhook_body",
]

log = structlog.get_logger("sidecar.statuspage")

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
IncidentImpact = Literal["none", "minor", "major", "critical"]
PushResult = Literal["delivered", "retrying", "failed", "superseded"]

STATUSPAGE_TARGET = "statuspage"
"""The target name of the Statuspage target in records and metric labels."""

QUEUE_SIZE = 10_000
_CONCURRENCY = 16
_DETAIL_LIMIT = 200
_KNOWN_INCIDENTS_LIMIT = 10_000
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_IMPACT_COMPONENT_STATUS: dict[str, ComponentStatus] = {
    "critical": "major_outage",
    "major": "partial_outage",
    "minor": "degraded_performance",
    "none": "operational",
}


# -- plain values ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentChange:
    """A public component's status changed."""

    component: str  # the component id (slug), e.g. "api"
    name: str  # display name
    status: ComponentStatus
    previous: ComponentStatus | None
    at: float  # Unix seconds


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """An incident was opened or updated."""

    incident: str  # the sidecar's incident id, e.g. "inc_65a1f0c2ab12cd34"
    name: str  # title
    status: IncidentStatus
    impact: IncidentImpact
    components: tuple[str, ...]  # component ids
    message: str  # the latest public update's text
    at: float  # Unix seconds


StatusChange = ComponentChange | IncidentChange


@dataclass(frozen=True, slots=True)
class StatuspageTarget:
    """The Atlassian Statuspage management API of one page."""

    api_key: str = field(repr=False)  # secret: never logged or exposed
    page_id: str
    components: Mapping[str, str]  # sidecar component id -> Statuspage component id; unmapped ones are skipped
    base_url: str = "https://api.statuspage.io/v1"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A webhook receiving signed JSON posts; ``name`` names it in records, logs and metrics."""

    name: str
    url: str = field(repr=False)  # may carry credentials: never logged or recorded
    secret: str = field(repr=False)  # HMAC key: never logged or exposed


@dataclass(frozen=True, slots=True)
class PushRecord:
    """The latest state of one push (one change to one target).

    ``attempts`` is 0 and the attempt times are ``None`` when the push ended before any attempt (superseded while
    queued, dropped from a full queue, shutdown). ``detail`` never holds a secret or a webhook URL.
    """

    id: str
    target: str  # "statuspage" or the webhook's name
    kind: Literal["component", "incident"]
    subject: str  # the component or incident id
    status: str  # the component or incident status pushed
    attempts: int
    result: PushResult
    detail: str
    first_attempt_at: float | None
    last_attempt_at: float | None


# -- signatures --------------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Sidecar-Signature`` value: ``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300.0
) -> bool:
    """Whether ``signature`` (the ``X-Sidecar-Signature`` header) signs ``timestamp`` and the raw ``body``.

    False when the timestamp is not an integer or is more than ``tolerance`` seconds away from ``now`` (replay
    resistance), or when no ``v1=`` value in the header (comma-separated) matches; the comparison is
    constant-time. Never raises.
    """
    try:
        if not timestamp.isascii() or not timestamp.isdigit():
            return False
        if abs(now - int(timestamp)) > tolerance:
            return False
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        expected = mac.hexdigest().encode()
        matched = False
        for part in signature.split(","):
            scheme, sep, value = part.strip().partition("=")
            if sep and scheme == "v1" and hmac.compare_digest(expected, value.strip().lower().encode()):
                matched = True
        return matched
    except Exception:
        return False


# -- payloads ----------------------------------------------------------------------------------------------------


def webhook_body(change: StatusChange) -> bytes:
    """The JSON body posted to webhooks for ``change``."""
    payload: dict[str, Any] = {
        "type": "component" if isinstance(change, ComponentChange) else "incident",
        "at": rfc3339(change.at),
    }
    for f in dataclasses.fields(change):
        if f.name != "at":
            value = getattr(change, f.name)
            payload[f.name] = list(value) if isinstance(value, tuple) else value
    return orjson.dumps(payload)


def statuspage_incident_body(change: IncidentChange, components: Mapping[str, str]) -> dict[str, Any]:
    """The ``{"incident": {...}}`` body of a Statuspage incident create or update."""
    ids = list(dict.fromkeys(components[c] for c in change.components if c in components))
    status = (
        "operational" if change.status == "resolved" else _IMPACT_COMPONENT_STATUS.get(change.impact, "operational")
    )
    return {
        "incident": {
            "name": change.name,
            "status": change.status,
            "impact_override": change.impact,
            "body": change.message,
            "component_ids": ids,
            "components": dict.fromkeys(ids, status),
        }
    }


# -- the pusher --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


@dataclass(slots=True)
class _Push:
    id: str
    target: str
    change: StatusChange
    attempts: int = 0
    first: float | None = None
    last: float | None = None


@dataclass(slots=True)
class _Lane:
    """The pushes of one subject to one target: ``current`` is being delivered, ``next`` waits behind it."""

    key: tuple[str, str, str]
    next: _Push | None
    current: _Push | None = None
    newer: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "sidecar_statuspage_pushes",
            "Status-page push outcomes per target: delivered, failed_attempt (each failed attempt), failed "
            "(gave up or dropped) and superseded (replaced by a newer change before delivery).",
            ["target", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "sidecar_statuspage_push_duration_seconds",
            "Duration of one status-page push attempt to one target.",
            ["target"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )


def _kind(change: StatusChange) -> Literal["component", "incident"]:
    return "component" if isinstance(change, ComponentChange) else "incident"


def _subject(change: StatusChange) -> str:
    return change.component if isinstance(change, ComponentChange) else change.incident


def _secret_texts(statuspage: StatuspageTarget | None, webhooks: Sequence[WebhookTarget]) -> tuple[str, ...]:
    """Texts scrubbed from every detail: the API key, webhook secrets, webhook URLs and their credential-bearing
    parts (user info, path, query), longest first."""
    texts: set[str] = set()
    if statuspage is not None:
        texts.add(statuspage.api_key)
    for hook in webhooks:
        texts.update((hook.secret, hook.url))
        try:
            url = URL(hook.url)
        except (TypeError, ValueError):
            continue
        texts.update(t for t in (url.raw_user, url.raw_password, url.raw_path, url.raw_query_string) if t)
        texts.update(url.path, url.query_string, *url.query.values())
    return tuple(sorted((t for t in texts if len(t) >= 6), key=len, reverse=True))


def _valid_http_url(url: str) -> bool:
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return False
    return parsed.is_absolute() and parsed.scheme in ("http", "https") and bool(parsed.host)


class Pusher:
    """Pushes status changes to a Statuspage page and to webhooks in the background.

    ``submit`` never blocks or raises: changes wait in a bounded queue (10,000; on overflow the oldest is dropped
    and recorded as failed). Each target gets every change (Statuspage only component changes of mapped
    components, and incidents). Pushes of one subject to one target run one at a time, oldest first; a change
    still queued or waiting for a retry when a newer one for its subject arrives is superseded. A failed attempt
    is retried after ``backoff`` x 2^(attempt-1) seconds with full jitter (capped at 5 min; a ``Retry-After``
    answer is honoured, capped the same) until ``max_attempts``.
    """

    def __init__(
        self,
        statuspage: StatuspageTarget | None,
        webhooks: Sequence[WebhookTarget],
        registry: CollectorRegistry,
        *,
        max_attempts: int = 6,
        backoff: float = 1.0,
        timeout: float = 10.0,
        history: int = 500,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        session: aiohttp.ClientSession | None = None,
        known: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if history < 1:
            raise ValueError("history must be positive")
        if backoff < 0 or timeout <= 0:
            raise ValueError("backoff must not be negative and timeout must be positive")
        if statuspage is not None:
            if not statuspage.api_key or not statuspage.page_id:
                raise ValueError("the Statuspage target needs an API key and a page id")
            if not _valid_http_url(statuspage.base_url):
                raise ValueError("the Statuspage base_url must be an absolute http(s) URL")
        names: set[str] = set()
        for hook in webhooks:
            if not hook.name or hook.name == STATUSPAGE_TARGET or hook.name in names:
                raise ValueError(f"webhook names must be unique, non-empty and not {STATUSPAGE_TARGET!r}")
            if not _valid_http_url(hook.url):
                raise ValueError(f"webhook {hook.name!r}: the URL must be an absolute http(s) URL")
            if not hook.secret:
                raise ValueError(f"webhook {hook.name!r}: the secret must not be empty")
            names.add(hook.name)
        self._statuspage = statuspage
        self._webhooks = {hook.name: hook for hook in webhooks}
        self._secrets = _secret_texts(statuspage, webhooks)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timeout = timeout
        self._history_size = history
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._metrics = _Metrics(registry)
        self._records: dict[str, PushRecord] = {}
        self._incidents: dict[str, str] = dict(known or {})
        self._queue: deque[StatusChange] = deque()
        self._lanes: dict[tuple[str, str, str], _Lane] = {}
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._session = session
        self._own_session = False
        self._stopping = False

    # -- public API --------------------------------------------------------------------------------------------

    def submit(self, change: StatusChange) -> None:
        """Enqueue ``change`` for every target; never blocks or raises."""
        try:
            self._submit(change)
        except Exception as exc:
            log.error("status push submit failed", error=type(exc).__name__)

    def history(self, limit: int = 100) -> list[PushRecord]:
        """The latest state of recent pushes, newest first."""
        out: list[PushRecord] = []
        for record in reversed(self._records.values()):
            if len(out) >= limit:
                break
            out.append(record)
        return out

    def remember(self, known: Mapping[str, str]) -> None:
        """Take back incident ids saved before a restart (ids learnt since are kept)."""
        self._incidents = {**known, **self._incidents}

    def incident_ids(self) -> dict[str, str]:
        """Sidecar incident id -> Statuspage incident id, for persisting and passing back as ``known``."""
        return dict(self._incidents)

    @property
    def pending(self) -> int:
        """Changes waiting in the queue plus pushes not yet finished."""
        return len(self._queue) + sum(
            (lane.current is not None) + (lane.next is not None) for lane in self._lanes.values()
        )

    async def start(self) -> None:
        """Start the dispatcher (and an HTTP session unless one was given)."""
        if self._dispatcher is not None:
            return
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(_CONCURRENCY)
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        self._dispatcher = asyncio.create_task(self._dispatch(), name="statuspage-push")
        if self._queue:
            self._wakeup.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Give queued and retrying pushes up to ``grace`` seconds, then record the rest as failed ("shutdown")."""
        if self._dispatcher is None:
            return
        self._stopping = True
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            async with asyncio.timeout(grace):
                while self._queue or self._lanes:
                    tasks = {lane.task for lane in self._lanes.values() if lane.task is not None}
                    if tasks and not self._queue:
                        await asyncio.wait(tasks)
                    else:
                        await asyncio.sleep(0.01)
        except TimeoutError:
            pass
        await cancel_and_wait(self._dispatcher)
        self._dispatcher = None
        for lane in list(self._lanes.values()):
            await cancel_and_wait(lane.task)
        self._lanes.clear()
        while self._queue:
            self._drop(self._queue.popleft(), "shutdown")
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._own_session = False

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp cleanup-context: ``app.cleanup_ctx.append(pusher.lifecycle)``."""
        await self.start()
        yield
        await self.stop()

    # -- queue and lanes ---------------------------------------------------------------------------------------

    def _targets(self, change: StatusChange) -> list[str]:
        targets: list[str] = []
        if self._statuspage is not None and (
            isinstance(change, IncidentChange) or change.component in self._statuspage.components
        ):
            targets.append(STATUSPAGE_TARGET)
        targets.extend(self._webhooks)
        return targets

    def _submit(self, change: StatusChange) -> None:
        if not isinstance(change, ComponentChange | IncidentChange):
            log.error("status push submit ignored: not a status change", type=type(change).__name__)
            return
        if self._stopping:
            self._drop(change, "shutdown")
            return
        self._queue.append(change)
        while len(self._queue) > QUEUE_SIZE:
            self._drop(self._queue.popleft(), "dropped: push queue full")
        if self._wakeup is not None:
            self._wakeup.set()

    async def _dispatch(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            change = self._queue.popleft()
            for target in self._targets(change):
                self._enqueue(_Push(self._new_id(), target, change))
            await asyncio.sleep(0)  # let a burst of submits not starve the lanes

    def _enqueue(self, push: _Push) -> None:
        key = (push.target, _kind(push.change), _subject(push.change))
        lane = self._lanes.get(key)
        if lane is None:
            lane = _Lane(key, push)
            self._lanes[key] = lane
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"statuspage-push-{push.target}")
            return
        if lane.next is not None:
            self._finish(lane.next, "superseded", "a newer change replaced it before it was sent")
        lane.next = push
        lane.newer.set()

    async def _run_lane(self, lane: _Lane) -> None:
        try:
            while lane.next is not None:
                push, lane.next = lane.next, None
                lane.current = push
                lane.newer.clear()
                try:
                    await self._deliver(lane, push)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._finish(push, "failed", f"internal error: {type(exc).__name__}")
                    log.error("status push crashed", target=push.target, error=type(exc).__name__)
                lane.current = None
        except asyncio.CancelledError:
            for push in (lane.current, lane.next):
                if push is not None:
                    self._finish(push, "failed", "shutdown" if self._stopping else "cancelled")
            lane.current = lane.next = None
            raise
        finally:
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]

    async def _deliver(self, lane: _Lane, push: _Push) -> None:
        while True:
            push.attempts += 1
            now = self._clock()
            push.first = now if push.first is None else push.first
            push.last = now
            outcome = await self._attempt(push)
            push.last = self._clock()
            if outcome.ok:
                self._finish(push, "delivered", outcome.detail)
                return
            self._metrics.total.labels(push.target, "failed_attempt").inc()
            if not outcome.retryable:
                self._finish(push, "failed", outcome.detail)
                return
            if push.attempts >= self._max_attempts:
                self._finish(push, "failed", f"{outcome.detail} (gave up after {push.attempts} attempts)")
                return
            if lane.next is not None:
                self._finish(push, "superseded", f"{outcome.detail}; a newer change replaced the retry")
                return
            self._set_record(push, "retrying", outcome.detail)
            log.warning(
                "status push attempt failed",
                target=push.target,
                kind=_kind(push.change),
                subject=_subject(push.change),
                attempts=push.attempts,
                detail=outcome.detail,
            )
            if await self._wait_retry(lane, self._delay(push.attempts, outcome.retry_after)):
                self._finish(push, "superseded", f"{outcome.detail}; a newer change replaced the retry")
                return

    async def _wait_retry(self, lane: _Lane, delay: float) -> bool:
        """Sleep ``delay`` seconds; True (early) when a newer change for the lane's subject arrives."""
        if lane.next is not None:
            return True
        lane.newer.clear()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waiter = asyncio.ensure_future(lane.newer.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
        return lane.next is not None

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(BACKOFF_CAP, max(0.0, retry_after))
        return backoff_delay(attempts, self._backoff, self._rng)

    # -- records -----------------------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"push_{int(self._clock()):x}{secrets.token_hex(4)}"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _set_record(self, push: _Push, result: PushResult, detail: str) -> None:
        record = PushRecord(
            id=push.id,
            target=push.target,
            kind=_kind(push.change),
            subject=_subject(push.change),
            status=push.change.status,
            attempts=push.attempts,
            result=result,
            detail=self._scrub(detail),
            first_attempt_at=push.first,
            last_attempt_at=push.last,
        )
        self._records[push.id] = record
        while len(self._records) > self._history_size:
            del self._records[next(iter(self._records))]

    def _finish(self, push: _Push, result: PushResult, detail: str) -> None:
        self._set_record(push, result, detail)
        self._metrics.total.labels(push.target, result).inc()
        fields = {
            "target": push.target,
            "kind": _kind(push.change),
            "subject": _subject(push.change),
            "status": push.change.status,
            "attempts": push.attempts,
        }
        if result == "delivered":
            log.info("status pushed", **fields)
        elif result == "superseded":
            log.info("status push superseded", **fields)
        else:
            log.warning("status push failed", detail=self._scrub(detail), **fields)

    def _drop(self, change: StatusChange, reason: str) -> None:
        for target in self._targets(change):
            self._finish(_Push(self._new_id(), target, change), "failed", reason)

    # -- attempts ----------------------------------------------------------------------------------------------

    async def _attempt(self, push: _Push) -> _Outcome:
        assert self._slots is not None
        async with self._slots:
            started = time.perf_counter()
            try:
                if push.target == STATUSPAGE_TARGET:
                    outcome = await self._statuspage_attempt(push.change)
                else:
                    outcome = await self._webhook_attempt(self._webhooks[push.target], push)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                outcome = _Outcome(ok=False, retryable=True, detail=f"timeout after {self._timeout:g}s")
            except (aiohttp.ClientError, OSError) as exc:
                outcome = _Outcome(ok=False, retryable=True, detail=f"connection error: {type(exc).__name__}")
            except Exception as exc:
                outcome = _Outcome(ok=False, retryable=False, detail=f"error: {type(exc).__name__}")
            finally:
                self._metrics.duration.labels(push.target).observe(time.perf_counter() - started)
        return dataclasses.replace(outcome, detail=self._scrub(outcome.detail))

    async def _request(
        self, method: str, url: URL, *, headers: Mapping[str, str], data: bytes
    ) -> tuple[int, bytes, str | None]:
        assert self._session is not None
        async with asyncio.timeout(self._timeout):
            async with self._session.request(
                method, url, headers=dict(headers), data=data, allow_redirects=False
            ) as response:
                return response.status, await response.read(), response.headers.get("Retry-After")

    def _judge(self, status: int, body: bytes, retry_after: str | None) -> _Outcome:
        if 200 <= status < 300:
            return _Outcome(ok=True, retryable=False, detail=f"HTTP {status}")
        text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
        detail = f"HTTP {status}" + (f": {text[:_DETAIL_LIMIT]}" if text else "")
        retryable = status == 429 or status >= 500
        return _Outcome(
            ok=False,
            retryable=retryable,
            detail=detail,
            retry_after=self._retry_after(retry_after) if retryable else None,
        )

    def _retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - self._clock())

    async def _statuspage_attempt(self, change: StatusChange) -> _Outcome:
        target = self._statuspage
        assert target is not None
        page = URL(target.base_url.rstrip("/")) / "pages" / target.page_id
        headers = {"Authorization": f"OAuth {target.api_key}", "Content-Type": "application/json"}
        if isinstance(change, ComponentChange):
            component_id = target.components.get(change.component)
            if component_id is None:  # the mapping is fixed, so this only happens for a hand-made push
                return _Outcome(ok=False, retryable=False, detail="component not mapped to Statuspage")
            body = orjson.dumps({"component": {"status": change.status}})
            status, answer, retry_after = await self._request(
                "PATCH", page / "components" / component_id, headers=headers, data=body
            )
            return self._judge(status, answer, retry_after)
        body = orjson.dumps(statuspage_incident_body(change, target.components))
        known = self._incidents.get(change.incident)
        if known is not None:
            status, answer, retry_after = await self._request(
                "PATCH", page / "incidents" / known, headers=headers, data=body
            )
            if status == 404 and self._incidents.get(change.incident) == known:
                # deleted on Statuspage (or a stale restored id): forget it, so the retry creates it again
                del self._incidents[change.incident]
                log.warning("statuspage incident not found; it will be created again", incident=change.incident)
                return _Outcome(ok=False, retryable=True, detail="HTTP 404: incident not found; creating it again")
            return self._judge(status, answer, retry_after)
        status, answer, retry_after = await self._request("POST", page / "incidents", headers=headers, data=body)
        outcome = self._judge(status, answer, retry_after)
        if not outcome.ok:
            return outcome
        try:
            created = orjson.loads(answer)
            created_id = created.get("id") if isinstance(created, dict) else None
        except orjson.JSONDecodeError:
            created_id = None
        if not isinstance(created_id, str) or not created_id:
            log.warning("statuspage incident created without an id in the answer", incident=change.incident)
            return _Outcome(ok=True, retryable=False, detail=f"{outcome.detail}; created, but the answer had no id")
        self._incidents[change.incident] = created_id
        while len(self._incidents) > _KNOWN_INCIDENTS_LIMIT:
            del self._incidents[next(iter(self._incidents))]
        return _Outcome(ok=True, retryable=False, detail=f"{outcome.detail}; created incident {created_id}")

    async def _webhook_attempt(self, hook: WebhookTarget, push: _Push) -> _Outcome:
        body = webhook_body(push.change)
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Sidecar-Timestamp": timestamp,
            "X-Sidecar-Signature": sign(hook.secret, timestamp, body),
            "X-Sidecar-Push-Id": push.id,
        }
        status, answer, retry_after = await self._request("POST", URL(hook.url), headers=headers, data=body)
        return self._judge(status, answer, retry_after)
