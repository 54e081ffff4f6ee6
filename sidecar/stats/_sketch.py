"""DDSketch bins kept compact: one mutable open bucket per series, every other bucket one ``bytes``.

The index/value mapping is ddsketch's ``LogarithmicMapping``, so the relative-error guarantee is the
library's; only the store is ours. Like the library's ``CollapsingLowestDenseStore``, a sketch keeps
at most ``bin_limit`` bins: every key below ``max key - bin_limit + 1`` counts in that lowest bin.
That rule depends only on the keys seen, not on the order of adds and merges, so buckets folded
separately and merged later answer exactly as one library sketch of all their values would.

A closed bucket is ``HEADER`` (period, zero count, error count, first key, count type code) then its
counts, one per key from the first to the last key seen, 1, 2, 4 or 8 bytes each, whichever the
largest count needs: 62 bytes per bucket besides the counts, and no Python object per bin.
Reads unpack them in place (``memoryview.cast``) and add them up with one slice operation each.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from operator import add

from ddsketch import LogarithmicMapping

# period, zero count, error count, first key, count type code
HEADER = struct.Struct("<qQQic")
_PERIOD = struct.Struct("<q")

# A bucket as merge and pack read it: first key, counts from the first key on, zero count, errors.
Part = tuple[int, Sequence[int], int, int]


def period_of(bucket: bytes) -> int:
    """The period number a packed bucket belongs to."""
    return _PERIOD.unpack_from(bucket)[0]


def unpack(bucket: bytes) -> Part:
    """The counts of a packed bucket, read in place (no copy)."""
    _, zeros, errors, first, code = HEADER.unpack_from(bucket)
    return first, memoryview(bucket)[HEADER.size :].cast(code.decode()), zeros, errors


def relabel(bucket: bytes, period: int) -> bytes:
    """The same bucket under another period number: a finer bucket that starts a coarser one."""
    return _PERIOD.pack(period) + bucket[_PERIOD.size :]


# Unsigned array type codes, narrowest first: counts take the narrowest their largest count fits.
_CODES = "BHIQ"
_LIMITS = [(code, 1 << 8 * array(code).itemsize) for code in _CODES]


def _type_code(counts: Sequence[int]) -> str:
    top = max(counts, default=0)
    return next(code for code, limit in _LIMITS if top < limit)


def pack(period: int, part: Part) -> bytes:
    """A closed bucket as one bytes object (see the module docstring)."""
    first, counts, zeros, errors = part
    code = _type_code(counts)
    return HEADER.pack(period, zeros, errors, first, code.encode()) + array(code, counts).tobytes()


class Merged:
    """Several buckets added up, bins folded at the bin limit: what a window read or a hand-up computes."""

    __slots__ = ("counts", "errors", "first", "zeros")

    def __init__(self, parts: Sequence[Part], bin_limit: int, span: tuple[int, int] | None = None) -> None:
        """Add up ``parts``; ``span``: the (lowest, highest) keys to cover instead of those of ``parts``."""
        self.zeros = sum(part[2] for part in parts)
        self.errors = sum(part[3] for part in parts)
        filled = [(first, counts) for first, counts, _, _ in parts if len(counts)]
        if span is not None:
            floor, last = span
        elif filled:
            last = max(first + len(counts) - 1 for first, counts in filled)
            floor = max(min(first for first, _ in filled), last - bin_limit + 1)
        else:
            self.first, self.counts = 0, []
            return
        total = [0] * (last - floor + 1)
        for first, counts in filled:
            cut = floor - first
            if cut > 0:  # keys below the floor: folded into the lowest bin
                total[0] += sum(counts[:cut])
                first, counts = floor, counts[cut:]
            start = first - floor
            end = start + len(counts)
            # One slice operation in C per bucket: merges are most of a scrape's time.
            total[start:end] = map(add, total[start:end], counts)
        self.first, self.counts = floor, total

    @property
    def count(self) -> int:
        """Values counted, zeros included."""
        return sum(self.counts) + self.zeros

    def part(self) -> Part:
        """These bins as a Part, to pack or merge again."""
        return self.first, self.counts, self.zeros, self.errors

    def quantiles(self, mapping: LogarithmicMapping, qs: Sequence[float]) -> tuple[float, ...] | None:
        """What ddsketch's ``get_quantile_value`` answers for each of ``qs``, in one pass; None when empty."""
        count = self.count
        if count == 0:
            return None
        cumulative = list(accumulate(self.counts))  # the running counts key_at_rank adds up, in C
        result = []
        for q in qs:
            rank = q * (count - 1)
            if rank < self.zeros:
                result.append(0.0)
                continue
            # The first bin whose running count exceeds the rank, as the library's key_at_rank.
            index = min(bisect_right(cumulative, rank - self.zeros), len(cumulative) - 1)
            result.append(mapping.value(self.first + index))
        return tuple(result)


class OpenBucket:
    """The one bucket still written to: dense counts from key ``first``, folded at the bin limit.

    At most ``bin_limit`` counts, one byte each until a count needs more: a bound (whatever the
    values) that a dict of keys would not give, and a quarter of the memory of 32-bit counts.
    """

    __slots__ = ("bin_limit", "counts", "errors", "first", "key", "min_possible", "period", "zeros")

    def __init__(self, period: int, mapping: LogarithmicMapping, bin_limit: int) -> None:
        self.period = period
        self.key = mapping.key
        self.min_possible = mapping.min_possible
        self.bin_limit = bin_limit
        self.first = 0
        self.counts = array("B")
        self.zeros = 0
        self.errors = 0

    def add(self, value: float, error: bool) -> None:
        """Count one duration (seconds, >= 0)."""
        if value > self.min_possible:
            index = self.key(value) - self.first
            if not 0 <= index < len(self.counts):
                index = self._grow(index + self.first)
            try:
                self.counts[index] += 1
            except OverflowError:  # a count outgrew its type: widen every count
                wider = _CODES[_CODES.index(self.counts.typecode) + 1]
                self.counts = array(wider, self.counts)
                self.counts[index] += 1
        else:  # zero, as the library counts values too small to map
            self.zeros += 1
        if error:
            self.errors += 1

    def part(self) -> Part:
        """These bins as a Part, to pack or merge."""
        return self.first, self.counts, self.zeros, self.errors

    def _grow(self, key: int) -> int:
        """Widen the range to take ``key``, folding what falls below the bin limit; ``key``'s index."""
        counts = self.counts
        if not counts:
            self.first = key
            last = floor = key
        else:
            last = max(self.first + len(counts) - 1, key)
            floor = max(min(self.first, key), last - self.bin_limit + 1)
        if floor != self.first or last - floor + 1 != len(counts):
            # Rare (a new lowest or highest key), so built as a list, sized by its largest count.
            grown = Merged([self.part()], self.bin_limit, (floor, last)).counts
            self.first, self.counts = floor, array(_type_code(grown), grown)
        return max(key, floor) - floor


class Sketches:
    """What every bucket of one ``Stats`` shares: the library's mapping and the bin limit."""

    __slots__ = ("bin_limit", "mapping")

    def __init__(self, relative_accuracy: float, bin_limit: int) -> None:
        self.mapping = LogarithmicMapping(relative_accuracy)
        self.bin_limit = bin_limit

    def open(self, period: int) -> OpenBucket:
        """An empty bucket to write to."""
        return OpenBucket(period, self.mapping, self.bin_limit)

    def reopen(self, period: int, part: Part) -> OpenBucket:
        """An open bucket holding ``part``'s bins, to count more into."""
        bucket = self.open(period)
        first, counts, zeros, errors = part
        if len(counts):
            bucket.first, bucket.counts = first, array(_type_code(counts), counts)
        bucket.zeros, bucket.errors = zeros, errors
        return bucket

    def merge(self, parts: Sequence[Part]) -> Merged:
        """``parts`` added up, as one library sketch of all their values would hold them."""
        return Merged(parts, self.bin_limit)
