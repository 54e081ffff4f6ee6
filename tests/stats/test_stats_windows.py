"""Sliding windows driven by an injected clock: expiry, rate, error ratio, and agreement with exact figures."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from ddsketch import LogCollapsingLowestDenseDDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.stats import WINDOWS, Observation, SeriesStats, Stats, StatsConfig

from .conftest import T0, FakeClock

ALPHA = StatsConfig().relative_accuracy


def request(duration: float = 0.1, *, error: bool = False, route: str = "/cart", method: str = "GET") -> Observation:
    return Observation("request", "shop", route, method, duration, error, "5xx" if error else "2xx")


def counts(stats: Stats) -> dict[str, int]:
    return {window.name: stats.lookup("shop", "/cart", window.name).count for window in WINDOWS}


def test_data_leaves_the_1m_window_after_60_s_but_stays_in_5m_and_1h(stats: Stats, clock: FakeClock) -> None:
    stats.record(request())
    clock.advance(59.9)
    assert counts(stats) == {"1m": 1, "5m": 1, "1h": 1}
    clock.advance(0.1)
    assert counts(stats) == {"1m": 0, "5m": 1, "1h": 1}
    clock.advance(240)
    assert counts(stats) == {"1m": 0, "5m": 0, "1h": 1}
    clock.advance(3300)
    assert counts(stats) == {"1m": 0, "5m": 0, "1h": 0}


def test_a_window_never_holds_data_older_than_its_length(stats: Stats, clock: FakeClock) -> None:
    clock.advance(9.5)  # late in the first 10 s bucket: the bucket leaves 50.5 s later
    stats.record(request())
    clock.advance(50.4)
    assert counts(stats)["1m"] == 1
    clock.advance(0.1)
    assert counts(stats)["1m"] == 0


def test_windows_survive_the_buckets_moving_up_while_recording_continues(stats: Stats, clock: FakeClock) -> None:
    for _ in range(40):  # one observation every 10 s for 400 s: every bucket closes and moves up
        stats.record(request())
        clock.advance(10)
    # At T0+400: the 1m window starts at T0+350, the 5m window at the minute edge T0+120.
    assert counts(stats) == {"1m": 5, "5m": 28, "1h": 40}


def test_rate_is_per_second_over_the_covered_part_of_the_window(stats: Stats, clock: FakeClock) -> None:
    stats.record_many([request()] * 120)
    clock.advance(30)
    assert stats.lookup("shop", "/cart", "1m").rate == pytest.approx(4.0)  # started 30 s ago
    assert stats.lookup("shop", "/cart", "1h").rate == pytest.approx(4.0)
    clock.advance(3600)
    stats.record_many([request()] * 60)
    clock.advance(55)
    assert stats.lookup("shop", "/cart", "1m").rate == pytest.approx(60 / 55)  # 1m window started 55 s ago
    # The 5m window at T0+3685 starts at the minute edge T0+3420.
    assert stats.lookup("shop", "/cart", "5m").rate == pytest.approx(60 / 265)


def test_rate_right_after_start_is_averaged_over_at_least_a_second(stats: Stats) -> None:
    stats.record_many([request()] * 10)
    assert stats.lookup("shop", "/cart", "1m").rate == pytest.approx(10.0)


def test_error_ratio_over_each_window(stats: Stats, clock: FakeClock) -> None:
    stats.record_many([request(error=True)] * 3 + [request()] * 7)
    clock.advance(120)
    stats.record_many([request(error=True)] * 10)
    assert stats.lookup("shop", "/cart", "1m").error_ratio == pytest.approx(1.0)
    assert stats.lookup("shop", "/cart", "5m").error_ratio == pytest.approx(13 / 20)
    assert stats.lookup("shop", "/cart", "1h").error_ratio == pytest.approx(13 / 20)


def test_empty_window_has_no_quantiles_or_error_ratio(stats: Stats, clock: FakeClock) -> None:
    stats.record(request())
    clock.advance(61)
    result = stats.lookup("shop", "/cart", "1m")
    assert (result.count, result.rate, result.error_ratio, result.p50, result.p99) == (0, 0.0, None, None, None)


def test_quantiles_are_seconds_within_the_relative_accuracy(stats: Stats) -> None:
    durations = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1 s
    random.Random(7).shuffle(durations)
    stats.record_many(request(d) for d in durations)
    result = stats.lookup("shop", "/cart", "5m")
    for value, exact in ((result.p50, 0.5), (result.p95, 0.95), (result.p99, 0.99)):
        assert value == pytest.approx(exact, rel=ALPHA)


def test_a_clock_stepping_back_does_not_rewrite_newer_buckets(stats: Stats, clock: FakeClock) -> None:
    clock.advance(100)
    stats.record(request())
    clock.advance(-95)
    stats.record(request())
    assert counts(stats) == {"1m": 2, "5m": 2, "1h": 2}


def test_an_idle_series_keeps_only_packed_buckets_and_the_same_figures(stats: Stats, clock: FakeClock) -> None:
    def figures() -> list[tuple]:
        return [(r.count, r.error_ratio, r.p50, r.p95, r.p99) for r in map(lookup, ("5m", "1h"))]

    def lookup(window: str) -> SeriesStats:
        return stats.lookup("shop", "/cart", window)

    stats.record_many([request(0.1)] * 5 + [request(0.3, error=True)] * 5)
    before = figures()
    clock.advance(60)  # the idle sweep runs on the first read 60 s after start
    after = figures()
    assert stats._series[("request", "shop", "/cart", "GET")].open is None  # packed by the sweep
    assert after == before == [(10, 0.5, *[pytest.approx(v, rel=ALPHA) for v in (0.1, 0.3, 0.3)])] * 2


def test_a_spread_beyond_the_bin_limit_blurs_only_the_lowest_values(stats: Stats) -> None:
    stats.record_many([request(1e-9)] * 10 + [request(5.0)] * 990)  # a 5e9 spread: the lowest bins collapse
    result = stats.lookup("shop", "/cart", "1m")
    assert result.p50 == pytest.approx(5.0, rel=ALPHA)
    assert result.p99 == pytest.approx(5.0, rel=ALPHA)
    assert stats.query(window="1m")[0].count == 1000


def exact_lower(values: list[float], q: float) -> float:
    """The rank-based quantile DDSketch estimates: the element at floor(q * (n - 1)) of the sorted values."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


# A 1e8 spread fits the 1024 bins of a bucket sketch at 1 % (8e8); wider spreads collapse the lowest bins.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e-5, max_value=1e3, allow_nan=False), min_size=1, max_size=500))
def test_sketch_quantiles_are_within_relative_accuracy_of_exact_rank_quantiles(values: list[float]) -> None:
    stats = Stats(clock=FakeClock())
    stats.record_many(request(v) for v in values)
    result = stats.lookup("shop", "/cart", "1m")
    for value, q in ((result.p50, 0.5), (result.p95, 0.95), (result.p99, 0.99)):
        exact = exact_lower(values, q)
        assert value is not None
        assert abs(value - exact) <= ALPHA * exact * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-5, max_value=100, allow_nan=False), min_size=1, max_size=300),
    st.lists(st.integers(min_value=0, max_value=299), max_size=10),
)
def test_merged_bucket_sketches_equal_one_sketch_of_all_data(values: list[float], cuts: list[int]) -> None:
    whole = LogCollapsingLowestDenseDDSketch(ALPHA, 1024)
    merged = LogCollapsingLowestDenseDDSketch(ALPHA, 1024)
    edges = sorted({0, len(values), *(c for c in cuts if c < len(values))})
    for start, end in itertools.pairwise(edges):
        part = LogCollapsingLowestDenseDDSketch(ALPHA, 1024)
        for value in values[start:end]:
            part.add(value)
            whole.add(value)
        merged.merge(part)
    assert merged.count == whole.count == len(values)
    for q in (0.5, 0.95, 0.99):
        assert merged.get_quantile_value(q) == whole.get_quantile_value(q)
        exact = exact_lower(values, q)
        assert abs(merged.get_quantile_value(q) - exact) <= ALPHA * exact * (1 + 1e-9)


def events(durations: st.SearchStrategy[float]) -> st.SearchStrategy[list[tuple]]:
    return st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=400, allow_nan=False),  # seconds before this step
            durations,
            st.booleans(),  # error
            st.sampled_from(["GET", "POST"]),
            st.booleans(),  # read every window after this step
        ),
        min_size=1,
        max_size=60,
    )


@settings(max_examples=150, deadline=None)
@given(events(st.floats(min_value=1e-4, max_value=10, allow_nan=False)))
def test_windows_hold_exactly_the_observations_of_their_buckets(steps: list[tuple]) -> None:
    replay_against_oracle(steps)


# From 1e-9 to 1e4 s, and zeros: past the bin limit, so buckets fold their lowest bins separately.
@settings(max_examples=100, deadline=None)
@given(events(st.one_of(st.just(0.0), st.floats(min_value=-9, max_value=4).map(lambda exponent: 10**exponent))))
def test_windows_past_the_bin_limit_answer_as_one_library_sketch_of_their_observations(steps: list[tuple]) -> None:
    replay_against_oracle(steps)


def replay_against_oracle(steps: list[tuple]) -> None:
    clock = FakeClock(T0 + 3.7)
    stats = Stats(clock=clock)
    seen: list[tuple[float, float, bool]] = []
    for seconds, duration, error, method, read in steps:
        clock.advance(seconds)
        stats.record(request(duration, error=error, method=method))
        seen.append((clock.now, duration, error))
        if read:
            check_against_oracle(stats, clock.now, seen)
    clock.advance(200)
    check_against_oracle(stats, clock.now, seen)


def check_against_oracle(stats: Stats, now: float, seen: list[tuple[float, float, bool]]) -> None:
    for window in WINDOWS:
        oldest = (math.floor(now / window.width) - window.buckets + 1) * window.width
        inside = [(d, e) for t, d, e in seen if t >= oldest]
        result = stats.lookup("shop", "/cart", window.name)
        assert result.count == len(inside), window.name
        if not inside:
            assert result.p50 is None
            continue
        assert result.error_ratio == pytest.approx(sum(e for _, e in inside) / len(inside))
        reference = LogCollapsingLowestDenseDDSketch(ALPHA, 1024)
        for duration, _ in inside:
            reference.add(duration)
        assert (result.p50, result.p95, result.p99) == tuple(reference.get_quantile_value(q) for q in (0.5, 0.95, 0.99))
