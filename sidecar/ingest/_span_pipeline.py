"""The span pipeline for one OTLP traces request: decode -> flatten -> redact -> serialize.

Like :func:`~sidecar.ingest.process_batch`, a pure function of its inputs that
runs inline or in a worker process; its result is plain picklable data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from sidecar.errors import PayloadTooLarge
from sidecar.redact import Redactor
from sidecar.stats import Observation, observation_from_span

from ._limits import IngestLimits


@dataclass(slots=True)
class SpanBatchResult:
    """What one traces request produced: the spool payload of accepted spans and the counts around it."""

    payload: bytes = b""  # NDJSON of accepted, redacted spans
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)  # one reason per rejected span
    quarantined: int = 0
    redactions: Counter[str] = field(default_factory=Counter)  # by kind
    received: Counter[str] = field(default_factory=Counter)  # by service
    observations: list[Observation] = field(default_factory=list)  # RED figures of the accepted spans


def process_spans(
    body: bytes, content_type: str, received_ns: int, redactor: Redactor, limits: IngestLimits
) -> SpanBatchResult:
    """Run the whole span pipeline over one ``ExportTraceServiceRequest`` body (protobuf or OTLP/JSON)."""
    from sidecar.otlp import decode_traces, redact_span, spans_of  # protobuf loads only where OTLP is used

    spans, reasons = spans_of(decode_traces(body, content_type))
    if len(spans) + len(reasons) > limits.max_records:
        raise PayloadTooLarge(f"the request has {len(spans) + len(reasons)} spans; the limit is {limits.max_records}")
    result = SpanBatchResult(rejected=reasons)
    lines: list[bytes] = []
    resources: dict[int, dict[str, Any]] = {}  # the spans of one resource share it: redacted once
    for span in spans:
        try:
            lines.append(orjson.dumps(redact_span(span, redactor, result.redactions, resources)))
        except Exception:
            result.quarantined += 1
            result.rejected.append(f"span {span['span_id']}: quarantined: redaction failed")
            continue
        result.received[span["service"] or ""] += 1
        # Extracted here, in the worker, so that the sidecar's own process only adds them up.
        observation = observation_from_span(span)
        if observation is not None:
            result.observations.append(observation)
    lines.append(b"")
    result.payload = b"\n".join(lines) if len(lines) > 1 else b""
    result.accepted = len(lines) - 1
    return result
