"""The log record as the sidecar keeps it: the OpenTelemetry log data model, flattened.

Every record, native JSON or OTLP, is normalised into a :class:`LogRecord`
and redacted before it reaches the spool, storage or a forwarder.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import orjson

from sidecar.errors import BadRequest

Level = Literal["debug", "info", "warn", "error", "fatal"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warn", "error", "fatal")

# OpenTelemetry SeverityNumber of the first step of each range (DEBUG=5 ... FATAL=21).
SEVERITY: dict[Level, int] = {"debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}


def level_of(severity: int) -> Level:
    """The level whose OpenTelemetry severity range holds ``severity`` (TRACE counts as debug)."""
    if severity >= 21:
        return "fatal"
    if severity >= 17:
        return "error"
    if severity >= 13:
        return "warn"
    if severity >= 9:
        return "info"
    return "debug"


class ErrorInfo(TypedDict):
    """The ``error`` part of a record."""

    type: str | None
    message: str | None
    stack: str | None


class LogRecord(TypedDict):
    """One normalised, redacted log record (JSON-serialisable as it stands)."""

    ts: int  # event time, Unix nanoseconds
    observed: int  # receive time, Unix nanoseconds
    severity: int  # OpenTelemetry SeverityNumber
    level: Level
    service: str | None
    message: str | None
    request_id: str | None
    trace_id: str | None  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits
    user: str | None  # pseudonym (usr_...) or [REDACTED:user]; never a raw id
    action: str | None
    duration_ms: float | None
    error: ErrorInfo | None
    attributes: dict[str, Any]  # metadata and unknown top-level fields


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of a log search; results come newest first."""

    since_ns: int | None = None
    until_ns: int | None = None  # exclusive
    min_severity: int | None = None
    service: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    user: str | None = None
    action: str | None = None
    text: str | None = None  # full-text terms over the message, all must match
    limit: int = 100
    after: tuple[int, int] | None = None  # (ts, id) of the previous page's last record


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A record as stored, with its storage id."""

    id: int
    record: LogRecord


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of search results and the cursor of the next (None when there is none)."""

    records: list[StoredLog]
    next_after: tuple[int, int] | None


def encode_cursor(after: tuple[int, int]) -> str:
    """An opaque cursor for ``after``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(after))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The position an opaque cursor stands for; 400 when it is not one of ours."""
    try:
        ts, row_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(ts, int) and isinstance(row_id, int):
            return ts, row_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise BadRequest("cursor: not a cursor this sidecar issued")
