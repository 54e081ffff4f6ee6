"""Prometheus exposition of the statistics: a collector the app registers on its own registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ._model import KINDS, QUANTILES, SeriesStats
from ._series import DURATION_BUCKETS, HistogramRow

if TYPE_CHECKING:  # Stats hands out collectors: a runtime import would be circular
    from ._stats import Stats

_BOUNDS = [floatToGoString(bound) for bound in DURATION_BUCKETS] + ["+Inf"]
_QUANTILE_LABELS = [str(q) for q in QUANTILES]


class _Families:
    """The metric families of one scrape (empty ones are still valid exposition: HELP and TYPE only).

    Quantile families carry labels (service, route | dependency, quantile, window).
    """

    def __init__(self) -> None:
        self.request_duration = HistogramMetricFamily(
            "sidecar_request_duration_seconds",
            "Duration of requests (server spans, timed log records) since start; aggregate across replicas.",
            labels=["service", "route", "method", "status_class"],
        )
        self.dependency_duration = HistogramMetricFamily(
            "sidecar_dependency_duration_seconds",
            "Duration of calls to dependencies (client spans) since start; aggregate across replicas.",
            labels=["dependency", "status_class"],
        )
        self.request_latency = _quantiles(
            "sidecar_request_latency_seconds", "Request duration quantiles over a sliding window, methods merged."
        )
        self.request_errors = GaugeMetricFamily(
            "sidecar_request_error_ratio",
            "Fraction of requests that failed over a sliding window, methods merged.",
            labels=["service", "route", "window"],
        )
        self.dependency_latency = _quantiles(
            "sidecar_dependency_latency_seconds", "Dependency call duration quantiles over a sliding window."
        )
        self.dependency_errors = GaugeMetricFamily(
            "sidecar_dependency_error_ratio",
            "Fraction of dependency calls that failed over a sliding window.",
            labels=["dependency", "window"],
        )
        self.series = GaugeMetricFamily("sidecar_stats_series", "Series held by the statistics.", labels=["kind"])
        self.dropped = CounterMetricFamily(
            "sidecar_stats_series_dropped",
            "Distinct series refused by the cardinality cap; their data is counted in the 'other' series.",
        )

    def all(self) -> list[Metric]:
        return [
            self.request_duration,
            self.dependency_duration,
            self.request_latency,
            self.request_errors,
            self.dependency_latency,
            self.dependency_errors,
            self.series,
            self.dropped,
        ]

    def add_histogram(self, row: HistogramRow) -> None:
        buckets = list(zip(_BOUNDS, map(float, row.cumulative), strict=True))
        if row.kind == "request":
            labels = [row.service, row.route, row.method, row.status_class]
            self.request_duration.add_metric(labels, buckets, row.total)
        else:
            self.dependency_duration.add_metric([row.service, row.status_class], buckets, row.total)

    def add_window(self, stats: SeriesStats) -> None:
        if stats.count == 0:
            return  # no quantile or ratio of nothing; an absent sample reads as "no data" in PromQL
        values = (stats.p50, stats.p95, stats.p99)
        if stats.kind == "request":
            names = {"service": stats.service, "route": stats.route}
            latency, errors = self.request_latency, self.request_errors
        else:
            names = {"dependency": stats.service}
            latency, errors = self.dependency_latency, self.dependency_errors
        for quantile, value in zip(_QUANTILE_LABELS, values, strict=True):
            if value is not None:
                latency.add_sample(latency.name, {**names, "quantile": quantile, "window": stats.window}, value)
        if stats.error_ratio is not None:
            errors.add_metric([*names.values(), stats.window], stats.error_ratio)


def _quantiles(name: str, documentation: str) -> Metric:
    # Typed summary, not gauge: Prometheus reserves the "quantile" label for summaries (promtool
    # rejects it on a gauge), and a client-side windowed quantile is exactly what a summary is.
    # No _count/_sum: in a summary those are counters, and the histogram already carries them.
    return Metric(name, documentation, "summary")


class StatsCollector(Collector):
    """Exposes a :class:`Stats`; register it with ``registry.register(stats.collector())``.

    Histograms are cumulative since start so PromQL can sum them across replicas; the windowed
    gauges are this replica's view and should not be averaged across replicas.
    """

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        """The families without samples, so registering does not compute a scrape."""
        return _Families().all()

    def collect(self) -> Iterator[Metric]:
        """One scrape: histograms, then the windowed gauges of every configured window."""
        families = _Families()
        for row in self._stats.histograms():
            families.add_histogram(row)
        for window in self._stats.config.windows:
            for stats in self._stats.route_stats(window.name):
                families.add_window(stats)
        for kind in KINDS:
            families.series.add_metric([kind], self._stats.series_count(kind))
        families.dropped.add_metric([], self._stats.dropped)
        yield from families.all()
