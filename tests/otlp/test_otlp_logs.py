"""Mapping OTLP log records onto native LogRecords: severity, trace context, errors, users, limits."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
from opentelemetry.sdk._logs import Logger
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from sidecar.errors import PayloadTooLarge
from sidecar.forward import to_export_request
from sidecar.ingest import IngestLimits, Rejected, redact_record
from sidecar.logs import LogRecord
from sidecar.otlp import PROTOBUF_TYPE, decode_logs, log_records_of
from sidecar.redact import RedactionPolicy, Redactor
from tests.helpers import log_record

from .sdk import SeverityNumber, export_logs
from .test_otlp_spans import any_value, pairs

RECEIVED = 1_700_000_000_900_000_000
T0 = 1_700_000_000_000_000_000
KEY = b"test-pseudonym-key-0123456789abc"


def records_of(request: ExportLogsServiceRequest, limits: IngestLimits | None = None) -> list[Any]:
    decoded = decode_logs(request.SerializeToString(), PROTOBUF_TYPE)
    return log_records_of(decoded, RECEIVED, limits)


def one(request: ExportLogsServiceRequest) -> tuple[LogRecord, str | None]:
    [result] = records_of(request)
    assert not isinstance(result, Rejected), result
    return result


def request_of(*records: OtlpLogRecord, resource: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(pairs(resource or {"service.name": "checkout"}))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


def log(attributes: dict[str, Any] | None = None, **fields: Any) -> OtlpLogRecord:
    return OtlpLogRecord(attributes=pairs(attributes or {}), **fields)


def emit(**kwargs: Any) -> tuple[LogRecord, str | None]:
    def record(logger: Logger) -> None:
        logger.emit(**kwargs)

    return one(export_logs(record))


def test_an_sdk_record_maps_onto_every_native_field() -> None:
    context = SpanContext(0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174, False, TraceFlags(1))
    record, user = emit(
        timestamp=T0,
        observed_timestamp=T0 + 5,
        severity_number=SeverityNumber.WARN2,
        severity_text="WARN",
        body="payment retried",
        context=trace.set_span_in_context(NonRecordingSpan(context)),
        attributes={
            "enduser.id": "alice-42",
            "request.id": "req-1",
            "action": "checkout.pay",
            "duration": 12.5,
            "cart.items": 3,
        },
    )
    assert record == {
        "ts": T0,
        "observed": T0 + 5,
        "severity": 14,
        "level": "warn",
        "service": "checkout",
        "message": "payment retried",
        "request_id": "req-1",
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
        "user": None,
        "action": "checkout.pay",
        "duration_ms": 12.5,
        "error": None,
        "attributes": {
            "cart.items": 3,
            "resource": {
                "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry",
                "telemetry.sdk.version": record["attributes"]["resource"]["telemetry.sdk.version"],
                "service.instance.id": record["attributes"]["resource"]["service.instance.id"],
            },
        },
    }
    assert user == "alice-42"


def test_an_exception_becomes_the_error_field() -> None:
    try:
        raise ValueError("card declined")
    except ValueError as exc:
        record, _ = emit(body="payment failed", exception=exc, severity_number=SeverityNumber.ERROR)
    assert record["error"] is not None
    assert record["error"]["type"] == "ValueError"
    assert record["error"]["message"] == "card declined"
    assert "raise ValueError" in (record["error"]["stack"] or "")
    assert not any(key.startswith("exception.") for key in record["attributes"])
    assert record["level"] == "error"


def test_a_partial_exception_keeps_the_missing_parts_none() -> None:
    record, _ = one(request_of(log({"exception.message": "boom", "exception.type": 7})))
    assert record["error"] == {"type": None, "message": "boom", "stack": None}
    assert record["attributes"] == {"exception.type": 7}


@pytest.mark.parametrize(
    ("number", "text", "severity", "level"),
    [
        (1, "", 1, "debug"),
        (SeverityNumber.INFO3.value, "whatever", 11, "info"),
        (24, "", 24, "fatal"),
        (0, "WARNING", 13, "warn"),
        (0, "Error", 17, "error"),
        (0, " crit ", 21, "fatal"),
        (0, "TRACE", 5, "debug"),
        (0, "notice", 9, "info"),
        (0, "not a level", 9, "info"),
        (0, "", 9, "info"),
        (99, "error", 17, "error"),
    ],
)
def test_severity_comes_from_the_number_else_the_text_else_info(
    number: int, text: str, severity: int, level: str
) -> None:
    record, _ = one(request_of(log(severity_number=number, severity_text=text)))
    assert (record["severity"], record["level"]) == (severity, level)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (42, "42"),
        (0.5, "0.5"),
        (True, "true"),
        ({"order": {"id": 7, "items": ["a", None]}}, '{"order":{"id":7,"items":["a",null]}}'),
        ([1, "two"], '[1,"two"]'),
        (b"\x00\x01", "AAE="),
    ],
)
def test_body_types_become_the_message(body: Any, message: str) -> None:
    record, _ = one(request_of(log(body=any_value(body))))
    assert record["message"] == message


def test_sdk_structured_bodies_become_compact_json() -> None:
    record, _ = emit(body={"a": [1, "x"], "b": None})
    assert record["message"] == '{"a":[1,"x"],"b":null}'


def test_no_body_is_no_message() -> None:
    record, _ = one(request_of(log()))
    assert record["message"] is None


def test_timestamps_fall_back_to_observed_then_to_receive_time() -> None:
    results = records_of(
        request_of(
            log(time_unix_nano=T0, observed_time_unix_nano=T0 + 1),
            log(observed_time_unix_nano=T0 + 1),
            log(),
        )
    )
    assert [(r["ts"], r["observed"]) for r, _ in results] == [(T0, T0 + 1), (T0 + 1, T0 + 1), (RECEIVED, RECEIVED)]


def test_empty_or_all_zero_trace_context_is_none() -> None:
    results = records_of(request_of(log(), log(trace_id=b"\0" * 16, span_id=b"\0" * 8)))
    assert [(r["trace_id"], r["span_id"]) for r, _ in results] == [(None, None), (None, None)]


def test_a_bad_record_is_rejected_alone() -> None:
    results = records_of(
        request_of(
            log(body=any_value("first")),
            log(trace_id=b"\x01" * 15),
            log(span_id=b"\x01" * 9),
            log(body=any_value("last")),
        )
    )
    assert [r[0]["message"] for r in (results[0], results[3])] == ["first", "last"]
    assert [(r.code, r.reason) for r in results[1:3]] == [
        ("invalid_field", "trace_id: expected 16 bytes"),
        ("invalid_field", "span_id: expected 8 bytes"),
    ]


@pytest.mark.parametrize(
    ("attributes", "user"),
    [
        ({"enduser.id": "alice"}, "alice"),
        ({"user.id": 42}, "42"),
        ({"user.id": "second", "enduser.id": "first"}, "first"),
        ({"enduser.id": "", "user.id": "bob"}, "bob"),
        ({"enduser.pseudo.id": "usr_0123456789abcdef"}, "usr_0123456789abcdef"),
        ({}, None),
    ],
)
def test_the_user_id_is_lifted_and_every_identity_attribute_removed(attributes: dict[str, Any], user: str) -> None:
    record, raw_user = one(request_of(log({**attributes, "other": 1})))
    assert raw_user == user
    assert record["attributes"] == {"other": 1}


@pytest.mark.parametrize("value", [["alice@example.com"], {"id": "alice@example.com"}, True, 1.5])
def test_a_user_id_of_another_type_rejects_the_record_without_quoting_it(value: Any) -> None:
    [result] = records_of(request_of(log({"enduser.id": value})))
    assert isinstance(result, Rejected)
    assert result.code == "invalid_field"
    assert "alice" not in result.reason


def test_request_id_action_and_duration_take_the_first_listed_attribute_of_the_right_type() -> None:
    attributes = {
        "request.id": ["not", "an", "id"],
        "http.request_id": 1234,
        "requestId": "later",
        "action": 5,
        "sidecar.action": "refund",
        "duration": "12ms",
        "duration_ms": 3,
    }
    record, _ = one(request_of(log(attributes)))
    assert (record["request_id"], record["action"], record["duration_ms"]) == ("1234", "refund", 3.0)
    left = {"request.id": ["not", "an", "id"], "requestId": "later", "action": 5, "duration": "12ms"}
    assert record["attributes"] == left


def test_a_negative_duration_is_rejected_as_natively() -> None:
    [result] = records_of(request_of(log({"duration": -1})))
    assert isinstance(result, Rejected)
    assert result.code == "invalid_field"


def test_resource_attributes_go_under_resource_and_a_clashing_attribute_is_kept() -> None:
    resource = {"service.name": "checkout", "host.name": "web-1", "k8s": {"pod": "p-1"}}
    record, _ = one(request_of(log({"resource": "mine"}), resource=resource))
    assert record["service"] == "checkout"
    assert record["attributes"] == {"resource#2": "mine", "resource": {"host.name": "web-1", "k8s": {"pod": "p-1"}}}


def test_a_resource_with_only_a_service_name_adds_nothing() -> None:
    record, _ = one(request_of(log(event_name="user.login")))
    assert record["attributes"] == {"event.name": "user.login"}


def test_records_from_several_resources_get_their_own_service() -> None:
    request = request_of(log(), resource={"service.name": "a"})
    request.resource_logs.extend(request_of(log(), log(), resource={"service.name": "b"}).resource_logs)
    assert [r["service"] for r, _ in records_of(request)] == ["a", "b", "b"]


def test_native_limits_apply() -> None:
    limits = IngestLimits(max_string_length=100, max_depth=3, max_fields=5, max_record_bytes=2_000)
    deep: Any = "leaf"
    for _ in range(4):
        deep = {"k": deep}
    results = records_of(
        request_of(
            log(body=any_value("x" * 101)),
            log({"nested": deep}),
            log({f"k{i}": i for i in range(6)}),
            log({"request.id": "r" * 257}),
            log({"blob": "y" * 99, "blob2": "y" * 99}, body=any_value("z" * 2000)),
            log({"exception.type": "T" * 257}),
            log(body=any_value("fine")),
        ),
        limits,
    )
    codes = [r.code if isinstance(r, Rejected) else "ok" for r in results]
    too_long = "string_too_long"
    assert codes == [too_long, "too_deep", "too_many_fields", too_long, "too_large", too_long, "ok"]


def test_more_records_than_the_batch_limit_is_payload_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        records_of(request_of(log(), log(), log()), IngestLimits(max_records=2))
    assert len(records_of(request_of(log(), log()), IngestLimits(max_records=2))) == 2


def test_records_the_forwarder_sends_come_back_as_they_left() -> None:
    original = log_record(
        service="checkout",
        message="payment failed",
        severity=17,
        level="error",
        request_id="req-9",
        trace_id="5b8efff798038103d269b633813fc60c",
        span_id="eee19b7ec3c1b174",
        user="usr_0123456789abcdef",
        action="pay",
        duration_ms=12.5,
        error={"type": "CardDeclined", "message": "declined", "stack": None},
        attributes={"cart": {"items": [1, 2]}, "ok": False},
    )
    [(record, raw_user)] = records_of(to_export_request([original]))
    assert raw_user == "usr_0123456789abcdef"
    assert record == {**original, "user": None}


def test_the_result_feeds_the_native_redaction_step() -> None:
    redactor = Redactor(RedactionPolicy(pseudonym_key=KEY))
    record, raw_user = one(
        request_of(log({"enduser.id": "alice", "contact": "mail alice@example.com"}, body=any_value("hi bob@x.org")))
    )
    counts: Counter[str] = Counter()
    clean = redact_record(record, raw_user, redactor, counts)
    assert clean["user"] == redactor.pseudonymize("alice")
    assert clean["message"] == "hi [REDACTED:email]"
    assert clean["attributes"] == {"contact": "mail [REDACTED:email]"}
    assert counts == {"email": 2, "user": 1}


def test_an_empty_request_has_no_records() -> None:
    assert records_of(ExportLogsServiceRequest()) == []
