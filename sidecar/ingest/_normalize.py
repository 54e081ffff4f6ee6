"""Validating one native JSON log record and mapping it onto :class:`~sidecar.logs.LogRecord`.

Pure functions: no I/O, no redaction (that comes right after, in the pipeline).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sidecar.logs import SEVERITY, ErrorInfo, Level, LogRecord

from ._limits import IngestLimits

LEVEL_ALIASES: dict[str, Level] = {
    "trace": "debug",
    "debug": "debug",
    "verbose": "debug",
    "info": "info",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "fatal": "fatal",
    "critical": "fatal",
    "crit": "fatal",
    "panic": "fatal",
    "emergency": "fatal",
    "alert": "fatal",
}
_KNOWN = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "service",
        "requestId",
        "traceId",
        "spanId",
        "userId",
        "action",
        "duration",
        "error",
        "metadata",
    }
)
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-fA-F]{16}$")
_ID_FIELDS = (("service", "service"), ("requestId", "request_id"), ("action", "action"))
_FLAT = frozenset({str, int, float, bool, type(None)})
_MAX_KEY = 256


class Rejected(ValueError):
    """A record that cannot be accepted; ``code`` is a bounded metric label, ``reason`` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def normalize(raw: Any, received_ns: int, limits: IngestLimits) -> tuple[LogRecord, str | None]:
    """The record (not yet redacted) and its raw user id, or :class:`Rejected`."""
    if not isinstance(raw, dict):
        raise Rejected("not_an_object", "a record must be a JSON object")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Rejected("invalid_field", "metadata: expected an object")
    if raw.keys() <= _KNOWN:  # the usual case, decided in C
        attributes = dict(metadata) if metadata else {}
    else:
        attributes = {key: value for key, value in raw.items() if key not in _KNOWN}
        if metadata:
            attributes.update(metadata)
    if attributes:
        check_structure(attributes, limits)
    level = _level(raw.get("level"))
    record: LogRecord = {
        "ts": _timestamp(raw.get("timestamp"), received_ns),
        "observed": received_ns,
        "severity": SEVERITY[level],
        "level": level,
        "service": None,
        "message": bounded_string(raw, "message", limits),
        "request_id": None,
        "trace_id": _hex_id(raw.get("traceId"), _TRACE_ID, "traceId", "32"),
        "span_id": _hex_id(raw.get("spanId"), _SPAN_ID, "spanId", "16"),
        "user": None,
        "action": None,
        "duration_ms": duration_of(raw.get("duration")),
        "error": error_info(raw.get("error"), limits),
        "attributes": attributes,
    }
    for source, target in _ID_FIELDS:
        record[target] = bounded_string(raw, source, limits, max_length=256)  # type: ignore[literal-required]
    user = raw.get("userId")
    if user is not None and (isinstance(user, bool) or not isinstance(user, str | int)):
        raise Rejected("invalid_field", "userId: expected a string or a number")
    return record, None if user is None else str(user)


def _level(value: Any) -> Level:
    if value is None:
        return "info"
    if isinstance(value, str):
        level = LEVEL_ALIASES.get(value) or LEVEL_ALIASES.get(value.strip().lower())
        if level is not None:
            return level
    raise Rejected("invalid_level", f"level: expected one of debug, info, warn, error, fatal, got {_show(value)}")


def _timestamp(value: Any, received_ns: int) -> int:
    if value is None:
        return received_ns
    if isinstance(value, bool):
        raise Rejected("invalid_timestamp", "timestamp: expected an RFC 3339 string")
    if isinstance(value, int | float):
        return _epoch_to_ns(value)
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)  # documented: no offset means UTC
            ns = int(parsed.timestamp() * 1_000_000) * 1000
            if 0 <= ns < MAX_TIME_NS:
                return ns
            raise Rejected("invalid_timestamp", "timestamp: must be between 1970 and 2262")
    raise Rejected("invalid_timestamp", f"timestamp: expected RFC 3339 like 2024-05-01T12:00:00Z, got {_show(value)}")


# Times are stored as signed 64-bit nanoseconds since 1970: up to April 2262.
MAX_TIME_NS = 2**63


def _epoch_to_ns(value: float) -> int:
    # Epoch numbers are told apart by magnitude: seconds, milliseconds, microseconds, nanoseconds.
    if value < 0:
        raise Rejected("invalid_timestamp", "timestamp: must not be negative")
    for ceiling, scale in ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000), (9.2e18, 1)):
        if value < ceiling:
            return int(value * scale)
    raise Rejected("invalid_timestamp", "timestamp: out of range")


def bounded_string(raw: dict[str, Any], key: str, limits: IngestLimits, max_length: int | None = None) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected("invalid_field", f"{key}: expected a string")
    limit = max_length or limits.max_string_length
    if len(value) > limit:
        raise Rejected("string_too_long", f"{key}: longer than {limit} characters")
    return value


def _hex_id(value: Any, pattern: re.Pattern[str], key: str, digits: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise Rejected("invalid_field", f"{key}: expected {digits} hexadecimal digits")
    return value.lower()


def duration_of(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise Rejected("invalid_field", "duration: expected a non-negative number of milliseconds")
    return float(value)


def error_info(value: Any, limits: IngestLimits) -> ErrorInfo | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"message": value}
    if not isinstance(value, dict):
        raise Rejected("invalid_field", "error: expected an object with type, message and stack")
    unknown = set(value) - {"type", "message", "stack"}
    if unknown:
        raise Rejected("invalid_field", f"error: unknown field {sorted(unknown)[0]!r}")
    return {
        "type": bounded_string(value, "type", limits, max_length=256),
        "message": bounded_string(value, "message", limits),
        "stack": bounded_string(value, "stack", limits),
    }


def check_structure(value: dict[str, Any], limits: IngestLimits) -> None:
    # One walk enforces depth, field count and string length on the free-form part.
    if (
        len(value) <= limits.max_fields
        and all(len(key) <= _MAX_KEY for key in value)
        and all(
            type(item) in _FLAT and (type(item) is not str or len(item) <= limits.max_string_length)
            for item in value.values()
        )
    ):
        return  # flat and within limits: nothing to walk
    fields = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limits.max_depth:
                raise Rejected("too_deep", f"metadata: nested deeper than {limits.max_depth} levels")
            fields += len(node)
            for key, child in node.items():
                if len(key) > _MAX_KEY:
                    raise Rejected("string_too_long", "metadata: a key is longer than 256 characters")
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            if depth > limits.max_depth:
                raise Rejected("too_deep", f"metadata: nested deeper than {limits.max_depth} levels")
            fields += len(node)
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str) and len(node) > limits.max_string_length:
            raise Rejected("string_too_long", f"metadata: a value is longer than {limits.max_string_length} characters")
        if fields > limits.max_fields:
            raise Rejected("too_many_fields", f"metadata: more than {limits.max_fields} fields")


def _show(value: Any) -> str:
    # Reasons must never echo a value: it could be personal data.
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return f"a {type(value).__name__}"
