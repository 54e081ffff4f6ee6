"""Hourly occurrence counts over a sliding window, in a fixed-size ring."""

from __future__ import annotations

from array import array
from typing import Any

HOUR_NS = 3600 * 1_000_000_000
TREND_HOURS = 14 * 24


class HourlyTrend:
    """Occurrences per hour over the last :data:`TREND_HOURS` hours.

    A ring of counters indexed by ``hour % TREND_HOURS`` (2.6 KiB whatever the
    traffic); ``_end`` is the newest hour the ring covers. Moving it forward
    clears the slots of the hours that left the window.
    """

    __slots__ = ("_counts", "_end")

    def __init__(self) -> None:
        self._counts = array("Q", bytes(8 * TREND_HOURS))
        self._end: int | None = None  # hour index: Unix ns // HOUR_NS

    def add(self, ts_ns: int, now_ns: int) -> None:
        """Count one occurrence at ``ts_ns``; those older than the window are not counted."""
        end = self._advance(now_ns // HOUR_NS)
        hour = ts_ns // HOUR_NS
        if end - TREND_HOURS < hour <= end:
            self._counts[hour % TREND_HOURS] += 1

    def buckets(self, now_ns: int | None = None) -> list[tuple[int, int]]:
        """``(hour start in Unix ns, count)`` of every hour with occurrences, oldest first.

        ``now_ns`` ends the window (default: the newest hour counted into).
        """
        if self._end is None:
            return []
        first, last = self._end - TREND_HOURS + 1, self._end
        if now_ns is not None:
            now_hour = now_ns // HOUR_NS
            first, last = max(first, now_hour - TREND_HOURS + 1), min(last, now_hour)
        counts = self._counts
        return [
            (hour * HOUR_NS, counts[hour % TREND_HOURS])
            for hour in range(first, last + 1)
            if counts[hour % TREND_HOURS]
        ]

    def _advance(self, hour: int) -> int:
        """Move the window's end to ``hour`` (never back, if the clock is); the end."""
        if self._end is not None and hour <= self._end:
            return self._end
        if self._end is None or hour - self._end >= TREND_HOURS:
            self._counts = array("Q", bytes(8 * TREND_HOURS))
        else:
            for stale in range(self._end + 1, hour + 1):
                self._counts[stale % TREND_HOURS] = 0
        self._end = hour
        return hour

    def to_state(self) -> dict[str, Any]:
        """A JSON-able form: the newest hour and the non-zero ``[hour, count]`` pairs."""
        return {"end": self._end, "hours": [[start // HOUR_NS, count] for start, count in self.buckets()]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HourlyTrend:
        """The trend :meth:`to_state` described; raises ValueError on anything else."""
        trend = cls()
        end = state["end"]
        if end is None:
            return trend
        if not isinstance(end, int):
            raise ValueError("trend: end is not an hour")
        trend._end = end
        for hour, count in state["hours"]:
            if not (isinstance(hour, int) and isinstance(count, int) and count >= 0):
                raise ValueError("trend: not an [hour, count] pair")
            if end - TREND_HOURS < hour <= end:
                trend._counts[hour % TREND_HOURS] = count
        return trend
