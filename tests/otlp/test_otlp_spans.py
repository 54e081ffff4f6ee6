"""Flattening trace export requests into SpanRecords: SDK-built requests, partial success, AnyValue."""

from __future__ import annotations

import base64
import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import SpanKind, Status, StatusCode

from sidecar.otlp import PROTOBUF_TYPE, decode_traces, redact_span, spans_of
from sidecar.redact import RedactionPolicy, Redactor

from .sdk import export_spans

T0 = 1_700_000_000_000_000_000


def roundtrip(request: ExportTraceServiceRequest) -> tuple[list[Any], list[str]]:
    return spans_of(decode_traces(request.SerializeToString(), PROTOBUF_TYPE))


def any_value(value: Any) -> AnyValue:
    """An AnyValue for a JSON value, written independently of the code under test."""
    out = AnyValue()
    if isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(item) for item in value)
    elif isinstance(value, dict):
        out.kvlist_value.SetInParent()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(v)) for k, v in value.items())
    return out


def pairs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def span(**fields: Any) -> Span:
    defaults: dict[str, Any] = {
        "trace_id": bytes(range(1, 17)),
        "span_id": bytes(range(1, 9)),
        "name": "op",
        "start_time_unix_nano": T0,
        "end_time_unix_nano": T0 + 1_500_000,
    }
    return Span(**{**defaults, **fields})


def request_of(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (resource or {"service.name": "checkout"}).items():
        resource_spans.resource.attributes.extend(pairs({key: value}))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def test_every_field_of_sdk_spans_survives_decoding() -> None:
    contexts: dict[str, trace.SpanContext] = {}

    def record(tracer: Tracer) -> None:
        parent = tracer.start_span(
            "GET /cart",
            kind=SpanKind.SERVER,
            start_time=T0,
            attributes={"http.method": "GET", "ok": True, "n": 3, "ratio": 0.25, "tags": ["a", "b"], "raw": b"\0\xff"},
        )
        with trace.use_span(parent, end_on_exit=False):
            child = tracer.start_span("SELECT carts", kind=SpanKind.CLIENT, start_time=T0 + 1_000)
            child.add_event("cache.miss", {"key": "cart:42", "attempt": 2}, timestamp=T0 + 2_000)
            child.set_status(Status(StatusCode.ERROR, "db timeout"))
            child.end(end_time=T0 + 3_501_000)
        parent.set_status(Status(StatusCode.OK))
        parent.end(end_time=T0 + 5_000_000)
        contexts.update(parent=parent.get_span_context(), child=child.get_span_context())

    request = export_spans(record, resource={"service.name": "checkout", "deployment.environment": "prod"})
    spans, reasons = roundtrip(request)

    assert reasons == []
    by_name = {s["name"]: s for s in spans}
    parent, child = by_name["GET /cart"], by_name["SELECT carts"]
    assert parent["trace_id"] == child["trace_id"] == format(contexts["parent"].trace_id, "032x")
    assert parent["span_id"] == format(contexts["parent"].span_id, "016x")
    assert child["span_id"] == format(contexts["child"].span_id, "016x")
    assert parent["parent_span_id"] is None
    assert child["parent_span_id"] == parent["span_id"]
    assert (parent["kind"], child["kind"]) == ("server", "client")
    assert (parent["status"], parent["status_message"]) == ("ok", None)
    assert (child["status"], child["status_message"]) == ("error", "db timeout")
    assert (parent["start"], parent["end"], parent["duration_ms"]) == (T0, T0 + 5_000_000, 5.0)
    assert child["duration_ms"] == 3.5
    assert parent["attributes"] == {
        "http.method": "GET",
        "ok": True,
        "n": 3,
        "ratio": 0.25,
        "tags": ["a", "b"],
        "raw": base64.b64encode(b"\x00\xff").decode(),
    }
    assert child["events"] == [{"name": "cache.miss", "ts": T0 + 2_000, "attributes": {"key": "cart:42", "attempt": 2}}]
    assert parent["service"] == "checkout"
    assert parent["scope"] == "shop.checkout"
    assert parent["resource"]["deployment.environment"] == "prod"
    assert parent["resource"]["service.name"] == "checkout"
    assert parent["resource"]["telemetry.sdk.language"] == "python"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (SpanKind.INTERNAL, "internal"),
        (SpanKind.SERVER, "server"),
        (SpanKind.CLIENT, "client"),
        (SpanKind.PRODUCER, "producer"),
        (SpanKind.CONSUMER, "consumer"),
    ],
)
def test_sdk_span_kinds_map_to_their_literals(kind: SpanKind, expected: str) -> None:
    request = export_spans(lambda tracer: tracer.start_span("op", kind=kind).end())
    [record], _ = roundtrip(request)
    assert record["kind"] == expected


def test_recorded_exception_arrives_as_an_exception_event() -> None:
    def record(tracer: Tracer) -> None:
        with pytest.raises(ValueError), tracer.start_as_current_span("pay"):
            raise ValueError("card declined")

    [record_], _ = roundtrip(export_spans(record))
    [event] = record_["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "card declined"
    assert "raise ValueError" in event["attributes"]["exception.stacktrace"]
    assert record_["status"] == "error"


def test_unset_kind_and_status_and_unknown_enum_numbers() -> None:
    spans, _ = roundtrip(request_of(span(), span(kind=99, status={"code": 7, "message": ""})))
    assert [(s["kind"], s["status"], s["status_message"]) for s in spans] == [("unspecified", "unset", None)] * 2


def test_kvlist_and_every_scalar_type_map_to_json_values() -> None:
    attributes = {
        "s": "text",
        "b": False,
        "i": -(2**63),
        "d": 1.5e300,
        "empty": None,
        "bytes": b"\x01\x02\x03",
        "list": [1, "two", [3.0], {"four": 4}],
        "map": {"a": {"b": {"c": [True, None]}}},
        "empty_map": {},
        "empty_list": [],
    }
    request = request_of(span(attributes=pairs(attributes)))
    [record], _ = roundtrip(request)
    assert record["attributes"] == {**attributes, "bytes": "AQID"}


def test_non_finite_doubles_use_their_proto3_json_names() -> None:
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf}
    [record], _ = roundtrip(request_of(span(attributes=pairs(values))))
    assert record["attributes"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}


def test_links_are_dropped_and_all_zero_parent_means_root() -> None:
    link = Span.Link(trace_id=b"\x09" * 16, span_id=b"\x08" * 8)
    [record], reasons = roundtrip(request_of(span(links=[link], parent_span_id=b"\0" * 8)))
    assert reasons == []
    assert record["parent_span_id"] is None
    assert "links" not in record


def test_no_service_name_gives_none_and_a_non_string_one_too() -> None:
    spans, _ = roundtrip(request_of(span(), resource={"host.name": "h1"}))
    assert spans[0]["service"] is None
    spans, _ = roundtrip(request_of(span(), resource={"service.name": 42}))
    assert spans[0]["service"] is None
    assert spans[0]["resource"] == {"service.name": 42}


def test_invalid_spans_are_reported_and_their_valid_siblings_kept() -> None:
    request = request_of(
        span(name="good-1"),
        span(trace_id=b"\0" * 16),
        span(trace_id=b"\x01" * 15),
        span(span_id=b""),
        span(span_id=b"\x01" * 4),
        span(parent_span_id=b"\x01" * 3),
        span(start_time_unix_nano=0),
        span(end_time_unix_nano=T0 - 1),
        span(end_time_unix_nano=2**63),
        span(name="good-2", end_time_unix_nano=T0),
    )
    spans, reasons = roundtrip(request)
    assert [s["name"] for s in spans] == ["good-1", "good-2"]
    assert spans[1]["duration_ms"] == 0.0
    prefix = "resource_spans[0].scope_spans[0].spans"
    assert reasons == [
        f"{prefix}[1]: trace_id: missing or all zero",
        f"{prefix}[2]: trace_id: expected 16 bytes",
        f"{prefix}[3]: span_id: missing or all zero",
        f"{prefix}[4]: span_id: expected 8 bytes",
        f"{prefix}[5]: parent_span_id: expected 8 bytes",
        f"{prefix}[6]: start_time_unix_nano is missing",
        f"{prefix}[7]: end_time_unix_nano is before start_time_unix_nano",
        f"{prefix}[8]: end_time_unix_nano is past the year 2262 (storage keeps signed 64-bit times)",
    ]


def test_spans_of_one_resource_share_it_and_redaction_never_edits_it() -> None:
    resource = {"service.name": "a", "owner": "jane@example.com", "k": {"nested": "v"}}
    spans, _ = roundtrip(request_of(span(), span(), resource=resource))
    assert spans[0]["resource"] is spans[1]["resource"]  # converted once per resource
    redactor = Redactor(RedactionPolicy())
    counts: Counter[str] = Counter()
    cache: dict[int, dict[str, Any]] = {}
    redact_span(spans[0], redactor, counts, cache)
    assert spans[1]["resource"]["owner"] == "jane@example.com"  # the shared original is untouched
    redact_span(spans[1], redactor, counts, cache)
    assert spans[0]["resource"] is spans[1]["resource"] and spans[1]["resource"]["owner"] == "[REDACTED:email]"
    assert counts["email"] == 1  # redacted once for the resource


# Random attribute trees: every AnyValue type except bytes (which comes back as base64 text).
_scalars = (
    st.none()
    | st.text(max_size=20)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_trees = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_ids = st.binary(min_size=16, max_size=16).filter(any)


@settings(max_examples=150, deadline=None)
@given(
    attributes=st.dictionaries(st.text(max_size=12), _trees, max_size=6),
    name=st.text(max_size=30),
    trace_id=_ids,
    start=st.integers(min_value=1, max_value=2**63 - 2**40 - 1),
    length=st.integers(min_value=0, max_value=2**40),
)
def test_random_attribute_trees_round_trip_losslessly(
    attributes: dict[str, Any], name: str, trace_id: bytes, start: int, length: int
) -> None:
    key_values = pairs(attributes)
    event = Span.Event(name=name, time_unix_nano=start, attributes=key_values)
    request = request_of(
        span(
            trace_id=trace_id,
            name=name,
            attributes=key_values,
            events=[event],
            start_time_unix_nano=start,
            end_time_unix_nano=start + length,
        )
    )
    [record], reasons = roundtrip(request)
    assert reasons == []
    assert record["attributes"] == attributes
    assert record["events"] == [{"name": name, "ts": start, "attributes": attributes}]
    assert record["trace_id"] == trace_id.hex()
    assert record["name"] == name
    assert record["duration_ms"] == length / 1e6
