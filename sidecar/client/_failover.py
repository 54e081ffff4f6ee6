"""The failover watcher: one daemon thread long-polling every configured group over non-blocking sockets."""

from __future__ import annotations

import contextlib
import http.client
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode

from sidecar.client._http import USER_AGENT, Endpoint, Response, read_response

log = logging.getLogger("sidecar.client")

FAILOVER_PATH = "/api/v1/failover/"
LONG_POLL = 25
MIN_BACKOFF, MAX_BACKOFF = 0.5, 10.0
REPOLL = 1.0

OnChange = Callable[[str, str | None], None]


class _Group:
    """What is known about one failover group, and its request in flight."""

    def __init__(self, name: str, fallback: str) -> None:
        self.name = name
        self.fallback = fallback
        self.path = FAILOVER_PATH + quote(name, safe="")
        self.known: tuple[str | None, float] | None = None  # (active, monotonic time of the answer)
        self.etag: str | None = None
        self.connection: http.client.HTTPConnection | None = None
        self.deadline = 0.0
        self.next_at = 0.0
        self.backoff = MIN_BACKOFF
        self.notified: str | None = fallback
        self.failing = False


class Watcher:
    """Keeps the active provider of each group fresh; ``active()`` only reads what the thread last stored."""

    def __init__(
        self,
        endpoint: Endpoint,
        headers: dict[str, str],
        groups: Mapping[str, str],
        *,
        timeout: float,
        stale_after: float,
        on_change: OnChange | None,
    ) -> None:
        self._endpoint = endpoint
        self._headers = {**headers, "Accept": "application/json", "User-Agent": USER_AGENT}
        self._groups = {name: _Group(name, fallback) for name, fallback in groups.items()}
        self._timeout = timeout
        self._stale_after = stale_after
        self._wait = max(1, min(LONG_POLL, int(stale_after - 5)))
        self._on_change = on_change
        self._stopped = False
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="sidecar-client-failover", daemon=True)
        if self._groups:
            self._thread.start()

    def active(self, name: str) -> str | None:
        try:
            group = self._groups[name]
        except KeyError:
            raise KeyError(f"failover group {name!r} is not configured on this client") from None
        return self._effective(group, time.monotonic())

    def stop(self, timeout: float) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._wake_write.close()
        if not self._thread.is_alive():
            self._wake_read.close()

    def _effective(self, group: _Group, now: float) -> str | None:
        known = group.known
        if known is not None and now - known[1] <= self._stale_after:
            return known[0]
        return group.fallback

    # -- watcher thread ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ, None)
        try:
            while not self._stopped:
                now = time.monotonic()
                for group in self._groups.values():
                    if group.connection is None and now >= group.next_at:
                        self._start(group, selector)
                self._notify()
                for key, _ in selector.select(self._next_timeout()):
                    if key.data is None:
                        self._wake_read.recv(64)
                    elif not self._stopped:
                        self._finish(key.data, selector)
                now = time.monotonic()
                for group in self._groups.values():
                    if group.connection is not None and now >= group.deadline:
                        self._abandon(group, selector)
                        self._failed(group, "no answer in time", None)
        except Exception:
            log.exception("failover watcher stopped")
        finally:
            for group in self._groups.values():
                self._abandon(group, selector)
            selector.close()
            if self._stopped:
                self._wake_read.close()

    def _next_timeout(self) -> float:
        now = time.monotonic()
        due = []
        for group in self._groups.values():
            due.append(group.deadline if group.connection is not None else group.next_at)
            if group.known is not None and now - group.known[1] <= self._stale_after:
                due.append(group.known[1] + self._stale_after + 0.01)  # to report the switch to the fallback
        return max(0.0, min(due) - now)

    def _start(self, group: _Group, selector: selectors.BaseSelector) -> None:
        path, wait = group.path, 0
        if group.etag is not None:
            wait = self._wait
            path += "?" + urlencode({"wait": f"{wait}s", "etag": group.etag})
        connection = self._endpoint.connection(self._timeout)
        try:
            connection.request("GET", self._endpoint.prefix + path, headers=self._headers)
            assert connection.sock is not None
            selector.register(connection.sock, selectors.EVENT_READ, group)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._failed(group, f"sidecar unreachable ({type(exc).__name__}: {exc})", None)
            return
        group.connection = connection
        group.deadline = time.monotonic() + wait + self._timeout + 5.0

    def _abandon(self, group: _Group, selector: selectors.BaseSelector) -> None:
        connection, group.connection = group.connection, None
        if connection is None:
            return
        if connection.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(connection.sock)
        connection.close()

    def _finish(self, group: _Group, selector: selectors.BaseSelector) -> None:
        connection = group.connection
        assert connection is not None and connection.sock is not None
        selector.unregister(connection.sock)
        group.connection = None
        try:
            response = read_response(connection)
        except (OSError, http.client.HTTPException) as exc:
            self._failed(group, f"sidecar unreachable ({type(exc).__name__}: {exc})", None)
            return
        finally:
            connection.close()
        self._handle(group, response)

    def _handle(self, group: _Group, response: Response) -> None:
        now = time.monotonic()
        etag = response.headers.get("etag")
        status = response.status
        if status == 200:
            body = response.json()
            if isinstance(body, dict) and self._answered(group, body.get("active"), etag, now):
                group.next_at = now if etag else now + REPOLL
                return
            self._failed(group, "malformed answer", None)
        elif status == 304 and group.known is not None:
            group.known = (group.known[0], now)
            group.etag = etag or group.etag
            group.next_at = now
            self._recovered(group)
        elif status == 503 and (details := _error_details(response)) is not None:
            # Fail closed: every provider is open and the group's policy says not to fall back.
            if not self._answered(group, details.get("active"), etag, now):
                self._failed(group, "malformed answer", None)
                return
            group.next_at = now + (response.retry_after(REPOLL) or REPOLL)
        elif status in (401, 403):
            self._failed(group, f"sidecar refused the token (HTTP {status})", float(MAX_BACKOFF), logging.ERROR)
        elif status == 404:
            self._failed(group, f"the sidecar does not know group {group.name!r}", float(MAX_BACKOFF), logging.ERROR)
        else:
            self._failed(group, f"sidecar answered {status}", response.retry_after(MAX_BACKOFF))

    def _answered(self, group: _Group, active: object, etag: str | None, now: float) -> bool:
        if active is not None and not isinstance(active, str):
            return False
        group.known = (active, now)
        group.etag = etag
        self._recovered(group)
        return True

    def _recovered(self, group: _Group) -> None:
        group.backoff = MIN_BACKOFF
        if group.failing:
            group.failing = False
            log.info("failover group %r: sidecar answers again", group.name)

    def _failed(self, group: _Group, reason: str, retry_after: float | None, level: int = logging.WARNING) -> None:
        group.next_at = time.monotonic() + max(group.backoff, retry_after or 0.0)
        group.backoff = min(group.backoff * 2, MAX_BACKOFF)
        if not group.failing:
            group.failing = True
            log.log(level, "failover group %r: %s; using the last answer, then %r", group.name, reason, group.fallback)

    def _notify(self) -> None:
        now = time.monotonic()
        for group in self._groups.values():
            value = self._effective(group, now)
            if value == group.notified:
                continue
            group.notified = value
            log.info("failover group %r: active provider is now %r", group.name, value)
            if self._on_change is not None:
                try:
                    self._on_change(group.name, value)
                except Exception:
                    log.exception("on_change callback failed for group %r", group.name)


def _error_details(response: Response) -> dict[str, object] | None:
    """The group object in a standard error body's ``details``, when there is one."""
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return details if isinstance(details, dict) and "active" in details else None
