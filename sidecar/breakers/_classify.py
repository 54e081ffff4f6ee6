"""Which provider a client span called, and whether the provider failed it (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import translate
from typing import Any

from ._model import Outcome

PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "http.host")
STATUS_KEYS = ("http.response.status_code", "http.status_code")
# Caller mistakes: the provider answered, correctly, that the request was wrong.
CALLER_ERRORS = frozenset({400, 401, 403, 404, 405, 409, 413, 415, 422})
NS_PER_S = 1_000_000_000


class Matcher:
    """Provider name by the globs (case-insensitive) its client spans' peer attributes match."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]) -> None:
        self._patterns = [
            (provider, re.compile(translate(glob), re.IGNORECASE))
            for provider, globs in patterns.items()
            for glob in globs
        ]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def provider_of(self, attributes: Mapping[str, Any]) -> str | None:
        """The first provider one of whose globs matches a peer attribute, or None."""
        peers = [value for key in PEER_KEYS if isinstance(value := attributes.get(key), str)]
        for provider, pattern in self._patterns:
            if any(pattern.fullmatch(peer) for peer in peers):
                return provider
        return None


def provider_failed(status: str, http_status: int | None, error_type: str | None) -> bool:
    """Whether a call failed because of the provider.

    An HTTP status decides when there is one: 429 and 5xx are the provider's
    failures, other statuses (caller errors such as 400, 401, 404, 422 included)
    are answers. Without one, a span status ``error`` or a timeout is a failure.
    """
    if http_status is not None:
        return http_status == 429 or http_status >= 500
    return status == "error" or "timeout" in (error_type or "").lower()


def outcome_from_span(span: Mapping[str, Any], matcher: Matcher) -> Outcome | None:
    """The outcome a stored client span records for a configured provider, or None."""
    if span.get("kind") != "client":
        return None
    attributes = span.get("attributes") or {}
    provider = matcher.provider_of(attributes)
    if provider is None:
        return None
    http_status = next((value for key in STATUS_KEYS if isinstance(value := attributes.get(key), int)), None)
    error_type = attributes.get("error.type") or _exception_type(span)
    error_type = error_type if isinstance(error_type, str) else None
    failed = provider_failed(str(span.get("status", "unset")), http_status, error_type)
    return Outcome(
        provider,
        not failed,
        span["end"] / NS_PER_S,
        span.get("duration_ms"),
        (error_type or (f"http {http_status}" if http_status else "error")) if failed else None,
    )


def _exception_type(span: Mapping[str, Any]) -> str | None:
    for event in span.get("events") or ():
        if event.get("name") == "exception":
            value = (event.get("attributes") or {}).get("exception.type")
            if isinstance(value, str):
                return value
    return None
