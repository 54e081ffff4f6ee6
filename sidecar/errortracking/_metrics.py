"""Prometheus metrics of error tracking, read from the tracker at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._tracker import ErrorTracker

_GROUPS = ("sidecar_error_groups", "Error groups tracked, by status.")
_ERRORS = ("sidecar_errors", "Error occurrences recorded since start, by service and category.")


class ErrorTrackingCollector(Collector):
    """``sidecar_error_groups{status}`` (gauge) and ``sidecar_errors_total{service,category}`` (counter).

    Register it once: ``registry.register(ErrorTrackingCollector(tracker))``.
    """

    def __init__(self, tracker: ErrorTracker) -> None:
        self._tracker = tracker

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples (so registering does not scan the groups)."""
        return [
            GaugeMetricFamily(*_GROUPS, labels=["status"]),
            CounterMetricFamily(*_ERRORS, labels=["service", "category"]),
        ]

    def collect(self) -> Iterable[Metric]:
        """The current values."""
        groups = GaugeMetricFamily(*_GROUPS, labels=["status"])
        for status, count in self._tracker.status_counts().items():
            groups.add_metric([status], count)
        errors = CounterMetricFamily(*_ERRORS, labels=["service", "category"])
        for (service, category), count in sorted(self._tracker.error_totals().items()):
            errors.add_metric([service, category], count)
        return [groups, errors]
