"""Prometheus metrics of error tracking."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.errortracking import ErrorTracker, ErrorTrackingCollector, Status, TrackerLimits

from .factories import Clock, occurrence


def scrape(registry: CollectorRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = generate_latest(registry).decode()
    return {
        family.name: {tuple(sorted(sample.labels.items())): sample.value for sample in family.samples}
        for family in text_string_to_metric_families(text)
    }


def test_groups_by_status_and_errors_by_service_and_category() -> None:
    tracker = ErrorTracker(TrackerLimits(max_metric_services=2), clock=Clock())
    registry = CollectorRegistry()
    registry.register(ErrorTrackingCollector(tracker))
    assert scrape(registry)["sidecar_error_groups"] == {
        (("status", status),): 0.0 for status in ("unresolved", "resolved", "ignored")
    }
    events = tracker.record(
        [
            occurrence(message="connection refused", service="api"),
            occurrence(message="connection refused", service="api"),
            occurrence(message="card declined", service="billing"),
            occurrence(message="request timed out", service="worker"),
            occurrence(message="request timed out", service=None),
        ]
    )
    tracker.set_status(events[1].group_id, "resolved")
    metrics = scrape(registry)
    assert metrics["sidecar_error_groups"][(("status", "unresolved"),)] == 2
    assert metrics["sidecar_error_groups"][(("status", "resolved"),)] == 1
    assert metrics["sidecar_errors"] == {
        (("category", "network"), ("service", "api")): 2,
        (("category", "payment"), ("service", "billing")): 1,
        (("category", "timeout"), ("service", "other")): 1,
        (("category", "timeout"), ("service", "unknown")): 1,
    }
    assert "sidecar_errors_total{" in generate_latest(registry).decode()


def test_registering_does_not_scan_the_groups() -> None:
    class Exploding(ErrorTracker):
        def status_counts(self) -> dict[Status, int]:
            raise AssertionError("scanned at registration")

    registry = CollectorRegistry(auto_describe=True)
    registry.register(ErrorTrackingCollector(Exploding()))
