"""Roll-ups, uptime windows and the unsaved queue of the in-memory probe history."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.probes._history import MAX_PENDING_RESULTS, ProbeHistory, UptimeTally, period_start
from sidecar.probes._model import Rollup, StoredResult
from sidecar.stats import LatencySketch

T0 = 1_700_000_000 // 86400 * 86400  # a UTC midnight
MINUTE, HOUR, DAY = 60, 3600, 86400


def result(
    at: float, ok: bool = True, duration: float = 0.1, *, probe: str = "db", offline: bool = False
) -> StoredResult:
    return StoredResult(probe, at, ok, duration, None if ok else 503, None if ok else "status 503", offline)


def test_period_start_aligns_to_minutes_and_hours() -> None:
    assert period_start(T0 + 125.9, "minute") == T0 + 120
    assert period_start(T0 + 3 * HOUR + 59 * MINUTE + 59.9, "hour") == T0 + 3 * HOUR


def test_uptime_windows_count_minutes_for_a_day_and_hours_beyond() -> None:
    history = ProbeHistory(["db"])
    # 100 days, one run per hour: failures on day 0 (outside every window), on day 60 (only 90d) and now.
    for hour in range(100 * 24):
        at = T0 + hour * HOUR + 30
        history.record(result(at, ok=hour // 24 not in (0, 60) and hour != 100 * 24 - 1))
    now = T0 + (100 * 24 - 1) * HOUR + 40
    uptime = history.uptime("db", now)
    assert uptime["24h"] == 23 / 24  # 24 runs in the last 1,440 minutes, the last one failed
    assert uptime["7d"] == (7 * 24 - 1) / (7 * 24)
    assert uptime["30d"] == (30 * 24 - 1) / (30 * 24)
    assert uptime["90d"] == (90 * 24 - 25) / (90 * 24)  # day 60 is 39 days back: inside


def test_a_window_without_runs_has_no_uptime_and_old_runs_fall_out() -> None:
    history = ProbeHistory(["db"])
    assert history.uptime("db", T0) == {"24h": None, "7d": None, "30d": None, "90d": None}
    history.record(result(T0, ok=False))
    assert history.uptime("db", T0 + DAY - 1)["24h"] == 0.0
    assert history.uptime("db", T0 + DAY)["24h"] is None  # the minute of T0 left the 24 h window
    assert history.uptime("db", T0 + 7 * DAY - 1)["7d"] == 0.0
    assert history.uptime("db", T0 + 7 * DAY)["7d"] is None


def test_offline_failures_count_toward_no_window_but_are_kept_as_results() -> None:
    history = ProbeHistory(["db"])
    history.record(result(T0, ok=True))
    history.record(result(T0 + 5, ok=False, offline=True))
    assert history.uptime("db", T0 + 10)["24h"] == 1.0
    results, rollups = history.drain(T0 + 10)
    assert [r.offline for r in results] == [False, True]
    assert {(r.resolution, r.total) for r in rollups} == {("minute", 1), ("hour", 1)}


def test_drain_hands_out_changed_rollups_once_and_lets_finished_periods_go() -> None:
    history = ProbeHistory(["db", "api"])
    for second in range(0, 120, 10):  # two minutes of db, slow then fast
        history.record(result(T0 + second, duration=0.5 if second < 60 else 0.1))
    history.record(result(T0 + 5, probe="api", ok=False))
    results, rollups = history.drain(T0 + 125)
    assert len(results) == 13
    by_key = {(r.probe, r.resolution, r.start): r for r in rollups}
    assert set(by_key) == {("db", "minute", T0), ("db", "minute", T0 + 60), ("db", "hour", T0),
                           ("api", "minute", T0), ("api", "hour", T0)}  # fmt: skip
    first = by_key[("db", "minute", T0)]
    assert (first.successes, first.total) == (6, 6)
    assert abs(LatencySketch(first.sketch).quantiles((0.5,))[0] - 0.5) < 0.005  # type: ignore[index]
    assert by_key[("api", "hour", T0)].successes == 0 and by_key[("api", "hour", T0)].sketch == b""
    assert history.drain(T0 + 126) == ([], [])  # nothing changed since
    history.record(result(T0 + 130))
    _, rollups = history.drain(T0 + 131)
    assert {(r.resolution, r.start, r.total) for r in rollups} == {("minute", T0 + 120, 1), ("hour", T0, 13)}


def test_a_failed_write_is_requeued_behind_newer_state() -> None:
    history = ProbeHistory(["db"])
    history.record(result(T0))
    results, rollups = history.drain(T0 + 1)
    history.record(result(T0 + 2, ok=False))  # arrives while the write fails
    history.requeue(results, rollups)
    again, latest = history.drain(T0 + 3)
    assert [r.at for r in again] == [T0, T0 + 2]
    assert {(r.resolution, r.successes, r.total) for r in latest} == {("minute", 1, 2), ("hour", 1, 2)}
    history.requeue([], latest)  # a second failure, nothing new: the same state comes back
    assert {(r.resolution, r.total) for r in history.drain(T0 + 4)[1]} == {("minute", 2), ("hour", 2)}


def test_the_pending_results_are_bounded() -> None:
    history = ProbeHistory(["db"])
    for i in range(MAX_PENDING_RESULTS + 5):
        history.record_raw(result(T0 + i * 0.001))
    results, _ = history.drain(T0 + 1000)
    assert len(results) == MAX_PENDING_RESULTS and history.dropped_results == 5
    assert results[0].at == T0 + 5 * 0.001


def test_restore_continues_the_open_periods_and_the_windows() -> None:
    before = ProbeHistory(["db"])
    for second in range(0, 90, 10):
        before.record(result(T0 + HOUR + second, ok=second != 0))
    _, saved = before.drain(T0 + HOUR + 95)
    current = [r for r in saved if r.resolution == "hour" or r.start == T0 + HOUR + 60]
    after = ProbeHistory(["db", "new"])
    after.restore([*saved, Rollup("gone", "hour", T0, 1, 1)], current)
    assert after.uptime("db", T0 + HOUR + 95) == before.uptime("db", T0 + HOUR + 95)
    after.record(result(T0 + HOUR + 100, duration=0.2))
    _, rollups = after.drain(T0 + HOUR + 101)
    hour = next(r for r in rollups if r.resolution == "hour")
    assert (hour.successes, hour.total) == (9, 10)
    assert LatencySketch(hour.sketch).count == 9


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100 * DAY), st.booleans(), st.booleans()), max_size=300),
    st.integers(0, 100 * DAY),
)
def test_uptime_equals_brute_force_counting(runs: list[tuple[int, bool, bool]], now_offset: int) -> None:
    tally = UptimeTally()
    runs = sorted(runs)
    for offset, ok, read_first in runs:
        if read_first:  # reads in between move the running sums forward
            tally.ratios(T0 + offset)
        for resolution in ("minute", "hour"):
            tally.add(resolution, period_start(T0 + offset, resolution), int(ok), 1)  # type: ignore[arg-type]
    newest = T0 + max([0, *(offset for offset, _, _ in runs)])
    for now in sorted({max(T0 + now_offset, newest), newest}):
        ratios = tally.ratios(now)
        for window, (length, seconds) in {"24h": (MINUTE, DAY), "7d": (HOUR, 7 * DAY), "90d": (HOUR, 90 * DAY)}.items():
            first = (now // length) * length + length - seconds
            last = (now // length) * length + length
            inside = [ok for offset, ok, _ in runs if first <= T0 + offset < last]
            assert ratios[window] == (sum(inside) / len(inside) if inside else None), window


def test_an_older_period_never_overwrites_a_newer_one_in_its_slot() -> None:
    tally = UptimeTally()
    tally.add("minute", T0 + DAY, 1, 1)
    tally.add("minute", T0, 0, 1)  # same ring slot, a day older
    assert tally.ratios(T0 + DAY)["24h"] == 1.0


def test_drain_in_chunks_hands_out_every_rollup_once() -> None:
    history = ProbeHistory([f"p{i}" for i in range(5)])
    for i in range(5):
        history.record(result(T0 + i, probe=f"p{i}"))
    chunks = [history.drain(T0 + 10, limit=3) for _ in range(5)]
    assert [len(rollups) for _, rollups in chunks] == [3, 3, 3, 1, 0]
    assert len(chunks[0][0]) == 5 and all(not results for results, _ in chunks[1:])
    keys = [(r.probe, r.resolution) for _, rollups in chunks for r in rollups]
    assert len(keys) == len(set(keys)) == 10
