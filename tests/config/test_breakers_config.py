"""The breakers section: groups, policies, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.config import BreakerPolicy, load_config, parse_config
from sidecar.errors import ConfigError
from tests.config.test_probes_config import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]


def problems(breakers: dict[str, Any], **rest: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"breakers": breakers, **rest}, env={"REDIS": "redis://127.0.0.1:6379/0", "HTTP": "http://x"})
    return caught.value.problems


def test_a_provider_without_a_policy_gets_the_default_one() -> None:
    config = parse_config(
        {"breakers": {"groups": {"ai": ["anthropic", "openai"]}, "providers": {"openai": {"fail_max": 2}}}}
    )
    assert config.breakers.policy("anthropic") == BreakerPolicy()
    assert config.breakers.policy("openai").fail_max == 2 and config.breakers.group_of("openai") == "ai"


@pytest.mark.parametrize(
    ("breakers", "rest", "expected"),
    [
        ({"groups": {"ai": ["a", "a"]}}, {}, "listed twice in that group"),
        ({"groups": {"ai": ["a"], "mail": ["a"]}}, {}, "in groups 'ai' and 'mail'"),
        ({"groups": {"ai": []}}, {}, "breakers.groups.ai"),
        ({"groups": {"ai": ["a"]}, "providers": {"b": {}}}, {}, "['b'] are in no group"),
        ({"groups": {"ai": ["a"]}, "providers": {"a": {"probe": "gone"}}}, {}, "no probe is named 'gone'"),
        ({"groups": {"ai": ["a"]}, "providers": {"a": {"error_ratio": 1.5}}}, {}, "breakers.providers.a.error_ratio"),
        ({"groups": {"ai": ["a"]}, "shared_state": "redis://x"}, {}, "environment"),
        ({"groups": {"ai": ["a"]}, "shared_state": "${HTTP}"}, {}, "redis://"),
        ({"groups": {"ai": ["a"]}, "all_open": "panic"}, {}, "breakers.all_open"),
    ],
)
def test_refused(breakers: dict[str, Any], rest: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(breakers, **rest)), problems(breakers, **rest)


def test_the_production_example_breaks_every_external_provider() -> None:
    config = load_config(ROOT / "config" / "examples" / "production.yaml", env=PRODUCTION_ENV)
    breakers = config.breakers
    assert breakers.groups == {"ai": ("anthropic", "openai"), "email": ("resend", "sendgrid"), "payment": ("stripe",)}
    assert all(breakers.policy(p).probe == p for p in ("anthropic", "openai", "resend", "sendgrid", "stripe"))
    assert breakers.shared_state is not None and breakers.shared_state.get_secret_value() == "redis://cache:6379/0"
