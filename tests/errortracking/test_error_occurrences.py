"""Occurrences from log records and from span exception events."""

from __future__ import annotations

import pytest

from sidecar.errortracking import ErrorOccurrence, occurrence_from_log, occurrences_from_span, pseudonym
from sidecar.logs import SEVERITY, LogRecord

from .factories import TRACE, TS, log, span


def test_an_error_record_is_an_occurrence() -> None:
    error = {"type": "CardError", "message": "card declined", "stack": "Traceback ..."}
    assert occurrence_from_log(log(error=error)) == ErrorOccurrence(
        ts=TS,
        service="checkout",
        level="error",
        error_type="CardError",
        message="card declined",
        stack="Traceback ...",
        user="usr_0123456789abcdef",
        trace_id=TRACE,
        request_id="req-1",
        source="log",
    )


@pytest.mark.parametrize(
    "record",
    [
        log(error=None),
        log(error={"type": None, "message": None, "stack": "x"}),
        log(level="info", error={"type": "CardError", "message": "declined", "stack": None}),
        log(level="debug", error={"type": "CardError", "message": "declined", "stack": None}),
    ],
)
def test_records_without_an_error_or_below_warn_are_not_occurrences(record: LogRecord) -> None:
    assert occurrence_from_log(record) is None


def test_the_minimum_severity_can_be_lowered() -> None:
    record = log(level="info", error={"type": "CardError", "message": None, "stack": None})
    assert occurrence_from_log(record, min_severity=SEVERITY["debug"]) is not None


def test_missing_parts_fall_back_to_the_record_message_and_a_generic_type() -> None:
    occurrence = occurrence_from_log(log(level="warn", error={"type": "CardError", "message": None, "stack": None}))
    assert occurrence is not None and occurrence.message == "payment failed" and occurrence.level == "warn"
    occurrence = occurrence_from_log(log(error={"type": None, "message": "boom", "stack": None}))
    assert occurrence is not None and occurrence.error_type == "Error"


@pytest.mark.parametrize("user", ["[REDACTED:user]", "alice@example.com", "12345", None])
def test_only_pseudonyms_count_as_users(user: str | None) -> None:
    occurrence = occurrence_from_log(log(error={"type": "E", "message": "m", "stack": None}, user=user))
    assert occurrence is not None and occurrence.user is None
    assert pseudonym("usr_0123456789abcdef") == "usr_0123456789abcdef"


def test_each_exception_event_of_a_span_is_an_occurrence() -> None:
    events = [
        {"name": "exception", "ts": TS + 1, "attributes": {"exception.type": "ValueError", "exception.message": "a"}},
        {"name": "retry", "ts": TS + 2, "attributes": {}},
        {
            "name": "exception",
            "ts": TS + 3,
            "attributes": {
                "exception.type": "KeyError",
                "exception.message": "'b'",
                "exception.stacktrace": "Traceback ...",
                "enduser.id": "usr_fedcba9876543210",
            },
        },
        {"name": "exception", "ts": TS + 4, "attributes": {"exception.escaped": "true"}},
    ]
    found = occurrences_from_span(span(events, **{"user.id": "usr_0123456789abcdef", "request.id": "req-9"}))
    assert [(o.ts, o.error_type, o.message, o.stack, o.user) for o in found] == [
        (TS + 1, "ValueError", "a", None, "usr_0123456789abcdef"),
        (TS + 3, "KeyError", "'b'", "Traceback ...", "usr_fedcba9876543210"),
    ]
    assert all(
        o.source == "span" and o.service == "orders" and o.trace_id == TRACE and o.request_id == "req-9" for o in found
    )
    assert all(o.level == "error" for o in found)


def test_non_string_exception_attributes_are_ignored() -> None:
    events = [{"name": "exception", "ts": TS, "attributes": {"exception.type": 42, "exception.message": ["x"]}}]
    assert occurrences_from_span(span(events)) == []
