"""The sidecar's own connectivity self-check: is it the dependency that failed, or the sidecar that is cut off?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from ._checks_net import CheckOutcome, check_tcp

Target = tuple[str, int]
Connect = Callable[[str, int, float], Awaitable[CheckOutcome]]


async def _connect(host: str, port: int, timeout: float) -> CheckOutcome:  # noqa: ASYNC109
    return await check_tcp(host, port, timeout=timeout)


class Connectivity:
    """TCP connects to well-known targets; the sidecar is offline while none of them answers.

    Asked only when a probe fails: a verdict is reused for ``max_age`` seconds, and
    failures arriving together share one check. With no targets it is never offline.
    ``on_verdict`` hears every fresh verdict (``True``: online).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        timeout: float,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        connect: Connect = _connect,
        on_verdict: Callable[[bool], None] = lambda online: None,
    ) -> None:
        self._targets = tuple(targets)
        self._timeout = timeout
        self._max_age = max_age
        self._clock = clock
        self._connect = connect
        self._on_verdict = on_verdict
        self._verdict: tuple[float, bool] | None = None  # (checked at, offline)
        self._pending: asyncio.Future[bool] | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is anything to check."""
        return bool(self._targets)

    async def offline(self) -> bool:
        """Whether the sidecar is cut off now (a recent verdict, or a fresh check)."""
        if not self._targets:
            return False
        if self._verdict is not None and self._clock() - self._verdict[0] < self._max_age:
            return self._verdict[1]
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._check())
        return await asyncio.shield(self._pending)

    async def _check(self) -> bool:
        try:
            outcomes = await asyncio.gather(*(self._connect(host, port, self._timeout) for host, port in self._targets))
            offline = not any(outcome.ok for outcome in outcomes)
            self._verdict = (self._clock(), offline)
            self._on_verdict(not offline)
            return offline
        finally:
            self._pending = None


def parse_target(text: str) -> Target:
    """``"HOST:PORT"`` (the config has validated it) as a pair; IPv6 hosts may be bracketed."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
