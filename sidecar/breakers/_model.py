"""The plain values of circuit breaking: outcomes in, states, overrides and events out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "half_open", "open"]
STATE_VALUES: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}
ForceMode = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call to a provider, as a backend reported it or a client span showed it.

    ``at`` is wall-clock Unix seconds.
    """

    provider: str
    ok: bool
    at: float
    latency_ms: float | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """An operator's decision that holds a breaker open or closed until lifted or expired."""

    mode: ForceMode
    reason: str
    actor: str
    at: float
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A provider's breaker moved from ``previous`` to ``current``: an event for alerting and the status page."""

    group: str
    provider: str
    previous: BreakerState
    current: BreakerState
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Switch:
    """A group's active provider changed (``None``: no provider, under ``fail_closed``)."""

    group: str
    previous: str | None
    current: str | None
    at: float
    reason: str
