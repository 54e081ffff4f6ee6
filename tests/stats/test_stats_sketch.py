"""The compact bucket store answers exactly as ddsketch's own bounded sketch does."""

from __future__ import annotations

import math
import sys

import pytest
from ddsketch import LogCollapsingLowestDenseDDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.stats import QUANTILES, Observation
from sidecar.stats._sketch import HEADER, OpenBucket, Sketches, pack, period_of, relabel, unpack

sketches = Sketches(0.01, 1024)

durations = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-7, max_value=1e4, allow_nan=False)), min_size=1, max_size=400
)
# Values from 1e-9 to 1e4: far more than the 1024 bins a bucket keeps at 1 %.
wide = st.lists(st.floats(min_value=-9, max_value=4).map(lambda exponent: 10**exponent), min_size=1, max_size=40)


def reference(values: list[float]) -> LogCollapsingLowestDenseDDSketch:
    sketch = LogCollapsingLowestDenseDDSketch(0.01, 1024)
    for value in values:
        sketch.add(value)
    return sketch


def bucket(values: list[float], period: int = 7, errors: int = 0) -> OpenBucket:
    opened = sketches.open(period)
    for index, value in enumerate(values):
        opened.add(value, index < errors)
    return opened


def library_quantiles(sketch: LogCollapsingLowestDenseDDSketch, qs: tuple[float, ...] = QUANTILES) -> tuple:
    return tuple(sketch.get_quantile_value(q) for q in qs)


@settings(max_examples=300, deadline=None)
@given(durations)
def test_one_pass_quantiles_equal_the_library_quantiles(values: list[float]) -> None:
    merged = sketches.merge([bucket(values).part()])
    assert merged.quantiles(sketches.mapping, QUANTILES) == library_quantiles(reference(values))
    assert merged.count == len(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(durations, min_size=1, max_size=6))
def test_packed_buckets_merge_like_the_library(buckets: list[list[float]]) -> None:
    packed = [pack(period, bucket(values).part()) for period, values in enumerate(buckets)]
    merged = sketches.merge([unpack(b) for b in packed])
    everything = reference([v for values in buckets for v in values])
    assert merged.quantiles(sketches.mapping, QUANTILES) == library_quantiles(everything)
    assert merged.count == everything.count


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(wide, st.booleans()), min_size=2, max_size=5))
def test_buckets_past_the_bin_limit_collapse_exactly_like_the_library(parts: list[tuple[list[float], bool]]) -> None:
    theirs = LogCollapsingLowestDenseDDSketch(0.01, 1024)
    ours = []
    for values, packed in parts:
        opened = bucket(values)
        ours.append(unpack(pack(0, opened.part())) if packed else opened.part())
        theirs.merge(reference(values))
    qs = (0.0, 0.01, 0.5, 0.99, 1.0)
    assert sketches.merge(ours).quantiles(sketches.mapping, qs) == library_quantiles(theirs, qs)


@settings(max_examples=200, deadline=None)
@given(wide)
def test_the_open_bucket_keeps_at_most_the_bin_limit_and_answers_like_the_library(values: list[float]) -> None:
    opened = bucket(values)
    assert len(opened.counts) <= 1024
    qs = (0.0, 0.01, 0.5, 0.99, 1.0)
    assert sketches.merge([opened.part()]).quantiles(sketches.mapping, qs) == library_quantiles(reference(values), qs)


def test_a_packed_bucket_keeps_period_counts_and_errors() -> None:
    opened = bucket([0.0, 0.01, 0.01, 0.5], period=123_456_789, errors=3)
    packed = pack(opened.period, opened.part())
    first, counts, zeros, errors = unpack(packed)
    assert (period_of(packed), zeros, errors, sum(counts)) == (123_456_789, 1, 3, 3)
    assert (first, list(counts)) == (opened.first, list(opened.counts))
    assert period_of(relabel(packed, 5)) == 5 and unpack(relabel(packed, 5))[1:] == unpack(packed)[1:]


@pytest.mark.parametrize(("repeat", "width"), [(255, 1), (256, 2), (70_000, 4)])
def test_counts_take_the_narrowest_type_their_largest_count_fits(repeat: int, width: int) -> None:
    opened = bucket([0.25] * repeat + [0.001, 4.0])
    packed = pack(0, opened.part())
    assert opened.counts.itemsize == width  # the open bucket widens its counts as they grow
    assert len(packed) == HEADER.size + width * len(opened.counts)
    assert sketches.merge([unpack(packed)]).count == repeat + 2


def test_counts_beyond_32_bits_pack_in_8_bytes() -> None:
    packed = pack(0, (-5, [1, 2**40, 3], 0, 2**33))
    first, counts, zeros, errors = unpack(packed)
    assert (first, list(counts), zeros, errors) == (-5, [1, 2**40, 3], 0, 2**33)
    assert len(packed) == HEADER.size + 8 * 3


def test_a_closed_bucket_is_one_bytes_object_of_a_header_and_a_byte_per_bin() -> None:
    values = [sketches.mapping.value(key) for key in range(-200, -100)]  # one value in each of 100 bins
    packed = pack(0, bucket(values).part())
    assert sys.getsizeof(packed) == sys.getsizeof(b"") + HEADER.size + 100


def test_an_empty_merge_has_no_quantiles() -> None:
    assert sketches.merge([]).quantiles(sketches.mapping, QUANTILES) is None
    assert sketches.merge([bucket([]).part()]).count == 0


@pytest.mark.parametrize("duration", [-0.001, math.nan, math.inf])
def test_an_observation_cannot_carry_a_duration_a_sketch_cannot_bin(duration: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        Observation("request", "shop", "/", "GET", duration, False, "ok")
