"""Decoding OTLP/HTTP bodies: protobuf and OTLP/JSON agree, malformed bodies are 400 without echo."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from sidecar.errors import BadRequest, UnsupportedMediaType
from sidecar.otlp import JSON_TYPE, PROTOBUF_TYPE, decode_logs, decode_traces, log_records_of, spans_of

from .sdk import export_logs, export_spans

TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"
PARENT_ID = "EEE19B7EC3C1B173"
SECRET = "alice@example.com"
SPANS = "resourceSpans.scopeSpans.spans"


def spec_json() -> dict[str, Any]:
    """A trace export request shaped like the OTLP spec's JSON example, with every variation it allows."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}],
                    "traceId": "not an id here: an unknown field",
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "shop.checkout", "version": "1.2.3", "spanId": "unknown here too"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "parentSpanId": PARENT_ID,
                                "name": "GET /cart",
                                "startTimeUnixNano": "1544712660000000000",  # int64 as a string
                                "endTimeUnixNano": 1544712661000000000,  # and as a number
                                "kind": 2,
                                "status": {"code": 2, "message": "boom"},
                                "attributes": [
                                    {"key": "traceId", "value": {"stringValue": "an attribute, not an id"}},
                                    {"key": "n", "value": {"intValue": "42"}},
                                    {"key": "m", "value": {"intValue": 7}},
                                    {"key": "d", "value": {"doubleValue": 0.5}},
                                    {"key": "b", "value": {"boolValue": True}},
                                    {"key": "raw", "value": {"bytesValue": "AQID"}},
                                    {"key": "l", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
                                    {
                                        "key": "kv",
                                        "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": 1}}]}},
                                    },
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "1544712660500000000",
                                        "name": "retry",
                                        "spanId": "events have no ids: unknown",
                                        "attributes": [{"key": "attempt", "value": {"intValue": "2"}}],
                                    }
                                ],
                                "links": [{"traceId": TRACE_ID, "spanId": PARENT_ID}],
                                "futureField": {"anything": [1, 2]},
                            }
                        ],
                    }
                ],
            }
        ],
        "futureTopLevel": True,
    }


def spec_proto() -> ExportTraceServiceRequest:
    """The same data as :func:`spec_json`, built with the protobuf classes."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="checkout"))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = "shop.checkout", "1.2.3"
    span = scope_spans.spans.add(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        parent_span_id=bytes.fromhex(PARENT_ID),
        name="GET /cart",
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        kind=2,
    )
    span.status.code, span.status.message = 2, "boom"
    span.attributes.add(key="traceId", value=AnyValue(string_value="an attribute, not an id"))
    span.attributes.add(key="n", value=AnyValue(int_value=42))
    span.attributes.add(key="m", value=AnyValue(int_value=7))
    span.attributes.add(key="d", value=AnyValue(double_value=0.5))
    span.attributes.add(key="b", value=AnyValue(bool_value=True))
    span.attributes.add(key="raw", value=AnyValue(bytes_value=b"\x01\x02\x03"))
    span.attributes.add(key="l").value.array_value.values.add(string_value="x")
    span.attributes.add(key="kv").value.kvlist_value.values.add(key="k", value=AnyValue(int_value=1))
    event = span.events.add(time_unix_nano=1544712660500000000, name="retry")
    event.attributes.add(key="attempt", value=AnyValue(int_value=2))
    span.links.add(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(PARENT_ID))
    return request


def to_snake_case(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), k): to_snake_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_snake_case(item) for item in value]
    return value


def test_otlp_json_decodes_to_the_same_request_and_spans_as_protobuf() -> None:
    from_json = decode_traces(orjson.dumps(spec_json()), JSON_TYPE)
    from_proto = decode_traces(spec_proto().SerializeToString(), PROTOBUF_TYPE)
    assert from_json == from_proto
    spans, reasons = spans_of(from_json)
    assert reasons == []
    assert spans == spans_of(from_proto)[0]
    [span] = spans
    assert (span["trace_id"], span["span_id"]) == (TRACE_ID.lower(), SPAN_ID.lower())
    assert span["parent_span_id"] == PARENT_ID.lower()
    assert (span["kind"], span["status"], span["status_message"]) == ("server", "error", "boom")
    assert span["duration_ms"] == 1000.0
    assert span["attributes"] == {
        "traceId": "an attribute, not an id",
        "n": 42,
        "m": 7,
        "d": 0.5,
        "b": True,
        "raw": "AQID",
        "l": ["x"],
        "kv": {"k": 1},
    }


def test_snake_case_field_names_decode_like_lower_camel_case() -> None:
    body = orjson.dumps(to_snake_case(spec_json()))
    assert decode_traces(body, JSON_TYPE) == spec_proto()


def test_enum_names_are_accepted_like_numbers() -> None:
    document = spec_json()
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["kind"], span["status"]["code"] = "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"
    assert decode_traces(orjson.dumps(document), JSON_TYPE) == spec_proto()


def test_sdk_requests_survive_the_proto3_json_mapping_with_hex_ids() -> None:
    request = export_spans(lambda tracer: tracer.start_span("op", attributes={"k": "v"}).end())
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64decode(span[key]).hex()
    assert decode_traces(orjson.dumps(document), "application/json; charset=utf-8") == request


def test_log_ids_are_hex_in_otlp_json() -> None:
    body = {
        "resourceLogs": [
            {"scope_logs": [{"logRecords": [{"traceId": TRACE_ID, "span_id": SPAN_ID, "body": {"stringValue": "hi"}}]}]}
        ]
    }
    [(record, _)] = log_records_of(decode_logs(orjson.dumps(body), JSON_TYPE), 1)  # type: ignore[misc]
    assert (record["trace_id"], record["span_id"]) == (TRACE_ID.lower(), SPAN_ID.lower())


def test_logs_from_the_sdk_decode_from_protobuf() -> None:
    request = export_logs(lambda logger: logger.emit(body="hello"))
    assert decode_logs(request.SerializeToString(), PROTOBUF_TYPE) == request


@pytest.mark.parametrize("content_type", [JSON_TYPE, PROTOBUF_TYPE])
def test_an_empty_body_is_an_empty_request(content_type: str) -> None:
    assert decode_traces(b"", content_type) == ExportTraceServiceRequest()
    assert decode_logs(b"", content_type) == ExportLogsServiceRequest()


@pytest.mark.parametrize("content_type", ["Application/X-Protobuf", "application/x-protobuf; proto=otlp"])
def test_content_type_case_and_parameters_do_not_matter(content_type: str) -> None:
    assert decode_traces(spec_proto().SerializeToString(), content_type) == spec_proto()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-ndjson", "", "application/protobuf"])
def test_other_content_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_traces(b"{}", content_type)
    with pytest.raises(UnsupportedMediaType):
        decode_logs(b"{}", content_type)


def _with_span_field(key: str, value: Any) -> bytes:
    document = copy.deepcopy(spec_json())
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0][key] = value
    return orjson.dumps(document)


@pytest.mark.parametrize(
    ("body", "content_type", "where"),
    [
        (b'{"resourceSpans": [' + SECRET.encode(), JSON_TYPE, "not valid JSON (line 1, column 20)"),
        (b'["' + SECRET.encode() + b'"]', JSON_TYPE, "must be a JSON object"),
        (b'"' + SECRET.encode() + b'"', JSON_TYPE, "must be a JSON object"),
        (_with_span_field("traceId", SECRET), JSON_TYPE, "traceId: expected a hex string"),
        (_with_span_field("spanId", "abc"), JSON_TYPE, "spanId: expected a hex string"),
        (_with_span_field("parent_span_id", 12), JSON_TYPE, "parentSpanId: expected a hex string"),
        (_with_span_field("startTimeUnixNano", SECRET), JSON_TYPE, f"(at {SPANS}.startTimeUnixNano)"),
        (_with_span_field("name", {SECRET: SECRET}), JSON_TYPE, f"(at {SPANS}.name)"),
        (orjson.dumps({"resourceSpans": SECRET}), JSON_TYPE, "(at resourceSpans)"),
        (b"\x0a\x05" + SECRET.encode()[:3], PROTOBUF_TYPE, "not a valid protobuf ExportTraceServiceRequest"),
        (b"\x0a\x11\x12\x0f\x12\x0d\x0a\x0b" + SECRET.encode(), PROTOBUF_TYPE, "not a valid protobuf"),
    ],
)
def test_malformed_bodies_are_bad_requests_without_the_body(body: bytes, content_type: str, where: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_traces(body, content_type)
    assert where in caught.value.message
    assert SECRET not in caught.value.message
    assert "alice" not in str(caught.value)


def test_a_field_name_inside_a_value_is_not_reported_as_the_path() -> None:
    body = _with_span_field("startTimeUnixNano", "Failed to parse alice field: ")
    with pytest.raises(BadRequest) as caught:
        decode_traces(body, JSON_TYPE)
    assert "alice" not in caught.value.message


def test_bad_log_ids_are_bad_requests() -> None:
    body = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]})
    with pytest.raises(BadRequest, match="traceId: expected a hex string"):
        decode_logs(body, JSON_TYPE)


def _nested_kvlist_json(depth: int) -> bytes:
    value = '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + '{"stringValue": "leaf"}' + "}]}}" * depth
    return b'{"resourceSpans": [{"resource": {"attributes": [{"key": "deep", "value": %s}]}}]}' % value.encode()


@pytest.mark.parametrize("depth", [60, 400])  # beyond json_format's limit, beyond orjson's
def test_json_nested_too_deeply_is_a_bad_request_not_a_crash(depth: int) -> None:
    assert decode_traces(_nested_kvlist_json(10), JSON_TYPE).resource_spans
    with pytest.raises(BadRequest) as caught:
        decode_traces(_nested_kvlist_json(depth), JSON_TYPE)
    assert len(caught.value.message) < 160  # a deep path is shortened


def test_protobuf_nested_too_deeply_is_a_bad_request_not_a_crash() -> None:
    value = AnyValue(string_value="leaf")
    for _ in range(200):
        outer = AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        value = outer
    request = ExportTraceServiceRequest()
    request.resource_spans.add().resource.attributes.add(key="deep").value.CopyFrom(value)
    with pytest.raises(BadRequest):
        decode_traces(request.SerializeToString(), PROTOBUF_TYPE)


def test_only_real_field_names_are_reported_as_the_path() -> None:
    from sidecar.otlp._decode import _field_names, _field_path

    names = _field_names(ExportTraceServiceRequest.DESCRIPTOR)
    error = "Failed to parse resourceSpans field: Failed to parse alice field: Failed to parse name field: x"
    assert _field_path(error, names) == " (at resourceSpans)"


_FIELDS = sorted(
    {"traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano", "attributes", "events", "links"}
    | {"status", "code", "key", "value", "values", "stringValue", "intValue", "doubleValue", "kvlistValue"}
    | {"arrayValue", "bytesValue", "boolValue", "timeUnixNano", "message", "resource", "scope", "flags"}
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | st.just("00ff"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(span=st.dictionaries(st.sampled_from(_FIELDS), _json_values, max_size=6))
def test_arbitrary_json_spans_decode_or_are_bad_requests(span: dict[str, Any]) -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    try:
        request = decode_traces(body, JSON_TYPE)
    except BadRequest:
        return
    spans_of(request)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_are_bad_requests(body: bytes) -> None:
    for content_type in (PROTOBUF_TYPE, JSON_TYPE):
        try:
            spans_of(decode_traces(body, content_type))
            log_records_of(decode_logs(body, content_type), 1)
        except BadRequest:
            pass
