"""Encoding OTLP/HTTP responses: export responses with partial success, and ``google.rpc.Status``.

A response uses the request's encoding: protobuf for ``application/x-protobuf``,
OTLP/JSON for anything else (so an error about an unsupported type stays readable).
In OTLP/JSON int64 fields such as ``rejectedSpans`` are strings, as the proto3 JSON
mapping writes them; the spec lets receivers read both.
"""

from __future__ import annotations

from typing import Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ._decode import JSON_TYPE, PROTOBUF_TYPE, media_type


def encode_response(
    kind: Literal["traces", "logs"], rejected: int, message: str, content_type: str
) -> tuple[bytes, str]:
    """The export response body and its content type; ``partial_success`` only when ``rejected > 0``.

    ``message`` becomes ``partial_success.error_message``; it must not quote request data.
    """
    response: ExportTraceServiceResponse | ExportLogsServiceResponse
    if kind == "traces":
        response = ExportTraceServiceResponse()
        if rejected > 0:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
    elif kind == "logs":
        response = ExportLogsServiceResponse()
        if rejected > 0:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
    else:
        raise ValueError(f"kind must be 'traces' or 'logs', not {kind!r}")
    return _encode(response, content_type)


def encode_status(code: int, message: str, content_type: str) -> tuple[bytes, str]:
    """A ``google.rpc.Status`` error body (``code`` is a gRPC code) and its content type."""
    return _encode(Status(code=code, message=message), content_type)


def _encode(message: Message, content_type: str) -> tuple[bytes, str]:
    if media_type(content_type) == PROTOBUF_TYPE:
        return message.SerializeToString(), PROTOBUF_TYPE
    return orjson.dumps(json_format.MessageToDict(message)), JSON_TYPE
