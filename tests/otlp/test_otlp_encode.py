"""Encoding export responses and google.rpc.Status bodies, as protobuf or OTLP/JSON."""

from __future__ import annotations

import orjson
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from sidecar.otlp import JSON_TYPE, PROTOBUF_TYPE, encode_response, encode_status


def test_trace_partial_success_round_trips_as_protobuf() -> None:
    body, content_type = encode_response("traces", 3, "3 spans had invalid ids", PROTOBUF_TYPE)
    assert content_type == PROTOBUF_TYPE
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == "3 spans had invalid ids"


def test_log_partial_success_round_trips_as_json() -> None:
    body, content_type = encode_response("logs", 2, "2 records rejected", "application/json; charset=utf-8")
    assert content_type == JSON_TYPE
    assert orjson.loads(body) == {"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "2 records rejected"}}
    response = json_format.Parse(body, ExportLogsServiceResponse())
    assert response.partial_success.rejected_log_records == 2


@pytest.mark.parametrize("kind", ["traces", "logs"])
def test_no_partial_success_when_nothing_was_rejected(kind: str) -> None:
    response_type = ExportTraceServiceResponse if kind == "traces" else ExportLogsServiceResponse
    body, _ = encode_response(kind, 0, "ignored", PROTOBUF_TYPE)  # type: ignore[arg-type]
    assert body == b""
    assert not response_type.FromString(body).HasField("partial_success")
    body, _ = encode_response(kind, 0, "ignored", JSON_TYPE)  # type: ignore[arg-type]
    assert body == b"{}"


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        encode_response("metrics", 1, "x", JSON_TYPE)  # type: ignore[arg-type]


def test_status_round_trips_as_protobuf_and_json() -> None:
    body, content_type = encode_status(3, "the body is not valid JSON", PROTOBUF_TYPE)
    assert content_type == PROTOBUF_TYPE
    assert Status.FromString(body) == Status(code=3, message="the body is not valid JSON")
    body, content_type = encode_status(8, "slow down", JSON_TYPE)
    assert content_type == JSON_TYPE
    assert orjson.loads(body) == {"code": 8, "message": "slow down"}
    assert json_format.Parse(body, Status()) == Status(code=8, message="slow down")


def test_an_unsupported_request_type_gets_a_json_status() -> None:
    body, content_type = encode_status(3, "unsupported media type", "text/plain")
    assert content_type == JSON_TYPE
    assert orjson.loads(body)["message"] == "unsupported media type"
