"""Real OTLP requests, built by the OpenTelemetry SDK and its OTLP exporter's encoders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import Logger, LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["SeverityNumber", "export_logs", "export_spans"]


def export_spans(
    record: Callable[[Tracer], None], resource: Mapping[str, Any] | None = None
) -> ExportTraceServiceRequest:
    """The request the OTLP exporter would send for the spans ``record`` produces."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(dict(resource or {"service.name": "checkout"})))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    record(provider.get_tracer("shop.checkout", "1.2.3"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def export_logs(
    record: Callable[[Logger], None], resource: Mapping[str, Any] | None = None
) -> ExportLogsServiceRequest:
    """The request the OTLP exporter would send for the log records ``record`` emits."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create(dict(resource or {"service.name": "checkout"})))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    record(provider.get_logger("shop.checkout"))  # type: ignore[arg-type]
    provider.shutdown()
    return encode_logs(exporter.get_finished_logs())
