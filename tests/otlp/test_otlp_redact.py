"""Redacting spans: names, attributes at any depth, events, resource, secrets, user ids; ids untouched."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
from opentelemetry.sdk.trace import Tracer

from sidecar.otlp import PROTOBUF_TYPE, decode_traces, redact_span, spans_of
from sidecar.redact import RedactionPolicy, Redactor
from sidecar.traces import SpanRecord

from .sdk import export_spans

KEY = b"test-pseudonym-key-0123456789abc"
EMAIL = "alice@example.com"
T0 = 1_700_000_000_000_000_000


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(RedactionPolicy(pseudonym_key=KEY))


def sample() -> SpanRecord:
    return {
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b173",
        "name": f"notify {EMAIL}",
        "kind": "client",
        "start": T0,
        "end": T0 + 2_000_000,
        "duration_ms": 2.0,
        "status": "error",
        "status_message": f"mailbox {EMAIL} full",
        "service": "checkout",
        "scope": "shop.mailer",
        "attributes": {
            "mail.to": EMAIL,
            "http.url": "https://api.example.com/v1?token=abc123secretvalue",
            "request": {"headers": {"authorization": "Bearer abc.def.ghi", "accept": "text/html"}},
            "recipients": [{"address": EMAIL}, "bob@example.org"],
            "api_key": "plain-looking",
            "enduser.id": "alice-42",
            "count": 3,
            "ok": False,
        },
        "resource": {"service.name": "checkout", "owner.email": EMAIL, "host.name": "web-1"},
        "events": [
            {
                "name": "exception",
                "ts": T0 + 1_000,
                "attributes": {
                    "exception.type": "SMTPError",
                    "exception.message": f"550 {EMAIL}: no such user",
                    "exception.stacktrace": f'File "mail.py", line 3, in send\nSMTPError: {EMAIL}',
                },
            }
        ],
    }


def test_every_free_text_part_is_redacted(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    span = redact_span(sample(), redactor, counts)
    assert span["name"] == "notify [REDACTED:email]"
    assert span["status_message"] == "mailbox [REDACTED:email] full"
    attributes = span["attributes"]
    assert attributes["mail.to"] == "[REDACTED:email]"
    assert attributes["recipients"] == [{"address": "[REDACTED:email]"}, "[REDACTED:email]"]
    assert attributes["request"]["headers"] == {"authorization": "[REDACTED:key]", "accept": "text/html"}
    assert attributes["api_key"] == "[REDACTED:key]"
    assert "abc123secretvalue" not in attributes["http.url"]
    assert (attributes["count"], attributes["ok"]) == (3, False)
    assert span["resource"] == {"service.name": "checkout", "owner.email": "[REDACTED:email]", "host.name": "web-1"}
    event = span["events"][0]["attributes"]
    assert event["exception.message"] == "550 [REDACTED:email]: no such user"
    assert EMAIL not in event["exception.stacktrace"]
    assert event["exception.type"] == "SMTPError"
    assert EMAIL not in repr(span)
    assert counts["email"] == 8
    assert counts["key"] == 2


def test_user_ids_are_pseudonymised_like_native_records(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    span = sample()
    span["resource"]["user.id"] = 42
    span["events"][0]["attributes"]["enduser.id"] = "alice-42"
    redact_span(span, redactor, counts)
    assert span["attributes"]["enduser.id"] == redactor.pseudonymize("alice-42")
    assert span["resource"]["user.id"] == redactor.pseudonymize("42")
    assert span["events"][0]["attributes"]["enduser.id"] == redactor.pseudonymize("alice-42")
    assert counts["user"] == 3


def test_without_a_pseudonym_key_user_ids_are_blanked() -> None:
    counts: Counter[str] = Counter()
    span = redact_span(sample(), Redactor(RedactionPolicy()), counts)
    assert span["attributes"]["enduser.id"] == "[REDACTED:user]"
    assert counts["user"] == 1


def test_a_user_id_that_is_not_a_scalar_is_blanked(redactor: Redactor) -> None:
    span = sample()
    span["attributes"]["user.id"] = [EMAIL]
    redact_span(span, redactor, Counter())
    assert span["attributes"]["user.id"] == "[REDACTED:user]"


def test_a_personal_service_name_is_redacted_too(redactor: Redactor) -> None:
    span = sample()
    span["service"] = EMAIL
    assert redact_span(span, redactor, Counter())["service"] == "[REDACTED:email]"


def test_ids_times_kind_and_status_are_untouched(redactor: Redactor) -> None:
    before = sample()
    after = redact_span(copy.deepcopy(before), redactor, Counter())
    untouched = ("trace_id", "span_id", "parent_span_id", "kind", "start", "end", "duration_ms", "status", "scope")
    assert {key: after[key] for key in untouched} == {key: before[key] for key in untouched}  # type: ignore[literal-required]
    assert [e["ts"] for e in after["events"]] == [e["ts"] for e in before["events"]]


def test_a_clean_sdk_span_is_unchanged_and_uncounted(redactor: Redactor) -> None:
    def record(tracer: Tracer) -> None:
        tracer.start_span("GET /cart", attributes={"http.status_code": 200, "cart.id": "c-42"}).end()

    [span], _ = spans_of(decode_traces(export_spans(record).SerializeToString(), PROTOBUF_TYPE))
    counts: Counter[str] = Counter()
    assert redact_span(copy.deepcopy(span), redactor, counts) == span
    assert not counts


def test_an_sdk_exception_event_is_redacted(redactor: Redactor) -> None:
    def record(tracer: Tracer) -> None:
        with pytest.raises(ValueError), tracer.start_as_current_span("pay"):
            raise ValueError(f"no account for {EMAIL}")

    [span], _ = spans_of(decode_traces(export_spans(record).SerializeToString(), PROTOBUF_TYPE))
    counts: Counter[str] = Counter()
    redact_span(span, redactor, counts)
    assert EMAIL not in repr(span)
    assert span["events"][0]["attributes"]["exception.message"] == "no account for [REDACTED:email]"
    assert span["status_message"] is not None
    assert counts["email"] == 3  # status message, exception.message, exception.stacktrace
