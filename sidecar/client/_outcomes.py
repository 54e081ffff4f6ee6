"""The outcome reporter: a bounded buffer and a daemon thread that posts batches to the sidecar."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sidecar.client._http import USER_AGENT, Endpoint, request

log = logging.getLogger("sidecar.client")

OUTCOMES_PATH = "/api/v1/breakers/outcomes"
MIN_BACKOFF, MAX_BACKOFF = 0.5, 10.0


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Counters of a client's outcome reporting, since it was created.

    ``sent``: outcomes the sidecar accepted. ``dropped``: outcomes lost on this side (queue full, reported after
    ``close()``, unsent when ``close()`` gave up, or refused for the token). ``rejected``: outcomes the sidecar
    refused (per item, or a whole batch answered with a 4xx). ``failed_requests``: requests that failed (sidecar
    unreachable, timeout, 5xx, 429, 401/403); their outcomes were retried unless counted as dropped.
    """

    sent: int = 0
    dropped: int = 0
    rejected: int = 0
    failed_requests: int = 0


def rfc3339(epoch: float) -> str:
    """``2026-11-25T14:00:00.123Z`` for a Unix time."""
    whole = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((epoch - whole) * 1000):03d}Z"


class Reporter:
    """Buffers outcomes (dropping when full) and sends them from a daemon thread, retrying failed batches."""

    def __init__(
        self,
        endpoint: Endpoint,
        headers: dict[str, str],
        *,
        timeout: float,
        queue_size: int,
        batch_size: int,
        flush_interval: float,
    ) -> None:
        self._endpoint = endpoint
        self._headers = {**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        self._timeout = timeout
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._buffer: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._closing = False
        self._deadline = float("inf")
        self._sent = self._dropped = self._rejected = self._failed = 0
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="sidecar-client-outcomes", daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------------------------------

    def add(self, outcome: dict[str, Any]) -> None:
        with self._cond:
            if self._closing or len(self._buffer) >= self._queue_size:
                self._dropped += 1
                return
            self._buffer.append(outcome)
            if len(self._buffer) in (1, self._batch_size):
                self._cond.notify()

    def drop(self) -> None:
        with self._cond:
            self._dropped += 1

    def stats(self) -> ClientStats:
        with self._cond:
            return ClientStats(self._sent, self._dropped, self._rejected, self._failed)

    def close(self, deadline: float) -> None:
        """Send what is queued until ``deadline`` (monotonic), then count what is left as dropped."""
        with self._cond:
            if not self._closing:
                self._closing, self._deadline = True, deadline
            self._cond.notify()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 0.05)

    # -- sender thread -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        backoff = MIN_BACKOFF
        try:
            while True:
                with self._cond:
                    if not pending:
                        self._cond.wait_for(lambda: self._buffer or self._closing)
                        if not self._buffer:
                            return
                        flush_at = time.monotonic() + self._flush_interval
                        self._cond.wait_for(
                            lambda: len(self._buffer) >= self._batch_size or self._closing,
                            timeout=max(0.0, flush_at - time.monotonic()),
                        )
                    while self._buffer and len(pending) < self._batch_size:
                        pending.append(self._buffer.popleft())
                    closing, deadline = self._closing, self._deadline
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    delay = self._send(pending, min(self._timeout, remaining) if closing else self._timeout)
                except Exception:
                    log.exception("cannot send %d outcomes: dropped", len(pending))
                    with self._cond:
                        self._dropped += len(pending)
                    delay = None
                if delay is None:
                    pending, backoff = [], MIN_BACKOFF
                    continue
                wait = max(delay, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                with self._cond:
                    if not self._closing:
                        # Sleep until the retry is due, or until close() asks for a final flush.
                        self._cond.wait_for(lambda: self._closing, timeout=wait)
                        if self._closing:
                            continue
                        wait = 0.0
                    wait = min(wait, self._deadline - time.monotonic())
                if wait > 0:
                    time.sleep(wait)
        finally:
            with self._cond:
                self._dropped += len(pending) + len(self._buffer)
                self._buffer.clear()

    def _send(self, batch: list[dict[str, Any]], timeout: float) -> float | None:
        """POST one batch; None when it is settled (sent, rejected or dropped), else the delay before a retry."""
        body = json.dumps({"outcomes": batch}, separators=(",", ":")).encode()
        try:
            response = request(self._endpoint, "POST", OUTCOMES_PATH, self._headers, body, timeout)
        except (OSError, http.client.HTTPException) as exc:
            self._failure(f"sidecar unreachable ({type(exc).__name__}: {exc})")
            return MIN_BACKOFF
        if response.status == 200:
            answer = response.json()
            accepted, rejected = len(batch), []
            if isinstance(answer, dict):
                accepted = answer.get("accepted", accepted)
                rejected = answer.get("rejected") or []
            with self._cond:
                self._sent += int(accepted) if isinstance(accepted, int) else len(batch)
                self._rejected += len(rejected)
            if rejected:
                log.warning("sidecar rejected %d of %d outcomes, first: %s", len(rejected), len(batch), rejected[0])
            self._recovered()
            return None
        if response.status == 429 or response.status >= 500:
            self._failure(f"sidecar answered {response.status}")
            return response.retry_after(MAX_BACKOFF) or MIN_BACKOFF
        if response.status in (401, 403):
            with self._cond:
                self._failed += 1
                self._dropped += len(batch)
            log.error("sidecar refused the token (HTTP %d): %d outcomes dropped", response.status, len(batch))
            return None
        with self._cond:
            self._rejected += len(batch)
        log.warning("sidecar rejected a batch of %d outcomes (HTTP %d)", len(batch), response.status)
        self._recovered()
        return None

    def _failure(self, reason: str) -> None:
        with self._cond:
            self._failed += 1
        if not self._failing:
            self._failing = True
            log.warning("cannot send outcomes, retrying with backoff: %s", reason)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("sending outcomes again")
