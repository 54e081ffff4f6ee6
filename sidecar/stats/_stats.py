"""The RED aggregator: the one stateful part of the package."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from ._collector import StatsCollector
from ._model import OTHER, Kind, Observation, SeriesStats, StatsConfig
from ._series import HistogramRow, Key, Reading, Series, reading_of
from ._sketch import Sketches
from ._window import Ring

# Idle series are looked for at most this often: a sweep walks every series.
SWEEP_INTERVAL = 60.0
# Rates right after start are averaged over at least this long, not over a few microseconds.
MIN_RATE_SPAN = 1.0


def other_key(kind: Kind) -> Key:
    """The series that absorbs what the cap refuses; a dependency has no route or method to fold."""
    return (kind, OTHER, OTHER, OTHER) if kind == "request" else (kind, OTHER, "", "")


class Stats:
    """Rate, errors and duration quantiles over sliding windows, per series, with bounded cardinality.

    Time comes only from ``clock`` (seconds); buckets expire when it moves on, never by timers.
    Thread-safe, so a scrape may run in a worker thread while the event loop records.
    """

    def __init__(self, config: StatsConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or StatsConfig()
        self._clock = clock
        self._windows = {window.name: index for index, window in enumerate(self.config.windows)}
        self._sketches = Sketches(self.config.relative_accuracy, self.config.bin_limit)
        finest = self.config.windows[0].width
        self._finest = finest
        self._scales = [round(window.width / finest) for window in self.config.windows]
        self._series: dict[Key, Series] = {}
        # (kind, service) -> route -> series: lookups by service and route without a scan.
        self._groups: dict[tuple[Kind, str], dict[str, list[Series]]] = {}
        self._capped = 0  # series that count against max_series (all but the "other" ones)
        self._refused: set[Key] = set()
        self._dropped = 0
        self._lock = threading.Lock()
        self._started = self._last_now = clock()
        self._next_sweep = self._started + SWEEP_INTERVAL

    @property
    def dropped(self) -> int:
        """Distinct series refused by the cardinality cap (their data went to the ``other`` series)."""
        return self._dropped

    def series_count(self, kind: Kind) -> int:
        """How many series of ``kind`` are held now."""
        with self._lock:
            return sum(1 for key in self._series if key[0] == kind)

    def collector(self) -> StatsCollector:
        """A Prometheus collector of these statistics, for ``registry.register``."""
        return StatsCollector(self)

    def record(self, observation: Observation) -> None:
        """Count one observation at the clock's current time."""
        self.record_many((observation,))

    def record_many(self, observations: Iterable[Observation]) -> None:
        """Count a batch of observations, all at the clock's current time (one clock read per batch)."""
        with self._lock:
            now = self._tick()
            periods = self._periods(now)
            series_by_key = self._series
            for obs in observations:
                key = (obs.kind, obs.service, obs.route, obs.method)
                series = series_by_key.get(key) or self._admit(key, now)
                series.add(periods, obs.duration, obs.error, obs.status_class, now)

    def query(
        self, service: str | None = None, route: str | None = None, window: str = "5m", kind: Kind | None = None
    ) -> list[SeriesStats]:
        """Every series matching the filters (None: any) over ``window``, sorted by kind, service, route, method.

        Series idle in ``window`` but seen within the longest window are listed with a zero count.
        """
        index = self.window_index(window)
        with self._lock:
            now = self._tick()
            periods = self._periods(now)
            return [
                self._stats(series.key, series.read(index, periods), index, now)
                for key, series in sorted(self._series.items())
                if (kind is None or key[0] == kind)
                and (service is None or key[1] == service)
                and (route is None or key[2] == route)
            ]

    def lookup(self, service: str, route: str | None = None, window: str = "5m", kind: Kind = "request") -> SeriesStats:
        """One route's figures, all methods merged; the whole service's when ``route`` is None (route ``"*"``).

        ``method`` is the one method the merged series share, else ``"*"``. Cheap for the breakers
        and alerts that poll it: an index lookup, and a cached read when the route has a single
        method. Unknown names give a zero count, not an error.
        """
        index = self.window_index(window)
        with self._lock:
            now = self._tick()
            routes = self._groups.get((kind, service), {})
            members = routes.get(route, []) if route is not None else [s for group in routes.values() for s in group]
            return self._aggregate(kind, service, "*" if route is None else route, members, index, now)

    def dependency(self, name: str, window: str = "5m") -> SeriesStats:
        """The figures of the dependency called ``name``."""
        return self.lookup(name, "", window, kind="dependency")

    def route_stats(self, window: str) -> list[SeriesStats]:
        """One aggregate per (kind, service, route), methods merged: what the gauges expose.

        The lock is taken per route, so a long scrape in a thread delays recording by one route at most.
        """
        index = self.window_index(window)
        with self._lock:
            now = self._tick()
            routes = [(kind, service, route) for (kind, service), group in self._groups.items() for route in group]
        result = []
        for kind, service, route in routes:
            with self._lock:
                members = self._groups.get((kind, service), {}).get(route)
                if members:
                    result.append(self._aggregate(kind, service, route, members, index, now))
        return result

    def histograms(self) -> list[HistogramRow]:
        """The cumulative histogram of every series and status class."""
        with self._lock:
            self._tick()
            return [
                HistogramRow(*series.key, status_class, histogram.cumulative(), histogram.total)
                for series in self._series.values()
                for status_class, histogram in series.histograms.items()
            ]

    def window_index(self, window: str) -> int:
        """The position of ``window`` in the configured windows; ValueError naming the valid ones."""
        try:
            return self._windows[window]
        except KeyError:
            raise ValueError(f"window must be one of {', '.join(self._windows)}") from None

    def _aggregate(
        self, kind: Kind, service: str, route: str, members: list[Series], index: int, now: float
    ) -> SeriesStats:
        methods = {series.key[3] for series in members}
        method = methods.pop() if len(methods) == 1 else "*"
        periods = self._periods(now)
        if len(members) == 1:
            reading = members[0].read(index, periods)
        else:
            parts = [part for series in members for part in series.parts(index, periods[index])]
            reading = reading_of(self._sketches.merge(parts), self._sketches)
        return self._stats((kind, service, route, method), reading, index, now)

    def _stats(self, key: Key, reading: Reading, index: int, now: float) -> SeriesStats:
        window = self.config.windows[index]
        p50, p95, p99 = reading.quantiles or (None, None, None)
        return SeriesStats(
            *key,
            window=window.name,
            count=reading.count,
            rate=reading.count / self._rate_span(index, now),
            error_ratio=reading.errors / reading.count if reading.count else None,
            p50=p50,
            p95=p95,
            p99=p99,
        )

    def _rate_span(self, index: int, now: float) -> float:
        # The window reaches back to the start of its oldest bucket, but not before we started counting.
        window = self.config.windows[index]
        oldest = (self._periods(now)[index] - window.buckets + 1) * window.width
        return max(now - max(oldest, self._started), MIN_RATE_SPAN)

    def _periods(self, now: float) -> list[int]:
        # Coarser periods derive from the finest one so bucket edges nest exactly, whatever float rounding does.
        finest = int(now // self._finest)
        return [finest // scale for scale in self._scales]

    def _tick(self) -> float:
        # A clock stepping back (NTP) must not rewrite newer buckets with older periods.
        now = self._last_now = max(self._clock(), self._last_now)
        if now >= self._next_sweep:
            self._sweep(now)
        return now

    def _admit(self, key: Key, now: float) -> Series:
        folded = other_key(key[0])
        if key != folded:
            if self._capped < self.config.max_series:
                self._capped += 1
                return self._create(key, now)
            if key not in self._refused:
                self._dropped += 1
                # Remembered (up to max_series of them) so a refused key counts once, not per observation.
                if len(self._refused) < self.config.max_series:
                    self._refused.add(key)
        return self._series.get(folded) or self._create(folded, now)

    def _create(self, key: Key, now: float) -> Series:
        rings = [Ring(window.buckets, scale) for window, scale in zip(self.config.windows, self._scales, strict=True)]
        series = self._series[key] = Series(key, rings, self._sketches, now)
        self._groups.setdefault((key[0], key[1]), {}).setdefault(key[2], []).append(series)
        return series

    def _sweep(self, now: float) -> None:
        """Forget series idle for the longest window (nothing of them is left in any window); free expired buckets."""
        self._next_sweep = now + SWEEP_INTERVAL
        periods = self._periods(now)
        cutoff = now - self.config.retention
        for series in list(self._series.values()):
            if series.last_seen > cutoff:
                series.prune(periods)
            else:
                self._forget(series)

    def _forget(self, series: Series) -> None:
        key = series.key
        del self._series[key]
        routes = self._groups[(key[0], key[1])]
        routes[key[2]].remove(series)
        if not routes[key[2]]:
            del routes[key[2]]
        if not routes:
            del self._groups[(key[0], key[1])]
        if key != other_key(key[0]):
            self._capped -= 1
            # Room again: refused keys may be admitted now and are counted afresh if refused again.
            self._refused.clear()
