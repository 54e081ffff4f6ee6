"""The plain values of probing: one result, a health policy, a status transition."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["unknown", "healthy", "degraded", "down"]
STATUSES: tuple[Status, ...] = ("unknown", "healthy", "degraded", "down")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe run.

    ``duration`` is in seconds, ``at`` is wall-clock Unix seconds; ``phases``
    times the steps of the run (dns, connect, tls, first byte, ...) in seconds;
    ``cert_expiry`` is the Unix time the peer's certificate expires, for TLS probes.
    """

    ok: bool
    duration: float
    at: float
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    status_code: int | None = None
    cert_expiry: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A probe's status changed from ``previous`` to ``current`` at ``at``: an event for alerting."""

    probe: str
    previous: Status
    current: Status
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How results move a probe's status.

    A success slower than ``degraded_after`` seconds makes the probe degraded
    (``None``: never); ``failures_to_down`` consecutive failures make it down;
    ``successes_to_recover`` consecutive successes bring it back up.
    """

    degraded_after: float | None
    failures_to_down: int = 3
    successes_to_recover: int = 2

    def __post_init__(self) -> None:
        if self.degraded_after is not None and not (math.isfinite(self.degraded_after) and self.degraded_after > 0):
            raise ValueError(f"degraded_after must be a positive number of seconds, got {self.degraded_after!r}")
        for name in ("failures_to_down", "successes_to_recover"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


Resolution = Literal["minute", "hour"]
RESOLUTIONS: tuple[Resolution, ...] = ("minute", "hour")
RESOLUTION_SECONDS: dict[Resolution, int] = {"minute": 60, "hour": 3600}


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One probe run as the history keeps it (raw results, kept ``probing.results_retention``).

    ``at`` is wall-clock Unix seconds; ``offline`` marks a failure seen while the
    sidecar itself was cut off (it counts toward no uptime figure).
    """

    probe: str
    at: float
    ok: bool
    duration: float
    status_code: int | None = None
    error: str | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class Rollup:
    """A probe's runs over one minute or one hour: how many succeeded, and how fast they answered.

    ``start`` is the period's first second (Unix, a multiple of its length);
    ``sketch`` is the packed latency sketch of the successful runs (empty when
    a read asked for counts only). Offline failures are left out.
    """

    probe: str
    resolution: Resolution
    start: int
    successes: int
    total: int
    sketch: bytes = b""
