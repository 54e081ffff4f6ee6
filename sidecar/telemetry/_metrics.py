"""The application-owned Prometheus registry and the sidecar's own HTTP metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector

from sidecar import __version__

# From 1 ms to 60 s: the sidecar's own API answers in milliseconds, ingest of a
# large batch against slow storage in seconds.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def new_registry() -> CollectorRegistry:
    """A registry with process, platform and garbage-collector metrics."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """Metrics of the sidecar's own API; ``route`` is the route template, never a raw path."""

    requests: Counter
    duration: Histogram
    in_flight: Gauge
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (labelled children looked up once per method, route and status)."""
        children = self._children.get((method, route, status))
        if children is None:
            children = self._children[(method, route, status)] = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    @classmethod
    def register(cls, registry: CollectorRegistry) -> HttpMetrics:
        """Create the metrics on ``registry``."""
        Gauge("sidecar_build_info", "Build information; always 1.", ["version"], registry=registry).labels(
            __version__
        ).set(1)
        return cls(
            requests=Counter(
                "sidecar_http_requests",
                "HTTP requests answered by the sidecar's API.",
                ["method", "route", "status"],
                registry=registry,
            ),
            duration=Histogram(
                "sidecar_http_request_duration_seconds",
                "Time to answer a request of the sidecar's API.",
                ["method", "route"],
                buckets=HTTP_BUCKETS,
                registry=registry,
            ),
            in_flight=Gauge(
                "sidecar_http_requests_in_flight",
                "Requests of the sidecar's API being answered now.",
                registry=registry,
            ),
        )
