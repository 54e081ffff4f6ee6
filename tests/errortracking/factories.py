"""Builders of log records, spans and occurrences, and a settable clock, for the error tracking tests."""

from __future__ import annotations

import uuid
from typing import Any

from sidecar.errortracking import ErrorOccurrence
from sidecar.logs import SEVERITY, Level, LogRecord
from sidecar.traces import SpanRecord

TS = 1_718_000_000_000_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"


def log(level: Level = "error", error: Any = None, **fields: Any) -> LogRecord:
    record: LogRecord = {
        "ts": TS,
        "observed": TS + 5,
        "severity": SEVERITY[level],
        "level": level,
        "service": "checkout",
        "message": "payment failed",
        "request_id": "req-1",
        "trace_id": TRACE,
        "span_id": "b7ad6b7169203331",
        "user": "usr_0123456789abcdef",
        "action": None,
        "duration_ms": None,
        "error": error,
        "attributes": {},
    }
    record.update(fields)  # type: ignore[typeddict-item]
    return record


def span(events: list[dict[str, Any]], **attributes: Any) -> SpanRecord:
    return {
        "trace_id": TRACE,
        "span_id": "b7ad6b7169203331",
        "parent_span_id": None,
        "name": "POST /orders",
        "kind": "server",
        "start": TS,
        "end": TS + 1000,
        "duration_ms": 0.001,
        "status": "error",
        "status_message": None,
        "service": "orders",
        "scope": None,
        "attributes": attributes,
        "resource": {"service.name": "orders"},
        "events": events,  # type: ignore[typeddict-item]
    }


SECOND = 1_000_000_000
DAY = 24 * 3600
START = 1_718_000_000.0  # seconds; 2024-06-10


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def occurrence(
    at: float = START,
    message: str = "order 1 failed",
    *,
    error_type: str = "OrderError",
    user: str | None = None,
    service: str | None = "checkout",
    level: Level = "error",
    stack: str | None = None,
) -> ErrorOccurrence:
    return ErrorOccurrence(
        ts=int(at * SECOND),
        service=service,
        level=level,
        error_type=error_type,
        message=message,
        stack=stack,
        user=user,
        trace_id=uuid.uuid4().hex,
        request_id=None,
        source="log",
    )


def user(number: int) -> str:
    return f"usr_{number:016x}"
