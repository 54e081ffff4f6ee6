"""The span as the sidecar keeps it: the OpenTelemetry span data model, flattened.

Every span received over OTLP is decoded into a :class:`SpanRecord` and
redacted before it reaches storage, statistics or error tracking.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
StatusCode = Literal["unset", "ok", "error"]


class SpanEvent(TypedDict):
    """A timestamped event of a span (exceptions are events named ``exception``)."""

    name: str
    ts: int  # Unix nanoseconds
    attributes: dict[str, Any]


class SpanRecord(TypedDict):
    """One normalised, redacted span (JSON-serialisable as it stands)."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None  # 16 lowercase hex digits, None for a root span
    name: str
    kind: SpanKind
    start: int  # Unix nanoseconds
    end: int  # Unix nanoseconds
    duration_ms: float
    status: StatusCode
    status_message: str | None
    service: str | None  # resource attribute service.name
    scope: str | None  # instrumentation scope name
    attributes: dict[str, Any]  # span attributes, OTLP AnyValue mapped to JSON values
    resource: dict[str, Any]  # resource attributes
    events: list[SpanEvent]
