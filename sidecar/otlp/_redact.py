"""Redacting a :class:`~sidecar.traces.SpanRecord` before it is stored or counted."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sidecar.redact import Redactor
from sidecar.traces import SpanRecord

# The semantic-convention user ids; pseudonymised like a native record's userId.
IDENTITY_KEYS = ("enduser.id", "user.id")
REDACTED_USER = "[REDACTED:user]"


def redact_span(
    span: SpanRecord, redactor: Redactor, counts: Counter[str], resources: dict[int, dict[str, Any]] | None = None
) -> SpanRecord:
    """Redact every free-text part of ``span`` in place and return it; add to ``counts[kind]``.

    Name, status message, service and scope names go through ``redact_text``; the
    attributes of the span, its resource and its events (where ``exception.message``
    and ``exception.stacktrace`` live) through ``redact_value``, which also blanks
    values under secret-looking keys. :data:`IDENTITY_KEYS` become pseudonyms, or
    ``[REDACTED:user]`` when the policy has no pseudonym key (kind ``user``). Ids,
    times, kind and status are left alone. Raises RedactionFailed for attribute
    values nested too deeply to redact.

    ``resources``, shared across the spans of one request, remembers each resource
    dict's redacted form: spans of one resource share that dict (see ``spans_of``),
    so it is redacted (and counted) once.
    """
    text = redactor.redact_text
    span["name"] = text(span["name"], counts)
    for key in ("status_message", "service", "scope"):
        value = span[key]  # type: ignore[literal-required]
        if value is not None:
            span[key] = text(value, counts)  # type: ignore[literal-required]
    span["attributes"] = _attributes(span["attributes"], redactor, counts)
    original = span["resource"]
    if resources is None:
        span["resource"] = _attributes(original, redactor, counts)
    else:
        known = resources.get(id(original))
        if known is None:
            known = resources[id(original)] = _attributes(original, redactor, counts)
        span["resource"] = known
    for event in span["events"]:
        event["name"] = text(event["name"], counts)
        event["attributes"] = _attributes(event["attributes"], redactor, counts)
    return span


def _attributes(attributes: dict[str, Any], redactor: Redactor, counts: Counter[str]) -> dict[str, Any]:
    if not attributes:
        return attributes
    identities = {key: attributes[key] for key in IDENTITY_KEYS if key in attributes}
    if identities:
        attributes = {key: value for key, value in attributes.items() if key not in identities}
    clean: dict[str, Any] = redactor.redact_value(attributes, counts)  # type: ignore[assignment]
    for key, value in identities.items():
        clean[key] = _pseudonym(value, redactor, counts)
    return clean


def _pseudonym(value: Any, redactor: Redactor, counts: Counter[str]) -> str:
    counts["user"] += 1
    is_id = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if is_id and redactor.can_pseudonymize:
        return redactor.pseudonymize(str(value))
    return REDACTED_USER
