"""Loading, interpolation and validation of the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sidecar.auth import hash_token
from sidecar.config import EnvStr, interpolate, load_config, parse_config, render_config
from sidecar.errors import ConfigError
from tests.config.test_probes_config import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]


def problems_of(raw: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env=env or {})
    return caught.value.problems


def test_the_shipped_configs_are_valid() -> None:
    default = load_config(ROOT / "config" / "sidecar.yaml", env={})
    assert default.storage.backend == "sqlite"
    assert default.auth.tokens == ()  # safe by default: no write access without a token
    assert default.server.host == "127.0.0.1"
    production = load_config(
        ROOT / "config" / "examples" / "production.yaml",
        env=PRODUCTION_ENV,
    )
    assert production.storage.backend == "postgres"
    assert production.storage.postgres.db_schema == "sidecar"


def test_env_interpolation_with_defaults_and_escapes() -> None:
    tree = {"a": "${X}", "b": "${MISSING:-fallback}", "c": ["x-${X}-y"], "d": "$${X}", "e": 5}
    out = interpolate(tree, {"X": "1"})
    assert out == {"a": "1", "b": "fallback", "c": ["x-1-y"], "d": "${X}", "e": 5}
    assert isinstance(out["a"], EnvStr) and not isinstance(out["b"], EnvStr)


def test_env_value_cannot_inject_structure() -> None:
    # Interpolation happens after parsing: the value stays one string, never a mapping.
    config = parse_config({"data_dir": "${D}"}, env={"D": "{bogus: 1}\nserver: {listen: x}"})
    assert str(config.data_dir) == "{bogus: 1}\nserver: {listen: x}"
    assert config.server.listen == "127.0.0.1:8090"


def test_every_problem_is_reported_with_its_path() -> None:
    problems = problems_of(
        {
            "server": {"listen": "nowhere", "shutdown_timeout": "fast", "colour": "blue"},
            "auth": {
                "tokens": [
                    {"name": "ok", "scopes": ["read"], "sha256": "0" * 64},
                    {"name": "bad", "scopes": ["root"], "sha256": "xyz"},
                ]
            },
            "storage": {"sqlite": {"busy_timeout": "-1s"}},
            "unknown_section": {},
        }
    )
    assert 'server.listen: expected HOST:PORT like "127.0.0.1:8090", got "nowhere"' in problems
    assert 'server.shutdown_timeout: expected a duration like "5s", got "fast"' in problems
    assert "server.colour: unknown key" in problems
    assert any(p.startswith("auth.tokens[1].scopes[0]:") for p in problems)
    assert any(p.startswith("auth.tokens[1].sha256:") for p in problems)
    assert 'storage.sqlite.busy_timeout: a duration must not be negative, got "-1s"' in problems
    assert "unknown_section: unknown key" in problems
    assert all(": " in p and " " not in p.partition(": ")[0] for p in problems)


def test_missing_env_var_without_default_is_an_error() -> None:
    assert problems_of({"server": {"listen": "${NOPE}"}}) == ["server.listen: environment variable NOPE is not set"]


def test_secrets_are_refused_in_the_file_and_masked_in_print() -> None:
    raw = {"storage": {"backend": "postgres", "postgres": {"dsn": "postgresql://u:hunter2@db/x"}}}
    problems = problems_of(raw)
    assert problems == ["storage.postgres.dsn: secrets must come from the environment: write ${VARIABLE} and set it"]
    assert not any("hunter2" in p for p in problems)
    config = parse_config(
        {
            "storage": {"backend": "postgres", "postgres": {"dsn": "${DSN}"}},
            "telemetry": {"tracing": {"otlp_endpoint": "http://c:4318/v1/traces", "headers": {"api-key": "${K}"}}},
        },
        env={"DSN": "postgresql://u:hunter2@db/x", "K": "s3cr3t-header"},
    )
    assert config.storage.postgres.dsn.get_secret_value() == "postgresql://u:hunter2@db/x"
    printed = render_config(config)
    assert "hunter2" not in printed and "s3cr3t-header" not in printed
    assert yaml.safe_load(printed)["storage"]["postgres"]["dsn"] == "***"


def test_postgres_backend_needs_a_dsn() -> None:
    assert any("needs postgres.dsn" in p for p in problems_of({"storage": {"backend": "postgres"}}))


def test_tokens_from_the_environment_are_hashed_and_merged() -> None:
    secret = "a-very-long-token-value-123"
    config = parse_config(
        {"auth": {"tokens": [{"name": "file", "scopes": ["admin"], "sha256": "1" * 64}]}},
        env={"SIDECAR_API_TOKENS": f"backend:ingest+read:{secret}, ops:admin:another-long-token-456"},
    )
    tokens = {t.name: t for t in config.auth.tokens}
    assert set(tokens) == {"file", "backend", "ops"}
    assert tokens["backend"].scopes == ("ingest", "read")
    assert tokens["backend"].sha256 == hash_token(secret)
    assert secret not in render_config(config)


def test_bad_environment_tokens_never_echo_the_token() -> None:
    problems = problems_of({}, env={"SIDECAR_API_TOKENS": "x:superuser:leaky-token-value-xyz,y:read:short,zzz"})
    assert problems == [
        "SIDECAR_API_TOKENS[0] (x): unknown scope 'superuser', expected one of ingest, read, admin",
        "SIDECAR_API_TOKENS[1] (y): a token must be at least 16 characters long",
        "SIDECAR_API_TOKENS[2]: expected name:scope+scope:token",
    ]


def test_duplicate_token_names_are_an_error() -> None:
    token = {"name": "a", "scopes": ["read"], "sha256": "0" * 64}
    assert problems_of({"auth": {"tokens": [token, token]}}) == ["auth: token names must be unique, repeated: a"]


def test_overrides_win_over_the_file() -> None:
    config = parse_config({"server": {"listen": "127.0.0.1:1"}}, env={}, overrides={"server.listen": "0.0.0.0:2"})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 2)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  listen: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "not valid YAML" in caught.value.problems[0] and "line" in caught.value.problems[0]


def test_config_is_immutable() -> None:
    config = parse_config({}, env={})
    with pytest.raises(ValueError, match="frozen"):
        config.server.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_printed_config_loads_back_to_the_same_config() -> None:
    config = parse_config({"server": {"shutdown_timeout": "1500ms", "max_body_size": "3MiB"}}, env={})
    assert parse_config(yaml.safe_load(render_config(config)), env={}) == config
