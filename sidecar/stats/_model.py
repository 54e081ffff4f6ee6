"""Plain data of the RED statistics: configuration, observations and read results.

Durations are seconds everywhere (observations, quantiles, Prometheus metrics),
so the JSON API and the ``*_seconds`` metrics agree without conversions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["request", "dependency"]
KINDS: tuple[Kind, ...] = ("request", "dependency")

QUANTILES = (0.5, 0.95, 0.99)

# Label value of the series that absorbs every key refused by the cardinality cap.
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding window: ``buckets`` buckets of ``width`` seconds, the newest one still filling.

    The window at time ``t`` holds the bucket containing ``t`` and the ``buckets - 1`` before it,
    so it spans between ``seconds - width`` and ``seconds`` of history: data never outlives it.
    """

    name: str
    buckets: int
    width: float  # seconds

    @property
    def seconds(self) -> float:
        """The nominal length of the window."""
        return self.buckets * self.width


# Finest first; each bucket width a multiple of the previous one, since buckets move up (see _series).
# 1m: 10 s steps, so a scrape every 15 s sees the window move smoothly. 5m: 1 min steps.
# 1h: 10 min steps, so it holds the last 50 to 60 minutes (the rate divides by the span covered).
# The hour's buckets are the largest part of a series' memory: 6 of them take about 1.7 KB less per
# series than 12 five-minute ones at 1 req/s (tests/perf/stats_memory.py), for a step of a sixth
# of the window, about what client_golang's default summary steps (10 min over 5 age buckets).
WINDOWS: tuple[Window, ...] = (Window("1m", 6, 10.0), Window("5m", 5, 60.0), Window("1h", 6, 600.0))


@dataclass(frozen=True, slots=True)
class StatsConfig:
    """Limits and accuracy of the statistics; parsed once at start."""

    max_series: int = 10_000
    # DDSketch alpha: a quantile is within this fraction of the exact rank-based value.
    relative_accuracy: float = 0.01
    # Bins per bucket sketch; at 1 % accuracy 1024 bins cover a 8e8 ratio (1 us .. 13 min)
    # before the lowest bins collapse, which would only blur quantiles far below p50.
    bin_limit: int = 1024
    windows: tuple[Window, ...] = WINDOWS

    def __post_init__(self) -> None:
        if self.max_series < 1:
            raise ValueError("max_series must be at least 1")
        if not 0 < self.relative_accuracy < 1:
            raise ValueError("relative_accuracy must be between 0 and 1")
        if self.bin_limit < 128:
            raise ValueError("bin_limit must be at least 128")
        if not self.windows or len({w.name for w in self.windows}) != len(self.windows):
            raise ValueError("windows must be a non-empty tuple with distinct names")
        if any(w.buckets < 1 or w.width <= 0 for w in self.windows):
            raise ValueError("every window needs at least one bucket of positive width")
        for finer, coarser in zip(self.windows, self.windows[1:], strict=False):
            # Buckets move up from finer to coarser windows, so their edges must nest.
            ratio = coarser.width / finer.width
            if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
                raise ValueError("windows must go finest first, each bucket width a multiple of the previous one")

    @property
    def retention(self) -> float:
        """Seconds without data after which a series is forgotten: the longest window."""
        return max(w.seconds for w in self.windows)


@dataclass(frozen=True, slots=True)
class Observation:
    """One timed operation: a server span, a client span or a log record with a duration.

    For ``kind="dependency"`` the ``service`` is the dependency's name and ``route`` and
    ``method`` are empty.
    """

    kind: Kind
    service: str
    route: str
    method: str
    duration: float  # seconds, finite, >= 0
    error: bool
    status_class: str  # "1xx".."5xx" from the HTTP status, else "error" or "ok"

    def __post_init__(self) -> None:
        # Checked once here so the sketches never see a value they cannot bin (NaN, inf, negative).
        if not 0.0 <= self.duration < math.inf:
            raise ValueError(f"duration must be finite and not negative, got {self.duration!r}")


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """RED figures of one series (or an aggregate, ``"*"`` in the merged labels) over one window.

    ``rate`` is per second; ``error_ratio`` and the quantiles (seconds) are None when ``count`` is 0.
    """

    kind: Kind
    service: str
    route: str
    method: str
    window: str
    count: int
    rate: float
    error_ratio: float | None
    p50: float | None
    p95: float | None
    p99: float | None
