"""Flattening an OTLP trace export request into :class:`~sidecar.traces.SpanRecord` dicts.

Attribute values map as :func:`~sidecar.otlp._values.json_value` says (bytes as
base64 text). ``resource`` holds every resource attribute, ``service.name``
included, and ``service`` repeats that name when it is a non-empty string.
Span links, trace state, flags and the dropped-counts are dropped: the span
model has no place for them and nothing the sidecar computes reads them.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from sidecar.ingest import MAX_TIME_NS
from sidecar.traces import SpanEvent, SpanKind, SpanRecord, StatusCode

from ._values import attributes_of, hex_id, service_of

# Indexed by the OTLP enum numbers; numbers this proto version does not know map to the first.
_KINDS: tuple[SpanKind, ...] = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUSES: tuple[StatusCode, ...] = ("unset", "ok", "error")


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[SpanRecord], list[str]]:
    """The valid spans of ``request`` (not yet redacted) and one reason per invalid span.

    A span is invalid when its trace id is not 16 bytes or all zero, its span id
    not 8 bytes or all zero, its parent span id neither empty nor 8 bytes, its
    start time missing or its end before its start. Invalid spans never cost
    their valid siblings (OTLP partial success). Reasons name the span by its
    position, e.g. ``resource_spans[0].scope_spans[1].spans[7]: trace_id: ...``,
    and never quote a value.
    """
    spans: list[SpanRecord] = []
    reasons: list[str] = []
    for r, resource_spans in enumerate(request.resource_spans):
        # One dict per resource, shared by its spans (read-only: redact_span replaces it, never edits it).
        resource = attributes_of(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name or None
            for i, span in enumerate(scope_spans.spans):
                try:
                    spans.append(_record(span, scope, resource))
                except ValueError as exc:
                    reasons.append(f"resource_spans[{r}].scope_spans[{s}].spans[{i}]: {exc}")
    return spans, reasons


def _record(span: Span, scope: str | None, resource_attributes: dict[str, Any]) -> SpanRecord:
    trace_id = _required_id(span.trace_id, 16, "trace_id")
    span_id = _required_id(span.span_id, 8, "span_id")
    parent_span_id = _id(span.parent_span_id, 8, "parent_span_id")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start:
        raise ValueError("start_time_unix_nano is missing")
    if end < start:
        raise ValueError("end_time_unix_nano is before start_time_unix_nano")
    if end >= MAX_TIME_NS:
        raise ValueError("end_time_unix_nano is past the year 2262 (storage keeps signed 64-bit times)")
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": span.name,
        "kind": _KINDS[span.kind] if 0 <= span.kind < len(_KINDS) else "unspecified",
        "start": start,
        "end": end,
        "duration_ms": (end - start) / 1e6,
        "status": _STATUSES[span.status.code] if 0 <= span.status.code < len(_STATUSES) else "unset",
        "status_message": span.status.message or None,
        "service": service_of(resource_attributes),
        "scope": scope,
        "attributes": attributes_of(span.attributes),
        "resource": resource_attributes,
        "events": [_event(event) for event in span.events],
    }


def _event(event: Span.Event) -> SpanEvent:
    return {"name": event.name, "ts": event.time_unix_nano, "attributes": attributes_of(event.attributes)}


def _id(raw: bytes, size: int, name: str) -> str | None:
    try:
        return hex_id(raw, size)
    except ValueError:
        raise ValueError(f"{name}: expected {size} bytes") from None


def _required_id(raw: bytes, size: int, name: str) -> str:
    value = _id(raw, size, name)
    if value is None:
        raise ValueError(f"{name}: missing or all zero")
    return value
