"""Choosing a group's active provider from its breakers' states."""

from __future__ import annotations

import pytest

from sidecar.breakers import BreakerState, choose, etag

AI = ("anthropic", "openai", "mistral")
LONG_AGO = float("-inf")


def pick(states: dict[str, BreakerState], current: str | None = None, *, now: float = 100.0, **kwargs: object):  # type: ignore[no-untyped-def]
    closed_since = kwargs.pop("closed_since", dict.fromkeys(AI, LONG_AGO))
    options = {"all_open": "fail_static", "min_dwell": 60.0, **kwargs}
    return choose(AI, states, closed_since, current, now, **options)  # type: ignore[arg-type]


def test_the_first_closed_provider_in_priority_order() -> None:
    assert pick({"anthropic": "closed", "openai": "closed", "mistral": "closed"}) == (
        "anthropic",
        "anthropic is closed",
    )
    active, reason = pick({"anthropic": "open", "openai": "half_open", "mistral": "closed"}, "anthropic")
    assert active == "mistral" and reason == "anthropic open, openai half-open; mistral is the first closed provider"


def test_a_half_open_provider_only_when_none_is_closed() -> None:
    assert pick({"anthropic": "open", "openai": "half_open", "mistral": "half_open"})[0] == "openai"


@pytest.mark.parametrize(("policy", "expected"), [("fail_static", "openai"), ("fail_closed", None)])
def test_every_provider_open(policy: str, expected: str | None) -> None:
    active, reason = pick(dict.fromkeys(AI, "open"), "openai", all_open=policy)
    assert active == expected and reason.startswith("every provider is open")


def test_fail_static_without_a_previous_choice_keeps_the_preferred_provider() -> None:
    assert pick(dict.fromkeys(AI, "open"), None)[0] == "anthropic"


def test_traffic_returns_to_the_preferred_provider_only_after_the_dwell_time() -> None:
    states: dict[str, BreakerState] = {"anthropic": "closed", "openai": "closed", "mistral": "closed"}
    since = {"anthropic": 50.0, "openai": LONG_AGO, "mistral": LONG_AGO}
    assert pick(states, "openai", now=100.0, closed_since=since)[0] == "openai"  # closed 50 s < 60 s
    assert pick(states, "openai", now=110.0, closed_since=since)[0] == "anthropic"
    # A current provider that is no longer closed is left at once, dwell or not.
    states["openai"] = "open"
    assert pick(states, "openai", now=100.0, closed_since=since)[0] == "anthropic"


def test_the_etag_follows_the_active_provider_and_every_state() -> None:
    base = etag("ai", "anthropic", [("anthropic", "closed"), ("openai", "closed")])
    assert base.startswith('"') and base.endswith('"')
    assert base == etag("ai", "anthropic", [("anthropic", "closed"), ("openai", "closed")])
    assert base != etag("ai", "openai", [("anthropic", "closed"), ("openai", "closed")])
    assert base != etag("ai", "anthropic", [("anthropic", "closed"), ("openai", "open")])
