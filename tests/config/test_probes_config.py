"""The ``probes`` section: every kind, its validation, and the shipped production example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.config import HttpProbe, PostgresProbe, parse_config, render_config
from sidecar.config._loader import load_config
from sidecar.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SIDECAR_POSTGRES_DSN": "postgresql://u:p@db/x",
    "SIDECAR_PSEUDONYM_KEY": "k" * 32,
    "APP_DATABASE_DSN": "postgresql://app:pw@db/app",
    "SUPABASE_URL": "https://project.supabase.co",
    "SUPABASE_ANON_KEY": "anon-key",
    "STRIPE_PROBE_AUTHORIZATION": "Bearer rk_live_x",
    "ANTHROPIC_API_KEY": "sk-ant-x",
    "OPENAI_PROBE_AUTHORIZATION": "Bearer sk-x",
    "RESEND_PROBE_AUTHORIZATION": "Bearer re_x",
    "SENDGRID_PROBE_AUTHORIZATION": "Bearer SG.x",
    "SIDECAR_REDIS_URL": "redis://cache:6379/0",
    "SLACK_ALERTS_URL": "slack://T000/B000/XXXX",
    "PAGERDUTY_APPRISE_URL": "pagerduty://integration@apikey",
    "STATUSPAGE_API_KEY": "sp-key",
    "STATUS_WEBHOOK_SECRET": "whsec-0123456789",
}


def problems(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env=env or {})
    return caught.value.problems


def test_every_kind_parses_with_its_defaults() -> None:
    kinds = [
        {"name": "web", "kind": "http", "url": "https://example.com/health"},
        {"name": "port", "kind": "tcp", "host": "db", "port": 5432},
        {"name": "db", "kind": "postgres", "dsn": "${DSN}"},
        {"name": "cache", "kind": "redis"},
        {"name": "mail", "kind": "smtp", "host": "smtp.example.com", "starttls": True},
        {"name": "resolver", "kind": "dns", "host": "example.com", "expect": "93.184.215.14"},
    ]
    config = parse_config({"probes": kinds}, env={"DSN": "postgresql://u:hunter2@db/x"})
    assert [probe.kind for probe in config.probes] == ["http", "tcp", "postgres", "redis", "smtp", "dns"]
    first = config.probes[0]
    assert isinstance(first, HttpProbe) and first.expect_status == ((200, 399),) and first.interval == 30.0
    assert (first.failures_to_down, first.successes_to_recover, first.critical) == (3, 2, True)
    assert "hunter2" not in render_config(config)


def test_timeout_must_be_below_the_interval() -> None:
    found = problems({"probes": [{"name": "x", "kind": "redis", "interval": "5s", "timeout": "5s"}]})
    assert found == ["probes[0].redis: timeout (5s) must be less than interval (5s)"]


def test_names_are_unique_and_kinds_known() -> None:
    twice = [{"name": "x", "kind": "redis"}, {"name": "x", "kind": "dns", "host": "a"}]
    assert any("two probes are named 'x'" in problem for problem in problems({"probes": twice}))
    assert problems({"probes": [{"name": "x", "kind": "ftp"}]})


def test_secrets_only_from_the_environment() -> None:
    assert any("environment" in p for p in problems({"probes": [{"name": "db", "kind": "postgres", "dsn": "x"}]}))
    header = {"name": "w", "kind": "http", "url": "https://a", "secret_headers": {"Authorization": "Bearer x"}}
    assert any("environment" in p for p in problems({"probes": [header]}))


def test_the_production_example_has_the_backends_dependencies() -> None:
    config = load_config(ROOT / "config" / "examples" / "production.yaml", env=PRODUCTION_ENV)
    names = {probe.name for probe in config.probes}
    assert names == {
        "database",
        "supabase-auth",
        "stripe",
        "anthropic",
        "openai",
        "resend",
        "sendgrid",
        "object-storage",
    }
    database = next(probe for probe in config.probes if probe.name == "database")
    assert isinstance(database, PostgresProbe) and database.dsn.get_secret_value() == PRODUCTION_ENV["APP_DATABASE_DSN"]
    rendered = render_config(config)
    assert "sk-ant-x" not in rendered and "app:pw" not in rendered
