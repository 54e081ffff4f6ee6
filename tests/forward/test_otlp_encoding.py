"""LogRecord batches become OTLP export requests that any collector can decode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from sidecar import __version__
from sidecar.forward._otlp import MAX_ATTRIBUTE_DEPTH, to_export_request
from sidecar.logs import LogRecord
from tests.helpers import log_record

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


make_record = log_record


def decode(records: list[LogRecord], **kwargs: Any) -> ExportLogsServiceRequest:
    """Encode, serialise and parse back, as a collector would."""
    return ExportLogsServiceRequest.FromString(to_export_request(records, **kwargs).SerializeToString())


def only_record(request: ExportLogsServiceRequest) -> OtlpLogRecord:
    [resource_logs] = request.resource_logs
    [scope_logs] = resource_logs.scope_logs
    [record] = scope_logs.log_records
    return record


def plain(value: AnyValue) -> Any:
    """An AnyValue as a Python value; the empty AnyValue is None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return as_dict(value.kvlist_value.values)
    if kind == "array_value":
        return [plain(item) for item in value.array_value.values]
    return getattr(value, kind)


def as_dict(key_values: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(key_values)
    assert len({kv.key for kv in pairs}) == len(pairs), "attribute keys must be unique"
    return {kv.key: plain(kv.value) for kv in pairs}


def test_every_field_maps_as_documented() -> None:
    record = make_record(
        severity=14,
        level="warn",
        service="checkout",
        message="payment declined",
        request_id="req-123",
        trace_id=TRACE,
        span_id=SPAN,
        user="usr_3f9a",
        action="charge",
        duration_ms=12,
        error={"type": "CardError", "message": "declined", "stack": "Traceback ..."},
        attributes={"region": "eu-west-1"},
    )
    otlp = only_record(decode([record]))
    assert otlp.time_unix_nano == 1_700_000_000_000_000_001
    assert otlp.observed_time_unix_nano == 1_700_000_000_500_000_000
    assert otlp.severity_number == 14
    assert otlp.severity_text == "WARN"
    assert otlp.body.string_value == "payment declined"
    assert otlp.trace_id == bytes.fromhex(TRACE)
    assert otlp.span_id == bytes.fromhex(SPAN)
    attributes = as_dict(otlp.attributes)
    assert attributes == {
        "enduser.pseudo.id": "usr_3f9a",
        "sidecar.request_id": "req-123",
        "sidecar.action": "charge",
        "duration_ms": 12.0,
        "exception.type": "CardError",
        "exception.message": "declined",
        "exception.stacktrace": "Traceback ...",
        "region": "eu-west-1",
    }
    duration = next(kv.value for kv in otlp.attributes if kv.key == "duration_ms")
    assert duration.WhichOneof("value") == "double_value"
    assert otlp.dropped_attributes_count == 0


def test_the_scope_names_the_forwarding_sidecar() -> None:
    request = decode([make_record(service="api")], resource_service="sidecar-eu-1")
    scope = request.resource_logs[0].scope_logs[0].scope
    assert (scope.name, scope.version) == ("sidecar-eu-1", __version__)
    assert decode([make_record()]).resource_logs[0].scope_logs[0].scope.name == "sidecar"


def test_records_are_grouped_by_service_in_order_of_first_appearance() -> None:
    records = [
        make_record(service="api", message="1"),
        make_record(service="worker", message="2"),
        make_record(service=None, message="3"),
        make_record(service="api", message="4"),
        make_record(service="unknown", message="5"),
    ]
    request = decode(records)
    groups = [
        (
            as_dict(resource_logs.resource.attributes),
            len(resource_logs.scope_logs),
            [r.body.string_value for r in resource_logs.scope_logs[0].log_records],
        )
        for resource_logs in request.resource_logs
    ]
    assert groups == [
        ({"service.name": "api"}, 1, ["1", "4"]),
        ({"service.name": "worker"}, 1, ["2"]),
        ({"service.name": "unknown"}, 1, ["3", "5"]),
    ]


def test_nested_attributes_become_nested_any_values() -> None:
    attributes = {
        "http": {"status": 200, "ok": True, "ratio": 0.25, "route": "/pay", "gone": None},
        "tags": ["a", 1, 2.5, False, None, {"k": "v"}, ["x"]],
        "empty": {},
        "absent": None,
        "huge": 2**70,
        "negative": -(2**63),
    }
    otlp = only_record(decode([make_record(attributes=attributes)]))
    values = {kv.key: kv.value for kv in otlp.attributes}
    assert set(values) == {"http", "tags", "empty", "huge", "negative"}
    http = {kv.key: kv.value for kv in values["http"].kvlist_value.values}
    assert set(http) == {"status", "ok", "ratio", "route"}
    assert http["status"].WhichOneof("value") == "int_value" and http["status"].int_value == 200
    assert http["ok"].WhichOneof("value") == "bool_value" and http["ok"].bool_value is True
    assert http["ratio"].WhichOneof("value") == "double_value" and http["ratio"].double_value == 0.25
    assert http["route"].string_value == "/pay"
    assert plain(values["tags"]) == ["a", 1, 2.5, False, None, {"k": "v"}, ["x"]]
    assert values["empty"].WhichOneof("value") == "kvlist_value"
    assert plain(values["empty"]) == {}
    # Beyond int64 the digits travel as a string instead of failing the batch.
    assert values["huge"].string_value == str(2**70)
    assert values["negative"].int_value == -(2**63)


def test_missing_optional_fields_are_left_out() -> None:
    otlp = only_record(decode([make_record(level="debug", severity=5)]))
    assert not otlp.HasField("body")
    assert otlp.trace_id == b"" and otlp.span_id == b""
    assert list(otlp.attributes) == []
    assert otlp.severity_text == "DEBUG"
    partial_error = {"type": "ValueError", "message": None, "stack": None}
    otlp = only_record(decode([make_record(error=partial_error)]))
    assert as_dict(otlp.attributes) == {"exception.type": "ValueError"}


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        ("not-hex-" * 4, "zzzzzzzzzzzzzzzz"),
        (TRACE[:-2], SPAN[:-2]),
        (TRACE + "00", SPAN + "00"),
        ("", ""),
    ],
)
def test_malformed_trace_and_span_ids_are_left_out(trace_id: str, span_id: str) -> None:
    otlp = only_record(decode([make_record(trace_id=trace_id, span_id=span_id, message="kept")]))
    assert otlp.trace_id == b"" and otlp.span_id == b""
    assert otlp.body.string_value == "kept"


def test_attributes_clashing_with_field_names_lose_and_are_counted() -> None:
    record = make_record(user="usr_1", attributes={"enduser.pseudo.id": "raw-id", "exception.type": "X", "ok": 1})
    otlp = only_record(decode([record]))
    assert as_dict(otlp.attributes) == {"enduser.pseudo.id": "usr_1", "ok": 1}
    assert otlp.dropped_attributes_count == 2


def test_values_nested_beyond_the_limit_travel_as_json_and_still_parse() -> None:
    deep: Any = "bottom"
    for _ in range(60):
        deep = {"d": deep}
    otlp = only_record(decode([make_record(attributes={"deep": deep})]))
    value = next(kv.value for kv in otlp.attributes if kv.key == "deep")
    for _ in range(MAX_ATTRIBUTE_DEPTH):
        [inner] = value.kvlist_value.values
        value = inner.value
    assert value.WhichOneof("value") == "string_value"
    remaining: Any = orjson.loads(value.string_value)
    for _ in range(60 - MAX_ATTRIBUTE_DEPTH):
        remaining = remaining["d"]
    assert remaining == "bottom"


def test_an_empty_batch_is_an_empty_request() -> None:
    assert decode([]).resource_logs == []
