"""Mapping OTLP log records onto the sidecar's :class:`~sidecar.logs.LogRecord`.

The result per record is what the native normaliser returns, ``(record, raw_user)``,
or :class:`Rejected`, so both formats share the redaction and storage path after it.

Field mapping (first match wins where several attributes are listed; a lifted
attribute is removed from ``attributes``; one of the wrong type stays there):

==============  =====================================================================
LogRecord       OTLP
==============  =====================================================================
ts              ``time_unix_nano``, else ``observed_time_unix_nano``, else receive time
observed        ``observed_time_unix_nano``, else receive time
severity        ``severity_number`` (1-24), else ``severity_text`` by the native level
                aliases, else INFO (9)
level           from ``severity``
message         string ``body``; any other body as compact JSON text (bytes: base64)
service         resource attribute ``service.name``
trace_id        ``trace_id`` as hex; None when empty or all zero
span_id         ``span_id`` as hex; None when empty or all zero
request_id      string or integer attribute :data:`REQUEST_ID_KEYS`
action          string attribute :data:`ACTION_KEYS`
duration_ms     numeric attribute :data:`DURATION_KEYS` (milliseconds)
error           string attributes ``exception.type``, ``exception.message`` and
                ``exception.stacktrace`` as type, message and stack
raw user        attribute :data:`USER_KEYS`; all of them are removed, the first is used
attributes      the remaining attributes; ``event_name`` as ``event.name``; the resource
                attributes other than ``service.name`` as a dict under ``resource``
==============  =====================================================================

A user id attribute that is neither a string nor an integer rejects the record,
so a raw id can never stay behind in ``attributes``. The attribute names the
sidecar's own OTLP forwarder writes (``sidecar.request_id``, ``sidecar.action``,
``duration_ms``, ``enduser.pseudo.id``) are in the lists, so forwarded records
come back as they left. A log attribute that is itself named ``resource`` is
kept as ``resource#2``; ``event.name`` only when no attribute has that name.
The instrumentation scope, ``severity_text`` (when a number is set) and
``flags`` are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sidecar.errors import PayloadTooLarge
from sidecar.ingest import (
    LEVEL_ALIASES,
    MAX_TIME_NS,
    IngestLimits,
    Rejected,
    bounded_string,
    check_structure,
    duration_of,
    error_info,
)
from sidecar.logs import SEVERITY, ErrorInfo, LogRecord, level_of

from ._values import SERVICE_NAME, attributes_of, hex_id, json_value, service_of

REQUEST_ID_KEYS = ("request.id", "http.request_id", "requestId", "sidecar.request_id")
ACTION_KEYS = ("action", "sidecar.action")
DURATION_KEYS = ("duration", "duration_ms")
# enduser.pseudo.id is what the sidecar's own OTLP forwarder sends; pseudonyms are idempotent.
USER_KEYS = ("enduser.id", "user.id", "enduser.pseudo.id")
RESOURCE_KEY = "resource"
_EXCEPTION_KEYS = (("type", "exception.type"), ("message", "exception.message"), ("stack", "exception.stacktrace"))
_MAX_ID_LENGTH = 256  # as the native normaliser's service, requestId and action


def log_records_of(
    request: ExportLogsServiceRequest, received_ns: int, limits: IngestLimits | None = None
) -> list[tuple[LogRecord, str | None] | Rejected]:
    """Each log record of ``request``, in order: ``(record, raw_user)`` (not yet redacted) or Rejected.

    The native limits apply: encoded record size, string lengths, attribute depth
    and count; a request of more than ``limits.max_records`` records raises
    PayloadTooLarge, as a native batch does.
    """
    limits = limits or IngestLimits()
    total = sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)
    if total > limits.max_records:
        raise PayloadTooLarge(f"the batch has {total} records; the limit is {limits.max_records}")
    results: list[tuple[LogRecord, str | None] | Rejected] = []
    for resource_logs in request.resource_logs:
        service = service_of(attributes_of(resource_logs.resource.attributes))
        for scope_logs in resource_logs.scope_logs:
            for log in scope_logs.log_records:
                try:
                    results.append(_normalize(log, resource_logs.resource, service, received_ns, limits))
                except Rejected as rejection:
                    results.append(rejection)
    return results


def _normalize(
    log: OtlpLogRecord, resource: Resource, service: str | None, received_ns: int, limits: IngestLimits
) -> tuple[LogRecord, str | None]:
    if log.ByteSize() > limits.max_record_bytes:
        raise Rejected("too_large", f"record is larger than {limits.max_record_bytes} bytes")
    if max(log.time_unix_nano, log.observed_time_unix_nano) >= MAX_TIME_NS:
        raise Rejected("invalid_timestamp", "time_unix_nano: must be before 2262 (signed 64-bit nanoseconds)")
    attributes = attributes_of(log.attributes)
    raw_user = _pop_user(attributes)
    severity = _severity(log.severity_number, log.severity_text)
    record: LogRecord = {
        "ts": log.time_unix_nano or log.observed_time_unix_nano or received_ns,
        "observed": log.observed_time_unix_nano or received_ns,
        "severity": severity,
        "level": level_of(severity),
        "service": _text(service, "service", limits, _MAX_ID_LENGTH),
        "message": _text(_message(log.body), "body", limits),
        "request_id": _text(_lift(attributes, REQUEST_ID_KEYS, _is_id), "request_id", limits, _MAX_ID_LENGTH),
        "trace_id": _id(log.trace_id, 16, "trace_id"),
        "span_id": _id(log.span_id, 8, "span_id"),
        "user": None,
        "action": _text(_lift(attributes, ACTION_KEYS, _is_str), "action", limits, _MAX_ID_LENGTH),
        "duration_ms": duration_of(_lift(attributes, DURATION_KEYS, _is_number)),
        "error": _pop_error(attributes, limits),
        "attributes": attributes,
    }
    if log.event_name:
        attributes.setdefault("event.name", log.event_name)
    _add_resource(attributes, resource, service)
    if attributes:
        check_structure(attributes, limits)
    return record, raw_user


def _severity(number: int, text: str) -> int:
    if 1 <= number <= 24:
        return number
    level = LEVEL_ALIASES.get(text.strip().lower()) if text else None
    return SEVERITY[level or "info"]


def _message(body: AnyValue) -> str | None:
    value = json_value(body)
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _text(value: Any, key: str, limits: IngestLimits, max_length: int | None = None) -> str | None:
    if value is None:
        return None
    return bounded_string({key: str(value)}, key, limits, max_length)


def _id(raw: bytes, size: int, name: str) -> str | None:
    try:
        return hex_id(raw, size)
    except ValueError:
        raise Rejected("invalid_field", f"{name}: expected {size} bytes") from None


def _lift(attributes: dict[str, Any], keys: tuple[str, ...], accept: Callable[[Any], bool]) -> Any:
    for key in keys:
        if key in attributes and accept(attributes[key]):
            return attributes.pop(key)
    return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pop_user(attributes: dict[str, Any]) -> str | None:
    # Every identity attribute leaves the attributes, so no raw id can reach storage.
    found: str | None = None
    for key in USER_KEYS:
        if key not in attributes:
            continue
        value = attributes.pop(key)
        if not _is_id(value):
            raise Rejected("invalid_field", f"{key}: expected a string or a number")
        found = found or str(value) or None
    return found


def _pop_error(attributes: dict[str, Any], limits: IngestLimits) -> ErrorInfo | None:
    parts = {field: attributes.pop(key) for field, key in _EXCEPTION_KEYS if _is_str(attributes.get(key))}
    return error_info(parts, limits) if parts else None


def _add_resource(attributes: dict[str, Any], resource: Resource, service: str | None) -> None:
    extra = attributes_of(resource.attributes)
    if service is not None:
        del extra[SERVICE_NAME]
    if not extra:
        return
    if RESOURCE_KEY in attributes:
        attributes[f"{RESOURCE_KEY}#2"] = attributes.pop(RESOURCE_KEY)
    attributes[RESOURCE_KEY] = extra
