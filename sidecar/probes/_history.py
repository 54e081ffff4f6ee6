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
from itertools import compress

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

    def add(self, period: int, successes: int, total: int) -> None:
        slot = period % self.size
        if self.periods[slot] != period:
            if self.periods[slot] > period:  # older than what the slot holds: outside every window
                return
            self.periods[slot], self.oks[slot], self.totals[slot] = period, 0, 0
        self.oks[slot] += successes
        self.totals[slot] += total

    def counts(self, lowest: int, highest: int) -> tuple[int, int]:
        """Successes and total over periods ``lowest`` to ``highest``."""
        inside = [lowest <= period <= highest for period in self.periods]
        return sum(compress(self.oks, inside)), sum(compress(self.totals, inside))


class UptimeTally:
    """One probe's counts for the uptime windows: minutes of the last day, hours of the last 90 days."""

    __slots__ = ("_rings",)

    def __init__(self) -> None:
        self._rings = {resolution: _Ring(periods) for resolution, periods in WINDOW_PERIODS.items()}

    def add(self, resolution: Resolution, start: int, successes: int, total: int) -> None:
        """Count ``successes`` of ``total`` runs in the period starting at ``start``."""
        self._rings[resolution].add(start // RESOLUTION_SECONDS[resolution], successes, total)

    def ratios(self, now: float) -> dict[str, float | None]:
        """Uptime per window at ``now`` (None: no run counted in it)."""
        result: dict[str, float | None] = {}
        for window, (resolution, periods) in UPTIME_WINDOWS.items():
            current = int(now // RESOLUTION_SECONDS[resolution])
            successes, total = self._rings[resolution].counts(current - periods + 1, current)
            result[window] = successes / total if total else None
        return result


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

    def drain(self, now: float) -> tuple[list[StoredResult], list[Rollup]]:
        """What to write now: raw results, and every roll-up changed since the last drain.

        Periods over by ``now`` are let go once handed out. Hand back with
        :meth:`requeue` what could not be written.
        """
        batch = self._unsaved
        self._unsaved = {}
        for (probe, resolution), period in list(self._open.items()):
            if period.dirty:
                batch[(probe, resolution, period.start)] = period.rollup(probe, resolution)
                period.dirty = False
            if period.start + RESOLUTION_SECONDS[resolution] <= now:
                del self._open[(probe, resolution)]
        results = list(self._results)
        self._results.clear()
        return results, list(batch.values())

    def requeue(self, results: Sequence[StoredResult], rollups: Sequence[Rollup]) -> None:
        """Take back a drained batch whose write failed, behind anything newer."""
        kept = self._results
        self._results = deque(maxlen=MAX_PENDING_RESULTS)
        for result in (*results, *kept):
            self.record_raw(result)
        for rollup in rollups:
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
