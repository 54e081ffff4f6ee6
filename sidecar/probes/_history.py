"""Probe history in memory: per-minute and per-hour roll-ups, uptime windows, and what is still to be saved.

Pure (no I/O, no clock of its own): the service feeds it results, writes what
:meth:`ProbeHistory.drain` hands out, and restores it from storage at start-up.

Uptime is the share of successful runs (degraded ones included); failures seen
while the sidecar was offline count toward nothing. The 24 h window is counted
by the minute, the 7, 30 and 90 day windows by the hour: each is the periods
whose start lies within the window before the current period ends, the current
(partial) one included.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable, Sequence

from sidecar.stats import LatencySketch

from ._model import RESOLUTION_SECONDS, Resolution, Rollup, StoredResult

# window name -> (resolution, periods)
UPTIME_WINDOWS: dict[str, tuple[Resolution, int]] = {
    "24h": ("minute", 24 * 60),
    "7d": ("hour", 7 * 24),
    "30d": ("hour", 30 * 24),
    "90d": ("hour", 90 * 24),
}
# How many periods of each resolution the uptime windows reach back.
WINDOW_PERIODS: dict[Resolution, int] = {
    resolution: max(periods for res, periods in UPTIME_WINDOWS.values() if res == resolution)
    for resolution in RESOLUTION_SECONDS
}
MAX_PENDING_RESULTS = 200_000  # raw results awaiting a write; the oldest go first when storage is away


def period_start(at: float, resolution: Resolution) -> int:
    """The first second (Unix) of the ``resolution`` period holding ``at``."""
    length = RESOLUTION_SECONDS[resolution]
    return int(at // length) * length


class _Ring:
    """Success and total counts of the last ``size`` periods, by period number."""

    __slots__ = ("oks", "periods", "size", "totals")

    def __init__(self, size: int) -> None:
        self.size = size
        self.periods = array("q", [-1]) * size
        self.oks = array("Q", [0]) * size
        self.totals = array("Q", [0]) * size

    def add(self, period: int, successes: int, total: int) -> bool:
        """Count into ``period``'s slot; False when the slot already holds a newer period."""
        slot = period % self.size
        if self.periods[slot] != period:
            if self.periods[slot] > period:
                return False
            self.periods[slot], self.oks[slot], self.totals[slot] = period, 0, 0
        self.oks[slot] += successes
        self.totals[slot] += total
        return True

    def held(self, period: int) -> tuple[int, int]:
        """The counts of ``period``, (0, 0) when its slot holds another."""
        slot = period % self.size
        return (self.oks[slot], self.totals[slot]) if self.periods[slot] == period else (0, 0)


class _Window:
    """Running sums of one uptime window: the periods from ``floor`` to the newest one seen."""

    __slots__ = ("floor", "name", "periods", "successes", "total")

    def __init__(self, name: str, periods: int) -> None:
        self.name = name
        self.periods = periods
        self.floor: int | None = None
        self.successes = self.total = 0

    def advance(self, ring: _Ring, newest: int) -> None:
        """Move the window to end at ``newest``, taking out the periods that left it."""
        floor = newest - self.periods + 1
        if self.floor is not None and floor > self.floor:
            if floor - self.floor >= ring.size:
                self.successes = self.total = 0
            else:
                for period in range(self.floor, floor):
                    ok, runs = ring.held(period)
                    self.successes, self.total = self.successes - ok, self.total - runs
        if self.floor is None or floor > self.floor:
            self.floor = floor


class UptimeTally:
    """One probe's counts for the uptime windows: minutes of the last day, hours of the last 90 days.

    Each window keeps running sums, moved forward period by period as time
    passes: reading one is O(1) (amortised), whatever the window's length.
    """

    __slots__ = ("_newest", "_rings", "_windows")

    def __init__(self) -> None:
        self._rings = {resolution: _Ring(periods) for resolution, periods in WINDOW_PERIODS.items()}
        self._windows: dict[Resolution, list[_Window]] = {resolution: [] for resolution in WINDOW_PERIODS}
        for name, (resolution, periods) in UPTIME_WINDOWS.items():
            self._windows[resolution].append(_Window(name, periods))
        self._newest: dict[Resolution, int | None] = dict.fromkeys(WINDOW_PERIODS)

    def add(self, resolution: Resolution, start: int, successes: int, total: int) -> None:
        """Count ``successes`` of ``total`` runs in the period starting at ``start``."""
        period = start // RESOLUTION_SECONDS[resolution]
        self._advance(resolution, period)
        if not self._rings[resolution].add(period, successes, total):
            return
        for window in self._windows[resolution]:
            if window.floor is not None and window.floor <= period:
                window.successes += successes
                window.total += total

    def ratios(self, now: float) -> dict[str, float | None]:
        """Uptime per window at ``now`` (None: no run counted in it).

        A ``now`` before the newest period counted (the clock stepped back) reads as that period.
        """
        result: dict[str, float | None] = {}
        for resolution, windows in self._windows.items():
            self._advance(resolution, int(now // RESOLUTION_SECONDS[resolution]))
            for window in windows:
                result[window.name] = window.successes / window.total if window.total else None
        return {name: result[name] for name in UPTIME_WINDOWS}

    def _advance(self, resolution: Resolution, period: int) -> None:
        newest = self._newest[resolution]
        if newest is not None and period <= newest:
            return
        self._newest[resolution] = period
        for window in self._windows[resolution]:
            window.advance(self._rings[resolution], period)


class _Open:
    """The period still being counted for one probe and resolution."""

    __slots__ = ("dirty", "sketch", "start", "successes", "total")

    def __init__(self, start: int, successes: int = 0, total: int = 0, sketch: bytes = b"") -> None:
        self.start = start
        self.successes = successes
        self.total = total
        self.sketch = LatencySketch(sketch)
        self.dirty = False

    def add(self, ok: bool, duration: float) -> None:
        self.total += 1
        if ok:
            self.successes += 1
            self.sketch.add(duration)
        self.dirty = True

    def rollup(self, probe: str, resolution: Resolution) -> Rollup:
        return Rollup(probe, resolution, self.start, self.successes, self.total, self.sketch.to_bytes())


RollupKey = tuple[str, Resolution, int]


class ProbeHistory:
    """Results in; roll-ups, uptime and unsaved writes out. Call from one thread (the event loop)."""

    def __init__(self, probes: Iterable[str]) -> None:
        self._tallies = {name: UptimeTally() for name in probes}
        self._open: dict[tuple[str, Resolution], _Open] = {}
        self._unsaved: dict[RollupKey, Rollup] = {}  # closed periods (or failed writes) not yet saved
        self._results: deque[StoredResult] = deque(maxlen=MAX_PENDING_RESULTS)
        self.dropped_results = 0  # raw results lost because storage stayed away too long

    def restore(self, counts: Iterable[Rollup], current: Iterable[Rollup] = ()) -> None:
        """Start from stored roll-ups: ``counts`` (sketches not needed) fill the uptime windows;
        ``current``, with their sketches, are the periods still open, to be continued."""
        for rollup in counts:
            tally = self._tallies.get(rollup.probe)
            if tally is not None:
                tally.add(rollup.resolution, rollup.start, rollup.successes, rollup.total)
        for rollup in current:
            if rollup.probe in self._tallies:
                self._open[(rollup.probe, rollup.resolution)] = _Open(
                    rollup.start, rollup.successes, rollup.total, rollup.sketch
                )

    def record(self, result: StoredResult) -> None:
        """Count one result (a probe's results in order) and queue it for writing."""
        self.record_raw(result)
        tally = self._tallies[result.probe]
        if result.offline:
            return
        for resolution in RESOLUTION_SECONDS:
            start = period_start(result.at, resolution)
            key = (result.probe, resolution)
            period = self._open.get(key)
            if period is None or period.start != start:
                if period is not None and period.dirty:
                    self._unsaved[(result.probe, resolution, period.start)] = period.rollup(result.probe, resolution)
                period = self._open[key] = _Open(start)
            period.add(result.ok, result.duration)
            tally.add(resolution, start, int(result.ok), 1)

    def drain(self, now: float, limit: int | None = None) -> tuple[list[StoredResult], list[Rollup]]:
        """What to write now: raw results, and the roll-ups changed since they were last handed out.

        At most ``limit`` roll-ups per call (call again while it returns that many);
        periods over by ``now`` are let go once handed out. Hand back with
        :meth:`requeue` what could not be written.
        """
        batch: list[Rollup] = []
        while self._unsaved and (limit is None or len(batch) < limit):
            batch.append(self._unsaved.pop(next(iter(self._unsaved))))
        for (probe, resolution), period in list(self._open.items()):
            if limit is not None and len(batch) >= limit:
                break
            if period.dirty:
                batch.append(period.rollup(probe, resolution))
                period.dirty = False
            if period.start + RESOLUTION_SECONDS[resolution] <= now:
                del self._open[(probe, resolution)]
        results = list(self._results)
        self._results.clear()
        return results, batch

    def requeue(self, results: Sequence[StoredResult], rollups: Sequence[Rollup]) -> None:
        """Take back a drained batch whose write failed, behind anything newer."""
        kept = self._results
        self._results = deque(maxlen=MAX_PENDING_RESULTS)
        for result in (*results, *kept):
            self.record_raw(result)
        for rollup in rollups:
            period = self._open.get((rollup.probe, rollup.resolution))
            if period is not None and period.start == rollup.start:
                period.dirty = True  # its next snapshot is newer than this one
            else:
                self._unsaved.setdefault((rollup.probe, rollup.resolution, rollup.start), rollup)

    def record_raw(self, result: StoredResult) -> None:
        """Queue a raw result for writing, without counting it."""
        if len(self._results) == self._results.maxlen:
            self.dropped_results += 1
        self._results.append(result)

    def uptime(self, probe: str, now: float) -> dict[str, float | None]:
        """Uptime per window (``24h``, ``7d``, ``30d``, ``90d``) of ``probe`` at ``now``."""
        return self._tallies[probe].ratios(now)

    def unsaved_rollups(self, probe: str, resolution: Resolution) -> list[Rollup]:
        """Roll-ups of ``probe`` not yet written, the open period included: reads lay them over storage."""
        found = [rollup for key, rollup in self._unsaved.items() if key[0] == probe and key[1] == resolution]
        period = self._open.get((probe, resolution))
        if period is not None and period.total:
            found.append(period.rollup(probe, resolution))
        return found

    def unsaved_results(self, probe: str) -> list[StoredResult]:
        """Raw results of ``probe`` not yet written, oldest first."""
        return [result for result in self._results if result.probe == probe]
