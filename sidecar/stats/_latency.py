"""A latency sketch of one period that can be stored as bytes and merged with others later."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._sketch import Sketches, pack, unpack

# The same accuracy and bin limit as the RED windows (StatsConfig's defaults).
_SKETCHES = Sketches(relative_accuracy=0.01, bin_limit=1024)


class LatencySketch:
    """Durations in seconds, quantiles within 1 % relative error (ddsketch's logarithmic mapping).

    ``to_bytes`` packs it (a few hundred bytes at most for realistic spreads);
    :meth:`merged` adds up stored ones, as one sketch of all their values would be::

        sketch = LatencySketch()
        sketch.add(0.120)
        data = sketch.to_bytes()
        LatencySketch.merged([data, other]).quantiles((0.5, 0.95))
    """

    __slots__ = ("_bins",)

    def __init__(self, data: bytes = b"") -> None:
        self._bins = _SKETCHES.reopen(0, unpack(data)) if data else _SKETCHES.open(0)

    @classmethod
    def merged(cls, packed: Iterable[bytes]) -> LatencySketch:
        """One sketch holding every value of the packed sketches ``packed``."""
        sketch = cls()
        parts = [unpack(data) for data in packed if data]
        if parts:
            sketch._bins = _SKETCHES.reopen(0, _SKETCHES.merge(parts).part())
        return sketch

    def add(self, seconds: float) -> None:
        """Count one duration (seconds, >= 0)."""
        self._bins.add(seconds, False)

    @property
    def count(self) -> int:
        """How many durations it holds."""
        return sum(self._bins.counts) + self._bins.zeros

    def quantiles(self, qs: Sequence[float]) -> tuple[float, ...] | None:
        """The value at each quantile of ``qs`` (seconds); None when empty."""
        return _SKETCHES.merge([self._bins.part()]).quantiles(_SKETCHES.mapping, qs)

    def to_bytes(self) -> bytes:
        """The sketch packed; ``b""`` when empty."""
        return pack(0, self._bins.part()) if self.count else b""
