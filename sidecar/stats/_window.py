"""One window's closed buckets for one series: a ring of packed buckets, expired by period number."""

from __future__ import annotations

from collections.abc import Iterator

from ._sketch import period_of


class Ring:
    """The buckets of one window: slot ``period % size`` holds the packed bucket number ``period``.

    ``period`` counts buckets of this ring's width since the clock's epoch, and is stored in the
    bucket itself. A slot holding an older period than the one being written is stale and is
    simply overwritten, so expiry needs no timer; reads skip buckets outside the newest ``size``
    periods. Empty slots hold None. ``open`` is the period of the newest bucket not yet handed to
    the next coarser ring (see ``Series``); the finest ring's open bucket is not packed yet and
    lives in the series.
    """

    __slots__ = ("buckets", "open", "scale")

    def __init__(self, size: int, scale: int) -> None:
        self.scale = scale  # bucket width in units of the finest ring's width
        self.open: int | None = None
        self.buckets: list[bytes | None] = [None] * size

    @property
    def size(self) -> int:
        """Buckets in the window."""
        return len(self.buckets)

    def get(self, period: int) -> bytes | None:
        """The bucket of ``period``, or None."""
        bucket = self.buckets[period % len(self.buckets)]
        return bucket if bucket is not None and period_of(bucket) == period else None

    def put(self, period: int, bucket: bytes) -> None:
        """Store the bucket of ``period``, replacing that period's or a stale one."""
        self.buckets[period % len(self.buckets)] = bucket

    def window(self, period: int) -> Iterator[bytes]:
        """The buckets of the window whose newest bucket is ``period``."""
        oldest = period - len(self.buckets) + 1
        for bucket in self.buckets:
            if bucket is not None and oldest <= period_of(bucket) <= period:
                yield bucket

    def prune(self, period: int) -> None:
        """Free the buckets that left the window whose newest bucket is ``period``, except the open one.

        The open bucket may not have moved up to the coarser windows yet; it goes when the series
        hands it up.
        """
        oldest = period - len(self.buckets) + 1
        for slot, bucket in enumerate(self.buckets):
            if bucket is not None and (bucket_period := period_of(bucket)) < oldest and bucket_period != self.open:
                self.buckets[slot] = None
