"""Series bookkeeping: the cardinality cap, forgetting idle series, and the read API."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sidecar.stats import Observation, SeriesStats, Stats, StatsConfig

from .conftest import FakeClock


def request(service: str = "shop", route: str = "/cart", method: str = "GET", duration: float = 0.1) -> Observation:
    return Observation("request", service, route, method, duration, False, "2xx")


def dependency(name: str, duration: float = 0.01, *, error: bool = False) -> Observation:
    return Observation("dependency", name, "", "", duration, error, "error" if error else "ok")


def test_keys_beyond_the_cap_fold_into_other_and_count_as_dropped(clock: FakeClock) -> None:
    stats = Stats(StatsConfig(max_series=3), clock=clock)
    stats.record_many(request(route=f"/r{i}") for i in range(5))
    stats.record_many(request(route=f"/r{i}") for i in range(5))  # refused keys are not counted twice
    rows = {(row.service, row.route, row.method): row.count for row in stats.query(window="1m")}
    assert rows == {("shop", "/r0", "GET"): 2, ("shop", "/r1", "GET"): 2, ("shop", "/r2", "GET"): 2, ("other",) * 3: 4}
    assert stats.dropped == 2
    assert stats.series_count("request") == 4  # the cap plus the "other" series


def test_dependencies_fold_into_an_other_dependency(clock: FakeClock) -> None:
    stats = Stats(StatsConfig(max_series=1), clock=clock)
    stats.record_many([dependency("postgresql"), dependency("redis"), dependency("stripe")])
    assert stats.dependency("other", "1m").count == 2
    assert stats.dropped == 2


def test_a_dependency_really_called_other_does_not_use_up_the_cap(clock: FakeClock) -> None:
    stats = Stats(StatsConfig(max_series=1), clock=clock)
    stats.record_many([dependency("other"), dependency("postgresql")])
    assert (stats.dropped, stats.dependency("postgresql", "1m").count) == (0, 1)
    clock.advance(3700)
    stats.record_many([dependency("redis")])  # the sweep forgot both; room for one again
    assert (stats.dropped, stats.dependency("redis", "1m").count) == (0, 1)


def test_idle_series_are_forgotten_after_the_longest_window(clock: FakeClock) -> None:
    stats = Stats(StatsConfig(max_series=2), clock=clock)
    stats.record_many([request(route="/a"), request(route="/b"), request(route="/c")])
    assert stats.dropped == 1
    clock.advance(1800)
    stats.record(request(route="/a"))
    clock.advance(1801)  # /b and "other" idle for 3601 s, /a for 1801 s
    assert {row.route for row in stats.query(window="1h")} == {"/a"}
    stats.record(request(route="/d"))  # room again
    assert {row.route for row in stats.query(window="1h")} == {"/a", "/d"}
    assert stats.dropped == 1


def test_churn_keeps_the_number_of_series_bounded(clock: FakeClock) -> None:
    stats = Stats(StatsConfig(max_series=50), clock=clock)
    for minute in range(200):
        stats.record_many(request(route=f"/m{minute}/{i}") for i in range(10))
        clock.advance(60)
    assert stats.series_count("request") <= 51


def test_query_filters_and_sorts(stats: Stats) -> None:
    stats.record_many([request(route="/b"), request(route="/a", method="POST"), request(route="/a")])
    stats.record_many([request(service="auth", route="/login"), dependency("postgresql")])
    assert [(r.service, r.route, r.method) for r in stats.query(service="shop")] == [
        ("shop", "/a", "GET"),
        ("shop", "/a", "POST"),
        ("shop", "/b", "GET"),
    ]
    assert [r.route for r in stats.query(route="/login")] == ["/login"]
    assert [r.service for r in stats.query(kind="dependency", window="1h")] == ["postgresql"]
    assert len(stats.query()) == 5


def test_lookup_merges_methods_and_routes(stats: Stats) -> None:
    stats.record_many([request(method="GET", duration=0.1)] * 50 + [request(method="POST", duration=0.3)] * 50)
    stats.record(request(route="/pay", duration=0.2))
    route = stats.lookup("shop", "/cart", "5m")
    assert (route.route, route.method, route.count) == ("/cart", "*", 100)
    assert (route.p50, route.p95) == (pytest.approx(0.1, rel=0.01), pytest.approx(0.3, rel=0.01))
    single = stats.lookup("shop", "/pay", "5m")
    assert (single.method, single.count) == ("GET", 1)
    service = stats.lookup("shop", window="5m")
    assert (service.route, service.count) == ("*", 101)


def test_lookup_of_an_unknown_series_is_a_zero_count(stats: Stats) -> None:
    assert stats.lookup("nobody", "/x", "1m") == SeriesStats(
        "request", "nobody", "/x", "*", "1m", 0, 0.0, None, None, None, None
    )


def test_dependency_by_name(stats: Stats) -> None:
    stats.record_many([dependency("postgresql", 0.004)] * 9 + [dependency("postgresql", 0.5, error=True)])
    result = stats.dependency("postgresql", "1m")
    assert (result.kind, result.service, result.count, result.error_ratio) == ("dependency", "postgresql", 10, 0.1)
    assert result.p50 == pytest.approx(0.004, rel=0.01)


def test_unknown_window_is_refused() -> None:
    with pytest.raises(ValueError, match="1m, 5m, 1h"):
        Stats().query(window="2m")


def test_results_are_json_serialisable(stats: Stats) -> None:
    stats.record(request())
    document = json.loads(json.dumps([dataclasses.asdict(row) for row in stats.query(window="1m")]))
    assert document[0]["p50"] == pytest.approx(0.1, rel=0.01)
    assert document[0]["kind"] == "request"


@pytest.mark.parametrize(
    "fields",
    [{"max_series": 0}, {"relative_accuracy": 0}, {"relative_accuracy": 1}, {"bin_limit": 10}, {"windows": ()}],
)
def test_invalid_config_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StatsConfig(**fields)  # type: ignore[arg-type]


def test_windows_must_nest() -> None:
    from sidecar.stats import Window

    with pytest.raises(ValueError, match="multiple"):
        StatsConfig(windows=(Window("1m", 6, 10.0), Window("5m", 4, 75.0)))
    with pytest.raises(ValueError, match="multiple"):
        StatsConfig(windows=(Window("5m", 5, 60.0), Window("1m", 6, 10.0)))
