"""Conversion of :class:`LogRecord` batches to an OTLP ``ExportLogsServiceRequest``.

Records are grouped by ``service`` into one ``ResourceLogs`` each (in order of first
appearance, records keeping their order), each with one ``ScopeLogs`` whose scope is
the sidecar. Fields map as follows; absent (``None``) values are left out:

=================  ==========================================  ================================
LogRecord field    OTLP                                        Notes
=================  ==========================================  ================================
service            resource attribute ``service.name``         ``"unknown"`` when absent
ts                 ``time_unix_nano``
observed           ``observed_time_unix_nano``
severity           ``severity_number``
level              ``severity_text``                           upper case: ``"WARN"``
message            ``body`` (string)
trace_id           ``trace_id`` (16 bytes)                     left out when not 32 hex digits
span_id            ``span_id`` (8 bytes)                       left out when not 16 hex digits
user               attribute ``enduser.pseudo.id``             semantic convention
request_id         attribute ``sidecar.request_id``            no semantic convention exists
action             attribute ``sidecar.action``                no semantic convention exists
duration_ms        attribute ``duration_ms`` (double)
error.type         attribute ``exception.type``                semantic convention
error.message      attribute ``exception.message``             semantic convention
error.stack        attribute ``exception.stacktrace``          semantic convention
attributes         one attribute per key, values as AnyValue   see below
=================  ==========================================  ================================

Free-form ``attributes`` become nested ``AnyValue``: dicts ``kvlist_value``, lists
``array_value``, then bool, int, float and str; ``None`` is left out (inside a list it
becomes an empty ``AnyValue`` so positions hold). Integers beyond int64 travel as
strings, and containers nested deeper than :data:`MAX_ATTRIBUTE_DEPTH` as a JSON string.
An attribute whose key is one of the names above loses to the field and is counted in
``dropped_attributes_count``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from sidecar import __version__
from sidecar.logs import LogRecord

UNKNOWN_SERVICE = "unknown"

# Collectors parse with protobuf's default recursion limit (100 messages); each level
# of nesting costs three (AnyValue -> KeyValueList -> KeyValue), so deeper values are
# sent as a JSON string rather than get the whole batch rejected.
MAX_ATTRIBUTE_DEPTH = 16

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_FIELD_KEYS = frozenset(
    {
        "enduser.pseudo.id",
        "sidecar.request_id",
        "sidecar.action",
        "duration_ms",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
    }
)


def to_export_request(records: Sequence[LogRecord], resource_service: str = "sidecar") -> ExportLogsServiceRequest:
    """The OTLP export request carrying ``records``; ``resource_service`` names the scope.

    The scope identifies the component that forwarded the records (this sidecar); the
    producer of each record is its resource's ``service.name``.
    """
    groups: dict[str, list[LogRecord]] = {}
    for record in records:
        groups.setdefault(record["service"] or UNKNOWN_SERVICE, []).append(record)
    request = ExportLogsServiceRequest()
    for service, group in groups.items():
        resource_logs: ResourceLogs = request.resource_logs.add()
        resource_logs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = resource_service
        scope_logs.scope.version = __version__
        for record in group:
            _fill_record(scope_logs.log_records.add(), record)
    return request


def _fill_record(out: OtlpLogRecord, record: LogRecord) -> None:
    out.time_unix_nano = max(0, record["ts"])
    out.observed_time_unix_nano = max(0, record["observed"])
    out.severity_number = record["severity"]  # type: ignore[assignment]  # open enum: any int is valid
    out.severity_text = record["level"].upper()
    if record["message"] is not None:
        out.body.string_value = record["message"]
    trace_id = _hex_bytes(record["trace_id"], 16)
    if trace_id is not None:
        out.trace_id = trace_id
    span_id = _hex_bytes(record["span_id"], 8)
    if span_id is not None:
        out.span_id = span_id
    _add_key_values(out.attributes, _field_attributes(record).items(), depth=0)
    extra = record["attributes"] or {}
    clashing = _FIELD_KEYS.intersection(extra)
    out.dropped_attributes_count = len(clashing)
    _add_key_values(out.attributes, ((k, v) for k, v in extra.items() if k not in clashing), depth=0)


def _field_attributes(record: LogRecord) -> dict[str, Any]:
    """The first-class fields that travel as attributes, under their OTLP names."""
    error = record["error"] or {}
    duration = record["duration_ms"]
    return {
        "enduser.pseudo.id": record["user"],
        "sidecar.request_id": record["request_id"],
        "sidecar.action": record["action"],
        "duration_ms": None if duration is None else float(duration),
        "exception.type": error.get("type"),
        "exception.message": error.get("message"),
        "exception.stacktrace": error.get("stack"),
    }


def _hex_bytes(value: str | None, size: int) -> bytes | None:
    """``value`` as ``size`` bytes, or None when absent or not ``2 * size`` hex digits."""
    if value is None or len(value) != 2 * size:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _add_key_values(target: Any, items: Iterable[tuple[Any, Any]], depth: int) -> None:
    """Append the non-None items to ``target``, a repeated KeyValue field."""
    # Filled in place with add(): building KeyValues and extending would copy each one.
    for key, value in items:
        if value is not None:
            key_value = target.add()
            key_value.key = key if isinstance(key, str) else str(key)
            _set_value(key_value.value, value, depth)


def _set_value(target: AnyValue, value: Any, depth: int) -> None:
    """Set ``target`` to ``value``; None leaves it empty."""
    # Most common first; bool before int because bool is a subclass of int.
    if value is None:
        return
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        # int64 on the wire; a bigger integer keeps its digits as a string.
        if _INT64_MIN <= value <= _INT64_MAX:
            target.int_value = value
        else:
            target.string_value = str(value)
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, Mapping | list | tuple):
        _set_container(target, value, depth)
    elif isinstance(value, bytes):
        target.bytes_value = value
    else:
        target.string_value = str(value)


def _set_container(target: AnyValue, value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> None:
    if depth >= MAX_ATTRIBUTE_DEPTH:
        target.string_value = _json(value)
    elif isinstance(value, Mapping):
        target.kvlist_value.SetInParent()  # an empty dict is still a kvlist, not an empty value
        _add_key_values(target.kvlist_value.values, value.items(), depth + 1)
    else:
        target.array_value.SetInParent()
        for item in value:
            _set_value(target.array_value.values.add(), item, depth + 1)


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson goes
        return str(value)
