"""One provider's circuit breaker: a ``pybreaker.CircuitBreaker`` fed outcomes observed elsewhere.

pybreaker owns the state machine (closed -> open after ``fail_max`` consecutive
failures, half-open trials, ``success_threshold`` successes to close) and its
storage (memory, or Redis shared by replicas). Around it:

- outcomes are fed with ``call``: a no-op for a success, a function raising
  :class:`ProviderFailure` for a failure (pybreaker has no ``record_failure``);
  no real call ever runs inside it, so no coroutine is miscounted and no
  cancellation passes through ``calling()``;
- pybreaker moves open -> half-open lazily, on the next call, by its own wall
  clock: its ``reset_timeout`` is set out of reach and :meth:`poke` moves it,
  by the injected clock, when the policy's timeout has passed;
- an error-ratio policy (a share of failures over a window, with a minimum
  number of calls) opens it with ``open()``;
- an override holds the state shown, whatever pybreaker's is.

Not thread-safe beyond pybreaker's own lock: drive one breaker from one thread
at a time (the event loop, or the service's single Redis thread).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import pybreaker

from sidecar.config import BreakerPolicy

from ._model import BreakerState, Override

UNREACHABLE = 10 * 365 * 86400.0  # pybreaker's own reset timeout: never reached, poke() decides
_STATES: dict[str, BreakerState] = {"closed": "closed", "open": "open", "half-open": "half_open"}
Changed = Callable[[str, BreakerState, BreakerState], None]  # provider, previous, current


class ProviderFailure(Exception):
    """An observed failure of a provider, raised inside pybreaker's ``call`` to count it."""


def _succeed() -> None:
    return None


def _fail() -> None:
    raise ProviderFailure


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, breaker: ProviderBreaker) -> None:
        self._breaker = breaker

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        previous = _STATES.get(getattr(old_state, "name", "closed"), "closed")
        self._breaker._changed(previous, _STATES[new_state.name])


class ErrorRatio:
    """Calls and failures over the last ``window`` seconds, in ten buckets."""

    def __init__(self, ratio: float, window: float, min_calls: int, buckets: int = 10) -> None:
        self.ratio, self.min_calls = ratio, min_calls
        self._width = window / buckets
        self._count = buckets
        self._buckets: dict[int, list[int]] = {}  # bucket number -> [calls, failures]
        self._newest = -math.inf

    def add(self, ok: bool, at: float) -> bool:
        """Count one call; whether the window now trips the breaker."""
        number = math.floor(at / self._width)
        self._newest = max(self._newest, number)
        oldest = self._newest - self._count + 1
        if number >= oldest:
            bucket = self._buckets.setdefault(number, [0, 0])
            bucket[0] += 1
            bucket[1] += 0 if ok else 1
        for stale in [key for key in self._buckets if key < oldest]:
            del self._buckets[stale]
        calls = sum(bucket[0] for bucket in self._buckets.values())
        failures = sum(bucket[1] for bucket in self._buckets.values())
        return calls >= self.min_calls and failures / calls >= self.ratio

    def clear(self) -> None:
        """Forget every call (the breaker opened: a fresh window when it closes again)."""
        self._buckets.clear()


class ProviderBreaker:
    """The breaker of one provider; ``on_change`` hears every change of the state shown."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float],
        on_change: Changed,
        storage: pybreaker.CircuitBreakerStorage | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self._ratio = (
            None if policy.error_ratio is None else ErrorRatio(policy.error_ratio, policy.window, policy.min_calls)
        )
        self.opened_at: float | None = None
        self.override: Override | None = None
        self._cb = pybreaker.CircuitBreaker(
            fail_max=policy.fail_max,
            reset_timeout=UNREACHABLE,
            success_threshold=policy.success_threshold,
            state_storage=storage or pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED),
            listeners=[_Listener(self)],
            name=name,
            throw_new_error_on_trip=False,
        )
        self._seen: BreakerState = self.breaker_state  # the last state of pybreaker this object knows of
        self._failures = self._cb.fail_counter  # read with the state, never on a view (Redis is I/O)
        if self._seen == "open":
            self.opened_at = clock()

    @property
    def breaker_state(self) -> BreakerState:
        """pybreaker's state (read from its storage: Redis when shared)."""
        return _STATES[self._cb.current_state]

    @property
    def seen_state(self) -> BreakerState:
        """pybreaker's state as last read (no storage access)."""
        return self._seen

    @property
    def state(self) -> BreakerState:
        """The state shown: the override's, else pybreaker's."""
        return self.override.mode if self.override is not None else self._seen

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed, as last read."""
        return self._failures

    @property
    def next_attempt_at(self) -> float | None:
        """When an open breaker lets trial calls through."""
        if self._seen != "open" or self.opened_at is None:
            return None
        return self.opened_at + self.policy.reset_timeout

    def record(self, ok: bool, at: float) -> None:
        """Feed one observed outcome (ignored by pybreaker while open, like a refused call)."""
        with contextlib.suppress(ProviderFailure, pybreaker.CircuitBreakerError):
            self._cb.call(_succeed if ok else _fail)
        if self._ratio is not None and self._seen == "closed" and self._ratio.add(ok, at):
            self._cb.open()
        self._failures = self._cb.fail_counter

    def trip(self) -> None:
        """Open at once (the provider's probe went down)."""
        if self._seen != "open":
            self._cb.open()

    def poke(self) -> None:
        """Let trial calls through once the reset timeout has passed; adopt a state changed elsewhere."""
        self.sync()
        if (
            self._seen == "open"
            and self.opened_at is not None
            and self._clock() >= self.opened_at + self.policy.reset_timeout
        ):
            self._cb.half_open()

    def sync(self) -> None:
        """Adopt pybreaker's stored state when another replica changed it (shared storage)."""
        current = self.breaker_state
        self._failures = self._cb.fail_counter
        if current != self._seen:
            self._changed(self._seen, current)

    def restore(self, state: BreakerState, opened_at: float | None) -> None:
        """Take a saved state: at a restart, or another replica's newer one."""
        if state == "open":
            self._cb.open()
            self.opened_at = opened_at if opened_at is not None else self.opened_at
        elif state == "half_open":
            self._cb.half_open()
        elif state == "closed" and self._seen != "closed":
            self._cb.close()

    def _changed(self, previous: BreakerState, current: BreakerState) -> None:
        if current == self._seen:
            return
        shown_before = self.state
        self._seen = current
        if current == "open":
            self.opened_at = self._clock()
            if self._ratio is not None:
                self._ratio.clear()
        elif current == "closed":
            self.opened_at = None
        if self.override is None:
            self._on_change(self.name, shown_before, current)
