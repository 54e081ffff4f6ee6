"""Error occurrences, extracted from redacted log records and from span exception events."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sidecar.logs import SEVERITY, Level, LogRecord
from sidecar.traces import SpanRecord

Source = Literal["log", "span"]

# What a pseudonymised user id looks like (usr_ + hex, as the redactor makes them). Any other
# value (a [REDACTED:user] marker, a raw id that slipped through) is not counted as a user.
_PSEUDONYM = re.compile(r"[a-z]{2,8}_[0-9a-f]{8,64}")
_SPAN_USER_KEYS = ("enduser.id", "user.id")
_SPAN_REQUEST_ID_KEYS = ("request.id", "request_id", "http.request_id")
_DEFAULT_TYPE = "Error"


@dataclass(frozen=True, slots=True)
class ErrorOccurrence:
    """One error as it happened, already redacted."""

    ts: int  # Unix nanoseconds
    service: str | None
    level: Level
    error_type: str
    message: str
    stack: str | None
    user: str | None  # a pseudonym, never a raw id
    trace_id: str | None
    request_id: str | None
    source: Source


def occurrence_from_log(record: LogRecord, *, min_severity: int = SEVERITY["warn"]) -> ErrorOccurrence | None:
    """The error a log record carries, or None.

    A record carries one when its ``error`` has a type or a message and its
    severity is at least ``min_severity`` (warn by default: a debug or info
    record with an error describes one that was handled). Without
    ``error.message`` the record's own message stands in; without
    ``error.type``, ``Error``.
    """
    error = record.get("error")
    if not error or record["severity"] < min_severity:
        return None
    error_type, message = _text(error.get("type")), _text(error.get("message"))
    if not error_type and not message:
        return None
    return ErrorOccurrence(
        ts=record["ts"],
        service=record["service"],
        level=record["level"],
        error_type=error_type or _DEFAULT_TYPE,
        message=message or _text(record["message"]) or "",
        stack=_text(error.get("stack")),
        user=pseudonym(record["user"]),
        trace_id=record["trace_id"],
        request_id=record["request_id"],
        source="log",
    )


def occurrences_from_span(span: SpanRecord) -> list[ErrorOccurrence]:
    """One occurrence per ``exception`` event of ``span`` with a type or a message, at level ``error``.

    The user comes from ``enduser.id`` or ``user.id`` (event attributes first,
    then the span's), counted only when it is a pseudonym; the request id from
    ``request.id``, ``request_id`` or ``http.request_id``.
    """
    occurrences = []
    span_user = _first(span["attributes"], _SPAN_USER_KEYS)
    request_id = _text(_first(span["attributes"], _SPAN_REQUEST_ID_KEYS))
    for event in span["events"]:
        if event["name"] != "exception":
            continue
        attributes = event["attributes"]
        error_type = _text(attributes.get("exception.type"))
        message = _text(attributes.get("exception.message"))
        if not error_type and not message:
            continue
        occurrences.append(
            ErrorOccurrence(
                ts=event["ts"],
                service=span["service"],
                level="error",
                error_type=error_type or _DEFAULT_TYPE,
                message=message or "",
                stack=_text(attributes.get("exception.stacktrace")),
                user=pseudonym(_first(attributes, _SPAN_USER_KEYS) or span_user),
                trace_id=span["trace_id"],
                request_id=request_id,
                source="span",
            )
        )
    return occurrences


def pseudonym(value: Any) -> str | None:
    """``value`` when it is a pseudonymised id, else None."""
    if isinstance(value, str) and _PSEUDONYM.fullmatch(value):
        return value
    return None


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    """A non-empty string attribute, or None (OTLP values may be of any JSON type)."""
    if isinstance(value, str):
        return value or None
    return None
