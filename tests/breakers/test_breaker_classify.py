"""Client spans to providers as outcomes: which provider, and whether it failed."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.breakers import Matcher, outcome_from_span, provider_failed

MATCHER = Matcher({"anthropic": ["api.anthropic.com", "anthropic"], "stripe": ["*.stripe.com"]})


def span(kind: str = "client", status: str = "unset", **attributes: Any) -> dict[str, Any]:
    return {"kind": kind, "status": status, "end": 1_700_000_000_500_000_000, "duration_ms": 812.5,
            "attributes": attributes, "events": []}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "http_status", "error_type", "failed"),
    [
        ("unset", 200, None, False),
        ("error", 400, None, False),  # the caller's mistake, not the provider's
        ("error", 401, None, False),
        ("error", 404, None, False),
        ("error", 422, None, False),
        ("error", 429, None, True),
        ("error", 500, None, True),
        ("unset", 503, None, True),
        ("error", None, None, True),
        ("unset", None, "ReadTimeout", True),
        ("unset", None, None, False),
    ],
)
def test_provider_failures(status: str, http_status: int | None, error_type: str | None, failed: bool) -> None:
    assert provider_failed(status, http_status, error_type) is failed


def test_a_client_span_to_a_provider_is_an_outcome() -> None:
    outcome = outcome_from_span(
        span(status="error", **{"server.address": "API.Anthropic.com", "http.response.status_code": 529}), MATCHER
    )
    assert outcome is not None and outcome.provider == "anthropic" and outcome.ok is False
    assert outcome.at == 1_700_000_000.5 and outcome.latency_ms == 812.5 and outcome.error_type == "http 529"
    ok = outcome_from_span(span(**{"peer.service": "anthropic", "http.status_code": 200}), MATCHER)
    assert ok is not None and ok.ok and ok.error_type is None
    assert outcome_from_span(span(**{"server.address": "api.stripe.com"}), MATCHER).provider == "stripe"  # type: ignore[union-attr]


def test_other_spans_are_not_outcomes() -> None:
    assert outcome_from_span(span(kind="server", **{"server.address": "api.anthropic.com"}), MATCHER) is None
    assert outcome_from_span(span(**{"server.address": "api.openai.com"}), MATCHER) is None
    assert outcome_from_span(span(**{"server.address": "stripe.com.evil.example"}), MATCHER) is None
    assert not Matcher({})


def test_an_exception_event_names_the_error() -> None:
    failing = span(status="error", **{"peer.service": "anthropic"})
    failing["events"] = [{"name": "exception", "attributes": {"exception.type": "anthropic.APITimeoutError"}}]
    outcome = outcome_from_span(failing, MATCHER)
    assert outcome is not None and not outcome.ok and outcome.error_type == "anthropic.APITimeoutError"
