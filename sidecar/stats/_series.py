"""One series: its sliding windows and its cumulative duration histograms, one per status class.

Only the finest window's open bucket is written per observation; it is packed and moves up to the
next coarser ring once, when the first observation of a later bucket arrives (or the idle sweep
finds it stale). A coarser ring's newest bucket moves up the same way, so recording costs one bin
increment per observation whatever the number of windows. A read of a coarser window adds the
still-open bucket of every finer ring, which is exactly the data not yet handed up, so nothing is
missed or counted twice.

Memory per series: the open bucket (a byte per bin between the lowest and highest key of the
current 10 s), one packed ``bytes`` per non-empty bucket of every window (``_sketch``: 62 bytes
and a byte per bin while its counts stay below 256), the histograms (16 counters per status
class), the key and, until the next add, the last Reading of each window. Measured with
``tests/perf/stats_memory.py``: 5.0 KB at 0.1 req/s, 6.6 KB at 1 req/s, 7.8 KB at 10 req/s,
12.9 KB with latencies spread 1 ms..60 s. Bound: a bucket holds at most ``bin_limit`` bins, so
with the default windows (17 closed buckets and the open one) a series takes at most about 23 KB
with 1-byte counts (measured: every bucket at 1024 bins), 18 KB more per extra byte of count
width: 42 KB if every bucket has a bin above 255, 79 KB above 65,535 (8-byte counts need 2**32
values in one bin of one bucket). At 10,000 series: about 225, 400 and 750 MiB, against 63 MiB
at 1 req/s everywhere; plus up to 2.4 KB per series for 200-character labels and seven status
classes.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ._model import QUANTILES, Kind
from ._sketch import Merged, OpenBucket, Part, Sketches, pack, relabel, unpack
from ._window import Ring

# From 1 ms to 60 s: database calls answer in milliseconds, slow external APIs time out at a minute.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Key = tuple[Kind, str, str, str]  # kind, service, route, method


@dataclass(frozen=True, slots=True)
class Reading:
    """What the sketches of one window say: count, errors and the QUANTILES (None when empty)."""

    count: int
    errors: int
    quantiles: tuple[float, ...] | None


@dataclass(frozen=True, slots=True)
class HistogramRow:
    """The cumulative histogram of one series and status class, ready to expose."""

    kind: Kind
    service: str
    route: str
    method: str
    status_class: str
    cumulative: list[int]  # per DURATION_BUCKETS bound, then +Inf
    total: float  # sum of durations, seconds


class Histogram:
    """A classic cumulative histogram over DURATION_BUCKETS (the last slot is +Inf), never reset."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = array("Q", bytes(8 * (len(DURATION_BUCKETS) + 1)))
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one duration (seconds)."""
        # bisect_left: a value equal to a bound belongs to that bound's "le" bucket.
        self.counts[bisect_left(DURATION_BUCKETS, value)] += 1
        self.total += value

    def cumulative(self) -> list[int]:
        """Counts per bucket as exposed: each includes every smaller bucket; the last is the total."""
        return list(accumulate(self.counts))


class Series:
    """The state of one (kind, service, route, method): one Ring per window, finest first, plus histograms."""

    __slots__ = ("_cache", "_sketches", "histograms", "key", "last_seen", "open", "rings")

    def __init__(self, key: Key, rings: list[Ring], sketches: Sketches, now: float) -> None:
        self.key = key
        self.rings = rings
        self.open: OpenBucket | None = None  # the finest ring's newest bucket, the only one written to
        self.histograms: dict[str, Histogram] = {}
        self.last_seen = now
        self._sketches = sketches
        # Per window, the last Reading as (period, count, errors, *quantiles); dropped on every add.
        self._cache: list[tuple[int, ...] | None] | None = None

    def add(self, periods: Sequence[int], value: float, error: bool, status_class: str, now: float) -> None:
        """Count one observation; ``periods`` holds the current bucket number of every ring."""
        bucket = self.open
        if bucket is None or bucket.period != periods[0]:
            self._close()
            bucket = self.open = self._sketches.open(periods[0])
        bucket.add(value, error)
        histogram = self.histograms.get(status_class)
        if histogram is None:
            histogram = self.histograms[status_class] = Histogram()
        histogram.observe(value)
        self._cache = None
        self.last_seen = now

    def read(self, window: int, periods: Sequence[int]) -> Reading:
        """The Reading of window number ``window`` now (cached until the data or the window moves)."""
        if self._cache is None:
            self._cache = [None] * len(self.rings)
        cached = self._cache[window]
        if cached is not None and cached[0] == periods[window]:
            return Reading(cached[1], cached[2], cached[3:] or None)
        reading = reading_of(self._sketches.merge(self.parts(window, periods[window])), self._sketches)
        self._cache[window] = (periods[window], reading.count, reading.errors, *(reading.quantiles or ()))
        return reading

    def parts(self, window: int, period: int) -> list[Part]:
        """The buckets of window number ``window`` whose newest bucket is ``period``, ready to merge."""
        ring = self.rings[window]
        parts = [unpack(bucket) for bucket in ring.window(period)]
        oldest = period - ring.size + 1
        if self.open is not None and oldest <= self.open.period * self.rings[0].scale // ring.scale <= period:
            parts.append(self.open.part())
        for finer in self.rings[1:window]:
            if finer.open is None or not oldest <= finer.open * finer.scale // ring.scale <= period:
                continue
            bucket = finer.get(finer.open)
            if bucket is not None:
                parts.append(unpack(bucket))
        return parts

    def prune(self, periods: Sequence[int]) -> None:
        """Pack a stale open bucket; free the buckets that left their window (``periods``: every ring's current one)."""
        if self.open is not None and self.open.period != periods[0]:
            self._close()
        for ring, period in zip(self.rings, periods, strict=True):
            ring.prune(period)
        self._cache = None

    def _close(self) -> None:
        """Pack the open bucket into the finest ring and hand it up to the next one."""
        bucket = self.open
        if bucket is None:
            return
        self.open = None
        packed = pack(bucket.period, bucket.part())
        self.rings[0].put(bucket.period, packed)
        self._hand_up(0, bucket.period, packed)

    def _hand_up(self, level: int, period: int, packed: bytes) -> None:
        """Merge closed bucket ``period`` of ring ``level`` into the next ring (whose older open one moves first)."""
        if level + 1 == len(self.rings):
            return
        coarser = self.rings[level + 1]
        target = period * self.rings[level].scale // coarser.scale
        if coarser.open is not None and coarser.open != target:
            older, coarser.open = coarser.open, None
            bucket = coarser.get(older)
            if bucket is not None:
                self._hand_up(level + 1, older, bucket)
        existing = coarser.get(target)
        if existing is None:
            coarser.put(target, relabel(packed, target))
        else:
            coarser.put(target, pack(target, self._sketches.merge([unpack(existing), unpack(packed)]).part()))
        coarser.open = target


def reading_of(merged: Merged, sketches: Sketches) -> Reading:
    """The Reading of merged window buckets."""
    count = merged.count
    if count == 0:
        return Reading(0, 0, None)
    return Reading(count, merged.errors, merged.quantiles(sketches.mapping, QUANTILES))
