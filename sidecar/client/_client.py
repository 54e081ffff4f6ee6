"""``SidecarClient``: the object a backend keeps for the life of its process."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from types import TracebackType

from sidecar.client._failover import OnChange, Watcher
from sidecar.client._http import Endpoint
from sidecar.client._outcomes import ClientStats, Reporter, rfc3339

log = logging.getLogger("sidecar.client")

_TOKEN = re.compile(r"[!-~]+")  # printable ASCII, no spaces: safe in a header


class SidecarClient:
    """Reports provider call outcomes to the sidecar and answers which provider of a failover group to use.

    ``groups`` maps each failover group to the provider used when the sidecar has no fresh answer.
    ``on_change(group, active)`` is called from the watcher thread whenever ``active(group)`` changes.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        groups: Mapping[str, str] | None = None,
        on_change: OnChange | None = None,
        timeout: float = 2.0,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        stale_after: float = 30.0,
    ) -> None:
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValueError("token must be a non-empty string of printable ASCII without spaces")
        if timeout <= 0 or flush_interval <= 0 or queue_size < 1 or batch_size < 1:
            raise ValueError("timeout, flush_interval, queue_size and batch_size must be positive")
        if stale_after < 1.5:
            raise ValueError("stale_after must be at least 1.5 seconds")
        groups = dict(groups or {})
        if not all(isinstance(name, str) and isinstance(fallback, str) for name, fallback in groups.items()):
            raise ValueError("groups must map group names to fallback provider names")
        endpoint = Endpoint.parse(base_url)
        headers = {"Authorization": f"Bearer {token}"}
        self._closed = False
        self._reporter = Reporter(
            endpoint, headers, timeout=timeout, queue_size=queue_size, batch_size=batch_size,
            flush_interval=flush_interval,
        )  # fmt: skip
        self._watcher = Watcher(
            endpoint, headers, groups, timeout=timeout, stale_after=stale_after, on_change=on_change
        )

    def __repr__(self) -> str:
        return f"<SidecarClient closed={self._closed}>"

    def active(self, group: str) -> str | None:
        """The provider to use for ``group`` now; never blocks.

        The sidecar's last answer while it is fresh (``stale_after``), else the fallback given in ``groups``.
        None when the sidecar's fresh answer is that no provider may be used (every one open, fail_closed).
        Raises ``KeyError`` for a group not given in ``groups``.
        """
        return self._watcher.active(group)

    def report(self, provider: str, *, ok: bool, latency_ms: float, error_type: str | None = None) -> None:
        """Queue the outcome of one call to ``provider``; never blocks and never raises.

        When the queue is full, or after ``close()``, the outcome is dropped and counted in ``stats.dropped``.
        """
        try:
            latency = float(latency_ms)
            if not isinstance(provider, str) or not provider or not math.isfinite(latency):
                raise ValueError("invalid outcome")
            outcome = {
                "provider": provider,
                "ok": bool(ok),
                "latency_ms": latency,
                "error_type": None if error_type is None else str(error_type),
                "at": rfc3339(time.time()),
            }
        except Exception:
            log.debug("invalid outcome for %r dropped", provider)
            self._reporter.drop()
            return
        self._reporter.add(outcome)

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the reporting counters."""
        return self._reporter.stats()

    def close(self, timeout: float = 1.5) -> None:
        """Stop polling and send what is queued, waiting at most about ``timeout`` seconds; idempotent.

        Outcomes still unsent then are counted as dropped. ``active()`` keeps returning the last answer until it
        goes stale, then the fallback.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._watcher.stop(0.0)
        self._reporter.close(deadline)
        self._watcher.stop(max(0.0, min(0.2, deadline - time.monotonic())))

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
