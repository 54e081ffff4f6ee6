"""The sidecar's own telemetry: structured logs, traces and Prometheus metrics."""

from ._labels import BoundedLabel
from ._logging import configure_logging
from ._metrics import HTTP_BUCKETS, HttpMetrics, new_registry
from ._tracing import create_tracer_provider

__all__ = ["HTTP_BUCKETS", "BoundedLabel", "HttpMetrics", "configure_logging", "create_tracer_provider", "new_registry"]
