"""Validation and mapping of native JSON records onto the log data model."""

from __future__ import annotations

import pytest

from sidecar.ingest._limits import IngestLimits
from sidecar.ingest._normalize import Rejected, normalize

NOW = 1_700_000_000_123_456_000
LIMITS = IngestLimits()


def ok(raw: object, limits: IngestLimits = LIMITS):
    return normalize(raw, NOW, limits)


def rejected(raw: object, limits: IngestLimits = LIMITS) -> Rejected:
    with pytest.raises(Rejected) as caught:
        normalize(raw, NOW, limits)
    return caught.value


def test_full_record_maps_onto_the_model() -> None:
    record, user = ok(
        {
            "timestamp": "2024-05-01T12:00:00.250Z",
            "level": "WARNING",
            "message": "slow checkout",
            "service": "api",
            "requestId": "req_8f3a",
            "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736",
            "spanId": "00f067aa0ba902b7",
            "userId": 42,
            "action": "checkout",
            "duration": 1532.5,
            "error": {"type": "TimeoutError", "message": "upstream", "stack": "line 1"},
            "metadata": {"region": "eu", "attempt": 2},
            "route": "/api/v1/orders",
        }
    )
    assert record == {
        "ts": 1714564800250000000,
        "observed": NOW,
        "severity": 13,
        "level": "warn",
        "service": "api",
        "message": "slow checkout",
        "request_id": "req_8f3a",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "user": None,
        "action": "checkout",
        "duration_ms": 1532.5,
        "error": {"type": "TimeoutError", "message": "upstream", "stack": "line 1"},
        "attributes": {"route": "/api/v1/orders", "region": "eu", "attempt": 2},
    }
    assert user == "42"


def test_minimal_record_gets_defaults() -> None:
    record, user = ok({"message": "hi"})
    assert record["ts"] == NOW and record["level"] == "info" and record["severity"] == 9
    assert record["error"] is None and record["attributes"] == {} and user is None


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", "debug"),
        ("TRACE", "debug"),
        ("Info", "info"),
        ("warning", "warn"),
        ("ERR", "error"),
        ("critical", "fatal"),
        ("fatal", "fatal"),
        (" error ", "error"),
    ],
)
def test_level_aliases(level: str, expected: str) -> None:
    assert ok({"level": level})[0]["level"] == expected


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("2024-05-01T12:00:00Z", 1714564800_000000000),
        ("2024-05-01T14:00:00+02:00", 1714564800_000000000),
        ("2024-05-01T12:00:00", 1714564800_000000000),  # no offset: UTC
        (1714564800, 1714564800_000000000),
        (1714564800123, 1714564800_123000000),
        (1714564800123456, 1714564800_123456000),
        (1714564800123456789, 1714564800_123456789),
    ],
)
def test_timestamps(value: object, ns: int) -> None:
    assert ok({"timestamp": value})[0]["ts"] == ns


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ([1, 2], "not_an_object", "JSON object"),
        ({"level": "loud"}, "invalid_level", "level:"),
        ({"level": 3}, "invalid_level", "level:"),
        ({"timestamp": "yesterday"}, "invalid_timestamp", "RFC 3339"),
        ({"timestamp": True}, "invalid_timestamp", "timestamp"),
        ({"timestamp": -5}, "invalid_timestamp", "negative"),
        ({"timestamp": "9999-12-31T00:00:00Z"}, "invalid_timestamp", "2262"),
        ({"timestamp": "1969-12-31T23:59:59Z"}, "invalid_timestamp", "1970"),
        ({"message": 5}, "invalid_field", "message: expected a string"),
        ({"traceId": "xyz"}, "invalid_field", "traceId: expected 32"),
        ({"spanId": "00f067aa0ba902b7aa"}, "invalid_field", "spanId: expected 16"),
        ({"duration": -1}, "invalid_field", "duration"),
        ({"duration": "fast"}, "invalid_field", "duration"),
        ({"userId": {"id": 1}}, "invalid_field", "userId"),
        ({"userId": True}, "invalid_field", "userId"),
        ({"error": 5}, "invalid_field", "error:"),
        ({"error": {"type": "X", "extra": 1}}, "invalid_field", "unknown field"),
        ({"metadata": [1]}, "invalid_field", "metadata: expected an object"),
    ],
)
def test_bad_fields_are_rejected_with_a_reason(raw: object, code: str, words: str) -> None:
    rejection = rejected(raw)
    assert rejection.code == code
    assert words in rejection.reason


def test_reasons_never_echo_values() -> None:
    rejection = rejected({"level": "jane.doe@example.com"})
    assert "jane" not in rejection.reason and "example" not in rejection.reason


def test_limits_each_have_their_reason() -> None:
    limits = IngestLimits(max_depth=3, max_string_length=20, max_fields=5)
    assert rejected({"metadata": {"a": {"b": {"c": {"d": 1}}}}}, limits).code == "too_deep"
    assert rejected({"metadata": {"a": [[["x"]]]}}, limits).code == "too_deep"
    assert rejected({"message": "x" * 21}, limits).code == "string_too_long"
    assert rejected({"metadata": {"a": "x" * 21}}, limits).code == "string_too_long"
    assert rejected({"metadata": {str(i): i for i in range(6)}}, limits).code == "too_many_fields"
    assert rejected({"service": "s" * 300}).code == "string_too_long"
    assert ok({"metadata": {"a": {"b": 1}}}, limits)[0]["attributes"] == {"a": {"b": 1}}


def test_metadata_wins_over_unknown_top_level_fields() -> None:
    record, _ = ok({"region": "us", "metadata": {"region": "eu"}})
    assert record["attributes"] == {"region": "eu"}


def test_error_given_as_a_string() -> None:
    assert ok({"error": "boom"})[0]["error"] == {"type": None, "message": "boom", "stack": None}
