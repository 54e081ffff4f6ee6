"""The Prometheus collector: families, label sets and values as a scrape sees them, checked by promtool."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from sidecar.stats import Observation, Stats, StatsCollector, StatsConfig

from .conftest import FakeClock

PROMTOOL = shutil.which("promtool")

FAMILIES = {
    "sidecar_request_duration_seconds": ("histogram", {"service", "route", "method", "status_class"}),
    "sidecar_dependency_duration_seconds": ("histogram", {"dependency", "status_class"}),
    "sidecar_request_latency_seconds": ("summary", {"service", "route", "quantile", "window"}),
    "sidecar_request_error_ratio": ("gauge", {"service", "route", "window"}),
    "sidecar_dependency_latency_seconds": ("summary", {"dependency", "quantile", "window"}),
    "sidecar_dependency_error_ratio": ("gauge", {"dependency", "window"}),
    "sidecar_stats_series": ("gauge", {"kind"}),
    "sidecar_stats_series_dropped": ("counter", set()),
}


def scrape(stats: Stats) -> str:
    registry = CollectorRegistry()
    registry.register(stats.collector())
    return generate_latest(registry).decode()


def busy_stats(clock: FakeClock) -> Stats:
    stats = Stats(StatsConfig(max_series=4), clock=clock)
    stats.record_many(
        Observation("request", "shop", "/cart", "GET", i / 1000, i % 10 == 0, "2xx") for i in range(1, 101)
    )
    stats.record_many(Observation("request", "shop", "/cart", "POST", 0.2, True, "5xx") for _ in range(10))
    stats.record(Observation("request", "billing", "charge", "log", 0.05, False, "ok"))
    stats.record_many(Observation("dependency", "postgresql", "", "", 0.004, False, "ok") for _ in range(5))
    stats.record(Observation("request", "shop", "/overflow", "GET", 0.05, False, "2xx"))  # over the cap
    return stats


def test_every_family_with_its_label_names(clock: FakeClock) -> None:
    families = {f.name: f for f in text_string_to_metric_families(scrape(busy_stats(clock)))}
    assert {name: family.type for name, family in families.items()} == {n: t for n, (t, _) in FAMILIES.items()}
    for name, (_, labels) in FAMILIES.items():
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_histograms_are_cumulative_per_method_and_status_class(clock: FakeClock) -> None:
    families = {f.name: f for f in text_string_to_metric_families(scrape(busy_stats(clock)))}
    samples = families["sidecar_request_duration_seconds"].samples
    get = {"service": "shop", "route": "/cart", "method": "GET", "status_class": "2xx"}
    le = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket") and s.labels.items() > get.items()}
    assert (le["0.001"], le["0.01"], le["0.1"], le["+Inf"]) == (1, 10, 100, 100)
    count = [s.value for s in samples if s.name.endswith("_count") and s.labels == get]
    assert count == [100]
    post = {"service": "shop", "route": "/cart", "method": "POST", "status_class": "5xx"}
    assert [s.value for s in samples if s.name.endswith("_sum") and s.labels == post] == [pytest.approx(2.0)]
    overflow = {"service": "other", "route": "other", "method": "other", "status_class": "2xx"}
    assert [s.value for s in samples if s.name.endswith("_count") and s.labels == overflow] == [1]


def test_windowed_gauges_merge_methods_per_route(clock: FakeClock) -> None:
    families = {f.name: f for f in text_string_to_metric_families(scrape(busy_stats(clock)))}
    latency = families["sidecar_request_latency_seconds"].samples
    cart = [s for s in latency if s.labels["route"] == "/cart"]
    assert {(s.labels["quantile"], s.labels["window"]) for s in cart} == {
        (q, w) for q in ("0.5", "0.95", "0.99") for w in ("1m", "5m", "1h")
    }
    p99 = next(s.value for s in cart if s.labels["quantile"] == "0.99" and s.labels["window"] == "5m")
    assert p99 == pytest.approx(0.2, rel=0.01)
    errors = {
        s.labels["window"]: s.value
        for s in families["sidecar_request_error_ratio"].samples
        if s.labels["route"] == "/cart"
    }
    assert errors == {"1m": pytest.approx(20 / 110), "5m": pytest.approx(20 / 110), "1h": pytest.approx(20 / 110)}
    dependency = families["sidecar_dependency_latency_seconds"].samples
    assert {s.labels["dependency"] for s in dependency} == {"postgresql"}
    assert families["sidecar_stats_series_dropped"].samples[0].value == 1


def test_empty_windows_expose_no_gauge_samples(clock: FakeClock) -> None:
    stats = busy_stats(clock)
    clock.advance(61)
    families = {f.name: f for f in text_string_to_metric_families(scrape(stats))}
    windows = {s.labels["window"] for s in families["sidecar_request_latency_seconds"].samples}
    assert windows == {"5m", "1h"}
    assert {s.labels["window"] for s in families["sidecar_request_error_ratio"].samples} == {"5m", "1h"}


def test_openmetrics_exposition_parses(clock: FakeClock) -> None:
    registry = CollectorRegistry()
    registry.register(StatsCollector(busy_stats(clock)))
    names = {family.name for family in parse_openmetrics(generate_openmetrics(registry).decode())}
    assert names == set(FAMILIES)


def test_registering_does_not_compute_a_scrape(clock: FakeClock) -> None:
    stats = busy_stats(clock)
    collector = StatsCollector(stats)
    assert all(not family.samples for family in collector.describe())
    CollectorRegistry(auto_describe=True).register(collector)


@pytest.mark.parametrize("populated", [True, False], ids=["populated", "empty"])
def test_promtool_finds_nothing_to_report(clock: FakeClock, populated: bool) -> None:
    if PROMTOOL is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("SKIPPING PROMTOOL TEST: promtool is absent (apt-get install prometheus)")
    text = scrape(busy_stats(clock) if populated else Stats(clock=clock))
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""
