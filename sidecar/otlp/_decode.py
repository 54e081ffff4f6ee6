"""Decoding OTLP/HTTP request bodies, binary protobuf or OTLP/JSON, into the protobuf messages.

OTLP/JSON is the proto3 JSON mapping with one exception: trace and span ids are
hex strings, not base64. So the body is parsed with orjson, the ids at exactly the
places the spec names (span, parent span and link ids of spans, trace and span ids
of log records) are rewritten to base64, and ``json_format`` does the rest. Unknown
fields are ignored, as the spec requires of receivers.

Error messages never quote the body: it may hold personal data.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sidecar.errors import BadRequest, UnsupportedMediaType

PROTOBUF_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"

_M = TypeVar("_M", bound=Message)

# Where OTLP/JSON holds hex ids: a tree of repeated-field names down to the id fields.
_ID = None
_SpecTree = dict[str, "_SpecTree | None"]
_TRACE_IDS: _SpecTree = {
    "resourceSpans": {
        "scopeSpans": {
            "spans": {"traceId": _ID, "spanId": _ID, "parentSpanId": _ID, "links": {"traceId": _ID, "spanId": _ID}}
        }
    }
}
_LOG_IDS: _SpecTree = {"resourceLogs": {"scopeLogs": {"logRecords": {"traceId": _ID, "spanId": _ID}}}}
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_FAILED_AT = re.compile(r"Failed to parse (\w+) field: ")
_MAX_PATH = 8  # field names in an error message; deep attribute paths are shortened

# (camelCase name, the names a body may use for it, the subtree or _ID)
_Spec = tuple[tuple[str, tuple[str, ...], "_Spec | None"], ...]


def media_type(content_type: str) -> str:
    """The bare, lowercase media type of a ``Content-Type`` value (parameters dropped)."""
    return content_type.split(";", 1)[0].strip().lower()


def decode_traces(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The trace export request in ``body``; BadRequest when malformed, UnsupportedMediaType for other types."""
    return _decode(body, content_type, ExportTraceServiceRequest(), _TRACE_SPEC)


def decode_logs(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    """The logs export request in ``body``; BadRequest when malformed, UnsupportedMediaType for other types."""
    return _decode(body, content_type, ExportLogsServiceRequest(), _LOG_SPEC)


def _decode(body: bytes, content_type: str, message: _M, spec: _Spec) -> _M:
    kind = media_type(content_type)
    if kind == PROTOBUF_TYPE:
        try:
            message.ParseFromString(body)
        except DecodeError:
            raise BadRequest(f"the body is not a valid protobuf {message.DESCRIPTOR.name}") from None
        return message
    if kind == JSON_TYPE:
        return _parse_json(body, message, spec)
    raise UnsupportedMediaType(f"OTLP/HTTP bodies must be {PROTOBUF_TYPE} or {JSON_TYPE}")


def _parse_json(body: bytes, message: _M, spec: _Spec) -> _M:
    if not body.strip():
        return message
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict):
        raise BadRequest(f"the body must be a JSON object, an OTLP/JSON {message.DESCRIPTOR.name}")
    _ids_to_base64(document, spec)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.Error, ValueError, TypeError, AttributeError, RecursionError) as exc:
        where = _field_path(str(exc), _field_names(message.DESCRIPTOR))
        raise BadRequest(f"the body is not a valid OTLP/JSON {message.DESCRIPTOR.name}{where}") from None
    return message


def _ids_to_base64(node: dict[str, Any], spec: _Spec) -> None:
    for name, keys, child in spec:
        for key in keys:
            value = node.get(key)
            if value is None:
                continue
            if child is None:
                node[key] = _hex_to_base64(value, name)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        _ids_to_base64(item, child)


def _hex_to_base64(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise BadRequest(f"{name}: expected a hex string (an even number of hexadecimal digits)")
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _compile(tree: _SpecTree) -> _Spec:
    # json_format accepts the proto field names as well as the lowerCamelCase JSON names.
    return tuple((name, _spellings(name), None if sub is None else _compile(sub)) for name, sub in tree.items())


def _spellings(name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((name, re.sub(r"[A-Z]", lambda match: "_" + match.group().lower(), name))))


_TRACE_SPEC = _compile(_TRACE_IDS)
_LOG_SPEC = _compile(_LOG_IDS)


def _field_path(error: str, names: frozenset[str]) -> str:
    # json_format nests "Failed to parse <field> field: " per level before the (value-quoting)
    # cause; only that leading chain, and only names of real fields, is repeated to the client.
    path: list[str] = []
    while (match := _FAILED_AT.match(error)) and match.group(1) in names:
        path.append(match.group(1))
        error = error[match.end() :]
    if not path:
        return ""
    if len(path) > _MAX_PATH:
        half = _MAX_PATH // 2
        return f" (at {'.'.join(path[:half])}...{'.'.join(path[-half:])})"
    return f" (at {'.'.join(path)})"


@cache
def _field_names(descriptor: Descriptor) -> frozenset[str]:
    names: set[str] = set()
    pending, seen = [descriptor], set()
    while pending:
        current = pending.pop()
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            names.update((field.name, field.json_name))
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                pending.append(field.message_type)
    return frozenset(names)
