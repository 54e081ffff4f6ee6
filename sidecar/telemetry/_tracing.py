"""OpenTelemetry tracing of the sidecar's own request handling."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from sidecar import __version__
from sidecar.config import TracingConfig


def create_tracer_provider(
    config: TracingConfig, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """An application-owned provider; it exports over OTLP/HTTP only when an endpoint is set.

    The provider is not installed globally, so several apps (tests, replicas in
    one process) keep their spans apart.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": "sidecar", "service.version": __version__}),
        sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
    )
    if config.otlp_endpoint:
        # Imported here: the exporter pulls in requests, needed only when exporting.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        headers = {name: value.get_secret_value() for name, value in config.headers.items()}
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=headers))
        )
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return provider
