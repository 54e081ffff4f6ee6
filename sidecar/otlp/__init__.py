"""The OTLP/HTTP codec: pure functions from request bodies to sidecar records and back, no I/O.

    request = decode_traces(body, content_type)        # BadRequest, UnsupportedMediaType
    spans, reasons = spans_of(request)                 # invalid spans become reasons
    spans = [redact_span(span, redactor, counts) for span in spans]
    body, response_type = encode_response("traces", len(reasons), "; ".join(reasons[:3]), content_type)

Logs go ``decode_logs`` -> ``log_records_of`` -> the native pipeline's redaction.
Bodies are ``application/x-protobuf`` or OTLP/JSON (``application/json``, hex
trace and span ids); decompression is the HTTP layer's job.
"""

from ._decode import JSON_TYPE, PROTOBUF_TYPE, decode_logs, decode_traces, media_type
from ._encode import encode_response, encode_status
from ._logs import ACTION_KEYS, DURATION_KEYS, REQUEST_ID_KEYS, USER_KEYS, log_records_of
from ._redact import IDENTITY_KEYS, redact_span
from ._spans import spans_of

__all__ = [
    "ACTION_KEYS",
    "DURATION_KEYS",
    "IDENTITY_KEYS",
    "JSON_TYPE",
    "PROTOBUF_TYPE",
    "REQUEST_ID_KEYS",
    "USER_KEYS",
    "decode_logs",
    "decode_traces",
    "encode_response",
    "encode_status",
    "log_records_of",
    "media_type",
    "redact_span",
    "spans_of",
]
