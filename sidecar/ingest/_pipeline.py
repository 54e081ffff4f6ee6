"""The ingest pipeline for one batch: split -> normalize -> redact -> serialize.

``process_batch`` is a pure function of its inputs, so it runs the same inline
or in a worker process; its result is plain picklable data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from sidecar.errors import BadRequest, PayloadTooLarge
from sidecar.logs import LogRecord
from sidecar.redact import Redactor
from sidecar.stats import Observation, observation_from_log

from ._limits import IngestLimits
from ._normalize import Rejected, normalize

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
JSON_TYPE = "application/json"
REDACTED_USER = "[REDACTED:user]"
_TEXT_FIELDS = ("message", "service", "request_id", "action")


@dataclass(slots=True)
class BatchResult:
    """What one batch produced: the spool payload of accepted records and the counts around it."""

    payload: bytes = b""  # NDJSON of accepted, redacted records
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason)
    rejected_codes: Counter[str] = field(default_factory=Counter)  # bounded reason codes
    quarantined: int = 0
    redactions: Counter[str] = field(default_factory=Counter)  # by kind
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (service, level)
    observations: list[Observation] = field(default_factory=list)  # RED figures of timed records


def split_body(body: bytes, content_type: str, limits: IngestLimits) -> list[Any]:
    """The raw records of a body: parsed values, or :class:`Rejected` for unreadable NDJSON lines."""
    if content_type in NDJSON_TYPES:
        items: list[Any] = []
        for line in body.split(b"\n"):
            if not line.strip():
                continue
            if len(line) > limits.max_record_bytes:
                items.append(_rejected_size(limits))
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                items.append(Rejected("invalid_json", "not valid JSON"))
    else:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if isinstance(document, dict):
            items = [document]
        elif isinstance(document, list):
            items = document
            if len(body) > limits.max_record_bytes:  # only then can one element be over the limit
                items = [_too_large(item, limits) for item in items]
        else:
            raise BadRequest("the body must be a JSON object or an array of objects")
    if len(items) > limits.max_records:
        raise PayloadTooLarge(f"the batch has {len(items)} records; the limit is {limits.max_records}")
    return items


def _rejected_size(limits: IngestLimits) -> Rejected:
    return Rejected("too_large", f"record is larger than {limits.max_record_bytes} bytes")


def _too_large(item: Any, limits: IngestLimits) -> Any:
    return _rejected_size(limits) if len(orjson.dumps(item)) > limits.max_record_bytes else item


def process_batch(
    body: bytes, content_type: str, received_ns: int, redactor: Redactor, limits: IngestLimits
) -> BatchResult:
    """Run the whole pipeline over one body of native JSON records."""
    return _fold(_native(body, content_type, received_ns, limits), redactor)


def process_otlp_logs(
    body: bytes, content_type: str, received_ns: int, redactor: Redactor, limits: IngestLimits
) -> BatchResult:
    """Run the whole pipeline over one OTLP ``ExportLogsServiceRequest`` (protobuf or OTLP/JSON)."""
    from sidecar.otlp import decode_logs, log_records_of  # protobuf loads only where OTLP is used

    return _fold(log_records_of(decode_logs(body, content_type), received_ns, limits), redactor)


Normalized = tuple[LogRecord, str | None] | Rejected


def _native(body: bytes, content_type: str, received_ns: int, limits: IngestLimits) -> Iterator[Normalized]:
    for item in split_body(body, content_type, limits):
        if isinstance(item, Rejected):
            yield item
            continue
        try:
            yield normalize(item, received_ns, limits)
        except Rejected as rejection:
            yield rejection


def _fold(items: Iterable[Normalized], redactor: Redactor) -> BatchResult:
    """Redact and serialise the normalised records of one batch, counting what happened."""
    result = BatchResult()
    lines: list[bytes] = []
    for index, item in enumerate(items):
        if isinstance(item, Rejected):
            result.rejected.append((index, item.reason))
            result.rejected_codes[item.code] += 1
            continue
        record, raw_user = item
        try:
            redacted = redact_record(record, raw_user, redactor, result.redactions)
            line = orjson.dumps(redacted)
        except Exception:
            result.quarantined += 1
            result.rejected.append((index, "quarantined: redaction failed"))
            continue
        lines.append(line)
        result.received[(redacted["service"] or "", redacted["level"])] += 1
        observation = observation_from_log(redacted)  # in the worker: the sidecar only adds them up
        if observation is not None:
            result.observations.append(observation)
    lines.append(b"")
    result.payload = b"\n".join(lines) if len(lines) > 1 else b""
    result.accepted = len(lines) - 1
    return result


def redact_record(record: LogRecord, raw_user: str | None, redactor: Redactor, counts: Counter[str]) -> LogRecord:
    """Redact every string of ``record`` (in place) and replace the user id by its pseudonym.

    Only the fields that can hold free text are walked: the others are numbers,
    levels or validated hex ids, and the top-level keys are the sidecar's own.
    """
    for key in _TEXT_FIELDS:
        value = record[key]  # type: ignore[literal-required]
        if value is not None:
            record[key] = redactor.redact_text(value, counts)  # type: ignore[literal-required]
    if record["error"] is not None:
        record["error"] = redactor.redact_value(record["error"], counts)  # type: ignore[typeddict-item]
    if record["attributes"]:
        record["attributes"] = redactor.redact_value(record["attributes"], counts)  # type: ignore[typeddict-item]
    if raw_user is not None:
        counts["user"] += 1
        record["user"] = redactor.pseudonymize(raw_user) if redactor.can_pseudonymize else REDACTED_USER
    return record
